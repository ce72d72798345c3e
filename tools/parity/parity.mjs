// Parity of a compiled program with llama.cpp on the same GGUF.
//
//   node tools/parity/parity.mjs --bin build/bin --variant dense --type q4_0 [--work DIR]
//        [--disable-pass NAME ...]   (compile without an optional pass)
//        [--target vulkan]           (compile for a GPU target and run it there)
//        [--model GGUF] [--reference GGUF] [--compile-arg ARG ...] [--label TEXT]
//        [--gen-arg ARG ...] [--eval-arg ARG ...] [--hf [--twin]] [--tolerance T]
//        [--llama-dir DIR --cpu-variant V]
//
// --model compiles a given GGUF instead of writing one (--variant and --type
// then only name the case; --type still picks the tolerance), --reference is
// the GGUF llama.cpp runs instead of the compiled one (SRD: base + residuals
// compiled, W' baked into a GGUF independently), --compile-arg passes an
// extra argument to compile-model, --gen-arg one to gemmac-gen-model and
// --eval-arg one to the program's `eval` (e.g. --ctx). --hf compiles the
// Hugging Face checkpoint gemmac-gen-model writes beside the GGUF (--hf DIR),
// and llama.cpp runs the GGUF, which holds what llama.cpp's converter would
// make of that checkpoint. --twin then compiles that GGUF instead (the
// converted file, which gemmac accepts too).
//
// The reference is llama.cpp's AVX2 build (the repository's node-llama-cpp,
// which tools/setup-debian.sh pins to it), and programs are compiled for
// cpu:x86-64-v3, whose kernels reproduce it. --llama-dir names another
// node-llama-cpp install and --cpu-variant the CPU build of it that must run
// (zen4: llama.cpp's AVX-512 build, the reference of programs compiled for
// an AVX-512 CPU such as --target cpu:znver4); on a CPU without that build's
// features the case is skipped (CTest: 77).
//
// --target cpu:aarch64[...] cross-compiles, and the program runs under
// qemu-user (qemu-aarch64 with the cross toolchain's aarch64 libraries in
// /usr/aarch64-linux-gnu; without them the case is skipped): its kernels are
// the AVX2 ones through SIMDe, so llama.cpp's AVX2 build stays the reference.
// --arm-reference DIR makes llama.cpp's Arm build the reference instead
// (tools/oracle/build-llama-arm.sh DIR; its oracle runs under qemu-user).
//
// Writes a random-weight model, compiles it, evaluates one token sequence
// several times longer than the model's sliding window with the compiled
// program (in one batch, and again in steps of 7 tokens so that the KV ring
// buffers wrap between calls) and with llama.cpp, and compares the next-token
// distributions at every position:
//   top-1 agreement wherever llama.cpp's top two differ by more than 0.01 in
//   log-probability, and max |delta log p| over llama.cpp's top 10 tokens,
//   which must stay within 1e-3 for F32 weights and 5e-2 otherwise.
import {execFileSync, spawnSync} from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import {fileURLToPath} from "node:url";
import {compare, readLogits} from "./compare.mjs";
import {requireCpuVariant} from "./cpu-variant.mjs";

const here = path.dirname(fileURLToPath(import.meta.url));
const args = process.argv.slice(2);
const opt = (name, dflt) => {
    const i = args.indexOf(name);
    return i >= 0 ? args[i + 1] : dflt;
};
const bin = opt("--bin", "build/bin");
const variant = opt("--variant");
const type = opt("--type");
const work = opt("--work", fs.mkdtempSync("/tmp/gemmac-parity-"));
const nTokens = Number(opt("--tokens", 72));
const target = opt("--target", "cpu:x86-64-v3");
const onCpu = target === "cpu" || target.startsWith("cpu:");
const emulator = target.startsWith("cpu:aarch64")
    ? ["qemu-aarch64", "-L", "/usr/aarch64-linux-gnu"] : [];
if (emulator.length) {
    const probe = spawnSync(emulator[0], ["--version"]);
    if (probe.error || probe.status !== 0 ||
        !fs.existsSync("/usr/aarch64-linux-gnu/lib/ld-linux-aarch64.so.1")) {
        console.log("SKIP: no qemu-aarch64 or aarch64 C libraries (Debian: qemu-user g++-aarch64-linux-gnu)");
        process.exit(77);
    }
}
const llamaDir = opt("--llama-dir");
const cpuVariant = opt("--cpu-variant");
if (cpuVariant)
    requireCpuVariant("parity.mjs", cpuVariant, llamaDir);
const many = (name) => args.flatMap((a, i) => (a === name ? [args[i + 1]] : []));
const disabled = many("--disable-pass");
const compileArgs = many("--compile-arg");
const caseLabel = opt("--label", "");
const genArgs = many("--gen-arg");
const evalArgs = many("--eval-arg");
if (!variant || !type) {
    console.error("usage: parity.mjs --bin DIR --variant NAME --type TYPE [--work DIR] [--tokens N]");
    process.exit(2);
}
// llama.cpp takes its batched attention path from 64 tokens in one batch
// (fewer would compare against other arithmetic, docs/numerics.md).
if (!Number.isInteger(nTokens) || nTokens < 64 || nTokens > 100000) {
    console.error(`parity.mjs: --tokens ${opt("--tokens")}: want an integer from 64 to 100000`);
    process.exit(2);
}
fs.mkdirSync(work, {recursive: true});
const run = (cmd, argv) => execFileSync(cmd, argv, {stdio: ["ignore", "pipe", "inherit"]}).toString();
const runProgram = (argv) =>
    emulator.length ? run(emulator[0], [...emulator.slice(1), program, ...argv]) : run(program, argv);

// --tolerance overrides the type's (a case with rounding llama.cpp cannot
// reproduce, such as the E4M3 KV cache, states its own bound and why).
const tolerance = Number(opt("--tolerance", type === "f32" ? 1e-3 : 5e-2));
if (!(tolerance > 0 && tolerance < 10)) {
    console.error(`parity.mjs: --tolerance must be a number in (0, 10), got '${opt("--tolerance")}'`);
    process.exit(2);
}
const nVocab = 1024;

const gguf = opt("--model", path.join(work, `${variant}-${type}.gguf`));
const reference = opt("--reference", gguf);
const program = path.join(work, `${variant}-${type}`);
const hfDir = args.includes("--hf") ? path.join(work, "hf") : null;
if (!args.includes("--model"))
    run(path.join(bin, "gemmac-gen-model"), ["--variant", variant, "--type", type, "-o", gguf,
        ...(hfDir ? ["--hf", hfDir] : []), ...genArgs]);
const compiled = hfDir && !args.includes("--twin") ? hfDir : gguf;
run(path.join(bin, "compile-model"), [compiled, "--target", target, "-o", program, "--quiet",
    ...disabled.flatMap((p) => ["--disable-pass", p]), ...compileArgs]);

// A fixed pseudo-random sequence after <bos>.
let seed = 12345;
const tokens = [2];
while (tokens.length < nTokens) {
    seed = (seed * 1103515245 + 12345) % 2147483648;
    tokens.push(20 + (seed % (nVocab - 20)));
}
const list = tokens.join(",");

// A GPU program on a machine without the device: skipped (CTest: 77).
if (!onCpu) {
    try {
        execFileSync(program, ["eval", "--tokens", "2"], {stdio: "pipe"});
    } catch (e) {
        const why = String(e.stderr);
        if (/no Vulkan device|Vulkan loader|CUDA driver not found|no CUDA device/.test(why)) {
            console.log(`SKIP: ${why.trim()}`);
            process.exit(77);
        }
        throw e;
    }
}

const ours = path.join(work, "ours.bin"), oursSteps = path.join(work, "ours-steps.bin");
const ref = path.join(work, "llama.bin");
runProgram(["eval", "--tokens", list, "--logits", ours, ...evalArgs]);
runProgram(["eval", "--tokens", list, "--logits", oursSteps, "--batch", "7", ...evalArgs]);
const armReference = opt("--arm-reference");
if (armReference && !fs.existsSync(path.join(armReference, "llama-logits-oracle"))) {
    console.log(`SKIP: no ${path.join(armReference, "llama-logits-oracle")} (tools/oracle/build-llama-arm.sh)`);
    process.exit(77);
}
if (armReference)
    run("qemu-aarch64", ["-L", "/usr/aarch64-linux-gnu", path.join(armReference, "llama-logits-oracle"),
        reference, path.join(armReference, "lib"), "--tokens", list, "--logits", ref]);
else
    run("node", [path.join(here, "../oracle/llama-oracle.mjs"), reference, "--tokens", list, "--logits", ref,
        ...(llamaDir ? ["--llama-dir", llamaDir] : []), ...(cpuVariant ? ["--cpu-variant", cpuVariant] : [])]);

// llama.cpp's repacked products (Q4_0/Q4_K/Q6_K/Q8_0 x8) take a batch four
// rows at a time and its last n % 4 rows through the one-row kernel (gemv),
// whose Q4_K arithmetic differs; gemmac keeps the four-row arithmetic for
// every row (batch invariance), so the verdict covers the positions llama.cpp
// computed four at a time and the tail is reported on its own.
const refRows = readLogits(ref, nVocab);
const nBatched = nTokens - (nTokens % 4);
let ok = true;
for (const [label, file] of [["one batch", ours], ["steps of 7", oursSteps]]) {
    const rows = readLogits(file, nVocab);
    if (nBatched < nTokens) {
        const t = compare(rows.slice(nBatched), refRows.slice(nBatched));
        console.log(`  positions ${nBatched}..${nTokens - 1} (llama.cpp's one-row kernels, not judged): ` +
            `max |dlogp| top-10 ${t.maxDelta.toExponential(2)}`);
    }
    const r = compare(rows.slice(0, nBatched), refRows.slice(0, nBatched));
    const pass = r.agree === r.checked && r.maxDelta <= tolerance;
    ok &&= pass;
    const config = (caseLabel ? ` ${caseLabel}` : "") + (hfDir ? " safetensors" : "") +
        (disabled.length ? ` without ${disabled.join(", ")}` : "") +
        (onCpu ? (cpuVariant ? ` (${target} against llama.cpp's ${cpuVariant} build)`
                  : emulator.length ? ` (${target} under qemu-user against llama.cpp's ` +
                      `${armReference ? "Arm" : "AVX2"} build)` : "") : ` on ${target}`);
    console.log(`${variant} ${type}${config} (${label}): top-1 ${r.agree}/${r.checked} agree, ` +
        `max |dlogp| top-10 ${r.maxDelta.toExponential(2)}` +
        (r.worstPos >= 0 ? ` (position ${r.worstPos})` : "") + ", " +
        `tolerance ${tolerance} ${pass ? "PASS" : "FAIL"}` +
        (r.disagreements.length ? ` disagreements at ${r.disagreements.slice(0, 8).join(",")}` : ""));
}
// A passing case removes its model, checkpoint and program (the parity suites
// would otherwise leave ~12 GB behind in a CI run); a failing one keeps them
// to debug. GEMMAC_KEEP_WORK=1 keeps them always.
if (ok && !process.env.GEMMAC_KEEP_WORK) {
    for (const f of [program, `${program}.weights`, ...(args.includes("--model") ? [] : [gguf]),
                     ...(hfDir ? [hfDir] : [])])
        fs.rmSync(f, {recursive: true, force: true});
}
process.exit(ok ? 0 : 1);
