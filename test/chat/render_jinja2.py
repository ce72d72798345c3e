#!/usr/bin/python3
"""render_jinja2.py TEMPLATE_FILE CONTEXT_JSON_FILE: the reference renderer.

Renders a chat template with python3-jinja2 in the environment transformers'
apply_chat_template uses (ImmutableSandboxedEnvironment, trim_blocks,
lstrip_blocks, loopcontrols, {% generation %}, its tojson, raise_exception and strftime_now)
and prints the result; exit 1 with the error on stderr on failure.
Run it with /usr/bin/python3 (Debian's python3-jinja2).
"""
import json
import sys
from datetime import datetime

import jinja2
import jinja2.ext
import jinja2.sandbox
from jinja2.exceptions import TemplateError


class AssistantTracker(jinja2.ext.Extension):
    """transformers' {% generation %} block; renders its body unchanged (it
    only records assistant-token spans when asked to)."""

    tags = {"generation"}

    def parse(self, parser):
        lineno = next(parser.stream).lineno
        body = parser.parse_statements(["name:endgeneration"], drop_needle=True)
        call = self.call_method("_render", [])
        return jinja2.nodes.CallBlock(call, [], [], body).set_lineno(lineno)

    def _render(self, caller):
        return caller()


def raise_exception(message):
    raise TemplateError(message)


def tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False):
    return json.dumps(x, ensure_ascii=ensure_ascii, indent=indent,
                      separators=separators, sort_keys=sort_keys)


def strftime_now(format):
    return datetime.now().strftime(format)


def make_env():
    env = jinja2.sandbox.ImmutableSandboxedEnvironment(
        trim_blocks=True, lstrip_blocks=True, extensions=[AssistantTracker, jinja2.ext.loopcontrols])
    env.filters["tojson"] = tojson
    env.globals["raise_exception"] = raise_exception
    env.globals["strftime_now"] = strftime_now
    return env


def render(source, context):
    """(True, text) or (False, error message)."""
    try:
        return True, make_env().from_string(source).render(**context)
    except Exception as e:  # every failure is an error result, like ours
        return False, "%s: %s" % (type(e).__name__, e)


def main():
    if len(sys.argv) != 3:
        sys.stderr.write("usage: render_jinja2.py TEMPLATE_FILE CONTEXT_JSON_FILE\n")
        return 2
    with open(sys.argv[1], encoding="utf-8", newline="") as f:
        source = f.read()
    with open(sys.argv[2], encoding="utf-8") as f:
        context = json.load(f)
    ok, out = render(source, context)
    if not ok:
        sys.stderr.write("error: %s\n" % out)
        return 1
    sys.stdout.buffer.write(out.encode("utf-8"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
