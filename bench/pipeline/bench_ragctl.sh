#!/usr/bin/env bash
# The whole pipeline, end to end, on a large real corpus no one here wrote: Debian's linux-doc-6.1
# (thousands of reST files). Runs `ragctl build` into local mode (hash embedder, one process)
# and prints MB/s per step (corpus bytes / step time; wall time and the process's CPU time, which
# is what to read on a busy machine), end to end, and the peak RSS.
#
#   bench/pipeline/bench_ragctl.sh BUILD_DIR [CORPUS_DIR]
# Without CORPUS_DIR, installs linux-doc-6.1 (apt) and unpacks its .rst.gz files to /tmp/linuxdoc.
# COPIES=N: the corpus N times over (hard-linked copies in sub-folders), to see that the peak
# memory stays flat as the corpus grows (the copies' chunks hit the embedding cache, so read the
# MB/s from a COPIES=1 run).
set -euo pipefail
build=${1:?usage: bench_ragctl.sh BUILD_DIR [CORPUS_DIR]}
corpus=${2:-/tmp/linuxdoc}
if [ ! -d "$corpus" ]; then
    src=/usr/share/doc/linux-doc-6.1/Documentation
    if [ ! -d "$src" ]; then
        sudo=""; [ "$(id -u)" -eq 0 ] || sudo=sudo
        $sudo apt-get install -y -qq linux-doc-6.1 >/dev/null
    fi
    cp -r "$src" "$corpus"
    gunzip -rq "$corpus" || true
fi
state=$(mktemp -d /tmp/bench-ragctl.XXXXXX)
trap 'rm -rf "$state"' EXIT
copies=${COPIES:-1}
if [ "$copies" -gt 1 ]; then
    for i in $(seq "$copies"); do cp -al "$corpus" "$state/corpus/c$i" 2>/dev/null || { mkdir -p "$state/corpus" && cp -al "$corpus" "$state/corpus/c$i"; }; done
    corpus=$state/corpus
fi
/usr/bin/python3 - "$build/tools/ragctl" "$corpus" "$state" <<'PY'
import json, os, resource, subprocess, sys, time
ragctl, corpus, state = sys.argv[1:4]
env = dict(os.environ, RAG_STATE_DIR=os.path.join(state, "state"), NO_COLOR="1")
state = env["RAG_STATE_DIR"]
env.pop("QDRANT_URL", None)
t0 = time.monotonic()
p = subprocess.run([ragctl, "build", "--index", "bench", "--docs", corpus], env=env,
                   capture_output=True, text=True)
wall = time.monotonic() - t0
peak_mib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
if p.returncode != 0:
    sys.exit("build failed:\n" + p.stderr[-2000:])
run = p.stdout.split()[0]
st = json.loads(subprocess.run([ragctl, "--json", "status", run], env=env, capture_output=True,
                               text=True, check=True).stdout)
docs = json.loads(open(os.path.join(state, "runs", run, "docs.ndjson")).readline())
size = sum(json.loads(l)["size"] for l in open(os.path.join(state, "runs", run, "docs.ndjson")))
nchunks = sum(1 for _ in open(os.path.join(state, "runs", run, "chunks.ndjson")))
ndocs = sum(1 for _ in open(os.path.join(state, "runs", run, "docs.ndjson")))
mb = size / 1e6
print(f"corpus: {ndocs} documents, {mb:.1f} MB, {nchunks} chunks (hash embedder, dim 384, local mode)")
total = cpu_total = 0
print(f"  {'step':<10} {'wall':>7}    {'MB/s':>8}   {'CPU':>7}    {'MB/s':>8}")
for s in st["steps"]:
    d = s["duration_ms"] or 0
    c = s.get("cpu_ms") or 0
    total += d
    cpu_total += c
    print(f"  {s['name']:<10} {d/1000:7.2f} s  {mb/(d/1000) if d else float('inf'):8.1f}   "
          f"{c/1000:7.2f} s  {mb/(c/1000) if c else float('inf'):8.1f}")
print(f"  {'steps':<10} {total/1000:7.2f} s  {mb/(total/1000):8.1f}   {cpu_total/1000:7.2f} s  "
      f"{mb/(cpu_total/1000):8.1f}  MB/s end to end (target >= 20)")
print(f"  wall       {wall:7.2f} s (process start to exit)")
print(f"  peak RSS   {peak_mib:7.1f} MiB (target <= 200, flat with corpus size)")
PY
