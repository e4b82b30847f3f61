#!/usr/bin/env bash
# IDLE memory benchmark (issue 4, "Performance"): CONNECTIONS concurrent authenticated IDLE
# connections (LOGIN, SELECT INBOX, IDLE) to govmail, spread over USERS users; the server's
# VmRSS (/proc/PID/status) before connecting and once all are idle gives KiB per idle
# connection. Then one message is delivered to user1 over SMTP (the MX port) and every idling
# connection of user1 must report EXISTS; then everything is closed.
# The same for Dovecot 2.3 (default mode), at DOVECOT_CONNECTIONS: it runs a process per IMAP
# connection, so its memory is summed over the instance's process tree (RSS, which counts
# shared pages once per process, and PSS, which shares them out); the probe is an APPEND by
# user1 on another connection.
# All on 127.0.0.0/8; client sockets are spread over 127.0.0.2..127.0.0.(1+SOURCE_IPS).
#
# Usage: bench/idle.sh [CONNECTIONS]     (default 10000)
# Environment: USERS (100), DOVECOT_CONNECTIONS (1000; 0 skips Dovecot), SOURCE_IPS (4),
#              MESSAGES per INBOX (20), MALLOC_PASS (0; 1 adds a second govmail pass with
#              MALLOC_MMAP_THRESHOLD_=131072, see below), CONCURRENCY (16
#              connections being set up at once), MAX_SERVER_RSS_MIB (8192: a run stops,
#              and says so, when the server passes it — a safety on a shared machine),
#              SKIP_BUILD=1.
set -euo pipefail
cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/.."
ROOT=$(pwd -P)
source "$ROOT/scripts/lib/services.sh"
source "$ROOT/bench/lib-imap.sh"
N=${1:-10000}
USERS=${USERS:-100}
DN=${DOVECOT_CONNECTIONS:-1000}
SOURCE_IPS=${SOURCE_IPS:-4}
MALLOC_PASS=${MALLOC_PASS:-0}
CONCURRENCY=${CONCURRENCY:-16}
MAX_SERVER_RSS_MIB=${MAX_SERVER_RSS_MIB:-8192}
MESSAGES=${MESSAGES:-20}

# Every connection is a file descriptor in the server and in the load generator (both inherit
# this limit). Ask for 65536; containers often cap the hard limit lower.
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"
NOFILE=$(ulimit -n)
if (( NOFILE < N + 200 )); then
    echo "# open-file limit is $NOFILE (hard limit $(ulimit -Hn)): too low for $N connections" >&2
    exit 1
fi

[[ "$DN" -gt 0 ]] && "$ROOT/bench/peers/dovecot.sh" install
if [[ "${SKIP_BUILD:-}" != 1 ]]; then
    cargo build --release -q -p govmail -p imap-load
fi
G="$ROOT/target/release/govmail"
LOAD="$ROOT/target/release/imap-load"

TMP=$(mktemp -d /tmp/govmail-idle-bench.XXXXXX)
chmod 755 "$TMP"
cleanup() {
    govmail_stop
    [[ -d "$TMP/dovecot" ]] && "$ROOT/bench/peers/dovecot.sh" stop "$TMP/dovecot" >/dev/null 2>&1
    rm -rf "$TMP"
}
trap cleanup EXIT

echo "# IDLE: $N connections over $USERS users ($MESSAGES messages per INBOX), open-file limit $NOFILE,"
echo "# $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg), $(date -u +%FT%TZ)"

run_govmail() { # run_govmail LABEL — environment for the server taken from the caller
    local label=$1
    IMAP_PORT=$(free_port)
    SMTP_PORT=$(free_port)
    govmail_start "$TMP/$label" "$IMAP_PORT" "$SMTP_PORT" "$USERS" \
        --set "imap.max_connections=20000" --set "imap.max_connections_per_ip=20000"
    "$LOAD" populate --label "$label" --addr "127.0.0.1:$IMAP_PORT" --users "$USERS" --messages "$MESSAGES"
    "$LOAD" idle --label "$label" --addr "127.0.0.1:$IMAP_PORT" --connections "$N" --users "$USERS" \
        --source-ips "$SOURCE_IPS" --concurrency "$CONCURRENCY" --max-server-rss-mib "$MAX_SERVER_RSS_MIB" \
        --server-pid "$GOVMAIL_PID" --deliver "smtp:127.0.0.1:$SMTP_PORT" || status=1
    echo "$label threads=$(awk '/^Threads:/ {print $2}' "/proc/$GOVMAIL_PID/status") server_rss_kib_at_end=$(awk '/^VmRSS:/ {print $2}' "/proc/$GOVMAIL_PID/status") VmHWM_kib=$(awk '/^VmHWM:/ {print $2}' "/proc/$GOVMAIL_PID/status")"
    govmail_stop
}
status=0
run_govmail govmail
# Diagnostic pass: the same with glibc's dynamic mmap threshold pinned. (Freed 19 MiB argon2
# work areas used to stay in malloc arenas after a login storm; policy::password now pools and
# reuses them, so both passes should agree.)
if [[ "$MALLOC_PASS" == 1 ]]; then
    MALLOC_MMAP_THRESHOLD_=131072 run_govmail govmail-mmap-threshold
fi

if [[ "$DN" -gt 0 ]]; then
    dovecot_users "$TMP/users" "$USERS"
    PORT=$(free_port)
    DOVECOT_MAX_CONNECTIONS=$DN "$ROOT/bench/peers/dovecot.sh" start "$TMP/dovecot" "$PORT" default "$TMP/users"
    MASTER=$("$ROOT/bench/peers/dovecot.sh" pid "$TMP/dovecot")
    "$LOAD" populate --label dovecot --addr "127.0.0.1:$PORT" --users "$USERS" --messages "$MESSAGES"
    "$LOAD" idle --label "dovecot-default" --addr "127.0.0.1:$PORT" --connections "$DN" --users "$USERS" \
        --source-ips "$SOURCE_IPS" --concurrency "$CONCURRENCY" --max-server-rss-mib "$MAX_SERVER_RSS_MIB" \
        --server-pid "$MASTER" --server-tree --deliver imap \
        --exists-timeout-secs 90 || status=1
    if grep -qiE 'inotify' "$TMP/dovecot/dovecot.log"; then
        echo "# dovecot log: $(grep -iE 'inotify' "$TMP/dovecot/dovecot.log" | head -1)"
    fi
    "$ROOT/bench/peers/dovecot.sh" stop "$TMP/dovecot"
fi
exit $status
