//! Protocol conversations with one session over an in-memory pipe (no listener, no TCP).
//!
//! Every expected reply comes from the RFC text cited on the test, not from what the server
//! prints: RFC 5321 (SMTP), RFC 3463 (enhanced status codes: X.5.1 invalid command / out of
//! sequence, X.5.2 syntax error, X.6.7 non-ASCII address), RFC 3030 (CHUNKING), RFC 6152
//! (8BITMIME), RFC 6531 (SMTPUTF8).

use crate::common;

use common::*;
use smtp::ListenerKind;
use testkit::Conversation;

const SENDER: &str = "sender@example.org";

/// An MX session, greeted and past EHLO.
async fn mx() -> (Conversation, InMemory) {
    let (mut c, harness) = in_memory(ListenerKind::Mx, |_| {}).await;
    // RFC 5321 3.1 / 4.2: the server speaks first, 220.
    c.reply().await.expect("220 ");
    c.cmd("EHLO client.example.org").await.expect("250 ");
    (c, harness)
}

/// BDAT with `chunk` (RFC 3030 2: the command line, then exactly that many octets).
async fn bdat(c: &mut Conversation, chunk: &[u8], last: bool) -> testkit::Reply {
    let last = if last { " LAST" } else { "" };
    let mut bytes = format!("BDAT {}{last}\r\n", chunk.len()).into_bytes();
    bytes.extend_from_slice(chunk);
    c.write(&bytes).await;
    c.reply().await
}

/// DATA with `body` (CRLF lines, none starting with a dot), then `.`.
async fn data(c: &mut Conversation, body: &str) -> testkit::Reply {
    // RFC 5321 4.1.1.4: 354 invites the data.
    c.cmd("DATA").await.expect("354");
    c.write(format!("{body}.\r\n").as_bytes()).await;
    c.reply().await
}

/// RFC 5321 4.1.1.1 and the extensions' own sections: EHLO answers 250 with the server's
/// name first, then one keyword a line: 8BITMIME (RFC 6152 2), SMTPUTF8 (RFC 6531 3.1),
/// CHUNKING (RFC 3030 2), PIPELINING (RFC 2920 3), ENHANCEDSTATUSCODES (RFC 2034 3).
#[tokio::test]
async fn ehlo_names_the_server_and_lists_the_extensions() {
    let (mut c, _harness) = in_memory(ListenerKind::Mx, |_| {}).await;
    let greeting = c.reply().await;
    assert_eq!(greeting.code(), 220);
    assert!(greeting.mentions("mx.kontum.gov.vn"), "{greeting:?}");
    let ehlo = c.cmd("EHLO client.example.org").await;
    ehlo.expect("250 ");
    assert!(
        ehlo.lines[0].starts_with("250-mx.kontum.gov.vn"),
        "{ehlo:?}"
    );
    let keywords: Vec<&str> = ehlo.lines[1..]
        .iter()
        .map(|l| l[4..].split(' ').next().unwrap())
        .collect();
    for keyword in [
        "8BITMIME",
        "SMTPUTF8",
        "CHUNKING",
        "PIPELINING",
        "ENHANCEDSTATUSCODES",
    ] {
        assert!(keywords.contains(&keyword), "{keyword} in {keywords:?}");
    }
}

/// RFC 5321 3.3: "If a RCPT command appears without a previous MAIL command, the server MUST
/// return a 503 'Bad sequence of commands' response"; RFC 3463 3.6: X.5.1 for a command out of
/// sequence. RFC 5321 4.1.4: a client MUST issue EHLO or HELO before starting a transaction,
/// and MUST NOT send MAIL while a transaction is open (both out of sequence: 503 5.5.1).
#[tokio::test]
async fn commands_out_of_sequence_are_503_5_5_1() {
    let (mut c, _harness) = in_memory(ListenerKind::Mx, |_| {}).await;
    c.reply().await.expect("220 ");
    c.cmd(&format!("MAIL FROM:<{SENDER}>"))
        .await
        .expect("503 5.5.1");
    c.cmd("EHLO client.example.org").await.expect("250 ");
    c.cmd(&format!("RCPT TO:<{USER_A}>"))
        .await
        .expect("503 5.5.1");
    c.cmd(&format!("MAIL FROM:<{SENDER}>")).await.expect("250 ");
    c.cmd(&format!("MAIL FROM:<{SENDER}>"))
        .await
        .expect("503 5.5.1");
    // The open transaction is intact.
    c.cmd(&format!("RCPT TO:<{USER_A}>")).await.expect("250 ");
}

/// RFC 5321 4.1.4: with no MAIL, or no accepted RCPT, DATA gets 503 or 554 and the client
/// sends no data; the session goes on.
#[tokio::test]
async fn data_without_a_transaction_or_recipients_is_refused() {
    let (mut c, _harness) = mx().await;
    let reply = c.cmd("DATA").await;
    assert!(
        [503, 554].contains(&reply.code()),
        "DATA without MAIL: {reply:?}"
    );
    c.cmd(&format!("MAIL FROM:<{SENDER}>")).await.expect("250 ");
    let reply = c.cmd("DATA").await;
    assert!(
        [503, 554].contains(&reply.code()),
        "DATA without recipients: {reply:?}"
    );
    c.cmd("NOOP").await.expect("250 ");
}

/// RFC 5321 4.1.1.5: RSET aborts the transaction ("any stored sender, recipients, and mail
/// data MUST be discarded") and is answered 250; after it RCPT is out of sequence again and a
/// new MAIL is not nested.
#[tokio::test]
async fn rset_clears_the_transaction() {
    let (mut c, harness) = mx().await;
    c.cmd(&format!("MAIL FROM:<{SENDER}>")).await.expect("250 ");
    c.cmd(&format!("RCPT TO:<{USER_A}>")).await.expect("250 ");
    c.cmd("RSET").await.expect("250 2.0.0");
    c.cmd(&format!("RCPT TO:<{USER_B}>"))
        .await
        .expect("503 5.5.1");
    c.cmd("DATA").await.expect("503 5.5.1");
    c.cmd(&format!("MAIL FROM:<{SENDER}>")).await.expect("250 ");
    c.cmd(&format!("RCPT TO:<{USER_B}>")).await.expect("250 ");
    data(&mut c, &message(SENDER, USER_B, "sau RSET", "x"))
        .await
        .expect("250 ");
    // Only the recipient of the second transaction got it.
    assert!(harness.inbox(harness.account_a).await.is_empty());
    assert_eq!(harness.inbox(harness.account_b).await.len(), 1);
}

/// RFC 5321 4.1.4: an EHLO later in the session resets the state "exactly as if a RSET
/// command had been issued".
#[tokio::test]
async fn ehlo_in_a_transaction_resets_it() {
    let (mut c, _harness) = mx().await;
    c.cmd(&format!("MAIL FROM:<{SENDER}>")).await.expect("250 ");
    c.cmd("EHLO client.example.org").await.expect("250 ");
    c.cmd(&format!("RCPT TO:<{USER_A}>"))
        .await
        .expect("503 5.5.1");
}

/// RFC 5321 4.1.1.9: NOOP does not affect anything entered before and is answered 250 (a
/// parameter is ignored). RFC 5321 3.5.3 / 7.3: a server that does not verify answers VRFY
/// 252 ("cannot VRFY user, but will accept message") or 502, never 250; VRFY changes nothing.
#[tokio::test]
async fn noop_and_vrfy_leave_the_transaction_alone() {
    let (mut c, harness) = mx().await;
    c.cmd("NOOP").await.expect("250 2.0.0");
    c.cmd(&format!("MAIL FROM:<{SENDER}>")).await.expect("250 ");
    c.cmd("NOOP anything").await.expect("250 2.0.0");
    let vrfy = c.cmd(&format!("VRFY {USER_A}")).await;
    assert!([252, 502].contains(&vrfy.code()), "{vrfy:?}");
    c.cmd(&format!("RCPT TO:<{USER_A}>")).await.expect("250 ");
    c.cmd("NOOP").await.expect("250 2.0.0");
    data(&mut c, &message(SENDER, USER_A, "NOOP", "x"))
        .await
        .expect("250 ");
    assert_eq!(harness.inbox(harness.account_a).await.len(), 1);
}

/// RFC 5321 4.2.4 / RFC 3463 3.6: an unrecognised command is 500 with X.5.2 (syntax error).
#[tokio::test]
async fn an_unknown_command_is_500_5_5_2() {
    let (mut c, _harness) = mx().await;
    c.cmd("FROBNICATE now").await.expect("500 5.5.2");
    c.cmd("NOOP").await.expect("250 ");
}

/// RFC 3030 2: each BDAT chunk is answered 250; BDAT LAST ends the message, which is the
/// chunks joined in order; a LAST chunk may be empty.
#[tokio::test]
async fn bdat_chunks_are_joined_until_last() {
    let (mut c, harness) = mx().await;
    let body = message(SENDER, USER_A, "BDAT", "ba phần");
    let (first, second) = body.as_bytes().split_at(body.len() / 2);
    c.cmd(&format!("MAIL FROM:<{SENDER}>")).await.expect("250 ");
    c.cmd(&format!("RCPT TO:<{USER_A}>")).await.expect("250 ");
    bdat(&mut c, first, false).await.expect("250 ");
    bdat(&mut c, second, false).await.expect("250 ");
    bdat(&mut c, b"", true).await.expect("250 ");
    let inbox = harness.inbox(harness.account_a).await;
    assert_eq!(inbox.len(), 1);
    assert!(
        inbox[0].ends_with(body.as_bytes()),
        "the chunks, joined in order"
    );
}

/// RFC 3030 2: "If a DATA statement is issued after a BDAT for the current transaction, a 503
/// 'Bad sequence of commands' MUST be issued", also after an empty chunk; RSET then clears
/// the transaction.
///
/// Before the receive state became an enum, DATA after an empty BDAT chunk was taken (354).
#[tokio::test]
async fn data_after_bdat_is_503_even_after_an_empty_chunk() {
    let (mut c, _harness) = mx().await;
    for chunk in [&b"Subject: x\r\n"[..], b""] {
        c.cmd(&format!("MAIL FROM:<{SENDER}>")).await.expect("250 ");
        c.cmd(&format!("RCPT TO:<{USER_A}>")).await.expect("250 ");
        bdat(&mut c, chunk, false).await.expect("250 ");
        c.cmd("DATA").await.expect("503 5.5.1");
        c.cmd("RSET").await.expect("250 ");
    }
}

/// RFC 3030 2: RSET after the first BDAT and before BDAT LAST "clears all segments sent
/// during that transaction": the next message holds none of them.
#[tokio::test]
async fn rset_discards_the_chunks_received() {
    let (mut c, harness) = mx().await;
    c.cmd(&format!("MAIL FROM:<{SENDER}>")).await.expect("250 ");
    c.cmd(&format!("RCPT TO:<{USER_A}>")).await.expect("250 ");
    bdat(&mut c, b"X-Stale: from the aborted transaction\r\n", false)
        .await
        .expect("250 ");
    c.cmd("RSET").await.expect("250 ");
    c.cmd(&format!("MAIL FROM:<{SENDER}>")).await.expect("250 ");
    c.cmd(&format!("RCPT TO:<{USER_A}>")).await.expect("250 ");
    let body = message(SENDER, USER_A, "sau RSET", "x");
    bdat(&mut c, body.as_bytes(), true).await.expect("250 ");
    let inbox = harness.inbox(harness.account_a).await;
    assert_eq!(inbox.len(), 1);
    assert!(!String::from_utf8_lossy(&inbox[0]).contains("X-Stale"));
}

/// RFC 3030 2: BDAT without a transaction is out of sequence (503); its chunk is still read
/// (it follows the command whatever the answer), so what comes after is a command again.
#[tokio::test]
async fn bdat_without_mail_is_503_and_its_chunk_is_not_a_command() {
    let (mut c, _harness) = mx().await;
    bdat(&mut c, b"QUIT\r\n", true).await.expect("503 5.5.1");
    c.cmd("NOOP").await.expect("250 ");
}

/// RFC 6152 3: MAIL may carry BODY=8BITMIME (or BODY=7BIT) once the server offers 8BITMIME,
/// and the 8-bit data is delivered as sent.
#[tokio::test]
async fn body_8bitmime_is_accepted_and_the_octets_kept() {
    let (mut c, harness) = mx().await;
    c.cmd(&format!("MAIL FROM:<{SENDER}> BODY=7BIT"))
        .await
        .expect("250 ");
    c.cmd("RSET").await.expect("250 ");
    c.cmd(&format!("MAIL FROM:<{SENDER}> BODY=8BITMIME"))
        .await
        .expect("250 ");
    c.cmd(&format!("RCPT TO:<{USER_A}>")).await.expect("250 ");
    let body = message(SENDER, USER_A, "Thư 8 bit", "Kính gửi: Sở Thông tin");
    data(&mut c, &body).await.expect("250 ");
    let inbox = harness.inbox(harness.account_a).await;
    assert!(inbox[0].ends_with(body.as_bytes()), "octets unchanged");
}

/// RFC 5321 4.1.1.11: a MAIL parameter the server does not recognise or cannot implement is
/// refused (555); RFC 3030 3: BODY=BINARYMIME only where BINARYMIME is offered, and it is not
/// here.
///
/// Before this test BODY=BINARYMIME was taken (250) and the body then read as text.
#[tokio::test]
async fn a_body_type_not_offered_is_refused() {
    let (mut c, _harness) = mx().await;
    for body in ["BINARYMIME", "FOO"] {
        let reply = c.cmd(&format!("MAIL FROM:<{SENDER}> BODY={body}")).await;
        assert!(
            reply.code() == 555 || reply.code() == 501,
            "BODY={body}: {reply:?}"
        );
    }
    // Nothing was opened.
    c.cmd(&format!("RCPT TO:<{USER_A}>"))
        .await
        .expect("503 5.5.1");
}

/// RFC 6531 3.4 / 3.7.4.1: a non-ASCII address needs the SMTPUTF8 parameter on MAIL, else
/// 553 with X.6.7; with it, the sender is taken.
#[tokio::test]
async fn non_ascii_addresses_need_smtputf8() {
    let (mut c, _harness) = mx().await;
    let sender = "nguyễn@example.org";
    c.cmd(&format!("MAIL FROM:<{sender}>"))
        .await
        .expect("553 5.6.7");
    c.cmd(&format!("MAIL FROM:<{SENDER}>")).await.expect("250 ");
    c.cmd("RCPT TO:<nguyễn@kontum.gov.vn>")
        .await
        .expect("553 5.6.7");
    c.cmd("RSET").await.expect("250 ");
    c.cmd(&format!("MAIL FROM:<{sender}> SMTPUTF8"))
        .await
        .expect("250 ");
}

/// RFC 5321 4.1.1.10: QUIT is answered 221, then the server closes the channel.
#[tokio::test]
async fn quit_is_221_then_the_channel_closes() {
    let (mut c, harness) = mx().await;
    c.cmd("QUIT").await.expect("221 ");
    assert!(c.closed().await.is_empty(), "nothing after 221");
    harness.session.await.unwrap().unwrap();
}

/// RFC 5321 3.8: a server shutting down answers 421 and closes the channel.
#[tokio::test]
async fn shutdown_is_421() {
    let (mut c, harness) = mx().await;
    harness.shut_down();
    let said = c.closed().await;
    assert_eq!(said.len(), 1, "{said:?}");
    assert!(said[0].starts_with("421 "), "{said:?}");
}
