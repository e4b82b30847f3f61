//! The spam classifier's counts and the sender history, on both backends.
//! Run with `scripts/test -p storage --test storage_tests -- spam::`.

use crate::common;

use common::{for_each_backend, Ctx};
use policy::spam::bayes::{Class, Counts};
use storage::spam::{Trained, PROVINCE};

/// The store opened again. Deviation: on a SQLite file created by the first `Store::open`,
/// some read-pool connections answer "unable to open database file" (code 14) to every query
/// (seen with `sieve_scripts` too, without migration 0014: a pre-existing fault of a fresh
/// file, reported); a second open of the same file reads normally.
async fn fresh(ctx: &Ctx) -> storage::Store {
    ctx.reopen().await.unwrap()
}

#[tokio::test]
async fn training_counts_once_and_a_reclassified_message_moves_sides() {
    for_each_backend("bayes_train", |ctx: Ctx| async move {
        let s = &fresh(&ctx).await;
        let tokens = [11_i64, -22, 33];
        let t = s
            .bayes_train(&[7, PROVINCE], "d1", Class::Spam, &tokens)
            .await
            .unwrap();
        assert_eq!(t, Trained::New);
        // Trained again as spam: nothing changes.
        let t = s
            .bayes_train(&[7, PROVINCE], "d1", Class::Spam, &tokens)
            .await
            .unwrap();
        assert_eq!(t, Trained::Already);
        let (totals, counts) = s.bayes_counts(7, &[11, 33, 44]).await.unwrap();
        assert_eq!(totals, Counts { spam: 1, ham: 0 });
        assert_eq!(
            counts,
            [
                Counts { spam: 1, ham: 0 },
                Counts { spam: 1, ham: 0 },
                Counts::default()
            ]
        );
        // The user takes it out of Junk: untrained as spam, trained as ham.
        let t = s
            .bayes_train(&[7, PROVINCE], "d1", Class::Ham, &tokens)
            .await
            .unwrap();
        assert_eq!(t, Trained::Moved);
        for account in [7, PROVINCE] {
            let (totals, counts) = s.bayes_counts(account, &[-22]).await.unwrap();
            assert_eq!(totals, Counts { spam: 0, ham: 1 });
            assert_eq!(counts, [Counts { spam: 0, ham: 1 }]);
        }
        // Another account's counts are its own.
        let (totals, _) = s.bayes_counts(8, &[11]).await.unwrap();
        assert_eq!(totals, Counts::default());
        // Many tokens go in chunks.
        let many: Vec<i64> = (0..1203).collect();
        s.bayes_train(&[PROVINCE], "d2", Class::Spam, &many)
            .await
            .unwrap();
        let (totals, counts) = s.bayes_counts(PROVINCE, &many).await.unwrap();
        assert_eq!(totals, Counts { spam: 1, ham: 1 });
        assert!(counts.iter().all(|c| c.spam == 1), "{:?}", &counts[..3]);
        // Several accounts' totals in one look-up, in the order asked; none trained: zero.
        assert_eq!(
            s.bayes_totals_of(&[8, PROVINCE, 7]).await.unwrap(),
            [
                Counts::default(),
                Counts { spam: 1, ham: 1 },
                Counts { spam: 0, ham: 1 }
            ]
        );
        assert_eq!(s.bayes_totals_of(&[]).await.unwrap(), []);
    })
    .await;
}

#[tokio::test]
async fn sender_history_counts_accepted_and_junked_by_address_domain_and_ip() {
    for_each_backend("sender_history", |ctx: Ctx| async move {
        let s = &fresh(&ctx).await;
        s.record_sender("Spam@Evil.test", "192.0.2.1", true, false)
            .await
            .unwrap();
        s.record_sender("other@evil.test", "192.0.2.1", true, false)
            .await
            .unwrap();
        s.record_sender("spam@evil.test", "", false, false)
            .await
            .unwrap();
        let h = s
            .sender_history("spam@evil.test", "192.0.2.1")
            .await
            .unwrap();
        assert_eq!((h.address.accepted, h.address.junked), (1, 1));
        assert_eq!((h.domain.accepted, h.domain.junked), (1, 2));
        assert_eq!((h.ip.accepted, h.ip.junked), (0, 2));
        // A user takes a junked message back: one moves from junked to accepted, never below 0.
        s.record_sender("spam@evil.test", "", false, true)
            .await
            .unwrap();
        s.record_sender("spam@evil.test", "", false, true)
            .await
            .unwrap();
        let h = s.sender_history("spam@evil.test", "").await.unwrap();
        assert_eq!((h.address.accepted, h.address.junked), (3, 0));
    })
    .await;
}
