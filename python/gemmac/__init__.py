"""gemmac: Python bindings (ctypes, no compiled extension) of programs that
gemmac's `compile-model --emit lib` writes.

    import gemmac
    with gemmac.Model("out/libe2b.so") as m:
        r = m.create_chat_completion([{"role": "user", "content": "Hi"}])
        print(r["choices"][0]["message"]["content"])
"""

from ._version import __version__
from .model import GemmacError, Model

__all__ = ["GemmacError", "Model", "__version__"]
