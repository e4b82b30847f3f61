//! The DNS part of `govmail doctor`: each record `govmail dns` asks to publish, looked up
//! through the configured resolvers (`dns.resolvers`) and compared with what it should be.

use std::net::SocketAddr;
use std::time::Duration;

use hickory_resolver::config::{NameServerConfig, ResolverConfig, ResolverOpts};
use hickory_resolver::net::runtime::TokioRuntimeProvider;
use hickory_resolver::proto::rr::{RData, RecordType};
use hickory_resolver::TokioResolver;
use smtp::outbound::records::DnsRecord;

use super::{Check, Status};

/// Resolver over `dns.resolvers` (or resolv.conf), quick to give up: one try, 3 s.
pub(super) fn resolver(resolvers: &[SocketAddr]) -> anyhow::Result<TokioResolver> {
    let mut options = ResolverOpts::default();
    options.timeout = Duration::from_secs(3);
    options.attempts = 1;
    // The records as published, not what a cache remembered.
    options.cache_size = 0;
    let resolver = if resolvers.is_empty() {
        TokioResolver::builder(TokioRuntimeProvider::default())?
            .with_options(options)
            .build()?
    } else {
        let servers = resolvers
            .iter()
            .map(|addr| {
                let mut server = NameServerConfig::udp_and_tcp(addr.ip());
                for connection in &mut server.connections {
                    connection.port = addr.port();
                }
                server
            })
            .collect();
        TokioResolver::builder_with_config(
            ResolverConfig::from_name_servers(servers),
            TokioRuntimeProvider::default(),
        )
        .with_options(options)
        .build()?
    };
    Ok(resolver)
}

/// What a name holds for one type: the values as text, or why there are none.
enum Found {
    Values(Vec<String>),
    Missing,
    Error(String),
}

async fn lookup(resolver: &TokioResolver, name: &str, kind: RecordType) -> Found {
    let answer = tokio::time::timeout(Duration::from_secs(8), resolver.lookup(name, kind)).await;
    let lookup = match answer {
        Err(_) => return Found::Error("the resolver did not answer".into()),
        Ok(Err(e)) if e.is_nx_domain() || e.is_no_records_found() => return Found::Missing,
        Ok(Err(e)) => return Found::Error(e.to_string()),
        Ok(Ok(lookup)) => lookup,
    };
    let values: Vec<String> = lookup
        .answers()
        .iter()
        .filter_map(|r| match &r.data {
            RData::MX(mx) if kind == RecordType::MX => {
                Some(format!("{} {}", mx.preference, mx.exchange.to_ascii()))
            }
            RData::TXT(txt) if kind == RecordType::TXT => Some(
                txt.txt_data
                    .iter()
                    .map(|chunk| String::from_utf8_lossy(chunk).into_owned())
                    .collect::<String>(),
            ),
            RData::SRV(srv) if kind == RecordType::SRV => Some(format!(
                "{} {} {} {}",
                srv.priority,
                srv.weight,
                srv.port,
                srv.target.to_ascii()
            )),
            RData::CNAME(cname) if kind == RecordType::CNAME => Some(cname.0.to_ascii()),
            _ => None,
        })
        .collect();
    if values.is_empty() {
        Found::Missing
    } else {
        Found::Values(values)
    }
}

fn same_name(a: &str, b: &str) -> bool {
    a.trim_end_matches('.')
        .eq_ignore_ascii_case(b.trim_end_matches('.'))
}

/// The `tag=value` of a DKIM/DMARC record (RFC 6376 3.2 tag-list), spaces removed.
fn tag(record: &str, name: &str) -> Option<String> {
    record.split(';').find_map(|part| {
        let (k, v) = part.split_once('=')?;
        (k.trim() == name).then(|| v.chars().filter(|c| !c.is_whitespace()).collect())
    })
}

/// Compares one expected record with what DNS holds.
async fn check_record(resolver: &TokioResolver, expected: &DnsRecord) -> Check {
    let name = &expected.name;
    let what = format!("dns {} {}", expected.kind, name.trim_end_matches('.'));
    let fix = format!(
        "publish: {name} 3600 IN {} {} (govmail dns)",
        expected.kind, expected.value
    );
    let check = |status, detail: String, fix: Option<String>| Check {
        name: what.clone(),
        status,
        detail,
        fix,
    };
    // A DKIM record govmail cannot print (no key configured) is a note, not a lookup.
    if expected.name.starts_with("SELECTOR.") {
        return check(
            Status::Warn,
            "no DKIM key configured: mail leaves unsigned".into(),
            Some(expected.comment.clone()),
        );
    }
    let kind = match expected.kind {
        "MX" => RecordType::MX,
        "TXT" => RecordType::TXT,
        "SRV" => RecordType::SRV,
        "CNAME" => RecordType::CNAME,
        other => return check(Status::Warn, format!("{other}: not checked"), None),
    };
    // MX, SPF, DKIM and DMARC decide whether mail is delivered and trusted; the client
    // discovery records (SRV, CNAME) only help set-up.
    let severity = if matches!(kind, RecordType::MX | RecordType::TXT) {
        Status::Fail
    } else {
        Status::Warn
    };
    let values = match lookup(resolver, name, kind).await {
        Found::Error(e) => return check(Status::Fail, format!("look-up failed: {e}"), None),
        Found::Missing => return check(severity, "not published".into(), Some(fix)),
        Found::Values(values) => values,
    };
    let shown = values.join(" | ");
    match kind {
        RecordType::MX => {
            let host = expected.value.split_whitespace().nth(1).unwrap_or("");
            let ours = values
                .iter()
                .any(|v| same_name(v.split_whitespace().nth(1).unwrap_or(""), host));
            if ours {
                check(Status::Ok, shown, None)
            } else {
                check(
                    Status::Fail,
                    format!("{shown}: mail for the domain does not come here"),
                    Some(fix),
                )
            }
        }
        RecordType::TXT if expected.value.starts_with("v=spf1") => {
            let spf: Vec<&String> = values.iter().filter(|v| v.starts_with("v=spf1")).collect();
            match spf.as_slice() {
                [] => check(Status::Fail, "no SPF record".into(), Some(fix)),
                [one] if one.split_whitespace().eq(expected.value.split_whitespace()) => {
                    check(Status::Ok, one.to_string(), None)
                }
                [one] => check(
                    Status::Warn,
                    format!("{one}: differs from what govmail dns prints"),
                    Some(fix),
                ),
                // RFC 7208 4.5: more than one record is a permerror.
                _ => check(
                    Status::Fail,
                    format!("{shown}: more than one SPF record (RFC 7208 4.5: permerror)"),
                    Some("keep exactly one v=spf1 record".into()),
                ),
            }
        }
        RecordType::TXT if expected.value.starts_with("v=DKIM1") => {
            let want = tag(&expected.value, "p");
            if values.iter().any(|v| tag(v, "p") == want) {
                check(
                    Status::Ok,
                    "the published key is the configured one".into(),
                    None,
                )
            } else {
                check(
                    Status::Fail,
                    "the published key is not the configured key: receivers fail DKIM".into(),
                    Some(fix),
                )
            }
        }
        RecordType::TXT if expected.value.starts_with("v=DMARC1") => {
            let Some(record) = values.iter().find(|v| v.starts_with("v=DMARC1")) else {
                return check(Status::Fail, "no DMARC record".into(), Some(fix));
            };
            if tag(record, "rua") == tag(&expected.value, "rua") {
                check(Status::Ok, record.clone(), None)
            } else {
                check(
                    Status::Warn,
                    format!("{record}: reports do not go to the address govmail dns names"),
                    Some(fix),
                )
            }
        }
        RecordType::SRV => {
            let want: Vec<&str> = expected.value.split_whitespace().collect();
            let matches = values.iter().any(|v| {
                let got: Vec<&str> = v.split_whitespace().collect();
                got.len() == 4 && want.len() == 4 && got[2] == want[2] && same_name(got[3], want[3])
            });
            if matches {
                check(Status::Ok, shown, None)
            } else {
                check(Status::Warn, format!("{shown}: differs"), Some(fix))
            }
        }
        RecordType::CNAME => {
            if values.iter().any(|v| same_name(v, &expected.value)) {
                check(Status::Ok, shown, None)
            } else {
                check(Status::Warn, format!("{shown}: differs"), Some(fix))
            }
        }
        _ => check(Status::Ok, shown, None),
    }
}

/// Every record of `expected`, looked up at the same time (each look-up bounded), so a
/// resolver that does not answer costs seconds, not seconds per record; in their order.
pub(super) async fn check_records(resolver: &TokioResolver, expected: &[DnsRecord]) -> Vec<Check> {
    let tasks: Vec<_> = expected
        .iter()
        .cloned()
        .map(|record| {
            let resolver = resolver.clone();
            tokio::spawn(async move { check_record(&resolver, &record).await })
        })
        .collect();
    let mut checks = vec![];
    for (task, record) in tasks.into_iter().zip(expected) {
        checks.push(task.await.unwrap_or_else(|e| Check {
            name: format!("dns {} {}", record.kind, record.name.trim_end_matches('.')),
            status: Status::Fail,
            detail: format!("look-up failed: {e}"),
            fix: None,
        }));
    }
    checks
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags() {
        let dkim = "v=DKIM1; k=rsa; p=MIIB IjAN";
        assert_eq!(tag(dkim, "p").as_deref(), Some("MIIBIjAN"));
        assert_eq!(tag(dkim, "x"), None);
        assert_eq!(
            tag("v=DMARC1; p=quarantine; rua=mailto:dmarc@x.vn", "rua").as_deref(),
            Some("mailto:dmarc@x.vn")
        );
        assert!(same_name("Mail.Kontum.gov.vn.", "mail.kontum.gov.vn"));
    }
}
