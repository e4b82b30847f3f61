//! The binary serves the address book: `listen.ldap` (StartTLS) and `listen.ldaps` from the
//! `[ldap]` config, base DN from the hostname, the self-signed certificate; a person hired
//! with the CLI is found, and after `user leave` is absent (`ldap.refresh_secs = 0`). Driven by
//! Debian's `ldapsearch` (scripts/test installs ldap-utils); its exit status is the LDAP result
//! code (RFC 4511 A.2).

use crate::support;

use std::process::Command;

use support::Install;

const TUYET: &str = "nttuyet.stttt@kontum.gov.vn";
const PASSWORD: &str = "mat-khau-dai-123";

fn ldapsearch(install: &Install, url: &str, starttls: bool, filter: &str) -> (i32, String) {
    let mut cmd = Command::new("ldapsearch");
    cmd.env("LDAPTLS_CACERT", install.cert_path())
        // The generated certificate names the hostname, not 127.0.0.1.
        .env("LDAPTLS_REQCERT", "allow")
        .env("LDAPCONF", "/dev/null")
        .env("LDAPRC", "/dev/null")
        .args([
            "-x",
            "-LLL",
            "-o",
            "ldif-wrap=no",
            "-o",
            "nettimeout=20",
            "-H",
            url,
        ]);
    if starttls {
        cmd.arg("-ZZ");
    }
    cmd.args([
        "-D",
        TUYET,
        "-w",
        PASSWORD,
        "-b",
        "dc=kontum,dc=gov,dc=vn",
        filter,
        "mail",
    ]);
    let out = cmd.output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr),
    )
}

#[test]
fn serve_wires_ldap_and_ldaps_and_a_leave_removes_the_entry() {
    let install = Install::with_people(
        "kontum.gov.vn",
        "Sở Thông tin và Truyền thông",
        &[
            ("Nguyễn Thị Tuyết", TUYET, PASSWORD),
            ("Trần Văn Dũng", "tvdung.stttt@kontum.gov.vn", PASSWORD),
        ],
    );
    let (served, addrs) = install.serve_on(
        &["ldap", "ldaps"],
        &[
            "server.hostname=mail.kontum.gov.vn".to_string(),
            "antivirus.enabled=false".into(),
            "ldap.refresh_secs=0".into(),
        ],
    );
    let (ldap, ldaps) = (addrs[0], addrs[1]);
    let starttls = format!("ldap://127.0.0.1:{}", ldap.port());
    let implicit = format!("ldaps://127.0.0.1:{}", ldaps.port());
    // Folded: "dung" finds Dũng, over StartTLS and over LDAPS.
    for (url, tls) in [(&starttls, true), (&implicit, false)] {
        let (code, out) = ldapsearch(&install, url, tls, "(cn=*dung*)");
        assert_eq!(code, 0, "{out}");
        assert!(
            out.contains("dn: mail=tvdung.stttt@kontum.gov.vn,ou=STTTT,dc=kontum,dc=gov,dc=vn"),
            "{out}"
        );
    }
    install.ok(
        &[
            "user",
            "leave",
            "tvdung.stttt@kontum.gov.vn",
            "--ref",
            "12/QĐ-UBND",
            "--reason",
            "retire",
        ],
        None,
    );
    let (code, out) = ldapsearch(&install, &implicit, false, "(cn=*dung*)");
    assert_eq!(code, 0, "{out}");
    assert!(
        !out.contains("tvdung"),
        "a departed person is absent: {out}"
    );
    drop(served);
}
