//! Reply codes with their RFC 3463 enhanced status codes, named once.

/// A complete reply: basic code, enhanced code (empty for greeting-style replies), text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    pub code: u16,
    pub enhanced: &'static str,
    pub text: String,
}

impl Reply {
    pub fn new(code: u16, enhanced: &'static str, text: impl Into<String>) -> Reply {
        Reply {
            code,
            enhanced,
            text: text.into(),
        }
    }

    /// Wire form, one line per text line (RFC 5321 4.2.1 multi-line replies).
    pub fn encode(&self, out: &mut Vec<u8>) {
        let lines: Vec<&str> = self.text.split('\n').collect();
        for (i, line) in lines.iter().enumerate() {
            let sep = if i + 1 == lines.len() { ' ' } else { '-' };
            let line = line.trim_end_matches('\r');
            if self.enhanced.is_empty() {
                out.extend_from_slice(format!("{}{sep}{line}\r\n", self.code).as_bytes());
            } else {
                out.extend_from_slice(
                    format!("{}{sep}{} {line}\r\n", self.code, self.enhanced).as_bytes(),
                );
            }
        }
    }

    pub fn is_positive(&self) -> bool {
        self.code < 400
    }
}

// RFC 5321 4.2.2 / RFC 3463 pairs used across the sessions.
pub const C221_BYE: (u16, &str) = (221, "2.0.0");
pub const C235_AUTH_OK: (u16, &str) = (235, "2.7.0");
pub const C250_OK: (u16, &str) = (250, "2.0.0");
pub const C250_SENDER_OK: (u16, &str) = (250, "2.1.0");
pub const C250_RCPT_OK: (u16, &str) = (250, "2.1.5");
pub const C252_CANNOT_VRFY: (u16, &str) = (252, "2.5.0");
pub const C354_START_DATA: u16 = 354;
pub const C421_SHUTDOWN: (u16, &str) = (421, "4.3.2");
pub const C421_TOO_BUSY: (u16, &str) = (421, "4.7.0");
pub const C421_TIMEOUT: (u16, &str) = (421, "4.4.2");
pub const C451_LOCAL_ERROR: (u16, &str) = (451, "4.3.0");
pub const C451_AV_UNAVAILABLE: (u16, &str) = (451, "4.7.1");
pub const C452_OVER_QUOTA: (u16, &str) = (452, "4.2.2");
/// RFC 3463 4.3.1: mail system full.
pub const C452_SYSTEM_FULL: (u16, &str) = (452, "4.3.1");
pub const C452_TOO_MANY_RCPTS: (u16, &str) = (452, "4.5.3");
pub const C454_AUTH_TEMP: (u16, &str) = (454, "4.7.0");
pub const C500_SYNTAX: (u16, &str) = (500, "5.5.2");
pub const C500_LINE_TOO_LONG: (u16, &str) = (500, "5.5.0");
pub const C501_ARGS: (u16, &str) = (501, "5.5.4");
pub const C501_ARGS_SYNTAX: (u16, &str) = (501, "5.5.2");
/// RFC 6531 3.7.4.1: a non-ASCII address in a transaction without SMTPUTF8.
pub const C553_NON_ASCII: (u16, &str) = (553, "5.6.7");
pub const C501_BAD_SENDER: (u16, &str) = (501, "5.1.7");
pub const C501_BAD_RCPT: (u16, &str) = (501, "5.1.3");
pub const C502_NOT_IMPLEMENTED: (u16, &str) = (502, "5.5.1");
pub const C503_SEQUENCE: (u16, &str) = (503, "5.5.1");
pub const C504_MECHANISM: (u16, &str) = (504, "5.5.4");
pub const C530_AUTH_REQUIRED: (u16, &str) = (530, "5.7.0");
pub const C535_AUTH_FAILED: (u16, &str) = (535, "5.7.8");
pub const C538_TLS_REQUIRED: (u16, &str) = (538, "5.7.11");
pub const C550_NO_SUCH_USER: (u16, &str) = (550, "5.1.1");
pub const C550_RELAY_DENIED: (u16, &str) = (550, "5.7.1");
pub const C550_POLICY: (u16, &str) = (550, "5.7.1");
pub const C552_TOO_BIG: (u16, &str) = (552, "5.3.4");
/// RFC 5321 4.1.1.11: a MAIL/RCPT parameter not recognised or not implemented.
pub const C555_PARAM_NOT_SUPPORTED: (u16, &str) = (555, "5.5.4");
pub const C554_VIRUS: (u16, &str) = (554, "5.7.1");
/// RFC 3463 3.8 X.7.1: delivery not authorized, message refused (a dangerous attachment).
pub const C554_ATTACHMENT: (u16, &str) = (554, "5.7.1");
pub const C554_NO_VALID_RCPTS: (u16, &str) = (554, "5.5.1");
/// RFC 5321 2.3.8: CR and LF only as CRLF (smuggling defence).
pub const C554_BARE_LINE_ENDING: (u16, &str) = (554, "5.5.2");

/// Builds a reply from a named pair.
pub fn reply(pair: (u16, &'static str), text: impl Into<String>) -> Reply {
    Reply::new(pair.0, pair.1, text)
}

/// The reply to a storage failure: always 4xx so the sender retries (RFC 5321 4.2.5), never
/// a refusal; 452 4.3.1 when the disk is full (RFC 3463), else 451 4.3.0 with `text`.
pub fn storage_fault(error: &storage::Error, text: &str) -> Reply {
    if error.is_storage_full() {
        reply(
            C452_SYSTEM_FULL,
            "Insufficient system storage, try again later",
        )
    } else {
        reply(C451_LOCAL_ERROR, text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn multiline_encoding() {
        let mut out = vec![];
        Reply::new(250, "", "mx.test\nPIPELINING\nSIZE 10").encode(&mut out);
        assert_eq!(out, b"250-mx.test\r\n250-PIPELINING\r\n250 SIZE 10\r\n");
        let mut out = vec![];
        reply(C550_NO_SUCH_USER, "No such user").encode(&mut out);
        assert_eq!(out, b"550 5.1.1 No such user\r\n");
    }
}
