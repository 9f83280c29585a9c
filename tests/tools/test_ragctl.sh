#!/usr/bin/env bash
# ragctl end to end (TAP): the demo, each command, bad input, and the same build against a Qdrant
# server (QDRANT_TEST_URL or the loopback test server) instead of local mode.
set -u
ragctl=$1 src=$2 python=$3
tmp=$(mktemp -d)
. "$src/tests/tools/tap.sh"
cleanup() {
    stop_servers
    rm -rf "$tmp"
}
trap cleanup EXIT
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

# A failed build's version is recorded as failed.
expect "history after failures" 0 "$ragctl" --json history --index docs
"$python" -c 'import json,sys; d=json.loads(sys.argv[1]); assert d["versions"][0]["state"]=="failed", d' "$out" 2>/dev/null &&
    pass "v1 (failed at chunk) is recorded as failed" || flunk "v1 recorded as failed" "$out"

# replay --set: a changed input makes the steps that depend on it run again, and says so.
# Replaying the active (promoted) run never touches its collection: it builds a new version.
ok_run=$("$ragctl" --json runs | "$python" -c 'import json,sys; print([r["run_id"] for r in json.load(sys.stdin) if r["version"]==4][0])')
before=$(wc -l <"$tmp/state2/runs/$ok_run/chunks.ndjson")
expect "replay --set chunk_size=300 from embed" 0 "$ragctl" replay "$ok_run" --from embed --set chunk_size=300
grep -q "chunk .*artifact missing or changed: running it again" <<<"$out" && grep -q "discover .*reused" <<<"$out" &&
    pass "discover reused, chunk re-run because its parameters changed" || flunk "replay --set re-runs chunk" "$out"
new_run=$(sed -n 's/^\([a-z0-9-]*\) SUCCEEDED$/\1/p' <<<"$out")
[ -n "$new_run" ] && [ "$new_run" != "$ok_run" ] && pass "the replay is a new run ($new_run)" || flunk "the replay is a new run" "$out"
after=$(wc -l <"$tmp/state2/runs/$new_run/chunks.ndjson" 2>/dev/null || echo 0)
[ "$after" -gt "$before" ] && [ "$(wc -l <"$tmp/state2/runs/$ok_run/chunks.ndjson")" = "$before" ] &&
    pass "smaller chunks in the new run: $before -> $after; the old run's untouched" || flunk "smaller chunks ($before -> $after)"
expect "history after the replay" 0 "$ragctl" --json history --index docs
"$python" -c 'import json,sys; d=json.loads(sys.argv[1]); assert d["active"]==5 and d["alias_target"]=="rag_docs_v5", d' "$out" 2>/dev/null &&
    pass "the replay built and promoted v5" || flunk "the replay built v5" "$out"
ok_run=$new_run
expect "replay --set with an unknown key" 64 "$ragctl" replay "$ok_run" --from embed --set colour=blue

# status --follow on a finished run prints its timeline and returns.
expect "status --follow" 0 timeout 10 "$ragctl" status "$ok_run" --follow
grep -q "Z run_status " <<<"$out" && pass "follow prints the events" || flunk "follow prints the events" "$out"

# Smoke queries with expected documents.
printf 'guide/versions.md\thow are versions rolled back\n' >"$tmp/smoke-ok.tsv"
printf 'ops/storage.txt\tchunk size and overlap of each piece\n' >"$tmp/smoke-bad.tsv"
expect "build with a passing smoke query" 0 "$ragctl" build --index sq --docs "$corpus" --smoke "$tmp/smoke-ok.tsv"
grep -q 'finds guide/versions.md' <<<"$out" && pass "the smoke query found its document" || flunk "smoke query found" "$out"
expect "build with a failing smoke query fails" 70 "$ragctl" build --index sq --docs "$corpus" --smoke "$tmp/smoke-bad.tsv"
grep -q "did not find ops/storage.txt" <<<"$out" && pass "smoketest failure names the query" || flunk "smoketest failure names the query" "$out"
expect "history of sq" 0 "$ragctl" --json history --index sq
"$python" -c 'import json,sys; d=json.loads(sys.argv[1]); assert d["active"]==1 and d["alias_target"]=="rag_sq_v1", d' "$out" 2>/dev/null &&
    pass "a failed smoketest leaves the alias where it was" || flunk "alias unchanged after failed smoketest" "$out"

# Concurrent builds of one index never share a version.
"$ragctl" build --index cc --docs "$corpus" >"$tmp/b1.out" 2>&1 &
p1=$!
"$ragctl" build --index cc --docs "$corpus" >"$tmp/b2.out" 2>&1 &
p2=$!
wait $p1; r1=$?
wait $p2; r2=$?
[ $r1 = 0 ] && [ $r2 = 0 ] && pass "two concurrent builds both succeed" || flunk "two concurrent builds ($r1, $r2)" "$(cat "$tmp/b1.out" "$tmp/b2.out")"
expect "history of cc" 0 "$ragctl" --json history --index cc
"$python" -c 'import json,sys; d=json.loads(sys.argv[1]); vs=sorted(v["version"] for v in d["versions"]); assert vs==[1,2], vs; assert d["alias_target"] in ("rag_cc_v1","rag_cc_v2")' "$out" 2>/dev/null &&
    pass "they got versions 1 and 2" || flunk "distinct versions" "$out"

# Config file: flags, then environment, then the file, then defaults.
printf '# ragctl settings\nprefix = fromfile\nembed_dim = 128\nqdrant_api_key = filesecret\n' >"$tmp/ragctl.conf"
expect "config from a file" 0 "$ragctl" --config "$tmp/ragctl.conf" config
grep -q "prefix *fromfile" <<<"$out" && grep -q "dim 128" <<<"$out" && ! grep -q filesecret <<<"$out" &&
    pass "the file's settings apply, secrets masked" || flunk "config file applies" "$out"
RAG_PREFIX=fromenv expect "environment beats the file" 0 "$ragctl" --config "$tmp/ragctl.conf" config
grep -q "prefix *fromenv" <<<"$out" && pass "environment beats the file" || flunk "environment beats the file" "$out"
printf 'colour = blue\n' >"$tmp/bad.conf"
expect "unknown config key" 78 "$ragctl" --config "$tmp/bad.conf" config
expect "missing config file" 78 "$ragctl" --config "$tmp/none.conf" config

# A progress bar when stderr is a terminal, none otherwise.
if command -v script >/dev/null; then
    script -qec "$ragctl build --index tty --docs $corpus" "$tmp/tty.log" >/dev/null 2>&1
    grep -q "embed     \[#*\.*\] [0-9]*/[0-9]* chunks" "$tmp/tty.log" && grep -q "upsert    \[" "$tmp/tty.log" &&
        pass "progress bars for embed and upsert on a terminal" || flunk "progress bars on a terminal" "$(tail -c 600 "$tmp/tty.log")"
    expect "no terminal" 0 "$ragctl" build --index notty --docs "$corpus"
    ! grep -q "chunks.\[K\|\[#" <<<"$out" && pass "no progress bar when stderr is not a terminal" || flunk "no bar without a terminal" "$out"
fi

# Texts with every kind of escape survive the artifacts and the store byte for byte.
mkdir -p "$tmp/esc"
printf 'Quotes "q" and back\\slash, a\ttab, form\ffeed, back\bspace, esc \033[1m, caf\xc3\xa9 \xf0\x9f\x98\x80.\n\nSecond paragraph with \\u0041 written out and a / slash.\n' >"$tmp/esc/odd.md"
expect "build of a document full of escapes" 0 "$ragctl" build --index esc --docs "$tmp/esc"
erun=$(ls "$RAG_STATE_DIR/runs" | grep "^esc-" | head -n1)
expect "query it back" 0 "$ragctl" --json query --index esc "quotes back slash tab form feed" -k 10
"$python" - "$out" "$RAG_STATE_DIR/runs/$erun/chunks.ndjson" <<'PY' 2>&1 && pass "payload texts equal the chunk texts exactly" || flunk "payload texts equal the chunk texts" "$out"
import json, sys
got = {p["payload"]["chunk_id"]: p["payload"]["text"] for p in json.loads(sys.argv[1])}
want = {c["id"]: c["text"] for c in map(json.loads, open(sys.argv[2]))}
assert got == want and any("\f" in t and "\b" in t and "\x1b" in t for t in want.values()), (got, want)
PY

# A corpus large enough for the local store's vector segments (batches of 256+ points): built,
# queried, rolled back and collected like any other.
mkdir -p "$tmp/big"
"$python" - "$tmp/big" <<'PY'
import sys
words = "alpha beta gamma delta epsilon zeta theta kappa lambda sigma omega river stone cloud".split()
for d in range(30):
    with open(f"{sys.argv[1]}/doc{d:02}.md", "w") as f:
        for p in range(12):
            f.write(" ".join(f"{words[(d * 7 + p * 3 + i) % len(words)]}{(d * 131 + p * 17 + i) % 997}"
                             for i in range(90)) + ".\n\n")
PY
export RAG_STATE_DIR=$tmp/state_big
expect "build of a 360-chunk corpus" 0 "$ragctl" build --index big --docs "$tmp/big"
ls "$RAG_STATE_DIR"/qdrant/v*-1.seg >/dev/null 2>&1 && pass "its vectors went to a segment file" || flunk "its vectors went to a segment file" "$(ls -R "$RAG_STATE_DIR")"
probe=$(head -c 300 "$tmp/big/doc17.md")
expect "query a chunk's own text" 0 "$ragctl" query --index big "$probe" -k 1
grep -q "doc17.md#0 (v1)" <<<"$out" && pass "the chunk finds itself" || flunk "the chunk finds itself" "$out"
expect "a second build (v2)" 0 "$ragctl" build --index big --docs "$tmp/big"
expect "rollback to v1" 0 "$ragctl" rollback --index big
expect "query v1 again" 0 "$ragctl" query --index big "$probe" -k 1
grep -q "doc17.md#0 (v1)" <<<"$out" && pass "v1 answers after the rollback" || flunk "v1 answers after the rollback" "$out"
[ "$(ls "$RAG_STATE_DIR"/qdrant/*.seg | wc -l)" = 2 ] && pass "two versions, two segment files" || flunk "two segment files" "$(ls "$RAG_STATE_DIR"/qdrant)"
expect "a third build (v3)" 0 "$ragctl" build --index big --docs "$tmp/big"
expect "gc --keep 1" 0 "$ragctl" gc --index big --keep 1
[ "$(ls "$RAG_STATE_DIR"/qdrant/*.seg | wc -l)" = 1 ] && pass "gc removes the collected versions' segment files" || flunk "gc removes the segment files" "$(ls "$RAG_STATE_DIR"/qdrant)"
export RAG_STATE_DIR=$tmp/state2

# Bad input: clear errors and the right exit codes.
expect "invalid index name" 64 "$ragctl" build --index "../etc" --docs "$corpus"
expect "unknown step" 64 "$ragctl" build --index docs --fail-at nope
expect "unknown run" 66 "$ragctl" status no-such-run
expect "missing docs folder" 66 "$ragctl" build --index other --docs "$tmp/nowhere"
mkdir -p "$tmp/empty"
expect "empty corpus" 66 "$ragctl" build --index other --docs "$tmp/empty"
expect "unknown command" 64 "$ragctl" frobnicate
RAG_STATE_DIR=$tmp/not/yet/there expect "a state directory whose parents are missing is made" 0 "$ragctl" runs
[ -d "$tmp/not/yet/there/runs" ] && pass "  with its parents" || flunk "  with its parents" "$(ls -R "$tmp/not" 2>&1)"
touch "$tmp/afile"
RAG_STATE_DIR=$tmp/afile/state expect "a state directory that cannot be made: EX_CANTCREAT" 73 "$ragctl" runs
QDRANT_API_KEY=s3cret RAG_EMBED_API_KEY=k3y expect "config" 0 "$ragctl" config
! grep -q -e s3cret -e k3y <<<"$out" && grep -q '\*\*\*\*' <<<"$out" && pass "config masks secrets" || flunk "config masks secrets" "$out"

# The same pipeline against a Qdrant server.
qurl=${QDRANT_TEST_URL:-}
[ -z "$qurl" ] && start_server qurl QDRANT_URL "$src/tests/servers/qdrant_server.py" --port 0
export RAG_STATE_DIR=$tmp/state3 QDRANT_URL=$qurl RAG_PREFIX="t$$"
expect "ragctl demo against a Qdrant server" 0 "$ragctl" demo
echo "1..$n"
[ $failed -eq 0 ]
