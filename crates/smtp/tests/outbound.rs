//! Outbound delivery (issue 6), all on loopback: DNS answers come only from the test DNS
//! server, receivers are SMTP sinks run by the test on 127.0.0.x.
//!
//! PostgreSQL: the two-worker test also runs on a fresh database on `GOVMAIL_TEST_PG_URL`
//! (scripts/test starts one); without it the test fails unless `GOVMAIL_TEST_SKIP_PG=1`.

use crate::common;

use std::net::Ipv4Addr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::dns::TestDns;
use common::outbound_support::*;
use common::*;
use smtp::outbound::client::{dot_stuff, orcpt_address, xtext, Capabilities, Reply};
use smtp::outbound::forwarding::{check_forward, ForwardRefusal, ForwardingPolicy};
use smtp::outbound::{
    dkim, dsn, parse_duration, records, strip_return_path, DkimKeyConfig, OutboundSettings, Worker,
};
use storage::{
    Delivery, MessageMeta, OutboundEnvelope, OutboundRecipient, QueueEntry, Store, StoreOptions,
};

const LOOPBACK: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 1);

fn plain(user: &str, password: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(format!("\0{user}\0{password}"))
}

/// Submits `body` as USER_A with the given RCPT lines (parameters allowed).
async fn submit_lines(server: &TestServer, rcpt_lines: &[String], body: &str) {
    let mut c = Client::connect(server.submission).await;
    c.cmd("EHLO client.kontum.gov.vn", "250").await;
    c.cmd(&format!("AUTH PLAIN {}", plain(USER_A, PASSWORD_A)), "235")
        .await;
    c.cmd(&format!("MAIL FROM:<{USER_A}>"), "250").await;
    for line in rcpt_lines {
        c.cmd(line, "250").await;
    }
    c.cmd("DATA", "354").await;
    let mut data = String::new();
    for line in body.split("\r\n") {
        if line.starts_with('.') {
            data.push('.');
        }
        data.push_str(line);
        data.push_str("\r\n");
    }
    if body.ends_with("\r\n") {
        data.truncate(data.len() - 2);
    }
    data.push_str(".\r\n");
    c.send(data.as_bytes()).await;
    let reply = c.read_reply().await;
    assert!(reply.starts_with("250"), "{reply}");
    c.cmd("QUIT", "221").await;
}

async fn submit(server: &TestServer, rcpts: &[&str], body: &str) {
    let lines: Vec<String> = rcpts.iter().map(|r| format!("RCPT TO:<{r}>")).collect();
    submit_lines(server, &lines, body).await;
}

async fn submission_server() -> TestServer {
    start_with(|s| s.allow_plaintext_loopback = true, None).await
}

async fn entry_for(store: &Store, recipient: &str) -> QueueEntry {
    store
        .queue_entries()
        .await
        .unwrap()
        .into_iter()
        .find(|e| e.recipient == recipient)
        .unwrap_or_else(|| panic!("no queue entry for {recipient}"))
}

async fn wait_status(store: &Store, recipient: &str, status: &str, within: Duration) -> QueueEntry {
    let deadline = Instant::now() + within;
    loop {
        let entry = entry_for(store, recipient).await;
        if entry.status == status {
            return entry;
        }
        assert!(
            Instant::now() < deadline,
            "{recipient}: still {} after {within:?} (last error {:?})",
            entry.status,
            entry.last_error
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Header field names of a header block (continuation lines folded in).
fn field_names(block: &[u8]) -> Vec<String> {
    String::from_utf8_lossy(block)
        .split("\r\n")
        .filter(|l| !l.is_empty() && !l.starts_with([' ', '\t']))
        .map(|l| l.split(':').next().unwrap_or("").to_string())
        .collect()
}

async fn mail_auth_dkim(dns: &TestDns, raw: &[u8]) -> Vec<mail_auth::DkimResult> {
    use mail_auth::hickory_resolver::config::{NameServerConfig, ResolverConfig, ResolverOpts};
    let mut server = NameServerConfig::udp_and_tcp(dns.addr.ip());
    for connection in &mut server.connections {
        connection.port = dns.addr.port();
    }
    let authenticator = mail_auth::MessageAuthenticator::new(
        ResolverConfig::from_name_servers(vec![server]),
        ResolverOpts::default(),
    )
    .unwrap();
    let message = mail_auth::AuthenticatedMessage::parse(raw).expect("parses");
    authenticator
        .verify_dkim(&message)
        .await
        .iter()
        .map(|o| o.result().clone())
        .collect()
}

const DKIMPY: &str = r#"
import sys, logging, dkim
logging.basicConfig(level=logging.DEBUG, stream=sys.stderr)
record = sys.argv[1].encode()
def dnsfunc(name, timeout=5):
    return record
message = sys.stdin.buffer.read()
ok = dkim.verify(message, logger=logging.getLogger("dkimpy"), dnsfunc=dnsfunc)
print("dkimpy verify:", ok)
sys.exit(0 if ok else 1)
"#;

/// Reads a notice with Python's email package; prints one JSON object.
const PY_DSN: &str = r#"
import sys, json, email
m = email.message_from_bytes(sys.stdin.buffer.read())
assert m.get_content_type() == "multipart/report", m.get_content_type()
assert m.get_param("report-type") == "delivery-status", m.get_param("report-type")
parts = m.get_payload()
assert isinstance(parts, list) and len(parts) == 3, len(parts)
assert parts[0].get_content_type() == "text/plain"
assert parts[1].get_content_type() == "message/delivery-status", parts[1].get_content_type()
blocks = parts[1].get_payload()
assert blocks[0]["Reporting-MTA"].startswith("dns;"), blocks[0]["Reporting-MTA"]
defects = [str(d) for p in m.walk() for d in p.defects]
text = parts[0].get_payload(decode=True).decode("utf-8")
subject = str(email.header.make_header(email.header.decode_header(m["Subject"])))
print(json.dumps({
  "defects": defects,
  "text": text,
  "subject": subject,
  "auto_submitted": m["Auto-Submitted"],
  "third": parts[2].get_content_type(),
  "recipients": [{k: str(v) for k, v in b.items()} for b in blocks[1:]],
}))
"#;

fn parse_dsn(raw: &[u8]) -> serde_json::Value {
    let (ok, out) = python(PY_DSN, &[], raw);
    assert!(
        ok,
        "Python's email parser rejected the notice: {out}\n{}",
        String::from_utf8_lossy(raw)
    );
    let value: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(value["defects"], serde_json::json!([]), "{out}");
    assert_eq!(value["auto_submitted"], "auto-replied");
    value
}

fn worker(settings: OutboundSettings, store: &Store) -> smtp::outbound::WorkerHandle {
    Worker::new(settings, store.clone()).unwrap().spawn()
}

// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn submitted_mail_arrives_byte_identical_and_dkim_signed() {
    let dns = TestDns::start().await;
    let server = submission_server().await;
    let sink = Sink::start("127.0.0.1", 0).await;
    // The receiver offers STARTTLS with a self-signed certificate: encrypted anyway.
    sink.with(|s| s.tls = Some(tokio_rustls::TlsAcceptor::from(tls_config())));
    dns.mx("example.org", 10, "mx.example.org");
    dns.a("mx.example.org", LOOPBACK);
    let key = write_rsa_key(server.dir.path(), "dkim-kontum");
    let txt = dkim::dns_txt_for_file(&key).unwrap();
    assert!(txt.starts_with("v=DKIM1; k=rsa; p=MIIBIjAN"), "{txt}");
    dns.txt("gm2026._domainkey.kontum.gov.vn", &txt);
    let mut s = settings(&dns, sink.addr.port());
    s.dkim = vec![DkimKeyConfig {
        domain: DOMAIN.into(),
        selector: "gm2026".into(),
        private_key: key,
    }];
    // No polling to speak of: the submission path wakes the worker.
    s.poll_interval = Duration::from_secs(3600);
    let w = Worker::new(s, server.store.clone()).unwrap();
    let waker = w.waker();
    let w = w.spawn();

    let body = message(
        USER_A,
        "partner@example.org",
        "Công văn số 12/STTTT-VP",
        "Kính gửi Quý cơ quan.\r\n.Dòng bắt đầu bằng dấu chấm.\r\n\r\nTrân trọng.",
    );
    submit(&server, &["partner@example.org"], &body).await;
    waker.notify_one();
    let got = sink.wait_received(1, Duration::from_secs(10)).await;
    let m = &got[0];
    assert_eq!(m.mail_from, USER_A);
    assert_eq!(m.rcpts, ["partner@example.org"]);
    assert!(m.tls, "STARTTLS was offered, so it must be used");
    assert!(m.mail_line.contains("BODY=8BITMIME"), "{}", m.mail_line);

    // Byte-identical apart from the headers added in front: our Received and the signature.
    assert!(
        m.data.ends_with(body.as_bytes()),
        "the submitted bytes must arrive unchanged:\n{}",
        String::from_utf8_lossy(&m.data)
    );
    let added = &m.data[..m.data.len() - body.len()];
    assert_eq!(field_names(added), ["DKIM-Signature", "Received"]);
    assert!(!String::from_utf8_lossy(&m.data).contains("Return-Path"));

    // mail-auth verifies the signature...
    let results = mail_auth_dkim(&dns, &m.data).await;
    assert_eq!(
        results,
        [mail_auth::DkimResult::Pass],
        "mail-auth: {results:?}"
    );
    // ...and so does an independent verifier, dkimpy.
    let (ok, out) = python(DKIMPY, &[&txt], &m.data);
    assert!(ok, "dkimpy: {out}");
    // A changed body fails.
    let mut tampered = m.data.clone();
    let n = tampered.len();
    tampered[n - 5] ^= 0x01;
    let (ok, _) = python(DKIMPY, &[&txt], &tampered);
    assert!(!ok, "dkimpy must reject a modified message");

    let entry = wait_status(
        &server.store,
        "partner@example.org",
        "delivered",
        Duration::from_secs(10),
    )
    .await;
    assert_eq!(entry.attempts, 1);
    assert!(
        entry.remote_mta.starts_with("mx.example.org [127.0.0.1]"),
        "{}",
        entry.remote_mta
    );
    assert!(entry.lease_owner.is_none());
    assert!(entry.done_at.is_some());
    assert!(
        server.inbox(server.account_a).await.is_empty(),
        "no notice on success"
    );
    w.shutdown(Duration::from_secs(5)).await;
}

#[tokio::test]
async fn temporary_failures_are_retried_on_schedule_then_delivered() {
    let dns = TestDns::start().await;
    let server = submission_server().await;
    let sink = Sink::start("127.0.0.1", 0).await;
    sink.with(|s| {
        s.data_replies = [
            "451 4.3.0 Temporary local problem, try later".to_string(),
            "421 4.4.5 Too busy, try later".to_string(),
        ]
        .into()
    });
    dns.mx("example.org", 10, "mx.example.org");
    dns.a("mx.example.org", LOOPBACK);
    let mut s = settings(&dns, sink.addr.port());
    s.retry_schedule = vec![Duration::from_secs(2), Duration::from_secs(3)];
    let w = worker(s, &server.store);
    submit(
        &server,
        &["partner@example.org"],
        &message(USER_A, "partner@example.org", "Thử lại", "Nội dung"),
    )
    .await;
    let got = sink.wait_received(1, Duration::from_secs(40)).await;
    assert_eq!(got.len(), 1);
    let attempts = sink.with(|s| s.attempts.clone());
    assert_eq!(attempts.len(), 3, "delivered on the third try");
    assert!(attempts[0].1.as_deref().unwrap().starts_with("451"));
    assert!(attempts[1].1.as_deref().unwrap().starts_with("421"));
    assert!(attempts[2].1.as_deref().unwrap().starts_with("250"));
    // On schedule: 2 s after the first failure, 3 s after the second (whole seconds, so at
    // least one second less than that each).
    let gap1 = attempts[1].0 - attempts[0].0;
    let gap2 = attempts[2].0 - attempts[1].0;
    assert!(
        gap1 >= Duration::from_secs(1) && gap1 < Duration::from_secs(10),
        "{gap1:?}"
    );
    assert!(
        gap2 >= Duration::from_secs(2) && gap2 < Duration::from_secs(10),
        "{gap2:?}"
    );
    let entry = wait_status(
        &server.store,
        "partner@example.org",
        "delivered",
        Duration::from_secs(10),
    )
    .await;
    assert_eq!(entry.attempts, 3);
    assert!(
        server.inbox(server.account_a).await.is_empty(),
        "no notice: delivered in time"
    );
    w.shutdown(Duration::from_secs(5)).await;
}

/// Issue 17 item 9, RFC 3461 4.1/6.2 and RFC 3464 2.3.3: NOTIFY=SUCCESS asks for a notice on
/// success. Handed to a server without the DSN extension, we say so ourselves: Action
/// "relayed" (2.3.3: "relayed or gatewayed into an environment that does not accept
/// responsibility for generating DSNs upon successful delivery"), Status 2.x.x, into the
/// sender's INBOX. Handed to one that offers DSN, NOTIFY is passed on (RFC 3461 5.2.2) and
/// the notice is the next hop's: none from us. Without SUCCESS asked: no notice.
#[tokio::test]
async fn notify_success_on_outbound_delivery() {
    let dns = TestDns::start().await;
    let server = submission_server().await;
    let plain_sink = Sink::start("127.0.0.1", 0).await;
    dns.mx("example.org", 10, "mx.example.org");
    dns.a("mx.example.org", LOOPBACK);
    let w = worker(settings(&dns, plain_sink.addr.port()), &server.store);
    let body = message(USER_A, "partner@example.org", "Xin xác nhận", "x");
    submit_lines(
        &server,
        &[
            "RCPT TO:<partner@example.org> NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;partner@example.org"
                .to_string(),
            "RCPT TO:<other@example.org>".to_string(),
        ],
        &body,
    )
    .await;
    for rcpt in ["partner@example.org", "other@example.org"] {
        wait_status(&server.store, rcpt, "delivered", Duration::from_secs(10)).await;
    }
    let mut inbox = vec![];
    for _ in 0..100 {
        inbox = server.inbox(server.account_a).await;
        if !inbox.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(inbox.len(), 1, "one success notice");
    let dsn = parse_dsn(&inbox[0]);
    let recipients = dsn["recipients"].as_array().unwrap();
    assert_eq!(
        recipients.len(),
        1,
        "only the recipient that asked: {recipients:?}"
    );
    assert_eq!(
        recipients[0]["Final-Recipient"],
        "rfc822; partner@example.org"
    );
    assert_eq!(recipients[0]["Action"], "relayed");
    assert!(recipients[0]["Status"].as_str().unwrap().starts_with("2."));
    w.shutdown(Duration::from_secs(5)).await;

    // A next hop that offers DSN gets NOTIFY and sends the notice itself.
    let dsn_sink = Sink::start("127.0.0.1", 0).await;
    dsn_sink.with(|s| s.dsn = true);
    let w = worker(settings(&dns, dsn_sink.addr.port()), &server.store);
    let body = message(USER_A, "third@example.org", "Lần hai", "x");
    submit_lines(
        &server,
        &["RCPT TO:<third@example.org> NOTIFY=SUCCESS".to_string()],
        &body,
    )
    .await;
    let got = dsn_sink.wait_received(1, Duration::from_secs(10)).await;
    assert!(
        got[0].rcpt_lines[0].contains("NOTIFY=SUCCESS"),
        "{:?}",
        got[0].rcpt_lines
    );
    wait_status(
        &server.store,
        "third@example.org",
        "delivered",
        Duration::from_secs(10),
    )
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        server.inbox(server.account_a).await.len(),
        1,
        "no notice of ours"
    );
    w.shutdown(Duration::from_secs(5)).await;
}

/// Issue 17 item 9, RFC 3461 4.1 and RFC 3464 2.3.3: a message delivered here to a recipient
/// whose RCPT asked NOTIFY=SUCCESS gets a notice with Action "delivered" (2.3.3: "the message
/// was successfully delivered to the recipient address specified by the sender") and a 2.x.x
/// Status (RFC 3463 2.0.0), into the submitting sender's INBOX; the ORCPT is echoed as
/// Original-Recipient (RFC 3464 2.3.1). Recipients that asked FAILURE only, or nothing, get none.
#[tokio::test]
async fn notify_success_on_local_delivery() {
    let server = submission_server().await;
    let body = message(USER_A, USER_B, "Đề nghị xác nhận", "x");
    submit_lines(
        &server,
        &[
            format!("RCPT TO:<{USER_B}> NOTIFY=SUCCESS ORCPT=rfc822;{USER_B}"),
            format!("RCPT TO:<{GROUP}> NOTIFY=FAILURE"),
        ],
        &body,
    )
    .await;
    let inbox_a = server.inbox(server.account_a).await;
    // A is in the group, so one copy of the message plus the notice.
    assert_eq!(inbox_a.len(), 2, "the group copy and one notice");
    let notice = inbox_a
        .iter()
        .find(|m| String::from_utf8_lossy(m).contains("multipart/report"))
        .expect("a notice");
    let dsn = parse_dsn(notice);
    let recipients = dsn["recipients"].as_array().unwrap();
    assert_eq!(recipients.len(), 1, "{recipients:?}");
    let r = &recipients[0];
    assert_eq!(r["Final-Recipient"], format!("rfc822; {USER_B}"));
    assert_eq!(r["Original-Recipient"], format!("rfc822; {USER_B}"));
    assert_eq!(r["Action"], "delivered");
    assert_eq!(r["Status"], "2.0.0");
    assert!(
        dsn["subject"].as_str().unwrap().contains("Delivered"),
        "{dsn}"
    );
    assert_eq!(
        server.inbox(server.account_b).await.len(),
        1,
        "each account once"
    );
}

#[tokio::test]
async fn permanent_failure_yields_exactly_one_notice_in_the_senders_inbox() {
    let dns = TestDns::start().await;
    let server = submission_server().await;
    let sink = Sink::start("127.0.0.1", 0).await;
    sink.with(|s| {
        s.rcpt_replies.insert(
            "nobody@example.org".into(),
            "550 5.1.1 <nobody@example.org>: Recipient address rejected: no such user".into(),
        );
        s.rcpt_replies.insert(
            "quiet@example.org".into(),
            "550 5.1.1 <quiet@example.org>: no such user".into(),
        );
    });
    dns.mx("example.org", 10, "mx.example.org");
    dns.a("mx.example.org", LOOPBACK);
    let w = worker(settings(&dns, sink.addr.port()), &server.store);
    let body = message(
        USER_A,
        "nobody@example.org",
        "Báo cáo tháng 11",
        "Nội dung báo cáo",
    );
    submit_lines(
        &server,
        &[
            "RCPT TO:<nobody@example.org> ORCPT=rfc822;Nobody@Example.org".to_string(),
            "RCPT TO:<quiet@example.org> NOTIFY=NEVER".to_string(),
            "RCPT TO:<partner@example.org>".to_string(),
        ],
        &body,
    )
    .await;
    let nobody = wait_status(
        &server.store,
        "nobody@example.org",
        "failed",
        Duration::from_secs(30),
    )
    .await;
    assert_eq!(nobody.attempts, 1, "a 5xx is not retried");
    assert!(
        nobody.last_error.contains("550 5.1.1"),
        "{}",
        nobody.last_error
    );
    wait_status(
        &server.store,
        "quiet@example.org",
        "failed",
        Duration::from_secs(10),
    )
    .await;
    wait_status(
        &server.store,
        "partner@example.org",
        "delivered",
        Duration::from_secs(10),
    )
    .await;
    // One transaction for the three: the accepted recipient got the message.
    let got = sink.received();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].rcpts, ["partner@example.org"]);
    // Let the worker run a few more rounds: still exactly one notice.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let inbox = server.inbox(server.account_a).await;
    assert_eq!(inbox.len(), 1, "exactly one notice");
    let dsn = parse_dsn(&inbox[0]);
    let recipients = dsn["recipients"].as_array().unwrap();
    assert_eq!(
        recipients.len(),
        1,
        "NOTIFY=NEVER gets no notice: {recipients:?}"
    );
    let r = &recipients[0];
    assert_eq!(r["Final-Recipient"], "rfc822; nobody@example.org");
    assert_eq!(r["Original-Recipient"], "rfc822; Nobody@Example.org");
    assert_eq!(r["Action"], "failed");
    assert_eq!(r["Status"], "5.1.1");
    assert_eq!(r["Remote-MTA"], "dns; mx.example.org");
    assert!(
        r["Diagnostic-Code"]
            .as_str()
            .unwrap()
            .starts_with("smtp; 550 5.1.1"),
        "{r}"
    );
    assert_eq!(dsn["third"], "text/rfc822-headers");
    let text = dsn["text"].as_str().unwrap();
    assert!(
        text.contains("KHÔNG gửi được") && text.contains("could NOT be delivered"),
        "{text}"
    );
    assert!(text.contains("nobody@example.org") && !text.contains("quiet@example.org"));
    assert!(dsn["subject"]
        .as_str()
        .unwrap()
        .starts_with("Thư không gửi được / Undelivered Mail"));
    let events = server.store.events("queue.failed", 10).await.unwrap();
    assert_eq!(events.len(), 2);
    w.shutdown(Duration::from_secs(5)).await;
}

#[tokio::test]
async fn null_mx_and_missing_domains_fail_at_once_with_a_notice() {
    let dns = TestDns::start().await;
    let server = submission_server().await;
    let sink = Sink::start("127.0.0.1", 0).await;
    dns.mx("nullmx.example", 0, ""); // RFC 7505: "0 ."
    dns.a("nullmx.example", LOOPBACK); // must not be used as an implicit MX
    let w = worker(settings(&dns, sink.addr.port()), &server.store);
    submit(
        &server,
        &["someone@nullmx.example"],
        &message(USER_A, "someone@nullmx.example", "Null MX", "x"),
    )
    .await;
    let entry = wait_status(
        &server.store,
        "someone@nullmx.example",
        "failed",
        Duration::from_secs(20),
    )
    .await;
    assert_eq!(entry.attempts, 1);
    assert!(entry.last_error.contains("null MX"), "{}", entry.last_error);
    submit(
        &server,
        &["someone@no-such-domain.example"],
        &message(USER_A, "someone@no-such-domain.example", "NXDOMAIN", "x"),
    )
    .await;
    let entry = wait_status(
        &server.store,
        "someone@no-such-domain.example",
        "failed",
        Duration::from_secs(20),
    )
    .await;
    assert_eq!(entry.attempts, 1);
    assert_eq!(
        sink.with(|s| s.connections),
        0,
        "nothing may be sent anywhere"
    );
    let inbox = server.inbox(server.account_a).await;
    assert_eq!(inbox.len(), 2);
    let statuses: Vec<String> = inbox
        .iter()
        .map(|raw| {
            parse_dsn(raw)["recipients"][0]["Status"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    assert_eq!(statuses, ["5.1.10", "5.1.2"]);
    w.shutdown(Duration::from_secs(5)).await;
}

#[tokio::test]
async fn no_mx_uses_the_address_record_and_hosts_are_tried_in_preference_order() {
    let dns = TestDns::start().await;
    let server = submission_server().await;
    let sink = Sink::start("127.0.0.1", 0).await;
    dns.a("implicit.example", LOOPBACK); // no MX at all
                                         // The best MX (127.0.0.2) refuses connections; the second one works.
    dns.mx("pref.example", 20, "backup.pref.example");
    dns.mx("pref.example", 10, "primary.pref.example");
    dns.a("primary.pref.example", Ipv4Addr::new(127, 0, 0, 2));
    dns.a("backup.pref.example", LOOPBACK);
    let w = worker(settings(&dns, sink.addr.port()), &server.store);
    submit(
        &server,
        &["a@implicit.example", "b@pref.example"],
        &message(USER_A, "a@implicit.example", "Hai nơi nhận", "x"),
    )
    .await;
    let a = wait_status(
        &server.store,
        "a@implicit.example",
        "delivered",
        Duration::from_secs(30),
    )
    .await;
    assert!(
        a.remote_mta.starts_with("implicit.example [127.0.0.1]"),
        "{}",
        a.remote_mta
    );
    let b = wait_status(
        &server.store,
        "b@pref.example",
        "delivered",
        Duration::from_secs(30),
    )
    .await;
    assert!(
        b.remote_mta.starts_with("backup.pref.example [127.0.0.1]"),
        "{}",
        b.remote_mta
    );
    assert_eq!(
        sink.received().len(),
        2,
        "one transaction per destination domain"
    );
    w.shutdown(Duration::from_secs(5)).await;
}

#[tokio::test]
async fn a_worker_dying_mid_delivery_loses_nothing() {
    let dns = TestDns::start().await;
    let server = submission_server().await;
    let sink = Sink::start("127.0.0.1", 0).await;
    sink.with(|s| s.stall_data = true);
    dns.mx("example.org", 10, "mx.example.org");
    dns.a("mx.example.org", LOOPBACK);
    let mut s = settings(&dns, sink.addr.port());
    s.lease = Duration::from_secs(2);
    let first = Worker::new(s.clone(), server.store.clone()).unwrap();
    let first_owner = first.owner().to_string();
    let first = first.spawn();
    submit(
        &server,
        &["partner@example.org"],
        &message(USER_A, "partner@example.org", "Không được mất", "x"),
    )
    .await;
    // The whole message has been sent; the receiver has not answered yet.
    sink.wait_attempts(1, Duration::from_secs(20)).await;
    let entry = entry_for(&server.store, "partner@example.org").await;
    assert_eq!(entry.status, "pending");
    assert_eq!(entry.lease_owner.as_deref(), Some(first_owner.as_str()));
    // Crash: no cleanup, the lease stays until it expires.
    first.abort();
    let crashed_at = Instant::now();
    sink.with(|s| s.stall_data = false);
    let second = Worker::new(s, server.store.clone()).unwrap();
    assert_ne!(second.owner(), first_owner);
    let second = second.spawn();
    let got = sink.wait_received(1, Duration::from_secs(30)).await;
    assert_eq!(got.len(), 1);
    assert!(
        crashed_at.elapsed() >= Duration::from_millis(500),
        "taken over only after the lease expired"
    );
    let entry = wait_status(
        &server.store,
        "partner@example.org",
        "delivered",
        Duration::from_secs(10),
    )
    .await;
    assert!(entry.lease_owner.is_none());
    second.shutdown(Duration::from_secs(5)).await;
    assert!(server.inbox(server.account_a).await.is_empty());
}

/// Queues `n` messages with two recipients each, straight into storage.
async fn enqueue_many(store: &Store, n: usize) -> Vec<String> {
    let mut recipients = vec![];
    for i in 0..n {
        let raw = format!(
            "From: <sender@kontum.gov.vn>\r\nTo: <r{i}@example.org>\r\nSubject: Thư số {i}\r\nMessage-ID: <m{i}.{}@test>\r\n\r\nNội dung {i}\r\n",
            storage::now()
        )
        .into_bytes();
        let rcpts = vec![format!("r{i}@example.org"), format!("s{i}@example.net")];
        recipients.extend(rcpts.iter().cloned());
        store
            .deliver(Delivery {
                meta: Arc::new(MessageMeta::compute(&raw)),
                raw: Arc::new(raw),
                targets: vec![],
                outbound: Some(OutboundEnvelope {
                    sender: "sender@kontum.gov.vn".into(),
                    recipients: rcpts.into_iter().map(OutboundRecipient::new).collect(),
                    ..Default::default()
                }),
                internal_date: storage::now(),
                events: vec![],
            })
            .await
            .unwrap();
    }
    recipients
}

async fn two_workers_on(url: &str, data_dir: &std::path::Path) {
    let dns = TestDns::start().await;
    let sink = Sink::start("127.0.0.1", 0).await;
    sink.with(|s| s.data_delay = Duration::from_millis(50));
    dns.mx("example.org", 10, "mx.example.org");
    dns.mx("example.net", 10, "mx.example.net");
    dns.a("mx.example.org", LOOPBACK);
    dns.a("mx.example.net", LOOPBACK);
    // Two handles on one database, like two nodes.
    let store1 = Store::open(&StoreOptions::new(url, data_dir))
        .await
        .unwrap();
    let store2 = Store::open(&StoreOptions::new(url, data_dir))
        .await
        .unwrap();
    let recipients = enqueue_many(&store1, 30).await;
    let mut s = settings(&dns, sink.addr.port());
    s.concurrency = 6;
    s.concurrency_per_domain = 3;
    s.poll_interval = Duration::from_millis(20);
    let mut s2 = s.clone();
    s2.hostname = "node2.kontum.gov.vn".into();
    s.hostname = "node1.kontum.gov.vn".into();
    let w1 = worker(s, &store1);
    let w2 = worker(s2, &store2);
    eventually(Duration::from_secs(120), "queue drained", || {
        let store = store1.clone();
        async move { store.queue_pending_count().await.unwrap() == 0 }
    })
    .await;
    w1.shutdown(Duration::from_secs(5)).await;
    w2.shutdown(Duration::from_secs(5)).await;
    let received = sink.received();
    let mut seen: Vec<String> = received.iter().flat_map(|m| m.rcpts.clone()).collect();
    seen.sort();
    let mut expected = recipients.clone();
    expected.sort();
    assert_eq!(seen, expected, "every recipient exactly once");
    let by_node = |node: &str| received.iter().filter(|m| m.helo == node).count();
    let (n1, n2) = (
        by_node("node1.kontum.gov.vn"),
        by_node("node2.kontum.gov.vn"),
    );
    assert!(
        n1 > 0 && n2 > 0,
        "both workers took part ({n1} and {n2} transactions)"
    );
    assert!(
        sink.with(|s| s.overlap.clone()).is_empty(),
        "two deliveries of one entry at once"
    );
    for entry in store1.queue_entries().await.unwrap() {
        assert_eq!(entry.status, "delivered", "{entry:?}");
        assert_eq!(entry.attempts, 1, "{entry:?}");
    }
    store1.close().await;
    store2.close().await;
}

#[tokio::test]
async fn deliveries_per_destination_domain_are_limited() {
    let dns = TestDns::start().await;
    let sink = Sink::start("127.0.0.1", 0).await;
    sink.with(|s| s.data_delay = Duration::from_millis(300));
    dns.mx("example.org", 10, "mx.example.org");
    dns.a("mx.example.org", LOOPBACK);
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&StoreOptions::new(
        format!("sqlite://{}", dir.path().join("q.db").display()),
        dir.path(),
    ))
    .await
    .unwrap();
    for i in 0..8 {
        let raw = format!("From: <a@kontum.gov.vn>\r\nSubject: {i}\r\n\r\nx\r\n").into_bytes();
        store
            .deliver(Delivery {
                meta: Arc::new(MessageMeta::compute(&raw)),
                raw: Arc::new(raw),
                targets: vec![],
                outbound: Some(OutboundEnvelope {
                    sender: "a@kontum.gov.vn".into(),
                    recipients: vec![OutboundRecipient::new(format!("r{i}@example.org"))],
                    ..Default::default()
                }),
                internal_date: storage::now(),
                events: vec![],
            })
            .await
            .unwrap();
    }
    let mut s = settings(&dns, sink.addr.port());
    s.concurrency = 8;
    s.concurrency_per_domain = 2;
    let w = worker(s, &store);
    eventually(Duration::from_secs(60), "queue drained", || {
        let store = store.clone();
        async move { store.queue_pending_count().await.unwrap() == 0 }
    })
    .await;
    w.shutdown(Duration::from_secs(5)).await;
    assert_eq!(sink.received().len(), 8);
    assert_eq!(
        sink.with(|s| s.max_active_tx),
        2,
        "at most 2 at once to one domain, and 2 in parallel"
    );
}

#[tokio::test]
async fn two_workers_on_one_sqlite_file_never_deliver_an_entry_twice() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("shared.db").display());
    two_workers_on(&url, dir.path()).await;
}

/// `base` with its database name replaced by `db`.
fn with_database(base: &str, db: &str) -> String {
    let (main, query) = match base.split_once('?') {
        Some((m, q)) => (m, Some(q)),
        None => (base, None),
    };
    let scheme_end = main
        .find("://")
        .map(|i| i + 3)
        .expect("postgres URL has ://");
    let prefix = match main[scheme_end..].find('/') {
        Some(slash) => &main[..scheme_end + slash],
        None => main,
    };
    match query {
        Some(q) => format!("{prefix}/{db}?{q}"),
        None => format!("{prefix}/{db}"),
    }
}

fn psql(base: &str, sql: &str) -> Result<(), String> {
    let out = std::process::Command::new("psql")
        .args([base, "-v", "ON_ERROR_STOP=1", "-q", "-c", sql])
        .output()
        .map_err(|e| format!("running psql: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}

#[tokio::test]
async fn two_workers_on_one_postgresql_database_never_deliver_an_entry_twice() {
    let base = match std::env::var("GOVMAIL_TEST_PG_URL") {
        Ok(url) if !url.trim().is_empty() => url.trim().to_string(),
        _ if std::env::var("GOVMAIL_TEST_SKIP_PG").as_deref() == Ok("1") => {
            eprintln!("GOVMAIL_TEST_SKIP_PG=1: PostgreSQL two-worker test NOT run");
            return;
        }
        _ => panic!(
            "GOVMAIL_TEST_PG_URL is not set: run the tests with scripts/test (it starts a private \
             PostgreSQL), or export GOVMAIL_TEST_PG_URL=postgres://..., or set \
             GOVMAIL_TEST_SKIP_PG=1 to skip the PostgreSQL half"
        ),
    };
    let name = format!(
        "gm_outbound_{}_{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .subsec_nanos()
    );
    psql(&base, &format!("CREATE DATABASE \"{name}\""))
        .unwrap_or_else(|e| panic!("CREATE DATABASE on GOVMAIL_TEST_PG_URL: {e}"));
    let dir = tempfile::tempdir().unwrap();
    two_workers_on(&with_database(&base, &name), dir.path()).await;
    let _ = psql(
        &base,
        &format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"),
    );
}

#[tokio::test]
async fn tls_required_domains_get_mail_only_over_verified_tls() {
    let dns = TestDns::start().await;
    let server = submission_server().await;
    let sink = Sink::start("127.0.0.1", 0).await;
    let (ca_pem, server_tls) = ca_and_server(&["mx.secure.example"]);
    let ca_file = server.dir.path().join("ca.pem");
    std::fs::write(&ca_file, ca_pem).unwrap();
    for domain in ["secure.example", "wrongname.example", "relaxed.example"] {
        dns.mx(domain, 10, &format!("mx.{domain}"));
        dns.a(&format!("mx.{domain}"), LOOPBACK);
    }
    let mut s = settings(&dns, sink.addr.port());
    s.tls_ca_file = Some(ca_file);
    s.tls_required_domains = vec!["secure.example".into(), "WrongName.example".into()];
    let w = worker(s, &server.store);

    // 1. The receiver offers no STARTTLS: mail for a "required" domain waits.
    submit(
        &server,
        &["a@secure.example"],
        &message(USER_A, "a@secure.example", "Bảo mật", "x"),
    )
    .await;
    eventually(Duration::from_secs(20), "a deferred attempt", || {
        let store = server.store.clone();
        async move { entry_for(&store, "a@secure.example").await.attempts >= 1 }
    })
    .await;
    let entry = entry_for(&server.store, "a@secure.example").await;
    assert_eq!(entry.status, "pending");
    assert!(
        entry.last_error.contains("TLS required"),
        "{}",
        entry.last_error
    );
    assert!(sink.received().is_empty());

    // 2. STARTTLS with a certificate that verifies: delivered over TLS.
    sink.with(|s| s.tls = Some(tokio_rustls::TlsAcceptor::from(server_tls)));
    wait_status(
        &server.store,
        "a@secure.example",
        "delivered",
        Duration::from_secs(20),
    )
    .await;
    assert!(sink.received()[0].tls);

    // 3. The same certificate for another name: refused where TLS is required, used anyway
    //    (and logged) where it is opportunistic.
    submit(
        &server,
        &["b@wrongname.example", "c@relaxed.example"],
        &message(USER_A, "b@wrongname.example", "Tên sai", "x"),
    )
    .await;
    let c = wait_status(
        &server.store,
        "c@relaxed.example",
        "delivered",
        Duration::from_secs(20),
    )
    .await;
    assert_eq!(c.attempts, 1);
    eventually(Duration::from_secs(20), "a deferred attempt", || {
        let store = server.store.clone();
        async move { entry_for(&store, "b@wrongname.example").await.attempts >= 1 }
    })
    .await;
    let b = entry_for(&server.store, "b@wrongname.example").await;
    assert_eq!(b.status, "pending");
    assert!(b.last_error.contains("TLS"), "{}", b.last_error);
    let received = sink.received();
    assert_eq!(received.len(), 2);
    assert!(received.iter().all(|m| m.tls));
    assert!(received
        .iter()
        .all(|m| !m.rcpts.contains(&"b@wrongname.example".to_string())));
    w.shutdown(Duration::from_secs(5)).await;
}

#[tokio::test]
async fn delay_notice_once_then_expiry_notice() {
    let dns = TestDns::start().await;
    let server = submission_server().await;
    let sink = Sink::start("127.0.0.1", 0).await;
    sink.with(|s| {
        s.rcpt_replies.insert(
            "busy@example.org".into(),
            "452 4.2.2 Mailbox full, try later".into(),
        );
    });
    dns.mx("example.org", 10, "mx.example.org");
    dns.a("mx.example.org", LOOPBACK);
    let mut s = settings(&dns, sink.addr.port());
    s.delay_notify_after = Duration::from_secs(1);
    s.max_age = Duration::from_secs(5);
    let w = worker(s, &server.store);
    submit(
        &server,
        &["busy@example.org"],
        &message(USER_A, "busy@example.org", "Hộp thư đầy", "x"),
    )
    .await;
    let entry = wait_status(
        &server.store,
        "busy@example.org",
        "failed",
        Duration::from_secs(30),
    )
    .await;
    assert!(entry.attempts >= 3, "{entry:?}");
    assert!(entry.delay_notified);
    assert!(entry.last_error.contains("expired"), "{}", entry.last_error);
    tokio::time::sleep(Duration::from_millis(500)).await;
    let inbox = server.inbox(server.account_a).await;
    assert_eq!(inbox.len(), 2, "one delay notice, one failure notice");
    let delayed = parse_dsn(&inbox[0]);
    assert_eq!(delayed["recipients"][0]["Action"], "delayed");
    assert_eq!(delayed["recipients"][0]["Status"], "4.2.2");
    assert!(delayed["recipients"][0]["Will-Retry-Until"].is_string());
    assert!(delayed["text"]
        .as_str()
        .unwrap()
        .contains("KHÔNG cần gửi lại"));
    let failed = parse_dsn(&inbox[1]);
    assert_eq!(failed["recipients"][0]["Action"], "failed");
    assert_eq!(failed["recipients"][0]["Status"], "5.4.7");
    w.shutdown(Duration::from_secs(5)).await;
}

#[tokio::test]
async fn queue_retry_and_delete() {
    let dns = TestDns::start().await;
    let server = submission_server().await;
    let sink = Sink::start("127.0.0.1", 0).await;
    sink.with(|s| {
        for (addr, reply) in [
            ("nobody@example.org", "550 5.1.1 no such user"),
            ("gone@example.org", "550 5.1.1 no such user"),
            ("later@example.org", "451 4.3.0 later"),
        ] {
            s.rcpt_replies.insert(addr.into(), reply.into());
        }
    });
    dns.mx("example.org", 10, "mx.example.org");
    dns.a("mx.example.org", LOOPBACK);
    let w = worker(settings(&dns, sink.addr.port()), &server.store);
    let store = &server.store;

    // A failed entry retried (after the address was fixed on the other side) is delivered.
    submit(
        &server,
        &["nobody@example.org"],
        &message(USER_A, "nobody@example.org", "1", "x"),
    )
    .await;
    let failed = wait_status(
        store,
        "nobody@example.org",
        "failed",
        Duration::from_secs(20),
    )
    .await;
    sink.with(|s| s.rcpt_replies.remove("nobody@example.org"));
    let retried = store.queue_retry(failed.id).await.unwrap();
    assert_eq!((retried.status.as_str(), retried.attempts), ("pending", 0));
    assert!(retried.done_at.is_none());
    let delivered = wait_status(
        store,
        "nobody@example.org",
        "delivered",
        Duration::from_secs(20),
    )
    .await;
    assert!(
        store.queue_retry(delivered.id).await.is_err(),
        "never sent twice"
    );

    // A finished message keeps its body (retry stays possible) until it is purged.
    submit(
        &server,
        &["gone@example.org"],
        &message(USER_A, "gone@example.org", "2", "x"),
    )
    .await;
    let gone = wait_status(store, "gone@example.org", "failed", Duration::from_secs(20)).await;
    assert!(gone.done_at.is_some());
    store.gc_blobs(0).await.unwrap();
    assert!(
        store.read_blob(&gone.blob_id).await.is_ok(),
        "still held by the queue"
    );
    assert!(store.queue_purge(storage::now() + 1).await.unwrap() >= 2);
    assert!(matches!(
        store.queue_entry(gone.id).await,
        Err(storage::Error::NotFound(_))
    ));
    assert!(store.queue_retry(gone.id).await.is_err());
    assert!(store.gc_blobs(0).await.unwrap() >= 1);
    assert!(
        store.read_blob(&gone.blob_id).await.is_err(),
        "purged: the body is collectable"
    );

    // A pending entry deleted: gone from the queue, its body collectable.
    submit(
        &server,
        &["later@example.org"],
        &message(USER_A, "later@example.org", "3", "x"),
    )
    .await;
    eventually(Duration::from_secs(20), "an attempt", || async {
        entry_for(store, "later@example.org").await.attempts >= 1
    })
    .await;
    let later = entry_for(store, "later@example.org").await;
    store.queue_delete(later.id).await.unwrap();
    assert!(matches!(
        store.queue_entry(later.id).await,
        Err(storage::Error::NotFound(_))
    ));
    assert!(store.queue_delete(later.id).await.is_err());
    assert!(store.read_blob(&later.blob_id).await.is_ok());
    store.gc_blobs(0).await.unwrap();
    assert!(
        store.read_blob(&later.blob_id).await.is_err(),
        "the queue's reference was released"
    );
    // Listing by status.
    sink.with(|s| {
        s.rcpt_replies
            .insert("nobody2@example.org".into(), "550 5.1.1 no".into())
    });
    submit(
        &server,
        &["nobody2@example.org"],
        &message(USER_A, "nobody2@example.org", "4", "x"),
    )
    .await;
    wait_status(
        store,
        "nobody2@example.org",
        "failed",
        Duration::from_secs(20),
    )
    .await;
    let failed_list = store.queue_list(Some("failed"), 10).await.unwrap();
    assert_eq!(failed_list.len(), 1);
    assert_eq!(failed_list[0].recipient, "nobody2@example.org");
    assert!(store
        .queue_list(Some("pending"), 10)
        .await
        .unwrap()
        .is_empty());
    w.shutdown(Duration::from_secs(5)).await;
}

#[tokio::test]
async fn unauthenticated_relay_stays_impossible() {
    let server = submission_server().await;
    let mut c = Client::connect(server.mx).await;
    c.cmd("EHLO attacker.example", "250").await;
    c.cmd("MAIL FROM:<spammer@attacker.example>", "250").await;
    c.cmd("RCPT TO:<victim@example.org>", "550").await;
    let mut c = Client::connect(server.submission).await;
    c.cmd("EHLO attacker.example", "250").await;
    c.cmd("MAIL FROM:<spammer@attacker.example>", "530").await;
    assert!(server.store.queue_entries().await.unwrap().is_empty());
}

#[test]
fn forwarding_policy_keeps_work_mail_on_the_province_system() {
    let default = ForwardingPolicy::default();
    // Off by default for anything outside.
    assert_eq!(
        check_forward(&default, "partner@mic.gov.vn", false),
        Err(ForwardRefusal::Disabled)
    );
    // Inside the hosted domains: always.
    assert_eq!(
        check_forward(&default, "ttbinh.stttt@kontum.gov.vn", true),
        Ok(())
    );
    // Public webmail: never, whatever else is configured.
    for target in [
        "me@gmail.com",
        "Me@Yahoo.com.vn",
        "x@hotmail.com",
        "x@outlook.com",
        "x@mail.yahoo.com",
    ] {
        assert!(
            matches!(
                check_forward(&default, target, false),
                Err(ForwardRefusal::PublicWebmail(_))
            ),
            "{target}"
        );
    }
    let policy = ForwardingPolicy {
        enabled: true,
        allowed_domains: vec!["mic.gov.vn".into(), "gmail.com".into()],
        ..ForwardingPolicy::default()
    };
    assert_eq!(check_forward(&policy, "vanthu@mic.gov.vn", false), Ok(()));
    assert_eq!(
        check_forward(&policy, "vanthu@cds.mic.gov.vn", false),
        Ok(()),
        "subdomain"
    );
    assert!(matches!(
        check_forward(&policy, "a@evilmic.gov.vn", false),
        Err(ForwardRefusal::NotAllowed(_))
    ));
    assert!(matches!(
        check_forward(&policy, "a@gmail.com", false),
        Err(ForwardRefusal::PublicWebmail(_))
    ));
    assert!(matches!(
        check_forward(&policy, "not-an-address", false),
        Err(ForwardRefusal::BadAddress(_))
    ));
    // The configurable list: an operator may add providers.
    let mut custom = policy.clone();
    custom.public_webmail_domains.push("mail.example.vn".into());
    custom.allowed_domains.push("example.vn".into());
    assert!(matches!(
        check_forward(&custom, "a@mail.example.vn", false),
        Err(ForwardRefusal::PublicWebmail(_))
    ));
    assert_eq!(check_forward(&custom, "a@example.vn", false), Ok(()));
    // Configuration check catches webmail on the allow-list.
    let err = smtp::outbound::forwarding::validate(&policy).unwrap_err();
    assert!(err.contains("gmail.com"), "{err}");
    assert!(smtp::outbound::forwarding::validate(&ForwardingPolicy::default()).is_ok());
}

#[test]
fn dns_records_to_publish() {
    let dir = tempfile::tempdir().unwrap();
    let key = write_rsa_key(dir.path(), "k");
    let txt = dkim::dns_txt_for_file(&key).unwrap();
    let mut input = records::RecordsInput::new("Kontum.gov.vn.", "mail.kontum.gov.vn");
    input.dkim = Some(("gm2026".into(), txt.clone()));
    let list = records::records(&input);
    let zone = records::zone_text(&list);
    for expected in [
        "kontum.gov.vn.",
        "IN MX    10 mail.kontum.gov.vn.",
        "\"v=spf1 mx a:mail.kontum.gov.vn -all\"",
        "gm2026._domainkey.kontum.gov.vn.",
        "_dmarc.kontum.gov.vn.",
        "\"v=DMARC1; p=quarantine; rua=mailto:dmarc@kontum.gov.vn; adkim=r; aspf=r\"",
        "_submissions._tcp.kontum.gov.vn.",
        "IN SRV   0 1 465 mail.kontum.gov.vn.",
        "IN SRV   0 1 993 mail.kontum.gov.vn.",
        "_pop3._tcp.kontum.gov.vn.",
        "autoconfig.kontum.gov.vn.",
    ] {
        assert!(zone.contains(expected), "{expected:?} missing in\n{zone}");
    }
    // The DKIM key (~400 characters) is split into strings of at most 255.
    let dkim_line = zone.lines().find(|l| l.contains("_domainkey")).unwrap();
    assert!(dkim_line.contains("( \"v=DKIM1; k=rsa; p="), "{dkim_line}");
    let joined: String = dkim_line.split('"').skip(1).step_by(2).collect();
    assert_eq!(joined, txt);
    // Ed25519 keys are accepted too.
    let ed = rcgen::KeyPair::generate_for(&rcgen::PKCS_ED25519).unwrap();
    let path = dir.path().join("ed.pem");
    std::fs::write(&path, ed.serialize_pem()).unwrap();
    let ed_txt = dkim::dns_txt_for_file(&path).unwrap();
    assert!(ed_txt.starts_with("v=DKIM1; k=ed25519; p="), "{ed_txt}");
    assert!(dkim::dns_txt_for_file(&dir.path().join("missing.pem")).is_err());
}

#[test]
fn helpers() {
    assert_eq!(parse_duration("90").unwrap(), Duration::from_secs(90));
    assert_eq!(parse_duration("5m").unwrap(), Duration::from_secs(300));
    assert_eq!(parse_duration("4h").unwrap(), Duration::from_secs(14400));
    assert_eq!(parse_duration("5d").unwrap(), Duration::from_secs(432000));
    assert!(parse_duration("5 weeks").is_err());
    assert!(parse_duration("m").is_err());
    let s = OutboundSettings::new("mx.test");
    let schedule: Vec<u64> = (1..=8).map(|n| s.retry_delay(n).as_secs()).collect();
    assert_eq!(schedule, [300, 900, 1800, 3600, 7200, 14400, 14400, 14400]);
    assert!(!s.tls_required("example.org"));

    let raw = b"Return-Path: <a@b.vn>\r\nReceived: from x\r\n\tby y\r\nSubject: Return-Path: no\r\n\r\nReturn-Path: body\r\n";
    assert_eq!(
        strip_return_path(raw),
        b"Received: from x\r\n\tby y\r\nSubject: Return-Path: no\r\n\r\nReturn-Path: body\r\n"
    );

    assert_eq!(dot_stuff(b"a\r\n.b\r\n..\r\n"), b"a\r\n..b\r\n...\r\n.\r\n");
    assert_eq!(dot_stuff(b".x"), b"..x\r\n.\r\n");
    assert_eq!(xtext("hi there+=é"), "hi+20there+2B+3D+C3+A9");
    assert_eq!(orcpt_address("rfc822;Bob@Example.COM"), "Bob@Example.COM");
    assert_eq!(orcpt_address("bob@example.com"), "bob@example.com");

    let r = Reply {
        code: 550,
        lines: vec!["5.1.1 No such user".into(), "see https://x".into()],
    };
    assert_eq!(r.status(), "5.1.1");
    assert_eq!(r.text(), "550 5.1.1 No such user see https://x");
    let r = Reply {
        code: 451,
        lines: vec!["5.1.1 mismatched class".into()],
    };
    assert_eq!(r.status(), "4.0.0");
    let caps = Capabilities::parse(&Reply {
        code: 250,
        lines: vec![
            "mx.example.org hello".into(),
            "PIPELINING".into(),
            "SIZE 1000".into(),
            "STARTTLS".into(),
            "8BITMIME".into(),
            "DSN".into(),
        ],
    });
    assert!(caps.pipelining && caps.starttls && caps.eightbitmime && caps.dsn && !caps.smtputf8);
    assert_eq!(caps.size, Some(1000));

    let words =
        dsn::encode_header_words("Thư không gửi được / Undelivered Mail Returned to Sender");
    for word in words.split("\r\n ") {
        assert!(
            word.starts_with("=?UTF-8?B?") && word.ends_with("?="),
            "{word}"
        );
        assert!(word.len() <= 75, "{word}");
    }
    assert_eq!(dsn::encode_header_words("plain"), "plain");
}
