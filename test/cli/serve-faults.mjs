// `OUT serve` under hostile and broken clients, on raw sockets: a client
// that disconnects mid-stream (its slot is freed), partial headers or a
// partial body then silence (the connection is closed within the socket
// timeout), a body over --max-body (413), invalid JSON, random bytes, a body
// nested 100000 deep, wrong field types (400 naming the field); afterwards
// /health and a completion still answer. Then SIGTERM with requests in
// flight: the short ones finish, the long ones end with a clean "shutting
// down" error, and the process exits 0 within a bound; a second signal
// cancels at once.
//
//   node test/cli/serve-faults.mjs --bin build/bin --template FILE.jinja --work DIR
import crypto from "node:crypto";
import net from "node:net";
import {check, compileModel, finish, startServer as startServerOf} from "./harness.mjs";

const {program} = compileModel("serve-faults", {variant: "dense"});
const TIMEOUT = 3; // --timeout: the socket timeouts too (the smaller of it and 30 s)

/// Starts `OUT serve` on a free port with one compute thread unless `extra`
/// says otherwise; resolves to {server, port, log()}.
const startServer = (extra) => startServerOf(program, ["--threads", "1", ...extra]);

/// Sends `chunks` (strings or Buffers; a number waits that many ms) on a raw
/// connection and collects what comes back until the server closes it or
/// `waitMs` passes. Resolves to {data, closed, ms, status}.
function raw(port, chunks, {waitMs = 10000, stopWhen, end = false} = {}) {
    return new Promise((resolve) => {
        const sock = net.connect(port, "127.0.0.1");
        const t0 = performance.now();
        let data = Buffer.alloc(0), settled = false;
        const done = (closed) => {
            if (settled) return;
            settled = true;
            clearTimeout(timer);
            sock.destroy();
            const text = data.toString("latin1");
            const m = /^HTTP\/1\.[01] (\d{3})/.exec(text);
            resolve({data: text, closed, ms: performance.now() - t0, status: m ? Number(m[1]) : 0});
        };
        const timer = setTimeout(() => done(false), waitMs);
        sock.on("data", (d) => {
            data = Buffer.concat([data, d]);
            if (stopWhen?.(data.toString("latin1"))) done(false);
        });
        sock.on("close", () => done(true));
        sock.on("error", () => done(true));
        sock.on("connect", async () => {
            for (const c of chunks) {
                if (typeof c === "number") await new Promise((r) => setTimeout(r, c));
                else if (!sock.destroyed) sock.write(c);
            }
            if (end && !sock.destroyed) sock.end(); // no more bytes: the server reads end of stream
        });
    });
}

const request = (path, body, {headers = {}, contentLength} = {}) => {
    const b = Buffer.isBuffer(body) ? body : Buffer.from(body);
    const lines = [`POST ${path} HTTP/1.1`, "Host: 127.0.0.1", "Content-Type: application/json",
        `Content-Length: ${contentLength ?? b.length}`, "Connection: close",
        ...Object.entries(headers).map(([k, v]) => `${k}: ${v}`)];
    return Buffer.concat([Buffer.from(lines.join("\r\n") + "\r\n\r\n"), b]);
};
const jsonBody = (r) => {
    const i = r.data.indexOf("\r\n\r\n");
    try { return JSON.parse(r.data.slice(i + 4)); } catch { return null; }
};

const messages = [{role: "user", content: "Name a color."}];
const {server, port, log} = await startServer(["-np", "2", "--queue", "4", "--ctx", "512",
    "--timeout", String(TIMEOUT)]);
const base = `http://127.0.0.1:${port}`;
const post = (p, body) => fetch(base + p, {method: "POST", headers: {"Content-Type": "application/json"},
    body: typeof body === "string" ? body : JSON.stringify(body)});
const metrics = async () => Object.fromEntries((await (await fetch(base + "/metrics")).text())
    .split("\n").filter((l) => l.startsWith("gemmac:")).map((l) => l.split(" ")).map(([k, v]) => [k, Number(v)]));
const waitIdle = async () => {
    for (let i = 0; i < 200; i++) {
        if ((await metrics())["gemmac:requests_processing"] === 0) return true;
        await new Promise((r) => setTimeout(r, 10));
    }
    return false;
};
const completes = async (what) => {
    const r = await post("/v1/chat/completions", {messages, max_tokens: 4, temperature: 0});
    const b = await r.json().catch(() => null);
    check(r.status === 200 && b?.choices?.[0]?.message?.role === "assistant", `${what}: a completion answers (HTTP ${r.status})`);
};

try {
    // --- a client that disconnects mid-stream: others are served, its slot is freed.
    const cancelledBefore = (await metrics())["gemmac:requests_cancelled_total"];
    const other = post("/v1/completions", {prompt: "Hello", max_tokens: 8, temperature: 0});
    const cut = await raw(port, [request("/v1/chat/completions",
        JSON.stringify({messages, n_predict: 100000, temperature: 0, stream: true}))],
        {stopWhen: (d) => (d.match(/data: /g) ?? []).length >= 5});
    check(cut.status === 200 && !cut.closed, "a stream started and the client hung up after 5 events");
    check((await other).status === 200, "a concurrent request is served meanwhile");
    const freed = await waitIdle();
    check(freed && (await metrics())["gemmac:requests_cancelled_total"] === cancelledBefore + 1,
          "the hung-up stream's generation is cancelled and its slot freed");
    await completes("after the hang-up");

    // --- partial headers, then silence: closed within the socket timeout
    // (cpp-httplib answers 400, then waits its 5 s keep-alive for another request).
    const bound = (TIMEOUT + 5 + 2) * 1000;
    const stalledHead = await raw(port, ["POST /v1/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Le"],
        {waitMs: bound + 5000});
    check(stalledHead.closed && stalledHead.ms < bound,
          `partial headers then silence: closed after ${stalledHead.ms.toFixed(0)} ms (bound ${bound} ms)`);
    const stalledBody = await raw(port, [request("/v1/completions", "{\"prompt\":", {contentLength: 100})],
        {waitMs: bound + 5000});
    check(stalledBody.closed && stalledBody.ms < bound,
          `a partial body then silence: closed after ${stalledBody.ms.toFixed(0)} ms (HTTP ${stalledBody.status || "none"})`);

    // --- a body over --max-body (default 8 MiB): 413 with an error object.
    const big = Buffer.alloc(8 * 1024 * 1024 + 1, 0x20);
    const tooBig = await raw(port, [request("/v1/completions", big)], {waitMs: 20000});
    check(tooBig.status === 413 && jsonBody(tooBig)?.error?.code === 413,
          `a body of 8 MiB + 1: HTTP ${tooBig.status} ${JSON.stringify(jsonBody(tooBig)?.error)}`);
    const lying = await raw(port, [request("/v1/completions", "{}", {contentLength: 1 << 30})], {waitMs: 20000});
    check(lying.status === 413, `Content-Length 1 GiB announced: HTTP ${lying.status}`);

    // --- bodies that are not requests: 400 with OpenAI's error object, naming the field.
    const expect400 = async (what, path, body, field) => {
        const r = await raw(port, [request(path, body)]);
        const e = jsonBody(r)?.error;
        check(r.status === 400 && e?.code === 400 && e?.type === "invalid_request_error" &&
              (!field || e.message.includes(field)), `${what}: HTTP ${r.status} ${JSON.stringify(e)}`);
    };
    await expect400("invalid JSON", "/v1/chat/completions", "{\"messages\": [", null);
    await expect400("a JSON array body", "/v1/completions", "[1, 2]", null);
    await expect400("messages not an array", "/v1/chat/completions", JSON.stringify({messages: "hi"}), "'messages'");
    await expect400("a message without a role", "/v1/chat/completions", JSON.stringify({messages: [{content: "hi"}]}), "'messages[0]'");
    await expect400("max_tokens a string", "/v1/chat/completions", JSON.stringify({messages, max_tokens: "12"}), "'max_tokens'");
    await expect400("negative max_tokens", "/v1/completions", JSON.stringify({prompt: "a", max_tokens: -5}), "'max_tokens'");
    await expect400("max_tokens 2^64-1", "/v1/completions", "{\"prompt\": \"a\", \"max_tokens\": 18446744073709551615}", "'max_tokens'");
    await expect400("temperature -1", "/v1/chat/completions", JSON.stringify({messages, temperature: -1}), "'temperature'");
    await expect400("huge n", "/v1/chat/completions", JSON.stringify({messages, n: 1e9}), "'n'");
    await expect400("stop not strings", "/v1/completions", JSON.stringify({prompt: "a", stop: [1]}), "'stop'");
    await expect400("stream_options not an object", "/v1/completions", JSON.stringify({prompt: "a", stream_options: 1}), "'stream_options'");
    await expect400("response_format json_object (not implemented)", "/v1/chat/completions",
        JSON.stringify({messages, response_format: {type: "json_object"}}), "'response_format'");
    await expect400("tokenize: add_special a string", "/tokenize", JSON.stringify({content: "a", add_special: "yes"}), "'add_special'");
    await expect400("detokenize: a token id of 2^64-1", "/detokenize", "{\"tokens\": [18446744073709551615]}", "'tokens[0]'");
    // Nesting 100000 deep: dumping or copying it would recurse 100000 times.
    const deep = "[".repeat(100000) + "]".repeat(100000);
    await expect400("a message content nested 100000 deep", "/v1/chat/completions",
        `{"messages": [{"role": "user", "content": ${deep}}]}`, "nests deeper");
    await expect400("tools nested 100000 deep", "/apply-template", `{"messages": [{"role": "user", "content": "a"}], "tools": ${deep}}`, "nests deeper");

    // --- random bytes: an answer (400) or a closed connection, never a crash.
    let answered = 0;
    for (let i = 0; i < 20; i++) {
        const r = await raw(port, [crypto.randomBytes(64 + i * 97)], {waitMs: bound + 5000, end: true});
        check(r.closed && (r.status === 0 || r.status === 400), `random bytes #${i}: ${r.status ? "HTTP " + r.status : "closed"}`);
        answered += r.status === 400;
        const rb = await raw(port, [request("/v1/chat/completions", crypto.randomBytes(200 + i))]);
        check(rb.status === 400 && jsonBody(rb)?.error?.code === 400, `a random-byte body #${i}: HTTP ${rb.status}`);
    }
    check(server.exitCode === null, "the server is still running after the faults");
    const health = await fetch(base + "/health");
    check(health.status === 200 && (await health.json()).status === "ok", "/health answers after the faults");
    await completes("after the faults");
} finally {
    server.kill("SIGTERM");
}
const code = await new Promise((r) => server.exitCode !== null ? r(server.exitCode) : server.on("exit", (c) => r(c)));
check(code === 0, `serve exits 0 on SIGTERM (exit ${code})`);
if (code !== 0) console.log(log());

// --- SIGTERM with requests in flight, on a server whose requests may run
// 30 s: the grace is 10 s (the smaller of it and --timeout).
{
    const {server, port, log} = await startServer(["-np", "6", "--queue", "4", "--ctx", "16384", "--timeout", "30"]);
    const base = `http://127.0.0.1:${port}`;
    const body = (o) => ({method: "POST", headers: {"Content-Type": "application/json"}, body: JSON.stringify(o)});
    const text = async (r) => ({status: r.status, text: await r.text()});
    // Greedy on the tiny model never stops by itself: these run until the context is full (> 30 s).
    // 6 slots: every request holds one when the signal comes.
    const shorts = Array.from({length: 3}, (_, i) =>
        fetch(base + "/v1/completions", body({prompt: `short ${i}`, max_tokens: 200, temperature: 0})).then(text));
    const longWhole = fetch(base + "/v1/completions", body({prompt: "a", n_predict: 100000, temperature: 0})).then(text);
    const longStream = fetch(base + "/v1/chat/completions", body({messages, n_predict: 100000, temperature: 0, stream: true})).then(text);
    await new Promise((r) => setTimeout(r, 300));
    const t0 = performance.now();
    server.kill("SIGTERM");
    // New work is refused meanwhile (or the listener is already closed).
    await new Promise((r) => setTimeout(r, 200));
    const late = await fetch(base + "/v1/completions", body({prompt: "late", max_tokens: 2})).then(text, () => ({status: 0}));
    check(late.status === 503 || late.status === 0, `a request after SIGTERM: ${late.status ? "HTTP " + late.status : "refused"}`);
    const code = await new Promise((r) => server.on("exit", (c) => r(c)));
    const ms = performance.now() - t0;
    check(code === 0 && ms < 20000, `SIGTERM with 5 requests in flight: exit ${code} after ${ms.toFixed(0)} ms (bound 20 s)`);
    const ended = await Promise.all(shorts.map((p) => p.catch((e) => ({status: 0, text: String(e)}))));
    check(ended.every((r) => r.status === 200 && JSON.parse(r.text).choices?.[0]?.finish_reason),
          `the short requests in flight finish: ${ended.map((r) => r.status).join(", ")}`);
    const whole = await longWhole.catch((e) => ({status: 0, text: String(e)}));
    check(whole.status === 503 && /shutting down/.test(JSON.parse(whole.text)?.error?.message),
          `a long whole answer ends with a clean error: HTTP ${whole.status} ${whole.text.slice(0, 120)}`);
    const stream = await longStream.catch((e) => ({status: 0, text: String(e)}));
    check(stream.status === 200 && /shutting down/.test(stream.text) && stream.text.trimEnd().endsWith("data: [DONE]"),
          `a long stream ends with an error event and [DONE] (${stream.text.length} bytes)`);
    if (code !== 0) console.log(log());
}

// --- a second signal cuts the grace short (Ctrl-C twice).
{
    // Two compute threads: they must not take the signals either.
    const {server, port} = await startServer(["-np", "1", "--ctx", "16384", "--timeout", "30", "--threads", "2"]);
    const long = fetch(`http://127.0.0.1:${port}/v1/completions`, {method: "POST", headers: {"Content-Type": "application/json"},
        body: JSON.stringify({prompt: "a", n_predict: 100000, temperature: 0})}).then((r) => r.status, () => 0);
    await new Promise((r) => setTimeout(r, 300));
    const t0 = performance.now();
    server.kill("SIGTERM");
    await new Promise((r) => setTimeout(r, 300));
    server.kill("SIGINT");
    const code = await new Promise((r) => server.on("exit", (c) => r(c)));
    const ms = performance.now() - t0;
    // The grace would be 10 s; what is left is cpp-httplib's 5 s keep-alive at most.
    check(code === 0 && ms < 8000 && (await long) === 503,
          `SIGTERM then SIGINT: the long request cancelled, exit ${code} after ${ms.toFixed(0)} ms (bound 8 s)`);
}
finish();
