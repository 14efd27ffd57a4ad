#!/usr/bin/env bash
# scripts/bench.sh BUILD_DIR: runs the benchmarks built in BUILD_DIR (it builds nothing; use
# a Release build, `make bench` does) and prints one table per section. Each section is a
# function below; add new ones to SECTIONS.
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

SECTIONS=(bench_config bench_control bench_proxy)

rc=0
for s in "${SECTIONS[@]}"; do
    "$s" || rc=1
done
exit $rc
