//! Addresses in header fields (RFC 5322 3.4) as the `address` test sees them, and address
//! parts (RFC 5228 2.7.4).

/// Which part of an address a test compares (RFC 5228 2.7.4).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AddressPart {
    All,
    LocalPart,
    Domain,
}

/// The addr-specs of an address list: `a@b`, `Name <a@b>`, `"Quoted, Name" <a@b>`, groups
/// (`team: a@b, c@d;`), comments in parentheses. Display names are dropped; an entry with
/// no `@` is kept as it is (a local part only).
pub fn parse_list(value: &str) -> Vec<String> {
    let mut out = vec![];
    let mut current = String::new();
    let mut angle: Option<String> = None;
    let mut in_angle = false;
    let mut quoted = false;
    let mut comment = 0usize;
    let mut chars = value.chars();
    let finish = |current: &mut String, angle: &mut Option<String>, out: &mut Vec<String>| {
        let chosen = match angle.take() {
            Some(inner) => inner,
            None => current.trim().to_string(),
        };
        let chosen = chosen.trim().to_string();
        // A source route (`<@a,@b:x@y>`) leaves only the final address.
        let chosen = match chosen.rsplit_once(':') {
            Some((route, rest)) if route.starts_with('@') => rest.to_string(),
            _ => chosen,
        };
        if !chosen.is_empty() {
            out.push(chosen);
        }
        current.clear();
    };
    while let Some(c) = chars.next() {
        if comment > 0 {
            match c {
                '(' => comment += 1,
                ')' => comment -= 1,
                '\\' => {
                    chars.next();
                }
                _ => {}
            }
            continue;
        }
        if quoted {
            match c {
                '"' => quoted = false,
                '\\' => {
                    if let Some(next) = chars.next() {
                        if in_angle {
                            angle.get_or_insert_with(String::new).push(next);
                        } else {
                            current.push(next);
                        }
                    }
                }
                other => {
                    if in_angle {
                        angle.get_or_insert_with(String::new).push(other);
                    } else {
                        current.push(other);
                    }
                }
            }
            continue;
        }
        match c {
            '"' => quoted = true,
            '(' => comment = 1,
            '<' => {
                in_angle = true;
                angle = Some(String::new());
            }
            '>' => in_angle = false,
            // A group's name ends at ':'; its members follow.
            ':' if !in_angle => current.clear(),
            ',' | ';' if !in_angle => finish(&mut current, &mut angle, &mut out),
            other => {
                if in_angle {
                    angle.get_or_insert_with(String::new).push(other);
                } else {
                    current.push(other);
                }
            }
        }
    }
    finish(&mut current, &mut angle, &mut out);
    // A display name without an address (`Name` with no `@` and no `<>`) is still a
    // mailbox's text; the tests keep only entries that look like addresses or local parts.
    out.retain(|a| !a.contains(char::is_whitespace));
    out
}

/// The part of `address` a test compares (RFC 5228 2.7.4). The domain of an address
/// without `@` is none.
pub fn part(address: &str, part: AddressPart) -> Option<String> {
    match part {
        AddressPart::All => Some(address.to_string()),
        AddressPart::LocalPart => Some(
            address
                .rsplit_once('@')
                .map_or(address, |(local, _)| local)
                .to_string(),
        ),
        AddressPart::Domain => address.rsplit_once('@').map(|(_, d)| d.to_string()),
    }
}
