//! The full-text index IMAP SEARCH reads (issue 13): one document per message body
//! (`search_docs`, migration 0017), keyed by blob like `message_sort` — written in the same
//! transaction as the message (delivery, APPEND), before its row, which takes the document's
//! number (`messages.doc`, migration 0019; a COPY's row takes its source's), gone with the blob
//! (GC); an expunged message drops out at once because answers are mapped through the
//! folder's listing. Documents are numbered densely ([`DENSE_LIMIT`]); a document keeps its
//! number as long as it exists (a rebuild reuses it), so a listing read earlier never pairs a
//! row with another body's document — at worst it lacks the number of a body indexed since,
//! and that row is read. A document's words are `policy::textsearch::terms` (every mark removed:
//! "Nguyễn" → `nguyen`, "đơn" → `don`) qualified by the [`Field`] they came from
//! (`s.nguyen`): SQLite keeps them in an FTS5 contentless table (`search_fts`, rowid = the
//! document), PostgreSQL in a GIN-indexed tsvector; either way one row per message, which is
//! what makes indexing cheap next to the message's own commit.
//!
//! Indexed: the decoded subject, From/To/Cc/Bcc display names, addresses and group names, the
//! decoded body text the stored parse keeps (every charset mail-parser decodes; bounded) with
//! attachment file names (RFC 2047/2231) and attachment text, and the words of the raw header
//! block (what SEARCH TEXT/HEADER read).
//!
//! A look-up finds the documents having, for each query word, a term that begins with it in one
//! of the fields asked (prefix). Messages stored before the index have no document:
//! [`Store::search_index`] indexes up to [`BACKFILL_PER_SEARCH`] of them per call (lazy
//! backfill, written back) and returns the rest as unsure, so answers are never missing a
//! message.

use std::collections::{HashMap, HashSet};

use sqlx::Row;

use policy::textsearch::QueryWord;

use crate::doc_set::parse_doc_list;
use crate::doc_set::DocPart;
pub use crate::doc_set::DocSet;
use crate::meta::{MailAddr, MessageMeta};
pub use crate::search_docs::DENSE_LIMIT;
use crate::{Result, Store};

/// Most distinct terms kept per message (the stored body text is already bounded); a message
/// with more is marked incomplete and always read by SEARCH.
pub const MAX_TERMS: usize = 50_000;
/// The migration that made the index's tables (search_docs, search_fts).
pub const SCHEMA_VERSION: i64 = 17;
/// Most unindexed messages one search indexes before answering.
pub const BACKFILL_PER_SEARCH: usize = 2_000;

/// Which part of a message a word came from. The index keeps a word once per field it occurs
/// in, written `LETTER.word`, so SEARCH SUBJECT looks only at subject words.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Field {
    /// The decoded Subject.
    Subject,
    /// Display names, addresses and group names of From, To, Cc, Bcc.
    From,
    To,
    Cc,
    Bcc,
    /// The decoded body text, attachment file names and attachment text.
    Body,
    /// The raw header block (TEXT, HEADER).
    Header,
}

impl Field {
    pub const ALL: [Field; 7] = [
        Field::Subject,
        Field::From,
        Field::To,
        Field::Cc,
        Field::Bcc,
        Field::Body,
        Field::Header,
    ];

    /// The letter a term of this field starts with in the index. Never change: stored.
    fn letter(self) -> char {
        match self {
            Field::Subject => 's',
            Field::From => 'f',
            Field::To => 't',
            Field::Cc => 'c',
            Field::Bcc => 'b',
            Field::Body => 'x',
            Field::Header => 'h',
        }
    }

    fn term(self, word: &str) -> String {
        format!("{}.{word}", self.letter())
    }
}

/// The distinct index terms of a message, field-qualified: its stored parse and its raw header
/// block. None when there are more than [`MAX_TERMS`].
pub fn terms_of(header: &[u8], meta: &MessageMeta) -> Option<Vec<String>> {
    // A message's own words, from its sender: a seeded hash (no crafted collisions), cheaper
    // than the default one for 100-odd short terms per message.
    let mut out: HashSet<String, foldhash::fast::RandomState> =
        HashSet::with_capacity_and_hasher(512, Default::default());
    let mut over = false;
    let mut token = String::with_capacity(80);
    let mut add = |field: Field, text: &str| {
        // Text typed in a legacy encoding (TCVN3, VNI) is indexed as it came and as read back.
        let reading = policy::legacy_vn::legacy_reading(text);
        for text in std::iter::once(text).chain(reading.as_deref()) {
            policy::textsearch::each_index_term(text, |word| {
                token.clear();
                token.push(field.letter());
                token.push('.');
                token.push_str(word);
                if out.contains(token.as_str()) {
                    return;
                }
                if out.len() >= MAX_TERMS {
                    over = true;
                    return;
                }
                out.insert(token.clone());
            });
        }
    };
    let env = &meta.envelope;
    if let Some(subject) = &env.subject {
        add(Field::Subject, subject);
    }
    for (field, list) in [
        (Field::From, &env.from),
        (Field::To, &env.to),
        (Field::Cc, &env.cc),
        (Field::Bcc, &env.bcc),
    ] {
        let list: &[MailAddr] = list;
        for a in list {
            for text in [&a.name, &a.address, &a.group].into_iter().flatten() {
                add(field, text);
            }
        }
    }
    for name in &meta.attachment_names {
        add(Field::Body, name);
    }
    add(Field::Body, &meta.text);
    add(Field::Header, &String::from_utf8_lossy(header));
    (!over).then(|| out.into_iter().collect())
}

/// What the index says for one look-up.
#[derive(Debug, Clone, Default)]
pub struct IndexAnswer {
    /// The documents (`messages.doc`) having, for every prefix, a term beginning with it in
    /// one of the fields asked (all folders: map them through the folder's listing).
    pub docs: DocSet,
    /// Ids of the folder's messages the index cannot rule out (not indexed yet, or indexed
    /// incompletely): they must be read.
    pub unsure: HashSet<i64>,
    /// `docs` are exactly the documents whose fields hold every word (each at a word start,
    /// under `policy::textsearch`'s rule); false when a marked word had too many forms to
    /// list and was looked up by its bare form (`docs` is then a superset).
    pub exact: bool,
}

/// Most marked terms one marked query word is expanded to; beyond, its bare form is used (a
/// superset, confirmed by reading).
pub const MAX_FORMS: usize = 1_000;
/// Most vocabulary terms listed for one word and field.
const LIST_LIMIT: i64 = 20_000;
/// SQLite: from this many documents (the highest dense number) a look-up is split in two
/// halves read on two pool connections at once; below, it is one read on the caller's thread,
/// where the hand-offs to the pool's threads (tens of µs of CPU each, `examples/hop_cost`)
/// would be a large part of the look-up.
const HALVES_FROM: i64 = 20_000;
/// SQLite: the documents holding a query, as comma-separated numbers, within a number range.
const MATCH_RANGE: &str = "SELECT group_concat(rowid, ',') FROM search_fts \
     WHERE search_fts MATCH $1 AND rowid >= $2 AND rowid <= $3";

/// One index term a query word may take in a field: a prefix (every word beginning with it)
/// or one exact marked term.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Form {
    Prefix(String),
    Exact(String),
}

/// How a backend's full-text query language writes a term, a prefix, "or" and "and".
struct QuerySyntax {
    quote: fn(&str) -> String,
    exact: fn(&str) -> String,
    prefix: fn(&str) -> String,
    or: &'static str,
    and: &'static str,
}

/// SQLite FTS5: `("t" OR "p"*) AND (…)`.
const FTS5: QuerySyntax = QuerySyntax {
    quote: |t| t.replace('"', "\"\""),
    exact: |t| format!("\"{t}\""),
    prefix: |t| format!("\"{t}\"*"),
    or: " OR ",
    and: " AND ",
};

/// PostgreSQL tsquery: `('t' | 'p':*) & (…)`.
const TSQUERY: QuerySyntax = QuerySyntax {
    quote: |t| t.replace('\\', "\\\\").replace('\'', "''"),
    exact: |t| format!("'{t}'"),
    prefix: |t| format!("'{t}':*"),
    or: " | ",
    and: " & ",
};

/// The query: every word, each in any of its forms.
fn boolean_query(syntax: &QuerySyntax, words: &[Vec<Form>]) -> String {
    words
        .iter()
        .map(|forms| {
            let any: Vec<String> = forms
                .iter()
                .map(|f| match f {
                    Form::Prefix(t) => (syntax.prefix)(&(syntax.quote)(t)),
                    Form::Exact(t) => (syntax.exact)(&(syntax.quote)(t)),
                })
                .collect();
            format!("({})", any.join(syntax.or))
        })
        .collect::<Vec<_>>()
        .join(syntax.and)
}

/// How far `govmail index rebuild` got: messages looked at and to look at.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct IndexProgress {
    pub done: u64,
    pub total: u64,
}

/// Messages read per rebuild transaction.
pub const REBUILD_BATCH: i64 = 500;

impl Store {
    /// Whether the full-text index is kept (`StoreOptions::full_text_index`).
    pub fn full_text_index(&self) -> bool {
        self.full_text_index
    }

    /// The index terms of a message about to be stored: None when the index is off, else
    /// [`terms_of`] its header block and parse.
    pub(crate) fn index_terms(
        &self,
        raw: &[u8],
        meta: &MessageMeta,
    ) -> Option<Option<Vec<String>>> {
        self.full_text_index.then(|| {
            let end = (meta.root.offset_body as usize).min(raw.len());
            terms_of(&raw[..end], meta)
        })
    }

    /// `govmail index rebuild`: indexes every message of `account` (or of everyone) whose body
    /// the index lacks — mail stored before the index or while it was off — or, with `full`,
    /// every message again (after the folding rules changed). Each batch of
    /// [`REBUILD_BATCH`] messages is one transaction that replaces its bodies' rows, so a kill
    /// leaves every body either indexed completely or not at all, and a rerun goes on.
    pub async fn rebuild_search_index(
        &self,
        account: Option<i64>,
        full: bool,
        progress: &mut (dyn FnMut(IndexProgress) + Send),
    ) -> Result<IndexProgress> {
        self.clear_search_cursors(account).await?;
        // $2 = 0: every account.
        let scope = "JOIN folders f ON f.id = m.folder_id \
                     WHERE m.id > $1 AND ($2 = 0 OR f.account_id = $2)";
        let missing = if full {
            ""
        } else {
            " AND NOT EXISTS (SELECT 1 FROM search_docs s WHERE s.blob_id = m.blob_id)"
        };
        let count_sql = format!("SELECT COUNT(*) FROM messages m {scope}{missing}");
        let total: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(count_sql))
            .bind(0i64)
            .bind(account.unwrap_or(0))
            .fetch_one(&self.pool)
            .await?;
        let mut state = IndexProgress {
            done: 0,
            total: total as u64,
        };
        progress(state);
        let page_sql = format!(
            "SELECT m.id, m.folder_id, m.blob_id, m.size FROM messages m {scope}{missing} \
             ORDER BY m.id LIMIT {REBUILD_BATCH}"
        );
        let mut after = 0i64;
        loop {
            let rows = sqlx::query(sqlx::AssertSqlSafe(page_sql.clone()))
                .bind(after)
                .bind(account.unwrap_or(0))
                .fetch_all(&self.pool)
                .await?;
            let Some(last) = rows.last() else {
                break;
            };
            after = last.get(0);
            let mut by_folder: HashMap<i64, Vec<(i64, String, i64)>> = HashMap::new();
            for r in &rows {
                by_folder
                    .entry(r.get(1))
                    .or_default()
                    .push((r.get(0), r.get(2), r.get(3)));
            }
            let mut computed: Vec<(String, Option<Vec<String>>)> = vec![];
            let mut seen: HashSet<String> = HashSet::new();
            for (folder_id, messages) in by_folder {
                let ids: Vec<i64> = messages.iter().map(|m| m.0).collect();
                let metas = self.message_metas(folder_id, &ids).await?;
                for (id, blob_id, size) in messages {
                    let Some(meta) = metas.get(&id) else { continue };
                    if !seen.insert(blob_id.clone()) {
                        continue;
                    }
                    let mut blob = self.open_blob(&blob_id, size).await?;
                    let header = blob.read_range(0, u64::from(meta.root.offset_body)).await?;
                    computed.push((blob_id, terms_of(&header, meta)));
                }
            }
            let docs = self.message_docs;
            let touched = self
                .write(move |tx| {
                    Box::pin(async move {
                        // A body indexed again keeps its number (listings read before hold it).
                        let blob_ids: Vec<&str> =
                            computed.iter().map(|(b, _)| b.as_str()).collect();
                        let kept = Self::doc_numbers_in(tx, &blob_ids).await?;
                        for blob_id in &blob_ids {
                            Self::drop_document_in(tx, blob_id).await?;
                        }
                        let refs: Vec<(&str, Option<&[String]>)> = computed
                            .iter()
                            .map(|(b, t)| (b.as_str(), t.as_deref()))
                            .collect();
                        Self::insert_documents_in(
                            &mut crate::conn::Conn::Sqlx(&mut *tx),
                            &refs,
                            &kept,
                        )
                        .await?;
                        // On a schema before migration 0019 (`migrate = false`) rows have no
                        // document to take.
                        match docs {
                            true => Self::set_message_docs_in(tx, &blob_ids).await,
                            false => Ok(Default::default()),
                        }
                    })
                })
                .await?;
            self.forget_listings(&touched);
            state.done += rows.len() as u64;
            state.total = state.total.max(state.done);
            progress(state);
        }
        Ok(state)
    }

    /// The index's answer for `words` (a SEARCH string's words, `policy::textsearch::query_words`)
    /// in `fields`: each word at a word start in one of them, in any order. With the messages of
    /// `folder_id` it cannot rule out (after indexing up to [`BACKFILL_PER_SEARCH`] of those
    /// not indexed yet). `words` and `fields` must not be empty; the index must be on
    /// ([`Store::full_text_index`], which needs migration 0019).
    pub async fn search_index(
        &self,
        folder_id: i64,
        fields: &[Field],
        words: &[QueryWord],
    ) -> Result<IndexAnswer> {
        // The unsure messages first: reading them indexes up to BACKFILL_PER_SEARCH of them
        // and then counts them as indexed, so the vocabulary is read after that commit (read
        // at the same time, it missed the terms only they hold).
        let unsure = self.unsure_messages(folder_id).await?.into_iter().collect();
        let mut exact = true;
        let mut all = Vec::with_capacity(words.len());
        for word in words {
            let mut forms = vec![];
            if !word.is_marked() && self.backend == crate::Backend::Postgres {
                // PostgreSQL lists only marked terms: the prefix look-up it is.
                forms.extend(fields.iter().map(|f| Form::Prefix(f.term(&word.bare))));
                all.push(forms);
                continue;
            }
            let mut listed = self.listed_terms(word, fields).await?;
            for (field, (listed, cut)) in fields.iter().zip(&mut listed) {
                let bare = field.term(&word.bare);
                let prefix = format!("{}.", field.letter());
                let mut accepted: Vec<Form> = listed
                    .drain(..)
                    .filter(|t| word.is_marked() || !t.contains('~'))
                    .filter(|t| word.accepts(t.strip_prefix(&prefix).unwrap_or("")))
                    .map(Form::Exact)
                    .collect();
                if !word.is_marked() {
                    // Not listed (its documents would be counted): named as it is. A term no
                    // document holds matches nothing.
                    accepted.push(Form::Exact(bare.clone()));
                }
                if *cut || accepted.len() > MAX_FORMS {
                    // Too many forms: the bare prefix (a superset when the word is marked).
                    exact &= !word.is_marked();
                    forms.push(Form::Prefix(bare));
                } else {
                    forms.extend(accepted);
                }
            }
            all.push(forms);
        }
        // The documents come back as comma-separated text, not a row each: a common word
        // has one document per message, and a row costs far more than its number.
        let lists: Vec<(i64, DocPart)> = if all.iter().any(|forms| forms.is_empty()) {
            // A word that no indexed text holds.
            vec![]
        } else {
            match self.backend {
                crate::Backend::Postgres => {
                    // Always through the GIN index: for a word most documents hold, the
                    // planner prefers reading every row, which unpacks every document's
                    // tsvector from TOAST (30,000 documents: 76 ms against 9 ms). No
                    // `doc IS NOT NULL` either (it offered the doc index instead):
                    // string_agg skips the NULLs.
                    let mut tx = self.pool.begin().await?;
                    sqlx::query("SET LOCAL enable_seqscan = off")
                        .execute(&mut *tx)
                        .await?;
                    let docs: Option<String> = sqlx::query_scalar(
                        "SELECT string_agg(doc::text, ',') FROM search_docs \
                         WHERE terms @@ $1::tsquery",
                    )
                    .bind(boolean_query(&TSQUERY, &all))
                    .fetch_one(&mut *tx)
                    .await?;
                    tx.commit().await?;
                    vec![(0, parse_doc_list(docs.as_deref().unwrap_or("")))]
                }
                crate::Backend::Sqlite => {
                    // Two halves of the documents, on two reading connections at once: a word
                    // nearly every message holds costs FTS5 a walk of 100,000 documents and
                    // their text form, which two cores do in about half the time. FTS5 seeks
                    // to a rowid bound. Each half is parsed as soon as it comes, while the
                    // other is looked up. Dense numbers split at half the highest; documents
                    // numbered by an older release (hashes, spread evenly) at 2^62.
                    // The highest number of all, and the highest dense one: dense numbers
                    // count the documents; any above DENSE_LIMIT (an older release's hashes)
                    // say nothing of how many there are. Both are index look-ups.
                    let row = self
                        .read(
                            "SELECT (SELECT coalesce(max(doc), 0) FROM search_docs), \
                             (SELECT coalesce(max(doc), 0) FROM search_docs WHERE doc < $1)",
                        )
                        .bind(DENSE_LIMIT)
                        .fetch_one()
                        .await?;
                    let (top, highest): (i64, i64) = (row.get(0usize), row.get(1usize));
                    let query = boolean_query(&FTS5, &all);
                    if top < HALVES_FROM {
                        // Few documents: one look-up on this thread costs less than the two
                        // hand-offs to the pool's threads.
                        let list: Option<String> = self
                            .read(MATCH_RANGE)
                            .bind(query)
                            .bind(0i64)
                            .bind(i64::MAX)
                            .fetch_scalar()
                            .await?;
                        vec![(0, parse_doc_list(list.as_deref().unwrap_or("")))]
                    } else {
                        let middle = if highest > 0 {
                            highest / 2 + 1
                        } else {
                            1 << 62
                        };
                        let half = |from: i64, to: i64| {
                            let query = query.clone();
                            async move {
                                let list: Option<String> = sqlx::query_scalar(MATCH_RANGE)
                                    .bind(query)
                                    .bind(from)
                                    .bind(to)
                                    .fetch_one(&self.pool)
                                    .await?;
                                Ok::<_, crate::Error>((
                                    from,
                                    parse_doc_list(list.as_deref().unwrap_or("")),
                                ))
                            }
                        };
                        let (low, high) =
                            tokio::try_join!(half(0, middle - 1), half(middle, i64::MAX))?;
                        vec![low, high]
                    }
                }
            }
        };
        Ok(IndexAnswer {
            docs: DocSet::of(lists),
            unsure,
            exact,
        })
    }

    /// The vocabulary's terms beginning with `word`'s bare form, for each of `fields` (in that
    /// order), in one statement. A word typed with marks takes the marked ones it accepts, a
    /// word typed without marks those without marks (each marked term's word has its bare term
    /// too). fts5vocab counts the documents of every term it passes, as many as the bare term's
    /// for a common word, so the ranges skip what is not needed: the bare term itself (named
    /// by the caller when wanted; `term >= bare\u{1}` starts just after it, where `term > bare`
    /// would still count it) and, for a word typed without marks, its marked forms (`bare~…`).
    /// Each field's terms come with whether a range was cut at [`LIST_LIMIT`].
    async fn listed_terms(
        &self,
        word: &QueryWord,
        fields: &[Field],
    ) -> Result<Vec<(Vec<String>, bool)>> {
        let mut ranges = vec![];
        for field in fields {
            let bare = field.term(&word.bare);
            if word.is_marked() {
                ranges.push((format!("{bare}\u{1}"), format!("{bare}{}", char::MAX)));
            } else {
                ranges.push((format!("{bare}\u{1}"), format!("{bare}~")));
                ranges.push((format!("{bare}\u{7f}"), format!("{bare}{}", char::MAX)));
            }
        }
        let sql = (0..ranges.len())
            .map(|n| {
                format!(
                    "SELECT term FROM (SELECT term FROM search_vocab \
                     WHERE term >= ${} AND term < ${} LIMIT {LIST_LIMIT}) AS r{n}",
                    2 * n + 1,
                    2 * n + 2
                )
            })
            .collect::<Vec<_>>()
            .join(" UNION ALL ");
        let mut query = self.read(sql);
        for (from, to) in ranges {
            query = query.bind(from).bind(to);
        }
        let terms: Vec<String> = query.fetch_column().await?;
        let mut out: Vec<(Vec<String>, bool)> = vec![(vec![], false); fields.len()];
        for term in terms {
            if let Some(i) = fields.iter().position(|f| term.starts_with(f.letter())) {
                out[i].0.push(term);
            }
        }
        for (listed, cut) in &mut out {
            *cut = listed.len() as i64 >= LIST_LIMIT;
        }
        Ok(out)
    }

    /// The messages of the folder the index cannot rule out: those not indexed yet (after
    /// indexing up to [`BACKFILL_PER_SEARCH`] of them) and those indexed incompletely. Only
    /// messages above the folder's remembered UID cursor are read, so a folder known indexed
    /// costs one short range query.
    async fn unsure_messages(&self, folder_id: i64) -> Result<Vec<i64>> {
        let seen = self.search_cursor(folder_id).await?;
        let (cursor, mut incomplete, stored) = (seen.cursor, seen.incomplete, seen.stored);
        // Only the rows the index does not hold completely come back, and the folder's last
        // row (its UID moves the cursor): the database walks the folder (a first search of a
        // 100,000-message folder), the client does not; one round trip.
        // A row holding its document (complete: see `search_docs`) is indexed, which the
        // listing's covering index tells alone: the term naming only `m` is checked before
        // search_docs is looked up, so only rows without one are (the first search of 100,000
        // freshly delivered messages: 16 ms instead of 150 ms).
        let rows = self
            .read(
                "SELECT m.id, m.uid, m.blob_id, m.size, s.complete FROM messages m \
             LEFT JOIN search_docs s ON s.blob_id = m.blob_id \
             WHERE m.folder_id = $1 AND m.uid > $2 \
             AND (m.doc IS NULL OR m.uid = (SELECT max(uid) FROM messages WHERE folder_id = $1)) \
             AND (s.complete IS NULL OR s.complete = 0 \
                  OR m.uid = (SELECT max(uid) FROM messages WHERE folder_id = $1)) \
             ORDER BY m.uid",
            )
            .bind(folder_id)
            .bind(cursor)
            .fetch_all()
            .await?;
        let Some(last) = rows.last() else {
            let seen = crate::search_cursor::Seen {
                cursor,
                incomplete: incomplete.clone(),
                stored,
            };
            self.set_search_cursor(folder_id, seen).await;
            return Ok(incomplete);
        };
        let last_uid: i64 = last.get(1);
        let mut unindexed: Vec<(i64, i64, String, i64)> = vec![];
        for r in &rows {
            match r.get::<Option<i64>, _>(4) {
                None => unindexed.push((r.get(0), r.get(1), r.get(2), r.get(3))),
                Some(0) => incomplete.push(r.get(0)),
                Some(_) => {}
            }
        }
        let later: Vec<(i64, i64)> = unindexed
            .iter()
            .skip(BACKFILL_PER_SEARCH)
            .map(|r| (r.0, r.1))
            .collect();
        unindexed.truncate(BACKFILL_PER_SEARCH);
        let mut still: Vec<(i64, i64)> = later;
        if !unindexed.is_empty() {
            let ids: Vec<i64> = unindexed.iter().map(|r| r.0).collect();
            let metas = self.message_metas(folder_id, &ids).await?;
            let mut computed: Vec<(String, Option<Vec<String>>)> = vec![];
            let mut done: Vec<(i64, bool)> = vec![];
            for (id, uid, blob_id, size) in &unindexed {
                let Some(meta) = metas.get(id) else {
                    still.push((*id, *uid));
                    continue;
                };
                let mut blob = self.open_blob(blob_id, *size).await?;
                let header = blob.read_range(0, u64::from(meta.root.offset_body)).await?;
                let terms = terms_of(&header, meta);
                done.push((*id, terms.is_some()));
                computed.push((blob_id.clone(), terms));
            }
            let written = self
                .write(move |tx| {
                    Box::pin(async move {
                        let refs: Vec<(&str, Option<&[String]>)> = computed
                            .iter()
                            .map(|(b, t)| (b.as_str(), t.as_deref()))
                            .collect();
                        Self::insert_search_terms_in(&mut crate::conn::Conn::Sqlx(&mut *tx), &refs)
                            .await?;
                        let blob_ids: Vec<&str> = refs.iter().map(|r| r.0).collect();
                        Self::set_message_docs_in(tx, &blob_ids).await
                    })
                })
                .await;
            match written {
                Ok(touched) => {
                    self.forget_listings(&touched);
                    incomplete.extend(done.iter().filter(|d| !d.1).map(|d| d.0));
                }
                Err(e) => {
                    // Not indexed, so not excluded: read them this time.
                    tracing::warn!(error = %e, "could not store backfilled search terms");
                    still.extend(unindexed.iter().map(|r| (r.0, r.1)));
                }
            }
        }
        // The cursor stops below the first message still unindexed.
        let new_cursor = still.iter().map(|r| r.1 - 1).min().unwrap_or(last_uid);
        let seen = crate::search_cursor::Seen {
            cursor: new_cursor,
            incomplete: incomplete.clone(),
            stored,
        };
        self.set_search_cursor(folder_id, seen).await;
        let mut out = incomplete;
        out.extend(still.iter().map(|r| r.0));
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn terms_cover_subject_addresses_body_and_file_names() {
        let raw = "From: =?UTF-8?Q?Nguy=E1=BB=85n_V=C4=83n_An?= <an@bo.gov.vn>\r\n\
To: =?UTF-8?Q?=C4=90=E1=BB=A9c?= <duc@x.vn>\r\n\
Subject: =?UTF-8?Q?B=C3=A1o_c=C3=A1o?=\r\n\
MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nĐơn đề nghị số 15/QĐ-UBND\r\n";
        let meta = MessageMeta::compute(raw.as_bytes());
        let header_end = meta.root.offset_body as usize;
        let terms = terms_of(&raw.as_bytes()[..header_end], &meta).unwrap();
        for t in [
            "f.nguyen",
            "f.van",
            "f.an",
            "f.bo",
            "f.gov",
            "f.vn",
            "t.duc",
            "s.bao",
            "s.cao",
            "x.don",
            "x.de",
            "x.nghi",
            "x.so",
            "x.15",
            "x.qd",
            "x.ubnd",
            "h.subject",
            "h.utf",
        ] {
            assert!(terms.contains(&t.to_string()), "{t} in {terms:?}");
        }
        assert!(
            !terms.contains(&"s.nguyen".to_string()),
            "fields stay apart"
        );
    }

    #[test]
    fn queries_name_every_form_of_every_word() {
        let words = vec![
            vec![Form::Prefix("s.nguy".into()), Form::Prefix("x.nguy".into())],
            vec![Form::Exact("x.an~00001".into())],
        ];
        assert_eq!(
            boolean_query(&FTS5, &words),
            "(\"s.nguy\"* OR \"x.nguy\"*) AND (\"x.an~00001\")"
        );
        assert_eq!(
            boolean_query(&TSQUERY, &words),
            "('s.nguy':* | 'x.nguy':*) & ('x.an~00001')"
        );
    }
}
