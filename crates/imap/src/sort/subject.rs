//! RFC 5256 2.1 base subject extraction, exactly as the RFC's seven steps say (servers and
//! disconnected clients "MUST use exactly this algorithm"), on the RFC 2047-decoded subject the
//! stored parse holds:
//!
//! ```abnf
//! subj-refwd   = ("re" / ("fw" ["d"])) *WSP [subj-blob] ":"
//! subj-blob    = "[" *BLOBCHAR "]" *WSP
//! subj-fwd-hdr = "[fwd:"
//! subj-fwd-trl = "]"
//! subj-leader  = (*subj-blob subj-refwd) / WSP
//! subj-trailer = "(fwd)" / WSP
//! BLOBCHAR     = %x01-5a / %x5c / %x5e-ff   ; any CHAR8 except '[' and ']'
//! ```
//!
//! ABNF literals are case-insensitive, so `RE:`, `Fwd:` and `(FWD)` count too. Translations
//! (`Trả lời:`, `TL:`, `Chuyển tiếp:`) are not removed: RFC 5256 7 leaves them out on purpose.

/// The base subject of `subject` and whether the message is a reply or forward (RFC 5256 3,
/// REFERENCES: the extraction removed a subj-refwd, a `(fwd)` trailer, or a subj-fwd-hdr and
/// subj-fwd-trl).
pub fn base_subject(subject: &str) -> (String, bool) {
    // (1) Tabs and continuations to space, runs of spaces to one (decoding was done at
    // delivery).
    let mut s = String::with_capacity(subject.len());
    for c in subject.chars() {
        let c = if matches!(c, '\t' | '\r' | '\n') {
            ' '
        } else {
            c
        };
        if c == ' ' && s.ends_with(' ') {
            continue;
        }
        s.push(c);
    }
    let mut reply = false;
    loop {
        // (2) Trailers, repeatedly.
        loop {
            if let Some(rest) = s.strip_suffix(' ') {
                s.truncate(rest.len());
            } else if s.len() >= 5 && s.as_bytes()[s.len() - 5..].eq_ignore_ascii_case(b"(fwd)") {
                s.truncate(s.len() - 5);
                reply = true;
            } else {
                break;
            }
        }
        // (5) Repeat (3) and (4) until no matches remain.
        loop {
            let before = s.len();
            // (3) Every leader at the start.
            while let Some((len, refwd)) = leader(s.as_bytes()) {
                s.drain(..len);
                reply |= refwd;
            }
            // (4) A blob, if what remains is a non-empty subj-base.
            if let Some(len) = blob(s.as_bytes()) {
                if s[len..].bytes().any(|b| b != b' ' && b != b'\t') {
                    s.drain(..len);
                }
            }
            if s.len() == before {
                break;
            }
        }
        // (6) `[fwd: ... ]` around the rest: unwrap and start again from (2).
        let bytes = s.as_bytes();
        if bytes.len() >= 6 && bytes[..5].eq_ignore_ascii_case(b"[fwd:") && s.ends_with(']') {
            s = s[5..s.len() - 1].to_string();
            reply = true;
            continue;
        }
        // (7)
        return (s, reply);
    }
}

fn is_wsp(b: u8) -> bool {
    b == b' ' || b == b'\t'
}

/// Length of a `subj-blob` at the start of `s`.
fn blob(s: &[u8]) -> Option<usize> {
    if s.first() != Some(&b'[') {
        return None;
    }
    let close = s[1..].iter().position(|&b| b == b']' || b == b'[')? + 1;
    if s[close] != b']' || s[1..close].contains(&0) {
        return None;
    }
    let mut end = close + 1;
    while end < s.len() && is_wsp(s[end]) {
        end += 1;
    }
    Some(end)
}

/// Length of a `subj-refwd` at the start of `s`.
fn refwd(s: &[u8]) -> Option<usize> {
    let lower = |i: usize| s.get(i).map(u8::to_ascii_lowercase);
    let mut i = match (lower(0), lower(1)) {
        (Some(b'r'), Some(b'e')) => 2,
        (Some(b'f'), Some(b'w')) if lower(2) == Some(b'd') => 3,
        (Some(b'f'), Some(b'w')) => 2,
        _ => return None,
    };
    let try_from = |mut i: usize| -> Option<usize> {
        while i < s.len() && is_wsp(s[i]) {
            i += 1;
        }
        if let Some(len) = blob(&s[i..]) {
            i += len;
        }
        (s.get(i) == Some(&b':')).then_some(i + 1)
    };
    // `fwd` failing may still be `fw` followed by... nothing else that could match, but keep
    // the grammar's alternatives honest: try the longest first, then the shorter.
    if let Some(end) = try_from(i) {
        return Some(end);
    }
    if i == 3 {
        i = 2;
        return try_from(i);
    }
    None
}

/// Length of one `subj-leader` at the start of `s`, and whether it holds a subj-refwd.
fn leader(s: &[u8]) -> Option<(usize, bool)> {
    if s.first().is_some_and(|&b| is_wsp(b)) {
        return Some((1, false));
    }
    let mut i = 0;
    loop {
        if let Some(len) = refwd(&s[i..]) {
            return Some((i + len, true));
        }
        i += blob(&s[i..])?;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Worked by hand from RFC 5256 2.1 and the grammar in section 5.
    #[test]
    fn base_subject_table() {
        let table: &[(&str, &str, bool)] = &[
            ("", "", false),
            ("Hello", "Hello", false),
            // (1) whitespace normalised.
            ("  Hello\t  world  ", "Hello world", false),
            // subj-refwd in every spelling, repeated.
            ("Re: Hello", "Hello", true),
            ("RE: Hello", "Hello", true),
            ("re:Hello", "Hello", true),
            ("Re : Hello", "Hello", true),
            ("Fw: Hello", "Hello", true),
            ("FWD: Hello", "Hello", true),
            ("Re: Re: Fwd: Hello", "Hello", true),
            // A blob inside the refwd: `Re[2]:`.
            ("Re[2]: Hello", "Hello", true),
            ("Re [2]: Hello", "Hello", true),
            // Blobs before a refwd go with it (subj-leader).
            ("[PATCH] Re: Hello", "Hello", true),
            // A blob alone goes if something is left (step 4), not a reply.
            ("[ubnd-kt] Công văn", "Công văn", false),
            ("[a] [b] c", "c", false),
            // ... and stays when it is all there is.
            ("[ubnd-kt]", "[ubnd-kt]", false),
            ("[a] [b]", "[b]", false),
            // (2) trailers.
            ("Hello (fwd)", "Hello", true),
            ("Hello (FWD) (fwd)", "Hello", true),
            ("Hello(fwd)", "Hello", true),
            // (6) [fwd: ...] wrapper, then again from (2).
            ("[fwd: Hello]", "Hello", true),
            ("[Fwd: Re: Hello (fwd)]", "Hello", true),
            ("Re: [fwd: Re: hello]", "hello", true),
            // Not leaders: words that merely start like one.
            ("Report: Q3", "Report: Q3", false),
            ("Fwded", "Fwded", false),
            ("Re", "Re", false),
            ("Re:", "", true),
            // Vietnamese (decoded) subjects; translations are not removed (RFC 5256 7).
            ("Re: Kế hoạch năm 2025", "Kế hoạch năm 2025", true),
            ("Trả lời: Kế hoạch", "Trả lời: Kế hoạch", false),
            ("[Sở TT&TT] Fwd: Giấy mời họp (fwd)", "Giấy mời họp", true),
        ];
        for (subject, want, reply) in table {
            assert_eq!(
                base_subject(subject),
                (want.to_string(), *reply),
                "{subject:?}"
            );
        }
    }
}
