"""gemmac.Model: a compiled Gemma 4 program (a library `compile-model --emit
lib` wrote) driven through the C API, with llama-cpp-python's methods and
`OUT serve`'s answers: the same prompt rendering, tokens, stop rules and
output parsing, so that a greedy answer here equals the server's."""

from __future__ import annotations

import ctypes
import heapq
import json
import math
import os
import random
import re
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import (Any, Dict, Iterator, List, Mapping, Optional, Sequence,
                    Tuple, Union)

from . import _capi
from ._chat import CHAT_STOP_MARKERS, check_messages, template_options
from ._text import StopText

Text = Union[str, bytes]
Response = Dict[str, Any]
Message = Mapping[str, Any]

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
# The server's bounds on request fields (runtime/serve/request_parse.cpp).
_MAX_TOP_LOGPROBS = 20


class GemmacError(RuntimeError):
    """The runtime refused: gemmac_last_error()'s message."""


def _resolve(path: Union[str, os.PathLike]) -> tuple:
    """DIR/libNAME.so or DIR/NAME -> (library path, NAME)."""
    p = os.fspath(path)
    base = os.path.basename(p)
    if base.endswith(".so"):
        if not base.startswith("lib"):
            raise ValueError(f"{p}: a program library is named libNAME.so")
        lib, name = p, base[3:-3]
    else:
        lib, name = os.path.join(os.path.dirname(p), f"lib{base}.so"), base
    if not _NAME.match(name):
        raise ValueError(f"{p}: '{name}' is not a program name ([A-Za-z_][A-Za-z0-9_]*)")
    if not os.path.isfile(lib):
        raise FileNotFoundError(f"{lib}: no such library (write it with "
                                f"`compile-model MODEL --emit lib -o DIR/{name}`)")
    return os.path.abspath(lib), name


def _as_bytes(text: Text, what: str) -> bytes:
    if isinstance(text, bytes):
        return text
    if isinstance(text, str):
        return text.encode("utf-8")
    raise TypeError(f"'{what}' must be str or bytes, not {type(text).__name__}")


def _check_range(name: str, value: float, lo: float, hi: float) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not lo <= value <= hi:
        raise ValueError(f"'{name}' must be a number between {lo:g} and {hi:g}, not {value!r}")
    return value


def _is_prompt_list(prompt: Any) -> bool:
    """Several prompts (texts or token lists), not one prompt's tokens."""
    return (isinstance(prompt, (list, tuple)) and len(prompt) > 0 and
            all(isinstance(p, (str, bytes, list, tuple)) for p in prompt))


def _unsupported(**given: tuple) -> None:
    """Refuses llama-cpp-python options gemmac does not implement, rather
    than ignoring them: name=(value, the value that means 'off')."""
    for name, (value, off) in given.items():
        if value != off:
            raise NotImplementedError(f"'{name}' is not supported by gemmac")


@dataclass
class _Event:
    id: int  # -1: held-back text released at the end
    text: bytes
    logprob: Optional[Dict[str, Any]] = None


@dataclass
class _Outcome:
    prompt_tokens: int = 0
    reused: int = 0
    generated: int = 0
    finish_reason: str = ""


@dataclass
class _Request:
    prompt: List[int]
    max_tokens: int  # <= 0: until an end token or the context is full
    sampler: _capi.SamplerParams
    seed: Optional[int]
    stop: List[bytes]
    stop_tokens: List[int] = field(default_factory=list)
    special: bool = False  # token text with control tokens (chat parsing)
    top_logprobs: int = -1  # -1: no logprobs


class Model:
    """A compiled Gemma 4 program with one session (its KV cache)."""

    def __init__(self, path: Union[str, os.PathLike], *, n_ctx: int = 0,
                 n_threads: Optional[int] = None, seed: int = -1,
                 last_n_tokens_size: int = 64,
                 weights_path: Optional[Union[str, os.PathLike]] = None,
                 weights_in_memory: Optional[bool] = None, device: int = 0,
                 draft_max: int = 0, draft: Optional[str] = None) -> None:
        """Opens DIR/libNAME.so (or DIR/NAME): its weights (`weights_path`, or
        NAME.weights beside it) and a session of `n_ctx` tokens (0: the
        model's context, at most 4096, as the program's commands).
        n_threads None: one per usable CPU. seed -1: a random one.
        draft_max > 0: completions decode speculatively, verifying up to
        that many drafted tokens per step (the same tokens as without;
        compile the library with --draft-max for drafts longer than 1 past
        the sliding window). draft: "mtp" (the MTP drafter compiled in with
        compile-model --draft; the default when there is one) or "ngram"
        (prompt lookup)."""
        self._model = self._session = None
        self.model_path, self._name = _resolve(path)
        lib = ctypes.CDLL(self.model_path)
        try:
            program = getattr(lib, f"{self._name}_program")
        except AttributeError:
            raise ValueError(f"{self.model_path} has no {self._name}_program(): not a "
                             "library `compile-model --emit lib` wrote") from None
        program.restype, program.argtypes = ctypes.c_void_p, []
        self._api = api = _capi.API(lib)
        opts = api.model_default_options()
        opts.n_threads = 0 if n_threads is None else int(n_threads)
        opts.weights_in_memory = -1 if weights_in_memory is None else int(bool(weights_in_memory))
        opts.device = int(device)
        weights = os.fsencode(weights_path) if weights_path is not None else None
        self._model = api.model_open_program(program(), weights, ctypes.byref(opts))
        if not self._model:
            raise GemmacError(f"{self.model_path}: {api.error()}")
        self._session = api.session_new(self._model, int(n_ctx))
        if not self._session:
            err = api.error()
            self.close()
            raise GemmacError(f"{self.model_path}: {err}")
        self._vocab = api.model_vocab_size(self._model)
        self._logits = (ctypes.c_float * self._vocab)()
        self._has_logits = False
        self._history: Optional[List[int]] = []  # what the KV cache holds; None: unknown
        self._cancel = threading.Event()
        self._generation = 0  # which generation owns the session
        # The seed every sampler carries: gemmac_sample restarts its random
        # sequence whenever the seed differs from the last one it used.
        if isinstance(seed, bool) or not isinstance(seed, int) or not -1 <= seed < 1 << 64:
            raise ValueError(f"'seed' must be an integer from -1 (random) to 2^64-1, not {seed!r}")
        self._seed = random.SystemRandom().getrandbits(63) if seed == -1 else seed
        self.last_n_tokens_size = last_n_tokens_size
        if isinstance(draft_max, bool) or not isinstance(draft_max, int) or not 0 <= draft_max <= 64:
            raise ValueError(f"'draft_max' must be an integer from 0 to 64, not {draft_max!r}")
        if draft_max and not api.has("speculative_accept"):
            api.speculative_accept()  # raises, naming the missing function
        self.draft_max = draft_max
        has_drafter = api.model_number(self._model, b"drafter") == 1
        if draft not in (None, "mtp", "ngram"):
            raise ValueError(f"'draft' must be 'mtp', 'ngram' or None, not {draft!r}")
        if draft == "mtp" and not has_drafter:
            raise ValueError(f"{self.model_path} has no MTP drafter (compile-model --draft)")
        self.draft = draft or ("mtp" if has_drafter else "ngram")
        # Drafted and accepted tokens of the last completion.
        self.n_drafted = self.n_accepted = 0
        self._bos_text = self._piece(self.token_bos(), True)
        self._chat_stop = []
        for marker in CHAT_STOP_MARKERS:
            ids = self.tokenize(marker, add_bos=False, special=True)
            if len(ids) == 1:
                self._chat_stop.append(ids[0])
        source = api.model_string(self._model, b"source")
        self.model_name = source.decode("utf-8", "replace") if source else self._name

    # --- lifetime ---------------------------------------------------------

    def close(self) -> None:
        """Frees the session and the model (also on leaving a `with` block)."""
        if self._session:
            self._api.session_free(self._session)
            self._session = None
        if self._model:
            self._api.model_close(self._model)
            self._model = None

    def __enter__(self) -> "Model":
        return self

    def __exit__(self, *_exc: Any) -> None:
        self.close()

    def __del__(self) -> None:
        if getattr(self, "_api", None) is not None:
            self.close()

    def _open(self) -> None:
        if not self._session:
            raise ValueError("the model is closed")

    # --- facts --------------------------------------------------------------

    def n_ctx(self) -> int:
        self._open()
        return self._api.session_context(self._session)

    def n_vocab(self) -> int:
        return self._vocab

    def token_bos(self) -> int:
        self._open()
        return self._api.token_bos(self._model)

    @property
    def device(self) -> str:
        self._open()
        return self._api.model_device(self._model).decode("utf-8", "replace")

    @property
    def n_threads(self) -> int:
        self._open()
        return self._api.model_threads(self._model)

    @property
    def runtime_version(self) -> str:
        """gemmac_version() of the runtime library."""
        return self._api.version().decode()

    @property
    def n_tokens(self) -> int:
        """Tokens the session holds."""
        self._open()
        return self._api.session_position(self._session)

    @property
    def tokens(self) -> Optional[List[int]]:
        """The tokens the session holds (None after a state load that did
        not say them)."""
        return None if self._history is None else list(self._history)

    # --- tokens -------------------------------------------------------------

    def tokenize(self, text: Text, add_bos: bool = True, special: bool = False) -> List[int]:
        """Token ids of `text`; `special` recognizes control tokens in it."""
        self._open()
        data = _as_bytes(text, "text")
        cap = len(data) + 8
        for _ in range(2):
            out = (_capi.token_t * cap)()
            n = self._api.tokenize(self._model, data, len(data), int(add_bos), int(special),
                                   out, cap)
            if n >= 0:
                return out[:n]
            cap = -n
        raise GemmacError(f"tokenize: {self._api.error()}")

    def _check_tokens(self, tokens: Sequence[int]) -> List[int]:
        ids = list(tokens)
        for i, t in enumerate(ids):
            if isinstance(t, bool) or not isinstance(t, int) or not 0 <= t < self._vocab:
                raise ValueError(f"tokens[{i}] = {t!r} is not a token id below {self._vocab}")
        return ids

    def _piece(self, token: int, special: bool) -> bytes:
        buf = ctypes.create_string_buffer(64)
        n = self._api.token_to_piece(self._model, token, buf, 64, int(special))
        if n < 0:
            buf = ctypes.create_string_buffer(-n)
            n = self._api.token_to_piece(self._model, token, buf, -n, int(special))
        return buf.raw[:max(n, 0)]

    def detokenize(self, tokens: Sequence[int], special: bool = False) -> bytes:
        """The bytes of `tokens` (control tokens only when `special`)."""
        self._open()
        return b"".join(self._piece(t, special) for t in self._check_tokens(tokens))

    # --- evaluation -----------------------------------------------------------

    def reset(self) -> None:
        """Empties the session (its KV cache)."""
        self._open()
        self._generation += 1  # a stream still open cannot go on
        self._reset()

    def _reset(self) -> None:
        # As the runtime's reset, drops a cancel asked while nothing ran.
        self._cancel.clear()
        self._api.session_reset(self._session)
        self._history, self._has_logits = [], False

    def eval(self, tokens: Sequence[int]) -> None:
        """Feeds tokens after those the session holds; `logits` are then
        the last one's."""
        self._open()
        self._generation += 1
        self._eval(self._check_tokens(tokens))

    def truncate(self, n_tokens: int) -> None:
        """Keeps the session's first n_tokens tokens (KV cache and history):
        at most max_rollback() positions back."""
        self._open()
        if self._api.session_truncate(self._session, int(n_tokens)) != 0:
            raise GemmacError(f"truncate: {self._api.error()}")
        self._generation += 1
        if self._history is not None:
            del self._history[n_tokens:]
        self._has_logits = False

    def max_rollback(self) -> int:
        """How many positions truncate() can go back now."""
        self._open()
        return self._api.session_max_rollback(self._session)

    def _eval(self, ids: List[int]) -> None:
        if not ids:
            return
        arr = (_capi.token_t * len(ids))(*ids)
        if self._api.session_eval(self._session, arr, len(ids), self._logits, 0) != 0:
            self._history, self._has_logits = None, False
            raise GemmacError(f"eval: {self._api.error()}")
        if self._history is not None:
            self._history.extend(ids)
        self._has_logits = True

    @property
    def logits(self) -> List[float]:
        """The logits of the last token evaluated (n_vocab floats)."""
        if not self._has_logits:
            raise ValueError("no logits: evaluate tokens first")
        return self._logits[:]

    def set_seed(self, seed: int) -> None:
        """Restarts the random sequence sampling draws from."""
        self._open()
        if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < 1 << 64:
            raise ValueError(f"'seed' must be an integer from 0 to 2^64-1, not {seed!r}")
        self._seed = seed
        self._api.session_set_seed(self._session, self._seed)

    def sample(self, *, temperature: float = 0.8, top_p: float = 0.95, min_p: float = 0.05,
               top_k: int = 40, repeat_penalty: float = 1.0, presence_penalty: float = 0.0,
               frequency_penalty: float = 0.0) -> int:
        """A token drawn from `logits` (temperature 0: the most likely)."""
        self._open()
        if not self._has_logits:
            raise ValueError("no logits: evaluate tokens first")
        params = self._sampler(temperature, top_p, min_p, top_k, repeat_penalty,
                               presence_penalty, frequency_penalty)
        return self._draw(params)

    def _sampler(self, temperature: float, top_p: float, min_p: float, top_k: int,
                 repeat_penalty: float, presence_penalty: float,
                 frequency_penalty: float) -> _capi.SamplerParams:
        p = self._api.sampler_defaults()
        p.temperature = _check_range("temperature", temperature, 0, 100)
        p.top_p = _check_range("top_p", top_p, 0, 1)
        p.min_p = _check_range("min_p", min_p, 0, 1)
        p.top_k = int(_check_range("top_k", top_k, 0, 1 << 30))
        p.repeat_penalty = _check_range("repeat_penalty", repeat_penalty, 0.01, 100)
        p.presence_penalty = _check_range("presence_penalty", presence_penalty, -2, 2)
        p.frequency_penalty = _check_range("frequency_penalty", frequency_penalty, -2, 2)
        p.penalty_last_n = int(self.last_n_tokens_size)
        p.seed = self._seed
        return p

    def _draw(self, params: _capi.SamplerParams) -> int:
        t = self._api.sample(self._session, self._logits, ctypes.byref(params))
        if t < 0:
            raise GemmacError(f"sample: {self._api.error()}")
        return t

    # --- session state (runtime functions of issue 15) ---------------------

    def save_state(self) -> bytes:
        """The session's state (KV cache, position, logits) as bytes."""
        self._open()
        n = self._api.session_state_size(self._session)
        buf = ctypes.create_string_buffer(max(n, 1))
        written = self._api.session_state_save(self._session, buf, n)
        if written == 0:
            raise GemmacError(f"save_state: {self._api.error()}")
        return buf.raw[:written]

    def load_state(self, state: bytes, tokens: Optional[Sequence[int]] = None) -> None:
        """Restores a state save_state returned. `tokens` (the `tokens` the
        model held when it was saved) lets later prompts that extend them
        skip evaluating them again."""
        self._open()
        self._generation += 1
        data = bytes(state)
        # A refused state leaves the session as it was.
        if self._api.session_state_load(self._session, data, len(data)) != 0:
            raise GemmacError(f"load_state: {self._api.error()}")
        self._after_load(tokens)

    def save_state_file(self, path: Union[str, os.PathLike]) -> None:
        self._open()
        if self._api.session_state_save_file(self._session, os.fsencode(path)) != 0:
            raise GemmacError(f"save_state_file: {self._api.error()}")

    def load_state_file(self, path: Union[str, os.PathLike],
                        tokens: Optional[Sequence[int]] = None) -> None:
        self._open()
        self._generation += 1
        if self._api.session_state_load_file(self._session, os.fsencode(path)) != 0:
            raise GemmacError(f"load_state_file: {self._api.error()}")
        self._after_load(tokens)

    def _after_load(self, tokens: Optional[Sequence[int]]) -> None:
        held = self._api.session_position(self._session)
        self._history = None
        if tokens is not None:
            ids = self._check_tokens(tokens)
            if len(ids) != held:
                raise ValueError(f"'tokens' has {len(ids)} tokens; the state holds {held}")
            self._history = ids
        self._has_logits = False
        if held > 0 and self._api.has("session_logits"):
            ptr = self._api.session_logits(self._session)
            if ptr:
                ctypes.memmove(self._logits, ptr, self._vocab * ctypes.sizeof(ctypes.c_float))
                self._has_logits = True

    def cancel(self) -> None:
        """Stops the generation running in another thread: it ends with
        finish_reason "cancelled". Thread-safe. With a runtime that has
        gemmac_session_cancel a prompt being evaluated stops too; with an
        older one, generation stops between tokens."""
        if self._session and self._api.has("session_cancel"):
            self._api.session_cancel(self._session)
        else:
            self._cancel.set()

    def _take_cancel(self) -> bool:
        """A cancel asked of a runtime without gemmac_session_cancel."""
        if not self._cancel.is_set():
            return False
        self._cancel.clear()
        return True

    # --- generation, as the server's scheduler runs a job -------------------

    def _logprob(self, token: int, top: int, values: Optional[List[float]] = None
                 ) -> Dict[str, Any]:
        if values is None:
            values = self._logits[:]
        mx = max(values)
        lse = mx + math.log(sum(math.exp(v - mx) for v in values))

        def entry(t: int, lp: float) -> Dict[str, Any]:
            piece = self._piece(t, True)
            return {"id": t, "token": piece.decode("utf-8", "replace"), "logprob": lp,
                    "bytes": list(piece)}
        e = entry(token, values[token] - lse)
        best = heapq.nlargest(top, range(self._vocab), key=values.__getitem__) if top > 0 else []
        e["top_logprobs"] = [entry(t, values[t] - lse) for t in best]
        return e

    def _eval_or_cancelled(self, ids: List[int]) -> bool:
        """Evaluates; False if the runtime's cancel stopped it."""
        try:
            self._eval(ids)
        except GemmacError as e:
            if str(e) == "eval: cancelled":
                return False
            raise
        return True

    def _check_prompt(self, prompt: List[int]) -> None:
        if not prompt:
            raise ValueError("the prompt is empty")
        n_ctx = self.n_ctx()
        if len(prompt) >= n_ctx:
            raise ValueError(f"the request exceeds the available context size ({len(prompt)} "
                             f"prompt tokens, context {n_ctx}), try increasing it")

    def _run(self, req: _Request, out: _Outcome) -> Iterator[_Event]:
        """Evaluates the prompt (after the longest held prefix of it) and
        yields each generated token's released text. An end token is not
        evaluated; a stop string ends the text before it."""
        self._open()
        self._generation += 1
        mine = self._generation
        out.prompt_tokens = len(req.prompt)
        held = self._history
        # Only a cache that is a strict prefix is reused: sliding-window
        # layers keep only their window, so a cache cannot be cut back.
        if held is not None and len(held) < len(req.prompt) and req.prompt[:len(held)] == held:
            out.reused = len(held)
        else:
            self._reset()
        if self._take_cancel() or not self._eval_or_cancelled(req.prompt[out.reused:]):
            out.finish_reason = "cancelled"
            return
        if req.seed is not None:
            self.set_seed(req.seed)
        n_ctx = self.n_ctx()
        text = StopText(req.stop)
        if self.draft_max:
            yield from self._run_speculative(req, out, text, mine, n_ctx)
            return
        while not out.finish_reason:
            t = self._draw(req.sampler)
            ev = self._emit(req, text, out, t, self.n_tokens, n_ctx)
            if ev is not None:
                yield ev
                if self._generation != mine:
                    raise RuntimeError("the model was used for something else before this "
                                       "stream ended: its session no longer holds this one")
            if not out.finish_reason and (self._take_cancel() or
                                          not self._eval_or_cancelled([t])):
                out.finish_reason = "cancelled"
        rest = text.flush()  # empty after a stop string
        if rest:
            yield _Event(-1, rest)

    def _run_speculative(self, req: _Request, out: _Outcome, text: StopText, mine: int,
                         n_ctx: int) -> Iterator[_Event]:
        """_run's generation with drafting: each step evaluates the token
        just sampled and an n-gram draft of what follows it, with every
        row's logits; gemmac_speculative_accept samples the rows in order
        (the draws of plain decoding) and keeps the draft while it equals
        the samples. The events and the final session are plain decoding's."""
        api, V = self._api, self._vocab
        self.n_drafted = self.n_accepted = 0
        rows = (ctypes.c_float * (V * (self.draft_max + 1)))()
        draft = (_capi.token_t * self.draft_max)()
        events: List[_Event] = []
        t = self._draw(req.sampler)
        ev = self._emit(req, text, out, t, self.n_tokens, n_ctx)
        if ev is not None:
            yield ev
        while not out.finish_reason:
            if self._take_cancel():
                out.finish_reason = "cancelled"
                break
            start = self.n_tokens
            # The step keeps t: it rolls back at most k positions.
            k = min(self.draft_max, n_ctx - start - 1, api.session_max_rollback(self._session))
            if req.max_tokens > 0:
                k = min(k, req.max_tokens - out.generated)
            got = 0
            if k > 0 and self.draft == "mtp":
                got = api.session_draft(self._session, t, k, draft, None)
            elif k > 0:
                context = self._history + [t]
                got = api.draft_ngram((_capi.token_t * len(context))(*context), len(context),
                                      draft, k, None)
            batch = [t] + list(draft[:max(got, 0)])
            arr = (_capi.token_t * len(batch))(*batch)
            if api.session_eval(self._session, arr, len(batch), rows, 1) != 0:
                self._history, self._has_logits = None, False
                if api.error() == "cancelled":
                    out.finish_reason = "cancelled"
                    break
                raise GemmacError(f"eval: {api.error()}")
            self._history.extend(batch)
            events.clear()

            def on_sample(x: int, _user: Any) -> int:
                j = len(events)
                values = rows[j * V:(j + 1) * V] if req.top_logprobs >= 0 else None
                events.append(self._emit(req, text, out, x, start + j + 1, n_ctx, values))
                return 1 if out.finish_reason else 0

            nxt = _capi.token_t(-1)
            accepted = api.speculative_accept(self._session, len(batch), rows,
                                              ctypes.byref(req.sampler),
                                              _capi.TokenFn(on_sample), None, ctypes.byref(nxt))
            if accepted < 0:
                self._history = None
                raise GemmacError(f"speculative: {api.error()}")
            self.n_drafted += len(batch) - 1
            self.n_accepted += accepted
            del self._history[self.n_tokens:]
            ctypes.memmove(self._logits, ctypes.byref(rows, accepted * V * 4), V * 4)
            for ev in events:
                if ev is not None:
                    yield ev
                    if self._generation != mine:
                        raise RuntimeError("the model was used for something else before this "
                                           "stream ended: its session no longer holds this one")
            t = nxt.value
        rest = text.flush()
        if rest:
            yield _Event(-1, rest)

    def _emit(self, req: _Request, text: StopText, out: _Outcome, t: int, pos: int,
              n_ctx: int, values: Optional[List[float]] = None) -> Optional[_Event]:
        """What sampled token t (the sequence holding `pos` tokens) adds to
        a request's generation: its event (None for an end token), with
        out.finish_reason set when the generation ends there. `values`: the
        logits t was sampled from (default: the model's session's)."""
        if self._api.token_is_eog(self._model, t) or t in req.stop_tokens:
            out.finish_reason = "stop"
            return None
        lp = self._logprob(t, req.top_logprobs, values) if req.top_logprobs >= 0 else None
        released, stopped = text.push(self._piece(t, req.special))
        out.generated += 1
        if stopped:
            out.finish_reason = "stop"
        elif 0 < req.max_tokens <= out.generated or pos >= n_ctx:
            out.finish_reason = "length"
        return _Event(t, released, lp)

    def _run_batch(self, reqs: List[_Request]) -> List[Tuple[List[_Event], _Outcome]]:
        """The requests' generations in shared forward steps (a pool of one
        sequence each, gemmac_decode): each step evaluates every unfinished
        sequence's next token, or its whole prompt in the first. A sequence
        samples, stops and ends as _run does alone, so each result equals
        that request run by itself."""
        api = self._api
        if not api.has("pool_new"):
            api.pool_new()  # raises, naming the missing function
        n_ctx = self.n_ctx()
        pool = api.pool_new(self._model, len(reqs), n_ctx)
        if not pool:
            raise GemmacError(f"pool: {api.error()}")
        batch = api.batch_init(sum(len(r.prompt) for r in reqs))
        results = [([], _Outcome(prompt_tokens=len(r.prompt))) for r in reqs]
        try:
            if not batch.capacity:
                raise GemmacError(f"batch: {api.error()}")
            sessions = [api.pool_session(pool, i) for i in range(len(reqs))]
            texts = [StopText(r.stop) for r in reqs]
            # What each evaluates next. A new session's sampler starts from
            # its params' seed, as _run's set_seed restarts it.
            feed = {i: r.prompt for i, r in enumerate(reqs)}
            while feed:
                api.batch_clear(ctypes.byref(batch))
                last_row = {}
                for i, ids in feed.items():
                    for k, t in enumerate(ids):
                        api.batch_add(ctypes.byref(batch), sessions[i], t, -1,
                                      int(k == len(ids) - 1))
                    last_row[i] = batch.n_tokens - 1
                if api.decode(pool, ctypes.byref(batch)) != 0:
                    raise GemmacError(f"decode: {api.error()}")
                for i, row in last_row.items():
                    req, (events, out) = reqs[i], results[i]
                    logits = api.get_logits_ith(pool, row)
                    t = api.sample(sessions[i], logits, ctypes.byref(req.sampler))
                    if t < 0:
                        raise GemmacError(f"sample: {api.error()}")
                    values = logits[:self._vocab] if req.top_logprobs >= 0 else None
                    ev = self._emit(req, texts[i], out, t,
                                    api.session_position(sessions[i]), n_ctx, values)
                    if ev is not None:
                        events.append(ev)
                    if not out.finish_reason:
                        feed[i] = [t]
                        continue
                    del feed[i]
                    rest = texts[i].flush()
                    if rest:
                        events.append(_Event(-1, rest))
        finally:
            api.batch_free(batch)
            api.pool_free(pool)
        return results

    def _request(self, prompt: List[int], max_tokens: Optional[int], temperature: float,
                 top_p: float, min_p: float, top_k: int, repeat_penalty: float,
                 presence_penalty: float, frequency_penalty: float, seed: Optional[int],
                 stop: Optional[Union[str, List[str]]]) -> _Request:
        self._open()
        self._check_prompt(prompt)
        sampler = self._sampler(temperature, top_p, min_p, top_k, repeat_penalty,
                                presence_penalty, frequency_penalty)
        if seed is not None:
            if isinstance(seed, bool) or not isinstance(seed, int) or not -1 <= seed < 1 << 63:
                raise ValueError(f"'seed' must be an integer from -1 to 2^63-1, not {seed!r}")
            if seed == -1:  # as llama.cpp: a random one
                seed = random.SystemRandom().getrandbits(63)
            sampler.seed = seed
        if max_tokens is not None and (isinstance(max_tokens, bool) or
                                       not isinstance(max_tokens, int)):
            raise ValueError(f"'max_tokens' must be an integer or None, not {max_tokens!r}")
        stops = [stop] if isinstance(stop, str) else list(stop or [])
        for s in stops:
            if not isinstance(s, str):
                raise ValueError("'stop' must be a string or a list of strings")
        return _Request(prompt, max_tokens or 0, sampler, seed, [s.encode() for s in stops])

    def _prompt_tokens(self, prompt: Union[Text, Sequence[int]]) -> List[int]:
        """Tokens of a prompt as the server reads one: control tokens parsed,
        <bos> added unless the text starts with it."""
        if isinstance(prompt, (str, bytes)):
            data = _as_bytes(prompt, "prompt")
            return self.tokenize(data, add_bos=not data.startswith(self._bos_text), special=True)
        return self._check_tokens(prompt)

    @staticmethod
    def _usage(out: _Outcome) -> Dict[str, Any]:
        return {"prompt_tokens": out.prompt_tokens, "completion_tokens": out.generated,
                "total_tokens": out.prompt_tokens + out.generated,
                "prompt_tokens_details": {"cached_tokens": out.reused}}

    def _base(self, kind: str, model: Optional[str]) -> Dict[str, Any]:
        prefix = "chatcmpl-" if kind.startswith("chat") else "cmpl-"
        return {"id": prefix + uuid.uuid4().hex, "object": kind, "created": int(time.time()),
                "model": model or self.model_name, "system_fingerprint": "gemmac"}

    # --- text completion ------------------------------------------------------

    def create_completion(
        self,
        prompt: Union[Text, Sequence[int]],
        suffix: Optional[str] = None,
        max_tokens: Optional[int] = 16,
        temperature: float = 0.8,
        top_p: float = 0.95,
        min_p: float = 0.05,
        typical_p: float = 1.0,
        logprobs: Optional[int] = None,
        echo: bool = False,
        stop: Optional[Union[str, List[str]]] = None,
        frequency_penalty: float = 0.0,
        presence_penalty: float = 0.0,
        repeat_penalty: float = 1.0,
        top_k: int = 40,
        stream: bool = False,
        seed: Optional[int] = None,
        tfs_z: float = 1.0,
        mirostat_mode: int = 0,
        mirostat_tau: float = 5.0,
        mirostat_eta: float = 0.1,
        model: Optional[str] = None,
        stopping_criteria: Any = None,
        logits_processor: Any = None,
        grammar: Any = None,
        logit_bias: Optional[Dict[int, float]] = None,
        *,
        stream_options: Optional[Mapping[str, Any]] = None,
    ) -> Union[Response, Iterator[Response]]:
        """Text after `prompt`, as POST /v1/completions answers it (llama-cpp-
        python's arguments; max_tokens None or <= 0: until an end token or
        the context is full). `logprobs` N: each token's log-probability
        and the N likeliest ({"content": [...]}, as the server). A list of
        prompts (strings, or token lists) gives a choice per prompt, in
        order, generated together in shared forward steps (continuous
        batching; not streamed): each choice is the one that prompt alone
        would give, with the same sampler and seed. The model's own session
        is not used."""
        _unsupported(suffix=(suffix, None), typical_p=(typical_p, 1.0), tfs_z=(tfs_z, 1.0),
                     mirostat_mode=(mirostat_mode, 0), stopping_criteria=(stopping_criteria, None),
                     logits_processor=(logits_processor, None), grammar=(grammar, None),
                     logit_bias=(logit_bias, None))
        if _is_prompt_list(prompt):
            if stream:
                raise ValueError("stream=True takes one prompt, not a list of them")
            reqs = []
            for p in prompt:
                req = self._request(self._prompt_tokens(p), max_tokens, temperature, top_p,
                                    min_p, top_k, repeat_penalty, presence_penalty,
                                    frequency_penalty, seed, stop)
                if logprobs is not None:
                    req.top_logprobs = int(_check_range("logprobs", logprobs, 0,
                                                        _MAX_TOP_LOGPROBS))
                reqs.append(req)
            body = self._base("text_completion", model)
            body["choices"], total = [], _Outcome()
            for i, (req, (events, out)) in enumerate(zip(reqs, self._run_batch(reqs))):
                head = self.detokenize(req.prompt) if echo else b""
                text = head + b"".join(ev.text for ev in events)
                lp = [ev.logprob for ev in events if ev.logprob is not None]
                body["choices"].append({
                    "text": text.decode("utf-8", "replace"), "index": i,
                    "logprobs": {"content": lp} if req.top_logprobs >= 0 else None,
                    "finish_reason": out.finish_reason})
                total.prompt_tokens += out.prompt_tokens
                total.generated += out.generated
            body["usage"] = self._usage(total)
            return body
        tokens = self._prompt_tokens(prompt)
        req = self._request(tokens, max_tokens, temperature, top_p, min_p, top_k, repeat_penalty,
                            presence_penalty, frequency_penalty, seed, stop)
        if logprobs is not None:
            req.top_logprobs = int(_check_range("logprobs", logprobs, 0, _MAX_TOP_LOGPROBS))
        head = self.detokenize(tokens) if echo else b""
        if stream:
            return self._completion_stream(req, head, model, stream_options)
        out = _Outcome()
        events = list(self._run(req, out))
        text = head + b"".join(ev.text for ev in events)
        lp = [ev.logprob for ev in events if ev.logprob is not None]
        body = self._base("text_completion", model)
        body["choices"] = [{"text": text.decode("utf-8", "replace"), "index": 0,
                            "logprobs": {"content": lp} if req.top_logprobs >= 0 else None,
                            "finish_reason": out.finish_reason}]
        body["usage"] = self._usage(out)
        return body

    def _completion_stream(self, req: _Request, head: bytes, model: Optional[str],
                           stream_options: Optional[Mapping[str, Any]]) -> Iterator[Response]:
        base = self._base("text_completion", model)

        def chunk(text: bytes, finish: Optional[str], lp: Any) -> Response:
            return dict(base, choices=[{"text": text.decode("utf-8", "replace"), "index": 0,
                                        "logprobs": lp, "finish_reason": finish}])
        if head:
            yield chunk(head, None, None)
        out = _Outcome()
        # As the server: a chunk per generated token, its text possibly empty.
        for ev in self._run(req, out):
            if ev.id < 0 and not ev.text:
                continue
            yield chunk(ev.text, None, {"content": [ev.logprob]} if ev.logprob else None)
        yield chunk(b"", out.finish_reason, None)
        if stream_options and stream_options.get("include_usage"):
            yield dict(base, choices=[], usage=self._usage(out))

    def __call__(self, prompt: Union[Text, Sequence[int]], *args: Any,
                 **kwargs: Any) -> Union[Response, Iterator[Response]]:
        """create_completion."""
        return self.create_completion(prompt, *args, **kwargs)

    # --- chat ---------------------------------------------------------------

    def apply_chat_template(self, messages: Sequence[Message], *,
                            tools: Optional[Sequence[Mapping[str, Any]]] = None,
                            add_generation_prompt: bool = True,
                            **template_kwargs: Any) -> str:
        """The model's chat template rendered over OpenAI messages (it
        starts with <bos>); keyword arguments become template variables."""
        options = dict(template_kwargs, add_generation_prompt=add_generation_prompt)
        if tools:
            options["tools"] = list(tools)
        return self._render(check_messages(messages), options).decode("utf-8", "replace")

    def _render(self, messages: List[Message], options: Dict[str, Any]) -> bytes:
        self._open()
        try:
            m = json.dumps(messages, ensure_ascii=False).encode()
            o = json.dumps(options, ensure_ascii=False).encode()
        except (TypeError, ValueError, UnicodeError) as e:
            raise ValueError(f"messages or template options are not JSON: {e}") from None
        text = self._api.take_string(self._api.chat_apply_template(self._model, m, o))
        if text is None:
            raise ValueError(f"chat template: {self._api.error()}")
        return text

    def parse_chat_output(self, text: Text) -> Dict[str, Any]:
        """A Gemma 4 answer (control tokens included) as an OpenAI assistant
        message: content, reasoning_content, tool_calls."""
        data = _as_bytes(text, "text")
        out = self._api.take_string(self._api.chat_parse_output(data, len(data)))
        if out is None:
            raise GemmacError(f"parse_chat_output: {self._api.error()}")
        return json.loads(out)

    def create_chat_completion(
        self,
        messages: Sequence[Message],
        functions: Any = None,
        function_call: Any = None,
        tools: Optional[Sequence[Mapping[str, Any]]] = None,
        tool_choice: Optional[Union[str, Mapping[str, Any]]] = None,
        temperature: float = 0.2,
        top_p: float = 0.95,
        top_k: int = 40,
        min_p: float = 0.05,
        typical_p: float = 1.0,
        stream: bool = False,
        stop: Optional[Union[str, List[str]]] = None,
        seed: Optional[int] = None,
        response_format: Optional[Mapping[str, Any]] = None,
        max_tokens: Optional[int] = None,
        presence_penalty: float = 0.0,
        frequency_penalty: float = 0.0,
        repeat_penalty: float = 1.0,
        tfs_z: float = 1.0,
        mirostat_mode: int = 0,
        mirostat_tau: float = 5.0,
        mirostat_eta: float = 0.1,
        model: Optional[str] = None,
        logits_processor: Any = None,
        grammar: Any = None,
        logit_bias: Optional[Dict[int, float]] = None,
        logprobs: Optional[bool] = None,
        top_logprobs: Optional[int] = None,
        *,
        chat_template_kwargs: Optional[Mapping[str, Any]] = None,
        reasoning_effort: Optional[str] = None,
        enable_thinking: Optional[bool] = None,
        stream_options: Optional[Mapping[str, Any]] = None,
    ) -> Union[Response, Iterator[Response]]:
        """The assistant's answer to `messages`, as POST /v1/chat/completions
        answers it: reasoning_content when it thought (enable_thinking,
        reasoning_effort other than "none", or chat_template_kwargs),
        tool_calls when it called `tools`. stream=True yields
        chat.completion.chunk dicts."""
        if response_format is not None and (not isinstance(response_format, Mapping)
                                            or response_format.get("type") != "text"):
            raise NotImplementedError("'response_format' other than text is not supported")
        _unsupported(functions=(functions, None), function_call=(function_call, None),
                     typical_p=(typical_p, 1.0), tfs_z=(tfs_z, 1.0),
                     mirostat_mode=(mirostat_mode, 0), logits_processor=(logits_processor, None),
                     grammar=(grammar, None), logit_bias=(logit_bias, None))
        options = template_options(tools, tool_choice, reasoning_effort, enable_thinking,
                                   chat_template_kwargs)
        prompt = self._render(check_messages(messages), options)
        tokens = self.tokenize(prompt, add_bos=not prompt.startswith(self._bos_text),
                               special=True)
        req = self._request(tokens, max_tokens, temperature, top_p, min_p, top_k, repeat_penalty,
                            presence_penalty, frequency_penalty, seed, stop)
        req.stop_tokens, req.special = self._chat_stop, True
        if logprobs:
            req.top_logprobs = int(_check_range("top_logprobs", top_logprobs or 0, 0,
                                                _MAX_TOP_LOGPROBS))
        if stream:
            return self._chat_stream(req, model, stream_options)
        out = _Outcome()
        events = list(self._run(req, out))
        message = self.parse_chat_output(b"".join(ev.text for ev in events))
        finish = out.finish_reason
        if finish == "stop" and "tool_calls" in message:
            finish = "tool_calls"
        lp = [ev.logprob for ev in events if ev.logprob is not None]
        body = self._base("chat.completion", model)
        body["choices"] = [{"index": 0, "message": message, "finish_reason": finish,
                            "logprobs": {"content": lp} if req.top_logprobs >= 0 else None}]
        body["usage"] = self._usage(out)
        return body

    def _chat_stream(self, req: _Request, model: Optional[str],
                     stream_options: Optional[Mapping[str, Any]]) -> Iterator[Response]:
        base = self._base("chat.completion.chunk", model)
        api = self._api
        want_lp = req.top_logprobs >= 0
        pending: List[Dict[str, Any]] = []  # logprobs of tokens whose text is held back

        def chunk(delta: Dict[str, Any], finish: Optional[str]) -> Response:
            lp = None
            if want_lp:
                lp = {"content": list(pending)}
                pending.clear()
            return dict(base, choices=[{"index": 0, "delta": delta, "logprobs": lp,
                                        "finish_reason": finish}])

        def deltas(raw: Optional[int]) -> List[Dict[str, Any]]:
            text = api.take_string(raw)
            return json.loads(text) if text else []

        parser = api.chat_parser_new(None)
        try:
            yield dict(base, choices=[{"index": 0, "delta": {"role": "assistant", "content": None},
                                       "logprobs": None, "finish_reason": None}])
            out = _Outcome()
            tool_call = False
            for ev in self._run(req, out):
                if ev.logprob is not None:
                    pending.append(ev.logprob)
                for d in deltas(api.chat_parser_feed(parser, ev.text, len(ev.text))):
                    tool_call |= "tool_calls" in d
                    yield chunk(d, None)
            for d in deltas(api.chat_parser_finish(parser)):
                tool_call |= "tool_calls" in d
                yield chunk(d, None)
            finish = out.finish_reason
            if finish == "stop" and tool_call:
                finish = "tool_calls"
            yield chunk({}, finish)
            if stream_options and stream_options.get("include_usage"):
                yield dict(base, choices=[], usage=self._usage(out))
        finally:
            api.chat_parser_free(parser)
