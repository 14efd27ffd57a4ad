#!/usr/bin/env bash
# bench/tls_bench.sh DWAAR_BINARY: TLS-terminating reverse proxy benchmark, dwaar vs nginx.
# scripts/bench.sh runs it (`make bench`, section bench_tls); bench/README.md says how to read
# the figures. Helpers shared with bench/proxy_bench.sh are in bench/lib.sh.
#
# One run does this, on loopback only, with ports picked free at run time:
#   1. makes a throwaway EC P-256 certificate for `localhost` with openssl in the temp dir, and
#      starts the same nginx BACKEND as proxy_bench.sh (GET /small: a 100-byte `return 200`);
#   2. for each scenario it starts, in turn, a fresh nginx and a fresh dwaar terminating TLS
#      with that certificate and proxying to the backend over plain HTTP/1.1 keep-alive:
#      nginx `listen 127.0.0.1:P ssl http2`, `ssl_protocols TLSv1.2 TLSv1.3`, upstream
#      { keepalive 64; }, worker_processes W, keepalive_requests 1000000; dwaar `dwaar run
#      --workers W` with `timeouts { max_requests 1000000 }` (both default to 1000 requests per
#      connection, after which h2load, in -D mode, does not reconnect) and
#      `localhost { bind 127.0.0.1; tls CERT KEY; reverse_proxy 127.0.0.1:BACKEND }`.
#      It checks the answers through it (and the negotiated protocol), runs the load for a
#      warm-up and then the measured run, and stops it:
#        h2         HTTPS/HTTP/2: h2load -c 100 -m 10 -D 10 https://localhost:P/small (100
#                   connections x 10 concurrent streams; latency percentiles from --log-file)
#        h1-new     HTTPS/1.1, one new connection and full TLS handshake per request:
#                   wrk -c 50 -H 'Connection: close' --latency https://localhost:P/small. The
#                   proxy answers `Connection: close` and closes; wrk reconnects. wrk (and
#                   h2load) resume TLS sessions when the server issues tickets, so for this
#                   scenario both proxies run with OPENSSL_CONF pointing to a file that sets
#                   `NumTickets = 0` and `Options = -SessionTicket` (OpenSSL's system_default
#                   section): no tickets, hence full handshakes. A Python client checks that
#                   the proxy answers `Connection: close` with it and closes, and that a second
#                   connection offering the first one's session is NOT resumed; the TCP
#                   connections accepted on the host during the run (/proc/net/snmp
#                   PassiveOpens) are counted per request (1.00 = one connection per request;
#                   other processes' connections count too).
#        h1-resume  (not run by default) the same with tickets on: resumed handshakes.
#   3. prints the table (RPS, p50, p99, peak RSS, CPU s, CPU us/req), the dwaar/nginx ratios,
#      what was negotiated per row, and notes (see proxy_bench.sh; same meaning).
#
# CPU pinning is proxy_bench.sh's: on 2 cores the proxy runs on core 0, the load generator
# and the backend share core 1. A TLS client does about as much work per handshake as the
# server, so in h1-new the load side is usually the limit: compare CPU us/req there.
#
# Environment (defaults in brackets):
#   BENCH_TLS_SCENARIOS ["h2 h1-new"]  any of h2 h1-new h1-resume
#   BENCH_WORKERS [1]        W: nginx worker_processes and dwaar --workers
#   BENCH_DURATION [10]      seconds of each measured run
#   BENCH_WARMUP [2]         seconds of warm-up before each measured run (0 = none)
#   BENCH_H2_CLIENTS [100]   h2load connections (-c)
#   BENCH_H2_STREAMS [10]    h2load concurrent streams per connection (-m)
#   BENCH_H1_CONNS [50]      wrk connections in h1-new / h1-resume
#   BENCH_THREADS [1]        h2load / wrk threads
#   BENCH_ROUNDS [1]         runs per scenario and proxy (order alternates); median-RPS round shown
#   BENCH_PROXIES ["nginx dwaar"]
#   BENCH_NGINX_KEEPALIVE [1024] idle upstream connections nginx keeps per worker (dwaar's
#                               compiled-in cap is 1024 too)
#   BENCH_KEEP [0]           1: keep the temp dir (configs, logs, raw load output)
#   BENCH_PIN, BENCH_PROXY_CPUS, BENCH_BACKEND_CPUS, BENCH_LOAD_CPUS: as in proxy_bench.sh
#   DWAAR_LOG_LEVEL [warn]   passed to dwaar
#
# Needs nginx (nginx-light, with http_ssl and http_v2), h2load (nghttp2-client), wrk, openssl,
# curl, taskset, python3. Exit status: 0 when every row ran cleanly; 1 otherwise (a proxy did
# not start, failed a scenario, died, answered wrongly or drew errors; a prerequisite missing).
set -u

# shellcheck disable=SC2034 # read by bench/lib.sh
BENCH_NAME=tls_bench LOAD_NAME=h2load READY_SCHEME=https
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

if [ $# -ne 1 ]; then
    echo "usage: $0 DWAAR_BINARY" >&2
    exit 2
fi
DWAAR=$1

SCENARIOS=${BENCH_TLS_SCENARIOS:-h2 h1-new}
WORKERS=${BENCH_WORKERS:-1}
DURATION=${BENCH_DURATION:-10}
WARMUP=${BENCH_WARMUP:-2}
H2_CLIENTS=${BENCH_H2_CLIENTS:-100}
H2_STREAMS=${BENCH_H2_STREAMS:-10}
H1_CONNS=${BENCH_H1_CONNS:-50}
THREADS=${BENCH_THREADS:-1}
ROUNDS=${BENCH_ROUNDS:-1}
PROXIES=${BENCH_PROXIES:-nginx dwaar}
NGINX_KEEPALIVE=${BENCH_NGINX_KEEPALIVE:-1024}
export DWAAR_LOG_LEVEL=${DWAAR_LOG_LEVEL:-warn}

for v in WORKERS DURATION WARMUP H2_CLIENTS H2_STREAMS H1_CONNS THREADS ROUNDS NGINX_KEEPALIVE; do
    case ${!v} in '' | *[!0-9]*) die "BENCH_$v must be a non-negative integer (got '${!v}')" ;; esac
done
for v in WORKERS DURATION H2_CLIENTS H2_STREAMS H1_CONNS THREADS ROUNDS; do
    [ "${!v}" -ge 1 ] || die "BENCH_$v must be at least 1"
done
for s in $SCENARIOS; do
    case $s in h2 | h1-new | h1-resume) ;; *) die "unknown scenario '$s' (h2, h1-new, h1-resume)" ;; esac
done
for p in $PROXIES; do
    case $p in nginx | dwaar) ;; *) die "unknown proxy '$p'" ;; esac
done

# ---- prerequisites ---------------------------------------------------------------------------
missing=()
command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] || missing+=("nginx (Debian package nginx-light)")
command -v h2load >/dev/null 2>&1 || missing+=("h2load (Debian package nghttp2-client)")
command -v wrk >/dev/null 2>&1 || missing+=("wrk (Debian package wrk)")
for c in openssl curl taskset python3; do
    command -v "$c" >/dev/null 2>&1 || missing+=("$c")
done
if [ ${#missing[@]} -gt 0 ]; then
    echo "tls_bench: missing: ${missing[*]}" >&2
    echo "tls_bench: install them (scripts/install-deps.sh lists them); skipping the TLS benchmark" >&2
    exit 1
fi
NGINX=$(command -v nginx || echo /usr/sbin/nginx)
NGINX_VERSION=$("$NGINX" -v 2>&1 | sed 's/.*nginx\///')
"$NGINX" -V 2>&1 | grep -q -- --with-http_v2_module || die "$NGINX has no HTTP/2 module (http_v2)"

bench_init
bench_pinning
start_backend

# ---- certificate, OpenSSL config without session tickets -------------------------------------
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 365 \
    -subj /CN=localhost -addext "subjectAltName=DNS:localhost,IP:127.0.0.1" \
    -keyout "$TMP/key.pem" -out "$TMP/cert.pem" >"$TMP/openssl.out" 2>&1 ||
    die "openssl could not make a certificate: $(tail -n 2 "$TMP/openssl.out")"
chmod 600 "$TMP/key.pem"

cat >"$TMP/no-tickets.cnf" <<'EOF'
# Given to both proxies as OPENSSL_CONF in h1-new: no session tickets (TLS 1.3: NumTickets 0;
# TLS 1.2: no ticket extension). Neither proxy keeps a server-side session cache here, so
# every connection makes a full handshake.
openssl_conf = openssl_init
[openssl_init]
ssl_conf = ssl_sect
[ssl_sect]
system_default = system_default_sect
[system_default_sect]
NumTickets = 0
Options = -SessionTicket
EOF

proxy_env() { # SCEN -> the env(1) prefix a proxy starts with in that scenario
    [ "$1" = h1-new ] && echo "env OPENSSL_CONF=$TMP/no-tickets.cnf"
}

# ---- proxies ---------------------------------------------------------------------------------
# nginx < 1.25.1 turns HTTP/2 on in `listen`; later versions with `http2 on;`.
if printf '%s\n1.25.1\n' "$NGINX_VERSION" | sort -V -C; then
    NGINX_H2_LISTEN=" http2" NGINX_H2_DIRECTIVE=""
else
    NGINX_H2_LISTEN="" NGINX_H2_DIRECTIVE="http2 on;"
fi

# start_nginx PORT TAG SCEN: a fresh nginx terminating TLS; sets PROXY_PID.
start_nginx() {
    local port=$1 tag=$2 scen=$3
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
        listen 127.0.0.1:$port ssl$NGINX_H2_LISTEN backlog=4096;
        $NGINX_H2_DIRECTIVE
        ssl_certificate $TMP/cert.pem;
        ssl_certificate_key $TMP/key.pem;
        ssl_protocols TLSv1.2 TLSv1.3;
        location / {
            proxy_pass http://backend;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
        }
    }
}
EOF
    } >"$TMP/$tag.conf"
    # shellcheck disable=SC2046
    $(proxy_env "$scen") "${PIN_PROXY[@]}" "$NGINX" -p "$TMP/" -c "$TMP/$tag.conf" \
        -e "$TMP/$tag-error.log" >"$TMP/$tag.out" 2>&1 &
    PROXY_PID=$!
    STARTED+=("$PROXY_PID")
}

# start_dwaar PORT TAG SCEN: a fresh dwaar terminating TLS; sets PROXY_PID.
start_dwaar() {
    local port=$1 tag=$2 scen=$3
    cat >"$TMP/$tag.Dwaarfile" <<EOF
{
    http_port $(free_port)
    https_port $port
    auto_https disable_redirects
    timeouts {
        max_requests 1000000
    }
}

localhost {
    bind 127.0.0.1
    tls $TMP/cert.pem $TMP/key.pem
    reverse_proxy 127.0.0.1:$BACKEND_PORT
}
EOF
    # shellcheck disable=SC2046
    $(proxy_env "$scen") "${PIN_PROXY[@]}" "$DWAAR" run -c "$TMP/$tag.Dwaarfile" \
        --workers "$WORKERS" --admin-addr "127.0.0.1:$(free_port)" \
        --grpc-addr "127.0.0.1:$(free_port)" >"$TMP/$tag.out" 2>&1 &
    PROXY_PID=$!
    STARTED+=("$PROXY_PID")
}

# ---- checks ----------------------------------------------------------------------------------
# tls_check PORT -> "RESUMED CLOSES": RESUMED is yes when a second connection offering the first
# one's session (taken after a whole request, so that TLS 1.3 tickets have arrived) is resumed,
# else no; CLOSES is yes when the proxy, asked with `Connection: close`, answered with
# `Connection: close` and closed the connection (what makes wrk reconnect), else no. Or an
# error message.
tls_check() {
    python3 - "$1" <<'EOF' 2>&1 | tail -n 1
import socket, ssl, sys
port = int(sys.argv[1])
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE
ctx.set_alpn_protocols(["http/1.1"])
sess, reused, closes = None, None, True
for _ in range(2):
    with socket.create_connection(("127.0.0.1", port), timeout=5) as raw:
        with ctx.wrap_socket(raw, server_hostname="localhost", session=sess) as s:
            s.sendall(b"GET /small HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
            data = b""
            try:
                while True:
                    b = s.recv(65536)
                    if not b:
                        break
                    data += b
            except socket.timeout:
                closes = False
            head = data.split(b"\r\n\r\n", 1)[0].lower()
            if b"\r\nconnection: close" not in head:
                closes = False
            sess, reused = s.session, s.session_reused
print("yes" if reused else "no", "yes" if closes else "no")
EOF
}

# check_proxy PORT SCEN: bodies intact over the scenario's protocol; h2 really negotiated (else
# exit 2: the scenario cannot run); the TLS parameters a default OpenSSL client gets
# ($TMP/PORT.sclient), and for h1-* whether sessions resume and the proxy closes on
# `Connection: close` ($TMP/PORT.tlscheck), for the report.
check_proxy() {
    local port=$1 scen=$2 v rc=0
    if [ "$scen" = h2 ]; then
        v=$(curl -s -k -m 5 --http2 --resolve "localhost:$port:127.0.0.1" -o /dev/null \
            -w '%{http_version}' "https://localhost:$port/small" 2>&1)
        if [ "$v" != 2 ]; then
            echo "curl --http2 got HTTP version '${v:-none}': ALPN h2 not negotiated or no answer"
            return 2
        fi
        check_bodies "$port" https --http2 || rc=1
    else
        check_bodies "$port" https --http1.1 || rc=1
        local r
        r=$(tls_check "$port")
        echo "$r" >"$TMP/$port.tlscheck"
        case "$scen:$r" in
        "h1-new:no yes" | "h1-resume:yes yes") ;;
        *" no") echo "the proxy did not answer 'Connection: close' with it and close: wrk would reuse connections" && rc=1 ;;
        "h1-new:yes yes") echo "a session was resumed although tickets are off (h1-new is not full handshakes)" && rc=1 ;;
        "h1-resume:no yes") echo "a session was not resumed (h1-resume measures full handshakes)" && rc=1 ;;
        *) echo "TLS check failed: $r" && rc=1 ;;
        esac
    fi
    openssl s_client -connect "127.0.0.1:$port" -servername localhost \
        -alpn "$([ "$scen" = h2 ] && echo h2 || echo http/1.1)" -brief </dev/null >"$TMP/$port.sclient" 2>&1
    return $rc
}

# ---- load ------------------------------------------------------------------------------------
passive_opens() { # TCP connections accepted so far in this network namespace
    awk '/^Tcp:/ { if (!h) { for (i = 1; i <= NF; i++) if ($i == "PassiveOpens") c = i; h = 1 }
        else print $c }' /proc/net/snmp
}

# load_run OUT PORT SCEN SECS warmup|measured
load_run() {
    local out=$1 port=$2 scen=$3 secs=$4 kind=$5 url o0
    url="https://localhost:$port/small"
    if [ "$scen" = h2 ]; then
        local log=()
        [ "$kind" = measured ] && log=(--log-file="$out.log")
        run_load "$out" h2load -t"$THREADS" -c"$H2_CLIENTS" -m"$H2_STREAMS" -D"$secs" \
            "${log[@]}" "$url"
    else
        o0=$(passive_opens)
        run_load "$out" wrk -t"$THREADS" -c"$H1_CONNS" -d"${secs}s" --timeout 5s --latency \
            -H "Connection: close" "$url"
        echo $(($(passive_opens) - o0)) >"$out.accepted"
    fi
}

# parse_h2load FILE -> "rps p50_ms p99_ms requests non2xx3xx errors detail"; the percentiles
# come from FILE.log (h2load --log-file: start, status, latency us per request).
parse_h2load() {
    local pct="- -"
    if [ -s "$1.log" ]; then
        pct=$(awk -F'\t' '{print $3}' "$1.log" | sort -n | awk '{ v[NR] = $1 } END {
            if (NR == 0) { print "- -"; exit }
            i50 = int(0.50 * NR); if (i50 < 1) i50 = 1
            i99 = int(0.99 * NR); if (i99 < 1) i99 = 1
            printf "%.3f %.3f\n", v[i50] / 1000, v[i99] / 1000 }')
    fi
    awk -v pct="$pct" '
        /^finished in / { rps = $4 }
        /^requests: / { ok = $8; failed = $10; errored = $12; tmo = $14 }
        /^status codes: / { bad = $7 + $9 }
        END {
            if (rps == "" || ok == "") { print "- - - - - - -"; exit }
            split(pct, p, " ")
            printf "%.0f %s %s %d %d %d failed=%d,errored=%d,timeout=%d\n", rps, p[1], p[2], ok,
                bad + 0, failed + 0, failed, errored, tmo }' "$1"
}

parse_load() { # OUT: the tool is told by what it printed
    if grep -q '^finished in ' "$1"; then parse_h2load "$1"; else parse_wrk "$1"; fi
}

# ---- run -------------------------------------------------------------------------------------
versions="nginx $NGINX_VERSION, $(h2load --version 2>&1 | head -n 1 | awk '{print "h2load " $2}')"
versions+=", $(wrk -v 2>&1 | head -n 1 | awk '{print "wrk " $2}'), $(openssl version | awk '{print $1 " " $2}')"
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
echo "workers W=$WORKERS; ${WARMUP}s warm-up + ${DURATION}s per run, $ROUNDS round(s), load threads $THREADS;" \
    "pinning: proxy ${PROXY_CPUS:-none}, backend ${BACKEND_CPUS:-none} ($BACKEND_WORKERS worker(s))," \
    "load ${LOAD_CPUS:-none}; load average $(cut -d' ' -f1-3 /proc/loadavg)"
for s in $SCENARIOS; do
    case $s in
    h2) echo "h2:        h2load -c$H2_CLIENTS -m$H2_STREAMS -D$DURATION https://localhost:P/small (HTTP/2, 100-byte body)" ;;
    h1-new) echo "h1-new:    wrk -c$H1_CONNS -d${DURATION}s -H 'Connection: close' https://localhost:P/small (new connection + full handshake per request, tickets off)" ;;
    h1-resume) echo "h1-resume: wrk -c$H1_CONNS -d${DURATION}s -H 'Connection: close' https://localhost:P/small (new connection per request, resumed with a ticket)" ;;
    esac
done
if [[ " $SCENARIOS " == *" h2 "* && " $PROXIES " == *" nginx "* ]] &&
    [ $((H2_CLIENTS * H2_STREAMS)) -gt $((NGINX_KEEPALIVE * WORKERS)) ]; then
    note "h2 has $((H2_CLIENTS * H2_STREAMS)) requests in flight but nginx keeps at most $NGINX_KEEPALIVE idle" \
        "upstream connections per worker (dwaar: 1024, compiled in), so nginx closes and reopens" \
        "backend connections under load; BENCH_NGINX_KEEPALIVE raises nginx's limit"
fi

: >"$TMP/results"
: >"$TMP/tlsinfo"
for scen in $SCENARIOS; do
    for round in $(seq "$ROUNDS"); do
        order=$PROXIES
        [ $((round % 2)) -eq 0 ] && order=$(echo "$PROXIES" | tr ' ' '\n' | tac | tr '\n' ' ')
        for proxy in $order; do
            # shellcheck disable=SC2034 # read by run_one (lib.sh)
            if [ "$scen" = h2 ]; then LOAD_NAME=h2load; else LOAD_NAME=wrk; fi
            n0=$(wc -l <"$TMP/results")
            run_one "$proxy" "$scen" "$round"
            st=$(tail -n 1 "$TMP/results" | awk '{print $NF}')
            case $st in
            ok) ;;
            errors | wrong-response) echo "$scen: $proxy: $st (figures not comparable; see the notes below)" ;;
            *) echo "$scen: failed ($proxy: $st; see the notes below)" ;;
            esac
            # what the run negotiated: the proxy's port is in its config file
            tag="$proxy-$scen-r$round"
            port=$(grep -o -E '(listen 127\.0\.0\.1:|https_port )[0-9]+' "$TMP/$tag.conf" "$TMP/$tag.Dwaarfile" \
                2>/dev/null | grep -o -E '[0-9]+$' | head -n 1)
            info=$(awk -F': ' '/^Protocol version:/ { v = $2 } /^Ciphersuite:/ { c = $2 }
                /^(Server|Peer) Temp Key:/ { split($2, k, ","); g = k[1] }
                END { if (v != "") printf "%s %s %s", v, c, g }' "$TMP/$port.sclient" 2>/dev/null)
            if [ "$scen" = h2 ]; then # what h2load itself negotiated, when it got that far
                h2info=$(awk -F': ' '/^TLS Protocol:/ { v = $2 } /^Cipher:/ { c = $2 }
                    /^Server Temp Key:/ { split($2, k, " "); g = k[1] } /^Application protocol:/ { a = $2 }
                    END { if (v != "") printf "%s %s %s, ALPN %s", v, c, g, (a == "" ? "none" : a) }' \
                    "$TMP/$tag.load" 2>/dev/null)
                info=${h2info:-${info:+$info (openssl s_client; h2load negotiated nothing)}}
            else
                acc=$(cat "$TMP/$tag.load.accepted" 2>/dev/null)
                req=$(parse_wrk "$TMP/$tag.load" 2>/dev/null | awk '{print $4}')
                read -r resumed closes < <(cat "$TMP/$port.tlscheck" 2>/dev/null)
                [ -n "$info" ] && info+=", session resumed: ${resumed:-?}, closes on Connection: close: ${closes:-?}"
                if [ -n "$acc" ] && [ "${req:--}" != - ] && [ "$req" -gt 0 ]; then
                    info+=", $(awk -v a="$acc" -v r="$req" 'BEGIN { printf "%.2f", a / r }') TCP connections accepted per request (host-wide)"
                fi
            fi
            [ "$(wc -l <"$TMP/results")" -gt "$n0" ] && [ -n "$info" ] &&
                echo "$scen $proxy $round $info" >>"$TMP/tlsinfo"
        done
    done
done

# ---- report ----------------------------------------------------------------------------------
print_report p50 p99 2
if [ -s "$TMP/tlsinfo" ]; then
    echo
    echo "negotiated (h2: as h2load reports it; h1: openssl s_client, which offers what wrk offers)"
    awk '{ r = ($3 > 1 ? " (round " $3 ")" : ""); printf "%-10s | %-5s | ", $1, $2 r;
        $1 = $2 = $3 = ""; sub(/^ +/, ""); print }' "$TMP/tlsinfo"
fi
print_notes
exit $RC
