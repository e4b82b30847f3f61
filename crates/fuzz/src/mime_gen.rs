//! Structure-aware generation for the MIME target: messages whose MIME tree (multipart of every
//! subtype, message/rfc822, digests with implicit message parts) has a random shape and depth
//! (up to 20,000 levels for the chain shape), with Vietnamese encoded words, RFC 2231
//! parameters, base64 / quoted-printable bodies, and deliberately broken boundaries.

use base64::Engine;

use crate::rng::Rng;

/// Deepest chain generated.
pub const MAX_DEPTH: usize = 20_000;

const VIETNAMESE: &[&str] = &[
    "Công văn số 123/UBND-VP về việc triển khai",
    "Nguyễn Văn An",
    "Trần Thị Bích Ngọc",
    "Giấy mời họp giao ban tuần",
    "Phòng Tổ chức - Hành chính",
    "Quyết định bổ nhiệm cán bộ",
    "Đơn vị/Sở Nội vụ",
    "tờ trình",
    "ẩn danh",
];

const NAMES: &[&str] = &[
    "a",
    "nvan.stttt",
    "b.c",
    "x+tag",
    "\"quoted local\"",
    "",
    "@",
];
const DOMAINS: &[&str] = &[
    "kontum.gov.vn",
    "b.vn",
    "[127.0.0.1]",
    "xn--bcher-kva.example",
    "",
];

struct Ctx<'a> {
    rng: &'a mut Rng,
    nl: &'static str,
    mixed_nl: bool,
    out: Vec<u8>,
    boundary_id: usize,
}

impl Ctx<'_> {
    fn nl(&mut self) -> &'static str {
        if self.mixed_nl && self.rng.chance(1, 4) {
            const ENDINGS: &[&str] = &["\r\n", "\n"];
            ENDINGS[self.rng.below(ENDINGS.len())]
        } else {
            self.nl
        }
    }

    fn line(&mut self, text: &str) {
        self.out.extend_from_slice(text.as_bytes());
        let nl = self.nl();
        self.out.extend_from_slice(nl.as_bytes());
    }

    fn header(&mut self, name: &str, value: &str) {
        // Sometimes folded.
        if value.len() > 20 && self.rng.chance(1, 4) {
            let cut = value.char_indices().map(|(i, _)| i).nth(10).unwrap_or(0);
            let first = format!("{name}: {}", &value[..cut]);
            self.line(&first);
            let rest = format!("\t{}", &value[cut..]);
            self.line(&rest);
        } else {
            self.line(&format!("{name}: {value}"));
        }
    }

    fn boundary(&mut self) -> String {
        self.boundary_id += 1;
        match self.rng.below(8) {
            0 => "b".to_string(),
            1 => "=_".repeat(self.rng.range(1, 40)),
            2 => format!("b {} x", self.boundary_id),
            3 => String::new(),
            _ => format!("----=_Part_{}_{}", self.boundary_id, self.rng.below(1000)),
        }
    }

    fn vietnamese(&mut self) -> String {
        self.rng.pick(VIETNAMESE).to_string()
    }

    fn encoded_word(&mut self, text: &str) -> String {
        let b64 = base64::engine::general_purpose::STANDARD;
        match self.rng.below(9) {
            0 => format!("=?utf-8?b?{}?=", b64.encode(text)),
            1 => format!("=?UTF-8?B?{}?=", b64.encode(text)),
            2 => {
                let q: String = text
                    .bytes()
                    .map(|b| match b {
                        b' ' => "_".to_string(),
                        b if b.is_ascii_alphanumeric() => (b as char).to_string(),
                        b => format!("={b:02X}"),
                    })
                    .collect();
                format!("=?utf-8?q?{q}?=")
            }
            3 => "=?utf-8?b?####?=".to_string(),
            4 => "=?x-unknown?q?abc?=".to_string(),
            5 => "=?windows-1258?Q?C=F4ng_v=E3n?=".to_string(),
            6 => format!("=?utf-8*vi?b?{}?=", b64.encode(text)),
            7 => format!(
                "{} {}",
                self.encoded_word_simple(text),
                self.encoded_word_simple("tiếp")
            ),
            _ => text.to_string(),
        }
    }

    fn encoded_word_simple(&mut self, text: &str) -> String {
        format!(
            "=?utf-8?b?{}?=",
            base64::engine::general_purpose::STANDARD.encode(text)
        )
    }

    fn address(&mut self) -> String {
        let local = *self.rng.pick(NAMES);
        let domain = *self.rng.pick(DOMAINS);
        let name = self.vietnamese();
        match self.rng.below(6) {
            0 => format!("{local}@{domain}"),
            1 => {
                let word = self.encoded_word(&name);
                format!("{word} <{local}@{domain}>")
            }
            2 => format!("\"{name}\" <{local}@{domain}>"),
            3 => format!("Phòng A: {local}@{domain}, c@d.vn;"),
            4 => "undisclosed-recipients:;".to_string(),
            _ => format!("<{local}@{domain}>, ,, \"x\\\"y\" <z@{domain}>"),
        }
    }

    fn top_headers(&mut self) {
        let n = self.rng.range(0, 6);
        for _ in 0..n {
            match self.rng.below(8) {
                0 => {
                    let a = self.address();
                    self.header("From", &a)
                }
                1 => {
                    let a = self.address();
                    self.header("To", &a)
                }
                2 => {
                    let t = self.vietnamese();
                    let s = self.encoded_word(&t);
                    self.header("Subject", &s)
                }
                3 => {
                    let d = *self.rng.pick(&[
                        "Mon, 24 Nov 2025 08:30:00 +0700",
                        "31 Feb 1970 25:61:61 -9999",
                        "garbage",
                        "",
                    ]);
                    self.header("Date", d)
                }
                4 => self.header("Message-ID", "<x@y.vn>"),
                5 => self.header("In-Reply-To", "<a@b> <c@d>"),
                6 => {
                    let a = self.address();
                    self.header("Cc", &a)
                }
                _ => self.header("MIME-Version", "1.0"),
            }
        }
    }

    fn part_extras(&mut self) {
        if self.rng.chance(1, 4) {
            let name = self.vietnamese();
            let encoded: String = name.bytes().map(|b| format!("%{b:02X}")).collect();
            let value = match self.rng.below(4) {
                0 => format!("attachment; filename*=utf-8''{encoded}"),
                1 => format!("attachment; filename*0*=utf-8''{encoded}; filename*1=.pdf"),
                2 => {
                    let w = self.encoded_word(&name);
                    format!("inline; filename=\"{w}.pdf\"")
                }
                _ => "attachment; filename=\"a.pdf\"; size=123".to_string(),
            };
            self.header("Content-Disposition", &value);
        }
        if self.rng.chance(1, 8) {
            self.header("Content-ID", "<part1@kontum.gov.vn>");
        }
        if self.rng.chance(1, 10) {
            self.header("Content-Language", "vi, en");
        }
        if self.rng.chance(1, 10) {
            self.header("Content-Location", "http://example.invalid/a b");
        }
        if self.rng.chance(1, 10) {
            let t = self.vietnamese();
            let w = self.encoded_word(&t);
            self.header("Content-Description", &w);
        }
    }

    fn leaf(&mut self) {
        let text = self.vietnamese();
        let kind = self.rng.below(6);
        let ct = match kind {
            0 => Some("text/plain; charset=utf-8"),
            1 => Some("text/html; charset=\"UTF-8\""),
            2 => Some("application/pdf; name=\"t\u{1edd}.pdf\""),
            3 => Some("text"),
            4 => Some("image/png"),
            _ => None,
        };
        if let Some(ct) = ct {
            self.header("Content-Type", ct);
        }
        let encoding = self.rng.below(5);
        match encoding {
            0 => self.header("Content-Transfer-Encoding", "base64"),
            1 => self.header("Content-Transfer-Encoding", "quoted-printable"),
            2 => self.header("Content-Transfer-Encoding", "8bit"),
            3 => self.header("Content-Transfer-Encoding", "x-unknown"),
            _ => {}
        }
        self.part_extras();
        let nl = self.nl();
        self.out.extend_from_slice(nl.as_bytes());
        let body: Vec<u8> = match encoding {
            0 if self.rng.chance(3, 4) => base64::engine::general_purpose::STANDARD
                .encode(text.as_bytes())
                .into_bytes(),
            0 => b"!!!not base64===\r\nAAA".to_vec(),
            1 => {
                let q: String = text
                    .bytes()
                    .map(|b| {
                        if b.is_ascii_alphanumeric() || b == b' ' {
                            (b as char).to_string()
                        } else {
                            format!("={b:02X}")
                        }
                    })
                    .collect();
                format!("{q}=\r\n=ZZ=4").into_bytes()
            }
            _ if self.rng.chance(1, 6) => {
                let n = self.rng.range(0, 64);
                self.rng.bytes(n)
            }
            _ => text.into_bytes(),
        };
        self.out.extend_from_slice(&body);
        let nl = self.nl();
        self.out.extend_from_slice(nl.as_bytes());
    }

    fn node(&mut self, budget: usize, in_digest: bool) {
        if in_digest && self.rng.chance(1, 2) {
            // Digest part without Content-Type: an implicit message/rfc822.
            self.part_extras();
            let nl = self.nl();
            self.out.extend_from_slice(nl.as_bytes());
            self.message(budget.saturating_sub(1));
            return;
        }
        match if budget == 0 { 0 } else { self.rng.below(4) } {
            0 => self.leaf(),
            1 | 2 => self.multipart(budget),
            _ => {
                let sub = *self.rng.pick(&["rfc822", "rfc822", "global", "RFC822"]);
                self.header("Content-Type", &format!("message/{sub}"));
                self.part_extras();
                let nl = self.nl();
                self.out.extend_from_slice(nl.as_bytes());
                self.message(budget - 1);
            }
        }
    }

    fn multipart(&mut self, budget: usize) {
        let sub = *self.rng.pick(&[
            "mixed",
            "alternative",
            "related",
            "digest",
            "report",
            "signed",
        ]);
        let boundary = self.boundary();
        let quoted = self.rng.chance(1, 2) || boundary.contains(' ');
        let param = if quoted {
            format!("\"{boundary}\"")
        } else {
            boundary.clone()
        };
        self.header(
            "Content-Type",
            &format!("multipart/{sub}; boundary={param}"),
        );
        self.part_extras();
        let nl = self.nl();
        self.out.extend_from_slice(nl.as_bytes());
        if self.rng.chance(1, 4) {
            self.line("This is a multi-part message in MIME format. --not-a-boundary");
        }
        let children = self.rng.range(0, 4);
        for _ in 0..children {
            let delim = match self.rng.below(12) {
                0 => format!("--{boundary}x"),
                1 => format!("--{boundary}   "),
                2 => format!("-{boundary}"),
                _ => format!("--{boundary}"),
            };
            self.line(&delim);
            self.node(budget - 1, sub == "digest");
        }
        match self.rng.below(6) {
            0 => {} // never closed
            1 => self.line(&format!("--{boundary}--trailing")),
            _ => self.line(&format!("--{boundary}--")),
        }
        if self.rng.chance(1, 4) {
            self.line("epilogue");
        }
    }

    fn message(&mut self, budget: usize) {
        self.top_headers();
        self.node(budget, false);
    }

    /// One long chain: `depth` nested levels, each a multipart or a message/rfc822, then a leaf,
    /// then the closing delimiters.
    fn chain(&mut self, depth: usize) {
        let shape = self.rng.below(5);
        let same_boundary = self.rng.chance(1, 3);
        let mut closers: Vec<String> = Vec::new();
        self.top_headers();
        for level in 0..depth {
            let multipart = match shape {
                0 => true,
                1 => false,
                2 => level % 2 == 0,
                3 => self.rng.chance(1, 2),
                _ => level % 3 != 2,
            };
            if multipart {
                let b = if same_boundary {
                    "b".to_string()
                } else {
                    format!("b{level}")
                };
                let sub = if shape == 4 && level % 3 == 1 {
                    "digest"
                } else {
                    "mixed"
                };
                self.line(&format!("Content-Type: multipart/{sub}; boundary={b}"));
                self.line("");
                self.line(&format!("--{b}"));
                closers.push(format!("--{b}--"));
            } else {
                self.line("Content-Type: message/rfc822");
                self.line("");
                closers.push(String::new());
            }
        }
        self.line("Content-Type: text/plain");
        self.line("");
        self.line("đáy");
        if self.rng.chance(3, 4) {
            for closer in closers.iter().rev() {
                if !closer.is_empty() {
                    self.line(closer);
                }
            }
        }
    }
}

/// A generated message.
pub fn generate(rng: &mut Rng) -> Vec<u8> {
    let nl = if rng.chance(3, 4) { "\r\n" } else { "\n" };
    let mixed_nl = rng.chance(1, 10);
    let deep = rng.chance(1, 6);
    let mut ctx = Ctx {
        rng,
        nl,
        mixed_nl,
        out: Vec::with_capacity(4096),
        boundary_id: 0,
    };
    if deep {
        let depth = ctx.rng.log_range(8, MAX_DEPTH);
        ctx.chain(depth);
    } else {
        let budget = ctx.rng.range(0, 7);
        ctx.message(budget);
    }
    ctx.out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generates_parsable_variety() {
        let mut deepest = 0;
        for i in 0..300 {
            let mut rng = crate::rng::for_exec(11, i);
            let msg = generate(&mut rng);
            assert!(msg.len() < 4 << 20, "{} bytes", msg.len());
            let levels = msg
                .windows(13)
                .filter(|w| w.eq_ignore_ascii_case(b"content-type:"))
                .count();
            deepest = deepest.max(levels);
        }
        assert!(deepest > 100, "deepest {deepest}");
    }
}
