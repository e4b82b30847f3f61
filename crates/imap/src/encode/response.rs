//! Status responses (RFC 9051 7.1): how a command ends (`tag OK|NO|BAD [code] text`) and the
//! untagged `* OK [code] text` lines, with the response codes we send as a type.

use std::fmt;

use super::sequence::compact;

/// RFC 9051 7.1: the status of a command's completion.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Ok,
    No,
    Bad,
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Status::Ok => "OK",
            Status::No => "NO",
            Status::Bad => "BAD",
        })
    }
}

/// A response code (RFC 9051 7.1, RFC 5530, RFC 4315 UIDPLUS, RFC 7162 CONDSTORE/QRESYNC,
/// RFC 3516 BINARY, RFC 6154 SPECIAL-USE), written between brackets before the text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Code {
    Alert,
    AlreadyExists,
    /// RFC 4315 3: the UIDVALIDITY of the target and the UIDs given to the messages (one,
    /// or a set after a MULTIAPPEND: RFC 3502 "MULTIAPPEND Interaction with UIDPLUS").
    AppendUid {
        uidvalidity: i64,
        uids: Vec<i64>,
    },
    AuthenticationFailed,
    /// RFC 5465 3.1: the events the server supports.
    BadEvent(Vec<&'static str>),
    /// RFC 4469 4.1: the URL that could not be used (no `]` or line end in it).
    BadUrl(String),
    Cannot,
    /// The capability list, as [`crate::Session::capabilities`] words it.
    Capability(String),
    /// RFC 7162 3.2.11: the previous mailbox was closed.
    Closed,
    /// RFC 4315 3: the target's UIDVALIDITY, the source and the new UIDs.
    CopyUid {
        uidvalidity: i64,
        sources: Vec<i64>,
        destinations: Vec<i64>,
    },
    HasChildren,
    HighestModSeq(i64),
    InUse,
    Limit,
    /// RFC 8474 4.1, 4.2: the mailbox's object id.
    MailboxId(i64),
    /// RFC 7162 3.1.3: the messages a conditional STORE did not change.
    Modified(Vec<i64>),
    NonExistent,
    NoPerm,
    /// RFC 5267 4.3.1: no updates for the searching command with this tag.
    NoUpdate(String),
    /// RFC 5465 5.8 (and 3.1): notifications stop.
    NotificationOverflow,
    OverQuota,
    /// The flags the client may change permanently.
    PermanentFlags(Vec<String>),
    PrivacyRequired,
    ReadOnly,
    ReadWrite,
    ServerBug,
    TooBig,
    TryCreate,
    UidNext(i64),
    UidValidity(i64),
    Unavailable,
    UnknownCte,
    /// RFC 3501 6.3.1: the sequence number of the first unseen message.
    Unseen(usize),
    UseAttr,
}

impl fmt::Display for Code {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Code::Alert => f.write_str("ALERT"),
            Code::AlreadyExists => f.write_str("ALREADYEXISTS"),
            Code::AppendUid { uidvalidity, uids } => {
                write!(f, "APPENDUID {uidvalidity} {}", compact(uids))
            }
            Code::AuthenticationFailed => f.write_str("AUTHENTICATIONFAILED"),
            Code::BadEvent(events) => write!(f, "BADEVENT ({})", events.join(" ")),
            Code::BadUrl(url) => {
                let url: String = url
                    .chars()
                    .map(|c| if c == ']' || c.is_control() { '?' } else { c })
                    .collect();
                write!(f, "BADURL {url}")
            }
            Code::Cannot => f.write_str("CANNOT"),
            Code::Capability(caps) => write!(f, "CAPABILITY {caps}"),
            Code::Closed => f.write_str("CLOSED"),
            Code::CopyUid {
                uidvalidity,
                sources,
                destinations,
            } => write!(
                f,
                "COPYUID {uidvalidity} {} {}",
                compact(sources),
                compact(destinations)
            ),
            Code::HasChildren => f.write_str("HASCHILDREN"),
            Code::HighestModSeq(modseq) => write!(f, "HIGHESTMODSEQ {modseq}"),
            Code::InUse => f.write_str("INUSE"),
            Code::Limit => f.write_str("LIMIT"),
            Code::MailboxId(id) => write!(f, "MAILBOXID ({})", crate::objects::mailbox_id(*id)),
            Code::Modified(numbers) => write!(f, "MODIFIED {}", compact(numbers)),
            Code::NonExistent => f.write_str("NONEXISTENT"),
            Code::NoPerm => f.write_str("NOPERM"),
            Code::NoUpdate(tag) => write!(f, "NOUPDATE {}", super::strings::quote(tag)),
            Code::NotificationOverflow => f.write_str("NOTIFICATIONOVERFLOW"),
            Code::OverQuota => f.write_str("OVERQUOTA"),
            Code::PermanentFlags(flags) => write!(f, "PERMANENTFLAGS ({})", flags.join(" ")),
            Code::PrivacyRequired => f.write_str("PRIVACYREQUIRED"),
            Code::ReadOnly => f.write_str("READ-ONLY"),
            Code::ReadWrite => f.write_str("READ-WRITE"),
            Code::ServerBug => f.write_str("SERVERBUG"),
            Code::TooBig => f.write_str("TOOBIG"),
            Code::TryCreate => f.write_str("TRYCREATE"),
            Code::UidNext(uid) => write!(f, "UIDNEXT {uid}"),
            Code::UidValidity(uidvalidity) => write!(f, "UIDVALIDITY {uidvalidity}"),
            Code::Unavailable => f.write_str("UNAVAILABLE"),
            Code::UnknownCte => f.write_str("UNKNOWN-CTE"),
            Code::Unseen(seq) => write!(f, "UNSEEN {seq}"),
            Code::UseAttr => f.write_str("USEATTR"),
        }
    }
}

/// How a command ended: the tagged status line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Done {
    pub status: Status,
    pub code: Option<Code>,
    /// Human-readable text after the code.
    pub text: String,
}

impl Done {
    pub fn ok(text: impl Into<String>) -> Done {
        Done::new(Status::Ok, None, text)
    }

    pub fn no(text: impl Into<String>) -> Done {
        Done::new(Status::No, None, text)
    }

    pub fn bad(text: impl Into<String>) -> Done {
        Done::new(Status::Bad, None, text)
    }

    /// OK with a response code, e.g. `OK [READ-WRITE] SELECT completed`.
    pub fn ok_with(code: Code, text: impl Into<String>) -> Done {
        Done::new(Status::Ok, Some(code), text)
    }

    /// NO with a response code, e.g. `NO [TRYCREATE] No such mailbox`.
    pub fn no_with(code: Code, text: impl Into<String>) -> Done {
        Done::new(Status::No, Some(code), text)
    }

    fn new(status: Status, code: Option<Code>, text: impl Into<String>) -> Done {
        Done {
            status,
            code,
            text: text.into(),
        }
    }

    /// True when the command failed with this response code.
    pub fn has_code(&self, code: &Code) -> bool {
        self.code.as_ref() == Some(code)
    }

    /// The tagged line: `tag OK [code] text` and CRLF.
    pub fn write_tagged(&self, tag: &str, out: &mut Vec<u8>) {
        out.extend_from_slice(format!("{tag} {self}\r\n").as_bytes());
    }
}

/// `OK [code] text` (without the tag or `*`).
impl fmt::Display for Done {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        status_text(f, self.status, self.code.as_ref(), &self.text)
    }
}

/// The untagged form `OK [code] text` (the session adds `* ` and CRLF).
pub fn untagged_status(status: Status, code: Option<&Code>, text: &str) -> String {
    struct Line<'a>(Status, Option<&'a Code>, &'a str);
    impl fmt::Display for Line<'_> {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            status_text(f, self.0, self.1, self.2)
        }
    }
    Line(status, code, text).to_string()
}

fn status_text(
    f: &mut fmt::Formatter<'_>,
    status: Status,
    code: Option<&Code>,
    text: &str,
) -> fmt::Result {
    match code {
        Some(code) => write!(f, "{status} [{code}] {text}"),
        None => write!(f, "{status} {text}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tagged_lines() {
        let mut out = vec![];
        Done::ok_with(Code::ReadWrite, "SELECT completed").write_tagged("a1", &mut out);
        Done::no("Nothing").write_tagged("a2", &mut out);
        Done::bad("Expected DONE").write_tagged("a3", &mut out);
        Done::ok_with(
            Code::CopyUid {
                uidvalidity: 7,
                sources: vec![1, 2, 3, 5],
                destinations: vec![10, 11, 12, 13],
            },
            "COPY completed",
        )
        .write_tagged("a4", &mut out);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "a1 OK [READ-WRITE] SELECT completed\r\na2 NO Nothing\r\na3 BAD Expected DONE\r\n\
             a4 OK [COPYUID 7 1:3,5 10:13] COPY completed\r\n"
        );
        assert_eq!(
            untagged_status(
                Status::Ok,
                Some(&Code::PermanentFlags(vec!["\\Seen".into(), "\\*".into()])),
                "Flags permitted"
            ),
            "OK [PERMANENTFLAGS (\\Seen \\*)] Flags permitted"
        );
        assert_eq!(
            untagged_status(Status::Ok, Some(&Code::PermanentFlags(vec![])), "None"),
            "OK [PERMANENTFLAGS ()] None"
        );
    }
}
