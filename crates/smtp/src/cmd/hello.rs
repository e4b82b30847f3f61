//! EHLO/HELO (RFC 5321 4.1.1.1) and STARTTLS (RFC 3207).

use crate::codes::*;
use crate::listener_kind::ListenerKind;
use crate::session::{Next, Session};

impl Session {
    pub(crate) fn ehlo(&mut self, out: &mut Vec<u8>, host: &str, extended: bool) -> Next {
        if host.trim().is_empty() {
            reply(C501_ARGS, "EHLO needs a domain or address literal").encode(out);
            return Next::Continue;
        }
        // RFC 5321 4.1.4: EHLO resets the transaction.
        self.end_transaction();
        self.helo = Some(host.to_string());
        self.esmtp = extended;
        let settings = &self.context.settings;
        if !extended {
            Reply::new(250, "", format!("{} Hello {host}", settings.hostname)).encode(out);
            return Next::Continue;
        }
        let mut lines = vec![
            format!("{} Hello {host} [{}]", settings.hostname, self.peer.ip()),
            "PIPELINING".to_string(),
            format!("SIZE {}", settings.max_message_size),
            "8BITMIME".to_string(),
            "SMTPUTF8".to_string(),
            "ENHANCEDSTATUSCODES".to_string(),
            "CHUNKING".to_string(),
            "DSN".to_string(),
        ];
        if !self.tls && self.context.tls.is_some() {
            lines.push("STARTTLS".to_string());
        }
        // RFC 4954 4 / RFC 8314: AUTH only where it is safe.
        if self.auth_allowed() && self.auth.is_none() {
            lines.push("AUTH PLAIN LOGIN".to_string());
        }
        Reply::new(250, "", lines.join("\n")).encode(out);
        Next::Continue
    }

    pub(crate) fn starttls(&mut self, out: &mut Vec<u8>) -> Next {
        if self.tls {
            reply(C503_SEQUENCE, "TLS already active").encode(out);
            return Next::Continue;
        }
        if self.context.tls.is_none() || self.kind == ListenerKind::Submissions {
            reply(C502_NOT_IMPLEMENTED, "STARTTLS not available").encode(out);
            return Next::Continue;
        }
        Reply::new(220, "2.0.0", "Ready to start TLS").encode(out);
        Next::StartTls
    }
}
