//! SEARCH evaluation (RFC 9051 6.4.4). Text keys match the decoded text stored at delivery
//! (RFC 2047/2231 headers, quoted-printable/base64 bodies, charsets converted to UTF-8),
//! with Vietnamese folding (`policy::textsearch`): case, NFC/NFD and tone placement never matter,
//! and a query written without diacritics matches text with them (issue 13).

use policy::textsearch::QueryWord;
use storage::meta::MailAddr;
use storage::search_index::Field;
use storage::{MessageMeta, MessageRow};

use crate::protocol::{SearchKey, SeqBound, SequenceSet};

/// What one message offers to the matcher.
pub struct Candidate<'a> {
    pub seq: usize,
    pub row: &'a MessageRow,
    pub max_seq: usize,
    pub max_uid: i64,
    pub meta: Option<&'a MessageMeta>,
    /// The top-level header block, raw.
    pub header: Option<&'a [u8]>,
    /// Whether the message is \Recent in this session; None for a session without \Recent
    /// (IMAP4rev2).
    pub recent: Option<bool>,
    /// How text keys match: word mode with the full-text index on (each word of the string
    /// begins a word of the field, any order: what the index answers), else as a string.
    pub words: bool,
}

/// Which loads a key needs: (stored parse, raw header block).
pub fn needs(key: &SearchKey) -> (bool, bool) {
    use SearchKey::*;
    match key {
        And(keys) => keys
            .iter()
            .map(needs)
            .fold((false, false), |a, b| (a.0 || b.0, a.1 || b.1)),
        Or(a, b) => {
            let (a, b) = (needs(a), needs(b));
            (a.0 || b.0, a.1 || b.1)
        }
        Not(k) => needs(k),
        Bcc(_) | Body(_) | Cc(_) | From(_) | Subject(_) | To(_) | SentBefore(_) | SentOn(_)
        | SentSince(_) => (true, false),
        Text(_) => (true, true),
        Header(..) => (true, true),
        _ => (false, false),
    }
}

/// Whether a key reads \Recent (RECENT, NEW, OLD): only then is it looked up per message.
pub fn needs_recent(key: &SearchKey) -> bool {
    use SearchKey::*;
    match key {
        And(keys) => keys.iter().any(needs_recent),
        Or(a, b) => needs_recent(a) || needs_recent(b),
        Not(k) => needs_recent(k),
        Recent | New | Old => true,
        _ => false,
    }
}

/// What the full-text index (`storage::search_index`) can say about a key: which messages may
/// match. With the index on, a text key matches in word mode (every word of the string begins
/// a word of the field, in any order: `policy::textsearch::words_match`, as Dovecot's FTS
/// answers), which the index answers alone ([`exact_lookup`]); while a folder has messages not
/// indexed yet, `Terms` give the candidates and the matcher confirms each.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IndexPlan {
    /// Any message may match (the index cannot narrow it).
    Any,
    Terms(Lookup),
    And(Vec<IndexPlan>),
    Or(Box<IndexPlan>, Box<IndexPlan>),
}

/// One index look-up: every word, each at a word start in any of the fields.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Lookup {
    pub fields: Vec<Field>,
    pub words: Vec<QueryWord>,
}

/// The index fields a text key reads: those the matcher below looks at for it.
fn fields_of(key: &SearchKey) -> Option<Vec<Field>> {
    use SearchKey::*;
    Some(match key {
        Subject(_) => vec![Field::Subject],
        From(_) => vec![Field::From],
        To(_) => vec![Field::To],
        Cc(_) => vec![Field::Cc],
        Bcc(_) => vec![Field::Bcc],
        // Body text and attachment names (see `matches`).
        Body(_) => vec![Field::Body],
        // Body, Subject, From, To, Cc and the raw header block.
        Text(_) => vec![
            Field::Body,
            Field::Subject,
            Field::From,
            Field::To,
            Field::Cc,
            Field::Header,
        ],
        // The decoded Subject/From/To/Cc or the raw field.
        Header(..) => vec![
            Field::Header,
            Field::Subject,
            Field::From,
            Field::To,
            Field::Cc,
        ],
        _ => return None,
    })
}

fn needle_of(key: &SearchKey) -> Option<&str> {
    use SearchKey::*;
    match key {
        Bcc(s) | Body(s) | Cc(s) | From(s) | Subject(s) | To(s) | Text(s) | Header(_, s) => Some(s),
        _ => None,
    }
}

/// The look-up that answers a key with no confirming, the index being on: a SUBJECT, FROM,
/// TO, CC, BCC, BODY or TEXT key with words (`policy::textsearch::query_words`): a message's
/// fields hold a term for each word exactly when the matcher in word mode
/// (`policy::textsearch::words_match`) matches it.
pub fn exact_lookup(key: &SearchKey) -> Option<Lookup> {
    if matches!(key, SearchKey::Header(..)) {
        return None;
    }
    Some(Lookup {
        fields: fields_of(key)?,
        words: policy::textsearch::query_words(needle_of(key)?)?,
    })
}

/// The index plan of a key: text keys narrow, NOT and the other keys do not.
pub fn index_plan(key: &SearchKey) -> IndexPlan {
    use SearchKey::*;
    match key {
        // Every text key reads only indexed text: decoded fields, body text, file names, and
        // the raw header block (TEXT, HEADER).
        Bcc(_) | Body(_) | Cc(_) | From(_) | Subject(_) | To(_) | Text(_) | Header(..) => {
            let words = policy::textsearch::query_words(needle_of(key).unwrap_or(""));
            match (fields_of(key), words) {
                (Some(fields), Some(words)) => IndexPlan::Terms(Lookup { fields, words }),
                _ => IndexPlan::Any,
            }
        }
        And(keys) => {
            let plans: Vec<IndexPlan> = keys
                .iter()
                .map(index_plan)
                .filter(|p| *p != IndexPlan::Any)
                .collect();
            if plans.is_empty() {
                IndexPlan::Any
            } else {
                IndexPlan::And(plans)
            }
        }
        Or(a, b) => match (index_plan(a), index_plan(b)) {
            (IndexPlan::Any, _) | (_, IndexPlan::Any) => IndexPlan::Any,
            (a, b) => IndexPlan::Or(Box::new(a), Box::new(b)),
        },
        _ => IndexPlan::Any,
    }
}

impl IndexPlan {
    /// Every look-up in the plan.
    pub fn lookups<'a>(&'a self, out: &mut Vec<&'a Lookup>) {
        match self {
            IndexPlan::Any => {}
            IndexPlan::Terms(t) => out.push(t),
            IndexPlan::And(plans) => plans.iter().for_each(|p| p.lookups(out)),
            IndexPlan::Or(a, b) => {
                a.lookups(out);
                b.lookups(out);
            }
        }
    }

    /// The candidate message ids, given each look-up's candidates; None = any message.
    pub fn candidates(
        &self,
        found: &dyn Fn(&Lookup) -> std::collections::HashSet<i64>,
    ) -> Option<std::collections::HashSet<i64>> {
        match self {
            IndexPlan::Any => None,
            IndexPlan::Terms(t) => Some(found(t)),
            IndexPlan::And(plans) => plans
                .iter()
                .filter_map(|p| p.candidates(found))
                .reduce(|a, b| a.intersection(&b).copied().collect()),
            IndexPlan::Or(a, b) => match (a.candidates(found), b.candidates(found)) {
                (Some(a), Some(b)) => Some(a.union(&b).copied().collect()),
                _ => None,
            },
        }
    }
}

pub fn in_set(set: &SequenceSet, value: i64, star: i64) -> bool {
    set.0.iter().any(|(a, b)| {
        let v = |bound: &SeqBound| match bound {
            SeqBound::Value(n) => *n as i64,
            SeqBound::Star => star,
        };
        let (lo, hi) = (v(a).min(v(b)), v(a).max(v(b)));
        (lo..=hi).contains(&value)
    })
}

/// Substring match after Vietnamese folding (`policy::textsearch`): case, NFC/NFD and tone
/// placement never matter; a query letter without marks matches it with any marks, a letter
/// with marks only those marks ("nguyen" finds Nguyễn and Nguyên, "Nguyên" not Nguyễn).
fn contains(haystack: &str, needle: &str) -> bool {
    policy::textsearch::contains(haystack, needle)
}

/// The texts of an address field: display names, addresses and group names (RFC 9051 6.4.4:
/// the search is of the field's text, which holds the group's name).
fn addr_texts(list: &[MailAddr]) -> impl Iterator<Item = &str> {
    list.iter()
        .flat_map(|a| [&a.name, &a.address, &a.group])
        .filter_map(|t| t.as_deref())
}

/// Whether the texts of a field hold `needle`: as a string in one of them, or, in word mode,
/// each word in any of them (as the index keeps a field's words together).
/// A text typed in a legacy encoding (TCVN3, VNI) is also read back (`policy::legacy_vn`), as the
/// index keeps it.
fn field_has<'a>(words: bool, texts: impl Iterator<Item = &'a str>, needle: &str) -> bool {
    let texts: Vec<&str> = texts.collect();
    let has = |texts: &[&str]| {
        if words {
            policy::textsearch::words_match(&texts.join("\n"), needle)
        } else {
            texts.iter().any(|t| contains(t, needle))
        }
    };
    if has(&texts) {
        return true;
    }
    let readings: Vec<String> = texts
        .iter()
        .filter_map(|t| policy::legacy_vn::legacy_reading(t))
        .collect();
    !readings.is_empty() && has(&readings.iter().map(String::as_str).collect::<Vec<_>>())
}

/// The texts SEARCH TEXT reads, in word mode (see [`field_has`]): the body's, the decoded
/// Subject, From, To, Cc, and the raw header block.
fn all_texts<'a>(c: &'a Candidate) -> Vec<&'a str> {
    let mut texts = vec![];
    if let Some(m) = c.meta {
        texts.push(m.text.as_str());
        texts.extend(m.attachment_names.iter().map(String::as_str));
        let env = &m.envelope;
        texts.extend(env.subject.as_deref());
        for list in [&env.from, &env.to, &env.cc] {
            texts.extend(addr_texts(list));
        }
    }
    texts
}

fn day_of(seconds: i64) -> i64 {
    seconds.div_euclid(86_400)
}

fn day_number((year, month, day): (i32, u8, u8)) -> i64 {
    let month = time::Month::try_from(month).unwrap_or(time::Month::January);
    time::Date::from_calendar_date(year, month, day)
        .map(|d| day_of(d.midnight().assume_utc().unix_timestamp()))
        .unwrap_or(0)
}

/// The day number of the Date: header's date as written.
fn sent_day(env: Option<&storage::meta::Envelope>) -> Option<i64> {
    env?.sent_date().map(day_number)
}

/// Raw values of a header field in a header block, unfolded.
fn header_values(header: &[u8], name: &str) -> Vec<String> {
    let text = String::from_utf8_lossy(header);
    let mut values = vec![];
    let mut current: Option<String> = None;
    for line in text.split("\r\n").flat_map(|l| l.split('\n')) {
        if line.starts_with([' ', '\t']) {
            if let Some(value) = current.as_mut() {
                value.push(' ');
                value.push_str(line.trim());
            }
            continue;
        }
        if let Some(value) = current.take() {
            values.push(value);
        }
        if let Some((field, value)) = line.split_once(':') {
            if field.trim().eq_ignore_ascii_case(name) {
                current = Some(value.trim().to_string());
            }
        }
    }
    values.extend(current);
    values
}

/// True when the message matches the key.
pub fn matches(key: &SearchKey, c: &Candidate) -> bool {
    use SearchKey::*;
    let env = c.meta.map(|m| &m.envelope);
    match key {
        All => true,
        And(keys) => keys.iter().all(|k| matches(k, c)),
        Or(a, b) => matches(a, c) || matches(b, c),
        Not(k) => !matches(k, c),
        SequenceSet(set) => in_set(set, c.seq as i64, c.max_seq as i64),
        Uid(set) => in_set(set, c.row.uid, c.max_uid),
        Flag(flag, wanted) => c.row.flags.contains(flag) == *wanted,
        // RFC 3501 6.4.4: NEW = RECENT UNSEEN, OLD = NOT RECENT. Without \Recent
        // (IMAP4rev2): NEW = unseen, OLD = all, RECENT = none.
        New => c.recent != Some(false) && !c.row.flags.contains(storage::Flags::SEEN),
        Old => c.recent != Some(true),
        Recent => c.recent == Some(true),
        Before(date) => day_of(c.row.internal_date) < day_number(*date),
        On(date) => day_of(c.row.internal_date) == day_number(*date),
        Since(date) => day_of(c.row.internal_date) >= day_number(*date),
        // RFC 9051 6.4.4: the Date: header's own date, its time and zone ignored.
        SentBefore(date) => sent_day(env).is_some_and(|d| d < day_number(*date)),
        SentOn(date) => sent_day(env).is_some_and(|d| d == day_number(*date)),
        SentSince(date) => sent_day(env).is_some_and(|d| d >= day_number(*date)),
        Larger(n) => c.row.size > *n as i64,
        Smaller(n) => c.row.size < *n as i64,
        Older(seconds) => storage::now() - c.row.internal_date >= *seconds as i64,
        Younger(seconds) => storage::now() - c.row.internal_date <= *seconds as i64,
        Bcc(s) => env.is_some_and(|e| field_has(c.words, addr_texts(&e.bcc), s)),
        Cc(s) => env.is_some_and(|e| field_has(c.words, addr_texts(&e.cc), s)),
        From(s) => env.is_some_and(|e| field_has(c.words, addr_texts(&e.from), s)),
        To(s) => env.is_some_and(|e| field_has(c.words, addr_texts(&e.to), s)),
        Subject(s) => env
            .and_then(|e| e.subject.as_deref())
            .is_some_and(|subject| field_has(c.words, std::iter::once(subject), s)),
        Body(s) => c.meta.is_some_and(|m| {
            let names = m.attachment_names.iter().map(String::as_str);
            field_has(c.words, std::iter::once(m.text.as_str()).chain(names), s)
        }),
        Text(s) if c.words => {
            let header = c.header.map(String::from_utf8_lossy);
            let texts = all_texts(c).into_iter().chain(header.as_deref());
            field_has(true, texts, s)
        }
        Text(s) => {
            matches(&Body(s.clone()), c)
                || matches(&Subject(s.clone()), c)
                || matches(&From(s.clone()), c)
                || matches(&To(s.clone()), c)
                || matches(&Cc(s.clone()), c)
                || c.header
                    .is_some_and(|h| contains(&String::from_utf8_lossy(h), s))
        }
        Header(name, value) => {
            let decoded = match name.to_ascii_lowercase().as_str() {
                "subject" => matches(&Subject(value.clone()), c),
                "from" => matches(&From(value.clone()), c),
                "to" => matches(&To(value.clone()), c),
                "cc" => matches(&Cc(value.clone()), c),
                _ => false,
            };
            decoded
                || c.header.is_some_and(|h| {
                    let values = header_values(h, name);
                    field_has(c.words, values.iter().map(String::as_str), value)
                })
        }
        ModSeq(modseq) => c.row.modseq >= *modseq as i64,
        Uids(set) => set.contains(c.row.uid),
        // Turned into `Uids` by the session before matching (they need storage).
        SavedBefore(_) | SavedOn(_) | SavedSince(_) | EmailId(_) | ThreadId(_) => false,
        SaveDateSupported => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vietnamese_case_insensitive() {
        assert!(contains("Công Văn Số 15", "CÔNG VĂN"));
        assert!(contains("ĐƠN VỊ", "đơn vị"));
        assert!(!contains("Cong van", "công văn"));
        // Issue 13: a query without marks matches text with them.
        assert!(contains("Công Văn Số 15", "cong van"));
        assert!(contains("ĐƠN VỊ", "don vi"));
    }

    #[test]
    fn header_values_unfold() {
        let header = b"Subject: a\r\n b\r\nX-Test: one\r\nX-Test: two\r\n\r\n";
        assert_eq!(header_values(header, "subject"), vec!["a b"]);
        assert_eq!(header_values(header, "x-test"), vec!["one", "two"]);
    }

    #[test]
    fn sets() {
        let set = SequenceSet(vec![(SeqBound::Value(3), SeqBound::Star)]);
        assert!(in_set(&set, 5, 5));
        assert!(!in_set(&set, 2, 5));
        // 559:* includes the largest even when it is smaller than 559.
        let set = SequenceSet(vec![(SeqBound::Value(559), SeqBound::Star)]);
        assert!(in_set(&set, 10, 10));
    }
}
