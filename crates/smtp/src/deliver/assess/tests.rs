//! The assessment without storage, clamd or DNS: a few cases for each verdict.

use super::*;
use crate::outbound::forwarding::ForwardingPolicy;
use crate::session::Recipient;

const USER: &str = "nvan.stttt@kontum.gov.vn";
const UNIT: &str = "stttt@kontum.gov.vn";
const OTHER: &str = "ttbinh.stttt@kontum.gov.vn";

fn settings() -> Settings {
    Settings::for_hostname("mx.kontum.gov.vn")
}

fn local(address: &str, account_id: i64) -> Recipient {
    Recipient {
        address: address.into(),
        target: RecipientTarget::Local(vec![account_id]),
        notify: None,
        orcpt: None,
    }
}

fn outside(address: &str) -> Recipient {
    Recipient {
        address: address.into(),
        target: RecipientTarget::Remote,
        notify: Some("FAILURE".into()),
        orcpt: Some(format!("rfc822;{address}")),
    }
}

fn transaction(from: &str, recipients: Vec<Recipient>) -> Transaction {
    Transaction {
        from: from.into(),
        recipients,
        ..Transaction::default()
    }
}

fn meta(from_header: &str) -> MessageMeta {
    MessageMeta::compute(
        format!("From: <{from_header}>\r\nSubject: Báo cáo\r\n\r\nNội dung\r\n").as_bytes(),
    )
}

fn account(account_id: i64, address: &str) -> AccountRef {
    AccountRef {
        account_id,
        address: address.into(),
        kind: "person".into(),
        status: AccountStatus::Active,
        quota_bytes: 0,
        used_bytes: 0,
        unit_address: None,
    }
}

fn spam_check(score: f64, action: Action) -> SpamCheck {
    SpamCheck {
        auth: Some(AuthReport {
            header: "Authentication-Results: mx.kontum.gov.vn; spf=pass\r\n".into(),
            spf: Default::default(),
            dkim: Default::default(),
            dmarc: Default::default(),
            dmarc_policy_reject: false,
        }),
        verdict: spam::Verdict {
            score,
            action,
            tests: vec!["NO_DATE".into()],
            hits: vec![("NO_DATE".into(), score)],
        },
    }
}

fn forward(account_id: i64, address: &str, target: &str, keep_copy: bool) -> Forward {
    Forward {
        account_id,
        address: address.into(),
        target: target.into(),
        keep_copy,
        doc_ref: "CV-12".into(),
    }
}

/// Assesses mail from outside (MX) or, with `user`, a submission.
fn run(
    transaction: &Transaction,
    user: Option<&AuthUser>,
    meta: &MessageMeta,
    facts: &Facts,
    settings: &Settings,
) -> Assessment {
    let arrival = Arrival {
        transaction,
        user,
        from_outside: user.is_none(),
        meta,
        size: 100,
        trace: Trace {
            session_id: "s1-1",
            helo: Some("client.example.org"),
            peer: "192.0.2.7".parse().unwrap(),
            protocol: if user.is_some() { "ESMTPSA" } else { "ESMTP" },
            date: "Mon, 23 Nov 2026 10:00:00 +0000",
        },
    };
    assess(&arrival, facts, settings)
}

fn mx(facts: &Facts) -> Assessment {
    let t = transaction("sender@example.org", vec![local(USER, 1)]);
    run(&t, None, &meta("sender@example.org"), facts, &settings())
}

fn user() -> AuthUser {
    AuthUser {
        account_id: 1,
        address: USER.into(),
        unit: None,
    }
}

fn code(assessment: &Assessment) -> String {
    let r = assessment.verdict.refusal().expect("a refusal");
    format!("{} {} {}", r.code, r.enhanced, r.text)
}

fn actions(assessment: &Assessment) -> Vec<&str> {
    assessment
        .events
        .iter()
        .map(|e| e.action.as_str())
        .collect()
}

fn inbox(account_id: i64) -> DeliveryTarget {
    DeliveryTarget {
        account_id,
        folder: FolderChoice::Inbox,
        flags: storage::Flags::new(),
    }
}

fn targets(assessment: &Assessment) -> Vec<(i64, FolderChoice)> {
    assessment
        .targets
        .iter()
        .map(|t| (t.account_id, t.folder.clone()))
        .collect()
}

// ----- Deliver -----

#[test]
fn clean_mail_goes_to_the_inbox_with_trace_fields_first() {
    let a = mx(&Facts {
        scan: Scan::Clean,
        spam: Some(spam_check(1.0, Action::Deliver)),
        ..Facts::default()
    });
    assert_eq!(a.verdict, Verdict::Deliver);
    assert!(a.verdict.refusal().is_none());
    assert_eq!(a.targets.len(), 1);
    assert_eq!(a.targets[0].account_id, inbox(1).account_id);
    assert_eq!(a.targets[0].folder, FolderChoice::Inbox);
    assert!(a.events.is_empty() && a.reasons.is_empty());
    assert_eq!(
        a.prepend,
        "Return-Path: <sender@example.org>\r\n\
         Received: from client.example.org (192.0.2.7 [192.0.2.7])\r\n\
         \tby mx.kontum.gov.vn with ESMTP id s1-1\r\n\tfor <nvan.stttt@kontum.gov.vn>;\r\n\
         \tMon, 23 Nov 2026 10:00:00 +0000\r\n\
         Authentication-Results: mx.kontum.gov.vn; spf=pass\r\n\
         X-Spam-Score: 1.0\r\n\
         X-Spam-Status: No, score=1.0 required=5.0 tests=NO_DATE\r\n"
    );
}

#[test]
fn several_recipients_get_no_for_clause_and_each_account_once() {
    let t = transaction(
        "sender@example.org",
        vec![
            local(USER, 1),
            local(OTHER, 2),
            Recipient {
                address: "cacso@kontum.gov.vn".into(),
                target: RecipientTarget::Local(vec![1, 2, 3]),
                notify: None,
                orcpt: None,
            },
        ],
    );
    let a = run(
        &t,
        None,
        &meta("sender@example.org"),
        &Facts::default(),
        &settings(),
    );
    assert_eq!(a.verdict, Verdict::Deliver);
    assert!(!a.prepend.contains("\tfor <"), "{}", a.prepend);
    let ids: Vec<i64> = a.targets.iter().map(|t| t.account_id).collect();
    assert_eq!(ids, [1, 2, 3]);
}

#[test]
fn outside_recipients_of_a_submission_go_to_the_queue_with_their_dsn_parameters() {
    let t = transaction(
        USER,
        vec![
            outside("a@example.org"),
            local(OTHER, 2),
            outside("b@example.net"),
        ],
    );
    let facts = Facts {
        sendable: Some(vec![USER.into()]),
        ..Facts::default()
    };
    let a = run(&t, Some(&user()), &meta(USER), &facts, &settings());
    assert_eq!(a.verdict, Verdict::Deliver);
    let remote: Vec<&str> = a.remote.iter().map(|r| r.address.as_str()).collect();
    assert_eq!(remote, ["a@example.org", "b@example.net"]);
    assert_eq!(a.remote[0].notify.as_deref(), Some("FAILURE"));
    assert_eq!(a.remote[0].orcpt.as_deref(), Some("rfc822;a@example.org"));
    assert_eq!(targets(&a), [(2, FolderChoice::Inbox)]);
    // Submitted mail is not spam-checked even when a check is at hand.
    assert!(!a.prepend.contains("X-Spam"), "{}", a.prepend);
    assert!(a.prepend.contains("with ESMTPSA id"), "{}", a.prepend);
}

// ----- Virus / ScannerUnavailable -----

#[test]
fn a_virus_is_refused_554_and_recorded_with_the_recipients() {
    let a = mx(&Facts {
        scan: Scan::Infected("Eicar-Signature".into()),
        // Later facts cannot change a refusal.
        spam: Some(spam_check(0.0, Action::Deliver)),
        ..Facts::default()
    });
    assert_eq!(
        code(&a),
        "554 5.7.1 Message refused: virus found (Eicar-Signature)"
    );
    assert_eq!(actions(&a), ["virus.refused"]);
    let event = &a.events[0];
    assert_eq!(event.actor, "smtp");
    assert_eq!(event.target, "sender@example.org");
    assert_eq!(
        event.detail,
        serde_json::json!({"signature": "Eicar-Signature", "peer": "192.0.2.7",
            "recipients": [USER]})
    );
    assert!(a.targets.is_empty() && a.remote.is_empty());
}

#[test]
fn a_failed_scan_defers_451_by_default() {
    let a = mx(&Facts {
        scan: Scan::Failed,
        ..Facts::default()
    });
    assert_eq!(a.verdict, Verdict::ScannerUnavailable);
    assert_eq!(
        code(&a),
        "451 4.7.1 Virus scanner unavailable, try again later"
    );
    assert!(a.events.is_empty());
}

#[test]
fn a_failed_scan_is_tagged_when_the_policy_accepts() {
    let mut s = settings();
    s.av_on_failure = AvFailure::AcceptAndTag;
    let t = transaction("sender@example.org", vec![local(USER, 1)]);
    let facts = Facts {
        scan: Scan::Failed,
        ..Facts::default()
    };
    let a = run(&t, None, &meta("sender@example.org"), &facts, &s);
    assert_eq!(a.verdict, Verdict::Deliver);
    assert!(a.prepend.ends_with(
        ";\r\n\tMon, 23 Nov 2026 10:00:00 +0000\r\nX-Virus-Scan: failed (scanner unavailable)\r\n"
    ));
    assert_eq!(a.reasons, [Reason::ScanFailedTagged]);
}

// ----- ForeignFrom -----

#[test]
fn a_submission_whose_from_header_is_not_the_users_is_refused_550() {
    let t = transaction(USER, vec![local(OTHER, 2)]);
    let facts = Facts {
        sendable: Some(vec![USER.into(), UNIT.into()]),
        ..Facts::default()
    };
    let a = run(
        &t,
        Some(&user()),
        &meta("giamdoc@kontum.gov.vn"),
        &facts,
        &settings(),
    );
    assert_eq!(
        code(&a),
        "550 5.7.1 nvan.stttt@kontum.gov.vn may not send as giamdoc@kontum.gov.vn (From: header)"
    );
    assert!(a.targets.is_empty());
    // The unit's address, in another case, is the user's to send as.
    let a = run(
        &t,
        Some(&user()),
        &meta("STTTT@Kontum.gov.vn"),
        &facts,
        &settings(),
    );
    assert_eq!(a.verdict, Verdict::Deliver);
}

// ----- Spam -----

#[test]
fn spam_over_the_reject_score_is_refused_550_and_recorded() {
    let a = mx(&Facts {
        scan: Scan::Clean,
        spam: Some(spam_check(16.0, Action::Reject)),
        ..Facts::default()
    });
    assert_eq!(a.verdict, Verdict::Spam { score: 16.0 });
    assert_eq!(code(&a), "550 5.7.1 Message refused as spam (score 16.0)");
    assert_eq!(actions(&a), ["spam.rejected"]);
    assert_eq!(
        a.events[0].detail,
        serde_json::json!({"score": 16.0, "tests": ["NO_DATE"], "recipients": [USER]})
    );
}

#[test]
fn junk_goes_to_the_junk_folder_and_is_never_forwarded() {
    let a = mx(&Facts {
        spam: Some(spam_check(9.0, Action::Junk)),
        forwards: vec![ForwardFacts {
            rule: forward(1, USER, OTHER, false),
            target: ForwardTarget::Hosted(Resolved::Account(account(2, OTHER))),
        }],
        ..Facts::default()
    });
    assert_eq!(a.verdict, Verdict::Deliver);
    assert_eq!(a.folder, FolderChoice::SpecialUse("\\Junk"));
    assert_eq!(targets(&a), [(1, FolderChoice::SpecialUse("\\Junk"))]);
    assert_eq!(actions(&a), ["spam.junked"]);
    assert_eq!(a.events[0].detail, serde_json::json!({"score": 9.0}));
    assert_eq!(a.reasons, [Reason::Junk { score: 9.0 }]);
    assert!(a
        .prepend
        .contains("X-Spam-Status: Yes, score=9.0 required=5.0"));
}

#[test]
fn tagged_spam_is_delivered_to_the_inbox_marked_yes() {
    let a = mx(&Facts {
        spam: Some(spam_check(6.0, Action::Tag)),
        ..Facts::default()
    });
    assert_eq!(targets(&a), [(1, FolderChoice::Inbox)]);
    assert!(a.prepend.contains("X-Spam-Status: Yes, score=6.0"));
    assert_eq!(a.reasons, [Reason::SpamTagged { score: 6.0 }]);
}

#[test]
fn with_spam_checks_off_no_spam_fields_are_added() {
    let mut s = settings();
    s.spam.enabled = false;
    let t = transaction("sender@example.org", vec![local(USER, 1)]);
    let facts = Facts {
        spam: Some(spam_check(0.0, Action::Deliver)),
        ..Facts::default()
    };
    let a = run(&t, None, &meta("sender@example.org"), &facts, &s);
    assert!(!a.prepend.contains("X-Spam"), "{}", a.prepend);
    assert!(a.prepend.contains("Authentication-Results:"));
}

// ----- Forwards -----

#[test]
fn a_forward_to_a_hosted_account_moves_the_copy_unless_kept() {
    let hosted = |keep| Facts {
        forwards: vec![ForwardFacts {
            rule: forward(1, USER, OTHER, keep),
            target: ForwardTarget::Hosted(Resolved::Account(account(2, OTHER))),
        }],
        ..Facts::default()
    };
    let a = mx(&hosted(false));
    assert_eq!(targets(&a), [(2, FolderChoice::Inbox)]);
    assert_eq!(
        a.reasons,
        [Reason::Forwarded {
            address: USER.into(),
            target: OTHER.into()
        }]
    );
    let a = mx(&hosted(true));
    assert_eq!(
        targets(&a),
        [(1, FolderChoice::Inbox), (2, FolderChoice::Inbox)]
    );
}

#[test]
fn a_forward_outside_needs_the_policy_and_otherwise_leaves_the_mail_in_place() {
    let facts = Facts {
        forwards: vec![ForwardFacts {
            rule: forward(1, USER, "vanthu@mic.gov.vn", false),
            target: ForwardTarget::Outside,
        }],
        ..Facts::default()
    };
    // Default policy: forwarding outside is off.
    let a = mx(&facts);
    assert_eq!(targets(&a), [(1, FolderChoice::Inbox)]);
    assert!(a.remote.is_empty());
    assert_eq!(actions(&a), ["forward.refused"]);
    assert_eq!(a.events[0].target, USER);
    assert_eq!(a.events[0].doc_ref, "CV-12");
    assert_eq!(
        a.events[0].detail["target"],
        serde_json::json!("vanthu@mic.gov.vn")
    );
    // Allowed: queued, no local copy.
    let mut s = settings();
    s.forwarding = ForwardingPolicy {
        enabled: true,
        allowed_domains: vec!["mic.gov.vn".into()],
        ..ForwardingPolicy::default()
    };
    let t = transaction("sender@example.org", vec![local(USER, 1)]);
    let a = run(&t, None, &meta("sender@example.org"), &facts, &s);
    assert!(a.targets.is_empty());
    assert_eq!(a.remote, [OutboundRecipient::new("vanthu@mic.gov.vn")]);
    assert!(a.events.is_empty());
}

#[test]
fn forwards_that_cannot_be_followed_are_refused_with_their_reason() {
    let mut full = account(2, OTHER);
    full.quota_bytes = 1000;
    full.used_bytes = 950;
    let cases = [
        (Resolved::Account(account(1, USER)), "forwards to itself"),
        (Resolved::Account(full), "target mailbox closed or full"),
        (Resolved::Unknown, "no such mailbox here"),
    ];
    for (resolved, why) in cases {
        let a = mx(&Facts {
            forwards: vec![ForwardFacts {
                rule: forward(1, USER, OTHER, false),
                target: ForwardTarget::Hosted(resolved),
            }],
            ..Facts::default()
        });
        assert_eq!(targets(&a), [(1, FolderChoice::Inbox)], "{why}");
        assert_eq!(
            a.reasons,
            [Reason::ForwardRefused {
                address: USER.into(),
                target: OTHER.into(),
                why: why.into()
            }]
        );
    }
}

#[test]
fn a_forward_to_a_group_reaches_its_receiving_members_but_not_the_forwarder() {
    let mut departed = account(4, "cu@kontum.gov.vn");
    departed.status = AccountStatus::Departed;
    let a = mx(&Facts {
        forwards: vec![ForwardFacts {
            rule: forward(1, USER, "cacso@kontum.gov.vn", false),
            target: ForwardTarget::Hosted(Resolved::Group {
                group_id: 9,
                send_policy: "anyone".into(),
                members: vec![account(1, USER), account(2, OTHER), departed],
            }),
        }],
        ..Facts::default()
    });
    assert_eq!(targets(&a), [(2, FolderChoice::Inbox)]);
    assert!(a.events.is_empty());
}

// ----- Unit send -----

#[test]
fn sending_as_the_unit_keeps_a_seen_copy_in_the_units_sent_folder() {
    let t = transaction(UNIT, vec![outside("vanthu@mic.gov.vn")]);
    let facts = Facts {
        sendable: Some(vec![USER.into(), UNIT.into()]),
        sender_owner: Some(account(7, UNIT)),
        ..Facts::default()
    };
    let a = run(&t, Some(&user()), &meta(UNIT), &facts, &settings());
    assert_eq!(a.verdict, Verdict::Deliver);
    assert_eq!(a.targets.len(), 1);
    assert_eq!(a.targets[0].account_id, 7);
    assert_eq!(a.targets[0].folder, FolderChoice::SpecialUse("\\Sent"));
    assert_eq!(a.targets[0].flags, "\\Seen");
    assert_eq!(actions(&a), ["unit.send"]);
    assert_eq!(a.events[0].actor, USER);
    assert_eq!(a.events[0].target, UNIT);
    assert_eq!(a.events[0].detail, serde_json::json!({"recipients": 1}));
    // Sending as oneself: no extra copy.
    let facts = Facts {
        sender_owner: Some(account(1, USER)),
        ..facts
    };
    let a = run(&t, Some(&user()), &meta(UNIT), &facts, &settings());
    assert!(a.targets.is_empty() && a.events.is_empty());
}
