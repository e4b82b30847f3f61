//! The integration tests of `ldap`, one test binary (a binary per file cost a link
//! and ~50 MB of disk each). Run one file's tests with
//! `scripts/test -p ldap --test ldap_tests -- FILE::`.

mod harness;

mod ldap3_python;
mod ldapsearch;
mod protocol;
mod refresh;
