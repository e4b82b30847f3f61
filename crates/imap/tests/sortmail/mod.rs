//! Mail for the SORT / THREAD / ESORT / CONTEXT conformance tests: five messages whose sort
//! values are chosen so every key orders them differently, with Vietnamese RFC 2047-encoded
//! subjects and display names. Every expected order in the tests is worked out by hand from the
//! values listed on [`five`], never taken from the server.
#![allow(dead_code)]

use base64::Engine;

/// 2026-06-01 12:00:00 UTC, the base of the internal dates.
pub const T: i64 = 1_780_315_200;

/// RFC 2047 `B` encoded word of UTF-8 text.
pub fn b(text: &str) -> String {
    format!(
        "=?UTF-8?B?{}?=",
        base64::engine::general_purpose::STANDARD.encode(text)
    )
}

/// A message: the header fields given, a blank line, `body_len` bytes of body.
pub fn raw(headers: &[(&str, String)], body_len: usize) -> Vec<u8> {
    let mut s = String::new();
    for (name, value) in headers {
        s.push_str(&format!("{name}: {value}\r\n"));
    }
    s.push_str("MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n");
    let mut body = "x".repeat(body_len.saturating_sub(2));
    body.push_str("\r\n");
    s.push_str(&body);
    s.into_bytes()
}

/// One message with its internal date.
pub struct Mail {
    pub raw: Vec<u8>,
    pub internal_date: i64,
}

/// The five messages, appended in this order (sequence numbers 1..5):
///
/// | seq | From (name, mailbox)     | To              | Cc   | Subject (decoded)          | Date: (UTC)             | INTERNALDATE | body  |
/// |-----|--------------------------|-----------------|------|----------------------------|-------------------------|--------------|-------|
/// | 1   | Đức, duc.stttt           | an (no name)    | —    | Re: Kế hoạch năm           | 06-02 08:00 +07 = 01:00 | T+10         | 3000  |
/// | 2   | Dũng, dung               | binh (no name)  | —    | Kế hoạch năm               | 06-01 22:00 -05 = 06-02 03:00 | T+20   | 1000  |
/// | 3   | (none), an               | Giang, giang    | chi  | [Sở TT] Giấy mời           | none → INTERNALDATE T+5 | T+5          | 5000  |
/// | 4   | Ánh, anh                 | (no To)         | —    | Fwd: Giấy mời (fwd)        | 06-02 01:00 +00 = 01:00 | T+30         | 4000  |
/// | 5   | Bình, binh               | Đức, duc        | —    | (no Subject)               | 06-01 00:00 +00         | T+1          | 2000  |
///
/// Threading: 1 has `In-Reply-To: <m2@kt>`, 4 has `References: <m3@kt>`; Message-IDs are
/// `<m1@kt>` … `<m5@kt>`. Bodies dominate the sizes (headers differ by far less than 1000).
pub fn five() -> Vec<Mail> {
    let d = "kontum.gov.vn";
    let m = |headers: Vec<(&str, String)>, body, at| Mail {
        raw: raw(&headers, body),
        internal_date: T + at,
    };
    vec![
        m(
            vec![
                ("From", format!("{} <duc.stttt@{d}>", b("Đức"))),
                ("To", format!("<an@{d}>")),
                ("Subject", b("Re: Kế hoạch năm")),
                ("Date", "Tue, 2 Jun 2026 08:00:00 +0700".into()),
                ("Message-ID", "<m1@kt>".into()),
                ("In-Reply-To", "<m2@kt>".into()),
            ],
            3000,
            10,
        ),
        m(
            vec![
                ("From", format!("{} <dung@{d}>", b("Dũng"))),
                ("To", format!("binh@{d}")),
                ("Subject", b("Kế hoạch năm")),
                ("Date", "Mon, 1 Jun 2026 22:00:00 -0500".into()),
                ("Message-ID", "<m2@kt>".into()),
            ],
            1000,
            20,
        ),
        m(
            vec![
                ("From", format!("an@{d}")),
                ("To", format!("{} <giang@{d}>", b("Giang"))),
                ("Cc", format!("chi@{d}")),
                ("Subject", b("[Sở TT] Giấy mời")),
                ("Message-ID", "<m3@kt>".into()),
            ],
            5000,
            5,
        ),
        m(
            vec![
                ("From", format!("{} <anh@{d}>", b("Ánh"))),
                ("Subject", format!("Fwd: {} (fwd)", b("Giấy mời"))),
                ("Date", "Tue, 2 Jun 2026 01:00:00 +0000".into()),
                ("Message-ID", "<m4@kt>".into()),
                ("References", "<m3@kt>".into()),
            ],
            4000,
            30,
        ),
        m(
            vec![
                ("From", format!("{} <binh@{d}>", b("Bình"))),
                ("To", format!("{} <duc@{d}>", b("Đức"))),
                ("Date", "Mon, 1 Jun 2026 00:00:00 +0000".into()),
                ("Message-ID", "<m5@kt>".into()),
            ],
            2000,
            1,
        ),
    ]
}

/// Appends `mails` to the INBOX of `account_id` with their internal dates; returns the UIDs.
pub async fn put(store: &storage::Store, account_id: i64, mails: &[Mail]) -> Vec<i64> {
    let inbox = store.folder(account_id, "INBOX").await.unwrap().id;
    let mut uids = vec![];
    for mail in mails {
        uids.push(
            store
                .append_message(inbox, &mail.raw, storage::Flags::new(), mail.internal_date)
                .await
                .unwrap(),
        );
    }
    uids
}

/// Appends one throw-away message and expunges it, so the next UIDs differ from sequence
/// numbers (UID = sequence number + 1 for the messages put afterwards).
pub async fn burn_one_uid(store: &storage::Store, account_id: i64) {
    let inbox = store.folder(account_id, "INBOX").await.unwrap().id;
    let uid = store
        .append_message(
            inbox,
            &raw(&[("Subject", "burn".into())], 10),
            storage::Flags::from_names(["\\Deleted"]),
            T,
        )
        .await
        .unwrap();
    assert_eq!(store.expunge(inbox, None).await.unwrap(), vec![uid]);
}

/// The numbers of an untagged `SORT` response line, in order.
pub fn sort_numbers(line: &str) -> Vec<i64> {
    line.strip_prefix("SORT")
        .unwrap_or_else(|| panic!("not a SORT response: {line}"))
        .split_whitespace()
        .map(|n| n.parse().unwrap())
        .collect()
}
