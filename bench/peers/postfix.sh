#!/usr/bin/env bash
# Private Postfix (Debian package, 3.7) instance used as a benchmark peer.
#
#   postfix.sh install          install postfix + swaks from Debian if missing,
#                               without starting the system service
#   postfix.sh start DIR PORT   run a private instance under DIR, smtpd on
#                               127.0.0.1:PORT only; returns once it answers 220
#   postfix.sh stop DIR         stop it; returns once all its processes are gone
#   postfix.sh count            messages in ~benchuser/Maildir/{new,cur}
#   postfix.sh clear            empty that Maildir
#
# The instance lives entirely in DIR (etc/ = main.cf + master.cf, queue/,
# data/, maillog). /etc/postfix is only read (postfix-files, dynamicmaps.cf,
# via meta_directory); it is never written and the default instance is never
# started. Only mail for @bench.test is accepted (delivered to the local
# user benchuser's Maildir); everything else is refused (relay denied), and
# nothing is ever sent out: all non-local transports are error:.
# Prints nothing but errors; exits non-zero on failure.
set -euo pipefail

BENCH_USER=benchuser
BENCH_DOMAIN=bench.test

die() { echo "postfix.sh: $*" >&2; exit 1; }

need_root() { [ "$(id -u)" = 0 ] || die "$1 must run as root"; }

POSTFIX=/usr/sbin/postfix
POSTCONF=/usr/sbin/postconf

install_pkgs() {
    need_root install
    local need=()
    [ -x "$POSTFIX" ] || need+=(postfix)
    command -v swaks >/dev/null 2>&1 || need+=(swaks)
    [ ${#need[@]} -eq 0 ] && return 0
    local created_policy=0
    if [ ! -e /usr/sbin/policy-rc.d ]; then
        printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
        chmod 755 /usr/sbin/policy-rc.d
        created_policy=1
    fi
    [ $created_policy = 1 ] && trap 'rm -f /usr/sbin/policy-rc.d' EXIT
    echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections
    export DEBIAN_FRONTEND=noninteractive
    local log=/tmp/postfix-peer-install.log
    local apt=(apt-get install -y -q --no-install-recommends
               -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold)
    if ! "${apt[@]}" "${need[@]}" >"$log" 2>&1; then
        apt-get update -q >>"$log" 2>&1 || true
        "${apt[@]}" "${need[@]}" >>"$log" 2>&1 \
            || { cat "$log" >&2; die "apt-get install ${need[*]} failed"; }
    fi
    [ -x "$POSTFIX" ] || die "postfix still missing after install"
}

ensure_user() {
    if ! getent passwd "$BENCH_USER" >/dev/null; then
        useradd -m -s /usr/sbin/nologin "$BENCH_USER" || die "useradd $BENCH_USER failed"
    fi
}

user_home() { getent passwd "$BENCH_USER" | cut -d: -f6; }

abspath() { mkdir -p "$1" && (cd "$1" && pwd -P); }

# PIDs of every process belonging to the instance whose config dir is $1:
# postfix daemons have no instance path in argv, but master exports
# MAIL_CONFIG to all of them (import_environment) and they run in queue/.
instance_pids() {
    local conf=$1 queue=$2 p pid
    for p in /proc/[0-9]*; do
        pid=${p#/proc/}
        [ "$pid" = $$ ] && continue
        if [ "$(readlink "$p/cwd" 2>/dev/null)" = "$queue" ] \
           || { tr '\0' '\n' < "$p/environ"; } 2>/dev/null | grep -qxF "MAIL_CONFIG=$conf"; then
            # skip ourselves / our subshells and non-postfix processes
            case "$(readlink "$p/exe" 2>/dev/null)" in
                /usr/lib/postfix/*|/usr/sbin/post*) echo "$pid" ;;
            esac
        fi
    done
}

master_pid() {
    local f=$1/queue/pid/master.pid pid
    [ -r "$f" ] || return 1
    pid=$(tr -dc 0-9 < "$f")
    [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || return 1
    echo "$pid"
}

# Read the banner on 127.0.0.1:$1; succeed if it is a 220 greeting.
banner_ok() {
    local line
    # shellcheck disable=SC2016
    line=$(timeout 2 bash -c 'exec 3<>/dev/tcp/127.0.0.1/'"$1"'; IFS= read -r l <&3; printf "QUIT\r\n" >&3; printf %s "$l"' 2>/dev/null) || return 1
    [[ $line == 220* ]]
}

write_config() {
    local dir=$1 port=$2 etc=$1/etc
    mkdir -p "$etc" "$dir/queue" "$dir/data"
    # post-install create-missing only fixes ownership of what it creates.
    chown root:root "$etc" "$dir/queue"; chmod 755 "$etc" "$dir/queue"
    chown "$(id -u postfix):root" "$dir/data"; chmod 700 "$dir/data"
    : > "$etc/main.cf"
    cat > "$etc/master.cf" <<MASTER
# Private benchmark peer. No chroot anywhere. smtpd only on 127.0.0.1:$port.
# service type  private unpriv  chroot  wakeup  maxproc command + args
127.0.0.1:$port inet n  -       n       -       -       smtpd
pickup    unix  n       -       n       60      1       pickup
cleanup   unix  n       -       n       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
rewrite   unix  -       -       n       -       -       trivial-rewrite
bounce    unix  -       -       n       -       0       bounce
defer     unix  -       -       n       -       0       bounce
trace     unix  -       -       n       -       0       bounce
verify    unix  -       -       n       -       1       verify
flush     unix  n       -       n       1000?   0       flush
proxymap  unix  -       -       n       -       -       proxymap
proxywrite unix -       -       n       -       1       proxymap
smtp      unix  -       -       n       -       -       smtp
relay     unix  -       -       n       -       -       smtp
showq     unix  n       -       n       -       -       showq
error     unix  -       -       n       -       -       error
retry     unix  -       -       n       -       -       error
discard   unix  -       -       n       -       -       discard
local     unix  -       n       n       -       -       local
virtual   unix  -       n       n       -       -       virtual
lmtp      unix  -       -       n       -       -       lmtp
anvil     unix  -       -       n       -       1       anvil
scache    unix  -       -       n       -       1       scache
postlog   unix-dgram n  -       n       -       1       postlogd
MASTER
    "$POSTCONF" -c "$etc" -e \
        "compatibility_level = 3.6" \
        "queue_directory = $dir/queue" \
        "data_directory = $dir/data" \
        "meta_directory = /etc/postfix" \
        "maillog_file = $dir/maillog" \
        "maillog_file_prefixes = $dir" \
        "syslog_name = postfix-benchpeer" \
        "myhostname = peer.$BENCH_DOMAIN" \
        "mydomain = $BENCH_DOMAIN" \
        "myorigin = \$myhostname" \
        "mydestination = $BENCH_DOMAIN" \
        "mynetworks = 127.0.0.0/8" \
        "inet_interfaces = loopback-only" \
        "inet_protocols = ipv4" \
        "disable_dns_lookups = yes" \
        "smtp_dns_support_level = disabled" \
        "lmtp_dns_support_level = disabled" \
        "smtpd_peername_lookup = no" \
        "smtpd_relay_restrictions = permit_mynetworks, reject_unauth_destination" \
        "smtpd_recipient_restrictions = reject_unauth_destination" \
        "relay_domains =" \
        "default_transport = error:benchmark peer delivers nowhere" \
        "relay_transport = error:no relay" \
        "home_mailbox = Maildir/" \
        "alias_maps =" \
        "alias_database =" \
        "local_recipient_maps = proxy:unix:passwd.byname" \
        "mailbox_size_limit = 0" \
        "message_size_limit = 52428800" \
        "smtpd_banner = \$myhostname ESMTP" \
        "biff = no" \
        "append_dot_mydomain = no" \
        "smtpd_tls_security_level = none" \
        "smtp_tls_security_level = none" \
        "default_process_limit = 100" \
        || die "postconf failed"
}

start() {
    need_root start
    [ $# -eq 2 ] || die "usage: start DIR PORT"
    local port=$2
    [[ $port =~ ^[0-9]+$ ]] && [ "$port" -ge 1 ] && [ "$port" -le 65535 ] || die "bad port: $port"
    [ -x "$POSTFIX" ] || die "postfix not installed (run: $0 install)"
    if banner_ok "$port"; then die "port $port already in use"; fi
    local dir
    dir=$(abspath "$1") || die "cannot create $1"
    [ "$dir" != / ] || die "refusing DIR=/"
    case "$dir" in /etc/postfix*|/var/spool/postfix*|/var/lib/postfix*) die "refusing system path $dir";; esac
    if master_pid "$dir" >/dev/null; then die "an instance is already running in $dir"; fi

    ensure_user
    # Daemons run as user postfix and chdir into queue/: DIR must be
    # root-owned and traversable (mktemp -d makes it 0700).
    chown root:root "$dir"; chmod 755 "$dir"
    local d=$dir
    while d=$(dirname "$d"); [ "$d" != / ]; do
        [ -x "$d" ] && su -s /bin/sh postfix -c "test -x '$d'" 2>/dev/null \
            || die "parent directory $d is not traversable by user postfix"
    done

    write_config "$dir" "$port"
    local etc=$dir/etc
    # "postfix start" runs "postfix check" first (post-install create-missing
    # makes queue/ subdirs with the right owners, postfix:postdrop for
    # maildrop/ and public/). That check is most of the 2.5-3.5 s start time.
    "$POSTFIX" -c "$etc" start >"$dir/setup.log" 2>&1 \
        || { cat "$dir/setup.log" >&2; [ -f "$dir/maillog" ] && tail -20 "$dir/maillog" >&2; die "postfix start failed"; }

    local i
    for i in $(seq 1 100); do
        banner_ok "$port" && return 0
        sleep 0.1
    done
    [ -f "$dir/maillog" ] && tail -20 "$dir/maillog" >&2
    die "instance in $dir did not answer 220 on 127.0.0.1:$port within 10 s"
}

stop() {
    need_root stop
    [ $# -eq 1 ] || die "usage: stop DIR"
    [ -d "$1" ] || die "no such directory: $1"
    local dir etc queue pid
    dir=$(cd "$1" && pwd -P); etc=$dir/etc; queue=$dir/queue
    [ -f "$etc/main.cf" ] || die "$dir is not a peer instance"
    pid=$(master_pid "$dir" || true)
    if [ -n "$pid" ]; then
        "$POSTFIX" -c "$etc" stop >/dev/null 2>&1 || true
    fi
    local i pids
    for i in $(seq 1 100); do
        pids=$(instance_pids "$etc" "$queue")
        [ -z "$pids" ] && return 0
        [ "$i" = 50 ] && { "$POSTFIX" -c "$etc" abort >/dev/null 2>&1 || true; }
        sleep 0.1
    done
    # Last resort: kill exactly the processes of this instance.
    # shellcheck disable=SC2086
    kill -9 $pids 2>/dev/null || true
    sleep 0.2
    pids=$(instance_pids "$etc" "$queue")
    [ -z "$pids" ] || die "processes of $dir still running: $pids"
}

count() {
    local home n=0 sub
    home=$(user_home) || { echo 0; return 0; }
    [ -n "$home" ] || { echo 0; return 0; }
    for sub in new cur; do
        if [ -d "$home/Maildir/$sub" ]; then
            n=$((n + $(find "$home/Maildir/$sub" -mindepth 1 -maxdepth 1 -type f | wc -l)))
        fi
    done
    echo "$n"
}

clear_maildir() {
    local home sub
    home=$(user_home) || return 0
    [ -n "$home" ] && [ "$home" != / ] || return 0
    for sub in new cur tmp; do
        [ -d "$home/Maildir/$sub" ] && find "$home/Maildir/$sub" -mindepth 1 -maxdepth 1 -type f -delete
    done
    return 0
}

usage() { sed -n '2,10p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }

[ $# -ge 1 ] || usage
cmd=$1; shift
case "$cmd" in
    install) install_pkgs ;;
    start)   start "$@" ;;
    stop)    stop "$@" ;;
    count)   count ;;
    clear)   clear_maildir ;;
    *)       usage ;;
esac
