#!/usr/bin/env bash
# Private Dovecot (Debian package dovecot-imapd, 2.3) instance used as a benchmark peer.
#
#   dovecot.sh install                install dovecot-imapd from Debian if missing, without
#                                     starting (or enabling) the system service
#   dovecot.sh start DIR PORT [MODE] [USERS_FILE]
#                                     run a private instance under DIR, IMAP on 127.0.0.1:PORT
#                                     only; returns once it answers "* OK". MODE:
#                                       default  one process per connection (Dovecot's defaults)
#                                       fast     process reuse ("high-performance mode"):
#                                                imap-login service_count=0, process_min_avail=2;
#                                                imap service_count=100, process_min_avail=2
#                                     USERS_FILE: lines "user:{SCHEME}hash" (passwd-file); by
#                                     default DIR/users must already exist.
#   dovecot.sh stop DIR               stop it; returns once all its processes are gone
#   dovecot.sh pid DIR                print the master's pid
#   dovecot.sh user                   create the system user the mail belongs to (benchuser) if
#                                     missing, for callers that write a Maildir before start
#
# Environment for start: DOVECOT_MAX_CONNECTIONS (default 1000) raises the process, client and
# per-user/IP connection limits for many-connection runs (bench/idle.sh); DOVECOT_EXTRA_CONF is
# appended to the configuration as it is (bench/search.sh: the fts-xapian plugin).
# DOVECOT_MASTER_USERS=FILE (lines "master:{SCHEME}hash") adds master users: log in as
# "user*master" with the master's password, or SASL PLAIN with authzid=user (govmail import).
#
# Everything lives in DIR: dovecot.conf, base_dir (run/), state_dir (state/), logs, the
# passwd-file and the mail (maildir:DIR/mail/%u, owned by the system user benchuser, which is
# created if missing). /etc/dovecot is never read (dovecot -c DIR/dovecot.conf, no !include) and
# the system instance is never started. No SSL, no DNS, no submission, no LDA/LMTP, no POP3.
# Prints nothing but errors; exits non-zero on failure.
set -euo pipefail

BENCH_USER=benchuser
DOVECOT=/usr/sbin/dovecot

die() { echo "dovecot.sh: $*" >&2; exit 1; }

need_root() { [ "$(id -u)" = 0 ] || die "$1 must run as root"; }

install_pkgs() {
    need_root install
    [ -x "$DOVECOT" ] && return 0
    local created_policy=0
    if [ ! -e /usr/sbin/policy-rc.d ]; then
        printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
        chmod 755 /usr/sbin/policy-rc.d
        created_policy=1
    fi
    [ $created_policy = 1 ] && trap 'rm -f /usr/sbin/policy-rc.d' EXIT
    export DEBIAN_FRONTEND=noninteractive
    local log=/tmp/dovecot-peer-install.log
    local apt=(apt-get install -y -q --no-install-recommends
               -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold)
    if ! "${apt[@]}" dovecot-imapd >"$log" 2>&1; then
        apt-get update -q >>"$log" 2>&1 || true
        "${apt[@]}" dovecot-imapd >>"$log" 2>&1 \
            || { cat "$log" >&2; die "apt-get install dovecot-imapd failed"; }
    fi
    [ -x "$DOVECOT" ] || die "dovecot still missing after install"
    # The package may have started the system instance if policy-rc.d allowed it: we never
    # want it (it would listen on 143/993). Stop it only if it runs with the system config.
    if [ -r /run/dovecot/master.pid ]; then
        local pid
        pid=$(tr -dc 0-9 < /run/dovecot/master.pid)
        if [ -n "$pid" ] && [ "$(readlink "/proc/$pid/exe" 2>/dev/null)" = "$DOVECOT" ]; then
            "$DOVECOT" -c /etc/dovecot/dovecot.conf stop >/dev/null 2>&1 || true
        fi
    fi
}

ensure_user() {
    if ! getent passwd "$BENCH_USER" >/dev/null; then
        useradd -m -s /usr/sbin/nologin "$BENCH_USER" || die "useradd $BENCH_USER failed"
    fi
}

abspath() { mkdir -p "$1" && (cd "$1" && pwd -P); }

master_pid() {
    local f=$1/run/master.pid pid
    [ -r "$f" ] || return 1
    pid=$(tr -dc 0-9 < "$f")
    [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || return 1
    echo "$pid"
}

# PIDs of every process of the instance in $1: the master and its descendants.
instance_pids() {
    local master=$1 p pid ppid
    [ -n "$master" ] || return 0
    local -A parent=()
    for p in /proc/[0-9]*; do
        pid=${p#/proc/}
        ppid=$(awk '/^PPid:/ {print $2}' "$p/status" 2>/dev/null) || continue
        parent[$pid]=$ppid
    done
    for pid in "${!parent[@]}"; do
        p=$pid
        while [ -n "$p" ] && [ "$p" != 0 ] && [ "$p" != 1 ]; do
            if [ "$p" = "$master" ]; then echo "$pid"; break; fi
            p=${parent[$p]:-}
        done
    done
}

greeting_ok() {
    local line
    # shellcheck disable=SC2016
    line=$(timeout 2 bash -c 'exec 3<>/dev/tcp/127.0.0.1/'"$1"'; IFS= read -r l <&3; printf "a LOGOUT\r\n" >&3; printf %s "$l"' 2>/dev/null) || return 1
    [[ $line == "* OK"* ]]
}

write_config() {
    local dir=$1 port=$2 mode=$3 max=$4
    local uid gid
    uid=$(id -u "$BENCH_USER"); gid=$(id -g "$BENCH_USER")
    local mode_conf=""
    case "$mode" in
        default) ;;
        fast) mode_conf="
service imap-login {
  service_count = 0
  process_min_avail = 2
}
service imap {
  service_count = 100
  process_min_avail = 2
}" ;;
        *) die "unknown mode: $mode (default|fast)" ;;
    esac
    # Without limits raised only when asked: Dovecot's own defaults otherwise.
    local limits_conf=""
    if [ "$max" -gt 1000 ] || [ "${DOVECOT_MAX_CONNECTIONS:-}" != "" ]; then
        limits_conf="
default_client_limit = $((max + 100))
default_vsz_limit = 256M
mail_max_userip_connections = $((max + 100))
service imap {
  process_limit = $((max + 100))
}
service imap-login {
  process_limit = $((max + 100))
  client_limit = $((max + 100))
}
service anvil {
  client_limit = $((2 * max + 200))
}
service auth {
  client_limit = $((2 * max + 200))
}"
    fi
    local master_conf=""
    if [ -f "$dir/masters" ]; then
        master_conf="auth_master_user_separator = *
passdb {
  driver = passwd-file
  master = yes
  pass = yes
  args = $dir/masters
}"
    fi
    cat > "$dir/dovecot.conf" <<CONF
# Private benchmark peer (bench/peers/dovecot.sh). Mode: $mode.
instance_name = dovecot-bench-$port
base_dir = $dir/run
state_dir = $dir/state
log_path = $dir/dovecot.log
info_log_path = $dir/dovecot-info.log
protocols = imap
listen = 127.0.0.1
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
login_trusted_networks =
# No DNS anywhere.
auth_use_winbind = no
import_environment = TZ
syslog_facility = mail
default_login_user = dovenull
default_internal_user = dovecot
first_valid_uid = $uid
last_valid_uid = $uid

$master_conf
passdb {
  driver = passwd-file
  args = username_format=%u $dir/users
}
userdb {
  driver = static
  args = uid=$uid gid=$gid home=$dir/mail/%u
}
mail_location = maildir:$dir/mail/%u
mail_privileged_group =
namespace inbox {
  inbox = yes
  separator = /
}

service imap-login {
  inet_listener imap {
    address = 127.0.0.1
    port = $port
  }
  inet_listener imaps {
    port = 0
  }
}
service stats {
  unix_listener stats-reader {
    mode = 0600
  }
  unix_listener stats-writer {
    mode = 0666
  }
}
$mode_conf
$limits_conf
${DOVECOT_EXTRA_CONF:-}
CONF
}

start() {
    need_root start
    [ $# -ge 2 ] && [ $# -le 4 ] || die "usage: start DIR PORT [default|fast] [USERS_FILE]"
    local port=$2 mode=${3:-default} users=${4:-}
    [[ $port =~ ^[0-9]+$ ]] && [ "$port" -ge 1 ] && [ "$port" -le 65535 ] || die "bad port: $port"
    [ -x "$DOVECOT" ] || die "dovecot not installed (run: $0 install)"
    if greeting_ok "$port"; then die "port $port already in use"; fi
    local dir
    dir=$(abspath "$1") || die "cannot create $1"
    [ "$dir" != / ] || die "refusing DIR=/"
    case "$dir" in /etc/*|/var/*|/run/*|/usr/*) die "refusing system path $dir";; esac
    if master_pid "$dir" >/dev/null; then die "an instance is already running in $dir"; fi
    ensure_user
    # Login processes run as dovenull, mail processes as benchuser: DIR must be traversable.
    chmod 755 "$dir"
    local d=$dir
    while d=$(dirname "$d"); [ "$d" != / ]; do
        [ -x "$d" ] && su -s /bin/sh "$BENCH_USER" -c "test -x '$d'" 2>/dev/null \
            || die "parent directory $d is not traversable by user $BENCH_USER"
    done
    mkdir -p "$dir/run" "$dir/state" "$dir/mail"
    chown "$BENCH_USER:$BENCH_USER" "$dir/mail"
    if [ -n "$users" ]; then
        cp "$users" "$dir/users"
    fi
    [ -f "$dir/users" ] || die "no users file ($dir/users): give USERS_FILE"
    if [ -n "${DOVECOT_MASTER_USERS:-}" ]; then
        cp "$DOVECOT_MASTER_USERS" "$dir/masters"
        chown dovecot:root "$dir/masters"; chmod 600 "$dir/masters"
    fi
    # Read by the auth process (user dovecot); keep it private.
    chown dovecot:root "$dir/users"; chmod 600 "$dir/users"
    write_config "$dir" "$port" "$mode" "${DOVECOT_MAX_CONNECTIONS:-1000}"
    "$DOVECOT" -c "$dir/dovecot.conf" >"$dir/start.log" 2>&1 \
        || { cat "$dir/start.log" >&2; [ -f "$dir/dovecot.log" ] && tail -20 "$dir/dovecot.log" >&2; die "dovecot start failed"; }
    for _ in $(seq 1 100); do
        greeting_ok "$port" && return 0
        sleep 0.1
    done
    [ -f "$dir/dovecot.log" ] && tail -20 "$dir/dovecot.log" >&2
    die "instance in $dir did not greet on 127.0.0.1:$port within 10 s"
}

stop() {
    need_root stop
    [ $# -eq 1 ] || die "usage: stop DIR"
    [ -d "$1" ] || die "no such directory: $1"
    local dir pid pids
    dir=$(cd "$1" && pwd -P)
    [ -f "$dir/dovecot.conf" ] || die "$dir is not a peer instance"
    pid=$(master_pid "$dir" || true)
    [ -n "$pid" ] || return 0
    "$DOVECOT" -c "$dir/dovecot.conf" stop >/dev/null 2>&1 || kill "$pid" 2>/dev/null || true
    for _ in $(seq 1 100); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    # If the master did not end in 10 s: kill what is still its descendant, then the master.
    pids=$(instance_pids "$pid")
    # shellcheck disable=SC2086
    [ -z "$pids" ] || kill -9 $pids 2>/dev/null || true
    kill -0 "$pid" 2>/dev/null && kill -9 "$pid" 2>/dev/null || true
    return 0
}

usage() { sed -n '2,23p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }

[ $# -ge 1 ] || usage
cmd=$1; shift
case "$cmd" in
    install) install_pkgs ;;
    start)   start "$@" ;;
    stop)    stop "$@" ;;
    pid)     [ $# -eq 1 ] || usage; master_pid "$(cd "$1" && pwd -P)" ;;
    user)    need_root user; ensure_user ;;
    *)       usage ;;
esac
