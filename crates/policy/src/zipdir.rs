//! A bounded ZIP reader for the attachment check: the central directory read by hand (APPNOTE
//! 6.3 sections 4.3.12 central file header, 4.3.16 end of central directory record), members
//! inflated only on request and never past a caller's byte budget. No I/O, no allocation
//! beyond what the caller allows: a zip bomb costs at most its budget.
//!
//! Why by hand rather than the `zip` crate (MIT): we need names and at most a member's first
//! bytes or a bounded inflate, never extraction; `zip` allocates per entry and follows ZIP64
//! sizes it is given, and reading 4.3.12 is sixty lines. `storage::extract` does the same for
//! DOCX text.

use std::io::Read;

/// One central-directory entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// The name as stored (UTF-8 when flag bit 11 is set, else CP437 — read lossily as UTF-8:
    /// only extensions matter and they are ASCII).
    pub name: String,
    /// 0 stored, 8 deflate; others are not inflated.
    pub method: u16,
    /// Bit 0 of the general purpose flags: encrypted, the content cannot be read.
    pub encrypted: bool,
    pub compressed_size: u64,
    pub uncompressed_size: u64,
    local_header: usize,
}

impl Entry {
    pub fn is_dir(&self) -> bool {
        self.name.ends_with('/')
    }
}

fn u16_at(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_le_bytes(
        b.get(at..at.checked_add(2)?)?.try_into().ok()?,
    ))
}

fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(
        b.get(at..at.checked_add(4)?)?.try_into().ok()?,
    ))
}

/// True when the bytes start like a ZIP archive (a local file header, or an empty archive's
/// end record).
pub fn looks_like_zip(bytes: &[u8]) -> bool {
    bytes.starts_with(b"PK\x03\x04") || bytes.starts_with(b"PK\x05\x06")
}

/// The outcome of reading a central directory.
#[derive(Debug, PartialEq, Eq)]
pub enum Directory {
    /// Every entry, in stored order.
    Entries(Vec<Entry>),
    /// More than the allowed number of entries.
    TooManyEntries,
    /// Not a readable archive (no end record, or a directory that points outside the bytes).
    Unreadable,
}

/// Reads the central directory, at most `max_entries` entries. The end record's own count is
/// not trusted (ZIP64 archives store 0xFFFF there): entries are read while their signature is
/// there.
pub fn directory(zip: &[u8], max_entries: usize) -> Directory {
    // APPNOTE 4.3.16: the end record is 22 bytes plus a comment of at most 65,535 bytes.
    let from = zip.len().saturating_sub(22 + 65_535);
    let Some(eocd) = (from..zip.len().saturating_sub(21))
        .rev()
        .find(|&i| zip[i..].starts_with(b"PK\x05\x06"))
    else {
        return Directory::Unreadable;
    };
    let Some(mut at) = u32_at(zip, eocd + 16).map(|v| v as usize) else {
        return Directory::Unreadable;
    };
    let mut entries = vec![];
    // APPNOTE 4.3.12: central file header.
    while zip
        .get(at..)
        .is_some_and(|rest| rest.starts_with(b"PK\x01\x02"))
    {
        if entries.len() == max_entries {
            return Directory::TooManyEntries;
        }
        let field = |offset: usize| u16_at(zip, at + offset).map(usize::from);
        let (Some(flags), Some(method), Some(name_len), Some(extra_len), Some(comment_len)) =
            (field(8), field(10), field(28), field(30), field(32))
        else {
            return Directory::Unreadable;
        };
        let (Some(compressed), Some(uncompressed), Some(local)) = (
            u32_at(zip, at + 20),
            u32_at(zip, at + 24),
            u32_at(zip, at + 42),
        ) else {
            return Directory::Unreadable;
        };
        let Some(name) = zip.get(at + 46..at + 46 + name_len) else {
            return Directory::Unreadable;
        };
        entries.push(Entry {
            name: String::from_utf8_lossy(name).into_owned(),
            method: method as u16,
            encrypted: flags & 1 == 1,
            compressed_size: u64::from(compressed),
            uncompressed_size: u64::from(uncompressed),
            local_header: local as usize,
        });
        at += 46 + name_len + extra_len + comment_len;
    }
    Directory::Entries(entries)
}

/// The stored (compressed) bytes of an entry, from its local header (APPNOTE 4.3.7).
fn stored_bytes<'a>(zip: &'a [u8], entry: &Entry) -> Option<&'a [u8]> {
    let local = entry.local_header;
    if !zip.get(local..)?.starts_with(b"PK\x03\x04") {
        return None;
    }
    let start =
        local + 30 + usize::from(u16_at(zip, local + 26)?) + usize::from(u16_at(zip, local + 28)?);
    // A ZIP64 size (0xFFFFFFFF) or a size running past the end: read what is there.
    let end = start
        .checked_add(entry.compressed_size as usize)
        .filter(|&end| end <= zip.len())
        .unwrap_or(zip.len());
    zip.get(start..end)
}

/// What inflating a member gave.
#[derive(Debug, PartialEq, Eq)]
pub enum Content {
    /// The bytes (all of them, or the first `limit` when only a prefix was asked for).
    Bytes(Vec<u8>),
    /// The member inflates to more than the limit (only when the whole member was asked for).
    OverLimit,
    /// Encrypted, another method, or a broken stream: not readable.
    Unreadable,
}

/// Inflates at most `limit` bytes of `entry`. `whole`: the member is wanted entire, so more
/// than `limit` bytes is [`Content::OverLimit`]; otherwise the first `limit` bytes are enough.
pub fn read(zip: &[u8], entry: &Entry, limit: usize, whole: bool) -> Content {
    if entry.encrypted {
        return Content::Unreadable;
    }
    let Some(data) = stored_bytes(zip, entry) else {
        return Content::Unreadable;
    };
    let mut out = Vec::new();
    // One byte more than the limit tells "over" from "exactly the limit".
    let take = limit as u64 + u64::from(whole);
    let result = match entry.method {
        0 => Read::take(data, take).read_to_end(&mut out),
        8 => flate2::read::DeflateDecoder::new(data)
            .take(take)
            .read_to_end(&mut out),
        _ => return Content::Unreadable,
    };
    if whole && out.len() > limit {
        return Content::OverLimit;
    }
    match result {
        Ok(_) => Content::Bytes(out),
        // A prefix read before a broken stream is still what the member starts with.
        Err(_) if !whole && !out.is_empty() => Content::Bytes(out),
        Err(_) => Content::Unreadable,
    }
}

/// Builds a ZIP archive of stored (method 0) or deflated (method 8) members, for tests here and
/// in other crates' tests. Not used on received mail.
pub fn build(members: &[(&str, &[u8], bool)]) -> Vec<u8> {
    use std::io::Write;
    let mut out = Vec::new();
    let mut central = Vec::new();
    for (name, data, deflate) in members {
        let stored = if *deflate {
            let mut encoder =
                flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::default());
            let _ = encoder.write_all(data);
            encoder.finish().unwrap_or_default()
        } else {
            data.to_vec()
        };
        let method: u16 = if *deflate { 8 } else { 0 };
        let offset = out.len() as u32;
        let crc = crc32(data);
        let mut local = Vec::new();
        local.extend_from_slice(b"PK\x03\x04");
        local.extend_from_slice(&20u16.to_le_bytes());
        local.extend_from_slice(&0u16.to_le_bytes());
        local.extend_from_slice(&method.to_le_bytes());
        local.extend_from_slice(&[0, 0, 0, 0]);
        local.extend_from_slice(&crc.to_le_bytes());
        local.extend_from_slice(&(stored.len() as u32).to_le_bytes());
        local.extend_from_slice(&(data.len() as u32).to_le_bytes());
        local.extend_from_slice(&(name.len() as u16).to_le_bytes());
        local.extend_from_slice(&0u16.to_le_bytes());
        local.extend_from_slice(name.as_bytes());
        out.extend_from_slice(&local);
        out.extend_from_slice(&stored);
        central.extend_from_slice(b"PK\x01\x02");
        central.extend_from_slice(&20u16.to_le_bytes());
        central.extend_from_slice(&20u16.to_le_bytes());
        central.extend_from_slice(&0x0800u16.to_le_bytes());
        central.extend_from_slice(&method.to_le_bytes());
        central.extend_from_slice(&[0, 0, 0, 0]);
        central.extend_from_slice(&crc.to_le_bytes());
        central.extend_from_slice(&(stored.len() as u32).to_le_bytes());
        central.extend_from_slice(&(data.len() as u32).to_le_bytes());
        central.extend_from_slice(&(name.len() as u16).to_le_bytes());
        central.extend_from_slice(&[0; 12]);
        central.extend_from_slice(&offset.to_le_bytes());
        central.extend_from_slice(name.as_bytes());
    }
    let central_at = out.len() as u32;
    out.extend_from_slice(&central);
    out.extend_from_slice(b"PK\x05\x06");
    out.extend_from_slice(&[0; 4]);
    out.extend_from_slice(&(members.len() as u16).to_le_bytes());
    out.extend_from_slice(&(members.len() as u16).to_le_bytes());
    out.extend_from_slice(&(central.len() as u32).to_le_bytes());
    out.extend_from_slice(&central_at.to_le_bytes());
    out.extend_from_slice(&0u16.to_le_bytes());
    out
}

fn crc32(data: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &byte in data {
        crc ^= u32::from(byte);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_names_and_members() {
        let zip = build(&[
            ("a/b.txt", b"hello", false),
            ("c.exe", b"MZ\x90\x00rest", true),
        ]);
        let Directory::Entries(entries) = directory(&zip, 10) else {
            panic!("unreadable")
        };
        let names: Vec<&str> = entries.iter().map(|e| e.name.as_str()).collect();
        assert_eq!(names, ["a/b.txt", "c.exe"]);
        assert_eq!(
            read(&zip, &entries[0], 100, true),
            Content::Bytes(b"hello".to_vec())
        );
        assert_eq!(
            read(&zip, &entries[1], 2, false),
            Content::Bytes(b"MZ".to_vec())
        );
        // Exactly the limit is not over it; one byte less is.
        assert_eq!(
            read(&zip, &entries[0], 5, true),
            Content::Bytes(b"hello".to_vec())
        );
        assert_eq!(read(&zip, &entries[0], 4, true), Content::OverLimit);
        assert_eq!(directory(&zip, 1), Directory::TooManyEntries);
        assert!(matches!(directory(&zip, 2), Directory::Entries(e) if e.len() == 2));
    }

    #[test]
    fn broken_archives_are_unreadable_not_panics() {
        assert_eq!(directory(b"PK\x03\x04 no end", 10), Directory::Unreadable);
        let mut zip = build(&[("x.txt", b"data", false)]);
        let n = zip.len();
        // The directory offset points past the end: no entries.
        zip[n - 6..n - 2].copy_from_slice(&u32::MAX.to_le_bytes());
        assert_eq!(directory(&zip, 10), Directory::Entries(vec![]));
        for cut in 0..zip.len() {
            let _ = directory(&zip[..cut], 10);
        }
    }
}
