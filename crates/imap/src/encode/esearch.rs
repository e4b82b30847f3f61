//! The head of an ESEARCH response (RFC 4731 3.1, RFC 9051 7.3.4, RFC 5267 3): the search
//! correlator naming the command's tag, then `UID` when the numbers are UIDs.
//!
//! ```abnf
//! esearch-response  = "ESEARCH" [search-correlator] [SP "UID"] *(SP search-return-data)
//! search-correlator = SP "(" "TAG" SP tag-string ")"
//! ```

use super::strings::quote;

/// `ESEARCH (TAG "tag")`, with ` UID` when `uid`; the return data items follow.
pub fn head(tag: &str, uid: bool) -> String {
    let mut line = format!("ESEARCH (TAG {})", quote(tag));
    if uid {
        line.push_str(" UID");
    }
    line
}

#[cfg(test)]
mod tests {
    #[test]
    fn correlator() {
        // RFC 5267 3.3: `* ESEARCH (TAG "E01") UID ALL ...`.
        assert_eq!(super::head("E01", true), "ESEARCH (TAG \"E01\") UID");
        assert_eq!(super::head("a5", false), "ESEARCH (TAG \"a5\")");
    }
}
