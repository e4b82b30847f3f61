#!/usr/bin/env bash
# SEARCH benchmark (issue 13): one user's INBOX filled with MESSAGES generated Vietnamese
# messages (bench/search_load.py: subjects and bodies from a fixed vocabulary with diacritics,
# ~1/3 base64, ~1/3 quoted-printable, seeded so every run has the same mail) delivered over
# SMTP (the MX port) by THREADS connections, to govmail (release, SQLite, no clamd), all on
# 127.0.0.1. Prints: SMTP acceptance (messages/s), message bytes, database size and the
# index's share (rows of search_terms/search_indexed, from SQLite's dbstat when available),
# then UID SEARCH latencies p50/p99 over REPEATS runs of each query: one-word and two-word,
# with and without diacritics, and a word that is nowhere. The first search of a query may
# include lazy index backfill only for mail stored before the index (none here).
#
# Not done yet (issue 13): indexing on/off comparison (no switch exists), PostgreSQL figures,
# Dovecot + fts-xapian in the same run.
#
# Usage: bench/search.sh [MESSAGES]      (default 100000)
# Environment: THREADS (4), REPEATS (50), SKIP_BUILD=1.
set -euo pipefail
cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/.."
ROOT=$(pwd -P)
source "$ROOT/scripts/lib/services.sh"
source "$ROOT/bench/lib-imap.sh"
N=${1:-100000}
THREADS=${THREADS:-4}
REPEATS=${REPEATS:-50}
if [[ "${SKIP_BUILD:-}" != 1 ]]; then
    cargo build --release -q -p govmail
fi
G="$ROOT/target/release/govmail"
TMP=$(mktemp -d /tmp/govmail-search-bench.XXXXXX)
trap 'govmail_stop; rm -rf "$TMP"' EXIT
IMAP_PORT=$(free_port)
SMTP_PORT=$(free_port)
govmail_start "$TMP/g" "$IMAP_PORT" "$SMTP_PORT" 1
echo "# govmail: loading $N messages over SMTP ($THREADS connections)"
python3 "$ROOT/bench/search_load.py" load --smtp "127.0.0.1:$SMTP_PORT" \
    --to user1@bench.test --count "$N" --threads "$THREADS"
DB=$(find "$TMP/g" -name '*.db' | head -1)
python3 "$ROOT/bench/search_load.py" size --db "$DB"
python3 "$ROOT/bench/search_load.py" search --imap "127.0.0.1:$IMAP_PORT" \
    --user user1@bench.test --password "$BENCH_PASSWORD" --repeats "$REPEATS"
