// `OUT serve` batching every slot into one forward step: requests sent at
// once to servers with 8 and 32 slots (staggered, so prompts arrive while
// others decode; a budget of 16 rows per step, so prompts are cut into
// chunks beside the decoding rows) must answer exactly as a one-slot server
// answers them one after the other: the same tokens, text, log-probabilities
// (the logits bit for bit) and finish reasons, greedy and seeded sampling.
// So must servers that decode speculatively (--draft-max: each slot's next
// token and an n-gram draft verified in the shared step, rolled back past
// the rings' window), whose answers also report the drafted tokens.
//
//   node test/cli/serve-batch.mjs --bin build/bin --work DIR
import path from "node:path";
import {bin, check, compileModel, finish, run, startServer, work} from "./harness.mjs";

const {program} = compileModel("serve-batch", {variant: "dense", chatTemplate: null});
// The same model with rings that keep 6 rows beyond the window, and with an
// MTP drafter compiled in (random weights: it drafts, and is rarely right).
const {program: drafting} = compileModel("serve-batch-d6", {variant: "dense", chatTemplate: null,
                                                            compileArgs: ["--draft-max", "6"]});
const assistant = path.join(work, "serve-batch-assistant.gguf");
run(path.join(bin, "gemmac-gen-model"), ["--variant", "assistant", "--for", "dense", "--type", "q8_0",
                                         "-o", assistant]);
const {program: mtp} = compileModel("serve-batch-mtp", {variant: "dense", chatTemplate: null,
                                                        compileArgs: ["--draft", assistant]});
const words = "the quick brown fox jumps over the lazy dog while a compiler reads".split(" ");

/// Request i: its own prompt (3 to 60 words), greedy or seeded sampling.
const request = (i) => ({
    model: "m",
    prompt: Array.from({length: 3 + (i * 17) % 58}, (_, k) => words[(k * 5 + i) % words.length]).join(" "),
    max_tokens: 12 + (i % 5) * 4,
    temperature: i % 2 ? 0.9 : 0,
    seed: 100 + i,
    logprobs: 2,
});

async function post(port, body) {
    const r = await fetch(`http://127.0.0.1:${port}/v1/completions`, {
        method: "POST", headers: {"Content-Type": "application/json"}, body: JSON.stringify(body)});
    return {status: r.status, j: await r.json()};
}
async function complete(port, body, timings = null) {
    const {status, j} = await post(port, body);
    if (status !== 200)
        throw new Error(`HTTP ${status}: ${JSON.stringify(j)}`);
    if (timings)
        Object.assign(timings, j.usage.timings);
    const c = j.choices[0];
    drafts.n += j.usage.timings.draft_n ?? 0;
    drafts.accepted += j.usage.timings.draft_n_accepted ?? 0;
    return JSON.stringify({text: c.text, finish: c.finish_reason, logprobs: c.logprobs,
                           tokens: j.usage.completion_tokens});
}
const drafts = {n: 0, accepted: 0};

const N = 32;
const one = await startServer(program, ["-np", "1", "--ctx", "256", "--threads", "1"]);
const alone = [];
try {
    for (let i = 0; i < N; i++)
        alone.push(await complete(one.port, request(i)));
} finally {
    one.server.kill("SIGTERM");
}

const configs = [
    {slots: 8, program, flags: []},
    {slots: 32, program, flags: []},
    // Speculative: every slot drafts in the shared steps.
    {slots: 8, program: drafting, flags: ["--draft-max", "6", "--draft-adaptive"]},
    {slots: 32, program: drafting, flags: ["--draft-max", "3"]},
    // Without the compiled spare rows a draft is cut to 1 token.
    {slots: 4, program, flags: ["--draft-max", "4"]},
    // The compiled MTP drafter (the default drafter of such a program).
    {slots: 8, program: mtp, flags: ["--draft-max", "3"], mtp: true},
];
for (const {slots, program: prog, flags, mtp: byMTP} of configs) {
    const name = `-np ${slots}${flags.length ? " " + flags.join(" ") : ""}`;
    const srv = await startServer(prog, ["-np", String(slots), "-b", "16", "--ctx", "256",
        "--threads", "1", "--queue", String(N), ...flags]);
    drafts.n = drafts.accepted = 0;
    try {
        const answers = await Promise.all(Array.from({length: N}, (_, i) =>
            new Promise((r) => setTimeout(r, 15 * i)).then(() => complete(srv.port, request(i)))));
        const differ = answers.map((a, i) => (a === alone[i] ? -1 : i)).filter((i) => i >= 0);
        check(differ.length === 0,
              `${name}: ${N} concurrent requests answer as one slot answers them in turn` +
              (differ.length ? ` (requests ${differ.join(", ")} differ; first: ${answers[differ[0]]} vs ${alone[differ[0]]})` : ""));
        check(/up to 16 rows per step/.test(srv.log()), `${name}: the server reports its step budget`);
        if (flags.length) {
            check(drafts.n > 0 && (byMTP || drafts.accepted > 0) && drafts.accepted <= drafts.n,
                  `${name}: the answers report drafted and accepted tokens (${drafts.accepted} of ${drafts.n})`);
            check(new RegExp(`speculative decoding: ${byMTP ? "MTP" : "n-gram"} drafts`).test(srv.log()),
                  `${name}: the server says which drafter it runs`);
            // A request can turn drafting off, and cannot ask for more than the server.
            drafts.n = 0;
            const off = await complete(srv.port, {...request(3), "speculative.n_max": 0});
            check(off === alone[3] && drafts.n === 0, `${name}: speculative.n_max 0 answers undrafted`);
            const r = await fetch(`http://127.0.0.1:${srv.port}/v1/completions`, {
                method: "POST", headers: {"Content-Type": "application/json"},
                body: JSON.stringify({...request(3), "speculative.n_max": 65})});
            const body = await r.json();
            check(r.status === 400 && /speculative\.n_max/.test(body.error?.message ?? ""),
                  `${name}: speculative.n_max above the server's --draft-max is a 400 naming it`);
            const scripted = await post(srv.port, {...request(3), "speculative.script": {tokens: [5], accept: 1}});
            check(scripted.status === 400 && /--draft-script/.test(scripted.j.error?.message ?? ""),
                  `${name}: speculative.script without --draft-script is a 400 naming it`);
        } else {
            check(drafts.n === 0, `${name}: nothing drafted without --draft-max`);
        }
    } finally {
        srv.server.kill("SIGTERM");
    }
}

// serve --draft-script (the benchmark's scripted drafter): each request
// drafts its own greedy continuation (the one-slot answer's token ids), each
// token right with probability `accept` until the first wrong one, after the
// MTP drafter's own steps. The answers stay the one-slot answers; accept 1
// keeps every drafted token, accept 0 none.
{
    const continuation = alone.map((a) => JSON.parse(a).logprobs.content.map((t) => t.id));
    const accepts = [1, 0, 0.7, 0.4];
    const srv = await startServer(mtp, ["-np", "8", "-b", "16", "--ctx", "256", "--threads", "1",
        "--queue", String(N), "--draft-max", "3", "--draft-script"]);
    try {
        const timings = Array.from({length: N}, () => ({}));
        const answers = await Promise.all(Array.from({length: N}, (_, i) =>
            new Promise((r) => setTimeout(r, 15 * i)).then(() => complete(srv.port, {...request(i),
                "speculative.script": {tokens: continuation[i], accept: accepts[i % 4]}}, timings[i]))));
        const differ = answers.map((a, i) => (a === alone[i] ? -1 : i)).filter((i) => i >= 0);
        check(differ.length === 0, `--draft-script: ${N} scripted requests answer as one slot answers them` +
              (differ.length ? ` (requests ${differ.join(", ")} differ)` : ""));
        const kept = (i) => `${timings[i].draft_n_accepted ?? 0} of ${timings[i].draft_n ?? 0}`;
        const all = [...Array(N).keys()].filter((i) => accepts[i % 4] === 1 &&
                                                   JSON.parse(alone[i]).finish === "length");
        check(all.length > 0 && all.every((i) => timings[i].draft_n > 0 &&
                                          timings[i].draft_n_accepted === timings[i].draft_n),
              `--draft-script: accept 1 keeps every drafted token (${all.map(kept).join(", ")})`);
        const none = [...Array(N).keys()].filter((i) => accepts[i % 4] === 0);
        check(none.every((i) => timings[i].draft_n > 0 && (timings[i].draft_n_accepted ?? 0) === 0),
              `--draft-script: accept 0 keeps none (${none.map(kept).join(", ")})`);
        const some = [...Array(N).keys()].filter((i) => accepts[i % 4] === 0.7);
        const [a, d] = some.reduce(([a, d], i) => [a + (timings[i].draft_n_accepted ?? 0), d + timings[i].draft_n], [0, 0]);
        check(a > 0 && a < d, `--draft-script: accept 0.7 keeps some (${a} of ${d})`);
        for (const [script, what] of [[{tokens: [1 << 20], accept: 1}, "token id"],
                                      [{tokens: [5], accept: 2}, "accept"],
                                      [[5, 6], "object"]]) {
            const r = await post(srv.port, {...request(0), "speculative.script": script});
            check(r.status === 400 && /speculative\.script/.test(r.j.error?.message ?? ""),
                  `--draft-script: a script with a bad ${what} is a 400 (${r.j.error?.message})`);
        }
    } finally {
        srv.server.kill("SIGTERM");
    }
}
finish();
