#!/usr/bin/env bash
# SMTP throughput benchmark (issue: "SMTP ... Performance"): 4 KiB messages from 20 concurrent
# connections, against
#   (a) govmail without clamd, (b) govmail with clamd, (c) clamd's own INSTREAM rate,
#   (d) Postfix 3.7 from Debian delivering to Maildir — all in the same run, all on loopback.
# Usage: bench/smtp.sh [MESSAGES]   (default 4000)
set -euo pipefail
cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/.."
ROOT=$(pwd -P)
source "$ROOT/scripts/lib/services.sh"
N=${1:-4000}
C=20

ensure_packages clamav swaks
"$ROOT/bench/peers/postfix.sh" install
cargo build --release -q -p govmail -p smtp-load
G="$ROOT/target/release/govmail"
LOAD="$ROOT/target/release/smtp-load"

TMP=$(mktemp -d /tmp/govmail-bench.XXXXXX)
chmod 755 "$TMP"
SERVER_PID=""
cleanup() {
    [[ -n "$SERVER_PID" ]] && kill "$SERVER_PID" 2>/dev/null && wait "$SERVER_PID" 2>/dev/null
    clamd_stop "$TMP/clamd" || true
    "$ROOT/bench/peers/postfix.sh" stop "$TMP/postfix" >/dev/null 2>&1 || true
    rm -rf "$TMP"
}
trap cleanup EXIT

CLAMD_PORT=$(free_port)
clamd_start "$TMP/clamd" "$CLAMD_PORT" >/dev/null

start_govmail() { # start_govmail DATA_DIR PORT CLAMD_ENABLED
    local dir=$1 port=$2 av=$3
    local S=(--set "server.data_dir=$dir" --set "antivirus.enabled=$av"
        --set "antivirus.clamd=tcp://127.0.0.1:$CLAMD_PORT"
        --set "listen.smtp=[\"127.0.0.1:$port\"]" --set "listen.submission=[]"
        --set "listen.submissions=[]" --set "listen.imap=[]" --set "listen.imaps=[]" --set "listen.managesieve=[]"
        --set "listen.http=[]" --set "listen.https=[]" --set "outbound.enabled=false" --set "smtp.check_sender_authentication=false" --set "smtp.max_connections_per_ip=1000"
        --set "smtp.max_messages_per_connection=100000" --set "spam.enabled=true"
        --set "server.log_level=warn")
    "$G" "${S[@]}" domain add bench.test >/dev/null
    echo 'bench-password-1' | "$G" "${S[@]}" user add --name "Người Đo" --address bench@bench.test --password-stdin >/dev/null
    "$G" "${S[@]}" serve >"$dir.log" 2>&1 &
    SERVER_PID=$!
    for _ in $(seq 100); do
        grep -q "govmail serving" "$dir.log" 2>/dev/null && return 0
        sleep 0.1
    done
    echo "govmail did not start" >&2; cat "$dir.log" >&2; return 1
}
stop_govmail() { kill "$SERVER_PID"; wait "$SERVER_PID" 2>/dev/null || true; SERVER_PID=""; }

echo "# $N messages of 4096 bytes, $C connections, $(nproc) cores, $(date -u +%FT%TZ)"

PORT=$(free_port)
start_govmail "$TMP/g1" "$PORT" false
"$LOAD" --label govmail-no-clamd --addr "127.0.0.1:$PORT" --connections $C --messages "$N" --to bench@bench.test
stop_govmail

PORT=$(free_port)
start_govmail "$TMP/g2" "$PORT" true
"$LOAD" --label govmail-clamd --addr "127.0.0.1:$PORT" --connections $C --messages "$N" --to bench@bench.test
stop_govmail

"$LOAD" --label clamd-instream --clamd --addr "127.0.0.1:$CLAMD_PORT" --connections $C --messages "$N"

PORT=$(free_port)
"$ROOT/bench/peers/postfix.sh" start "$TMP/postfix" "$PORT"
"$ROOT/bench/peers/postfix.sh" clear
"$LOAD" --label postfix-maildir --addr "127.0.0.1:$PORT" --connections $C --messages "$N" --to benchuser@bench.test
# Postfix acknowledges once the message is in its queue; report how long local delivery took too.
start=$(date +%s.%N)
for _ in $(seq 600); do
    [[ $("$ROOT/bench/peers/postfix.sh" count) -ge $N ]] && break
    sleep 0.1
done
echo "postfix-maildir delivered=$("$ROOT/bench/peers/postfix.sh" count) drain_seconds=$(echo "$(date +%s.%N) - $start" | bc)"
