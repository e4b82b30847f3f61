//! The body: GTUBE, HTML without a text alternative, links whose text names another host than
//! their target, URL shorteners and IP literals, and the admin's own rules. Also the small
//! HTML reader the classifier and these rules share (links, text, entities).

use std::net::IpAddr;

use super::{Hits, Parsed, RuleTarget};

/// SpamAssassin's Generic Test for Unsolicited Bulk Email.
pub const GTUBE: &[u8] = b"XJS*C4JDBQADN1.NSBN3*2IDNEN*GTUBE-STANDARD-ANTI-UBE-TEST-EMAIL*C.34X";

/// Well-known URL shorteners (hosts, lower case).
pub const SHORTENERS: &[&str] = &[
    "bit.ly",
    "bitly.com",
    "tinyurl.com",
    "goo.gl",
    "t.co",
    "ow.ly",
    "is.gd",
    "buff.ly",
    "rebrand.ly",
    "cutt.ly",
    "shorturl.at",
    "tiny.cc",
    "rb.gy",
    "s.id",
    "t.ly",
    "v.gd",
    "lnkd.in",
    "shorte.st",
    "adf.ly",
    "bl.ink",
    "qrco.de",
];

pub(super) fn has_gtube(raw: &[u8]) -> bool {
    memchr::memmem::find(raw, GTUBE).is_some()
}

pub(super) fn gtube(message: &Parsed) -> bool {
    message.gtube
}

pub(super) fn check(message: &Parsed, hits: &mut Hits) {
    if message.has_html && !message.has_plain {
        hits.fire("HTML_ONLY");
    }
    if message.links.iter().any(link_mismatch) {
        hits.fire("HTML_LINK_MISMATCH");
    }
    if message
        .url_hosts
        .iter()
        .any(|h| SHORTENERS.contains(&h.as_str()))
    {
        hits.fire("URL_SHORTENER");
    }
    if message.url_hosts.iter().any(|h| is_ip_literal(h)) {
        hits.fire("URL_IP_LITERAL");
    }
    if message
        .url_hosts
        .iter()
        .any(|h| super::headers::suspicious_tld(h))
    {
        hits.fire("URL_SUSPICIOUS_TLD");
    }
    let body_lower = &message.text_lower;
    for rule in &hits.config().rules.clone() {
        let hit = match &rule.target {
            RuleTarget::Body => body_lower.contains(&rule.contains),
            RuleTarget::Header(name) if name.eq_ignore_ascii_case("subject") => message
                .subject
                .as_deref()
                .is_some_and(|s| s.to_lowercase().contains(&rule.contains)),
            RuleTarget::Header(name) => message
                .headers
                .iter()
                .filter(|(n, _)| n.eq_ignore_ascii_case(name))
                .any(|(_, v)| v.to_lowercase().contains(&rule.contains)),
        };
        if hit {
            hits.fire_with(&rule.name, rule.score);
        }
    }
}

/// A host written as an IP address (`1.2.3.4`, `[::1]`, or a bare number such as
/// `3232235777`).
pub fn is_ip_literal(host: &str) -> bool {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host.parse::<IpAddr>().is_ok()
        || (!host.is_empty() && host.len() <= 10 && host.chars().all(|c| c.is_ascii_digit()))
}

/// The link text names a host (`www.bank.vn`, `https://bank.vn/login`) that is not the
/// target's host nor a parent or child of it.
fn link_mismatch(link: &Link) -> bool {
    let Some(target) = url_hosts(&link.href).into_iter().next() else {
        return false;
    };
    let text = link.text.trim().to_lowercase();
    let shown = if text.starts_with("http://") || text.starts_with("https://") {
        url_hosts(&text).into_iter().next()
    } else if text.starts_with("www.") && !text.contains(char::is_whitespace) {
        Some(text.split(['/', '?', '#']).next().unwrap_or("").to_string())
    } else {
        None
    };
    let Some(shown) = shown else {
        return false;
    };
    let bare = |h: &str| h.trim_start_matches("www.").to_string();
    let (shown, target) = (bare(&shown), bare(&target));
    shown != target
        && !shown.ends_with(&format!(".{target}"))
        && !target.ends_with(&format!(".{shown}"))
}

use super::parse::Link;

/// The hosts (lower case, no port, no user info) of the http(s) URLs in a text.
pub fn url_hosts(text: &str) -> Vec<String> {
    let mut hosts = vec![];
    let lower = text.to_ascii_lowercase();
    let mut rest = lower.as_str();
    while let Some(at) = rest.find("http") {
        rest = &rest[at + 4..];
        let after = rest
            .strip_prefix("s://")
            .or_else(|| rest.strip_prefix("://"));
        let Some(after) = after else {
            continue;
        };
        let authority: &str = after
            .split(|c: char| {
                c == '/' || c == '?' || c == '#' || c.is_whitespace() || "\"'<>)".contains(c)
            })
            .next()
            .unwrap_or("");
        let host_port = authority.rsplit('@').next().unwrap_or("");
        let host = if host_port.starts_with('[') {
            host_port.split(']').next().map(|h| format!("{h}]"))
        } else {
            host_port.split(':').next().map(str::to_string)
        };
        if let Some(host) = host.filter(|h| !h.is_empty() && h.len() <= 253) {
            hosts.push(host.trim_end_matches('.').to_string());
        }
        if hosts.len() >= 1000 {
            break;
        }
    }
    hosts
}

/// The `<a href>` links of an HTML text, at most 1,000.
pub fn links(html: &str) -> Vec<Link> {
    let mut links = vec![];
    let lower = html.to_ascii_lowercase();
    let mut from = 0;
    while let Some(at) = lower[from..].find("<a") {
        let start = from + at;
        from = start + 2;
        if !lower[from..].starts_with(|c: char| c.is_whitespace()) {
            continue;
        }
        let Some(tag_end) = lower[from..].find('>').map(|e| from + e) else {
            break;
        };
        let tag = &html[from..tag_end];
        let Some(href) = attribute(tag, "href") else {
            continue;
        };
        let close = lower[tag_end..]
            .find("</a")
            .map_or(lower.len(), |e| tag_end + e);
        let text = html_to_text(&html[tag_end + 1..close]);
        links.push(Link {
            href: decode_entities(&href),
            text,
        });
        from = close;
        if links.len() >= 1000 {
            break;
        }
    }
    links
}

fn attribute(tag: &str, name: &str) -> Option<String> {
    let lower = tag.to_ascii_lowercase();
    let mut from = 0;
    while let Some(at) = lower[from..].find(name) {
        let start = from + at;
        from = start + name.len();
        let before_ok = start == 0 || lower[..start].ends_with(|c: char| c.is_whitespace());
        let rest = lower[from..].trim_start();
        if !before_ok || !rest.starts_with('=') {
            continue;
        }
        let offset = tag.len() - rest.len() + 1;
        let value = tag[offset..].trim_start();
        return Some(match value.chars().next() {
            Some(q @ ('"' | '\'')) => value[1..].split(q).next().unwrap_or("").to_string(),
            _ => value
                .split(|c: char| c.is_whitespace() || c == '>')
                .next()
                .unwrap_or("")
                .to_string(),
        });
    }
    None
}

/// Elements that start a new line when rendered.
const BLOCK_TAGS: &[&str] = &[
    "br",
    "p",
    "div",
    "tr",
    "li",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "table",
    "ul",
    "ol",
    "blockquote",
    "hr",
    "pre",
    "title",
    "section",
    "article",
    "header",
    "footer",
    "dd",
    "dt",
    "dl",
    "form",
    "center",
    "address",
    "nav",
    "aside",
    "main",
    "figure",
    "body",
    "html",
    "head",
];

/// Elements that separate the words around them without a new line.
const SEPARATING_TAGS: &[&str] = &[
    "td", "th", "img", "input", "option", "select", "textarea", "button", "label", "iframe",
    "object", "embed", "video", "audio", "svg", "meta", "link",
];

/// Text of HTML as a browser shows it: tags dropped (block tags become line breaks, cells and
/// images spaces, inline tags nothing), `<script>`/`<style>` content dropped, entities decoded.
pub fn html_to_text(html: &str) -> String {
    let mut out = String::with_capacity(html.len() / 2);
    let lower = html.to_ascii_lowercase();
    let mut i = 0;
    while i < html.len() {
        let rest = &html[i..];
        if rest.starts_with('<') {
            let lower_rest = &lower[i..];
            let skip_to = |closing: &str| lower_rest.find(closing).map(|e| e + closing.len());
            let end = if lower_rest.starts_with("<script") {
                skip_to("</script>")
            } else if lower_rest.starts_with("<style") {
                skip_to("</style>")
            } else if lower_rest.starts_with("<!--") {
                skip_to("-->")
            } else {
                lower_rest.find('>').map(|e| e + 1)
            };
            let end = end.unwrap_or(rest.len());
            let tag = &lower_rest[..end];
            // As a browser renders it: a block element breaks the line, a cell or an image
            // separates words, an inline element (b, i, span, font, a, an unknown tag) joins
            // what is around it — "10<b></b>0% GU<i></i>ARANTEED" reads "100% GUARANTEED".
            let name: String = tag
                .trim_start_matches(['<', '/'])
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric())
                .collect();
            if BLOCK_TAGS.contains(&name.as_str()) {
                out.push('\n');
            } else if SEPARATING_TAGS.contains(&name.as_str()) || tag.starts_with("<!--") {
                out.push(' ');
            }
            i += end;
        } else {
            let next = rest.find('<').unwrap_or(rest.len());
            out.push_str(&decode_entities(&rest[..next]));
            i += next;
        }
    }
    out
}

/// Named entities met in mail, and numeric ones.
pub fn decode_entities(text: &str) -> String {
    if !text.contains('&') {
        return text.to_string();
    }
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find('&') {
        out.push_str(&rest[..at]);
        rest = &rest[at..];
        let end = rest[1..].find(';').filter(|e| *e <= 10).map(|e| e + 1);
        let decoded = end.and_then(|end| {
            let name = &rest[1..end];
            let c = match name {
                "amp" => Some('&'),
                "lt" => Some('<'),
                "gt" => Some('>'),
                "quot" => Some('"'),
                "apos" => Some('\''),
                "nbsp" => Some(' '),
                _ if name.starts_with("#x") || name.starts_with("#X") => {
                    u32::from_str_radix(&name[2..], 16)
                        .ok()
                        .and_then(char::from_u32)
                }
                _ if name.starts_with('#') => name[1..].parse().ok().and_then(char::from_u32),
                _ => None,
            };
            c.map(|c| (c, end + 1))
        });
        match decoded {
            Some((c, len)) => {
                out.push(c);
                rest = &rest[len..];
            }
            None => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    out
}
