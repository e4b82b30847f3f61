//! Decisions of `govmail import` that need no I/O: which folder an old folder becomes (the
//! special-folder map), Maildir file-name flags, mbox `From ` lines and Status headers, and
//! the IMAP INTERNALDATE text. The binary reads, this module decides.

use unicode_normalization::UnicodeNormalization;

/// The special folders every account has (storage's `DEFAULT_FOLDERS`) and their RFC 6154
/// special-use flag.
pub const SPECIAL_TARGETS: &[(&str, &str)] = &[
    ("Sent", "\\Sent"),
    ("Drafts", "\\Drafts"),
    ("Trash", "\\Trash"),
    ("Junk", "\\Junk"),
    ("Archive", "\\Archive"),
];

/// Old top-level folder names (compared case-insensitively after NFC) → our special folder.
/// What Outlook/Exchange, Zimbra, Apple Mail, Thunderbird and Vietnamese clients call them.
pub const DEFAULT_FOLDER_MAP: &[(&str, &str)] = &[
    ("Sent", "Sent"),
    ("Sent Items", "Sent"),
    ("Sent Messages", "Sent"),
    ("Sent Mail", "Sent"),
    ("Đã gửi", "Sent"),
    ("Thư đã gửi", "Sent"),
    ("Drafts", "Drafts"),
    ("Draft", "Drafts"),
    ("Thư nháp", "Drafts"),
    ("Trash", "Trash"),
    ("Deleted Items", "Trash"),
    ("Deleted Messages", "Trash"),
    ("Thùng rác", "Trash"),
    ("Junk", "Junk"),
    ("Spam", "Junk"),
    ("Junk E-mail", "Junk"),
    ("Junk Email", "Junk"),
    ("Thư rác", "Junk"),
    ("Archive", "Archive"),
    ("Archives", "Archive"),
    ("Lưu trữ", "Archive"),
];

/// The special-folder map: old name → target, built-in entries then the configuration's.
#[derive(Debug, Clone)]
pub struct FolderMap {
    /// (old name folded for comparison, target name).
    entries: Vec<(String, String)>,
}

fn fold_name(name: &str) -> String {
    name.nfc().collect::<String>().to_lowercase()
}

impl Default for FolderMap {
    fn default() -> FolderMap {
        FolderMap::new(&[])
    }
}

impl FolderMap {
    /// The built-in map; `extra` (from the configuration) adds or overrides entries.
    pub fn new(extra: &[(String, String)]) -> FolderMap {
        let mut entries: Vec<(String, String)> = DEFAULT_FOLDER_MAP
            .iter()
            .map(|(old, new)| (fold_name(old), new.to_string()))
            .collect();
        for (old, new) in extra {
            let folded = fold_name(old);
            entries.retain(|(o, _)| *o != folded);
            entries.push((folded, new.nfc().collect()));
        }
        FolderMap { entries }
    }

    /// Our name for an old folder. `old_path`: the old name's levels, already decoded from
    /// modified UTF-7; `special_use`: the old server's RFC 6154 attribute, if it gave one.
    /// INBOX (any case, RFC 9051 5.1) stays INBOX; a mapped top level carries its children
    /// along (`Sent Items/2019` → `Sent/2019`); every level is NFC, levels joined by `/`.
    pub fn target(&self, old_path: &[String], special_use: Option<&str>) -> String {
        let mut levels: Vec<String> = old_path
            .iter()
            .map(|level| level.nfc().collect::<String>())
            .collect();
        if levels.is_empty() {
            return "INBOX".to_string();
        }
        if levels[0].eq_ignore_ascii_case("INBOX") {
            levels[0] = "INBOX".to_string();
            return levels.join("/");
        }
        if levels.len() == 1 {
            if let Some(flag) = special_use {
                if let Some((name, _)) = SPECIAL_TARGETS
                    .iter()
                    .find(|(_, f)| f.eq_ignore_ascii_case(flag))
                {
                    return name.to_string();
                }
            }
        }
        let top = fold_name(&levels[0]);
        if let Some((_, new)) = self.entries.iter().rev().find(|(old, _)| *old == top) {
            levels[0] = new.clone();
        }
        levels.join("/")
    }
}

/// A folder name given on the command line, as we store names: NFC; `INBOX` in any case is
/// INBOX (RFC 9051 5.1). No special-folder mapping: the IT centre named it.
pub fn literal_folder(name: &str) -> String {
    let name: String = name.nfc().collect();
    match name.split_once('/') {
        Some((top, rest)) if top.eq_ignore_ascii_case("INBOX") => format!("INBOX/{rest}"),
        None if name.eq_ignore_ascii_case("INBOX") => "INBOX".to_string(),
        _ => name,
    }
}

/// The special-use flag of one of our folder names, if it is a special folder.
pub fn special_use_of(name: &str) -> Option<&'static str> {
    SPECIAL_TARGETS
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, flag)| *flag)
}

/// Flags of a Maildir file name: the letters after `:2,` (Maildir spec, "info"), system flags
/// as IMAP names and Dovecot's keyword letters `a`–`z` as indexes into `dovecot-keywords`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MaildirFlags {
    pub system: Vec<&'static str>,
    pub keyword_indexes: Vec<usize>,
}

/// The unique part of a Maildir file name (before `:`; Dovecot also accepts `!` on systems
/// where `:` is not allowed) and its flags.
pub fn maildir_name(file_name: &str) -> (&str, MaildirFlags) {
    let split = file_name.find(':').or_else(|| file_name.find('!'));
    let Some(at) = split else {
        return (file_name, MaildirFlags::default());
    };
    let (unique, info) = (&file_name[..at], &file_name[at + 1..]);
    let mut flags = MaildirFlags::default();
    if let Some(letters) = info.strip_prefix("2,") {
        for letter in letters.chars() {
            let system = match letter {
                'D' => Some("\\Draft"),
                'F' => Some("\\Flagged"),
                'R' => Some("\\Answered"),
                'S' => Some("\\Seen"),
                'T' => Some("\\Deleted"),
                // 'P' (passed = forwarded) has no IMAP system flag; Dovecot shows none either.
                'a'..='z' => {
                    flags.keyword_indexes.push((letter as u8 - b'a') as usize);
                    None
                }
                _ => None,
            };
            if let Some(flag) = system {
                if !flags.system.contains(&flag) {
                    flags.system.push(flag);
                }
            }
        }
    }
    (unique, flags)
}

/// The time Dovecot and Courier write into a Maildir unique name (`<secs>.<...>.host`), if any.
pub fn maildir_name_time(unique: &str) -> Option<i64> {
    let secs = unique.split('.').next()?;
    if secs.is_empty() || secs.len() > 12 || !secs.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    secs.parse().ok()
}

/// Maildir++ folder directory name (`.Folder.Sub`) → levels (`["Folder", "Sub"]`), still in
/// the on-disk encoding (modified UTF-7 for Dovecot). `None` for what is not a folder.
pub fn maildir_folder_levels(dir_name: &str) -> Option<Vec<&str>> {
    let rest = dir_name.strip_prefix('.')?;
    if rest.is_empty() || rest == "." {
        return None;
    }
    let levels: Vec<&str> = rest.split('.').collect();
    if levels.iter().any(|l| l.is_empty()) {
        return None;
    }
    Some(levels)
}

/// mbox: is this line the start of a message (`From ` at the beginning of a line)?
pub fn is_mbox_from_line(line: &[u8]) -> bool {
    line.starts_with(b"From ")
}

/// mboxrd/mboxo unquoting of one body line: `>From `, `>>From `, ... lose one `>`. (mboxo
/// quoted only `From `, so its `>From ` lines are unquoted the same way; a `>From ` that was
/// written by the author is indistinguishable there.)
pub fn mbox_unquote(line: &[u8]) -> &[u8] {
    let quotes = line.iter().take_while(|&&b| b == b'>').count();
    if quotes > 0 && line[quotes..].starts_with(b"From ") {
        &line[1..]
    } else {
        line
    }
}

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// Days from 1970-01-01 to a civil date (proleptic Gregorian).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let yoe = year - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    (
        if month <= 2 {
            yoe + era * 400 + 1
        } else {
            yoe + era * 400
        },
        month,
        day,
    )
}

fn month_number(name: &str) -> Option<i64> {
    MONTHS
        .iter()
        .position(|m| m.eq_ignore_ascii_case(name))
        .map(|i| i as i64 + 1)
}

fn hms(text: &str) -> Option<i64> {
    let mut parts = text.split(':');
    let h: i64 = parts.next()?.parse().ok()?;
    let m: i64 = parts.next()?.parse().ok()?;
    let s: i64 = parts.next().map_or(Some(0), |s| s.parse().ok())?;
    if parts.next().is_some() || h > 23 || m > 59 || s > 60 {
        return None;
    }
    Some(h * 3600 + m * 60 + s)
}

/// The date of an mbox `From sender Www Mmm dd hh:mm:ss yyyy` line (asctime form, UTC; an
/// optional zone after the year as some writers add), as Unix seconds.
pub fn mbox_from_line_date(line: &[u8]) -> Option<i64> {
    let text = std::str::from_utf8(line).ok()?.trim_end();
    let words: Vec<&str> = text.split_whitespace().collect();
    // From, sender, then the date: find the month word followed by day, time and year.
    let start = words.iter().position(|w| month_number(w).is_some())?;
    let month = month_number(words[start])?;
    let day: i64 = words.get(start + 1)?.parse().ok()?;
    let secs = hms(words.get(start + 2)?)?;
    let year: i64 = words.get(start + 3)?.parse().ok()?;
    if !(1..=31).contains(&day) || !(1970..=9999).contains(&year) {
        return None;
    }
    let mut offset = 0;
    if let Some(zone) = words.get(start + 4) {
        offset = zone_offset(zone).unwrap_or(0);
    }
    Some(days_from_civil(year, month, day) * 86_400 + secs - offset)
}

fn zone_offset(zone: &str) -> Option<i64> {
    let (sign, digits) = match zone.as_bytes().first()? {
        b'+' => (1, &zone[1..]),
        b'-' => (-1, &zone[1..]),
        _ => return None,
    };
    if digits.len() != 4 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let value: i64 = digits.parse().ok()?;
    Some(sign * ((value / 100) * 3600 + (value % 100) * 60))
}

/// IMAP INTERNALDATE `dd-Mmm-yyyy hh:mm:ss +zzzz` (RFC 9051 9, date-time) → Unix seconds.
pub fn parse_internal_date(text: &str) -> Option<i64> {
    let text = text.trim();
    let (date, rest) = text.split_once(' ')?;
    let (time, zone) = rest.trim_start().split_once(' ')?;
    let mut parts = date.trim_start().split('-');
    let day: i64 = parts.next()?.trim().parse().ok()?;
    let month = month_number(parts.next()?)?;
    let year: i64 = parts.next()?.parse().ok()?;
    if parts.next().is_some() || !(1..=31).contains(&day) {
        return None;
    }
    let secs = hms(time)?;
    let offset = zone_offset(zone.trim())?;
    Some(days_from_civil(year, month, day) * 86_400 + secs - offset)
}

/// Unix seconds → IMAP date-time in UTC, `"dd-Mmm-yyyy hh:mm:ss +0000"` (RFC 9051 9).
pub fn format_internal_date(unix: i64) -> String {
    let days = unix.div_euclid(86_400);
    let secs = unix.rem_euclid(86_400);
    let (year, month, day) = civil_from_days(days);
    format!(
        "{:02}-{}-{:04} {:02}:{:02}:{:02} +0000",
        day,
        MONTHS[(month - 1) as usize],
        year,
        secs / 3600,
        secs % 3600 / 60,
        secs % 60
    )
}

/// mbox `Status:` / `X-Status:` header values (mutt, Thunderbird, Dovecot) → IMAP flags:
/// Status `R` \Seen; X-Status `A` \Answered, `F` \Flagged, `T` \Draft, `D` \Deleted.
pub fn mbox_status_flags(status: Option<&str>, x_status: Option<&str>) -> Vec<&'static str> {
    let mut flags = Vec::new();
    if status.is_some_and(|s| s.contains('R')) {
        flags.push("\\Seen");
    }
    if let Some(x) = x_status {
        for (letter, flag) in [
            ('A', "\\Answered"),
            ('F', "\\Flagged"),
            ('T', "\\Draft"),
            ('D', "\\Deleted"),
        ] {
            if x.contains(letter) {
                flags.push(flag);
            }
        }
    }
    flags
}

#[cfg(test)]
mod tests {
    use super::*;

    fn path(p: &[&str]) -> Vec<String> {
        p.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn folder_map_table() {
        let map = FolderMap::default();
        let nfd_sent = "Đã gửi".nfd().collect::<String>();
        let table: &[(&[&str], Option<&str>, &str)] = &[
            (&["inbox"], None, "INBOX"),
            (&["Inbox", "Việc"], None, "INBOX/Việc"),
            (&["Sent Items"], None, "Sent"),
            (&["Sent Messages"], None, "Sent"),
            (&["Đã gửi"], None, "Sent"),
            (&[nfd_sent.as_str()], None, "Sent"),
            (&["Deleted Items"], None, "Trash"),
            (&["Deleted Messages"], None, "Trash"),
            (&["Junk E-mail"], None, "Junk"),
            (&["spam"], None, "Junk"),
            (&["Sent Items", "2019"], None, "Sent/2019"),
            (&["Thư đến của tôi"], None, "Thư đến của tôi"),
            (&["Gửi đi"], Some("\\Sent"), "Sent"),
            (&["Công văn", "Đến"], None, "Công văn/Đến"),
        ];
        for (old, special, want) in table {
            assert_eq!(map.target(&path(old), *special), *want, "{old:?}");
        }
        let custom = FolderMap::new(&[("Hộp thư đi".into(), "Sent".into())]);
        assert_eq!(custom.target(&path(&["Hộp thư đi"]), None), "Sent");
        let overridden = FolderMap::new(&[("Spam".into(), "Spam".into())]);
        assert_eq!(overridden.target(&path(&["Spam"]), None), "Spam");
    }

    #[test]
    fn maildir_names() {
        let (unique, flags) = maildir_name("1700000000.M1P2.host,S=1234,W=1260:2,FRSab");
        assert_eq!(unique, "1700000000.M1P2.host,S=1234,W=1260");
        assert_eq!(flags.system, vec!["\\Flagged", "\\Answered", "\\Seen"]);
        assert_eq!(flags.keyword_indexes, vec![0, 1]);
        let (_, flags) = maildir_name("x:2,DT");
        assert_eq!(flags.system, vec!["\\Draft", "\\Deleted"]);
        assert_eq!(maildir_name("plain").1, MaildirFlags::default());
        assert_eq!(
            maildir_name_time("1700000000.M1P2.host"),
            Some(1_700_000_000)
        );
        assert_eq!(maildir_name_time("abc.host"), None);
        assert_eq!(
            maildir_folder_levels(".Công việc.2024"),
            Some(vec!["Công việc", "2024"])
        );
        assert_eq!(maildir_folder_levels("cur"), None);
        assert_eq!(maildir_folder_levels(".."), None);
    }

    #[test]
    fn mbox_lines() {
        assert_eq!(mbox_unquote(b">From me"), b"From me");
        assert_eq!(mbox_unquote(b">>From me"), b">From me");
        assert_eq!(mbox_unquote(b">Fro"), b">Fro");
        assert_eq!(mbox_unquote(b"From"), b"From");
        // 1996-01-03 01:05:34 UTC = 820631134.
        assert_eq!(
            mbox_from_line_date(b"From someone@example.com Wed Jan  3 01:05:34 1996"),
            Some(820_631_134)
        );
        assert_eq!(mbox_from_line_date(b"From x"), None);
        assert_eq!(
            mbox_status_flags(Some("RO"), Some("AF")),
            vec!["\\Seen", "\\Answered", "\\Flagged"]
        );
        assert!(mbox_status_flags(Some("O"), None).is_empty());
    }

    #[test]
    fn internal_dates() {
        // RFC 9051 9: date-time = DQUOTE date-day-fixed "-" date-month "-" date-year SP time SP zone DQUOTE
        assert_eq!(
            parse_internal_date(" 3-Jan-1996 08:05:34 +0700"),
            Some(820_631_134)
        );
        assert_eq!(
            format_internal_date(820_631_134),
            "03-Jan-1996 01:05:34 +0000"
        );
        assert_eq!(parse_internal_date("03-Foo-1996 08:05:34 +0700"), None);
        for t in [0, 951_782_400, 1_709_164_800, 4_102_444_799] {
            assert_eq!(parse_internal_date(&format_internal_date(t)), Some(t));
        }
    }
}
