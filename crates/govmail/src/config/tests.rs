//! Loading and validation: defaults, one-line errors naming the key, overrides, and the
//! shipped files.

use std::path::Path;

use super::*;

fn load_text(text: &str, overrides: &[&str]) -> Result<Config, ConfigErrors> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c.toml");
    std::fs::write(&path, text).unwrap();
    let overrides: Vec<String> = overrides.iter().map(|s| s.to_string()).collect();
    Config::load(Some(&path), &overrides)
}

#[test]
fn defaults_are_valid() {
    let config = Config::load(None, &[]).unwrap();
    assert_eq!(config.antivirus.on_failure, "tempfail");
    // [attachments] defaults are the policy's own.
    assert_eq!(
        config.attachments.rules(),
        policy::attachments::AttachmentRules::default()
    );
}

#[test]
fn each_mistake_names_its_key() {
    let table: &[(&str, &[&str], &str)] = &[
        ("[server]\nhostnam = \"x\"\n", &[], "server"),
        ("[listen]\nsmtp = [\"nonsense\"]\n", &[], "listen.smtp[0]"),
        ("[listen]\nsmtp = \"0.0.0.0:25\"\n", &[], "listen.smtp"),
        ("[storage]\nurl = \"mysql://x\"\n", &[], "storage.url"),
        (
            "[tls]\ncert = \"/nonexistent/cert.pem\"\nkey = \"/nonexistent/key.pem\"\n",
            &[],
            "tls.cert",
        ),
        (
            "[antivirus]\nclamd = \"tcp://nohost\"\n",
            &[],
            "antivirus.clamd",
        ),
        (
            "[antivirus]\non_failure = \"ignore\"\n",
            &[],
            "antivirus.on_failure",
        ),
        (
            "[attachments]\naction = \"delete\"\n",
            &[],
            "attachments.action",
        ),
        (
            "",
            &["attachments.max_archive_depth=0"],
            "attachments.max_archive_depth",
        ),
        (
            "",
            &["attachments.max_expanded_bytes=10"],
            "attachments.max_expanded_bytes",
        ),
        ("[smtp]\nmax_recipients = -1\n", &[], "smtp.max_recipients"),
        ("", &["smtp.max_recipients=0"], "smtp.max_recipients"),
        ("", &["imap.max_folders=0"], "imap.max_folders"),
        ("", &["imap.max_folder_depth=0"], "imap.max_folder_depth"),
        (
            "",
            &["imap.max_folder_name_bytes=100"],
            "imap.max_folder_name_bytes",
        ),
        ("", &["nosection"], "nosection"),
        ("[bogus]\nx = 1\n", &[], "bogus"),
        ("[server\n", &[], "c.toml:1"),
    ];
    for (text, overrides, key) in table {
        let e = load_text(text, overrides).expect_err(text);
        assert!(
            e.to_string().contains(key),
            "{text:?}: {e} should name {key}"
        );
        // One line per mistake (the TLS pair is two: cert and key).
        assert!(
            e.0.iter().all(|p| p.to_string().lines().count() == 1),
            "{e}"
        );
    }
}

#[test]
fn overrides_win_and_parse_types() {
    let config = load_text(
        "[smtp]\nmax_recipients = 5\n",
        &[
            "smtp.max_recipients=7",
            "listen.smtp=[\"127.0.0.1:0\"]",
            "server.hostname=mx.test",
        ],
    )
    .unwrap();
    assert_eq!(config.smtp.max_recipients, 7);
    assert_eq!(config.listen.smtp, vec!["127.0.0.1:0".to_string()]);
    assert_eq!(config.server.hostname, "mx.test");
}

#[test]
fn shipped_config_files_are_valid() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../config");
    for name in ["govmail.toml", "dev.toml"] {
        let path = root.join(name);
        // The annotated file points TLS at /etc/govmail; blank those for the check.
        Config::load(
            Some(&path),
            &[
                "tls.cert=".into(),
                "tls.key=".into(),
                "server.data_dir=/tmp/govmail-config-test".into(),
            ],
        )
        .unwrap_or_else(|e| panic!("{name}: {e}"));
    }
}

#[test]
fn every_mistake_is_listed_once() {
    let e = load_text(
        "[server]\nhostnam = \"x\"\n[listen]\nsmtp = [\"nonsense\"]\nimap = 1\n[bogus]\n",
        &["smtp.max_recipients=0", "nosection", "imap.max_folders=0"],
    )
    .unwrap_err();
    let text = e.to_string();
    for key in [
        "hostnam",
        "listen.imap",
        "bogus",
        "listen.smtp[0]",
        "smtp.max_recipients",
        "nosection",
        "imap.max_folders",
    ] {
        assert_eq!(
            e.0.iter().filter(|p| p.to_string().contains(key)).count(),
            1,
            "{key} once in:\n{text}"
        );
    }
    assert_eq!(e.0.len(), 7, "{text}");
    assert_eq!(text.lines().count(), 7, "{text}");
}

/// Issue 17 item 10: the password page named to people is the public one — its host and port.
#[test]
fn password_url_is_the_public_page() {
    let url = |overrides: &[&str]| load_text("", overrides).unwrap().password_url();
    assert_eq!(
        url(&[
            "server.hostname=mail.kontum.gov.vn",
            "listen.https=[\"0.0.0.0:443\"]"
        ]),
        "https://mail.kontum.gov.vn/password"
    );
    assert_eq!(
        url(&[
            "server.hostname=mail.kontum.gov.vn",
            "listen.https=[\"127.0.0.1:8443\"]"
        ]),
        "https://mail.kontum.gov.vn:8443/password"
    );
    assert_eq!(
        url(&[
            "autoconfig.host=thu.kontum.gov.vn",
            "listen.https=[\"0.0.0.0:443\"]"
        ]),
        "https://thu.kontum.gov.vn/password"
    );
    assert_eq!(
        url(&["accounts.password_url=https://thu.kontum.gov.vn/doi-mat-khau"]),
        "https://thu.kontum.gov.vn/doi-mat-khau"
    );
    let e = load_text("", &["accounts.password_url=http://x/password"]).unwrap_err();
    assert!(e.to_string().contains("accounts.password_url"), "{e}");
}

#[test]
fn spam_scores_name_built_in_rules_and_zones_are_checked() {
    let ok = load_text(
        "[spam.scores]\nGTUBE = 1000.0\nMISSING_MID = 0.0\n\n[[spam.dnsbl]]\nname = \"TESTBL\"\nzone = \"bl.test\"\nscore = 3.0\n",
        &[],
    )
    .unwrap();
    let policy = ok.spam.to_policy();
    assert_eq!(policy.score_of("MISSING_MID"), 0.0);
    assert_eq!(policy.dnsbl[0].zone, "bl.test");
    let err = load_text("[spam.scores]\nNO_SUCH_RULE = 1.0\n", &[]).unwrap_err();
    assert!(
        err.to_string().contains("spam.scores.NO_SUCH_RULE"),
        "{err}"
    );
    let err = load_text(
        "[[spam.uribl]]\nname = \"bad name\"\nzone = \"nodot\"\nscore = 1.0\n",
        &[],
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("spam.uribl[0].name"), "{err}");
    assert!(err.contains("spam.uribl[0].zone"), "{err}");
}
