//! The real `govmail serve`, driven by real mail clients over loopback:
//!
//! - python3 `smtplib`: STARTTLS + AUTH on submission with an RFC 2047 (Vietnamese) subject to a
//!   local and an external recipient; implicit TLS (submissions) with AUTH LOGIN; AUTH refused in
//!   cleartext.
//! - `swaks`: plain MX delivery, submission with STARTTLS + AUTH PLAIN, EICAR refused.
//! - durability: 200 deliveries from 20 concurrent clients, SIGKILL mid-way, restart; every
//!   acknowledged message is stored exactly once, UIDs stay strictly ascending.
//!
//! Each test sets up its own data dir with the CLI (`domain add`, `unit add`, `user add`), then
//! runs `govmail serve` on free loopback ports and checks the result in storage.
//!
//! Needs `GOVMAIL_TEST_CLAMD` (a private clamd): run the tests with `scripts/test`.

use crate::served;
use crate::support;

use served::Served;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use support::{clamd_url, Install};

use sqlx::Connection;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt};

const HOSTNAME: &str = "mail.kontum.gov.vn";
const DOMAIN: &str = "kontum.gov.vn";
const UNIT_NAME: &str = "Sở Thông tin và Truyền thông";
const USER_A: &str = "nvan.stttt@kontum.gov.vn";
const NAME_A: &str = "Nguyễn Văn An";
/// ASCII: python's smtplib encodes credentials as ASCII.
const PASSWORD_A: &str = "mat-khau-An-2024";
const USER_B: &str = "ttbinh.stttt@kontum.gov.vn";
const NAME_B: &str = "Trần Thị Bình";
/// UTF-8, used with swaks (AUTH PLAIN carries UTF-8, RFC 4616).
const PASSWORD_B: &str = "Mật-khẩu-Bình-2024";
const EXTERNAL: &str = "van.thu@partner.example.org";
const EICAR: &str = r"X5O!P%@AP[4\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*";

// ------------------------------------------------------------------ installation and server

impl Install {
    /// Domain, unit STTTT, users A and B with known passwords.
    fn users_a_b() -> Install {
        Install::with_people(
            DOMAIN,
            UNIT_NAME,
            &[(NAME_A, USER_A, PASSWORD_A), (NAME_B, USER_B, PASSWORD_B)],
        )
    }
}

/// A running `govmail serve`; killed (SIGKILL) when dropped.
struct Server {
    served: Served,
    mx: SocketAddr,
    submission: SocketAddr,
    submissions: SocketAddr,
}

impl Server {
    /// Starts the server on free ports and waits for "govmail serving". Retries with other ports
    /// if one was taken between picking and binding.
    fn start(install: &Install) -> Server {
        let (served, addrs) = install.serve_on(
            &["smtp", "submission", "submissions", "http"],
            &[
                format!("server.hostname={HOSTNAME}"),
                format!("antivirus.clamd=\"{}\"", clamd_url()),
                "smtp.idle_timeout_secs=60".to_string(),
            ],
        );
        Server {
            mx: addrs[0],
            submission: addrs[1],
            submissions: addrs[2],
            served,
        }
    }

    /// SIGKILL, no chance to clean up.
    fn kill(&mut self) {
        self.served.kill();
    }

    fn log(&self) -> String {
        self.served.log()
    }
}

// ------------------------------------------------------------------ storage checks

/// (uid, raw bytes) of every message in an account's INBOX, in UID order.
async fn inbox(store: &storage::Store, address: &str) -> Vec<(i64, Vec<u8>)> {
    let person = store.person(address).await.unwrap();
    let folder = store.folder(person.account_id, "INBOX").await.unwrap();
    let mut out = vec![];
    for row in store.messages(folder.id).await.unwrap() {
        let bytes = store
            .read_blob(&row.blob_id)
            .await
            .unwrap_or_else(|e| panic!("blob {} of uid {}: {e}", row.blob_id, row.uid));
        assert_eq!(bytes.len() as i64, row.size, "uid {}: size column", row.uid);
        out.push((row.uid, bytes));
    }
    out
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

fn show(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

// ------------------------------------------------------------------ external clients

fn run_output(cmd: &mut Command) -> Output {
    cmd.stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("running {cmd:?}: {e}"))
}

fn output_text(out: &Output) -> String {
    format!(
        "status: {}\nstdout:\n{}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Runs a python3 script (text) with arguments.
fn python(install: &Install, name: &str, script: &str, args: &[String]) -> Output {
    let path = install.scratch(name);
    std::fs::write(&path, script).unwrap();
    run_output(Command::new("python3").arg(&path).args(args))
}

fn swaks(args: &[&str]) -> Output {
    run_output(Command::new("swaks").args(args))
}

// ------------------------------------------------------------------ 1. smtplib + STARTTLS

const PY_STARTTLS_SUBMIT: &str = r#"
import smtplib, ssl, sys
from email import policy
from email.message import EmailMessage
from email.utils import formatdate, make_msgid

host, port, user, password, to_local, to_ext, out_path = sys.argv[1:8]

msg = EmailMessage(policy=policy.SMTP)
msg["From"] = "Nguyễn Văn An <%s>" % user
msg["To"] = "%s, %s" % (to_local, to_ext)
msg["Subject"] = "Báo cáo tình hình ứng dụng CNTT quý III — Sở Thông tin và Truyền thông"
msg["Date"] = formatdate(localtime=True)
msg["Message-ID"] = make_msgid(domain="kontum.gov.vn")
msg.set_content(
    "Kính gửi chị Bình,\n\n.dòng bắt đầu bằng dấu chấm\nTrân trọng.\n", cte="8bit"
)
data = msg.as_bytes()
if b"=?utf-8?" not in data.lower():
    sys.exit("subject not RFC 2047 encoded:\n%r" % data)
if b"\n" in data.replace(b"\r\n", b""):
    sys.exit("bare LF in %r" % data)
with open(out_path, "wb") as f:
    f.write(data)

ctx = ssl.create_default_context()
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE
with smtplib.SMTP(host, int(port), timeout=30) as s:
    s.ehlo("pc01.stttt.kontum.gov.vn")
    if not s.has_extn("starttls"):
        sys.exit("no STARTTLS advertised: %r" % s.esmtp_features)
    if s.has_extn("auth"):
        sys.exit("AUTH advertised before STARTTLS")
    s.starttls(context=ctx)
    s.ehlo("pc01.stttt.kontum.gov.vn")
    if not s.has_extn("auth"):
        sys.exit("no AUTH after STARTTLS: %r" % s.esmtp_features)
    s.login(user, password)
    refused = s.sendmail(user, [to_local, to_ext], data, mail_options=["BODY=8BITMIME"])
    if refused:
        sys.exit("refused recipients: %r" % refused)
print("sent", len(data), "bytes")
"#;

#[tokio::test]
async fn python_smtplib_starttls_submission_delivers_exact_bytes_and_queues_external() {
    clamd_url();
    let install = Install::users_a_b();
    let server = Server::start(&install);
    let sent_path = install.scratch("sent.eml");
    let out = python(
        &install,
        "starttls_submit.py",
        PY_STARTTLS_SUBMIT,
        &[
            "127.0.0.1".into(),
            server.submission.port().to_string(),
            USER_A.into(),
            PASSWORD_A.into(),
            USER_B.into(),
            EXTERNAL.into(),
            sent_path.display().to_string(),
        ],
    );
    assert!(
        out.status.success(),
        "python smtplib failed:\n{}\nserver log:\n{}",
        output_text(&out),
        server.log()
    );
    let sent = std::fs::read(&sent_path).unwrap();
    assert!(sent.ends_with(b"\r\n"));

    let store = install.store().await;
    let messages = inbox(&store, USER_B).await;
    assert_eq!(messages.len(), 1, "B's INBOX holds exactly one message");
    let stored = &messages[0].1;
    assert!(
        stored.ends_with(&sent),
        "stored bytes must end with exactly what python sent:\n--- stored\n{}\n--- sent\n{}",
        show(stored),
        show(&sent)
    );
    let trace = show(&stored[..stored.len() - sent.len()]);
    assert!(
        trace.starts_with(&format!(
            "Return-Path: <{USER_A}>\r\nReceived: from pc01.stttt.kontum.gov.vn"
        )),
        "{trace}"
    );
    assert!(
        trace.contains("with ESMTPSA"),
        "submitted over TLS with AUTH: {trace}"
    );
    assert!(
        inbox(&store, USER_A).await.is_empty(),
        "the sender's INBOX gets nothing"
    );

    // The blob is named by its SHA-256 (small bodies live in the database, larger ones are
    // files under blobs/<2 hex>/).
    let person = store.person(USER_B).await.unwrap();
    let folder = store.folder(person.account_id, "INBOX").await.unwrap();
    let row = &store.messages(folder.id).await.unwrap()[0];
    assert_eq!(*row.blob_id, storage::blob::blob_id(stored));
    assert_eq!(&store.read_blob(&row.blob_id).await.unwrap(), stored);
    assert_eq!(
        person.used_bytes,
        stored.len() as i64,
        "quota usage is exact"
    );

    let queue = store.queue_entries().await.unwrap();
    let external: Vec<_> = queue.iter().filter(|e| e.recipient == EXTERNAL).collect();
    assert_eq!(
        external.len(),
        1,
        "one queue entry for {EXTERNAL}: {queue:?}"
    );
    assert_eq!(external[0].sender, USER_A);
    assert_eq!(external[0].size, stored.len() as i64);
    assert!(
        queue.iter().all(|e| e.recipient == EXTERNAL),
        "local recipients are not queued: {queue:?}"
    );
    store.close().await;
}

// ------------------------------------------------------------------ 2. smtplib implicit TLS

const PY_IMPLICIT_TLS: &str = r#"
import base64, smtplib, ssl, sys
from email import policy
from email.message import EmailMessage

host, sub_port, subs_port, user, password, to = sys.argv[1:7]

# Cleartext submission: AUTH is neither offered nor accepted, MAIL needs AUTH.
with smtplib.SMTP(host, int(sub_port), timeout=30) as s:
    s.ehlo("pc02.stttt.kontum.gov.vn")
    if s.has_extn("auth"):
        sys.exit("AUTH advertised in cleartext: %r" % s.esmtp_features)
    try:
        s.login(user, password)
        sys.exit("login succeeded in cleartext")
    except smtplib.SMTPNotSupportedError:
        pass
    plain = base64.b64encode(("\0%s\0%s" % (user, password)).encode()).decode()
    code, resp = s.docmd("AUTH", "PLAIN " + plain)
    if code not in (530, 538):
        sys.exit("AUTH PLAIN in cleartext answered %d %r" % (code, resp))
    print("cleartext AUTH PLAIN:", code, resp.decode())
    code, resp = s.docmd("AUTH", "LOGIN")
    if code not in (530, 538):
        sys.exit("AUTH LOGIN in cleartext answered %d %r" % (code, resp))
    code, resp = s.docmd("MAIL", "FROM:<%s>" % user)
    if code != 530:
        sys.exit("MAIL without AUTH answered %d %r" % (code, resp))
    print("cleartext MAIL:", code, resp.decode())

ctx = ssl.create_default_context()
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE

# Implicit TLS, wrong password: 535.
with smtplib.SMTP_SSL(host, int(subs_port), context=ctx, timeout=30) as s:
    s.ehlo("pc02.stttt.kontum.gov.vn")
    s.user, s.password = user, password + "-sai"
    try:
        s.auth("LOGIN", s.auth_login, initial_response_ok=False)
        sys.exit("wrong password accepted")
    except smtplib.SMTPAuthenticationError as e:
        if e.smtp_code != 535:
            sys.exit("wrong password answered %r" % (e,))

# Implicit TLS, AUTH LOGIN with both challenges, then a message.
with smtplib.SMTP_SSL(host, int(subs_port), context=ctx, timeout=30) as s:
    s.ehlo("pc02.stttt.kontum.gov.vn")
    mechanisms = s.esmtp_features.get("auth", "").upper().split()
    if "LOGIN" not in mechanisms:
        sys.exit("AUTH LOGIN not offered on submissions: %r" % s.esmtp_features)
    if s.has_extn("starttls"):
        sys.exit("STARTTLS offered under implicit TLS")
    s.user, s.password = user, password
    code, resp = s.auth("LOGIN", s.auth_login, initial_response_ok=False)
    if code != 235:
        sys.exit("AUTH LOGIN answered %d %r" % (code, resp))
    msg = EmailMessage(policy=policy.SMTP)
    msg["From"] = user
    msg["To"] = to
    msg["Subject"] = "Giấy mời họp giao ban tháng 10"
    msg["Message-ID"] = "<implicit-tls-1@kontum.gov.vn>"
    msg.set_content("Trân trọng kính mời.\n")
    refused = s.sendmail(user, [to], msg.as_bytes())
    if refused:
        sys.exit("refused recipients: %r" % refused)
print("ok")
"#;

#[tokio::test]
async fn python_smtplib_implicit_tls_auth_login_and_no_auth_in_cleartext() {
    clamd_url();
    let install = Install::users_a_b();
    let server = Server::start(&install);
    let out = python(
        &install,
        "implicit_tls.py",
        PY_IMPLICIT_TLS,
        &[
            "127.0.0.1".into(),
            server.submission.port().to_string(),
            server.submissions.port().to_string(),
            USER_A.into(),
            PASSWORD_A.into(),
            USER_B.into(),
        ],
    );
    assert!(
        out.status.success(),
        "python smtplib failed:\n{}\nserver log:\n{}",
        output_text(&out),
        server.log()
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("cleartext AUTH PLAIN: 538 5.7.11")
            || stdout.contains("cleartext AUTH PLAIN: 530"),
        "{stdout}"
    );

    let store = install.store().await;
    let messages = inbox(&store, USER_B).await;
    assert_eq!(messages.len(), 1, "exactly the one message sent after AUTH");
    let stored = show(&messages[0].1);
    assert!(
        stored.contains("<implicit-tls-1@kontum.gov.vn>"),
        "{stored}"
    );
    assert!(stored.contains("with ESMTPSA"), "{stored}");
    assert!(store.queue_entries().await.unwrap().is_empty());
    store.close().await;
}

// ------------------------------------------------------------------ 3. swaks

#[tokio::test]
async fn swaks_mx_submission_tls_auth_and_eicar_refusal() {
    clamd_url();
    let install = Install::users_a_b();
    let server = Server::start(&install);
    let mx = server.mx.to_string();
    let submission = server.submission.to_string();

    // Plain MX delivery from outside.
    let out = swaks(&[
        "--server",
        &mx,
        "--ehlo",
        "mail.example.org",
        "--to",
        USER_B,
        "--from",
        "someone@example.org",
        "--header",
        "Subject: swaks-mx-token-7f3a",
        "--body",
        "Xin chào từ swaks.",
    ]);
    assert!(
        out.status.success(),
        "swaks MX:\n{}\nserver log:\n{}",
        output_text(&out),
        server.log()
    );

    // Submission: STARTTLS, AUTH PLAIN with a UTF-8 password (B writes to herself).
    let out = swaks(&[
        "--server",
        &submission,
        "--ehlo",
        "pc03.stttt.kontum.gov.vn",
        "-tls",
        "--auth",
        "PLAIN",
        "--auth-user",
        USER_B,
        "--auth-password",
        PASSWORD_B,
        "--to",
        USER_B,
        "--from",
        USER_B,
        "--header",
        "Subject: swaks-submission-token-91c2",
        "--body",
        "Gửi qua cổng submission.",
    ]);
    let text = output_text(&out);
    assert!(
        out.status.success(),
        "swaks submission:\n{text}\nserver log:\n{}",
        server.log()
    );
    assert!(
        text.contains("STARTTLS") && text.contains("235 2.7.0"),
        "{text}"
    );

    // EICAR on MX: refused at end of data.
    let eicar_path = install.scratch("eicar.txt");
    std::fs::write(&eicar_path, format!("{EICAR}\r\n")).unwrap();
    let body_arg = format!("@{}", eicar_path.display());
    let out = swaks(&[
        "--server",
        &mx,
        "--ehlo",
        "mail.example.org",
        "--to",
        USER_B,
        "--from",
        "someone@example.org",
        "--header",
        "Subject: swaks-eicar-token-0d44",
        "--body",
        &body_arg,
    ]);
    let text = output_text(&out);
    assert!(!out.status.success(), "EICAR must be refused:\n{text}");
    assert!(text.contains("554 5.7.1"), "{text}");

    let store = install.store().await;
    let messages = inbox(&store, USER_B).await;
    let subjects: Vec<_> = messages
        .iter()
        .map(|(_, m)| {
            let text = show(m);
            text.lines()
                .find(|l| l.starts_with("Subject:"))
                .unwrap_or("")
                .to_string()
        })
        .collect();
    assert_eq!(
        subjects,
        vec![
            "Subject: swaks-mx-token-7f3a".to_string(),
            "Subject: swaks-submission-token-91c2".to_string()
        ],
        "the two clean messages, in order, and not the EICAR one"
    );
    let mx_copy = show(&messages[0].1);
    assert!(
        mx_copy
            .starts_with("Return-Path: <someone@example.org>\r\nReceived: from mail.example.org"),
        "{mx_copy}"
    );
    assert!(mx_copy.contains("with ESMTP id"), "{mx_copy}");
    assert!(mx_copy.contains("Xin chào từ swaks."), "{mx_copy}");
    let sub_copy = show(&messages[1].1);
    assert!(sub_copy.contains("with ESMTPSA"), "{sub_copy}");
    assert!(
        messages.iter().all(|(_, m)| !contains(m, b"EICAR")),
        "no EICAR stored"
    );
    let events = store.events("virus.", 10).await.unwrap();
    assert_eq!(events.len(), 1, "one virus.refused event: {events:?}");
    store.close().await;
}

// ------------------------------------------------------------------ 4. SIGKILL durability

const N_MESSAGES: usize = 200;
const N_CLIENTS: usize = 20;

fn durable_token(i: usize) -> String {
    format!("durable-{i:05}")
}

/// The message for index `i`: its token in Subject and Message-ID, some body to write.
fn durable_message(i: usize) -> String {
    let token = durable_token(i);
    let mut body = String::new();
    for line in 0..40 {
        body.push_str(&format!(
            "Dòng {line} của thư {token}: nội dung công văn thử nghiệm độ bền.\r\n"
        ));
    }
    format!(
        "From: Sender <sender@example.org>\r\nTo: <{USER_A}>\r\nSubject: {token}\r\n\
         Message-ID: <{token}@example.org>\r\nDate: Mon, 23 Nov 2026 10:00:00 +0700\r\n\
         MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\
         Content-Transfer-Encoding: 8bit\r\n\r\n{body}"
    )
}

/// Reads one SMTP reply (all lines); Err on EOF, I/O error or timeout.
async fn read_reply(
    reader: &mut tokio::io::BufReader<tokio::net::TcpStream>,
) -> Result<String, String> {
    let mut reply = String::new();
    loop {
        let mut line = String::new();
        let n = tokio::time::timeout(Duration::from_secs(60), reader.read_line(&mut line))
            .await
            .map_err(|_| "timeout".to_string())?
            .map_err(|e| e.to_string())?;
        if n == 0 {
            return Err(format!("eof after {reply:?}"));
        }
        reply.push_str(&line);
        if line.len() < 4 || line.as_bytes()[3] != b'-' {
            return Ok(reply);
        }
    }
}

async fn command(
    reader: &mut tokio::io::BufReader<tokio::net::TcpStream>,
    line: &str,
    code: &str,
) -> Result<String, String> {
    reader
        .get_mut()
        .write_all(format!("{line}\r\n").as_bytes())
        .await
        .map_err(|e| e.to_string())?;
    let reply = read_reply(reader).await?;
    if reply.starts_with(code) {
        Ok(reply)
    } else {
        Err(format!("{line}: {reply}"))
    }
}

/// One delivery on its own MX connection. Ok(final reply) once DATA was answered; Err when the
/// connection failed before that.
async fn deliver(addr: SocketAddr, message: &str) -> Result<String, String> {
    let stream = tokio::time::timeout(
        Duration::from_secs(30),
        tokio::net::TcpStream::connect(addr),
    )
    .await
    .map_err(|_| "connect timeout".to_string())?
    .map_err(|e| e.to_string())?;
    let mut reader = tokio::io::BufReader::new(stream);
    let greeting = read_reply(&mut reader).await?;
    if !greeting.starts_with("220") {
        return Err(greeting);
    }
    command(&mut reader, "EHLO mail.example.org", "250").await?;
    command(&mut reader, "MAIL FROM:<sender@example.org>", "250").await?;
    command(&mut reader, &format!("RCPT TO:<{USER_A}>"), "250").await?;
    command(&mut reader, "DATA", "354").await?;
    // No line of the message starts with '.', so no dot-stuffing is needed.
    assert!(!message.contains("\r\n."));
    reader
        .get_mut()
        .write_all(format!("{message}.\r\n").as_bytes())
        .await
        .map_err(|e| e.to_string())?;
    let reply = read_reply(&mut reader).await?;
    let _ = reader.get_mut().write_all(b"QUIT\r\n").await;
    Ok(reply)
}

/// The tokens in a stored message's Subject lines.
fn subject_tokens(raw: &[u8]) -> Vec<String> {
    show(raw)
        .split("\r\n")
        .take_while(|l| !l.is_empty())
        .filter_map(|l| l.strip_prefix("Subject: "))
        .map(str::to_string)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn acknowledged_mail_survives_sigkill_exactly_once() {
    clamd_url();
    let started = Instant::now();
    let install = Install::users_a_b();
    let mut server = Server::start(&install);
    let mx = server.mx;

    // None = not tried / no answer to DATA; Some(reply) = the reply to the end of DATA.
    let outcomes: Arc<Mutex<Vec<Option<String>>>> = Arc::new(Mutex::new(vec![None; N_MESSAGES]));
    let errors: Arc<Mutex<Vec<String>>> = Arc::default();
    let next = Arc::new(AtomicUsize::new(0));
    let acked = Arc::new(AtomicUsize::new(0));
    let mut clients = tokio::task::JoinSet::new();
    for _ in 0..N_CLIENTS {
        let (outcomes, errors, next, acked) = (
            outcomes.clone(),
            errors.clone(),
            next.clone(),
            acked.clone(),
        );
        clients.spawn(async move {
            loop {
                let i = next.fetch_add(1, Ordering::SeqCst);
                if i >= N_MESSAGES {
                    break;
                }
                match deliver(mx, &durable_message(i)).await {
                    Ok(reply) => {
                        let ok = reply.starts_with("250 ");
                        outcomes.lock().unwrap()[i] = Some(reply);
                        if ok {
                            acked.fetch_add(1, Ordering::SeqCst);
                        }
                    }
                    Err(e) => errors.lock().unwrap().push(format!("{i}: {e}")),
                }
            }
        });
    }
    // Kill as soon as half are acknowledged (or when every client is done).
    let wait_deadline = Instant::now() + Duration::from_secs(300);
    while acked.load(Ordering::SeqCst) < N_MESSAGES / 2
        && next.load(Ordering::SeqCst) < N_MESSAGES + N_CLIENTS
        && Instant::now() < wait_deadline
    {
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    let acked_before_kill = acked.load(Ordering::SeqCst);
    let log_before_kill = server.log();
    server.kill();
    while clients.join_next().await.is_some() {}
    let outcomes = outcomes.lock().unwrap().clone();
    let acknowledged: Vec<usize> = (0..N_MESSAGES)
        .filter(|&i| {
            outcomes[i]
                .as_deref()
                .is_some_and(|r| r.starts_with("250 "))
        })
        .collect();
    let refused: Vec<(usize, &str)> = (0..N_MESSAGES)
        .filter_map(|i| outcomes[i].as_deref().map(|r| (i, r)))
        .filter(|(_, r)| !r.starts_with("250 "))
        .collect();
    assert!(
        refused.is_empty(),
        "before the kill no message may be refused: {refused:?}\nserver log:\n{log_before_kill}"
    );
    assert!(
        acked_before_kill >= 1,
        "nothing was acknowledged before the kill: the test would prove nothing; errors: {:?}\n{log_before_kill}",
        errors.lock().unwrap()
    );
    eprintln!(
        "durability: {} acknowledged before the kill, {} in total, {} client errors (expected after the kill)",
        acked_before_kill,
        acknowledged.len(),
        errors.lock().unwrap().len()
    );

    // Restart on the same data dir; the store must be whole.
    let server = Server::start(&install);
    let store = install.store().await;
    let db_url = format!(
        "sqlite://{}",
        install.data_dir().join("govmail.db").display()
    );
    let mut db = sqlx::AnyConnection::connect(&db_url).await.unwrap();
    let integrity: String = sqlx::query_scalar("PRAGMA integrity_check")
        .fetch_one(&mut db)
        .await
        .unwrap();
    assert_eq!(integrity, "ok", "SQLite integrity after SIGKILL");
    // Diagnostic only: blob files written for deliveries the kill cut short have no row.
    let blob_rows: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM blobs")
        .fetch_one(&mut db)
        .await
        .unwrap();
    db.close().await.unwrap();
    let (mut blob_files, mut tmp_files) = (0, 0);
    for sub in std::fs::read_dir(install.data_dir().join("blobs"))
        .into_iter()
        .flatten()
    {
        for file in std::fs::read_dir(sub.unwrap().path()).unwrap() {
            if file
                .unwrap()
                .file_name()
                .to_string_lossy()
                .ends_with(".tmp")
            {
                tmp_files += 1;
            } else {
                blob_files += 1;
            }
        }
    }
    eprintln!(
        "durability: {blob_rows} blob rows, {blob_files} blob files, {tmp_files} temporary files after the kill"
    );
    let messages = inbox(&store, USER_A).await;
    let mut copies: BTreeMap<String, Vec<i64>> = BTreeMap::new();
    for (uid, raw) in &messages {
        let tokens = subject_tokens(raw);
        assert_eq!(
            tokens.len(),
            1,
            "uid {uid}: one Subject line expected:\n{}",
            show(raw)
        );
        let token = &tokens[0];
        let i: usize = token
            .strip_prefix("durable-")
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("uid {uid}: unexpected subject {token:?}"));
        assert!(
            raw.ends_with(durable_message(i).as_bytes()),
            "uid {uid}: stored bytes must end with exactly what was sent"
        );
        copies.entry(token.clone()).or_default().push(*uid);
    }
    let duplicates: Vec<_> = copies.iter().filter(|(_, uids)| uids.len() > 1).collect();
    assert!(
        duplicates.is_empty(),
        "messages stored more than once: {duplicates:?}"
    );
    let lost: Vec<String> = acknowledged
        .iter()
        .map(|&i| durable_token(i))
        .filter(|t| !copies.contains_key(t))
        .collect();
    assert!(
        lost.is_empty(),
        "acknowledged with 250 but missing after SIGKILL + restart: {lost:?}"
    );
    let uids: Vec<i64> = messages.iter().map(|(uid, _)| *uid).collect();
    assert!(
        uids.windows(2).all(|w| w[0] < w[1]),
        "UIDs strictly ascending and unique: {uids:?}"
    );
    let person = store.person(USER_A).await.unwrap();
    let total: i64 = messages.iter().map(|(_, m)| m.len() as i64).sum();
    assert_eq!(
        person.used_bytes, total,
        "quota usage matches the stored messages after the crash"
    );

    // The restarted server takes new mail, after every UID already used.
    let fresh = N_MESSAGES + 1;
    let reply = deliver(server.mx, &durable_message(fresh))
        .await
        .unwrap_or_else(|e| panic!("delivery after restart: {e}\n{}", server.log()));
    assert!(
        reply.starts_with("250 "),
        "delivery after restart: {reply}\n{}",
        server.log()
    );
    let after = inbox(&store, USER_A).await;
    assert_eq!(after.len(), messages.len() + 1);
    let (new_uid, new_raw) = after.last().unwrap();
    assert_eq!(subject_tokens(new_raw), vec![durable_token(fresh)]);
    assert!(
        uids.last().is_none_or(|last| new_uid > last),
        "new UID {new_uid} after {uids:?}"
    );
    store.close().await;
    eprintln!(
        "durability: {} stored ({} acknowledged), checked in {:.1?}",
        messages.len(),
        acknowledged.len(),
        started.elapsed()
    );
}
