//! The WebDAV side of CardDAV: resources, PROPFIND, REPORT and sync tokens.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Mutex;

use axum::http::{Method, StatusCode};

use crate::vcard::{Card, Version};

pub const ROOT: &str = "/carddav/";
pub const PRINCIPAL: &str = "/carddav/principal/";
pub const BOOK: &str = "/carddav/book/";
const BOOK_NAME: &str = "Danh bạ tỉnh";
const XML: &str = "application/xml; charset=utf-8";

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Resource {
    Root,
    Principal,
    Book,
    Card(String),
    Unknown,
}

impl Resource {
    pub fn of(path: &str) -> Resource {
        let path = path.trim_end_matches('/');
        match path {
            "/carddav" => Resource::Root,
            "/carddav/principal" => Resource::Principal,
            "/carddav/book" => Resource::Book,
            _ => match path
                .strip_prefix("/carddav/book/")
                .and_then(|n| n.strip_suffix(".vcf"))
            {
                Some(id) if !id.is_empty() && id.chars().all(|c| c.is_ascii_alphanumeric()) => {
                    Resource::Card(id.to_string())
                }
                _ => Resource::Unknown,
            },
        }
    }
}

pub struct DavRequest<'a> {
    pub method: &'a Method,
    pub resource: &'a Resource,
    pub depth: &'a str,
    pub body: &'a str,
    pub user: &'a str,
    pub accept_v3: bool,
}

/// A remembered state: its number and each card's ETag.
type Snapshot = (u64, BTreeMap<String, String>);

/// Sync tokens (RFC 6578 3.2) for the process's life: each distinct state of the book gets
/// the next number; the last `keep` states are remembered so a client's token can be diffed.
pub struct SyncHistory {
    boot: String,
    keep: usize,
    states: Mutex<(u64, VecDeque<Snapshot>)>,
}

impl SyncHistory {
    pub fn new(keep: usize) -> SyncHistory {
        let boot = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        SyncHistory {
            boot: format!("{boot:x}"),
            keep: keep.max(1),
            states: Mutex::new((0, VecDeque::new())),
        }
    }

    fn token(&self, n: u64) -> String {
        format!("urn:govmail:sync:{}:{n}", self.boot)
    }

    /// The token of the book as `cards` show it now (a new one if it changed).
    pub fn current(&self, cards: &[Card]) -> String {
        let state: BTreeMap<String, String> =
            cards.iter().map(|c| (c.id.clone(), c.etag())).collect();
        let mut guard = self.states.lock().unwrap_or_else(|p| p.into_inner());
        let (next, states) = &mut *guard;
        if let Some((n, last)) = states.back() {
            if *last == state {
                return self.token(*n);
            }
        }
        *next += 1;
        let n = *next;
        states.push_back((n, state));
        while states.len() > self.keep {
            states.pop_front();
        }
        self.token(n)
    }

    /// The state a token names, if still remembered.
    fn state(&self, token: &str) -> Option<BTreeMap<String, String>> {
        let n: u64 = token
            .strip_prefix(&format!("urn:govmail:sync:{}:", self.boot))?
            .parse()
            .ok()?;
        let guard = self.states.lock().unwrap_or_else(|p| p.into_inner());
        guard
            .1
            .iter()
            .find(|(m, _)| *m == n)
            .map(|(_, s)| s.clone())
    }
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// The local names of the elements inside the first `<...prop>` element of a request.
fn requested_props(body: &str) -> Option<Vec<String>> {
    let start = find_tag(body, "prop")?;
    let inner = &body[start..];
    let end = inner.find("prop>").map_or(inner.len(), |i| i);
    let names = inner[..end]
        .split('<')
        .skip(1)
        .filter(|t| !t.starts_with('/') && !t.starts_with('!') && !t.starts_with('?'))
        .filter_map(|t| {
            let name = t
                .split(|c: char| c.is_whitespace() || c == '/' || c == '>')
                .next()?;
            Some(name.rsplit(':').next().unwrap_or(name).to_string())
        })
        .collect();
    Some(names)
}

/// Where the content of the first element with local name `name` starts.
fn find_tag(body: &str, name: &str) -> Option<usize> {
    let mut from = 0;
    while let Some(i) = body[from..].find('<') {
        let at = from + i + 1;
        let rest = &body[at..];
        let tag = rest
            .split(|c: char| c.is_whitespace() || c == '>' || c == '/')
            .next()
            .unwrap_or("");
        if tag.rsplit(':').next() == Some(name) {
            let close = rest.find('>')?;
            return Some(at + close + 1);
        }
        from = at;
    }
    None
}

/// The text content of every element with local name `name`.
fn texts(body: &str, name: &str) -> Vec<String> {
    let mut out = vec![];
    let mut from = 0;
    while let Some(start) = find_tag(&body[from..], name).map(|s| s + from) {
        // A self-closing element has no content.
        if body[..start].ends_with("/>") {
            from = start;
            continue;
        }
        let end = body[start..].find("</").map_or(body.len(), |e| start + e);
        out.push(unescape(body[start..end].trim()));
        from = end;
    }
    out
}

fn unescape(text: &str) -> String {
    text.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&apos;", "'")
        .replace("&amp;", "&")
}

fn multistatus(responses: &[String], token: Option<&str>) -> String {
    let mut out = String::from(
        "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<D:multistatus xmlns:D=\"DAV:\" xmlns:C=\"urn:ietf:params:xml:ns:carddav\" xmlns:CS=\"http://calendarserver.org/ns/\">\n",
    );
    for r in responses {
        out.push_str(r);
    }
    if let Some(token) = token {
        out.push_str(&format!("<D:sync-token>{}</D:sync-token>\n", escape(token)));
    }
    out.push_str("</D:multistatus>\n");
    out
}

fn response(href: &str, props: &[String]) -> String {
    format!(
        "<D:response><D:href>{}</D:href><D:propstat><D:prop>{}</D:prop><D:status>HTTP/1.1 200 OK</D:status></D:propstat></D:response>\n",
        escape(href),
        props.concat()
    )
}

fn not_found(href: &str) -> String {
    format!(
        "<D:response><D:href>{}</D:href><D:status>HTTP/1.1 404 Not Found</D:status></D:response>\n",
        escape(href)
    )
}

fn card_href(id: &str) -> String {
    format!("{BOOK}{id}.vcf")
}

/// The answer: (status, content type, body); None for methods this resource does not have.
pub fn respond(
    request: &DavRequest<'_>,
    cards: &[Card],
    token: &str,
    sync: &SyncHistory,
) -> Option<(StatusCode, &'static str, String)> {
    let find = |id: &str| cards.iter().find(|c| c.id == id);
    match (request.method.as_str(), request.resource) {
        ("GET" | "HEAD", Resource::Card(id)) => Some(match find(id) {
            Some(card) => {
                let version = if request.accept_v3 {
                    Version::V3
                } else {
                    Version::V4
                };
                (
                    StatusCode::OK,
                    "text/vcard; charset=utf-8",
                    card.render(version),
                )
            }
            None => (StatusCode::NOT_FOUND, "text/plain", "No such card".into()),
        }),
        ("PROPFIND", resource) => Some(propfind(request, resource, cards, token)),
        ("REPORT", Resource::Book) => Some(report(request, cards, token, sync)),
        ("REPORT", _) => Some((
            StatusCode::FORBIDDEN,
            "text/plain",
            "REPORT applies to the address book".into(),
        )),
        (_, Resource::Unknown) => Some((StatusCode::NOT_FOUND, "text/plain", "Not found".into())),
        _ => None,
    }
}

fn propfind(
    request: &DavRequest<'_>,
    resource: &Resource,
    cards: &[Card],
    token: &str,
) -> (StatusCode, &'static str, String) {
    let wanted = requested_props(request.body);
    let wants = |name: &str| wanted.as_ref().is_none_or(|w| w.iter().any(|n| n == name));
    let user_props = |resourcetype: &str, display: &str| {
        let mut p = vec![];
        if wants("resourcetype") {
            p.push(format!("<D:resourcetype>{resourcetype}</D:resourcetype>"));
        }
        if wants("displayname") {
            p.push(format!(
                "<D:displayname>{}</D:displayname>",
                escape(display)
            ));
        }
        // RFC 5397 3.
        if wants("current-user-principal") {
            p.push(format!(
                "<D:current-user-principal><D:href>{PRINCIPAL}</D:href></D:current-user-principal>"
            ));
        }
        if wants("principal-URL") {
            p.push(format!(
                "<D:principal-URL><D:href>{PRINCIPAL}</D:href></D:principal-URL>"
            ));
        }
        // RFC 6352 7.1.1.
        if wants("addressbook-home-set") {
            p.push(format!(
                "<C:addressbook-home-set><D:href>{ROOT}</D:href></C:addressbook-home-set>"
            ));
        }
        p
    };
    let book_props = || {
        let mut p = vec![];
        if wants("resourcetype") {
            p.push("<D:resourcetype><D:collection/><C:addressbook/></D:resourcetype>".to_string());
        }
        if wants("displayname") {
            p.push(format!("<D:displayname>{BOOK_NAME}</D:displayname>"));
        }
        if wants("getctag") {
            p.push(format!("<CS:getctag>{}</CS:getctag>", escape(token)));
        }
        // RFC 6578 4.
        if wants("sync-token") {
            p.push(format!("<D:sync-token>{}</D:sync-token>", escape(token)));
        }
        if wants("supported-report-set") {
            p.push("<D:supported-report-set><D:supported-report><D:report><C:addressbook-multiget/></D:report></D:supported-report><D:supported-report><D:report><C:addressbook-query/></D:report></D:supported-report><D:supported-report><D:report><D:sync-collection/></D:report></D:supported-report></D:supported-report-set>".to_string());
        }
        // RFC 3744 5.4: read only.
        if wants("current-user-privilege-set") {
            p.push("<D:current-user-privilege-set><D:privilege><D:read/></D:privilege></D:current-user-privilege-set>".to_string());
        }
        // RFC 6352 6.2.2.
        if wants("supported-address-data") {
            p.push("<C:supported-address-data><C:address-data-type content-type=\"text/vcard\" version=\"4.0\"/><C:address-data-type content-type=\"text/vcard\" version=\"3.0\"/></C:supported-address-data>".to_string());
        }
        p
    };
    let card_props = |card: &Card| {
        let mut p = vec![];
        if wants("getetag") {
            p.push(format!("<D:getetag>{}</D:getetag>", escape(&card.etag())));
        }
        if wants("getcontenttype") {
            p.push("<D:getcontenttype>text/vcard; charset=utf-8</D:getcontenttype>".to_string());
        }
        if wants("resourcetype") {
            p.push("<D:resourcetype/>".to_string());
        }
        p
    };
    let deep = request.depth != "0";
    let mut responses = vec![];
    match resource {
        Resource::Root => {
            responses.push(response(ROOT, &user_props("<D:collection/>", request.user)));
            if deep {
                responses.push(response(BOOK, &book_props()));
            }
        }
        Resource::Principal => {
            responses.push(response(
                PRINCIPAL,
                &user_props("<D:principal/>", request.user),
            ));
        }
        Resource::Book => {
            responses.push(response(BOOK, &book_props()));
            if deep {
                for card in cards {
                    responses.push(response(&card_href(&card.id), &card_props(card)));
                }
            }
        }
        Resource::Card(id) => match cards.iter().find(|c| &c.id == id) {
            Some(card) => responses.push(response(&card_href(id), &card_props(card))),
            None => return (StatusCode::NOT_FOUND, "text/plain", "No such card".into()),
        },
        Resource::Unknown => return (StatusCode::NOT_FOUND, "text/plain", "Not found".into()),
    }
    // RFC 4918 9.1: 207 Multi-Status.
    (StatusCode::MULTI_STATUS, XML, multistatus(&responses, None))
}

fn report(
    request: &DavRequest<'_>,
    cards: &[Card],
    token: &str,
    sync: &SyncHistory,
) -> (StatusCode, &'static str, String) {
    let body = request.body;
    // RFC 6352 10.4: address-data's version attribute selects the vCard version.
    let version = match find_tag(body, "address-data") {
        Some(at)
            if body[..at]
                .rsplit('<')
                .next()
                .is_some_and(|t| t.contains("version=\"3.0\"")) =>
        {
            Version::V3
        }
        _ if request.accept_v3 => Version::V3,
        _ => Version::V4,
    };
    let wants_data = find_tag(body, "address-data").is_some();
    let card_props = |card: &Card| {
        let mut p = vec![format!("<D:getetag>{}</D:getetag>", escape(&card.etag()))];
        if wants_data {
            p.push(format!(
                "<C:address-data>{}</C:address-data>",
                escape(&card.render(version))
            ));
        }
        p
    };
    if find_tag(body, "addressbook-multiget").is_some() {
        // RFC 6352 8.7: one response per href.
        let responses: Vec<String> = texts(body, "href")
            .iter()
            .map(|href| match Resource::of(href) {
                Resource::Card(id) => match cards.iter().find(|c| c.id == id) {
                    Some(card) => response(href, &card_props(card)),
                    None => not_found(href),
                },
                _ => not_found(href),
            })
            .collect();
        return (StatusCode::MULTI_STATUS, XML, multistatus(&responses, None));
    }
    if find_tag(body, "sync-collection").is_some() {
        let client_token = texts(body, "sync-token")
            .into_iter()
            .next()
            .unwrap_or_default();
        let mut responses = vec![];
        if client_token.is_empty() {
            // RFC 6578 3.4: the initial sync lists every member.
            for card in cards {
                responses.push(response(&card_href(&card.id), &card_props(card)));
            }
        } else {
            let Some(old) = sync.state(&client_token) else {
                // RFC 6578 3.2: an unknown token, DAV:valid-sync-token precondition.
                let error = "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<D:error xmlns:D=\"DAV:\"><D:valid-sync-token/></D:error>\n";
                return (StatusCode::FORBIDDEN, XML, error.into());
            };
            for card in cards {
                if old.get(&card.id) != Some(&card.etag()) {
                    responses.push(response(&card_href(&card.id), &card_props(card)));
                }
            }
            // RFC 6578 3.5.2: members removed since are reported 404.
            for id in old.keys() {
                if !cards.iter().any(|c| &c.id == id) {
                    responses.push(not_found(&card_href(id)));
                }
            }
        }
        return (
            StatusCode::MULTI_STATUS,
            XML,
            multistatus(&responses, Some(token)),
        );
    }
    if find_tag(body, "addressbook-query").is_some() {
        let query = Query::parse(body);
        let responses: Vec<String> = cards
            .iter()
            .filter(|c| query.matches(c))
            .map(|c| response(&card_href(&c.id), &card_props(c)))
            .collect();
        return (StatusCode::MULTI_STATUS, XML, multistatus(&responses, None));
    }
    (
        StatusCode::FORBIDDEN,
        "text/plain",
        "Unsupported report".into(),
    )
}

/// RFC 6352 10.5: prop-filters with text-match, anyof (default) or allof.
struct Query {
    all: bool,
    filters: Vec<(String, String, String)>,
}

impl Query {
    fn parse(body: &str) -> Query {
        let all = body
            .split("<")
            .find(|t| {
                t.split(|c: char| c.is_whitespace() || c == '>')
                    .next()
                    .is_some_and(|n| n.rsplit(':').next() == Some("filter"))
            })
            .is_some_and(|t| t.contains("test=\"allof\""));
        let mut filters = vec![];
        for chunk in body.split("prop-filter").skip(1) {
            let name = chunk
                .split("name=\"")
                .nth(1)
                .and_then(|r| r.split('"').next())
                .unwrap_or("")
                .to_uppercase();
            let Some(start) = find_tag(chunk, "text-match") else {
                continue;
            };
            let open = chunk[..start].rsplit('<').next().unwrap_or("");
            let match_type = open
                .split("match-type=\"")
                .nth(1)
                .and_then(|r| r.split('"').next())
                .unwrap_or("contains")
                .to_string();
            let end = chunk[start..].find("</").map_or(chunk.len(), |e| start + e);
            let text = unescape(chunk[start..end].trim());
            if !name.is_empty() {
                filters.push((name, match_type, text));
            }
        }
        Query { all, filters }
    }

    fn matches(&self, card: &Card) -> bool {
        if self.filters.is_empty() {
            return true;
        }
        let test = |(name, match_type, text): &(String, String, String)| {
            let values: Vec<&str> = match name.as_str() {
                "FN" => vec![&card.full_name],
                "N" => vec![&card.name.0, &card.name.1, &card.name.2],
                "EMAIL" => vec![&card.email],
                "ORG" => vec![&card.org],
                "TITLE" => vec![&card.title],
                "TEL" => vec![&card.phone],
                _ => vec![],
            };
            // Collation: i;unicode-casemap widened with Vietnamese folding (diacritics, đ).
            let wanted = policy::naming::fold(text);
            values.iter().any(|v| {
                let v = policy::naming::fold(v);
                match match_type.as_str() {
                    "equals" => v == wanted,
                    "starts-with" => v.starts_with(&wanted),
                    "ends-with" => v.ends_with(&wanted),
                    _ => v.contains(&wanted),
                }
            })
        };
        if self.all {
            self.filters.iter().all(test)
        } else {
            self.filters.iter().any(test)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resources() {
        assert_eq!(
            Resource::of("/carddav/book/p12.vcf"),
            Resource::Card("p12".into())
        );
        assert_eq!(Resource::of("/carddav/book/../x.vcf"), Resource::Unknown);
        assert_eq!(Resource::of("/carddav/"), Resource::Root);
    }

    #[test]
    fn requested_properties() {
        let body = r#"<?xml version="1.0"?><d:propfind xmlns:d="DAV:"><d:prop><d:getetag/><d:sync-token /></d:prop></d:propfind>"#;
        assert_eq!(
            requested_props(body),
            Some(vec!["getetag".to_string(), "sync-token".to_string()])
        );
    }
}
