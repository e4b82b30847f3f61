//! The address book's cards: persons, units (their official mailbox) and groups, as vCard 4.0
//! (RFC 6350) or 3.0 (RFC 2426), one card per resource `<id>.vcf`.

use std::collections::HashMap;

use sha2::{Digest, Sha256};
use storage::AddressBook;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Version {
    V4,
    V3,
}

/// One card, in both versions' terms.
#[derive(Debug, Clone)]
pub struct Card {
    /// The resource name without `.vcf` (`p12`, `u3`, `g<hash>`).
    pub id: String,
    pub kind: Kind,
    pub full_name: String,
    /// Family name, given name, middle names (Vietnamese order: family first).
    pub name: (String, String, String),
    pub email: String,
    pub title: String,
    pub org: String,
    pub phone: String,
    pub members: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Individual,
    Org,
    Group,
}

impl Card {
    /// A strong ETag: the hash of the 4.0 rendering (both versions change together).
    pub fn etag(&self) -> String {
        let digest = Sha256::digest(self.render(Version::V4).as_bytes());
        format!("\"{}\"", &hex::encode(digest)[..32])
    }

    pub fn render(&self, version: Version) -> String {
        let mut lines = vec!["BEGIN:VCARD".to_string()];
        lines.push(match version {
            Version::V4 => "VERSION:4.0".into(),
            Version::V3 => "VERSION:3.0".into(),
        });
        lines.push(format!("UID:urn:govmail:{}", self.id));
        lines.push(format!("FN:{}", escape(&self.full_name)));
        let (family, given, middle) = &self.name;
        // RFC 6350 6.2.2 / RFC 2426 3.1.2: family; given; additional; prefixes; suffixes.
        lines.push(format!(
            "N:{};{};{};;",
            escape(family),
            escape(given),
            escape(middle)
        ));
        match (version, self.kind) {
            // RFC 6350 6.1.4.
            (Version::V4, Kind::Individual) => lines.push("KIND:individual".into()),
            (Version::V4, Kind::Org) => lines.push("KIND:org".into()),
            (Version::V4, Kind::Group) => lines.push("KIND:group".into()),
            // vCard 3.0 has no KIND; Apple's extension marks groups.
            (Version::V3, Kind::Group) => lines.push("X-ADDRESSBOOKSERVER-KIND:group".into()),
            (Version::V3, _) => {}
        }
        if !self.email.is_empty() {
            lines.push(match version {
                Version::V4 => format!("EMAIL;TYPE=work:{}", self.email),
                // RFC 2426 3.3.2: TYPE=internet.
                Version::V3 => format!("EMAIL;TYPE=INTERNET,WORK:{}", self.email),
            });
        }
        if !self.title.is_empty() {
            lines.push(format!("TITLE:{}", escape(&self.title)));
        }
        if !self.org.is_empty() {
            lines.push(format!("ORG:{}", escape(&self.org)));
        }
        if !self.phone.is_empty() {
            lines.push(match version {
                Version::V4 => format!("TEL;TYPE=work,voice;VALUE=text:{}", escape(&self.phone)),
                Version::V3 => format!("TEL;TYPE=WORK,VOICE:{}", escape(&self.phone)),
            });
        }
        for member in &self.members {
            lines.push(match version {
                // RFC 6350 6.6.5: MEMBER is a URI.
                Version::V4 => format!("MEMBER:mailto:{member}"),
                Version::V3 => format!("X-ADDRESSBOOKSERVER-MEMBER:mailto:{member}"),
            });
        }
        lines.push("END:VCARD".into());
        let mut out = String::new();
        for line in lines {
            fold(&line, &mut out);
        }
        out
    }
}

/// RFC 6350 3.4: backslash, comma, semicolon and newline are escaped in text values.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            ',' => out.push_str("\\,"),
            ';' => out.push_str("\\;"),
            '\n' => out.push_str("\\n"),
            '\r' => {}
            c => out.push(c),
        }
    }
    out
}

/// RFC 6350 3.2: lines longer than 75 octets are folded (CRLF and a space), never inside a
/// multi-octet UTF-8 character.
pub fn fold(line: &str, out: &mut String) {
    let mut width = 0;
    for c in line.chars() {
        let len = c.len_utf8();
        if width + len > 75 {
            out.push_str("\r\n ");
            width = 1;
        }
        out.push(c);
        width += len;
    }
    out.push_str("\r\n");
}

/// Vietnamese names: family name first, given name last, the rest middle.
fn name_parts(full_name: &str) -> (String, String, String) {
    let words: Vec<&str> = full_name.split_whitespace().collect();
    match words.as_slice() {
        [] => Default::default(),
        [one] => (String::new(), one.to_string(), String::new()),
        [first, middle @ .., last] => (first.to_string(), last.to_string(), middle.join(" ")),
    }
}

/// Every card of the address book, in a stable order.
pub fn cards(book: &AddressBook) -> Vec<Card> {
    let unit_names: HashMap<&str, &str> = book
        .units
        .iter()
        .map(|u| (u.abbrev.as_str(), u.name.as_str()))
        .collect();
    let mut out = Vec::with_capacity(book.persons.len() + book.units.len() + book.groups.len());
    for p in &book.persons {
        out.push(Card {
            id: format!("p{}", p.account_id),
            kind: Kind::Individual,
            full_name: p.full_name.clone(),
            name: name_parts(&p.full_name),
            email: p.address.clone(),
            title: p.position.clone(),
            org: p
                .unit
                .as_deref()
                .and_then(|u| unit_names.get(u))
                .unwrap_or(&"")
                .to_string(),
            phone: p.phone.clone(),
            members: vec![],
        });
    }
    for u in &book.units {
        out.push(Card {
            id: format!("u{}", u.account_id),
            kind: Kind::Org,
            full_name: u.name.clone(),
            name: (u.name.clone(), String::new(), String::new()),
            email: u.address.clone(),
            title: String::new(),
            org: u.name.clone(),
            phone: String::new(),
            members: vec![],
        });
    }
    for g in &book.groups {
        let digest = Sha256::digest(g.address.as_bytes());
        out.push(Card {
            id: format!("g{}", &hex::encode(digest)[..16]),
            kind: Kind::Group,
            full_name: g.name.clone(),
            name: (g.name.clone(), String::new(), String::new()),
            email: g.address.clone(),
            title: String::new(),
            org: String::new(),
            phone: String::new(),
            members: g.members.clone(),
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folding_keeps_utf8_whole_and_lines_at_most_75_octets() {
        let mut out = String::new();
        fold(&format!("FN:{}", "Nguyễn Thị Tuyết ".repeat(10)), &mut out);
        for line in out.split("\r\n").filter(|l| !l.is_empty()) {
            assert!(line.len() <= 75, "{line:?}");
        }
        // RFC 6350 3.2: unfolding (remove CRLF + one space) gives the line back.
        assert_eq!(
            out.replace("\r\n ", ""),
            format!("FN:{}\r\n", "Nguyễn Thị Tuyết ".repeat(10))
        );
    }

    #[test]
    fn escaping_rfc6350_3_4() {
        assert_eq!(escape("a,b;c\\d\ne"), "a\\,b\\;c\\\\d\\ne");
    }
}
