//! IMAP command parsing: one complete command (all lines, every literal's data, the final CRLF)
//! → [`Tagged`]. imap-codec does most of the work; the commands it cannot parse (RFC 4314 ACL,
//! RFC 5258 LIST-EXTENDED, RFC 6154 `CREATE ... (USE ...)`, RFC 4731 `SEARCH RETURN`, RFC 6855
//! `APPEND ... UTF8 (...)`, RFC 5256 SORT/THREAD with RFC 5267 and RFC 5957, RFC 3502/4469
//! MULTIAPPEND and CATENATE, RFC 5465 NOTIFY, the FETCH items and STATUS items of RFC
//! 8970/8514/8474) have small hand-written parsers. Nothing outside this module sees an
//! imap-codec type.

pub mod types;

mod acl;
mod append;
mod convert;
mod create;
mod date;
mod esearch;
mod fetch_ext;
mod lexer;
mod list;
mod literal;
pub mod mutf7;
mod notify;
mod search_keys;
mod sort;
mod status;
#[cfg(test)]
mod tests;

use std::borrow::Cow;
use std::fmt;

use imap_codec::{decode::CommandDecodeError, decode::Decoder, CommandCodec};

pub(crate) use lexer::is_astring_char;
pub use literal::{literal_at_end, Literal};
pub use types::*;

use lexer::{is_tag_char, lossy, max_paren_depth, Cursor};

/// Deepest parenthesis nesting accepted in a command.
pub const MAX_NESTING: usize = 64;

/// A command that could not be parsed. `tag` is set when the tag itself was valid, so the session
/// can answer `TAG BAD message`; otherwise it answers `* BAD message`. A message starting with
/// `BADCHARSET` asks for `TAG NO [BADCHARSET (UTF-8 US-ASCII)] ...` instead.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError {
    pub tag: Option<String>,
    pub message: String,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.tag {
            Some(tag) => write!(f, "{tag}: {}", self.message),
            None => f.write_str(&self.message),
        }
    }
}

impl std::error::Error for ParseError {}

/// Command names we accept (after `UID`: FETCH, STORE, COPY, MOVE, SEARCH, EXPUNGE, SORT,
/// THREAD).
const KNOWN: &[&str] = &[
    "CAPABILITY",
    "NOOP",
    "LOGOUT",
    "STARTTLS",
    "LOGIN",
    "AUTHENTICATE",
    "ENABLE",
    "ID",
    "NAMESPACE",
    "SELECT",
    "EXAMINE",
    "UNSELECT",
    "CLOSE",
    "CREATE",
    "DELETE",
    "RENAME",
    "SUBSCRIBE",
    "UNSUBSCRIBE",
    "LIST",
    "LSUB",
    "STATUS",
    "APPEND",
    "CHECK",
    "EXPUNGE",
    "SEARCH",
    "FETCH",
    "STORE",
    "COPY",
    "MOVE",
    "UID",
    "IDLE",
    "GETQUOTA",
    "GETQUOTAROOT",
    "SETQUOTA",
    "SETACL",
    "GETACL",
    "DELETEACL",
    "LISTRIGHTS",
    "MYRIGHTS",
    "SORT",
    "THREAD",
    "CANCELUPDATE",
    "NOTIFY",
];

const UID_KNOWN: &[&str] = &[
    "FETCH", "STORE", "COPY", "MOVE", "SEARCH", "EXPUNGE", "SORT", "THREAD",
];

fn short(name: &str) -> String {
    name.chars().take(32).collect()
}

/// Parses one complete command. `input` holds the command line(s) including every literal's
/// data and the final CRLF (a missing final line ending is tolerated).
pub fn parse(input: &[u8]) -> Result<Tagged, ParseError> {
    if input.iter().all(|b| b.is_ascii_whitespace()) {
        return Err(ParseError {
            tag: None,
            message: "empty command".to_string(),
        });
    }
    let owned;
    let input = if input.ends_with(b"\n") {
        input
    } else {
        owned = [input, b"\r\n"].concat();
        &owned[..]
    };
    let tag_end = input
        .iter()
        .position(|&b| matches!(b, b' ' | b'\r' | b'\n'))
        .unwrap_or(input.len());
    let tag_bytes = &input[..tag_end];
    if tag_bytes.is_empty() || !tag_bytes.iter().all(|&b| is_tag_char(b)) {
        return Err(ParseError {
            tag: None,
            message: "invalid tag".to_string(),
        });
    }
    let tag = lossy(tag_bytes);
    // Defence in depth: the parsers below bound their own recursion, but a bug in a dependency
    // must cost one BAD response, never the connection task.
    let result = std::panic::catch_unwind(|| parse_body(input, tag_end));
    match result {
        Ok(Ok(command)) => Ok(Tagged { tag, command }),
        Ok(Err(message)) => Err(ParseError {
            tag: Some(tag),
            message,
        }),
        Err(_) => Err(ParseError {
            tag: Some(tag),
            message: "internal parser error".to_string(),
        }),
    }
}

/// `LOGIN unit@dom*person@dom pw` as clients send it unquoted (Python's imaplib does): RFC 9051
/// 9 puts `*` among atom-specials, so strictly that is no astring. The master-user login
/// (`UNIT*PERSON`) is read as if the name were quoted; nothing else is loosened.
fn quote_unit_login(input: &[u8], name_end: usize) -> Option<Vec<u8>> {
    let start = name_end + 1;
    let len = input.get(start..)?.iter().position(|&b| b == b' ')?;
    let word = &input[start..start + len];
    let plain = |b: &u8| b.is_ascii_graphic() && !matches!(b, b'"' | b'\\' | b'{' | b'(' | b')');
    if !word.contains(&b'*') || word.first() == Some(&b'"') || !word.iter().all(plain) {
        return None;
    }
    Some([&input[..start], b"\"", word, b"\"", &input[start + len..]].concat())
}

/// Everything after a valid tag; returns the command or an error message.
fn parse_body(input: &[u8], tag_end: usize) -> Result<Command, String> {
    if input.get(tag_end) != Some(&b' ') {
        return Err("missing command".to_string());
    }
    let word_end = |from: usize| {
        from + input[from..]
            .iter()
            .position(|&b| matches!(b, b' ' | b'\r' | b'\n'))
            .unwrap_or(input.len() - from)
    };
    let name_start = tag_end + 1;
    let mut name_end = word_end(name_start);
    let mut name = lossy(&input[name_start..name_end]).to_ascii_uppercase();
    if name.is_empty() {
        return Err("missing command".to_string());
    }
    if !KNOWN.contains(&name.as_str()) {
        return Err(format!("unknown command {}", short(&name)));
    }
    if name == "UID" {
        if input.get(name_end) != Some(&b' ') {
            return Err("missing command after UID".to_string());
        }
        let sub_end = word_end(name_end + 1);
        let sub = lossy(&input[name_end + 1..sub_end]).to_ascii_uppercase();
        if sub.is_empty() {
            return Err("missing command after UID".to_string());
        }
        if !UID_KNOWN.contains(&sub.as_str()) {
            return Err(format!("unknown command UID {}", short(&sub)));
        }
        name = format!("UID {sub}");
        name_end = sub_end;
    }
    if max_paren_depth(input, MAX_NESTING) > MAX_NESTING {
        return Err("too deeply nested".to_string());
    }

    match name.as_str() {
        "SETACL" | "GETACL" | "DELETEACL" | "LISTRIGHTS" | "MYRIGHTS" => {
            return acl::parse(&name, &mut Cursor::new(&input[name_end..]));
        }
        "SORT" | "UID SORT" | "THREAD" | "UID THREAD" | "CANCELUPDATE" => {
            return sort::parse(&name, &mut Cursor::new(&input[name_end..]));
        }
        "NOTIFY" => return notify::parse(&mut Cursor::new(&input[name_end..])),
        "LOGIN" => {
            if let Some(quoted) = quote_unit_login(input, name_end) {
                return codec(&quoted, &name);
            }
        }
        "FETCH" | "UID FETCH" => {
            if let Some(stripped) = fetch_ext::strip(input, name_end)? {
                let mut command = codec(&stripped.input, &name)?;
                stripped.restore(&mut command);
                return Ok(command);
            }
        }
        "SEARCH" | "UID SEARCH" => {
            let args = name_end + 1;
            let rest = input.get(args..).unwrap_or_default();
            let (ret, plain) = if input.get(name_end) == Some(&b' ')
                && rest.len() >= 6
                && rest[..6].eq_ignore_ascii_case(b"RETURN")
            {
                let (ret, plain) = esearch::strip_return(input, args)?;
                (ret, Cow::Owned(plain))
            } else {
                (SearchReturn::default(), Cow::Borrowed(input))
            };
            // imap-codec first; its search-key nesting limit is 8, so deeper (valid) criteria
            // and every syntax error get a second opinion from our parser, whose message is
            // the more precise one.
            let mut command = match codec(&plain, &name) {
                Ok(command) => command,
                Err(_) => search_keys::parse(
                    &mut Cursor::new(&plain[name_end..]),
                    name.starts_with("UID"),
                )?,
            };
            if let Command::Search { ret: r, .. } = &mut command {
                *r = ret;
            }
            return Ok(command);
        }
        _ => {}
    }

    match codec(input, &name) {
        Ok(command) => Ok(command),
        Err(codec_error) => {
            // The extended forms imap-codec refuses; for these the hand-written parser's
            // message is the more precise one.
            let mut c = Cursor::new(&input[name_end..]);
            match name.as_str() {
                "LIST" => list::parse(&mut c),
                "CREATE" => create::parse(&mut c),
                "APPEND" => append::parse(&mut c),
                "STATUS" => status::parse(&mut c),
                _ => Err(codec_error),
            }
        }
    }
}

/// imap-codec's decoder followed by the conversion into our types.
fn codec(input: &[u8], name: &str) -> Result<Command, String> {
    match CommandCodec::new().decode(input) {
        Ok((rest, command)) => {
            if !rest.is_empty() {
                return Err("unexpected characters after command".to_string());
            }
            convert::command(command.body)
        }
        Err(CommandDecodeError::LiteralFound { .. }) => Err("literal data missing".to_string()),
        Err(CommandDecodeError::Incomplete) => Err("incomplete command".to_string()),
        Err(CommandDecodeError::Failed) => {
            let after = input
                .iter()
                .position(|&b| b == b' ')
                .map(|p| p + 1 + name.len())
                .unwrap_or(input.len());
            let bare = matches!(input.get(after), None | Some(b'\r') | Some(b'\n'));
            if bare {
                Err(format!("missing arguments for {name}"))
            } else {
                Err(format!("invalid arguments for {name}"))
            }
        }
    }
}
