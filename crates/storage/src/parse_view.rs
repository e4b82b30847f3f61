//! What mail-parser reads when the stored parse is built: the message, with the tail of every
//! base64 body too large to be of use cut out.
//!
//! mail-parser decodes every base64 part while it parses. For a 50 MB message carrying a
//! 37 MB attachment that is the message plus 28 MB decoded, held at once, for nothing: an
//! attachment whose decoded size exceeds [`extract::MAX_INPUT`] is never text-extracted, and
//! body text is kept only up to the search-text bound. So the view drops such a run of base64
//! lines after its first [`KEEP_ENCODED`] characters, and maps every position mail-parser
//! reports in the view back to the message: the stored offsets, sizes and line counts are
//! those of the whole message.
//!
//! Which bytes may go: a *run* is the lines right after a blank line that ends a block naming
//! `Content-Transfer-Encoding: base64`, each made only of base64 characters (`A–Z a–z 0–9 + /
//! =`). Such a line is never a header field (no colon), a continuation (no leading blank) nor a
//! boundary (no `-`), so removing it changes what mail-parser sees only inside that one body.
//! (A text body that quotes such a block and a megabyte of base64 would lose those lines from
//! its search text — base64 noise, not words.)
//!
//! [`extract::MAX_INPUT`]: crate::extract::MAX_INPUT

use std::borrow::Cow;

/// A run is cut when its decoded size would exceed this: no extraction reads that much.
pub const CUT_DECODED_OVER: usize = crate::extract::MAX_INPUT;

/// Base64 characters kept at the start of a cut run: 768 KiB decoded, more than the search
/// text a message keeps, and enough for a nested message's header.
pub const KEEP_ENCODED: usize = 1 << 20;

/// The bytes to parse and how their positions map onto the message.
pub struct ParseView<'r> {
    bytes: Cow<'r, [u8]>,
    /// Each cut: where it is in the view, where it starts in the message, and the bytes it
    /// removed, in order.
    cuts: Vec<Cut>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Cut {
    at_view: usize,
    at_raw: usize,
    removed: usize,
}

impl<'r> ParseView<'r> {
    /// The view of `raw`: `raw` itself when nothing is large enough to cut (no copy).
    pub fn of(raw: &'r [u8]) -> ParseView<'r> {
        ParseView::with_bounds(raw, CUT_DECODED_OVER, KEEP_ENCODED)
    }

    /// `raw` whole, nothing cut (to compare against).
    #[cfg(test)]
    pub(crate) fn uncut(raw: &'r [u8]) -> ParseView<'r> {
        ParseView {
            bytes: Cow::Borrowed(raw),
            cuts: vec![],
        }
    }

    pub(crate) fn with_bounds(raw: &'r [u8], cut_over: usize, keep: usize) -> ParseView<'r> {
        let ranges = cut_ranges(raw, cut_over, keep);
        if ranges.is_empty() {
            return ParseView {
                bytes: Cow::Borrowed(raw),
                cuts: vec![],
            };
        }
        let removed_total: usize = ranges.iter().map(|(s, e)| e - s).sum();
        let mut bytes = Vec::with_capacity(raw.len() - removed_total);
        let mut cuts = Vec::with_capacity(ranges.len());
        let mut from = 0;
        for (start, end) in ranges {
            bytes.extend_from_slice(&raw[from..start]);
            cuts.push(Cut {
                at_view: bytes.len(),
                at_raw: start,
                removed: end - start,
            });
            from = end;
        }
        bytes.extend_from_slice(&raw[from..]);
        ParseView {
            bytes: Cow::Owned(bytes),
            cuts,
        }
    }

    /// What mail-parser reads.
    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// A position in the view as a position in the message. A position at a cut is the end
    /// of what was kept, which only a body's end can be: it maps past the removed bytes.
    pub fn to_raw(&self, pos: usize) -> usize {
        let before = self.cuts.partition_point(|c| c.at_view <= pos);
        match before {
            0 => pos,
            n => {
                let cut = self.cuts[n - 1];
                cut.at_raw + cut.removed + (pos - cut.at_view)
            }
        }
    }

    /// Whether something was cut from the message's bytes `start..end` (a body whose data
    /// mail-parser did not see whole).
    pub fn cut_within(&self, start: usize, end: usize) -> bool {
        self.cuts
            .iter()
            .any(|c| c.at_raw >= start && c.at_raw + c.removed <= end)
    }
}

fn is_base64_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'=')
}

/// A line's content: without its LF and a CR before it.
fn content_of(line: &[u8]) -> &[u8] {
    let line = line.strip_suffix(b"\n").unwrap_or(line);
    line.strip_suffix(b"\r").unwrap_or(line)
}

/// The byte ranges of `raw` to leave out, in order: of each run whose decoded size exceeds
/// `cut_over`, everything after its first `keep` characters (a multiple of 4) up to the end
/// of its last line's content (its line break stays).
fn cut_ranges(raw: &[u8], cut_over: usize, keep: usize) -> Vec<(usize, usize)> {
    // A message too small to hold such a run is never scanned.
    if raw.len() <= cut_over {
        return vec![];
    }
    let keep = keep.max(4) / 4 * 4;
    let mut out = vec![];
    // Whether the block since the last blank line names base64, and whether the field being
    // read (with its continuations) is the Content-Transfer-Encoding.
    let mut block_base64 = false;
    let mut in_cte = false;
    let mut pos = 0;
    while pos < raw.len() {
        let end = line_end(raw, pos);
        let content = content_of(&raw[pos..end]);
        if content.is_empty() {
            pos = end;
            if std::mem::take(&mut block_base64) {
                let (run_end, cut) = scan_run(raw, pos, cut_over, keep);
                out.extend(cut);
                pos = run_end;
            }
            in_cte = false;
            continue;
        }
        if matches!(content[0], b' ' | b'\t') {
            if in_cte && contains_base64(content) {
                block_base64 = true;
            }
        } else {
            in_cte = content.len() >= 25
                && content[..25].eq_ignore_ascii_case(b"content-transfer-encoding");
            if in_cte && contains_base64(content) {
                block_base64 = true;
            }
        }
        pos = end;
    }
    out
}

fn line_end(raw: &[u8], pos: usize) -> usize {
    raw[pos..]
        .iter()
        .position(|&b| b == b'\n')
        .map_or(raw.len(), |i| pos + i + 1)
}

fn contains_base64(content: &[u8]) -> bool {
    content
        .windows(6)
        .any(|w| w.eq_ignore_ascii_case(b"base64"))
}

/// Reads the run of base64 lines starting at `start`: where it ends (the first line not in
/// it), and the range to cut if it is too large.
fn scan_run(
    raw: &[u8],
    start: usize,
    cut_over: usize,
    keep: usize,
) -> (usize, Option<(usize, usize)>) {
    let mut chars = 0usize;
    // Where the kept characters end, once `keep` is reached.
    let mut keep_end = None;
    let mut last_content_end = start;
    let mut pos = start;
    while pos < raw.len() {
        let end = line_end(raw, pos);
        let content = content_of(&raw[pos..end]);
        if content.is_empty() || !content.iter().all(|&b| is_base64_char(b)) {
            break;
        }
        if keep_end.is_none() && chars + content.len() >= keep {
            keep_end = Some(pos + (keep - chars));
        }
        chars += content.len();
        last_content_end = pos + content.len();
        pos = end;
    }
    let cut = match keep_end {
        Some(from) if chars / 4 * 3 > cut_over && from < last_content_end => {
            Some((from, last_content_end))
        }
        _ => None,
    };
    (pos, cut)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A message with a text part and a base64 attachment of `lines` lines of 76 characters.
    fn message(lines: usize, eol: &str) -> Vec<u8> {
        let mut s = format!(
            "Subject: t{eol}Content-Type: multipart/mixed; boundary=\"b\"{eol}{eol}--b{eol}\
             Content-Type: text/plain{eol}{eol}hello{eol}--b{eol}\
             Content-Type: application/octet-stream{eol}Content-Transfer-Encoding:{eol} BASE64{eol}{eol}"
        );
        for i in 0..lines {
            let c = (b'A' + (i % 26) as u8) as char;
            s.push_str(&c.to_string().repeat(76));
            s.push_str(eol);
        }
        s.push_str(&format!("--b--{eol}"));
        s.into_bytes()
    }

    #[test]
    fn small_runs_are_read_whole_without_a_copy() {
        let raw = message(100, "\r\n");
        let view = ParseView::with_bounds(&raw, 76 * 100 / 4 * 3, 8);
        assert!(matches!(view.bytes, Cow::Borrowed(_)));
        assert_eq!(view.to_raw(raw.len()), raw.len());
    }

    #[test]
    fn a_large_run_keeps_its_head_and_maps_back() {
        for eol in ["\r\n", "\n"] {
            let raw = message(100, eol);
            // 7,600 characters decode to 5,700 bytes: over 5,000, so the run is cut after 100.
            let view = ParseView::with_bounds(&raw, 5000, 100);
            let text = std::str::from_utf8(view.bytes()).unwrap();
            let head = format!("{eol}{}{eol}{}{eol}--b--", "A".repeat(76), "B".repeat(24));
            assert!(text.ends_with(&format!("{head}{eol}")), "{text:?}");
            let removed = raw.len() - view.bytes().len();
            assert_eq!(removed, 76 * 100 - 100 + (99 - 1) * eol.len());
            // The end of the kept head is the end of the body in the message.
            let kept_end = view.bytes().len() - "--b--".len() - 2 * eol.len();
            let body_end = raw.len() - "--b--".len() - 2 * eol.len();
            assert_eq!(view.to_raw(kept_end), body_end);
            assert_eq!(view.to_raw(kept_end - 1), kept_end - 1);
            assert_eq!(view.to_raw(view.bytes().len()), raw.len());
            assert!(view.cut_within(0, raw.len()));
            assert!(!view.cut_within(0, kept_end));
        }
    }

    #[test]
    fn one_long_line_is_cut_inside_at_a_quartet() {
        let mut raw = b"Content-Transfer-Encoding: base64\r\n\r\n".to_vec();
        raw.extend(std::iter::repeat_n(b'Q', 10_001));
        raw.extend_from_slice(b"\r\n");
        let view = ParseView::with_bounds(&raw, 1000, 6);
        // The kept characters round down to a multiple of 4.
        assert_eq!(view.bytes().len(), 37 + 4 + 2);
        assert_eq!(view.to_raw(37 + 4), raw.len() - 2);
    }

    #[test]
    fn lines_that_could_be_structure_end_a_run() {
        // A colon, a blank, a dash: each line ends the run before it.
        for stop in ["X-Field: v", " folded", "--b", ""] {
            let mut raw = b"Content-Transfer-Encoding: base64\r\n\r\n".to_vec();
            for _ in 0..50 {
                raw.extend_from_slice(&[b'A'; 76]);
                raw.extend_from_slice(b"\r\n");
            }
            raw.extend_from_slice(stop.as_bytes());
            raw.extend_from_slice(b"\r\n");
            for _ in 0..50 {
                raw.extend_from_slice(&[b'A'; 76]);
                raw.extend_from_slice(b"\r\n");
            }
            let view = ParseView::with_bounds(&raw, 2000, 8);
            // The first run is cut after 8 characters; what follows the stop is not a run
            // (no blank line after a base64 block starts it) and stays whole.
            let expected = format!(
                "Content-Transfer-Encoding: base64\r\n\r\nAAAAAAAA\r\n{stop}\r\n{}",
                format!("{}\r\n", "A".repeat(76)).repeat(50)
            );
            assert_eq!(
                std::str::from_utf8(view.bytes()).unwrap(),
                expected,
                "{stop:?}"
            );
        }
    }

    #[test]
    fn blocks_without_base64_are_not_cut() {
        let raw = message(100, "\r\n");
        let plain = String::from_utf8(raw)
            .unwrap()
            .replace("Content-Transfer-Encoding:\r\n BASE64", "X-Note: base64");
        let view = ParseView::with_bounds(plain.as_bytes(), 100, 8);
        assert!(matches!(view.bytes, Cow::Borrowed(_)));
    }
}
