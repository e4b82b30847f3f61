//! The integration tests of `storage`, one test binary (a binary per file cost a link
//! and ~50 MB of disk each). Run one file's tests with
//! `scripts/test -p storage --test storage_tests -- FILE::`.

mod common;

mod backends;
mod mailbox_names;
mod objects;
mod ops;
mod schema;
mod search_index;
mod sieve;
mod sort_records;
mod spam;
mod unit_access;
