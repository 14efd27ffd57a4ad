#!/usr/bin/env bash
# `make run`: validate and show the bundled example. The data plane (serving traffic) lands
# with the HTTP/1.1 issue; until then this proves the configuration path end to end.
set -euo pipefail
bin=$1 config=$2
echo "dwaar: $("$bin" version)"
echo "dwaar: validating $config"
"$bin" validate -c "$config"
echo
echo "This build has the Dwaarfile language and CLI (validate, fmt, adapt) but no data plane yet,"
echo "so nothing is served. Try:"
echo "  $bin fmt $config"
echo "  $bin adapt -c $config | python3 -m json.tool"
