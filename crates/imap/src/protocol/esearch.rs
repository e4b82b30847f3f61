//! RFC 4731 ESEARCH `SEARCH RETURN (...)`, which imap-codec does not parse:
//!
//! ```abnf
//! search            = "SEARCH" [search-return-opts] SP search-program
//! search-return-opts = SP "RETURN" SP "(" [search-return-opt *(SP search-return-opt)] ")"
//! search-return-opt = "MIN" / "MAX" / "ALL" / "COUNT"
//! ```
//!
//! plus RFC 5267's CONTEXT, PARTIAL and UPDATE (see [`options`]), which SORT shares.
//!
//! The RETURN clause is parsed here and cut out of the command; the remaining plain
//! `SEARCH [CHARSET x] keys` goes to imap-codec as usual.

use super::lexer::{Cursor, PResult};
use super::types::SearchReturn;

/// `input[start..]` begins with `RETURN`. Returns the options and the command with the
/// `RETURN (...) ` clause removed.
pub(crate) fn strip_return(input: &[u8], start: usize) -> PResult<(SearchReturn, Vec<u8>)> {
    let mut c = Cursor::new(&input[start..]);
    if !c.keyword("RETURN") {
        return Err("expected RETURN".to_string());
    }
    c.sp("return options")?;
    let ret = options(&mut c)?;
    c.sp("search criteria")?;
    let mut out = Vec::with_capacity(input.len());
    out.extend_from_slice(&input[..start]);
    out.extend_from_slice(&input[start + c.pos()..]);
    Ok((ret, out))
}

/// `"(" [search-return-opt *(SP search-return-opt)] ")"`, with RFC 5267's options:
///
/// ```abnf
/// search-return-opt =/ "CONTEXT" / "PARTIAL" SP partial-range / "UPDATE"
/// partial-range     = nz-number ":" nz-number   ; 500:400 is the same as 400:500
/// ```
pub(crate) fn options(c: &mut Cursor<'_>) -> PResult<SearchReturn> {
    let mut ret = SearchReturn::default();
    let mut empty = true;
    c.paren_list("return options", true, |c| {
        empty = false;
        let opt = c.atom("return option")?.to_ascii_uppercase();
        match opt.as_str() {
            "MIN" => ret.min = true,
            "MAX" => ret.max = true,
            "ALL" => ret.all = true,
            "COUNT" => ret.count = true,
            "CONTEXT" => ret.context = true,
            "UPDATE" => ret.update = true,
            "PARTIAL" => {
                c.sp("partial range")?;
                if ret.partial.is_some() {
                    return Err("more than one PARTIAL".to_string());
                }
                ret.partial = Some(partial_range(c)?);
            }
            _ => return Err(format!("unsupported RETURN option {opt}")),
        }
        Ok(())
    })?;
    // RFC 5267 4.4: "either one PARTIAL, one ALL, or neither".
    if ret.partial.is_some() && ret.all {
        return Err("PARTIAL and ALL cannot be combined".to_string());
    }
    // RFC 4731 3.1: `RETURN ()` is `RETURN (ALL)` with an ESEARCH response.
    ret.esearch = empty;
    Ok(ret)
}

/// `nz-number ":" nz-number`, returned low first (RFC 5267 5).
fn partial_range(c: &mut Cursor<'_>) -> PResult<(u32, u32)> {
    let atom = c.atom("partial range")?;
    let bad = || {
        format!(
            "invalid partial range {}",
            atom.chars().take(32).collect::<String>()
        )
    };
    let (a, b) = atom.split_once(':').ok_or_else(bad)?;
    let number = |s: &str| -> Option<u32> {
        (!s.is_empty() && !s.starts_with('0') && s.bytes().all(|b| b.is_ascii_digit()))
            .then(|| s.parse().ok())
            .flatten()
    };
    let (a, b) = (number(a).ok_or_else(bad)?, number(b).ok_or_else(bad)?);
    Ok((a.min(b), a.max(b)))
}
