//! Dangerous attachments (issue 18): which attachments are refused or quarantined, decided
//! without I/O from what a part declares (content type, file name) and what it is (magic bytes),
//! looking inside ZIP archives — and Office Open XML files, which are ZIP archives — within
//! explicit bounds ([`AttachmentRules`]: depth, entries, expanded bytes). A zip bomb costs at
//! most `max_expanded_bytes` of memory and is itself refused.
//!
//! The caller (SMTP delivery) hands over each leaf part's decoded bytes; the first finding
//! decides, and [`Finding::reply_text`] words the refusal naming the file.

use unicode_normalization::UnicodeNormalization;

use crate::zipdir::{self, Content, Directory};

/// What happens to a message carrying a dangerous attachment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Handling {
    /// 554 5.7.1 naming the file.
    #[default]
    Refuse,
    /// Accepted into the recipients' Junk folder, never forwarded, with an audit event.
    Quarantine,
}

/// The configurable lists and bounds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttachmentRules {
    pub enabled: bool,
    pub handling: Handling,
    /// File extensions (lower case, no dot) refused as executables.
    pub executable_extensions: Vec<String>,
    /// File extensions refused as scripts.
    pub script_extensions: Vec<String>,
    /// Refuse Office files with macros (by extension, `vbaProject.bin` in OOXML, a VBA
    /// storage in OLE files).
    pub refuse_macros: bool,
    /// Archives inside archives: the attachment itself is depth 1.
    pub max_depth: u32,
    /// Entries of all archives of one attachment together.
    pub max_entries: usize,
    /// Bytes inflated from the archives of one attachment together.
    pub max_expanded_bytes: usize,
}

/// Executables Windows, Java and installers run on a double click.
pub const EXECUTABLE_EXTENSIONS: &[&str] = &[
    "exe",
    "scr",
    "com",
    "pif",
    "cpl",
    "msi",
    "msp",
    "mst",
    "dll",
    "jar",
    "appx",
    "msix",
    "gadget",
    "application",
    "lnk",
    "iso",
    "img",
    "vhd",
    "vhdx",
];
/// Scripts Windows runs on a double click (Windows Script Host, PowerShell, HTML applications,
/// batch files, registry files).
pub const SCRIPT_EXTENSIONS: &[&str] = &[
    "bat", "cmd", "js", "jse", "vbs", "vbe", "wsf", "wsh", "wsc", "ps1", "psm1", "psd1", "hta",
    "reg", "sct", "inf", "scf", "msc",
];
/// Office formats whose extension says they carry macros.
const MACRO_EXTENSIONS: &[&str] = &[
    "docm", "dotm", "xlsm", "xltm", "xlam", "xlsb", "pptm", "potm", "ppsm", "ppam", "sldm",
];
/// Extensions a double extension hides behind (`hoa-don.pdf.exe`).
const DOCUMENT_EXTENSIONS: &[&str] = &[
    "pdf", "doc", "docx", "xls", "xlsx", "ppt", "pptx", "odt", "ods", "rtf", "txt", "csv", "jpg",
    "jpeg", "png", "gif", "bmp", "tif", "tiff", "zip", "rar", "7z", "mp3", "mp4", "avi", "htm",
    "html", "xml", "eml",
];

impl Default for AttachmentRules {
    fn default() -> AttachmentRules {
        AttachmentRules {
            enabled: true,
            handling: Handling::Refuse,
            executable_extensions: EXECUTABLE_EXTENSIONS
                .iter()
                .map(|s| s.to_string())
                .collect(),
            script_extensions: SCRIPT_EXTENSIONS.iter().map(|s| s.to_string()).collect(),
            refuse_macros: true,
            max_depth: 4,
            max_entries: 5_000,
            max_expanded_bytes: 50 * 1024 * 1024,
        }
    }
}

/// Why an attachment is dangerous.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Danger {
    Executable,
    Script,
    Macro,
    /// A document extension followed by an executable or script one.
    DoubleExtension,
    /// Archives nested deeper than `max_depth`.
    TooDeep,
    /// The archives inflate to more than `max_expanded_bytes`.
    TooLarge,
    /// More than `max_entries` entries.
    TooManyEntries,
}

impl Danger {
    /// The words of the refusal.
    pub fn words(self) -> &'static str {
        match self {
            Danger::Executable => "executable",
            Danger::Script => "script",
            Danger::Macro => "Office document with macros",
            Danger::DoubleExtension => "double extension (an executable named like a document)",
            Danger::TooDeep => "archives nested too deeply to inspect",
            Danger::TooLarge => "archive expands beyond the inspection limit",
            Danger::TooManyEntries => "archive has too many entries to inspect",
        }
    }

    /// The name an audit event records.
    pub fn code(self) -> &'static str {
        match self {
            Danger::Executable => "executable",
            Danger::Script => "script",
            Danger::Macro => "macro",
            Danger::DoubleExtension => "double-extension",
            Danger::TooDeep => "archive-too-deep",
            Danger::TooLarge => "archive-too-large",
            Danger::TooManyEntries => "archive-too-many-entries",
        }
    }
}

/// The dangerous file and where it was found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// The file's name (a path inside its archive), or `(unnamed)`.
    pub file: String,
    /// The archives holding it, innermost first (empty: the attachment itself).
    pub inside: Vec<String>,
    pub danger: Danger,
}

impl Finding {
    /// `attachment "x.exe" inside "y.zip" is not accepted: executable` — printable ASCII only
    /// (RFC 5321 4.2: reply text is %d32-126), Vietnamese letters without their marks.
    pub fn reply_text(&self) -> String {
        let mut text = format!("attachment \"{}\"", reply_safe(&self.file));
        for archive in &self.inside {
            text.push_str(&format!(" inside \"{}\"", reply_safe(archive)));
        }
        text.push_str(" is not accepted: ");
        text.push_str(self.danger.words());
        text
    }
}

/// One leaf MIME part as the caller decoded it.
#[derive(Debug, Clone, Copy)]
pub struct Attachment<'a> {
    /// The file name (Content-Disposition `filename` or Content-Type `name`), decoded.
    pub name: Option<&'a str>,
    /// `type/subtype`, any case.
    pub content_type: &'a str,
    /// The decoded content.
    pub bytes: &'a [u8],
}

/// The first dangerous attachment among `attachments`, if any.
pub fn inspect<'a>(
    rules: &AttachmentRules,
    attachments: impl IntoIterator<Item = Attachment<'a>>,
) -> Option<Finding> {
    if !rules.enabled {
        return None;
    }
    attachments.into_iter().find_map(|a| check(rules, &a))
}

/// Whether one attachment is dangerous.
pub fn check(rules: &AttachmentRules, attachment: &Attachment) -> Option<Finding> {
    if !rules.enabled {
        return None;
    }
    let file = attachment.name.unwrap_or("(unnamed)").to_string();
    let found = |danger| {
        Some(Finding {
            file: file.clone(),
            inside: vec![],
            danger,
        })
    };
    if let Some(name) = attachment.name {
        if let Some(danger) = by_name(rules, name) {
            return found(danger);
        }
    }
    if let Some(danger) = by_type(rules, &attachment.content_type.to_ascii_lowercase()) {
        return found(danger);
    }
    let mut budget = Budget {
        entries: rules.max_entries,
        bytes: rules.max_expanded_bytes,
    };
    by_content(rules, &file, attachment.bytes, 1, &mut budget)
}

/// What is left of one attachment's bounds.
struct Budget {
    entries: usize,
    bytes: usize,
}

/// The last path segment, as Windows would name the file: trailing dots and spaces dropped
/// (`x.exe.` runs as `x.exe`), lower case.
fn file_name(name: &str) -> String {
    let base = name.rsplit(['/', '\\']).next().unwrap_or(name);
    base.trim_end_matches(['.', ' ', '\0'])
        .trim()
        .to_lowercase()
}

/// Danger by file name: the last extension, and the one before it for a double extension.
pub fn by_name(rules: &AttachmentRules, name: &str) -> Option<Danger> {
    let name = file_name(name);
    let mut parts = name.rsplit('.');
    let last = parts.next()?;
    let before = parts.next().map(str::trim);
    // A name without a dot has no extension.
    if last.len() == name.len() {
        return None;
    }
    let listed = |list: &[String]| list.iter().any(|e| e.eq_ignore_ascii_case(last));
    let kind = if listed(&rules.executable_extensions) {
        Danger::Executable
    } else if listed(&rules.script_extensions) {
        Danger::Script
    } else if rules.refuse_macros && MACRO_EXTENSIONS.contains(&last) {
        return Some(Danger::Macro);
    } else {
        return None;
    };
    if before.is_some_and(|b| DOCUMENT_EXTENSIONS.contains(&b)) && name.matches('.').count() >= 2 {
        return Some(Danger::DoubleExtension);
    }
    Some(kind)
}

/// Danger by declared content type.
fn by_type(rules: &AttachmentRules, content_type: &str) -> Option<Danger> {
    const EXECUTABLE: &[&str] = &[
        "application/x-msdownload",
        "application/x-msdos-program",
        "application/x-dosexec",
        "application/x-executable",
        "application/vnd.microsoft.portable-executable",
        "application/x-ms-installer",
        "application/x-msi",
        "application/java-archive",
        "application/x-java-archive",
        "application/x-ms-shortcut",
    ];
    const SCRIPT: &[&str] = &[
        "application/x-sh",
        "application/x-csh",
        "application/x-bat",
        "application/x-msdos-batch",
        "application/hta",
        "application/x-javascript",
        "application/javascript",
        "text/javascript",
        "text/vbscript",
        "application/x-vbscript",
        "application/x-powershell",
    ];
    if EXECUTABLE.contains(&content_type) {
        return Some(Danger::Executable);
    }
    if SCRIPT.contains(&content_type) {
        return Some(Danger::Script);
    }
    // application/vnd.ms-word.document.macroEnabled.12 and its Excel/PowerPoint siblings.
    if rules.refuse_macros && content_type.contains("macroenabled") {
        return Some(Danger::Macro);
    }
    None
}

/// Danger by magic bytes: PE (`MZ`), ELF, Mach-O; OLE files with a VBA project; ZIP archives
/// (looked into).
fn by_content(
    rules: &AttachmentRules,
    file: &str,
    bytes: &[u8],
    depth: u32,
    budget: &mut Budget,
) -> Option<Finding> {
    let found = |danger| {
        Some(Finding {
            file: file.to_string(),
            inside: vec![],
            danger,
        })
    };
    if let Some(danger) = by_magic(rules, bytes) {
        return found(danger);
    }
    if !zipdir::looks_like_zip(bytes) {
        return None;
    }
    let entries = match zipdir::directory(bytes, budget.entries) {
        Directory::Entries(entries) => entries,
        Directory::TooManyEntries => return found(Danger::TooManyEntries),
        Directory::Unreadable => return None,
    };
    budget.entries -= entries.len();
    // An Office Open XML file with macros keeps them in `word/vbaProject.bin` (or `xl/`, `ppt/`).
    if rules.refuse_macros
        && entries
            .iter()
            .any(|e| e.name.to_ascii_lowercase().ends_with("vbaproject.bin"))
    {
        return found(Danger::Macro);
    }
    for entry in entries.iter().filter(|e| !e.is_dir()) {
        let inside = |mut finding: Finding| {
            finding.inside.push(file.to_string());
            Some(finding)
        };
        if let Some(danger) = by_name(rules, &entry.name) {
            return inside(Finding {
                file: entry.name.clone(),
                inside: vec![],
                danger,
            });
        }
        // The first bytes say what it is; only archives and OLE files are read whole.
        let Content::Bytes(head) = zipdir::read(bytes, entry, 8, false) else {
            continue;
        };
        let whole_needed = zipdir::looks_like_zip(&head) || head.starts_with(OLE_MAGIC);
        if !whole_needed {
            if let Some(danger) = by_magic(rules, &head) {
                return inside(Finding {
                    file: entry.name.clone(),
                    inside: vec![],
                    danger,
                });
            }
            continue;
        }
        if zipdir::looks_like_zip(&head) && depth >= rules.max_depth {
            return inside(Finding {
                file: entry.name.clone(),
                inside: vec![],
                danger: Danger::TooDeep,
            });
        }
        match zipdir::read(bytes, entry, budget.bytes, true) {
            Content::Bytes(member) => {
                budget.bytes -= member.len();
                if let Some(finding) = by_content(rules, &entry.name, &member, depth + 1, budget) {
                    return inside(finding);
                }
            }
            Content::OverLimit => return found(Danger::TooLarge),
            Content::Unreadable => {}
        }
    }
    None
}

const OLE_MAGIC: &[u8] = b"\xD0\xCF\x11\xE0\xA1\xB1\x1A\xE1";

fn by_magic(rules: &AttachmentRules, bytes: &[u8]) -> Option<Danger> {
    const EXECUTABLE_MAGIC: &[&[u8]] = &[
        b"MZ",               // PE / DOS
        b"\x7FELF",          // ELF
        b"\xFE\xED\xFA\xCE", // Mach-O 32
        b"\xFE\xED\xFA\xCF", // Mach-O 64
        b"\xCE\xFA\xED\xFE",
        b"\xCF\xFA\xED\xFE",
    ];
    if EXECUTABLE_MAGIC.iter().any(|m| bytes.starts_with(m)) {
        return Some(Danger::Executable);
    }
    if rules.refuse_macros && bytes.starts_with(OLE_MAGIC) && ole_has_vba(bytes) {
        return Some(Danger::Macro);
    }
    None
}

/// An OLE compound file (Word 97 `.doc`, Excel `.xls`) with a VBA project: its directory
/// names the storage `_VBA_PROJECT_CUR` (Excel) or `Macros` (Word) with `_VBA_PROJECT`
/// inside, as UTF-16LE names. Looking for the name is cheap and does not parse the FAT.
fn ole_has_vba(bytes: &[u8]) -> bool {
    let needle: Vec<u8> = "_VBA_PROJECT"
        .encode_utf16()
        .flat_map(|u| u.to_le_bytes())
        .collect();
    bytes.windows(needle.len()).any(|w| w == needle.as_slice())
}

/// A name for a reply line: Vietnamese letters without marks (đ → d), other non-ASCII and
/// quotes as `?`, at most 120 characters.
fn reply_safe(name: &str) -> String {
    let mut out = String::new();
    for c in name.nfd() {
        match c {
            '\u{300}'..='\u{36F}' => {}
            'đ' => out.push('d'),
            'Đ' => out.push('D'),
            '"' | '\\' => out.push('?'),
            c if (' '..='~').contains(&c) => out.push(c),
            _ => out.push('?'),
        }
        if out.len() >= 120 {
            out.push_str("...");
            break;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::zipdir::build;

    fn attachment<'a>(name: &'a str, content_type: &'a str, bytes: &'a [u8]) -> Attachment<'a> {
        Attachment {
            name: Some(name),
            content_type,
            bytes,
        }
    }

    #[test]
    fn names() {
        let rules = AttachmentRules::default();
        let table: &[(&str, Option<Danger>)] = &[
            ("setup.exe", Some(Danger::Executable)),
            ("SETUP.EXE", Some(Danger::Executable)),
            ("run.exe. . ", Some(Danger::Executable)),
            ("dir\\tool.scr", Some(Danger::Executable)),
            ("script.vbs", Some(Danger::Script)),
            ("tinh-luong.ps1", Some(Danger::Script)),
            ("hoa-don.pdf.exe", Some(Danger::DoubleExtension)),
            ("hóa đơn.PDF .exe", Some(Danger::DoubleExtension)),
            ("báo cáo.docx.js", Some(Danger::DoubleExtension)),
            ("bao-cao.docm", Some(Danger::Macro)),
            ("bang-luong.xlsm", Some(Danger::Macro)),
            ("bao-cao.docx", None),
            ("exe", None),
            ("setup.exe.pdf", None),
            ("công văn số 12.pdf", None),
        ];
        for (name, expected) in table {
            assert_eq!(by_name(&rules, name), *expected, "{name}");
        }
    }

    #[test]
    fn content_types_and_magic() {
        let rules = AttachmentRules::default();
        let check = |a: Attachment| check(&rules, &a).map(|f| f.danger);
        assert_eq!(
            check(attachment("x.bin", "application/x-msdownload", b"")),
            Some(Danger::Executable)
        );
        assert_eq!(
            check(attachment(
                "x.doc",
                "application/vnd.ms-word.document.macroEnabled.12",
                b""
            )),
            Some(Danger::Macro)
        );
        // A PE file named like a PDF.
        assert_eq!(
            check(attachment(
                "hoa-don.pdf",
                "application/pdf",
                b"MZ\x90\x00\x03"
            )),
            Some(Danger::Executable)
        );
        assert_eq!(
            check(attachment("a.pdf", "application/pdf", b"%PDF-1.7")),
            None
        );
        let mut ole = OLE_MAGIC.to_vec();
        ole.extend_from_slice(&[0; 100]);
        assert_eq!(check(attachment("a.doc", "application/msword", &ole)), None);
        ole.extend(
            "_VBA_PROJECT_CUR"
                .encode_utf16()
                .flat_map(|u| u.to_le_bytes()),
        );
        assert_eq!(
            check(attachment("a.xls", "application/vnd.ms-excel", &ole)),
            Some(Danger::Macro)
        );
    }

    #[test]
    fn inside_zip_and_reply_text() {
        let rules = AttachmentRules::default();
        let zip = build(&[("readme.txt", b"hello", true), ("x.exe", b"MZ", true)]);
        let finding = check(&rules, &attachment("y.zip", "application/zip", &zip)).unwrap();
        assert_eq!(
            finding.reply_text(),
            "attachment \"x.exe\" inside \"y.zip\" is not accepted: executable"
        );
        // A PE file renamed inside the archive is found by its bytes.
        let zip = build(&[("anh.jpg", b"MZ\x90\x00rest of it", true)]);
        let finding = check(&rules, &attachment("ảnh.zip", "application/zip", &zip)).unwrap();
        assert_eq!(
            finding.reply_text(),
            "attachment \"anh.jpg\" inside \"anh.zip\" is not accepted: executable"
        );
        // Nested: innermost archive first.
        let inner = build(&[("hoa-don.pdf.exe", b"", false)]);
        let outer = build(&[("inner.zip", &inner, true)]);
        let finding = check(&rules, &attachment("đơn.zip", "application/zip", &outer)).unwrap();
        assert_eq!(
            finding.reply_text(),
            "attachment \"hoa-don.pdf.exe\" inside \"inner.zip\" inside \"don.zip\" is not \
             accepted: double extension (an executable named like a document)"
        );
        // A clean archive, and a DOCX (a zip) without macros.
        let clean = build(&[("a.txt", b"x", true), ("b/c.pdf", b"%PDF-1.4", true)]);
        assert_eq!(
            check(&rules, &attachment("ok.zip", "application/zip", &clean)),
            None
        );
        let docx = build(&[
            ("[Content_Types].xml", b"<x/>", true),
            ("word/document.xml", b"<w/>", true),
        ]);
        assert_eq!(
            check(
                &rules,
                &attachment("a.docx", "application/octet-stream", &docx)
            ),
            None
        );
        let docm = build(&[
            ("word/document.xml", b"<w/>", true),
            ("word/vbaProject.bin", b"\0", true),
        ]);
        // Named .docx, but it carries a VBA project.
        assert_eq!(
            check(
                &rules,
                &attachment("a.docx", "application/octet-stream", &docm)
            )
            .map(|f| f.danger),
            Some(Danger::Macro)
        );
        let disabled = AttachmentRules {
            enabled: false,
            ..AttachmentRules::default()
        };
        assert_eq!(check(&disabled, &attachment("x.exe", "", b"MZ")), None);
    }

    #[test]
    fn bombs_stay_within_bounds() {
        // Depth: the attachment is depth 1; with max_depth 3, a zip at depth 3 may not hold
        // another.
        let rules = AttachmentRules {
            max_depth: 3,
            ..AttachmentRules::default()
        };
        let mut nested = build(&[("leaf.txt", b"x", false)]);
        for level in 0..2 {
            nested = build(&[(["l1.zip", "l2.zip"][level], &nested, true)]);
        }
        // Depths: outer 1 → l2.zip 2 → l1.zip 3 → leaf.txt: within the bound.
        assert_eq!(check(&rules, &attachment("a.zip", "", &nested)), None);
        let deeper = build(&[("l3.zip", &nested, true)]);
        let finding = check(&rules, &attachment("a.zip", "", &deeper)).unwrap();
        assert_eq!(finding.danger, Danger::TooDeep);
        assert_eq!(finding.file, "l1.zip");
        assert_eq!(finding.inside, ["l2.zip", "l3.zip", "a.zip"]);

        // Ratio: a 4 MiB inner archive deflates to a few KiB; the budget is the bound.
        let zeros = vec![0u8; 4 * 1024 * 1024];
        let inner = build(&[("zeros.bin", &zeros, false)]);
        let bomb = build(&[("inner.zip", &inner, true)]);
        assert!(bomb.len() < 64 * 1024, "{}", bomb.len());
        let exact = AttachmentRules {
            max_expanded_bytes: inner.len(),
            ..AttachmentRules::default()
        };
        assert_eq!(check(&exact, &attachment("b.zip", "", &bomb)), None);
        let short = AttachmentRules {
            max_expanded_bytes: inner.len() - 1,
            ..AttachmentRules::default()
        };
        let finding = check(&short, &attachment("b.zip", "", &bomb)).unwrap();
        assert_eq!(finding.danger, Danger::TooLarge);
        assert_eq!(finding.file, "b.zip");

        // Entries: counted over every archive of the attachment.
        let many: Vec<(String, Vec<u8>)> =
            (0..10).map(|i| (format!("f{i}.txt"), vec![b'x'])).collect();
        let members: Vec<(&str, &[u8], bool)> = many
            .iter()
            .map(|(n, d)| (n.as_str(), d.as_slice(), false))
            .collect();
        let zip = build(&members);
        let ten = AttachmentRules {
            max_entries: 10,
            ..AttachmentRules::default()
        };
        assert_eq!(check(&ten, &attachment("m.zip", "", &zip)), None);
        let nine = AttachmentRules {
            max_entries: 9,
            ..AttachmentRules::default()
        };
        assert_eq!(
            check(&nine, &attachment("m.zip", "", &zip)).map(|f| f.danger),
            Some(Danger::TooManyEntries)
        );
    }
}
