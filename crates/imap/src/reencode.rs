//! APPEND of binary content (RFC 3516 4.4, literal8): a message holding NUL is stored with
//! each part whose body holds one re-encoded in base64, its Content-Transfer-Encoding field
//! saying so, so that BODY[...] (an nstring, never a literal8: RFC 3516 4.2, RFC 9051
//! `msg-att-static`) can always be sent, BODYSTRUCTURE names the encoding stored, and BINARY
//! decodes it back to the very bytes appended. A NUL anywhere else (a header, a boundary line,
//! inside a message/rfc822 or multipart kept whole) can be in no valid message: the APPEND is
//! refused. The stored message grows by at most a third of the re-encoded bodies plus one
//! header line per part.

use base64::Engine;
use storage::meta::Part;
use storage::MessageMeta;

/// Characters per base64 line (RFC 2045 6.8: at most 76).
const LINE: usize = 76;

/// `raw` made free of NUL, or None when it holds none; Err(reason) when a NUL is where no
/// re-encoding can take it.
pub fn nul_free(raw: &[u8]) -> Result<Option<Vec<u8>>, &'static str> {
    if !raw.contains(&0) {
        return Ok(None);
    }
    let meta = MessageMeta::compute(raw);
    let mut leaves: Vec<&Part> = vec![];
    let mut stack = vec![&meta.root];
    while let Some(part) = stack.pop() {
        if part.children.is_empty() {
            leaves.push(part);
        } else {
            stack.extend(part.children.iter());
        }
    }
    leaves.sort_by_key(|p| p.offset_body);
    let body = |p: &Part| &raw[p.offset_body as usize..(p.offset_end as usize).min(raw.len())];
    let binary: Vec<&Part> = leaves
        .into_iter()
        .filter(|p| body(p).contains(&0))
        .collect();
    // Every NUL must lie in the body of a part that may be base64 (RFC 2045 6.4: not a
    // multipart; RFC 2046 5.2.1: not a message).
    for part in &binary {
        if part.content_type == "multipart" || part.content_type == "message" {
            return Err("binary content inside a multipart or message part kept whole");
        }
    }
    let inside = |at: usize| {
        binary
            .iter()
            .any(|p| (p.offset_body as usize..p.offset_end as usize).contains(&at))
    };
    if raw.iter().enumerate().any(|(at, &b)| b == 0 && !inside(at)) {
        return Err("NUL outside a part's body");
    }
    let mut out = Vec::with_capacity(raw.len() + raw.len() / 2);
    let mut at = 0;
    for part in binary {
        let (header_start, body_start) = (part.offset_header as usize, part.offset_body as usize);
        out.extend_from_slice(&raw[at..header_start]);
        let header = rewrite_header(&raw[header_start..body_start])?;
        out.extend_from_slice(&header);
        let eol: &[u8] = if header.ends_with(b"\r\n") {
            b"\r\n"
        } else {
            b"\n"
        };
        let encoded = base64::engine::general_purpose::STANDARD.encode(body(part));
        for (i, line) in encoded.as_bytes().chunks(LINE).enumerate() {
            if i > 0 {
                out.extend_from_slice(eol);
            }
            out.extend_from_slice(line);
        }
        at = (part.offset_end as usize).min(raw.len());
    }
    out.extend_from_slice(&raw[at..]);
    Ok(Some(out))
}

/// A part's header block (with its blank line) with every Content-Transfer-Encoding field
/// replaced by one `Content-Transfer-Encoding: base64`, in the block's own line ending.
fn rewrite_header(block: &[u8]) -> Result<Vec<u8>, &'static str> {
    let crlf = block.ends_with(b"\r\n\r\n") || block == b"\r\n";
    let lf = block.ends_with(b"\n\n") || block == b"\n";
    if !crlf && !lf {
        return Err("a part without a header block");
    }
    let eol: &[u8] = if crlf { b"\r\n" } else { b"\n" };
    let fields = &block[..block.len() - eol.len()];
    let mut out = Vec::with_capacity(block.len() + 40);
    let mut dropping = false;
    for line in fields.split_inclusive(|&b| b == b'\n') {
        let continued = line.starts_with(b" ") || line.starts_with(b"\t");
        if !continued {
            let name = line.split(|&b| b == b':').next().unwrap_or_default();
            dropping = name
                .trim_ascii()
                .eq_ignore_ascii_case(b"content-transfer-encoding");
        }
        if !dropping {
            out.extend_from_slice(line);
        }
    }
    out.extend_from_slice(b"Content-Transfer-Encoding: base64");
    out.extend_from_slice(eol);
    out.extend_from_slice(eol);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_without_nul_stay_as_they_are() {
        assert_eq!(nul_free(b"Subject: x\r\n\r\nhello\r\n"), Ok(None));
    }

    #[test]
    fn a_part_with_nul_becomes_base64() {
        let raw = b"Subject: x\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n\
Content-Type: text/plain\r\n\r\nhi\r\n--b\r\nContent-Type: application/octet-stream\r\n\
Content-Transfer-Encoding: binary\r\n\r\na\0b\r\n--b--\r\n";
        let out = nul_free(raw).unwrap().unwrap();
        assert!(!out.contains(&0));
        let text = String::from_utf8(out).unwrap();
        assert!(
            text.contains(
                "--b\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n\r\nYQBi\r\n--b--\r\n"
            ),
            "{text}"
        );
        assert!(text.contains("Content-Type: text/plain\r\n\r\nhi\r\n--b\r\n"));
        assert!(!text.contains("binary"));
    }

    #[test]
    fn nul_in_a_header_is_refused() {
        assert!(nul_free(b"Subject: a\0b\r\n\r\nbody\r\n").is_err());
    }
}
