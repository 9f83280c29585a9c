#!/usr/bin/env bash
# ragctl's promise, tried as a hostile but realistic user would (TAP): a bad build never reaches
# readers, any good one can be restored, and no crash, damaged file, flaky server or second
# state directory loses work or touches what is not its own. One section per way to break it.
# Runs against the loopback Qdrant test server (or QDRANT_TEST_URL) where a server is needed.
set -u
ragctl=$(realpath "$1") src=$2 python=$3
tmp=$(mktemp -d)
. "$src/tests/tools/tap.sh"
cleanup() {
    stop_servers
    rm -rf "$tmp"
}
trap cleanup EXIT
unset QDRANT_URL RAG_EMBEDDER RAG_PREFIX RAG_DOCS_DIR RAG_CONFIG
export NO_COLOR=1
corpus=$src/examples/corpus
qurl=${QDRANT_TEST_URL:-}
[ -z "$qurl" ] && start_server qurl QDRANT_URL "$src/tests/servers/qdrant_server.py" --port 0
[ -n "$qurl" ] && pass "a Qdrant server at $qurl" || flunk "a Qdrant server"
pre="p$$"                           # a prefix of this test's own on a shared server
qcount() { # qcount COLLECTION: its exact point count on the server (or "none")
    "$python" - "$qurl/collections/$1/points/count" <<'PY'
import json, sys, urllib.request, urllib.error
req = urllib.request.Request(sys.argv[1], data=b'{"exact":true}', method="POST",
                             headers={"Content-Type": "application/json"})
try:
    print(json.load(urllib.request.urlopen(req))["result"]["count"])
except urllib.error.HTTPError:
    print("none")
PY
}
qalias() { # qalias ALIAS: the collection it points at on the server ("" when none)
    "$python" - "$qurl/aliases" "$1" <<'PY'
import json, sys, urllib.request
al = json.load(urllib.request.urlopen(sys.argv[1]))["result"]["aliases"]
print(next((a["collection_name"] for a in al if a["alias_name"] == sys.argv[2]), ""))
PY
}
first_run() { ls "$RAG_STATE_DIR/runs" | grep "^$1-" | head -n1; }

# 1. Repeated text: copies of one file, a licence header in every file, a line of padding.
mkdir -p "$tmp/dup"
for i in 1 2 3 4; do cp "$corpus/README.md" "$tmp/dup/copy$i.md"; done
head -c 20000 /dev/zero | tr '\0' '=' >"$tmp/dup/padding.txt"
export RAG_STATE_DIR=$tmp/s1
expect "1. four copies of a file and a line of padding build and promote" 0 "$ragctl" build --index dup --docs "$tmp/dup"
check "   the summary counts the chunks that repeat earlier text" grep -Eq "[1-9][0-9]* repeat the text of an earlier chunk" <<<"$out"
expect "   a copy's own text finds it (or its twin)" 0 "$ragctl" --json query --index dup "$(head -c 200 "$corpus/README.md")" -k 4
pyassert "   every copy is stored, each with its own document" "$out" 'len({h["payload"]["doc_id"] for h in d}) == 4'

# 2. A run killed during upsert: shown abandoned, follow returns, gc collects its collection,
# replay finishes it. The proxy holds the first upload request so the kill lands mid-upsert.
start_server purl PROXY_URL "$src/tests/servers/fault_proxy.py" --upstream "$qurl" --port 0 \
    --match 'PUT \S*/points' --delay-ms 60000
proxy_pid=${pids[-1]}
export RAG_STATE_DIR=$tmp/s2 QDRANT_URL=$purl RAG_PREFIX=$pre
"$ragctl" build --index kill --docs "$corpus" >"$tmp/kill.out" 2>&1 &
bpid=$!
for _ in $(seq 200); do
    "$python" -c 'import json,sys,urllib.request; sys.exit(json.load(urllib.request.urlopen(sys.argv[1]))["delay"] < 1)' "$purl/__proxy/stats" 2>/dev/null && break
    sleep 0.05
done
kill -9 $bpid; wait $bpid 2>/dev/null
kill "$proxy_pid" 2>/dev/null
export QDRANT_URL=$qurl
krun=$(first_run kill)
expect "2. status of the killed run" 0 "$ragctl" status "$krun"
check "   it is shown abandoned" grep -q "version 1  RUNNING (abandoned: no process is running it)" <<<"$out"
check "   with the command that finishes it" grep -q "replay it with: ragctl replay $krun --from upsert" <<<"$out"
expect "   status --follow returns" 0 timeout 10 "$ragctl" status "$krun" --follow
check "   and says why" grep -q "abandoned" <<<"$out"
expect "   runs marks it" 0 "$ragctl" runs
check "   (abandoned)" grep -q "$krun .*RUNNING (abandoned)" <<<"$out"
[ "$(qcount "${pre}_kill_v1")" = 0 ] && pass "   its partial collection exists" || flunk "   its partial collection exists" "$(qcount "${pre}_kill_v1")"
expect "   a later build succeeds (v2)" 0 "$ragctl" build --index kill --docs "$corpus"
expect "   gc --keep 1" 0 "$ragctl" gc --index kill --keep 1
check "   gc collects the abandoned version's collection" grep -q "deleted ${pre}_kill_v1" <<<"$out"
[ "$(qcount "${pre}_kill_v1")" = none ] && pass "   it is gone from the server" || flunk "   it is gone from the server"
expect "   status after gc" 0 "$ragctl" --json status "$krun"
pyassert "   the run is FAILED (abandoned), no longer RUNNING" "$out" 'd["status"] == "FAILED" and not d["abandoned"]'

# 3. Temp files of killed processes are removed, a live process's are kept.
sh -c 'exit 0' & dead=$!; wait $dead
printf x >"$RAG_STATE_DIR/runs/$krun/chunks.ndjson.tmp.$dead"
printf x >"$RAG_STATE_DIR/indexes/kill.json.tmp.$dead.7"
printf x >"$RAG_STATE_DIR/runs/$krun/chunks.ndjson.tmp.$$"
expect "3. gc sweeps temp files" 0 "$ragctl" gc --index kill --keep 1
[ ! -e "$RAG_STATE_DIR/runs/$krun/chunks.ndjson.tmp.$dead" ] && [ ! -e "$RAG_STATE_DIR/indexes/kill.json.tmp.$dead.7" ] &&
    pass "   those of a dead process are gone" || flunk "   those of a dead process are gone" "$(ls "$RAG_STATE_DIR"/runs/*/ "$RAG_STATE_DIR/indexes")"
[ -e "$RAG_STATE_DIR/runs/$krun/chunks.ndjson.tmp.$$" ] && pass "   a live process's is kept" || flunk "   a live process's is kept"
rm -f "$RAG_STATE_DIR/runs/$krun/chunks.ndjson.tmp.$$"

# 4. A run killed right after it was created (QUEUED, no version) can be replayed.
export RAG_STATE_DIR=$tmp/s4 QDRANT_URL= RAG_PREFIX=rag
unset QDRANT_URL
expect "4. a first build" 0 "$ragctl" build --index q --docs "$corpus"
r=$(first_run q)
cp -r "$RAG_STATE_DIR/runs/$r" "$RAG_STATE_DIR/runs/q-queued-0001"
rm -f "$RAG_STATE_DIR/runs/q-queued-0001/"*.ndjson "$RAG_STATE_DIR/runs/q-queued-0001/"*.json.tmp* "$RAG_STATE_DIR/runs/q-queued-0001/run.lock"
"$python" - "$RAG_STATE_DIR/runs/q-queued-0001/run.json" <<'PY'
import json, sys
p = sys.argv[1]; d = json.load(open(p))
d.update(run_id="q-queued-0001", status="QUEUED", version=None, artifacts={}, events=d["events"][:1], replays=[])
for s in d["steps"]:
    s.update(status="PENDING", attempts=0, started_ms=None, finished_ms=None, duration_ms=None, cpu_ms=None, error=None)
json.dump(d, open(p, "w"))
PY
expect "   replay --from discover of the versionless run" 0 "$ragctl" replay q-queued-0001 --from discover
expect "   history" 0 "$ragctl" --json history --index q
pyassert "   it got version 2 and promoted it" "$out" 'd["active"] == 2 and d["alias_target"] == "rag_q_v2"'

# 5./6. Damaged state files: a clear "damaged" (65) with the path, never a crash or "missing".
cp -r "$RAG_STATE_DIR/runs/$r" "$RAG_STATE_DIR/runs/q-null-status"
sed -i 's/"status": "SUCCEEDED"/"status": null/' "$RAG_STATE_DIR/runs/q-null-status/run.json"
expect "5. status with \"status\": null" 65 "$ragctl" status q-null-status
check "   says damaged and names the file" grep -q "damaged.*q-null-status/run.json" <<<"$out"
cp -r "$RAG_STATE_DIR/runs/$r" "$RAG_STATE_DIR/runs/q-steps-5"
"$python" - "$RAG_STATE_DIR/runs/q-steps-5/run.json" <<'PY'
import json, sys
p = sys.argv[1]; d = json.load(open(p)); d["steps"] = 5; json.dump(d, open(p, "w"))
PY
expect "   status with \"steps\": 5" 65 "$ragctl" status q-steps-5
expect "   log with \"steps\": 5" 65 "$ragctl" log q-steps-5
expect "   replay with \"steps\": 5" 65 "$ragctl" replay q-steps-5 --from embed
mkdir -p "$RAG_STATE_DIR/runs/q-empty" && : >"$RAG_STATE_DIR/runs/q-empty/run.json"
mkdir -p "$RAG_STATE_DIR/runs/q-garbage" && printf '\x01garbage{' >"$RAG_STATE_DIR/runs/q-garbage/run.json"
expect "6. status of an empty run.json" 65 "$ragctl" status q-empty
check "   says damaged (empty file)" grep -q "damaged (empty file)" <<<"$out"
expect "   status of a garbage run.json" 65 "$ragctl" status q-garbage
expect "   runs lists damaged runs, exit 65" 65 "$ragctl" runs
check "   as DAMAGED, not dropped" grep -q "q-garbage .*DAMAGED" <<<"$out"
: >"$RAG_STATE_DIR/indexes/q.json"
before=$(ls "$RAG_STATE_DIR/runs" | wc -l)
expect "   a build with an empty index file" 65 "$ragctl" build --index q --docs "$corpus"
check "   says damaged, names the file and the repair" grep -q "indexes/q.json: damaged.*" <<<"$out"
[ "$(ls "$RAG_STATE_DIR/runs" | wc -l)" = "$before" ] && pass "   and leaves no run behind" || flunk "   and leaves no run behind" "$(ls "$RAG_STATE_DIR/runs")"
expect "   history says damaged" 65 "$ragctl" history --index q
expect "   history --repair rebuilds it from the collections" 0 "$ragctl" history --index q --repair
check "   setting the damaged file aside" grep -q "set aside as .*q.json.damaged-" <<<"$out"
expect "   history after the repair" 0 "$ragctl" --json history --index q
pyassert "   v1 and v2 back, v2 active as the alias says" "$out" 'd["active"] == 2 and sorted(v["version"] for v in d["versions"]) == [1, 2] and d["alias_agrees"]'

# 7. Lost history and a second state directory on one server never touch others' collections.
export QDRANT_URL=$qurl RAG_PREFIX=$pre RAG_STATE_DIR=$tmp/s7a
expect "7. A builds med v1" 0 "$ragctl" build --index med --docs "$corpus"
expect "   A builds med v2" 0 "$ragctl" build --index med --docs "$corpus"
v1=$(qcount "${pre}_med_v1") v2=$(qcount "${pre}_med_v2")
mkdir -p "$tmp/small" && cp "$corpus/README.md" "$tmp/small/"
rm "$RAG_STATE_DIR/indexes/med.json"
expect "   A, its history deleted, builds again" 0 "$ragctl" build --index med --docs "$tmp/small"
expect "   A's history" 0 "$ragctl" --json history --index med
pyassert "   rebuilt from the server, the new build is v3" "$out" 'd["active"] == 3 and sorted(v["version"] for v in d["versions"]) == [1, 2, 3]'
[ "$(qcount "${pre}_med_v1")" = "$v1" ] && [ "$(qcount "${pre}_med_v2")" = "$v2" ] &&
    pass "   v1 and v2 untouched ($v1, $v2 points)" || flunk "   v1 and v2 untouched" "$(qcount "${pre}_med_v1") $(qcount "${pre}_med_v2")"
export RAG_STATE_DIR=$tmp/s7b
expect "   B (another state directory, same server and prefix) builds med: refused at promote" 70 "$ragctl" build --index med --docs "$tmp/small"
check "   because the alias is A's" grep -q "not this deployment's" <<<"$out"
[ "$(qalias "${pre}_med_active")" = "${pre}_med_v3" ] && pass "   A's readers still on A's v3" || flunk "   A's readers still on A's v3" "$(qalias "${pre}_med_active")"
[ "$(qcount "${pre}_med_v3")" != none ] && [ "$(qcount "${pre}_med_v4")" != none ] && pass "   B built its own v4, not over A's v3" || flunk "   B built v4"
expect "   B's gc" 0 "$ragctl" gc --index med --keep 1
[ "$(qcount "${pre}_med_v1")" = "$v1" ] && [ "$(qcount "${pre}_med_v3")" != none ] && pass "   B's gc deletes nothing of A's" || flunk "   B's gc deletes nothing of A's" "$out"
expect "   B's history --repair adopts nothing of A's" 0 "$ragctl" --json history --index med --repair
pyassert "   (only v4)" "$out" '[v["version"] for v in d["versions"]] == [4]'
export RAG_STATE_DIR=$tmp/s7a
expect "   A rolls back to v2" 0 "$ragctl" rollback --index med
[ "$(qalias "${pre}_med_active")" = "${pre}_med_v2" ] && pass "   A's alias on v2" || flunk "   A's alias on v2"

# 8. Replaying the live run with a new setting builds a new version; the live one is unchanged.
expect "8. A builds v5" 0 "$ragctl" build --index med --docs "$corpus"
live=$(qcount "${pre}_med_v5")
r5=$("$ragctl" --json runs | "$python" -c 'import json,sys; print([r["run_id"] for r in json.load(sys.stdin) if r["index"]=="med" and r["version"]==5][0])')
expect "   replay the active run --set chunk_size=1200" 0 "$ragctl" replay "$r5" --from chunk --set chunk_size=1200
[ "$(qcount "${pre}_med_v5")" = "$live" ] && pass "   v5 untouched ($live points)" || flunk "   v5 untouched"
expect "   history" 0 "$ragctl" --json history --index med
pyassert "   the replay is v6, promoted; v5 still promoted" "$out" 'd["active"] == 6 and [v["state"] for v in d["versions"] if v["version"] == 5] == ["promoted"]'

# 12. Replaying an older promoted run: a new version, alias and history agree.
r2=$("$ragctl" --json runs | "$python" -c 'import json,sys; print([r["run_id"] for r in json.load(sys.stdin) if r["index"]=="med" and r["version"]==2][0])')
expect "12. replay an older promoted run from promote" 0 "$ragctl" replay "$r2" --from promote
expect "   history" 0 "$ragctl" --json history --index med
pyassert "   a new version (v7) is active and the alias agrees" "$out" 'd["active"] == 7 and d["alias_target"] == d["alias"].replace("_active", "_v7") and d["alias_agrees"]'

# 13. history never hides read errors.
QDRANT_URL=http://127.0.0.1:1 expect "13. history with Qdrant unreachable: 69" 69 "$ragctl" history --index med
check "   and says so" grep -q "reading the aliases" <<<"$out"

# 15. The uploader and the build survive 30% transient 503s.
for seed in 1 2 3; do
    start_server furl PROXY_URL "$src/tests/servers/fault_proxy.py" --upstream "$qurl" --port 0 --rate-503 0.3 --seed $seed
    QDRANT_URL=$furl RAG_STATE_DIR=$tmp/s15 expect "15. a build through 30% 503s (seed $seed)" 0 "$ragctl" build --index flaky --docs "$corpus"
done

# 9. A cache file of random bytes is set aside and rebuilt; the build goes on.
export RAG_STATE_DIR=$tmp/s9
unset QDRANT_URL
RAG_PREFIX=rag
expect "9. a build fills the cache" 0 "$ragctl" build --index c --docs "$corpus"
cf=$(ls "$RAG_STATE_DIR"/cache/emb-* | head -n1)
head -c 5000 /dev/urandom >"$cf"
expect "   a build with a cache file of random bytes" 0 "$ragctl" build --index c --docs "$corpus"
check "   warns, naming the file set aside" grep -q "warning: .*damaged" <<<"$out"
ls "$RAG_STATE_DIR"/cache/*.damaged-* >/dev/null 2>&1 && pass "   the damaged file is kept aside" || flunk "   the damaged file is kept aside"
expect "   the next build works from the rebuilt cache" 0 "$ragctl" build --index c --docs "$corpus"

# 10. A store whose database was emptied is damaged, never silently new.
cp -r "$RAG_STATE_DIR" "$tmp/s10"
: >"$tmp/s10/qdrant/store.db"
RAG_STATE_DIR=$tmp/s10 expect "10. history over an emptied store.db fails" 69 "$ragctl" history --index c
check "   saying the store is damaged" grep -qi "damaged" <<<"$out"

# 11. A failed rollback leaves the alias where it was.
export RAG_STATE_DIR=$tmp/s11
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
expect "11. v1 of a corpus with vector segments" 0 "$ragctl" build --index big --docs "$tmp/big"
expect "   v2" 0 "$ragctl" build --index big --docs "$tmp/big"
seg=$(ls "$RAG_STATE_DIR"/qdrant/v*.seg | head -n1)
truncate -s 4096 "$seg"
expect "   rollback to v1 with v1's segment file truncated fails" 69 "$ragctl" rollback --index big
check "   before moving the alias" grep -q "not fit to serve: nothing changed" <<<"$out"
expect "   history" 0 "$ragctl" --json history --index big
pyassert "   v2 still active, alias and history agree" "$out" 'd["active"] == 2 and d["alias_target"] == "rag_big_v2" and d["alias_agrees"]'

# 14. A run that cannot even be recorded (a full disk) leaves no half-made run directory.
export RAG_STATE_DIR=$tmp/s15
before=$(ls "$RAG_STATE_DIR/runs" | wc -l)
QDRANT_URL=$qurl RAG_PREFIX=$pre expect "14. a build when no file can grow (ulimit -f 0)" 74 bash -c 'ulimit -f 0; trap "" XFSZ; exec "$0" build --index full --docs "$1"' "$ragctl" "$corpus"
check "   says why" grep -q "File too large" <<<"$out"
[ "$(ls "$RAG_STATE_DIR/runs" | wc -l)" = "$before" ] && pass "   leaves no run directory behind" || flunk "   leaves no run directory behind" "$(ls "$RAG_STATE_DIR/runs")"

# 16./17. Strict arguments.
export RAG_STATE_DIR=$tmp/s9
expect "16. rollback --steps 0" 64 "$ragctl" rollback --index big --steps 0
expect "    rollback --steps abc" 64 "$ragctl" rollback --index big --steps abc
expect "17. -k 5x" 64 "$ragctl" query --index c "x" -k 5x
RAG_EMBED_DIM=4294967680 expect "    RAG_EMBED_DIM=4294967680" 64 "$ragctl" config
expect "    --fail-mode without --fail-at" 64 "$ragctl" build --index c --docs "$corpus" --fail-mode always
expect "    status <unknown> --follow" 66 "$ragctl" status no-such-run --follow
check "    says there is no such run" grep -q "no run no-such-run" <<<"$out"
expect "    a query starting with '-' after --" 0 "$ragctl" query --index c -- "-flag like text"
QDRANT_URL=http://127.0.0.1:1 expect "    Qdrant unreachable during a build: 69" 69 "$ragctl" build --index c --docs "$corpus"
QDRANT_URL=http://user:pa55word@127.0.0.1:6333 expect "    config" 0 "$ragctl" config
check "    masks credentials inside QDRANT_URL" bash -c '! grep -q pa55word <<<"$1" && grep -q "http://\*\*\*\*\*\*\*\*@127.0.0.1:6333" <<<"$1"' _ "$out"

# 18. Reused steps keep their own timings after a replay.
export RAG_STATE_DIR=$tmp/s18
expect "18. a build failing at embed" 70 "$ragctl" build --index t --docs "$corpus" --fail-at embed
tr=$(first_run t)
sleep 1.2
expect "   replay from embed" 0 "$ragctl" replay "$tr" --from embed
expect "   status" 0 "$ragctl" --json status "$tr"
pyassert "   discover and chunk keep durations under a second and their cpu_ms" "$out" 'all(s["duration_ms"] < 1000 and s["cpu_ms"] is not None for s in d["steps"][:2])'

# 19. build without a documents folder creates nothing and says how to give one.
export RAG_STATE_DIR=$tmp/s19
expect "19. build --index demo where ./docs does not exist" 66 bash -c 'cd "$1" && exec "$0" build --index demo' "$ragctl" "$tmp"
check "   says how to give one" grep -q -- "--docs DIR, RAG_DOCS_DIR" <<<"$out"
[ ! -e "$RAG_STATE_DIR" ] && pass "   and creates nothing" || flunk "   and creates nothing" "$(ls -R "$RAG_STATE_DIR")"

# 20. Usage lists every command and option; --version.
expect "20. ragctl with no arguments" 64 "$ragctl"
missing=
for w in build replay rollback status runs log history query gc config demo --set --follow --smoke --repair --version; do
    grep -q -- "$w" <<<"$out" || missing="$missing $w"
done
[ -z "$missing" ] && pass "   usage lists every command and option" || flunk "   usage lacks$missing" "$out"
expect "   --version" 0 "$ragctl" --version
check "   prints the tool's and the libraries' versions" grep -q "libqdrantc" <<<"$out"

# Private by default: a 022 umask still gives 0700 directories and 0600 files.
export RAG_STATE_DIR=$tmp/priv
(umask 022; "$ragctl" build --index p --docs "$corpus" >/dev/null 2>&1)
bad=$(find "$RAG_STATE_DIR" \( -type d ! -perm 700 \) -o \( -type f -perm /077 \) | head -5)
[ -z "$bad" ] && pass "state directory and files private under umask 022" || flunk "state directory and files private" "$bad"

echo "1..$n"
[ $failed -eq 0 ]
