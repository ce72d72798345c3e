// llama.cpp as the independent reference: evaluates a token sequence with
// node-llama-cpp's prebuilt CPU llama.cpp and writes the logits it computes
// at every position (float32 little-endian, one row of n_vocab per token).
//
//   node tools/oracle/llama-oracle.mjs MODEL.gguf --tokens 2,105,... --logits OUT
//   node tools/oracle/llama-oracle.mjs MODEL.gguf --tokenize "text"   (prints ids)
//   node tools/oracle/llama-oracle.mjs MODEL.gguf --info               (prints vocab facts)
//   node tools/oracle/llama-oracle.mjs MODEL.gguf --tokens 2,105,... --embedding OUT
//       (the last token's final hidden state: llama.cpp's embedding without
//        pooling, the output norm's result; float32, n_embd of them)
// Options: --threads N, --kv-type F16|F32, --no-flash-attention,
//   --llama-dir DIR  (another node-llama-cpp install to run: DIR/node_modules)
//   --cpu-variant V  (fail unless llama.cpp runs its CPU build V, e.g. zen4:
//                     the libggml-cpu-V.so this process mapped)
import fs from "node:fs";
import path from "node:path";
import {pathToFileURL} from "node:url";

function fail(msg) {
    console.error(`llama-oracle: ${msg}`);
    process.exit(2);
}

const args = process.argv.slice(2);
const modelPath = args[0];
if (!modelPath || modelPath.startsWith("--"))
    fail("usage: llama-oracle.mjs MODEL.gguf (--tokens LIST --logits FILE | --tokenize TEXT | --info) [--threads N]");
const opt = (name) => {
    const i = args.indexOf(name);
    return i >= 0 ? args[i + 1] : undefined;
};
const threads = Number(opt("--threads") ?? 2);
const llamaDir = opt("--llama-dir");
const {getLlama, LlamaLogLevel} = llamaDir
    ? await import(pathToFileURL(path.join(path.resolve(llamaDir),
                                           "node_modules/node-llama-cpp/dist/index.js")).href)
    : await import("node-llama-cpp");

const llama = await getLlama({gpu: false, build: "never", logLevel: LlamaLogLevel.error});
const model = await llama.loadModel({modelPath, gpuLayers: 0, vocabOnly: args.includes("--tokenize") || args.includes("--info")});
const variant = opt("--cpu-variant");
if (variant) {
    const loaded = [...new Set(fs.readFileSync("/proc/self/maps", "utf8")
        .match(/libggml-cpu-[\w-]+\.so/g) ?? [])];
    if (!loaded.includes(`libggml-cpu-${variant}.so`))
        fail(`llama.cpp's CPU build ${variant} was asked for; this process runs ${loaded.join(", ") || "none"}`);
}

if (args.includes("--tokenize")) {
    const text = opt("--tokenize");
    const ids = model.tokenize(text, true);
    console.log(ids.join(","));
    process.exit(0);
}
if (args.includes("--info")) {
    console.log(JSON.stringify({bos: model.tokens.bos, eos: model.tokens.eos, eot: model.tokens.eot}));
    process.exit(0);
}

const tokens = (opt("--tokens") ?? fail("--tokens is required")).split(",").map(Number);
if (opt("--embedding")) {
    // A context that computes embeddings (node-llama-cpp's embedding context
    // does this, but also appends an end token to the input).
    const context = await model.createContext({contextSize: Math.max(256, tokens.length + 8),
        batchSize: Math.max(64, tokens.length), threads, sequences: 1, _embeddings: true});
    const sequence = context.getSequence();
    for await (const _ of sequence.evaluate(tokens, {_noSampling: true}))
        break;
    const embedding = context._ctx.getEmbedding(tokens.length);
    fs.writeFileSync(opt("--embedding"), Buffer.from(new Float32Array(embedding).buffer));
    await context.dispose();
    await model.dispose();
    process.exit(0);
}
const out = opt("--logits") ?? fail("--logits is required");
const nVocab = model.fileInfo.metadata.tokenizer.ggml.tokens.length;
const suppressed = (model.fileInfo.metadata.tokenizer.ggml.suppress_tokens ?? [])
    .map(Number).filter((t) => t >= 0 && t < Number(nVocab));

// One batch for the whole sequence: llama.cpp then runs its tiled f32
// flash-attention path (>= 64 tokens), the exact one.
const batch = Math.max(64, tokens.length);
const context = await model.createContext({
    contextSize: Math.max(256, tokens.length + 8),
    // --kv-type F32 (with flash attention off: llama.cpp's FA path would
    // cast an F32 cache back to F16) makes llama.cpp's attention exact f32.
    ...(opt("--kv-type") ? {experimentalKvCacheKeyType: opt("--kv-type"), experimentalKvCacheValueType: opt("--kv-type")} : {}),
    ...(args.includes("--no-flash-attention") ? {flashAttention: false} : {}),
    batchSize: batch,
    threads,
    sequences: 1,
});
const sequence = context.getSequence();
const res = await sequence.controlledEvaluate(
    tokens.map((t) => [t, {generateNext: {logits: true}}]));

const buf = Buffer.alloc(tokens.length * Number(nVocab) * 4);
for (let i = 0; i < tokens.length; i++) {
    const logits = res[i]?.next?.logits;
    if (!logits || logits.size !== Number(nVocab))
        fail(`position ${i}: expected ${nVocab} logits, got ${logits?.size}`);
    for (const [tok, value] of logits)
        buf.writeFloatLE(value, (i * Number(nVocab) + tok) * 4);
    // The model's suppressed tokens: llama.cpp's common sampler biases them
    // to -inf before anything reads the distribution (common/sampling.cpp);
    // gemmac's eval applies the same bias to the logits it returns.
    for (const tok of suppressed)
        buf.writeFloatLE(-Infinity, (i * Number(nVocab) + tok) * 4);
}
fs.writeFileSync(out, buf);
await context.dispose();
await model.dispose();
