//! The integration tests of `smtp`, one test binary (a binary per file cost a link
//! and ~50 MB of disk each). Run one file's tests with
//! `scripts/test -p smtp --test smtp_tests -- FILE::`.

mod common;

mod authentication;
mod conversation;
mod hostile;
mod inbound;
mod outbound;
mod scanning;
mod sieve;
mod spam;
mod unit_login;
