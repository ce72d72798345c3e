// Hostile arguments to a compiled program, its C API and gemmac-gen-model:
// every bad value is refused with its flag (or file) named and the exit code
// of its kind (2: a usage error, 1: a failure while running), never a signal
// or a silent wrap; limits (context, vocabulary, memory, threads) are said
// with their numbers; a truncated, damaged or other compile's weight file is
// refused (abi/weights_checksum.h says what is checked).
import {spawnSync} from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import {fileURLToPath} from "node:url";
import {bin, check, finish, run, work} from "./harness.mjs";

const here = path.dirname(fileURLToPath(import.meta.url));
const gen = path.join(bin, "gemmac-gen-model");

const exec = (cmd, argv) => {
    const r = spawnSync(cmd, argv, {encoding: "utf8", timeout: 120000, stdio: ["ignore", "pipe", "pipe"]});
    return {status: r.status, signal: r.signal, out: r.stdout ?? "", err: r.stderr ?? ""};
};
const sh = (script) => exec("sh", ["-c", script]);
const lastLine = (s) => JSON.stringify(s.trim().split("\n").pop() ?? "");

/// `r` ended with exit `code` (no signal) and stderr holding every string of
/// `has` (a RegExp is matched).
function expect(r, code, has, what) {
    const missing = has.filter((h) => !(h instanceof RegExp ? h.test(r.err) : r.err.includes(h)));
    const ok = r.signal === null && r.status === code && missing.length === 0;
    check(ok, `${what}: exit ${r.status}${r.signal ? ` signal ${r.signal}` : ""}, ${lastLine(r.err)}` +
        (missing.length ? ` (missing ${missing.join(" | ")})` : ""));
}

// Two compiles of the same shapes, other weights (seeds 1 and 7).
function build(name, seed, extra = []) {
    const gguf = path.join(work, `${name}.gguf`), program = path.join(work, name);
    run(gen, ["--variant", "dense", "--type", "q8_0", "--seed", String(seed), "-o", gguf]);
    run(path.join(bin, "compile-model"), [gguf, "-o", program, "--quiet", ...extra]);
    return program;
}
const prog = build("m", 1, ["--keep-object"]);
const other = build("other", 7);
const vocab = JSON.parse(run(prog, ["info", "--json"])).vocab;

// 1. Numbers: strict, ranged, the flag, the value and the range named.
const usage = [
    [["run", "-p", "hi", "--ctx", "3000000000"], ["--ctx", "3000000000", "between 1 and 2147483647"]],
    [["run", "-p", "hi", "--ctx", "-5"], ["--ctx", "-5", "between 1 and"]],
    [["run", "-p", "hi", "--ctx", " 5"], ["--ctx", "expects an integer"]],
    [["run", "-p", "hi", "--ctx", "+5"], ["--ctx", "expects an integer"]],
    [["run", "-p", "hi", "--ctx", "5x"], ["--ctx", "'5x'"]],
    [["run", "-p", "hi", "--ctx", "99999999999999999999999"], ["--ctx", "between 1 and 2147483647"]],
    [["run", "-p", "hi", "-n", "-5"], ["-n", "-5", "between -1 and 2147483647"]],
    [["run", "-p", "hi", "--top-k", "5000000000"], ["--top-k", "5000000000", "between 0 and 2147483647"]],
    [["run", "-p", "hi", "--temp", "-1"], ["--temp", "between 0 and 100"]],
    [["run", "-p", "hi", "--temp", "nan"], ["--temp", "'nan'"]],
    [["run", "-p", "hi", "--temp", "1e99"], ["--temp", "between 0 and 100"]],
    [["run", "-p", "hi", "--top-p", "2"], ["--top-p", "between 0 and 1"]],
    [["run", "-p", "hi", "--min-p", "-1"], ["--min-p", "between 0 and 1"]],
    [["run", "-p", "hi", "--repeat-penalty", "0"], ["--repeat-penalty", "between 0.01 and 100"]],
    [["run", "-p", "hi", "--repeat-last-n", "-2"], ["--repeat-last-n", "between -1 and"]],
    [["run", "-p", "hi", "--presence-penalty", "1000"], ["--presence-penalty", "between -100 and 100"]],
    [["run", "-p", "hi", "--frequency-penalty", "-1000"], ["--frequency-penalty", "between -100 and 100"]],
    [["run", "-p", "hi", "--seed", "-5"], ["--seed", "'-5'", "18446744073709551615"]],
    [["run", "-p", "hi", "--seed", "99999999999999999999"], ["--seed", "'99999999999999999999'"]],
    [["run", "-p", "hi", "--threads", "5000000000"], ["--threads", "between 0 and 1024"]],
    [["run", "-p", "hi", "--threads", "100000"], ["--threads", "100000", "between 0 and 1024"]],
    [["eval", "--tokens", "4294967298"], ["--tokens", "index 0", "4294967298", "between 0 and 2147483647"]],
    [["eval", "--tokens", "1,4294967298"], ["--tokens", "index 1"]],
    [["eval", "--tokens", "1,,2"], ["--tokens", "index 1"]],
    [["eval", "--tokens", "1,2", "--batch", "4294967297"], ["--batch", "4294967297", "between 1 and"]],
    [["eval", "--tokens", `1,${vocab}`], ["--tokens", `id ${vocab} at index 1`, `0 to ${vocab - 1}`]],
    [["bench", "-p", "99999999999999999999"], ["-p", "between 1 and 16777216"]],
    [["bench", "-p", "0"], ["-p", "between 1 and 16777216"]],
    [["bench", "-p", "8", "-n", "2147483647"], ["-n 2147483647", "at most 2147483647"]],
    [["run", "-p", "hi", "--temp", "1e-400", "--top-p", "1e999"], ["--top-p", "between 0 and 1"]],
    [["serve", "--port", "70000"], ["--port", "between 0 and 65535"]],
    [["serve", "-np", "0"], ["-np", "between 1 and 256"]],
    [["serve", "-np", "2,4"], ["one -np N"]],
    [["bench", "--parallel", "1,,2"], ["--parallel", "between 1 and 256"]],
    [["bench", "--parallel", "257"], ["--parallel", "between 1 and 256"]],
    [["bench", "--parallel", "256", "-p", "100000"], ["exceed 16777216"]],
    // 2. Arguments: text is one argument; other commands take none.
    [["tokenize", "hello", "world"], ["one TEXT argument", "quote", "\"hello world\""]],
    [["run", "-p", "hi", "extra"], ["'extra'", "besides -p"]],
    [["info", "extra"], ["'info' takes no argument", "'extra'"]],
];
for (const [argv, has] of usage)
    expect(exec(prog, argv), 2, has, argv.join(" "));

// 3. Threads: the default follows the affinity mask; too many are cut to 4
// per usable CPU; a thread the system refuses is an error, not an abort.
if (exec("taskset", ["-c", "0", "true"]).status === 0) {
    const one = exec("taskset", ["-c", "0", prog, "info", "--json"]);
    check(one.status === 0 && JSON.parse(one.out).threads === 1,
        `taskset -c 0: default threads ${one.status === 0 ? JSON.parse(one.out).threads : one.err}`);
    const cut = exec("taskset", ["-c", "0", prog, "info", "--json", "-t", "1000"]);
    check(cut.status === 0 && JSON.parse(cut.out).threads === 4 && cut.err.includes("--threads 1000"),
        `taskset -c 0, -t 1000: ${cut.status === 0 ? JSON.parse(cut.out).threads : "?"} threads, ${lastLine(cut.err)}`);
    // Stacks of 1.9 GiB in 2.9 GiB of address space: the second worker fails.
    const r = sh(`ulimit -s 2000000 && ulimit -v 3000000 || exit 77; exec taskset -c 0 ${prog} info -t 4`);
    if (r.status === 77) console.log("skip thread creation failure (ulimit refused)");
    else expect(r, 1, ["cannot start worker thread", "fewer threads"], "info -t 4 with 1.9 GiB stacks");
} else {
    console.log("skip taskset cases (no taskset)");
}

// 4. Context and vocabulary limits.
expect(exec(prog, ["run", "-p", "hello hello hello hello", "--ctx", "4", "-n", "1"]), 1,
    [/the prompt \(\d+ tokens/, "context of 4 tokens", "--ctx"], "prompt longer than --ctx 4");
const full = exec(prog, ["run", "-p", "hi", "--ctx", "8", "-n", "100", "--temp", "0"]);
expect(full, 0, [/context full \(8 tokens\): stopped after \d+ generated tokens/], "run --ctx 8 -n 100");
expect(exec(prog, ["run", "-p", "hi", "--ctx", "1024", "-n", "1", "--temp", "0"]), 0,
    ["warning: --ctx 1024 is beyond the model's trained context of 512 tokens"], "--ctx beyond the trained context");
expect(sh(`ulimit -v 400000; exec ${prog} run -p hi --ctx 1000000 -n 1`), 1,
    ["--ctx 1000000", /cannot allocate the KV cache of \d+ bytes/], "ulimit -v 400000, --ctx 1000000");
// 12 MB of address space: the program starts, its 8 MB of weights do not map.
expect(sh(`ulimit -v 12000; exec ${prog} info -t 1`), 1,
    [`${prog}.weights`, `cannot map the weight file (${fs.statSync(`${prog}.weights`).size} bytes)`],
    "ulimit -v 12000: the weights do not fit");

// 5. The weight file: size, sampled checksum, and the program's stamp.
const weights = fs.readFileSync(`${prog}.weights`);
const trunc = path.join(work, "truncated.weights"), flip = path.join(work, "flipped.weights");
fs.writeFileSync(trunc, weights.subarray(0, weights.length - 100));
expect(exec(prog, ["run", "-p", "hi", "-n", "1", "--weights", trunc]), 1,
    [trunc, "truncated", `${weights.length - 100} bytes`, `says ${weights.length}`, "recompile"],
    "a truncated weight file");
const longer = path.join(work, "longer.weights");
fs.writeFileSync(longer, Buffer.concat([weights, Buffer.from([0])]));
expect(exec(prog, ["run", "-p", "hi", "-n", "1", "--weights", longer]), 1,
    [longer, `${weights.length + 1} bytes`], "a weight file with a byte appended");
// One byte inside window 32 of 64 (the middle of the weights).
const flipped = Buffer.from(weights);
const at = Math.floor(32 * (weights.length - 4096) / 63) + 100;
flipped[at] ^= 0x01;
fs.writeFileSync(flip, flipped);
expect(exec(prog, ["run", "-p", "hi", "-n", "1", "--weights", flip]), 1,
    [flip, "damaged weight file: checksum", "recompile"], `one flipped byte at ${at}`);
expect(exec(prog, ["run", "-p", "hi", "-n", "1", "--weights", `${other}.weights`]), 1,
    [`${other}.weights`, "another compile"], "the weight file of another compile");
expect(exec(other, ["run", "-p", "hi", "-n", "1"]), 0, [], "that compile with its own weight file");

// 6. gemmac-gen-model names what is wrong.
const x = path.join(work, "x.gguf");
expect(exec(gen, ["--variant", "bogus", "--type", "q8_0", "-o", x]), 2,
    ["unknown variant 'bogus'", "dense, e2b, e4b"], "gen-model --variant bogus");
expect(exec(gen, ["--variant", "dense", "--type", "q9", "-o", x]), 2,
    ["unknown type 'q9'", "q8_0"], "gen-model --type q9");
expect(exec(gen, ["--variant", "dense", "--type", "q8_0", "--layers", "0", "-o", x]), 2,
    ["--layers", "'0'", "between 1 and 256"], "gen-model --layers 0");
expect(exec(gen, ["--variant", "dense", "--type", "q8_0", "--seed", "1x", "-o", x]), 2,
    ["--seed", "'1x'"], "gen-model --seed 1x");

// 7. The C API: a program of our own linked with the model's object.
const archive = path.join(bin, "../lib/libgemmac_runtime.a");
const capi = path.join(work, "capi_limits");
const cc = exec("cc", ["-I", path.join(here, "../.."), "-c", path.join(here, "capi_limits.c"), "-o", `${capi}.o`]);
const ld = cc.status === 0 ? exec("c++", ["-o", capi, `${capi}.o`, `${prog}.o`, archive, "-pthread", "-lm", "-ldl"]) : cc;
if (ld.status !== 0) {
    check(false, `building the C API check: ${ld.err}`);
} else {
    const w = `${prog}.weights`;
    for (const [name, r] of [["threads", exec(capi, [w, "threads"])], ["token", exec(capi, [w, "token"])],
                             ["kv", sh(`ulimit -v 400000; exec ${capi} ${w} kv`)]])
        check(r.status === 0 && r.signal === null, `C API ${name}: exit ${r.status}, ${r.out.trim().replace(/\n/g, "; ")}`);
}

finish();
