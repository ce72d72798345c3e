"""The server's rules for releasing generated text and building the chat
template's inputs, without a model (runtime/serve/scheduler.cpp emit(),
runtime/serve/request_parse.cpp parseChatInputs())."""

import pytest

from gemmac._chat import check_messages, template_options
from gemmac._text import StopText, incomplete_utf8_tail


def feed(stop, pieces):
    s = StopText(stop)
    out, stopped = [], False
    for p in pieces:
        text, stopped = s.push(p)
        out.append(text)
        if stopped:
            return out, True
    out.append(s.flush())
    return out, stopped


def test_incomplete_utf8_tail():
    e = "é".encode()  # 2 bytes
    euro = "€".encode()  # 3 bytes
    assert incomplete_utf8_tail(b"ab") == 0
    assert incomplete_utf8_tail(b"a" + e[:1]) == 1
    assert incomplete_utf8_tail(b"a" + e) == 0
    assert incomplete_utf8_tail(euro[:2]) == 2
    assert incomplete_utf8_tail("😀".encode()[:3]) == 3
    assert incomplete_utf8_tail(b"") == 0


def test_text_without_stop_strings_is_released_whole_characters():
    e = "é".encode()
    assert feed([], [b"a", e[:1], e[1:] + b"b"]) == ([b"a", b"", e + b"b", b""], False)


def test_stop_string_split_across_pieces_is_held_then_cut():
    out, stopped = feed([b"STOP"], [b"hello S", b"TO", b"P and more"])
    assert stopped and b"".join(out) == b"hello "
    assert out[0] == b"hello "  # "S" waits: it may begin STOP


def test_held_prefix_that_is_no_stop_string_is_released():
    out, stopped = feed([b"STOP"], [b"aST", b"x"])
    assert not stopped and out == [b"a", b"STx", b""]


def test_earliest_of_several_stop_strings_wins():
    out, stopped = feed([b"cd", b"b"], [b"abcd"])
    assert stopped and out == [b"a"]


def test_empty_stop_string_is_ignored():
    assert feed([b""], [b"ab"]) == ([b"ab", b""], False)


def test_template_options_as_the_server():
    assert template_options(None, None, None, None, None) == \
        {"add_generation_prompt": True, "enable_thinking": False}
    tools = [{"type": "function", "function": {"name": "f"}}]
    assert template_options(tools, "auto", "low", None, None)["tools"] == tools
    assert template_options(tools, None, "low", None, None)["enable_thinking"] is True
    assert "tools" not in template_options(tools, "none", None, None, None)
    assert "tools" not in template_options([], None, None, None, None)
    assert template_options(None, None, "none", None, None)["enable_thinking"] is False
    # chat_template_kwargs come last and override.
    assert template_options(None, None, "high", None, {"enable_thinking": False, "x": 1}) == \
        {"add_generation_prompt": True, "enable_thinking": False, "x": 1}
    assert template_options(None, None, None, True, None)["enable_thinking"] is True


@pytest.mark.parametrize("bad", [[], "hi", [{"content": "x"}], [{"role": 3}], ["user"]])
def test_bad_messages_are_refused(bad):
    with pytest.raises(ValueError, match="messages"):
        check_messages(bad)


@pytest.mark.parametrize("args", [({"a": 1}, None, None, None, None),
                                  (None, None, 5, None, None),
                                  (None, None, None, None, ["x"])])
def test_bad_template_options_are_refused(args):
    with pytest.raises(ValueError):
        template_options(*args)
