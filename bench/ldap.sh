#!/usr/bin/env bash
# LDAP directory benchmark (issue 14, "Benchmark"): name-prefix searches over a directory of
# PERSONS persons, govmail against OpenLDAP slapd (Debian) loaded with the same entries, in
# the same run. Reports per server: searches/s, p50 and p99 latency (ms). The issue's bar:
# govmail p99 <= 10 ms and govmail searches/s >= slapd's.
#
# How: a data dir with PERSONS persons (`govmail directory import`, one unit), `govmail serve`
# with only listen.ldap (plaintext bind allowed from loopback, so both servers are measured
# without TLS); the entries are read back from govmail with ldapsearch (paged) and loaded into
# slapd (mdb, eq/sub indexes on cn, mail, sn, givenName) with slapadd under the same base DN;
# then bench/ldap-load (Rust, so the client costs little next to the servers) runs CLIENTS
# connections x SEARCHES searches of `(cn=PREFIX*)`, sizeLimit 50, against each server.
#
# Two prefix sets:
# - SAME: ASCII prefixes of family names ("nguy", "ph", "tr", ...) that both servers answer
#   with the same entries (slapd does not fold diacritics); the entry counts of every prefix
#   are printed for both servers and the run stops if they differ. The ratio is taken here.
# - FOLDED: names typed without diacritics ("tran", "hoang", "dang", ...), what a user types;
#   govmail only (slapd finds none of them: nothing to compare).
#
# Usage: bench/ldap.sh [PERSONS]   (default 10000)
# Environment: CLIENTS (8), SEARCHES per client (2000), RUNS (3), SKIP_BUILD=1.
set -euo pipefail
cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/.."
ROOT=$(pwd -P)
source "$ROOT/scripts/lib/services.sh"
N=${1:-10000}
CLIENTS=${CLIENTS:-8}
SEARCHES=${SEARCHES:-2000}
RUNS=${RUNS:-3}
ensure_packages python3 ldap-utils slapd

[[ "${SKIP_BUILD:-0}" == 1 ]] || cargo build --release -p govmail -p ldap-load >&2
BIN="$ROOT/target/release/govmail"
LOAD="$ROOT/target/release/ldap-load"
TMP=$(mktemp -d /tmp/govmail-ldapbench.XXXXXX)
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$TMP"; }
trap cleanup EXIT

BASE="dc=kontum,dc=gov,dc=vn"
USER="bench.stp@kontum.gov.vn"
PASS="mat-khau-bench-1"
gm() { "$BIN" --no-config --set "server.data_dir=$TMP/data" "$@"; }
gm domain add kontum.gov.vn --naming kontum >/dev/null
gm unit add --abbrev STP --name "Sở Tư pháp" >/dev/null
printf '%s\n' "$PASS" | gm user add --name "Bench User" --unit STP --address "$USER" --password-stdin >/dev/null
python3 - "$N" > "$TMP/people.csv" <<'PY'
import random, sys
random.seed(14)
fam = ["Nguyễn", "Trần", "Lê", "Phạm", "Hoàng", "Huỳnh", "Phan", "Vũ", "Võ", "Đặng", "Bùi", "Đỗ"]
mid = ["Văn", "Thị", "Hữu", "Đức", "Minh", "Ngọc", "Thanh", "Quốc"]
giv = ["An", "Bình", "Chi", "Dũng", "Đức", "Giang", "Hoa", "Hùng", "Lan", "Long", "Mai", "Nam",
       "Phong", "Quân", "Sơn", "Tâm", "Thảo", "Trang", "Tuấn", "Tuyết", "Việt", "Yến"]
print("name,unit,position,phone")
for i in range(int(sys.argv[1])):
    print(f"{random.choice(fam)} {random.choice(mid)} {random.choice(giv)},STP,Chuyên viên,0260 {i:06d}")
PY
gm directory import "$TMP/people.csv" >/dev/null

PORT=$(free_port)
gm --set "listen.ldap=[\"127.0.0.1:$PORT\"]" --set "listen.ldaps=[]" --set "listen.smtp=[]" \
   --set "listen.submission=[]" --set "listen.submissions=[]" --set "listen.imap=[]" \
   --set "listen.imaps=[]" --set "listen.http=[]" --set "listen.https=[]" \
   --set "listen.managesieve=[]" --set "antivirus.enabled=false" --set "outbound.enabled=false" \
   --set "tls.allow_plaintext_loopback=true" --set "server.hostname=mail.kontum.gov.vn" \
   --set "ldap.max_results=100000" serve >"$TMP/serve.out" 2>"$TMP/serve.err" &
PIDS+=($!)
for _ in $(seq 100); do cat "$TMP/serve.out" "$TMP/serve.err" 2>/dev/null | grep -q "govmail serving" && break; sleep 0.2; done

# The same entries for slapd: read back from govmail (paged), operational noise removed.
LDAPCONF=/dev/null ldapsearch -x -LLL -o ldif-wrap=no -H "ldap://127.0.0.1:$PORT" -D "$USER" -w "$PASS" \
    -E pr=1000/noprompt -b "$BASE" '(objectClass=*)' > "$TMP/all.ldif"
grep -v '^#' "$TMP/all.ldif" | grep -v '^member:' > "$TMP/load.ldif"

SLAPD_PORT=$(free_port)
mkdir -p "$TMP/slapd/db"
cat > "$TMP/slapd/slapd.conf" <<CONF
include /etc/ldap/schema/core.schema
include /etc/ldap/schema/cosine.schema
include /etc/ldap/schema/inetorgperson.schema
modulepath /usr/lib/ldap
moduleload back_mdb
pidfile $TMP/slapd/slapd.pid
database mdb
maxsize 1073741824
suffix "$BASE"
rootdn "cn=admin,$BASE"
rootpw $PASS
directory $TMP/slapd/db
index objectClass eq
index cn,sn,givenName,mail eq,sub
CONF
/usr/sbin/slapadd -f "$TMP/slapd/slapd.conf" -c -l "$TMP/load.ldif" >/dev/null 2>"$TMP/slapd/slapadd.err" || true
/usr/sbin/slapd -f "$TMP/slapd/slapd.conf" -h "ldap://127.0.0.1:$SLAPD_PORT/" -d 0 >/dev/null 2>&1 &
PIDS+=($!)
sleep 1

SAME="nguy,ngu,ph,phan,h,ho,hu,tr,l,v,b"
FOLDED="tran,le,pham,hoang,huynh,vu,vo,dang,bui,do,nguyen,duc"
load() { # LABEL PORT BIND_DN PREFIXES [more ldap-load arguments]
    local label=$1 port=$2 dn=$3 prefixes=$4; shift 4
    "$LOAD" --label "$label" --port "$port" --bind-dn "$dn" --password "$PASS" --base "$BASE" \
        --prefixes "$prefixes" --clients "$CLIENTS" --searches "$SEARCHES" "$@"
}
load govmail "$PORT" "$USER" "$SAME" --count > "$TMP/count.govmail"
load slapd "$SLAPD_PORT" "cn=admin,$BASE" "$SAME" --count > "$TMP/count.slapd"
echo "# entries per prefix (govmail | slapd):"
paste "$TMP/count.govmail" "$TMP/count.slapd" | sed 's/^/#   /'
if ! cmp -s "$TMP/count.govmail" "$TMP/count.slapd"; then
    echo "the two servers answer the SAME prefixes differently: no comparison" >&2
    exit 1
fi
echo "# $N persons, $CLIENTS clients x $SEARCHES searches of (cn=PREFIX*), sizeLimit 50"
for run in $(seq "$RUNS"); do
    echo "# run $run"
    load "govmail same  " "$PORT" "$USER" "$SAME"
    load "slapd   same  " "$SLAPD_PORT" "cn=admin,$BASE" "$SAME"
    load "govmail folded" "$PORT" "$USER" "$FOLDED"
done
