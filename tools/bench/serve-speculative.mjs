// Speculative decoding through `OUT serve`, one client: decode tokens/s of a
// plain request and of requests drafting k tokens per step, at a chosen
// acceptance. As `OUT bench --draft`, a scripted drafter proposes the model's
// own greedy continuation (the plain answer's token ids, sent as the
// request's "speculative.script"; the server runs with --draft-script), each
// token right with probability p until the first wrong one, p set so that
// --accept MEAN/OF tokens of OF are accepted on average. With an MTP drafter
// compiled in, the server runs it for k steps before the script replaces its
// tokens, so its cost is paid. Every speculative answer must equal the plain
// one (the tool fails otherwise). Decode rate: the tokens after the first
// over the time after the first (the server's timings.predicted_*). Medians
// of --reps rounds, each round plain then every k.
//
//   node tools/bench/serve-speculative.mjs --program OUT [-p 128] [-n 96]
//        [--draft 1,2,3,4,6] [--accept 3.5/6] [--reps 3] [--threads N] [--port P]
import {spawn} from "node:child_process";
import os from "node:os";

const args = process.argv.slice(2);
const opt = (name, dflt) => {
    const i = args.indexOf(name);
    return i >= 0 ? args[i + 1] : dflt;
};
const program = opt("--program");
if (!program) {
    console.error("usage: serve-speculative.mjs --program OUT [-p 128] [-n 96] [--draft 1,2,3,4,6] " +
                  "[--accept 3.5/6] [--reps 3] [--threads N] [--port P]");
    process.exit(2);
}
const p = Number(opt("-p", 128)), n = Number(opt("-n", 96)), reps = Number(opt("--reps", 3));
const ks = String(opt("--draft", "1,2,3,4,6")).split(",").map(Number);
const [acceptMean, acceptOf] = String(opt("--accept", "3.5/6")).split("/").map(Number);
const threads = String(opt("--threads", os.cpus().length)), port = Number(opt("--port", 18640));
if (!(p > 0 && n > 1 && reps > 0 && ks.every((k) => k >= 1 && k <= 64) &&
      acceptMean > 0 && acceptOf >= acceptMean)) {
    console.error("serve-speculative.mjs: bad -p, -n, --reps, --draft or --accept");
    process.exit(2);
}

/// p with p + p^2 + ... + p^of = mean (as OUT bench --accept).
function acceptRate(mean, of) {
    let lo = 0, hi = 1;
    for (let i = 0; i < 60; ++i) {
        const q = 0.5 * (lo + hi);
        let sum = 0, pk = 1;
        for (let k = 0; k < of; ++k)
            sum += pk *= q;
        if (sum < mean) lo = q; else hi = q;
    }
    return 0.5 * (lo + hi);
}
const acceptP = acceptRate(acceptMean, acceptOf);

const words = "the quick brown fox jumps over the lazy dog while the compiler reads the model".split(" ");
const prompt = Array.from({length: p}, (_, i) => words[i % words.length]).join(" ");
const kMax = Math.max(...ks);
const server = spawn(program, ["serve", "--port", String(port), "-np", "1", "--ctx", String(2 * (p + n) + 64),
                               "--threads", threads, "--draft-max", String(kMax), "--draft-script"],
                     {stdio: ["ignore", "ignore", "pipe"]});
let log = "";
server.stderr.on("data", (d) => { log += d; });
const stop = () => server.kill("SIGTERM");
process.on("exit", stop);

async function ready() {
    for (let i = 0; i < 1200; i++) {
        try {
            if ((await fetch(`http://127.0.0.1:${port}/health`)).status === 200)
                return;
        } catch {}
        if (server.exitCode !== null)
            throw new Error(`the server exited: ${log}`);
        await new Promise((r) => setTimeout(r, 500));
    }
    throw new Error(`the server did not start: ${log}`);
}

async function complete(extra) {
    const r = await fetch(`http://127.0.0.1:${port}/v1/completions`, {method: "POST",
        headers: {"Content-Type": "application/json"},
        body: JSON.stringify({prompt, max_tokens: n, temperature: 0, logprobs: 1, ...extra})});
    const j = await r.json();
    if (r.status !== 200)
        throw new Error(`HTTP ${r.status}: ${JSON.stringify(j)}`);
    const t = j.usage.timings;
    return {text: j.choices[0].text, ids: j.choices[0].logprobs.content.map((c) => c.id),
            rate: (t.predicted_n - 1) / (t.predicted_ms / 1e3),
            drafted: t.draft_n ?? 0, accepted: t.draft_n_accepted ?? 0};
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
try {
    await ready();
    const drafter = /MTP drafts/.test(log) ? "the MTP drafter's k steps run first (cost paid)" : "n-gram lookup runs first";
    const plain = [], spec = new Map(ks.map((k) => [k, {rate: [], acceptance: []}]));
    let reference = null;
    for (let rep = 0; rep < reps; rep++) {
        const base = await complete({"speculative.n_max": 0});
        if (base.ids.length !== n)
            throw new Error(`the plain answer has ${base.ids.length} tokens, not ${n} (an end token): use another -p`);
        reference ??= base;
        if (base.text !== reference.text)
            throw new Error("two plain answers differ");
        plain.push(base.rate);
        for (const k of ks) {
            const r = await complete({"speculative.n_max": k,
                                      "speculative.script": {tokens: reference.ids, accept: acceptP}});
            if (r.text !== reference.text)
                throw new Error(`k = ${k}: the speculative answer differs from the plain one`);
            spec.get(k).rate.push(r.rate);
            spec.get(k).acceptance.push(r.drafted ? r.accepted / r.drafted : 0);
        }
    }
    const base = median(plain);
    console.log(`serve, one client, ${threads} threads, ${p}-word prompt, ${n} tokens, medians of ${reps}; ` +
                `scripted drafts of the greedy continuation, each token right with p = ${acceptP.toFixed(3)} ` +
                `(${acceptMean} of ${acceptOf} accepted on average); ${drafter}`);
    console.log("| k | decode tok/s | speedup | acceptance |\n|---|---|---|---|");
    console.log(`| plain | ${base.toFixed(2)} | 1.00x | |`);
    for (const k of ks) {
        const s = spec.get(k), rate = median(s.rate);
        console.log(`| ${k} | ${rate.toFixed(2)} | ${(rate / base).toFixed(2)}x | ${median(s.acceptance).toFixed(2)} |`);
    }
} catch (e) {
    console.error(`serve-speculative.mjs: ${e.message}\n${log}`);
    process.exitCode = 1;
} finally {
    stop();
}
