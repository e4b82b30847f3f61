//! Our own command types: what sessions see. Parsers (imap-codec, plus our own for what it
//! lacks) produce these; nothing outside `protocol` names an imap-codec type.

/// A sequence set element bound; `Star` is `*` (the largest number in use).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SeqBound {
    Value(u32),
    Star,
}

/// `1:3,7,10:*` — ranges as written (either order), resolved by the session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SequenceSet(pub Vec<(SeqBound, SeqBound)>);

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StatusItem {
    Messages,
    Recent,
    UidNext,
    UidValidity,
    Unseen,
    Deleted,
    Size,
    HighestModSeq,
    /// RFC 8474 4.3.
    MailboxId,
}

/// A BODY[...] section specifier (RFC 9051 6.4.5).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Section {
    /// Part numbers, e.g. `[1, 2]` for `1.2`; empty = the whole message.
    pub part: Vec<u32>,
    pub text: SectionText,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SectionText {
    /// `BODY[]` or `BODY[1.2]`: the whole message or the part's body.
    Full,
    Header,
    /// `HEADER.FIELDS (A B)`; names as given.
    HeaderFields(Vec<String>),
    HeaderFieldsNot(Vec<String>),
    Text,
    Mime,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FetchItem {
    Flags,
    InternalDate,
    Rfc822Size,
    Envelope,
    Body,
    BodyStructure,
    Uid,
    ModSeq,
    /// `RFC822` = BODY[], `RFC822.HEADER` = BODY.PEEK[HEADER], `RFC822.TEXT` = BODY[TEXT].
    Rfc822,
    Rfc822Header,
    Rfc822Text,
    BodySection {
        section: Section,
        /// (offset, length) of `<o.l>`.
        partial: Option<(u32, u32)>,
        peek: bool,
    },
    /// RFC 3516 BINARY[part]<partial> / BINARY.PEEK.
    Binary {
        part: Vec<u32>,
        partial: Option<(u32, u32)>,
        peek: bool,
    },
    BinarySize {
        part: Vec<u32>,
    },
    /// RFC 8970 PREVIEW, with the LAZY modifier: NIL when the preview is not at hand.
    Preview {
        lazy: bool,
    },
    /// RFC 8514 SAVEDATE.
    SaveDate,
    /// RFC 8474 EMAILID and THREADID.
    EmailId,
    ThreadId,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SearchKey {
    All,
    And(Vec<SearchKey>),
    Or(Box<SearchKey>, Box<SearchKey>),
    Not(Box<SearchKey>),
    SequenceSet(SequenceSet),
    Uid(SequenceSet),
    /// A system flag (`\Seen`, `\Answered`, `\Flagged`, `\Deleted`, `\Draft`) or keyword:
    /// `Flag(name, true)` = has it, `false` = lacks it (UNSEEN, UNKEYWORD ...).
    Flag(String, bool),
    New,
    Old,
    Recent,
    /// Dates as (year, month, day).
    Before((i32, u8, u8)),
    On((i32, u8, u8)),
    Since((i32, u8, u8)),
    SentBefore((i32, u8, u8)),
    SentOn((i32, u8, u8)),
    SentSince((i32, u8, u8)),
    Larger(u32),
    Smaller(u32),
    /// Seconds (RFC 5032 WITHIN).
    Older(u32),
    Younger(u32),
    Bcc(String),
    Body(String),
    Cc(String),
    From(String),
    Header(String, String),
    Subject(String),
    Text(String),
    To(String),
    ModSeq(u64),
    /// RFC 8514 4.3: the save date, as dates.
    SavedBefore((i32, u8, u8)),
    SavedOn((i32, u8, u8)),
    SavedSince((i32, u8, u8)),
    SaveDateSupported,
    /// RFC 8474 6: an object id.
    EmailId(String),
    ThreadId(String),
    /// The messages with these UIDs: what the session turns the keys above into (they need
    /// storage); never parsed.
    Uids(UidSet),
}

/// UIDs in ascending order without repeats, shared: an index answer of 100,000 UIDs is
/// rewritten into a key and cloned without copying, and read by binary search or in order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UidSet(std::sync::Arc<[i64]>);

impl UidSet {
    pub fn contains(&self, uid: i64) -> bool {
        self.0.binary_search(&uid).is_ok()
    }

    pub fn iter(&self) -> std::slice::Iter<'_, i64> {
        self.0.iter()
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl FromIterator<i64> for UidSet {
    /// Sorted and deduplicated whatever the order given (a sorted input costs one pass).
    fn from_iter<I: IntoIterator<Item = i64>>(iter: I) -> Self {
        let mut uids: Vec<i64> = iter.into_iter().collect();
        uids.sort_unstable();
        uids.dedup();
        UidSet(uids.into())
    }
}

/// ESEARCH `RETURN (...)` options (RFC 4731); empty = a plain SEARCH response.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SearchReturn {
    pub min: bool,
    pub max: bool,
    pub all: bool,
    pub count: bool,
    /// `RETURN ()` was given: equivalent to ALL, ESEARCH form.
    pub esearch: bool,
    /// RFC 5267 4.4 `PARTIAL first:last`, 1-based positions in the result, first <= last.
    pub partial: Option<(u32, u32)>,
    /// RFC 5267 4.3 `UPDATE`: report later changes to the result (ADDTO/REMOVEFROM).
    pub update: bool,
    /// RFC 5267 4.2 `CONTEXT`: a hint that the criteria will be used again.
    pub context: bool,
}

impl SearchReturn {
    /// True when the RFC 5267 options (PARTIAL, UPDATE, CONTEXT) are asked for: the reply is
    /// an ESEARCH worded by `cmd::sort`.
    pub fn is_contextual(&self) -> bool {
        self.partial.is_some() || self.update || self.context
    }
}

/// RFC 5256 3 sort keys, with RFC 5957 DISPLAYFROM / DISPLAYTO.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SortKey {
    Arrival,
    Cc,
    Date,
    From,
    Size,
    Subject,
    To,
    DisplayFrom,
    DisplayTo,
}

/// `sort-criterion = ["REVERSE" SP] sort-key` (RFC 5256 5).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SortCriterion {
    pub reverse: bool,
    pub key: SortKey,
}

/// RFC 5256 3 threading algorithms.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ThreadAlgorithm {
    OrderedSubject,
    References,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreMode {
    Replace,
    Add,
    Remove,
}

/// LIST-EXTENDED (RFC 5258) selection and return options, RFC 6154 SPECIAL-USE, RFC 5819
/// LIST-STATUS.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListOptions {
    pub select_subscribed: bool,
    pub select_special_use: bool,
    pub select_recursive_match: bool,
    pub return_subscribed: bool,
    pub return_children: bool,
    pub return_special_use: bool,
    pub return_status: Vec<StatusItem>,
    /// RFC 8440 LIST-MYRIGHTS.
    pub return_myrights: bool,
    /// Several patterns: `LIST "" ("INBOX" "Sent")`.
    pub extended: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    Capability,
    Noop,
    Logout,
    StartTls,
    Login {
        user: String,
        password: String,
    },
    /// Only PLAIN is supported; `initial` is the decoded SASL-IR response, if given.
    Authenticate {
        mechanism: String,
        initial: Option<Vec<u8>>,
    },
    Enable(Vec<String>),
    Id,
    Namespace,
    Select {
        mailbox: String,
        read_only: bool,
        condstore: bool,
        /// QRESYNC (uidvalidity, known modseq, known uids).
        qresync: Option<(u32, u64, Option<SequenceSet>)>,
    },
    Unselect,
    Close,
    Create {
        mailbox: String,
        special_use: Option<String>,
    },
    Delete {
        mailbox: String,
    },
    Rename {
        from: String,
        to: String,
    },
    Subscribe {
        mailbox: String,
    },
    Unsubscribe {
        mailbox: String,
    },
    List {
        reference: String,
        patterns: Vec<String>,
        options: ListOptions,
        lsub: bool,
    },
    Status {
        mailbox: String,
        items: Vec<StatusItem>,
    },
    /// One message, or several (RFC 3502 MULTIAPPEND), each a literal or a CATENATE list
    /// (RFC 4469).
    Append {
        mailbox: String,
        messages: Vec<AppendMessage>,
    },
    Check,
    Expunge {
        /// UID EXPUNGE set.
        uids: Option<SequenceSet>,
    },
    Search {
        uid: bool,
        criteria: SearchKey,
        ret: SearchReturn,
    },
    Fetch {
        uid: bool,
        set: SequenceSet,
        items: Vec<FetchItem>,
        changed_since: Option<u64>,
        vanished: bool,
    },
    Store {
        uid: bool,
        set: SequenceSet,
        mode: StoreMode,
        silent: bool,
        flags: Vec<String>,
        unchanged_since: Option<u64>,
    },
    Copy {
        uid: bool,
        set: SequenceSet,
        mailbox: String,
    },
    Move {
        uid: bool,
        set: SequenceSet,
        mailbox: String,
    },
    /// RFC 5256 SORT / UID SORT; `ret` = RFC 5267 extended SORT (`RETURN (...)`), whose
    /// answer is an ESEARCH response.
    Sort {
        uid: bool,
        criteria: Vec<SortCriterion>,
        search: SearchKey,
        ret: Option<SearchReturn>,
    },
    /// RFC 5256 THREAD / UID THREAD.
    Thread {
        uid: bool,
        algorithm: ThreadAlgorithm,
        search: SearchKey,
    },
    /// RFC 5267 4.3.5: stop the updates of these searching commands.
    CancelUpdate {
        tags: Vec<String>,
    },
    Idle,
    GetQuota {
        root: String,
    },
    GetQuotaRoot {
        mailbox: String,
    },
    SetQuota {
        root: String,
    },
    GetAcl {
        mailbox: String,
    },
    SetAcl {
        mailbox: String,
        identifier: String,
        rights: String,
    },
    DeleteAcl {
        mailbox: String,
        identifier: String,
    },
    ListRights {
        mailbox: String,
        identifier: String,
    },
    MyRights {
        mailbox: String,
    },
    /// RFC 5465 NOTIFY SET (`Some`) or NOTIFY NONE (`None`).
    Notify(Option<NotifySet>),
}

/// One message of an APPEND (RFC 3502 `append-message`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppendMessage {
    pub flags: Vec<String>,
    /// Unix seconds and the zone offset in minutes.
    pub date: Option<(i64, i32)>,
    pub data: AppendData,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AppendData {
    /// The message itself (`literal`, `literal8`, `UTF8 (literal8)`).
    Literal(Vec<u8>),
    /// RFC 4469 `CATENATE (cat-part ...)`.
    Catenate(Vec<CatPart>),
}

/// RFC 4469 `cat-part`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CatPart {
    Text(Vec<u8>),
    /// An IMAP URL (RFC 5092), as written.
    Url(String),
}

/// RFC 5465 `notify-set`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotifySet {
    /// The STATUS indicator: a STATUS response per watched mailbox before the tagged OK.
    pub status: bool,
    pub groups: Vec<EventGroup>,
}

/// RFC 5465 `event-group`: which mailboxes, which events (empty = NONE).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventGroup {
    pub filter: MailboxFilter,
    pub events: Vec<NotifyEvent>,
}

/// RFC 5465 6 `filter-mailboxes`; names as the client wrote them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MailboxFilter {
    Selected,
    SelectedDelayed,
    Inboxes,
    Personal,
    Subscribed,
    Subtree(Vec<String>),
    Mailboxes(Vec<String>),
}

/// RFC 5465 5 `event`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NotifyEvent {
    /// With the FETCH items to send for each new message in the selected mailbox.
    MessageNew(Vec<FetchItem>),
    MessageExpunge,
    FlagChange,
    MailboxName,
    SubscriptionChange,
    /// An event we do not support (AnnotationChange, the METADATA events, an `event-ext`).
    Other(String),
}

/// A parsed command line with its tag.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tagged {
    pub tag: String,
    pub command: Command,
}

/// The states a command is valid in (RFC 9051 6).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ValidIn {
    /// CAPABILITY, NOOP, LOGOUT (RFC 9051 6.1) and ID (RFC 2971).
    Any,
    /// STARTTLS, LOGIN, AUTHENTICATE (RFC 9051 6.2).
    NotAuthenticated,
    /// Authenticated and Selected (RFC 9051 6.3).
    Authenticated,
    /// Selected only (RFC 9051 6.4).
    Selected,
}

impl Command {
    /// The states this command is valid in; a new command is valid in Authenticated and
    /// Selected unless it is listed here.
    pub fn valid_in(&self) -> ValidIn {
        use Command::*;
        match self {
            Capability | Noop | Logout | Id => ValidIn::Any,
            StartTls | Login { .. } | Authenticate { .. } => ValidIn::NotAuthenticated,
            Check
            | Close
            | Unselect
            | Expunge { .. }
            | Search { .. }
            | Fetch { .. }
            | Store { .. }
            | Copy { .. }
            | Move { .. }
            | Sort { .. }
            | Thread { .. }
            | CancelUpdate { .. } => ValidIn::Selected,
            _ => ValidIn::Authenticated,
        }
    }

    /// True for the commands during which no EXPUNGE may be sent, since the client's sequence
    /// numbers must not shift under it: FETCH, STORE and SEARCH with sequence numbers
    /// (RFC 9051 7.5.1).
    pub fn pins_sequence_numbers(&self) -> bool {
        matches!(
            self,
            Command::Fetch { uid: false, .. }
                | Command::Store { uid: false, .. }
                | Command::Search { uid: false, .. }
                // RFC 5256 3: no EXPUNGE while answering SORT or THREAD.
                | Command::Sort { uid: false, .. }
                | Command::Thread { uid: false, .. }
        )
    }

    /// A low-cardinality label for metrics.
    pub fn metric_label(&self) -> &'static str {
        match self {
            Command::Fetch { .. } => "fetch",
            Command::Store { .. } => "store",
            Command::Search { .. } => "search",
            Command::Sort { .. } | Command::Thread { .. } => "sort",
            Command::Select { .. } => "select",
            Command::Append { .. } => "append",
            Command::Copy { .. } | Command::Move { .. } => "copy_move",
            Command::Expunge { .. } => "expunge",
            Command::Idle => "idle",
            Command::Notify(_) => "notify",
            Command::List { .. } | Command::Status { .. } => "list_status",
            Command::Login { .. } | Command::Authenticate { .. } => "login",
            _ => "other",
        }
    }
}
