//! CardDAV (RFC 6352) on the HTTPS listener, driven with `curl`: `/.well-known/carddav`
//! (RFC 6764), principal and home-set discovery, PROPFIND of the book, addressbook-multiget,
//! addressbook-query with text-match folded, vCard 4.0 and 3.0, and sync-collection (RFC 6578):
//! a hire and a leave reach the client in one round (an added member, a 404 for the removed).

use crate::support;

use std::process::Command;

use support::Install;

const PUBLIC: &str = "mail.kontum.gov.vn";
const TUYET: &str = "nttuyet.stttt@kontum.gov.vn";
const DUNG: &str = "tvdung.stttt@kontum.gov.vn";
const PASSWORD: &str = "mat-khau-dai-123";

struct Dav<'a> {
    install: &'a Install,
    port: u16,
}

impl Dav<'_> {
    /// (status, headers, body)
    fn call(
        &self,
        method: &str,
        path: &str,
        depth: Option<&str>,
        body: Option<&str>,
        user: Option<(&str, &str)>,
    ) -> (u16, String, String) {
        let mut cmd = Command::new("curl");
        cmd.args(["-sS", "--max-time", "20", "-D", "-", "-X", method])
            .arg("--cacert")
            .arg(self.install.cert_path())
            .arg("--resolve")
            .arg(format!("{PUBLIC}:{}:127.0.0.1", self.port));
        if let Some((u, p)) = user {
            cmd.args(["-u", &format!("{u}:{p}")]);
        }
        if let Some(depth) = depth {
            cmd.args(["-H", &format!("Depth: {depth}")]);
        }
        if let Some(body) = body {
            cmd.args([
                "-H",
                "Content-Type: application/xml; charset=utf-8",
                "--data-binary",
                body,
            ]);
        }
        cmd.arg(format!("https://{PUBLIC}:{}{path}", self.port));
        let out = cmd.output().unwrap();
        assert!(
            out.status.success(),
            "curl: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let text = String::from_utf8(out.stdout).unwrap();
        let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
        let status = head.split_whitespace().nth(1).unwrap().parse().unwrap();
        (status, head.to_string(), body.to_string())
    }

    fn auth(
        &self,
        method: &str,
        path: &str,
        depth: Option<&str>,
        body: Option<&str>,
    ) -> (u16, String) {
        let (status, _, body) = self.call(method, path, depth, body, Some((TUYET, PASSWORD)));
        (status, body)
    }
}

/// The text of every element whose name ends with `tag` (any namespace prefix).
fn elements(doc: &str, tag: &str) -> Vec<String> {
    doc.split('<')
        .filter(|t| {
            t.split(['>', ' ', '/'])
                .next()
                .is_some_and(|n| n.rsplit(':').next() == Some(tag))
        })
        .filter_map(|t| t.split_once('>').map(|(_, v)| v.to_string()))
        .filter(|v| !v.is_empty())
        .collect()
}

fn sync_body(token: &str) -> String {
    format!(
        r#"<?xml version="1.0" encoding="utf-8"?><d:sync-collection xmlns:d="DAV:"><d:sync-token>{token}</d:sync-token><d:sync-level>1</d:sync-level><d:prop><d:getetag/></d:prop></d:sync-collection>"#
    )
}

#[test]
fn carddav_discovery_cards_query_and_sync_rounds() {
    let install = Install::with_people(
        "kontum.gov.vn",
        "Sở Thông tin và Truyền thông",
        &[
            ("Nguyễn Thị Tuyết", TUYET, PASSWORD),
            ("Trần Văn Dũng", DUNG, PASSWORD),
        ],
    );
    let (served, addrs) = install.serve_on(
        &["https"],
        &[
            format!("server.hostname={PUBLIC}"),
            "antivirus.enabled=false".into(),
        ],
    );
    let port = addrs[0].port();
    let dav = Dav {
        install: &install,
        port,
    };

    // RFC 6764 5: the well-known URI redirects to the context path; authentication first.
    let (status, head, _) = dav.call("PROPFIND", "/.well-known/carddav", Some("0"), None, None);
    assert_eq!(status, 301);
    assert!(
        head.to_lowercase().contains("location: /carddav/"),
        "{head}"
    );
    let (status, head, _) = dav.call("PROPFIND", "/carddav/", Some("0"), None, None);
    assert_eq!(status, 401);
    assert!(
        head.to_lowercase().contains("www-authenticate: basic"),
        "{head}"
    );
    let (status, _, _) = dav.call(
        "PROPFIND",
        "/carddav/",
        Some("0"),
        None,
        Some((TUYET, "sai")),
    );
    assert_eq!(status, 401);

    // RFC 5397 3 and RFC 6352 7.1.1: principal, then the home set.
    let body = r#"<?xml version="1.0"?><d:propfind xmlns:d="DAV:"><d:prop><d:current-user-principal/></d:prop></d:propfind>"#;
    let (status, doc) = dav.auth("PROPFIND", "/carddav/", Some("0"), Some(body));
    assert_eq!(status, 207, "{doc}");
    assert_eq!(
        elements(&doc, "href"),
        vec!["/carddav/", "/carddav/principal/"]
    );
    let body = r#"<?xml version="1.0"?><d:propfind xmlns:d="DAV:" xmlns:c="urn:ietf:params:xml:ns:carddav"><d:prop><c:addressbook-home-set/></d:prop></d:propfind>"#;
    let (_, doc) = dav.auth("PROPFIND", "/carddav/principal/", Some("0"), Some(body));
    assert_eq!(
        elements(&doc, "href"),
        vec!["/carddav/principal/", "/carddav/"]
    );
    // The home holds one address book (resourcetype addressbook).
    let body = r#"<?xml version="1.0"?><d:propfind xmlns:d="DAV:"><d:prop><d:resourcetype/><d:displayname/><d:sync-token/></d:prop></d:propfind>"#;
    let (_, doc) = dav.auth("PROPFIND", "/carddav/", Some("1"), Some(body));
    assert!(doc.contains("<D:href>/carddav/book/</D:href>"), "{doc}");
    assert!(doc.contains("<C:addressbook/>"), "{doc}");
    assert!(doc.contains("Danh bạ tỉnh"), "{doc}");

    // Depth 1 on the book: the two persons and the unit, each with an ETag.
    let body = r#"<?xml version="1.0"?><d:propfind xmlns:d="DAV:"><d:prop><d:getetag/></d:prop></d:propfind>"#;
    let (status, doc) = dav.auth("PROPFIND", "/carddav/book/", Some("1"), Some(body));
    assert_eq!(status, 207);
    let hrefs: Vec<String> = elements(&doc, "href")
        .into_iter()
        .filter(|h| h.ends_with(".vcf"))
        .collect();
    assert_eq!(hrefs.len(), 3, "{doc}");
    assert_eq!(elements(&doc, "getetag").len(), 3);

    // GET every card; find Tuyết's, in vCard 4.0 (RFC 6350 6.1.4 KIND, 6.2.1 FN, 6.2.2 N).
    let mut tuyet_href = String::new();
    for href in &hrefs {
        let (_, card) = dav.auth("GET", href, None, None);
        assert!(card.starts_with("BEGIN:VCARD\r\nVERSION:4.0\r\n"), "{card}");
        if card.contains(&format!("EMAIL;TYPE=work:{TUYET}")) {
            assert!(card.contains("FN:Nguyễn Thị Tuyết\r\n"), "{card}");
            assert!(card.contains("N:Nguyễn;Tuyết;Thị;;\r\n"), "{card}");
            assert!(card.contains("KIND:individual\r\n"), "{card}");
            assert!(
                card.contains("ORG:Sở Thông tin và Truyền thông\r\n"),
                "{card}"
            );
            tuyet_href = href.clone();
        }
    }
    assert!(!tuyet_href.is_empty());

    // RFC 6352 8.7 multiget, asking for vCard 3.0 (RFC 6352 10.4 version attribute).
    let body = format!(
        r#"<?xml version="1.0"?><c:addressbook-multiget xmlns:d="DAV:" xmlns:c="urn:ietf:params:xml:ns:carddav"><d:prop><d:getetag/><c:address-data content-type="text/vcard" version="3.0"/></d:prop><d:href>{tuyet_href}</d:href><d:href>/carddav/book/p999999.vcf</d:href></c:addressbook-multiget>"#
    );
    let (status, doc) = dav.auth("REPORT", "/carddav/book/", Some("0"), Some(&body));
    assert_eq!(status, 207);
    let data = elements(&doc, "address-data");
    assert_eq!(data.len(), 1, "{doc}");
    assert!(data[0].contains("VERSION:3.0"), "{doc}");
    assert!(
        data[0].contains(&format!("EMAIL;TYPE=INTERNET,WORK:{TUYET}")),
        "{doc}"
    );
    assert!(
        doc.contains("HTTP/1.1 404 Not Found"),
        "the unknown href: {doc}"
    );

    // RFC 6352 8.6 addressbook-query, text-match without diacritics.
    let body = r#"<?xml version="1.0"?><c:addressbook-query xmlns:d="DAV:" xmlns:c="urn:ietf:params:xml:ns:carddav"><d:prop><d:getetag/></d:prop><c:filter><c:prop-filter name="FN"><c:text-match collation="i;unicode-casemap" match-type="contains">tuyet</c:text-match></c:prop-filter></c:filter></c:addressbook-query>"#;
    let (status, doc) = dav.auth("REPORT", "/carddav/book/", Some("1"), Some(body));
    assert_eq!(status, 207);
    assert_eq!(elements(&doc, "href"), vec![tuyet_href.clone()]);

    // RFC 6578 3.4: the initial sync lists all three and returns a token.
    let (status, doc) = dav.auth("REPORT", "/carddav/book/", Some("0"), Some(&sync_body("")));
    assert_eq!(status, 207, "{doc}");
    assert_eq!(elements(&doc, "href").len(), 3);
    let token = elements(&doc, "sync-token").pop().unwrap();
    // Nothing changed: an empty round with the same token.
    let (_, doc) = dav.auth(
        "REPORT",
        "/carddav/book/",
        Some("0"),
        Some(&sync_body(&token)),
    );
    assert!(elements(&doc, "href").is_empty(), "{doc}");
    assert_eq!(elements(&doc, "sync-token"), vec![token.clone()]);

    // A hire and a leave: one round reports the new card and the removed one (404).
    install.ok(
        &[
            "user",
            "leave",
            DUNG,
            "--ref",
            "12/QĐ-UBND",
            "--reason",
            "retire",
        ],
        None,
    );
    install.ok(
        &[
            "user",
            "add",
            "--name",
            "Lê Thị Hoa",
            "--unit",
            "STTTT",
            "--address",
            "lthoa.stttt@kontum.gov.vn",
            "--password-stdin",
        ],
        Some("mat-khau-hoa-123\n"),
    );
    let (status, doc) = dav.auth(
        "REPORT",
        "/carddav/book/",
        Some("0"),
        Some(&sync_body(&token)),
    );
    assert_eq!(status, 207, "{doc}");
    let responses: Vec<&str> = doc.split("<D:response>").skip(1).collect();
    assert_eq!(responses.len(), 2, "{doc}");
    let removed: Vec<&&str> = responses
        .iter()
        .filter(|r| r.contains("404 Not Found"))
        .collect();
    assert_eq!(removed.len(), 1, "{doc}");
    let added = responses.iter().find(|r| r.contains("200 OK")).unwrap();
    let added_href = elements(added, "href").pop().unwrap();
    let (_, card) = dav.auth("GET", &added_href, None, None);
    assert!(card.contains("FN:Lê Thị Hoa"), "{card}");
    let new_token = elements(&doc, "sync-token").pop().unwrap();
    assert_ne!(new_token, token);

    // RFC 6578 3.2: an unknown token, 403 with DAV:valid-sync-token.
    let (status, doc) = dav.auth(
        "REPORT",
        "/carddav/book/",
        Some("0"),
        Some(&sync_body("urn:x:unknown")),
    );
    assert_eq!(status, 403);
    assert!(doc.contains("valid-sync-token"), "{doc}");
    // Read-only: PUT is not allowed.
    let (status, _) = dav.auth(
        "PUT",
        &tuyet_href,
        None,
        Some("BEGIN:VCARD\r\nEND:VCARD\r\n"),
    );
    assert_eq!(status, 405);
    drop(served);
}
