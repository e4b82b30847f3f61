//! The checked program: every command and test known, arguments typed, `require` obeyed
//! (RFC 5228 3.2: an extension used without being required is an error), bounds kept.

use std::collections::BTreeSet;

use crate::compare::{Comparator, MatchType, Matcher, Relation};
use crate::date::DatePart;
use crate::syntax::{Argument, CommandNode, TestNode};
use crate::{lexer, syntax, Error, Limits, EXTENSIONS};

/// A compiled script.
#[derive(Debug, Clone, PartialEq)]
pub struct Program {
    pub commands: Vec<Command>,
    /// The extensions the script required.
    pub required: BTreeSet<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Command {
    pub kind: CommandKind,
    pub line: usize,
}

#[derive(Debug, Clone, PartialEq)]
pub enum CommandKind {
    /// `if`/`elsif` branches in order, then `else`.
    If {
        branches: Vec<(Test, Vec<Command>)>,
        otherwise: Option<Vec<Command>>,
    },
    Stop,
    Keep {
        flags: Option<Vec<String>>,
    },
    Discard,
    FileInto {
        mailbox: String,
        /// RFC 5490 3.2.
        create: bool,
        /// RFC 3894.
        copy: bool,
        flags: Option<Vec<String>>,
    },
    Redirect {
        address: String,
        copy: bool,
    },
    /// RFC 5232 5: the internal flags variable.
    SetFlag(Vec<String>),
    AddFlag(Vec<String>),
    RemoveFlag(Vec<String>),
    Vacation(Box<Vacation>),
}

/// RFC 5230 4.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Vacation {
    pub days: u64,
    pub subject: Option<String>,
    pub from: Option<String>,
    pub addresses: Vec<String>,
    /// The reason is a MIME entity (header fields and body).
    pub mime: bool,
    pub handle: Option<String>,
    pub reason: String,
}

pub use crate::address::AddressPart;

/// The envelope parts of RFC 5228 5.4 this server knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EnvelopePart {
    From,
    To,
}

/// Which zone a `date` test reads the date in (RFC 5260 4).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Zone {
    /// The server's local zone.
    Local,
    /// Offset east of UTC in minutes.
    Fixed(i32),
    /// The zone written in the header field.
    Original,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Test {
    True,
    False,
    Not(Box<Test>),
    AllOf(Vec<Test>),
    AnyOf(Vec<Test>),
    Header {
        matcher: Matcher,
        names: Vec<String>,
        keys: Vec<String>,
    },
    Address {
        matcher: Matcher,
        part: AddressPart,
        names: Vec<String>,
        keys: Vec<String>,
    },
    Envelope {
        matcher: Matcher,
        part: AddressPart,
        names: Vec<EnvelopePart>,
        keys: Vec<String>,
    },
    Exists(Vec<String>),
    Size {
        over: bool,
        limit: u64,
    },
    /// RFC 5232 4: flags of the internal variable.
    HasFlag {
        matcher: Matcher,
        keys: Vec<String>,
    },
    /// RFC 5490 3.1.
    MailboxExists(Vec<String>),
    /// RFC 5260 5.
    CurrentDate {
        matcher: Matcher,
        zone: Zone,
        part: DatePart,
        keys: Vec<String>,
    },
    /// RFC 5260 4.
    Date {
        matcher: Matcher,
        zone: Zone,
        header: String,
        part: DatePart,
        keys: Vec<String>,
    },
}

/// Parses and checks a script. The error names the line.
pub fn compile(script: &str, limits: &Limits) -> Result<Program, Error> {
    if script.len() > limits.max_script_bytes {
        return Err(Error::new(
            1,
            format!(
                "script of {} bytes is larger than {} bytes",
                script.len(),
                limits.max_script_bytes
            ),
        ));
    }
    let tokens = lexer::tokenize(script)?;
    let nodes = syntax::parse(&tokens, limits)?;
    let mut checker = Checker {
        required: BTreeSet::new(),
        limits,
    };
    let mut nodes = nodes.into_iter().peekable();
    // RFC 5228 3.2: require only at the start.
    while let Some(node) = nodes.next_if(|n| n.name == "require") {
        checker.require(&node)?;
    }
    let rest: Vec<CommandNode> = nodes.collect();
    let commands = checker.block(rest)?;
    Ok(Program {
        commands,
        required: checker.required,
    })
}

struct Checker<'a> {
    required: BTreeSet<String>,
    limits: &'a Limits,
}

/// Arguments of one command or test, taken from the front as the grammar goes.
struct Arguments {
    items: std::collections::VecDeque<Argument>,
    line: usize,
    what: String,
}

impl Arguments {
    fn new(arguments: Vec<Argument>, line: usize, what: &str) -> Arguments {
        Arguments {
            items: arguments.into(),
            line,
            what: what.to_string(),
        }
    }

    fn error(&self, message: impl std::fmt::Display) -> Error {
        Error::new(self.line, format!("{}: {message}", self.what))
    }

    /// The next tag, if the next argument is one.
    fn tag(&mut self) -> Option<String> {
        match self.items.front() {
            Some(Argument::Tag(tag)) => {
                let tag = tag.clone();
                self.items.pop_front();
                Some(tag)
            }
            _ => None,
        }
    }

    fn strings(&mut self, what: &str) -> Result<Vec<String>, Error> {
        match self.items.pop_front() {
            Some(Argument::Strings(list)) => Ok(list),
            _ => Err(self.error(format!("expected {what}"))),
        }
    }

    fn string(&mut self, what: &str) -> Result<String, Error> {
        let list = self.strings(what)?;
        match <[String; 1]>::try_from(list) {
            Ok([one]) => Ok(one),
            Err(_) => Err(self.error(format!("{what} must be a single string"))),
        }
    }

    fn number(&mut self, what: &str) -> Result<u64, Error> {
        match self.items.pop_front() {
            Some(Argument::Number(n)) => Ok(n),
            _ => Err(self.error(format!("expected {what}"))),
        }
    }

    fn done(&self) -> Result<(), Error> {
        match self.items.front() {
            None => Ok(()),
            Some(Argument::Tag(tag)) => Err(self.error(format!("unexpected :{tag}"))),
            Some(_) => Err(self.error("too many arguments")),
        }
    }
}

/// Comparator, match type and address part, in any order before the positional arguments.
#[derive(Default)]
struct Common {
    comparator: Option<Comparator>,
    match_type: Option<MatchType>,
    part: Option<AddressPart>,
}

impl Checker<'_> {
    fn need(&self, extension: &str, line: usize, what: &str) -> Result<(), Error> {
        if self.required.contains(extension) {
            Ok(())
        } else {
            Err(Error::new(
                line,
                format!("{what} needs require \"{extension}\""),
            ))
        }
    }

    fn require(&mut self, node: &CommandNode) -> Result<(), Error> {
        if node.block.is_some() || !node.tests.is_empty() {
            return Err(Error::new(node.line, "require takes a string list"));
        }
        let mut args = Arguments::new(node.arguments.clone(), node.line, "require");
        for extension in args.strings("a list of extensions")? {
            // RFC 5228 3.2: a script that requires an unknown extension fails to compile.
            if !EXTENSIONS.contains(&extension.as_str()) {
                return Err(Error::new(
                    node.line,
                    format!("unsupported extension \"{extension}\""),
                ));
            }
            self.required.insert(extension);
        }
        args.done()
    }

    fn block(&mut self, nodes: Vec<CommandNode>) -> Result<Vec<Command>, Error> {
        let mut commands: Vec<Command> = vec![];
        let mut nodes = nodes.into_iter().peekable();
        while let Some(node) = nodes.next() {
            let line = node.line;
            let kind = match node.name.as_str() {
                "if" => {
                    let mut branches = vec![self.branch(node)?];
                    let mut otherwise = None;
                    while let Some(next) = nodes.next_if(|n| n.name == "elsif" || n.name == "else")
                    {
                        if next.name == "elsif" {
                            branches.push(self.branch(next)?);
                        } else {
                            if !next.arguments.is_empty() || !next.tests.is_empty() {
                                return Err(Error::new(next.line, "else takes no arguments"));
                            }
                            let Some(block) = next.block else {
                                return Err(Error::new(next.line, "else needs a block"));
                            };
                            otherwise = Some(self.block(block)?);
                            break;
                        }
                    }
                    CommandKind::If {
                        branches,
                        otherwise,
                    }
                }
                // RFC 5228 3.1: elsif and else only after if.
                "elsif" | "else" => {
                    return Err(Error::new(
                        line,
                        format!("{} without a preceding if", node.name),
                    ))
                }
                "require" => {
                    return Err(Error::new(
                        line,
                        "require is only allowed at the start of the script",
                    ))
                }
                _ => self.action(node)?,
            };
            commands.push(Command { kind, line });
        }
        Ok(commands)
    }

    fn branch(&mut self, node: CommandNode) -> Result<(Test, Vec<Command>), Error> {
        if !node.arguments.is_empty() || node.test_list || node.tests.len() != 1 {
            return Err(Error::new(
                node.line,
                format!("{} needs exactly one test", node.name),
            ));
        }
        let Some(block) = node.block else {
            return Err(Error::new(
                node.line,
                format!("{} needs a block", node.name),
            ));
        };
        let test = self.test(node.tests.into_iter().next().expect("one test"))?;
        Ok((test, self.block(block)?))
    }

    fn action(&mut self, node: CommandNode) -> Result<CommandKind, Error> {
        let line = node.line;
        let name = node.name.clone();
        if node.block.is_some() {
            return Err(Error::new(line, format!("{name} takes no block")));
        }
        if !node.tests.is_empty() {
            return Err(Error::new(line, format!("{name} takes no test")));
        }
        let mut args = Arguments::new(node.arguments, line, &name);
        let kind = match name.as_str() {
            "stop" => CommandKind::Stop,
            "discard" => CommandKind::Discard,
            "keep" => {
                let flags = self.action_tags(&mut args, &[":flags"])?.flags;
                CommandKind::Keep { flags }
            }
            "fileinto" => {
                self.need("fileinto", line, "fileinto")?;
                let tags = self.action_tags(&mut args, &[":flags", ":copy", ":create"])?;
                let mailbox = args.string("a mailbox name")?;
                if mailbox.is_empty() {
                    return Err(args.error("the mailbox name is empty"));
                }
                CommandKind::FileInto {
                    mailbox,
                    create: tags.create,
                    copy: tags.copy,
                    flags: tags.flags,
                }
            }
            "redirect" => {
                let tags = self.action_tags(&mut args, &[":copy"])?;
                let address = args.string("an address")?;
                // RFC 5228 4.2: an invalid address is a syntax error.
                if !valid_address(&address) {
                    return Err(args.error(format!("{address:?} is not a mail address")));
                }
                CommandKind::Redirect {
                    address,
                    copy: tags.copy,
                }
            }
            "setflag" | "addflag" | "removeflag" => {
                self.need("imap4flags", line, &name)?;
                let flags = args.strings("a list of flags")?;
                // The variable-name form needs "variables", which is not offered.
                if !args.items.is_empty() {
                    return Err(args.error("a variable name needs the \"variables\" extension"));
                }
                match name.as_str() {
                    "setflag" => CommandKind::SetFlag(flags),
                    "addflag" => CommandKind::AddFlag(flags),
                    _ => CommandKind::RemoveFlag(flags),
                }
            }
            "vacation" => {
                self.need("vacation", line, "vacation")?;
                CommandKind::Vacation(Box::new(self.vacation(&mut args)?))
            }
            other => return Err(Error::new(line, format!("unknown command \"{other}\""))),
        };
        args.done()?;
        Ok(kind)
    }

    fn action_tags(&mut self, args: &mut Arguments, allowed: &[&str]) -> Result<ActionTags, Error> {
        let mut tags = ActionTags::default();
        let mut seen = BTreeSet::new();
        while let Some(tag) = args.tag() {
            let tag = format!(":{tag}");
            if !allowed.contains(&tag.as_str()) {
                return Err(args.error(format!("unexpected {tag}")));
            }
            if !seen.insert(tag.clone()) {
                return Err(args.error(format!("{tag} given twice")));
            }
            match tag.as_str() {
                ":flags" => {
                    self.need("imap4flags", args.line, ":flags")?;
                    tags.flags = Some(args.strings("a list of flags after :flags")?);
                }
                ":copy" => {
                    self.need("copy", args.line, ":copy")?;
                    tags.copy = true;
                }
                _ => {
                    self.need("mailbox", args.line, ":create")?;
                    tags.create = true;
                }
            }
        }
        Ok(tags)
    }

    fn vacation(&mut self, args: &mut Arguments) -> Result<Vacation, Error> {
        let mut vacation = Vacation {
            days: 7,
            subject: None,
            from: None,
            addresses: vec![],
            mime: false,
            handle: None,
            reason: String::new(),
        };
        let mut seen = BTreeSet::new();
        while let Some(tag) = args.tag() {
            if !seen.insert(tag.clone()) {
                return Err(args.error(format!(":{tag} given twice")));
            }
            match tag.as_str() {
                "days" => {
                    // RFC 5230 4.1: a minimum of 1; the site may cap it.
                    let days = args.number("a number of days after :days")?;
                    vacation.days = days.clamp(1, self.limits.max_vacation_days);
                }
                "subject" => vacation.subject = Some(args.string("a subject after :subject")?),
                "from" => {
                    let from = args.string("an address after :from")?;
                    // RFC 5230 4.3: an invalid :from is an error.
                    if crate::address::parse_list(&from).len() != 1 {
                        return Err(args.error(format!("{from:?} is not a mail address")));
                    }
                    vacation.from = Some(from);
                }
                "addresses" => vacation.addresses = args.strings("addresses after :addresses")?,
                "mime" => vacation.mime = true,
                "handle" => vacation.handle = Some(args.string("a string after :handle")?),
                other => return Err(args.error(format!("unexpected :{other}"))),
            }
        }
        vacation.reason = args.string("the reason")?;
        Ok(vacation)
    }

    fn test(&mut self, node: TestNode) -> Result<Test, Error> {
        let line = node.line;
        let name = node.name.clone();
        let no_subtests = |node: &TestNode| {
            if node.tests.is_empty() {
                Ok(())
            } else {
                Err(Error::new(line, format!("{name} takes no tests")))
            }
        };
        match name.as_str() {
            "true" | "false" | "not" | "allof" | "anyof" => {
                if !node.arguments.is_empty() {
                    return Err(Error::new(line, format!("{name} takes no arguments")));
                }
            }
            _ => no_subtests(&node)?,
        }
        let mut args = Arguments::new(node.arguments, line, &name);
        let test = match name.as_str() {
            "true" => {
                no_subtests_of(&node.tests, line, "true")?;
                Test::True
            }
            "false" => {
                no_subtests_of(&node.tests, line, "false")?;
                Test::False
            }
            "not" => {
                let [one] = <[TestNode; 1]>::try_from(node.tests)
                    .map_err(|_| Error::new(line, "not takes exactly one test"))?;
                Test::Not(Box::new(self.test(one)?))
            }
            "allof" | "anyof" => {
                if node.tests.is_empty() {
                    return Err(Error::new(line, format!("{name} needs a test list")));
                }
                let tests = node
                    .tests
                    .into_iter()
                    .map(|t| self.test(t))
                    .collect::<Result<Vec<_>, _>>()?;
                if name == "allof" {
                    Test::AllOf(tests)
                } else {
                    Test::AnyOf(tests)
                }
            }
            "header" => {
                let common = self.common(&mut args, false)?;
                let names = args.strings("a list of header names")?;
                let keys = args.strings("a key list")?;
                Test::Header {
                    matcher: common.matcher(),
                    names,
                    keys,
                }
            }
            "address" => {
                let common = self.common(&mut args, true)?;
                let names = args.strings("a list of header names")?;
                let keys = args.strings("a key list")?;
                Test::Address {
                    matcher: common.matcher(),
                    part: common.part.unwrap_or(AddressPart::All),
                    names,
                    keys,
                }
            }
            "envelope" => {
                self.need("envelope", line, "envelope")?;
                let common = self.common(&mut args, true)?;
                let mut parts = vec![];
                for part in args.strings("a list of envelope parts")? {
                    parts.push(match part.to_ascii_lowercase().as_str() {
                        "from" => EnvelopePart::From,
                        "to" => EnvelopePart::To,
                        // RFC 5228 5.4: unknown envelope parts are an error.
                        _ => return Err(args.error(format!("unknown envelope part {part:?}"))),
                    });
                }
                let keys = args.strings("a key list")?;
                Test::Envelope {
                    matcher: common.matcher(),
                    part: common.part.unwrap_or(AddressPart::All),
                    names: parts,
                    keys,
                }
            }
            "exists" => Test::Exists(args.strings("a list of header names")?),
            "size" => {
                let over = match args.tag().as_deref() {
                    Some("over") => true,
                    Some("under") => false,
                    _ => return Err(args.error("expected :over or :under")),
                };
                Test::Size {
                    over,
                    limit: args.number("a size")?,
                }
            }
            "hasflag" => {
                self.need("imap4flags", line, "hasflag")?;
                let common = self.common(&mut args, false)?;
                let keys = args.strings("a list of flags")?;
                if !args.items.is_empty() {
                    return Err(args.error("a variable list needs the \"variables\" extension"));
                }
                Test::HasFlag {
                    matcher: common.matcher(),
                    keys,
                }
            }
            "mailboxexists" => {
                self.need("mailbox", line, "mailboxexists")?;
                Test::MailboxExists(args.strings("a list of mailbox names")?)
            }
            "currentdate" | "date" => {
                self.need("date", line, &name)?;
                let mut zone = Zone::Local;
                let mut common = Common::default();
                loop {
                    match args.items.front() {
                        Some(Argument::Tag(tag)) if tag == "zone" => {
                            args.items.pop_front();
                            let text = args.string("a zone after :zone")?;
                            zone =
                                Zone::Fixed(crate::date::parse_zone(&text).ok_or_else(|| {
                                    args.error(format!("{text:?} is not a zone like +0700"))
                                })?);
                        }
                        Some(Argument::Tag(tag)) if tag == "originalzone" && name == "date" => {
                            args.items.pop_front();
                            zone = Zone::Original;
                        }
                        Some(Argument::Tag(_)) => {
                            if !self.common_tag(&mut args, &mut common, false)? {
                                break;
                            }
                        }
                        _ => break,
                    }
                }
                common.check(&args)?;
                let header = if name == "date" {
                    Some(args.string("a header name")?)
                } else {
                    None
                };
                let part_name = args.string("a date part")?;
                let part = DatePart::parse(&part_name)
                    .ok_or_else(|| args.error(format!("unknown date part {part_name:?}")))?;
                let keys = args.strings("a key list")?;
                let matcher = common.matcher();
                match header {
                    Some(header) => Test::Date {
                        matcher,
                        zone,
                        header,
                        part,
                        keys,
                    },
                    None => Test::CurrentDate {
                        matcher,
                        zone,
                        part,
                        keys,
                    },
                }
            }
            other => return Err(Error::new(line, format!("unknown test \"{other}\""))),
        };
        args.done()?;
        Ok(test)
    }

    /// Comparator, match type and (for address tests) address part, in any order.
    fn common(&mut self, args: &mut Arguments, address: bool) -> Result<Common, Error> {
        let mut common = Common::default();
        while matches!(args.items.front(), Some(Argument::Tag(_))) {
            if !self.common_tag(args, &mut common, address)? {
                let tag = args.tag().unwrap_or_default();
                return Err(args.error(format!("unexpected :{tag}")));
            }
        }
        common.check(args)?;
        Ok(common)
    }

    /// Takes one comparator, match-type or address-part tag; false (and nothing taken) for
    /// any other tag.
    fn common_tag(
        &mut self,
        args: &mut Arguments,
        common: &mut Common,
        address: bool,
    ) -> Result<bool, Error> {
        let Some(Argument::Tag(tag)) = args.items.front() else {
            return Ok(false);
        };
        let tag = tag.clone();
        let twice = |args: &Arguments, what: &str| args.error(format!("more than one {what}"));
        match tag.as_str() {
            "comparator" => {
                args.items.pop_front();
                if common.comparator.is_some() {
                    return Err(twice(args, "comparator"));
                }
                let name = args.string("a comparator name")?;
                let comparator = Comparator::parse(&name)
                    .ok_or_else(|| args.error(format!("unknown comparator {name:?}")))?;
                // RFC 5228 2.7.3: comparators other than the two defaults must be required.
                if !matches!(comparator, Comparator::Octet | Comparator::AsciiCasemap) {
                    self.need(
                        &format!("comparator-{name}"),
                        args.line,
                        &format!("comparator {name}"),
                    )?;
                }
                common.comparator = Some(comparator);
            }
            "is" | "contains" | "matches" | "value" | "count" => {
                args.items.pop_front();
                if common.match_type.is_some() {
                    return Err(twice(args, "match type"));
                }
                common.match_type = Some(match tag.as_str() {
                    "is" => MatchType::Is,
                    "contains" => MatchType::Contains,
                    "matches" => MatchType::Matches,
                    _ => {
                        self.need("relational", args.line, &format!(":{tag}"))?;
                        let op = args.string("a relational operator")?;
                        let relation = Relation::parse(&op).ok_or_else(|| {
                            args.error(format!("unknown relational operator {op:?}"))
                        })?;
                        if tag == "value" {
                            MatchType::Value(relation)
                        } else {
                            MatchType::Count(relation)
                        }
                    }
                });
            }
            "all" | "localpart" | "domain" if address => {
                args.items.pop_front();
                if common.part.is_some() {
                    return Err(twice(args, "address part"));
                }
                common.part = Some(match tag.as_str() {
                    "all" => AddressPart::All,
                    "localpart" => AddressPart::LocalPart,
                    _ => AddressPart::Domain,
                });
            }
            _ => return Ok(false),
        }
        Ok(true)
    }
}

fn no_subtests_of(tests: &[TestNode], line: usize, name: &str) -> Result<(), Error> {
    if tests.is_empty() {
        Ok(())
    } else {
        Err(Error::new(line, format!("{name} takes no tests")))
    }
}

impl Common {
    fn matcher(&self) -> Matcher {
        Matcher {
            comparator: self.comparator.unwrap_or(Comparator::AsciiCasemap),
            match_type: self.match_type.unwrap_or(MatchType::Is),
        }
    }

    /// RFC 4790 / RFC 5228 2.7.3: a comparator that cannot do a match type is an error.
    fn check(&self, args: &Arguments) -> Result<(), Error> {
        let matcher = self.matcher();
        if matcher.comparator == Comparator::AsciiNumeric
            && matches!(matcher.match_type, MatchType::Contains | MatchType::Matches)
        {
            return Err(args.error("i;ascii-numeric cannot do :contains or :matches"));
        }
        Ok(())
    }
}

#[derive(Default)]
struct ActionTags {
    flags: Option<Vec<String>>,
    copy: bool,
    create: bool,
}

/// A plain `local@domain` (redirect and vacation targets; RFC 5228 4.2).
pub fn valid_address(address: &str) -> bool {
    match address.rsplit_once('@') {
        Some((local, domain)) => {
            !local.is_empty()
                && !domain.is_empty()
                && domain.contains('.')
                && !address
                    .chars()
                    .any(|c| c.is_whitespace() || c.is_control() || "<>()[],;\\\"".contains(c))
                && !domain.starts_with('.')
                && !domain.ends_with('.')
        }
        None => false,
    }
}
