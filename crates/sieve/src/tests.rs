//! Parser tables and evaluator checks from the RFC examples (RFC 5228, 5230, 5231, 5232,
//! 5260, 5490, 3894). Expected outcomes are worked out from the RFC text quoted by section.

use crate::compare::{Comparator, MatchType, Matcher, Relation};
use crate::eval::{HeaderField, MessageView};
use crate::{compile, evaluate, Action, Environment, Limits, Outcome};

fn message(headers: &[(&str, &str)], from: &str, to: &str, size: u64) -> MessageView {
    MessageView {
        headers: headers
            .iter()
            .map(|(name, value)| HeaderField {
                name: name.to_string(),
                raw: value.to_string(),
                decoded: value.to_string(),
            })
            .collect(),
        size,
        envelope_from: from.into(),
        envelope_to: to.into(),
    }
}

fn run_with(script: &str, view: &MessageView, now: i64, mailboxes: &[&str]) -> Outcome {
    let limits = Limits::default();
    let program = compile(script, &limits).unwrap_or_else(|e| panic!("{script}: {e}"));
    let exists = |name: &str| mailboxes.contains(&name);
    let env = Environment {
        now,
        local_zone: 7 * 60,
        mailbox_exists: &exists,
        limits: &limits,
    };
    evaluate(&program, view, &env).unwrap_or_else(|e| panic!("{script}: {e}"))
}

fn run(script: &str, view: &MessageView) -> Outcome {
    run_with(script, view, 0, &["INBOX"])
}

fn keep() -> Action {
    Action::Keep { flags: vec![] }
}

fn fileinto(mailbox: &str) -> Action {
    Action::FileInto {
        mailbox: mailbox.into(),
        create: false,
        flags: vec![],
    }
}

fn coyote() -> MessageView {
    message(
        &[
            ("From", "Wile E. Coyote <coyote@desert.example.org>"),
            ("To", "roadrunner@acme.example.com"),
            ("Subject", "I have a present for you"),
            ("Date", "Tue, 1 Apr 1997 09:06:31 -0800"),
        ],
        "coyote@desert.example.org",
        "roadrunner@acme.example.com",
        2000,
    )
}

// ---------------------------------------------------------------- parser tables

#[test]
fn scripts_that_compile() {
    let cases = [
        // RFC 5228 2.4.2: multi-line strings with dot-stuffing.
        "require \"vacation\";\nvacation text:\n..dotted\nline two\n.\n;",
        // RFC 5228 2.3: both kinds of comment.
        "# hash\n/* bracketed\n comment */ keep;",
        // RFC 5228 2.4.1: K, M and G quantifiers.
        "if size :over 1K { discard; } if size :under 2M { keep; } if size :over 1G { stop; }",
        // RFC 5228 8.1: identifiers and tags are case-insensitive.
        "IF HEADER :IS \"Subject\" \"x\" { DISCARD; }",
        // Tags in any order (RFC 5228 2.6.2).
        "if address :domain :is :comparator \"i;octet\" \"from\" \"a.b\" { keep; }",
        "require [\"fileinto\", \"mailbox\", \"imap4flags\", \"copy\"]; fileinto :create :copy :flags \"\\\\Seen\" \"A/B\";",
        "require [\"relational\", \"comparator-i;ascii-numeric\"]; if header :value \"ge\" :comparator \"i;ascii-numeric\" \"X-N\" \"5\" { keep; }",
        "require \"date\"; require \"relational\"; if currentdate :zone \"+0700\" :value \"ge\" \"date\" \"2026-01-01\" { keep; }",
        "if anyof (not true, allof (true, false)) { keep; } elsif false { discard; } else { stop; }",
        "",
    ];
    for script in cases {
        if let Err(e) = compile(script, &Limits::default()) {
            panic!("{script:?} should compile: {e}");
        }
    }
}

#[test]
fn scripts_that_fail_name_their_line() {
    // (script, line, words the message contains)
    let cases: &[(&str, usize, &str)] = &[
        ("keep", 1, "missing \";\""),
        ("keep;\nkeep;\nif true {\n  keep;\n", 3, "block not closed"),
        ("keep;\n\nbogus;", 3, "unknown command"),
        // RFC 5228 3.2: an extension must be required before use.
        ("\nfileinto \"x\";", 2, "require \"fileinto\""),
        ("require \"fileinto\";\nkeep;\nrequire \"envelope\";", 3, "start of the script"),
        ("require \"nosuch\";", 1, "unsupported extension"),
        ("keep;\nelse { keep; }", 2, "without a preceding if"),
        ("if header :is \"a\" { keep; }", 1, "expected a key list"),
        ("if header :is :contains \"a\" \"b\" { keep; }", 1, "more than one match type"),
        ("if size 10 { keep; }", 1, ":over or :under"),
        ("redirect \"not an address\";", 1, "not a mail address"),
        ("\n\nif header :comparator \"i;unicode-casemap\" \"a\" \"b\" { keep; }", 3, "comparator-i;unicode-casemap"),
        ("require \"comparator-i;ascii-numeric\";\nif header :contains :comparator \"i;ascii-numeric\" \"a\" \"1\" {keep;}", 2, "cannot do :contains"),
        ("if header :is \"a\" \"b\"\n{ keep; ", 2, "block not closed"),
        ("\"x\";", 1, "expected a command"),
        ("keep;\n\"unterminated", 2, "unterminated string"),
        ("require \"vacation\";\nvacation text:\nno end", 2, "not ended"),
        ("/* open", 1, "unterminated /*"),
        ("keep;\n  @", 2, "unexpected character"),
        ("require \"envelope\"; if envelope \"x-other\" \"a\" { keep; }", 1, "unknown envelope part"),
    ];
    for (script, line, words) in cases {
        match compile(script, &Limits::default()) {
            Ok(_) => panic!("{script:?} compiled"),
            Err(e) => {
                assert_eq!(e.line, *line, "{script:?}: {e}");
                assert!(e.message.contains(words), "{script:?}: {e}");
            }
        }
    }
}

#[test]
fn bounds_are_errors_at_the_boundary() {
    let limits = Limits {
        max_script_bytes: 20,
        max_nesting: 2,
        max_commands: 3,
        max_list: 2,
        ..Limits::default()
    };
    assert!(
        compile("keep; keep; keep;", &limits).is_ok(),
        "3 commands, 17 bytes"
    );
    let e = compile("keep;keep;keep;keep;", &limits).unwrap_err();
    assert!(e.message.contains("more than 3 commands"), "{e}");
    let e = compile("keep; keep; keep;    ", &limits).unwrap_err();
    assert!(e.message.contains("larger than 20"), "{e}");
    let nested = Limits {
        max_nesting: 2,
        ..Limits::default()
    };
    assert!(compile("if true { if true { keep; } }", &nested).is_ok());
    let e = compile("if true { if true { if true { keep; } } }", &nested).unwrap_err();
    assert!(e.message.contains("nested deeper than 2"), "{e}");
    let lists = Limits {
        max_list: 2,
        ..Limits::default()
    };
    assert!(compile("if header :is [\"a\",\"b\"] \"x\" {keep;}", &lists).is_ok());
    let e = compile("if header :is [\"a\",\"b\",\"c\"] \"x\" {keep;}", &lists).unwrap_err();
    assert!(e.message.contains("longer than 2"), "{e}");
    // Instructions at run time.
    let run_limits = Limits {
        max_instructions: 3,
        ..Limits::default()
    };
    let program = compile("keep; keep; keep; keep;", &Limits::default()).unwrap();
    let none = |_: &str| false;
    let env = Environment {
        now: 0,
        local_zone: 0,
        mailbox_exists: &none,
        limits: &run_limits,
    };
    let e = evaluate(&program, &coyote(), &env).unwrap_err();
    assert_eq!(e.line, 1);
    assert!(e.message.contains("more than 3 instructions"), "{e}");
}

// ---------------------------------------------------------------- RFC 5228

#[test]
fn rfc5228_3_1_if_elsif_else() {
    // RFC 5228 3.1 example: "coyote" in From is discarded, "$$$" subjects too, the rest
    // filed into INBOX.
    let script = "require \"fileinto\";\n\
        if header :contains \"from\" \"coyote\" {\n  discard;\n\
        } elsif header :contains [\"subject\"] [\"$$$\"] {\n  discard;\n\
        } else {\n  fileinto \"INBOX\";\n}";
    assert_eq!(
        run(script, &coyote()).actions,
        vec![],
        "discarded: no action left"
    );
    let mut other = coyote();
    other.headers[0].decoded = "Bugs <bugs@example.com>".into();
    other.headers[2].decoded = "Win $$$ now".into();
    assert_eq!(run(script, &other).actions, vec![]);
    other.headers[2].decoded = "hello".into();
    // fileinto "INBOX" is the same as keep (RFC 5228 2.10.3: one copy).
    assert_eq!(run(script, &other).actions, vec![keep()]);
}

#[test]
fn rfc5228_3_3_stop_ends_the_script_with_the_implicit_keep() {
    // RFC 5228 3.3: stop ends processing; the implicit keep still applies.
    assert_eq!(run("stop; discard;", &coyote()).actions, vec![keep()]);
    assert_eq!(run("discard; stop;", &coyote()).actions, vec![]);
}

#[test]
fn rfc5228_4_actions_and_implicit_keep() {
    // RFC 5228 4.1: fileinto cancels the implicit keep.
    let out = run("require \"fileinto\"; if header :contains [\"from\"] \"coyote\" { fileinto \"INBOX.harassment\"; }", &coyote());
    assert_eq!(out.actions, vec![fileinto("INBOX.harassment")]);
    // RFC 5228 4.2: redirect cancels it too; a second redirect to the same address is one.
    let out = run(
        "redirect \"bart@example.com\"; redirect \"Bart@Example.com\";",
        &coyote(),
    );
    assert_eq!(
        out.actions,
        vec![Action::Redirect {
            address: "bart@example.com".into()
        }]
    );
    // RFC 3894 3: :copy keeps the implicit keep.
    let out = run(
        "require \"copy\"; redirect :copy \"bart@example.com\";",
        &coyote(),
    );
    assert_eq!(
        out.actions,
        vec![
            Action::Redirect {
                address: "bart@example.com".into()
            },
            keep()
        ]
    );
    // RFC 5228 4.3: keep with fileinto stores both; 4.4: discard alone stores nothing.
    let out = run("require \"fileinto\"; keep; fileinto \"A\";", &coyote());
    assert_eq!(out.actions, vec![keep(), fileinto("A")]);
    assert_eq!(run("discard;", &coyote()).actions, vec![]);
    // RFC 5228 2.10.3: fileinto the same mailbox twice is one copy.
    let out = run(
        "require \"fileinto\"; fileinto \"A\"; fileinto \"A\";",
        &coyote(),
    );
    assert_eq!(out.actions, vec![fileinto("A")]);
}

#[test]
fn rfc5228_5_1_address_parts() {
    // RFC 5228 5.1 example: address :is :all "from" "tim@example.com" → discard.
    let tim = message(
        &[("From", "Tim <tim@example.com>")],
        "x@y.z",
        "me@example.com",
        10,
    );
    assert_eq!(
        run(
            "if address :is :all \"from\" \"tim@example.com\" { discard; }",
            &tim
        )
        .actions,
        vec![]
    );
    // RFC 5228 2.7.4: :localpart and :domain.
    assert_eq!(
        run(
            "if address :localpart :is \"from\" \"tim\" { discard; }",
            &tim
        )
        .actions,
        vec![]
    );
    assert_eq!(
        run(
            "if address :domain :is \"from\" \"EXAMPLE.com\" { discard; }",
            &tim
        )
        .actions,
        vec![]
    );
    assert_eq!(
        run("if address :domain :is \"from\" \"tim\" { discard; }", &tim).actions,
        vec![keep()]
    );
    // Groups and several addresses in one field.
    let many = message(
        &[("To", "team: a@x.org, \"B, Jr\" <b@y.org>;, c@z.org")],
        "",
        "",
        1,
    );
    for key in ["a@x.org", "b@y.org", "c@z.org"] {
        let script = format!("if address :is \"to\" \"{key}\" {{ discard; }}");
        assert_eq!(run(&script, &many).actions, vec![], "{key}");
    }
}

#[test]
fn rfc5228_5_4_envelope() {
    // RFC 5228 5.4 example: envelope :all :is "from" "tim@example.com" → discard.
    let view = message(&[], "tim@example.com", "me@example.org", 1);
    let script =
        "require \"envelope\"; if envelope :all :is \"from\" \"tim@example.com\" { discard; }";
    assert_eq!(run(script, &view).actions, vec![]);
    let script =
        "require \"envelope\"; if envelope :domain :is \"to\" \"example.org\" { discard; }";
    assert_eq!(run(script, &view).actions, vec![]);
    // The null reverse path is "" (RFC 5228 5.4).
    let bounce = message(&[], "", "me@example.org", 1);
    let script = "require \"envelope\"; if envelope :is \"from\" \"\" { discard; }";
    assert_eq!(run(script, &bounce).actions, vec![]);
}

#[test]
fn rfc5228_5_exists_size_not_anyof_allof_true_false() {
    let view = coyote();
    // RFC 5228 5.5: all named fields must exist.
    assert_eq!(
        run("if exists [\"From\",\"Date\"] { discard; }", &view).actions,
        vec![]
    );
    assert_eq!(
        run("if exists [\"From\",\"X-None\"] { discard; }", &view).actions,
        vec![keep()]
    );
    // RFC 5228 5.9: size :over 1K with 2000 octets is true; :under 2000 is false (strict).
    assert_eq!(run("if size :over 1K { discard; }", &view).actions, vec![]);
    assert_eq!(
        run("if size :under 2000 { discard; }", &view).actions,
        vec![keep()]
    );
    assert_eq!(
        run("if size :over 2000 { discard; }", &view).actions,
        vec![keep()]
    );
    // RFC 5228 5.2, 5.3, 5.6, 5.8, 5.10.
    assert_eq!(
        run("if anyof (false, true) { discard; }", &view).actions,
        vec![]
    );
    assert_eq!(
        run("if allof (true, false) { discard; }", &view).actions,
        vec![keep()]
    );
    assert_eq!(run("if not false { discard; }", &view).actions, vec![]);
    assert_eq!(run("if true { discard; }", &view).actions, vec![]);
    assert_eq!(run("if false { discard; }", &view).actions, vec![keep()]);
}

#[test]
fn rfc5228_2_7_match_types() {
    let is = |c, t| Matcher {
        comparator: c,
        match_type: t,
    };
    let casemap = Comparator::AsciiCasemap;
    // RFC 5228 2.7.1: :is, :contains, :matches with * and ? and \ escapes.
    assert!(is(casemap, MatchType::Is).one("Frobnitzm", "FROBNITZM"));
    assert!(!is(Comparator::Octet, MatchType::Is).one("Frobnitzm", "FROBNITZM"));
    assert!(is(casemap, MatchType::Contains).one("I have a present", "PRESENT"));
    let matches = is(casemap, MatchType::Matches);
    assert!(matches.one("make money fast", "*make*money*fast*"));
    assert!(matches.one("university diplomas", "*university*dipl*mas*"));
    assert!(matches.one("abc", "a?c"));
    assert!(!matches.one("abbc", "a?c"));
    assert!(matches.one("a*c", "a\\*c"));
    assert!(!matches.one("abc", "a\\*c"));
    assert!(matches.one("what?", "what\\?"));
    assert!(!matches.one("whatx", "what\\?"));
    assert!(matches.one("", "*"));
    // Many stars against a long text stays quick (no exponential backtracking).
    let long = "a".repeat(5000);
    assert!(!matches.one(
        &long,
        &"*a"
            .repeat(50)
            .replace("**", "*")
            .to_string()
            .replace('a', "b")
    ));
    // The example of RFC 5228 9.1.
    let spam = message(&[("Subject", "Please make some money fast")], "", "", 1);
    let script = "if header :matches \"subject\" [\"*make*money*fast*\", \"*university*dipl*mas*\"] { discard; }";
    assert_eq!(run(script, &spam).actions, vec![]);
}

#[test]
fn rfc5228_9_1_example() {
    // RFC 5228 9.1: the example filter, over four messages.
    let script = r#"
        require ["fileinto"];
        if header :is "Sender" "owner-ietf-mta-filters@imc.org"
                {
                fileinto "filter";  # move to "filter" mailbox
                }
        elsif address :DOMAIN :is ["From", "To"] "example.com"
                {
                keep;               # keep in "In" mailbox
                }
        elsif anyof (NOT address :all :contains
                       ["To", "Cc", "Bcc"] "me@example.com",
                     header :matches "subject"
                       ["*make*money*fast*", "*university*dipl*mas*"])
                {
                fileinto "spam";   # move to "spam" mailbox
                }
        else
                {
                fileinto "personal";
                }
    "#;
    let list = message(&[("Sender", "owner-ietf-mta-filters@imc.org")], "", "", 1);
    assert_eq!(run(script, &list).actions, vec![fileinto("filter")]);
    let colleague = message(
        &[("From", "a@example.com"), ("To", "me@example.com")],
        "",
        "",
        1,
    );
    assert_eq!(run(script, &colleague).actions, vec![keep()]);
    let not_to_me = message(
        &[("From", "x@other.org"), ("To", "you@other.org")],
        "",
        "",
        1,
    );
    assert_eq!(run(script, &not_to_me).actions, vec![fileinto("spam")]);
    let friend = message(
        &[
            ("From", "x@other.org"),
            ("To", "y@other.org"),
            ("Cc", "me@example.com"),
            ("Subject", "hi"),
        ],
        "",
        "",
        1,
    );
    assert_eq!(run(script, &friend).actions, vec![fileinto("personal")]);
}

#[test]
fn comparators_unicode_casemap_and_numeric() {
    let unicode = Comparator::UnicodeCasemap;
    // RFC 5051: case and normalization form do not matter; Vietnamese letters with marks.
    assert!(unicode.equal("NGUYỄN VĂN AN", "nguyễn văn an"));
    let nfd = "Nguye\u{302}\u{303}n";
    assert!(unicode.equal(nfd, "NGUYỄN"));
    assert!(unicode.equal("Đơn vị", "đƠN VỊ"));
    assert!(!unicode.equal("Nguyen", "Nguyễn"), "marks still count");
    // ASCII casemap leaves non-ASCII case alone.
    assert!(!Comparator::AsciiCasemap.equal("Đ", "đ"));
    let matches = Matcher {
        comparator: unicode,
        match_type: MatchType::Matches,
    };
    assert!(matches.one("Báo cáo Tháng 11", "báo cáo*"));
    assert!(
        matches.one("Tiếng Việt", "ti?ng vi?t"),
        "? is one whole letter"
    );
    // RFC 4790 9.1: i;ascii-numeric.
    let numeric = Comparator::AsciiNumeric;
    assert!(numeric.equal("007", "7"));
    assert!(numeric.order("10", "9") == std::cmp::Ordering::Greater);
    assert!(
        numeric.order("abc", "99999") == std::cmp::Ordering::Greater,
        "non-numbers are infinity"
    );
    // A script with the unicode comparator over a Vietnamese subject.
    let view = message(&[("Subject", "CÔNG VĂN khẩn")], "", "", 1);
    let script = "require [\"comparator-i;unicode-casemap\", \"fileinto\"];\n\
        if header :contains :comparator \"i;unicode-casemap\" \"subject\" \"công văn\" { fileinto \"Công văn\"; }";
    assert_eq!(run(script, &view).actions, vec![fileinto("Công văn")]);
}

#[test]
fn rfc5231_relational() {
    // RFC 5231 4.1: :value "gt" compares by the comparator's order.
    let view = message(
        &[
            ("X-Priority", "5"),
            ("Received", "a"),
            ("Received", "b"),
            ("Received", "c"),
        ],
        "",
        "",
        1,
    );
    let script = "require [\"relational\", \"comparator-i;ascii-numeric\"];\n\
        if header :value \"gt\" :comparator \"i;ascii-numeric\" \"x-priority\" \"3\" { discard; }";
    assert_eq!(run(script, &view).actions, vec![]);
    // RFC 5231 4.2: :count counts the values (3 Received fields).
    let script = "require [\"relational\", \"comparator-i;ascii-numeric\"];\n\
        if header :count \"ge\" :comparator \"i;ascii-numeric\" \"received\" \"3\" { discard; }";
    assert_eq!(run(script, &view).actions, vec![]);
    let script = "require [\"relational\", \"comparator-i;ascii-numeric\"];\n\
        if header :count \"gt\" :comparator \"i;ascii-numeric\" \"received\" \"3\" { discard; }";
    assert_eq!(run(script, &view).actions, vec![keep()]);
    let _ = Relation::Eq;
}

// ---------------------------------------------------------------- RFC 5232 imap4flags

#[test]
fn rfc5232_flags() {
    // RFC 5232 5 example: setflag then fileinto stores with the variable's flags.
    let script = "require [\"imap4flags\", \"fileinto\"];\n\
        if header :contains \"from\" \"coyote\" {\n  setflag \"\\\\Flagged\";\n  fileinto \"From Coyote\";\n}";
    assert_eq!(
        run(script, &coyote()).actions,
        vec![Action::FileInto {
            mailbox: "From Coyote".into(),
            create: false,
            flags: vec!["\\Flagged".into()]
        }]
    );
    // RFC 5232 3: addflag/removeflag, several flags in one string, case-insensitive, once.
    let script = "require \"imap4flags\";\n\
        addflag [\"\\\\seen Junk\", \"junk\"]; addflag \"$Work\"; removeflag \"JUNK\";";
    assert_eq!(
        run(script, &coyote()).actions,
        vec![Action::Keep {
            flags: vec!["\\Seen".into(), "$Work".into()]
        }],
        "the implicit keep uses the variable (RFC 5232 3)"
    );
    // RFC 5232 5: :flags replaces the variable for that action only.
    let script = "require [\"imap4flags\"]; setflag \"A\"; keep :flags \"B\";";
    assert_eq!(
        run(script, &coyote()).actions,
        vec![Action::Keep {
            flags: vec!["B".into()]
        }]
    );
    // RFC 5232 4: hasflag.
    let script = "require \"imap4flags\"; setflag \"A B C\"; if hasflag :is \"b\" { discard; }";
    assert_eq!(run(script, &coyote()).actions, vec![]);
    let script = "require \"imap4flags\"; setflag \"A B C\"; if hasflag :is \"D\" { discard; }";
    assert_eq!(run(script, &coyote()).actions.len(), 1);
    // Invalid flags are dropped (\Recent cannot be set; a flag with a parenthesis is not an atom).
    let script = "require \"imap4flags\"; setflag \"\\\\Recent bad(flag ok\";";
    assert_eq!(
        run(script, &coyote()).actions,
        vec![Action::Keep {
            flags: vec!["ok".into()]
        }]
    );
}

// ---------------------------------------------------------------- RFC 5490, 5260

#[test]
fn rfc5490_mailbox() {
    let script = "require [\"fileinto\", \"mailbox\"];\n\
        if mailboxexists \"Projects\" { fileinto \"Projects\"; } else { fileinto :create \"Other\"; }";
    let out = run_with(script, &coyote(), 0, &["INBOX", "Projects"]);
    assert_eq!(out.actions, vec![fileinto("Projects")]);
    let out = run_with(script, &coyote(), 0, &["INBOX"]);
    assert_eq!(
        out.actions,
        vec![Action::FileInto {
            mailbox: "Other".into(),
            create: true,
            flags: vec![]
        }]
    );
}

#[test]
fn rfc5260_dates() {
    // 2026-12-01 03:00:00 UTC is 10:00 in +0700.
    let now = crate::date::days_from_civil(2026, 12, 1) * 86_400 + 3 * 3600;
    let view = coyote();
    let script = "require [\"date\", \"relational\"];\n\
        if allof (currentdate :value \"ge\" \"date\" \"2026-12-01\", currentdate :value \"le\" \"date\" \"2026-12-05\") { discard; }";
    assert_eq!(run_with(script, &view, now, &[]).actions, vec![]);
    assert_eq!(
        run_with(script, &view, now - 86_400, &[]).actions,
        vec![keep()]
    );
    let script =
        "require \"date\"; if currentdate :zone \"+0000\" :is \"hour\" \"03\" { discard; }";
    assert_eq!(run_with(script, &view, now, &[]).actions, vec![]);
    let script = "require \"date\"; if currentdate :is \"weekday\" \"2\" { discard; }";
    assert_eq!(
        run_with(script, &view, now, &[]).actions,
        vec![],
        "2026-12-01 is a Tuesday"
    );
    // RFC 5260 4: the date of a header field, in its original zone or another.
    let script =
        "require \"date\"; if date :originalzone :is \"date\" \"date\" \"1997-04-01\" { discard; }";
    assert_eq!(run(script, &view).actions, vec![]);
    let script = "require \"date\"; if date :zone \"+0700\" :is \"date\" \"iso8601\" \"1997-04-02T00:06:31+07:00\" { discard; }";
    assert_eq!(run(script, &view).actions, vec![]);
    let broken = message(&[("Date", "yesterday")], "", "", 1);
    let script = "require \"date\"; if date :is \"date\" \"year\" \"1997\" { discard; }";
    assert_eq!(run(script, &broken).actions, vec![keep()]);
}

// ---------------------------------------------------------------- RFC 5230 vacation

#[test]
fn rfc5230_vacation_examples() {
    // RFC 5230 3 example: one vacation or the other depending on the subject.
    let script = "require \"vacation\";\n\
        if header :contains \"subject\" \"cyrus\" {\n\
            vacation \"I'm out -- send mail to cyrus-bugs\";\n\
        } else {\n\
            vacation \"I'm out -- call me at +1 304 555 0123\";\n}";
    let out = run(script, &coyote());
    let [Action::Vacation(vacation), Action::Keep { .. }] = out.actions.as_slice() else {
        panic!("{out:?}");
    };
    assert_eq!(vacation.reason, "I'm out -- call me at +1 304 555 0123");
    assert_eq!(vacation.days, 7, "RFC 5230 4.1: the default is 7 days");
    // RFC 5230 4.1 example with :days and :addresses and a reason over two lines.
    let script = "require \"vacation\";\n\
        vacation :days 23 :addresses [\"tjs@example.edu\",\n\"ts4z@landru.example.edu\"]\n\
        \"I'm away until October 19.\nIf it's an emergency, call 911, I guess.\" ;";
    let out = run(script, &coyote());
    let Action::Vacation(vacation) = &out.actions[0] else {
        panic!("{out:?}")
    };
    assert_eq!(vacation.days, 23);
    assert_eq!(vacation.addresses.len(), 2);
    // RFC 5230 4.7: two vacations in one run are an error.
    let program = compile(
        "require \"vacation\"; vacation \"a\"; vacation \"b\";",
        &Limits::default(),
    )
    .unwrap();
    let none = |_: &str| false;
    let limits = Limits::default();
    let env = Environment {
        now: 0,
        local_zone: 0,
        mailbox_exists: &none,
        limits: &limits,
    };
    assert!(evaluate(&program, &coyote(), &env).is_err());
    // :days 0 is raised to 1 (RFC 5230 4.1).
    let program = compile("require \"vacation\"; vacation :days 0 :handle \"h\" :subject \"S\" :from \"me@x.org\" :mime \"x\";", &Limits::default()).unwrap();
    let out = evaluate(&program, &coyote(), &env).unwrap();
    let Action::Vacation(vacation) = &out.actions[0] else {
        panic!()
    };
    assert_eq!(
        (vacation.days, vacation.mime, vacation.handle.as_deref()),
        (1, true, Some("h"))
    );
}

#[test]
fn rfc5230_reply_rules() {
    use crate::vacation::{check, handle, subject, Skip};
    let vacation = crate::program::Vacation {
        days: 7,
        subject: None,
        from: None,
        addresses: vec!["alias@example.org".into()],
        mime: false,
        handle: None,
        reason: "away".into(),
    };
    let own = vec!["me@example.org".to_string()];
    let base = [
        ("From", "a@b.org"),
        ("To", "Me <me@example.org>"),
        ("Subject", "Hello"),
    ];
    let view = |extra: &[(&str, &str)], from: &str| {
        let mut headers = base.to_vec();
        headers.extend_from_slice(extra);
        message(&headers, from, "me@example.org", 1)
    };
    assert_eq!(
        check(&view(&[], "a@b.org"), &own, &vacation),
        Ok("a@b.org".into())
    );
    // RFC 5230 4.6 / RFC 3834 2.
    assert_eq!(
        check(&view(&[], ""), &own, &vacation),
        Err(Skip::NullSender)
    );
    assert_eq!(
        check(&view(&[], "ME@example.org"), &own, &vacation),
        Err(Skip::OwnAddress)
    );
    assert!(matches!(
        check(
            &view(&[("Auto-Submitted", "auto-replied")], "a@b.org"),
            &own,
            &vacation
        ),
        Err(Skip::AutoSubmitted(_))
    ));
    assert_eq!(
        check(
            &view(&[("Auto-Submitted", "no")], "a@b.org"),
            &own,
            &vacation
        ),
        Ok("a@b.org".into())
    );
    assert!(matches!(
        check(&view(&[("Precedence", "bulk")], "a@b.org"), &own, &vacation),
        Err(Skip::Bulk(_))
    ));
    assert!(matches!(
        check(&view(&[("Precedence", "junk")], "a@b.org"), &own, &vacation),
        Err(Skip::Bulk(_))
    ));
    assert!(matches!(
        check(
            &view(&[("List-Id", "<x.lists.example>")], "a@b.org"),
            &own,
            &vacation
        ),
        Err(Skip::List(_))
    ));
    for robot in ["MAILER-DAEMON@b.org", "owner-x@b.org", "x-request@b.org"] {
        assert!(
            matches!(
                check(&view(&[], robot), &own, &vacation),
                Err(Skip::SystemSender(_))
            ),
            "{robot}"
        );
    }
    // RFC 5230 4.5: the user (or a :addresses alias) must be a recipient named in the header.
    let bcc_list = message(
        &[("From", "a@b.org"), ("To", "all@example.org")],
        "a@b.org",
        "me@example.org",
        1,
    );
    assert_eq!(check(&bcc_list, &own, &vacation), Err(Skip::NotAddressed));
    let alias = message(
        &[("From", "a@b.org"), ("Cc", "alias@example.org")],
        "a@b.org",
        "me@example.org",
        1,
    );
    assert_eq!(check(&alias, &own, &vacation), Ok("a@b.org".into()));
    // RFC 5230 4.4 and 4.2.
    assert_eq!(subject(&view(&[], "a@b.org"), &vacation), "Auto: Hello");
    assert_eq!(handle(&vacation), handle(&vacation.clone()));
    let other = crate::program::Vacation {
        reason: "elsewhere".into(),
        ..vacation.clone()
    };
    assert_ne!(handle(&vacation), handle(&other));
}

#[test]
fn bounded_redirects_and_stores() {
    let limits = Limits::default();
    let mut script = String::from("require [\"copy\"];");
    for i in 0..=limits.max_redirects {
        script.push_str(&format!("redirect :copy \"u{i}@example.org\";"));
    }
    let program = compile(&script, &limits).unwrap();
    let none = |_: &str| false;
    let env = Environment {
        now: 0,
        local_zone: 0,
        mailbox_exists: &none,
        limits: &limits,
    };
    let e = evaluate(&program, &coyote(), &env).unwrap_err();
    assert!(e.message.contains("redirects"), "{e}");
    let mut script = String::from("require [\"fileinto\"];");
    for i in 0..=limits.max_fileinto {
        script.push_str(&format!("fileinto \"f{i}\";"));
    }
    let program = compile(&script, &limits).unwrap();
    assert!(evaluate(&program, &coyote(), &env).is_err());
}

#[test]
fn header_fields_are_unfolded() {
    let raw = b"Subject: one\r\n two\r\nX-A:b\r\n\r\nbody: not a header\r\n";
    let fields = MessageView::from_message(raw, |s| s.to_uppercase());
    assert_eq!(fields.len(), 2);
    assert_eq!(fields[0].raw, "one two");
    assert_eq!(fields[0].decoded, "ONE TWO");
    assert_eq!(fields[1].name, "X-A");
}
