//! SEARCH keys that need more than a folder listing: RFC 8514 SAVEDBEFORE / SAVEDON /
//! SAVEDSINCE / SAVEDATESUPPORTED and RFC 8474 EMAILID / THREADID. Before matching, the
//! session reads the save dates and EMAILIDs of the folder once and turns each such key into
//! the set of UIDs it matches ([`SearchKey::Uids`]), so the matcher itself stays I/O-free.

use std::borrow::Cow;
use std::collections::HashMap;

use storage::MessageExtra;

use crate::encode::Done;
use crate::objects;
use crate::protocol::{SearchKey, UidSet};
use crate::state::Session;

impl Session {
    /// `key` with the keys above replaced by UID sets (unchanged when it has none).
    pub(crate) async fn resolve_search_ext<'k>(
        &self,
        folder_id: i64,
        key: &'k SearchKey,
    ) -> Result<Cow<'k, SearchKey>, Done> {
        if !needs_storage(key) {
            return Ok(Cow::Borrowed(key));
        }
        let extras = match self.context.store.folder_extras(folder_id).await {
            Ok(extras) => extras,
            Err(e) => return Err(self.server_error(e)),
        };
        Ok(Cow::Owned(rewrite(key, &extras)))
    }
}

fn needs_storage(key: &SearchKey) -> bool {
    use SearchKey::*;
    match key {
        And(keys) => keys.iter().any(needs_storage),
        Or(a, b) => needs_storage(a) || needs_storage(b),
        Not(k) => needs_storage(k),
        SavedBefore(_) | SavedOn(_) | SavedSince(_) | EmailId(_) | ThreadId(_) => true,
        _ => false,
    }
}

/// Days since 1970-01-01 (UTC, the zone SAVEDATE is shown in) of a time.
fn day_of(seconds: i64) -> i64 {
    seconds.div_euclid(86_400)
}

fn day_number((year, month, day): (i32, u8, u8)) -> i64 {
    let month = time::Month::try_from(month).unwrap_or(time::Month::January);
    time::Date::from_calendar_date(year, month, day)
        .map(|d| day_of(d.midnight().assume_utc().unix_timestamp()))
        .unwrap_or(0)
}

fn rewrite(key: &SearchKey, extras: &HashMap<i64, MessageExtra>) -> SearchKey {
    use SearchKey::*;
    let uids = |keep: &dyn Fn(&MessageExtra) -> bool| -> SearchKey {
        Uids(
            extras
                .iter()
                .filter(|(_, x)| keep(x))
                .map(|(uid, _)| *uid)
                .collect::<UidSet>(),
        )
    };
    match key {
        And(keys) => And(keys.iter().map(|k| rewrite(k, extras)).collect()),
        Or(a, b) => Or(Box::new(rewrite(a, extras)), Box::new(rewrite(b, extras))),
        Not(k) => Not(Box::new(rewrite(k, extras))),
        // RFC 8514 4.3: "save date (disregarding time and timezone) is earlier than / within /
        // within or later than the specified date".
        SavedBefore(date) => uids(&|x| day_of(x.saved_at) < day_number(*date)),
        SavedOn(date) => uids(&|x| day_of(x.saved_at) == day_number(*date)),
        SavedSince(date) => uids(&|x| day_of(x.saved_at) >= day_number(*date)),
        EmailId(id) => match objects::parse_email_id(id) {
            Some(wanted) => uids(&|x| x.email_id == wanted),
            None => Uids(UidSet::default()),
        },
        // RFC 8474 5.2: without threads, "a SEARCH for THREADID MUST NOT match any messages".
        ThreadId(_) => Uids(UidSet::default()),
        other => other.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn saved_dates_compare_by_day() {
        let mut extras = HashMap::new();
        // 2026-11-23 23:59:59 UTC and 2026-11-24 00:00:00 UTC.
        extras.insert(
            1,
            MessageExtra {
                email_id: 10,
                saved_at: 1_795_478_399,
            },
        );
        extras.insert(
            2,
            MessageExtra {
                email_id: 10,
                saved_at: 1_795_478_400,
            },
        );
        let set = |k: SearchKey| match rewrite(&k, &extras) {
            SearchKey::Uids(set) => set.iter().copied().collect::<Vec<_>>(),
            other => panic!("{other:?}"),
        };
        assert_eq!(set(SearchKey::SavedOn((2026, 11, 23))), vec![1]);
        assert_eq!(set(SearchKey::SavedBefore((2026, 11, 24))), vec![1]);
        assert_eq!(set(SearchKey::SavedSince((2026, 11, 24))), vec![2]);
        assert_eq!(set(SearchKey::EmailId("M10".into())), vec![1, 2]);
        assert!(set(SearchKey::EmailId("M11".into())).is_empty());
        assert!(set(SearchKey::EmailId("F10".into())).is_empty());
        assert!(set(SearchKey::ThreadId("T1".into())).is_empty());
        let nested = rewrite(
            &SearchKey::Not(Box::new(SearchKey::SavedOn((2026, 11, 23)))),
            &extras,
        );
        assert!(matches!(nested, SearchKey::Not(k) if matches!(*k, SearchKey::Uids(_))));
        assert!(!needs_storage(&SearchKey::SaveDateSupported));
    }
}
