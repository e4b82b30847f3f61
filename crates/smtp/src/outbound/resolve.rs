//! Where mail for a domain goes: MX hosts in preference order (RFC 5321 5.1), the domain's
//! own A/AAAA when it has no MX, nowhere when it publishes a null MX (RFC 7505).
//!
//! DNS goes through the configured resolvers only (`dns.resolvers`), like [`crate::authres`].

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use hickory_resolver::config::{NameServerConfig, ResolverConfig, ResolverOpts};
use hickory_resolver::net::runtime::TokioRuntimeProvider;
use hickory_resolver::net::NetError;
use hickory_resolver::proto::rr::RData;
use hickory_resolver::TokioResolver;

/// Most MX hosts tried per attempt, and most addresses per host.
const MAX_HOSTS: usize = 5;
const MAX_ADDRESSES_PER_HOST: usize = 4;

/// One host to try, with its addresses (IPv4 first).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MxHost {
    /// Host name without the trailing dot (TLS server name, Remote-MTA).
    pub name: String,
    pub preference: u16,
    pub addresses: Vec<IpAddr>,
}

/// Why there is no route now.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RouteError {
    /// RFC 7505: the domain accepts no mail.
    #[error("556 5.1.10 {0} does not accept mail (null MX)")]
    NullMx(String),
    #[error("550 5.1.2 domain {0} does not exist")]
    NoSuchDomain(String),
    #[error("550 5.4.4 no mail server address found for {0}")]
    NoAddress(String),
    #[error("451 4.4.3 DNS lookup for {0} failed: {1}")]
    Temporary(String, String),
}

impl RouteError {
    pub fn is_permanent(&self) -> bool {
        !matches!(self, RouteError::Temporary(..))
    }

    /// RFC 3463 status for notices.
    pub fn status(&self) -> &'static str {
        match self {
            RouteError::NullMx(_) => "5.1.10",
            RouteError::NoSuchDomain(_) => "5.1.2",
            RouteError::NoAddress(_) => "5.4.4",
            RouteError::Temporary(..) => "4.4.3",
        }
    }
}

/// An MX resolver over the configured name servers.
#[derive(Clone)]
pub struct MxResolver {
    resolver: TokioResolver,
}

impl MxResolver {
    /// Uses `resolvers` (IP:port), or the system's resolv.conf when the list is empty.
    pub fn new(resolvers: &[SocketAddr]) -> Result<MxResolver, NetError> {
        let resolver = if resolvers.is_empty() {
            TokioResolver::builder(TokioRuntimeProvider::default())?.build()?
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
            let mut options = ResolverOpts::default();
            options.timeout = Duration::from_secs(5);
            options.attempts = 2;
            TokioResolver::builder_with_config(
                ResolverConfig::from_name_servers(servers),
                TokioRuntimeProvider::default(),
            )
            .with_options(options)
            .build()?
        };
        Ok(MxResolver { resolver })
    }

    /// The hosts to try for `domain`, best first.
    pub async fn route(&self, domain: &str) -> Result<Vec<MxHost>, RouteError> {
        let domain = domain.trim_end_matches('.').to_ascii_lowercase();
        if domain.is_empty() {
            return Err(RouteError::NoSuchDomain(domain));
        }
        let fqdn = format!("{domain}.");
        let mut exchanges: Vec<(u16, String)> = match self.resolver.mx_lookup(fqdn.as_str()).await {
            Ok(lookup) => lookup
                .answers()
                .iter()
                .filter_map(|r| match &r.data {
                    RData::MX(mx) => Some((mx.preference, mx.exchange.to_ascii())),
                    _ => None,
                })
                .collect(),
            Err(e) if e.is_nx_domain() => return Err(RouteError::NoSuchDomain(domain)),
            Err(e) if e.is_no_records_found() => vec![],
            Err(e) => return Err(RouteError::Temporary(domain, e.to_string())),
        };
        let is_null = |name: &str| name == "." || name.is_empty();
        if !exchanges.is_empty() && exchanges.iter().all(|(_, name)| is_null(name)) {
            return Err(RouteError::NullMx(domain));
        }
        // RFC 7505 3: a null MX mixed with real ones is ignored.
        exchanges.retain(|(_, name)| !is_null(name));
        if exchanges.is_empty() {
            // RFC 5321 5.1: no MX, the domain itself is the implicit MX.
            exchanges.push((0, fqdn.clone()));
        }
        // Stable sort: equal preferences keep the server's order.
        exchanges.sort_by_key(|(preference, _)| *preference);
        exchanges.dedup_by(|a, b| a.1.eq_ignore_ascii_case(&b.1));
        let mut hosts = vec![];
        let mut temporary = None;
        for (preference, exchange) in exchanges.into_iter().take(MAX_HOSTS) {
            let name = exchange.trim_end_matches('.').to_ascii_lowercase();
            let fq = format!("{name}.");
            let mut addresses = vec![];
            match self.resolver.ipv4_lookup(fq.as_str()).await {
                Ok(lookup) => {
                    addresses.extend(lookup.answers().iter().filter_map(|r| match &r.data {
                        RData::A(a) => Some(IpAddr::V4(a.0)),
                        _ => None,
                    }))
                }
                Err(e) if e.is_no_records_found() => {}
                Err(e) => temporary = Some(e.to_string()),
            }
            match self.resolver.ipv6_lookup(fq.as_str()).await {
                Ok(lookup) => {
                    addresses.extend(lookup.answers().iter().filter_map(|r| match &r.data {
                        RData::AAAA(a) => Some(IpAddr::V6(a.0)),
                        _ => None,
                    }))
                }
                Err(e) if e.is_no_records_found() => {}
                Err(e) => temporary = Some(e.to_string()),
            }
            addresses.retain(|ip| !ip.is_unspecified() && !ip.is_multicast());
            addresses.dedup();
            addresses.truncate(MAX_ADDRESSES_PER_HOST);
            if !addresses.is_empty() {
                hosts.push(MxHost {
                    name,
                    preference,
                    addresses,
                });
            }
        }
        if hosts.is_empty() {
            return Err(match temporary {
                Some(text) => RouteError::Temporary(domain, text),
                None => RouteError::NoAddress(domain),
            });
        }
        Ok(hosts)
    }
}
