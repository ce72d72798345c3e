// llama.cpp's speed on a GGUF, measured the way `OUT bench` measures
// gemmac's: a prompt of -p tokens evaluated as one batch, then -n tokens
// decoded one at a time (greedy), medians over --reps runs after an untimed
// warm-up. Prints one JSON object.
//
// --parallel N,N,...: for each N, N sequences of one context, each with its
// own -p token prompt, generating -n tokens each at the same time. node-
// llama-cpp merges the pending tokens of every sequence into one
// llama_decode per cycle (continuous batching), so a decode step serves all
// N streams. Reports per N the aggregate prompt rate (N x p tokens until
// the last stream's first token), the aggregate decode rate (N x n tokens
// from the last stream's first token to the last stream's last) and the
// median and p90 gap between one stream's tokens (inter-token latency).
// The JS generator per token counts against llama.cpp.
//
//   node tools/bench/llama-bench.mjs MODEL.gguf [-p 512] [-n 128] [--threads N]
//        [--reps 3] [--flash-attention auto|on|off] [--parallel 1,2,4,8]
import {getLlama, LlamaLogLevel} from "node-llama-cpp";

function fail(msg) {
    console.error(`llama-bench: ${msg}`);
    process.exit(2);
}

const args = process.argv.slice(2);
const modelPath = args[0];
if (!modelPath || modelPath.startsWith("-"))
    fail("usage: llama-bench.mjs MODEL.gguf [-p N] [-n N] [--threads N] [--reps N] [--flash-attention auto|on|off]");
const opt = (name, dflt) => {
    const i = args.indexOf(name);
    return i >= 0 ? args[i + 1] : dflt;
};
const p = Number(opt("-p", 512)), n = Number(opt("-n", 128));
const threads = Number(opt("--threads", 2)), reps = Number(opt("--reps", 3));
const fa = opt("--flash-attention", "auto");
const parallelArg = opt("--parallel");
const parallelCounts = parallelArg === undefined ? [] : parallelArg.split(",").map(Number);
for (const x of [p, n, threads, reps, ...parallelCounts])
    if (!Number.isInteger(x) || x < 1 || x > 1 << 20)
        fail(`-p, -n, --threads, --reps and --parallel take whole numbers from 1 (got ${x})`);
if (parallelArg !== undefined && parallelCounts.some((x) => x > 256))
    fail("--parallel: at most 256 sequences");

const llama = await getLlama({gpu: false, build: "never", logLevel: LlamaLogLevel.error,
                              maxThreads: threads});
const model = await llama.loadModel({modelPath, gpuLayers: 0});
const vocab = model.fileInfo.metadata.tokenizer.ggml.tokens.length;

// The same fixed pseudo-random prompt as `OUT bench` (speed does not depend
// on the ids); sequence i > 0 of --parallel starts the generator at i.
function promptFor(seq) {
    const tokens = [model.tokens.bos];
    let state = 0x9E3779B97F4A7C15n + BigInt(seq);
    for (let i = 1; i < p; i++) {
        state = (state * 6364136223846793005n + 1442695040888963407n) & 0xFFFFFFFFFFFFFFFFn;
        tokens.push(Number((state >> 33n) % BigInt(vocab)));
    }
    return tokens;
}

const median = (v) => {
    const s = [...v].sort((a, b) => a - b);
    return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
const quantile = (v, q) => [...v].sort((a, b) => a - b)[Math.min(v.length - 1, Math.floor(q * v.length))];

if (parallelCounts.length) {
    const results = [];
    for (const count of parallelCounts) {
        const context = await model.createContext({
            contextSize: p + n + 16, // per sequence
            batchSize: Math.max(512, count),
            threads,
            sequences: count,
            flashAttention: fa === "auto" ? "auto" : fa === "on",
        });
        const sequences = Array.from({length: count}, () => context.getSequence());
        const prompts = sequences.map((_, i) => promptFor(i));
        // One run: every stream's token times. The first run of each N is a
        // warm-up (buffers allocated, weights paged in).
        const once = async () => {
            await Promise.all(sequences.map((s) => s.clearHistory()));
            const stamps = sequences.map(() => []);
            const t0 = performance.now();
            await Promise.all(sequences.map(async (s, i) => {
                for await (const _ of s.evaluate(prompts[i], {temperature: 0})) {
                    stamps[i].push(performance.now());
                    if (stamps[i].length > n)
                        break;
                }
            }));
            const first = Math.max(...stamps.map((t) => t[0]));
            const last = Math.max(...stamps.map((t) => t[t.length - 1]));
            const gaps = stamps.flatMap((t) => t.slice(1).map((x, j) => x - t[j]));
            return {
                prefill_tok_s: (count * p) / ((first - t0) / 1000),
                decode_tok_s: (count * n) / ((last - first) / 1000),
                itl_ms: median(gaps), itl_p90_ms: quantile(gaps, 0.9),
            };
        };
        await once();
        const runs = [];
        for (let r = 0; r < reps; r++)
            runs.push(await once());
        const pick = (k) => median(runs.map((r) => r[k]));
        results.push({n_seq: count, prefill_tok_s: pick("prefill_tok_s"),
                      decode_tok_s: pick("decode_tok_s"), itl_ms: pick("itl_ms"),
                      itl_p90_ms: pick("itl_p90_ms"), runs});
        await context.dispose();
    }
    console.log(JSON.stringify({parallel: results, prompt_tokens: p, decode_tokens: n,
                                threads, reps, flash_attention: fa}));
    await model.dispose();
    process.exit(0);
}

const context = await model.createContext({
    contextSize: p + n + 16,
    batchSize: Math.max(p, 1),
    threads,
    sequences: 1,
    flashAttention: fa === "auto" ? "auto" : fa === "on",
});
const sequence = context.getSequence();
const prompt = promptFor(0);

async function once(count) {
    await sequence.clearHistory();
    const t0 = performance.now();
    let t1 = 0, produced = 0;
    for await (const _ of sequence.evaluate(prompt, {temperature: 0})) {
        if (produced === 0)
            t1 = performance.now();
        if (++produced > count)
            break;
    }
    const t2 = performance.now();
    return {prefill: p / ((t1 - t0) / 1000), decode: count / ((t2 - t1) / 1000)};
}

await once(1); // warm-up: every weight page in, buffers allocated
const runs = [];
for (let r = 0; r < reps; r++)
    runs.push(await once(n));
console.log(JSON.stringify({
    prefill_tok_s: median(runs.map((r) => r.prefill)),
    decode_tok_s: median(runs.map((r) => r.decode)),
    prompt_tokens: p, decode_tokens: n, threads, reps,
    flash_attention: fa, runs,
}));
await context.dispose();
await model.dispose();
