#!/usr/bin/python3
"""The corruption loop: random truncations, bit flips and field overwrites of
generated GGUFs, each compiled by compile-model under a timeout. Every case
must either compile or exit 1 with one clear error naming the file; a crash,
a signal, a hang, an LLVM/sanitizer report or an unexplained exit fails.

    corrupt-gguf.py --bin BIN_DIR --work DIR [--cases N] [--seed S]

Prints the tally per mutation kind; exits 1 (keeping the failing inputs in
DIR/failures/) if any case failed.
"""
import argparse
import pathlib
import random
import shutil
import struct
import subprocess
import sys
import time

# Values that break parsers: zero, sign bits, all ones, just past 32 bits.
INTERESTING = [0, 1, 0x7F, 0x80, 0xFF, 0x7FFF, 0xFFFF, 0x7FFFFFFF, 0x80000000,
               0xFFFFFFFF, 1 << 32, (1 << 63) - 1, 1 << 63, (1 << 64) - 1]
BAD_SIGNS = ["LLVM ERROR", "Assertion", "AddressSanitizer", "runtime error:",
             "LeakSanitizer", "terminate called", "Stack dump", "PLEASE submit"]


SCALAR = {0: 1, 1: 1, 2: 2, 3: 2, 4: 4, 5: 4, 6: 4, 7: 1, 10: 8, 11: 8, 12: 8}


def metadata_end(data):
    """Where the tensor data starts: the mutations aim at the header, the
    metadata and the tensor infos (where the parser works), mostly."""
    def value(at, vtype):
        if vtype in SCALAR:
            return at + SCALAR[vtype]
        if vtype == 8:  # string
            return at + 8 + struct.unpack_from("<Q", data, at)[0]
        elem, count = struct.unpack_from("<IQ", data, at)  # array
        at += 12
        for _ in range(count):
            at = value(at, elem)
        return at
    n_tensors, n_kv = struct.unpack_from("<QQ", data, 8)
    at = 24
    for _ in range(n_kv):
        at += 8 + struct.unpack_from("<Q", data, at)[0]  # key
        vtype = struct.unpack_from("<I", data, at)[0]
        at = value(at + 4, vtype)
    for _ in range(n_tensors):
        at += 8 + struct.unpack_from("<Q", data, at)[0]  # name
        n_dims = struct.unpack_from("<I", data, at)[0]
        at += 4 + 8 * n_dims + 4 + 8
    return at


def mutate(data, rng):
    head = metadata_end(data)
    kind = rng.choice(["truncate", "bitflip", "overwrite", "overwrite", "splice"])
    b = bytearray(data)
    if kind == "truncate":
        cut = rng.randrange(0, len(b)) if rng.random() < 0.3 else rng.randrange(0, head)
        del b[cut:]
    elif kind == "bitflip":
        for _ in range(rng.randint(1, 8)):
            at = rng.randrange(0, head if rng.random() < 0.9 else len(b))
            b[at] ^= 1 << rng.randrange(8)
    elif kind == "overwrite":
        width = rng.choice([1, 2, 4, 8])
        at = rng.randrange(0, head - width)
        value = rng.choice(INTERESTING) & ((1 << (8 * width)) - 1)
        b[at:at + width] = value.to_bytes(width, "little")
    else:  # splice: a run of bytes copied from elsewhere in the header
        n = rng.randint(1, 64)
        src, dst = rng.randrange(0, head - n), rng.randrange(0, head - n)
        b[dst:dst + n] = b[src:src + n]
    return kind, bytes(b)


def classify(proc, path):
    err = proc.stderr.decode(errors="replace")
    if any(sign in err for sign in BAD_SIGNS):
        return "bad-report"
    if proc.returncode == 0:
        return "compiled"
    if proc.returncode == 1 and "error:" in err and str(path) in err:
        return "clear-error"
    return f"exit-{proc.returncode}"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", required=True)
    ap.add_argument("--work", required=True)
    ap.add_argument("--cases", type=int, default=200)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--timeout", type=float, default=60)
    args = ap.parse_args()
    bin_dir, work = pathlib.Path(args.bin), pathlib.Path(args.work)
    shutil.rmtree(work, ignore_errors=True)
    (work / "failures").mkdir(parents=True)
    bases = []
    for variant, qtype in [("dense", "q4_0"), ("e2b", "q8_0"), ("e4b", "q4_k_m")]:
        path = work / f"{variant}-{qtype}.gguf"
        subprocess.run([bin_dir / "gemmac-gen-model", "--variant", variant,
                        "--type", qtype, "--layers", "2", "-o", path], check=True)
        bases.append(path.read_bytes())

    rng = random.Random(args.seed)
    tally, failures, start = {}, 0, time.time()
    for case in range(args.cases):
        kind, data = mutate(rng.choice(bases), rng)
        path = work / f"case-{case}.gguf"
        path.write_bytes(data)
        # A timeout is tried once more with four times the time, so that a
        # busy machine is not taken for a hang.
        for limit in (args.timeout, 4 * args.timeout):
            try:
                proc = subprocess.run([bin_dir / "compile-model", path, "-o",
                                       work / "out", "--quiet"],
                                      capture_output=True, timeout=limit)
                outcome = classify(proc, path)
                break
            except subprocess.TimeoutExpired:
                proc, outcome = None, "timeout"
        tally.setdefault(kind, {}).setdefault(outcome, 0)
        tally[kind][outcome] += 1
        if outcome in ("compiled", "clear-error"):
            path.unlink()
        else:
            failures += 1
            kept = work / "failures" / path.name
            path.rename(kept)
            detail = proc.stderr.decode(errors="replace")[-2000:] if proc else ""
            print(f"FAIL case {case} ({kind}): {outcome}: {kept}\n{detail}")
    print(f"corruption loop: {args.cases} cases in {time.time() - start:.0f} s, "
          f"seed {args.seed}")
    for kind in sorted(tally):
        counts = ", ".join(f"{k} {v}" for k, v in sorted(tally[kind].items()))
        print(f"  {kind:9s} {counts}")
    print(f"  failures: {failures}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
