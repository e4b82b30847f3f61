//! RFC 8970 PREVIEW. Expected previews are worked out from RFC 8970 3.2 (a string, never NIL
//! without LAZY; the empty string when there is no text), 3.3 ("SHOULD limit ... to 200
//! preview characters", "MUST NOT output ... longer than 256", plain text, no transfer
//! encoding, UTF-8), 4.1 (LAZY may give NIL) and 6 (grammar), on messages written here.

use crate::common;

use std::time::Duration;

use common::{converse_as, fixture_with, Fixture, USER_A};
use testkit::{Conversation, Reply};

const QP: &str =
    "Subject: Công văn\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\
Content-Transfer-Encoding: quoted-printable\r\n\r\nK=C3=ADnh g=E1=BB=ADi   anh B=C3=ACnh,\r\n\r\n\
C=C3=B4ng v=C4=83n s=E1=BB=91 15 v=E1=BB=81 vi=E1=BB=87c h=E1=BB=8Dp.\r\n";
const HTML: &str = "Subject: html\r\nContent-Type: text/html; charset=utf-8\r\n\r\n\
<html><head><style>p { color: red }</style></head><body><p>Xin <b>ch&agrave;o</b></p>\r\n<p>b&#7841;n</p></body></html>\r\n";
const ALTERNATIVE: &str = "Subject: alt\r\nContent-Type: multipart/alternative; boundary=b\r\n\r\n--b\r\n\
Content-Type: text/plain; charset=utf-8\r\n\r\nHello plain\r\n--b\r\nContent-Type: text/html\r\n\r\n<p>Hello html</p>\r\n--b--\r\n";
const ATTACHMENT_ONLY: &str = "Subject: pdf\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n\
Content-Type: application/pdf\r\nContent-Disposition: attachment; filename=a.pdf\r\n\r\nJVBERi0xLjQ=\r\n--b--\r\n";

fn long_text() -> String {
    format!(
        "Subject: dài\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n{}\r\n",
        "Nghị định về quản lý văn bản điện tử. ".repeat(20)
    )
}

async fn session(tweak: impl FnOnce(&mut imap::Settings)) -> (Fixture, Conversation) {
    let fixture = fixture_with(tweak).await;
    for raw in [
        QP.to_string(),
        HTML.into(),
        ALTERNATIVE.into(),
        ATTACHMENT_ONLY.into(),
        long_text(),
    ] {
        fixture.deliver(fixture.account_a, raw.as_bytes()).await;
    }
    let mut c = converse_as(&fixture, USER_A).await;
    c.imap("SELECT INBOX").await.expect("OK");
    (fixture, c)
}

/// The PREVIEW value of `* n FETCH (... PREVIEW v ...)`: `Some(text)` for a string (quoted or
/// a literal, whose data the pipe delivers as the next line), `None` for NIL.
async fn preview(c: &mut Conversation, command: &str) -> (Reply, Option<String>) {
    let tag = "p1";
    c.send(&format!("{tag} {command}")).await;
    let first = c.line().await;
    let at = first.find("PREVIEW ").unwrap_or_else(|| panic!("{first}")) + "PREVIEW ".len();
    let rest = &first[at..];
    let value = if rest.starts_with("NIL") {
        None
    } else if let Some(quoted) = rest.strip_prefix('"') {
        // RFC 9051 4.3 quoted string; previews hold no `"` or `\` here.
        Some(quoted[..quoted.find('"').unwrap()].to_string())
    } else {
        // `{n}` then n octets: RFC 9051 4.3 literal.
        let n: usize = rest
            .trim_start_matches('{')
            .split('}')
            .next()
            .unwrap()
            .parse()
            .unwrap();
        let data = c.line().await;
        assert!(data.len() >= n, "literal of {n} octets: {data:?}");
        Some(data[..n].to_string())
    };
    let reply = c.tagged(tag).await;
    (reply, value)
}

/// RFC 8970 3.3: "The generated preview text MUST be treated as text/plain ... MUST NOT be
/// content transfer encoded and MUST be encoded in UTF-8"; formatting is removed ("The server
/// SHOULD remove any formatting markup"). Quoted-printable is undone, whitespace collapsed,
/// Vietnamese kept.
#[tokio::test]
async fn previews_are_decoded_plain_text() {
    let (_fixture, mut c) = session(|_| {}).await;
    let (reply, text) = preview(&mut c, "FETCH 1 (PREVIEW)").await;
    reply.expect("OK");
    assert_eq!(
        text.as_deref(),
        Some("Kính gửi anh Bình, Công văn số 15 về việc họp.")
    );
    let (_, text) = preview(&mut c, "FETCH 2 (PREVIEW)").await;
    assert_eq!(text.as_deref(), Some("Xin chào bạn"), "HTML and entities");
    let (_, text) = preview(&mut c, "FETCH 3 (PREVIEW)").await;
    assert_eq!(
        text.as_deref(),
        Some("Hello plain"),
        "the plain alternative"
    );
}

/// RFC 8970 3.2: "It is possible that the server has determined that no meaningful preview
/// text can be generated for a particular message. ... In such cases, the server MUST return
/// a zero-length string."
#[tokio::test]
async fn no_text_gives_the_empty_string() {
    let (_fixture, mut c) = session(|_| {}).await;
    let (_, text) = preview(&mut c, "FETCH 4 (PREVIEW)").await;
    assert_eq!(text.as_deref(), Some(""));
}

/// RFC 8970 3.3: at most 256 characters (we keep the SHOULD, 200), cut on a character.
#[tokio::test]
async fn long_text_is_cut() {
    let (_fixture, mut c) = session(|_| {}).await;
    let (_, text) = preview(&mut c, "FETCH 5 (PREVIEW)").await;
    let text = text.unwrap();
    let chars = text.chars().count();
    assert!(chars <= 200 && chars > 150, "{chars}: {text}");
    assert!(text.starts_with("Nghị định về quản lý văn bản điện tử. Nghị định"));
    assert!(!text.ends_with(' '));
}

/// RFC 8970 5 example 1: `FETCH 1 (RFC822.SIZE PREVIEW)` — the items in the order asked.
/// RFC 8970 6: `msg-att-dynamic =/ "PREVIEW" SP nstring`. PREVIEW is not a body section
/// (RFC 9051 6.4.5: only BODY[...] without PEEK sets \Seen), so the message stays unseen.
#[tokio::test]
async fn order_and_no_seen() {
    let (_fixture, mut c) = session(|_| {}).await;
    c.send("p1 FETCH 3 (RFC822.SIZE PREVIEW)").await;
    let line = c.line().await;
    assert_eq!(
        line,
        format!(
            "* 3 FETCH (RFC822.SIZE {} PREVIEW \"Hello plain\")",
            ALTERNATIVE.len()
        )
    );
    c.tagged("p1").await.expect("OK");
    let flags = c.imap("FETCH 1:5 FLAGS").await;
    assert!(!flags.mentions("\\Seen"), "{flags:?}");
}

/// RFC 8970 4.1: "If the LAZY modifier is used, the server MAY return NIL for the preview
/// response"; 3.2: "A server MUST NOT return NIL to a FETCH PREVIEW request made without the
/// LAZY modifier." With no time to spare, LAZY gives NIL and the preview is made in the
/// background; a later LAZY FETCH has it.
#[tokio::test]
async fn lazy_may_be_nil_plain_never() {
    let (_fixture, mut c) = session(|s| s.preview_lazy_budget = Duration::ZERO).await;
    let (reply, text) = preview(&mut c, "FETCH 2 (PREVIEW (LAZY))").await;
    reply.expect("OK");
    assert_eq!(text, None, "nothing made yet, no time: NIL");
    let (_, text) = preview(&mut c, "FETCH 1 (PREVIEW)").await;
    assert!(
        text.is_some_and(|t| !t.is_empty()),
        "never NIL without LAZY"
    );
    // The background job makes message 2's preview.
    let mut made = None;
    for _ in 0..100 {
        let (_, text) = preview(&mut c, "FETCH 2 (PREVIEW (LAZY))").await;
        if text.is_some() {
            made = text;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(made.as_deref(), Some("Xin chào bạn"));
    // Message 1 was made by the plain FETCH: LAZY has it too.
    let (_, text) = preview(&mut c, "FETCH 1 (PREVIEW (LAZY))").await;
    assert!(text.is_some());
}

/// RFC 8970 6: `preview-mod = "LAZY"`; anything else is a syntax error (BAD). The capability
/// is advertised (RFC 8970 6 `capability =/ "PREVIEW"`).
#[tokio::test]
async fn grammar_and_capability() {
    let (_fixture, mut c) = session(|_| {}).await;
    c.imap("FETCH 1 (PREVIEW (EAGER))").await.expect("BAD");
    c.imap("FETCH 1 (PREVIEW ())").await.expect("BAD");
    let caps = c.imap("CAPABILITY").await;
    assert!(caps
        .untagged()
        .next()
        .unwrap()
        .split(' ')
        .any(|w| w == "PREVIEW"));
}
