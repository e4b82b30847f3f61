#!/usr/bin/env bash
# SEARCH benchmark (issue 13), everything on 127.0.0.1. The mail: MESSAGES generated Vietnamese
# messages (bench/search_load.py: subjects and bodies from a fixed vocabulary with diacritics,
# ~1/3 base64, ~1/3 quoted-printable, seeded so every run and every server gets the same mail).
#
#  1. Indexing cost: SMTP acceptance (MX port, 20 connections of bench/smtp-load, the Rust load
#     client, so that the client is not the limit) of the same ACCEPT_N generated messages into a
#     fresh govmail with the full-text index off, then on, ROUNDS times alternating.
#  2. govmail, SQLite: MESSAGES messages over SMTP; database size and the index's share; UID
#     SEARCH p50/p99 over REPEATS runs of each query (one-word and two-word, with and without
#     diacritics, an OR, a word that is nowhere) and the overall search rate; the server's RSS
#     before and after the searches. Then, once the server has settled the index (merged its
#     segments, which it does after one to two minutes without new mail), the same searches
#     again.
#  3. govmail, PostgreSQL (private instance): PG_N messages, the same searches.
#  4. Dovecot 2.3 + dovecot-fts-xapian (Debian), the same MESSAGES messages written as a Maildir
#     and indexed with `doveadm index` (timed), the same searches; the ratio of search rates.
#     Dovecot's hit counts differ where it does not fold Vietnamese marks (its own behaviour).
#
# Usage: bench/search.sh [MESSAGES]      (default 100000)
# Environment: THREADS (4), REPEATS (50), DOVECOT_REPEATS (REPEATS: Dovecot takes seconds per
#              search of a common word with marks), ACCEPT_N (10000), ROUNDS (2), PG_N (MESSAGES),
#              SKIP_BUILD=1, SKIP_ACCEPT=1 (stage 1), SKIP_SQLITE=1 (stage 2), SKIP_PG=1,
#              SKIP_DOVECOT=1. Run as root (Dovecot, PostgreSQL).
set -euo pipefail
cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/.."
ROOT=$(pwd -P)
source "$ROOT/scripts/lib/services.sh"
source "$ROOT/bench/lib-imap.sh"
N=${1:-100000}
THREADS=${THREADS:-4}
REPEATS=${REPEATS:-50}
ACCEPT_N=${ACCEPT_N:-10000}
ROUNDS=${ROUNDS:-2}
PG_N=${PG_N:-$N}
if [[ "${SKIP_BUILD:-}" != 1 ]]; then
    cargo build --release -q -p govmail -p smtp-load
fi
SMTP_LOAD="$ROOT/target/release/smtp-load"
G="$ROOT/target/release/govmail"
LOADER="$ROOT/bench/search_load.py"
TMP=$(mktemp -d /tmp/govmail-search-bench.XXXXXX)
chmod 755 "$TMP"
DOVECOT_DIR="$TMP/dovecot"
cleanup() {
    govmail_stop
    [[ -d "$DOVECOT_DIR/run" ]] && "$ROOT/bench/peers/dovecot.sh" stop "$DOVECOT_DIR" || true
    [[ -d "$TMP/pg" ]] && pg_stop "$TMP/pg" || true
    rm -rf "$TMP"
}
trap cleanup EXIT

rss_kib() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status"; }

load() { # load SMTP_PORT COUNT -> prints the loader's line
    python3 "$LOADER" load --smtp "127.0.0.1:$1" --to user1@bench.test --count "$2" \
        --threads "$THREADS"
}

if [[ "${SKIP_ACCEPT:-}" != 1 ]]; then
echo "# 1. indexing cost: $ACCEPT_N messages, index off vs on, $ROUNDS rounds"
python3 "$LOADER" maildir --dir "$TMP/accept" --count "$ACCEPT_N" --threads "$THREADS" >/dev/null
for round in $(seq 1 "$ROUNDS"); do
    for mode in false true; do
        IMAP_PORT=$(free_port); SMTP_PORT=$(free_port)
        govmail_start "$TMP/a-$round-$mode" "$IMAP_PORT" "$SMTP_PORT" 1 \
            --set "storage.full_text_index=$mode" --set "smtp.max_connections_per_ip=1000"
        "$SMTP_LOAD" --addr "127.0.0.1:$SMTP_PORT" --connections 20 --dir "$TMP/accept/cur" \
            --to user1@bench.test --label "round $round full_text_index=$mode"
        govmail_stop
        rm -rf "$TMP/a-$round-$mode"
    done
done
fi

search_govmail() { # search_govmail LABEL DIR COUNT [--set ...]
    local label=$1 dir=$2 count=$3
    shift 3
    IMAP_PORT=$(free_port); SMTP_PORT=$(free_port)
    govmail_start "$dir" "$IMAP_PORT" "$SMTP_PORT" 1 "$@"
    echo "$label $(load "$SMTP_PORT" "$count")"
    local db
    db=$(find "$dir" -name '*.db' | head -1)
    [[ -n "$db" ]] && python3 "$LOADER" size --db "$db"
    echo "$label rss before searches: $(rss_kib "$GOVMAIL_PID") KiB"
    python3 "$LOADER" search --imap "127.0.0.1:$IMAP_PORT" --label "$label" \
        --user user1@bench.test --password "$BENCH_PASSWORD" --repeats "$REPEATS"
    echo "$label rss after searches: $(rss_kib "$GOVMAIL_PID") KiB"
    if [[ -n "$db" ]]; then
        # The mail came in one burst: the index holds tens of FTS5 segments. The server
        # merges them once no document has come or gone for one to two minutes; the same
        # searches then.
        python3 "$LOADER" settled --db "$db"
        python3 "$LOADER" search --imap "127.0.0.1:$IMAP_PORT" --label "$label-settled" \
            --user user1@bench.test --password "$BENCH_PASSWORD" --repeats "$REPEATS"
    fi
    govmail_stop
}

if [[ "${SKIP_SQLITE:-}" != 1 ]]; then
    echo "# 2. govmail, SQLite, $N messages"
    search_govmail govmail-sqlite "$TMP/g" "$N"
    rm -rf "$TMP/g"
fi

if [[ "${SKIP_PG:-}" != 1 ]]; then
    echo "# 3. govmail, PostgreSQL, $PG_N messages"
    ensure_packages postgres >/dev/null
    PG_URL=$(pg_start "$TMP/pg" "$(free_port)")
    search_govmail govmail-postgres "$TMP/gp" "$PG_N" --set "storage.url=$PG_URL"
    pg_stop "$TMP/pg"
    rm -rf "$TMP/gp"
fi

if [[ "${SKIP_DOVECOT:-}" != 1 ]]; then
    echo "# 4. Dovecot + fts-xapian, $N messages"
    "$ROOT/bench/peers/dovecot.sh" install
    if ! dpkg -s dovecot-fts-xapian >/dev/null 2>&1; then
        DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
            dovecot-fts-xapian >/tmp/dovecot-fts-install.log 2>&1
    fi
    mkdir -p "$DOVECOT_DIR"
    echo "user1@bench.test:{PLAIN}$BENCH_PASSWORD" >"$TMP/dovecot-users"
    DOVECOT_PORT=$(free_port)
    export DOVECOT_EXTRA_CONF="
mail_plugins = \$mail_plugins fts fts_xapian
plugin {
  fts = xapian
  fts_xapian = partial=3 full=20 verbose=0
  fts_autoindex = yes
  fts_enforced = yes
}"
    "$ROOT/bench/peers/dovecot.sh" start "$DOVECOT_DIR" "$DOVECOT_PORT" fast "$TMP/dovecot-users"
    MAILDIR="$DOVECOT_DIR/mail/user1@bench.test"
    python3 "$LOADER" maildir --dir "$MAILDIR" --count "$N" --threads "$THREADS"
    chown -R benchuser:benchuser "$DOVECOT_DIR/mail"
    start=$(date +%s.%N)
    doveadm -c "$DOVECOT_DIR/dovecot.conf" index -u user1@bench.test INBOX
    end=$(date +%s.%N)
    echo "dovecot doveadm index: $(echo "$end - $start" | bc) s for $N messages"
    python3 "$LOADER" search --imap "127.0.0.1:$DOVECOT_PORT" --label dovecot-xapian \
        --user user1@bench.test --password "$BENCH_PASSWORD" --repeats "${DOVECOT_REPEATS:-$REPEATS}"
fi
