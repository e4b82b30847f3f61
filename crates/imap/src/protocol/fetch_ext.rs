//! FETCH items imap-codec does not know: RFC 8970 `PREVIEW [(LAZY)]`, RFC 8514 `SAVEDATE`,
//! RFC 8474 `EMAILID` and `THREADID`:
//!
//! ```abnf
//! fetch-att   =/ "PREVIEW" [SP "(" preview-mod *(SP preview-mod) ")"]   ; RFC 8970 6
//! preview-mod =  "LAZY"
//! fetch-att   =/ "SAVEDATE"                                             ; RFC 8514 5
//! fetch-att   =/ "EMAILID" / "THREADID"                                 ; RFC 8474 7
//! ```
//!
//! They are cut out of the item list (remembering where they stood), the rest goes to
//! imap-codec, and they are put back in their places in the parsed command.

use std::borrow::Cow;

use super::lexer::PResult;
use super::types::{Command, FetchItem};

/// A FETCH command with our items cut out.
pub(crate) struct Stripped<'a> {
    /// The command for imap-codec.
    pub input: Cow<'a, [u8]>,
    /// Our items with their index in the item list.
    items: Vec<(usize, FetchItem)>,
    /// Nothing else was asked for: `UID` stood in for the list and is taken out again.
    placeholder: bool,
}

impl Stripped<'_> {
    /// Puts our items back into the parsed command.
    pub(crate) fn restore(self, command: &mut Command) {
        let Command::Fetch { items, .. } = command else {
            return;
        };
        if self.placeholder {
            items.clear();
        }
        for (index, item) in self.items {
            let at = index.min(items.len());
            items.insert(at, item);
        }
    }
}

/// `input[args..]` follows `FETCH` (or `UID FETCH`). `None` when the command holds none of our
/// items (it goes to imap-codec unchanged).
pub(crate) fn strip(input: &[u8], args: usize) -> PResult<Option<Stripped<'_>>> {
    // SP sequence-set SP items
    let rest = input.get(args..).unwrap_or_default();
    let Some(rest) = rest.strip_prefix(b" ") else {
        return Ok(None);
    };
    let Some(set_len) = rest.iter().position(|&b| b == b' ') else {
        return Ok(None);
    };
    let list_start = args + 1 + set_len + 1;
    let (list_end, tokens, parenthesised) = if input.get(list_start) == Some(&b'(') {
        // Unbalanced: imap-codec words the error.
        let Some(end) = group_end(input, list_start) else {
            return Ok(None);
        };
        (end, tokens(&input[list_start + 1..end - 1]), true)
    } else {
        // One item alone; `PREVIEW (LAZY)` is one item too.
        let word_end = input[list_start..]
            .iter()
            .position(|&b| matches!(b, b' ' | b'\r' | b'\n'))
            .map_or(input.len(), |p| list_start + p);
        let word = &input[list_start..word_end];
        let mut end = word_end;
        let mut found = vec![word];
        if word.eq_ignore_ascii_case(b"PREVIEW") && input.get(word_end) == Some(&b' ') {
            if let Some(group) = group_end(input, word_end + 1) {
                if is_modifier_list(&input[word_end + 1..group]) {
                    found.push(&input[word_end + 1..group]);
                    end = group;
                }
            }
        }
        (end, found, false)
    };
    let mut kept: Vec<&[u8]> = vec![];
    let mut ours = vec![];
    let mut i = 0;
    while i < tokens.len() {
        let token = tokens[i];
        let upper = token.to_ascii_uppercase();
        let item = match upper.as_slice() {
            b"PREVIEW" => {
                let mut lazy = false;
                if let Some(next) = tokens.get(i + 1).filter(|t| t.starts_with(b"(")) {
                    lazy = preview_modifiers(next)?;
                    i += 1;
                }
                Some(FetchItem::Preview { lazy })
            }
            b"SAVEDATE" => Some(FetchItem::SaveDate),
            b"EMAILID" => Some(FetchItem::EmailId),
            b"THREADID" => Some(FetchItem::ThreadId),
            _ => None,
        };
        match item {
            Some(item) => ours.push((kept.len() + ours.len(), item)),
            None => kept.push(token),
        }
        i += 1;
    }
    if ours.is_empty() {
        return Ok(None);
    }
    let placeholder = kept.is_empty();
    let mut out = Vec::with_capacity(input.len());
    out.extend_from_slice(&input[..list_start]);
    if placeholder {
        out.extend_from_slice(b"UID");
    } else {
        if parenthesised {
            out.push(b'(');
        }
        out.extend_from_slice(&kept.join(&b' '));
        if parenthesised {
            out.push(b')');
        }
    }
    out.extend_from_slice(&input[list_end..]);
    Ok(Some(Stripped {
        input: Cow::Owned(out),
        items: ours,
        placeholder,
    }))
}

/// `(LAZY)`: RFC 8970 6 `preview-mod`; true when LAZY is among them.
fn preview_modifiers(group: &[u8]) -> PResult<bool> {
    if !is_modifier_list(group) {
        return Err("invalid PREVIEW modifiers".to_string());
    }
    let inner = &group[1..group.len() - 1];
    let mut lazy = false;
    for word in inner.split(|&b| b == b' ') {
        if word.eq_ignore_ascii_case(b"LAZY") {
            lazy = true;
        } else {
            return Err(format!(
                "unknown PREVIEW modifier {}",
                String::from_utf8_lossy(word)
                    .chars()
                    .take(32)
                    .collect::<String>()
            ));
        }
    }
    Ok(lazy)
}

/// `(atom *(SP atom))`.
fn is_modifier_list(group: &[u8]) -> bool {
    group.len() > 2
        && group.starts_with(b"(")
        && group.ends_with(b")")
        && group[1..group.len() - 1]
            .split(|&b| b == b' ')
            .all(|w| !w.is_empty() && w.iter().all(u8::is_ascii_alphanumeric))
}

/// Index just after the `)` closing the group opened at `input[start]`, skipping quoted
/// strings and literal data.
fn group_end(input: &[u8], start: usize) -> Option<usize> {
    let mut depth = 0usize;
    let mut i = start;
    while i < input.len() {
        match input[i] {
            b'(' => depth += 1,
            b')' => {
                depth = depth.checked_sub(1)?;
                if depth == 0 {
                    return Some(i + 1);
                }
            }
            b'"' => i = skip_quoted(input, i)?,
            b'{' => i = skip_literal(input, i).unwrap_or(i),
            b'\r' | b'\n' => return None,
            _ => {}
        }
        i += 1;
    }
    None
}

/// From `"` at `i`: the index of the closing quote.
fn skip_quoted(input: &[u8], mut i: usize) -> Option<usize> {
    i += 1;
    while i < input.len() {
        match input[i] {
            b'\\' => i += 2,
            b'"' => return Some(i),
            b'\r' | b'\n' => return None,
            _ => i += 1,
        }
    }
    None
}

/// From `{` at `i`: `{n}` or `{n+}`, CRLF and n bytes; the index of the last data byte.
fn skip_literal(input: &[u8], i: usize) -> Option<usize> {
    let close = i + input[i..].iter().position(|&b| b == b'}')?;
    let digits = std::str::from_utf8(&input[i + 1..close]).ok()?;
    let n: usize = digits.trim_end_matches('+').parse().ok()?;
    let mut data = close + 1;
    if input.get(data) == Some(&b'\r') {
        data += 1;
    }
    if input.get(data) != Some(&b'\n') {
        return None;
    }
    let end = data.checked_add(n)?;
    (end < input.len()).then_some(end)
}

/// Splits an item list on spaces outside `()`, `[]`, quoted strings and literals.
fn tokens(list: &[u8]) -> Vec<&[u8]> {
    let mut out = vec![];
    let (mut depth, mut start, mut i) = (0usize, 0usize, 0usize);
    while i < list.len() {
        match list[i] {
            b'(' | b'[' | b'<' => depth += 1,
            b')' | b']' | b'>' => depth = depth.saturating_sub(1),
            b'"' => i = skip_quoted(list, i).unwrap_or(list.len()),
            b'{' => i = skip_literal(list, i).unwrap_or(i),
            b' ' if depth == 0 => {
                out.push(&list[start..i]);
                start = i + 1;
            }
            _ => {}
        }
        i += 1;
    }
    if start < list.len() {
        out.push(&list[start..]);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::super::parse;
    use super::*;

    fn items(input: &str) -> Result<Vec<FetchItem>, String> {
        match parse(input.as_bytes()) {
            Ok(tagged) => match tagged.command {
                Command::Fetch { items, .. } => Ok(items),
                other => panic!("{other:?}"),
            },
            Err(e) => Err(e.message),
        }
    }

    #[test]
    fn our_items_keep_their_place() {
        // RFC 8970 5 examples.
        assert_eq!(
            items("A2 FETCH 1 (RFC822.SIZE PREVIEW)\r\n").unwrap(),
            vec![FetchItem::Rfc822Size, FetchItem::Preview { lazy: false }]
        );
        assert_eq!(
            items("B1 FETCH 1:4 (ENVELOPE PREVIEW (LAZY))\r\n").unwrap(),
            vec![FetchItem::Envelope, FetchItem::Preview { lazy: true }]
        );
        // RFC 8514 4.2 example, RFC 8474 5.3.
        assert_eq!(
            items("A101 FETCH 998 (SAVEDATE)\r\n").unwrap(),
            vec![FetchItem::SaveDate]
        );
        assert_eq!(
            items("A1 UID FETCH 1:* (EMAILID FLAGS THREADID BODY.PEEK[HEADER.FIELDS (FROM \"X Y\")] UID) (CHANGEDSINCE 7)\r\n").unwrap()[..3],
            [FetchItem::EmailId, FetchItem::Flags, FetchItem::ThreadId]
        );
        assert_eq!(
            items("A1 FETCH 1 PREVIEW\r\n").unwrap(),
            vec![FetchItem::Preview { lazy: false }]
        );
        assert_eq!(
            items("A1 FETCH 1 preview (lazy)\r\n").unwrap(),
            vec![FetchItem::Preview { lazy: true }]
        );
        assert_eq!(
            items("A1 FETCH 1 (UID)\r\n").unwrap(),
            vec![FetchItem::Uid],
            "a lone UID is the client's, not our stand-in"
        );
        assert_eq!(
            items("A1 FETCH 1 (PREVIEW UID)\r\n").unwrap(),
            vec![FetchItem::Preview { lazy: false }, FetchItem::Uid]
        );
    }

    #[test]
    fn refusals() {
        for (input, message) in [
            (
                "A1 FETCH 1 (PREVIEW (FAST))\r\n",
                "unknown PREVIEW modifier",
            ),
            ("A1 FETCH 1 (PREVIEW (LAZY)\r\n", "invalid arguments"),
            ("A1 FETCH 1 (PREVIEW BOGUS)\r\n", "invalid arguments"),
        ] {
            let got = items(input).unwrap_err();
            assert!(got.starts_with(message), "{input}: {got}");
        }
    }
}
