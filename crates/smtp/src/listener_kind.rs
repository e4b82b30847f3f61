//! Which service a listener offers. Its own module: the server binds listeners of a kind and
//! sessions behave by kind, without either importing the other for it.

/// Which service a listener offers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ListenerKind {
    /// Port 25: mail for our domains, no AUTH.
    Mx,
    /// Port 587: STARTTLS, then AUTH.
    Submission,
    /// Port 465: implicit TLS, then AUTH (RFC 8314).
    Submissions,
}

impl ListenerKind {
    pub fn name(self) -> &'static str {
        match self {
            ListenerKind::Mx => "mx",
            ListenerKind::Submission => "submission",
            ListenerKind::Submissions => "submissions",
        }
    }
}
