//! Address checks for the envelope: what a recipient address is, before any lookup.
//! Pure functions; the session asks storage whether the domain is ours.

/// Why an envelope address is refused before lookup.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AddressProblem {
    /// Empty, no `@`, empty parts, bad characters.
    Syntax(&'static str),
    /// Routing syntax used for relaying: `%`, `!`, source routes, quoted `@`, IP literals.
    RoutingNotAllowed(&'static str),
}

/// An envelope address split and normalised: local part as given (case kept, RFC 5321 2.4),
/// domain lower-cased without a trailing dot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mailbox {
    pub local: String,
    pub domain: String,
}

impl Mailbox {
    /// `local@domain` with the local part lower-cased: the form our directory stores.
    pub fn key(&self) -> String {
        format!("{}@{}", self.local.to_lowercase(), self.domain)
    }
}

/// Parses a recipient (or sender) address from the envelope.
///
/// Refuses the forms that open relays were abused with: `%`-hack (`a%b@us`), bang paths
/// (`b!a@us`), source routes (`@us:a@b`, RFC 5321 4.1.1.3 says they SHOULD be ignored; we
/// refuse them), quoted local parts (`"a@b"@us`), address literals (`a@[1.2.3.4]`).
pub fn parse_mailbox(address: &str) -> Result<Mailbox, AddressProblem> {
    let address = address.trim();
    if address.is_empty() {
        return Err(AddressProblem::Syntax("empty address"));
    }
    if address.starts_with('@') || address.contains(':') {
        return Err(AddressProblem::RoutingNotAllowed(
            "source routes are not accepted",
        ));
    }
    if address.starts_with('"') || address.contains('"') {
        return Err(AddressProblem::RoutingNotAllowed(
            "quoted local parts are not accepted",
        ));
    }
    let (local, domain) = address
        .rsplit_once('@')
        .ok_or(AddressProblem::Syntax("address needs local@domain"))?;
    if local.is_empty() || domain.is_empty() {
        return Err(AddressProblem::Syntax("address needs local@domain"));
    }
    if local.contains('@') {
        return Err(AddressProblem::RoutingNotAllowed("more than one @"));
    }
    if local.contains('%') {
        return Err(AddressProblem::RoutingNotAllowed(
            "% routing is not accepted",
        ));
    }
    if local.contains('!') {
        return Err(AddressProblem::RoutingNotAllowed(
            "! paths are not accepted",
        ));
    }
    if domain.starts_with('[') {
        return Err(AddressProblem::RoutingNotAllowed(
            "address literals are not accepted",
        ));
    }
    if local.len() > 64 || domain.len() > 255 {
        return Err(AddressProblem::Syntax(
            "address too long (RFC 5321 4.5.3.1)",
        ));
    }
    if local.chars().any(|c| c.is_control() || c.is_whitespace()) {
        return Err(AddressProblem::Syntax("bad character in local part"));
    }
    let domain = domain.trim_end_matches('.').to_lowercase();
    if domain.is_empty()
        || domain.starts_with('.')
        || domain.contains("..")
        || !domain
            .chars()
            .all(|c| c.is_alphanumeric() || c == '-' || c == '.')
    {
        return Err(AddressProblem::Syntax("bad domain"));
    }
    Ok(Mailbox {
        local: local.to_string(),
        domain,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table() {
        let ok: &[(&str, &str)] = &[
            ("nvan.stttt@kontum.gov.vn", "nvan.stttt@kontum.gov.vn"),
            ("NVAN.STTTT@KONTUM.GOV.VN.", "nvan.stttt@kontum.gov.vn"),
            ("người.dùng@kontum.gov.vn", "người.dùng@kontum.gov.vn"),
        ];
        for (input, key) in ok {
            assert_eq!(parse_mailbox(input).unwrap().key(), *key, "{input}");
        }
        let bad = [
            "",
            "noat",
            "@kontum.gov.vn:x@evil.test",
            "x%evil.test@kontum.gov.vn",
            "evil.test!x@kontum.gov.vn",
            "\"x@evil.test\"@kontum.gov.vn",
            "x@[127.0.0.1]",
            "x@@kontum.gov.vn",
            "x@kontum..gov.vn",
            "x y@kontum.gov.vn",
            "x@",
        ];
        for input in bad {
            assert!(parse_mailbox(input).is_err(), "{input} should be refused");
        }
    }
}
