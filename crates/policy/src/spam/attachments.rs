//! Suspicious attachment types: a score only (refusing dangerous attachments is the
//! attachment rules' job, not the spam score's).

use super::{Hits, Parsed};

/// Extensions of executables, scripts, disk images and macro-enabled Office files.
pub const SUSPICIOUS: &[&str] = &[
    "exe", "scr", "com", "pif", "bat", "cmd", "vbs", "vbe", "js", "jse", "wsf", "wsh", "hta",
    "msi", "jar", "ps1", "lnk", "iso", "img", "cpl", "reg", "docm", "xlsm", "pptm", "dotm",
];

/// Extensions a double-extension trick hides behind (`hoa_don.pdf.exe`).
const DECOYS: &[&str] = &[
    "pdf", "doc", "docx", "xls", "xlsx", "jpg", "jpeg", "png", "txt", "zip", "rar",
];

fn extension(name: &str) -> Option<String> {
    name.trim()
        .rsplit_once('.')
        .map(|(_, ext)| ext.trim().to_ascii_lowercase())
}

pub(super) fn check(message: &Parsed, hits: &mut Hits) {
    let suspicious =
        |name: &String| extension(name).is_some_and(|ext| SUSPICIOUS.contains(&ext.as_str()));
    if message.attachments.iter().any(suspicious) {
        hits.fire("SUSPICIOUS_ATTACHMENT");
    }
    let double = |name: &String| {
        let Some((stem, _)) = name.trim().rsplit_once('.') else {
            return false;
        };
        suspicious(name) && extension(stem).is_some_and(|e| DECOYS.contains(&e.as_str()))
    };
    if message.attachments.iter().any(double) {
        hits.fire("DOUBLE_EXTENSION");
    }
}
