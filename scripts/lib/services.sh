# shellcheck shell=bash
# Helpers to run private, throw-away service instances (clamd, PostgreSQL)
# for tests and local development. Source this file; do not execute it.
#
# Functions:
#   ensure_packages [clamav] [swaks] [python3] [postgres]   (no args = all)
#   ensure_packages [isync] [offlineimap3] [curl] [pip] [imapclient] [prometheus_client] [dkimpy] [sievelib]
#                   [ldap-utils] [ldap3] [slapd] [vdirsyncer] (CardDAV sync client, Debian)
#                                    IMAP client tests; imapclient via pip; sievelib (ManageSieve) via pip
#   clamd_start DIR PORT   -> prints clamd pid; clamd_stop DIR
#   pg_start DIR PORT      -> prints postgres URL; pg_stop DIR
#   free_port              -> prints a free TCP port on 127.0.0.1
#
# Diagnostics go to stderr; stdout carries only the documented result, so
# `pid=$(clamd_start ...)` / `url=$(pg_start ...)` are safe.

GOVMAIL_ROOT="${GOVMAIL_ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd -P)}"
GOVMAIL_EICAR_NDB="${GOVMAIL_EICAR_NDB:-$GOVMAIL_ROOT/tests/fixtures/clamav/eicar.ndb}"

_svc_log() { printf '[services] %s\n' "$*" >&2; }
_svc_die() { printf '[services] error: %s\n' "$*" >&2; return 1; }

# ---------------------------------------------------------------- packages

_clamd_bin() {
    command -v clamd 2>/dev/null && return 0
    [[ -x /usr/sbin/clamd ]] && { echo /usr/sbin/clamd; return 0; }
    return 1
}

# Directory holding the newest installed PostgreSQL server binaries.
_pg_bindir() {
    local d best
    # glob sorts lexically (10 < 9); pick the highest major explicitly
    best=$(for d in /usr/lib/postgresql/*/bin; do
               [[ -x "$d/postgres" ]] && echo "$d"
           done | sort -t/ -k5,5n | tail -n1)
    [[ -n "$best" ]] || return 1
    echo "$best"
}

# ensure_packages [clamav] [swaks] [python3] [postgres]
# Installs whatever is missing via apt, non-interactively and without
# starting any service (policy-rc.d), then restores the previous state.
ensure_packages() {
    local want=("$@")
    [[ ${#want[@]} -gt 0 ]] || want=(clamav swaks python3 postgres)
    local missing=() w
    local pip_missing=()
    for w in "${want[@]}"; do
        case "$w" in
            clamav)   _clamd_bin >/dev/null || missing+=(clamav-daemon) ;;
            swaks)    command -v swaks >/dev/null 2>&1 || missing+=(swaks)
                      # swaks needs Net::SSLeay for -tls / --tls-on-connect.
                      perl -MNet::SSLeay -e1 >/dev/null 2>&1 || missing+=(libnet-ssleay-perl libio-socket-ssl-perl) ;;
            python3)  command -v python3 >/dev/null 2>&1 || missing+=(python3) ;;
            postgres) _pg_bindir >/dev/null || missing+=(postgresql) ;;
            isync)    command -v mbsync >/dev/null 2>&1 || missing+=(isync) ;;
            offlineimap3) command -v offlineimap >/dev/null 2>&1 || missing+=(offlineimap3) ;;
            curl)     command -v curl >/dev/null 2>&1 || missing+=(curl) ;;
            pip)      python3 -m pip --version >/dev/null 2>&1 || missing+=(python3-pip) ;;
            # A Python module, installed with pip for the python3 on PATH.
            imapclient) python3 -c 'import imapclient' >/dev/null 2>&1 || pip_missing+=(imapclient) ;;
            prometheus_client) python3 -c 'import prometheus_client' >/dev/null 2>&1 || pip_missing+=(prometheus_client) ;;
            dkimpy) python3 -c 'import dkim' >/dev/null 2>&1 || pip_missing+=(dkimpy) ;;
            sievelib) python3 -c 'import sievelib.managesieve' >/dev/null 2>&1 || pip_missing+=(sievelib) ;;
            ldap-utils) command -v ldapsearch >/dev/null 2>&1 || missing+=(ldap-utils) ;;
            ldap3) python3 -c 'import ldap3' >/dev/null 2>&1 || pip_missing+=(ldap3) ;;
            slapd) [[ -x /usr/sbin/slapd ]] || missing+=(slapd) ;;
            vdirsyncer) command -v vdirsyncer >/dev/null 2>&1 || missing+=(vdirsyncer) ;;
            *) _svc_die "ensure_packages: unknown component '$w'"; return 1 ;;
        esac
    done
    if [[ ${#pip_missing[@]} -gt 0 ]]; then
        ensure_packages python3 pip || return
        _svc_log "pip installing: ${pip_missing[*]}"
        python3 -m pip install --quiet --disable-pip-version-check "${pip_missing[@]}" >&2 \
            || { _svc_die "pip install ${pip_missing[*]} failed"; return 1; }
    fi
    [[ ${#missing[@]} -gt 0 ]] || return 0

    local sudo=()
    if [[ $(id -u) -ne 0 ]]; then
        command -v sudo >/dev/null 2>&1 \
            || { _svc_die "missing packages (${missing[*]}) and not root / no sudo"; return 1; }
        sudo=(sudo)
    fi
    _svc_log "installing: ${missing[*]}"

    # Keep apt from starting the packaged daemons. Only create (and later
    # remove) policy-rc.d if there is none already.
    local made_policy=0 rc=0
    if [[ ! -e /usr/sbin/policy-rc.d ]]; then
        printf '#!/bin/sh\nexit 101\n' | "${sudo[@]}" tee /usr/sbin/policy-rc.d >/dev/null
        "${sudo[@]}" chmod 755 /usr/sbin/policy-rc.d
        made_policy=1
    fi
    {
        "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq &&
        "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
            --no-install-recommends "${missing[@]}"
    } >&2 || rc=$?
    if [[ $made_policy -eq 1 ]]; then
        "${sudo[@]}" rm -f /usr/sbin/policy-rc.d
    fi
    [[ $rc -eq 0 ]] || { _svc_die "apt-get install ${missing[*]} failed ($rc)"; return "$rc"; }
}

# ---------------------------------------------------------------- misc

free_port() {
    python3 -c 'import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])
s.close()'
}

# port_is_free PORT -> exit status 0 if nothing listens / it can be bound.
port_is_free() {
    python3 - "$1" <<'EOF'
import socket, sys
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
try:
    s.bind(("127.0.0.1", int(sys.argv[1])))
except OSError:
    sys.exit(1)
EOF
}

# True while PID exists and is not a zombie (PID 1 may not reap promptly).
_pid_alive() {
    local pid=$1 state
    [[ -n "$pid" && -e "/proc/$pid" ]] || return 1
    state=$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null) || return 1
    [[ -n "$state" && "$state" != Z && "$state" != X ]]
}

# _kill_wait PID [TIMEOUT_S]: SIGTERM, wait, then SIGKILL.
_kill_wait() {
    local pid=$1 timeout=${2:-15} i
    _pid_alive "$pid" || return 0
    kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < timeout * 20; i++)); do
        _pid_alive "$pid" || { wait "$pid" 2>/dev/null || true; return 0; }
        sleep 0.05
    done
    _svc_log "pid $pid did not exit after ${timeout}s, sending SIGKILL"
    kill -KILL "$pid" 2>/dev/null || true
    for ((i = 0; i < 100; i++)); do
        _pid_alive "$pid" || break
        sleep 0.05
    done
    wait "$pid" 2>/dev/null || true
}

# ---------------------------------------------------------------- clamd

# clamd_ping PORT -> 0 if clamd answers PONG on 127.0.0.1:PORT
clamd_ping() {
    python3 - "$1" <<'EOF' 2>/dev/null
import socket, sys
try:
    with socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=2) as s:
        s.sendall(b"zPING\0")
        buf = b""
        while not buf.endswith(b"\0"):
            d = s.recv(64)
            if not d:
                break
            buf += d
        sys.exit(0 if buf.rstrip(b"\0") == b"PONG" else 1)
except OSError:
    sys.exit(1)
EOF
}

# clamd_start DIR PORT: private clamd on 127.0.0.1:PORT using only the EICAR
# test signature. Prints the pid. DIR is created if needed.
clamd_start() {
    local dir=$1 port=$2 clamd pid i
    [[ -n "$dir" && -n "$port" ]] || { _svc_die "usage: clamd_start DIR PORT"; return 2; }
    clamd=$(_clamd_bin) || { _svc_die "clamd not installed (ensure_packages clamav)"; return 1; }
    [[ -r "$GOVMAIL_EICAR_NDB" ]] || { _svc_die "missing $GOVMAIL_EICAR_NDB"; return 1; }
    mkdir -p "$dir" || return 1
    dir=$(cd "$dir" && pwd -P) || return 1
    if [[ -f "$dir/clamd.bgpid" ]] && _pid_alive "$(cat "$dir/clamd.bgpid")"; then
        _svc_die "clamd already running for $dir (pid $(cat "$dir/clamd.bgpid"))"; return 1
    fi
    mkdir -p "$dir/db" "$dir/tmp" || return 1
    rm -f "$dir/db/"* "$dir/clamd.pid" "$dir/clamd.bgpid"
    cp "$GOVMAIL_EICAR_NDB" "$dir/db/eicar.ndb" || return 1
    chmod 644 "$dir/db/eicar.ndb"
    # No `User` line: clamd keeps the invoking user (root or not) and never
    # tries to switch to the `clamav` account, so no permission juggling.
    cat >"$dir/clamd.conf" <<EOF
Foreground yes
TCPSocket $port
TCPAddr 127.0.0.1
DatabaseDirectory $dir/db
TemporaryDirectory $dir/tmp
LogFile $dir/clamd.log
LogTime yes
PidFile $dir/clamd.pid
StreamMaxLength 50M
MaxThreads 4
SelfCheck 3600
EOF
    : >"$dir/clamd.log"
    # Redirect all fds: the caller typically runs us inside $(...), which
    # would otherwise block until clamd exits.
    "$clamd" -c "$dir/clamd.conf" </dev/null >>"$dir/clamd.out" 2>&1 &
    pid=$!
    echo "$pid" >"$dir/clamd.bgpid"
    for ((i = 0; i < 300; i++)); do
        if clamd_ping "$port"; then
            echo "$pid"
            return 0
        fi
        if ! _pid_alive "$pid"; then
            _svc_die "clamd exited during startup; log:"
            tail -n 30 "$dir/clamd.out" "$dir/clamd.log" >&2 || true
            return 1
        fi
        sleep 0.1
    done
    _svc_die "clamd did not answer PING on 127.0.0.1:$port within 30s; log:"
    tail -n 30 "$dir/clamd.out" "$dir/clamd.log" >&2 || true
    _kill_wait "$pid" 5
    return 1
}

# clamd_stop DIR: stop the clamd started by clamd_start DIR (no-op if none).
clamd_stop() {
    local dir=$1 pid
    [[ -n "$dir" ]] || { _svc_die "usage: clamd_stop DIR"; return 2; }
    [[ -f "$dir/clamd.bgpid" ]] || return 0
    pid=$(cat "$dir/clamd.bgpid")
    # Guard against pid reuse: only kill it if it is still our clamd.
    if _pid_alive "$pid" && tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q 'clamd'; then
        _kill_wait "$pid" 15
    fi
    rm -f "$dir/clamd.bgpid"
}

# ---------------------------------------------------------------- postgres

# Run a command as the postgres OS user when we are root (the server
# refuses to run as root); otherwise as ourselves.
_pg_as() {
    if [[ $(id -u) -eq 0 ]]; then
        runuser -u postgres -- "$@"
    else
        "$@"
    fi
}

# pg_start DIR PORT: fresh cluster in DIR/data on 127.0.0.1:PORT, unix
# socket in DIR. Creates role govmail (CREATEDB) and db govmail_test.
# Prints postgres://govmail:govmail@127.0.0.1:PORT/govmail_test
# When run as root, DIR (and all its parents) must be reachable by the
# postgres user; DIR itself is chowned to postgres.
pg_start() {
    local dir=$1 port=$2 bin
    [[ -n "$dir" && -n "$port" ]] || { _svc_die "usage: pg_start DIR PORT"; return 2; }
    bin=$(_pg_bindir) || { _svc_die "PostgreSQL server not installed (ensure_packages postgres)"; return 1; }
    mkdir -p "$dir" || return 1
    dir=$(cd "$dir" && pwd -P) || return 1
    if [[ $(id -u) -eq 0 ]]; then
        chown postgres: "$dir" || return 1
        runuser -u postgres -- test -w "$dir" \
            || { _svc_die "$dir not writable by user postgres (check parent dir permissions)"; return 1; }
    fi
    if [[ ${#dir} -gt 90 ]]; then
        _svc_die "$dir too long for a unix socket path"; return 1
    fi
    rm -rf "$dir/data"
    _pg_as "$bin/initdb" -D "$dir/data" -U postgres --auth=trust -E UTF8 \
        --locale=C --no-sync >"$dir/initdb.log" 2>&1 \
        || { _svc_die "initdb failed:"; cat "$dir/initdb.log" >&2; return 1; }
    if ! _pg_as tee -a "$dir/data/postgresql.conf" >/dev/null <<EOF

# --- govmail private test instance ---
listen_addresses = '127.0.0.1'
port = $port
unix_socket_directories = '$dir'
fsync = on
max_connections = 200
logging_collector = off
EOF
    then
        _svc_die "could not write postgresql.conf"; return 1
    fi
    _pg_as "$bin/pg_ctl" -D "$dir/data" -l "$dir/postgres.log" -w -t 30 start >/dev/null 2>"$dir/pg_ctl.err" \
        || { _svc_die "postgres failed to start:"; cat "$dir/pg_ctl.err" >&2; tail -n 30 "$dir/postgres.log" >&2; return 1; }
    local psql=("$bin/psql" -X -q -v ON_ERROR_STOP=1 -h "$dir" -p "$port" -U postgres -d postgres)
    if ! { "${psql[@]}" -c "CREATE ROLE govmail LOGIN PASSWORD 'govmail' CREATEDB" >&2 &&
           "${psql[@]}" -c "CREATE DATABASE govmail_test OWNER govmail" >&2; }; then
        _svc_die "creating role/database failed"; pg_stop "$dir"; return 1
    fi
    echo "postgres://govmail:govmail@127.0.0.1:$port/govmail_test"
}

# pg_stop DIR: fast shutdown of the cluster started by pg_start DIR.
pg_stop() {
    local dir=$1 bin
    [[ -n "$dir" ]] || { _svc_die "usage: pg_stop DIR"; return 2; }
    [[ -f "$dir/data/postmaster.pid" ]] || return 0
    bin=$(_pg_bindir) || return 1
    if ! _pg_as "$bin/pg_ctl" -D "$dir/data" -m fast -w -t 30 stop >/dev/null 2>&1; then
        local pid
        pid=$(head -n1 "$dir/data/postmaster.pid" 2>/dev/null || true)
        _svc_log "pg_ctl stop failed; killing postmaster $pid"
        [[ -n "$pid" ]] && _kill_wait "$pid" 5
    fi
}
