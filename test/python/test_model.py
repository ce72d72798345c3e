"""gemmac.Model on the tiny model: opening, tokens and logits against the
compiled program's own commands (`OUT tokenize`, `OUT eval`), generation
rules, and hostile arguments."""

import array
import os
import shutil
import threading

import pytest

import gemmac
from conftest import N_CTX, run_program


def test_open_by_library_or_program_name(lib_path, model):
    d, base = os.path.split(lib_path)
    name = base[len("lib"):-len(".so")]
    with gemmac.Model(os.path.join(d, name), n_ctx=64, n_threads=1) as m:
        assert m.n_vocab() == model.n_vocab() and m.n_ctx() == 64 and m.n_threads == 1
    assert model.n_ctx() == N_CTX and model.device == "cpu"


def test_bad_paths_are_refused(lib_path, tmp_path):
    with pytest.raises(FileNotFoundError, match="libnothing.so"):
        gemmac.Model(tmp_path / "nothing")
    with pytest.raises(ValueError, match="not a program name"):
        gemmac.Model(tmp_path / "lib-x.so")
    with pytest.raises(ValueError, match="libNAME.so"):
        gemmac.Model(tmp_path / "x.so")
    # A library that is not a program: the runtime itself, under a program's name.
    shutil.copy(os.environ["GEMMAC_TEST_RUNTIME"], tmp_path / "libfake.so")
    with pytest.raises(ValueError, match="fake_program"):
        gemmac.Model(tmp_path / "libfake.so")


def test_missing_weights_are_an_error_naming_them(lib_path, tmp_path):
    with pytest.raises(gemmac.GemmacError, match="no.weights"):
        gemmac.Model(lib_path, weights_path=tmp_path / "no.weights")


def test_tokenize_equals_the_program(model, program):
    text = "The quick brown fox <start_of_turn> é 😀\n  spaces"
    ran = run_program(program, "tokenize", "--ids", text).stdout.decode().strip()
    assert model.tokenize(text, special=True) == [int(x) for x in ran.split(",")]
    ids = model.tokenize(text.encode(), add_bos=False)
    assert ids[0] != model.token_bos()
    assert model.detokenize(ids) == text.encode()


def test_eval_logits_equal_the_program(model, program, tmp_path):
    tokens = model.tokenize("Logits of the last token")
    out = tmp_path / "logits.f32"
    run_program(program, "eval", "--ctx", str(N_CTX), "--tokens", ",".join(map(str, tokens)),
                "--logits", str(out))
    rows = array.array("f", out.read_bytes())
    model.reset()
    model.eval(tokens)
    last = rows[-model.n_vocab():]
    assert model.logits == list(last)
    assert model.n_tokens == len(tokens) == len(model.tokens)
    # Greedy sampling is the arg max of these logits.
    assert model.sample(temperature=0) == max(range(len(last)), key=last.__getitem__)


def test_greedy_is_repeatable_and_seeds_repeat_samples(model):
    a = model("Once upon a time", max_tokens=8, temperature=0)
    b = model("Once upon a time", max_tokens=8, temperature=0)
    assert a["choices"][0]["text"] == b["choices"][0]["text"]
    s1 = model("Once upon a time", max_tokens=8, temperature=1.5, seed=7)
    s2 = model("Once upon a time", max_tokens=8, temperature=1.5, seed=7)
    assert s1["choices"][0]["text"] == s2["choices"][0]["text"]


def test_completion_shape_and_limits(model):
    r = model.create_completion("Hello", max_tokens=5, temperature=0)
    assert r["object"] == "text_completion" and r["id"].startswith("cmpl-")
    c = r["choices"][0]
    assert r["usage"]["completion_tokens"] <= 5
    assert c["finish_reason"] == ("length" if r["usage"]["completion_tokens"] == 5 else "stop")
    assert r["usage"]["prompt_tokens"] == len(model.tokenize("Hello", special=True))
    echoed = model.create_completion("Hello", max_tokens=5, temperature=0, echo=True)
    assert echoed["choices"][0]["text"] == "Hello" + c["text"]


def test_stream_yields_the_same_text(model):
    whole = model("The sky", max_tokens=10, temperature=0)
    chunks = list(model("The sky", max_tokens=10, temperature=0, stream=True))
    assert all(ch["object"] == "text_completion" for ch in chunks)
    assert "".join(ch["choices"][0]["text"] for ch in chunks) == whole["choices"][0]["text"]
    assert chunks[-1]["choices"][0]["finish_reason"] == whole["choices"][0]["finish_reason"]
    chat = [{"role": "user", "content": "Hi"}]
    whole = model.create_chat_completion(chat, max_tokens=10, temperature=0)
    chunks = list(model.create_chat_completion(chat, max_tokens=10, temperature=0, stream=True))
    assert chunks[0]["choices"][0]["delta"] == {"role": "assistant", "content": None}
    text = "".join(ch["choices"][0]["delta"].get("content") or "" for ch in chunks)
    assert text == (whole["choices"][0]["message"].get("content") or "")
    assert chunks[-1]["choices"][0]["finish_reason"] == whole["choices"][0]["finish_reason"]


def test_prefix_is_reused(model):
    model.reset()
    first = model.create_completion("One two three", max_tokens=3, temperature=0)
    assert first["usage"]["prompt_tokens_details"]["cached_tokens"] == 0
    extra = model.tokenize(" four", add_bos=False)
    prompt = model.tokens + extra
    second = model.create_completion(prompt, max_tokens=6, temperature=0)
    assert second["usage"]["prompt_tokens_details"]["cached_tokens"] == len(prompt) - len(extra)
    model.reset()
    fresh = model.create_completion(prompt, max_tokens=6, temperature=0)
    assert fresh["usage"]["prompt_tokens_details"]["cached_tokens"] == 0
    assert fresh["choices"][0]["text"] == second["choices"][0]["text"]


def test_cancel_ends_a_stream_and_the_model_goes_on(model):
    got = []
    for ch in model("Count:", max_tokens=0, temperature=0, stream=True):
        got.append(ch)
        if len(got) == 3:
            model.cancel()
    assert len(got) == 4 and got[-1]["choices"][0]["finish_reason"] == "cancelled"
    after = model("Count:", max_tokens=3, temperature=0)
    assert after["usage"]["completion_tokens"] >= 1


def test_cancel_from_another_thread(model):
    started, result = threading.Event(), {}

    def generate():
        for ch in model("Tell me everything:", max_tokens=0, temperature=0, stream=True):
            started.set()
            result["finish"] = ch["choices"][0]["finish_reason"]
    worker = threading.Thread(target=generate)
    worker.start()
    assert started.wait(120)
    model.cancel()
    worker.join(120)
    assert result["finish"] == "cancelled"


@pytest.mark.parametrize("sampling", [dict(temperature=0), dict(temperature=0.9, seed=11)])
def test_several_prompts_in_shared_steps_equal_each_alone(model, sampling):
    # Prompts of different lengths, one a token list; the long generation
    # runs past the tiny model's 16-position windows.
    prompts = ["Hello", "One two three four five six seven", model.tokenize("x y", add_bos=True)]
    together = model.create_completion(prompts, max_tokens=24, logprobs=2, **sampling)
    assert [c["index"] for c in together["choices"]] == [0, 1, 2]
    completion_tokens = 0
    for p, got in zip(prompts, together["choices"]):
        alone = model.create_completion(p, max_tokens=24, logprobs=2, **sampling)["choices"][0]
        assert (got["text"], got["finish_reason"]) == (alone["text"], alone["finish_reason"])
        assert got["logprobs"] == alone["logprobs"]
        completion_tokens += len(got["logprobs"]["content"])
    assert together["usage"]["completion_tokens"] == completion_tokens
    with pytest.raises(ValueError, match="stream"):
        model.create_completion(prompts, stream=True)


@pytest.mark.parametrize("sampling", [dict(temperature=0),
                                      dict(temperature=0.9, seed=11, repeat_penalty=1.3)])
def test_speculative_completion_equals_plain(lib_path, model, sampling):
    # A repetitive prompt, so that n-gram drafts are often right; 40 tokens
    # run past the 16-position windows, so drafts are rolled back in rings.
    prompt = "one two three four one two three four one two three four one two"
    plain = model.create_completion(prompt, max_tokens=40, logprobs=2, **sampling)
    plain_tokens, plain_logits = model.tokens, model.logits
    # The library's MTP drafter (its default), and prompt lookup.
    for draft in (None, "ngram"):
        with gemmac.Model(lib_path, n_ctx=N_CTX, seed=1, draft_max=4, draft=draft) as spec:
            assert spec.draft == (draft or "mtp")
            got = spec.create_completion(prompt, max_tokens=40, logprobs=2, **sampling)
            assert spec.n_drafted > 0 and 0 <= spec.n_accepted <= spec.n_drafted
            streamed = b"".join(
                c["choices"][0]["text"].encode() for c in
                spec.create_completion(prompt, max_tokens=40, stream=True, **sampling))
            # The session ends as plain decoding's: the same tokens and logits.
            assert (spec.tokens, spec.logits) == (plain_tokens, plain_logits)
        assert got["choices"] == plain["choices"]
        assert streamed.decode() == plain["choices"][0]["text"]


def test_truncate_rolls_back(lib_path):
    with gemmac.Model(lib_path, n_ctx=N_CTX, seed=1) as m:
        ids = m.tokenize("a b c d e f g h i j k l m n o p q r s t u v w x y z " * 2)
        m.eval(ids)
        whole = m.logits
        # Rings of 16 + 4 rows go back 5 positions (compile-model --draft-max 4).
        assert m.max_rollback() == 5
        with pytest.raises(gemmac.GemmacError, match="roll back 6"):
            m.truncate(len(ids) - 6)
        m.truncate(len(ids) - 5)
        assert m.n_tokens == len(ids) - 5 and m.tokens == ids[:-5]
        m.eval(ids[-5:])
        assert m.logits == whole
    with pytest.raises(ValueError, match="draft_max"):
        gemmac.Model(lib_path, n_ctx=N_CTX, draft_max=65)
    with pytest.raises(ValueError, match="'draft'"):
        gemmac.Model(lib_path, n_ctx=N_CTX, draft_max=2, draft="eagle")


def test_hostile_arguments(model):
    with pytest.raises(ValueError, match="tokens\\[1\\]"):
        model.detokenize([1, model.n_vocab()])
    with pytest.raises(ValueError, match="tokens\\[0\\]"):
        model.eval([-1])
    with pytest.raises(ValueError, match="temperature"):
        model("x", temperature=-1)
    with pytest.raises(ValueError, match="top_p"):
        model("x", top_p=2)
    with pytest.raises(ValueError, match="seed"):
        model("x", seed=-2)
    with pytest.raises(ValueError, match="stop"):
        model("x", stop=[1])
    with pytest.raises(NotImplementedError, match="grammar"):
        model("x", grammar="root ::= x")
    with pytest.raises(NotImplementedError, match="response_format"):
        model.create_chat_completion([{"role": "user", "content": "x"}],
                                     response_format={"type": "json_object"})
    with pytest.raises(ValueError, match="context size"):
        model.create_completion("word " * N_CTX)
    with pytest.raises(ValueError, match="empty"):
        model.create_completion([])
    with pytest.raises(TypeError):
        model.tokenize(3)


def test_closed_model_refuses(lib_path):
    m = gemmac.Model(lib_path, n_ctx=32)
    m.close()
    m.close()
    with pytest.raises(ValueError, match="closed"):
        m.tokenize("x")


def test_a_stream_ends_when_the_session_is_used_for_another_generation(model):
    stream = model("First", max_tokens=0, temperature=0, stream=True)
    next(stream)
    model("Second", max_tokens=2, temperature=0)
    with pytest.raises(RuntimeError, match="used for something else"):
        list(stream)


ANSWER = ("<|channel>thought\nLet me check é.<channel|><|tool_call>call:get_weather"
          "{city:<|\"|>Paris<|\"|>}<tool_call|>").encode()


def replay(model, monkeypatch, pieces):
    """Makes the model 'generate' `pieces`: the answers' assembly (parsing,
    streamed deltas, finish reasons) on a known Gemma 4 answer."""
    def fake_run(req, out):
        out.prompt_tokens = len(req.prompt)
        for i, p in enumerate(pieces):
            out.generated += 1
            yield gemmac.model._Event(i, p)
        out.finish_reason = "stop"
    monkeypatch.setattr(model, "_run", fake_run)


def test_tool_call_and_thought_whole_and_streamed(model, monkeypatch):
    # Split every 3 bytes: markers and a UTF-8 character cut across pieces.
    replay(model, monkeypatch, [ANSWER[i:i + 3] for i in range(0, len(ANSWER), 3)])
    chat = [{"role": "user", "content": "Weather in Paris?"}]
    whole = model.create_chat_completion(chat)
    message = whole["choices"][0]["message"]
    assert message == model.parse_chat_output(ANSWER)
    assert message["reasoning_content"] == "Let me check é."
    assert message["tool_calls"][0]["function"] == {"name": "get_weather",
                                                    "arguments": "{\"city\":\"Paris\"}"}
    assert whole["choices"][0]["finish_reason"] == "tool_calls"
    chunks = list(model.create_chat_completion(chat, stream=True))
    deltas = [c["choices"][0]["delta"] for c in chunks]
    assert "".join(d.get("reasoning_content") or "" for d in deltas) == "Let me check é."
    calls = [d["tool_calls"] for d in deltas if "tool_calls" in d]
    assert len(calls) == 1 and calls[0][0]["function"] == message["tool_calls"][0]["function"]
    assert calls[0][0]["index"] == 0
    assert chunks[-1]["choices"][0]["finish_reason"] == "tool_calls"
