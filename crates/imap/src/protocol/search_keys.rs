//! Hand-written SEARCH parser, used only when imap-codec refuses a SEARCH command.
//!
//! imap-codec 2.0.0-alpha.10 limits search-key recursion to 8 levels (`search_key(9)`), so a
//! right-nested chain such as `OR FROM a OR FROM b ... OR FROM i FROM j` (9 ORs, what clients
//! build for "from any of these 10 people") or 9 nested parentheses is a syntax error there.
//! This parser accepts the same grammar with a nesting limit of [`super::MAX_NESTING`]:
//!
//! ```abnf
//! search     = "SEARCH" [SP "CHARSET" SP charset] 1*(SP search-key)
//! search-key = "ALL" / "ANSWERED" / "BCC" SP astring / "BEFORE" SP date / "BODY" SP astring /
//!              "CC" SP astring / "DELETED" / "FLAGGED" / "FROM" SP astring /
//!              "KEYWORD" SP flag-keyword / "NEW" / "OLD" / "ON" SP date / "RECENT" / "SEEN" /
//!              "SINCE" SP date / "SUBJECT" SP astring / "TEXT" SP astring / "TO" SP astring /
//!              "UNANSWERED" / "UNDELETED" / "UNFLAGGED" / "UNKEYWORD" SP flag-keyword /
//!              "UNSEEN" / "DRAFT" / "HEADER" SP header-fld-name SP astring /
//!              "LARGER" SP number / "NOT" SP search-key / "OR" SP search-key SP search-key /
//!              "SENTBEFORE" SP date / "SENTON" SP date / "SENTSINCE" SP date /
//!              "SMALLER" SP number / "UID" SP sequence-set / "UNDRAFT" /
//!              "OLDER" SP nz-number / "YOUNGER" SP nz-number /               ; RFC 5032
//!              "MODSEQ" [SP entry-name SP entry-type-req] SP mod-sequence-valzer ; RFC 7162
//!              "SAVEDBEFORE" SP date / "SAVEDON" SP date / "SAVEDSINCE" SP date /   ; RFC 8514
//!              "SAVEDATESUPPORTED" / "EMAILID" SP objectid / "THREADID" SP objectid / ; RFC 8474
//!              sequence-set / "(" search-key *(SP search-key) ")"
//! ```

use super::lexer::{Cursor, PResult};
use super::types::{Command, SearchKey, SearchReturn, SeqBound, SequenceSet};
use super::MAX_NESTING;

/// The cursor stands right after `SEARCH`.
pub(crate) fn parse(c: &mut Cursor<'_>, uid: bool) -> PResult<Command> {
    c.sp("search criteria")?;
    if c.keyword("CHARSET") {
        c.sp("charset")?;
        charset(c)?;
        c.sp("search criteria")?;
    }
    Ok(Command::Search {
        uid,
        criteria: criteria(c)?,
        ret: SearchReturn::default(),
    })
}

/// `charset = atom / quoted`; only UTF-8 and US-ASCII are supported (RFC 9051 6.4.4,
/// RFC 5256 3: both MUST be).
pub(crate) fn charset(c: &mut Cursor<'_>) -> PResult<()> {
    let charset = if c.peek() == Some(b'"') {
        c.quoted()?
    } else {
        c.atom("charset")?.to_string()
    };
    if !charset.eq_ignore_ascii_case("UTF-8") && !charset.eq_ignore_ascii_case("US-ASCII") {
        return Err(format!("BADCHARSET charset {charset} not supported"));
    }
    Ok(())
}

/// `1*(SP search-key)` without its first SP, up to the end of the command: the keys, ANDed.
pub(crate) fn criteria(c: &mut Cursor<'_>) -> PResult<SearchKey> {
    let mut keys = vec![key(c, 0)?];
    while c.eat(b' ') {
        keys.push(key(c, 0)?);
    }
    c.end()?;
    Ok(if keys.len() == 1 {
        keys.remove(0)
    } else {
        SearchKey::And(keys)
    })
}

fn key(c: &mut Cursor<'_>, depth: usize) -> PResult<SearchKey> {
    if depth >= MAX_NESTING {
        return Err("too deeply nested".to_string());
    }
    match c.peek() {
        Some(b'(') => {
            let mut keys = Vec::new();
            c.paren_list("search criteria", false, |c| {
                keys.push(key(c, depth + 1)?);
                Ok(())
            })?;
            return Ok(if keys.len() == 1 {
                keys.remove(0)
            } else {
                SearchKey::And(keys)
            });
        }
        Some(b) if b.is_ascii_digit() || b == b'*' => {
            return Ok(SearchKey::SequenceSet(sequence_set(c)?));
        }
        _ => {}
    }
    let word = c.atom("search key")?.to_ascii_uppercase();
    let flag = |name: &str, set: bool| Ok(SearchKey::Flag(name.to_string(), set));
    match word.as_str() {
        "ALL" => Ok(SearchKey::All),
        "ANSWERED" => flag("\\Answered", true),
        "DELETED" => flag("\\Deleted", true),
        "DRAFT" => flag("\\Draft", true),
        "FLAGGED" => flag("\\Flagged", true),
        "SEEN" => flag("\\Seen", true),
        "UNANSWERED" => flag("\\Answered", false),
        "UNDELETED" => flag("\\Deleted", false),
        "UNDRAFT" => flag("\\Draft", false),
        "UNFLAGGED" => flag("\\Flagged", false),
        "UNSEEN" => flag("\\Seen", false),
        "NEW" => Ok(SearchKey::New),
        "OLD" => Ok(SearchKey::Old),
        "RECENT" => Ok(SearchKey::Recent),
        "KEYWORD" | "UNKEYWORD" => {
            c.sp("keyword")?;
            let k = c.atom("keyword")?.to_string();
            Ok(SearchKey::Flag(k, word == "KEYWORD"))
        }
        "BCC" | "BODY" | "CC" | "FROM" | "SUBJECT" | "TEXT" | "TO" => {
            c.sp("search string")?;
            let s = c.astring("search string")?;
            Ok(match word.as_str() {
                "BCC" => SearchKey::Bcc(s),
                "BODY" => SearchKey::Body(s),
                "CC" => SearchKey::Cc(s),
                "FROM" => SearchKey::From(s),
                "SUBJECT" => SearchKey::Subject(s),
                "TEXT" => SearchKey::Text(s),
                _ => SearchKey::To(s),
            })
        }
        "HEADER" => {
            c.sp("header name")?;
            let name = c.astring("header name")?;
            c.sp("search string")?;
            Ok(SearchKey::Header(name, c.astring("search string")?))
        }
        "BEFORE" | "ON" | "SINCE" | "SENTBEFORE" | "SENTON" | "SENTSINCE" => {
            c.sp("date")?;
            let d = date(c)?;
            Ok(match word.as_str() {
                "BEFORE" => SearchKey::Before(d),
                "ON" => SearchKey::On(d),
                "SINCE" => SearchKey::Since(d),
                "SENTBEFORE" => SearchKey::SentBefore(d),
                "SENTON" => SearchKey::SentOn(d),
                _ => SearchKey::SentSince(d),
            })
        }
        // RFC 8514 4.3.
        "SAVEDBEFORE" | "SAVEDON" | "SAVEDSINCE" => {
            c.sp("date")?;
            let d = date(c)?;
            Ok(match word.as_str() {
                "SAVEDBEFORE" => SearchKey::SavedBefore(d),
                "SAVEDON" => SearchKey::SavedOn(d),
                _ => SearchKey::SavedSince(d),
            })
        }
        "SAVEDATESUPPORTED" => Ok(SearchKey::SaveDateSupported),
        // RFC 8474 6: `objectid = 1*255(ALPHA / DIGIT / "_" / "-")`.
        "EMAILID" | "THREADID" => {
            c.sp("object id")?;
            let id = c.atom("object id")?;
            let valid = id.len() <= 255
                && id
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
            if !valid {
                return Err("invalid object id".to_string());
            }
            Ok(if word == "EMAILID" {
                SearchKey::EmailId(id.to_string())
            } else {
                SearchKey::ThreadId(id.to_string())
            })
        }
        "LARGER" | "SMALLER" => {
            c.sp("size")?;
            let n = u32::try_from(number(c, "size")?).map_err(|_| "size out of range")?;
            Ok(if word == "LARGER" {
                SearchKey::Larger(n)
            } else {
                SearchKey::Smaller(n)
            })
        }
        "OLDER" | "YOUNGER" => {
            c.sp("interval")?;
            let n = u32::try_from(number(c, "interval")?)
                .ok()
                .filter(|&n| n > 0)
                .ok_or("interval out of range")?;
            Ok(if word == "OLDER" {
                SearchKey::Older(n)
            } else {
                SearchKey::Younger(n)
            })
        }
        "UID" => {
            c.sp("UID set")?;
            Ok(SearchKey::Uid(sequence_set(c)?))
        }
        "NOT" => {
            c.sp("search key")?;
            Ok(SearchKey::Not(Box::new(key(c, depth + 1)?)))
        }
        "OR" => {
            c.sp("search key")?;
            let a = key(c, depth + 1)?;
            c.sp("search key")?;
            let b = key(c, depth + 1)?;
            Ok(SearchKey::Or(Box::new(a), Box::new(b)))
        }
        "MODSEQ" => {
            c.sp("mod-sequence")?;
            if c.peek() == Some(b'"') {
                // entry-name SP entry-type-req: only narrows the search for servers with
                // per-flag modseqs; ignored like imap-codec's conversion does.
                c.quoted()?;
                c.sp("entry type")?;
                let t = c.atom("entry type")?.to_ascii_lowercase();
                if !matches!(t.as_str(), "priv" | "shared" | "all") {
                    return Err("invalid entry type".to_string());
                }
                c.sp("mod-sequence")?;
            }
            let n = number(c, "mod-sequence")?;
            if n > i64::MAX as u64 {
                return Err("mod-sequence out of range".to_string());
            }
            Ok(SearchKey::ModSeq(n))
        }
        _ => Err(format!(
            "unknown search key {}",
            word.chars().take(32).collect::<String>()
        )),
    }
}

fn number(c: &mut Cursor<'_>, what: &str) -> PResult<u64> {
    let start = c.pos();
    let mut n: u64 = 0;
    while let Some(b) = c.peek().filter(u8::is_ascii_digit) {
        n = n
            .checked_mul(10)
            .and_then(|n| n.checked_add(u64::from(b - b'0')))
            .ok_or_else(|| format!("{what} out of range"))?;
        c.eat(b);
    }
    if c.pos() == start {
        return Err(if c.at_line_end() {
            format!("missing {what}")
        } else {
            format!("invalid {what}")
        });
    }
    Ok(n)
}

/// `sequence-set` with `*`; zero is not a valid sequence number.
pub(crate) fn sequence_set(c: &mut Cursor<'_>) -> PResult<SequenceSet> {
    let bound = |c: &mut Cursor<'_>| -> PResult<SeqBound> {
        if c.eat(b'*') {
            return Ok(SeqBound::Star);
        }
        u32::try_from(number(c, "sequence number")?)
            .ok()
            .filter(|&n| n > 0)
            .map(SeqBound::Value)
            .ok_or_else(|| "invalid sequence number".to_string())
    };
    let mut ranges = Vec::new();
    loop {
        let a = bound(c)?;
        let b = if c.eat(b':') { bound(c)? } else { a };
        ranges.push((a, b));
        if !c.eat(b',') {
            return Ok(SequenceSet(ranges));
        }
    }
}

const MONTHS: [&[u8]; 12] = [
    b"JAN", b"FEB", b"MAR", b"APR", b"MAY", b"JUN", b"JUL", b"AUG", b"SEP", b"OCT", b"NOV", b"DEC",
];

/// `date = date-text / DQUOTE date-text DQUOTE`, `date-text = date-day "-" date-month "-"
/// date-year` with a 1- or 2-digit day.
fn date(c: &mut Cursor<'_>) -> PResult<(i32, u8, u8)> {
    let bad = || "invalid date".to_string();
    let quoted = c.eat(b'"');
    let start = c.pos();
    let day = number(c, "date").map_err(|_| bad())?;
    if c.pos() - start > 2 {
        return Err(bad());
    }
    c.expect(b'-', "date").map_err(|_| bad())?;
    let month_name = c.atom("date").map_err(|_| bad())?;
    // The atom swallowed "-yyyy" too: split it.
    let (mon, rest) = month_name.split_at(month_name.len().min(3));
    let month = MONTHS
        .iter()
        .position(|m| m.eq_ignore_ascii_case(mon.as_bytes()))
        .ok_or_else(bad)? as u8
        + 1;
    let year = rest.strip_prefix('-').ok_or_else(bad)?;
    if year.len() != 4 || !year.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    let year: i32 = year.parse().map_err(|_| bad())?;
    if quoted {
        c.expect(b'"', "date").map_err(|_| bad())?;
    }
    let leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    let days = match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        _ if leap => 29,
        _ => 28,
    };
    if day == 0 || day > days {
        return Err(bad());
    }
    Ok((year, month, day as u8))
}
