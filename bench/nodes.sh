#!/usr/bin/env bash
# Several nodes (issue 16): SMTP acceptance and the IMAP session mix, in the same run, against
#   (a) one node on SQLite, (b) one node on PostgreSQL 15, (c) two nodes on that PostgreSQL —
# every server on this machine, on loopback; PostgreSQL is a private instance on a free port
# (synchronous_commit = on, fsync = on: "250 means durable" as in production). With two nodes
# the SMTP connections alternate between them (smtp-load --addr A,B) and the IMAP clients are
# split in two halves, one per node, over the same mailboxes (run at the same time; the
# commands/s are added up).
#
# Usage: bench/nodes.sh [MESSAGES]          (SMTP messages per configuration, default 3000)
# Environment: CLIENTS (20 IMAP clients), USERS (20), MESSAGES_IMAP (200 per INBOX),
#              ITERATIONS (5 sessions per client), ROUNDS (10), SKIP_BUILD=1.
set -euo pipefail
cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/.."
ROOT=$(pwd -P)
source "$ROOT/scripts/lib/services.sh"
N=${1:-3000}
C=20
CLIENTS=${CLIENTS:-20}
USERS=${USERS:-20}
MESSAGES_IMAP=${MESSAGES_IMAP:-200}
ITERATIONS=${ITERATIONS:-5}
ROUNDS=${ROUNDS:-10}
PASSWORD=bench-password-1

ensure_packages postgres
if [[ "${SKIP_BUILD:-}" != 1 ]]; then
    cargo build --release -q -p govmail -p smtp-load -p imap-load
fi
G="$ROOT/target/release/govmail"
SMTP_LOAD="$ROOT/target/release/smtp-load"
IMAP_LOAD="$ROOT/target/release/imap-load"

TMP=$(mktemp -d /tmp/govmail-nodes-bench.XXXXXX)
chmod 755 "$TMP"
PIDS=()
cleanup() {
    for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
    for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
    pg_stop "$TMP/pg" || true
    rm -rf "$TMP"
}
trap cleanup EXIT

PG_PORT=$(free_port)
PG_BASE=$(pg_start "$TMP/pg" "$PG_PORT")
PSQL=("$(_pg_bindir)/psql" -X -q -h "$TMP/pg" -p "$PG_PORT" -U postgres -d postgres)

busy=$(pgrep -c -x 'cargo|rustc' || true)
echo "# nodes: SMTP $N messages of 4096 bytes from $C connections; IMAP session mix $CLIENTS clients x $ITERATIONS sessions x $ROUNDS rounds, $MESSAGES_IMAP messages per INBOX"
echo "# $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg), other cargo/rustc processes: $busy, $(date -u +%FT%TZ)"

# node_sets URL DIR SMTP IMAP: the options of one node, into the array NODE_SETS.
node_sets() {
    local url=$1 dir=$2 smtp=$3 imap=$4
    NODE_SETS=(--no-config --set "server.data_dir=$dir" --set "storage.url=$url"
        --set "antivirus.enabled=false" --set "listen.smtp=[\"127.0.0.1:$smtp\"]"
        --set "listen.submission=[]" --set "listen.submissions=[]"
        --set "listen.imap=[\"127.0.0.1:$imap\"]" --set "listen.imaps=[]"
        --set "listen.managesieve=[]" --set "listen.ldap=[]" --set "listen.ldaps=[]"
        --set "listen.http=[]" --set "listen.https=[]" --set "outbound.enabled=false"
        --set "smtp.check_sender_authentication=false" --set "tls.allow_plaintext_loopback=true"
        --set "smtp.max_connections_per_ip=1000" --set "smtp.max_messages_per_connection=100000"
        --set "imap.max_connections_per_ip=1000"
        --set "server.log_level=warn")
}

# setup URL DIR: the domain, bench@bench.test and user1..USERS@bench.test.
setup() {
    local url=$1 dir=$2 i
    local S=(--no-config --set "server.data_dir=$dir" --set "storage.url=$url")
    mkdir -p "$dir"
    "$G" "${S[@]}" domain add bench.test >/dev/null
    echo "$PASSWORD" | "$G" "${S[@]}" user add --name "Người Đo" --address bench@bench.test --password-stdin >/dev/null
    for i in $(seq 1 "$USERS"); do
        echo "$PASSWORD" | "$G" "${S[@]}" user add --name "Bench User $i" \
            --address "user$i@bench.test" --password-stdin >/dev/null
    done
}

# start_node URL DIR SMTP IMAP: one node in the background, waited for.
start_node() {
    local url=$1 dir=$2 smtp=$3 imap=$4
    node_sets "$url" "$dir" "$smtp" "$imap"
    mkdir -p "$dir"
    "$G" "${NODE_SETS[@]}" serve >"$dir.log" 2>&1 &
    PIDS+=($!)
    for _ in $(seq 200); do
        grep -q "govmail serving" "$dir.log" 2>/dev/null && return 0
        sleep 0.1
    done
    echo "govmail did not start" >&2; cat "$dir.log" >&2; return 1
}

stop_nodes() {
    for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
    for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
    PIDS=()
}

declare -A SMTP_RATE IMAP_RATE
# run NAME URL NODES
run() {
    local name=$1 url=$2 nodes=$3 dir="$TMP/$1" smtp_addrs="" i out
    local -a imap_ports=()
    setup "$url" "$dir/cli"
    for i in $(seq 1 "$nodes"); do
        local sp ip
        sp=$(free_port); ip=$(free_port)
        start_node "$url" "$dir/node$i" "$sp" "$ip"
        smtp_addrs+="${smtp_addrs:+,}127.0.0.1:$sp"
        imap_ports+=("$ip")
    done
    out=$("$SMTP_LOAD" --label "$name/smtp" --addr "$smtp_addrs" --connections $C --messages "$N" --to bench@bench.test)
    echo "$out"
    SMTP_RATE[$name]=$(echo "$out" | sed -n 's/.* rate=\([0-9.]*\)\/s.*/\1/p')
    "$IMAP_LOAD" populate --label "$name" --addr "127.0.0.1:${imap_ports[0]}" --users "$USERS" --messages "$MESSAGES_IMAP" >/dev/null
    local per=$((CLIENTS / nodes)) total=0 files=() loads=()
    for i in "${!imap_ports[@]}"; do
        "$IMAP_LOAD" load --label "$name/imap-node$((i + 1))" --addr "127.0.0.1:${imap_ports[$i]}" \
            --clients "$per" --users "$USERS" --iterations "$ITERATIONS" --rounds "$ROUNDS" >"$dir/imap$i.out" &
        loads+=($!)
        files+=("$dir/imap$i.out")
    done
    for pid in "${loads[@]}"; do wait "$pid"; done
    for f in "${files[@]}"; do
        grep SUMMARY "$f"
        local r
        r=$(sed -n 's/.*SUMMARY.* commands_per_s=\([0-9.]*\).*/\1/p' "$f")
        total=$(echo "$total + ${r:-0}" | bc)
    done
    IMAP_RATE[$name]=$total
    echo "$name imap commands_per_s_total=$total"
    stop_nodes
}

run sqlite-1 "sqlite://$TMP/sqlite-1/govmail.db" 1
"${PSQL[@]}" -c "CREATE DATABASE pg1 OWNER govmail"
run pg-1 "${PG_BASE%/*}/pg1" 1
"${PSQL[@]}" -c "CREATE DATABASE pg2 OWNER govmail"
run pg-2 "${PG_BASE%/*}/pg2" 2

echo "# summary (accepted/s, IMAP session-mix commands/s):"
for name in sqlite-1 pg-1 pg-2; do
    echo "$name smtp_per_s=${SMTP_RATE[$name]} imap_commands_per_s=${IMAP_RATE[$name]}"
done
echo "scaling pg-2/pg-1 smtp=$(echo "scale=2; ${SMTP_RATE[pg-2]} / ${SMTP_RATE[pg-1]}" | bc) imap=$(echo "scale=2; ${IMAP_RATE[pg-2]} / ${IMAP_RATE[pg-1]}" | bc)"
