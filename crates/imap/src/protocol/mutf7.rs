//! Modified UTF-7 for mailbox names (RFC 3501 5.1.3): printable US-ASCII stands for itself
//! except `&`, which is written `&-`; everything else is UTF-16BE in modified BASE64 (`,` for
//! `/`, no padding) between `&` and `-`.

const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+,";

fn flush(units: &mut Vec<u16>, out: &mut String) {
    if units.is_empty() {
        return;
    }
    out.push('&');
    let bytes: Vec<u8> = units.iter().flat_map(|u| u.to_be_bytes()).collect();
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        let chars = chunk.len() + 1; // 1 byte → 2 chars, 2 → 3, 3 → 4
        for i in 0..chars {
            out.push(ALPHABET[((n >> (18 - 6 * i)) & 0x3f) as usize] as char);
        }
    }
    out.push('-');
    units.clear();
}

/// UTF-8 → modified UTF-7.
pub fn encode(utf8: &str) -> String {
    let mut out = String::with_capacity(utf8.len() + 8);
    let mut units: Vec<u16> = Vec::new();
    for ch in utf8.chars() {
        if (' '..='~').contains(&ch) {
            flush(&mut units, &mut out);
            if ch == '&' {
                out.push_str("&-");
            } else {
                out.push(ch);
            }
        } else {
            let mut buf = [0u16; 2];
            units.extend_from_slice(ch.encode_utf16(&mut buf));
        }
    }
    flush(&mut units, &mut out);
    out
}

fn value(b: u8) -> Option<u32> {
    ALPHABET.iter().position(|&a| a == b).map(|p| p as u32)
}

/// Modified UTF-7 → UTF-8; `None` if the input is not valid modified UTF-7 (8-bit or control
/// characters, an unterminated or malformed `&...-` section, bad padding bits, unpaired
/// surrogates, or printable ASCII needlessly encoded).
pub fn decode(mutf7: &str) -> Option<String> {
    let bytes = mutf7.as_bytes();
    let mut out = String::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if !(0x20..=0x7e).contains(&b) {
            return None;
        }
        if b != b'&' {
            out.push(b as char);
            i += 1;
            continue;
        }
        i += 1;
        let end = i + bytes[i..].iter().position(|&c| c == b'-')?;
        let encoded = &bytes[i..end];
        i = end + 1;
        if encoded.is_empty() {
            out.push('&');
            continue;
        }
        // BASE64 → bytes.
        let mut acc: u32 = 0;
        let mut bits = 0u32;
        let mut raw = Vec::with_capacity(encoded.len() * 3 / 4);
        for &c in encoded {
            acc = (acc << 6) | value(c)?;
            bits += 6;
            if bits >= 8 {
                bits -= 8;
                raw.push((acc >> bits) as u8);
                acc &= (1 << bits) - 1;
            }
        }
        if bits >= 6 || acc != 0 || raw.len() % 2 != 0 {
            return None;
        }
        let units: Vec<u16> = raw
            .chunks(2)
            .map(|p| u16::from_be_bytes([p[0], p[1]]))
            .collect();
        for ch in char::decode_utf16(units) {
            let ch = ch.ok()?;
            if (' '..='~').contains(&ch) {
                return None;
            }
            out.push(ch);
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_values() {
        // Đ U+0110, ơ U+01A1 → 01 10 01 A1 → "ARABoQ"; ị U+1ECB → 1E CB → "Hss".
        assert_eq!(encode("Đơn vị"), "&ARABoQ-n v&Hss-");
        assert_eq!(decode("&ARABoQ-n v&Hss-").as_deref(), Some("Đơn vị"));
        // RFC 3501 5.1.3 example.
        assert_eq!(
            encode("~peter/mail/台北/日本語"),
            "~peter/mail/&U,BTFw-/&ZeVnLIqe-"
        );
        assert_eq!(encode("A&B"), "A&-B");
        assert_eq!(decode("A&-B").as_deref(), Some("A&B"));
        assert_eq!(encode("INBOX"), "INBOX");
        assert_eq!(encode(""), "");
        assert_eq!(encode("😀"), "&2D3eAA-");
        assert_eq!(decode("&2D3eAA-").as_deref(), Some("😀"));
    }

    #[test]
    fn vietnamese_round_trip() {
        for name in [
            "Đơn vị",
            "Hộp thư đến",
            "Thư đã gửi",
            "Thư nháp",
            "Thùng rác",
            "Lưu trữ/Năm 2024",
            "Công văn & Quyết định",
            "Phòng Tài chính – Kế toán",
            "Ủy ban nhân dân tỉnh Quảng Ngãi",
            "ĐƠN VỊ",
            "a",
            "&",
            "&&",
            "ễ",
            "ễễ",
            "ễễễ",
        ] {
            let enc = encode(name);
            assert!(enc.bytes().all(|b| (0x20..=0x7e).contains(&b)), "{enc}");
            assert_eq!(decode(&enc).as_deref(), Some(name), "{name} -> {enc}");
        }
    }

    #[test]
    fn rejects_invalid() {
        for bad in [
            "&", "&ARABoQ", "&A-", "&ARAB=-",
            "&AGE-",    // encodes "a": printable ASCII must represent itself
            "&2D0-",    // lone high surrogate
            "&ARABoR-", // non-zero padding bits
            "Đơn",      // 8-bit
            "a\tb",     // control
            "&ARAB/w-", // '/' is not in the modified alphabet
        ] {
            assert_eq!(decode(bad), None, "{bad}");
        }
    }
}
