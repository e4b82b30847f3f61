//! Client autoconfiguration over HTTPS (`listen.https`), fetched with `curl`: Thunderbird's
//! config-v1.1.xml, Outlook's autodiscover (POX POST and the JSON v2 form), Apple's
//! .mobileconfig — each naming the public host and ports of `[autoconfig]`, not the listen
//! ports; and `govmail dns` SRV records (RFC 6186) with those public ports.

use crate::support;

use std::process::Command;

use support::Install;

const USER: &str = "nttuyet.stttt@kontum.gov.vn";
const PUBLIC: &str = "mail.kontum.gov.vn";

fn curl(
    install: &Install,
    port: u16,
    method: &str,
    path: &str,
    body: Option<&str>,
) -> (u16, String) {
    let mut cmd = Command::new("curl");
    cmd.args([
        "-sS",
        "--max-time",
        "20",
        "-o",
        "-",
        "-w",
        "\n%{http_code}",
        "-X",
        method,
    ])
    .arg("--cacert")
    .arg(install.cert_path())
    // The generated certificate names the hostname; resolve it to the test listener.
    .arg("--resolve")
    .arg(format!("{PUBLIC}:{port}:127.0.0.1"));
    if let Some(body) = body {
        cmd.args(["-H", "Content-Type: text/xml", "--data-binary", body]);
    }
    cmd.arg(format!("https://{PUBLIC}:{port}{path}"));
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "curl: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    let (body, code) = text.rsplit_once('\n').unwrap();
    (code.parse().unwrap(), body.to_string())
}

/// The text of every `<tag>` element.
fn elements(doc: &str, tag: &str) -> Vec<String> {
    doc.split(&format!("<{tag}>"))
        .skip(1)
        .filter_map(|rest| rest.split(&format!("</{tag}>")).next())
        .map(str::to_string)
        .collect()
}

#[test]
fn autoconfig_over_https_with_public_ports_and_srv_records() {
    let install = Install::with_people(
        "kontum.gov.vn",
        "Sở Thông tin và Truyền thông",
        &[("Nguyễn Thị Tuyết", USER, "mat-khau-dai-123")],
    );
    let public = [
        "autoconfig.imap_port=993".to_string(),
        "autoconfig.smtp_port=465".into(),
        "autoconfig.imap_starttls_port=143".into(),
        "autoconfig.submission_port=587".into(),
        "autoconfig.https_port=443".into(),
    ];
    let mut sets = vec![
        format!("server.hostname={PUBLIC}"),
        "antivirus.enabled=false".into(),
    ];
    sets.extend_from_slice(&public);
    let (served, addrs) = install.serve_on(
        &["https", "imaps", "submissions", "imap", "submission"],
        &sets,
    );
    let https = addrs[0].port();

    // Thunderbird: https://autoconfig.<domain>/mail/config-v1.1.xml?emailaddress=...
    let (code, doc) = curl(
        &install,
        https,
        "GET",
        &format!("/mail/config-v1.1.xml?emailaddress={USER}"),
        None,
    );
    assert_eq!(code, 200, "{doc}");
    assert_eq!(elements(&doc, "hostname"), vec![PUBLIC, PUBLIC]);
    assert_eq!(elements(&doc, "port"), vec!["993", "465"]);
    assert_eq!(elements(&doc, "socketType"), vec!["SSL", "SSL"]);
    let (code, _) = curl(
        &install,
        https,
        "GET",
        &format!("/.well-known/autoconfig/mail/config-v1.1.xml?emailaddress={USER}"),
        None,
    );
    assert_eq!(code, 200);

    // Outlook POX autodiscover: a POST of the request schema.
    let request = format!("<?xml version=\"1.0\"?><Autodiscover xmlns=\"http://schemas.microsoft.com/exchange/autodiscover/outlook/requestschema/2006\"><Request><EMailAddress>{USER}</EMailAddress><AcceptableResponseSchema>http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a</AcceptableResponseSchema></Request></Autodiscover>");
    let (code, doc) = curl(
        &install,
        https,
        "POST",
        "/Autodiscover/Autodiscover.xml",
        Some(&request),
    );
    assert_eq!(code, 200, "{doc}");
    assert_eq!(elements(&doc, "Type"), vec!["IMAP", "SMTP"]);
    assert_eq!(elements(&doc, "Server"), vec![PUBLIC, PUBLIC]);
    assert_eq!(elements(&doc, "Port"), vec!["993", "465"]);
    assert_eq!(elements(&doc, "LoginName"), vec![USER, USER]);

    // Outlook's autodiscover v2 (JSON): where the POX autodiscover is.
    let (code, doc) = curl(
        &install,
        https,
        "GET",
        &format!("/autodiscover/autodiscover.json/v1.0/{USER}?Protocol=AutodiscoverV1"),
        None,
    );
    assert_eq!(code, 200, "{doc}");
    let v: serde_json::Value = serde_json::from_str(&doc).unwrap();
    assert_eq!(v["Protocol"], "AutodiscoverV1");
    assert_eq!(
        v["Url"],
        format!("https://{PUBLIC}/autodiscover/autodiscover.xml")
    );
    let (code, doc) = curl(
        &install,
        https,
        "GET",
        &format!("/autodiscover/autodiscover.json?Email={USER}&Protocol=ActiveSync"),
        None,
    );
    assert_eq!(code, 400, "no ActiveSync here: {doc}");
    let v: serde_json::Value = serde_json::from_str(&doc).unwrap();
    assert_eq!(v["ErrorCode"], "InvalidProtocol");

    // Apple: a configuration profile with the public host and ports.
    let (code, doc) = curl(
        &install,
        https,
        "GET",
        &format!("/apple.mobileconfig?email={USER}"),
        None,
    );
    assert_eq!(code, 200, "{doc}");
    assert!(
        doc.contains(&format!(
            "<key>IncomingMailServerHostName</key><string>{PUBLIC}</string>"
        )),
        "{doc}"
    );
    assert!(
        doc.contains("<key>IncomingMailServerPortNumber</key><integer>993</integer>"),
        "{doc}"
    );
    assert!(
        doc.contains("<key>OutgoingMailServerPortNumber</key><integer>465</integer>"),
        "{doc}"
    );
    assert!(
        doc.contains(&format!("<key>EmailAddress</key><string>{USER}</string>")),
        "{doc}"
    );
    // The password page is still there on the same listener.
    let (code, _) = curl(&install, https, "GET", "/password", None);
    assert_eq!(code, 200);
    drop(served);

    // RFC 6186 3.1 / RFC 8314 5.1: SRV targets the public ports, whatever the listen ports.
    let mut args = vec![];
    for set in public.iter().cloned().chain([
        format!("server.hostname={PUBLIC}"),
        "listen.submission=[\"127.0.0.1:5587\"]".into(),
        "listen.submissions=[\"127.0.0.1:4465\"]".into(),
        "listen.imap=[]".into(),
        "listen.imaps=[\"127.0.0.1:1993\"]".into(),
    ]) {
        args.push("--set".to_string());
        args.push(set);
    }
    args.extend(["dns".to_string(), "kontum.gov.vn".to_string()]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let zone = install.ok(&args, None);
    let srv = |name: &str| {
        zone.lines()
            .find(|l| l.starts_with(&format!("{name}.kontum.gov.vn")))
            .unwrap_or_else(|| panic!("{name} in {zone}"))
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
    };
    // RFC 2782: priority weight port target (absolute name, trailing dot).
    assert!(
        srv("_submissions._tcp").ends_with(&format!("SRV 0 1 465 {PUBLIC}.")),
        "{zone}"
    );
    assert!(
        srv("_submission._tcp").ends_with(&format!("SRV 0 1 587 {PUBLIC}.")),
        "{zone}"
    );
    assert!(
        srv("_imaps._tcp").ends_with(&format!("SRV 0 1 993 {PUBLIC}.")),
        "{zone}"
    );
    // RFC 6186 3.4: a service not offered is target ".".
    assert!(srv("_imap._tcp").ends_with("SRV 0 0 0 ."), "{zone}");
}
