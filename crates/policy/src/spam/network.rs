//! DNSBL and URI-DNSBL: the names to look up (the I/O is the caller's, through the configured
//! resolvers) and how an answer reads. RFC 5782 2.1: an IPv4 address is looked up with its
//! octets reversed under the zone; an A record in 127.0.0.0/8 means listed, 127.255.255.x
//! are the list's error codes (RFC 5782 2.3 lets lists answer refusals that way), not listings.
//! RFC 5782 2.2: IPv6 as 32 reversed nibbles. URI lists take the domain itself (RFC 5782 2.3).

use std::net::{IpAddr, Ipv4Addr};

use super::content::is_ip_literal;
use super::Zone;

/// At most this many link domains are looked up per message.
pub const MAX_URI_LOOKUPS: usize = 10;

/// The query name for an IP in a DNSBL zone.
pub fn dnsbl_name(ip: IpAddr, zone: &str) -> String {
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, c, d] = v4.octets();
            format!("{d}.{c}.{b}.{a}.{zone}")
        }
        IpAddr::V6(v6) => {
            let mut name = String::with_capacity(64 + zone.len());
            for byte in v6.octets().iter().rev() {
                name.push_str(&format!("{:x}.{:x}.", byte & 0xf, byte >> 4));
            }
            name.push_str(zone);
            name
        }
    }
}

/// An answer that means listed (127.0.0.0/8 but not 127.255.255.0/24).
pub fn is_listing(answer: Ipv4Addr) -> bool {
    let [a, b, c, _] = answer.octets();
    a == 127 && !(b == 255 && c == 255)
}

/// The domains of a message's links worth a URI-DNSBL look-up: the registrable part
/// (two labels, three under a second-level suffix like `com.vn`), no IP literals, each once.
pub fn uri_domains(hosts: &[String]) -> Vec<String> {
    let mut domains: Vec<String> = vec![];
    for host in hosts {
        if is_ip_literal(host) || !host.contains('.') {
            continue;
        }
        let domain = registrable(host);
        if !domains.contains(&domain) {
            domains.push(domain);
        }
        if domains.len() == MAX_URI_LOOKUPS {
            break;
        }
    }
    domains
}

/// Second-level suffixes under which a domain has three labels.
const SECOND_LEVEL: &[&str] = &["com", "net", "org", "gov", "edu", "co", "ac", "info", "biz"];

pub fn registrable(host: &str) -> String {
    let labels: Vec<&str> = host.trim_end_matches('.').split('.').collect();
    let n = labels.len();
    let keep = if n >= 3 && labels[n - 1].len() == 2 && SECOND_LEVEL.contains(&labels[n - 2]) {
        3
    } else {
        2
    };
    labels[n.saturating_sub(keep)..].join(".")
}

/// The rule name of a zone's listing.
pub fn rule_name(prefix: &str, zone: &Zone) -> String {
    format!("{prefix}_{}", zone.name.to_ascii_uppercase())
}
