// The compiled program's tokenizer against llama.cpp's on the same GGUF.
//
//   node tools/parity/tokenizer-parity.mjs --bin build/bin [--work DIR] [--hf]
//
// --hf compiles the Hugging Face checkpoint (tokenizer.json,
// tokenizer_config.json) gemmac-gen-model writes beside the GGUF, which
// holds the tokenizer llama.cpp's converter would make of it.
import {execFileSync} from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import {fileURLToPath} from "node:url";

const here = path.dirname(fileURLToPath(import.meta.url));
const args = process.argv.slice(2);
const opt = (name, dflt) => {
    const i = args.indexOf(name);
    return i >= 0 ? args[i + 1] : dflt;
};
const bin = opt("--bin", "build/bin");
const work = opt("--work", fs.mkdtempSync("/tmp/gemmac-tok-"));
fs.mkdirSync(work, {recursive: true});
const run = (cmd, argv) => execFileSync(cmd, argv, {stdio: ["ignore", "pipe", "inherit"]}).toString().trim();

const gguf = path.join(work, "tok.gguf"), program = path.join(work, "tok");
const hfDir = args.includes("--hf") ? path.join(work, "hf") : null;
run(path.join(bin, "gemmac-gen-model"), ["--variant", "e2b", "--type", hfDir ? "bf16" : "q8_0",
    "-o", gguf, ...(hfDir ? ["--hf", hfDir] : [])]);
run(path.join(bin, "compile-model"), [hfDir ?? gguf, "-o", program, "--quiet"]);

const texts = [
    "Hello world!",
    "The quick brown fox jumps over the lazy dog.",
    "  two leading spaces and  double  spaces",
    "trailing space ",
    "tabs\tand\nnew\nlines\n\n\nthree",
    "\n\n",
    "<|turn>user\nWhat is the weather like?<turn|>\n<|turn>model\n",
    "<|\"|>quoted<|\"|> and <|tool_call>call:f{}<tool_call|>",
    "héllo wörld — 你好 🙂",
    "numbers 12345 and 3.14159",
    "def main():\n    return 0\n",
    "<bos> written in text, <eos> too",
    "x",
];
let failed = 0;
for (const text of texts) {
    const ours = run(program, ["tokenize", "--ids", "-p", text]);
    const theirs = run("node", [path.join(here, "../oracle/llama-oracle.mjs"), gguf, "--tokenize", text]);
    const expected = ["2", ...(theirs ? theirs.split(",") : [])].join(",");
    const ok = ours === expected;
    if (!ok) failed++;
    console.log(`${ok ? "ok  " : "FAIL"} ${JSON.stringify(text)}${ok ? "" : `\n     ours:      ${ours}\n     llama.cpp: ${expected}`}`);
}
console.log(`${texts.length - failed}/${texts.length} strings tokenize identically`);
process.exit(failed ? 1 : 0);
