#!/usr/bin/env bash
# scripts/fuzz.sh BUILD_DIR SECONDS: runs every libFuzzer harness (fuzz_<name>) found in
# BUILD_DIR for SECONDS each, seeded from its library's kept corpus
# (<lib>/fuzz/corpus/<name>/). Inputs that add coverage are merged back into that corpus;
# crashes, leaks, timeouts and out-of-memory inputs are written to ./fuzz-artifacts/.
# Exits non-zero when any harness found a problem. `make fuzz` builds and calls this.
set -u

if [ $# -ne 2 ]; then
    echo "usage: $0 BUILD_DIR SECONDS" >&2
    exit 2
fi
build=$(cd "$1" && pwd) || exit 2
seconds=$2
case $seconds in '' | *[!0-9]*) echo "SECONDS must be a positive integer" >&2; exit 2 ;; esac
repo=$(cd "$(dirname "$0")/.." && pwd)
artifacts=$PWD/fuzz-artifacts
mkdir -p "$artifacts"

mapfile -t harnesses < <(find "$build" -type f -perm -u+x -name 'fuzz_*' ! -name 'fuzz_replay_*' \
    ! -path '*/CMakeFiles/*' | sort)
if [ ${#harnesses[@]} -eq 0 ]; then
    echo "no fuzz_* harnesses in $build (configure with -DDWAAR_FUZZ=ON)" >&2
    exit 2
fi

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1:symbolize=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

failed=()
for h in "${harnesses[@]}"; do
    name=$(basename "$h")                       # fuzz_fmt
    libdir=$(dirname "${h#"$build"/}")          # dwaar-config
    corpus=$repo/$libdir/fuzz/corpus/${name#fuzz_}
    mkdir -p "$corpus"
    dict=()
    for d in "$repo/$libdir/fuzz/$name.dict" "$repo/$libdir/fuzz/dwaar.dict"; do
        if [ -f "$d" ]; then dict=(-dict="$d"); break; fi
    done
    fresh=$(mktemp -d)
    before=$(find "$corpus" -type f | wc -l)
    echo "== $name: ${seconds}s, corpus $corpus ($before inputs)"
    # New inputs go to a scratch directory first, then only those that add coverage are
    # merged into the kept corpus, so it stays small.
    "$h" "$fresh" "$corpus" "${dict[@]}" -max_total_time="$seconds" -max_len=65536 -timeout=10 \
        -rss_limit_mb=2048 -artifact_prefix="$artifacts/$name-" -print_final_stats=1 \
        2>&1 | tee "$artifacts/$name.log" | grep -E '^(#[0-9]+[[:space:]]+(INITED|DONE)|==[0-9]+==|SUMMARY|stat::|Done )' || true
    rc=${PIPESTATUS[0]}
    if [ "$rc" -ne 0 ]; then
        echo "!! $name exited $rc: see $artifacts/$name.log and $artifacts/$name-*" >&2
        failed+=("$name")
    fi
    "$h" -merge=1 "$corpus" "$fresh" -max_len=65536 -timeout=10 -rss_limit_mb=2048 \
        -artifact_prefix="$artifacts/$name-merge-" >"$artifacts/$name.merge.log" 2>&1 ||
        echo "!! $name: merge failed, see $artifacts/$name.merge.log" >&2
    rm -rf "$fresh"
    after=$(find "$corpus" -type f | wc -l)
    echo "== $name: corpus $before -> $after inputs"
done

if [ ${#failed[@]} -ne 0 ]; then
    echo "fuzzing found problems in: ${failed[*]}" >&2
    exit 1
fi
echo "fuzzing: no crashes"
