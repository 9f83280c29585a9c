#!/usr/bin/env bash
# The project's test command (the README's): on a fresh Debian machine it installs every
# dependency, then builds and passes the whole suite three ways — plain, under ASan+UBSan, under
# valgrind — checks formatting, and runs each fuzz target briefly. Exits non-zero on any failure.
#
#   bash scripts/test.sh            everything
#   FUZZ_SECONDS=0 bash scripts/test.sh   skip the fuzz smoke run
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

. scripts/apt.sh
apt_install "${build_deps[@]}" g++ git python3 python3-jsonschema valgrind clang clang-format \
    libclang-rt-14-dev scdoc binutils

# The test servers need Debian's python3 (with python3-jsonschema), whatever python3 is first
# on PATH.
py=/usr/bin/python3
summary=()
total_pass=0 total_fail=0 total_skip=0

tally() { # tally NAME BUILD_DIR: adds the results of the last meson test run in BUILD_DIR
    local counts log
    log=$(ls -t "$2"/meson-logs/testlog*.json | head -n1)
    counts=$("$py" - "$log" <<'PY'
import json, sys
p = f = s = 0
for line in open(sys.argv[1]):
    r = json.loads(line)["result"]
    if r in ("OK", "EXPECTEDFAIL"):
        p += 1
    elif r == "SKIP":
        s += 1
    else:
        f += 1
print(p, f, s)
PY
)
    read -r p f s <<<"$counts"
    total_pass=$((total_pass + p)) total_fail=$((total_fail + f)) total_skip=$((total_skip + s))
    summary+=("$1: $p passed, $f failed, $s skipped")
}

status=0
run_tests() { # run_tests NAME BUILD_DIR MESON_TEST_ARGS...
    local name=$1 dir=$2; shift 2
    echo "== $name"
    if ! meson test -C "$dir" --print-errorlogs "$@"; then
        status=1
    fi
    tally "$name" "$dir"
}

echo "== formatting (.clang-format)"
if git ls-files '*.c' '*.h' | xargs -r clang-format --dry-run --Werror 2>/tmp/format.$$; then
    summary+=("format: clean")
else
    head -30 /tmp/format.$$
    summary+=("format: FAILED (run clang-format -i on the files above)")
    status=1
fi
rm -f /tmp/format.$$

echo "== build"
[ -d build-ci ] || meson setup build-ci -Dwerror=true -Dpython=$py >/dev/null
ninja -C build-ci
run_tests "plain" build-ci

echo "== build (ASan + UBSan)"
[ -d build-asan ] || meson setup build-asan -Dwerror=true -Dpython=$py \
    -Db_sanitize=address,undefined -Db_lundef=false \
    -Dc_args=-fno-sanitize-recover=all -Dc_link_args=-fno-sanitize-recover=all >/dev/null
ninja -C build-asan
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    run_tests "asan+ubsan" build-asan --suite unit --suite protocol --suite integration --suite tools

run_tests "valgrind" build-ci --setup=valgrind --suite unit --suite protocol --suite integration

fuzz_seconds=${FUZZ_SECONDS:-20}
if [ "$fuzz_seconds" != 0 ] && [ -x scripts/fuzz.sh ]; then
    echo "== fuzz (${fuzz_seconds} s per target)"
    if bash scripts/fuzz.sh "$fuzz_seconds"; then
        summary+=("fuzz: clean")
    else
        summary+=("fuzz: FAILED")
        status=1
    fi
fi

echo
echo "== summary"
printf '%s\n' "${summary[@]}"
echo "$total_pass passed, $total_fail failed, $total_skip skipped"
exit $status
