//! RFC 4469 CATENATE with RFC 5092 IMAP URLs. Expected results are worked out from RFC 4469
//! 3 (the parts are concatenated as given, a URL contributes the octets of what it names, as
//! BODY.PEEK[section]<partial> would), 4.1 (BADURL), 4.2 (TOOBIG), 5 (grammar) and RFC 5092
//! (URL syntax): the messages are written here, so every expected byte is known.

use crate::common;

use common::{converse_as, fixture_with, Fixture, USER_A, USER_B};
use storage::NewUnit;
use testkit::{Conversation, Reply};

/// A two-part message whose bytes the checks below slice by hand.
const PART1: &str = "Kính gửi anh Bình,\r\nXin xem tài liệu.\r\n";
fn multipart() -> Vec<u8> {
    format!(
        "From: <nvan.stttt@kontum.gov.vn>\r\nSubject: Tai lieu\r\nMIME-Version: 1.0\r\n\
Content-Type: multipart/mixed; boundary=\"b1\"\r\n\r\n--b1\r\nContent-Type: text/plain; charset=utf-8\r\n\
Content-Transfer-Encoding: 8bit\r\n\r\n{PART1}\r\n--b1\r\nContent-Type: application/octet-stream\r\n\r\nAAAA\r\n--b1--\r\n"
    )
    .into_bytes()
}

async fn session(tweak: impl FnOnce(&mut imap::Settings)) -> (Fixture, Conversation) {
    let fixture = fixture_with(tweak).await;
    fixture.deliver(fixture.account_a, &multipart()).await;
    let c = converse_as(&fixture, USER_A).await;
    (fixture, c)
}

async fn raw(c: &mut Conversation, tag: &str, bytes: &[u8]) -> Reply {
    c.write(bytes).await;
    c.tagged(tag).await
}

/// A CATENATE APPEND to Drafts with LITERAL+ TEXT parts: `parts` are ("TEXT", bytes) or
/// ("URL", url).
fn catenate(tag: &str, parts: &[(&str, &[u8])]) -> Vec<u8> {
    let mut out = format!("{tag} APPEND Drafts CATENATE (").into_bytes();
    for (i, (kind, value)) in parts.iter().enumerate() {
        if i > 0 {
            out.push(b' ');
        }
        match *kind {
            "TEXT" => {
                out.extend_from_slice(format!("TEXT {{{}+}}\r\n", value.len()).as_bytes());
                out.extend_from_slice(value);
            }
            _ => {
                out.extend_from_slice(b"URL \"");
                out.extend_from_slice(value);
                out.push(b'"');
            }
        }
    }
    out.extend_from_slice(b")\r\n");
    out
}

/// The bytes of BODY.PEEK[] of message `uid` of `mailbox` (reads the literal directly).
async fn body_of(c: &mut Conversation, mailbox: &str, uid: u32) -> Vec<u8> {
    c.imap(&format!("EXAMINE {mailbox}")).await.expect("OK");
    c.send(&format!("b1 UID FETCH {uid} BODY.PEEK[]")).await;
    let first = c.line().await;
    let len: usize = first
        .rsplit_once('{')
        .and_then(|(_, n)| n.trim_end_matches('}').parse().ok())
        .unwrap_or_else(|| panic!("a literal: {first}"));
    let mut bytes = Vec::new();
    while bytes.len() < len {
        let line = c.line().await;
        bytes.extend_from_slice(line.as_bytes());
        bytes.extend_from_slice(b"\r\n");
    }
    bytes.truncate(len);
    c.tagged("b1").await.expect("OK");
    bytes
}

async fn messages(c: &mut Conversation, mailbox: &str) -> usize {
    let reply = c.imap(&format!("STATUS {mailbox} (MESSAGES)")).await;
    let line = reply.untagged().next().unwrap().to_string();
    line.rsplit_once("MESSAGES ")
        .unwrap()
        .1
        .trim_end_matches(')')
        .parse()
        .unwrap()
}

/// RFC 4469 3: "If a message URL is specified ... the octets of the body part pointed to by
/// that URL are appended, as if the literal containing those octets were given"; TEXT parts
/// are appended as they are. SECTION=1 is the first part's body (RFC 9051 6.4.5 BODY[1]).
#[tokio::test]
async fn text_and_a_section_url_are_concatenated() {
    let (_fixture, mut c) = session(|_| {}).await;
    let status = c.imap("STATUS INBOX (UIDVALIDITY)").await;
    let validity = status
        .untagged()
        .next()
        .unwrap()
        .rsplit_once(' ')
        .unwrap()
        .1
        .trim_end_matches(')')
        .to_string();
    let head = b"Subject: Fwd\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n";
    let url = format!("/INBOX;UIDVALIDITY={validity}/;UID=1/;SECTION=1");
    let tail = b"-- \r\nTr\xc3\xa2n tr\xe1\xbb\x8dng\r\n";
    let reply = raw(
        &mut c,
        "a1",
        &catenate(
            "a1",
            &[("TEXT", head), ("URL", url.as_bytes()), ("TEXT", tail)],
        ),
    )
    .await;
    // RFC 4469 3: "If the server implements the IMAP UIDPLUS extension, it will also return an
    // APPENDUID response code".
    reply.expect("OK [APPENDUID ");
    let mut expected = head.to_vec();
    expected.extend_from_slice(PART1.as_bytes());
    expected.extend_from_slice(tail);
    assert_eq!(
        String::from_utf8_lossy(&body_of(&mut c, "Drafts", 1).await),
        String::from_utf8_lossy(&expected)
    );
    // RFC 4469 3: "the \Seen flag is not set for any catenated body part" — the source is
    // still unseen.
    c.imap("EXAMINE INBOX").await.expect("OK");
    let flags = c.imap("FETCH 1 FLAGS").await;
    assert!(!flags.mentions("\\Seen"), "{flags:?}");
}

/// A URL with no section is the whole message; the copy is byte for byte the original.
/// `;PARTIAL=o.l` (RFC 5092) is octets o..o+l of what the URL names; HEADER.FIELDS is the
/// named fields and the blank line (RFC 9051 6.4.5), its name list %-escaped in the URL.
#[tokio::test]
async fn whole_messages_partials_and_header_fields() {
    let (_fixture, mut c) = session(|_| {}).await;
    raw(&mut c, "a1", &catenate("a1", &[("URL", b"/INBOX/;UID=1")]))
        .await
        .expect("OK");
    assert_eq!(body_of(&mut c, "Drafts", 1).await, multipart());
    raw(
        &mut c,
        "a2",
        &catenate(
            "a2",
            &[
                ("URL", b"/INBOX/;UID=1/;SECTION=HEADER.FIELDS%20(SUBJECT)"),
                ("URL", b"/INBOX/;UID=1/;SECTION=1/;PARTIAL=0.10"),
            ],
        ),
    )
    .await
    .expect("OK");
    let mut expected = b"Subject: Tai lieu\r\n\r\n".to_vec();
    // 10 octets: "Kính gử" (the test reads text, so the cut is kept on a character).
    expected.extend_from_slice(&PART1.as_bytes()[..10]);
    assert_eq!(body_of(&mut c, "Drafts", 2).await, expected);
}

/// RFC 4469 3: relative URLs are evaluated against the selected mailbox; RFC 5092 absolute
/// URLs naming this user and this server are the same message.
#[tokio::test]
async fn relative_and_absolute_forms() {
    let (_fixture, mut c) = session(|_| {}).await;
    c.imap("SELECT INBOX").await.expect("OK");
    raw(
        &mut c,
        "a1",
        &catenate("a1", &[("URL", b";UID=1/;SECTION=2")]),
    )
    .await
    .expect("OK");
    let absolute = b"imap://nvan.stttt%40kontum.gov.vn@mail.kontum.gov.vn/INBOX/;UID=1/;SECTION=2";
    raw(&mut c, "a2", &catenate("a2", &[("URL", absolute)]))
        .await
        .expect("OK");
    assert_eq!(body_of(&mut c, "Drafts", 1).await, b"AAAA");
    assert_eq!(body_of(&mut c, "Drafts", 2).await, b"AAAA");
}

/// RFC 4469 4.1: "BADURL: Once the server has determined that the URL is invalid, ... the
/// server MUST return a tagged NO response with the BADURL response code" carrying the URL;
/// nothing is appended. URLs to another user's mailbox, to a unit the user has no rights on,
/// to another server, with URLAUTH, or that do not parse, are all BADURL with the same text
/// as a missing message: a refusal says nothing about other people's mail.
#[tokio::test]
async fn bad_urls_append_nothing() {
    let (fixture, mut c) = session(|_| {}).await;
    // B's INBOX has a message A must never reach.
    fixture
        .deliver(fixture.account_b, b"Subject: secret\r\n\r\nB only\r\n")
        .await;
    let unit = fixture
        .store
        .add_unit(&NewUnit {
            domain: "kontum.gov.vn".into(),
            abbrev: "STTTT".into(),
            name: "Sở Thông tin và Truyền thông".into(),
            parent_abbrev: None,
            quota_bytes: 0,
        })
        .await
        .unwrap();
    fixture
        .deliver(unit.account_id, b"Subject: unit\r\n\r\nunit mail\r\n")
        .await;
    let bad_urls: &[&[u8]] = &[
        b"/INBOX/;UID=99",
        b"/INBOX;UIDVALIDITY=1/;UID=1",
        b"/Missing/;UID=1",
        b"/INBOX/;UID=1/;SECTION=9",
        b"/INBOX/;UID=1/;SECTION=1.BOGUS",
        b"/INBOX/;UID=1/;URLAUTH=anonymous:internal:91354a473744909de610943775f92038",
        b"imap://ttbinh.stttt%40kontum.gov.vn@mail.kontum.gov.vn/INBOX/;UID=1",
        b"imap://nvan.stttt%40kontum.gov.vn@mail.example.org/INBOX/;UID=1",
        "/Đơn vị/STTTT/INBOX/;UID=1".as_bytes(),
        b"/INBOX/;UID=0",
        b"not a url",
        b"/INBOX]x/;UID=1",
    ];
    for (i, url) in bad_urls.iter().enumerate() {
        let tag = format!("u{i}");
        let reply = raw(
            &mut c,
            &tag,
            &catenate(&tag, &[("TEXT", b"x"), ("URL", url)]),
        )
        .await;
        // RFC 4469 5: "resp-text-code =/ "BADURL" SP url-resp-text", url-resp-text being
        // any TEXT-CHAR but "]": the code ends at the first "]".
        let expected = String::from_utf8_lossy(url).replace(']', "?");
        reply.expect(&format!("NO [BADURL {expected}]"));
    }
    assert_eq!(messages(&mut c, "Drafts").await, 0);
    // B's mailbox, unit mailboxes: nothing of theirs was read.
    assert!(fixture
        .store
        .events("unit.read", 10)
        .await
        .unwrap()
        .is_empty());
    // With a grant the unit mailbox is readable, and the read is audited (KT-8).
    fixture
        .store
        .delegate("STTTT", USER_A, storage::RIGHTS_READ, false)
        .await
        .unwrap();
    let unit_url = "/Đơn vị/STTTT/INBOX/;UID=1/;SECTION=TEXT";
    c.imap("ENABLE UTF8=ACCEPT").await.expect("OK");
    raw(
        &mut c,
        "a1",
        &catenate("a1", &[("URL", unit_url.as_bytes())]),
    )
    .await
    .expect("OK");
    assert_eq!(body_of(&mut c, "Drafts", 1).await, b"unit mail\r\n");
    let reads = fixture.store.events("unit.read", 10).await.unwrap();
    assert_eq!(reads.len(), 1, "{reads:?}");
    assert_eq!(reads[0].actor, USER_A);
    // Revoked: BADURL again, at once.
    fixture.store.revoke("STTTT", USER_A).await.unwrap();
    let reply = raw(
        &mut c,
        "a2",
        &catenate("a2", &[("URL", unit_url.as_bytes())]),
    )
    .await;
    reply.expect("NO [BADURL ");
    // And B's message was never readable by A.
    let _ = USER_B;
}

/// RFC 4469 4.2: "TOOBIG: the resulting message is too big" — NO [TOOBIG], nothing appended.
/// The size limit applies to the whole message put together; the number of parts is bounded
/// too (RFC 5530 LIMIT).
#[tokio::test]
async fn too_big_and_too_many_parts() {
    let size = multipart().len();
    let (_fixture, mut c) = session(move |s| {
        s.max_literal = size * 2 - 1;
        s.max_append_parts = 3;
    })
    .await;
    // Twice the message is one byte over the limit.
    let reply = raw(
        &mut c,
        "a1",
        &catenate(
            "a1",
            &[("URL", b"/INBOX/;UID=1"), ("URL", b"/INBOX/;UID=1")],
        ),
    )
    .await;
    reply.expect("NO [TOOBIG]");
    // Four parts when three are allowed.
    let reply = raw(
        &mut c,
        "a2",
        &catenate(
            "a2",
            &[
                ("TEXT", b"a"),
                ("TEXT", b"b"),
                ("TEXT", b"c"),
                ("TEXT", b"d"),
            ],
        ),
    )
    .await;
    reply.expect("NO [LIMIT]");
    assert_eq!(messages(&mut c, "Drafts").await, 0);
}

/// RFC 3502 with RFC 4469: a CATENATE message and a literal in one APPEND are stored together
/// or not at all; a bad URL in the second refuses the first too.
#[tokio::test]
async fn multiappend_with_catenate_is_atomic() {
    let (_fixture, mut c) = session(|_| {}).await;
    let reply = raw(
        &mut c,
        "a1",
        b"a1 APPEND Drafts CATENATE (URL \"/INBOX/;UID=1/;SECTION=2\") {2+}\r\nhi CATENATE (URL \"/INBOX/;UID=7\")\r\n",
    )
    .await;
    reply.expect("NO [BADURL /INBOX/;UID=7]");
    assert_eq!(messages(&mut c, "Drafts").await, 0);
    let reply = raw(
        &mut c,
        "a2",
        b"a2 APPEND Drafts CATENATE (URL \"/INBOX/;UID=1/;SECTION=2\") {2+}\r\nhi\r\n",
    )
    .await;
    reply.expect("OK [APPENDUID ");
    assert!(reply.status.contains(" 1:2]"), "{reply:?}");
    assert_eq!(body_of(&mut c, "Drafts", 2).await, b"hi");
}

/// RFC 4469 5: `"CATENATE" SP "(" cat-part *(SP cat-part) ")"` — at least one part; a TEXT
/// part is a literal; anything else is BAD.
#[tokio::test]
async fn grammar() {
    let (_fixture, mut c) = session(|_| {}).await;
    raw(&mut c, "a1", b"a1 APPEND Drafts CATENATE ()\r\n")
        .await
        .expect("BAD");
    raw(
        &mut c,
        "a2",
        b"a2 APPEND Drafts CATENATE (TEXT \"abc\")\r\n",
    )
    .await
    .expect("BAD");
    raw(
        &mut c,
        "a3",
        b"a3 APPEND Drafts CATENATE (BODY {1+}\r\nx)\r\n",
    )
    .await
    .expect("BAD");
    let reply = c.imap("CAPABILITY").await;
    assert!(reply
        .untagged()
        .next()
        .unwrap()
        .split(' ')
        .any(|w| w == "CATENATE"));
}
