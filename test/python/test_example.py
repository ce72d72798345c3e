"""examples/python/chat.py runs: two turns through a pipe. Its answers are
sampled with a random seed, so only that it answers, cleanly, is checked."""

import os
import subprocess
import sys

EXAMPLE = os.path.join(os.path.dirname(__file__), "..", "..", "examples", "python", "chat.py")


def test_chat_example(lib_path):
    out = subprocess.run([sys.executable, EXAMPLE, lib_path], input=b"Hello\nAnd then?\n",
                         capture_output=True, timeout=600)
    assert out.returncode == 0 and out.stderr == b"", out.stderr.decode(errors="replace")
    assert out.stdout.endswith(b"\n") and out.stdout.count(b"\n") >= 2
