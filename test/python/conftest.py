"""What the python.* tests share: the tiny model the python.model fixture
compiled (a library for gemmac.Model, a program for `run` and `serve`), and
`OUT serve` started on a free port."""

from __future__ import annotations

import contextlib
import json
import os
import re
import subprocess
import threading
import urllib.request

import pytest

import gemmac

# Every session (Python, run, serve) gets this context: the sliding-window
# rings are sized to it, so the same numbers need the same context.
N_CTX = 1024


def _env(name: str) -> str:
    value = os.environ.get(name)
    if not value:
        pytest.exit(f"{name} is not set (the python.* CTest cases set it)", returncode=2)
    return value


@pytest.fixture(scope="session")
def lib_path() -> str:
    return _env("GEMMAC_TEST_LIB")


@pytest.fixture(scope="session")
def program() -> str:
    return _env("GEMMAC_TEST_PROGRAM")


@pytest.fixture(scope="module")
def model(lib_path):
    with gemmac.Model(lib_path, n_ctx=N_CTX, seed=1) as m:
        yield m


def run_program(program: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([program, *args], capture_output=True, check=True, timeout=300)


class Server:
    """`OUT serve` on a free port, one slot, N_CTX tokens."""

    def __init__(self, program: str) -> None:
        self.proc = subprocess.Popen(
            [program, "serve", "--port", "0", "-np", "1", "--ctx", str(N_CTX)],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        log = b""
        while True:
            line = self.proc.stderr.readline()
            if not line:
                raise RuntimeError(f"serve exited: {log.decode(errors='replace')}")
            log += line
            m = re.search(rb"listening on http://[0-9.]+:(\d+)", line)
            if m:
                self.url = f"http://127.0.0.1:{int(m.group(1))}"
                break
        # Keep reading its log so that the server never blocks on a full pipe.
        threading.Thread(target=self.proc.stderr.read, daemon=True).start()

    def post(self, path: str, body: dict) -> dict:
        req = urllib.request.Request(self.url + path, json.dumps(body).encode(),
                                     {"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=300) as r:
            return json.load(r)

    def stream(self, path: str, body: dict) -> list:
        """The chunks of a server-sent event stream, up to data: [DONE]."""
        req = urllib.request.Request(self.url + path, json.dumps(dict(body, stream=True)).encode(),
                                     {"Content-Type": "application/json"})
        chunks = []
        with urllib.request.urlopen(req, timeout=300) as r:
            for line in r:
                if not line.startswith(b"data: "):
                    continue
                data = line[len(b"data: "):].strip()
                if data == b"[DONE]":
                    return chunks
                chunks.append(json.loads(data))
        raise AssertionError("the stream ended without data: [DONE]")

    def close(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=60)


@pytest.fixture(scope="module")
def server(program):
    s = Server(program)
    with contextlib.closing(s):
        yield s


def pytest_sessionfinish(session, exitstatus):
    # Every test skipped (a runtime without the functions they need): tell
    # CTest (SKIP_RETURN_CODE 77) instead of passing.
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    if exitstatus == 0 and reporter is not None and reporter.stats.get("skipped") \
            and not reporter.stats.get("passed"):
        session.exitstatus = 77
