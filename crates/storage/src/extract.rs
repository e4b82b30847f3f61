//! Text inside attachments, for SEARCH BODY/TEXT and the full-text index (issue 13): DOCX
//! (`word/document.xml` of the zip), XLSX (`xl/sharedStrings.xml`, where the cells' text is),
//! OpenDocument ODT/ODS/ODP (`content.xml`) and PDF (the text operators of uncompressed or
//! Flate streams, hex strings mapped through the `ToUnicode` CMaps). Our own bounded readers: every
//! input, inflated stream and output is capped ([`MAX_INPUT`], [`MAX_INFLATED`],
//! [`MAX_OUTPUT`]), a malformed file gives what was read so far or nothing, never an error, so a
//! part that fails to extract never fails delivery. Not read: encrypted PDFs, other filters
//! (LZW, ASCII85), fonts without a `ToUnicode` map (their hex strings are skipped), numbers
//! typed into spreadsheet cells (only their shared strings are text).

use std::collections::HashMap;
use std::io::Read;

/// Largest attachment looked into, in bytes.
pub const MAX_INPUT: usize = 20 * 1024 * 1024;
/// Most bytes inflated from one part (all its streams together).
pub const MAX_INFLATED: usize = 16 * 1024 * 1024;
/// Most text kept from one part, in bytes.
pub const MAX_OUTPUT: usize = 128 * 1024;

/// The text of an attachment, when it is a DOCX, XLSX, OpenDocument or PDF file (by content
/// type, file name or magic bytes).
pub fn attachment_text(subtype: &str, name: Option<&str>, bytes: &[u8]) -> Option<String> {
    if bytes.len() > MAX_INPUT {
        return None;
    }
    let name = name.unwrap_or("").to_ascii_lowercase();
    let subtype = subtype.to_ascii_lowercase();
    let text = if bytes.starts_with(b"%PDF-") || subtype == "pdf" || name.ends_with(".pdf") {
        pdf_text(bytes)
    } else if bytes.starts_with(b"PK\x03\x04") {
        let is = |sub: &str, ext: &str| subtype.contains(sub) || name.ends_with(ext);
        if is("wordprocessingml", ".docx") {
            xml_text(&zip_member(bytes, "word/document.xml")?, DOCX_BREAKS)
        } else if is("spreadsheetml", ".xlsx") {
            xml_text(&zip_member(bytes, "xl/sharedStrings.xml")?, XLSX_BREAKS)
        } else if is("opendocument", ".odt") || name.ends_with(".ods") || name.ends_with(".odp") {
            xml_text(&zip_member(bytes, "content.xml")?, ODF_BREAKS)
        } else {
            return None;
        }
    } else {
        return None;
    };
    let mut text = text?;
    if text.len() > MAX_OUTPUT {
        let mut cut = MAX_OUTPUT;
        while !text.is_char_boundary(cut) {
            cut -= 1;
        }
        text.truncate(cut);
    }
    (!text.trim().is_empty()).then_some(text)
}

fn u16_at(b: &[u8], at: usize) -> Option<usize> {
    Some(u16::from_le_bytes(b.get(at..at + 2)?.try_into().ok()?) as usize)
}

fn u32_at(b: &[u8], at: usize) -> Option<usize> {
    Some(u32::from_le_bytes(b.get(at..at + 4)?.try_into().ok()?) as usize)
}

/// One member of a zip archive, inflated (stored or deflate), bounded.
fn zip_member(zip: &[u8], wanted: &str) -> Option<Vec<u8>> {
    // End of central directory: the last 22 bytes plus at most a 64 KiB comment.
    let from = zip.len().saturating_sub(22 + 65_535);
    let eocd = (from..zip.len().saturating_sub(21))
        .rev()
        .find(|&i| zip[i..].starts_with(b"PK\x05\x06"))?;
    let entries = u16_at(zip, eocd + 10)?;
    let mut at = u32_at(zip, eocd + 16)?;
    for _ in 0..entries {
        if !zip.get(at..)?.starts_with(b"PK\x01\x02") {
            return None;
        }
        let method = u16_at(zip, at + 10)?;
        let compressed = u32_at(zip, at + 20)?;
        let (name_len, extra_len, comment_len) = (
            u16_at(zip, at + 28)?,
            u16_at(zip, at + 30)?,
            u16_at(zip, at + 32)?,
        );
        let local = u32_at(zip, at + 42)?;
        let name = zip.get(at + 46..at + 46 + name_len)?;
        at += 46 + name_len + extra_len + comment_len;
        if name != wanted.as_bytes() {
            continue;
        }
        if !zip.get(local..)?.starts_with(b"PK\x03\x04") {
            return None;
        }
        let start = local + 30 + u16_at(zip, local + 26)? + u16_at(zip, local + 28)?;
        let data = zip.get(start..start.checked_add(compressed)?)?;
        return match method {
            0 => Some(data[..data.len().min(MAX_INFLATED)].to_vec()),
            8 => inflate(flate2::read::DeflateDecoder::new(data)),
            _ => None,
        };
    }
    None
}

/// Reads a decoder to its end or [`MAX_INFLATED`]; what was read even if the stream breaks.
fn inflate(decoder: impl Read) -> Option<Vec<u8>> {
    let mut out = vec![];
    let _ = decoder.take(MAX_INFLATED as u64).read_to_end(&mut out);
    (!out.is_empty()).then_some(out)
}

/// Elements of a DOCX whose start or end separates words: paragraph ends, tabs, breaks (a word
/// split over runs `w:r` stays one word).
const DOCX_BREAKS: &[&str] = &["/w:p", "w:tab", "w:br", "w:cr"];
/// XLSX shared strings: one `si` per cell text (rich-text runs `r` inside it join).
const XLSX_BREAKS: &[&str] = &["/si"];
/// OpenDocument: paragraphs, headings, list items, cells, tabs, line breaks and the `text:s`
/// space element (spans `text:span` join).
const ODF_BREAKS: &[&str] = &[
    "/text:p",
    "/text:h",
    "text:tab",
    "text:line-break",
    "text:s",
    "/table:table-cell",
];

/// The character data of an XML document, entities resolved, a space wherever an element named
/// in `breaks` (by its exact name; `/name` for an end tag) opens or closes.
fn xml_text(xml: &[u8], breaks: &[&str]) -> Option<String> {
    let xml = String::from_utf8_lossy(xml);
    let mut out = String::new();
    let mut rest: &str = &xml;
    while let Some(open) = rest.find('<') {
        out.push_str(&unescape_xml(&rest[..open]));
        let Some(close) = rest[open..].find('>') else {
            break;
        };
        let tag = &rest[open + 1..open + close];
        let name = tag
            .split(|c: char| c.is_ascii_whitespace() || c == '>')
            .next()
            .unwrap_or("")
            .trim_end_matches('/');
        if breaks.contains(&name) {
            out.push(' ');
        }
        rest = &rest[open + close + 1..];
        if out.len() > MAX_OUTPUT {
            break;
        }
    }
    Some(out)
}

fn unescape_xml(text: &str) -> String {
    if !text.contains('&') {
        return text.to_string();
    }
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(amp) = rest.find('&') {
        out.push_str(&rest[..amp]);
        let Some(semi) = rest[amp..].find(';').filter(|s| *s <= 10) else {
            out.push('&');
            rest = &rest[amp + 1..];
            continue;
        };
        let entity = &rest[amp + 1..amp + semi];
        let c = match entity {
            "amp" => Some('&'),
            "lt" => Some('<'),
            "gt" => Some('>'),
            "quot" => Some('"'),
            "apos" => Some('\''),
            e if e.starts_with("#x") => u32::from_str_radix(&e[2..], 16)
                .ok()
                .and_then(char::from_u32),
            e if e.starts_with('#') => e[1..].parse().ok().and_then(char::from_u32),
            _ => None,
        };
        out.extend(c);
        rest = &rest[amp + semi + 1..];
    }
    out.push_str(rest);
    out
}

/// The streams of a PDF, decoded (none or FlateDecode), each with its dictionary.
fn pdf_streams(pdf: &[u8]) -> Vec<Vec<u8>> {
    let mut out = vec![];
    let mut budget = MAX_INFLATED;
    let mut at = 0;
    while let Some(found) = find(&pdf[at..], b"stream") {
        let keyword = at + found;
        at = keyword + 6;
        // "endstream" also contains "stream".
        if pdf[..keyword].ends_with(b"end") {
            continue;
        }
        let mut start = at;
        if pdf.get(start) == Some(&b'\r') {
            start += 1;
        }
        if pdf.get(start) != Some(&b'\n') {
            continue;
        }
        start += 1;
        let Some(len) = find(&pdf[start..], b"endstream") else {
            break;
        };
        let data = &pdf[start..start + len];
        at = start + len + 9;
        let dict_from = keyword.saturating_sub(1024);
        let dict = &pdf[dict_from..keyword];
        let dict = &dict[rfind(dict, b"<<").unwrap_or(0)..];
        let decoded = if find(dict, b"/FlateDecode").is_some() {
            let Some(d) = inflate(flate2::read::ZlibDecoder::new(data).take(budget as u64)) else {
                continue;
            };
            d
        } else if find(dict, b"/Filter").is_some() {
            continue;
        } else {
            data.to_vec()
        };
        budget = budget.saturating_sub(decoded.len());
        out.push(decoded);
        if budget == 0 {
            break;
        }
    }
    out
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

fn rfind(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).rposition(|w| w == needle)
}

/// Code → text of every `ToUnicode` CMap (`bfchar` and `bfrange`), all fonts together.
type CMap = HashMap<Vec<u8>, String>;

fn hex_bytes(hex: &[u8]) -> Vec<u8> {
    let digits: Vec<u8> = hex
        .iter()
        .filter_map(|c| (*c as char).to_digit(16).map(|d| d as u8))
        .collect();
    digits
        .chunks(2)
        .map(|p| (p[0] << 4) | p.get(1).copied().unwrap_or(0))
        .collect()
}

fn utf16_text(bytes: &[u8]) -> String {
    let units: Vec<u16> = bytes
        .chunks(2)
        .map(|p| u16::from_be_bytes([p[0], p.get(1).copied().unwrap_or(0)]))
        .collect();
    String::from_utf16_lossy(&units)
}

/// The `<...>` tokens of a CMap section, as bytes.
fn hex_tokens(section: &[u8]) -> Vec<Vec<u8>> {
    let mut out = vec![];
    let mut rest = section;
    while let Some(open) = rest.iter().position(|c| *c == b'<') {
        let Some(close) = rest[open..].iter().position(|c| *c == b'>') else {
            break;
        };
        out.push(hex_bytes(&rest[open + 1..open + close]));
        rest = &rest[open + close + 1..];
    }
    out
}

fn read_cmap(stream: &[u8], map: &mut CMap) {
    let sections = |begin: &[u8], end: &[u8]| {
        let mut found = vec![];
        let mut rest = stream;
        while let Some(b) = find(rest, begin) {
            let body = &rest[b + begin.len()..];
            let e = find(body, end).unwrap_or(body.len());
            found.push(&body[..e]);
            rest = &body[e..];
        }
        found
    };
    for section in sections(b"beginbfchar", b"endbfchar") {
        for pair in hex_tokens(section).chunks(2) {
            if let [code, text] = pair {
                map.insert(code.clone(), utf16_text(text));
            }
        }
    }
    for section in sections(b"beginbfrange", b"endbfrange") {
        // Only the `<lo> <hi> <dst>` form (the array form is rare); at most 256 codes each.
        for triple in hex_tokens(section).chunks(3) {
            let [lo, hi, dst] = triple else { continue };
            if lo.len() != hi.len() || lo.is_empty() || dst.is_empty() {
                continue;
            }
            let (lo_n, hi_n) = (be_number(lo), be_number(hi));
            for (k, code) in (lo_n..=hi_n.min(lo_n + 255)).enumerate() {
                let mut text = dst.clone();
                let last = text.len() - 1;
                text[last] = text[last].wrapping_add(k as u8);
                let key = code.to_be_bytes()[8 - lo.len().min(8)..].to_vec();
                map.insert(key, utf16_text(&text));
            }
        }
    }
}

fn be_number(bytes: &[u8]) -> u64 {
    bytes
        .iter()
        .take(8)
        .fold(0, |n, b| (n << 8) | u64::from(*b))
}

/// The text of a PDF: the strings shown by `Tj`, `TJ`, `'` and `"` between `BT` and `ET`,
/// literal strings as Latin-1, hex strings through the CMaps (2-byte codes, then 1-byte).
fn pdf_text(pdf: &[u8]) -> Option<String> {
    let streams = pdf_streams(pdf);
    let mut cmap = CMap::new();
    for s in &streams {
        if find(s, b"begincmap").is_some() {
            read_cmap(s, &mut cmap);
        }
    }
    // 2-byte codes when any CMap has them (Identity-H, what Vietnamese PDFs mostly use).
    let width = if cmap.keys().any(|k| k.len() == 2) {
        2
    } else {
        1
    };
    let mut out = String::new();
    for s in &streams {
        if find(s, b"BT").is_some() && find(s, b"begincmap").is_none() {
            content_text(s, &cmap, width, &mut out);
            out.push(' ');
        }
        if out.len() > MAX_OUTPUT {
            break;
        }
    }
    Some(out)
}

fn content_text(content: &[u8], cmap: &CMap, width: usize, out: &mut String) {
    let mut i = 0;
    let mut in_text = false;
    while i < content.len() && out.len() <= MAX_OUTPUT {
        let c = content[i];
        match c {
            b'(' if in_text => {
                let (bytes, next) = literal_string(content, i + 1);
                out.extend(bytes.iter().map(|b| char::from(*b)));
                i = next;
            }
            b'<' if in_text && content.get(i + 1) != Some(&b'<') => {
                let close = content[i..]
                    .iter()
                    .position(|c| *c == b'>')
                    .map_or(content.len(), |p| i + p);
                out.push_str(&map_codes(&hex_bytes(&content[i + 1..close]), cmap, width));
                i = close + 1;
            }
            b'-' | b'0'..=b'9' | b'.' if in_text => {
                // A large negative TJ adjustment is a word space.
                let end = content[i..]
                    .iter()
                    .position(|c| !(c.is_ascii_digit() || *c == b'.' || *c == b'-'))
                    .map_or(content.len(), |p| i + p);
                if let Ok(n) = std::str::from_utf8(&content[i..end])
                    .unwrap_or("")
                    .parse::<f64>()
                {
                    if n < -150.0 {
                        out.push(' ');
                    }
                }
                i = end.max(i + 1);
            }
            b'a'..=b'z' | b'A'..=b'Z' | b'\'' | b'"' | b'*' => {
                let end = content[i..]
                    .iter()
                    .position(|c| {
                        !(c.is_ascii_alphabetic() || *c == b'*' || *c == b'\'' || *c == b'"')
                    })
                    .map_or(content.len(), |p| i + p);
                match &content[i..end] {
                    b"BT" => in_text = true,
                    b"ET" => {
                        in_text = false;
                        out.push(' ');
                    }
                    // Line moves end a word.
                    b"Td" | b"TD" | b"T*" | b"Tm" | b"'" | b"\"" => out.push(' '),
                    _ => {}
                }
                i = end.max(i + 1);
            }
            _ => i += 1,
        }
    }
}

/// A PDF literal string from just after its `(`: its bytes (escapes resolved) and where the
/// content continues.
fn literal_string(content: &[u8], mut i: usize) -> (Vec<u8>, usize) {
    let mut out = vec![];
    let mut depth = 1;
    while i < content.len() {
        let c = content[i];
        i += 1;
        match c {
            b'\\' => {
                let Some(&e) = content.get(i) else { break };
                i += 1;
                match e {
                    b'n' => out.push(b'\n'),
                    b'r' => out.push(b'\r'),
                    b't' => out.push(b'\t'),
                    b'0'..=b'7' => {
                        let mut n = u32::from(e - b'0');
                        for _ in 0..2 {
                            match content.get(i) {
                                Some(d @ b'0'..=b'7') => {
                                    n = n * 8 + u32::from(d - b'0');
                                    i += 1;
                                }
                                _ => break,
                            }
                        }
                        out.push(n as u8);
                    }
                    b'\r' | b'\n' => {}
                    other => out.push(other),
                }
            }
            b'(' => {
                depth += 1;
                out.push(c);
            }
            b')' => {
                depth -= 1;
                if depth == 0 {
                    break;
                }
                out.push(c);
            }
            _ => out.push(c),
        }
    }
    (out, i)
}

fn map_codes(bytes: &[u8], cmap: &CMap, width: usize) -> String {
    bytes
        .chunks(width)
        .filter_map(|code| cmap.get(code).cloned())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pdf_literal_and_cmap_strings() {
        let cmap = b"/CIDInit /ProcSet findresource begin begincmap\n2 beginbfchar\n<0001> <0110>\n<0002> <01A1>\nendbfchar\n1 beginbfrange\n<0003> <0005> <0061>\nendbfrange\nendcmap";
        let content = b"BT /F1 12 Tf 72 700 Td (S\\364 15/Q) Tj [(D-UB) -20 (ND)] TJ 0 -14 Td <000100020003> Tj ET";
        let pdf = [
            b"%PDF-1.4\n1 0 obj << /Length 10 >>\nstream\n".as_slice(),
            cmap,
            b"\nendstream\nendobj\n2 0 obj << /Length 10 >>\nstream\n",
            content,
            b"\nendstream\nendobj\n%%EOF\n",
        ]
        .concat();
        let text = attachment_text("pdf", None, &pdf).unwrap();
        assert!(text.contains("Sô 15/QD-UBND"), "{text:?}");
        assert!(text.contains("Đơa"), "{text:?}");
    }

    #[test]
    fn xml_breaks_match_whole_element_names() {
        // `text:span` joins (it only styles), `text:s` is a space (ODF 1.3 part 3, 6.1.3).
        let odf = b"<text:p><text:span>Gi</text:span>\xe1\xba\xa5y<text:s text:c=\"2\"/>m\xe1\xbb\x9di</text:p>";
        assert_eq!(xml_text(odf, ODF_BREAKS).unwrap(), "Giấy mời ");
        // A DOCX `w:tabs` (tab stops in paragraph properties) is not a `w:tab`.
        let docx = b"<w:p><w:pPr><w:tabs/></w:pPr><w:r><w:t>a&amp;b</w:t></w:r></w:p><w:p>c</w:p>";
        assert_eq!(xml_text(docx, DOCX_BREAKS).unwrap(), "a&b c ");
        let xlsx = b"<sst><si><r><t>Ph\xe1\xbb\xa5 c</t></r><r><t>\xe1\xba\xa5p</t></r></si><si><t>x</t></si></sst>";
        assert_eq!(xml_text(xlsx, XLSX_BREAKS).unwrap(), "Phụ cấp x ");
    }

    #[test]
    fn broken_inputs_give_nothing_or_partial_text() {
        assert_eq!(attachment_text("pdf", None, b"%PDF-1.4 garbage"), None);
        assert_eq!(
            attachment_text("x", Some("a.docx"), b"PK\x03\x04 junk"),
            None
        );
        assert_eq!(
            attachment_text("octet-stream", Some("a.bin"), b"hello"),
            None
        );
        assert_eq!(attachment_text("x", Some("a.xlsx"), b"PK\x03\x04"), None);
        assert_eq!(attachment_text("x", Some("a.odt"), b"PK\x03\x04"), None);
        let big = vec![b'a'; MAX_INPUT + 1];
        assert_eq!(attachment_text("pdf", None, &big), None);
    }
}
