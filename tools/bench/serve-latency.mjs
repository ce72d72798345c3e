// Time to first token and inter-token latency through an OpenAI-compatible
// server, one client at a time: gemmac's `OUT serve` and llama-server on the
// same file, in one run. Each request streams /v1/completions (a fixed
// prompt of words, temperature 0, -n tokens); both servers send a chunk per
// generated token (its text may be empty: random weights pick tokens that
// print nothing). TTFT is the time from sending the request to the first
// token's chunk, ITL the mean gap between token chunks after it. Prints the
// median over --reps requests. With --streams K, K other clients stream
// long answers the whole time (the servers get K + 1 slots): TTFT is then a
// new request's while K others decode, ITL its own decode among them.
//
//   node tools/bench/serve-latency.mjs --gemmac OUT --llama-server PATH --model MODEL.gguf
//        [-p 128] [-n 32] [--reps 5] [--threads N] [--ctx 2048] [--streams K]
import {spawn} from "node:child_process";
import os from "node:os";

const args = process.argv.slice(2);
const opt = (name, dflt) => {
    const i = args.indexOf(name);
    return i >= 0 ? args[i + 1] : dflt;
};
const p = Number(opt("-p", 64)), n = Number(opt("-n", 32)), reps = Number(opt("--reps", 5));
const threads = String(opt("--threads", os.cpus().length)), ctx = String(opt("--ctx", 2048));
const streams = Number(opt("--streams", 0));
const words = "the quick brown fox jumps over the lazy dog while the compiler reads the model".split(" ");
const prompt = Array.from({length: p}, (_, i) => words[i % words.length]).join(" ");

async function start(cmd, argv, port) {
    const child = spawn(cmd, argv, {stdio: ["ignore", "ignore", "pipe"]});
    let log = "";
    child.stderr.on("data", (d) => { log += d; });
    for (let i = 0; i < 1200; i++) {
        try {
            const r = await fetch(`http://127.0.0.1:${port}/health`);
            if (r.status === 200) return child;
        } catch {}
        if (child.exitCode !== null) throw new Error(`${cmd} exited: ${log}`);
        await new Promise((r) => setTimeout(r, 500));
    }
    throw new Error(`${cmd} did not start: ${log}`);
}

/// K clients streaming long answers until `stop.done`; resolves once each
/// has received its first token.
async function background(port, k, stop) {
    const started = [];
    for (let i = 0; i < k; i++)
        started.push(new Promise((first) => {
            (async () => {
                while (!stop.done) {
                    const res = await fetch(`http://127.0.0.1:${port}/v1/completions`, {method: "POST",
                        headers: {"Content-Type": "application/json"},
                        body: JSON.stringify({prompt: `${i} ${prompt}`, max_tokens: Number(ctx) >> 1, temperature: 0,
                                              stream: true, cache_prompt: false}),
                        signal: stop.controller.signal}).catch(() => null);
                    if (!res) return;
                    const reader = res.body.getReader();
                    for (;;) {
                        const r = await reader.read().catch(() => ({done: true}));
                        if (r.done || stop.done) break;
                        first();
                    }
                }
            })();
        }));
    await Promise.all(started);
}

async function measure(port) {
    const stop = {done: false, controller: new AbortController()};
    if (streams > 0) await background(port, streams, stop);
    try {
        return await measureOne(port);
    } finally {
        stop.done = true;
        stop.controller.abort();
    }
}

async function measureOne(port) {
    const ttft = [], itl = [], tokens = [], prompts = [];
    for (let r = 0; r <= reps; r++) { // the first request warms up
        const t0 = performance.now();
        const res = await fetch(`http://127.0.0.1:${port}/v1/completions`, {method: "POST",
            headers: {"Content-Type": "application/json"},
            body: JSON.stringify({prompt, max_tokens: n, temperature: 0, stream: true, cache_prompt: false,
                                  stream_options: {include_usage: true}})});
        const reader = res.body.getReader();
        const times = [];
        let promptTokens = 0;
        let buf = "";
        for (;;) {
            const {done, value} = await reader.read();
            if (done) break;
            buf += Buffer.from(value).toString();
            let k;
            while ((k = buf.indexOf("\n\n")) >= 0) {
                const ev = buf.slice(0, k);
                buf = buf.slice(k + 2);
                if (!ev.startsWith("data: ") || ev === "data: [DONE]") continue;
                const j = JSON.parse(ev.slice(6));
                if (j.usage) promptTokens = j.usage.prompt_tokens;
                const c = j.choices?.[0];
                if (c && typeof c.text === "string" && c.finish_reason === null) times.push(performance.now());
            }
        }
        if (r === 0 || times.length === 0) continue;
        ttft.push(times[0] - t0);
        if (times.length > 1) itl.push((times.at(-1) - times[0]) / (times.length - 1));
        tokens.push(times.length);
        prompts.push(promptTokens);
    }
    const med = (v) => v.sort((a, b) => a - b)[v.length >> 1];
    return {ttft: med(ttft), itl: med(itl), chunks: med(tokens), promptTokens: med(prompts)};
}

const results = {};
const gemmac = opt("--gemmac"), llama = opt("--llama-server"), model = opt("--model");
if (gemmac) {
    const child = await start(gemmac, ["serve", "--port", "18081", "--ctx", ctx, "-t", threads,
        "-np", String(streams + 1)], 18081);
    results.gemmac = await measure(18081);
    child.kill("SIGTERM");
}
if (llama) {
    const child = await start(llama, ["-m", model, "--port", "18082", "-c", ctx, "-t", threads, "-np", String(streams + 1),
        "--cont-batching", "--no-webui"], 18082);
    results["llama-server"] = await measure(18082);
    child.kill("SIGTERM");
}
console.log(`prompt of ${p} words, ${n} tokens generated, ${threads} threads, median of ${reps}` +
            (streams ? `, while ${streams} other streams decode` : ""));
for (const [name, r] of Object.entries(results))
    console.log(`${name.padEnd(13)} TTFT ${r.ttft.toFixed(1)} ms   ITL ${r.itl.toFixed(2)} ms (${(1000 / r.itl).toFixed(2)} tok/s)   ${r.chunks} token chunks, ${r.promptTokens} prompt tokens`);
if (results.gemmac && results["llama-server"])
    console.log(`gemmac / llama-server: TTFT x${(results["llama-server"].ttft / results.gemmac.ttft).toFixed(2)} faster, ` +
                `ITL x${(results["llama-server"].itl / results.gemmac.itl).toFixed(2)} faster`);
