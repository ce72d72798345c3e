// What the cli.* tests share: their options, running a command, ok/FAIL
// lines, a tiny model compiled with a given chat template, and the reference
// rendering of a chat template (python3-jinja2 in transformers' environment).
import {execFileSync, spawn, spawnSync} from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import {fileURLToPath} from "node:url";

const here = path.dirname(fileURLToPath(import.meta.url));
const args = process.argv.slice(2);

export const opt = (name, dflt) => {
    const i = args.indexOf(name);
    return i >= 0 ? args[i + 1] : dflt;
};
export const bin = opt("--bin", "build/bin");
export const template = opt("--template");
export const work = opt("--work", fs.mkdtempSync("/tmp/gemmac-cli-"));
fs.mkdirSync(work, {recursive: true});

export const run = (cmd, argv) => execFileSync(cmd, argv, {stdio: ["ignore", "pipe", "pipe"]}).toString();

let failures = 0;
export const check = (ok, what) => {
    console.log(`${ok ? "ok  " : "FAIL"} ${what}`);
    if (!ok) failures++;
};
export const finish = () => process.exit(failures ? 1 : 0);

/// Writes a tiny random model (`chat_template` embedded when given),
/// compiles it, and returns {gguf, program}. Programs are compiled for
/// cpu:x86-64-v3 unless compileArgs name a --target: its kernels compute what
/// the pinned llama.cpp (the AVX2 build) computes, which some tests compare.
export function compileModel(name, {variant = "e2b", type = "q8_0", chatTemplate = template,
                                    compileArgs = []} = {}) {
    const gguf = path.join(work, `${name}.gguf`), program = path.join(work, name);
    run(path.join(bin, "gemmac-gen-model"), ["--variant", variant, "--type", type,
        ...(chatTemplate ? ["--chat-template", chatTemplate] : []), "-o", gguf]);
    const target = compileArgs.includes("--target") ? [] : ["--target", "cpu:x86-64-v3"];
    run(path.join(bin, "compile-model"), [gguf, "-o", program, "--quiet", ...target, ...compileArgs]);
    return {gguf, program};
}

/// Compiles the C test program `source` (beside this file) and links it with
/// `program`'s object (compiled with --keep-object) and the static runtime;
/// returns the executable's path, `${program}-${suffix}`.
export function linkWithModel(program, source, suffix) {
    const exe = `${program}-${suffix}`;
    const step = (cmd, argv) => {
        const r = spawnSync(cmd, argv, {encoding: "utf8", stdio: ["ignore", "pipe", "pipe"]});
        if (r.status !== 0)
            throw new Error(`building ${exe}: ${(r.stdout ?? "") + (r.stderr ?? "")}`);
    };
    step("cc", ["-I", path.join(here, "../.."), "-c", path.join(here, source), "-o", `${exe}.o`]);
    step("c++", ["-o", exe, `${exe}.o`, `${program}.o`, path.join(bin, "../lib/libgemmac_runtime.a"),
        "-pthread", "-lm", "-ldl"]);
    return exe;
}

export const renderReference = (context) => {
    const file = path.join(work, "context.json");
    fs.writeFileSync(file, JSON.stringify({bos_token: "<bos>", eos_token: "<eos>", add_generation_prompt: true,
        enable_thinking: false, ...context}));
    return run("/usr/bin/python3", [path.join(here, "../chat/render_jinja2.py"), template, file]);
};

/// llama.cpp's tokens of a text (special tokens parsed), as ids.
export const llamaTokens = (gguf, text) =>
    run("node", [path.join(here, "../../tools/oracle/llama-oracle.mjs"), gguf, "--tokenize", text]).trim().split(",");

/// Starts `PROGRAM serve --port 0 ARGS...`; resolves, once it listens, to
/// {server (the child), port, log() (its stderr so far)}.
export async function startServer(program, args) {
    const server = spawn(program, ["serve", "--port", "0", ...args],
        {stdio: ["ignore", "ignore", "pipe"]});
    let log = "";
    const port = await new Promise((resolve, reject) => {
        server.stderr.on("data", (d) => {
            log += d;
            const m = /listening on http:\/\/[0-9.]+:(\d+)/.exec(log);
            if (m) resolve(Number(m[1]));
        });
        server.on("exit", (code) => reject(new Error(`serve exited with ${code}: ${log}`)));
        setTimeout(() => reject(new Error(`serve did not start: ${log}`)), 30000);
    });
    return {server, port, log: () => log};
}
