"""Session state save/restore (gemmac_session_state_*, issue 15): a restored
session continues exactly as the saved one would have. Skipped, saying why,
with a runtime that lacks the functions."""

import pytest

import gemmac


@pytest.fixture(scope="module", autouse=True)
def need_state_functions(model):
    if not model._api.has("session_state_save"):
        pytest.skip("this libgemmac_runtime.so has no gemmac_session_state_save "
                    "(the capi branch adds it)")


def continued(model, tokens):
    model.eval(tokens)
    return model.logits


def test_restored_state_resumes_to_identical_logits(model):
    model.reset()
    prompt = model.tokenize("A state saved after this prompt")
    model.eval(prompt)
    saved_logits = model.logits
    state = model.save_state()
    more = model.tokenize(" and then some more words", add_bos=False)
    expected = continued(model, more)
    model.load_state(state, tokens=prompt)
    assert model.n_tokens == len(prompt) and model.tokens == prompt
    if model._api.has("session_logits"):
        assert model.logits == saved_logits
    assert continued(model, more) == expected
    # Into another session of the same program.
    with gemmac.Model(model.model_path, n_ctx=model.n_ctx()) as other:
        other.load_state(state)
        assert other.tokens is None and other.n_tokens == len(prompt)
        assert continued(other, more) == expected


def test_state_file_round_trip(model, tmp_path):
    model.reset()
    prompt = model.tokenize("Saved to a file")
    model.eval(prompt)
    path = tmp_path / "session.state"
    model.save_state_file(path)
    more = model.tokenize(" next", add_bos=False)
    expected = continued(model, more)
    model.reset()
    model.load_state_file(path)
    assert continued(model, more) == expected


def test_generation_after_restore_reuses_the_saved_prompt(model):
    model.reset()
    prompt = model.tokenize("Shared prefix of many requests")
    model.eval(prompt)
    state = model.save_state()
    question = prompt + model.tokenize(" question", add_bos=False)
    model.reset()
    fresh = model.create_completion(question, max_tokens=6, temperature=0)
    model.load_state(state, tokens=prompt)
    resumed = model.create_completion(question, max_tokens=6, temperature=0)
    assert resumed["usage"]["prompt_tokens_details"]["cached_tokens"] == len(prompt)
    assert resumed["choices"][0]["text"] == fresh["choices"][0]["text"]


def test_damaged_states_are_refused(model):
    model.reset()
    model.eval(model.tokenize("x"))
    state = model.save_state()
    held = model.tokens
    for bad in (b"", b"not a state", state[: len(state) // 2]):
        with pytest.raises(gemmac.GemmacError, match="load_state"):
            model.load_state(bad)
        assert model.tokens == held  # the session is left as it was
    with pytest.raises(ValueError, match="holds"):
        model.load_state(state, tokens=[1, 2, 3])
