//! The sender's history here: how much mail from the envelope sender's address, its domain
//! and the connecting IP was accepted, and how much was junked (by the score or by users).

use super::Hits;

/// Accepted and junked counts of one key.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    pub accepted: i64,
    pub junked: i64,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct History {
    pub address: Counts,
    pub domain: Counts,
    pub ip: Counts,
}

/// Junked at least this many times, and at least [`BAD_SHARE`] of all, is a bad sender.
pub const BAD_MIN: i64 = 3;
pub const BAD_SHARE: f64 = 0.8;
/// Accepted at least this many times and never junked is a good sender (by address only: a
/// domain or an IP is shared with others).
pub const GOOD_MIN: i64 = 10;

fn bad(c: &Counts) -> bool {
    let total = c.accepted + c.junked;
    c.junked >= BAD_MIN && c.junked as f64 >= BAD_SHARE * total as f64
}

pub(super) fn check(history: &History, hits: &mut Hits) {
    if bad(&history.address) || bad(&history.domain) || bad(&history.ip) {
        hits.fire("SENDER_BAD_REP");
    } else if history.address.accepted >= GOOD_MIN && history.address.junked == 0 {
        hits.fire("SENDER_GOOD_REP");
    }
}
