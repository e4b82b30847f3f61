//! Table tests: input → expected `Tagged`, and hostile inputs → `ParseError`.

use super::lexer::Cursor;
use super::*;

fn s(x: &str) -> String {
    x.to_string()
}

fn seq(spec: &str) -> SequenceSet {
    let bound = |b: &str| {
        if b == "*" {
            SeqBound::Star
        } else {
            SeqBound::Value(b.parse().unwrap())
        }
    };
    SequenceSet(
        spec.split(',')
            .map(|r| match r.split_once(':') {
                Some((a, b)) => (bound(a), bound(b)),
                None => (bound(r), bound(r)),
            })
            .collect(),
    )
}

fn flag(name: &str, set: bool) -> SearchKey {
    SearchKey::Flag(s(name), set)
}

fn list(reference: &str, patterns: &[&str], options: ListOptions, lsub: bool) -> Command {
    Command::List {
        reference: s(reference),
        patterns: patterns.iter().map(|p| s(p)).collect(),
        options,
        lsub,
    }
}

fn select(mailbox: &str, read_only: bool, condstore: bool) -> Command {
    Command::Select {
        mailbox: s(mailbox),
        read_only,
        condstore,
        qresync: None,
    }
}

fn search(uid: bool, criteria: SearchKey) -> Command {
    Command::Search {
        uid,
        criteria,
        ret: SearchReturn::default(),
    }
}

fn fetch(uid: bool, set: &str, items: Vec<FetchItem>) -> Command {
    Command::Fetch {
        uid,
        set: seq(set),
        items,
        changed_since: None,
        vanished: false,
    }
}

fn body(part: &[u32], text: SectionText, partial: Option<(u32, u32)>, peek: bool) -> FetchItem {
    FetchItem::BodySection {
        section: Section {
            part: part.to_vec(),
            text,
        },
        partial,
        peek,
    }
}

fn append(mailbox: &str, flags: &[&str], date: Option<(i64, i32)>, message: &[u8]) -> Command {
    Command::Append {
        mailbox: s(mailbox),
        messages: vec![AppendMessage {
            flags: flags.iter().map(|f| s(f)).collect(),
            date,
            data: AppendData::Literal(message.to_vec()),
        }],
    }
}

fn cat(parts: &[&[u8]]) -> Vec<u8> {
    parts.concat()
}

/// Every row: input, expected command (tag is always `A1`).
fn rows() -> Vec<(Vec<u8>, Command)> {
    use Command as C;
    use FetchItem as F;
    use SearchKey as K;
    let vn_subject = "Báo cáo tháng Mười".as_bytes();
    let mut rows = vec![
        // --- any state -------------------------------------------------------------------
        (b"A1 CAPABILITY\r\n".to_vec(), C::Capability),
        (b"A1 NOOP\r\n".to_vec(), C::Noop),
        (b"a1 noop\r\n".to_vec(), C::Noop),
        (b"A1 LOGOUT\r\n".to_vec(), C::Logout),
        (b"A1 STARTTLS\r\n".to_vec(), C::StartTls),
        (b"A1 ID (\"name\" \"x\")\r\n".to_vec(), C::Id),
        (b"A1 ID (\"name\" \"Thunderbird\" \"version\" NIL)\r\n".to_vec(), C::Id),
        (b"A1 ID NIL\r\n".to_vec(), C::Id),
        // --- not authenticated -------------------------------------------------------------
        (
            b"A1 LOGIN alice \"pass \\\"word\\\\\"\r\n".to_vec(),
            C::Login {
                user: s("alice"),
                password: s("pass \"word\\"),
            },
        ),
        (
            b"A1 LOGIN \"alice@example.vn\" {6}\r\np@ss w\r\n".to_vec(),
            C::Login {
                user: s("alice@example.vn"),
                password: s("p@ss w"),
            },
        ),
        // The master-user login as imaplib sends it: `*` unquoted (RFC 9051 9 makes it an
        // atom-special; read as if quoted).
        (
            b"A1 LOGIN stttt@kontum.gov.vn*nvan.stttt@kontum.gov.vn \"pw\"\r\n".to_vec(),
            C::Login {
                user: s("stttt@kontum.gov.vn*nvan.stttt@kontum.gov.vn"),
                password: s("pw"),
            },
        ),
        (
            b"A1 LOGIN {5+}\r\nalice {4+}\r\n\"{}\"\r\n".to_vec(),
            C::Login {
                user: s("alice"),
                password: s("\"{}\""),
            },
        ),
        (
            // base64("\0alice\0secret")
            b"A1 AUTHENTICATE PLAIN AGFsaWNlAHNlY3JldA==\r\n".to_vec(),
            C::Authenticate {
                mechanism: s("PLAIN"),
                initial: Some(b"\0alice\0secret".to_vec()),
            },
        ),
        (
            b"A1 AUTHENTICATE plain\r\n".to_vec(),
            C::Authenticate {
                mechanism: s("PLAIN"),
                initial: None,
            },
        ),
        (
            b"A1 AUTHENTICATE PLAIN =\r\n".to_vec(),
            C::Authenticate {
                mechanism: s("PLAIN"),
                initial: Some(vec![]),
            },
        ),
        // --- authenticated -----------------------------------------------------------------
        (
            b"A1 ENABLE CONDSTORE UTF8=ACCEPT\r\n".to_vec(),
            C::Enable(vec![s("CONDSTORE"), s("UTF8=ACCEPT")]),
        ),
        (b"A1 ENABLE QRESYNC\r\n".to_vec(), C::Enable(vec![s("QRESYNC")])),
        (
            b"A1 enable condstore utf8=accept\r\n".to_vec(),
            C::Enable(vec![s("CONDSTORE"), s("UTF8=ACCEPT")]),
        ),
        (b"A1 NAMESPACE\r\n".to_vec(), C::Namespace),
        (b"A1 SELECT INBOX\r\n".to_vec(), select("INBOX", false, false)),
        (b"A1 SELECT inbox\r\n".to_vec(), select("INBOX", false, false)),
        (b"A1 SELECT \"Sent\" (CONDSTORE)\r\n".to_vec(), select("Sent", false, true)),
        (
            b"A1 SELECT INBOX (QRESYNC (1 2 1:5))\r\n".to_vec(),
            C::Select {
                mailbox: s("INBOX"),
                read_only: false,
                condstore: false,
                qresync: Some((1, 2, Some(seq("1:5")))),
            },
        ),
        (
            b"A1 EXAMINE Lists (CONDSTORE QRESYNC (67890007 20050715194045000))\r\n".to_vec(),
            C::Select {
                mailbox: s("Lists"),
                read_only: true,
                condstore: true,
                qresync: Some((67_890_007, 20_050_715_194_045_000, None)),
            },
        ),
        (
            b"A1 EXAMINE \"&ARABoQ-n v&Hss-\"\r\n".to_vec(),
            select("&ARABoQ-n v&Hss-", true, false),
        ),
        (
            "A1 SELECT \"Thư mục/Đơn vị\"\r\n".as_bytes().to_vec(),
            select("Thư mục/Đơn vị", false, false),
        ),
        (
            b"A1 CREATE Archive\r\n".to_vec(),
            C::Create {
                mailbox: s("Archive"),
                special_use: None,
            },
        ),
        (
            b"A1 CREATE \"My Archive\" (USE (\\Archive))\r\n".to_vec(),
            C::Create {
                mailbox: s("My Archive"),
                special_use: Some(s("\\Archive")),
            },
        ),
        (
            "A1 CREATE \"Thư đã gửi\" (use (\\Sent))\r\n".as_bytes().to_vec(),
            C::Create {
                mailbox: s("Thư đã gửi"),
                special_use: Some(s("\\Sent")),
            },
        ),
        (
            b"A1 CREATE Junk (USE ())\r\n".to_vec(),
            C::Create {
                mailbox: s("Junk"),
                special_use: None,
            },
        ),
        (
            b"A1 DELETE \"Old stuff\"\r\n".to_vec(),
            C::Delete {
                mailbox: s("Old stuff"),
            },
        ),
        (
            b"A1 RENAME a \"b c\"\r\n".to_vec(),
            C::Rename {
                from: s("a"),
                to: s("b c"),
            },
        ),
        (
            b"A1 SUBSCRIBE inbox\r\n".to_vec(),
            C::Subscribe {
                mailbox: s("INBOX"),
            },
        ),
        (
            b"A1 UNSUBSCRIBE Drafts\r\n".to_vec(),
            C::Unsubscribe {
                mailbox: s("Drafts"),
            },
        ),
        (
            b"A1 LIST \"\" \"*\"\r\n".to_vec(),
            list("", &["*"], ListOptions::default(), false),
        ),
        (
            b"A1 LIST \"\" %\r\n".to_vec(),
            list("", &["%"], ListOptions::default(), false),
        ),
        (
            b"A1 LIST \"INBOX.\" INBOX.*\r\n".to_vec(),
            list("INBOX.", &["INBOX.*"], ListOptions::default(), false),
        ),
        (
            b"A1 LIST (SPECIAL-USE) \"\" \"*\" RETURN (CHILDREN STATUS (MESSAGES UNSEEN))\r\n"
                .to_vec(),
            list(
                "",
                &["*"],
                ListOptions {
                    select_special_use: true,
                    return_children: true,
                    return_status: vec![StatusItem::Messages, StatusItem::Unseen],
                    ..Default::default()
                },
                false,
            ),
        ),
        (
            b"A1 LIST \"\" (\"INBOX\" \"Sent\")\r\n".to_vec(),
            list(
                "",
                &["INBOX", "Sent"],
                ListOptions {
                    extended: true,
                    ..Default::default()
                },
                false,
            ),
        ),
        (
            b"A1 LIST (SUBSCRIBED RECURSIVEMATCH REMOTE) \"\" % RETURN (SUBSCRIBED SPECIAL-USE)\r\n"
                .to_vec(),
            list(
                "",
                &["%"],
                ListOptions {
                    select_subscribed: true,
                    select_recursive_match: true,
                    return_subscribed: true,
                    return_special_use: true,
                    ..Default::default()
                },
                false,
            ),
        ),
        (
            b"A1 LIST () \"\" {1}\r\n* RETURN (STATUS (SIZE HIGHESTMODSEQ UIDNEXT))\r\n".to_vec(),
            list(
                "",
                &["*"],
                ListOptions {
                    return_status: vec![
                        StatusItem::Size,
                        StatusItem::HighestModSeq,
                        StatusItem::UidNext,
                    ],
                    ..Default::default()
                },
                false,
            ),
        ),
        (
            b"A1 LIST \"\" \"*\" RETURN ()\r\n".to_vec(),
            list("", &["*"], ListOptions::default(), false),
        ),
        (
            b"A1 LSUB \"\" \"*\"\r\n".to_vec(),
            list("", &["*"], ListOptions::default(), true),
        ),
        (
            b"A1 STATUS INBOX (MESSAGES UIDNEXT UIDVALIDITY UNSEEN DELETED SIZE HIGHESTMODSEQ RECENT)\r\n"
                .to_vec(),
            C::Status {
                mailbox: s("INBOX"),
                items: vec![
                    StatusItem::Messages,
                    StatusItem::UidNext,
                    StatusItem::UidValidity,
                    StatusItem::Unseen,
                    StatusItem::Deleted,
                    StatusItem::Size,
                    StatusItem::HighestModSeq,
                    StatusItem::Recent,
                ],
            },
        ),
        (
            b"A1 STATUS \"Sent\" (SIZE HIGHESTMODSEQ)\r\n".to_vec(),
            C::Status {
                mailbox: s("Sent"),
                items: vec![StatusItem::Size, StatusItem::HighestModSeq],
            },
        ),
        (
            b"A1 APPEND INBOX (\\Seen $Forwarded) \"17-Jul-1996 02:44:25 -0700\" {5}\r\nhello\r\n"
                .to_vec(),
            append(
                "INBOX",
                &["\\Seen", "$Forwarded"],
                Some((837_596_665, -420)),
                b"hello",
            ),
        ),
        (
            b"A1 APPEND INBOX {5+}\r\nhello\r\n".to_vec(),
            append("INBOX", &[], None, b"hello"),
        ),
        (
            b"A1 APPEND INBOX UTF8 (~{5}\r\nhello)\r\n".to_vec(),
            append("INBOX", &[], None, b"hello"),
        ),
        (
            b"A1 APPEND \"Sent\" (\\Seen) \" 1-Jan-2024 00:00:00 +0700\" UTF8 (~{5+}\r\nhello)\r\n"
                .to_vec(),
            append("Sent", &["\\Seen"], Some((1_704_042_000, 420)), b"hello"),
        ),
        (
            b"A1 APPEND INBOX ~{3}\r\na\0b\r\n".to_vec(),
            append("INBOX", &[], None, b"a\0b"),
        ),
        // --- selected ----------------------------------------------------------------------
        (b"A1 CHECK\r\n".to_vec(), C::Check),
        (b"A1 CLOSE\r\n".to_vec(), C::Close),
        (b"A1 UNSELECT\r\n".to_vec(), C::Unselect),
        (b"A1 EXPUNGE\r\n".to_vec(), C::Expunge { uids: None }),
        (
            b"A1 UID EXPUNGE 1:3\r\n".to_vec(),
            C::Expunge {
                uids: Some(seq("1:3")),
            },
        ),
        (
            b"A1 FETCH 1:* (FLAGS BODY.PEEK[HEADER.FIELDS (From Subject)]<0.100>)\r\n".to_vec(),
            fetch(
                false,
                "1:*",
                vec![
                    F::Flags,
                    body(
                        &[],
                        SectionText::HeaderFields(vec![s("From"), s("Subject")]),
                        Some((0, 100)),
                        true,
                    ),
                ],
            ),
        ),
        (
            b"A1 UID FETCH 5,7:9 (UID BODY[1.2.MIME])\r\n".to_vec(),
            fetch(
                true,
                "5,7:9",
                vec![F::Uid, body(&[1, 2], SectionText::Mime, None, false)],
            ),
        ),
        (
            b"A1 FETCH 1 BINARY.PEEK[1]\r\n".to_vec(),
            fetch(
                false,
                "1",
                vec![F::Binary {
                    part: vec![1],
                    partial: None,
                    peek: true,
                }],
            ),
        ),
        (
            b"A1 FETCH 1 (BINARY[1.2]<0.10> BINARY.SIZE[1])\r\n".to_vec(),
            fetch(
                false,
                "1",
                vec![
                    F::Binary {
                        part: vec![1, 2],
                        partial: Some((0, 10)),
                        peek: false,
                    },
                    F::BinarySize { part: vec![1] },
                ],
            ),
        ),
        (
            b"A1 UID FETCH 1:* (FLAGS) (CHANGEDSINCE 5 VANISHED)\r\n".to_vec(),
            C::Fetch {
                uid: true,
                set: seq("1:*"),
                items: vec![F::Flags],
                changed_since: Some(5),
                vanished: true,
            },
        ),
        (
            b"A1 FETCH 1:* (FLAGS MODSEQ) (CHANGEDSINCE 12345)\r\n".to_vec(),
            C::Fetch {
                uid: false,
                set: seq("1:*"),
                items: vec![F::Flags, F::ModSeq],
                changed_since: Some(12345),
                vanished: false,
            },
        ),
        (
            b"A1 FETCH 2 ALL\r\n".to_vec(),
            fetch(
                false,
                "2",
                vec![F::Flags, F::InternalDate, F::Rfc822Size, F::Envelope],
            ),
        ),
        (
            b"A1 FETCH 2 fast\r\n".to_vec(),
            fetch(false, "2", vec![F::Flags, F::InternalDate, F::Rfc822Size]),
        ),
        (
            b"A1 FETCH *:2 FULL\r\n".to_vec(),
            fetch(
                false,
                "*:2",
                vec![F::Flags, F::InternalDate, F::Rfc822Size, F::Envelope, F::Body],
            ),
        ),
        (
            b"A1 FETCH 1 (RFC822 RFC822.HEADER RFC822.TEXT RFC822.SIZE ENVELOPE INTERNALDATE BODYSTRUCTURE BODY UID)\r\n"
                .to_vec(),
            fetch(
                false,
                "1",
                vec![
                    F::Rfc822,
                    F::Rfc822Header,
                    F::Rfc822Text,
                    F::Rfc822Size,
                    F::Envelope,
                    F::InternalDate,
                    F::BodyStructure,
                    F::Body,
                    F::Uid,
                ],
            ),
        ),
        (
            b"A1 FETCH 1 (BODY[] BODY[TEXT] BODY[HEADER] BODY[2.TEXT] BODY[3] BODY.PEEK[HEADER.FIELDS.NOT (Received)]<5.6>)\r\n"
                .to_vec(),
            fetch(
                false,
                "1",
                vec![
                    body(&[], SectionText::Full, None, false),
                    body(&[], SectionText::Text, None, false),
                    body(&[], SectionText::Header, None, false),
                    body(&[2], SectionText::Text, None, false),
                    body(&[3], SectionText::Full, None, false),
                    body(
                        &[],
                        SectionText::HeaderFieldsNot(vec![s("Received")]),
                        Some((5, 6)),
                        true,
                    ),
                ],
            ),
        ),
        (
            b"A1 STORE 1:3 +FLAGS.SILENT (\\Seen)\r\n".to_vec(),
            C::Store {
                uid: false,
                set: seq("1:3"),
                mode: StoreMode::Add,
                silent: true,
                flags: vec![s("\\Seen")],
                unchanged_since: None,
            },
        ),
        (
            b"A1 STORE 1 -FLAGS \\Flagged $Junk\r\n".to_vec(),
            C::Store {
                uid: false,
                set: seq("1"),
                mode: StoreMode::Remove,
                silent: false,
                flags: vec![s("\\Flagged"), s("$Junk")],
                unchanged_since: None,
            },
        ),
        (
            b"A1 STORE 1 FLAGS ()\r\n".to_vec(),
            C::Store {
                uid: false,
                set: seq("1"),
                mode: StoreMode::Replace,
                silent: false,
                flags: vec![],
                unchanged_since: None,
            },
        ),
        (
            b"A1 UID STORE 4:7 (UNCHANGEDSINCE 3) FLAGS (\\Deleted)\r\n".to_vec(),
            C::Store {
                uid: true,
                set: seq("4:7"),
                mode: StoreMode::Replace,
                silent: false,
                flags: vec![s("\\Deleted")],
                unchanged_since: Some(3),
            },
        ),
        (
            b"A1 SEARCH OR NOT (FROM \"a\" SEEN) (HEADER X-Spam yes) SINCE 1-Jan-2024 UID 1:* KEYWORD $Forwarded LARGER 1000\r\n"
                .to_vec(),
            search(
                false,
                K::And(vec![
                    K::Or(
                        Box::new(K::Not(Box::new(K::And(vec![
                            K::From(s("a")),
                            flag("\\Seen", true),
                        ])))),
                        Box::new(K::Header(s("X-Spam"), s("yes"))),
                    ),
                    K::Since((2024, 1, 1)),
                    K::Uid(seq("1:*")),
                    flag("$Forwarded", true),
                    K::Larger(1000),
                ]),
            ),
        ),
        (b"A1 SEARCH UNSEEN\r\n".to_vec(), search(false, flag("\\Seen", false))),
        (b"A1 UID SEARCH ALL\r\n".to_vec(), search(true, K::All)),
        (b"A1 SEARCH 1:5,7\r\n".to_vec(), search(false, K::SequenceSet(seq("1:5,7")))),
        (
            b"A1 SEARCH ANSWERED DELETED DRAFT FLAGGED NEW OLD RECENT SEEN UNANSWERED UNDELETED UNDRAFT UNFLAGGED UNKEYWORD $Junk\r\n"
                .to_vec(),
            search(
                false,
                K::And(vec![
                    flag("\\Answered", true),
                    flag("\\Deleted", true),
                    flag("\\Draft", true),
                    flag("\\Flagged", true),
                    K::New,
                    K::Old,
                    K::Recent,
                    flag("\\Seen", true),
                    flag("\\Answered", false),
                    flag("\\Deleted", false),
                    flag("\\Draft", false),
                    flag("\\Flagged", false),
                    flag("$Junk", false),
                ]),
            ),
        ),
        (
            b"A1 SEARCH BEFORE 29-Feb-2024 ON 1-Mar-2024 SENTBEFORE 2-Jan-2000 SENTON 3-Jan-2000 SENTSINCE 4-Jan-2000 SMALLER 5 OLDER 60 YOUNGER 70 MODSEQ 42\r\n"
                .to_vec(),
            search(
                false,
                K::And(vec![
                    K::Before((2024, 2, 29)),
                    K::On((2024, 3, 1)),
                    K::SentBefore((2000, 1, 2)),
                    K::SentOn((2000, 1, 3)),
                    K::SentSince((2000, 1, 4)),
                    K::Smaller(5),
                    K::Older(60),
                    K::Younger(70),
                    K::ModSeq(42),
                ]),
            ),
        ),
        (
            b"A1 SEARCH BCC b BODY \"x y\" CC c TO d TEXT e SUBJECT {3}\r\nf g\r\n".to_vec(),
            search(
                false,
                K::And(vec![
                    K::Bcc(s("b")),
                    K::Body(s("x y")),
                    K::Cc(s("c")),
                    K::To(s("d")),
                    K::Text(s("e")),
                    K::Subject(s("f g")),
                ]),
            ),
        ),
        (
            cat(&[
                b"A1 SEARCH CHARSET UTF-8 SUBJECT {",
                vn_subject.len().to_string().as_bytes(),
                b"}\r\n",
                vn_subject,
                b"\r\n",
            ]),
            search(false, K::Subject(s("Báo cáo tháng Mười"))),
        ),
        (
            "A1 SEARCH CHARSET utf-8 TEXT \"tiếng Việt\"\r\n".as_bytes().to_vec(),
            search(false, K::Text(s("tiếng Việt"))),
        ),
        (
            b"A1 SEARCH CHARSET US-ASCII ALL\r\n".to_vec(),
            search(false, K::All),
        ),
        (
            b"A1 SEARCH RETURN (MIN MAX COUNT) UNSEEN\r\n".to_vec(),
            C::Search {
                uid: false,
                criteria: flag("\\Seen", false),
                ret: SearchReturn {
                    min: true,
                    max: true,
                    count: true,
                    ..Default::default()
                },
            },
        ),
        (
            b"A1 UID SEARCH RETURN () ALL\r\n".to_vec(),
            C::Search {
                uid: true,
                criteria: K::All,
                ret: SearchReturn {
                    esearch: true,
                    ..Default::default()
                },
            },
        ),
        (
            b"A1 UID SEARCH return (all) CHARSET UTF-8 OR SEEN FLAGGED\r\n".to_vec(),
            C::Search {
                uid: true,
                criteria: K::Or(Box::new(flag("\\Seen", true)), Box::new(flag("\\Flagged", true))),
                ret: SearchReturn {
                    all: true,
                    ..Default::default()
                },
            },
        ),
        (
            b"A1 COPY 1:2 Archive\r\n".to_vec(),
            C::Copy {
                uid: false,
                set: seq("1:2"),
                mailbox: s("Archive"),
            },
        ),
        (
            "A1 UID COPY 1 \"Thư mục\"\r\n".as_bytes().to_vec(),
            C::Copy {
                uid: true,
                set: seq("1"),
                mailbox: s("Thư mục"),
            },
        ),
        (
            b"A1 MOVE 1 Trash\r\n".to_vec(),
            C::Move {
                uid: false,
                set: seq("1"),
                mailbox: s("Trash"),
            },
        ),
        (
            b"A1 UID MOVE 1:* \"Junk\"\r\n".to_vec(),
            C::Move {
                uid: true,
                set: seq("1:*"),
                mailbox: s("Junk"),
            },
        ),
        (b"A1 IDLE\r\n".to_vec(), C::Idle),
        (b"A1 GETQUOTA \"\"\r\n".to_vec(), C::GetQuota { root: s("") }),
        (
            b"A1 GETQUOTAROOT INBOX\r\n".to_vec(),
            C::GetQuotaRoot {
                mailbox: s("INBOX"),
            },
        ),
        (
            b"A1 SETQUOTA \"\" (STORAGE 512)\r\n".to_vec(),
            C::SetQuota { root: s("") },
        ),
        // --- ACL (own parser) ------------------------------------------------------------
        (
            b"A1 SETACL INBOX bob lrswi\r\n".to_vec(),
            C::SetAcl {
                mailbox: s("INBOX"),
                identifier: s("bob"),
                rights: s("lrswi"),
            },
        ),
        (
            "A1 SETACL \"Đơn vị\" \"anyone\" +lr\r\n".as_bytes().to_vec(),
            C::SetAcl {
                mailbox: s("Đơn vị"),
                identifier: s("anyone"),
                rights: s("+lr"),
            },
        ),
        (
            b"A1 setacl {7}\r\nShared1 \"bob@example.vn\" \"-w\"\r\n".to_vec(),
            C::SetAcl {
                mailbox: s("Shared1"),
                identifier: s("bob@example.vn"),
                rights: s("-w"),
            },
        ),
        (
            b"A1 GETACL inbox\r\n".to_vec(),
            C::GetAcl {
                mailbox: s("INBOX"),
            },
        ),
        (
            "A1 GETACL \"Hộp thư chung\"\r\n".as_bytes().to_vec(),
            C::GetAcl {
                mailbox: s("Hộp thư chung"),
            },
        ),
        (
            b"A1 DELETEACL INBOX bob\r\n".to_vec(),
            C::DeleteAcl {
                mailbox: s("INBOX"),
                identifier: s("bob"),
            },
        ),
        (
            "A1 DELETEACL \"Phòng Kế toán\" \"bob@example.vn\"\r\n".as_bytes().to_vec(),
            C::DeleteAcl {
                mailbox: s("Phòng Kế toán"),
                identifier: s("bob@example.vn"),
            },
        ),
        (
            b"A1 LISTRIGHTS Shared bob\r\n".to_vec(),
            C::ListRights {
                mailbox: s("Shared"),
                identifier: s("bob"),
            },
        ),
        (
            "A1 LISTRIGHTS \"Công văn\" \"anyone\"\r\n".as_bytes().to_vec(),
            C::ListRights {
                mailbox: s("Công văn"),
                identifier: s("anyone"),
            },
        ),
        (
            b"A1 MYRIGHTS INBOX\r\n".to_vec(),
            C::MyRights {
                mailbox: s("INBOX"),
            },
        ),
        (
            "A1 MYRIGHTS \"Đơn vị\"\r\n".as_bytes().to_vec(),
            C::MyRights {
                mailbox: s("Đơn vị"),
            },
        ),
        // --- framing variants ---------------------------------------------------------------
        (b"A1 NOOP\n".to_vec(), C::Noop),
        (b"A1 NOOP".to_vec(), C::Noop),
        (b"A1 LOGOUT\r\n".to_vec(), C::Logout),
    ];
    // Deeper than imap-codec's search nesting limit (8): handled by our SEARCH parser.
    let names: Vec<String> = (b'a'..=b'j').map(|c| (c as char).to_string()).collect();
    let mut chain = K::From(names[9].clone());
    for n in names[..9].iter().rev() {
        chain = K::Or(Box::new(K::From(n.clone())), Box::new(chain));
    }
    let mut line = String::from("A1 SEARCH");
    for n in &names[..9] {
        line.push_str(&format!(" OR FROM {n}"));
    }
    line.push_str(" FROM j\r\n");
    rows.push((line.into_bytes(), search(false, chain)));
    let mut nots = K::All;
    for _ in 0..12 {
        nots = K::Not(Box::new(nots));
    }
    rows.push((
        format!("A1 UID SEARCH {}ALL\r\n", "NOT ".repeat(12)).into_bytes(),
        search(true, nots),
    ));
    rows.push((
        format!("A1 SEARCH {}UNSEEN{}\r\n", "(".repeat(20), ")".repeat(20)).into_bytes(),
        search(false, flag("\\Seen", false)),
    ));
    rows.push((
        format!(
            "A1 SEARCH RETURN (COUNT) {}OR SEEN (FLAGGED){}\r\n",
            "(".repeat(12),
            ")".repeat(12)
        )
        .into_bytes(),
        C::Search {
            uid: false,
            criteria: K::Or(
                Box::new(flag("\\Seen", true)),
                Box::new(flag("\\Flagged", true)),
            ),
            ret: SearchReturn {
                count: true,
                ..Default::default()
            },
        },
    ));
    rows
}

#[test]
fn table() {
    let rows = rows();
    assert!(rows.len() >= 60, "only {} rows", rows.len());
    let mut failures = Vec::new();
    for (input, expected) in &rows {
        let tag = if input.starts_with(b"a1") { "a1" } else { "A1" };
        let expected = Tagged {
            tag: tag.to_string(),
            command: expected.clone(),
        };
        let got = parse(input);
        if got.as_ref() != Ok(&expected) {
            failures.push(format!(
                "{:?}\n   got {:?}\n  want {:?}",
                String::from_utf8_lossy(input),
                got,
                expected
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// Every `Command` variant appears in the table.
#[test]
fn table_covers_every_variant() {
    let names: std::collections::BTreeSet<String> = rows()
        .iter()
        .map(|(_, c)| {
            let dbg = format!("{c:?}");
            dbg.split(|ch: char| !ch.is_alphanumeric())
                .next()
                .unwrap()
                .to_string()
        })
        .collect();
    for variant in [
        "Capability",
        "Noop",
        "Logout",
        "StartTls",
        "Login",
        "Authenticate",
        "Enable",
        "Id",
        "Namespace",
        "Select",
        "Unselect",
        "Close",
        "Create",
        "Delete",
        "Rename",
        "Subscribe",
        "Unsubscribe",
        "List",
        "Status",
        "Append",
        "Check",
        "Expunge",
        "Search",
        "Fetch",
        "Store",
        "Copy",
        "Move",
        "Idle",
        "GetQuota",
        "GetQuotaRoot",
        "SetQuota",
        "GetAcl",
        "SetAcl",
        "DeleteAcl",
        "ListRights",
        "MyRights",
    ] {
        assert!(names.contains(variant), "no row for {variant}");
    }
}

/// Hostile or malformed inputs: (input, expected tag, expected message prefix).
fn hostile() -> Vec<(Vec<u8>, Option<&'static str>, &'static str)> {
    let deep =
        |n: usize| format!("A1 SEARCH {}ALL{}\r\n", "(".repeat(n), ")".repeat(n)).into_bytes();
    let deep_not = |n: usize| format!("A1 SEARCH {}ALL\r\n", "NOT ".repeat(n)).into_bytes();
    vec![
        (b"".to_vec(), None, "empty command"),
        (b"\r\n".to_vec(), None, "empty command"),
        (b"   \r\n".to_vec(), None, "empty command"),
        (b"A\"1 NOOP\r\n".to_vec(), None, "invalid tag"),
        (b"A+1 NOOP\r\n".to_vec(), None, "invalid tag"),
        (b"* NOOP\r\n".to_vec(), None, "invalid tag"),
        (b"A(1 NOOP\r\n".to_vec(), None, "invalid tag"),
        (b"A\xff1 NOOP\r\n".to_vec(), None, "invalid tag"),
        (b" A1 NOOP\r\n".to_vec(), None, "invalid tag"),
        (b"A1\r\n".to_vec(), Some("A1"), "missing command"),
        (b"A1 \r\n".to_vec(), Some("A1"), "missing command"),
        (
            b"A1 FROB x\r\n".to_vec(),
            Some("A1"),
            "unknown command FROB",
        ),
        (b"A1 DONE\r\n".to_vec(), Some("A1"), "unknown command DONE"),
        (
            b"A1 SORT (NOSUCHKEY) UTF-8 ALL\r\n".to_vec(),
            Some("A1"),
            "unknown sort key NOSUCHKEY",
        ),
        (
            b"A1 UID FROB 1\r\n".to_vec(),
            Some("A1"),
            "unknown command UID FROB",
        ),
        (
            b"A1 UID\r\n".to_vec(),
            Some("A1"),
            "missing command after UID",
        ),
        (
            b"A1 UID \r\n".to_vec(),
            Some("A1"),
            "missing command after UID",
        ),
        (
            b"A1 NOOP extra\r\n".to_vec(),
            Some("A1"),
            "invalid arguments for NOOP",
        ),
        (
            b"A1 SELECT\r\n".to_vec(),
            Some("A1"),
            "missing arguments for SELECT",
        ),
        (
            b"A1 LOGIN alice\r\n".to_vec(),
            Some("A1"),
            "invalid arguments for LOGIN",
        ),
        (
            b"A1 FETCH 1\r\n".to_vec(),
            Some("A1"),
            "invalid arguments for FETCH",
        ),
        (
            b"A1 UID FETCH\r\n".to_vec(),
            Some("A1"),
            "missing arguments for UID FETCH",
        ),
        (
            b"A1 SETACL INBOX\r\n".to_vec(),
            Some("A1"),
            "missing identifier",
        ),
        (
            b"A1 SETACL INBOX bob\r\n".to_vec(),
            Some("A1"),
            "missing rights",
        ),
        (
            b"A1 GETACL\r\n".to_vec(),
            Some("A1"),
            "missing mailbox name",
        ),
        (
            b"A1 MYRIGHTS INBOX extra\r\n".to_vec(),
            Some("A1"),
            "unexpected characters",
        ),
        (
            b"A1 SETACL INBOX bob LR!\r\n".to_vec(),
            Some("A1"),
            "invalid rights",
        ),
        (b"A1 LIST\r\n".to_vec(), Some("A1"), "missing reference"),
        (
            b"A1 LIST \"\"\r\n".to_vec(),
            Some("A1"),
            "missing mailbox pattern",
        ),
        (
            b"A1 CREATE\r\n".to_vec(),
            Some("A1"),
            "missing mailbox name",
        ),
        (
            b"A1 APPEND INBOX\r\n".to_vec(),
            Some("A1"),
            "missing message literal",
        ),
        // unbalanced parentheses
        (
            b"A1 SEARCH (ALL\r\n".to_vec(),
            Some("A1"),
            "unbalanced parentheses",
        ),
        (
            b"A1 SEARCH ALL)\r\n".to_vec(),
            Some("A1"),
            "unexpected characters",
        ),
        (
            b"A1 FETCH 1 (FLAGS\r\n".to_vec(),
            Some("A1"),
            "invalid arguments for FETCH",
        ),
        (
            b"A1 STORE 1 FLAGS (\\Seen\r\n".to_vec(),
            Some("A1"),
            "invalid arguments for STORE",
        ),
        (
            b"A1 LIST (SPECIAL-USE \"\" \"*\"\r\n".to_vec(),
            Some("A1"),
            "",
        ),
        (
            b"A1 LIST \"\" (\"INBOX\"\r\n".to_vec(),
            Some("A1"),
            "unbalanced parentheses",
        ),
        (
            b"A1 LIST \"\" * RETURN (CHILDREN\r\n".to_vec(),
            Some("A1"),
            "unbalanced parentheses",
        ),
        (
            b"A1 CREATE x (USE (\\Sent)\r\n".to_vec(),
            Some("A1"),
            "unbalanced parentheses",
        ),
        (b"A1 SEARCH RETURN (MIN ALL\r\n".to_vec(), Some("A1"), ""),
        // nesting
        (deep(10_000), Some("A1"), "too deeply nested"),
        (deep(65), Some("A1"), "too deeply nested"),
        (deep(64), Some("A1"), "too deeply nested"),
        (deep_not(10_000), Some("A1"), "too deeply nested"),
        (deep_not(64), Some("A1"), "too deeply nested"),
        (
            format!(
                "A1 UID SEARCH RETURN () {}ALL{}\r\n",
                "(".repeat(10_000),
                ")".repeat(10_000)
            )
            .into_bytes(),
            Some("A1"),
            "too deeply nested",
        ),
        (
            format!("A1 SEARCH {}\r\n", "(".repeat(100_000)).into_bytes(),
            Some("A1"),
            "too deeply nested",
        ),
        (
            b"A1 SEARCH\r\n".to_vec(),
            Some("A1"),
            "missing search criteria",
        ),
        (
            b"A1 SEARCH FROB\r\n".to_vec(),
            Some("A1"),
            "unknown search key FROB",
        ),
        (
            b"A1 SEARCH FROM\r\n".to_vec(),
            Some("A1"),
            "missing search string",
        ),
        (
            b"A1 SEARCH OR SEEN\r\n".to_vec(),
            Some("A1"),
            "missing search key",
        ),
        (
            b"A1 SEARCH SINCE 31-Feb-2024\r\n".to_vec(),
            Some("A1"),
            "invalid date",
        ),
        (
            b"A1 SEARCH SINCE 1-Feb-24\r\n".to_vec(),
            Some("A1"),
            "invalid date",
        ),
        (
            b"A1 SEARCH LARGER 99999999999\r\n".to_vec(),
            Some("A1"),
            "size out of range",
        ),
        (
            b"A1 SEARCH 0:5\r\n".to_vec(),
            Some("A1"),
            "invalid sequence number",
        ),
        (
            b"A1 SEARCH UID 1:$\r\n".to_vec(),
            Some("A1"),
            "invalid sequence number",
        ),
        (
            b"A1 SEARCH KEYWORD \\Seen\r\n".to_vec(),
            Some("A1"),
            "invalid keyword",
        ),
        (
            b"A1 SEARCH YOUNGER 0\r\n".to_vec(),
            Some("A1"),
            "interval out of range",
        ),
        (
            b"A1 SEARCH SUBJECT \xff\r\n".to_vec(),
            Some("A1"),
            "invalid search string",
        ),
        (
            b"A1 SEARCH ()\r\n".to_vec(),
            Some("A1"),
            "empty search criteria",
        ),
        (
            b"A1 SEARCH ALL  SEEN\r\n".to_vec(),
            Some("A1"),
            "invalid search key",
        ),
        // 8-bit garbage
        (
            b"A1 SELECT \xff\xfe\r\n".to_vec(),
            Some("A1"),
            "invalid arguments for SELECT",
        ),
        (
            b"A1 LOGIN \xc3\x28 pw\r\n".to_vec(),
            Some("A1"),
            "invalid arguments for LOGIN",
        ),
        (
            b"A1 SELECT \"\xc3\x28\"\r\n".to_vec(),
            Some("A1"),
            "invalid arguments for SELECT",
        ),
        (
            b"A1 GETACL \xff\r\n".to_vec(),
            Some("A1"),
            "invalid mailbox name",
        ),
        (
            b"A1 GETACL \"\xff\"\r\n".to_vec(),
            Some("A1"),
            "invalid UTF-8",
        ),
        (
            b"A1 FETCH 1 (FLAGS \xe1\xba)\r\n".to_vec(),
            Some("A1"),
            "invalid arguments",
        ),
        (b"A1 \xff\xfe x\r\n".to_vec(), Some("A1"), "unknown command"),
        // charsets and semantics
        (
            b"A1 SEARCH CHARSET ISO-8859-1 ALL\r\n".to_vec(),
            Some("A1"),
            "BADCHARSET",
        ),
        (
            b"A1 UID SEARCH RETURN (COUNT) CHARSET KOI8-R ALL\r\n".to_vec(),
            Some("A1"),
            "BADCHARSET",
        ),
        (
            b"A1 SEARCH RETURN (SAVE) ALL\r\n".to_vec(),
            Some("A1"),
            "unsupported RETURN option",
        ),
        (
            b"A1 SEARCH RETURN (MIN)\r\n".to_vec(),
            Some("A1"),
            "missing search criteria",
        ),
        (
            b"A1 FETCH 1 (FLAGS) (CHANGEDSINCE 5 VANISHED)\r\n".to_vec(),
            Some("A1"),
            "VANISHED requires UID FETCH",
        ),
        (
            b"A1 UID FETCH 1 (FLAGS) (VANISHED)\r\n".to_vec(),
            Some("A1"),
            "VANISHED requires UID FETCH",
        ),
        (
            b"A1 FETCH 1 ()\r\n".to_vec(),
            Some("A1"),
            "empty fetch attribute list",
        ),
        (
            b"A1 FETCH 99999999999 FLAGS\r\n".to_vec(),
            Some("A1"),
            "invalid arguments",
        ),
        (
            b"A1 FETCH 0 FLAGS\r\n".to_vec(),
            Some("A1"),
            "invalid arguments",
        ),
        (
            b"A1 STATUS INBOX (DELETED-STORAGE)\r\n".to_vec(),
            Some("A1"),
            "status item",
        ),
        (
            b"A1 STATUS INBOX ()\r\n".to_vec(),
            Some("A1"),
            "missing status items",
        ),
        (
            b"A1 CREATE x (USE (\\Sent \\Trash))\r\n".to_vec(),
            Some("A1"),
            "only one special-use",
        ),
        (
            b"A1 CREATE x (FOO (\\Sent))\r\n".to_vec(),
            Some("A1"),
            "unknown CREATE parameter",
        ),
        (
            b"A1 LIST (RECURSIVEMATCH) \"\" \"*\"\r\n".to_vec(),
            Some("A1"),
            "RECURSIVEMATCH needs",
        ),
        // RFC 5258 3: "or only with REMOTE".
        (
            b"A1 LIST (RECURSIVEMATCH REMOTE) \"\" \"*\"\r\n".to_vec(),
            Some("A1"),
            "RECURSIVEMATCH needs",
        ),
        (
            b"A1 LIST (FOO) \"\" \"*\"\r\n".to_vec(),
            Some("A1"),
            "unknown selection option",
        ),
        (
            b"A1 LIST \"\" \"*\" RETURN (FOO)\r\n".to_vec(),
            Some("A1"),
            "unknown return option",
        ),
        (
            b"A1 LIST \"\" \"*\" RETURN (STATUS (BOGUS))\r\n".to_vec(),
            Some("A1"),
            "unknown status item",
        ),
        (
            b"A1 APPEND INBOX UTF8 ({5}\r\nhello)\r\n".to_vec(),
            Some("A1"),
            "UTF8 data must be a literal8",
        ),
        (
            b"A1 APPEND INBOX () \"31-Feb-2024 00:00:00 +0700\" {5}\r\nhello\r\n".to_vec(),
            Some("A1"),
            "invalid date-time",
        ),
        (
            b"A1 APPEND INBOX {3}\r\na\0b\r\n".to_vec(),
            Some("A1"),
            "NUL in literal",
        ),
        // literal framing
        (
            b"A1 LOGIN a {3}\r\n".to_vec(),
            Some("A1"),
            "literal data missing",
        ),
        (
            b"A1 LOGIN a {10}\r\nabc\r\n".to_vec(),
            Some("A1"),
            "incomplete command",
        ),
        (
            b"A1 GETACL {10}\r\nabc\r\n".to_vec(),
            Some("A1"),
            "literal data missing",
        ),
        (
            b"A1 NOOP\r\nA2 NOOP\r\n".to_vec(),
            Some("A1"),
            "unexpected characters after",
        ),
    ]
}

#[test]
fn hostile_inputs() {
    let mut failures = Vec::new();
    for (input, tag, prefix) in hostile() {
        let got = parse(&input);
        let ok = match &got {
            Err(e) => e.tag.as_deref() == tag && e.message.starts_with(prefix),
            Ok(_) => false,
        };
        if !ok {
            let shown: String = String::from_utf8_lossy(&input).chars().take(80).collect();
            failures.push(format!(
                "{shown:?}\n   got {got:?}\n  want {tag:?} {prefix:?}"
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// Truncations and byte flips of every table row never panic and never hang.
#[test]
fn mutations_do_not_panic() {
    let mut inputs: Vec<Vec<u8>> = rows().into_iter().map(|(i, _)| i).collect();
    inputs.extend(
        hostile()
            .into_iter()
            .map(|(i, _, _)| i)
            .filter(|i| i.len() < 500),
    );
    let mut seed: u32 = 0x9e37_79b9;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 17;
        seed ^= seed << 5;
        seed
    };
    let specials = [
        b'(', b')', b'{', b'}', b'"', b'\\', b' ', b'\r', b'\n', 0, 0xff, b'~', b'+', b'*',
    ];
    for input in &inputs {
        for cut in 0..=input.len() {
            check_no_panic(&input[..cut]);
        }
        for _ in 0..40 {
            let mut m = input.clone();
            if m.is_empty() {
                continue;
            }
            let at = next() as usize % m.len();
            m[at] = specials[next() as usize % specials.len()];
            check_no_panic(&m);
        }
    }
}

fn check_no_panic(input: &[u8]) {
    if let Err(e) = parse(input) {
        assert_ne!(
            e.message,
            "internal parser error",
            "panic inside a parser for {:?}",
            String::from_utf8_lossy(input)
        );
    }
}

/// The hand-written LIST / CREATE / APPEND parsers agree with imap-codec on the basic forms.
#[test]
fn own_parsers_agree_with_codec() {
    type Parser = fn(&mut Cursor<'_>) -> Result<Command, String>;
    let cases: &[(&[u8], Parser)] = &[
        (b"A1 LIST \"\" \"*\"\r\n", list::parse),
        (b"A1 LIST inbox %\r\n", list::parse),
        (b"A1 LIST \"a b\" {3}\r\nx.*\r\n", list::parse),
        ("A1 CREATE \"Thư mục\"\r\n".as_bytes(), create::parse),
        (b"A1 CREATE inbox\r\n", create::parse),
        (
            b"A1 APPEND INBOX (\\Seen $X) \"17-Jul-1996 02:44:25 -0700\" {5}\r\nhello\r\n",
            append::parse,
        ),
        (b"A1 APPEND Sent ~{3}\r\na\0b\r\n", append::parse),
        (b"A1 APPEND Sent () {0}\r\n\r\n", append::parse),
    ];
    for (input, own) in cases {
        let name_end = 3 + input[3..].iter().position(|&b| b == b' ').unwrap();
        let name = String::from_utf8_lossy(&input[3..name_end]).to_string();
        let via_codec = codec(input, &name).unwrap();
        let via_own = own(&mut Cursor::new(&input[name_end..])).unwrap();
        assert_eq!(via_codec, via_own, "{}", String::from_utf8_lossy(input));
    }
}

#[test]
fn parse_error_display() {
    let e = parse(b"A1 FROB\r\n").unwrap_err();
    assert_eq!(e.to_string(), "A1: unknown command FROB");
    let e = parse(b"*\r\n").unwrap_err();
    assert_eq!(e.to_string(), "invalid tag");
}

/// Our SEARCH parser (the fallback for what imap-codec refuses) gives the expected result on
/// every plain SEARCH row, and the same as imap-codec wherever imap-codec accepts the row.
#[test]
fn own_search_parser_agrees_with_codec() {
    let mut compared = 0;
    for (input, expected) in rows() {
        let Command::Search { uid, .. } = &expected else {
            continue;
        };
        let text = String::from_utf8_lossy(&input).to_ascii_uppercase();
        if text.contains("RETURN") {
            continue;
        }
        let name = if *uid { "UID SEARCH" } else { "SEARCH" };
        let name_end = 3 + name.len();
        let own = search_keys::parse(&mut Cursor::new(&input[name_end..]), *uid);
        assert_eq!(
            own.as_ref(),
            Ok(&expected),
            "{}",
            String::from_utf8_lossy(&input)
        );
        if let Ok(via_codec) = codec(&input, name) {
            assert_eq!(via_codec, expected);
            compared += 1;
        }
    }
    assert!(compared >= 10, "only {compared} rows compared");
}

/// Rows deeper than 8 levels really are refused by imap-codec (so the fallback matters).
#[test]
fn codec_search_nesting_limit() {
    let ok = format!("A1 SEARCH {}ALL\r\n", "NOT ".repeat(8));
    assert!(codec(ok.as_bytes(), "SEARCH").is_ok());
    let deep = format!("A1 SEARCH {}ALL\r\n", "NOT ".repeat(9));
    assert!(codec(deep.as_bytes(), "SEARCH").is_err());
    assert!(parse(deep.as_bytes()).is_ok());
}
