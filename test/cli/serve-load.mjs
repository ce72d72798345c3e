// `OUT serve` under load, on loopback: 64 concurrent clients send a mix of
// streamed and whole chat completions and /v1/completions (small
// max_tokens) for --duration seconds. Every answer must be well formed;
// the only error allowed is 503 from the queue bound (counted). The
// server's resident memory and open descriptors must come back to their
// level before the load once the clients are gone. Prints requests/s and
// p50/p99 latency.
//
//   node test/cli/serve-load.mjs --bin build/bin --template FILE.jinja --work DIR [--duration 30]
import fs from "node:fs";
import http from "node:http";
import {check, compileModel, finish, opt, startServer} from "./harness.mjs";

const DURATION = Number(opt("--duration", "30"));
const CLIENTS = 64, SLOTS = 4, QUEUE = 16;
// Resident memory may end this much above its level after the warm-up:
// glibc keeps freed blocks in its per-thread arenas (up to 8 per core) and
// a connection's first use of a pool thread touches its stack, so the
// level moves by a few MiB without a leak; a leak of even 1 KiB a request
// would pass it within the first minute at these rates.
const RSS_TOLERANCE_KIB = 8 * 1024;
const FD_TOLERANCE = 2;

const {program} = compileModel("serve-load", {variant: "dense"});
const {server, port} = await startServer(program, ["-np", String(SLOTS), "--queue",
    String(QUEUE), "--ctx", "1024", "--threads", "1"]);

const rssKiB = () => Number(/VmRSS:\s+(\d+)/.exec(fs.readFileSync(`/proc/${server.pid}/status`, "utf8"))[1]);
const openFds = () => fs.readdirSync(`/proc/${server.pid}/fd`).length;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/// POSTs JSON on a kept-alive connection of `agent`; resolves to {status, type, body, ms}.
function post(agent, path, payload) {
    return new Promise((resolve) => {
        const t0 = performance.now();
        const data = JSON.stringify(payload);
        const req = http.request({host: "127.0.0.1", port, path, method: "POST", agent,
            headers: {"Content-Type": "application/json", "Content-Length": Buffer.byteLength(data)}}, (res) => {
            const parts = [];
            res.on("data", (c) => parts.push(c));
            res.on("end", () => resolve({status: res.statusCode, type: res.headers["content-type"] ?? "",
                body: Buffer.concat(parts).toString(), ms: performance.now() - t0}));
            res.on("error", (e) => resolve({status: -1, body: String(e), ms: performance.now() - t0}));
        });
        req.on("error", (e) => resolve({status: -1, body: String(e), ms: performance.now() - t0}));
        req.end(data);
    });
}

/// Why an answer is not well formed ("" if it is).
function malformed(kind, maxTokens, r) {
    if (r.status === 503) {
        const e = JSON.parse(r.body)?.error;
        return e?.code === 503 && typeof e.message === "string" ? "" : `bad 503 body ${r.body.slice(0, 200)}`;
    }
    if (r.status !== 200) return `HTTP ${r.status} ${r.body.slice(0, 200)}`;
    const chat = kind.startsWith("chat");
    if (kind.endsWith("stream")) {
        if (!r.type.startsWith("text/event-stream")) return `content-type ${r.type}`;
        const events = r.body.split("\n\n").filter((e) => e.length);
        if (events.at(-1) !== "data: [DONE]") return "no [DONE] at the end";
        let finishes = 0, tokens = 0;
        for (const e of events.slice(0, -1)) {
            if (!e.startsWith("data: ")) return `not an event: ${e.slice(0, 100)}`;
            const c = JSON.parse(e.slice(6));
            if (c.object !== (chat ? "chat.completion.chunk" : "text_completion")) return `object ${c.object}`;
            for (const ch of c.choices) {
                finishes += ch.finish_reason ? 1 : 0;
                tokens += chat || ch.finish_reason ? 0 : 1;
            }
        }
        if (finishes !== 1) return `${finishes} finish reasons`;
        // A chunk per token, and one for text held back to the end (a
        // character's first bytes, a possible stop string's start).
        if (!chat && tokens > maxTokens + 1) return `${tokens} text chunks for max_tokens ${maxTokens}`;
        return "";
    }
    const b = JSON.parse(r.body);
    const c = b.choices?.[0];
    if (b.object !== (chat ? "chat.completion" : "text_completion")) return `object ${b.object}`;
    if (!["stop", "length"].includes(c?.finish_reason)) return `finish_reason ${c?.finish_reason}`;
    if (chat ? c.message?.role !== "assistant" : typeof c.text !== "string") return "no answer";
    const u = b.usage;
    if (!(u.completion_tokens <= maxTokens && u.total_tokens === u.prompt_tokens + u.completion_tokens))
        return `usage ${JSON.stringify(u)}`;
    return "";
}

const kinds = ["chat", "chat-stream", "completion", "completion-stream"];
const stats = {ok: 0, busy: 0, bad: 0, latencies: [], failures: []};

/// One client: requests of every kind in turn until `until`.
async function client(id, agent, until, record) {
    for (let i = id; performance.now() < until; i++) {
        const kind = kinds[i % kinds.length];
        const maxTokens = 1 + (i * 7 + id) % 8;
        const payload = kind.startsWith("chat")
            ? {messages: [{role: "user", content: `Client ${id} asks question ${i}.`}], max_tokens: maxTokens,
               temperature: 1, seed: i, stream: kind.endsWith("stream")}
            : {prompt: `Client ${id}, request ${i}:`, max_tokens: maxTokens, temperature: 1, seed: i,
               stream: kind.endsWith("stream")};
        const r = await post(agent, kind.startsWith("chat") ? "/v1/chat/completions" : "/v1/completions", payload);
        let why;
        try { why = malformed(kind, maxTokens, r); } catch (e) { why = `unparsable: ${e} ${r.body.slice(0, 200)}`; }
        if (!record) continue;
        if (why) {
            stats.bad++;
            if (stats.failures.length < 5) stats.failures.push(`${kind}: ${why}`);
        } else if (r.status === 503) {
            stats.busy++;
            await sleep(50); // as a client backs off when the server is busy
        } else {
            stats.ok++;
            stats.latencies.push(r.ms);
        }
    }
}

/// All clients for `seconds`, each with its own kept-alive connection; the
/// connections are closed at the end.
async function load(seconds, record) {
    const agents = Array.from({length: CLIENTS}, () => new http.Agent({keepAlive: true, maxSockets: 1}));
    const until = performance.now() + seconds * 1000;
    await Promise.all(agents.map((a, id) => client(id, a, until, record)));
    for (const a of agents) a.destroy();
}

/// Waits until the server has closed the connections and its queue is empty.
async function settle() {
    await sleep(1000);
    for (let i = 0; i < 100; i++) {
        const r = await post(undefined, "/tokenize", {content: "x"}); // one fresh connection, closed after
        if (r.status === 200) break;
        await sleep(100);
    }
    await sleep(6000); // past cpp-httplib's 5 s keep-alive
}

try {
    // Warm-up: threads, their stacks and malloc arenas, the slots' caches.
    await load(Math.min(5, DURATION / 4), false);
    await settle();
    const before = {rss: rssKiB(), fds: openFds()};
    const t0 = performance.now();
    let peakRss = before.rss;
    const sampler = setInterval(() => { peakRss = Math.max(peakRss, rssKiB()); }, 500);
    await load(DURATION, true);
    const seconds = (performance.now() - t0) / 1000;
    clearInterval(sampler);
    await settle();
    const after = {rss: rssKiB(), fds: openFds()};

    const l = stats.latencies.sort((a, b) => a - b);
    const pct = (p) => l.length ? l[Math.min(l.length - 1, Math.floor(p * l.length))].toFixed(1) : "-";
    console.log(`${CLIENTS} clients, ${SLOTS} slots, queue ${QUEUE}, ${seconds.toFixed(1)} s: ` +
        `${stats.ok} answers (${(stats.ok / seconds).toFixed(1)} requests/s), ${stats.busy} refused with 503, ` +
        `${stats.bad} bad; latency p50 ${pct(0.5)} ms, p99 ${pct(0.99)} ms`);
    console.log(`server RSS ${before.rss} KiB before, ${after.rss} KiB after (peak ${peakRss}); ` +
        `open descriptors ${before.fds} before, ${after.fds} after`);
    check(stats.bad === 0, `every answer well formed, no error but 503 (${stats.bad} bad${stats.failures.length ? ": " + stats.failures.join("; ") : ""})`);
    check(stats.ok > 0, `${stats.ok} requests answered`);
    check(after.rss <= before.rss + RSS_TOLERANCE_KIB,
          `resident memory back to its level: ${after.rss - before.rss} KiB more (tolerance ${RSS_TOLERANCE_KIB} KiB)`);
    check(Math.abs(after.fds - before.fds) <= FD_TOLERANCE,
          `open descriptors back to their level: ${before.fds} -> ${after.fds}`);
    const h = await post(undefined, "/v1/completions", {prompt: "after", max_tokens: 2});
    check(h.status === 200, "the server answers after the load");
} finally {
    server.kill("SIGTERM");
}
const code = await new Promise((r) => server.exitCode !== null ? r(server.exitCode) : server.on("exit", (c) => r(c)));
check(code === 0, `serve exits 0 on SIGTERM (exit ${code})`);
finish();
