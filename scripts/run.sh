#!/usr/bin/env bash
# `make run`: start dwaar in the foreground on the bundled example Dwaarfile.
set -euo pipefail
bin=$1 config=$2
echo "dwaar: $("$bin" version)"
"$bin" validate -c "$config"
cat <<MSG

Serving $config — point a browser or curl at:
  http://localhost:8080/   a site that answers by itself ("Hello from Dwaar")
  http://localhost:8081/   a reverse proxy in front of it (see the X-Served-By header)
Edit $config to reload (it is watched; SIGHUP and "dwaarctl reload" work too); the admin API
is on http://127.0.0.1:6190 (try /health). Ctrl-C stops.

MSG
exec "$bin" run -c "$config"
