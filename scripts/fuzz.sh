#!/usr/bin/env bash
# Runs every libFuzzer target under fuzz/ for SECONDS each, on a temporary copy of its seed
# corpus (fuzz/corpus/<target without the fuzz_ prefix>/): nothing new is written into the repo.
# Builds the fuzz build directory first when needed (clang, ASan+UBSan).
#
#   scripts/fuzz.sh SECONDS
#   FUZZ_BUILD_DIR=build-fuzz   build directory (default build-fuzz, relative to the repo)
#   FUZZ_KEEP=1                 keep the temporary directory (grown corpora, logs) afterwards
#
# Exits non-zero when a target crashes, leaks, times out or fails UBSan; the crashing input and
# the log are then kept and their paths printed.
set -euo pipefail

if [ $# -ne 1 ] || ! [[ $1 =~ ^[0-9]+$ ]] || [ "$1" -eq 0 ]; then
    echo "usage: $0 SECONDS" >&2
    exit 2
fi
seconds=$1
cd "$(dirname "$0")/.."
root=$(pwd)
build=${FUZZ_BUILD_DIR:-build-fuzz}

targets=()
for src in fuzz/fuzz_*.c; do
    targets+=("$(basename "$src" .c)")
done
[ ${#targets[@]} -gt 0 ] || { echo "fuzz.sh: no fuzz/fuzz_*.c targets" >&2; exit 2; }

if [ ! -f "$build/build.ninja" ]; then
    echo "== configuring $build"
    CC=clang meson setup "$build" -Dfuzzing=true -Dtests=false \
        -Db_sanitize=address,undefined -Db_lundef=false >/dev/null
elif ! grep -q 'fuzz/fuzz_' "$build/build.ninja"; then
    echo "== enabling fuzzing in $build"
    meson configure "$build" -Dfuzzing=true >/dev/null
fi
# Only the fuzz targets (and what they link) are built.
ninja_targets=()
for t in "${targets[@]}"; do
    ninja_targets+=("fuzz/$t")
done
echo "== building ${targets[*]}"
ninja -C "$build" "${ninja_targets[@]}" >/dev/null

tmp=$(mktemp -d "${TMPDIR:-/tmp}/driftq-fuzz.XXXXXX")
failed=0
cleanup() {
    if [ "$failed" -eq 0 ] && [ "${FUZZ_KEEP:-0}" != 1 ]; then
        rm -rf "$tmp"
    else
        echo "fuzz.sh: kept $tmp"
    fi
}
trap cleanup EXIT

export ASAN_OPTIONS=${ASAN_OPTIONS:-abort_on_error=0:detect_leaks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}

for t in "${targets[@]}"; do
    exe="$build/fuzz/$t"
    seeds="fuzz/corpus/${t#fuzz_}"
    work="$tmp/$t"
    mkdir -p "$work/corpus" "$work/artifacts"
    if [ -d "$seeds" ]; then
        cp -R "$seeds/." "$work/corpus/"
    fi
    echo "== $t: ${seconds} s on a copy of $seeds"
    set +e
    "$exe" -max_total_time="$seconds" -timeout=25 -print_final_stats=1 \
        -artifact_prefix="$work/artifacts/" "$work/corpus" >"$work/log" 2>&1
    rc=$?
    set -e
    if [ $rc -ne 0 ] || [ -n "$(ls -A "$work/artifacts")" ]; then
        failed=1
        echo "!! $t FAILED (exit $rc); log: $work/log"
        tail -n 40 "$work/log"
        for a in "$work/artifacts"/*; do
            [ -e "$a" ] || continue
            echo "!! input: $a"
            od -c "$a" | head -n 20
        done
    else
        runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$work/log" | grep -o '[0-9]*$' || true)
        cov=$(grep -o 'cov: [0-9]*' "$work/log" | tail -n 1 || true)
        echo "   clean: ${runs:-?} runs, ${cov:-cov: ?}, corpus $(ls "$work/corpus" | wc -l) files"
    fi
done

if [ "$failed" -ne 0 ]; then
    echo "fuzz.sh: FAILED"
    exit 1
fi
echo "fuzz.sh: all ${#targets[@]} targets clean"
