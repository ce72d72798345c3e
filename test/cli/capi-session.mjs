// The C API's session additions (state save/load, cancel, eval_outputs,
// session logits) through a C program linked with a compiled model
// (capi_session.c): a restored session continues bit for bit; damaged,
// truncated and other models' state files are refused with the file and
// an offset named; cancels from another thread; outputs against all_logits;
// hidden states against llama.cpp's embeddings; batches of sessions
// (gemmac_pool, gemmac_decode) against each session alone.
// The state case runs again on a Vulkan program where a Vulkan device
// (lavapipe) is present.
import {spawnSync} from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import {fileURLToPath} from "node:url";
import {bin, check, finish, linkWithModel, run, work} from "./harness.mjs";

const here = path.dirname(fileURLToPath(import.meta.url));
const exec = (cmd, argv) => {
    const r = spawnSync(cmd, argv, {encoding: "utf8", timeout: 300000, stdio: ["ignore", "pipe", "pipe"]});
    return {status: r.status, signal: r.signal, out: (r.stdout ?? "") + (r.stderr ?? "")};
};

/// A tiny model compiled with its object kept (for cpu:x86-64-v3, whose
/// kernels compute what the pinned llama.cpp computes, unless `extra` names a
/// --target), and the C program linked with it.
function build(name, seed, extra = [], type = "q8_0", variant = "dense") {
    const gguf = path.join(work, `${name}.gguf`), program = path.join(work, name);
    run(path.join(bin, "gemmac-gen-model"), ["--variant", variant, "--type", type, "--seed", String(seed), "-o", gguf]);
    const target = extra.includes("--target") ? [] : ["--target", "cpu:x86-64-v3"];
    run(path.join(bin, "compile-model"), [gguf, "-o", program, "--quiet", "--keep-object", ...target, ...extra]);
    return {capi: linkWithModel(program, "capi_session.c", "capi"), weights: `${program}.weights`, gguf};
}

/// Runs a case; passes when it exits 0 (every check inside held).
function runCase(prog, args, what) {
    const r = exec(prog.capi, [prog.weights, ...args]);
    process.stdout.write(r.out.replace(/^/gm, "    "));
    check(r.status === 0 && r.signal === null, `${what}: exit ${r.status}${r.signal ? ` signal ${r.signal}` : ""}`);
    return r;
}

const m = build("m", 1), other = build("other", 7);
const state = path.join(work, "m.state");
runCase(m, ["state", state], "state saved, restored, continued");
runCase(m, ["cancel"], "cancel from another thread");
runCase(m, ["outputs"], "eval_outputs");
// Batches of up to 32 sessions against each session alone: rings (window 16
// in a context of 96), K=V global layers (dense), shared KV and per-layer
// inputs (e2b), experts (moe), an E4M3 cache.
runCase(m, ["batch"], "batched sessions: dense q8_0");
for (const [variant, type, extra] of [["e2b", "q4_0", []], ["moe", "q4_0", []], ["dense", "q4_k", ["--kv-cache", "f8"]]])
    runCase(build(`batch-${variant}-${type}`, 5, extra, type, variant), ["batch"],
        `batched sessions: ${variant} ${type} ${extra.join(" ")}`);

// Damaged copies of a good state file, and another model's.
const good = fs.readFileSync(state);
const damaged = (name, bytes) => {
    const file = path.join(work, name);
    fs.writeFileSync(file, bytes);
    return file;
};
runCase(m, ["load", damaged("truncated.state", good.subarray(0, good.length >> 1)), "(truncated)"],
    "a truncated state file");
const flipped = Buffer.from(good);
flipped[good.length - 100] ^= 0x04; // in the KV cache
runCase(m, ["load", damaged("flipped.state", flipped), "damaged state"], "a state file with one flipped bit");
const magic = Buffer.from(good);
magic.write("XXXX", 0);
runCase(m, ["load", damaged("magic.state", magic), "not a gemmac session state"], "a file that is no state");
const otherState = path.join(work, "other.state");
runCase(other, ["state", otherState], "the other model's state");
runCase(m, ["load", otherState, "saved for another model"], "another model's state file");
check(fs.readdirSync(work).every((f) => !f.includes(".tmp-")), "no temporary file left behind");

// Hidden states against llama.cpp's embedding of the same tokens (without
// pooling: the output norm's result, the output projection's input),
// relative to the largest |h| (measured: 1.3e-2 for q8_0, 1.0e-3 for f32;
// another tensor, such as the residual before the norm, is off by O(1)).
const floats = (file) => {
    const b = fs.readFileSync(file);
    return new Float32Array(b.buffer, b.byteOffset, b.length / 4);
};
for (const [prog, type, tolerance] of [[m, "q8_0", 5e-2], [build("f", 3, [], "f32"), "f32", 5e-3]]) {
    const ours = path.join(work, `hidden-${type}.bin`), ref = path.join(work, `hidden-${type}-llama.bin`);
    runCase(prog, ["hidden", ours], `hidden states (${type})`);
    run("node", [path.join(here, "../../tools/oracle/llama-oracle.mjs"), prog.gguf, "--tokens",
        fs.readFileSync(`${ours}.tokens`, "utf8"), "--embedding", ref]);
    const a = floats(ours), b = floats(ref);
    let maxRef = 0, maxDiff = 0;
    for (let i = 0; i < b.length; i++) {
        maxRef = Math.max(maxRef, Math.abs(b[i]));
        maxDiff = Math.max(maxDiff, Math.abs(a[i] - b[i]));
    }
    const rel = maxDiff / maxRef;
    check(a.length === b.length && a.length > 0 && rel <= tolerance,
        `hidden state (${type}) vs llama.cpp's embedding: ${a.length} vs ${b.length} floats, ` +
        `max |diff| / max |h| ${rel.toExponential(2)} (tolerance ${tolerance})`);
}

// GPU programs: the session state goes through the device, and a pool's
// sequences share device steps. Vulkan runs on lavapipe without a GPU
// (whose steps are slow: pools of up to 3, a prompt arriving beside
// decoding rows); CUDA is skipped without an NVIDIA driver and device.
for (const [api, name, noDevice, maxSeq] of [
    ["vulkan", "Vulkan", /vulkan|Vulkan/, "3"],
    ["cuda", "CUDA", /CUDA/, "32"]]) {
    let prog = null;
    try {
        prog = build(api, 1, ["--target", api]);
    } catch (e) {
        check(false, `building the ${name} program: ${e.message}`);
        continue;
    }
    const probe = exec(prog.capi, [prog.weights, "device"]);
    if (/FAIL open/.test(probe.out) && noDevice.test(probe.out)) {
        console.log(`skip ${name}: no usable device (${probe.out.trim().split("\n").pop()})`);
        continue;
    }
    runCase(prog, ["state", path.join(work, `${api}.state`)], `${name}: state saved, restored, continued`);
    runCase(prog, ["load", state, "saved for another model"], `${name}: the CPU program's state refused`);
    runCase(prog, ["outputs"], `${name}: eval_outputs, hidden states refused`);
    runCase(prog, ["batch", maxSeq], `${name}: batched sessions in shared device steps`);
}
finish();
