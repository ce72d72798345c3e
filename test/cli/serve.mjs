// `OUT serve` driven by a real OpenAI client (the npm `openai` package), on a
// tiny model with the upstream Gemma 4 chat template:
//   chat (whole and streamed, thinking on and off, a tool-call round trip),
//   completions equal to `OUT run` (greedy, same prompt), usage equal to
//   llama.cpp's token count of the prompt python3-jinja2 renders, every
//   error case, N+2 concurrent streams while /health keeps answering, a
//   client that disconnects freeing its slot, and a full queue answering 503.
//
//   node test/cli/serve.mjs --bin build/bin --template FILE.jinja --work DIR
import OpenAI from "openai";
import {check, compileModel, finish, llamaTokens, renderReference, run, startServer} from "./harness.mjs";

const {gguf, program} = compileModel("serve");

const KEY = "sk-gemmac-test";
const SLOTS = 2, QUEUE = 2, CTX = 1024;
const {server, port} = await startServer(program, ["-np", String(SLOTS), "--queue",
    String(QUEUE), "--ctx", String(CTX), "--api-key", KEY, "--threads", "1"]);
const base = `http://127.0.0.1:${port}`;
const client = new OpenAI({baseURL: `${base}/v1`, apiKey: KEY, maxRetries: 0});
const auth = {"Authorization": `Bearer ${KEY}`, "Content-Type": "application/json"};
const post = (p, body, headers = auth) => fetch(base + p, {method: "POST", headers, body: typeof body === "string" ? body : JSON.stringify(body)});

try {
    const messages = [{role: "system", content: "You are terse."}, {role: "user", content: "Name a color."}];

    // --- usage: the prompt python3-jinja2 renders, tokenized by llama.cpp.
    // Both run synchronously, before any request: a kept-alive connection
    // idle across a blocked event loop longer than the server's keep-alive
    // is closed by the server unseen, and the next request on it fails.
    const reference = renderReference({messages});
    const referenceTokens = llamaTokens(gguf, reference);
    const applied = await (await post("/apply-template", {messages})).json();
    check(applied.prompt === reference, "/apply-template renders as python3-jinja2 does");

    const whole = await client.chat.completions.create({model: "m", messages, max_tokens: 12, temperature: 0});
    check(whole.object === "chat.completion" && whole.choices[0].message.role === "assistant", "chat: whole answer");
    check(whole.usage.prompt_tokens === referenceTokens.length,
          `usage.prompt_tokens ${whole.usage.prompt_tokens} = llama.cpp's ${referenceTokens.length} tokens of the rendered prompt`);
    check(whole.usage.total_tokens === whole.usage.prompt_tokens + whole.usage.completion_tokens, "usage adds up");

    // --- streamed: the same greedy answer, a first chunk with the role, usage last.
    const stream = await client.chat.completions.create({model: "m", messages, max_tokens: 12, temperature: 0,
        stream: true, stream_options: {include_usage: true}});
    let streamed = "", firstRole = null, usage = null, finish = null, chunks = 0;
    for await (const c of stream) {
        if (chunks++ === 0) firstRole = c.choices[0]?.delta?.role;
        for (const ch of c.choices) {
            streamed += ch.delta?.content ?? "";
            finish = ch.finish_reason ?? finish;
        }
        if (c.usage) usage = c.usage;
    }
    check(firstRole === "assistant", "stream: first chunk carries the role");
    check(streamed === (whole.choices[0].message.content ?? ""), `stream: same text as the whole answer (${JSON.stringify(streamed)})`);
    check(finish === whole.choices[0].finish_reason, `stream: finish_reason ${finish}`);
    check(usage?.completion_tokens === whole.usage.completion_tokens, "stream: usage chunk when asked");

    // --- logprobs: one entry per generated token, whole and streamed.
    const lpWhole = await client.chat.completions.create({model: "m", messages, max_tokens: 6, temperature: 0,
        logprobs: true, top_logprobs: 2});
    const entries = lpWhole.choices[0].logprobs?.content ?? [];
    check(entries.length === lpWhole.usage.completion_tokens &&
          entries.every((e) => e.logprob <= 0 && e.top_logprobs.length === 2 && e.top_logprobs[0].logprob >= e.logprob),
          `logprobs: ${entries.length} entries for ${lpWhole.usage.completion_tokens} tokens, top 2 each`);
    const lpStream = await client.chat.completions.create({model: "m", messages, max_tokens: 6, temperature: 0,
        logprobs: true, top_logprobs: 2, stream: true});
    let streamedEntries = 0;
    for await (const c of lpStream)
        streamedEntries += c.choices[0]?.logprobs?.content?.length ?? 0;
    check(streamedEntries === entries.length, `streamed logprobs: ${streamedEntries} entries`);

    // --- greedy through the server = `OUT run` on the same prompt.
    const prompt = "The quick brown fox";
    const comp = await client.completions.create({model: "m", prompt, max_tokens: 16, temperature: 0});
    const ran = run(program, ["run", "-p", prompt, "-n", "16", "--temp", "0", "--no-display-prompt"]);
    check(ran.replace(/\n$/, "") === comp.choices[0].text, "completions: greedy text equals `OUT run`");
    const chatRan = run(program, ["run", "-p", reference, "-n", "12", "--temp", "0", "--no-display-prompt"]);
    const chatComp = await client.completions.create({model: "m", prompt: reference, max_tokens: 12, temperature: 0});
    check(chatRan.replace(/\n$/, "") === chatComp.choices[0].text, "completions on the rendered chat prompt equal `OUT run`");

    // --- thinking on and off.
    const on = await (await post("/apply-template", {messages, chat_template_kwargs: {enable_thinking: true}})).json();
    const off = await (await post("/apply-template", {messages, reasoning_effort: "none"})).json();
    check(on.prompt.includes("<|think|>") && !off.prompt.includes("<|think|>"), "thinking on/off reaches the template");
    const thought = await client.chat.completions.create({model: "m", messages, max_tokens: 8, temperature: 0,
        chat_template_kwargs: {enable_thinking: true}});
    check(thought.choices.length === 1, "chat with thinking on answers");

    // --- a tool-call round trip: definitions, the model's call, the tool's answer.
    const tools = [{type: "function", function: {name: "get_weather", description: "Weather of a city",
        parameters: {type: "object", properties: {city: {type: "string"}, days: {type: "integer"}}, required: ["city"]}}}];
    const toolMessages = [{role: "user", content: "Weather in Paris?"},
        {role: "assistant", content: null, tool_calls: [{id: "call_0", type: "function",
            function: {name: "get_weather", arguments: JSON.stringify({city: "Paris", days: 2})}}]},
        {role: "tool", tool_call_id: "call_0", content: "{\"sky\": \"clear\"}"}];
    const toolRef = renderReference({messages: toolMessages, tools});
    const toolApplied = await (await post("/apply-template", {messages: toolMessages, tools})).json();
    check(toolApplied.prompt === toolRef, "tool definitions, call and response render as python3-jinja2 does");
    const toolAnswer = await client.chat.completions.create({model: "m", messages: toolMessages, tools, max_tokens: 8, temperature: 0});
    check(["stop", "length", "tool_calls"].includes(toolAnswer.choices[0].finish_reason), "chat after a tool response answers");

    // --- errors, each with its status and OpenAI's error object.
    const expectStatus = async (what, status, promise) => {
        const r = await promise;
        const body = await r.json().catch(() => null);
        check(r.status === status && body?.error?.code === status && typeof body?.error?.message === "string",
              `${what}: HTTP ${r.status} ${JSON.stringify(body?.error ?? body)}`);
    };
    await expectStatus("bad JSON", 400, post("/v1/chat/completions", "{not json"));
    await expectStatus("no messages", 400, post("/v1/chat/completions", {model: "m"}));
    await expectStatus("prompt longer than the context", 400,
        post("/v1/completions", {prompt: "word ".repeat(3 * CTX), max_tokens: 1}));
    await expectStatus("wrong API key", 401, post("/v1/chat/completions", {messages},
        {"Authorization": "Bearer wrong", "Content-Type": "application/json"}));
    await expectStatus("unknown path", 404, fetch(base + "/v1/nothing", {headers: auth}));
    let sdkError = null;
    try { await client.chat.completions.create({model: "m", messages, temperature: "hot"}); } catch (e) { sdkError = e; }
    check(sdkError?.status === 400, `the SDK sees a bad parameter as a 400 (${sdkError?.message})`);

    // --- N+2 concurrent streams (N slots + a full queue); /health answers meanwhile.
    const longStream = (maxTokens, signal) => fetch(base + "/v1/chat/completions", {method: "POST", headers: auth, signal,
        body: JSON.stringify({messages, max_tokens: maxTokens, temperature: 1, seed: 1, stream: true})});
    const metrics = async () => Object.fromEntries((await (await fetch(base + "/metrics", {headers: auth})).text())
        .split("\n").filter((l) => l.startsWith("gemmac:")).map((l) => l.split(" ")).map(([k, v]) => [k, Number(v)]));
    const drain = async (r) => {
        const reader = r.body.getReader();
        let text = "";
        for (;;) {
            const {done, value} = await reader.read();
            if (done) break;
            text += Buffer.from(value).toString();
        }
        return text;
    };
    const started = Date.now();
    const streams = Array.from({length: SLOTS + QUEUE}, () => longStream(400).then(drain));
    let streamsDone = false;
    Promise.all(streams).then(() => { streamsDone = true; });
    // Wait until every slot is busy and the queue is full, then one more is refused.
    for (let i = 0; i < 200; i++) {
        const m = await metrics();
        if (m["gemmac:requests_processing"] === SLOTS && m["gemmac:requests_deferred"] === QUEUE) break;
        await new Promise((r) => setTimeout(r, 5));
    }
    await expectStatus("a full queue", 503, post("/v1/chat/completions", {messages, max_tokens: 1}));
    const healthMs = [];
    let healthDuringStreams = 0;
    while (!streamsDone) {
        const t0 = performance.now();
        const h = await fetch(base + "/health");
        healthMs.push(performance.now() - t0);
        if (h.status === 200 && !streamsDone) healthDuringStreams++;
        await new Promise((r) => setTimeout(r, 10));
    }
    const bodies = await Promise.all(streams);
    check(bodies.every((b) => b.trimEnd().endsWith("data: [DONE]")), `${bodies.length} concurrent streams all finished (${Date.now() - started} ms)`);
    healthMs.sort((a, b) => a - b);
    console.log(`/health during the streams: ${healthMs.length} calls, median ${healthMs[healthMs.length >> 1]?.toFixed(2)} ms, max ${healthMs.at(-1)?.toFixed(2)} ms`);
    check(healthDuringStreams > 0, `/health answered ${healthDuringStreams} times while streams were running`);

    // --- a client that disconnects mid-stream frees its slot.
    const cancelledBefore = (await metrics())["gemmac:requests_cancelled_total"];
    const controller = new AbortController();
    const r = await longStream(100000, controller.signal);
    const reader = r.body.getReader();
    for (let got = 0; got < 5;) {
        const {value} = await reader.read();
        got += (Buffer.from(value).toString().match(/data: /g) ?? []).length;
    }
    controller.abort();
    let freed = false;
    for (let i = 0; i < 300 && !freed; i++) {
        freed = (await metrics())["gemmac:requests_processing"] === 0;
        if (!freed) await new Promise((r) => setTimeout(r, 10));
    }
    check(freed && (await metrics())["gemmac:requests_cancelled_total"] === cancelledBefore + 1,
          "a client that disconnects mid-stream cancels its generation and frees its slot");
    // The same for a client waiting for a whole (not streamed) answer.
    const controller2 = new AbortController();
    const whole2 = fetch(base + "/v1/chat/completions", {method: "POST", headers: auth, signal: controller2.signal,
        body: JSON.stringify({messages, max_tokens: 100000, temperature: 1, seed: 2})}).catch(() => null);
    for (let i = 0; i < 300 && (await metrics())["gemmac:requests_processing"] !== 1; i++)
        await new Promise((r) => setTimeout(r, 10));
    controller2.abort();
    await whole2;
    freed = false;
    for (let i = 0; i < 300 && !freed; i++) {
        freed = (await metrics())["gemmac:requests_processing"] === 0;
        if (!freed) await new Promise((r) => setTimeout(r, 10));
    }
    check(freed && (await metrics())["gemmac:requests_cancelled_total"] === cancelledBefore + 2,
          "a client that disconnects while waiting for a whole answer cancels it and frees its slot");
    const after = await client.chat.completions.create({model: "m", messages, max_tokens: 4, temperature: 0});
    check(after.choices[0].message.role === "assistant", "the server answers after the disconnect");
} finally {
    server.kill("SIGTERM");
}
const code = await new Promise((r) => server.on("exit", (c) => r(c)));
check(code === 0, `serve stops on SIGTERM (exit ${code})`);
finish();
