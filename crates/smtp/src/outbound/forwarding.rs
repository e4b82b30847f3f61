//! Automatic forwarding policy (BD-11, KT-9): work mail stays on the province system.
//!
//! Forwarding or redirecting a person's or unit's mail automatically to an address outside
//! the hosted domains is off unless `forwarding.enabled`; even then only to domains on
//! `forwarding.allowed_domains`; and never to a public webmail provider
//! (`forwarding.public_webmail_domains`), whatever the allow-list says. Forwarding inside
//! the hosted domains is always allowed. Pure decisions, no I/O: whoever creates or runs a
//! forward rule asks [`check_forward`].

/// Public webmail providers that can never be forwarding targets (configurable).
pub const DEFAULT_PUBLIC_WEBMAIL_DOMAINS: &[&str] = &[
    "gmail.com",
    "googlemail.com",
    "yahoo.com",
    "yahoo.com.vn",
    "ymail.com",
    "rocketmail.com",
    "hotmail.com",
    "hotmail.com.vn",
    "outlook.com",
    "outlook.com.vn",
    "live.com",
    "msn.com",
    "icloud.com",
    "me.com",
    "mac.com",
    "aol.com",
    "gmx.com",
    "gmx.net",
    "mail.com",
    "zoho.com",
    "yandex.com",
    "yandex.ru",
    "mail.ru",
    "proton.me",
    "protonmail.com",
    "tutanota.com",
    "qq.com",
    "163.com",
    "126.com",
];

/// The policy as configured.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ForwardingPolicy {
    /// Automatic forwarding outside the hosted domains at all (default off).
    pub enabled: bool,
    /// Destination domains allowed when enabled (a domain also covers its subdomains).
    pub allowed_domains: Vec<String>,
    /// Never allowed (a domain also covers its subdomains).
    pub public_webmail_domains: Vec<String>,
}

impl Default for ForwardingPolicy {
    fn default() -> Self {
        ForwardingPolicy {
            enabled: false,
            allowed_domains: vec![],
            public_webmail_domains: DEFAULT_PUBLIC_WEBMAIL_DOMAINS
                .iter()
                .map(|d| d.to_string())
                .collect(),
        }
    }
}

/// Why a forward is refused (the text is shown to the user/admin).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ForwardRefusal {
    #[error("{0:?} is not a valid mail address")]
    BadAddress(String),
    #[error(
        "automatic forwarding outside the province mail system is turned off (forwarding.enabled = false)"
    )]
    Disabled,
    #[error("{0} is a public webmail provider: work mail may never be forwarded there")]
    PublicWebmail(String),
    #[error(
        "{0} is not on the list of allowed forwarding destinations (forwarding.allowed_domains)"
    )]
    NotAllowed(String),
}

fn normalize(domain: &str) -> String {
    domain
        .trim()
        .trim_start_matches('@')
        .trim_start_matches('.')
        .trim_end_matches('.')
        .to_ascii_lowercase()
}

/// `domain` is `listed` or a subdomain of it.
fn covered(domain: &str, listed: &str) -> bool {
    let listed = normalize(listed);
    !listed.is_empty()
        && (domain == listed
            || domain
                .strip_suffix(listed.as_str())
                .is_some_and(|rest| rest.ends_with('.')))
}

/// Decides whether mail may be forwarded automatically to `target`. `is_local` tells whether
/// the target's domain is hosted here (the caller knows the directory).
pub fn check_forward(
    policy: &ForwardingPolicy,
    target: &str,
    is_local: bool,
) -> Result<(), ForwardRefusal> {
    let address = target.trim().trim_start_matches('<').trim_end_matches('>');
    let domain = match address.rsplit_once('@') {
        Some((local, domain))
            if !local.is_empty()
                && !domain.is_empty()
                && !domain.contains(['@', ' ', '[', ']']) =>
        {
            normalize(domain)
        }
        _ => return Err(ForwardRefusal::BadAddress(target.to_string())),
    };
    if is_local {
        return Ok(());
    }
    // Checked first: public webmail is refused even if someone put it on the allow-list.
    if policy
        .public_webmail_domains
        .iter()
        .any(|listed| covered(&domain, listed))
    {
        return Err(ForwardRefusal::PublicWebmail(domain));
    }
    if !policy.enabled {
        return Err(ForwardRefusal::Disabled);
    }
    if policy
        .allowed_domains
        .iter()
        .any(|listed| covered(&domain, listed))
    {
        return Ok(());
    }
    Err(ForwardRefusal::NotAllowed(domain))
}

/// Configuration check: an allowed domain that is also public webmail is a mistake.
pub fn validate(policy: &ForwardingPolicy) -> Result<(), String> {
    for (i, allowed) in policy.allowed_domains.iter().enumerate() {
        let domain = normalize(allowed);
        if domain.is_empty() || !domain.contains('.') {
            return Err(format!(
                "forwarding.allowed_domains[{i}]: {allowed:?} is not a domain"
            ));
        }
        if policy
            .public_webmail_domains
            .iter()
            .any(|listed| covered(&domain, listed))
        {
            return Err(format!(
                "forwarding.allowed_domains[{i}]: {allowed} is a public webmail domain and can never be allowed"
            ));
        }
    }
    Ok(())
}
