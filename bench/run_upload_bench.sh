#!/usr/bin/env bash
# Client CPU per upserted 384-d point: libqdrantc (bench/bench_qdrant_upload.c) side by side with
# the official JS client (@qdrant/js-client-rest, bench/js/upload.mjs), against the same server.
# Target: libqdrantc uses at least 10x less client CPU per point than the JS client.
#
# Usage: bench/run_upload_bench.sh [-n POINTS] [-r REPS] [-b BUILD_DIR]
#   POINTS  default 20000 (batches of 256, wait=true); REPS default 5 (medians are reported)
#   BUILD_DIR  the meson build directory holding bench/qdrant/bench_qdrant_upload (default: build)
# Server: QDRANT_BENCH_URL when set (e.g. a real Qdrant); otherwise one loopback test server
# (tests/servers/qdrant_server.py) is started for both programs, with OpenAPI violations logged.
# Needs node + npm: bench/js/node_modules is installed (npm ci) when missing.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/.." && pwd)
n=20000
reps=5
build="$root/build"
while getopts "n:r:b:h" opt; do
    case $opt in
    n) n=$OPTARG ;;
    r) reps=$OPTARG ;;
    b) build=$(cd "$OPTARG" && pwd) ;;
    *)
        sed -n '2,11p' "$0" | sed 's/^# \{0,1\}//'
        exit 2
        ;;
    esac
done

cbench="$build/bench/qdrant/bench_qdrant_upload"
if [[ ! -x $cbench ]]; then
    echo "run_upload_bench: $cbench not built (ninja -C $build bench/qdrant/bench_qdrant_upload)" >&2
    exit 1
fi

# The JS client, as pinned by bench/js/package-lock.json.
js="$here/js"
if [[ ! -f $js/node_modules/@qdrant/js-client-rest/package.json ||
    $js/package-lock.json -nt $js/node_modules/.package-lock.json ]]; then
    echo "run_upload_bench: installing the JS client (npm in bench/js)" >&2
    if [[ -f $js/package-lock.json ]]; then
        (cd "$js" && npm ci --no-audit --no-fund >&2)
    else
        (cd "$js" && npm install --no-audit --no-fund >&2)
    fi
fi

tmp=$(mktemp -d /tmp/upload-bench.XXXXXX)
server_pid=
cleanup() {
    if [[ -n $server_pid ]]; then
        kill "$server_pid" 2>/dev/null || true
        wait "$server_pid" 2>/dev/null || true
    fi
    rm -rf "$tmp"
}
trap cleanup EXIT

url=${QDRANT_BENCH_URL:-}
if [[ -z $url ]]; then
    : >"$tmp/violations"
    QDRANT_VIOLATIONS_FILE="$tmp/violations" /usr/bin/python3 "$root/tests/servers/qdrant_server.py" \
        --port 0 >"$tmp/server.out" 2>"$tmp/server.err" &
    server_pid=$!
    for _ in $(seq 100); do
        url=$(sed -n 's/^QDRANT_URL=//p' "$tmp/server.out")
        [[ -n $url ]] && break
        sleep 0.1
    done
    if [[ -z $url ]]; then
        echo "run_upload_bench: the test server did not start:" >&2
        cat "$tmp/server.err" >&2
        exit 1
    fi
fi
echo "server: $url ($([[ -n $server_pid ]] && echo "loopback test server, pid $server_pid" ||
    echo QDRANT_BENCH_URL))" >&2

echo "running libqdrantc: $cbench -n $n -r $reps -j" >&2
QDRANT_BENCH_URL=$url "$cbench" -n "$n" -r "$reps" -j >"$tmp/c.out"
sed '$d' "$tmp/c.out" >&2
echo "running @qdrant/js-client-rest: node upload.mjs --n $n --reps $reps" >&2
(cd "$js" && node upload.mjs --url "$url" --n "$n" --reps "$reps" --verbose) >"$tmp/js.out"

violations=0
if [[ -n $server_pid && -s $tmp/violations ]]; then
    violations=$(wc -l <"$tmp/violations")
    echo "run_upload_bench: the test server logged $violations OpenAPI violation(s):" >&2
    head -20 "$tmp/violations" >&2
fi

C_JSON=$(tail -n 1 "$tmp/c.out") JS_JSON=$(tail -n 1 "$tmp/js.out") VIOLATIONS=$violations node -e '
const c = JSON.parse(process.env.C_JSON), j = JSON.parse(process.env.JS_JSON);
if (c.data_hash !== j.data_hash) console.log(`WARNING: the programs generated different vectors (${c.data_hash} vs ${j.data_hash})`);
const rows = [
  [`libqdrantc ${c.version} upsert`, c.upsert, c.body_bytes_per_point],
  [`raw-socket floor (same bodies)`, c.floor, c.body_bytes_per_point],
  ...(c.upload ? [[`libqdrantc ${c.version} upload (3 parallel)`, c.upload, c.body_bytes_per_point]] : []),
  [`@qdrant/js-client-rest ${j.version} upsert`, j.upsert, j.body_bytes_per_point],
];
console.log(`\n${c.n} points x ${c.dim}-d, batches of ${c.batch}, wait=true, ${c.reps} reps (medians); ` +
  `server Qdrant ${c.server_version}; node ${j.node}`);
const pad = (s, w) => String(s).padStart(w);
console.log(`${"client".padEnd(40)}${pad("us CPU/point", 13)}${pad("points/s", 11)}${pad("us wall/pt", 12)}${pad("body B/pt", 11)}`);
for (const [name, r, bytes] of rows)
  console.log(`${name.padEnd(40)}${pad(r.cpu_us_per_point.toFixed(2), 13)}${pad(r.points_per_s.toFixed(0), 11)}` +
              `${pad(r.wall_us_per_point.toFixed(1), 12)}${pad(Math.round(bytes), 11)}`);
const ratio = j.upsert.cpu_us_per_point / c.upsert.cpu_us_per_point;
const floor = c.upsert.cpu_us_per_point / c.floor.cpu_us_per_point;
console.log(`\nJS / libqdrantc CPU per point: ${ratio.toFixed(2)}x  (target >= 10x: ${ratio >= 10 ? "MET" : "NOT MET"})`);
console.log(`libqdrantc / raw floor CPU per point: ${floor.toFixed(2)}x`);
console.log(`(libqdrantc serialising alone, measured untimed: ${c.body_build_cpu_us_per_point.toFixed(2)} us CPU/point)`);
if (+process.env.VIOLATIONS) console.log(`WARNING: ${process.env.VIOLATIONS} request(s) failed the test server OpenAPI validation`);
'
