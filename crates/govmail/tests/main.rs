//! The integration tests of `govmail`, one test binary (a binary per file cost a link
//! and ~50 MB of disk each). Run one file's tests with
//! `scripts/test -p govmail --test govmail_tests -- FILE::`.

mod cluster;
#[path = "../../smtp/tests/common/dns.rs"]
mod dns;
mod served;
mod support;
mod support_import;

mod autoconfig_https;
mod carddav_served;
mod cli;
mod docker;
mod doctor;
mod failover;
mod health;
mod hostile;
mod imap_clients;
mod imap_extensions;
mod import_accounts;
mod import_imap;
mod import_mbox;
mod index_rebuild;
mod ldap_served;
mod lifecycle;
mod nodes;
mod outbound_binary;
mod readme;
mod sieve_served;
mod smtp_clients;
mod unit_login_clients;
mod vdirsyncer_served;
