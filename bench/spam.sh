#!/usr/bin/env bash
# Spam filtering quality: Debian's SpamAssassin 4 (spamd started here on loopback, -L: no
# network tests) against govmail (`govmail spam score`) over tests/corpus/{spam,ham}.
# The corpus is split by file order: even positions train, odd positions are scored (FOLD=2:
# the other way round, so each half is once the held-out half). Both
# filters are scored on the same held-out half, without training and after training on the
# other half (SpamAssassin with sa-learn, govmail with `govmail spam train`), with the same
# threshold (5.0) and the same minimum number of trained messages per side for the Bayes part.
# Prints the false-positive rate (ham scored as spam) and the spam recall of each.
set -euo pipefail
cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/.."
ROOT=$(pwd -P)
MIN_TRAINED=${MIN_TRAINED:-10}
FOLD=${FOLD:-1}
[[ "$FOLD" == 1 || "$FOLD" == 2 ]] || { echo "FOLD is 1 or 2" >&2; exit 2; }
export CARGO_PROFILE_DEV_DEBUG=line-tables-only

command -v spamd >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq spamassassin spamc; }
command -v spamc >/dev/null || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq spamc
GOVMAIL=${GOVMAIL:-$ROOT/target/debug/govmail}
[ -x "$GOVMAIL" ] || cargo build -q -p govmail

WORK=$(mktemp -d /tmp/spam-bench.XXXXXX)
chmod 755 "$WORK"
SPAMD_PID=
cleanup() { [ -n "$SPAMD_PID" ] && kill "$SPAMD_PID" 2>/dev/null; rm -rf "$WORK"; }
trap cleanup EXIT

# Split.
for kind in spam ham; do
    mkdir -p "$WORK/train/$kind" "$WORK/test/$kind"
    i=0
    for f in $(ls "$ROOT/tests/corpus/$kind" | sort); do
        if (( (i + FOLD - 1) % 2 == 0 )); then cp "$ROOT/tests/corpus/$kind/$f" "$WORK/train/$kind/"; else cp "$ROOT/tests/corpus/$kind/$f" "$WORK/test/$kind/"; fi
        i=$((i + 1))
    done
done
chmod -R a+rX "$WORK"
echo "fold $FOLD; corpus: $(ls "$WORK/train/spam" | wc -l)+$(ls "$WORK/test/spam" | wc -l) spam, $(ls "$WORK/train/ham" | wc -l)+$(ls "$WORK/test/ham" | wc -l) ham (train+test)"

# --- SpamAssassin ---
SITE="$WORK/sa-site"; HOMEDIR="$WORK/sa-home"; mkdir -p "$SITE" "$HOMEDIR/bayes"
cp -r /etc/spamassassin/. "$SITE/" 2>/dev/null || true
sa_config() { # sa_config USE_BAYES
    cat > "$SITE/local.cf" <<CF
required_score 5.0
use_bayes $1
bayes_auto_learn 0
bayes_path $HOMEDIR/bayes/bayes
bayes_min_spam_num $MIN_TRAINED
bayes_min_ham_num $MIN_TRAINED
skip_rbl_checks 1
use_razor2 0
use_pyzor 0
CF
}
chown -R debian-spamd "$HOMEDIR"
start_spamd() {
    PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
    spamd -L --listen="127.0.0.1:$PORT" --siteconfigpath="$SITE" -u debian-spamd -H "$HOMEDIR" \
        --max-children=2 --pidfile="$WORK/spamd.pid" >>"$WORK/spamd.log" 2>&1 &
    SPAMD_PID=$!
    for _ in $(seq 1 100); do spamc -d 127.0.0.1 -p "$PORT" -c </dev/null >/dev/null 2>&1 && break; sleep 0.3; done
    sleep 1
}
stop_spamd() { kill "$SPAMD_PID"; wait "$SPAMD_PID" 2>/dev/null || true; SPAMD_PID=; }
sa_flagged() { # sa_flagged DIR: how many score >= 5.0
    local n=0
    for f in "$1"/*; do
        s=$(spamc -d 127.0.0.1 -p "$PORT" -c < "$f" || true)
        awk -v s="${s%%/*}" 'BEGIN{exit !(s+0 >= 5.0)}' && n=$((n + 1))
    done
    echo $n
}
gm_flagged() { # gm_flagged DATA_DIR DIR
    "$GOVMAIL" --no-config --set "server.data_dir=$1" --set "spam.bayes_min_trained=$MIN_TRAINED" spam score "$2" \
        | awk -F'\t' '$1+0 >= 5.0' | wc -l
}
report() { # report NAME SPAM_FLAGGED HAM_FLAGGED
    local ns nh; ns=$(ls "$WORK/test/spam" | wc -l); nh=$(ls "$WORK/test/ham" | wc -l)
    awk -v n="$1" -v s="$2" -v h="$3" -v ns="$ns" -v nh="$nh" \
        'BEGIN{printf "%-34s recall %5.1f%% (%d/%d)   false positives %5.1f%% (%d/%d)\n", n, 100*s/ns, s, ns, 100*h/nh, h, nh}'
}

sa_config 0; start_spamd
report "SpamAssassin 4, no training" "$(sa_flagged "$WORK/test/spam")" "$(sa_flagged "$WORK/test/ham")"
stop_spamd
sa_config 1
sa-learn --siteconfigpath="$SITE" --dbpath "$HOMEDIR/bayes" --spam "$WORK/train/spam" >/dev/null
sa-learn --siteconfigpath="$SITE" --dbpath "$HOMEDIR/bayes" --ham "$WORK/train/ham" >/dev/null
chown -R debian-spamd "$HOMEDIR"
start_spamd
report "SpamAssassin 4, trained on half" "$(sa_flagged "$WORK/test/spam")" "$(sa_flagged "$WORK/test/ham")"
stop_spamd

# --- govmail ---
GM="$WORK/gm"
report "govmail, no training" "$(gm_flagged "$GM" "$WORK/test/spam")" "$(gm_flagged "$GM" "$WORK/test/ham")"
"$GOVMAIL" --no-config --set "server.data_dir=$GM" spam train --spam "$WORK/train/spam" --ham "$WORK/train/ham"
report "govmail, trained on half" "$(gm_flagged "$GM" "$WORK/test/spam")" "$(gm_flagged "$GM" "$WORK/test/ham")"
