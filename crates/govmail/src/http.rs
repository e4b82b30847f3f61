//! The HTTP listener: `/healthz` (alive), `/readyz` (every required part, JSON), `/metrics`
//! (Prometheus text), and client autoconfiguration: Thunderbird autoconfig, Outlook
//! autodiscover (POX), an Apple `.mobileconfig` profile.

use std::path::PathBuf;
use std::sync::Arc;

use axum::extract::{Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::json;

/// What the HTTP handlers share.
pub struct Shared {
    pub store: storage::Store,
    pub clamd: Option<policy::antivirus::Clamd>,
    pub metrics: Option<metrics_exporter_prometheus::PrometheusHandle>,
    pub data_dir: PathBuf,
    pub cert_path: Option<PathBuf>,
    pub autoconfig: crate::config::Autoconfig,
    pub hostname: String,
    /// Readiness fails when free disk in data_dir drops below this.
    pub min_free_bytes: u64,
}

pub fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .with_state(shared.clone())
        .merge(autoconfig_router(shared))
}

/// Client autoconfiguration alone: served on `listen.http` and on `listen.https` (Outlook
/// asks for autodiscover over HTTPS only).
pub fn autoconfig_router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route(
            "/.well-known/autoconfig/mail/config-v1.1.xml",
            get(thunderbird),
        )
        .route("/mail/config-v1.1.xml", get(thunderbird))
        .route(
            "/autodiscover/autodiscover.xml",
            get(autodiscover).post(autodiscover),
        )
        .route(
            "/Autodiscover/Autodiscover.xml",
            get(autodiscover).post(autodiscover),
        )
        .route("/apple.mobileconfig", get(mobileconfig))
        .route("/autodiscover/autodiscover.json", get(autodiscover_json))
        .route(
            "/autodiscover/autodiscover.json/v1.0/{email}",
            get(autodiscover_json),
        )
        .route("/Autodiscover/Autodiscover.json", get(autodiscover_json))
        .route(
            "/Autodiscover/Autodiscover.json/v1.0/{email}",
            get(autodiscover_json),
        )
        .with_state(shared)
}

/// The HTTPS listener's answer to a path nobody serves, after reading the request's body
/// (bounded): a reply sent while a DAV client is still writing its PROPFIND closes the
/// connection under it, and aiohttp (vdirsyncer) then fails with "Can not write request body"
/// on the next request it sends on that connection (discovery tries `/` first).
pub async fn not_found(request: axum::extract::Request) -> Response {
    let _ = axum::body::to_bytes(request.into_body(), carddav::MAX_BODY).await;
    (StatusCode::NOT_FOUND, "Not found\n").into_response()
}

/// Outlook's autodiscover v2 (JSON): `?Protocol=AutodiscoverV1` answers where the POX
/// autodiscover is; other protocols (ActiveSync, EWS, REST) are not offered here.
async fn autodiscover_json(
    State(shared): State<Arc<Shared>>,
    Query(query): Query<std::collections::HashMap<String, String>>,
) -> Response {
    let protocol = query
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("protocol"))
        .map(|(_, v)| v.as_str())
        .unwrap_or("");
    if !protocol.eq_ignore_ascii_case("AutodiscoverV1") {
        let body = json!({
            "ErrorCode": "InvalidProtocol",
            "ErrorMessage": format!(
                "The given protocol value '{protocol}' is invalid. Supported values are 'AutodiscoverV1'"
            ),
        });
        return (StatusCode::BAD_REQUEST, Json(body)).into_response();
    }
    let a = &shared.autoconfig;
    let host = if a.host.is_empty() {
        &shared.hostname
    } else {
        &a.host
    };
    let authority = if a.https_port == 443 {
        host.to_string()
    } else {
        format!("{host}:{}", a.https_port)
    };
    Json(json!({
        "Protocol": "AutodiscoverV1",
        "Url": format!("https://{authority}/autodiscover/autodiscover.xml"),
    }))
    .into_response()
}

fn free_bytes(dir: &std::path::Path) -> Option<u64> {
    let stat = rustix::fs::statvfs(dir).ok()?;
    Some(stat.f_bavail * stat.f_frsize)
}

/// Reads one DER TLV: (tag, content, rest).
fn der(input: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, rest) = input.split_first()?;
    let (&first, rest) = rest.split_first()?;
    let (len, rest) = if first < 0x80 {
        (first as usize, rest)
    } else {
        let n = (first & 0x7f) as usize;
        if n == 0 || n > 4 || rest.len() < n {
            return None;
        }
        (
            rest[..n].iter().fold(0usize, |a, &b| (a << 8) | b as usize),
            &rest[n..],
        )
    };
    (rest.len() >= len).then(|| (tag, &rest[..len], &rest[len..]))
}

/// notAfter of the first certificate in a PEM file, as Unix seconds (RFC 5280 4.1).
pub fn cert_not_after(pem: &[u8]) -> Option<i64> {
    use rustls::pki_types::pem::PemObject;
    let cert = rustls::pki_types::CertificateDer::pem_slice_iter(pem)
        .next()?
        .ok()?;
    let (_, certificate, _) = der(&cert)?;
    let (_, tbs, _) = der(certificate)?;
    let mut rest = tbs;
    let (tag, _, after) = der(rest)?;
    if tag == 0xa0 {
        rest = after; // explicit version
    }
    for _ in 0..3 {
        rest = der(rest)?.2; // serial, signature algorithm, issuer
    }
    let (_, validity, _) = der(rest)?;
    let (_, _, after_before) = der(validity)?;
    let (tag, not_after, _) = der(after_before)?;
    let text = std::str::from_utf8(not_after).ok()?;
    let full = match tag {
        0x17 => {
            let year: i32 = text.get(0..2)?.parse().ok()?;
            format!(
                "{}{}",
                if year < 50 { 2000 + year } else { 1900 + year },
                &text[2..]
            )
        }
        0x18 => text.to_string(),
        _ => return None,
    };
    let n = |a: usize, b: usize| full.get(a..b)?.parse::<u32>().ok();
    let date = time::Date::from_calendar_date(
        n(0, 4)? as i32,
        time::Month::try_from(n(4, 6)? as u8).ok()?,
        n(6, 8)? as u8,
    )
    .ok()?;
    let time = time::Time::from_hms(n(8, 10)? as u8, n(10, 12)? as u8, n(12, 14)? as u8).ok()?;
    Some(date.with_time(time).assume_utc().unix_timestamp())
}

async fn readyz(State(shared): State<Arc<Shared>>) -> (StatusCode, Json<serde_json::Value>) {
    let database = shared.store.ping().await;
    let clamd = match &shared.clamd {
        Some(clamd) => Some(clamd.ping().await),
        None => None,
    };
    // The blob store: the data directory must take a write.
    let probe = shared.data_dir.join(".readyz-probe");
    let blobs_ok = std::fs::write(&probe, b"ok").is_ok() && std::fs::remove_file(&probe).is_ok();
    let queue = shared.store.queue_stats().await.ok();
    let free = free_bytes(&shared.data_dir);
    let disk_ok = free.is_none_or(|f| f >= shared.min_free_bytes);
    let cert_days = shared
        .cert_path
        .as_ref()
        .and_then(|p| std::fs::read(p).ok())
        .and_then(|pem| cert_not_after(&pem))
        .map(|t| (t - storage::now()) / 86_400);
    // Several nodes (issue 16): a lost listening connection leaves the node serving (sessions
    // poll every second), so it stays ready but says it is degraded, and why.
    let fanout = match shared.store.fanout() {
        storage::Fanout::Local => json!({ "state": "local" }),
        storage::Fanout::Listening => json!({ "state": "listening" }),
        storage::Fanout::Degraded(reason) => json!({ "state": "degraded", "reason": reason }),
    };
    let degraded = matches!(shared.store.fanout(), storage::Fanout::Degraded(_));
    let ready = database.is_ok() && clamd.as_ref().is_none_or(|c| c.is_ok()) && blobs_ok && disk_ok;
    let body = json!({
        "ready": ready,
        "degraded": degraded,
        "fanout": fanout,
        "database": { "ok": database.is_ok(), "backend": shared.store.backend_name(),
                      "error": database.err().map(|e| e.to_string()) },
        "blob_store": { "ok": blobs_ok, "in_files": shared.store.blobs_in_files() },
        "clamd": match clamd {
            None => json!({ "ok": true, "enabled": false }),
            Some(result) => json!({ "ok": result.is_ok(), "enabled": true,
                                     "error": result.err().map(|e| e.to_string()) }),
        },
        "queue": { "pending": queue.as_ref().map(|q| q.pending),
                   "oldest_age_seconds": queue.as_ref().and_then(|q| q.oldest).map(|t| storage::now() - t) },
        "disk": { "ok": disk_ok, "free_bytes": free },
        "tls": { "certificate_days_left": cert_days },
    });
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, Json(body))
}

async fn metrics(State(shared): State<Arc<Shared>>) -> Response {
    // Figures that live in storage are read at scrape time.
    if let Ok(queue) = shared.store.queue_stats().await {
        metrics::gauge!("govmail_queue_pending").set(queue.pending as f64);
        metrics::gauge!("govmail_queue_oldest_age_seconds").set(
            queue
                .oldest
                .map(|t| (storage::now() - t) as f64)
                .unwrap_or(0.0),
        );
    }
    if let Ok(domains) = shared.store.storage_per_domain().await {
        for (domain, bytes, accounts) in domains {
            metrics::gauge!("govmail_storage_bytes", "domain" => domain.clone()).set(bytes as f64);
            metrics::gauge!("govmail_accounts", "domain" => domain).set(accounts as f64);
        }
    }
    let text = shared
        .metrics
        .as_ref()
        .map(|h| h.render())
        .unwrap_or_default();
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], text).into_response()
}

fn xml_escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

#[derive(Deserialize)]
struct EmailQuery {
    #[serde(alias = "emailaddress")]
    email: Option<String>,
}

/// Thunderbird autoconfig (config-v1.1.xml).
async fn thunderbird(
    State(shared): State<Arc<Shared>>,
    Query(query): Query<EmailQuery>,
) -> Response {
    let a = &shared.autoconfig;
    let host = xml_escape(if a.host.is_empty() {
        &shared.hostname
    } else {
        &a.host
    });
    let domain = query
        .email
        .as_deref()
        .and_then(|e| e.rsplit_once('@').map(|(_, d)| d.to_string()))
        .unwrap_or_else(|| shared.hostname.clone());
    let body = format!(
        r#"<?xml version="1.0" encoding="UTF-8"?>
<clientConfig version="1.1">
  <emailProvider id="{domain}">
    <domain>{domain}</domain>
    <displayName>{name}</displayName>
    <displayShortName>{name}</displayShortName>
    <incomingServer type="imap">
      <hostname>{host}</hostname>
      <port>{imap}</port>
      <socketType>SSL</socketType>
      <username>%EMAILADDRESS%</username>
      <authentication>password-cleartext</authentication>
    </incomingServer>
    <outgoingServer type="smtp">
      <hostname>{host}</hostname>
      <port>{smtp}</port>
      <socketType>SSL</socketType>
      <username>%EMAILADDRESS%</username>
      <authentication>password-cleartext</authentication>
    </outgoingServer>
  </emailProvider>
</clientConfig>
"#,
        domain = xml_escape(&domain),
        name = xml_escape(&a.display_name),
        imap = a.imap_port,
        smtp = a.smtp_port,
    );
    (
        [(header::CONTENT_TYPE, "application/xml; charset=utf-8")],
        body,
    )
        .into_response()
}

/// Outlook autodiscover (POX, "outlook" response schema).
async fn autodiscover(State(shared): State<Arc<Shared>>, body: String) -> Response {
    let a = &shared.autoconfig;
    let host = xml_escape(if a.host.is_empty() {
        &shared.hostname
    } else {
        &a.host
    });
    let email = body
        .split("<EMailAddress>")
        .nth(1)
        .and_then(|rest| rest.split("</EMailAddress>").next())
        .map(str::trim)
        .unwrap_or("");
    let login = if email.is_empty() {
        String::new()
    } else {
        format!("<LoginName>{}</LoginName>", xml_escape(email))
    };
    let xml = format!(
        r#"<?xml version="1.0" encoding="utf-8"?>
<Autodiscover xmlns="http://schemas.microsoft.com/exchange/autodiscover/responseschema/2006">
  <Response xmlns="http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a">
    <Account>
      <AccountType>email</AccountType>
      <Action>settings</Action>
      <Protocol>
        <Type>IMAP</Type>
        <Server>{host}</Server>
        <Port>{imap}</Port>
        <SSL>on</SSL>
        <SPA>off</SPA>
        <AuthRequired>on</AuthRequired>
        {login}
      </Protocol>
      <Protocol>
        <Type>SMTP</Type>
        <Server>{host}</Server>
        <Port>{smtp}</Port>
        <SSL>on</SSL>
        <Encryption>SSL</Encryption>
        <SPA>off</SPA>
        <AuthRequired>on</AuthRequired>
        <UsePOPAuth>off</UsePOPAuth>
        {login}
      </Protocol>
    </Account>
  </Response>
</Autodiscover>
"#,
        imap = a.imap_port,
        smtp = a.smtp_port,
    );
    (
        [(header::CONTENT_TYPE, "application/xml; charset=utf-8")],
        xml,
    )
        .into_response()
}

/// An Apple configuration profile for iPhone/iPad/macOS Mail.
async fn mobileconfig(
    State(shared): State<Arc<Shared>>,
    Query(query): Query<EmailQuery>,
) -> Response {
    let a = &shared.autoconfig;
    let host = xml_escape(if a.host.is_empty() {
        &shared.hostname
    } else {
        &a.host
    });
    let email = xml_escape(query.email.as_deref().unwrap_or(""));
    let id = format!(
        "vn.gov.govmail.{}",
        shared
            .hostname
            .replace(|c: char| !c.is_ascii_alphanumeric(), "-")
    );
    let uuid = |salt: &str| {
        let hash = storage::blob::blob_id(format!("{}{salt}{email}", shared.hostname).as_bytes());
        format!(
            "{}-{}-{}-{}-{}",
            &hash[0..8],
            &hash[8..12],
            &hash[12..16],
            &hash[16..20],
            &hash[20..32]
        )
        .to_uppercase()
    };
    let profile = format!(
        r#"<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">
<plist version="1.0">
<dict>
  <key>PayloadContent</key>
  <array>
    <dict>
      <key>EmailAccountDescription</key><string>{name}</string>
      <key>EmailAccountType</key><string>EmailTypeIMAP</string>
      <key>EmailAddress</key><string>{email}</string>
      <key>IncomingMailServerAuthentication</key><string>EmailAuthPassword</string>
      <key>IncomingMailServerHostName</key><string>{host}</string>
      <key>IncomingMailServerPortNumber</key><integer>{imap}</integer>
      <key>IncomingMailServerUseSSL</key><true/>
      <key>IncomingMailServerUsername</key><string>{email}</string>
      <key>OutgoingMailServerAuthentication</key><string>EmailAuthPassword</string>
      <key>OutgoingMailServerHostName</key><string>{host}</string>
      <key>OutgoingMailServerPortNumber</key><integer>{smtp}</integer>
      <key>OutgoingMailServerUseSSL</key><true/>
      <key>OutgoingMailServerUsername</key><string>{email}</string>
      <key>OutgoingPasswordSameAsIncomingPassword</key><true/>
      <key>PayloadIdentifier</key><string>{id}.email</string>
      <key>PayloadType</key><string>com.apple.mail.managed</string>
      <key>PayloadUUID</key><string>{account_uuid}</string>
      <key>PayloadVersion</key><integer>1</integer>
    </dict>
  </array>
  <key>PayloadDisplayName</key><string>{name}</string>
  <key>PayloadIdentifier</key><string>{id}</string>
  <key>PayloadType</key><string>Configuration</string>
  <key>PayloadUUID</key><string>{profile_uuid}</string>
  <key>PayloadVersion</key><integer>1</integer>
</dict>
</plist>
"#,
        name = xml_escape(&a.display_name),
        imap = a.imap_port,
        smtp = a.smtp_port,
        account_uuid = uuid("account"),
        profile_uuid = uuid("profile"),
    );
    (
        [
            (header::CONTENT_TYPE, "application/x-apple-aspen-config"),
            (
                header::CONTENT_DISPOSITION,
                "attachment; filename=\"govmail.mobileconfig\"",
            ),
        ],
        profile,
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    #[test]
    fn reads_not_after_from_a_generated_certificate() {
        let pair = rcgen::generate_simple_self_signed(vec!["mail.kontum.gov.vn".into()]).unwrap();
        let not_after = super::cert_not_after(pair.cert.pem().as_bytes()).expect("parsed");
        // rcgen's default validity ends in 4096.
        assert!(not_after > storage::now() + 365 * 86_400, "{not_after}");
        assert_eq!(super::cert_not_after(b"not a pem"), None);
    }
}
