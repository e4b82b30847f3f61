//! RFC 4731 ESEARCH `SEARCH RETURN (...)`, which imap-codec does not parse:
//!
//! ```abnf
//! search            = "SEARCH" [search-return-opts] SP search-program
//! search-return-opts = SP "RETURN" SP "(" [search-return-opt *(SP search-return-opt)] ")"
//! search-return-opt = "MIN" / "MAX" / "ALL" / "COUNT"
//! ```
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
            _ => return Err(format!("unsupported RETURN option {opt}")),
        }
        Ok(())
    })?;
    // RFC 4731 3.1: `RETURN ()` is `RETURN (ALL)` with an ESEARCH response.
    ret.esearch = empty;
    c.sp("search criteria")?;
    let mut out = Vec::with_capacity(input.len());
    out.extend_from_slice(&input[..start]);
    out.extend_from_slice(&input[start + c.pos()..]);
    Ok((ret, out))
}
