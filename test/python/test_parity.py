"""gemmac.Model against the compiled program's own answers: `OUT serve`
(the same requests over HTTP, one slot so that its cache is reused as the
model's is) and `OUT run` (the rendered chat prompt, greedy, its token ids).
The library and the program come from one checkpoint (python.model)."""

import re

import pytest

from conftest import N_CTX, run_program

SYSTEM = {"role": "system", "content": "You are terse."}
TOOLS = [{"type": "function", "function": {
    "name": "get_weather", "description": "The weather in a city",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}},
                   "required": ["city"]}}}]
CONVERSATIONS = {
    "plain": [SYSTEM, {"role": "user", "content": "Hello there, who are you?"}],
    "unicode": [{"role": "user", "content": "Grüße 😀 — naïve?"}],
    "multi-turn": [SYSTEM, {"role": "user", "content": "Hi"},
                   {"role": "assistant", "content": "Hello."},
                   {"role": "user", "content": "And then?"}],
    "tool-turn": [{"role": "user", "content": "Weather in Paris?"},
                  {"role": "assistant", "tool_calls": [{"id": "call_0", "type": "function",
                   "function": {"name": "get_weather", "arguments": "{\"city\":\"Paris\"}"}}]},
                  {"role": "tool", "tool_call_id": "call_0", "content": "sunny"}],
}
# Request fields, as the server takes them; the model takes the same names.
VARIANTS = {
    "greedy": {},
    "thinking": {"chat_template_kwargs": {"enable_thinking": True}},
    "reasoning_effort": {"reasoning_effort": "high"},
    "tools": {"tools": TOOLS},
    "tools-none": {"tools": TOOLS, "tool_choice": "none"},
    "sampled": {"temperature": 0.9, "top_k": 20, "top_p": 0.9, "min_p": 0.02, "seed": 1234},
    "penalties": {"repeat_penalty": 1.3, "presence_penalty": 0.5, "frequency_penalty": 0.4},
}


def without_ids(body):
    """What must be equal: everything but the id, time and timings."""
    out = {k: v for k, v in body.items() if k not in ("id", "created", "model")}
    if "usage" in out:
        out["usage"] = {k: v for k, v in out["usage"].items() if k != "timings"}
    return out


def close_logprobs(a, b):
    """Logprobs entries: the same tokens; values to float32 rounding (the
    server sums in float32, the model in double)."""
    assert [(x["id"], x["token"], x["bytes"]) for x in a] == \
        [(x["id"], x["token"], x["bytes"]) for x in b]
    for x, y in zip(a, b):
        assert x["logprob"] == pytest.approx(y["logprob"], abs=1e-4)
        assert [t["id"] for t in x["top_logprobs"]] == [t["id"] for t in y["top_logprobs"]]


@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize("conversation", CONVERSATIONS)
def test_chat_equals_the_server(model, server, conversation, variant):
    body = {"messages": CONVERSATIONS[conversation], "max_tokens": 12, "temperature": 0,
            **VARIANTS[variant]}
    ours = model.create_chat_completion(**body)
    theirs = server.post("/v1/chat/completions", body)
    assert without_ids(ours) == without_ids(theirs)
    assert ours["object"] == "chat.completion" and ours["id"].startswith("chatcmpl-")


def test_chat_stream_equals_the_server(model, server):
    body = {"messages": CONVERSATIONS["plain"], "max_tokens": 16, "temperature": 0,
            "stream_options": {"include_usage": True}, "tools": TOOLS}
    ours = list(model.create_chat_completion(**body, stream=True))
    theirs = server.stream("/v1/chat/completions", body)
    whole = server.post("/v1/chat/completions", body)

    def joined(chunks, key):
        return "".join(c["choices"][0]["delta"].get(key) or "" for c in chunks if c["choices"])
    for key in ("content", "reasoning_content"):
        assert joined(ours, key) == joined(theirs, key) == (whole["choices"][0]["message"].get(key) or "")
    assert ours[0]["choices"][0]["delta"] == theirs[0]["choices"][0]["delta"]
    assert ours[-2]["choices"][0]["finish_reason"] == theirs[-2]["choices"][0]["finish_reason"]
    assert without_ids(ours[-1]) == without_ids(theirs[-1])  # usage
    assert all(c["object"] == "chat.completion.chunk" for c in ours)


def test_stop_strings_equal_the_server(model, server):
    body = {"prompt": "The meaning of life is", "max_tokens": 16, "temperature": 0}
    text = server.post("/v1/completions", body)["choices"][0]["text"]
    assert len(text) > 8, "the greedy text is too short to pick a stop string from"
    stop = text[5:8]
    ours = model.create_completion(**body, stop=[stop, "\x00never"])
    theirs = server.post("/v1/completions", dict(body, stop=[stop, "\x00never"]))
    assert without_ids(ours) == without_ids(theirs)
    assert ours["choices"][0]["text"] == text[:text.index(stop)]
    assert ours["choices"][0]["finish_reason"] == "stop"
    streamed = model.create_completion(**body, stop=stop, stream=True)
    assert "".join(c["choices"][0]["text"] for c in streamed) == text[:text.index(stop)]


def test_logprobs_equal_the_server(model, server):
    body = {"messages": CONVERSATIONS["plain"], "max_tokens": 6, "temperature": 0,
            "logprobs": True, "top_logprobs": 3}
    ours = model.create_chat_completion(**body)
    theirs = server.post("/v1/chat/completions", body)
    assert ours["choices"][0]["message"] == theirs["choices"][0]["message"]
    close_logprobs(ours["choices"][0]["logprobs"]["content"],
                   theirs["choices"][0]["logprobs"]["content"])
    body = {"prompt": "Numbers:", "max_tokens": 4, "temperature": 0, "logprobs": 2}
    ours = model.create_completion(**body)
    theirs = server.post("/v1/completions", body)
    assert ours["choices"][0]["text"] == theirs["choices"][0]["text"]
    close_logprobs(ours["choices"][0]["logprobs"]["content"],
                   theirs["choices"][0]["logprobs"]["content"])


def test_template_equals_the_server(model, server):
    for messages in CONVERSATIONS.values():
        theirs = server.post("/apply-template", {"messages": messages, "tools": TOOLS})
        assert model.apply_chat_template(messages, tools=TOOLS, enable_thinking=False) == \
            theirs["prompt"]


@pytest.mark.parametrize("conversation", ["plain", "tool-turn"])
def test_chat_equals_run(model, program, conversation):
    """`OUT run` on the rendered prompt, greedy: its tokens, cut at the first
    token that ends a chat answer, are the answer the model parses."""
    messages = CONVERSATIONS[conversation]
    prompt = model.apply_chat_template(messages, enable_thinking=False)
    ran = run_program(program, "run", "-p", prompt, "-n", "12", "--temp", "0", "--ctx",
                      str(N_CTX), "--no-display-prompt", "-v")
    m = re.search(rb"generated tokens:([0-9, ]*)\n", ran.stderr)
    assert m, ran.stderr.decode(errors="replace")
    ids = [int(x) for x in m.group(1).replace(b" ", b"").split(b",") if x]
    ends = set(model._chat_stop)
    for i, t in enumerate(ids):
        if t in ends:
            ids = ids[:i]
            break
    expected = model.parse_chat_output(model.detokenize(ids, special=True))
    ours = model.create_chat_completion(messages, max_tokens=12, temperature=0)
    assert ours["choices"][0]["message"] == expected
    assert ours["usage"]["completion_tokens"] == len(ids)


def test_completion_equals_run(model, program):
    prompt = "The quick brown fox"
    ran = run_program(program, "run", "-p", prompt, "-n", "16", "--temp", "0", "--ctx",
                      str(N_CTX), "--no-display-prompt")
    ours = model(prompt, max_tokens=16, temperature=0)
    assert ours["choices"][0]["text"] == ran.stdout.decode("utf-8", "replace").removesuffix("\n")
