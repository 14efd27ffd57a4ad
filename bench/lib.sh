# bench/lib.sh: shell helpers shared by the dwaar-vs-nginx benchmarks (proxy_bench.sh,
# tls_bench.sh). Sourced, never run. bench/README.md describes what the scripts measure.
#
# The sourcing script sets, before calling anything here:
#   BENCH_NAME     prefix of its messages (e.g. proxy_bench)
#   WORKERS        proxy worker count (W); DURATION, WARMUP, ROUNDS (integers)
#   LOAD_NAME      name of the load generator in notes (e.g. wrk)
# and then calls, in order: bench_init (temp dir, cleanup trap), bench_pinning (CPU sets),
# start_backend (the nginx backend); per run, run_one PROXY SCEN ROUND with these hooks defined
# by the script:
#   start_nginx PORT TAG SCEN / start_dwaar PORT TAG SCEN   start the proxy, set PROXY_PID
#   check_proxy PORT SCEN        prints what is wrong and fails (1) when the proxy answers
#                                wrongly, fails with 2 when it cannot run SCEN at all (no load)
#   load_run OUT PORT SCEN SECS KIND   KIND warmup|measured; runs the load via run_load
#   parse_load OUT               -> "rps lat1_ms lat2_ms requests bad sockerrs detail" ("-"s
#                                when the output has no result)
# and READY_SCHEME (http|https) for the readiness probe. Results go to $TMP/results, one line
# per run: "scenario proxy round rps lat1 lat2 rss_mib cpu_s us_per_req status";
# print_report then prints the table and the dwaar/nginx ratios, print_notes the notes.
# shellcheck shell=bash
# shellcheck disable=SC2034 # globals set here are read by the sourcing script

die() {
    echo "$BENCH_NAME: $*" >&2
    exit 1
}

# ---- temp dir, process bookkeeping, cleanup --------------------------------------------------
STARTED=() # every pid the script started and has not reaped yet

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
        echo "$BENCH_NAME: kept $TMP"
    else
        rm -rf "$TMP"
    fi
}

# bench_init: makes TMP (dwaar-<BENCH_NAME with - for _>.XXXXXX) and installs the traps that
# stop everything started and remove it on exit.
bench_init() {
    TMP=$(mktemp -d "${TMPDIR:-/tmp}/dwaar-${BENCH_NAME//_/-}.XXXXXX") || die "cannot make a temp dir"
    chmod 755 "$TMP" # nginx workers run as nobody when we are root: they read www/ below
    trap cleanup EXIT
    trap 'exit 130' INT
    trap 'exit 143' TERM
}

# A free loopback TCP port (bound and released at once; fine for a benchmark on loopback).
free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# ---- CPU pinning -----------------------------------------------------------------------------
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

ncpus_in() { [ -n "$1" ] && cpu_list "$1" | wc -l || echo "$NCPU"; }

# bench_pinning: sets PROXY_CPUS, BACKEND_CPUS, LOAD_CPUS (taskset lists, empty = unpinned),
# the PIN_PROXY / PIN_BACKEND / PIN_LOAD prefixes, BACKEND_WORKERS and PROXY_NCPU. The proxy
# gets the first W cores (at most nproc-1), the backend the next one, the load the rest (with
# one spare core the backend and the load share it). BENCH_PROXY_CPUS / BENCH_BACKEND_CPUS /
# BENCH_LOAD_CPUS override; BENCH_PIN=0 disables pinning.
bench_pinning() {
    NCPU=$(nproc)
    if [ "${BENCH_PIN:-1}" = 0 ] || [ "$NCPU" -lt 2 ]; then
        PROXY_CPUS=${BENCH_PROXY_CPUS:-}
        BACKEND_CPUS=${BENCH_BACKEND_CPUS:-}
        LOAD_CPUS=${BENCH_LOAD_CPUS:-}
    else
        local pw spare dflt_proxy dflt_backend dflt_load
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
    # shellcheck disable=SC2207
    PIN_PROXY=($(pin_prefix "$PROXY_CPUS"))
    # shellcheck disable=SC2207
    PIN_BACKEND=($(pin_prefix "$BACKEND_CPUS"))
    # shellcheck disable=SC2207
    PIN_LOAD=($(pin_prefix "$LOAD_CPUS"))
    BACKEND_WORKERS=$(ncpus_in "$BACKEND_CPUS")
    PROXY_NCPU=$(ncpus_in "$PROXY_CPUS")
    [ "$PROXY_NCPU" -gt "$WORKERS" ] && PROXY_NCPU=$WORKERS
    return 0
}

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

# The ticks of this shell's reaped children (the load generator, once waited for):
# /proc/$$/stat cutime+cstime.
child_ticks() { sed 's/^.*) //' "/proc/$$/stat" | awk '{print $14 + $15}'; }

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

# ---- nginx configs and the backend -----------------------------------------------------------
nginx_common() { # TAG -> main-context lines shared by all nginx configs
    cat <<EOF
daemon off;
master_process on;
pid $TMP/$1.pid;
lock_file $TMP/$1.lock;
error_log $TMP/$1-error.log warn;
worker_rlimit_nofile 16384;
EOF
}

nginx_http_common() { # TAG -> http-context lines shared by all nginx configs
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

# bench_curl SCHEME PORT PATH OUT [CURL ARGS...] -> the status code of GET PATH through the
# proxy on PORT, body in OUT. https goes to https://localhost:PORT (SNI localhost) on
# 127.0.0.1, the certificate unchecked.
bench_curl() {
    local scheme=$1 port=$2 path=$3 out=$4
    shift 4
    if [ "$scheme" = https ]; then
        curl -s -k -m 5 --resolve "localhost:$port:127.0.0.1" -o "$out" -w '%{http_code}' "$@" \
            "https://localhost:$port$path"
    else
        curl -s -m 5 -o "$out" -w '%{http_code}' "$@" "http://127.0.0.1:$port$path"
    fi
}

# wait_ready PID PORT [SCHEME]: polls GET /small until 200 (true), the process dies or 10 s pass.
wait_ready() {
    local pid=$1 port=$2 scheme=${3:-http} _
    for _ in $(seq 100); do
        alive "$pid" || return 1
        if [ "$(bench_curl "$scheme" "$port" /small /dev/null)" = 200 ]; then
            return 0
        fi
        sleep 0.1
    done
    return 1
}

# check_bodies PORT [SCHEME [CURL ARGS...]]: both bodies come back intact through PORT; else
# prints what is wrong.
check_bodies() {
    local port=$1 scheme=${2:-http} out ok=0
    shift
    [ $# -gt 0 ] && shift
    out=$(bench_curl "$scheme" "$port" /small "$TMP/got.small" "$@")
    if [ "$out" != 200 ] || ! cmp -s "$TMP/got.small" "$TMP/small.expected"; then
        echo "GET /small -> status $out, $(wc -c <"$TMP/got.small" 2>/dev/null || echo 0) bytes (want 200, 100 identical bytes)"
        ok=1
    fi
    out=$(bench_curl "$scheme" "$port" /64k "$TMP/got.64k" "$@")
    if [ "$out" != 200 ] || ! cmp -s "$TMP/got.64k" "$TMP/www/64k"; then
        echo "GET /64k -> status $out, $(wc -c <"$TMP/got.64k" 2>/dev/null || echo 0) bytes (want 200, 65536 identical bytes)"
        ok=1
    fi
    return $ok
}

# start_backend: an nginx on 127.0.0.1:BACKEND_PORT (pinned to BACKEND_CPUS, BACKEND_WORKERS
# workers) serving /small (a 100-byte `return 200`) and /64k (a 64 KiB static file, sendfile).
# Sets BACKEND_PORT and BACKEND_PID; exits when it does not come up.
start_backend() {
    mkdir -p "$TMP/www" "$TMP/tmp"
    chmod 755 "$TMP/www"
    SMALL_BODY=$(printf '%.0s0123456789' $(seq 10)) # 100 bytes
    head -c 65536 /dev/urandom >"$TMP/www/64k"
    chmod 644 "$TMP/www/64k"
    printf '%s' "$SMALL_BODY" >"$TMP/small.expected"
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
    "${PIN_BACKEND[@]}" "$NGINX" -p "$TMP/" -c "$TMP/backend.conf" -e "$TMP/backend-error.log" \
        >"$TMP/backend.out" 2>&1 &
    BACKEND_PID=$!
    STARTED+=("$BACKEND_PID")
    if ! wait_ready "$BACKEND_PID" "$BACKEND_PORT"; then
        echo "$BENCH_NAME: the nginx backend did not start:" >&2
        tail -n 5 "$TMP/backend.out" "$TMP/backend-error.log" >&2 2>/dev/null
        exit 1
    fi
    check_bodies "$BACKEND_PORT" >/dev/null || die "the backend serves wrong bodies (bench bug)"
}

# ---- load generators -------------------------------------------------------------------------
# run_load OUT CMD ARGS...: CMD pinned to LOAD_CPUS, in the background and waited for, so that
# INT/TERM stop the bench at once (the EXIT trap then stops it and the servers).
run_load() {
    local out=$1
    shift
    "${PIN_LOAD[@]}" "$@" >"$out" 2>&1 &
    local pid=$!
    STARTED+=("$pid")
    wait "$pid"
    local p rest=()
    for p in "${STARTED[@]}"; do [ "$p" = "$pid" ] || rest+=("$p"); done
    STARTED=("${rest[@]}")
}

run_wrk() { # OUT ARGS...
    local out=$1
    shift
    run_load "$out" wrk "$@"
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

# ---- one run ---------------------------------------------------------------------------------
NOTES=()
note() { NOTES+=("$*"); }

DWAAR_BROKEN="" # set once dwaar fails to start: the later dwaar rows are skipped with this reason
RC=0

# run_one PROXY SCEN ROUND -> writes one result line to $TMP/results:
# "scenario proxy round rps lat1 lat2 rss_mib cpu_s us_per_req status"
# A fresh proxy per run makes each peak-RSS figure that run's own.
run_one() {
    local proxy=$1 scen=$2 round=$3
    local tag="$proxy-${scen//\//-}-r$round" port pids w
    local t0 t1 k0 k1 b0 b1 a0 a1 s0 s1 c0 c1 backend_pids
    # shellcheck disable=SC2207
    backend_pids=($(proxy_pids "$BACKEND_PID"))
    local lbl="$scen $proxy" # how notes name this run
    [ "$ROUNDS" -gt 1 ] && lbl="$scen $proxy (round $round)"
    local rps l1 l2 req bad se det rss cpu usreq
    if [ "$proxy" = dwaar ] && [ -n "$DWAAR_BROKEN" ]; then
        echo "$scen $proxy $round - - - - - - skipped" >>"$TMP/results"
        return
    fi
    port=$(free_port)
    if [ "$proxy" = nginx ]; then start_nginx "$port" "$tag" "$scen"; else start_dwaar "$port" "$tag" "$scen"; fi
    if ! wait_ready "$PROXY_PID" "$port" "${READY_SCHEME:-http}"; then
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
    local status=ok bodycheck crc
    bodycheck=$(check_proxy "$port" "$scen")
    crc=$?
    if [ "$crc" -eq 2 ]; then # the proxy cannot run this scenario at all: no load
        stop_pid "$PROXY_PID"
        echo "$scen $proxy $round - - - - - - failed" >>"$TMP/results"
        note "$lbl: failed ($(echo "$bodycheck" | tr '\n' ';' | sed 's/;$//'))"
        RC=1
        return
    elif [ "$crc" -ne 0 ]; then
        note "$lbl: wrong response through the proxy: $(echo "$bodycheck" | tr '\n' ';')"
        status=wrong-response
        RC=1
    fi
    if [ "$WARMUP" -gt 0 ]; then
        load_run "$TMP/$tag.warmup" "$port" "$scen" "$WARMUP" warmup
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
    load_run "$TMP/$tag.load" "$port" "$scen" "$DURATION" measured
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
    elif ! bodycheck=$(check_proxy "$port" "$scen"); then
        note "$lbl: wrong response after the load: $(echo "$bodycheck" | tr '\n' ';')"
        [ "$status" = ok ] && status=wrong-response
        RC=1
    fi
    stop_pid "$PROXY_PID"
    read -r rps l1 l2 req bad se det < <(parse_load "$TMP/$tag.load")
    if [ "$rps" = - ]; then
        note "$lbl: $LOAD_NAME printed no result: $(grep -v '^$' "$TMP/$tag.load" | tail -n 2 | tr '\n' ' ')"
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
        echo "$scen $proxy $round $rps $l1 $l2 - - - $status" >>"$TMP/results"
        return
    fi
    cpu=$(awk -v t=$((t1 - t0)) -v hz="$HZ" 'BEGIN { printf "%.2f", t / hz }')
    usreq=$(awk -v t=$((t1 - t0)) -v hz="$HZ" -v r="$req" 'BEGIN { printf "%.1f", (r > 0 ? t / hz * 1e6 / r : 0) }')
    rss=$(awk -v k="$rss" 'BEGIN { printf "%.1f", k / 1024 }')
    # was the proxy the bottleneck? (used >= 85% of the cores it may use)
    w=$(awk -v c="$cpu" -v n="$PROXY_NCPU" -v d="$DURATION" 'BEGIN { printf "%.0f", 100 * c / (n * d) }')
    [ "$w" -lt 85 ] && note "$lbl: the proxy used $w% of its $PROXY_NCPU core(s): the load side ($LOAD_NAME/backend) or latency limited it; compare CPU us/req rather than RPS"
    # Noise: CPU that neither the proxy, the backend nor the load used during the run, and steal.
    local noise
    noise=$(awk -v hz="$HZ" -v d="$DURATION" -v pinned="$PROXY_CPUS" -v lname="$LOAD_NAME" \
        -v proxy=$((t1 - t0)) -v backend=$((k1 - k0)) -v wrk=$((c1 - c0)) \
        -v pcore=$((b1 - b0)) -v all=$((a1 - a0)) -v steal=$((s1 - s0)) 'BEGIN {
            op = (pcore - proxy) / hz; oa = (all - proxy - backend - wrk) / hz; st = steal / hz
            if (pinned != "" && op > 0.05 * d) m = m sprintf("; %.2f CPU s on the proxy core(s) %s", op, pinned)
            else if (oa > 0.10 * d) m = m sprintf("; %.2f CPU s on the other core(s) (%s/backend side)", oa, lname)
            if (st > 0.05 * d) m = m sprintf("; the hypervisor stole %.2f CPU s", st)
            print substr(m, 3) }')
    [ -n "$noise" ] && note "$lbl: other processes were busy during the run ($noise): noisy"
    echo "$scen $proxy $round $rps $l1 $l2 $rss $cpu $usreq $status" >>"$TMP/results"
}

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

fmt2() { case $1 in '' | *[!0-9.]*) echo - ;; *) printf '%.2f' "$1" ;; esac; } # number or "-"

# print_report LAT1 LAT2 RATIO_LAT: the table (latency columns titled "LAT1 ms", "LAT2 ms") and,
# when both proxies ran, the dwaar/nginx ratio block with latency column RATIO_LAT (1 or 2).
print_report() {
    local n1=$1 n2=$2 rl=$3 s proxy flag msg rps l1 l2 rss cpu usreq status lname
    local nr n1v n2v nm nu dr d1v d2v dm du
    echo
    printf '%-10s | %-5s | %9s | %8s | %8s | %12s | %6s | %10s\n' \
        scenario proxy RPS "$n1 ms" "$n2 ms" "peak RSS MiB" "CPU s" "CPU us/req"
    printf -- '-----------+-------+-----------+----------+----------+--------------+--------+-----------\n'
    scens=$(awk '!seen[$1]++ {print $1}' "$TMP/results")
    for s in $scens; do
        for proxy in $PROXIES; do
            read -r _ _ _ rps l1 l2 rss cpu usreq status < <(pick "$s" "$proxy")
            if [ "${rps:--}" = - ]; then
                case $status in
                not-started) msg="$proxy did not start" ;;
                skipped) msg="$proxy did not start (skipped)" ;;
                failed) msg="failed (see notes)" ;;
                *) msg="no result ($status)" ;;
                esac
                printf '%-10s | %-5s | %s\n' "$s" "$proxy" "$msg"
            else
                flag=""
                [ "$status" != ok ] && flag="  ($status: see notes)"
                printf '%-10s | %-5s | %9s | %8s | %8s | %12s | %6s | %10s%s\n' \
                    "$s" "$proxy" "$rps" "$(fmt2 "$l1")" "$(fmt2 "$l2")" "$rss" "$cpu" "$usreq" "$flag"
            fi
        done
    done

    if [[ " $PROXIES " == *" dwaar "* && " $PROXIES " == *" nginx "* ]]; then
        lname=$([ "$rl" = 1 ] && echo "$n1" || echo "$n2")
        echo
        echo "dwaar / nginx (RPS: higher is better for dwaar; $lname, RSS, CPU/req: lower is better)"
        printf '%-10s | %7s | %7s | %7s | %10s\n' scenario RPS "$lname" RSS "CPU us/req"
        for s in $scens; do
            read -r _ _ _ nr n1v n2v nm _ nu _ < <(pick "$s" nginx)
            read -r _ _ _ dr d1v d2v dm _ du _ < <(pick "$s" dwaar)
            if [ "${nr:--}" = - ] || [ "${dr:--}" = - ]; then
                printf '%-10s | %s\n' "$s" "n/a (a proxy has no figures)"
                continue
            fi
            local np=$n2v dp=$d2v
            [ "$rl" = 1 ] && np=$n1v && dp=$d1v
            awk -v s="$s" -v nr="$nr" -v dr="$dr" -v np="$np" -v dp="$dp" -v nm="$nm" -v dm="$dm" \
                -v nu="$nu" -v du="$du" '
                function r(a, b) { return (a == "-" || b == "-" || b + 0 <= 0) ? "n/a" : sprintf("%.2f", a / b) }
                BEGIN { printf "%-10s | %7s | %7s | %7s | %10s\n", s, r(dr, nr), r(dp, np), r(dm, nm), r(du, nu) }'
        done
    fi
}

print_notes() {
    if [ ${#NOTES[@]} -gt 0 ]; then
        echo
        for n in "${NOTES[@]}"; do echo "note: $n"; done
    fi
    return 0
}
