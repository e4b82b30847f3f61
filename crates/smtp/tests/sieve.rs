//! Sieve at delivery, over real SMTP sessions into real folders: every test, action and match
//! type from the RFC examples (RFC 5228, 5229-free core, 5230, 5231, 5232, 5260, 5490, 3894),
//! vacation replies and their limits, redirect under the forwarding policy, script errors.
//! Expected placements are worked out from the RFC text cited next to each case.

use crate::common;

use common::*;
use storage::Store;

const OUTSIDE: &str = "ban.be@example.org";

async fn activate(store: &Store, account: i64, script: &str) {
    store
        .put_sieve_script(account, "rules", script, 10)
        .await
        .unwrap();
    store
        .set_active_sieve_script(account, Some("rules"))
        .await
        .unwrap();
}

/// (folder name, flags) of every message in the account, sorted.
async fn placed(store: &Store, account: i64) -> Vec<(String, String)> {
    let mut out = vec![];
    for folder in store.folders(account).await.unwrap() {
        for row in store.messages(folder.id).await.unwrap() {
            out.push((folder.name.clone(), row.flags.as_str().to_string()));
        }
    }
    out.sort();
    out
}

async fn send(server: &TestServer, from: &str, to: &[&str], message: &str) -> String {
    let mut client = Client::connect(server.mx).await;
    client.cmd("EHLO client.example.org", "250").await;
    let reply = client.send_mail(from, to, message).await;
    client.cmd("QUIT", "221").await;
    reply
}

/// A message with a Message-ID of its own (each call another: the same transaction sent twice
/// would be stored once, as a resend).
fn mail(extra_headers: &str, subject: &str, body: &str) -> String {
    static SERIAL: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let serial = SERIAL.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    format!(
        "From: Ban Be <{OUTSIDE}>\r\nTo: <{USER_A}>\r\nSubject: {subject}\r\n{extra_headers}Message-ID: <{}.{serial}@example.org>\r\nDate: Mon, 23 Nov 2026 10:00:00 +0700\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n{body}\r\n",
        storage::now()
    )
}

/// (script, extra header fields, subject, body, expected (folder, flags) added).
type Case<'a> = (&'a str, &'a str, &'a str, &'a str, Vec<(&'a str, &'a str)>);

#[tokio::test]
async fn tests_and_match_types_file_into_real_folders() {
    let server = start_with(|_| {}, None).await;
    let a = server.account_a;
    let big = "y".repeat(3000);
    // One case per test, match type, comparator and action: (script, extra header fields,
    // subject, body, expected (folder, flags)).
    let cases: Vec<Case> = vec![
        // RFC 5228 5.7 header :contains (default i;ascii-casemap, 2.7.3) and 4.1 fileinto.
        ("require \"fileinto\"; if header :contains \"subject\" \"MONEY\" { fileinto \"Archive\"; }",
         "", "make money fast", "x", vec![("Archive", "")]),
        // RFC 5228 2.7.1 :is — whole value, case-insensitive.
        ("require \"fileinto\"; if header :is \"subject\" \"BÁO CÁO\" { fileinto \"Archive\"; }",
         "", "BÁO CÁO", "x", vec![("Archive", "")]),
        // :matches with * and ?.
        ("require \"fileinto\"; if header :matches \"subject\" \"*Q? 2026*\" { fileinto \"Archive\"; }",
         "", "Report Q4 2026 final", "x", vec![("Archive", "")]),
        // i;unicode-casemap (RFC 5051): Vietnamese in another case and in NFD.
        ("require [\"fileinto\", \"comparator-i;unicode-casemap\"]; if header :contains :comparator \"i;unicode-casemap\" \"subject\" \"công văn đến\" { fileinto \"Archive\"; }",
         "", "CÔNG VĂN ĐẾN số 12", "x", vec![("Archive", "")]),
        // i;octet is case-sensitive: no match, implicit keep (RFC 5228 2.10.2).
        ("require \"fileinto\"; if header :is :comparator \"i;octet\" \"subject\" \"hello\" { fileinto \"Archive\"; }",
         "", "HELLO", "x", vec![("INBOX", "")]),
        // RFC 5228 5.1 address :domain / :localpart / :all.
        ("require \"fileinto\"; if address :domain :is \"from\" \"example.org\" { fileinto \"Archive\"; }",
         "", "s", "x", vec![("Archive", "")]),
        ("require \"fileinto\"; if address :localpart :is \"from\" \"ban.be\" { fileinto \"Archive\"; }",
         "", "s", "x", vec![("Archive", "")]),
        ("require \"fileinto\"; if address :all :is \"to\" \"nvan.stttt@kontum.gov.vn\" { fileinto \"Archive\"; }",
         "", "s", "x", vec![("Archive", "")]),
        // RFC 5228 5.4 envelope.
        ("require [\"fileinto\", \"envelope\"]; if envelope :is \"from\" \"ban.be@example.org\" { fileinto \"Archive\"; }",
         "", "s", "x", vec![("Archive", "")]),
        ("require [\"fileinto\", \"envelope\"]; if envelope :domain :is \"to\" \"kontum.gov.vn\" { fileinto \"Archive\"; }",
         "", "s", "x", vec![("Archive", "")]),
        // RFC 5228 5.5 exists; 5.9 size; 5.3 anyof; 5.2 allof; 5.10 not; 5.6 false / 5.8 true.
        ("require \"fileinto\"; if exists \"X-Ticket\" { fileinto \"Archive\"; }",
         "X-Ticket: 12\r\n", "s", "x", vec![("Archive", "")]),
        ("require \"fileinto\"; if size :over 2K { fileinto \"Archive\"; }",
         "", "s", &big, vec![("Archive", "")]),
        ("require \"fileinto\"; if size :under 2K { fileinto \"Archive\"; }",
         "", "s", &big, vec![("INBOX", "")]),
        ("require \"fileinto\"; if anyof (false, header :contains \"subject\" \"a\") { fileinto \"Archive\"; }",
         "", "abc", "x", vec![("Archive", "")]),
        ("require \"fileinto\"; if allof (true, header :contains \"subject\" \"z\") { fileinto \"Archive\"; }",
         "", "abc", "x", vec![("INBOX", "")]),
        ("require \"fileinto\"; if not exists \"X-None\" { fileinto \"Archive\"; }",
         "", "s", "x", vec![("Archive", "")]),
        // RFC 5228 3.1 elsif / else.
        ("require \"fileinto\"; if false { discard; } elsif true { fileinto \"Trash\"; } else { keep; }",
         "", "s", "x", vec![("Trash", "")]),
        // RFC 5228 4.3 keep and fileinto both; 3.3 stop before an action.
        ("require \"fileinto\"; keep; fileinto \"Archive\";",
         "", "s", "x", vec![("Archive", ""), ("INBOX", "")]),
        ("require \"fileinto\"; stop; fileinto \"Archive\";",
         "", "s", "x", vec![("INBOX", "")]),
        // RFC 5490 3.2 :create makes the folder; without it a missing folder keeps in INBOX.
        ("require [\"fileinto\", \"mailbox\"]; fileinto :create \"Dự án/Cầu Đăk Bla\";",
         "", "s", "x", vec![("Dự án/Cầu Đăk Bla", "")]),
        ("require \"fileinto\"; fileinto \"Nowhere\";",
         "", "s", "x", vec![("INBOX", "")]),
        // RFC 5490 3.1 mailboxexists.
        ("require [\"fileinto\", \"mailbox\"]; if mailboxexists \"Archive\" { fileinto \"Archive\"; }",
         "", "s", "x", vec![("Archive", "")]),
        // RFC 3894 fileinto :copy keeps the implicit keep.
        ("require [\"fileinto\", \"copy\"]; fileinto :copy \"Archive\";",
         "", "s", "x", vec![("Archive", ""), ("INBOX", "")]),
        // RFC 5232: setflag + fileinto, :flags on keep, the implicit keep with the variable,
        // hasflag.
        ("require [\"fileinto\", \"imap4flags\"]; setflag \"\\\\Flagged\"; fileinto \"Archive\";",
         "", "s", "x", vec![("Archive", "\\Flagged")]),
        ("require \"imap4flags\"; keep :flags [\"\\\\Seen\", \"$Important\"];",
         "", "s", "x", vec![("INBOX", "\\Seen $Important")]),
        ("require \"imap4flags\"; addflag \"$Work\"; addflag \"\\\\Seen\"; removeflag \"$Work\";",
         "", "s", "x", vec![("INBOX", "\\Seen")]),
        ("require [\"imap4flags\", \"fileinto\"]; addflag \"A B\"; if hasflag :is \"b\" { fileinto \"Archive\"; }",
         "", "s", "x", vec![("Archive", "A B")]),
        // RFC 5231 relational :value and :count.
        ("require [\"fileinto\", \"relational\", \"comparator-i;ascii-numeric\"]; if header :value \"ge\" :comparator \"i;ascii-numeric\" \"X-Priority\" \"3\" { fileinto \"Archive\"; }",
         "X-Priority: 5\r\n", "s", "x", vec![("Archive", "")]),
        ("require [\"fileinto\", \"relational\", \"comparator-i;ascii-numeric\"]; if header :count \"eq\" :comparator \"i;ascii-numeric\" \"X-Tag\" \"2\" { fileinto \"Archive\"; }",
         "X-Tag: a\r\nX-Tag: b\r\n", "s", "x", vec![("Archive", "")]),
        // RFC 5260 date of the Date: field and currentdate.
        ("require [\"fileinto\", \"date\"]; if date :originalzone :is \"date\" \"date\" \"2026-11-23\" { fileinto \"Archive\"; }",
         "", "s", "x", vec![("Archive", "")]),
        ("require [\"fileinto\", \"date\", \"relational\"]; if currentdate :value \"ge\" \"year\" \"2020\" { fileinto \"Archive\"; }",
         "", "s", "x", vec![("Archive", "")]),
    ];
    for (i, (script, extra, subject, body, expected)) in cases.iter().enumerate() {
        // A fresh account per case would cost a server each; instead, clear by moving on:
        // each case uses its own recipient state, so compare only what this delivery added.
        activate(&server.store, a, script).await;
        let before = placed(&server.store, a).await;
        let reply = send(&server, OUTSIDE, &[USER_A], &mail(extra, subject, body)).await;
        assert!(reply.starts_with("250"), "case {i} {script}: {reply}");
        let mut after = placed(&server.store, a).await;
        for old in &before {
            let at = after
                .iter()
                .position(|p| p == old)
                .expect("nothing removed");
            after.remove(at);
        }
        let expected: Vec<(String, String)> = expected
            .iter()
            .map(|(f, g)| (f.to_string(), g.to_string()))
            .collect();
        assert_eq!(after, expected, "case {i}: {script}");
    }
}

#[tokio::test]
async fn discard_stores_nothing_and_answers_250() {
    let server = start_with(|_| {}, None).await;
    // RFC 5228 4.4: discard cancels the implicit keep.
    activate(
        &server.store,
        server.account_a,
        "if header :contains \"subject\" \"spam\" { discard; }",
    )
    .await;
    let reply = send(&server, OUTSIDE, &[USER_A], &mail("", "spam offer", "x")).await;
    assert!(reply.starts_with("250"), "{reply}");
    assert!(placed(&server.store, server.account_a).await.is_empty());
    // The other recipient of the same message still gets it (its own script: none).
    let reply = send(
        &server,
        OUTSIDE,
        &[USER_A, USER_B],
        &mail("", "spam offer", "x"),
    )
    .await;
    assert!(reply.starts_with("250"), "{reply}");
    assert!(placed(&server.store, server.account_a).await.is_empty());
    assert_eq!(placed(&server.store, server.account_b).await.len(), 1);
}

#[tokio::test]
async fn redirect_obeys_the_forwarding_policy() {
    let server = start_with(|_| {}, None).await;
    let store = &server.store;
    // BD-11, KT-9: never to public webmail; the message stays in INBOX and the refusal is
    // recorded for the user.
    activate(store, server.account_a, "redirect \"someone@gmail.com\";").await;
    let reply = send(&server, OUTSIDE, &[USER_A], &mail("", "to gmail", "x")).await;
    assert!(reply.starts_with("250"), "{reply}");
    assert_eq!(
        placed(store, server.account_a).await,
        vec![("INBOX".into(), String::new())]
    );
    assert!(
        store.queue_entries().await.unwrap().is_empty(),
        "nothing queued to gmail.com"
    );
    let events = store.events("sieve.redirect-refused", 10).await.unwrap();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].target, USER_A);
    assert!(
        events[0].detail["why"]
            .as_str()
            .unwrap()
            .contains("public webmail"),
        "{:?}",
        events[0]
    );
    // Outside the hosted domains at all: forwarding is off by default.
    activate(
        store,
        server.account_a,
        "redirect \"x@partner.example.net\";",
    )
    .await;
    send(&server, OUTSIDE, &[USER_A], &mail("", "to partner", "x")).await;
    assert!(store.queue_entries().await.unwrap().is_empty());
    assert_eq!(placed(store, server.account_a).await.len(), 2);
    // RFC 5228 4.2: a redirect inside the hosted domains moves the message (no keep).
    activate(
        store,
        server.account_a,
        "redirect \"ttbinh.stttt@kontum.gov.vn\";",
    )
    .await;
    send(&server, OUTSIDE, &[USER_A], &mail("", "to colleague", "x")).await;
    assert_eq!(
        placed(store, server.account_a).await.len(),
        2,
        "A did not keep it"
    );
    assert_eq!(placed(store, server.account_b).await.len(), 1, "B got it");
    // RFC 3894: redirect :copy keeps A's copy too.
    activate(
        store,
        server.account_a,
        "require \"copy\"; redirect :copy \"ttbinh.stttt@kontum.gov.vn\";",
    )
    .await;
    send(&server, OUTSIDE, &[USER_A], &mail("", "copy", "x")).await;
    assert_eq!(placed(store, server.account_a).await.len(), 3);
    assert_eq!(placed(store, server.account_b).await.len(), 2);
}

#[tokio::test]
async fn redirect_outside_when_the_policy_allows_it() {
    let server = start_with(
        |s| {
            s.forwarding.enabled = true;
            s.forwarding.allowed_domains = vec!["partner.example.net".into()];
        },
        None,
    )
    .await;
    activate(
        &server.store,
        server.account_a,
        "redirect \"x@partner.example.net\"; redirect \"y@gmail.com\";",
    )
    .await;
    send(&server, OUTSIDE, &[USER_A], &mail("", "allowed", "x")).await;
    let queued = server.store.queue_entries().await.unwrap();
    let recipients: Vec<&str> = queued.iter().map(|q| q.recipient.as_str()).collect();
    assert_eq!(
        recipients,
        vec!["x@partner.example.net"],
        "gmail.com never, even when enabled"
    );
    // The refused one keeps the message in INBOX.
    assert_eq!(placed(&server.store, server.account_a).await.len(), 1);
}

#[tokio::test]
async fn script_errors_keep_the_message_and_tell_the_user() {
    let server = start_with(|s| s.sieve_limits.max_redirects = 1, None).await;
    let store = &server.store;
    // A run-time error (RFC 5228 2.10.6): the second redirect is over the bound; nothing the
    // script did before counts, the message is kept in INBOX.
    activate(store, server.account_a, "require \"fileinto\";\nfileinto \"Archive\";\nredirect \"ttbinh.stttt@kontum.gov.vn\";\nredirect \"nvan.stttt@kontum.gov.vn\";").await;
    let reply = send(&server, OUTSIDE, &[USER_A], &mail("", "s", "x")).await;
    assert!(reply.starts_with("250"), "{reply}");
    assert_eq!(
        placed(store, server.account_a).await,
        vec![("INBOX".into(), String::new())]
    );
    assert!(placed(store, server.account_b).await.is_empty());
    let events = store.events("sieve.error", 10).await.unwrap();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].target, USER_A);
    assert_eq!(events[0].detail["line"], 4);
    // A stored script that does not compile (written before a limit changed, say) likewise.
    activate(store, server.account_a, "if header {").await;
    send(&server, OUTSIDE, &[USER_A], &mail("", "s", "x")).await;
    assert_eq!(placed(store, server.account_a).await.len(), 2);
    assert_eq!(store.events("sieve.error", 10).await.unwrap().len(), 2);
}

#[tokio::test]
async fn scripts_run_after_the_virus_check() {
    let server = start_with(|_| {}, Some(clamd_url())).await;
    activate(
        &server.store,
        server.account_a,
        "require \"fileinto\"; fileinto \"Archive\";",
    )
    .await;
    let reply = send(&server, OUTSIDE, &[USER_A], &mail("", "virus", EICAR)).await;
    assert!(
        reply.starts_with("554"),
        "refused before any script: {reply}"
    );
    assert!(placed(&server.store, server.account_a).await.is_empty());
    let reply = send(&server, OUTSIDE, &[USER_A], &mail("", "clean", "x")).await;
    assert!(reply.starts_with("250"), "{reply}");
    assert_eq!(
        placed(&server.store, server.account_a).await,
        vec![("Archive".into(), String::new())]
    );
}

const VACATION: &str = "require \"vacation\";\n\
    vacation :days 7 :subject \"Vắng mặt\" :addresses [\"nvan@kontum.gov.vn\"] \"Tôi đi công tác đến 5/12.\";";

#[tokio::test]
async fn vacation_replies_once_per_sender_and_never_to_lists_bulk_auto_or_null() {
    let server = start_with(|s| s.allow_plaintext_loopback = true, None).await;
    let store = &server.store;
    activate(store, server.account_a, VACATION).await;
    let queued = || async { store.queue_entries().await.unwrap() };

    // RFC 5230 4.6: to the return path, from <>, with Auto-Submitted (RFC 3834 5).
    let reply = send(&server, OUTSIDE, &[USER_A], &mail("", "Họp giao ban", "x")).await;
    assert!(reply.starts_with("250"), "{reply}");
    let entries = queued().await;
    assert_eq!(entries.len(), 1, "{entries:?}");
    assert_eq!(entries[0].recipient, OUTSIDE);
    assert_eq!(entries[0].sender, "", "null return path");
    let raw = String::from_utf8(store.read_blob(&entries[0].blob_id).await.unwrap()).unwrap();
    assert!(raw.contains("\r\nAuto-Submitted: auto-replied"), "{raw}");
    assert!(raw.contains("\r\nIn-Reply-To: <"), "{raw}");
    assert!(raw.contains("\r\nReferences: <"), "{raw}");
    assert!(
        raw.contains("Subject: =?utf-8?B?"),
        "encoded subject: {raw}"
    );
    assert!(raw.contains("Tôi đi công tác đến 5/12."), "{raw}");
    assert!(raw.starts_with(&format!("From: {USER_A}\r\n")), "{raw}");
    // The message itself is kept (vacation does not cancel the implicit keep).
    assert_eq!(placed(store, server.account_a).await.len(), 1);
    assert_eq!(store.events("vacation.reply", 10).await.unwrap().len(), 1);

    // RFC 5230 4.2: not again to the same sender within :days.
    send(&server, OUTSIDE, &[USER_A], &mail("", "again", "x")).await;
    assert_eq!(queued().await.len(), 1);
    // Never to a list (RFC 5230 4.6, RFC 2919), bulk (Precedence), an auto-reply (RFC 3834),
    // the null sender, or a robot; each from a new sender so the once rule is not the reason.
    let cases = [
        ("list@example.org", "List-Id: <dev.lists.example.org>\r\n"),
        ("bulk@example.org", "Precedence: bulk\r\n"),
        ("junk@example.org", "Precedence: junk\r\n"),
        ("auto@example.org", "Auto-Submitted: auto-replied\r\n"),
        ("MAILER-DAEMON@example.org", ""),
        ("owner-list@example.org", ""),
        ("list-request@example.org", ""),
        ("", ""),
    ];
    for (sender, header) in cases {
        let reply = send(&server, sender, &[USER_A], &mail(header, "s", "x")).await;
        assert!(reply.starts_with("250"), "{sender}: {reply}");
        assert_eq!(queued().await.len(), 1, "no reply to {sender:?} {header:?}");
    }
    // RFC 5230 4.5: not when the user is only a Bcc of a list address.
    let bcc = "From: <other@example.org>\r\nTo: <all@example.org>\r\nSubject: s\r\n\r\nx\r\n";
    send(&server, "other@example.org", &[USER_A], bcc).await;
    assert_eq!(queued().await.len(), 1);
    // An address of :addresses counts as the user's.
    let to_alias =
        "From: <third@example.org>\r\nTo: <nvan@kontum.gov.vn>\r\nSubject: s\r\n\r\nx\r\n";
    send(&server, "third@example.org", &[USER_A], to_alias).await;
    assert_eq!(queued().await.len(), 2);
    // A colleague on the system gets the reply in the INBOX.
    let colleague = format!("From: <{USER_B}>\r\nTo: <{USER_A}>\r\nSubject: s\r\n\r\nx\r\n");
    let mut client = Client::connect(server.submission).await;
    client.cmd("EHLO client.example.org", "250").await;
    use base64::Engine;
    let plain =
        base64::engine::general_purpose::STANDARD.encode(format!("\0{USER_B}\0{PASSWORD_B}"));
    client.cmd(&format!("AUTH PLAIN {plain}"), "235").await;
    let reply = client.send_mail(USER_B, &[USER_A], &colleague).await;
    assert!(reply.starts_with("250"), "{reply}");
    let inbox = server.inbox(server.account_b).await;
    assert_eq!(inbox.len(), 1);
    assert!(String::from_utf8_lossy(&inbox[0]).contains("Auto-Submitted: auto-replied"));
}

#[tokio::test]
async fn unit_mailbox_scripts_run_on_unit_mail() {
    let server = start_with(|_| {}, None).await;
    let unit = server.store.unit("STTTT").await.unwrap();
    activate(&server.store, unit.account_id, "require [\"fileinto\", \"mailbox\"]; if header :contains \"subject\" \"công văn\" { fileinto :create \"Công văn đến\"; }").await;
    let message = format!(
        "From: <{OUTSIDE}>\r\nTo: <{}>\r\nSubject: Công văn số 5\r\n\r\nx\r\n",
        unit.address
    );
    let reply = send(&server, OUTSIDE, &[&unit.address], &message).await;
    assert!(reply.starts_with("250"), "{reply}");
    assert_eq!(
        placed(&server.store, unit.account_id).await,
        vec![("Công văn đến".into(), String::new())]
    );
}

#[tokio::test]
async fn vacation_from_is_only_one_of_the_mailboxs_own_addresses() {
    let server = start_with(|_| {}, None).await;
    let store = &server.store;
    // RFC 5230 4.3: :from names the reply's author; only the mailbox's own address is used.
    activate(
        store,
        server.account_a,
        "require \"vacation\"; vacation :from \"Giám đốc <ceo@other.org>\" \"away\";",
    )
    .await;
    send(&server, OUTSIDE, &[USER_A], &mail("", "one", "x")).await;
    let entries = store.queue_entries().await.unwrap();
    let raw = String::from_utf8(store.read_blob(&entries[0].blob_id).await.unwrap()).unwrap();
    assert!(raw.starts_with(&format!("From: {USER_A}\r\n")), "{raw}");
    activate(store, server.account_a, "require \"vacation\"; vacation :handle \"h2\" :from \"An <nvan.stttt@kontum.gov.vn>\" \"away\";").await;
    send(&server, OUTSIDE, &[USER_A], &mail("", "two", "x")).await;
    let entries = store.queue_entries().await.unwrap();
    assert_eq!(
        entries.len(),
        2,
        "another handle replies again (RFC 5230 4.2)"
    );
    let raw = String::from_utf8(store.read_blob(&entries[1].blob_id).await.unwrap()).unwrap();
    assert!(
        raw.starts_with("From: An <nvan.stttt@kontum.gov.vn>\r\n"),
        "{raw}"
    );
}
