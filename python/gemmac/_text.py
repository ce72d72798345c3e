"""Generated text released the way `OUT serve` releases it
(runtime/serve/scheduler.cpp, Scheduler::emit): bytes that may still begin a
stop string, or an incomplete UTF-8 character, are held back; a stop string
ends the text just before it."""

from __future__ import annotations

from typing import List, Tuple


def incomplete_utf8_tail(s: bytes) -> int:
    """Bytes at the end of `s` that begin a UTF-8 character not yet whole."""
    for back in range(1, min(3, len(s)) + 1):
        c = s[-back]
        if c & 0xC0 == 0x80:
            continue  # a continuation byte: look further back
        need = 4 if c >= 0xF0 else 3 if c >= 0xE0 else 2 if c >= 0xC0 else 1
        return back if need > back else 0
    return 0


class StopText:
    """Pieces in, text that is certain out."""

    def __init__(self, stop: List[bytes]) -> None:
        self.stop = [s for s in stop if s]
        self.pending = b""

    def push(self, piece: bytes) -> Tuple[bytes, bool]:
        """The text `piece` makes certain, and whether a stop string ended it."""
        p = self.pending + piece
        hits = [i for i in (p.find(s) for s in self.stop) if i >= 0]
        if hits:
            self.pending = b""
            return p[:min(hits)], True
        ready = len(p) - incomplete_utf8_tail(p)
        for s in self.stop:
            for k in range(min(len(s) - 1, len(p)), 0, -1):
                if p.endswith(s[:k]):
                    ready = min(ready, len(p) - k)
                    break
        self.pending = p[ready:]
        return p[:ready], False

    def flush(self) -> bytes:
        """What is held back once generation ends without a stop string."""
        rest, self.pending = self.pending, b""
        return rest
