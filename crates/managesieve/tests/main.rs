//! The integration tests of `managesieve`, one test binary (a binary per file cost a link
//! and ~50 MB of disk each). Run one file's tests with
//! `scripts/test -p managesieve --test managesieve_tests -- FILE::`.

mod harness;

mod protocol;
mod sievelib;
