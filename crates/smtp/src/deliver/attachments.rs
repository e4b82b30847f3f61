//! The leaf parts of a received message as `policy::attachments` reads them: name, type and
//! decoded bytes, taken from the stored parse's offsets (no second parse). Text parts without a
//! file name are skipped: they are the message, not attachments.

use policy::attachments::{self, Attachment, AttachmentRules, Finding};
use storage::meta::Part;
use storage::MessageMeta;

/// The first dangerous attachment of the message, if any.
pub(crate) fn inspect(rules: &AttachmentRules, body: &[u8], meta: &MessageMeta) -> Option<Finding> {
    if !rules.enabled {
        return None;
    }
    let mut leaves = vec![];
    collect(&meta.root, &mut leaves);
    for part in leaves {
        let name = file_name(part);
        let text = part.content_type.eq_ignore_ascii_case("text");
        if text && name.is_none() {
            continue;
        }
        let start = (part.offset_body as usize).min(body.len());
        let end = (part.offset_end as usize).clamp(start, body.len());
        let raw = &body[start..end];
        let decoded = decode(part.encoding.as_deref(), raw);
        let content_type = format!("{}/{}", part.content_type, part.subtype);
        let found = attachments::check(
            rules,
            &Attachment {
                name: name.as_deref(),
                content_type: &content_type,
                bytes: decoded.as_deref().unwrap_or(raw),
            },
        );
        if found.is_some() {
            return found;
        }
    }
    None
}

/// Leaves of the part tree (a message/rfc822 part's nested parts are its children).
fn collect<'a>(part: &'a Part, out: &mut Vec<&'a Part>) {
    if part.children.is_empty() {
        if !part.content_type.eq_ignore_ascii_case("multipart") {
            out.push(part);
        }
        return;
    }
    for child in &part.children {
        collect(child, out);
    }
}

/// Content-Disposition `filename`, else Content-Type `name` (RFC 2183 2.3, RFC 2046 4.5.1's
/// old `name`), as the parse decoded them.
fn file_name(part: &Part) -> Option<String> {
    let from_disposition = part.disposition.as_ref().and_then(|(_, params)| {
        params
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case("filename"))
            .map(|(_, v)| v.clone())
    });
    from_disposition.or_else(|| {
        part.params
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case("name"))
            .map(|(_, v)| v.clone())
    })
}

/// The content under its Content-Transfer-Encoding (RFC 2045 6); None: as it is.
fn decode(encoding: Option<&str>, raw: &[u8]) -> Option<Vec<u8>> {
    match encoding?.to_ascii_lowercase().as_str() {
        "base64" => mail_parser::decoders::base64::base64_decode(raw),
        "quoted-printable" => mail_parser::decoders::quoted_printable::quoted_printable_decode(raw),
        _ => None,
    }
}
