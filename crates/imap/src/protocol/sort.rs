//! RFC 5256 SORT and THREAD, with RFC 5267's extended SORT (`RETURN (...)`) and CANCELUPDATE,
//! and RFC 5957's DISPLAYFROM / DISPLAYTO. imap-codec knows plain SORT and THREAD only, so the
//! whole family is parsed here (the search keys by [`super::search_keys`]):
//!
//! ```abnf
//! sort           = ["UID" SP] "SORT" [search-return-opts] SP sort-criteria SP search-criteria
//! sort-criteria  = "(" sort-criterion *(SP sort-criterion) ")"
//! sort-criterion = ["REVERSE" SP] sort-key
//! sort-key       = "ARRIVAL" / "CC" / "DATE" / "FROM" / "SIZE" / "SUBJECT" / "TO" /
//!                  "DISPLAYFROM" / "DISPLAYTO"                       ; RFC 5957 5
//! thread         = ["UID" SP] "THREAD" SP thread-alg SP search-criteria
//! thread-alg     = "ORDEREDSUBJECT" / "REFERENCES" / thread-alg-ext
//! search-criteria = charset 1*(SP search-key)
//! command-select =/ "CANCELUPDATE" 1*(SP quoted)                     ; RFC 5267 5
//! ```

use super::esearch;
use super::lexer::{Cursor, PResult};
use super::search_keys;
use super::types::{Command, SortCriterion, SortKey, ThreadAlgorithm};

/// Most sort criteria in one SORT (each key once, each possibly reversed, is 9).
pub const MAX_SORT_CRITERIA: usize = 16;
/// Most tags in one CANCELUPDATE.
pub const MAX_CANCEL_TAGS: usize = 64;

/// `name` is the upper-cased command name (`SORT`, `UID SORT`, `THREAD`, `UID THREAD`,
/// `CANCELUPDATE`); the cursor stands right after it.
pub(crate) fn parse(name: &str, c: &mut Cursor<'_>) -> PResult<Command> {
    let uid = name.starts_with("UID ");
    match name.trim_start_matches("UID ") {
        "SORT" => {
            c.sp("sort criteria")?;
            let ret = if c.keyword("RETURN") {
                c.sp("return options")?;
                let ret = esearch::options(c)?;
                c.sp("sort criteria")?;
                Some(ret)
            } else {
                None
            };
            let criteria = sort_criteria(c)?;
            c.sp("charset")?;
            search_keys::charset(c)?;
            c.sp("search criteria")?;
            Ok(Command::Sort {
                uid,
                criteria,
                search: search_keys::criteria(c)?,
                ret,
            })
        }
        "THREAD" => {
            c.sp("threading algorithm")?;
            let word = c.atom("threading algorithm")?.to_ascii_uppercase();
            let algorithm = match word.as_str() {
                "ORDEREDSUBJECT" => ThreadAlgorithm::OrderedSubject,
                "REFERENCES" => ThreadAlgorithm::References,
                _ => {
                    return Err(format!(
                        "unsupported threading algorithm {}",
                        word.chars().take(32).collect::<String>()
                    ))
                }
            };
            c.sp("charset")?;
            search_keys::charset(c)?;
            c.sp("search criteria")?;
            Ok(Command::Thread {
                uid,
                algorithm,
                search: search_keys::criteria(c)?,
            })
        }
        _ => {
            let mut tags = vec![];
            while c.eat(b' ') {
                if tags.len() == MAX_CANCEL_TAGS {
                    return Err("too many tags".to_string());
                }
                tags.push(c.quoted()?);
            }
            if tags.is_empty() {
                return Err("missing tag".to_string());
            }
            c.end()?;
            Ok(Command::CancelUpdate { tags })
        }
    }
}

fn sort_criteria(c: &mut Cursor<'_>) -> PResult<Vec<SortCriterion>> {
    let mut criteria = vec![];
    c.paren_list("sort criteria", false, |c| {
        if criteria.len() == MAX_SORT_CRITERIA {
            return Err("too many sort criteria".to_string());
        }
        let reverse = c.keyword("REVERSE");
        if reverse {
            c.sp("sort key")?;
        }
        let word = c.atom("sort key")?.to_ascii_uppercase();
        let key = match word.as_str() {
            "ARRIVAL" => SortKey::Arrival,
            "CC" => SortKey::Cc,
            "DATE" => SortKey::Date,
            "FROM" => SortKey::From,
            "SIZE" => SortKey::Size,
            "SUBJECT" => SortKey::Subject,
            "TO" => SortKey::To,
            "DISPLAYFROM" => SortKey::DisplayFrom,
            "DISPLAYTO" => SortKey::DisplayTo,
            _ => {
                return Err(format!(
                    "unknown sort key {}",
                    word.chars().take(32).collect::<String>()
                ))
            }
        };
        criteria.push(SortCriterion { reverse, key });
        Ok(())
    })?;
    Ok(criteria)
}

#[cfg(test)]
mod tests {
    use super::super::{parse, Command, SearchKey, SearchReturn, SortCriterion, SortKey};
    use super::super::{SeqBound, SequenceSet, ThreadAlgorithm};

    fn ok(line: &str) -> Command {
        parse(format!("{line}\r\n").as_bytes())
            .unwrap_or_else(|e| panic!("{line}: {e}"))
            .command
    }

    fn err(line: &str) -> String {
        parse(format!("{line}\r\n").as_bytes())
            .expect_err(line)
            .message
    }

    fn asc(key: SortKey) -> SortCriterion {
        SortCriterion {
            reverse: false,
            key,
        }
    }

    /// Expected values worked out from RFC 5256 5, RFC 5957 5 and RFC 5267 5.
    #[test]
    fn sort_thread_cancelupdate() {
        // RFC 5256 3 examples.
        assert_eq!(
            ok("A282 SORT (SUBJECT) UTF-8 SINCE 1-Feb-1994"),
            Command::Sort {
                uid: false,
                criteria: vec![asc(SortKey::Subject)],
                search: SearchKey::Since((1994, 2, 1)),
                ret: None,
            }
        );
        assert_eq!(
            ok("A283 SORT (SUBJECT REVERSE DATE) UTF-8 ALL"),
            Command::Sort {
                uid: false,
                criteria: vec![
                    asc(SortKey::Subject),
                    SortCriterion {
                        reverse: true,
                        key: SortKey::Date
                    }
                ],
                search: SearchKey::All,
                ret: None,
            }
        );
        assert_eq!(
            ok("A284 SORT (SUBJECT) US-ASCII TEXT \"not in mailbox\""),
            Command::Sort {
                uid: false,
                criteria: vec![asc(SortKey::Subject)],
                search: SearchKey::Text("not in mailbox".into()),
                ret: None,
            }
        );
        // RFC 5957 keys, lower case, quoted charset, UID.
        assert_eq!(
            ok("a uid sort (displayfrom DISPLAYTO) \"UTF-8\" 1:* UNSEEN"),
            Command::Sort {
                uid: true,
                criteria: vec![asc(SortKey::DisplayFrom), asc(SortKey::DisplayTo)],
                search: SearchKey::And(vec![
                    SearchKey::SequenceSet(SequenceSet(vec![(SeqBound::Value(1), SeqBound::Star)])),
                    SearchKey::Flag("\\Seen".into(), false),
                ]),
                ret: None,
            }
        );
        // RFC 5267 3.3: `UID SORT RETURN () (REVERSE DATE) UTF-8 UNDELETED UNKEYWORD $Junk`.
        assert_eq!(
            ok("E01 UID SORT RETURN () (REVERSE DATE) UTF-8 UNDELETED UNKEYWORD $Junk"),
            Command::Sort {
                uid: true,
                criteria: vec![SortCriterion {
                    reverse: true,
                    key: SortKey::Date
                }],
                search: SearchKey::And(vec![
                    SearchKey::Flag("\\Deleted".into(), false),
                    SearchKey::Flag("$Junk".into(), false),
                ]),
                ret: Some(SearchReturn {
                    esearch: true,
                    ..SearchReturn::default()
                }),
            }
        );
        // RFC 5267 4.3, 4.4: UPDATE, CONTEXT, PARTIAL (500:400 is 400:500).
        let Command::Sort { ret: Some(ret), .. } =
            ok("B02 UID SORT RETURN (UPDATE COUNT CONTEXT PARTIAL 500:400) (DATE) UTF-8 ALL")
        else {
            panic!("extended sort")
        };
        assert_eq!(
            ret,
            SearchReturn {
                update: true,
                count: true,
                context: true,
                partial: Some((400, 500)),
                ..SearchReturn::default()
            }
        );
        let Command::Search { ret, .. } = ok("A02 UID SEARCH RETURN (PARTIAL 23500:24000) ALL")
        else {
            panic!("search")
        };
        assert_eq!(ret.partial, Some((23500, 24000)));
        assert!(ret.is_contextual());
        // RFC 5256 3 THREAD examples.
        assert_eq!(
            ok("A283 THREAD ORDEREDSUBJECT UTF-8 SINCE 5-MAR-2000"),
            Command::Thread {
                uid: false,
                algorithm: ThreadAlgorithm::OrderedSubject,
                search: SearchKey::Since((2000, 3, 5)),
            }
        );
        assert_eq!(
            ok("A285 UID THREAD REFERENCES UTF-8 ALL"),
            Command::Thread {
                uid: true,
                algorithm: ThreadAlgorithm::References,
                search: SearchKey::All,
            }
        );
        // RFC 5267 4.3.5.
        assert_eq!(
            ok("B04 CANCELUPDATE \"B01\" \"B02\""),
            Command::CancelUpdate {
                tags: vec!["B01".into(), "B02".into()]
            }
        );
    }

    #[test]
    fn refusals() {
        // The charset is mandatory (RFC 5256 3).
        assert_eq!(
            err("A SORT (DATE) ALL"),
            "BADCHARSET charset ALL not supported"
        );
        assert_eq!(
            err("A SORT (DATE) KOI8-R ALL"),
            "BADCHARSET charset KOI8-R not supported"
        );
        assert_eq!(err("A SORT (DATE) UTF-8"), "missing search criteria");
        assert_eq!(err("A SORT () UTF-8 ALL"), "empty sort criteria");
        assert_eq!(
            err("A SORT (REVERSE) UTF-8 ALL"),
            "expected a space before sort key"
        );
        assert_eq!(err("A SORT DATE UTF-8 ALL"), "expected sort criteria");
        assert!(
            err(&format!("A SORT ({}) UTF-8 ALL", ["DATE"; 17].join(" ")))
                .starts_with("too many sort criteria")
        );
        assert_eq!(
            err("A THREAD JWZ UTF-8 ALL"),
            "unsupported threading algorithm JWZ"
        );
        // RFC 5267 4.4: PARTIAL and ALL exclude each other; partial-range is nz-number:nz-number.
        assert_eq!(
            err("A SORT RETURN (ALL PARTIAL 1:5) (DATE) UTF-8 ALL"),
            "PARTIAL and ALL cannot be combined"
        );
        assert!(err("A SEARCH RETURN (PARTIAL 0:5) ALL").starts_with("invalid partial range"));
        assert!(err("A SEARCH RETURN (PARTIAL 1:*) ALL").starts_with("invalid partial range"));
        assert!(err("A SEARCH RETURN (PARTIAL -1:-5) ALL").starts_with("invalid partial range"));
        assert_eq!(err("A CANCELUPDATE"), "missing tag");
        assert_eq!(err("A CANCELUPDATE B01"), "expected a quoted string");
    }
}
