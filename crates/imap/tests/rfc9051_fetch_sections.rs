//! Conformance: FETCH body sections (RFC 9051 6.4.5), BINARY (RFC 3516, RFC 2045 6.7), one
//! session over an in-memory pipe; responses read as raw bytes, literals included.

use crate::common;

use common::{converse_as, fixture_with, Fixture, USER_A};
use testkit::Conversation;

/// A message whose own type is message/rfc822: its part 1 is the encapsulated message
/// (RFC 9051 6.4.5: "Every message has at least one part number"; a message/rfc822 part's
/// body is the whole encapsulated message, and HEADER, TEXT, HEADER.FIELDS after its number
/// refer to that message).
const OUTER_HEADER: &str =
    "From: =?UTF-8?B?Tmd1eeG7hW4gVsSDbiBBbg==?= <nvan.stttt@kontum.gov.vn>\r\n\
To: ttbinh.stttt@kontum.gov.vn\r\nSubject: Fwd: =?UTF-8?Q?C=C3=B4ng_v=C4=83n?=\r\n\
Date: Sat, 1 Nov 2025 09:00:00 +0700\r\nMIME-Version: 1.0\r\nContent-Type: message/rfc822\r\n\r\n";
const INNER_HEADER: &str = "From: vanthu.ubnd@kontum.gov.vn\r\nTo: stttt@kontum.gov.vn\r\n\
Subject: =?UTF-8?Q?C=C3=B4ng_v=C4=83n_45?=\r\nDate: Fri, 31 Oct 2025 16:20:00 +0700\r\n\
MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"in\"\r\n\r\n";
const INNER_TEXT: &str = "--in\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nNội dung công văn.\r\n\
--in\r\nContent-Type: application/pdf; name=\"cv45.pdf\"\r\nContent-Transfer-Encoding: base64\r\n\r\n\
JVBERi0xLjc=\r\n--in--\r\n";

async fn session_with(messages: &[&[u8]]) -> (Fixture, Conversation) {
    let fixture = fixture_with(|_| {}).await;
    for raw in messages {
        fixture.deliver(fixture.account_a, raw).await;
    }
    let mut c = converse_as(&fixture, USER_A).await;
    c.imap("SELECT INBOX").await.expect("OK");
    (fixture, c)
}

/// The one literal of a FETCH response: (literal8?, bytes).
fn literal(response: &[u8]) -> (bool, Vec<u8>) {
    // `open` is the index of the `}` that ends the announcement.
    let open = response
        .windows(3)
        .position(|w| w == b"}\r\n")
        .expect("a literal");
    let brace = response[..open].iter().rposition(|&b| b == b'{').unwrap();
    let len: usize = std::str::from_utf8(&response[brace + 1..open])
        .unwrap()
        .parse()
        .unwrap();
    let start = open + 3;
    (
        brace > 0 && response[brace - 1] == b'~',
        response[start..start + len].to_vec(),
    )
}

async fn fetch_literal(c: &mut Conversation, item: &str) -> (bool, Vec<u8>) {
    let response = c.imap_bytes("f1", &format!("FETCH 1 ({item})")).await;
    assert!(
        response.windows(6).any(|w| w == b"f1 OK "),
        "{}",
        String::from_utf8_lossy(&response)
    );
    literal(&response)
}

#[tokio::test]
async fn a_message_rfc822_message_numbers_its_encapsulated_message_as_part_1() {
    let raw = format!("{OUTER_HEADER}{INNER_HEADER}{INNER_TEXT}");
    let (_fixture, mut c) = session_with(&[raw.as_bytes()]).await;
    let expect = |item: &str, bytes: &str| (item.to_string(), bytes.to_string());
    for (item, expected) in [
        // 6.4.5: part 1 of a non-multipart message is its body: here the whole message
        // it encapsulates.
        expect("BODY.PEEK[1]", &format!("{INNER_HEADER}{INNER_TEXT}")),
        // "HEADER ... prefixed by ... numeric part specifiers, provided that the numeric
        // part specifier refers to a part of type MESSAGE/RFC822".
        expect("BODY.PEEK[1.HEADER]", INNER_HEADER),
        expect(
            "BODY.PEEK[1.HEADER.FIELDS (SUBJECT)]",
            "Subject: =?UTF-8?Q?C=C3=B4ng_v=C4=83n_45?=\r\n\r\n",
        ),
        expect("BODY.PEEK[1.TEXT]", INNER_TEXT),
        // The parts of the encapsulated message are 1.1, 1.2.
        expect("BODY.PEEK[1.1]", "Nội dung công văn."),
        expect(
            "BODY.PEEK[1.2.MIME]",
            "Content-Type: application/pdf; name=\"cv45.pdf\"\r\nContent-Transfer-Encoding: base64\r\n\r\n",
        ),
        // "MIME ... the [MIME-IMB] header for this part": part 1 of a single-part message
        // is described by the message's own header.
        expect("BODY.PEEK[1.MIME]", OUTER_HEADER),
        // The top level is unchanged: HEADER and TEXT of the outer message.
        expect("BODY.PEEK[HEADER]", OUTER_HEADER),
        expect("BODY.PEEK[TEXT]", &format!("{INNER_HEADER}{INNER_TEXT}")),
    ] {
        let (eight, bytes) = fetch_literal(&mut c, &item).await;
        assert!(!eight, "{item}: BODY data is never a literal8");
        assert_eq!(String::from_utf8_lossy(&bytes), expected, "{item}");
    }
    let (_, pdf) = fetch_literal(&mut c, "BINARY.PEEK[1.2]").await;
    assert_eq!(pdf, b"%PDF-1.7");
    // RFC 9051 7.5.2 body-type-msg: "MESSAGE" "RFC822" fields envelope body lines.
    let response = c.imap_bytes("f2", "FETCH 1 (BODYSTRUCTURE)").await;
    let text = String::from_utf8_lossy(&response);
    let inner_size = INNER_HEADER.len() + INNER_TEXT.len();
    let lines = (INNER_HEADER.to_string() + INNER_TEXT)
        .matches('\n')
        .count();
    assert!(
        text.starts_with(&format!(
            "* 1 FETCH (BODYSTRUCTURE (\"MESSAGE\" \"RFC822\" NIL NIL NIL \"7BIT\" {inner_size} \
(\"Fri, 31 Oct 2025 16:20:00 +0700\" \"=?UTF-8?B?"
        )),
        "{text}"
    );
    assert!(
        text.contains(
            "((\"TEXT\" \"PLAIN\" (\"CHARSET\" \"utf-8\") NIL NIL \"7BIT\" 22 0 NIL NIL NIL NIL)\
(\"APPLICATION\" \"PDF\" (\"NAME\" \"cv45.pdf\") NIL NIL \"BASE64\" 12 NIL NIL NIL NIL) \"MIXED\""
        ),
        "{text}"
    );
    assert!(
        text.contains(&format!(
            "\"MIXED\" (\"BOUNDARY\" \"in\") NIL NIL NIL) {lines} NIL NIL NIL NIL))"
        )),
        "{text}"
    );
}

#[tokio::test]
async fn binary_undoes_quoted_printable_as_rfc_2045_says() {
    // RFC 2045 6.7 (3): trailing white space on an encoded line is transport padding and is
    // deleted; (5): "=" last on an encoded line is a soft line break (after trailing white
    // space is deleted, "= " at the end of a line is one too).
    let raw = b"From: a@kontum.gov.vn\r\nSubject: qp\r\nMIME-Version: 1.0\r\n\
Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n\
Tr=C6=B0=E1=BB=9Dng   \r\nd=C3=A0i=  \r\nd=C3=B2ng=\r\n cu=E1=BB=91i\t\r\n";
    let decoded = "Trường\r\ndàidòng cuối\r\n".as_bytes();
    let (_fixture, mut c) = session_with(&[raw]).await;
    let (_, bytes) = fetch_literal(&mut c, "BINARY.PEEK[1]").await;
    assert_eq!(
        String::from_utf8_lossy(&bytes),
        String::from_utf8_lossy(decoded)
    );
    // RFC 3516 4.2: BINARY.SIZE is the size of the decoded section.
    let response = c.imap_bytes("s1", "FETCH 1 (BINARY.SIZE[1])").await;
    let text = String::from_utf8_lossy(&response);
    assert!(
        text.starts_with(&format!("* 1 FETCH (BINARY.SIZE[1] {})", decoded.len())),
        "{text}"
    );
}

/// A multipart message whose second part is binary with NUL octets.
fn binary_message() -> (Vec<u8>, Vec<u8>) {
    let payload: Vec<u8> = (0..300u32).map(|i| (i * 7 % 256) as u8).collect();
    let mut raw = b"From: a@kontum.gov.vn\r\nSubject: bin\r\nMIME-Version: 1.0\r\n\
Content-Type: multipart/mixed; boundary=\"b\"\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\n\
xem tep\r\n--b\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding: binary\r\n\r\n"
        .to_vec();
    raw.extend_from_slice(&payload);
    raw.extend_from_slice(b"\r\n--b--\r\n");
    (raw, payload)
}

#[tokio::test]
async fn binary_append_is_stored_so_body_never_needs_a_literal8() {
    let fixture = fixture_with(|_| {}).await;
    let mut c = converse_as(&fixture, USER_A).await;
    let (raw, payload) = binary_message();
    assert!(payload.contains(&0));
    // RFC 3516 4.4: APPEND takes a literal8.
    c.write(format!("a1 APPEND INBOX ~{{{}+}}\r\n", raw.len()).as_bytes())
        .await;
    c.write(&raw).await;
    c.write(b"\r\n").await;
    c.tagged("a1").await.expect("OK");
    c.imap("SELECT INBOX").await.expect("OK");
    // RFC 9051 7.5.2 / RFC 3516 4.2: BODY[...] is an nstring: a literal, never a literal8,
    // so it must hold no NUL.
    for item in ["BODY.PEEK[]", "BODY.PEEK[2]", "RFC822"] {
        let (eight, bytes) = fetch_literal(&mut c, item).await;
        assert!(!eight, "{item} sent as literal8");
        assert!(!bytes.contains(&0), "{item} holds NUL");
    }
    // The part was re-encoded, and says so where BODYSTRUCTURE and BODY[2.MIME] look.
    let (_, mime) = fetch_literal(&mut c, "BODY.PEEK[2.MIME]").await;
    let mime = String::from_utf8(mime).unwrap();
    assert!(
        mime.contains("Content-Transfer-Encoding: base64\r\n"),
        "{mime}"
    );
    assert!(!mime.contains("binary"), "{mime}");
    let response = c
        .imap_bytes("b1", "FETCH 1 (BODYSTRUCTURE RFC822.SIZE)")
        .await;
    let text = String::from_utf8_lossy(&response);
    assert!(
        text.contains("(\"APPLICATION\" \"OCTET-STREAM\" NIL NIL NIL \"BASE64\" "),
        "{text}"
    );
    let (_, whole) = fetch_literal(&mut c, "BODY.PEEK[]").await;
    assert!(
        text.contains(&format!("RFC822.SIZE {}", whole.len())),
        "{text}"
    );
    // RFC 3516 4.2: BINARY[2] gives the decoded bytes, in a literal8 since they hold NUL.
    let (eight, bytes) = fetch_literal(&mut c, "BINARY.PEEK[2]").await;
    assert!(eight, "BINARY with NUL must be a literal8");
    assert_eq!(bytes, payload);
    let response = c.imap_bytes("b2", "FETCH 1 (BINARY.SIZE[2])").await;
    let text = String::from_utf8_lossy(&response);
    assert!(
        text.contains(&format!("BINARY.SIZE[2] {}", payload.len())),
        "{text}"
    );
    // A NUL where no re-encoding can reach it (a header field) is refused: NO, not stored.
    let bad = b"Subject: a\0b\r\n\r\nbody\r\n";
    c.write(format!("a2 APPEND INBOX ~{{{}+}}\r\n", bad.len()).as_bytes())
        .await;
    c.write(bad).await;
    c.write(b"\r\n").await;
    c.tagged("a2").await.expect("NO [CANNOT]");
}

#[tokio::test]
async fn nul_in_delivered_mail_never_reaches_a_body_literal() {
    // Mail from a non-conforming SMTP peer can hold NUL: BODY sends it as 0x80 (the size
    // and offsets stay), BINARY[] sends the bytes as they are, in a literal8.
    let (raw, _) = binary_message();
    let (_fixture, mut c) = session_with(&[&raw]).await;
    let (eight, body) = fetch_literal(&mut c, "BODY.PEEK[]").await;
    assert!(!eight);
    assert_eq!(body.len(), raw.len());
    let expected: Vec<u8> = raw.iter().map(|&b| if b == 0 { 0x80 } else { b }).collect();
    assert_eq!(body, expected);
    let (eight, bytes) = fetch_literal(&mut c, "BINARY.PEEK[]").await;
    assert!(eight);
    assert_eq!(bytes, raw);
}
