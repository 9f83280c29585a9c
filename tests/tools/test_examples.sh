#!/usr/bin/env bash
# Installs the built libraries into a temporary root, builds the examples against them through
# pkg-config exactly as a user would, and runs them against a broker (DRIFTQ_TEST_URL or the
# loopback test broker). TAP output.
set -u
build=$1 src=$2 python=$3
tmp=$(mktemp -d)
broker_pid=
cleanup() {
    [ -n "$broker_pid" ] && kill "$broker_pid" 2>/dev/null && wait "$broker_pid" 2>/dev/null
    rm -rf "$tmp"
}
trap cleanup EXIT
n=0 failed=0
check() { # check DESCRIPTION COMMAND...
    local what=$1; shift
    n=$((n + 1))
    if out=$("$@" 2>&1); then
        echo "ok $n - $what"
    else
        echo "not ok $n - $what"; failed=$((failed + 1))
        printf '%s\n' "$out" | sed 's/^/# /' | tail -20
    fi
}

check "meson install into a staging root" meson install -C "$build" --destdir "$tmp/root" --no-rebuild --quiet
pcdir=$(dirname "$(find "$tmp/root" -name driftq.pc | head -n1)")
check "pkg-config knows qdrant" env PKG_CONFIG_PATH="$pcdir" PKG_CONFIG_SYSROOT_DIR="$tmp/root" pkg-config --exists qdrant
libdir=$(dirname "$(find "$tmp/root" -name 'libdriftq.so' | head -n1)")
export PKG_CONFIG_PATH=$pcdir PKG_CONFIG_SYSROOT_DIR=$tmp/root
check "pkg-config knows driftq" pkg-config --exists driftq
cc=${CC:-cc}
for ex in driftq_producer driftq_consumer; do
    # shellcheck disable=SC2046
    check "build $ex against the installed library" \
        $cc -std=c99 -Wall -Wextra -Werror -o "$tmp/$ex" "$src/examples/$ex.c" $(pkg-config --cflags --libs driftq)
done
for ex in qdrant_quickstart qdrant_blue_green; do
    # shellcheck disable=SC2046
    check "build $ex against the installed library" \
        $cc -std=c99 -Wall -Wextra -Werror -o "$tmp/$ex" "$src/examples/$ex.c" $(pkg-config --cflags --libs qdrant)
done
check "the examples link the installed libdriftq" sh -c "LD_LIBRARY_PATH='$libdir' ldd '$tmp/driftq_producer' | grep -q '$libdir/libdriftq.so'"

# ragctl demo from the installed prefix finds its own installed sample corpus, not the source
# tree's (which an installed ragctl may never see).
ragctl_bin=$(find "$tmp/root" -type f -name ragctl -perm -u+x | head -n1)
n=$((n + 1))
if out=$(cd "$tmp" && RAG_STATE_DIR="$tmp/demo-state" LD_LIBRARY_PATH="$libdir" "$ragctl_bin" demo 2>&1) &&
    grep -q "corpus $tmp/root/.*/share/ragkit/corpus" <<<"$out" && grep -q "demo passed" <<<"$out"; then
    echo "ok $n - an installed ragctl demo runs on the installed sample corpus"
else
    echo "not ok $n - an installed ragctl demo runs on the installed sample corpus"; failed=$((failed + 1))
    printf '%s\n' "$out" | sed 's/^/# /' | tail -20
fi

url=${DRIFTQ_TEST_URL:-}
if [ -z "$url" ]; then
    "$python" "$src/tests/servers/driftq_broker.py" --port 0 >"$tmp/broker.out" &
    broker_pid=$!
    for _ in $(seq 100); do
        url=$(sed -n 's/^DRIFTQ_URL=//p' "$tmp/broker.out")
        [ -n "$url" ] && break
        sleep 0.1
    done
fi
topic="examples-$$-$(date +%s)"
export LD_LIBRARY_PATH=$libdir
check "producer runs" "$tmp/driftq_producer" "$url" "$topic" 5
n=$((n + 1))
if out=$(timeout 20 "$tmp/driftq_consumer" "$url" "$topic" g1 5 2>&1) && grep -q "consumed 5 messages" <<<"$out"; then
    echo "ok $n - consumer receives and acks the 5 messages"
else
    echo "not ok $n - consumer receives and acks the 5 messages"; failed=$((failed + 1))
    printf '%s\n' "$out" | sed 's/^/# /' | tail -20
fi
# SIGTERM stops a consumer waiting on a silent stream promptly.
"$tmp/driftq_consumer" "$url" "$topic" g1 >"$tmp/cons.out" 2>&1 &
cpid=$!
sleep 1
start=$(date +%s%N)
kill -TERM $cpid
wait $cpid
rc=$?
ms=$((($(date +%s%N) - start) / 1000000))
n=$((n + 1))
if [ $rc -eq 0 ] && [ $ms -lt 1000 ]; then
    echo "ok $n - SIGTERM stops the consumer cleanly in ${ms} ms"
else
    echo "not ok $n - SIGTERM stops the consumer cleanly (rc=$rc, ${ms} ms)"; failed=$((failed + 1))
fi

# Qdrant examples against QDRANT_TEST_URL or the loopback test server.
qurl=${QDRANT_TEST_URL:-}
if [ -z "$qurl" ]; then
    "$python" "$src/tests/servers/qdrant_server.py" --port 0 >"$tmp/qdrant.out" &
    qdrant_pid=$!
    for _ in $(seq 100); do
        qurl=$(sed -n 's/^QDRANT_URL=//p' "$tmp/qdrant.out")
        [ -n "$qurl" ] && break
        sleep 0.1
    done
fi
coll="examples_$$_$(date +%s)"
n=$((n + 1))
if out=$("$tmp/qdrant_quickstart" "$qurl" "$coll" 2>&1) && grep -q '^hit 1: id 1 ' <<<"$out" &&
    grep -q '^hit 2: id 3 ' <<<"$out" && ! grep -q 'id 2 ' <<<"$out"; then
    echo "ok $n - qdrant quickstart: filtered query finds ids 1 then 3"
else
    echo "not ok $n - qdrant quickstart: filtered query finds ids 1 then 3"; failed=$((failed + 1))
    printf '%s\n' "$out" | sed 's/^/# /'
fi
n=$((n + 1))
if out=$("$tmp/qdrant_blue_green" "$qurl" "${coll}_alias" 2>&1) &&
    [ "$(grep -c serves <<<"$out")" = 2 ] && grep -q '_blue"}$' <<<"$(grep serves <<<"$out" | head -1)" &&
    grep -q '_green"}$' <<<"$(grep serves <<<"$out" | tail -1)"; then
    echo "ok $n - qdrant blue/green: the alias serves blue, then green after the switch"
else
    echo "not ok $n - qdrant blue/green: the alias serves blue, then green after the switch"; failed=$((failed + 1))
    printf '%s\n' "$out" | sed 's/^/# /'
fi
[ -n "${qdrant_pid:-}" ] && kill "$qdrant_pid" 2>/dev/null && wait "$qdrant_pid" 2>/dev/null
echo "1..$n"
[ $failed -eq 0 ]
