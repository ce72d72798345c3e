// llama.cpp's speed on a GGUF, measured the way `OUT bench` measures
// gemmac's: a prompt of -p tokens evaluated as one batch, then -n tokens
// decoded one at a time (greedy), medians over --reps runs after an untimed
// warm-up. Prints one JSON object, with the CPU build of llama.cpp that ran
// (cpu_build: the libggml-cpu-*.so this process mapped).
//
//   node tools/bench/llama-bench.mjs MODEL.gguf [-p 512] [-n 128] [--threads N]
//        [--reps 3] [--flash-attention auto|on|off]
import {getLlama, LlamaLogLevel} from "node-llama-cpp";
import fs from "node:fs";

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

const llama = await getLlama({gpu: false, build: "never", logLevel: LlamaLogLevel.error,
                              maxThreads: threads});
const model = await llama.loadModel({modelPath, gpuLayers: 0});
const vocab = model.fileInfo.metadata.tokenizer.ggml.tokens.length;
const context = await model.createContext({
    contextSize: p + n + 16,
    batchSize: Math.max(p, 1),
    threads,
    sequences: 1,
    flashAttention: fa === "auto" ? "auto" : fa === "on",
});
const sequence = context.getSequence();

// The same fixed pseudo-random prompt as `OUT bench` (speed does not depend
// on the ids).
const prompt = [model.tokens.bos];
let state = 0x9E3779B97F4A7C15n;
for (let i = 1; i < p; i++) {
    state = (state * 6364136223846793005n + 1442695040888963407n) & 0xFFFFFFFFFFFFFFFFn;
    prompt.push(Number((state >> 33n) % BigInt(vocab)));
}

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

const median = (v) => {
    const s = [...v].sort((a, b) => a - b);
    return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

await once(1); // warm-up: every weight page in, buffers allocated
const runs = [];
for (let r = 0; r < reps; r++)
    runs.push(await once(n));
const cpuBuilds = [...new Set(fs.readFileSync("/proc/self/maps", "utf8")
    .match(/libggml-cpu-[\w-]+\.so/g) ?? [])];
console.log(JSON.stringify({
    cpu_build: cpuBuilds.join(",") || "unknown",
    prefill_tok_s: median(runs.map((r) => r.prefill)),
    decode_tok_s: median(runs.map((r) => r.decode)),
    prompt_tokens: p, decode_tokens: n, threads, reps,
    flash_attention: fa, runs,
}));
await context.dispose();
await model.dispose();
