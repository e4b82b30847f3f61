# shellcheck shell=bash
# Helpers shared by bench/imap.sh and bench/idle.sh. Source this file; do not execute it.
#
#   govmail_start DIR IMAP_PORT SMTP_PORT USERS [--set k=v ...]
#                       fresh govmail (SQLite, data in DIR) with users user1..userUSERS@bench.test
#                       (password $BENCH_PASSWORD), IMAP and SMTP (MX) on loopback only;
#                       sets GOVMAIL_PID
#   govmail_stop        stops it (SIGTERM, then waits)
#   dovecot_users FILE USERS
#                       a passwd-file for bench/peers/dovecot.sh with the same users and an
#                       argon2id hash made with govmail's parameters (same cost per LOGIN)
#   tree_cpu_seconds PID
#                       CPU seconds used so far by PID and all its descendants, including
#                       descendants that already exited and were reaped (cutime/cstime)
#
# Needs ROOT (the repository) and G / LOAD (release binaries) set by the caller.

BENCH_PASSWORD=${BENCH_PASSWORD:-bench-password-1}
GOVMAIL_PID=""

govmail_start() {
    local dir=$1 imap_port=$2 smtp_port=$3 users=$4
    shift 4
    local S=(--no-config --set "server.data_dir=$dir" --set "antivirus.enabled=false"
        --set "listen.smtp=[\"127.0.0.1:$smtp_port\"]" --set "listen.submission=[]"
        --set "listen.submissions=[]" --set "listen.imap=[\"127.0.0.1:$imap_port\"]"
        --set "listen.imaps=[]" --set "listen.managesieve=[]" --set "listen.ldap=[]" --set "listen.ldaps=[]" --set "listen.http=[]"
        --set "smtp.check_sender_authentication=false"
        --set "tls.allow_plaintext_loopback=true"
        --set "server.log_level=warn" "$@")
    mkdir -p "$dir"
    "$G" "${S[@]}" domain add bench.test >/dev/null
    local i
    for i in $(seq 1 "$users"); do
        echo "$BENCH_PASSWORD" | "$G" "${S[@]}" user add --name "Bench User $i" \
            --address "user$i@bench.test" --password-stdin >/dev/null
    done
    # The malloc settings of scripts/run.
    MALLOC_ARENA_MAX=${GOVMAIL_MALLOC_ARENA_MAX:-4} MALLOC_MMAP_THRESHOLD_=4194304 \
        MALLOC_TRIM_THRESHOLD_=33554432 "$G" "${S[@]}" serve >"$dir.log" 2>&1 &
    GOVMAIL_PID=$!
    for _ in $(seq 200); do
        grep -q "govmail serving" "$dir.log" 2>/dev/null && return 0
        kill -0 "$GOVMAIL_PID" 2>/dev/null || break
        sleep 0.1
    done
    echo "govmail did not start" >&2
    cat "$dir.log" >&2
    return 1
}

govmail_stop() {
    [[ -n "$GOVMAIL_PID" ]] || return 0
    kill "$GOVMAIL_PID" 2>/dev/null || true
    wait "$GOVMAIL_PID" 2>/dev/null || true
    GOVMAIL_PID=""
}

dovecot_users() {
    local file=$1 users=$2 hash i
    hash=$("$LOAD" hash-password --password "$BENCH_PASSWORD")
    : >"$file"
    for i in $(seq 1 "$users"); do
        echo "user$i@bench.test:{ARGON2ID}$hash" >>"$file"
    done
}

tree_cpu_seconds() {
    local root=$1
    local tck
    tck=$(getconf CLK_TCK)
    # pid ppid utime stime cutime cstime for every process (comm may hold spaces: cut after ')').
    local table
    table=$(for f in /proc/[0-9]*/stat; do
        s=$(cat "$f" 2>/dev/null) || continue
        pid=${s%% *}
        rest=${s##*) }
        # rest: state ppid ... ; utime is field 14 of stat = field 12 of rest
        echo "$pid $rest"
    done | awk '{print $1, $3, $13, $14, $15, $16}')
    echo "$table" | awk -v root="$root" -v tck="$tck" '
        { parent[$1] = $2; cpu[$1] = $3 + $4 + $5 + $6 }
        END {
            total = 0
            for (p in parent) {
                q = p
                while (q != "" && q != 0 && q != 1) {
                    if (q == root) { total += cpu[p]; break }
                    q = parent[q]
                }
            }
            printf "%.2f\n", total / tck
        }'
}
