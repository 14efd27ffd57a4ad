#!/usr/bin/env bash
# scripts/bench.sh BUILD_DIR: runs the benchmarks built in BUILD_DIR (it builds nothing; use
# a Release build, `make bench` does) and prints one table per section. Each section is a
# function below; add new ones to SECTIONS. BENCH_SECTIONS="bench_tls bench_proxy" (or
# "tls proxy") runs only those sections, in that order.
# shellcheck disable=SC2317 # the section functions are called through "$s"
set -eu

if [ $# -ne 1 ]; then
    echo "usage: $0 BUILD_DIR" >&2
    exit 2
fi
build=$(cd "$1" && pwd)

section() {
    printf '\n== %s\n' "$1"
}

# Parse + validate of a generated 10,000-site Dwaarfile (target: well under 100 ms).
bench_config() {
    section "config: parse + validate, 10000 sites"
    local exe=$build/bench/dwaar-config-bench
    if [ ! -x "$exe" ]; then
        echo "missing $exe (build the tree first)" >&2
        return 1
    fi
    if grep -q 'CMAKE_BUILD_TYPE:STRING=Release' "$build/CMakeCache.txt" 2>/dev/null; then :; else
        echo "note: $build is not a Release build; times are not representative"
    fi
    "$exe" --sites 10000 --runs 10
}

# End-to-end HTTP/1.1 reverse proxy, dwaar vs nginx, under wrk (bench/proxy_bench.sh; needs the
# nginx-light and wrk packages; BENCH_* environment variables tune it, see the script's header).
bench_proxy() {
    section "proxy: dwaar vs nginx, HTTP/1.1 reverse proxy under wrk"
    if grep -q 'CMAKE_BUILD_TYPE:STRING=Release' "$build/CMakeCache.txt" 2>/dev/null; then :; else
        echo "note: $build is not a Release build; dwaar's figures are not representative"
    fi
    "$(dirname "$0")/../bench/proxy_bench.sh" "$build/dwaar-ingress/dwaar"
}

# Control plane: config-change propagation to two data planes, and reload cost for 10,000
# sites against nginx (bench/control_bench.py; BENCH_CP_ROUNDS sets the rounds).
bench_control() {
    section "control plane: propagation and 10,000-site reload, dwaar vs nginx"
    /usr/bin/python3 "$(dirname "$0")/../bench/control_bench.py" "$build"
}

# TLS termination, dwaar vs nginx: HTTPS/HTTP/2 under h2load (100 connections x 10 streams) and
# HTTPS/1.1 with a new connection and full handshake per request under wrk (bench/tls_bench.sh;
# needs nginx-light, nghttp2-client and wrk; BENCH_* variables tune it, see the script's header).
bench_tls() {
    section "tls: dwaar vs nginx, HTTPS/HTTP/2 (h2load) and HTTPS/1.1 new connection per request (wrk)"
    if grep -q 'CMAKE_BUILD_TYPE:STRING=Release' "$build/CMakeCache.txt" 2>/dev/null; then :; else
        echo "note: $build is not a Release build; dwaar's figures are not representative"
    fi
    "$(dirname "$0")/../bench/tls_bench.sh" "$build/dwaar-ingress/dwaar"
}

SECTIONS=(bench_config bench_control bench_proxy bench_tls)
if [ -n "${BENCH_SECTIONS:-}" ]; then # names with or without the bench_ prefix
    want=()
    for s in ${BENCH_SECTIONS}; do
        s=bench_${s#bench_}
        if [[ " ${SECTIONS[*]} " != *" $s "* ]]; then
            echo "unknown section '${s#bench_}' in BENCH_SECTIONS (known: ${SECTIONS[*]})" >&2
            exit 2
        fi
        want+=("$s")
    done
    SECTIONS=("${want[@]}")
fi

rc=0
for s in "${SECTIONS[@]}"; do
    "$s" || rc=1
done
exit $rc
