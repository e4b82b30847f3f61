//! ManageSieve over a real listener, line by line: capabilities, plaintext refusals, the
//! script commands and their response codes, bounds, unit mailboxes. Expected responses come
//! from RFC 5804 (section cited at each check).

use crate::harness;

use harness::*;

#[tokio::test]
async fn without_tls_no_password_is_taken() {
    let server = start(|_| {}).await;
    let mut c = Client::connect(server.addr).await;
    // RFC 5804 1.7 / 2.2: STARTTLS offered, no SASL mechanism before TLS.
    assert!(c.greeting.contains("\"STARTTLS\"\r\n"), "{}", c.greeting);
    assert!(c.greeting.contains("\"SASL\" \"\"\r\n"), "{}", c.greeting);
    assert!(c.greeting.contains("\"IMPLEMENTATION\""), "{}", c.greeting);
    assert!(
        c.greeting.contains("vacation") && c.greeting.contains("imap4flags"),
        "{}",
        c.greeting
    );
    assert!(
        c.greeting.ends_with("\r\nOK \"ManageSieve ready\"\r\n")
            || c.greeting.starts_with("\"IMPLEMENTATION\"")
    );
    // RFC 5804 2.1: ENCRYPT-NEEDED.
    let answer = c.login("", USER_A, PASSWORD_A).await;
    assert!(answer.starts_with("NO (ENCRYPT-NEEDED)"), "{answer}");
    // Script commands need a login (RFC 5804 2.x: only in authenticated state).
    assert!(c.cmd("LISTSCRIPTS").await.starts_with("NO"));
    assert!(c.cmd("LOGOUT").await.starts_with("OK"));
}

#[tokio::test]
async fn script_commands_and_response_codes() {
    let server = start(|s| {
        s.allow_plaintext_loopback = true;
        s.max_scripts = 2;
        s.max_script_bytes = 100;
    })
    .await;
    let mut c = Client::connect(server.addr).await;
    assert!(c.greeting.contains("\"SASL\" \"PLAIN\""), "{}", c.greeting);
    assert!(c.login("", USER_A, "wrong").await.starts_with("NO"));
    assert!(c.login("", USER_A, PASSWORD_A).await.starts_with("OK"));
    // RFC 5804 2.5 HAVESPACE: at the size bound OK, one over QUOTA/MAXSIZE.
    assert!(c.cmd("HAVESPACE \"a\" 100").await.starts_with("OK"));
    assert!(c
        .cmd("HAVESPACE \"a\" 101")
        .await
        .starts_with("NO (QUOTA/MAXSIZE)"));
    // RFC 5804 2.6 PUTSCRIPT; 2.7 LISTSCRIPTS.
    assert!(c.put("một", "keep;").await.starts_with("OK"));
    assert!(c.put("two", "discard;").await.starts_with("OK"));
    assert_eq!(
        c.cmd("LISTSCRIPTS").await,
        "\"một\"\r\n\"two\"\r\nOK \"Listscripts completed\"\r\n"
    );
    // The count bound: a third name is QUOTA/MAXSCRIPTS (HAVESPACE says so first).
    assert!(c
        .cmd("HAVESPACE \"three\" 5")
        .await
        .starts_with("NO (QUOTA/MAXSCRIPTS)"));
    assert!(c
        .put("three", "keep;")
        .await
        .starts_with("NO (QUOTA/MAXSCRIPTS)"));
    // A literal over the size bound is read, dropped and refused (RFC 5804 1.3 MAXSIZE).
    let big = "#".repeat(101);
    assert!(c.put("two", &big).await.starts_with("NO (QUOTA/MAXSIZE)"));
    assert!(
        c.cmd("NOOP").await.starts_with("OK"),
        "in step after the dropped literal"
    );
    // A syntax error is answered NO with its line (RFC 5804 2.6: human-readable reason).
    let answer = c.put("two", "keep;\nkeep;\nbogus;").await;
    assert!(
        answer.starts_with("NO") && answer.contains("line 3"),
        "{answer}"
    );
    let bad = "keep;\n\nif {}";
    c.send(format!("CHECKSCRIPT {{{}+}}\r\n{bad}\r\n", bad.len()).as_bytes())
        .await;
    let answer = c.response().await;
    assert!(
        answer.starts_with("NO") && answer.contains("line 3"),
        "{answer}"
    );
    c.send(b"CHECKSCRIPT {5}\r\nkeep;\r\n").await;
    assert!(
        c.response().await.starts_with("OK"),
        "synchronizing literal accepted"
    );
    // RFC 5804 2.8 SETACTIVE; 2.9 GETSCRIPT; 2.10 DELETESCRIPT of the active script.
    assert!(c.cmd("SETACTIVE \"two\"").await.starts_with("OK"));
    assert!(c
        .cmd("SETACTIVE \"none\"")
        .await
        .starts_with("NO (NONEXISTENT)"));
    assert_eq!(
        c.cmd("LISTSCRIPTS").await,
        "\"một\"\r\n\"two\" ACTIVE\r\nOK \"Listscripts completed\"\r\n"
    );
    assert_eq!(
        c.cmd("GETSCRIPT \"two\"").await,
        "{8}\r\ndiscard;\r\nOK \"Getscript completed\"\r\n"
    );
    assert!(c
        .cmd("GETSCRIPT \"none\"")
        .await
        .starts_with("NO (NONEXISTENT)"));
    assert!(c
        .cmd("DELETESCRIPT \"two\"")
        .await
        .starts_with("NO (ACTIVE)"));
    // RFC 5804 2.11 RENAMESCRIPT.
    assert!(c
        .cmd("RENAMESCRIPT \"two\" \"một\"")
        .await
        .starts_with("NO (ALREADYEXISTS)"));
    assert!(c
        .cmd("RENAMESCRIPT \"none\" \"x\"")
        .await
        .starts_with("NO (NONEXISTENT)"));
    assert!(c
        .cmd("RENAMESCRIPT \"two\" \"hai\"")
        .await
        .starts_with("OK"));
    assert_eq!(
        server
            .store
            .active_sieve_scripts(&[server.account_a])
            .await
            .unwrap()[0]
            .name,
        "hai"
    );
    assert!(
        c.cmd("SETACTIVE \"\"").await.starts_with("OK"),
        "RFC 5804 2.8: none active"
    );
    assert!(c.cmd("DELETESCRIPT \"hai\"").await.starts_with("OK"));
    assert!(c
        .cmd("DELETESCRIPT \"hai\"")
        .await
        .starts_with("NO (NONEXISTENT)"));
    // RFC 5804 2.13 NOOP with a tag.
    assert_eq!(c.cmd("NOOP \"t1\"").await, "OK (TAG \"t1\") \"Done\"\r\n");
    // Every change is audited with who made it.
    let events = server.store.events("sieve.", 50).await.unwrap();
    assert!(events
        .iter()
        .all(|e| e.actor == USER_A && e.target == USER_A));
    assert!(events.len() >= 5, "{events:?}");
    assert!(c.cmd("LOGOUT").await.starts_with("OK"));
}

#[tokio::test]
async fn unit_scripts_by_authorization_identity() {
    let server = start(|s| s.allow_plaintext_loopback = true).await;
    // The head (USER_A) manages the unit's scripts (authzid = the unit's address).
    let mut c = Client::connect(server.addr).await;
    assert!(c
        .login(&server.unit_address, USER_A, PASSWORD_A)
        .await
        .starts_with("OK"));
    assert!(c.put("unit", "keep;").await.starts_with("OK"));
    assert!(c.cmd("SETACTIVE \"unit\"").await.starts_with("OK"));
    let active = server
        .store
        .active_sieve_scripts(&[server.unit_account])
        .await
        .unwrap();
    assert_eq!(active.len(), 1);
    assert!(
        server
            .store
            .sieve_scripts(server.account_a)
            .await
            .unwrap()
            .is_empty(),
        "not the head's own"
    );
    let events = server.store.events("sieve.save", 5).await.unwrap();
    assert_eq!(
        (events[0].actor.as_str(), events[0].target.as_str()),
        (USER_A, server.unit_address.as_str())
    );
    // USER_B has no rights on the unit mailbox.
    let mut other = Client::connect(server.addr).await;
    assert!(other
        .login(&server.unit_address, USER_B, PASSWORD_B)
        .await
        .starts_with("NO"));
    // Once delegated with the handle right, B may.
    server
        .store
        .delegate("STTTT", USER_B, storage::RIGHTS_HANDLE, false)
        .await
        .unwrap();
    let mut other = Client::connect(server.addr).await;
    assert!(other
        .login(&server.unit_address, USER_B, PASSWORD_B)
        .await
        .starts_with("OK"));
    assert!(other.cmd("LISTSCRIPTS").await.contains("\"unit\" ACTIVE"));
    // Read rights alone are not enough.
    server
        .store
        .delegate("STTTT", USER_B, storage::RIGHTS_READ, false)
        .await
        .unwrap();
    let mut other = Client::connect(server.addr).await;
    assert!(other
        .login(&server.unit_address, USER_B, PASSWORD_B)
        .await
        .starts_with("NO"));
}

#[tokio::test]
async fn the_auth_throttle_applies() {
    let server = start(|s| s.allow_plaintext_loopback = true).await;
    let mut c = Client::connect(server.addr).await;
    for _ in 0..3 {
        assert!(c.login("", USER_A, "wrong").await.starts_with("NO"));
    }
    // Locked after 3 failures (policy::limits): even the right password is refused now.
    let answer = c.login("", USER_A, PASSWORD_A).await;
    assert!(answer.starts_with("NO (TRYLATER)"), "{answer}");
}

#[tokio::test]
async fn hostile_input_is_bounded() {
    let server = start(|s| {
        s.allow_plaintext_loopback = true;
        s.max_script_bytes = 100;
    })
    .await;
    let mut c = Client::connect(server.addr).await;
    // A literal far beyond what may be skipped ends the connection with BYE.
    c.send(b"PUTSCRIPT \"x\" {999999999+}\r\n").await;
    let answer = c.response().await;
    assert!(answer.starts_with("BYE"), "{answer}");
    // Garbage is answered NO, and too many errors end the session.
    let mut c = Client::connect(server.addr).await;
    let mut last = String::new();
    for _ in 0..12 {
        last = c.cmd("%%%").await;
        if last.starts_with("BYE") {
            break;
        }
        assert!(last.starts_with("NO"), "{last}");
    }
    assert!(last.starts_with("BYE"), "{last}");
}

#[tokio::test]
async fn shutdown_says_bye() {
    let server = start(|_| {}).await;
    let mut c = Client::connect(server.addr).await;
    server.shutdown.trigger();
    let answer = c.response().await;
    assert!(answer.starts_with("BYE"), "{answer}");
}
