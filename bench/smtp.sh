#!/usr/bin/env bash
# SMTP throughput benchmark (issue: "SMTP ... Performance"): 4 KiB messages from 20 concurrent
# connections, against
#   (a) govmail without clamd, (b) govmail with clamd, (c) clamd's own INSTREAM rate,
#   (d) Postfix 3.7 from Debian delivering to Maildir — all in the same run, all on loopback.
# Usage: bench/smtp.sh [MESSAGES]   (default 4000)
# SIEVE=1 adds (a') govmail without clamd with a 20-rule Sieve script active on the recipient
# (uploaded over ManageSieve with Python sievelib), to compare with (a).
# FULL_INBOX=50000 adds (a'') govmail without clamd into an INBOX first filled with that many
# messages (same load, label `prefill`), to compare with (a), which starts empty.
# PARTS=a,b,c,d (default all) picks the parts: a govmail without clamd, b with clamd,
# c clamd's INSTREAM, d Postfix.
set -euo pipefail
cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/.."
ROOT=$(pwd -P)
source "$ROOT/scripts/lib/services.sh"
N=${1:-4000}
C=20
PARTS=${PARTS:-a,b,c,d}
part() { [[ ",$PARTS," == *",$1,"* ]]; }

ensure_packages clamav swaks
"$ROOT/bench/peers/postfix.sh" install
cargo build --release -q -p govmail -p smtp-load
# GOVMAIL_BIN: another build to compare (e.g. main's), run by this same script.
G="${GOVMAIL_BIN:-$ROOT/target/release/govmail}"
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
CLAMD_PID=$(clamd_start "$TMP/clamd" "$CLAMD_PORT")

# CPU time (user + system, ms) a process has used so far.
cpu_ms() { awk -v hz="$(getconf CLK_TCK)" '{print ($14 + $15) * 1000 / hz}' "/proc/$1/stat"; }
# measure LABEL LOAD-ARGS...: runs the load, then prints the CPU per message of the server
# under test (SERVER_PID, when set) and of clamd, so a ratio can be read as a cost too.
measure() {
    local label=$1; shift
    local g0=0 c0 g1=0 c1
    [[ -n "$SERVER_PID" ]] && g0=$(cpu_ms "$SERVER_PID")
    c0=$(cpu_ms "$CLAMD_PID")
    "$LOAD" --label "$label" "$@"
    [[ -n "$SERVER_PID" ]] && g1=$(cpu_ms "$SERVER_PID")
    c1=$(cpu_ms "$CLAMD_PID")
    awk -v l="$label" -v g="$((${g1%.*} - ${g0%.*}))" -v c="$((${c1%.*} - ${c0%.*}))" -v n="$N" \
        'BEGIN {printf "%s cpu_ms_per_msg server=%.3f clamd=%.3f\n", l, g / n, c / n}'
}

# A 20-rule script that reads headers, addresses, the envelope and the size of every message
# and matches none of the load's messages (so each delivery runs every rule, then keeps).
SIEVE_SCRIPT='require ["fileinto", "envelope", "imap4flags", "comparator-i;unicode-casemap"];
if header :contains "subject" "quảng cáo" { fileinto "Junk"; }
elsif header :matches "subject" "*[SPAM]*" { discard; }
elsif address :domain :is "from" "spam.example" { discard; }
elsif address :localpart :is "from" "noreply" { fileinto "Archive"; }
elsif envelope :domain :is "from" "lists.example.org" { fileinto "Archive"; }
elsif header :contains :comparator "i;unicode-casemap" "subject" "CÔNG VĂN KHẨN" { addflag "\\Flagged"; keep; }
elsif exists "List-Id" { fileinto "Archive"; }
elsif header :is "X-Priority" "1" { addflag "\\Flagged"; keep; }
elsif size :over 10M { fileinto "Archive"; }
elsif header :contains "to" "giamdoc@" { fileinto "Archive"; }
elsif header :matches "from" "*@*.invalid" { discard; }
elsif header :contains "x-mailer" "bulkmailer" { discard; }
elsif address :all :is "cc" "bao-cao@bench.test" { fileinto "Archive"; }
elsif header :contains "subject" ["hóa đơn", "invoice"] { fileinto "Archive"; }
elsif anyof (header :contains "subject" "lịch họp", header :contains "subject" "meeting") { fileinto "Archive"; }
elsif allof (exists "X-Spam-Flag", header :is "X-Spam-Flag" "YES") { fileinto "Junk"; }
elsif not exists "Date" { fileinto "Junk"; }
elsif header :matches "message-id" "<*@spam.example>" { discard; }
elsif address :domain :is "reply-to" "phishing.example" { discard; }
elsif header :contains "subject" "tuyển dụng" { fileinto "Archive"; }
'

start_govmail() { # start_govmail DATA_DIR PORT CLAMD_ENABLED [MANAGESIEVE_PORT]
    local dir=$1 port=$2 av=$3 sieve_port=${4:-}
    local managesieve="listen.managesieve=[]"
    [[ -n "$sieve_port" ]] && managesieve="listen.managesieve=[\"127.0.0.1:$sieve_port\"]"
    local S=(--no-config --set "server.data_dir=$dir" --set "antivirus.enabled=$av"
        --set "antivirus.clamd=tcp://127.0.0.1:$CLAMD_PORT"
        --set "listen.smtp=[\"127.0.0.1:$port\"]" --set "listen.submission=[]"
        --set "listen.submissions=[]" --set "listen.imap=[]" --set "listen.imaps=[]" --set "$managesieve" --set "listen.ldap=[]" --set "listen.ldaps=[]" --set "tls.allow_plaintext_loopback=true"
        --set "listen.http=[]" --set "listen.https=[]" --set "outbound.enabled=false" --set "smtp.check_sender_authentication=false" --set "smtp.max_connections_per_ip=1000"
        --set "smtp.max_messages_per_connection=100000" --set "spam.enabled=true"
        --set "server.log_level=warn")
    # EXTRA_SET: more "key=value" settings, space-separated (e.g. storage.full_text_index=false).
    local kv; for kv in ${EXTRA_SET:-}; do S+=(--set "$kv"); done
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

if part a; then
    PORT=$(free_port)
    start_govmail "$TMP/g1" "$PORT" false
    measure govmail-no-clamd --addr "127.0.0.1:$PORT" --connections $C --messages "$N" --to bench@bench.test
    stop_govmail
fi

if [[ -n "${FULL_INBOX:-}" ]]; then
    PORT=$(free_port)
    start_govmail "$TMP/g1f" "$PORT" false
    "$LOAD" --label prefill --addr "127.0.0.1:$PORT" --connections $C --messages "$FULL_INBOX" --to bench@bench.test
    "$LOAD" --label "govmail-no-clamd-inbox-$FULL_INBOX" --addr "127.0.0.1:$PORT" --connections $C --messages "$N" --to bench@bench.test
    stop_govmail
fi

if [[ "${SIEVE:-0}" == 1 ]]; then
    ensure_packages python3 sievelib
    PORT=$(free_port)
    SIEVE_PORT=$(free_port)
    start_govmail "$TMP/g1s" "$PORT" false "$SIEVE_PORT"
    SIEVE_SCRIPT="$SIEVE_SCRIPT" python3 - "$SIEVE_PORT" <<'PY'
import os, sys, warnings
from sievelib.managesieve import Client
warnings.simplefilter("ignore")
c = Client("127.0.0.1", int(sys.argv[1]))
assert c.connect("bench@bench.test", "bench-password-1", starttls=False, authmech="PLAIN"), c.errmsg
assert c.putscript("rules", os.environ["SIEVE_SCRIPT"]), c.errmsg
assert c.setactive("rules"), c.errmsg
c.logout()
PY
    "$LOAD" --label govmail-no-clamd-sieve20 --addr "127.0.0.1:$PORT" --connections $C --messages "$N" --to bench@bench.test
    stop_govmail
fi

if part b; then
    PORT=$(free_port)
    start_govmail "$TMP/g2" "$PORT" true
    measure govmail-clamd --addr "127.0.0.1:$PORT" --connections $C --messages "$N" --to bench@bench.test
    stop_govmail
fi

if part c; then
    measure clamd-instream --clamd --addr "127.0.0.1:$CLAMD_PORT" --connections $C --messages "$N"
fi

part d || exit 0
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
