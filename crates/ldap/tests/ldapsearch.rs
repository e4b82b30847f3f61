//! The directory through Debian's `ldapsearch` (ldap-utils, installed by scripts/test) over
//! StartTLS (`-ZZ`) and LDAPS: bind with the person's address, the filters mail clients send,
//! Vietnamese folding, departed persons absent, groups with members, units as `ou` entries,
//! refusals (wrong password, throttling, no TLS, anonymous) by ldapsearch's exit status, which
//! is the LDAP result code (RFC 4511 A.2).

use crate::harness;

use std::process::Command;

use base64::Engine;
use harness::*;

/// An LDIF record as (dn, [(attribute, value)]), base64 values (RFC 2849 `::`) decoded.
type Record = (String, Vec<(String, String)>);

fn parse_ldif(text: &str) -> Vec<Record> {
    let mut out = vec![];
    let mut current: Option<Record> = None;
    for line in text.lines() {
        if line.starts_with('#') {
            continue;
        }
        if line.is_empty() {
            out.extend(current.take());
            continue;
        }
        let (name, value) = if let Some((n, v)) = line.split_once(":: ") {
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(v.trim())
                .unwrap();
            (n.to_string(), String::from_utf8(bytes).unwrap())
        } else if let Some((n, v)) = line.split_once(": ") {
            (n.to_string(), v.to_string())
        } else if let Some(n) = line.strip_suffix(':') {
            // RFC 2849: an empty value (the rootDSE's DN is "dn:").
            (n.to_string(), String::new())
        } else {
            continue;
        };
        if name == "dn" {
            out.extend(current.take());
            current = Some((value, vec![]));
        } else if let Some((_, attrs)) = current.as_mut() {
            attrs.push((name, value));
        }
    }
    out.extend(current);
    out
}

fn values<'a>(record: &'a Record, name: &str) -> Vec<&'a str> {
    record
        .1
        .iter()
        .filter(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
        .collect()
}

enum Transport {
    StartTls,
    Ldaps,
    Plain,
}

fn ldapsearch(
    server: &TestServer,
    transport: Transport,
    bind: Option<(&str, &str)>,
    args: &[&str],
) -> (i32, Vec<Record>, String) {
    let mut cmd = Command::new("ldapsearch");
    cmd.env("LDAPTLS_CACERT", &server.ca_file)
        .env("LDAPTLS_REQCERT", "demand")
        .env("LDAPCONF", "/dev/null")
        .env("LDAPRC", "/dev/null")
        .args(["-x", "-LLL", "-o", "ldif-wrap=no", "-o", "nettimeout=20"]);
    match transport {
        Transport::StartTls => {
            cmd.arg("-H")
                .arg(format!("ldap://127.0.0.1:{}", server.ldap.port()))
                .arg("-ZZ");
        }
        Transport::Ldaps => {
            cmd.arg("-H")
                .arg(format!("ldaps://127.0.0.1:{}", server.ldaps.port()));
        }
        Transport::Plain => {
            cmd.arg("-H")
                .arg(format!("ldap://127.0.0.1:{}", server.ldap.port()));
        }
    }
    if let Some((dn, password)) = bind {
        cmd.args(["-D", dn, "-w", password]);
    }
    cmd.args(args);
    let (code, out, err) = run(&mut cmd);
    (code, parse_ldif(&out), err)
}

fn sorted(mut dns: Vec<String>) -> Vec<String> {
    dns.sort();
    dns
}

fn dns(records: &[Record]) -> Vec<String> {
    let mut dns: Vec<String> = records.iter().map(|r| r.0.clone()).collect();
    dns.sort();
    dns
}

fn tuyet_dn() -> String {
    format!("mail={TUYET},ou=STP,ou=UBND,{BASE}")
}
fn dung_dn() -> String {
    format!("mail={DUNG},ou=STP,ou=UBND,{BASE}")
}
fn an_dn() -> String {
    format!("mail={AN},ou=UBND,{BASE}")
}

#[tokio::test(flavor = "multi_thread")]
async fn starttls_bind_and_thunderbird_filter_folds_vietnamese() {
    let server = start(|_| {}).await;
    let s = &server;
    let result =
        tokio::task::block_in_place(|| {
            // Thunderbird's default autocomplete filter shape, typed without diacritics.
            ldapsearch(s, Transport::StartTls, Some((TUYET, PASSWORD)), &[
            "-b", BASE,
            "(|(cn=*tuyet*)(mail=*tuyet*)(sn=tuyet*)(givenName=tuyet*)(displayName=*tuyet*))",
        ])
        });
    let (code, records, err) = result;
    assert_eq!(code, 0, "{err}");
    // Only Nguyễn Thị Tuyết: her cn contains "tuyet" folded (and her address contains it).
    assert_eq!(dns(&records), vec![tuyet_dn()]);
    let r = &records[0];
    assert_eq!(values(r, "cn"), vec!["Nguyễn Thị Tuyết"]);
    // Vietnamese names are family name first: sn Nguyễn, givenName Tuyết.
    assert_eq!(values(r, "sn"), vec!["Nguyễn"]);
    assert_eq!(values(r, "givenName"), vec!["Tuyết"]);
    assert_eq!(values(r, "displayName"), vec!["Nguyễn Thị Tuyết"]);
    assert_eq!(values(r, "mail"), vec![TUYET]);
    assert_eq!(values(r, "title"), vec!["Chuyên viên"]);
    assert_eq!(values(r, "ou"), vec!["STP"]);
    assert_eq!(values(r, "telephoneNumber"), vec!["0260 3862 111"]);
    let mut classes = values(r, "objectClass");
    classes.sort();
    assert_eq!(
        classes,
        vec!["inetOrgPerson", "organizationalPerson", "person", "top"]
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn ldaps_equality_presence_substrings_and_or_not() {
    let server = start(|_| {}).await;
    let s = &server;
    let bind = Some((TUYET, PASSWORD));
    let search = |filter: &str| {
        tokio::task::block_in_place(|| {
            ldapsearch(s, Transport::Ldaps, bind, &["-b", BASE, filter, "dn"])
        })
    };
    // RFC 4511 4.5.1.7.1 equality; mail is caseIgnoreIA5Match (RFC 4517 4.2.15).
    let (code, r, err) = search(&format!("(mail={})", DUNG.to_uppercase()));
    assert_eq!(code, 0, "{err}");
    assert_eq!(dns(&r), vec![dung_dn()]);
    // Substrings initial: sn Nguyễn for Tuyết and An, written without diacritics.
    let (_, r, _) = search("(&(objectClass=person)(sn=nguyen*))");
    assert_eq!(dns(&r), sorted(vec![an_dn(), tuyet_dn()]));
    // Presence: only those with a telephone number.
    let (_, r, _) = search("(telephoneNumber=*)");
    assert_eq!(dns(&r), sorted(vec![an_dn(), tuyet_dn()]));
    // telephoneNumberMatch (RFC 4517 4.2.29) ignores spaces and hyphens.
    let (_, r, _) = search("(telephoneNumber=02603862222)");
    assert_eq!(dns(&r), vec![an_dn()]);
    // not: persons outside STP.
    let (_, r, _) = search("(&(objectClass=inetOrgPerson)(!(ou=STP)))");
    assert_eq!(dns(&r), vec![an_dn()]);
    // title, folded: "pho giam doc" finds Phó Giám đốc.
    let (_, r, _) = search("(title=pho giam doc)");
    assert_eq!(dns(&r), vec![dung_dn()]);
    // Departed Lê Văn Nghị is absent, by name and by address.
    let (code, r, _) = search("(|(cn=*nghi*)(mail=lvnghi*))");
    assert_eq!(code, 0);
    assert!(r.is_empty(), "{r:?}");
    // RFC 4511 4.5.1.7: an unknown attribute is Undefined, so not(...) is Undefined too.
    let (code, r, _) = search("(!(noSuchAttribute=x))");
    assert_eq!(code, 0);
    assert!(r.is_empty(), "{r:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn units_follow_the_hierarchy_and_groups_list_members() {
    let server = start(|_| {}).await;
    let s = &server;
    let bind = Some((TUYET, PASSWORD));
    let (code, r, err) = tokio::task::block_in_place(|| {
        ldapsearch(
            s,
            Transport::Ldaps,
            bind,
            &["-b", BASE, "-s", "one", "(objectClass=*)", "dn"],
        )
    });
    assert_eq!(code, 0, "{err}");
    // RFC 4511 4.5.1.2 singleLevel: the top unit and the group, not STP (under UBND).
    assert_eq!(
        dns(&r),
        sorted(vec![
            format!("mail={GROUP},{BASE}"),
            format!("ou=UBND,{BASE}")
        ])
    );
    let (_, r, _) = tokio::task::block_in_place(|| {
        ldapsearch(
            s,
            Transport::Ldaps,
            bind,
            &[
                "-b",
                &format!("ou=STP,ou=UBND,{BASE}"),
                "-s",
                "base",
                "(objectClass=*)",
            ],
        )
    });
    assert_eq!(r.len(), 1);
    assert_eq!(values(&r[0], "cn"), vec!["Sở Tư pháp"]);
    assert_eq!(values(&r[0], "mail").len(), 1, "the unit mailbox's address");
    let (_, r, _) = tokio::task::block_in_place(|| {
        ldapsearch(
            s,
            Transport::Ldaps,
            bind,
            &["-b", BASE, &format!("(mail={GROUP})"), "cn", "member"],
        )
    });
    assert_eq!(r.len(), 1);
    assert_eq!(values(&r[0], "cn"), vec!["Lãnh đạo tỉnh"]);
    let members = values(&r[0], "member")
        .iter()
        .map(|v| v.to_string())
        .collect();
    assert_eq!(sorted(members), sorted(vec![an_dn(), dung_dn()]));
    // RFC 4511 4.5.1.1: a base that does not exist is noSuchObject (32).
    let (code, _, _) = tokio::task::block_in_place(|| {
        ldapsearch(
            s,
            Transport::Ldaps,
            bind,
            &["-b", &format!("ou=NONE,{BASE}"), "(objectClass=*)"],
        )
    });
    assert_eq!(code, 32);
}

#[tokio::test(flavor = "multi_thread")]
async fn refusals_wrong_password_throttle_no_tls_anonymous() {
    let server = start(|_| {}).await;
    let s = &server;
    let base = ["-b", BASE, "(objectClass=*)", "dn"];
    // RFC 4511 4.2.2: invalidCredentials (49).
    let (code, _, _) = tokio::task::block_in_place(|| {
        ldapsearch(s, Transport::StartTls, Some((DUNG, "sai")), &base)
    });
    assert_eq!(code, 49);
    for _ in 0..3 {
        tokio::task::block_in_place(|| {
            ldapsearch(s, Transport::StartTls, Some((DUNG, "sai")), &base)
        });
    }
    // After max_failures (3) the throttle locks (login, IP): busy (51), even with the right
    // password — the same throttle as IMAP and SMTP.
    let phc = policy::password::hash("dung-dung-1").unwrap();
    server.store.set_password(DUNG, &phc, false).await.unwrap();
    let (code, _, _) = tokio::task::block_in_place(|| {
        ldapsearch(s, Transport::StartTls, Some((DUNG, "dung-dung-1")), &base)
    });
    assert_eq!(code, 51);
    // RFC 4513 5.1.3 / RFC 4511 4.2.2: a password without TLS, confidentialityRequired (13).
    let (code, _, _) = tokio::task::block_in_place(|| {
        ldapsearch(s, Transport::Plain, Some((TUYET, PASSWORD)), &base)
    });
    assert_eq!(code, 13);
    // Anonymous (ldapsearch -x without -D binds anonymously, RFC 4513 5.1.1); searching the directory is insufficientAccessRights (50).
    let (code, r, _) =
        tokio::task::block_in_place(|| ldapsearch(s, Transport::StartTls, None, &base));
    assert_eq!(code, 50);
    assert!(r.is_empty());
    // RFC 4513 5.1.2: an unauthenticated bind (a name, no password) is unwillingToPerform (53).
    let (code, _, _) = tokio::task::block_in_place(|| {
        ldapsearch(s, Transport::StartTls, Some((TUYET, "")), &base)
    });
    assert_eq!(code, 53);
    // The entry DN works as a bind name too.
    let (code, r, _) = tokio::task::block_in_place(|| {
        ldapsearch(
            s,
            Transport::Ldaps,
            Some((&tuyet_dn(), PASSWORD)),
            &["-b", BASE, "(uid=nttuyet.stp)", "dn"],
        )
    });
    assert_eq!(code, 0);
    assert_eq!(dns(&r), vec![tuyet_dn()]);
}

#[tokio::test(flavor = "multi_thread")]
async fn root_dse_and_subschema_before_bind() {
    let server = start(|_| {}).await;
    let s = &server;
    let (code, r, err) = tokio::task::block_in_place(|| {
        ldapsearch(
            s,
            Transport::StartTls,
            None,
            &["-b", "", "-s", "base", "(objectClass=*)", "+"],
        )
    });
    assert_eq!(code, 0, "{err}");
    assert_eq!(r.len(), 1);
    assert_eq!(r[0].0, "");
    assert_eq!(values(&r[0], "namingContexts"), vec![BASE]);
    assert_eq!(values(&r[0], "supportedLDAPVersion"), vec!["3"]);
    // RFC 2696: the paged results control is announced.
    assert!(values(&r[0], "supportedControl").contains(&"1.2.840.113556.1.4.319"));
    assert_eq!(values(&r[0], "subschemaSubentry"), vec!["cn=Subschema"]);
    // Plain connection: StartTLS (RFC 4511 4.14) is offered.
    let (_, r, _) = tokio::task::block_in_place(|| {
        ldapsearch(
            s,
            Transport::Plain,
            None,
            &[
                "-b",
                "",
                "-s",
                "base",
                "(objectClass=*)",
                "supportedExtension",
            ],
        )
    });
    assert!(values(&r[0], "supportedExtension").contains(&"1.3.6.1.4.1.1466.20037"));
    let (code, r, _) = tokio::task::block_in_place(|| {
        ldapsearch(
            s,
            Transport::Ldaps,
            None,
            &[
                "-b",
                "cn=Subschema",
                "-s",
                "base",
                "(objectClass=subschema)",
                "objectClasses",
                "attributeTypes",
            ],
        )
    });
    assert_eq!(code, 0);
    assert!(values(&r[0], "objectClasses")
        .iter()
        .any(|v| v.contains("'inetOrgPerson'")));
    assert!(values(&r[0], "attributeTypes")
        .iter()
        .any(|v| v.contains("'mail'")));
}

#[tokio::test(flavor = "multi_thread")]
async fn size_limit_and_paged_results_via_ldapsearch() {
    let server = start(|_| {}).await;
    let s = &server;
    let bind = Some((TUYET, PASSWORD));
    // RFC 4511 4.5.1.4: 2 of the 3 persons, then sizeLimitExceeded (4).
    let (code, r, _) = tokio::task::block_in_place(|| {
        ldapsearch(
            s,
            Transport::Ldaps,
            bind,
            &["-z", "2", "-b", BASE, "(objectClass=person)", "dn"],
        )
    });
    assert_eq!(code, 4);
    assert_eq!(r.len(), 2);
    // RFC 2696 with pages of one: ldapsearch follows the cookies and gets all three persons.
    let (code, r, err) = tokio::task::block_in_place(|| {
        ldapsearch(
            s,
            Transport::Ldaps,
            bind,
            &[
                "-E",
                "pr=1/noprompt",
                "-b",
                BASE,
                "(objectClass=person)",
                "dn",
            ],
        )
    });
    assert_eq!(code, 0, "{err}");
    assert_eq!(dns(&r), sorted(vec![an_dn(), dung_dn(), tuyet_dn()]));
}
