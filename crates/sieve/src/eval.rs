//! Running a program over one message: tests against the message's header fields, envelope
//! and size; actions collected (nothing is done here). Bounded: instructions, redirects,
//! keeps/fileintos, one vacation (RFC 5230 4.7). An error is returned with its line; the
//! caller then keeps the message (RFC 5228 2.10.6).

use crate::address;
use crate::compare::Matcher;
use crate::date::Civil;
use crate::program::{Command, CommandKind, EnvelopePart, Program, Test, Vacation, Zone};
use crate::{Error, Limits};

/// One header field of the message's top header block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeaderField {
    pub name: String,
    /// Unfolded, as received (the `address` test reads addresses from it).
    pub raw: String,
    /// RFC 2047 words decoded (RFC 5228 2.7.2: `header` compares decoded text).
    pub decoded: String,
}

/// What a script may look at.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MessageView {
    pub headers: Vec<HeaderField>,
    pub size: u64,
    /// The reverse path; empty for `<>` (RFC 5228 5.4).
    pub envelope_from: String,
    /// The recipient this delivery is for.
    pub envelope_to: String,
}

impl MessageView {
    /// The fields of the top header block of `message`, unfolded, each decoded by `decode`.
    pub fn from_message(message: &[u8], decode: impl Fn(&str) -> String) -> Vec<HeaderField> {
        let end = message
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .or_else(|| message.windows(2).position(|w| w == b"\n\n"))
            .unwrap_or(message.len());
        let text = String::from_utf8_lossy(&message[..end]);
        let mut fields: Vec<(String, String)> = vec![];
        for line in text.split('\n') {
            let line = line.strip_suffix('\r').unwrap_or(line);
            if line.starts_with([' ', '\t']) {
                if let Some((_, value)) = fields.last_mut() {
                    value.push_str(line);
                }
            } else if let Some((name, value)) = line.split_once(':') {
                fields.push((name.trim().to_string(), value.to_string()));
            }
        }
        fields
            .into_iter()
            .map(|(name, value)| {
                let raw = value.trim().to_string();
                let decoded = decode(&raw);
                HeaderField { name, raw, decoded }
            })
            .collect()
    }

    /// The fields named `name` (ASCII case-insensitive), in order.
    pub fn fields<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a HeaderField> + 'a {
        self.headers
            .iter()
            .filter(move |f| f.name.eq_ignore_ascii_case(name))
    }

    pub fn has(&self, name: &str) -> bool {
        self.fields(name).next().is_some()
    }
}

/// What the evaluator needs besides the message: the clock, the zone, the mailboxes.
pub struct Environment<'a> {
    /// Unix seconds (for `currentdate`).
    pub now: i64,
    /// The server's zone, minutes east of UTC.
    pub local_zone: i32,
    /// Whether a mailbox of the script's owner exists (`mailboxexists`, RFC 5490 3.1).
    pub mailbox_exists: &'a dyn Fn(&str) -> bool,
    pub limits: &'a Limits,
}

/// What the script decided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Into INBOX (explicit `keep` or the implicit keep), with these flags.
    Keep {
        flags: Vec<String>,
    },
    FileInto {
        mailbox: String,
        create: bool,
        flags: Vec<String>,
    },
    Redirect {
        address: String,
    },
    Vacation(Box<Vacation>),
}

/// The actions of a run, duplicates merged (RFC 5228 2.10.3), the implicit keep included as
/// a [`Action::Keep`]. No keep, fileinto or redirect means the message is discarded.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Outcome {
    pub actions: Vec<Action>,
}

impl Outcome {
    /// The outcome of no script, or of a failed one: keep in INBOX.
    pub fn keep() -> Outcome {
        Outcome {
            actions: vec![Action::Keep { flags: vec![] }],
        }
    }
}

enum Flow {
    Continue,
    Stop,
}

struct Run<'a> {
    message: &'a MessageView,
    env: &'a Environment<'a>,
    /// RFC 5232 3: the internal variable.
    flags: Vec<String>,
    implicit_keep: bool,
    actions: Vec<Action>,
    instructions: usize,
    redirects: usize,
    stores: usize,
    vacation: bool,
}

/// Runs `program` over `message`.
pub fn evaluate(
    program: &Program,
    message: &MessageView,
    env: &Environment,
) -> Result<Outcome, Error> {
    let mut run = Run {
        message,
        env,
        flags: vec![],
        implicit_keep: true,
        actions: vec![],
        instructions: 0,
        redirects: 0,
        stores: 0,
        vacation: false,
    };
    run.block(&program.commands)?;
    let mut actions = std::mem::take(&mut run.actions);
    // RFC 5228 2.10.2: the implicit keep, with the flags set at the end (RFC 5232 3).
    if run.implicit_keep {
        actions.push(Action::Keep {
            flags: run.flags.clone(),
        });
    }
    Ok(Outcome {
        actions: merge(actions),
    })
}

impl Run<'_> {
    fn tick(&mut self, line: usize) -> Result<(), Error> {
        self.instructions += 1;
        if self.instructions > self.env.limits.max_instructions {
            return Err(Error::new(
                line,
                format!(
                    "more than {} instructions run",
                    self.env.limits.max_instructions
                ),
            ));
        }
        Ok(())
    }

    fn block(&mut self, commands: &[Command]) -> Result<Flow, Error> {
        for command in commands {
            if let Flow::Stop = self.command(command)? {
                return Ok(Flow::Stop);
            }
        }
        Ok(Flow::Continue)
    }

    fn store(&mut self, line: usize) -> Result<(), Error> {
        self.stores += 1;
        if self.stores > self.env.limits.max_fileinto {
            return Err(Error::new(
                line,
                format!(
                    "more than {} keep/fileinto actions",
                    self.env.limits.max_fileinto
                ),
            ));
        }
        Ok(())
    }

    fn command(&mut self, command: &Command) -> Result<Flow, Error> {
        let line = command.line;
        self.tick(line)?;
        match &command.kind {
            CommandKind::If {
                branches,
                otherwise,
            } => {
                for (test, block) in branches {
                    if self.test(test, line)? {
                        return self.block(block);
                    }
                }
                if let Some(block) = otherwise {
                    return self.block(block);
                }
            }
            CommandKind::Stop => return Ok(Flow::Stop),
            CommandKind::Keep { flags } => {
                self.store(line)?;
                self.implicit_keep = false;
                let flags = self.flags_of(flags.as_ref());
                self.actions.push(Action::Keep { flags });
            }
            CommandKind::Discard => self.implicit_keep = false,
            CommandKind::FileInto {
                mailbox,
                create,
                copy,
                flags,
            } => {
                self.store(line)?;
                if !copy {
                    self.implicit_keep = false;
                }
                let flags = self.flags_of(flags.as_ref());
                self.actions.push(Action::FileInto {
                    mailbox: mailbox.clone(),
                    create: *create,
                    flags,
                });
            }
            CommandKind::Redirect { address, copy } => {
                self.redirects += 1;
                if self.redirects > self.env.limits.max_redirects {
                    return Err(Error::new(
                        line,
                        format!("more than {} redirects", self.env.limits.max_redirects),
                    ));
                }
                if !copy {
                    self.implicit_keep = false;
                }
                self.actions.push(Action::Redirect {
                    address: address.clone(),
                });
            }
            CommandKind::SetFlag(list) => self.flags = flag_list(list),
            CommandKind::AddFlag(list) => {
                for flag in flag_list(list) {
                    if !self.flags.iter().any(|f| f.eq_ignore_ascii_case(&flag)) {
                        self.flags.push(flag);
                    }
                }
            }
            CommandKind::RemoveFlag(list) => {
                let remove = flag_list(list);
                self.flags
                    .retain(|f| !remove.iter().any(|r| r.eq_ignore_ascii_case(f)));
            }
            CommandKind::Vacation(vacation) => {
                // RFC 5230 4.7: more than one vacation in a run is an error.
                if self.vacation {
                    return Err(Error::new(line, "vacation run more than once"));
                }
                self.vacation = true;
                self.actions.push(Action::Vacation(vacation.clone()));
            }
        }
        Ok(Flow::Continue)
    }

    /// The flags an action stores: its `:flags`, else the internal variable (RFC 5232 5).
    fn flags_of(&self, explicit: Option<&Vec<String>>) -> Vec<String> {
        match explicit {
            Some(list) => flag_list(list),
            None => self.flags.clone(),
        }
    }

    fn test(&mut self, test: &Test, line: usize) -> Result<bool, Error> {
        self.tick(line)?;
        let message = self.message;
        Ok(match test {
            Test::True => true,
            Test::False => false,
            Test::Not(inner) => !self.test(inner, line)?,
            // RFC 5228 5.2/5.3: evaluated left to right, stopping at the first decisive one.
            Test::AllOf(tests) => {
                for inner in tests {
                    if !self.test(inner, line)? {
                        return Ok(false);
                    }
                }
                true
            }
            Test::AnyOf(tests) => {
                for inner in tests {
                    if self.test(inner, line)? {
                        return Ok(true);
                    }
                }
                false
            }
            Test::Header {
                matcher,
                names,
                keys,
            } => {
                let values: Vec<String> = names
                    .iter()
                    .flat_map(|name| message.fields(name).map(|f| f.decoded.clone()))
                    .collect();
                matcher.any(&values, keys)
            }
            Test::Address {
                matcher,
                part,
                names,
                keys,
            } => {
                let values: Vec<String> = names
                    .iter()
                    .flat_map(|name| message.fields(name))
                    .flat_map(|f| address::parse_list(&f.raw))
                    .filter_map(|a| address::part(&a, *part))
                    .collect();
                matcher.any(&values, keys)
            }
            Test::Envelope {
                matcher,
                part,
                names,
                keys,
            } => {
                let values: Vec<String> = names
                    .iter()
                    .filter_map(|name| {
                        let address = match name {
                            EnvelopePart::From => &message.envelope_from,
                            EnvelopePart::To => &message.envelope_to,
                        };
                        // RFC 5228 5.4: the null reverse path is the empty string, whose
                        // local part and domain are empty too.
                        if address.is_empty() {
                            return Some(String::new());
                        }
                        address::part(address, *part)
                    })
                    .collect();
                envelope_match(matcher, &values, keys)
            }
            Test::Exists(names) => names.iter().all(|name| message.has(name)),
            // RFC 5228 5.9: strictly over or under.
            Test::Size { over, limit } => {
                if *over {
                    message.size > *limit
                } else {
                    message.size < *limit
                }
            }
            Test::HasFlag { matcher, keys } => {
                let keys = flag_list(keys);
                matcher.any(&self.flags, &keys)
            }
            Test::MailboxExists(names) => names.iter().all(|name| (self.env.mailbox_exists)(name)),
            Test::CurrentDate {
                matcher,
                zone,
                part,
                keys,
            } => {
                let zone = match zone {
                    Zone::Fixed(minutes) => *minutes,
                    Zone::Local | Zone::Original => self.env.local_zone,
                };
                let value = Civil::from_unix(self.env.now, zone).part(*part);
                matcher.any(&[value], keys)
            }
            Test::Date {
                matcher,
                zone,
                header,
                part,
                keys,
            } => {
                // RFC 5260 4: a field that is not a valid date does not match.
                let Some((unix, original)) = message
                    .fields(header)
                    .next()
                    .and_then(|f| crate::date::parse_rfc5322(&f.raw))
                else {
                    return Ok(false);
                };
                let zone = match zone {
                    Zone::Fixed(minutes) => *minutes,
                    Zone::Local => self.env.local_zone,
                    Zone::Original => original,
                };
                let value = Civil::from_unix(unix, zone).part(*part);
                matcher.any(&[value], keys)
            }
        })
    }
}

fn envelope_match(matcher: &Matcher, values: &[String], keys: &[String]) -> bool {
    matcher.any(values, keys)
}

/// RFC 5232 3: each string may hold several flags separated by spaces; invalid flags are
/// dropped, duplicates (case-insensitive) kept once, system flags spelled canonically.
fn flag_list(list: &[String]) -> Vec<String> {
    const SYSTEM: &[&str] = &["\\Seen", "\\Answered", "\\Flagged", "\\Deleted", "\\Draft"];
    let mut out: Vec<String> = vec![];
    for flag in list.iter().flat_map(|s| s.split_whitespace()) {
        let flag = if let Some(system) = SYSTEM.iter().find(|s| s.eq_ignore_ascii_case(flag)) {
            system.to_string()
        } else if flag.starts_with('\\')
            || flag
                .chars()
                .any(|c| c.is_control() || !c.is_ascii() || "(){%*\"]\\".contains(c))
        {
            continue;
        } else {
            flag.to_string()
        };
        if !out.iter().any(|f| f.eq_ignore_ascii_case(&flag)) {
            out.push(flag);
        }
    }
    out
}

/// RFC 5228 2.10.3 and 4.1: a mailbox stored into more than once (keep and fileinto
/// "INBOX" alike) gets one copy, with the flags of all; a redirect to the same address is
/// made once.
fn merge(actions: Vec<Action>) -> Vec<Action> {
    let mut out: Vec<Action> = vec![];
    let is_inbox = |name: &str| name.eq_ignore_ascii_case("INBOX");
    for action in actions {
        let key = |a: &Action| -> Option<String> {
            match a {
                Action::Keep { .. } => Some("\0INBOX".into()),
                Action::FileInto { mailbox, .. } if is_inbox(mailbox) => Some("\0INBOX".into()),
                Action::FileInto { mailbox, .. } => Some(format!("f{mailbox}")),
                Action::Redirect { address } => Some(format!("r{}", address.to_lowercase())),
                Action::Vacation(_) => None,
            }
        };
        let this = key(&action);
        let existing = this
            .as_ref()
            .and_then(|k| out.iter_mut().find(|a| key(a).as_ref() == Some(k)));
        match (existing, action) {
            (Some(Action::Keep { flags } | Action::FileInto { flags, .. }), new) => {
                let more = match new {
                    Action::Keep { flags } | Action::FileInto { flags, .. } => flags,
                    _ => vec![],
                };
                for flag in more {
                    if !flags.iter().any(|f| f.eq_ignore_ascii_case(&flag)) {
                        flags.push(flag);
                    }
                }
            }
            (Some(_), _) => {}
            (None, Action::FileInto { mailbox, flags, .. }) if is_inbox(&mailbox) => {
                out.push(Action::Keep { flags })
            }
            (None, action) => out.push(action),
        }
    }
    out
}
