#!/usr/bin/env bash
# bench/proxy_bench.sh DWAAR_BINARY: end-to-end HTTP/1.1 reverse-proxy benchmark, dwaar vs nginx.
# scripts/bench.sh runs it (`make bench`); bench/README.md says how to read the figures. The
# helpers it shares with bench/tls_bench.sh (process handling, pinning, /proc readers, the
# backend, one measured run, the report) are in bench/lib.sh.
#
# One run does this, on loopback only, with ports picked free at run time:
#   1. starts an nginx BACKEND (own prefix in a temp dir, `daemon off`, pid/error log in the
#      temp dir, access_log off) serving /small (a 100-byte `return 200`) and /64k (a 64 KiB
#      static file, sendfile);
#   2. for each scenario (body small|64k x connections 50|200) it starts, in turn, a fresh
#      nginx reverse proxy (upstream { keepalive 64; }, proxy_http_version 1.1,
#      Connection "", access_log off, worker_processes W) and a fresh dwaar
#      (`dwaar run -c Dwaarfile --workers W`, Dwaarfile `{ http_port P; timeouts { max_requests
#      1000000 } }` (nginx gets keepalive_requests 1000000 too) +
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
#   BENCH_NGINX_KEEPALIVE [1024] idle upstream connections nginx keeps per worker (dwaar's
#                               compiled-in cap is 1024 too)
#   BENCH_KEEP [0]           1: keep the temp dir (configs, logs, raw wrk output)
#   DWAAR_LOG_LEVEL [warn]   passed to dwaar
#
# Needs nginx (Debian: nginx-light) and wrk (Debian: wrk), plus curl and taskset; it installs
# nothing and says what is missing. Exit status: 0 when every row ran cleanly; 1 when a proxy
# did not start, died, answered wrongly or drew errors under load, or a prerequisite is missing.
set -u

# shellcheck disable=SC2034 # read by bench/lib.sh
BENCH_NAME=proxy_bench LOAD_NAME=wrk
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

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
NGINX_KEEPALIVE=${BENCH_NGINX_KEEPALIVE:-1024}
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

bench_init
bench_pinning
start_backend

# ---- proxies ---------------------------------------------------------------------------------
# start_nginx PORT TAG [SCEN]: starts a fresh nginx reverse proxy; echoes nothing, sets PROXY_PID.
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
    timeouts {
        max_requests 1000000
    }
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

check_proxy() { check_bodies "$1"; } # PORT SCEN

# load_run OUT PORT SCEN SECS warmup|measured: wrk, HTTP/1.1 keep-alive, SCEN = BODY/cCONNS
load_run() {
    local out=$1 port=$2 scen=$3 secs=$4 kind=$5
    local url="http://127.0.0.1:$port/${scen%/c*}" conns=${scen#*/c}
    if [ "$kind" = warmup ]; then
        run_wrk "$out" -t"$THREADS" -c"$conns" -d"${secs}s" "$url"
    else
        run_wrk "$out" -t"$THREADS" -c"$conns" -d"${secs}s" --timeout 5s --latency "$url"
    fi
}

parse_load() { parse_wrk "$1"; }

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
                run_one "$proxy" "$body/c$conns" "$round"
            done
        done
    done
done

# ---- report ----------------------------------------------------------------------------------
print_report p50 p99 2
print_notes
exit $RC
