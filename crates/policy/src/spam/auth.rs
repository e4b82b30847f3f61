//! Authentication results (computed by `smtp::authres`): SPF fail/softfail, DKIM fail, DMARC
//! fail, and DMARC fail when the domain publishes p=reject/quarantine (raised to the reject
//! score: such mail is refused).

use super::Hits;

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum AuthOutcome {
    Pass,
    Fail,
    /// SPF `~all` (RFC 7208 2.6.5).
    SoftFail,
    #[default]
    None,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AuthFacts {
    pub spf: AuthOutcome,
    pub dkim: AuthOutcome,
    pub dmarc: AuthOutcome,
    /// The From: domain publishes p=reject or p=quarantine.
    pub dmarc_policy_reject: bool,
}

pub(super) fn check(auth: &AuthFacts, hits: &mut Hits) {
    match auth.dmarc {
        AuthOutcome::Fail if auth.dmarc_policy_reject => {
            let config = hits.config();
            let points = config.score_of("DMARC_REJECT").max(config.reject_score);
            hits.fire_with("DMARC_REJECT", points)
        }
        AuthOutcome::Fail => hits.fire("DMARC_FAIL"),
        _ => {}
    }
    match auth.spf {
        AuthOutcome::Fail => hits.fire("SPF_FAIL"),
        AuthOutcome::SoftFail => hits.fire("SPF_SOFTFAIL"),
        _ => {}
    }
    if auth.dkim == AuthOutcome::Fail {
        hits.fire("DKIM_INVALID");
    }
}
