//! Local calendar days: the UTC offset that mail-flow counters and reports bucket days by.

/// The local calendar date of a Unix time as YYYYMMDD.
pub fn local_day(at: i64, offset_seconds: i32) -> i64 {
    let offset =
        time::UtcOffset::from_whole_seconds(offset_seconds).unwrap_or(time::UtcOffset::UTC);
    let date = time::OffsetDateTime::from_unix_timestamp(at)
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH)
        .to_offset(offset)
        .date();
    date.year() as i64 * 10_000 + u8::from(date.month()) as i64 * 100 + date.day() as i64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_days() {
        // 2026-01-01 00:30 in UTC+7 is 2025-12-31 17:30 UTC.
        let at = 1_767_202_200;
        assert_eq!(local_day(at, 7 * 3600), 20260101);
        assert_eq!(local_day(at, 0), 20251231);
    }
}
