// Speculative decoding (issue 19's loop) against plain decoding: the C API
// (capi_speculative.c, linked with compiled models) with scripted drafters
// that exercise every accept length, end tokens inside drafts and rollbacks
// while the rings wrap; greedy and seeded sampling with penalties; models
// compiled with and without --draft-max; and `OUT run --draft-max` printing
// the same tokens as `OUT run`.
import {spawnSync} from "node:child_process";
import path from "node:path";
import {bin, check, finish, linkWithModel, run, work} from "./harness.mjs";

const exec = (cmd, argv) => {
    const r = spawnSync(cmd, argv, {encoding: "utf8", timeout: 300000, stdio: ["ignore", "pipe", "pipe"]});
    return {status: r.status, signal: r.signal, out: (r.stdout ?? "") + (r.stderr ?? ""), stdout: r.stdout ?? "",
            stderr: r.stderr ?? ""};
};

function build(name, variant, type, extra, assistant = false) {
    const gguf = path.join(work, `${name}.gguf`), program = path.join(work, name);
    run(path.join(bin, "gemmac-gen-model"), ["--variant", variant, "--type", type, "-o", gguf]);
    if (assistant) { // compiled in with --draft; "centroid": the HF drafter with its centroid head
        const drafter = path.join(work, `${name}-assistant.gguf`), hf = path.join(work, `${name}-assistant-hf`);
        const centroid = assistant === "centroid";
        run(path.join(bin, "gemmac-gen-model"), ["--variant", "assistant", "--for", variant,
                                                 "--type", centroid ? "bf16" : type, "-o", drafter,
                                                 ...(centroid ? ["--hf", hf, "--centroid-head"] : [])]);
        extra = [...extra, "--draft", centroid ? hf : drafter];
    }
    run(path.join(bin, "compile-model"), [gguf, "-o", program, "--quiet", "--keep-object", ...extra]);
    return {program, capi: linkWithModel(program, "capi_speculative.c", "spec"), weights: `${program}.weights`};
}

function runCase(m, name, what) {
    const r = exec(m.capi, [m.weights, name]);
    process.stdout.write(r.out.replace(/^/gm, "    "));
    check(r.status === 0 && r.signal === null, `${what}: exit ${r.status}${r.signal ? ` signal ${r.signal}` : ""}`);
}

const dense = build("dense-q8_0-d6", "dense", "q8_0", ["--draft-max", "6"]);
for (const c of ["greedy", "sampled", "eog", "truncate", "drafters"])
    runCase(dense, c, `dense q8_0 --draft-max 6: ${c}`);
runCase(build("e2b-q4_0-d3", "e2b", "q4_0", ["--draft-max", "3"]), "greedy", "e2b q4_0 --draft-max 3: greedy");
// The compiled MTP drafter (rings of window + 6 rows: --draft's default).
const mtp = build("e4b-q8_0-mtp", "e4b", "q8_0", [], true);
runCase(mtp, "mtp", "e4b q8_0 --draft: the MTP drafter");
runCase(mtp, "mtp-pool", "e4b q8_0 --draft: sequences of a pool drafting together (gemmac_pool_draft)");
runCase(build("e2b-q8_0-centroid", "e2b", "q8_0", [], "centroid"), "mtp",
        "e2b q8_0 --draft HF drafter with its centroid head: the MTP drafter");
// Without --draft-max the rings roll back one position: drafts of one token.
runCase(build("dense-q4_k-d0", "dense", "q4_k", []), "greedy", "dense q4_k without --draft-max: greedy");

// The program's run command: the same tokens with and without drafting.
const ids = (r) => /generated tokens: ([0-9,]*)/.exec(r.stderr)?.[1];
const prompt = "the cat sat on the mat and the cat sat on the mat and the cat";
const plain = exec(dense.program, ["run", "-p", prompt, "-n", "60", "--temp", "0", "-v"]);
for (const flags of [["--draft-max", "4"], ["--draft-max", "6", "--draft-min", "2", "--draft-adaptive"]]) {
    const spec = exec(dense.program, ["run", "-p", prompt, "-n", "60", "--temp", "0", "-v", ...flags]);
    check(plain.status === 0 && spec.status === 0 && ids(plain) && ids(spec) === ids(plain) &&
          spec.stdout === plain.stdout,
          `run ${flags.join(" ")}: the same ${ids(plain)?.split(",").length} tokens and text as run`);
    check(/speculative \(ngram, draft max \d+\): \d+ steps for 60 tokens/.test(spec.stderr),
          `run ${flags.join(" ")} reports its steps: ${/speculative.*/.exec(spec.stderr)?.[0]}`);
}
// The MTP drafter is run's default drafter where the program has one.
const mtpPlain = exec(mtp.program, ["run", "-p", prompt, "-n", "40", "--temp", "0", "-v"]);
const mtpSpec = exec(mtp.program, ["run", "-p", prompt, "-n", "40", "--temp", "0", "-v", "--draft-max", "3"]);
check(mtpPlain.status === 0 && ids(mtpPlain) && ids(mtpSpec) === ids(mtpPlain) && mtpSpec.stdout === mtpPlain.stdout,
      "run --draft-max 3 with the MTP drafter: the same tokens and text as run");
check(/speculative \(mtp, draft max 3\): \d+ steps for 40 tokens/.test(mtpSpec.stderr),
      `run --draft-max 3 reports the mtp drafter: ${/speculative.*/.exec(mtpSpec.stderr)?.[0]}`);
const noDrafter = exec(dense.program, ["run", "-p", "x", "--draft-max", "2", "--spec-type", "mtp"]);
check(noDrafter.status !== 0 && /no MTP drafter/.test(noDrafter.stderr), "--spec-type mtp without a drafter is refused");
// bench --draft: each speculative run must reproduce plain decoding (the
// bench dies otherwise); with a drafter compiled in, its cost is paid and
// its own acceptance reported.
for (const [m, own] of [[mtp, "mtp"], [dense, "ngram"]]) {
    const r = exec(m.program, ["bench", "-p", "24", "-n", "12", "--draft", "1,2", "--accept", "1.5/2",
                               "--reps", "1", "--json"]);
    let j = null;
    try { j = JSON.parse(r.stdout); } catch { /* checked below */ }
    check(r.status === 0 && j && j.own_drafter === own && j.draft.length === 2 &&
          j.draft.every((d) => d.decode_tok_s > 0 && d.own_drafter.decode_tok_s > 0 &&
                               d.own_drafter.acceptance >= 0 && d.own_drafter.acceptance <= 1 &&
                               (own === "mtp") === (d.draft_cost > 0)),
          `bench --draft 1,2 --json (${own} drafter): ${r.status === 0 ? "rows for k = 1, 2" : r.stderr.trim()}`);
}
// chat through a pipe, two turns (the second continues the kept cache).
const chat = (flags) => spawnSync(dense.program, ["chat", "--temp", "0", "-n", "40", "-v", ...flags],
    {encoding: "utf8", input: "hello there\nand again, hello there\n", timeout: 300000});
const chatPlain = chat([]), chatSpec = chat(["--draft-max", "4"]);
check(chatPlain.status === 0 && chatSpec.status === 0 && chatSpec.stdout === chatPlain.stdout &&
      chatPlain.stdout.trim().length > 0,
      "chat --draft-max 4: the same two answers as chat");
check(/\[turn 2: \d+ steps, \d+ drafted, \d+ accepted\]/.test(chatSpec.stderr),
      `chat -v reports each turn's steps: ${/\[turn 2: \d+ steps.*\]/.exec(chatSpec.stderr)?.[0]}`);
const bad = exec(dense.program, ["run", "-p", "x", "--draft-max", "2", "--draft-min", "3"]);
check(bad.status === 2 && /--draft-min 3 is more than --draft-max 2/.test(bad.stderr), "--draft-min above --draft-max is refused");
const badType = exec(dense.program, ["run", "-p", "x", "--draft-max", "2", "--spec-type", "eagle"]);
check(badType.status === 2 && /--spec-type expects mtp or ngram, got 'eagle'/.test(badType.stderr), "an unknown --spec-type is refused");
finish();
