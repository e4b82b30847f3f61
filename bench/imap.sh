#!/usr/bin/env bash
# IMAP command-mix benchmark (issue 4, "Performance"): CLIENTS concurrent clients, each doing
# ITERATIONS sessions of LOGIN, SELECT INBOX, FETCH 1:* (UID FLAGS ENVELOPE), FETCH of 3 bodies
# (BODY.PEEK[]), UID STORE +FLAGS/-FLAGS (\Seen), APPEND (4 KiB), UID SEARCH SUBJECT, UID SEARCH
# UNSEEN, LOGOUT — against, in the same run, all on 127.0.0.1:
#   (a) govmail (release, SQLite, no clamd, plaintext LOGIN allowed on loopback), and for the
#       login mix once more with accounts.login_cache_secs=0 (argon2id on every LOGIN),
#   (b) Dovecot 2.3 from Debian, maildir, default mode (a process per connection),
#   (c) the same Dovecot in high-performance mode (login and imap processes reused).
# Every server starts empty; every user's INBOX is filled with the same MESSAGES messages of
# ~4 KiB by IMAP APPEND (2/3 of them \Seen); every user has the same argon2id password hash
# (govmail's parameters), so a LOGIN costs the same hash verification everywhere.
# Two mixes run on each server, one after the other:
#   mix "login"   the loop above, one of each command per session (ITERATIONS sessions/client).
#                 The argon2id verification of LOGIN (~50 ms of CPU) dominates it on 2 cores.
#   mix "session" one LOGIN/SELECT/LOGOUT around ROUNDS repetitions of the FETCH .. SEARCH
#                 block (ITERATIONS_SESSION sessions/client), like a client that stays logged in:
#                 what the IMAP engine itself costs.
#   mix "long"    (issue 12) LONG_CLIENTS clients each keep LONG_SESSIONS sessions open for
#                 LONG_SECONDS, several sessions per mailbox, a random mix of SELECT, FETCH,
#                 STORE with keywords, EXPUNGE, APPEND, COPY, SEARCH, STATUS
#                 (bench/imap-load/src/stress.rs has the weights).
# Prints per-command p50/p99 latency, commands/s, server CPU seconds, and govmail/Dovecot ratios.
#
# Usage: bench/imap.sh [ITERATIONS]      (default 50 sessions per client)
# Environment: CLIENTS (20), MESSAGES (200), ROUNDS (10), ITERATIONS_SESSION (10; 0 skips the
#              session mix), LONG_SECONDS (30; 0 skips the long mix), LONG_CLIENTS (10),
#              LONG_SESSIONS (3), LONG_USERS (20), NOCACHE_PASS (1; 0 skips the pass without the login cache),
#              SKIP_BUILD=1 to use the existing release binaries.
set -euo pipefail
cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/.."
ROOT=$(pwd -P)
source "$ROOT/scripts/lib/services.sh"
source "$ROOT/bench/lib-imap.sh"
ITERATIONS=${1:-50}
CLIENTS=${CLIENTS:-20}
MESSAGES=${MESSAGES:-200}
ROUNDS=${ROUNDS:-10}
ITERATIONS_SESSION=${ITERATIONS_SESSION:-10}
LONG_SECONDS=${LONG_SECONDS:-30}
LONG_CLIENTS=${LONG_CLIENTS:-10}
LONG_SESSIONS=${LONG_SESSIONS:-3}
# The long mix spreads its clients over LONG_USERS accounts (issue 12: 10 clients over 20);
# every account is populated, so there are at least that many.
LONG_USERS=${LONG_USERS:-20}
USERS=$CLIENTS
if (( LONG_SECONDS > 0 && LONG_USERS > USERS )); then USERS=$LONG_USERS; fi

"$ROOT/bench/peers/dovecot.sh" install
if [[ "${SKIP_BUILD:-}" != 1 ]]; then
    cargo build --release -q -p govmail -p imap-load
fi
G="$ROOT/target/release/govmail"
LOAD="$ROOT/target/release/imap-load"

TMP=$(mktemp -d /tmp/govmail-imap-bench.XXXXXX)
chmod 755 "$TMP"
cleanup() {
    govmail_stop
    for d in "$TMP"/dovecot-*; do
        [[ -d "$d" ]] && "$ROOT/bench/peers/dovecot.sh" stop "$d" >/dev/null 2>&1
    done
    rm -rf "$TMP"
}
trap cleanup EXIT

busy=$(pgrep -c -x 'cargo|rustc' || true)
echo "# IMAP command mix: $CLIENTS clients x $ITERATIONS sessions, $MESSAGES messages of 4096 bytes per INBOX,"
echo "# $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg), other cargo/rustc processes: $busy, $(date -u +%FT%TZ)"
echo "# $("$G" --version 2>/dev/null || echo govmail), $(/usr/sbin/dovecot --version | sed 's/^/dovecot /')"

declare -A RATE CPU CPUPC
run_mix() { # run_mix LABEL PORT SERVER_PID ITERATIONS ROUNDS
    local label=$1 port=$2 pid=$3 iterations=$4 rounds=$5 out cpu0 cpu1
    cpu0=$(tree_cpu_seconds "$pid")
    out=$("$LOAD" load --label "$label" --addr "127.0.0.1:$port" --clients "$CLIENTS" \
        --users "$USERS" --iterations "$iterations" --rounds "$rounds")
    cpu1=$(tree_cpu_seconds "$pid")
    echo "$out"
    RATE[$label]=$(echo "$out" | sed -n 's/.*SUMMARY.* commands_per_s=\([0-9.]*\).*/\1/p')
    local commands
    commands=$(echo "$out" | sed -n 's/.*SUMMARY.* commands=\([0-9]*\).*/\1/p')
    CPU[$label]=$(echo "$cpu1 - $cpu0" | bc)
    echo "$label server_cpu_seconds=${CPU[$label]} server_cpu_ms_per_command=$(echo "scale=3; 1000 * ${CPU[$label]} / $commands" | bc)"
}
run_long() { # run_long LABEL PORT SERVER_PID
    local label=$1 port=$2 pid=$3 out cpu0 cpu1 commands
    cpu0=$(tree_cpu_seconds "$pid")
    out=$("$LOAD" stress --label "$label" --addr "127.0.0.1:$port" --clients "$LONG_CLIENTS" \
        --users "$USERS" --sessions "$LONG_SESSIONS" --seconds "$LONG_SECONDS" --populated "$MESSAGES")
    cpu1=$(tree_cpu_seconds "$pid")
    echo "$out"
    RATE[$label]=$(echo "$out" | sed -n 's/.*SUMMARY.* commands_per_s=\([0-9.]*\).*/\1/p')
    commands=$(echo "$out" | sed -n 's/.*SUMMARY.* commands=\([0-9]*\).*/\1/p')
    CPU[$label]=$(echo "$cpu1 - $cpu0" | bc)
    CPUPC[$label]=$(echo "scale=4; 1000 * ${CPU[$label]} / $commands" | bc)
    echo "$label server_cpu_seconds=${CPU[$label]} server_cpu_ms_per_command=${CPUPC[$label]}"
}
run_load() { # run_load NAME PORT SERVER_PID
    local name=$1 port=$2 pid=$3
    "$LOAD" populate --label "$name" --addr "127.0.0.1:$port" --users "$USERS" --messages "$MESSAGES"
    run_mix "$name/login" "$port" "$pid" "$ITERATIONS" 1
    if (( ITERATIONS_SESSION > 0 )); then
        run_mix "$name/session" "$port" "$pid" "$ITERATIONS_SESSION" "$ROUNDS"
    fi
    if (( LONG_SECONDS > 0 )); then
        run_long "$name/long" "$port" "$pid"
    fi
}

# (a) govmail
IMAP_PORT=$(free_port)
SMTP_PORT=$(free_port)
govmail_start "$TMP/govmail" "$IMAP_PORT" "$SMTP_PORT" "$USERS"
run_load govmail "$IMAP_PORT" "$GOVMAIL_PID"
echo "govmail server_rss_kib_after=$(awk '/^VmRSS:/ {print $2}' "/proc/$GOVMAIL_PID/status")"
govmail_stop
# (a') govmail with accounts.login_cache_secs=0: every LOGIN runs argon2id, as in Dovecot.
if [[ "${NOCACHE_PASS:-1}" == 1 ]]; then
    IMAP_PORT=$(free_port)
    SMTP_PORT=$(free_port)
    govmail_start "$TMP/govmail-nocache" "$IMAP_PORT" "$SMTP_PORT" "$USERS" \
        --set "accounts.login_cache_secs=0"
    "$LOAD" populate --label govmail-nocache --addr "127.0.0.1:$IMAP_PORT" --users "$USERS" --messages "$MESSAGES"
    run_mix "govmail-nocache/login" "$IMAP_PORT" "$GOVMAIL_PID" "$ITERATIONS" 1
    govmail_stop
fi

# (b), (c) Dovecot
dovecot_users "$TMP/users" "$USERS"
for mode in default fast; do
    PORT=$(free_port)
    "$ROOT/bench/peers/dovecot.sh" start "$TMP/dovecot-$mode" "$PORT" "$mode" "$TMP/users"
    run_load "dovecot-$mode" "$PORT" "$("$ROOT/bench/peers/dovecot.sh" pid "$TMP/dovecot-$mode")"
    "$ROOT/bench/peers/dovecot.sh" stop "$TMP/dovecot-$mode"
    if grep -qiE 'error|fatal|panic' "$TMP/dovecot-$mode/dovecot.log"; then
        echo "# dovecot-$mode log has errors:"; grep -iE 'error|fatal|panic' "$TMP/dovecot-$mode/dovecot.log" | head -5
    fi
done

mixes=(login)
(( ITERATIONS_SESSION > 0 )) && mixes+=(session)
(( LONG_SECONDS > 0 )) && mixes+=(long)
if [[ -n "${RATE[govmail-nocache/login]:-}" ]]; then
    for mode in default fast; do
        echo "ratio mix=login govmail-without-login-cache/dovecot-$mode" \
            "commands_per_s=$(echo "scale=2; ${RATE[govmail-nocache/login]} / ${RATE[dovecot-$mode/login]}" | bc)"
    done
fi
for mix in "${mixes[@]}"; do
    echo "# mix $mix commands/s: govmail=${RATE[govmail/$mix]} dovecot-default=${RATE[dovecot-default/$mix]} dovecot-fast=${RATE[dovecot-fast/$mix]}"
    for mode in default fast; do
        echo "ratio mix=$mix govmail/dovecot-$mode" \
            "commands_per_s=$(echo "scale=2; ${RATE[govmail/$mix]} / ${RATE[dovecot-$mode/$mix]}" | bc)" \
            "server_cpu_seconds=$(echo "scale=2; ${CPU[govmail/$mix]} / ${CPU[dovecot-$mode/$mix]}" | bc)"
    done
done
if (( LONG_SECONDS > 0 )); then
    for mode in default fast; do
        echo "ratio mix=long govmail/dovecot-$mode" \
            "server_cpu_per_command=$(echo "scale=2; ${CPUPC[govmail/long]} / ${CPUPC[dovecot-$mode/long]}" | bc)"
    done
fi
