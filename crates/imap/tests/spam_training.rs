//! Users train the spam classifier: UID MOVE into Junk and STORE `$Junk` train spam, `$NotJunk`
//! and a move out of Junk train ham (a re-classified message is untrained from the other side),
//! and the next similar message scores higher.

use crate::common;

use std::time::Duration;

use common::*;
use policy::spam::bayes::{self, Counts};
use policy::spam::{score, Facts, Parsed, SpamConfig};
use storage::spam::PROVINCE;

fn mail(subject: &str, body: &str, n: usize) -> Vec<u8> {
    format!(
        "Return-Path: <qua{n}@khuyenmai.example>\r\nFrom: <qua{n}@khuyenmai.example>\r\nTo: <nvan.stttt@kontum.gov.vn>\r\n\
Subject: {subject}\r\nMessage-ID: <{n}@test>\r\nDate: Mon, 23 Nov 2026 10:00:00 +0700\r\nMIME-Version: 1.0\r\n\
Content-Type: text/plain; charset=utf-8\r\n\r\n{body}\r\n"
    )
    .into_bytes()
}

fn spam(n: usize) -> Vec<u8> {
    mail(
        &format!("Chúc mừng bạn trúng thưởng iPhone {n}"),
        &format!("Nhận quà miễn phí ngay hôm nay, khuyến mãi chỉ còn {n} giờ. Bấm vào liên kết để nhận thưởng."),
        n,
    )
}

fn ham(n: usize) -> Vec<u8> {
    mail(
        &format!("Kế hoạch họp giao ban tuần {n}"),
        &format!("Kính gửi các phòng, Sở gửi kế hoạch họp giao ban tuần {n} và dự thảo báo cáo công tác."),
        100 + n,
    )
}

/// The score policy gives `raw` with the account's classifier counts (as SMTP asks them).
async fn bayes_score(store: &storage::Store, account: i64, raw: &[u8]) -> (f64, Vec<String>) {
    let config = SpamConfig {
        bayes_min_trained: 1,
        ..SpamConfig::default()
    };
    let parsed = Parsed::from_bytes(raw);
    let (totals, counts) = store
        .bayes_counts(account, &bayes::hashes(&parsed))
        .await
        .unwrap();
    let facts = Facts {
        bayes: bayes::trained_enough(totals, 1).then(|| bayes::probability(totals, &counts)),
        ..Facts::default()
    };
    let verdict = score(&config, &parsed, &facts);
    (verdict.score, verdict.tests)
}

/// Training runs after the reply: waits (bounded) until the totals are `want`.
async fn totals_become(store: &storage::Store, account: i64, want: Counts) {
    for _ in 0..100 {
        if store.bayes_totals(account).await.unwrap() == want {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!(
        "totals of {account} stayed {:?}, wanted {want:?}",
        store.bayes_totals(account).await.unwrap()
    );
}

#[tokio::test]
async fn junk_moves_and_flags_train_and_the_next_similar_message_scores_higher() {
    let f = fixture_with(|_| {}).await;
    for n in 1..=3 {
        f.deliver(f.account_a, &spam(n)).await;
    }
    for n in 1..=3 {
        f.deliver(f.account_a, &ham(n)).await;
    }
    let next_spam = spam(9);
    let (before, _) = bayes_score(&f.store, f.account_a, &next_spam).await;

    let mut c = converse_as(&f, USER_A).await;
    c.imap("SELECT INBOX").await.expect("OK");
    // RFC 6851 3.1: UID MOVE answers OK (COPYUID, then the expunges).
    c.imap("UID MOVE 1:2 Junk").await.expect("OK");
    // RFC 9051 6.4.6: STORE +FLAGS adds keywords; $Junk as Thunderbird sets it.
    c.imap("UID STORE 3 +FLAGS ($Junk)").await.expect("OK");
    c.imap("UID STORE 4:6 +FLAGS ($NotJunk)").await.expect("OK");
    let trained = Counts { spam: 3, ham: 3 };
    totals_become(&f.store, f.account_a, trained).await;
    totals_become(&f.store, PROVINCE, trained).await;

    let (after, tests) = bayes_score(&f.store, f.account_a, &next_spam).await;
    assert!(after > before, "before {before}, after {after}: {tests:?}");
    assert!(
        tests.iter().any(|t| t == "BAYES_95" || t == "BAYES_99"),
        "{tests:?}"
    );
    let (_, ham_tests) = bayes_score(&f.store, f.account_a, &ham(9)).await;
    assert!(
        ham_tests.iter().any(|t| t == "BAYES_00" || t == "BAYES_05"),
        "{ham_tests:?}"
    );

    // A message taken back out of Junk is untrained as spam and trained as ham.
    c.imap("SELECT Junk").await.expect("OK");
    c.imap("UID MOVE 1 INBOX").await.expect("OK");
    let moved = Counts { spam: 2, ham: 4 };
    totals_become(&f.store, f.account_a, moved).await;
    totals_become(&f.store, PROVINCE, moved).await;
    // Into Trash is deleting, not a verdict: nothing changes.
    c.imap("UID MOVE 2 Trash").await.expect("OK");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(f.store.bayes_totals(f.account_a).await.unwrap(), moved);
    // Another account's own counts are untouched.
    assert_eq!(
        f.store.bayes_totals(f.account_b).await.unwrap(),
        Counts::default()
    );
}
