// gemmac's compiled MTP drafter against llama.cpp's: for a target variant
// and type, the generated gemma4-assistant drafts through llama.cpp's MTP
// context (the oracle program llama-draft-oracle.cpp) from a prefill of more
// than 64 tokens (which wraps the 16-position windows), and every draft step
// gives finite logits of the vocabulary's width, each step's its own (the
// drafter's hidden output feeds the next). Then `compile-model TARGET
// --draft ASSISTANT` and the program's `eval --draft-steps` from the same
// prefill must draft the same tokens with the same logits, bit for bit (its
// kernels reproduce llama.cpp's one-row arithmetic, attention included).
// With --hf (types f32, f16, bf16) both are also written as Hugging Face
// checkpoints (Gemma4AssistantForCausalLM for the drafter), of which the
// GGUFs llama.cpp runs are the converter's image; gemmac compiles the HF
// pair, and the GGUF target with the HF drafter, both bit for bit.
// With --centroid-head (implies --hf) the HF drafter also carries the
// E2B/E4B centroid head (transformers' masked embedder, which llama.cpp's
// converter drops, so llama.cpp runs the dense head): each step's logits must
// be -inf outside exactly top_k whole clusters of the checkpoint's
// token_ordering and llama.cpp's dense logits bit for bit inside them, the
// clusters those whose mean dense logit ranks highest (the generated
// centroids are their tokens' mean rows: where two clusters' means lie within
// rounding of the cut, either may be chosen), and the drafted token the best
// of them. Steps after gemmac's drafted tokens leave llama.cpp's embed
// another token: there only the structure is checked (top_k whole clusters,
// -inf elsewhere, the drafted token the best of them).
// With --llama-dir DIR --cpu-variant zen4 --target T the oracle runs that
// install's llama.cpp build and the programs are compiled for T (skipped on
// a CPU without the build's features): the AVX-512 kernel set against
// llama.cpp's AVX-512 arithmetic.
//   node tools/oracle/check-assistant.mjs --bin build/bin --oracle EXE
//       --variant dense --type q8_0 [--hf] [--centroid-head]
//       [--llama-dir DIR --cpu-variant V --target T] --work DIR
import {execFileSync} from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import {readGgufFileInfo} from "node-llama-cpp";
import {binsOf, requireCpuVariant} from "../parity/cpu-variant.mjs";

const args = process.argv.slice(2);
const opt = (name, dflt) => {
    const i = args.indexOf(name);
    return i >= 0 ? args[i + 1] : dflt;
};
const bin = opt("--bin", "build/bin"), oracle = opt("--oracle"), variant = opt("--variant");
const type = opt("--type", "q8_0"), work = opt("--work", fs.mkdtempSync("/tmp/gemmac-assistant-"));
const steps = 4, nVocab = 1024;
fs.mkdirSync(work, {recursive: true});
const run = (cmd, argv) => execFileSync(cmd, argv, {stdio: ["ignore", "pipe", "inherit"]}).toString();

const target = path.join(work, `${variant}-${type}.gguf`), assistant = path.join(work, `assistant-${variant}-${type}.gguf`);
const llamaDir = opt("--llama-dir"), cpuVariant = opt("--cpu-variant");
// cpu:x86-64-v3 by default: the kernels of llama.cpp's AVX2 build, the
// pinned install's.
const cpuTarget = opt("--target", "cpu:x86-64-v3");
if (cpuVariant)
    requireCpuVariant("check-assistant.mjs", cpuVariant, llamaDir);
const centroidHead = args.includes("--centroid-head");
const hf = centroidHead || args.includes("--hf");
const targetHF = path.join(work, "target-hf"), assistantHF = path.join(work, "assistant-hf");
run(path.join(bin, "gemmac-gen-model"), ["--variant", variant, "--type", type, "-o", target,
                                         ...(hf ? ["--hf", targetHF] : [])]);
run(path.join(bin, "gemmac-gen-model"), ["--variant", "assistant", "--for", variant, "--type", type,
                                         "-o", assistant, ...(hf ? ["--hf", assistantHF] : []),
                                         ...(centroidHead ? ["--centroid-head"] : [])]);

// llama.cpp's repacked K-quant products take rows 4 at a time and the last
// n % 4 rows through another path, which gemmac's target does not copy: a
// prefill of a multiple of 4 rows keeps the target's hidden rows exact.
let seed = 12345;
const tokens = [2];
while (tokens.length < 81) {
    seed = (seed * 1103515245 + 12345) % 2147483648;
    tokens.push(20 + (seed % (nVocab - 20)));
}
const logits = path.join(work, "draft-logits.bin");
const bins = llamaDir ? path.resolve(binsOf(llamaDir))
                      : path.resolve(path.dirname(new URL(import.meta.url).pathname), "../..",
                                     binsOf(undefined));
const out = JSON.parse(run(oracle, [target, assistant, bins, "--tokens", tokens.join(","),
                                    "--draft", String(steps), "--logits", logits]).trim().split("\n").pop());
const f = new Float32Array(fs.readFileSync(logits).buffer.slice(0));
const failures = [];
if (out.drafted.length !== steps || out.drafted.some((t) => !(t >= 0 && t < nVocab)))
    failures.push(`drafted ${JSON.stringify(out.drafted)}: expected ${steps} token ids below ${nVocab}`);
if (f.length !== steps * nVocab)
    failures.push(`${f.length} logits, expected ${steps} x ${nVocab}`);
if (f.some((x) => !Number.isFinite(x)))
    failures.push("a draft logit is not finite");
for (let s = 1; s < steps; ++s) {
    let same = true;
    for (let i = 0; i < nVocab && same; ++i)
        same = f[s * nVocab + i] === f[(s - 1) * nVocab + i];
    if (same)
        failures.push(`draft steps ${s} and ${s + 1} have identical logits`);
}

// The target's suppressed tokens (tokenizer.ggml.suppress_tokens): -inf,
// as llama.cpp's samplers bias them (common/sampling.cpp) and gemmac's
// drafter returns them.
const info = await readGgufFileInfo(target);
for (const tok of (info.metadata.tokenizer.ggml.suppress_tokens ?? []).map(Number))
    for (let s = 0; s < steps && tok >= 0 && tok < nVocab; ++s)
        f[s * nVocab + tok] = -Infinity;

// gemmac's drafter, compiled into the target's program: from the GGUFs, or
// from the HF checkpoints (both, and the GGUF target with the HF drafter).
const pairs = hf ? [["hf", targetHF, assistantHF], ["gguf+hf", target, assistantHF]]
                 : [["gguf", target, assistant]];
const made = [];
for (const [label, t, a] of pairs) {
    const program = path.join(work, `${variant}-${type}-draft-${label}`), ours = `${program}.logits`;
    made.push(program, `${program}.weights`, ours);
    run(path.join(bin, "compile-model"), [t, "--draft", a, "-o", program, "--quiet", "--target", cpuTarget]);
    const mine = JSON.parse(run(program, ["eval", "--tokens", tokens.join(","), "--draft-steps", String(steps),
                                          "--logits", ours, "--threads", "2"]).trim());
    const g = new Float32Array(fs.readFileSync(ours).buffer.slice(0));
    if (centroidHead) {
        checkCentroidHead(label, f, g, out.drafted, mine.drafted);
        continue;
    }
    if (JSON.stringify(mine.drafted) !== JSON.stringify(out.drafted))
        failures.push(`${label}: gemmac drafted ${mine.drafted.join(",")}, llama.cpp ${out.drafted.join(",")}`);
    let differ = 0, worst = 0;
    for (let i = 0; i < Math.min(f.length, g.length); ++i)
        if (g[i] !== f[i]) {
            ++differ;
            worst = Math.max(worst, Math.abs(g[i] - f[i]));
        }
    if (g.length !== f.length || differ)
        failures.push(`${label}: gemmac's draft logits differ from llama.cpp's in ${differ} of ${f.length} ` +
                      `(max |diff| ${worst}; ${g.length} values)`);
    console.log(`assistant of ${variant} (${type}, ${label}): llama.cpp and gemmac drafted ` +
                `${out.drafted.join(",")} after a ${tokens.length - 1}-token prefill, ${steps} x ${nVocab} logits ` +
                `${differ ? "differ" : "identical"}`);
}
// One tensor of a safetensors checkpoint directory: its header entry and bytes.
function readTensor(dir, name) {
    for (const file of fs.readdirSync(dir).filter((f) => f.endsWith(".safetensors"))) {
        const b = fs.readFileSync(path.join(dir, file));
        const n = Number(b.readBigUInt64LE(0));
        const header = JSON.parse(b.subarray(8, 8 + n).toString());
        if (header[name]) {
            const [begin, end] = header[name].data_offsets;
            return {info: header[name], data: b.subarray(8 + n + begin, 8 + n + end)};
        }
    }
    throw new Error(`${dir}: no tensor ${name}`);
}

function checkCentroidHead(label, dense, masked, denseDrafted, drafted) {
    const config = JSON.parse(fs.readFileSync(path.join(assistantHF, "config.json"), "utf8"));
    const clusters = config.num_centroids, topK = config.centroid_intermediate_top_k;
    const per = nVocab / clusters;
    const ordering = readTensor(assistantHF, "masked_embedding.token_ordering").data;
    const tokenOf = (c, j) => Number(ordering.readBigInt64LE((c * per + j) * 8));
    let comparable = true;
    for (let s = 0; s < steps; ++s) {
        const at = (a, id) => a[s * nVocab + id];
        // Once gemmac drafted another token than llama.cpp's dense head, the
        // next steps embed different tokens: only their structure is checked.
        comparable &&= s === 0 || drafted[s - 1] === denseDrafted[s - 1];
        const chosen = [], mean = [];
        let mismatched = 0, leaked = 0, best = -1;
        for (let c = 0; c < clusters; ++c) {
            let sum = 0, finite = false;
            for (let j = 0; j < per; ++j) {
                const id = tokenOf(c, j);
                sum += Number.isFinite(at(dense, id)) ? at(dense, id) : 0;
                finite ||= Number.isFinite(at(masked, id));
            }
            mean.push(sum / per);
            if (finite)
                chosen.push(c);
            for (let j = 0; j < per; ++j) {
                const id = tokenOf(c, j);
                if (comparable && finite && at(masked, id) !== at(dense, id))
                    ++mismatched;
                if (!finite && at(masked, id) !== -Infinity)
                    ++leaked;
                if (finite && Number.isFinite(at(masked, id)) &&
                    (best < 0 || at(masked, id) > at(masked, best) || (at(masked, id) === at(masked, best) && id < best)))
                    best = id;
            }
        }
        const ranked = [...mean.keys()].sort((a, b) => mean[b] - mean[a] || a - b);
        const cut = (mean[ranked[topK - 1]] + mean[ranked[topK]]) / 2;
        const spread = Math.max(...mean.map(Math.abs));
        // Rounding of the generated centroids (f16/bf16 means of the rows)
        // against the mean of the rows' products: a few units in the last
        // place of the largest score.
        const tolerance = 1e-2 * spread;
        const wrong = !comparable ? 0 : chosen.filter((c) => mean[c] < cut - tolerance).length +
                      ranked.slice(0, topK).filter((c) => !chosen.includes(c) && mean[c] > cut + tolerance).length;
        const margin = mean[ranked[topK - 1]] - mean[ranked[topK]];
        if (comparable)
            console.log(`  ${label} step ${s + 1}: clusters ${chosen.join(",")} (mean-logit ranking ${ranked.slice(0, topK).join(",")}, ` +
                        `margin at the cut ${margin.toFixed(4)} of ${spread.toFixed(3)}), ${chosen.length * per} logits ` +
                        `${mismatched ? `${mismatched} differ from llama.cpp's` : "equal to llama.cpp's"}, drafted ${drafted[s]}`);
        else
            console.log(`  ${label} step ${s + 1}: clusters ${chosen.join(",")}, -inf elsewhere, drafted ${drafted[s]} ` +
                        `(values not compared: an earlier step drafted another token than llama.cpp's dense head)`);
        if (chosen.length !== topK)
            failures.push(`${label} step ${s + 1}: ${chosen.length} clusters scored, expected ${topK}`);
        if (mismatched || leaked)
            failures.push(`${label} step ${s + 1}: ${mismatched} chosen logits differ from llama.cpp's dense ones, ` +
                          `${leaked} outside the chosen clusters are not -inf`);
        if (wrong)
            failures.push(`${label} step ${s + 1}: clusters ${chosen.join(",")} chosen, the mean dense logits rank ` +
                          `${ranked.slice(0, topK).join(",")} first`);
        if (drafted[s] !== best)
            failures.push(`${label} step ${s + 1}: drafted ${drafted[s]}, the best scored token is ${best}`);
    }
}

console.log(failures.length ? "FAIL" : "PASS");
if (!failures.length)
    for (const file of [target, assistant, logits, ...made])
        fs.rmSync(file, {force: true});
for (const m of failures)
    console.log(`  ${m}`);
process.exit(failures.length ? 1 : 0);
