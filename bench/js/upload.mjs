// The JS twin of bench/bench_qdrant_upload.c: client CPU per upserted point with the official
// Qdrant JS client (@qdrant/js-client-rest).
//
// Uploads N points (DIM-d vectors, random, L2-normalised, the same generator as the C program so
// both send the same float32 values, and the payload {"doc":"doc-<i/16>","chunk":<i%16>}) into a
// fresh Cosine collection, BATCH points per client.upsert(name, {wait: true, points}), and
// measures per repetition process.cpuUsage() (user+system of this process; the server runs in
// another one) and the wall time. The vectors, ids and payload objects are made before the clock
// starts; each repetition uses a fresh collection (created before and deleted after the timed
// part; the point count is checked). Prints one JSON line with the medians and the samples.
//
// Usage: node upload.mjs [--url URL] [--n POINTS] [--reps R] [--batch B] [--dim D] [--verbose]
//   URL defaults to $QDRANT_BENCH_URL, then $QDRANT_TEST_URL.
import { readFileSync } from 'node:fs';
import { QdrantClient } from '@qdrant/js-client-rest';

const opts = {
    url: process.env.QDRANT_BENCH_URL || process.env.QDRANT_TEST_URL || '',
    n: 20000,
    reps: 5,
    batch: 256,
    dim: 384,
    verbose: false,
};
const argv = process.argv.slice(2);
for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const next = () => {
        if (i + 1 >= argv.length) usage();
        return argv[++i];
    };
    if (a === '--url') opts.url = next();
    else if (a === '--n') opts.n = Number(next());
    else if (a === '--reps') opts.reps = Number(next());
    else if (a === '--batch') opts.batch = Number(next());
    else if (a === '--dim') opts.dim = Number(next());
    else if (a === '--verbose' || a === '-v') opts.verbose = true;
    else usage();
}
function usage() {
    process.stderr.write(
        'usage: node upload.mjs [--url URL] [--n POINTS] [--reps R] [--batch B] [--dim D] [--verbose]\n');
    process.exit(2);
}
for (const k of ['n', 'reps', 'batch', 'dim']) {
    if (!Number.isInteger(opts[k]) || opts[k] < 1) {
        process.stderr.write(`upload.mjs: --${k} must be a positive integer\n`);
        process.exit(2);
    }
}
if (!opts.url) {
    process.stderr.write('upload.mjs: no server (--url, QDRANT_BENCH_URL or QDRANT_TEST_URL)\n');
    process.exit(2);
}
const log = (s) => opts.verbose && process.stderr.write(s + '\n');

const pkg = JSON.parse(readFileSync(
    new URL('./node_modules/@qdrant/js-client-rest/package.json', import.meta.url), 'utf8'));

// ---- the data set: bit-identical to bench_qdrant_upload.c ----

// mulberry32, as in the C program.
let rngState = 0x5eed1234;
function rngNext() {
    rngState = (rngState + 0x6d2b79f5) | 0;
    let t = rngState;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
}

const { n, dim, batch, reps } = opts;
const f32 = new Float32Array(n * dim);
{
    const u = new Float64Array(dim);
    for (let i = 0; i < n; i++) {
        let ss = 0;
        for (let k = 0; k < dim; k++) {
            u[k] = (rngNext() >>> 8) / 16777216.0 * 2.0 - 1.0;
            ss += u[k] * u[k];
        }
        const norm = Math.sqrt(ss);
        for (let k = 0; k < dim; k++) f32[i * dim + k] = u[k] / norm;
    }
}
// FNV-1a over the float32 bits: the C program prints the same hash for the same vectors.
function dataHash() {
    const w = new Uint32Array(f32.buffer);
    let h = 0x811c9dc5;
    for (let i = 0; i < w.length; i++) {
        let x = w[i];
        for (let b = 0; b < 4; b++) {
            h = Math.imul(h ^ (x & 0xff), 0x01000193) >>> 0;
            x >>>= 8;
        }
    }
    return h.toString(16).padStart(8, '0');
}

// The points as an application has them: a number[] per vector (what the client accepts; a
// Float32Array would be serialised as an object), ids and payload objects.
const batches = [];
let bodyBytes = 0;
for (let lo = 0; lo < n; lo += batch) {
    const pts = [];
    for (let i = lo; i < Math.min(n, lo + batch); i++) {
        pts.push({
            id: i,
            vector: Array.from(f32.subarray(i * dim, (i + 1) * dim)),
            payload: { doc: `doc-${Math.floor(i / 16)}`, chunk: i % 16 },
        });
    }
    batches.push(pts);
    bodyBytes += Buffer.byteLength(JSON.stringify({ points: pts }));
}

// ---- the run ----

const median = (v) => {
    const s = [...v].sort((a, b) => a - b);
    const m = s.length >> 1;
    return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};

const client = new QdrantClient({ url: opts.url, checkCompatibility: true, timeout: 300000 });
const info = await fetch(opts.url.replace(/\/+$/, '') + '/').then((r) => r.json());

const cpuS = [], wallS = [];
for (let r = 0; r < reps; r++) {
    const name = `bench_upload_js_${process.pid}_${Date.now()}_${r}`;
    await client.createCollection(name, { vectors: { size: dim, distance: 'Cosine' } });

    const c0 = process.cpuUsage();
    const t0 = process.hrtime.bigint();
    for (const points of batches) {
        const res = await client.upsert(name, { wait: true, points });
        if (res.status !== 'completed') throw new Error(`upsert: status ${res.status}`);
    }
    const t1 = process.hrtime.bigint();
    const c1 = process.cpuUsage(c0);

    const cnt = await client.count(name, { exact: true });
    if (cnt.count !== n) throw new Error(`${name} holds ${cnt.count} points, expected ${n}`);
    await client.deleteCollection(name);
    cpuS.push((c1.user + c1.system) / 1e6);
    wallS.push(Number(t1 - t0) / 1e9);
    log(`rep ${r}: ${cpuS[r].toFixed(3)} s cpu (user ${(c1.user / 1e6).toFixed(3)}, sys ` +
        `${(c1.system / 1e6).toFixed(3)}), ${wallS[r].toFixed(3)} s wall`);
}

const mc = median(cpuS), mw = median(wallS);
const out = {
    client: '@qdrant/js-client-rest',
    version: pkg.version,
    node: process.version,
    server_version: info?.version ?? null,
    n, dim, batch, reps,
    data_hash: dataHash(),
    body_bytes_per_point: Math.round((bodyBytes / n) * 10) / 10,
    upsert: {
        cpu_us_per_point: (mc * 1e6) / n,
        wall_us_per_point: (mw * 1e6) / n,
        points_per_s: n / mw,
        cpu_s: cpuS,
        wall_s: wallS,
    },
};
process.stdout.write(JSON.stringify(out) + '\n');
