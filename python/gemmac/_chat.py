"""The chat template's inputs of a request, as `OUT serve` builds them
(runtime/serve/request_parse.cpp, parseChatInputs)."""

from __future__ import annotations

from typing import Any, Dict, List, Mapping, Optional, Sequence

# Tokens that end a chat answer besides the model's end-of-generation ones
# (runtime/serve/http_server.cpp).
CHAT_STOP_MARKERS = ("<turn|>", "<eos>", "<|tool_response>")


def check_messages(messages: Sequence[Mapping[str, Any]]) -> List[Mapping[str, Any]]:
    if isinstance(messages, (str, bytes)) or not isinstance(messages, Sequence) or not messages:
        raise ValueError("'messages' must be a non-empty list")
    for i, m in enumerate(messages):
        if not isinstance(m, Mapping) or not isinstance(m.get("role"), str):
            raise ValueError(f"'messages[{i}]' must be a dict with a string 'role'")
    return list(messages)


def template_options(tools: Optional[Sequence[Mapping[str, Any]]],
                     tool_choice: Any,
                     reasoning_effort: Optional[str],
                     enable_thinking: Optional[bool],
                     chat_template_kwargs: Optional[Mapping[str, Any]]) -> Dict[str, Any]:
    """Template variables: thinking off unless asked for; tools unless
    tool_choice is "none"; chat_template_kwargs last, overriding the rest."""
    options: Dict[str, Any] = {"add_generation_prompt": True}
    thinking = False
    if reasoning_effort is not None:
        if not isinstance(reasoning_effort, str):
            raise ValueError("'reasoning_effort' must be a string")
        thinking = reasoning_effort != "none"
    if enable_thinking is not None:
        thinking = bool(enable_thinking)
    options["enable_thinking"] = thinking
    if tools is not None:
        if isinstance(tools, (str, bytes, Mapping)) or not isinstance(tools, Sequence):
            raise ValueError("'tools' must be a list")
        if tool_choice != "none" and tools:
            options["tools"] = list(tools)
    if chat_template_kwargs is not None:
        if not isinstance(chat_template_kwargs, Mapping):
            raise ValueError("'chat_template_kwargs' must be a dict")
        options.update(chat_template_kwargs)
    return options
