#!/usr/bin/env bash
# Import benchmark (issue 15): messages/s and MB/s pulled from the same private Dovecot 2.3
# (Debian, Maildir, default mode), in the same run, by
#   (a) mbsync (Debian isync) pulling every account into a local Maildir (its defaults: FSync
#       yes, one channel after the other),
#   (b) `govmail import imap` (release, SQLite) with --jobs 1, then with --jobs 2 (the default),
#       each into a fresh data dir.
# The old Maildirs are written on disk (ACCOUNTS accounts, MESSAGES messages each of 2-12 KiB
# over 4 folders, one with a Vietnamese name), then every folder is read once over IMAP so
# Dovecot's indexes exist before anyone is timed. The first account's INBOX also holds one
# message of BIG_MB MB (a PDF attachment, base64), and each govmail run's peak RSS is reported
# (/usr/bin/time), for issue 15's bound: ≤ 100 MB with a 50 MB message in the set.
#
# Usage: bench/import.sh            Environment: ACCOUNTS (3), MESSAGES (5000), BIG_MB (50; 0 =
#                                   none), SKIP_BUILD=1, GOVMAIL_SETS (extra `--set K=V` words for
#                                   govmail, e.g. "--set storage.full_text_index=false").
set -euo pipefail
cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/.."
ROOT=$(pwd -P)
ACCOUNTS=${ACCOUNTS:-3}
MESSAGES=${MESSAGES:-5000}
BIG_MB=${BIG_MB:-50}
PASSWORD=bench-old-password-1

"$ROOT/bench/peers/dovecot.sh" install
command -v mbsync >/dev/null || { apt-get install -y -q isync >/dev/null; }
if [[ "${SKIP_BUILD:-}" != 1 ]]; then
    cargo build --release -q -p govmail
fi
G="$ROOT/target/release/govmail"

TMP=$(mktemp -d /tmp/govmail-import-bench.XXXXXX)
chmod 755 "$TMP"
cleanup() {
    "$ROOT/bench/peers/dovecot.sh" stop "$TMP/dovecot" >/dev/null 2>&1 || true
    rm -rf "$TMP"
}
trap cleanup EXIT

# The old Maildirs, and the totals every tool must move.
python3 - "$TMP/dovecot/mail" "$ACCOUNTS" "$MESSAGES" "$BIG_MB" > "$TMP/totals" <<'PY'
import base64, os, sys
root, accounts, messages, big_mb = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
def mutf7(name):
    out, buf = [], ""
    def flush():
        nonlocal buf
        if buf:
            b = base64.b64encode(buf.encode("utf-16-be")).decode().rstrip("=").replace("/", ",")
            out.append("&" + b + "-"); buf = ""
    for ch in name:
        if 0x20 <= ord(ch) <= 0x7e:
            flush(); out.append("&-" if ch == "&" else ch)
        else:
            buf += ch
    flush()
    return "".join(out)
folders = [None, "Công văn", "Sent Items", "Lưu trữ"]
count = size = 0
for a in range(1, accounts + 1):
    user = f"user{a}@old.test"
    for fi, folder in enumerate(folders):
        d = os.path.join(root, user) if folder is None else os.path.join(root, user, "." + mutf7(folder))
        for sub in ("cur", "new", "tmp"):
            os.makedirs(os.path.join(d, sub), exist_ok=True)
        n = messages // len(folders) + (messages % len(folders) if fi == 0 else 0)
        for i in range(n):
            body = (f"Message-ID: <{a}-{fi}-{i}@old.test>\r\nFrom: vanthu@old.test\r\n"
                    f"To: {user}\r\nSubject: Công văn số {i} về việc chuyển đổi số\r\n"
                    "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
                    + "Kính gửi các sở, ban, ngành: đề nghị báo cáo kết quả thực hiện.\r\n"
                    * (30 + (i * 37) % 150)).encode()
            t = 1420070400 + i * 3600
            name = f"{t}.M{i}P{fi}.oldhost,S={len(body)},W={len(body)}:2,{'S' if i % 2 else ''}"
            p = os.path.join(d, "cur", name)
            with open(p, "wb") as f:
                f.write(body)
            os.utime(p, (t, t))
            count += 1; size += len(body)
if big_mb > 0:
    head = ("Message-ID: <big@old.test>\r\nFrom: vanthu@old.test\r\nTo: user1@old.test\r\n"
            "Subject: Hồ sơ quét\r\nMIME-Version: 1.0\r\n"
            "Content-Type: multipart/mixed; boundary=\"b\"\r\n\r\n--b\r\n"
            "Content-Type: text/plain; charset=utf-8\r\n\r\nGửi kèm hồ sơ.\r\n--b\r\n"
            "Content-Type: application/pdf; name=\"ho-so.pdf\"\r\n"
            "Content-Transfer-Encoding: base64\r\n\r\n").encode()
    data = os.urandom(big_mb * 1000 * 1000 * 3 // 4 - len(head))
    body = head + base64.encodebytes(data).replace(b"\n", b"\r\n") + b"--b--\r\n"
    name = f"1420000000.Mbig.oldhost,S={len(body)},W={len(body)}:2,S"
    with open(os.path.join(root, "user1@old.test", "cur", name), "wb") as f:
        f.write(body)
    count += 1; size += len(body)
print(count, size)
PY
read -r TOTAL_MESSAGES TOTAL_BYTES < "$TMP/totals"
"$ROOT/bench/peers/dovecot.sh" user
chown -R benchuser:benchuser "$TMP/dovecot/mail"
: > "$TMP/users"
for a in $(seq 1 "$ACCOUNTS"); do echo "user$a@old.test:{PLAIN}$PASSWORD" >> "$TMP/users"; done
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
"$ROOT/bench/peers/dovecot.sh" start "$TMP/dovecot" "$PORT" default "$TMP/users"

# Warm-up: every folder listed once, so Dovecot's indexes exist before anyone is timed.
python3 - "$PORT" "$ACCOUNTS" "$PASSWORD" <<'PY'
import imaplib, re, sys
port, accounts, password = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
for a in range(1, accounts + 1):
    m = imaplib.IMAP4("127.0.0.1", port)
    m.login(f"user{a}@old.test", password)
    for line in m.list('""', "*")[1]:
        m2 = re.search(rb'(?:"([^"]*)"|(\S+))$', line)
        name = (m2.group(1) or m2.group(2)).decode()
        m.select('"' + name + '"', readonly=True)
        m.uid("FETCH", "1:*", "(UID RFC822.SIZE)")
    m.logout()
PY

now() { date +%s.%N; }
rate() { # rate NAME SECONDS
    python3 -c "import sys; n,m,b,s=sys.argv[1],int(sys.argv[2]),int(sys.argv[3]),float(sys.argv[4]); \
print(f'{n:<24} {s:8.2f} s {m/s:10.0f} msg/s {b/s/1e6:8.2f} MB/s')" "$1" "$TOTAL_MESSAGES" "$TOTAL_BYTES" "$2"
}

# (a) mbsync
mkdir -p "$TMP/mbsync"
conf="$TMP/mbsyncrc"
: > "$conf"
for a in $(seq 1 "$ACCOUNTS"); do
    mkdir -p "$TMP/mbsync/user$a"
    cat >> "$conf" <<CONF
IMAPAccount old$a
Host 127.0.0.1
Port $PORT
User user$a@old.test
Pass $PASSWORD
SSLType None
AuthMechs LOGIN

IMAPStore old$a-remote
Account old$a

MaildirStore old$a-local
Path $TMP/mbsync/user$a/
Inbox $TMP/mbsync/user$a/INBOX
SubFolders Verbatim

Channel old$a
Far :old$a-remote:
Near :old$a-local:
Patterns *
Create Near
Sync Pull
SyncState *

CONF
done
start=$(now)
mbsync -q -c "$conf" -a
MBSYNC=$(python3 -c "print($(now) - $start)")
got=$(find "$TMP/mbsync" -path '*/cur/*' -type f -o -path '*/new/*' -type f | wc -l)
[[ "$got" == "$TOTAL_MESSAGES" ]] || { echo "mbsync pulled $got of $TOTAL_MESSAGES" >&2; exit 1; }

# (b) govmail, --jobs 1 and --jobs 2, each into a fresh data dir.
govmail_run() { # govmail_run JOBS
    local data="$TMP/govmail-$1"
    local S=(--no-config --set "server.data_dir=$data" --set "antivirus.enabled=false" ${GOVMAIL_SETS:-}
        --set "server.log_level=warn")
    "$G" "${S[@]}" domain add tinh.gov.vn >/dev/null 2>&1
    : > "$TMP/accounts-$1.csv"
    for a in $(seq 1 "$ACCOUNTS"); do
        echo "new-account-password-$a" | "$G" "${S[@]}" user add --name "Người Dùng $a" \
            --address "user$a@tinh.gov.vn" --password-stdin >/dev/null 2>&1
        echo "user$a@old.test,user$a@tinh.gov.vn,$PASSWORD" >> "$TMP/accounts-$1.csv"
    done
    local start end
    start=$(now)
    /usr/bin/time -f %M -o "$TMP/rss-$1" \
    "$G" "${S[@]}" --json import imap --from "imap://127.0.0.1:$PORT" \
        --accounts "$TMP/accounts-$1.csv" --jobs "$1" --quiet > "$TMP/report-$1.json"
    end=$(now)
    python3 - "$TMP/report-$1.json" "$TOTAL_MESSAGES" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
n = sum(f["imported"] for a in r["accounts"] for f in a["folders"])
assert r["ok"] and n == int(sys.argv[2]), (r["ok"], n)
assert all(f["verified"] for a in r["accounts"] for f in a["folders"])
PY
    python3 -c "print($end - $start)"
}
GOV1=$(govmail_run 1)
GOV2=$(govmail_run 2)

echo "import benchmark: $ACCOUNTS accounts, $TOTAL_MESSAGES messages, $TOTAL_BYTES bytes, Dovecot 2.3 default mode"
rate "mbsync (isync)" "$MBSYNC"
rate "govmail import --jobs 1" "$GOV1"
rate "govmail import --jobs 2" "$GOV2"
echo "govmail import peak RSS: --jobs 1 $(cat "$TMP/rss-1") KiB, --jobs 2 $(cat "$TMP/rss-2") KiB (bound 100 MB = 97656 KiB; largest message $BIG_MB MB)"
python3 -c "print(f'govmail/mbsync: --jobs 1 {$MBSYNC/$GOV1:.2f}x, --jobs 2 {$MBSYNC/$GOV2:.2f}x')"
