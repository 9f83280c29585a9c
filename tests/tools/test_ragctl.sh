#!/usr/bin/env bash
# ragctl end to end (TAP): the demo, each command, bad input, and the same build against a Qdrant
# server (QDRANT_TEST_URL or the loopback test server) instead of local mode.
set -u
ragctl=$1 src=$2 python=$3
tmp=$(mktemp -d)
srv_pid=
cleanup() {
    [ -n "$srv_pid" ] && kill "$srv_pid" 2>/dev/null && wait "$srv_pid" 2>/dev/null
    rm -rf "$tmp"
}
trap cleanup EXIT
n=0 failed=0
pass() { n=$((n + 1)); echo "ok $n - $1"; }
flunk() { n=$((n + 1)); failed=$((failed + 1)); echo "not ok $n - $1"; [ -n "${2:-}" ] && printf '%s\n' "$2" | sed 's/^/# /' | tail -15; }
expect() { # expect DESCRIPTION WANT_EXIT COMMAND...
    local what=$1 want=$2; shift 2
    out=$("$@" 2>&1); local rc=$?
    if [ "$rc" = "$want" ]; then pass "$what"; else flunk "$what (exit $rc, want $want)" "$out"; fi
}
unset QDRANT_URL RAG_EMBEDDER RAG_PREFIX
export RAG_STATE_DIR=$tmp/state NO_COLOR=1
corpus=$src/examples/corpus

# The demo (local mode, in-process).
expect "ragctl demo passes on the embedded default" 0 "$ragctl" demo
grep -q "demo passed" <<<"$out" && pass "demo reports every stage held" || flunk "demo reports every stage held" "$out"

# Commands, on a fresh state directory.
export RAG_STATE_DIR=$tmp/state2
expect "build with a failure injected at chunk fails" 70 "$ragctl" build --index docs --docs "$corpus" --fail-at chunk --fail-mode always
run=$(ls "$tmp/state2/runs" | head -n1)
expect "status of the failed run" 0 "$ragctl" status "$run"
grep -q "chunk *FAILED" <<<"$out" && pass "status shows FAILED at chunk" || flunk "status shows FAILED at chunk" "$out"
expect "history: nothing promoted" 0 "$ragctl" history --index docs
grep -q "alias rag_docs_active -> (none)" <<<"$out" && pass "no alias after a failed build" || flunk "no alias after a failed build" "$out"
expect "replay still fails (always)" 70 "$ragctl" replay "$run" --from chunk
expect "a clean build succeeds" 0 "$ragctl" build --index docs --docs "$corpus"
expect "second build succeeds" 0 "$ragctl" build --index docs --docs "$corpus"
expect "history --json" 0 "$ragctl" --json history --index docs
"$python" -c 'import json,sys; d=json.loads(sys.argv[1]); assert d["active"]==3 and d["alias_target"]=="rag_docs_v3", d' "$out" 2>/dev/null &&
    pass "history --json: v3 active, alias on rag_docs_v3 (v1 failed)" || flunk "history --json: v3 active" "$out"
expect "query" 0 "$ragctl" query --index docs "which steps does a build run" -k 2
grep -q "^1\. .*guide/pipeline.md#0 (v3)" <<<"$out" && pass "query finds the pipeline guide in v3" || flunk "query finds the pipeline guide in v3" "$out"
expect "query --json" 0 "$ragctl" query --index docs "rollback" -k 1 --json
"$python" -c 'import json,sys; d=json.loads(sys.argv[1]); assert len(d)==1 and d[0]["payload"]["version"]==3' "$out" 2>/dev/null &&
    pass "query --json parses" || flunk "query --json parses" "$out"
expect "rollback one step" 0 "$ragctl" rollback --index docs
grep -q "from v3 to v2" <<<"$out" && pass "rolled back from v3 to v2" || flunk "rolled back from v3 to v2" "$out"
expect "rollback past the first promoted version is refused" 64 "$ragctl" rollback --index docs
expect "rollback to a failed version is refused" 64 "$ragctl" rollback --index docs --to-version 1
expect "status --json of the failed run" 0 "$ragctl" status "$run" --json
"$python" -c 'import json,sys; d=json.loads(sys.argv[1]); assert d["status"]=="FAILED" and d["events"]' "$out" 2>/dev/null &&
    pass "status --json has the status and the timeline" || flunk "status --json" "$out"

expect "runs" 0 "$ragctl" runs
[ "$(grep -c '^docs-' <<<"$out")" = 3 ] && grep -q "FAILED" <<<"$out" && pass "runs lists the 3 runs (a replay is not a new run)" || flunk "runs lists the 3 runs" "$out"
expect "log" 0 "$ragctl" log "$run"
grep -q "failure injected at chunk" <<<"$out" && pass "log shows the timeline" || flunk "log shows the timeline" "$out"
expect "another build (v4)" 0 "$ragctl" build --index docs --docs "$corpus"
expect "gc --keep 1" 0 "$ragctl" gc --index docs --keep 1
grep -q "deleted rag_docs_v2" <<<"$out" && grep -q "deleted rag_docs_v3" <<<"$out" && ! grep -q "rag_docs_v4" <<<"$out" &&
    pass "gc deletes older versions, keeps the active one" || flunk "gc deletes older versions" "$out"
expect "rollback to a collected version is refused" 66 "$ragctl" rollback --index docs --to-version 2
expect "query still answers from v4" 0 "$ragctl" query --index docs "rollback" -k 1
grep -q "(v4)" <<<"$out" && pass "active version untouched by gc" || flunk "active version untouched by gc" "$out"

# Bad input: clear errors and the right exit codes.
expect "invalid index name" 64 "$ragctl" build --index "../etc" --docs "$corpus"
expect "unknown step" 64 "$ragctl" build --index docs --fail-at nope
expect "unknown run" 66 "$ragctl" status no-such-run
expect "missing docs folder" 66 "$ragctl" build --index other --docs "$tmp/nowhere"
mkdir -p "$tmp/empty"
expect "empty corpus" 66 "$ragctl" build --index other --docs "$tmp/empty"
expect "unknown command" 64 "$ragctl" frobnicate
QDRANT_API_KEY=s3cret RAG_EMBED_API_KEY=k3y expect "config" 0 "$ragctl" config
! grep -q -e s3cret -e k3y <<<"$out" && grep -q '\*\*\*\*' <<<"$out" && pass "config masks secrets" || flunk "config masks secrets" "$out"

# The same pipeline against a Qdrant server.
qurl=${QDRANT_TEST_URL:-}
if [ -z "$qurl" ]; then
    "$python" "$src/tests/servers/qdrant_server.py" --port 0 >"$tmp/q.out" &
    srv_pid=$!
    for _ in $(seq 100); do qurl=$(sed -n 's/^QDRANT_URL=//p' "$tmp/q.out"); [ -n "$qurl" ] && break; sleep 0.1; done
fi
export RAG_STATE_DIR=$tmp/state3 QDRANT_URL=$qurl RAG_PREFIX="t$$"
expect "ragctl demo against a Qdrant server" 0 "$ragctl" demo
echo "1..$n"
[ $failed -eq 0 ]
