//! Golden FETCH responses for a corpus of real-world MIME messages (issue 4, "Done means").
//!
//! Every `tests/data/<case>.eml` is delivered to one INBOX, in name order, so case number `i`
//! (0-based in name order) has UID `i + 1`. `UID FETCH <uid> (ENVELOPE BODYSTRUCTURE)` must give
//! exactly the bytes of `tests/data/<case>.imap`, after normalising the sequence number and the
//! UID item (`* 1 FETCH (ENVELOPE ... BODYSTRUCTURE ...)\r\n`). The expected files were worked
//! out by hand from RFC 9051 7.5.2 / RFC 3501 7.4.2 (see the README block at the end of this
//! file for the conventions). The section checks below compare BODY[...] / BINARY[...] bytes.
//!
//! `GOLDEN_CASE=<substring>` runs only the matching cases.

use crate::common;

use std::path::{Path, PathBuf};
use std::time::Duration;

use common::*;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

fn data_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data")
}

/// Case names (file stems of the .eml files), sorted.
fn case_names() -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(data_dir())
        .unwrap()
        .filter_map(|e| {
            let path = e.unwrap().path();
            (path.extension()? == "eml").then(|| path.file_stem()?.to_str().map(str::to_string))?
        })
        .collect();
    names.sort();
    names
}

/// A client that keeps responses as raw bytes, literals included.
struct RawClient {
    reader: BufReader<TcpStream>,
    next: u32,
}

impl RawClient {
    async fn login(addr: std::net::SocketAddr) -> RawClient {
        let stream = TcpStream::connect(addr).await.unwrap();
        let mut c = RawClient {
            reader: BufReader::new(stream),
            next: 1,
        };
        let greeting = c.response().await;
        assert!(greeting.starts_with(b"* OK"), "{}", show(&greeting));
        let (_, status) = c.run(&format!("LOGIN {USER_A} {PASSWORD}")).await;
        assert!(status.starts_with("OK"), "{status}");
        c
    }

    /// One response: a line plus the literals it announces, CRLFs kept.
    async fn response(&mut self) -> Vec<u8> {
        let mut out = Vec::new();
        loop {
            let mut line = Vec::new();
            let n = tokio::time::timeout(
                Duration::from_secs(30),
                self.reader.read_until(b'\n', &mut line),
            )
            .await
            .expect("response within 30 s")
            .unwrap();
            assert!(n > 0, "connection closed; so far {}", show(&out));
            out.extend_from_slice(&line);
            let body = line.strip_suffix(b"\r\n").unwrap_or(&line);
            let literal = body
                .strip_suffix(b"}")
                .and_then(|t| t.iter().rposition(|&b| b == b'{').map(|i| &t[i + 1..]))
                .and_then(|digits| std::str::from_utf8(digits).ok()?.parse::<usize>().ok());
            match literal {
                Some(len) => {
                    let mut bytes = vec![0u8; len];
                    self.reader.read_exact(&mut bytes).await.unwrap();
                    out.extend_from_slice(&bytes);
                }
                None => return out,
            }
        }
    }

    /// Sends a command; returns (untagged responses, tagged status text).
    async fn run(&mut self, command: &str) -> (Vec<Vec<u8>>, String) {
        let tag = format!("G{}", self.next);
        self.next += 1;
        self.reader
            .get_mut()
            .write_all(format!("{tag} {command}\r\n").as_bytes())
            .await
            .unwrap();
        let mut untagged = vec![];
        loop {
            let response = self.response().await;
            if let Some(rest) = response.strip_prefix(format!("{tag} ").as_bytes()) {
                return (
                    untagged,
                    String::from_utf8_lossy(rest).trim_end().to_string(),
                );
            }
            untagged.push(response);
        }
    }

    /// The one FETCH response of a UID FETCH that must succeed.
    async fn fetch(&mut self, uid: usize, items: &str) -> Result<Vec<u8>, String> {
        let (untagged, status) = self.run(&format!("UID FETCH {uid} {items}")).await;
        if !status.starts_with("OK") {
            return Err(format!("UID FETCH {uid} {items} -> {status}"));
        }
        let mut fetches: Vec<Vec<u8>> = untagged
            .into_iter()
            .filter(|r| r.starts_with(b"* ") && find(r, b" FETCH (").is_some())
            .collect();
        if fetches.len() != 1 {
            return Err(format!(
                "UID FETCH {uid} {items}: {} FETCH responses: {:?}",
                fetches.len(),
                fetches.iter().map(|f| show(f)).collect::<Vec<_>>()
            ));
        }
        Ok(fetches.remove(0))
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// Bytes for a failure message: UTF-8 where valid, \xNN otherwise, CR and LF made visible.
fn show(bytes: &[u8]) -> String {
    let mut out = String::new();
    for chunk in bytes.utf8_chunks() {
        for c in chunk.valid().chars() {
            match c {
                '\r' => out.push_str("\\r"),
                '\n' => out.push_str("\\n"),
                '\0' => out.push_str("\\0"),
                c => out.push(c),
            }
        }
        for b in chunk.invalid() {
            out.push_str(&format!("\\x{b:02x}"));
        }
    }
    out
}

/// `* <n> FETCH (... UID <uid>)` -> `* 1 FETCH (...)`: the only differences allowed.
fn normalise(response: &[u8], uid: usize) -> Vec<u8> {
    let open = find(response, b" FETCH (").expect("a FETCH response") + b" FETCH (".len();
    let mut items = response[open..].to_vec();
    let first = format!("UID {uid} ");
    let last = format!(" UID {uid})\r\n");
    if items.starts_with(first.as_bytes()) {
        items.drain(..first.len());
    } else if items.ends_with(last.as_bytes()) {
        let at = items.len() - last.len();
        items.truncate(at);
        items.extend_from_slice(b")\r\n");
    }
    let mut out = b"* 1 FETCH (".to_vec();
    out.extend_from_slice(&items);
    out
}

// ---- a readable diff of two FETCH responses ----

#[derive(Debug, Clone, PartialEq)]
enum Token {
    Open,
    Close,
    Atom(String),
}

fn tokens(bytes: &[u8]) -> Vec<Token> {
    let mut out = vec![];
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'(' => {
                out.push(Token::Open);
                i += 1;
            }
            b')' => {
                out.push(Token::Close);
                i += 1;
            }
            b' ' | b'\r' | b'\n' => i += 1,
            b'"' => {
                let start = i;
                i += 1;
                while i < bytes.len() && bytes[i] != b'"' {
                    i += if bytes[i] == b'\\' { 2 } else { 1 };
                }
                i = (i + 1).min(bytes.len());
                out.push(Token::Atom(show(&bytes[start..i])));
            }
            b'{' | b'~' => {
                let start = i;
                let close = bytes[i..].iter().position(|&b| b == b'}').map(|p| i + p);
                let len = close.and_then(|c| {
                    std::str::from_utf8(&bytes[start + 1 + usize::from(bytes[start] == b'~')..c])
                        .ok()?
                        .parse::<usize>()
                        .ok()
                });
                match (close, len) {
                    (Some(c), Some(len)) => {
                        let end = (c + 3 + len).min(bytes.len());
                        out.push(Token::Atom(show(&bytes[start..end])));
                        i = end;
                    }
                    _ => {
                        out.push(Token::Atom(show(&bytes[i..i + 1])));
                        i += 1;
                    }
                }
            }
            _ => {
                let start = i;
                while i < bytes.len() && !b" ()\r\n".contains(&bytes[i]) {
                    i += 1;
                }
                out.push(Token::Atom(show(&bytes[start..i])));
            }
        }
    }
    out
}

/// One line per list that does not fit in 100 columns, indented by depth.
fn pretty(bytes: &[u8]) -> Vec<String> {
    fn inline(tokens: &[Token]) -> String {
        let mut s = String::new();
        for (i, t) in tokens.iter().enumerate() {
            let prev_open = i > 0 && tokens[i - 1] == Token::Open;
            match t {
                Token::Open => {
                    if i > 0 && !prev_open && tokens[i - 1] != Token::Close {
                        s.push(' ');
                    }
                    s.push('(');
                }
                Token::Close => s.push(')'),
                Token::Atom(a) => {
                    if i > 0 && !prev_open {
                        s.push(' ');
                    }
                    s.push_str(a);
                }
            }
        }
        s
    }
    fn span(tokens: &[Token], start: usize) -> usize {
        let mut depth = 0;
        for (i, t) in tokens[start..].iter().enumerate() {
            match t {
                Token::Open => depth += 1,
                Token::Close => {
                    depth -= 1;
                    if depth == 0 {
                        return start + i + 1;
                    }
                }
                Token::Atom(_) => {}
            }
        }
        tokens.len()
    }
    fn walk(tokens: &[Token], depth: usize, out: &mut Vec<String>) {
        let mut i = 0;
        let mut atoms = vec![];
        let flush = |atoms: &mut Vec<String>, out: &mut Vec<String>| {
            if !atoms.is_empty() {
                out.push(format!("{}{}", "  ".repeat(depth), atoms.join(" ")));
                atoms.clear();
            }
        };
        while i < tokens.len() {
            match &tokens[i] {
                Token::Open => {
                    let end = span(tokens, i);
                    let text = inline(&tokens[i..end]);
                    if text.len() + depth * 2 <= 100 {
                        atoms.push(text);
                    } else {
                        flush(&mut atoms, out);
                        out.push(format!("{}(", "  ".repeat(depth)));
                        walk(&tokens[i + 1..end.saturating_sub(1)], depth + 1, out);
                        out.push(format!("{})", "  ".repeat(depth)));
                    }
                    i = end;
                }
                Token::Close => {
                    atoms.push(")".into());
                    i += 1;
                }
                Token::Atom(a) => {
                    atoms.push(a.clone());
                    i += 1;
                }
            }
        }
        flush(&mut atoms, out);
    }
    let mut out = vec![];
    walk(&tokens(bytes), 0, &mut out);
    out
}

/// A line diff (longest common subsequence): ` ` same, `-` expected only, `+` actual only.
fn diff(expected: &[u8], actual: &[u8]) -> String {
    let a = pretty(expected);
    let b = pretty(actual);
    let (n, m) = (a.len(), b.len());
    let mut lcs = vec![vec![0u32; m + 1]; n + 1];
    for i in (0..n).rev() {
        for j in (0..m).rev() {
            lcs[i][j] = if a[i] == b[j] {
                lcs[i + 1][j + 1] + 1
            } else {
                lcs[i + 1][j].max(lcs[i][j + 1])
            };
        }
    }
    let mut out = String::new();
    let (mut i, mut j) = (0, 0);
    while i < n || j < m {
        if i < n && j < m && a[i] == b[j] {
            out.push_str(&format!("   {}\n", a[i]));
            i += 1;
            j += 1;
        } else if j < m && (i == n || lcs[i][j + 1] >= lcs[i + 1][j]) {
            out.push_str(&format!(" + {}\n", b[j]));
            j += 1;
        } else {
            out.push_str(&format!(" - {}\n", a[i]));
            i += 1;
        }
    }
    let first = expected
        .iter()
        .zip(actual)
        .position(|(x, y)| x != y)
        .unwrap_or(expected.len().min(actual.len()));
    let context =
        |bytes: &[u8]| show(&bytes[first.saturating_sub(40)..(first + 60).min(bytes.len())]);
    out.push_str(&format!(
        "   first difference at byte {first}:\n   expected …{}…\n   actual   …{}…\n",
        context(expected),
        context(actual)
    ));
    out
}

fn selected(name: &str) -> bool {
    match std::env::var("GOLDEN_CASE") {
        Ok(filter) => name.contains(&filter),
        Err(_) => true,
    }
}

/// Delivers the whole corpus to USER_A's INBOX (UID = position in name order + 1).
async fn corpus_server() -> (TestServer, Vec<String>) {
    let server = start().await;
    let names = case_names();
    assert!(names.len() >= 40, "corpus has {} cases", names.len());
    for name in &names {
        let raw = std::fs::read(data_dir().join(format!("{name}.eml"))).unwrap();
        server.deliver(server.account_a, &raw).await;
    }
    (server, names)
}

#[tokio::test]
async fn envelope_and_bodystructure_match_the_golden_files() {
    let (server, names) = corpus_server().await;
    let mut c = RawClient::login(server.imap).await;
    let (_, status) = c.run("SELECT INBOX").await;
    assert!(status.starts_with("OK"), "{status}");
    let mut failed = vec![];
    let mut passed = 0;
    for (index, name) in names.iter().enumerate() {
        if !selected(name) {
            continue;
        }
        let uid = index + 1;
        let expected = std::fs::read(data_dir().join(format!("{name}.imap")))
            .unwrap_or_else(|e| panic!("{name}.imap: {e}"));
        match c.fetch(uid, "(ENVELOPE BODYSTRUCTURE)").await {
            Err(e) => {
                eprintln!("=== {name}: {e}");
                failed.push(name.clone());
            }
            Ok(actual) => {
                let actual = normalise(&actual, uid);
                if actual == expected {
                    passed += 1;
                } else {
                    eprintln!(
                        "=== {name}: FETCH (ENVELOPE BODYSTRUCTURE) differs (- expected, + actual)\n{}",
                        diff(&expected, &actual)
                    );
                    failed.push(name.clone());
                }
            }
        }
    }
    eprintln!(
        "golden ENVELOPE/BODYSTRUCTURE: {passed} passed, {} failed",
        failed.len()
    );
    assert!(failed.is_empty(), "golden cases failing: {failed:?}");
}

#[tokio::test]
async fn sections_match_the_message_bytes() {
    let (server, names) = corpus_server().await;
    let mut c = RawClient::login(server.imap).await;
    let (_, status) = c.run("SELECT INBOX").await;
    assert!(status.starts_with("OK"), "{status}");
    let mut failed = vec![];
    let mut passed = 0;
    for &(case, item, expected) in SECTIONS {
        if !selected(case) {
            continue;
        }
        let uid = names
            .iter()
            .position(|n| n == case)
            .unwrap_or_else(|| panic!("no case {case}"))
            + 1;
        // PEEK variants, so the checks do not depend on each other through \Seen.
        let (kind, section) = item.split_once('[').expect("item with a section");
        let request = format!("{kind}.PEEK[{section}");
        let label = format!("{item} ");
        let result = match c.fetch(uid, &format!("({request})")).await {
            Err(e) => Err(e),
            Ok(response) => match find(&response, label.as_bytes()) {
                None => Err(format!("no {item} in {}", show(&response))),
                Some(at) => {
                    let rest = &response[at + label.len()..];
                    let (eight, rest) = match rest.strip_prefix(b"~") {
                        Some(r) => (true, r),
                        None => (false, rest),
                    };
                    let close = rest.iter().position(|&b| b == b'}');
                    match (rest.first(), close) {
                        (Some(b'{'), Some(close)) => {
                            let len: usize = std::str::from_utf8(&rest[1..close])
                                .unwrap()
                                .trim_end_matches('+')
                                .parse()
                                .unwrap();
                            let bytes = &rest[close + 3..close + 3 + len];
                            if bytes != expected {
                                Err(format!(
                                    "{item} bytes differ\n   expected {}\n   actual   {}",
                                    show(expected),
                                    show(bytes)
                                ))
                            } else if expected.contains(&0) && !eight {
                                // RFC 9051 4.3 / RFC 3516 4.3: a literal is CHAR8 (no NUL);
                                // data with NUL octets must be sent as literal8 ~{n}.
                                Err(format!(
                                    "{item} contains NUL but was sent as {{{len}}}, not ~{{{len}}}"
                                ))
                            } else {
                                Ok(())
                            }
                        }
                        _ => Err(format!("{item} is not a literal in {}", show(&response))),
                    }
                }
            },
        };
        match result {
            Ok(()) => passed += 1,
            Err(e) => {
                eprintln!("=== {case} {item}: {e}");
                failed.push(format!("{case} {item}"));
            }
        }
    }
    eprintln!("golden sections: {passed} passed, {} failed", failed.len());
    assert!(failed.is_empty(), "section checks failing: {failed:?}");
}

/// (case, fetched item, exact bytes expected inside the literal).
const SECTIONS: &[(&str, &str, &[u8])] = &[
// BEGIN SECTIONS (generated)
    ("03_b_words_folded", "BODY[HEADER.FIELDS (SUBJECT)]", "Subject: =?UTF-8?B?UXV54bq/dCDEkeG7i25oIHbhu4Egdmnhu4djIHBow6ogZHV54buHdCA=?=\r\n =?UTF-8?B?a+G6vyBob+G6oWNoIGNodXnhu4NuIMSR4buVaSBz4buRIG7Eg20gMjAyNg==?=\r\n\r\n".as_bytes()),
    ("03_b_words_folded", "BINARY[1]", "Ủy ban nhân dân tỉnh gửi Quyết định số 1234/QĐ-UBND.\nĐề nghị các sở, ngành triển khai thực hiện.\n".as_bytes()),
    ("06_windows1258_qp", "BINARY[1]", b"S\xf5\xd2 N\xf4\xf2i vu\xf2 th\xf4ng b\xe1o k\xea\xect qua\xd2 x\xe9t tuy\xea\xd2n vi\xean ch\xfd\xecc n\xe3m 2025.\x0d\x0aDanh s\xe1ch k\xe8m theo.\x0d\x0a\x0d\x0a"),
    ("08_alternative_gmail", "BODY[1]", "Ch=C3=A0o anh/ch=E1=BB=8B,\r\n\r\nVui l=C3=B2ng =C4=91=E1=BB=95i m=E1=BA=ADt kh=E1=BA=A9u t=E1=BA=A1i https:/=\r\n/mail.kontum.gov.vn/password tr=C6=B0=E1=BB=9Bc ng=C3=A0y 30/11/2025 (m=E1=\r\n=BA=ADt kh=E1=BA=A9u t=E1=BB=91i thi=E1=BB=83u 12 k=C3=BD t=E1=BB=B1).\r\n\r\n".as_bytes()),
    ("08_alternative_gmail", "BODY[1.MIME]", "Content-Type: text/plain; charset=\"UTF-8\"\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n".as_bytes()),
    ("08_alternative_gmail", "BINARY[2]", "<div dir=\"ltr\">Chào anh/chị,<div><br></div><div>Vui lòng <b>đổi mật khẩu</b> trước ngày 30/11/2025.</div></div>\r\n\r\n".as_bytes()),
    ("08_alternative_gmail", "BODY[HEADER.FIELDS (SUBJECT)]", "Subject: =?UTF-8?B?SMaw4bubbmcgZOG6q24gc+G7rSBk4bulbmcgaOG7hyB0aOG7kW5nIHRoxrAgxJFp4buHbiB04butIGPDtG5nIHbhu6U=?=\r\n\r\n".as_bytes()),
    ("09_mixed_rfc2231_thunderbird", "BODY[2.MIME]", "Content-Type: application/vnd.openxmlformats-officedocument.wordprocessingml.document;\r\n name=\"=?UTF-8?B?VOG7nSB0csOsbmggc+G7kSAxNS5kb2N4?=\"\r\nContent-Disposition: attachment;\r\n filename*0*=UTF-8''%54%E1%BB%9D%20%74%72%C3%AC%6E%68%20%73%E1%BB%91%20;\r\n filename*1*=%31%35%2E%64%6F%63%78\r\nContent-Transfer-Encoding: base64\r\n\r\n".as_bytes()),
    ("09_mixed_rfc2231_thunderbird", "BINARY[2]", b"PK\x03\x04\x14\x00\x06\x00\x08\x00\x00\x00!\x00\x00\x00[Content_Types].xml\x00\x01\x02\x03word/document.xml\xfe\xff\x00PK\x05\x06\x00\x00\x00\x00"),
    ("12_nested_three_levels", "BODY[1.1.2]", "<html><body><p>Kính gửi anh Châu,</p><p><img src=\"cid:part1.Xy7.logo@kontum.gov.vn\"></p></body></html>\r\n\r\n".as_bytes()),
    ("12_nested_three_levels", "BODY[1.2.MIME]", "Content-Type: image/png; name=\"logo-so.png\"\r\nContent-Disposition: inline; filename=\"logo-so.png\"\r\nContent-Id: <part1.Xy7.logo@kontum.gov.vn>\r\nContent-Transfer-Encoding: base64\r\n\r\n".as_bytes()),
    ("12_nested_three_levels", "BINARY[1.2]", b"\x89PNG\x0d\x0a\x1a\x0a\x00\x00\x00\x0dIHDR\x00\x00\x00\x10\x00\x00\x00\x10\x08\x06\x00\x00\x00\x1f\xf3\xffa\x00\x00\x00\x00IEND\xaeB`\x82"),
    ("12_nested_three_levels", "BODY[1.1.1]", "Kính gửi anh Châu,\r\n\r\nEm gửi Tờ trình số 15 và phụ lục.\r\n\r\nTrân trọng,\r\nAn\r\n\r\n".as_bytes()),
    ("12_nested_three_levels", "BODY[3.MIME]", "Content-Type: application/vnd.openxmlformats-officedocument.spreadsheetml.sheet;\r\n name=\"Phu luc 01.xlsx\"\r\nContent-Disposition: attachment; filename=\"Phu luc 01.xlsx\"\r\nContent-Transfer-Encoding: base64\r\n\r\n".as_bytes()),
    ("13_rfc822_attachment", "BODY[2.1]", "=E1=BB=A6y ban nh=C3=A2n d=C3=A2n t=E1=BB=89nh Kon Tum y=C3=AAu c=E1=BA=A7u=\r\n c=C3=A1c s=E1=BB=9F, ban, ng=C3=A0nh b=C3=A1o c=C3=A1o k=E1=BA=BFt qu=E1=\r\n=BA=A3 th=E1=BB=B1c hi=E1=BB=87n chuy=E1=BB=83n =C4=91=E1=BB=95i s=E1=BB=91=\r\n tr=C6=B0=E1=BB=9Bc ng=C3=A0y 20/11/2025.\r\n\r\n".as_bytes()),
    ("13_rfc822_attachment", "BINARY[2.1]", "Ủy ban nhân dân tỉnh Kon Tum yêu cầu các sở, ban, ngành báo cáo kết quả thực hiện chuyển đổi số trước ngày 20/11/2025.\r\n\r\n".as_bytes()),
    ("13_rfc822_attachment", "BODY[2.HEADER.FIELDS (SUBJECT)]", "Subject: =?UTF-8?Q?C=C3=B4ng_v=C4=83n_s=E1=BB=91_45/UBND-KGVX?=\r\n\r\n".as_bytes()),
    ("14_rfc822_with_multipart", "BODY[2.1]", "Kính gửi Sở TT&TT,\r\n\r\nĐề nghị xem file đính kèm.\r\n".as_bytes()),
    ("14_rfc822_with_multipart", "BODY[2.2.MIME]", "Content-Type: application/pdf; name=\"=?UTF-8?B?S+G6vyBob+G6oWNoIDIwMjYucGRm?=\"\r\nContent-Disposition: attachment; filename*=utf-8''K%E1%BA%BF%20ho%E1%BA%A1ch%202026.pdf\r\nContent-Transfer-Encoding: base64\r\n\r\n".as_bytes()),
    ("14_rfc822_with_multipart", "BINARY[2.2]", b"%PDF-1.7\x0a%\xe2\xe3\xcf\xd3\x0a1 0 obj\x0a<< /Type /Catalog /Pages 2 0 R >>\x0aendobj\x0atrailer\x0a<< /Root 1 0 R >>\x0a%%EOF\x0a"),
    ("19_empty_body", "BODY[TEXT]", "".as_bytes()),
    ("20_headers_only", "BODY[HEADER]", "Date: Fri, 14 Nov 2025 09:30:00 +0700\r\nFrom: =?UTF-8?Q?Tr=E1=BA=A7n_Th=E1=BB=8B_B=C3=ACnh?= <ttbinh.stttt@kontum.gov.vn>\r\nTo: =?UTF-8?B?Tmd1eeG7hW4gVsSDbiBBbg==?= <nvan.stttt@kontum.gov.vn>\r\nSubject: =?UTF-8?Q?Ngh=E1=BB=89_ph=C3=A9p_chi=E1=BB=81u_nay?=\r\nMessage-ID: <hdronly20@kontum.gov.vn>\r\n".as_bytes()),
    ("20_headers_only", "BODY[TEXT]", "".as_bytes()),
    ("28_qp_and_base64_text", "BINARY[1]", "Công thức tính: điểm = (A + B) / 2; hệ số = 1,5.\r\nDòng này rất dài để buộc mã hóa quoted-printable phải ngắt mềm ở cột thứ bảy mươi sáu theo RFC 2045.\r\n\r\n".as_bytes()),
    ("28_qp_and_base64_text", "BINARY[2]", "Ghi chú: họp lúc 8h.\n".as_bytes()),
    ("30_bare_lf_multipart", "BODY[1]", "Gửi kèm biên bản.\n".as_bytes()),
    ("30_bare_lf_multipart", "BINARY[2]", b"%PDF-1.7\x0a%\xe2\xe3\xcf\xd3\x0a1 0 obj\x0a<< /Type /Catalog /Pages 2 0 R >>\x0aendobj\x0atrailer\x0a<< /Root 1 0 R >>\x0a%%EOF\x0a"),
    ("30_bare_lf_multipart", "BODY[HEADER.FIELDS (SUBJECT)]", "Subject: =?UTF-8?Q?Bi=C3=AAn_b=E1=BA=A3n_h=E1=BB=8Dp_giao_ban?=\n\n".as_bytes()),
    ("31_digest_default_rfc822", "BODY[1.1]", "Bài 1: Tỉnh triển khai nền tảng số.\r\n".as_bytes()),
    ("31_digest_default_rfc822", "BODY[2.1]", "Bai 2: Lich tiep cong dan.\r\n".as_bytes()),
    ("35_single_pdf_id_description", "BINARY[1]", b"%PDF-1.7\x0a%\xe2\xe3\xcf\xd3\x0a1 0 obj\x0a<< /Type /Catalog /Pages 2 0 R >>\x0aendobj\x0atrailer\x0a<< /Root 1 0 R >>\x0a%%EOF\x0a"),
    ("40_image_only", "BINARY[1]", b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x01\x00H\x00H\x00\x00\xff\xdb\x00C\x00\x00\x01\x02\x03\x04\x05\x06\x07\x08\x09\x0a\x0b\x0c\x0d\x0e\x0f\x10\x11\x12\x13\x14\x15\x16\x17\x18\x19\x1a\x1b\x1c\x1d\x1e\x1f !\x22#$%&'()*+,-./0123456789:;<=>?\xff\xd9"),
    ("45_rfc822_inside_rfc822", "BODY[2.2.1]", "Đồng ý chủ trương.\r\n".as_bytes()),
    ("45_rfc822_inside_rfc822", "BODY[2.1]", "Văn phòng chuyển ý kiến Giám đốc.\r\n".as_bytes()),
    ("47_related_start_and_location", "BODY[2.MIME]", "Content-Transfer-Encoding: base64\r\nContent-Disposition: inline;\r\n\tfilename=logo.png\r\nContent-Type: image/png;\r\n\tname=logo.png\r\nContent-Location: logo.png\r\n\r\n".as_bytes()),
    ("48_bare_lf_nested_rfc822", "BODY[2.1]", "Thư gốc.\n".as_bytes()),
    ("48_bare_lf_nested_rfc822", "BODY[1.2]", "<p>Nội dung thư.</p>\n\n".as_bytes()),
    // RFC 9051 6.4.5: a message whose type is message/rfc822 has one part, 1, the whole
    // encapsulated message; HEADER/TEXT/HEADER.FIELDS after it name that message's.
    ("49_group_comment_source_route", "BODY[HEADER.FIELDS (TO)]", "To: group2: (foo) ;, Lanh dao: gd.stttt@kontum.gov.vn;\r\n\r\n".as_bytes()),
    ("50_whole_message_rfc822", "BODY[1]", "Date: Mon, 3 Nov 2025 15:30:00 +0700\r\nFrom: =?UTF-8?B?VUJORCB04buJbmggS29uIFR1bQ==?= <vanthu.ubnd@kontum.gov.vn>\r\nTo: stttt@kontum.gov.vn\r\nSubject: =?UTF-8?Q?B=C3=A1o_c=C3=A1o_tu=E1=BA=A7n?=\r\nMessage-ID: <inner50@kontum.gov.vn>\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\nBáo cáo tuần 45 đã gửi.\r\n".as_bytes()),
    ("50_whole_message_rfc822", "BODY[1.HEADER]", "Date: Mon, 3 Nov 2025 15:30:00 +0700\r\nFrom: =?UTF-8?B?VUJORCB04buJbmggS29uIFR1bQ==?= <vanthu.ubnd@kontum.gov.vn>\r\nTo: stttt@kontum.gov.vn\r\nSubject: =?UTF-8?Q?B=C3=A1o_c=C3=A1o_tu=E1=BA=A7n?=\r\nMessage-ID: <inner50@kontum.gov.vn>\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n".as_bytes()),
    ("50_whole_message_rfc822", "BODY[1.HEADER.FIELDS (MESSAGE-ID)]", "Message-ID: <inner50@kontum.gov.vn>\r\n\r\n".as_bytes()),
    ("50_whole_message_rfc822", "BODY[1.TEXT]", "Báo cáo tuần 45 đã gửi.\r\n".as_bytes()),
    ("50_whole_message_rfc822", "BODY[1.1]", "Báo cáo tuần 45 đã gửi.\r\n".as_bytes()),
    ("50_whole_message_rfc822", "BINARY[1.1]", "Báo cáo tuần 45 đã gửi.\r\n".as_bytes()),
// END SECTIONS
];

// README — conventions of the .imap files (RFC 9051 7.5.2, RFC 3501 7.4.2):
// - ENVELOPE: date subject from sender reply-to to cc bcc in-reply-to message-id; sender and
//   reply-to default to from; absent header -> NIL, present but empty -> "" (RFC 3501 7.4.2);
//   date / in-reply-to / message-id are the header values as they are (unfolded, trimmed);
//   groups are (NIL NIL "name" NIL) ... (NIL NIL NIL NIL).
// - Strings are quoted, or literals when they hold CR/LF or are 1024 octets or more.
// - Non-ASCII text (decoded RFC 2047 / RFC 2231 / raw UTF-8) is sent as one
//   "=?UTF-8?B?...?=" word because the test does not ENABLE UTF8=ACCEPT; an encoded word in an
//   unknown charset cannot be decoded and stays as it is (RFC 2047 6.2).
// - Types, subtypes, parameter names and disposition types upper-cased; parameter values as in
//   the message, RFC 2231 continuations and charsets decoded (RFC 9051 7.5.2 SHOULD).
// - A text part with no parameters gets ("CHARSET" "US-ASCII"); a missing or invalid
//   Content-Type is text/plain (RFC 2045 5.2), except in multipart/digest where it is
//   message/rfc822 (RFC 2046 5.1.5).
// - body-fld-octets: octets between the blank line after the part header and the line end that
//   belongs to the next delimiter (RFC 2046 5.1.1), as stored (bare LF counts one octet);
//   body-fld-lines: the number of line ends in those octets.
// - Extension data: md5 NIL, disposition, language as a list, location.
