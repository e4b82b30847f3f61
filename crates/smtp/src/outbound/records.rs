//! The DNS records a hosted domain should publish (`govmail dns DOMAIN`): MX, SPF, DKIM,
//! DMARC, client autoconfiguration (RFC 6186/8314 SRV, autoconfig/autodiscover names),
//! as zone-file lines ready to paste.

/// One record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DnsRecord {
    /// Fully qualified owner name with the trailing dot.
    pub name: String,
    pub kind: &'static str,
    /// Presentation value (TXT values unquoted here; [`zone_text`] quotes and splits them).
    pub value: String,
    /// What it is for, printed as a zone-file comment.
    pub comment: String,
}

/// What the records are built from.
#[derive(Debug, Clone)]
pub struct RecordsInput {
    pub domain: String,
    /// This server's name (the MX target and the clients' server).
    pub hostname: String,
    /// (selector, TXT value) of the domain's DKIM key, if one is configured.
    pub dkim: Option<(String, String)>,
    /// DMARC policy: none, quarantine or reject.
    pub dmarc_policy: String,
    /// Where aggregate DMARC reports go (a mailbox at the domain by default).
    pub dmarc_rua: String,
    pub submission_port: Option<u16>,
    pub submissions_port: Option<u16>,
    pub imap_port: Option<u16>,
    pub imaps_port: Option<u16>,
}

/// The local part of the DMARC aggregate report address `govmail dns` publishes (`rua=`);
/// it exists at every hosted domain (see [`crate::ROLE_LOCALS`]).
pub const DMARC_RUA_LOCAL: &str = "dmarc";

impl RecordsInput {
    /// Standard ports, DMARC quarantine with reports to `dmarc@domain`.
    pub fn new(domain: &str, hostname: &str) -> RecordsInput {
        let domain = domain.trim().trim_end_matches('.').to_ascii_lowercase();
        RecordsInput {
            dmarc_rua: format!("{DMARC_RUA_LOCAL}@{domain}"),
            domain,
            hostname: hostname.trim().trim_end_matches('.').to_ascii_lowercase(),
            dkim: None,
            dmarc_policy: "quarantine".into(),
            submission_port: Some(587),
            submissions_port: Some(465),
            imap_port: Some(143),
            imaps_port: Some(993),
        }
    }
}

/// The records, in the order to publish them.
pub fn records(input: &RecordsInput) -> Vec<DnsRecord> {
    let d = format!("{}.", input.domain);
    let host = format!("{}.", input.hostname);
    let mut out = vec![
        DnsRecord {
            name: d.clone(),
            kind: "MX",
            value: format!("10 {host}"),
            comment: "mail for the domain goes to this server".into(),
        },
        DnsRecord {
            name: d.clone(),
            kind: "TXT",
            value: format!("v=spf1 mx a:{} -all", input.hostname),
            comment: "SPF: only the domain's mail servers send as it (add other senders' IPs here)"
                .into(),
        },
    ];
    match &input.dkim {
        Some((selector, txt)) => out.push(DnsRecord {
            name: format!("{selector}._domainkey.{d}"),
            kind: "TXT",
            value: txt.clone(),
            comment: "DKIM public key (govmail signs outgoing mail with the private half)".into(),
        }),
        None => out.push(DnsRecord {
            name: format!("SELECTOR._domainkey.{d}"),
            kind: "TXT",
            value: "v=DKIM1; k=rsa; p=...".into(),
            comment: format!(
                "no DKIM key configured for {}: run `govmail dkim generate {}` first",
                input.domain, input.domain
            ),
        }),
    }
    out.push(DnsRecord {
        name: format!("_dmarc.{d}"),
        kind: "TXT",
        value: format!(
            "v=DMARC1; p={}; rua=mailto:{}; adkim=r; aspf=r",
            input.dmarc_policy, input.dmarc_rua
        ),
        comment: "DMARC: receivers check SPF/DKIM alignment and report to the address".into(),
    });
    let srv = |service: &str, port: Option<u16>, comment: &str| DnsRecord {
        name: format!("_{service}._tcp.{d}"),
        kind: "SRV",
        value: match port {
            Some(port) => format!("0 1 {port} {host}"),
            None => "0 0 0 .".into(),
        },
        comment: comment.into(),
    };
    out.push(srv(
        "submissions",
        input.submissions_port,
        "mail clients: sending with implicit TLS (RFC 8314)",
    ));
    out.push(srv(
        "submission",
        input.submission_port,
        "mail clients: sending with STARTTLS (RFC 6186)",
    ));
    out.push(srv(
        "imaps",
        input.imaps_port,
        "mail clients: IMAP with implicit TLS",
    ));
    out.push(srv(
        "imap",
        input.imap_port,
        "mail clients: IMAP with STARTTLS",
    ));
    out.push(srv("pop3", None, "no POP3 service"));
    out.push(srv("pop3s", None, "no POP3 service"));
    out.push(DnsRecord {
        name: format!("autoconfig.{d}"),
        kind: "CNAME",
        value: host.clone(),
        comment: "Thunderbird-style autoconfiguration".into(),
    });
    out.push(DnsRecord {
        name: format!("autodiscover.{d}"),
        kind: "CNAME",
        value: host.clone(),
        comment: "Outlook-style autodiscover".into(),
    });
    out
}

/// A TXT value as zone-file character-strings of at most 255 bytes.
fn quoted_txt(value: &str) -> String {
    let escaped: Vec<String> = value
        .as_bytes()
        .chunks(255)
        .map(|chunk| {
            let s = String::from_utf8_lossy(chunk);
            format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
        })
        .collect();
    if escaped.len() == 1 {
        escaped[0].clone()
    } else {
        format!("( {} )", escaped.join(" "))
    }
}

/// Zone-file text (BIND syntax) with a comment line above each record.
pub fn zone_text(records: &[DnsRecord]) -> String {
    let width = records.iter().map(|r| r.name.len()).max().unwrap_or(0);
    let mut out = String::new();
    for r in records {
        out.push_str(&format!("; {}\n", r.comment));
        let value = if r.kind == "TXT" {
            quoted_txt(&r.value)
        } else {
            r.value.clone()
        };
        out.push_str(&format!(
            "{:<width$} 3600 IN {:<5} {}\n",
            r.name, r.kind, value
        ));
    }
    out
}
