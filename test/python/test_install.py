"""`pip install ./python` into a fresh venv of Debian's python3, with no
package index: the in-tree build backend needs nothing to be downloaded."""

import os
import subprocess
import venv

SOURCE = os.path.join(os.path.dirname(__file__), "..", "..", "python")


def test_pip_install_into_a_fresh_venv_offline(tmp_path, lib_path):
    venv.create(tmp_path / "venv", with_pip=True)
    py = str(tmp_path / "venv" / "bin" / "python")
    # An unreachable index: any download attempt fails instead of hanging.
    env = dict(os.environ, PIP_INDEX_URL="http://127.0.0.1:9/simple", PIP_NO_INPUT="1",
               PIP_DISABLE_PIP_VERSION_CHECK="1")
    env.pop("PYTHONPATH", None)
    subprocess.run([py, "-m", "pip", "install", os.path.abspath(SOURCE)], env=env, check=True,
                   cwd=tmp_path)
    check = ("import gemmac, os, sys; "
             "d = os.path.dirname(gemmac.__file__); "
             "assert d.startswith(sys.prefix), d; "
             "assert os.path.exists(os.path.join(d, 'py.typed')); "
             "m = gemmac.Model(sys.argv[1], n_ctx=64); "
             "print(m.detokenize(m.tokenize('installed', add_bos=False)).decode())")
    out = subprocess.run([py, "-c", check, lib_path], env=env, check=True, cwd=tmp_path,
                         capture_output=True).stdout
    assert out == b"installed\n"
