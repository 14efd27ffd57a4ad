#!/usr/bin/env bash
# bench/proxy_bench.sh DWAAR_BINARY: end-to-end HTTP/1.1 reverse-proxy benchmark, dwaar vs nginx.
# scripts/bench.sh runs it (`make bench`); bench/README.md says how to read the figures.
#
# One run does this, on loopback only, with ports picked free at run time:
#   1. starts an nginx BACKEND (own prefix in a temp dir, `daemon off`, pid/error log in the
#      temp dir, access_log off) serving /small (a 100-byte `return 200`) and /64k (a 64 KiB
#      static file, sendfile);
#   2. for each scenario (body small|64k x connections 50|200) it starts, in turn, a fresh
#      nginx reverse proxy (upstream { keepalive 64; }, proxy_http_version 1.1,
#      Connection "", access_log off, worker_processes W) and a fresh dwaar
#      (`dwaar run -c Dwaarfile --workers W`, Dwaarfile `{ http_port P }` +
#      `:P { reverse_proxy 127.0.0.1:BACKEND }`), checks one response of each body through it,
#      runs wrk for a warm-up and then the measured run (HTTP/1.1 keep-alive, --latency), and
#      stops it. A fresh proxy per run makes each peak-RSS figure that scenario's own.
#   3. prints one table (RPS, p50, p99, peak RSS, CPU seconds, CPU per request) and a
#      dwaar/nginx ratio block per scenario, plus notes for anything that makes a row not
#      comparable (non-2xx/3xx responses, socket errors, a proxy that died or answered wrongly,
#      other processes busy on the proxy's core, a proxy that was not the bottleneck).
#
# CPU pinning (the point is that the PROXY is the measured resource): the proxy under test
# gets the first W cores to itself (at most nproc-1 of them); wrk and the backend share the
# remaining core(s) (with 2+ spare cores the backend gets one of its own). On a 2-core machine:
# proxy on core 0; wrk + backend on core 1. Putting the backend next to the proxy instead would
# make the proxy's throughput depend on how the scheduler splits one core between two
# processes; putting it next to wrk only slows the load side, which is the same for both
# proxies, and the "the proxy used N% of its core(s)" note tells when the load side rather than
# the proxy was the limit (then compare CPU us/req, not RPS). Both proxies run with exactly the same pinning,
# wrk options and backend. Override with BENCH_PROXY_CPUS / BENCH_BACKEND_CPUS /
# BENCH_LOAD_CPUS (taskset lists, e.g. "0" or "2-3"); BENCH_PIN=0 disables pinning.
#
# Environment (defaults in brackets):
#   BENCH_WORKERS [1]        W: nginx worker_processes and dwaar --workers
#   BENCH_DURATION [10]      seconds of each measured wrk run
#   BENCH_WARMUP [2]         seconds of wrk warm-up before each measured run (0 = none)
#   BENCH_CONNS ["50 200"]   wrk connection counts
#   BENCH_BODIES ["small 64k"]
#   BENCH_THREADS [1]        wrk threads
#   BENCH_ROUNDS [1]         runs per scenario and proxy (order alternates each round); the
#                            round with the median RPS is reported
#   BENCH_PROXIES ["nginx dwaar"]
#   BENCH_NGINX_KEEPALIVE [64]  idle upstream connections nginx keeps per worker
#   BENCH_KEEP [0]           1: keep the temp dir (configs, logs, raw wrk output)
#   DWAAR_LOG_LEVEL [warn]   passed to dwaar
#
# Needs nginx (Debian: nginx-light) and wrk (Debian: wrk), plus curl and taskset; it installs
# nothing and says what is missing. Exit status: 0 when every row ran cleanly; 1 when a proxy
# did not start, died, answered wrongly or drew errors under load, or a prerequisite is missing.
set -u

die() {
    echo "proxy_bench: $*" >&2
    exit 1
}

if [ $# -ne 1 ]; then
    echo "usage: $0 DWAAR_BINARY" >&2
    exit 2
fi
DWAAR=$1

WORKERS=${BENCH_WORKERS:-1}
DURATION=${BENCH_DURATION:-10}
WARMUP=${BENCH_WARMUP:-2}
CONNS=${BENCH_CONNS:-50 200}
BODIES=${BENCH_BODIES:-small 64k}
THREADS=${BENCH_THREADS:-1}
ROUNDS=${BENCH_ROUNDS:-1}
PROXIES=${BENCH_PROXIES:-nginx dwaar}
NGINX_KEEPALIVE=${BENCH_NGINX_KEEPALIVE:-64}
export DWAAR_LOG_LEVEL=${DWAAR_LOG_LEVEL:-warn}

for v in WORKERS DURATION WARMUP THREADS ROUNDS NGINX_KEEPALIVE; do
    case ${!v} in '' | *[!0-9]*) die "BENCH_$v must be a non-negative integer (got '${!v}')" ;; esac
done
if [ "$WORKERS" -lt 1 ] || [ "$DURATION" -lt 1 ] || [ "$ROUNDS" -lt 1 ] || [ "$THREADS" -lt 1 ]; then
    die "BENCH_WORKERS, BENCH_DURATION, BENCH_ROUNDS and BENCH_THREADS must be at least 1"
fi

# ---- prerequisites ---------------------------------------------------------------------------
missing=()
command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] || missing+=("nginx (Debian package nginx-light)")
command -v wrk >/dev/null 2>&1 || missing+=("wrk (Debian package wrk)")
command -v curl >/dev/null 2>&1 || missing+=("curl (Debian package curl)")
command -v taskset >/dev/null 2>&1 || missing+=("taskset (Debian package util-linux)")
command -v python3 >/dev/null 2>&1 || missing+=("python3 (Debian package python3)")
if [ ${#missing[@]} -gt 0 ]; then
    echo "proxy_bench: missing: ${missing[*]}" >&2
    echo "proxy_bench: install them (apt-get install -y nginx-light wrk curl) or add them to" \
        "scripts/install-deps.sh; skipping the proxy benchmark" >&2
    exit 1
fi
NGINX=$(command -v nginx || echo /usr/sbin/nginx)

# ---- temp dir, process bookkeeping, cleanup --------------------------------------------------
TMP=$(mktemp -d "${TMPDIR:-/tmp}/dwaar-proxy-bench.XXXXXX") || die "cannot make a temp dir"
chmod 755 "$TMP" # nginx workers run as nobody when we are root: they read www/ below

STARTED=() # every pid this script started and has not reaped yet

descendants() { # PID -> its descendants, one per line (children first listed after parents)
    local c
    for c in $(ps -o pid= --ppid "$1" 2>/dev/null); do
        echo "$c"
        descendants "$c"
    done
}

alive() { kill -0 "$1" 2>/dev/null && [ "$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null)" != Z ]; }

# stop PID: TERM it, wait up to 5 s, then KILL it and any descendant left. Reaps it.
stop_pid() {
    local pid=$1 kids _
    alive "$pid" || {
        wait "$pid" 2>/dev/null
        return 0
    }
    kids=$(descendants "$pid")
    kill -TERM "$pid" 2>/dev/null
    for _ in $(seq 50); do
        alive "$pid" || break
        sleep 0.1
    done
    # shellcheck disable=SC2086
    kill -KILL "$pid" $kids 2>/dev/null
    wait "$pid" 2>/dev/null
    local p rest=()
    for p in "${STARTED[@]}"; do [ "$p" = "$pid" ] || rest+=("$p"); done
    STARTED=("${rest[@]}")
    return 0
}

# shellcheck disable=SC2317 # invoked by the EXIT trap
cleanup() {
    local p
    for p in "${STARTED[@]}"; do stop_pid "$p"; done
    if [ "${BENCH_KEEP:-0}" = 1 ]; then
        echo "proxy_bench: kept $TMP"
    else
        rm -rf "$TMP"
    fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# A free loopback TCP port (bound and released at once; fine for a benchmark on loopback).
free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# ---- CPU pinning -----------------------------------------------------------------------------
NCPU=$(nproc)
if [ "${BENCH_PIN:-1}" = 0 ] || [ "$NCPU" -lt 2 ]; then
    PROXY_CPUS=${BENCH_PROXY_CPUS:-}
    BACKEND_CPUS=${BENCH_BACKEND_CPUS:-}
    LOAD_CPUS=${BENCH_LOAD_CPUS:-}
else
    pw=$((WORKERS < NCPU - 1 ? WORKERS : NCPU - 1))
    spare=$((NCPU - pw))
    dflt_proxy=$([ "$pw" -eq 1 ] && echo 0 || echo "0-$((pw - 1))")
    if [ "$spare" -ge 2 ]; then
        dflt_backend=$pw
        dflt_load=$([ "$spare" -eq 2 ] && echo $((pw + 1)) || echo "$((pw + 1))-$((NCPU - 1))")
    else
        dflt_backend=$pw
        dflt_load=$pw
    fi
    PROXY_CPUS=${BENCH_PROXY_CPUS:-$dflt_proxy}
    BACKEND_CPUS=${BENCH_BACKEND_CPUS:-$dflt_backend}
    LOAD_CPUS=${BENCH_LOAD_CPUS:-$dflt_load}
fi

# Expands a taskset list ("0,2-3") to CPU numbers, one per line.
cpu_list() {
    local part
    for part in ${1//,/ }; do
        case $part in
        *-*) seq "${part%-*}" "${part#*-}" ;;
        *) echo "$part" ;;
        esac
    done
}

# Command prefixes that pin to each CPU set (empty when unpinned). They are expanded in place,
# never through a function, so that `$!` of a background start is the started process itself.
pin_prefix() { [ -n "$1" ] && echo "taskset -c $1"; }
# shellcheck disable=SC2207
PIN_PROXY=($(pin_prefix "$PROXY_CPUS"))
# shellcheck disable=SC2207
PIN_BACKEND=($(pin_prefix "$BACKEND_CPUS"))
# shellcheck disable=SC2207
PIN_LOAD=($(pin_prefix "$LOAD_CPUS"))

ncpus_in() { [ -n "$1" ] && cpu_list "$1" | wc -l || echo "$NCPU"; }

BACKEND_WORKERS=$(ncpus_in "$BACKEND_CPUS")
PROXY_NCPU=$(ncpus_in "$PROXY_CPUS")
[ "$PROXY_NCPU" -gt "$WORKERS" ] && PROXY_NCPU=$WORKERS

# ---- /proc readers ---------------------------------------------------------------------------
HZ=$(getconf CLK_TCK)

proxy_pids() { # PID -> PID and its descendants (nginx master + workers; dwaar + any children)
    echo "$1"
    descendants "$1"
}

cpu_ticks() { # PIDS... -> utime+stime ticks summed (threads included; stat fields 14, 15)
    local p t=0 v
    for p in "$@"; do
        v=$(sed 's/^.*) //' "/proc/$p/stat" 2>/dev/null | awk '{print $12 + $13}')
        t=$((t + ${v:-0}))
    done
    echo "$t"
}

hwm_kib() { # PIDS... -> VmHWM (peak RSS) in KiB summed over the processes
    local p t=0 v
    for p in "$@"; do
        v=$(awk '/^VmHWM:/ {print $2}' "/proc/$p/status" 2>/dev/null)
        t=$((t + ${v:-0}))
    done
    echo "$t"
}

# stat_ticks [CPUS] -> "busy steal": ticks summed over those cores (all when none) from
# /proc/stat; busy = user + nice + system + irq + softirq (a task's stime includes the softirq
# work done in its context, so softirq belongs on the busy side).
stat_ticks() {
    local want=" cpu "
    [ -n "${1:-}" ] && want=" $(cpu_list "$1" | sed 's/^/cpu/' | tr '\n' ' ')"
    awk -v want="$want" 'index(want, " " $1 " ") { b += $2 + $3 + $4 + $7 + $8; st += $9 }
        END { print b + 0, st + 0 }' /proc/stat
}

# The ticks of this shell's reaped children (wrk, once waited for): /proc/$$/stat cutime+cstime.
child_ticks() { sed 's/^.*) //' "/proc/$$/stat" | awk '{print $14 + $15}'; }

# ---- backend ---------------------------------------------------------------------------------
mkdir -p "$TMP/www" "$TMP/tmp"
chmod 755 "$TMP/www"
SMALL_BODY=$(printf '%.0s0123456789' $(seq 10)) # 100 bytes
head -c 65536 /dev/urandom >"$TMP/www/64k"
chmod 644 "$TMP/www/64k"
printf '%s' "$SMALL_BODY" >"$TMP/small.expected"

nginx_common() { # TAG -> main-context lines shared by both nginx configs
    cat <<EOF
daemon off;
master_process on;
pid $TMP/$1.pid;
lock_file $TMP/$1.lock;
error_log $TMP/$1-error.log warn;
worker_rlimit_nofile 16384;
EOF
}

nginx_http_common() { # TAG -> http-context lines shared by both configs
    cat <<EOF
    access_log off;
    client_body_temp_path $TMP/tmp/$1-body;
    proxy_temp_path $TMP/tmp/$1-proxy;
    fastcgi_temp_path $TMP/tmp/$1-fastcgi;
    uwsgi_temp_path $TMP/tmp/$1-uwsgi;
    scgi_temp_path $TMP/tmp/$1-scgi;
    keepalive_requests 1000000;
    keepalive_timeout 75s;
EOF
}

BACKEND_PORT=$(free_port)
{
    nginx_common backend
    cat <<EOF
worker_processes $BACKEND_WORKERS;
events { worker_connections 8192; }
http {
$(nginx_http_common backend)
    default_type application/octet-stream;
    sendfile on;
    tcp_nopush on;
    open_file_cache max=16 inactive=3600s;
    open_file_cache_valid 3600s;
    server {
        listen 127.0.0.1:$BACKEND_PORT backlog=4096;
        root $TMP/www;
        location = /small {
            default_type text/plain;
            return 200 "$SMALL_BODY";
        }
    }
}
EOF
} >"$TMP/backend.conf"

# wait_ready PID PORT LOG: polls GET /small until 200 (true), the process dies or 10 s pass.
wait_ready() {
    local pid=$1 port=$2 _
    for _ in $(seq 100); do
        alive "$pid" || return 1
        if [ "$(curl -s -o /dev/null -m 2 -w '%{http_code}' "http://127.0.0.1:$port/small")" = 200 ]; then
            return 0
        fi
        sleep 0.1
    done
    return 1
}

# check_bodies PORT: both bodies come back intact through PORT; else prints what is wrong.
check_bodies() {
    local port=$1 out ok=0
    out=$(curl -s -m 5 -o "$TMP/got.small" -w '%{http_code}' "http://127.0.0.1:$port/small")
    if [ "$out" != 200 ] || ! cmp -s "$TMP/got.small" "$TMP/small.expected"; then
        echo "GET /small -> status $out, $(wc -c <"$TMP/got.small" 2>/dev/null || echo 0) bytes (want 200, 100 identical bytes)"
        ok=1
    fi
    out=$(curl -s -m 5 -o "$TMP/got.64k" -w '%{http_code}' "http://127.0.0.1:$port/64k")
    if [ "$out" != 200 ] || ! cmp -s "$TMP/got.64k" "$TMP/www/64k"; then
        echo "GET /64k -> status $out, $(wc -c <"$TMP/got.64k" 2>/dev/null || echo 0) bytes (want 200, 65536 identical bytes)"
        ok=1
    fi
    return $ok
}

"${PIN_BACKEND[@]}" "$NGINX" -p "$TMP/" -c "$TMP/backend.conf" -e "$TMP/backend-error.log" \
    >"$TMP/backend.out" 2>&1 &
BACKEND_PID=$!
STARTED+=("$BACKEND_PID")
if ! wait_ready "$BACKEND_PID" "$BACKEND_PORT"; then
    echo "proxy_bench: the nginx backend did not start:" >&2
    tail -n 5 "$TMP/backend.out" "$TMP/backend-error.log" >&2 2>/dev/null
    exit 1
fi
check_bodies "$BACKEND_PORT" >/dev/null || die "the backend serves wrong bodies (bench bug)"

# ---- proxies ---------------------------------------------------------------------------------
# start_nginx PORT TAG: starts a fresh nginx reverse proxy; echoes nothing, sets PROXY_PID.
start_nginx() {
    local port=$1 tag=$2
    {
        nginx_common "$tag"
        cat <<EOF
worker_processes $WORKERS;
events { worker_connections 16384; }
http {
$(nginx_http_common "$tag")
    upstream backend {
        server 127.0.0.1:$BACKEND_PORT;
        keepalive $NGINX_KEEPALIVE;
        keepalive_requests 1000000;
    }
    server {
        listen 127.0.0.1:$port backlog=4096;
        location / {
            proxy_pass http://backend;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
        }
    }
}
EOF
    } >"$TMP/$tag.conf"
    "${PIN_PROXY[@]}" "$NGINX" -p "$TMP/" -c "$TMP/$tag.conf" -e "$TMP/$tag-error.log" \
        >"$TMP/$tag.out" 2>&1 &
    PROXY_PID=$!
    STARTED+=("$PROXY_PID")
}

start_dwaar() {
    local port=$1 tag=$2
    cat >"$TMP/$tag.Dwaarfile" <<EOF
{
    http_port $port
}

:$port {
    reverse_proxy 127.0.0.1:$BACKEND_PORT
}
EOF
    "${PIN_PROXY[@]}" "$DWAAR" run -c "$TMP/$tag.Dwaarfile" --workers "$WORKERS" \
        --admin-addr "127.0.0.1:$(free_port)" --grpc-addr "127.0.0.1:$(free_port)" \
        >"$TMP/$tag.out" 2>&1 &
    PROXY_PID=$!
    STARTED+=("$PROXY_PID")
}

# parse_wrk FILE -> "rps p50_ms p99_ms requests non2xx3xx sockerrs errdetail"
parse_wrk() {
    awk '
        function ms(v) {
            if (v ~ /us$/) return substr(v, 1, length(v) - 2) / 1000
            if (v ~ /ms$/) return substr(v, 1, length(v) - 2) + 0
            if (v ~ /m$/)  return substr(v, 1, length(v) - 1) * 60000
            if (v ~ /s$/)  return substr(v, 1, length(v) - 1) * 1000
            return v + 0
        }
        /^ *50% / { p50 = ms($2) }
        /^ *99% / { p99 = ms($2) }
        / requests in / { req = $1 }
        /^Requests\/sec:/ { rps = $2 }
        /Non-2xx or 3xx responses:/ { bad = $NF }
        /Socket errors:/ {
            gsub(/,/, "")
            se = $4 + $6 + $8 + $10
            det = "connect=" $4 ",read=" $6 ",write=" $8 ",timeout=" $10
        }
        END {
            if (rps == "") { print "- - - - - - -"; exit }
            printf "%.0f %.3f %.3f %d %d %d %s\n", rps, p50, p99, req, bad + 0, se + 0, (det == "" ? "-" : det)
        }' "$1"
}

# run_wrk OUT ARGS...: wrk in the background and waited for, so that INT/TERM stop the bench
# at once (the EXIT trap then stops wrk and the servers).
run_wrk() {
    local out=$1
    shift
    "${PIN_LOAD[@]}" wrk "$@" >"$out" 2>&1 &
    local pid=$!
    STARTED+=("$pid")
    wait "$pid"
    local p rest=()
    for p in "${STARTED[@]}"; do [ "$p" = "$pid" ] || rest+=("$p"); done
    STARTED=("${rest[@]}")
}

start_time() { sed 's/^.*) //' "/proc/$1/stat" 2>/dev/null | awk '{print $20}'; }

# kill_leftovers PID:STARTTIME...: KILLs those of a dead proxy's processes that outlived it
# (e.g. workers orphaned by a crashed master); the start time guards against a reused pid.
kill_leftovers() {
    local e p
    for e in "$@"; do
        p=${e%%:*}
        [ -n "${e#*:}" ] && [ "$(start_time "$p")" = "${e#*:}" ] && kill -KILL "$p" 2>/dev/null
    done
    return 0
}

NOTES=()
note() { NOTES+=("$*"); }

DWAAR_BROKEN="" # set once dwaar fails to start: the later dwaar rows are skipped with this reason
RC=0

# run_one PROXY BODY CONNS ROUND -> writes one result line to $TMP/results:
# "scenario proxy round rps p50 p99 rss_mib cpu_s us_per_req status"
run_one() {
    local proxy=$1 body=$2 conns=$3 round=$4
    local scen="$body/c$conns" tag="$proxy-$body-c$conns-r$round" port pids w
    local t0 t1 k0 k1 b0 b1 a0 a1 s0 s1 c0 c1 backend_pids
    # shellcheck disable=SC2207
    backend_pids=($(proxy_pids "$BACKEND_PID"))
    local lbl="$scen $proxy" # how notes name this run
    [ "$ROUNDS" -gt 1 ] && lbl="$scen $proxy (round $round)"
    local rps p50 p99 req bad se det rss cpu usreq
    if [ "$proxy" = dwaar ] && [ -n "$DWAAR_BROKEN" ]; then
        echo "$scen $proxy $round - - - - - - skipped" >>"$TMP/results"
        return
    fi
    port=$(free_port)
    if [ "$proxy" = nginx ]; then start_nginx "$port" "$tag"; else start_dwaar "$port" "$tag"; fi
    if ! wait_ready "$PROXY_PID" "$port"; then
        local why
        if alive "$PROXY_PID"; then why="not answering GET /small with 200 after 10 s"; else
            wait "$PROXY_PID" 2>/dev/null
            why="exited with status $?"
        fi
        local logtail
        logtail=$(cat "$TMP/$tag.out" "$TMP/$tag-error.log" 2>/dev/null | grep -v '^$' | tail -n 3 | tr '\n' ' ')
        stop_pid "$PROXY_PID"
        echo "$scen $proxy $round - - - - - - not-started" >>"$TMP/results"
        note "$proxy did not start ($why): ${logtail:-no output}"
        [ "$proxy" = dwaar ] && DWAAR_BROKEN=1
        RC=1
        return
    fi
    local status=ok bodycheck
    if ! bodycheck=$(check_bodies "$port"); then
        note "$lbl: wrong response through the proxy: $(echo "$bodycheck" | tr '\n' ';')"
        status=wrong-response
        RC=1
    fi
    local url="http://127.0.0.1:$port/$body"
    if [ "$WARMUP" -gt 0 ]; then
        run_wrk "$TMP/$tag.warmup" -t"$THREADS" -c"$conns" -d"${WARMUP}s" "$url"
    fi
    # shellcheck disable=SC2207
    pids=($(proxy_pids "$PROXY_PID"))
    local pids_before
    # shellcheck disable=SC2207
    pids_before=($(for p in "${pids[@]}"; do echo "$p:$(start_time "$p")"; done))
    t0=$(cpu_ticks "${pids[@]}")
    k0=$(cpu_ticks "${backend_pids[@]}")
    read -r b0 _ < <(stat_ticks "$PROXY_CPUS")
    read -r a0 s0 < <(stat_ticks)
    c0=$(child_ticks)
    run_wrk "$TMP/$tag.wrk" -t"$THREADS" -c"$conns" -d"${DURATION}s" --timeout 5s --latency "$url"
    # shellcheck disable=SC2207
    pids=($(proxy_pids "$PROXY_PID"))
    c1=$(child_ticks)
    t1=$(cpu_ticks "${pids[@]}")
    k1=$(cpu_ticks "${backend_pids[@]}")
    read -r b1 _ < <(stat_ticks "$PROXY_CPUS")
    read -r a1 s1 < <(stat_ticks)
    rss=$(hwm_kib "${pids[@]}")
    if ! alive "$PROXY_PID"; then
        wait "$PROXY_PID" 2>/dev/null
        local st=$? how
        how="status $st"
        [ "$st" -gt 128 ] && how="signal $((st - 128)) ($(kill -l $((st - 128)) 2>/dev/null))"
        note "$lbl: the proxy exited during the load ($how): $(grep -v '^$' "$TMP/$tag.out" 2>/dev/null | tail -n 3 | tr '\n' ' ')"
        kill_leftovers "${pids_before[@]}"
        status=died
        RC=1
    elif ! bodycheck=$(check_bodies "$port"); then
        note "$lbl: wrong response after the load: $(echo "$bodycheck" | tr '\n' ';')"
        [ "$status" = ok ] && status=wrong-response
        RC=1
    fi
    stop_pid "$PROXY_PID"
    read -r rps p50 p99 req bad se det < <(parse_wrk "$TMP/$tag.wrk")
    if [ "$rps" = - ]; then
        note "$lbl: wrk printed no result: $(tail -n 2 "$TMP/$tag.wrk" | tr '\n' ' ')"
        echo "$scen $proxy $round - - - - - - no-result" >>"$TMP/results"
        RC=1
        return
    fi
    [ "$bad" -gt 0 ] && {
        note "$lbl: $bad non-2xx/3xx responses of $req: figures not comparable"
        [ "$status" = ok ] && status=errors
    }
    [ "$se" -gt 0 ] && {
        note "$lbl: socket errors ($det) over $req requests: figures not comparable"
        [ "$status" = ok ] && status=errors
    }
    if [ "$status" = died ]; then # its /proc entries are gone: no CPU or RSS figures
        echo "$scen $proxy $round $rps $p50 $p99 - - - $status" >>"$TMP/results"
        return
    fi
    cpu=$(awk -v t=$((t1 - t0)) -v hz="$HZ" 'BEGIN { printf "%.2f", t / hz }')
    usreq=$(awk -v t=$((t1 - t0)) -v hz="$HZ" -v r="$req" 'BEGIN { printf "%.1f", (r > 0 ? t / hz * 1e6 / r : 0) }')
    rss=$(awk -v k="$rss" 'BEGIN { printf "%.1f", k / 1024 }')
    # was the proxy the bottleneck? (used >= 85% of the cores it may use)
    w=$(awk -v c="$cpu" -v n="$PROXY_NCPU" -v d="$DURATION" 'BEGIN { printf "%.0f", 100 * c / (n * d) }')
    [ "$w" -lt 85 ] && note "$lbl: the proxy used $w% of its $PROXY_NCPU core(s): the load side (wrk/backend) or latency limited it; compare CPU us/req rather than RPS"
    # Noise: CPU that neither the proxy, the backend nor wrk used during the run, and steal.
    local noise
    noise=$(awk -v hz="$HZ" -v d="$DURATION" -v pinned="$PROXY_CPUS" \
        -v proxy=$((t1 - t0)) -v backend=$((k1 - k0)) -v wrk=$((c1 - c0)) \
        -v pcore=$((b1 - b0)) -v all=$((a1 - a0)) -v steal=$((s1 - s0)) 'BEGIN {
            op = (pcore - proxy) / hz; oa = (all - proxy - backend - wrk) / hz; st = steal / hz
            if (pinned != "" && op > 0.05 * d) m = m sprintf("; %.2f CPU s on the proxy core(s) %s", op, pinned)
            else if (oa > 0.10 * d) m = m sprintf("; %.2f CPU s on the other core(s) (wrk/backend side)", oa)
            if (st > 0.05 * d) m = m sprintf("; the hypervisor stole %.2f CPU s", st)
            print substr(m, 3) }')
    [ -n "$noise" ] && note "$lbl: other processes were busy during the run ($noise): noisy"
    echo "$scen $proxy $round $rps $p50 $p99 $rss $cpu $usreq $status" >>"$TMP/results"
}

# ---- run -------------------------------------------------------------------------------------
versions="nginx $("$NGINX" -v 2>&1 | sed 's/.*nginx\///'), $(wrk -v 2>&1 | head -n 1 | awk '{print "wrk " $2}')"
if [[ " $PROXIES " == *" dwaar "* ]]; then
    if [ ! -x "$DWAAR" ]; then
        DWAAR_BROKEN=1
        note "dwaar did not start: $DWAAR is not an executable (build the tree first)"
        RC=1
        versions+=", dwaar missing ($DWAAR)"
    else
        versions+=", $("$DWAAR" version 2>&1 | head -n 1) ($DWAAR)"
    fi
fi
echo "$versions"
for conns in $CONNS; do
    if [[ " $PROXIES " == *" nginx "* ]] && [ "$conns" -gt $((NGINX_KEEPALIVE * WORKERS)) ]; then
        note "at $conns connections nginx keeps at most $NGINX_KEEPALIVE idle upstream connections per" \
            "worker (dwaar: its own compiled-in limit), so both close and reopen backend connections;" \
            "BENCH_NGINX_KEEPALIVE=$conns lifts nginx's limit"
        break
    fi
done
echo "workers W=$WORKERS; wrk -t$THREADS, ${WARMUP}s warm-up + ${DURATION}s per run, $ROUNDS round(s);" \
    "pinning: proxy ${PROXY_CPUS:-none}, backend ${BACKEND_CPUS:-none} ($BACKEND_WORKERS worker(s))," \
    "wrk ${LOAD_CPUS:-none}; load average $(cut -d' ' -f1-3 /proc/loadavg)"
: >"$TMP/results"
for body in $BODIES; do
    case $body in small | 64k) ;; *) die "unknown body '$body' (small or 64k)" ;; esac
    for conns in $CONNS; do
        for round in $(seq "$ROUNDS"); do
            order=$PROXIES
            [ $((round % 2)) -eq 0 ] && order=$(echo "$PROXIES" | tr ' ' '\n' | tac | tr '\n' ' ')
            for proxy in $order; do
                case $proxy in nginx | dwaar) ;; *) die "unknown proxy '$proxy'" ;; esac
                run_one "$proxy" "$body" "$conns" "$round"
            done
        done
    done
done

# ---- report ----------------------------------------------------------------------------------
# Per scenario and proxy, the round with the median RPS (rows without figures sort first).
pick() { # SCEN PROXY -> the chosen result line
    local lines n
    lines=$(awk -v s="$1" -v p="$2" '$1 == s && $2 == p' "$TMP/results")
    n=$(echo "$lines" | awk '$4 != "-"' | wc -l)
    if [ "$n" -eq 0 ]; then echo "$lines" | head -n 1; else
        echo "$lines" | awk '$4 != "-"' | sort -k4,4n | sed -n "$(((n + 1) / 2))p"
    fi
}

echo
printf '%-10s | %-5s | %9s | %8s | %8s | %12s | %6s | %10s\n' \
    scenario proxy RPS "p50 ms" "p99 ms" "peak RSS MiB" "CPU s" "CPU us/req"
printf -- '-----------+-------+-----------+----------+----------+--------------+--------+-----------\n'
scens=$(awk '!seen[$1]++ {print $1}' "$TMP/results")
for s in $scens; do
    for proxy in $PROXIES; do
        read -r _ _ _ rps p50 p99 rss cpu usreq status < <(pick "$s" "$proxy")
        if [ "${rps:--}" = - ]; then
            case $status in
            not-started) msg="$proxy did not start" ;;
            skipped) msg="$proxy did not start (skipped)" ;;
            *) msg="no result ($status)" ;;
            esac
            printf '%-10s | %-5s | %s\n' "$s" "$proxy" "$msg"
        else
            flag=""
            [ "$status" != ok ] && flag="  ($status: see notes)"
            printf '%-10s | %-5s | %9s | %8.2f | %8.2f | %12s | %6s | %10s%s\n' \
                "$s" "$proxy" "$rps" "$p50" "$p99" "$rss" "$cpu" "$usreq" "$flag"
        fi
    done
done

if [[ " $PROXIES " == *" dwaar "* && " $PROXIES " == *" nginx "* ]]; then
    echo
    echo "dwaar / nginx (RPS: higher is better for dwaar; p99, RSS, CPU/req: lower is better)"
    printf '%-10s | %7s | %7s | %7s | %10s\n' scenario RPS p99 RSS "CPU us/req"
    for s in $scens; do
        read -r _ _ _ nr _ np nm _ nu _ < <(pick "$s" nginx)
        read -r _ _ _ dr _ dp dm _ du _ < <(pick "$s" dwaar)
        if [ "${nr:--}" = - ] || [ "${dr:--}" = - ]; then
            printf '%-10s | %s\n' "$s" "n/a (a proxy has no figures)"
            continue
        fi
        awk -v s="$s" -v nr="$nr" -v dr="$dr" -v np="$np" -v dp="$dp" -v nm="$nm" -v dm="$dm" \
            -v nu="$nu" -v du="$du" '
            function r(a, b) { return (a == "-" || b == "-" || b + 0 <= 0) ? "n/a" : sprintf("%.2f", a / b) }
            BEGIN { printf "%-10s | %7s | %7s | %7s | %10s\n", s, r(dr, nr), r(dp, np), r(dm, nm), r(du, nu) }'
    done
fi

if [ ${#NOTES[@]} -gt 0 ]; then
    echo
    for n in "${NOTES[@]}"; do echo "note: $n"; done
fi
exit $RC
