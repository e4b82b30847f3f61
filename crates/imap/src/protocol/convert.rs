//! imap-codec → our own types. Only this file (and `mod.rs`, which calls the decoder) names
//! imap-codec types.

use imap_codec::imap_types::{
    auth::AuthMechanism,
    command::{CommandBody, FetchModifier, SelectParameter, StoreModifier},
    core::{AString, Charset},
    datetime::{DateTime, NaiveDate},
    extensions::binary::LiteralOrLiteral8,
    fetch::{MacroOrMessageDataItemNames, MessageDataItemName, Section as CSection},
    flag::{Flag, StoreResponse, StoreType},
    mailbox::{ListMailbox, Mailbox},
    search::SearchKey as CKey,
    sequence::{SeqOrUid, Sequence, SequenceSet as CSet},
    status::StatusDataItemName,
};

use super::lexer::lossy;
use super::types::*;

type CResult<T> = Result<T, String>;

pub(crate) fn command(body: CommandBody<'_>) -> CResult<Command> {
    Ok(match body {
        CommandBody::Capability => Command::Capability,
        CommandBody::Noop => Command::Noop,
        CommandBody::Logout => Command::Logout,
        CommandBody::StartTLS => Command::StartTls,
        CommandBody::Authenticate {
            mechanism,
            initial_response,
        } => Command::Authenticate {
            mechanism: mechanism_name(&mechanism),
            initial: initial_response.map(|s| s.declassify().to_vec()),
        },
        CommandBody::Login { username, password } => Command::Login {
            user: astring(&username),
            password: astring(password.declassify()),
        },
        CommandBody::Select {
            mailbox,
            parameters,
        } => select(mailbox, parameters, false),
        CommandBody::Examine {
            mailbox,
            parameters,
        } => select(mailbox, parameters, true),
        CommandBody::Unselect => Command::Unselect,
        CommandBody::Create { mailbox } => Command::Create {
            mailbox: mailbox_name(&mailbox),
            special_use: None,
        },
        CommandBody::Delete { mailbox } => Command::Delete {
            mailbox: mailbox_name(&mailbox),
        },
        CommandBody::Rename { from, to } => Command::Rename {
            from: mailbox_name(&from),
            to: mailbox_name(&to),
        },
        CommandBody::Subscribe { mailbox } => Command::Subscribe {
            mailbox: mailbox_name(&mailbox),
        },
        CommandBody::Unsubscribe { mailbox } => Command::Unsubscribe {
            mailbox: mailbox_name(&mailbox),
        },
        CommandBody::List {
            reference,
            mailbox_wildcard,
        } => Command::List {
            reference: mailbox_name(&reference),
            patterns: vec![list_mailbox(&mailbox_wildcard)],
            options: ListOptions::default(),
            lsub: false,
        },
        CommandBody::Lsub {
            reference,
            mailbox_wildcard,
        } => Command::List {
            reference: mailbox_name(&reference),
            patterns: vec![list_mailbox(&mailbox_wildcard)],
            options: ListOptions::default(),
            lsub: true,
        },
        CommandBody::Status {
            mailbox,
            item_names,
        } => {
            if item_names.is_empty() {
                return Err("missing status items".to_string());
            }
            Command::Status {
                mailbox: mailbox_name(&mailbox),
                items: item_names
                    .iter()
                    .map(status_item)
                    .collect::<CResult<Vec<_>>>()?,
            }
        }
        CommandBody::Append {
            mailbox,
            flags,
            date,
            message,
        } => Command::Append {
            mailbox: mailbox_name(&mailbox),
            messages: vec![AppendMessage {
                flags: flags.iter().map(flag).collect(),
                date: date.as_ref().map(date_time),
                data: AppendData::Literal(match message {
                    LiteralOrLiteral8::Literal(l) => l.data().to_vec(),
                    LiteralOrLiteral8::Literal8(l) => l.data.into_owned(),
                }),
            }],
        },
        CommandBody::Check => Command::Check,
        CommandBody::Close => Command::Close,
        CommandBody::Expunge => Command::Expunge { uids: None },
        CommandBody::ExpungeUid { sequence_set } => Command::Expunge {
            uids: Some(sequence(&sequence_set)),
        },
        CommandBody::Search {
            charset,
            criteria,
            uid,
        } => {
            if let Some(charset) = charset {
                check_charset(&charset)?;
            }
            let mut keys: Vec<SearchKey> = criteria
                .as_ref()
                .iter()
                .map(search_key)
                .collect::<CResult<Vec<_>>>()?;
            let criteria = if keys.len() == 1 {
                keys.remove(0)
            } else {
                SearchKey::And(keys)
            };
            Command::Search {
                uid,
                criteria,
                ret: SearchReturn::default(),
            }
        }
        CommandBody::Fetch {
            sequence_set,
            macro_or_item_names,
            uid,
            modifiers,
        } => {
            let items: Vec<FetchItem> = match macro_or_item_names {
                MacroOrMessageDataItemNames::Macro(m) => {
                    m.expand().iter().map(fetch_item).collect()
                }
                MacroOrMessageDataItemNames::MessageDataItemNames(names) => {
                    names.iter().map(fetch_item).collect()
                }
            };
            if items.is_empty() {
                return Err("empty fetch attribute list".to_string());
            }
            let mut changed_since = None;
            let mut vanished = false;
            for m in modifiers {
                match m {
                    FetchModifier::ChangedSince(n) => changed_since = Some(n.get()),
                    FetchModifier::Vanished => vanished = true,
                }
            }
            // RFC 7162 3.2.6: VANISHED only with UID FETCH and together with CHANGEDSINCE.
            if vanished && (!uid || changed_since.is_none()) {
                return Err("VANISHED requires UID FETCH with CHANGEDSINCE".to_string());
            }
            Command::Fetch {
                uid,
                set: sequence(&sequence_set),
                items,
                changed_since,
                vanished,
            }
        }
        CommandBody::Store {
            sequence_set,
            kind,
            response,
            flags,
            uid,
            modifiers,
        } => Command::Store {
            uid,
            set: sequence(&sequence_set),
            mode: match kind {
                StoreType::Replace => StoreMode::Replace,
                StoreType::Add => StoreMode::Add,
                StoreType::Remove => StoreMode::Remove,
            },
            silent: matches!(response, StoreResponse::Silent),
            flags: flags.iter().map(flag).collect(),
            unchanged_since: modifiers
                .iter()
                .map(|m| match m {
                    StoreModifier::UnchangedSince(n) => *n,
                })
                .next_back(),
        },
        CommandBody::Copy {
            sequence_set,
            mailbox,
            uid,
        } => Command::Copy {
            uid,
            set: sequence(&sequence_set),
            mailbox: mailbox_name(&mailbox),
        },
        CommandBody::Move {
            sequence_set,
            mailbox,
            uid,
        } => Command::Move {
            uid,
            set: sequence(&sequence_set),
            mailbox: mailbox_name(&mailbox),
        },
        CommandBody::Idle => Command::Idle,
        CommandBody::Enable { capabilities } => Command::Enable(
            capabilities
                .as_ref()
                .iter()
                .map(|c| c.to_string().to_ascii_uppercase())
                .collect(),
        ),
        CommandBody::GetQuota { root } => Command::GetQuota {
            root: astring(&root),
        },
        CommandBody::GetQuotaRoot { mailbox } => Command::GetQuotaRoot {
            mailbox: mailbox_name(&mailbox),
        },
        CommandBody::SetQuota { root, .. } => Command::SetQuota {
            root: astring(&root),
        },
        CommandBody::Id { .. } => Command::Id,
        CommandBody::Namespace => Command::Namespace,
        CommandBody::Sort { .. } => return Err("unknown command SORT".to_string()),
        CommandBody::Thread { .. } => return Err("unknown command THREAD".to_string()),
        CommandBody::Compress { .. } => return Err("unknown command COMPRESS".to_string()),
        CommandBody::SetMetadata { .. } => return Err("unknown command SETMETADATA".to_string()),
        CommandBody::GetMetadata { .. } => return Err("unknown command GETMETADATA".to_string()),
    })
}

fn select(mailbox: Mailbox<'_>, parameters: Vec<SelectParameter>, read_only: bool) -> Command {
    let mut condstore = false;
    let mut qresync = None;
    for p in parameters {
        match p {
            SelectParameter::CondStore => condstore = true,
            SelectParameter::QResync {
                uid_validity,
                mod_sequence_value,
                known_uids,
                seq_match_data: _,
            } => {
                qresync = Some((
                    uid_validity.get(),
                    mod_sequence_value.get(),
                    known_uids.as_ref().map(sequence),
                ))
            }
        }
    }
    Command::Select {
        mailbox: mailbox_name(&mailbox),
        read_only,
        condstore,
        qresync,
    }
}

fn mechanism_name(m: &AuthMechanism<'_>) -> String {
    let s: &str = m.as_ref();
    s.to_ascii_uppercase()
}

pub(crate) fn astring(s: &AString<'_>) -> String {
    lossy(s.as_ref())
}

fn mailbox_name(m: &Mailbox<'_>) -> String {
    match m {
        Mailbox::Inbox => "INBOX".to_string(),
        Mailbox::Other(other) => lossy(other.as_ref()),
    }
}

fn list_mailbox(m: &ListMailbox<'_>) -> String {
    match m {
        ListMailbox::Token(t) => lossy(t.as_ref()),
        ListMailbox::String(s) => lossy(s.as_ref()),
    }
}

fn flag(f: &Flag<'_>) -> String {
    f.to_string()
}

fn status_item(i: &StatusDataItemName) -> CResult<StatusItem> {
    Ok(match i {
        StatusDataItemName::Messages => StatusItem::Messages,
        StatusDataItemName::Recent => StatusItem::Recent,
        StatusDataItemName::UidNext => StatusItem::UidNext,
        StatusDataItemName::UidValidity => StatusItem::UidValidity,
        StatusDataItemName::Unseen => StatusItem::Unseen,
        StatusDataItemName::Deleted => StatusItem::Deleted,
        StatusDataItemName::Size => StatusItem::Size,
        StatusDataItemName::HighestModSeq => StatusItem::HighestModSeq,
        StatusDataItemName::DeletedStorage => {
            return Err("status item DELETED-STORAGE not supported".to_string())
        }
    })
}

fn sequence(set: &CSet) -> SequenceSet {
    fn bound(b: &SeqOrUid) -> SeqBound {
        match b {
            SeqOrUid::Value(v) => SeqBound::Value(v.get()),
            SeqOrUid::Asterisk => SeqBound::Star,
        }
    }
    SequenceSet(
        set.0
            .as_ref()
            .iter()
            .map(|s| match s {
                Sequence::Single(x) => (bound(x), bound(x)),
                Sequence::Range(a, b) => (bound(a), bound(b)),
            })
            .collect(),
    )
}

/// Unix seconds and the zone offset in minutes.
fn date_time(d: &DateTime) -> (i64, i32) {
    let dt = d.as_ref();
    (dt.timestamp(), dt.offset().local_minus_utc() / 60)
}

fn date(d: &NaiveDate) -> (i32, u8, u8) {
    let days = d.as_ref().to_epoch_days();
    super::date::civil_from_days(i64::from(days))
}

fn check_charset(c: &Charset<'_>) -> CResult<()> {
    let name: &str = c.as_ref();
    if name.eq_ignore_ascii_case("UTF-8") || name.eq_ignore_ascii_case("US-ASCII") {
        Ok(())
    } else {
        Err(format!("BADCHARSET charset {name} not supported"))
    }
}

fn search_key(k: &CKey<'_>) -> CResult<SearchKey> {
    let has = |f: &str| SearchKey::Flag(f.to_string(), true);
    let lacks = |f: &str| SearchKey::Flag(f.to_string(), false);
    Ok(match k {
        CKey::And(keys) => {
            let mut keys = keys
                .as_ref()
                .iter()
                .map(search_key)
                .collect::<CResult<Vec<_>>>()?;
            // `(X)` is just X.
            if keys.len() == 1 {
                keys.remove(0)
            } else {
                SearchKey::And(keys)
            }
        }
        CKey::SequenceSet(s) => SearchKey::SequenceSet(sequence(s)),
        CKey::All => SearchKey::All,
        CKey::Answered => has("\\Answered"),
        CKey::Bcc(s) => SearchKey::Bcc(astring(s)),
        CKey::Before(d) => SearchKey::Before(date(d)),
        CKey::Body(s) => SearchKey::Body(astring(s)),
        CKey::Cc(s) => SearchKey::Cc(astring(s)),
        CKey::Deleted => has("\\Deleted"),
        CKey::Draft => has("\\Draft"),
        CKey::Flagged => has("\\Flagged"),
        CKey::From(s) => SearchKey::From(astring(s)),
        CKey::Header(name, value) => SearchKey::Header(astring(name), astring(value)),
        CKey::Keyword(a) => SearchKey::Flag(a.as_ref().to_string(), true),
        CKey::Larger(n) => SearchKey::Larger(*n),
        CKey::New => SearchKey::New,
        CKey::Not(k) => SearchKey::Not(Box::new(search_key(k)?)),
        CKey::Old => SearchKey::Old,
        CKey::Older(n) => SearchKey::Older(n.get()),
        CKey::On(d) => SearchKey::On(date(d)),
        CKey::Or(a, b) => SearchKey::Or(Box::new(search_key(a)?), Box::new(search_key(b)?)),
        CKey::Recent => SearchKey::Recent,
        CKey::Seen => has("\\Seen"),
        CKey::SentBefore(d) => SearchKey::SentBefore(date(d)),
        CKey::SentOn(d) => SearchKey::SentOn(date(d)),
        CKey::SentSince(d) => SearchKey::SentSince(date(d)),
        CKey::Since(d) => SearchKey::Since(date(d)),
        CKey::Smaller(n) => SearchKey::Smaller(*n),
        CKey::Subject(s) => SearchKey::Subject(astring(s)),
        CKey::Text(s) => SearchKey::Text(astring(s)),
        CKey::To(s) => SearchKey::To(astring(s)),
        CKey::Uid(s) => SearchKey::Uid(sequence(s)),
        CKey::Unanswered => lacks("\\Answered"),
        CKey::Undeleted => lacks("\\Deleted"),
        CKey::Undraft => lacks("\\Draft"),
        CKey::Unflagged => lacks("\\Flagged"),
        CKey::Unkeyword(a) => SearchKey::Flag(a.as_ref().to_string(), false),
        CKey::Unseen => lacks("\\Seen"),
        CKey::Younger(n) => SearchKey::Younger(n.get()),
        CKey::ModSequence { modseq, .. } => SearchKey::ModSeq(*modseq),
    })
}

fn parts(v: &[std::num::NonZeroU32]) -> Vec<u32> {
    v.iter().map(|n| n.get()).collect()
}

fn partial(p: &Option<(u32, std::num::NonZeroU32)>) -> Option<(u32, u32)> {
    p.map(|(o, l)| (o, l.get()))
}

fn section(s: &Option<CSection<'_>>) -> Section {
    let names = |v: &[AString<'_>]| v.iter().map(astring).collect::<Vec<_>>();
    let opt_part = |p: &Option<imap_codec::imap_types::fetch::Part>| {
        p.as_ref().map(|p| parts(p.0.as_ref())).unwrap_or_default()
    };
    match s {
        None => Section {
            part: vec![],
            text: SectionText::Full,
        },
        Some(CSection::Part(p)) => Section {
            part: parts(p.0.as_ref()),
            text: SectionText::Full,
        },
        Some(CSection::Header(p)) => Section {
            part: opt_part(p),
            text: SectionText::Header,
        },
        Some(CSection::HeaderFields(p, f)) => Section {
            part: opt_part(p),
            text: SectionText::HeaderFields(names(f.as_ref())),
        },
        Some(CSection::HeaderFieldsNot(p, f)) => Section {
            part: opt_part(p),
            text: SectionText::HeaderFieldsNot(names(f.as_ref())),
        },
        Some(CSection::Text(p)) => Section {
            part: opt_part(p),
            text: SectionText::Text,
        },
        Some(CSection::Mime(p)) => Section {
            part: parts(p.0.as_ref()),
            text: SectionText::Mime,
        },
    }
}

fn fetch_item(i: &MessageDataItemName<'_>) -> FetchItem {
    match i {
        MessageDataItemName::Body => FetchItem::Body,
        MessageDataItemName::BodyExt {
            section: s,
            partial: p,
            peek,
        } => FetchItem::BodySection {
            section: section(s),
            partial: partial(p),
            peek: *peek,
        },
        MessageDataItemName::BodyStructure => FetchItem::BodyStructure,
        MessageDataItemName::Envelope => FetchItem::Envelope,
        MessageDataItemName::Flags => FetchItem::Flags,
        MessageDataItemName::InternalDate => FetchItem::InternalDate,
        MessageDataItemName::Rfc822 => FetchItem::Rfc822,
        MessageDataItemName::Rfc822Header => FetchItem::Rfc822Header,
        MessageDataItemName::Rfc822Size => FetchItem::Rfc822Size,
        MessageDataItemName::Rfc822Text => FetchItem::Rfc822Text,
        MessageDataItemName::Uid => FetchItem::Uid,
        MessageDataItemName::Binary {
            section: s,
            partial: p,
            peek,
        } => FetchItem::Binary {
            part: parts(s),
            partial: partial(p),
            peek: *peek,
        },
        MessageDataItemName::BinarySize { section: s } => FetchItem::BinarySize { part: parts(s) },
        MessageDataItemName::ModSeq => FetchItem::ModSeq,
    }
}
