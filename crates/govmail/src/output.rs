//! How the admin commands print: aligned tables and `key: value` records for people, or JSON
//! with `--json` for scripts.
//!
//! Times: the Unix times stored in the fields named in [`TIME_KEYS`] print as ISO 8601 — local
//! time with its offset (`reports.utc_offset`) in tables and records, UTC (`Z`) in JSON.

use serde::Serialize;
use time::{OffsetDateTime, UtcOffset};

/// Fields holding Unix times in what the admin commands print.
const TIME_KEYS: &[&str] = &[
    "at",
    "created_at",
    "departed_at",
    "done_at",
    "queued_at",
    "lease_until",
    "next_attempt",
    "last_attempt",
    "alias_until",
];

pub struct Output {
    pub json: bool,
    /// The local offset tables and records show times in.
    pub offset: UtcOffset,
}

/// ISO 8601 (RFC 3339) at `offset`: `2026-12-05T09:30:00+07:00`, or `...Z` at UTC.
pub fn iso_time(at: i64, offset: UtcOffset) -> String {
    let t = OffsetDateTime::from_unix_timestamp(at)
        .unwrap_or(OffsetDateTime::UNIX_EPOCH)
        .to_offset(offset);
    let zone = if offset.is_utc() {
        "Z".to_string()
    } else {
        let (h, m, _) = offset.as_hms();
        let sign = if offset.is_negative() { '-' } else { '+' };
        format!("{sign}{:02}:{:02}", h.unsigned_abs(), m.unsigned_abs())
    };
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}{zone}",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    )
}

impl Output {
    /// A time as this output shows it: local with offset, or UTC in JSON.
    pub(crate) fn time(&self, at: i64) -> String {
        iso_time(
            at,
            if self.json {
                UtcOffset::UTC
            } else {
                self.offset
            },
        )
    }

    /// `value` with its time fields (top level, or of each element of an array) as text.
    fn with_times<T: Serialize>(&self, value: &T) -> serde_json::Value {
        let mut value = serde_json::to_value(value).expect("serialisable");
        let convert = |object: &mut serde_json::Map<String, serde_json::Value>| {
            for key in TIME_KEYS {
                if let Some(at) = object.get(*key).and_then(serde_json::Value::as_i64) {
                    object.insert(key.to_string(), serde_json::Value::String(self.time(at)));
                }
            }
        };
        match &mut value {
            serde_json::Value::Object(object) => convert(object),
            serde_json::Value::Array(items) => {
                for item in items {
                    if let serde_json::Value::Object(object) = item {
                        convert(object);
                    }
                }
            }
            _ => {}
        }
        value
    }

    /// Prints rows as a table (or a JSON array).
    pub(crate) fn table<T: Serialize>(
        &self,
        headers: &[&str],
        rows: &[T],
        cells: impl Fn(&T) -> Vec<String>,
    ) {
        if self.json {
            let value = self.with_times(&rows);
            crate::outln!(
                "{}",
                serde_json::to_string_pretty(&value).expect("serialisable")
            );
            return;
        }
        crate::ops::print_table(false, headers, rows, cells);
    }

    /// Prints one record as `key: value` lines (or a JSON object).
    pub(crate) fn record<T: Serialize>(&self, value: &T) {
        crate::ops::print_record(self.json, &self.with_times(value));
    }

    pub(crate) fn done(&self, message: &str) {
        if self.json {
            crate::outln!("{}", serde_json::json!({ "ok": true, "message": message }));
        } else {
            crate::outln!("{message}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 3339 5.6: date-time = full-date "T" full-time; time-offset = "Z" / ("+"/"-") HH:MM.
    #[test]
    fn iso_times() {
        let ict = UtcOffset::from_hms(7, 0, 0).unwrap();
        assert_eq!(iso_time(1_764_900_000, ict), "2025-12-05T09:00:00+07:00");
        assert_eq!(
            iso_time(1_764_900_000, UtcOffset::UTC),
            "2025-12-05T02:00:00Z"
        );
        let west = UtcOffset::from_hms(-3, -30, 0).unwrap();
        assert_eq!(iso_time(0, west), "1969-12-31T20:30:00-03:30");
        let out = Output {
            json: false,
            offset: ict,
        };
        let v = out.with_times(&serde_json::json!({"created_at": 0, "name": "x", "at": "keep"}));
        assert_eq!(v["created_at"], "1970-01-01T07:00:00+07:00");
        assert_eq!(v["at"], "keep");
        let json = Output {
            json: true,
            offset: ict,
        };
        let v = json.with_times(&vec![serde_json::json!({"at": 0})]);
        assert_eq!(v[0]["at"], "1970-01-01T00:00:00Z");
    }
}
