//! RFC 5092 IMAP URLs naming a message or a part of one, as RFC 4469 CATENATE uses them.
//!
//! ```abnf
//! imapurl      = "imap://" iserver ipath-query
//! iserver      = [iuserinfo "@"] host [":" port]
//! imessagepart = imailbox-ref iuid [isection] [ipartial] [iurlauth]
//! imailbox-ref = enc-mailbox [uidvalidity]
//! uidvalidity  = ";UIDVALIDITY=" nz-number
//! iuid         = "/" ";UID=" nz-number
//! isection     = "/" ";SECTION=" enc-section
//! ipartial     = "/" ";PARTIAL=" number ["." nz-number]
//! ```
//!
//! Accepted: the absolute form, the network-path form `//user@host/...`, the absolute-path
//! form `/mailbox/;UID=n...` (RFC 4469 3: relative to `imap://user@server/`), and
//! `;UID=n...` in the selected mailbox. `%`-escapes are undone; the mailbox name is UTF-8 or
//! modified UTF-7. URLAUTH-authorised URLs (RFC 4467) are not supported and are refused.
//! Parsing does no I/O: the session then checks the user, the rights and the UID.

use crate::protocol::{FetchItem, Section};

/// The parts of a message URL the session resolves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageUrl {
    /// `user` of `imap://user@host/` (must be the logged-in user), `%`-decoded.
    pub user: Option<String>,
    /// The host of an absolute URL (must be this server).
    pub host: Option<String>,
    /// The mailbox, `%`-decoded; `None`: the selected mailbox.
    pub mailbox: Option<String>,
    pub uidvalidity: Option<u32>,
    pub uid: u32,
    /// `None`: the whole message.
    pub section: Option<Section>,
    /// Offset and length of `;PARTIAL=`.
    pub partial: Option<(u32, Option<u32>)>,
}

/// Parses a URL; `Err` names what is wrong (the session answers NO [BADURL url]).
pub fn parse(url: &str) -> Result<MessageUrl, &'static str> {
    let mut user = None;
    let mut host = None;
    let lower = url.to_ascii_lowercase();
    let path = if lower.starts_with("imap://") || url.starts_with("//") {
        let rest = &url[url.find("//").unwrap_or(0) + 2..];
        let slash = rest.find('/').ok_or("no mailbox in the URL")?;
        let server = &rest[..slash];
        let hostport = match server.rsplit_once('@') {
            Some((info, hostport)) => {
                let name = info.split(';').next().unwrap_or(info);
                if name.is_empty() || info.len() != name.len() {
                    // `;AUTH=` names a mechanism to log in with: not for this session.
                    return Err("the URL names another login");
                }
                user = Some(percent_decode(name)?);
                hostport
            }
            None => server,
        };
        host = Some(hostport.split(':').next().unwrap_or(hostport).to_string());
        &rest[slash..]
    } else if url.contains("://") {
        return Err("not an IMAP URL");
    } else {
        url
    };
    let (mailbox, rest) = if let Some(path) = path.strip_prefix('/') {
        let at = find_ci(path, "/;uid=").ok_or("the URL names no message")?;
        (Some(&path[..at]), &path[at + 1..])
    } else if starts_ci(path, ";uid=") {
        (None, path)
    } else {
        return Err("the URL names no message");
    };
    let (mailbox, uidvalidity) = match mailbox {
        Some(reference) => {
            let (name, validity) = match find_ci(reference, ";uidvalidity=") {
                Some(at) => (
                    &reference[..at],
                    Some(nz_number(&reference[at + ";uidvalidity=".len()..])?),
                ),
                None => (reference, None),
            };
            if name.is_empty() {
                return Err("the URL names no mailbox");
            }
            (Some(percent_decode(name)?), validity)
        }
        None => (None, None),
    };
    let mut segments = rest.split('/');
    let uid_segment = segments.next().unwrap_or("");
    let uid = nz_number(&uid_segment[";uid=".len()..])?;
    let mut section = None;
    let mut partial = None;
    for segment in segments {
        if starts_ci(segment, ";section=") && section.is_none() && partial.is_none() {
            section = Some(parse_section(&percent_decode(
                &segment[";section=".len()..],
            )?)?);
        } else if starts_ci(segment, ";partial=") && partial.is_none() {
            let range = &segment[";partial=".len()..];
            partial = Some(match range.split_once('.') {
                Some((offset, length)) => (number(offset)?, Some(nz_number(length)?)),
                None => (number(range)?, None),
            });
        } else if starts_ci(segment, ";expire=") || starts_ci(segment, ";urlauth=") {
            return Err("URLAUTH is not supported");
        } else {
            return Err("unknown URL part");
        }
    }
    Ok(MessageUrl {
        user,
        host,
        mailbox,
        uidvalidity,
        uid,
        section,
        partial,
    })
}

/// A section spec (`1.2.MIME`, `HEADER.FIELDS (FROM)`, `TEXT`), read by the FETCH parser.
fn parse_section(spec: &str) -> Result<Section, &'static str> {
    if spec.contains(['\r', '\n', ']']) {
        return Err("invalid section");
    }
    let command = format!("X FETCH 1 BODY.PEEK[{spec}]\r\n");
    match crate::protocol::parse(command.as_bytes()).map(|t| t.command) {
        Ok(crate::protocol::Command::Fetch { items, .. }) => match items.as_slice() {
            [FetchItem::BodySection {
                section,
                partial: None,
                ..
            }] => Ok(section.clone()),
            _ => Err("invalid section"),
        },
        _ => Err("invalid section"),
    }
}

fn starts_ci(text: &str, prefix: &str) -> bool {
    text.len() >= prefix.len()
        && text.as_bytes()[..prefix.len()].eq_ignore_ascii_case(prefix.as_bytes())
}

fn find_ci(text: &str, needle: &str) -> Option<usize> {
    text.to_ascii_lowercase().find(needle)
}

fn number(text: &str) -> Result<u32, &'static str> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err("invalid number");
    }
    text.parse().map_err(|_| "number out of range")
}

fn nz_number(text: &str) -> Result<u32, &'static str> {
    match number(text)? {
        0 => Err("zero is not a valid number here"),
        n => Ok(n),
    }
}

/// Undoes `%XX` escapes; the result must be UTF-8 without controls.
fn percent_decode(text: &str) -> Result<String, &'static str> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = text.get(i + 1..i + 3).ok_or("bad %-escape")?;
            out.push(u8::from_str_radix(hex, 16).map_err(|_| "bad %-escape")?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    let decoded = String::from_utf8(out).map_err(|_| "not UTF-8")?;
    if decoded.chars().any(char::is_control) {
        return Err("control character in the URL");
    }
    Ok(decoded)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::SectionText;

    fn section(part: &[u32], text: SectionText) -> Option<Section> {
        Some(Section {
            part: part.to_vec(),
            text,
        })
    }

    #[test]
    fn forms() {
        // RFC 4469 appendix A (the example's URL).
        let url = parse("/Drafts;UIDVALIDITY=385759045/;UID=20/;SECTION=HEADER").unwrap();
        assert_eq!(url.mailbox.as_deref(), Some("Drafts"));
        assert_eq!(url.uidvalidity, Some(385_759_045));
        assert_eq!(url.uid, 20);
        assert_eq!(url.section, section(&[], SectionText::Header));
        assert_eq!(url.user, None);
        // RFC 5092 absolute form with a part, a partial range and an escaped UTF-8 name.
        let url = parse(
            "imap://nvan.stttt@mail.kontum.gov.vn/Th%C6%B0%20m%E1%BB%A5c;uidvalidity=7/;uid=3/;section=1.2.MIME/;partial=10.20",
        )
        .unwrap();
        assert_eq!(url.user.as_deref(), Some("nvan.stttt"));
        assert_eq!(url.host.as_deref(), Some("mail.kontum.gov.vn"));
        assert_eq!(url.mailbox.as_deref(), Some("Thư mục"));
        assert_eq!(url.section, section(&[1, 2], SectionText::Mime));
        assert_eq!(url.partial, Some((10, Some(20))));
        // Nested mailboxes and HEADER.FIELDS with an escaped space.
        let url = parse("/INBOX/Dự%20án/;UID=9/;SECTION=HEADER.FIELDS%20(FROM%20TO)").unwrap();
        assert_eq!(url.mailbox.as_deref(), Some("INBOX/Dự án"));
        assert_eq!(
            url.section,
            section(
                &[],
                SectionText::HeaderFields(vec!["FROM".into(), "TO".into()])
            )
        );
        // In the selected mailbox.
        let url = parse(";UID=5/;PARTIAL=0").unwrap();
        assert_eq!(
            (url.mailbox, url.uid, url.partial),
            (None, 5, Some((0, None)))
        );
    }

    #[test]
    fn refusals() {
        for url in [
            "",
            "http://example.com/INBOX/;UID=1",
            "/INBOX",
            "/INBOX/;UID=0",
            "/INBOX/;UID=x",
            "/INBOX/;UID=99999999999",
            "/;UID=1",
            "/INBOX;UIDVALIDITY=0/;UID=1",
            "/INBOX/;UID=1/;SECTION=1.BOGUS",
            "/INBOX/;UID=1/;SECTION=1]",
            "/INBOX/;UID=1/;PARTIAL=1.0",
            "/INBOX/;UID=1/;URLAUTH=anonymous:internal:0123",
            "/INBOX/;UID=1/;EXPIRE=2030-01-01T00:00:00Z",
            "/INBOX/;UID=1/;BOGUS=1",
            "/INBOX%0D%0A/;UID=1",
            "/INBOX%ZZ/;UID=1",
            "imap://;AUTH=*@host/INBOX/;UID=1",
            "imap://host",
        ] {
            assert!(parse(url).is_err(), "{url}");
        }
    }
}
