//! The generic grammar of RFC 5228 8.2: commands with arguments, tests and blocks. What each
//! command means is checked afterwards (`compile`).

use crate::lexer::{Spanned, Token};
use crate::{Error, Limits};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Argument {
    /// A single string is a string list of one (RFC 5228 2.4.2.1).
    Strings(Vec<String>),
    Number(u64),
    Tag(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TestNode {
    /// Lower case.
    pub name: String,
    pub arguments: Vec<Argument>,
    pub tests: Vec<TestNode>,
    pub line: usize,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommandNode {
    /// Lower case.
    pub name: String,
    pub arguments: Vec<Argument>,
    /// The test or test list after the arguments (`if`, `elsif`).
    pub tests: Vec<TestNode>,
    /// Whether the arguments ended with a test list in parentheses.
    pub test_list: bool,
    pub block: Option<Vec<CommandNode>>,
    pub line: usize,
}

struct Parser<'a> {
    tokens: &'a [Spanned],
    at: usize,
    limits: &'a Limits,
    commands: usize,
}

/// Parses the token stream into commands, bounded by `limits` (nesting and command count).
pub fn parse(tokens: &[Spanned], limits: &Limits) -> Result<Vec<CommandNode>, Error> {
    let mut parser = Parser {
        tokens,
        at: 0,
        limits,
        commands: 0,
    };
    let commands = parser.commands(0)?;
    if let Some(token) = parser.peek() {
        return Err(Error::new(token.line, "unexpected \"}\""));
    }
    Ok(commands)
}

impl<'a> Parser<'a> {
    fn peek(&self) -> Option<&'a Spanned> {
        self.tokens.get(self.at)
    }

    fn last_line(&self) -> usize {
        self.tokens
            .get(self.at.saturating_sub(1))
            .map_or(1, |t| t.line)
    }

    fn next(&mut self) -> Option<&'a Spanned> {
        let token = self.tokens.get(self.at);
        self.at += 1;
        token
    }

    fn commands(&mut self, depth: usize) -> Result<Vec<CommandNode>, Error> {
        let mut commands = vec![];
        while let Some(token) = self.peek() {
            match &token.token {
                Token::RightBrace => break,
                Token::Identifier(_) => commands.push(self.command(depth)?),
                other => {
                    return Err(Error::new(
                        token.line,
                        format!("expected a command, found {}", describe(other)),
                    ))
                }
            }
        }
        Ok(commands)
    }

    fn command(&mut self, depth: usize) -> Result<CommandNode, Error> {
        let token = self.next().expect("peeked");
        let Token::Identifier(name) = &token.token else {
            unreachable!("peeked an identifier")
        };
        self.commands += 1;
        if self.commands > self.limits.max_commands {
            return Err(Error::new(
                token.line,
                format!("more than {} commands", self.limits.max_commands),
            ));
        }
        let line = token.line;
        let arguments = self.arguments()?;
        let mut tests = vec![];
        let mut test_list = false;
        match self.peek().map(|t| &t.token) {
            Some(Token::Identifier(_)) => tests.push(self.test(depth + 1)?),
            Some(Token::LeftParen) => {
                tests = self.test_list(depth + 1)?;
                test_list = true;
            }
            _ => {}
        }
        let block = match self.next() {
            Some(Spanned {
                token: Token::Semicolon,
                ..
            }) => None,
            Some(Spanned {
                token: Token::LeftBrace,
                line: brace_line,
            }) => {
                if depth + 1 > self.limits.max_nesting {
                    return Err(Error::new(
                        *brace_line,
                        format!("blocks nested deeper than {}", self.limits.max_nesting),
                    ));
                }
                let inner = self.commands(depth + 1)?;
                match self.next() {
                    Some(Spanned {
                        token: Token::RightBrace,
                        ..
                    }) => Some(inner),
                    _ => return Err(Error::new(*brace_line, "block not closed by \"}\"")),
                }
            }
            Some(other) => {
                return Err(Error::new(
                    other.line,
                    format!(
                        "expected \";\" or a block after {name}, found {}",
                        describe(&other.token)
                    ),
                ))
            }
            None => {
                return Err(Error::new(
                    self.last_line(),
                    format!("missing \";\" after {name}"),
                ))
            }
        };
        Ok(CommandNode {
            name: name.to_ascii_lowercase(),
            arguments,
            tests,
            test_list,
            block,
            line,
        })
    }

    fn arguments(&mut self) -> Result<Vec<Argument>, Error> {
        let mut arguments = vec![];
        while let Some(token) = self.peek() {
            let argument = match &token.token {
                Token::Tag(tag) => Argument::Tag(tag.clone()),
                Token::Number(n) => Argument::Number(*n),
                Token::String(s) => Argument::Strings(vec![s.clone()]),
                Token::LeftBracket => {
                    self.at += 1;
                    arguments.push(Argument::Strings(self.string_list(token.line)?));
                    continue;
                }
                _ => break,
            };
            self.at += 1;
            arguments.push(argument);
        }
        Ok(arguments)
    }

    /// After "[": strings separated by commas, then "]".
    fn string_list(&mut self, line: usize) -> Result<Vec<String>, Error> {
        let mut strings = vec![];
        loop {
            match self.next() {
                Some(Spanned {
                    token: Token::String(s),
                    ..
                }) => strings.push(s.clone()),
                Some(other) => {
                    return Err(Error::new(
                        other.line,
                        format!(
                            "expected a string in the list, found {}",
                            describe(&other.token)
                        ),
                    ))
                }
                None => return Err(Error::new(line, "string list not closed by \"]\"")),
            }
            if strings.len() > self.limits.max_list {
                return Err(Error::new(
                    line,
                    format!("string list longer than {}", self.limits.max_list),
                ));
            }
            match self.next() {
                Some(Spanned {
                    token: Token::Comma,
                    ..
                }) => {}
                Some(Spanned {
                    token: Token::RightBracket,
                    ..
                }) => return Ok(strings),
                Some(other) => {
                    return Err(Error::new(
                        other.line,
                        format!("expected \",\" or \"]\", found {}", describe(&other.token)),
                    ))
                }
                None => return Err(Error::new(line, "string list not closed by \"]\"")),
            }
        }
    }

    fn test(&mut self, depth: usize) -> Result<TestNode, Error> {
        let line = self.peek().map_or(self.last_line(), |t| t.line);
        if depth > self.limits.max_nesting {
            return Err(Error::new(
                line,
                format!("tests nested deeper than {}", self.limits.max_nesting),
            ));
        }
        let name = match self.next() {
            Some(Spanned {
                token: Token::Identifier(name),
                ..
            }) => name.to_ascii_lowercase(),
            Some(other) => {
                return Err(Error::new(
                    other.line,
                    format!("expected a test, found {}", describe(&other.token)),
                ))
            }
            None => return Err(Error::new(line, "expected a test")),
        };
        let arguments = self.arguments()?;
        let tests = match self.peek().map(|t| &t.token) {
            Some(Token::Identifier(_)) => vec![self.test(depth + 1)?],
            Some(Token::LeftParen) => self.test_list(depth + 1)?,
            _ => vec![],
        };
        Ok(TestNode {
            name,
            arguments,
            tests,
            line,
        })
    }

    fn test_list(&mut self, depth: usize) -> Result<Vec<TestNode>, Error> {
        let open = self.next().expect("peeked (").line;
        let mut tests = vec![];
        loop {
            tests.push(self.test(depth)?);
            if tests.len() > self.limits.max_list {
                return Err(Error::new(
                    open,
                    format!("test list longer than {}", self.limits.max_list),
                ));
            }
            match self.next() {
                Some(Spanned {
                    token: Token::Comma,
                    ..
                }) => {}
                Some(Spanned {
                    token: Token::RightParen,
                    ..
                }) => return Ok(tests),
                Some(other) => {
                    return Err(Error::new(
                        other.line,
                        format!("expected \",\" or \")\", found {}", describe(&other.token)),
                    ))
                }
                None => return Err(Error::new(open, "test list not closed by \")\"")),
            }
        }
    }
}

fn describe(token: &Token) -> String {
    match token {
        Token::Identifier(name) => format!("{name:?}"),
        Token::Tag(tag) => format!("\":{tag}\""),
        Token::Number(n) => format!("number {n}"),
        Token::String(_) => "a string".into(),
        Token::LeftBracket => "\"[\"".into(),
        Token::RightBracket => "\"]\"".into(),
        Token::LeftParen => "\"(\"".into(),
        Token::RightParen => "\")\"".into(),
        Token::LeftBrace => "\"{\"".into(),
        Token::RightBrace => "\"}\"".into(),
        Token::Comma => "\",\"".into(),
        Token::Semicolon => "\";\"".into(),
    }
}
