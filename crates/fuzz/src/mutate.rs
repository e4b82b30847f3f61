//! Byte-level mutations (AFL-style havoc) plus the structure-minded ones this project needs:
//! dictionary tokens, numbers that stress length fields, line-ending rewrites, and deep
//! repetition of a nesting prefix (10 to 20,000 times).

use crate::rng::Rng;

/// What a target tells the mutator about its input language.
pub struct Dictionary {
    /// Tokens inserted or overwritten anywhere.
    pub tokens: &'static [&'static [u8]],
    /// Prefixes that open one nesting level; repeated many times.
    pub nesting: &'static [&'static [u8]],
}

const INTERESTING: &[u8] = &[
    0, 0xff, 0x7f, 0x80, b'\r', b'\n', b' ', b'\t', b'{', b'}', b'(', b')', b'[', b']', b'"',
    b'\\', b'.', b'-', b'=', b'?', b'~', b'+', b'*', b':', b';', b'<', b'>', b'%', b'&', b'0',
    b'9',
];

const NUMBERS: &[&[u8]] = &[
    b"0",
    b"1",
    b"2",
    b"7",
    b"255",
    b"256",
    b"4096",
    b"65535",
    b"65536",
    b"2147483647",
    b"2147483648",
    b"4294967295",
    b"4294967296",
    b"9223372036854775807",
    b"18446744073709551615",
    b"18446744073709551616",
    b"99999999999999999999999999",
    b"-1",
    b"00000000000000000000000001",
];

/// One mutated copy of `input` (1 to 16 stacked mutations), at most `max_len` bytes.
/// `others` are the corpus entries available for splicing.
pub fn havoc(
    rng: &mut Rng,
    input: &[u8],
    others: &[Vec<u8>],
    dict: &Dictionary,
    max_len: usize,
) -> Vec<u8> {
    let mut data = input.to_vec();
    let rounds = 1 << rng.below(5);
    for _ in 0..rounds {
        mutate_once(rng, &mut data, others, dict, max_len);
        data.truncate(max_len);
    }
    data
}

fn pos(rng: &mut Rng, data: &[u8]) -> usize {
    rng.below(data.len() + 1)
}

/// A range inside `data`: mostly short, sometimes long.
fn span(rng: &mut Rng, data: &[u8]) -> (usize, usize) {
    if data.is_empty() {
        return (0, 0);
    }
    let start = rng.below(data.len());
    let len = rng.log_range(1, data.len() - start);
    (start, start + len)
}

fn insert(data: &mut Vec<u8>, at: usize, bytes: &[u8], max_len: usize) {
    let room = max_len.saturating_sub(data.len());
    let bytes = &bytes[..bytes.len().min(room)];
    data.splice(at..at, bytes.iter().copied());
}

fn overwrite(data: &mut Vec<u8>, at: usize, bytes: &[u8]) {
    let end = (at + bytes.len()).min(data.len());
    data.splice(at..end, bytes.iter().copied());
}

pub fn mutate_once(
    rng: &mut Rng,
    data: &mut Vec<u8>,
    others: &[Vec<u8>],
    dict: &Dictionary,
    max_len: usize,
) {
    match rng.below(18) {
        0 if !data.is_empty() => {
            let i = rng.below(data.len());
            data[i] ^= 1 << rng.below(8);
        }
        1 if !data.is_empty() => {
            let i = rng.below(data.len());
            data[i] = *rng.pick(INTERESTING);
        }
        2 if !data.is_empty() => {
            let i = rng.below(data.len());
            data[i] = rng.next_u64() as u8;
        }
        3 if !data.is_empty() => {
            let (a, b) = span(rng, data);
            data.drain(a..b);
        }
        4 => {
            let n = rng.range(1, 16);
            let bytes = rng.bytes(n);
            let at = pos(rng, data);
            insert(data, at, &bytes, max_len);
        }
        5 if !data.is_empty() => {
            // Duplicate a range in place.
            let (a, b) = span(rng, data);
            let chunk = data[a..b].to_vec();
            insert(data, b, &chunk, max_len);
        }
        6 if !data.is_empty() => {
            // Copy a range over another place.
            let (a, b) = span(rng, data);
            let chunk = data[a..b].to_vec();
            let at = rng.below(data.len());
            overwrite(data, at, &chunk);
        }
        7 | 8 if !others.is_empty() => {
            // Splice: a piece of another corpus entry, inserted or replacing a range.
            let other = rng.pick(others);
            if other.is_empty() {
                return;
            }
            let (a, b) = span(rng, other);
            let chunk = other[a..b].to_vec();
            if rng.chance(1, 2) {
                let at = pos(rng, data);
                insert(data, at, &chunk, max_len);
            } else {
                let (c, d) = span(rng, data);
                data.splice(c..d, chunk);
            }
        }
        9 if !others.is_empty() => {
            // Cross-over: our head, their tail.
            let other = rng.pick(others);
            let cut = pos(rng, data);
            let from = rng.below(other.len() + 1);
            data.truncate(cut);
            let tail = other[from..].to_vec();
            insert(data, cut, &tail, max_len);
        }
        10 | 11 if !dict.tokens.is_empty() => {
            let token = *rng.pick(dict.tokens);
            let at = pos(rng, data);
            if rng.chance(2, 3) {
                insert(data, at, token, max_len);
            } else {
                overwrite(data, at.min(data.len()), token);
            }
        }
        12 => {
            // Deep repetition of a nesting prefix or of a piece of the input.
            let chunk: Vec<u8> =
                if !dict.nesting.is_empty() && (data.is_empty() || rng.chance(3, 4)) {
                    rng.pick(dict.nesting).to_vec()
                } else if data.is_empty() {
                    return;
                } else {
                    let (a, b) = span(rng, data);
                    data[a..(a + (b - a).min(64))].to_vec()
                };
            if chunk.is_empty() {
                return;
            }
            let times = rng.log_range(10, 20_000);
            let room = max_len.saturating_sub(data.len()) / chunk.len();
            let times = times.min(room);
            let mut block = Vec::with_capacity(times * chunk.len());
            for _ in 0..times {
                block.extend_from_slice(&chunk);
            }
            let at = pos(rng, data);
            insert(data, at, &block, max_len);
        }
        13 => {
            // Replace a number (or put one somewhere).
            let number = *rng.pick(NUMBERS);
            let start = pos(rng, data);
            match data[start..].iter().position(u8::is_ascii_digit) {
                Some(off) => {
                    let a = start + off;
                    let b = a + data[a..].iter().take_while(|b| b.is_ascii_digit()).count();
                    data.splice(a..b, number.iter().copied());
                }
                None => insert(data, start, number, max_len),
            }
        }
        14 => {
            const ENDINGS: &[&[u8]] = &[b"\r\n", b"\n", b"\r", b"\r\r\n", b"\n.\n", b"\r\n.\r\n"];
            let ending = *rng.pick(ENDINGS);
            let at = pos(rng, data);
            insert(data, at, ending, max_len);
        }
        15 => {
            // Rewrite every line ending one way.
            if rng.chance(1, 2) {
                let mut out = Vec::with_capacity(data.len());
                let mut i = 0;
                while i < data.len() {
                    if data[i] == b'\r' && data.get(i + 1) == Some(&b'\n') {
                        i += 1;
                        continue;
                    }
                    out.push(data[i]);
                    i += 1;
                }
                *data = out;
            } else {
                let mut out = Vec::with_capacity(data.len() + data.len() / 16);
                for (i, &b) in data.iter().enumerate() {
                    if b == b'\n' && (i == 0 || data[i - 1] != b'\r') {
                        out.push(b'\r');
                    }
                    out.push(b);
                }
                *data = out;
            }
        }
        16 if !data.is_empty() => {
            let at = rng.below(data.len());
            data.truncate(at);
        }
        17 if !data.is_empty() => {
            // Swap two lines.
            let lines: Vec<&[u8]> = data.split_inclusive(|&b| b == b'\n').collect();
            if lines.len() < 2 {
                return;
            }
            let mut lines: Vec<Vec<u8>> = lines.into_iter().map(<[u8]>::to_vec).collect();
            let a = rng.below(lines.len());
            let b = rng.below(lines.len());
            lines.swap(a, b);
            *data = lines.concat();
        }
        _ => {
            let n = rng.range(1, 4);
            let bytes = rng.bytes(n);
            let at = pos(rng, data);
            insert(data, at, &bytes, max_len);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn respects_max_len_and_is_deterministic() {
        let dict = Dictionary {
            tokens: &[b"{10}\r\n", b"--b"],
            nesting: &[
                b"(",
                b"Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n",
            ],
        };
        let others = vec![b"A1 NOOP\r\n".to_vec(), b"A2 LOGIN a b\r\n".to_vec()];
        for i in 0..2_000u64 {
            let mut r1 = crate::rng::for_exec(3, i);
            let mut r2 = crate::rng::for_exec(3, i);
            let a = havoc(&mut r1, b"A1 SELECT INBOX\r\n", &others, &dict, 4096);
            let b = havoc(&mut r2, b"A1 SELECT INBOX\r\n", &others, &dict, 4096);
            assert_eq!(a, b);
            assert!(a.len() <= 4096);
        }
    }
}
