//! Sieve mail filtering (RFC 5228) with the extensions govmail offers, without I/O.
//!
//! - [`lexer`]: tokens with line numbers (RFC 5228 8.1).
//! - [`syntax`]: the generic grammar (RFC 5228 8.2) into a tree of commands and tests.
//! - [`program`]: the checked program: known commands and tests with typed arguments, the
//!   `require` rules, bounds (script size, nesting, commands, list lengths). [`compile`] is the
//!   one entry point; errors carry the line.
//! - [`compare`]: comparators (`i;octet`, `i;ascii-casemap`, `i;unicode-casemap` RFC 5051,
//!   `i;ascii-numeric`) and match types (`:is`, `:contains`, `:matches`, relational `:value`
//!   and `:count` RFC 5231).
//! - [`address`]: address lists of header fields, address parts.
//! - [`date`]: date parts of `date`/`currentdate` (RFC 5260), RFC 5322 date parsing.
//! - [`eval`]: runs a program over a [`eval::MessageView`] and returns the actions, bounded
//!   (instructions, redirects, fileintos/keeps, one vacation).
//! - [`vacation`]: whether a vacation reply may be sent (RFC 5230 4, RFC 3834) and its default
//!   handle.
//!
//! Invariant: nothing here reads the clock, a file or the network: the evaluator is given
//! the time and which mailboxes exist.

pub mod address;
pub mod compare;
pub mod date;
pub mod eval;
pub mod lexer;
pub mod program;
pub mod syntax;
pub mod vacation;

pub use eval::{evaluate, Action, Environment, MessageView, Outcome};
pub use program::{compile, Program};

/// A compile or run-time error, with the script line it concerns.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {message}")]
pub struct Error {
    pub line: usize,
    pub message: String,
}

impl Error {
    pub fn new(line: usize, message: impl Into<String>) -> Error {
        Error {
            line,
            message: message.into(),
        }
    }
}

/// Every bound of a script: at compile time and when it runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// Largest script in bytes.
    pub max_script_bytes: usize,
    /// Deepest nesting of blocks and tests.
    pub max_nesting: usize,
    /// Most commands in a script.
    pub max_commands: usize,
    /// Longest string list or test list.
    pub max_list: usize,
    /// Most commands and tests evaluated in one run.
    pub max_instructions: usize,
    /// Most `redirect` actions in one run.
    pub max_redirects: usize,
    /// Most `keep`/`fileinto` actions in one run.
    pub max_fileinto: usize,
    /// Longest vacation `:days` (RFC 5230 4.1: a site may limit it).
    pub max_vacation_days: u64,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            max_script_bytes: 64 * 1024,
            max_nesting: 16,
            max_commands: 1000,
            max_list: 256,
            max_instructions: 10_000,
            max_redirects: 4,
            max_fileinto: 32,
            max_vacation_days: 90,
        }
    }
}

/// The extensions a script may `require` (RFC 5228 3.2), as the ManageSieve SIEVE capability
/// lists them.
pub const EXTENSIONS: &[&str] = &[
    "fileinto",
    "envelope",
    "comparator-i;octet",
    "comparator-i;ascii-casemap",
    "comparator-i;unicode-casemap",
    "comparator-i;ascii-numeric",
    "imap4flags",
    "vacation",
    "mailbox",
    "copy",
    "relational",
    "date",
];

#[cfg(test)]
mod tests;
