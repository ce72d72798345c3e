// `OUT serve` batching every slot into one forward step: requests sent at
// once to servers with 8 and 32 slots (staggered, so prompts arrive while
// others decode; a budget of 16 rows per step, so prompts are cut into
// chunks beside the decoding rows) must answer exactly as a one-slot server
// answers them one after the other: the same tokens, text, log-probabilities
// (the logits bit for bit) and finish reasons, greedy and seeded sampling.
//
//   node test/cli/serve-batch.mjs --bin build/bin --work DIR
import {check, compileModel, finish, startServer} from "./harness.mjs";

const {program} = compileModel("serve-batch", {variant: "dense", chatTemplate: null});
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

async function complete(port, body) {
    const r = await fetch(`http://127.0.0.1:${port}/v1/completions`, {
        method: "POST", headers: {"Content-Type": "application/json"}, body: JSON.stringify(body)});
    const j = await r.json();
    if (r.status !== 200)
        throw new Error(`HTTP ${r.status}: ${JSON.stringify(j)}`);
    const c = j.choices[0];
    return JSON.stringify({text: c.text, finish: c.finish_reason, logprobs: c.logprobs,
                           tokens: j.usage.completion_tokens});
}

const N = 32;
const one = await startServer(program, ["-np", "1", "--ctx", "256", "--threads", "1"]);
const alone = [];
try {
    for (let i = 0; i < N; i++)
        alone.push(await complete(one.port, request(i)));
} finally {
    one.server.kill("SIGTERM");
}

for (const slots of [8, 32]) {
    const srv = await startServer(program, ["-np", String(slots), "-b", "16", "--ctx", "256",
        "--threads", "1", "--queue", String(N)]);
    try {
        const answers = await Promise.all(Array.from({length: N}, (_, i) =>
            new Promise((r) => setTimeout(r, 15 * i)).then(() => complete(srv.port, request(i)))));
        const differ = answers.map((a, i) => (a === alone[i] ? -1 : i)).filter((i) => i >= 0);
        check(differ.length === 0,
              `-np ${slots}: ${N} concurrent requests answer as one slot answers them in turn` +
              (differ.length ? ` (requests ${differ.join(", ")} differ; first: ${answers[differ[0]]} vs ${alone[differ[0]]})` : ""));
        check(/up to 16 rows per step/.test(srv.log()), `-np ${slots}: the server reports its step budget`);
    } finally {
        srv.server.kill("SIGTERM");
    }
}
finish();
