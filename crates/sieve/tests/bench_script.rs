//! The 20-rule script bench/smtp.sh installs (SIEVE=1) compiles, has 20 rules, and keeps the
//! benchmark's messages in INBOX after running every rule.

use sieve::eval::HeaderField;
use sieve::{compile, evaluate, Action, Environment, Limits, MessageView};

#[test]
fn bench_script_compiles_and_runs_every_rule() {
    let bench = include_str!("../../../bench/smtp.sh");
    let start = bench
        .find("SIEVE_SCRIPT='")
        .expect("SIEVE_SCRIPT in bench/smtp.sh")
        + "SIEVE_SCRIPT='".len();
    let end = start + bench[start..].find("\n'").expect("closing quote");
    let script = &bench[start..end];
    let program = compile(script, &Limits::default()).unwrap_or_else(|e| panic!("{e}"));
    let rules = script
        .lines()
        .filter(|l| l.starts_with("if ") || l.starts_with("elsif "))
        .count();
    assert_eq!(rules, 20);
    let field = |name: &str, value: &str| HeaderField {
        name: name.into(),
        raw: value.into(),
        decoded: value.into(),
    };
    let view = MessageView {
        headers: vec![
            field("From", "load@bench.test"),
            field("To", "bench@bench.test"),
            field("Subject", "load test message 17"),
            field("Date", "Mon, 23 Nov 2026 10:00:00 +0700"),
            field("Message-ID", "<17@bench.test>"),
        ],
        size: 4096,
        envelope_from: "load@bench.test".into(),
        envelope_to: "bench@bench.test".into(),
    };
    let none = |_: &str| false;
    let limits = Limits::default();
    let env = Environment {
        now: 0,
        local_zone: 420,
        mailbox_exists: &none,
        limits: &limits,
    };
    let outcome = evaluate(&program, &view, &env).unwrap();
    assert_eq!(outcome.actions, vec![Action::Keep { flags: vec![] }]);
}
