"""A PEP 517 (and PEP 660) build backend in the standard library only.

The package is pure Python (ctypes over the shared libraries gemmac builds),
so a wheel is a zip of gemmac/ and its metadata; writing it here means pip
needs no setuptools or wheel from a package index, even in build isolation.
"""

from __future__ import annotations

import base64
import hashlib
import io
import os
import re
import tarfile
import zipfile

NAME = "gemmac"
SUMMARY = "Python bindings of Gemma 4 programs compiled by gemmac (ctypes)"
REQUIRES_PYTHON = ">=3.8"
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# Zip entries get a fixed date: the same sources give the same wheel.
DATE = (1980, 1, 1, 0, 0, 0)


def _version() -> str:
    with open(os.path.join(ROOT, NAME, "_version.py"), encoding="utf-8") as f:
        m = re.search(r'^__version__ = "([^"]+)"$', f.read(), re.M)
    if not m:
        raise RuntimeError(f"{NAME}/_version.py: no __version__ line")
    return m.group(1)


def _metadata() -> str:
    return (f"Metadata-Version: 2.1\nName: {NAME}\nVersion: {_version()}\n"
            f"Summary: {SUMMARY}\nRequires-Python: {REQUIRES_PYTHON}\n")


def _package_files() -> list:
    """(path in the wheel, path on disk) of gemmac/: sources and py.typed."""
    out = []
    for d, dirs, files in os.walk(os.path.join(ROOT, NAME)):
        dirs[:] = sorted(x for x in dirs if x != "__pycache__")
        for f in sorted(files):
            if f.endswith((".py", ".typed")):
                full = os.path.join(d, f)
                out.append((os.path.relpath(full, ROOT).replace(os.sep, "/"), full))
    return out


def _write_wheel(wheel_directory: str, contents: list) -> str:
    """contents: (path in the wheel, bytes). Adds the dist-info and RECORD."""
    version = _version()
    dist_info = f"{NAME}-{version}.dist-info"
    contents = contents + [
        (f"{dist_info}/METADATA", _metadata().encode()),
        (f"{dist_info}/WHEEL", b"Wheel-Version: 1.0\nGenerator: gemmac_build\n"
                               b"Root-Is-Purelib: true\nTag: py3-none-any\n"),
        (f"{dist_info}/top_level.txt", f"{NAME}\n".encode()),
    ]
    record = []
    for path, data in contents:
        digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=")
        record.append(f"{path},sha256={digest.decode()},{len(data)}")
    record.append(f"{dist_info}/RECORD,,")
    contents.append((f"{dist_info}/RECORD", ("\n".join(record) + "\n").encode()))
    name = f"{NAME}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(os.path.join(wheel_directory, name), "w", zipfile.ZIP_DEFLATED) as z:
        for path, data in contents:
            info = zipfile.ZipInfo(path, DATE)
            info.external_attr = 0o644 << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            z.writestr(info, data)
    return name


def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
    files = []
    for arc, full in _package_files():
        with open(full, "rb") as f:
            files.append((arc, f.read()))
    return _write_wheel(wheel_directory, files)


def build_editable(wheel_directory, config_settings=None, metadata_directory=None):
    # A .pth file puts this source tree on sys.path: edits take effect at once.
    return _write_wheel(wheel_directory, [(f"__editable__.{NAME}.pth", (ROOT + "\n").encode())])


def build_sdist(sdist_directory, config_settings=None):
    base = f"{NAME}-{_version()}"
    name = f"{base}.tar.gz"
    members = [("pyproject.toml", os.path.join(ROOT, "pyproject.toml")),
               ("build_backend/gemmac_build.py", os.path.abspath(__file__))]
    members += _package_files()
    with tarfile.open(os.path.join(sdist_directory, name), "w:gz") as t:
        for arc, full in members:
            with open(full, "rb") as f:
                _add(t, f"{base}/{arc}", f.read())
        _add(t, f"{base}/PKG-INFO", _metadata().encode())
    return name


def _add(t: tarfile.TarFile, path: str, data: bytes) -> None:
    info = tarfile.TarInfo(path)
    info.size, info.mode = len(data), 0o644
    t.addfile(info, io.BytesIO(data))


def get_requires_for_build_wheel(config_settings=None):
    return []


def get_requires_for_build_editable(config_settings=None):
    return []


def get_requires_for_build_sdist(config_settings=None):
    return []
