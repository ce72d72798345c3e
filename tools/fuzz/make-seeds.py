#!/usr/bin/python3
"""Seed corpora for the fuzz harnesses, written by the project's own
generators (gemmac-gen-model, compile-model) into OUT/<harness>/:

    make-seeds.py BIN_DIR OUT_DIR

One-layer models keep the seeds small (libFuzzer's input size follows them).
"""
import os
import pathlib
import shutil
import struct
import subprocess
import sys
import zipfile

KEY = "gemmac-test-master-key"  # the test key the harnesses verify with


def run(*args):
    env = dict(os.environ, AXIOM_MASTER_KEY=KEY)
    subprocess.run(args, check=True, env=env, stdout=subprocess.DEVNULL)


def main():
    bin_dir, out = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2])
    work = out / "work"
    shutil.rmtree(out, ignore_errors=True)
    work.mkdir(parents=True)
    seeds = lambda name: (out / name).mkdir(exist_ok=True) or out / name

    gen = str(bin_dir / "gemmac-gen-model")
    for variant, qtype in [("dense", "q4_0"), ("e2b", "q8_0"), ("e4b", "q4_k_m")]:
        run(gen, "--variant", variant, "--type", qtype, "--layers", "1",
            "-o", str(seeds("gguf_import") / f"{variant}-{qtype}.gguf"))
    srd = work / "srd"
    run(gen, "--variant", "dense", "--type", "f32", "--layers", "1",
        "--srd", str(srd), "-o", str(work / "base.gguf"))
    shutil.copy(srd / "model.srd4", seeds("srd4"))
    shutil.copy(srd / "model.qrc", seeds("sealed"))
    for axm in ["model-srd4.axm", "model-realpack.axm"]:
        shutil.copy(srd / axm, seeds("axm"))
        shutil.copy(srd / axm, seeds("zip"))
    for pt in ["srd_packed.pt", "srd_dense.pt"]:
        member = srd / "model-realpack.axm.d" / "weights" / pt
        shutil.copy(member, seeds("zip") / pt)
        with zipfile.ZipFile(member) as z:
            pkl = next(n for n in z.namelist() if n.endswith("/data.pkl"))
            (seeds("unpickler") / f"{pt}.pkl").write_bytes(z.read(pkl))
    for tree in ["model-srd4.axm.d", "model-realpack.axm.d"]:
        for f in sorted((srd / tree).rglob("*.json*")):
            name = f"{tree}-{f.relative_to(srd / tree)}".replace("/", "-")
            if f.suffix == ".jsonl":  # one document per ledger line
                for i, line in enumerate(f.read_bytes().splitlines()[:8]):
                    (seeds("axm_json") / f"{name}.{i}").write_bytes(line)
            else:
                shutil.copy(f, seeds("axm_json") / name)

    # A compiled program's weight file, and its tokenizer section.
    program = work / "program"
    run(str(bin_dir / "compile-model"), str(seeds("gguf_import") / "dense-q4_0.gguf"),
        "-o", str(program))
    weights = pathlib.Path(str(program) + ".weights").read_bytes()
    # The weights_file harness's first byte: 0 as it is, 1 re-sealed.
    (seeds("weights_file") / "raw.weights").write_bytes(b"\x00" + weights)
    (seeds("weights_file") / "resealed.weights").write_bytes(b"\x01" + weights)
    # ArtifactHeader (abi/artifact_format.h): magic, version, headerBytes,
    # fingerprint, weightsOffset, weightsBytes, tokenizerOffset, tokenizerBytes.
    tok_offset, tok_bytes = struct.unpack_from("<QQ", weights, 8 + 4 + 4 + 8 + 8 + 8)
    (seeds("tokenizer") / "dense.gmtk").write_bytes(
        weights[tok_offset:tok_offset + tok_bytes])
    shutil.rmtree(work)


if __name__ == "__main__":
    main()
