//! The integration tests of `imap`, one test binary (a binary per file cost a link
//! and ~50 MB of disk each). Run one file's tests with
//! `scripts/test -p imap --test imap_tests -- FILE::`.

mod common;
mod sortmail;

mod announced_changes;
mod auth_throttle;
mod commands;
mod conversation;
mod golden;
mod imapclient_sort;
mod namespace_guard;
mod rfc3501_recent;
mod rfc3502_multiappend;
mod rfc4469_catenate;
mod rfc4731_esearch;
mod rfc5256_sort_thread;
mod rfc5258_list;
mod rfc5267_esort_context;
mod rfc5465_notify;
mod rfc5957_sort_display;
mod rfc7162_condstore;
mod rfc8438_8514_8440;
mod rfc8474_objectid;
mod rfc8970_preview;
mod rfc9051_fetch_sections;
mod rfc9051_flags;
mod rfc9051_mailbox;
mod rfc9051_search;
mod search_vietnamese;
mod slow_clients;
mod spam_training;
mod transient;
mod unit_login;
mod units;
