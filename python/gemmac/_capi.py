"""ctypes declarations of the C API (runtime/include/gemmac.h).

A library written by `compile-model --emit lib` exports NAME_program() and
needs libgemmac_runtime.so, which holds the whole C API; looking a function
up through the program's handle finds it there (dlsym searches the library's
dependencies). Functions newer than the runtime may be missing: those are
bound to a stub that raises NotImplementedError naming the function.
"""

from __future__ import annotations

import ctypes
from ctypes import (POINTER, Structure, c_char_p, c_float, c_int, c_int8, c_int32,
                    c_int64, c_size_t, c_uint64, c_void_p)
from typing import Any, Callable, Dict, Tuple

token_t = c_int32


class ModelOptions(Structure):
    _fields_ = [("n_threads", c_int), ("weights_in_memory", c_int), ("device", c_int)]


class SamplerParams(Structure):
    _fields_ = [
        ("temperature", c_float),
        ("top_k", c_int32),
        ("top_p", c_float),
        ("min_p", c_float),
        ("seed", c_uint64),
        ("repeat_penalty", c_float),
        ("penalty_last_n", c_int32),
        ("presence_penalty", c_float),
        ("frequency_penalty", c_float),
    ]


class Batch(Structure):
    """gemmac_batch: rows of several pool sessions for gemmac_decode."""
    _fields_ = [
        ("n_tokens", c_int32),
        ("capacity", c_int32),
        ("token", POINTER(token_t)),
        ("session", POINTER(c_void_p)),
        ("pos", POINTER(c_int32)),
        ("logits", POINTER(c_int8)),
    ]


# gemmac_token_fn: receives a token, returns nonzero to stop.
TokenFn = ctypes.CFUNCTYPE(c_int, token_t, c_void_p)


# name: (restype, argtypes). Strings the API mallocs come back as c_void_p so
# that they can be handed to gemmac_free.
_REQUIRED: Dict[str, Tuple[Any, list]] = {
    "gemmac_last_error": (c_char_p, []),
    "gemmac_model_default_options": (ModelOptions, []),
    "gemmac_model_open_program": (c_void_p, [c_void_p, c_char_p, POINTER(ModelOptions)]),
    "gemmac_model_close": (None, [c_void_p]),
    "gemmac_model_device": (c_char_p, [c_void_p]),
    "gemmac_model_vocab_size": (c_int32, [c_void_p]),
    "gemmac_model_context_length": (c_int32, [c_void_p]),
    "gemmac_model_threads": (c_int32, [c_void_p]),
    "gemmac_model_string": (c_char_p, [c_void_p, c_char_p]),
    "gemmac_model_number": (c_int64, [c_void_p, c_char_p]),
    "gemmac_tokenize": (c_int32, [c_void_p, c_char_p, c_size_t, c_int, c_int,
                                  POINTER(token_t), c_int32]),
    "gemmac_token_to_piece": (c_int32, [c_void_p, token_t, c_char_p, c_int32, c_int]),
    "gemmac_token_is_eog": (c_int, [c_void_p, token_t]),
    "gemmac_token_bos": (token_t, [c_void_p]),
    "gemmac_session_new": (c_void_p, [c_void_p, c_int32]),
    "gemmac_session_free": (None, [c_void_p]),
    "gemmac_session_reset": (None, [c_void_p]),
    "gemmac_session_position": (c_int32, [c_void_p]),
    "gemmac_session_context": (c_int32, [c_void_p]),
    "gemmac_session_eval": (c_int, [c_void_p, POINTER(token_t), c_int32,
                                    POINTER(c_float), c_int]),
    "gemmac_sampler_defaults": (SamplerParams, []),
    "gemmac_session_set_seed": (None, [c_void_p, c_uint64]),
    "gemmac_sample": (token_t, [c_void_p, POINTER(c_float), POINTER(SamplerParams)]),
    "gemmac_free": (None, [c_void_p]),
    "gemmac_chat_apply_template": (c_void_p, [c_void_p, c_char_p, c_char_p]),
    "gemmac_chat_parse_output": (c_void_p, [c_char_p, c_size_t]),
    "gemmac_chat_parser_new": (c_void_p, [c_char_p]),
    "gemmac_chat_parser_feed": (c_void_p, [c_void_p, c_char_p, c_size_t]),
    "gemmac_chat_parser_finish": (c_void_p, [c_void_p]),
    "gemmac_chat_parser_free": (None, [c_void_p]),
}

# Added in issue 15 (session state, cancel, version): bound when present.
_OPTIONAL: Dict[str, Tuple[Any, list]] = {
    "gemmac_version": (c_char_p, []),
    "gemmac_session_state_size": (c_size_t, [c_void_p]),
    "gemmac_session_state_save": (c_size_t, [c_void_p, c_void_p, c_size_t]),
    "gemmac_session_state_load": (c_int, [c_void_p, c_void_p, c_size_t]),
    "gemmac_session_state_save_file": (c_int, [c_void_p, c_char_p]),
    "gemmac_session_state_load_file": (c_int, [c_void_p, c_char_p]),
    "gemmac_session_cancel": (None, [c_void_p]),
    "gemmac_session_logits": (POINTER(c_float), [c_void_p]),
    # Issue 18 (continuous batching).
    "gemmac_pool_new": (c_void_p, [c_void_p, c_int32, c_int32]),
    "gemmac_pool_free": (None, [c_void_p]),
    "gemmac_pool_session": (c_void_p, [c_void_p, c_int32]),
    "gemmac_batch_init": (Batch, [c_int32]),
    "gemmac_batch_free": (None, [Batch]),
    "gemmac_batch_clear": (None, [POINTER(Batch)]),
    "gemmac_batch_add": (c_int, [POINTER(Batch), c_void_p, token_t, c_int32, c_int]),
    "gemmac_decode": (c_int, [c_void_p, POINTER(Batch)]),
    "gemmac_get_logits_ith": (POINTER(c_float), [c_void_p, c_int32]),
    # Issue 19 (speculative decoding).
    "gemmac_session_max_rollback": (c_int32, [c_void_p]),
    "gemmac_session_truncate": (c_int, [c_void_p, c_int32]),
    "gemmac_draft_ngram": (c_int32, [POINTER(token_t), c_int32, POINTER(token_t), c_int32,
                                     c_void_p]),
    "gemmac_session_draft": (c_int32, [c_void_p, token_t, c_int32, POINTER(token_t),
                                       POINTER(c_float)]),
    "gemmac_speculative_accept": (c_int32, [c_void_p, c_int32, POINTER(c_float),
                                            POINTER(SamplerParams), TokenFn, c_void_p,
                                            POINTER(token_t)]),
}


def _missing(name: str) -> Callable[..., Any]:
    def stub(*_args: Any) -> Any:
        raise NotImplementedError(
            f"{name} is not in this gemmac runtime (libgemmac_runtime.so is older "
            "than this Python package): rebuild the runtime")
    stub.missing = True  # type: ignore[attr-defined]
    return stub


class API:
    """The C API's functions as attributes, looked up through `lib`."""

    def __init__(self, lib: ctypes.CDLL) -> None:
        for table, required in ((_REQUIRED, True), (_OPTIONAL, False)):
            for name, (restype, argtypes) in table.items():
                try:
                    fn = getattr(lib, name)
                except AttributeError:
                    if required:
                        raise OSError(f"{lib._name}: no {name}: not a gemmac model library, "
                                      "or its libgemmac_runtime.so is too old") from None
                    setattr(self, name[len("gemmac_"):], _missing(name))
                    continue
                fn.restype = restype
                fn.argtypes = argtypes
                setattr(self, name[len("gemmac_"):], fn)

    def has(self, name: str) -> bool:
        return not getattr(getattr(self, name), "missing", False)

    def take_string(self, ptr: int | None) -> bytes | None:
        """The bytes of a string the API malloc'd, which is then freed."""
        if not ptr:
            return None
        try:
            return ctypes.string_at(ptr)
        finally:
            self.free(ptr)

    def error(self) -> str:
        msg = self.last_error()
        return msg.decode("utf-8", "replace") if msg else "unknown error"
