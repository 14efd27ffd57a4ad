#!/usr/bin/env bash
# Installs what building and testing dwaar needs, from Debian 12 packages. Idempotent: only
# packages that are missing are installed. Run as root, or with sudo available.
set -euo pipefail

packages=(
    # toolchain
    build-essential cmake pkg-config clang libclang-rt-14-dev clang-format
    # libraries
    libpcre2-dev libevent-dev liburcu-dev libjemalloc-dev libzmq3-dev libmsgpack-dev libssl-dev
    libnghttp2-dev
    # tests and benchmarks: real clients and peers
    libcmocka-dev python3 python3-pytest curl nginx-light wrk openssl
    # HTTP/2 and gRPC peers: nghttp/h2load, nghttpd, frame-level Python h2, grpcio; testssl.sh
    nghttp2-client nghttp2-server python3-h2 python3-hyperframe python3-hpack python3-grpcio
    testssl.sh
    # promtool checks the admin API's /metrics text
    prometheus
)

missing=()
for p in "${packages[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
        missing+=("$p")
    fi
done

if [ ${#missing[@]} -eq 0 ]; then
    exit 0
fi

echo "install-deps: installing ${missing[*]}"
sudo=""
if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1; then sudo="sudo"; else
        echo "install-deps: need root (or sudo) to install: ${missing[*]}" >&2
        exit 1
    fi
fi
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
