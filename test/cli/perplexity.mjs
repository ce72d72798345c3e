// `OUT perplexity` against llama-perplexity's method computed here from
// llama.cpp's logits (node-llama-cpp, the pinned AVX2 build): the same
// tokens, chunks of -c with <bos> first, the second half of each chunk
// scored. Every running estimate must agree to 1e-4 relative. Then the
// program's log-probs are saved and the program is compared with its own
// file: the KL divergence must be exactly 0 and the top token always the same.
//
//   node test/cli/perplexity.mjs --bin build/bin --work DIR
import {execFileSync} from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import {getLlama, LlamaLogLevel} from "node-llama-cpp";
import {check, compileModel, finish, run, work} from "./harness.mjs";

const nCtx = 128;
const {gguf, program} = compileModel("ppl", {variant: "dense", chatTemplate: null});

// A text of a few chunks: words from the tokenizer's training text, shuffled
// by a fixed generator (a random model scores any text; its tokens matter).
const words = ("the quick brown fox jumps over lazy dog compiler reads model writes program " +
    "runs machine small random weights same shape large one hello world how are you today " +
    "<bos> <turn|> tokens pieces text").split(" ");
let seed = 7;
const picked = [];
for (let i = 0; i < 700; i++) {
    seed = (seed * 1103515245 + 12345) % 2147483648;
    picked.push(words[seed % words.length]);
}
const textPath = path.join(work, "text.txt");
fs.writeFileSync(textPath, picked.join(" ") + "\n");

const ours = run(program, ["perplexity", "-f", textPath, "-c", String(nCtx)]);
const ourChunks = [...ours.matchAll(/\[(\d+)\]([0-9.]+),/g)].map((m) => Number(m[2]));
const ourFinal = Number(/Final estimate: PPL = ([0-9.]+)/.exec(ours)?.[1]);

// The reference: llama.cpp's tokens (parse_special off, <bos> first, as
// llama-perplexity tokenizes) and logits, llama-perplexity's arithmetic.
const llama = await getLlama({gpu: false, build: "never", logLevel: LlamaLogLevel.error});
const model = await llama.loadModel({modelPath: gguf, gpuLayers: 0});
const text = fs.readFileSync(textPath, "utf8");
const tokens = [model.tokens.bos, ...model.tokenize(text, false)];
const nChunk = Math.floor(tokens.length / nCtx);
const context = await model.createContext({contextSize: nCtx, batchSize: nCtx, threads: 2, sequences: 1});
const sequence = context.getSequence();
const first = nCtx / 2;
let nll = 0, count = 0;
const refChunks = [];
for (let c = 0; c < nChunk; c++) {
    const chunk = tokens.slice(c * nCtx, (c + 1) * nCtx);
    chunk[0] = model.tokens.bos;
    await sequence.clearHistory();
    const res = await sequence.controlledEvaluate(chunk.map((t) => [t, {generateNext: {logits: true}}]));
    for (let j = first; j < nCtx - 1; j++) {
        const logits = res[j].next.logits;
        let max = -Infinity;
        for (const v of logits.values()) max = Math.max(max, v);
        let sum = 0;
        for (const v of logits.values()) sum += Math.fround(Math.exp(Math.fround(v - max)));
        const lp = Math.fround(logits.get(chunk[j + 1]) - max) - Math.log(sum);
        nll -= lp;
        count++;
    }
    refChunks.push(Math.exp(nll / count));
}
const refFinal = Math.exp(nll / count);
await context.dispose();
await model.dispose();

check(ourChunks.length === nChunk, `${ourChunks.length} chunks printed, ${nChunk} expected (${tokens.length} tokens, -c ${nCtx})`);
let worst = 0;
for (let c = 0; c < Math.min(nChunk, ourChunks.length); c++)
    worst = Math.max(worst, Math.abs(ourChunks[c] - refChunks[c]) / refChunks[c]);
// The printed figures have 4 decimals: allow that rounding too.
check(worst <= 1e-4, `running PPL estimates within 1e-4 relative of llama.cpp's (worst ${worst.toExponential(2)})`);
check(Math.abs(ourFinal - refFinal) / refFinal <= 1e-4,
      `final PPL ${ourFinal} vs llama.cpp ${refFinal.toFixed(4)}`);

// The base file holds the tokens: they must be llama.cpp's.
const base = path.join(work, "base.logprobs");
fs.rmSync(base, {force: true});
run(program, ["perplexity", "-f", textPath, "-c", String(nCtx), "--kl-divergence-base", base]);
const buf = fs.readFileSync(base);
const fileTokens = Array.from({length: nChunk * nCtx}, (_, i) => buf.readInt32LE(20 + 4 * i));
check(fileTokens.every((t, i) => t === tokens[i]), "the saved tokens are llama.cpp's tokenization");
const kld = run(program, ["perplexity", "--kl-divergence-base", base, "--kl-divergence", "-b", "48"]);
const mean = /Mean +KLD: +([-0-9.]+)/.exec(kld)?.[1], max = /Maximum KLD: +([-0-9.]+)/.exec(kld)?.[1];
const same = /Same top p: +([0-9.]+)/.exec(kld)?.[1];
check(mean === "0.000000" && max === "0.000000", `KLD of the program against itself: mean ${mean}, max ${max}`);
check(same === "100.000", `same top token: ${same} %`);
// A base file is never overwritten.
let refused = false;
try {
    execFileSync(program, ["perplexity", "-f", textPath, "-c", String(nCtx), "--kl-divergence-base", base], {stdio: "pipe"});
} catch (e) {
    refused = /exists; not overwritten/.test(e.stderr.toString());
}
check(refused, "an existing base file is not overwritten");
finish();
