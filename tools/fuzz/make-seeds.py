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
    for variant, qtype in [("dense", "q4_0"), ("e2b", "q8_0"), ("e4b", "q4_k_m"),
                           ("moe", "q4_0")]:
        run(gen, "--variant", variant, "--type", qtype, "--layers", "1",
            "-o", str(seeds("gguf_import") / f"{variant}-{qtype}.gguf"))
    # An MTP drafter (gemma4-assistant), as compile-model --draft reads one.
    run(gen, "--variant", "assistant", "--for", "dense", "--type", "q8_0",
        "-o", str(seeds("gguf_import") / "assistant-dense-q8_0.gguf"))
    # Hugging Face checkpoints, each directory as one input: its files after
    # "@@file NAME" lines (the safetensors harness's framing).
    # The MoE ones store their experts per expert (GPTQ or NVFP4 modules,
    # gemma.part; NVFP4 with per-expert scales).
    hf_dirs = []
    # An MTP drafter (Gemma4AssistantForCausalLM), as compile-model --draft
    # reads one.
    hf = work / "hf-assistant"
    run(gen, "--variant", "assistant", "--for", "e2b", "--type", "bf16",
        "--centroid-head", "--hf", str(hf), "-o", str(work / "hf-assistant.gguf"))
    hf_dirs.append(("assistant", hf))
    for name, variant, quant in [("dense", "dense", []), ("e2b", "e2b", []),
                                 ("gptq", "dense", ["--hf-quant", "gptq-asym"]),
                                 ("fp8", "dense", ["--hf-quant", "fp8"]),
                                 ("nvfp4", "dense", ["--hf-quant", "nvfp4"]),
                                 ("moe-gptq", "moe", ["--hf-quant", "gptq"]),
                                 ("moe-nvfp4", "moe", ["--hf-quant", "nvfp4",
                                                       "--expert-ffn", "128"])]:
        hf = work / f"hf-{name}"
        run(gen, "--variant", variant, "--type", "bf16",
            "--layers", "1", "--hf", str(hf), *quant,
            "-o", str(work / f"hf-{name}.gguf"))
        hf_dirs.append((name, hf))
    for name, hf in hf_dirs:
        blob = b"".join(b"@@file " + f.name.encode() + b"\n" + f.read_bytes()
                        for f in sorted(hf.iterdir()))
        (seeds("safetensors") / f"{name}.ckpt").write_bytes(blob)
    # The GGUFs llama.cpp's converter makes of the NVFP4 checkpoints: GGML
    # NVFP4 blocks and '.scale' tensors (per expert: [experts]).
    for name, seed in [("nvfp4", "dense-nvfp4"), ("moe-nvfp4", "moe-nvfp4")]:
        (seeds("gguf_import") / f"{seed}.gguf").write_bytes(
            (work / f"hf-{name}.gguf").read_bytes())
    (seeds("safetensors") / "micro.ckpt").write_bytes(micro_checkpoint())
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
    session_state_seeds(seeds("session_state"))


def micro_checkpoint():
    """A whole Gemma 4 checkpoint of a few kilobytes (hidden 8, 16 tokens,
    one global layer, zero weights): a fast seed for the safetensors
    harness."""
    import json
    H, V, F, HD = 8, 16, 16, 4
    p = "model.language_model."
    shapes = {p + "embed_tokens.weight": [V, H], p + "norm.weight": [H]}
    layer = {"input_layernorm.weight": [H], "self_attn.q_proj.weight": [HD, H],
             "self_attn.k_proj.weight": [HD, H], "self_attn.v_proj.weight": [HD, H],
             "self_attn.o_proj.weight": [H, HD], "self_attn.q_norm.weight": [HD],
             "self_attn.k_norm.weight": [HD], "post_attention_layernorm.weight": [H],
             "pre_feedforward_layernorm.weight": [H], "mlp.gate_proj.weight": [F, H],
             "mlp.up_proj.weight": [F, H], "mlp.down_proj.weight": [H, F],
             "post_feedforward_layernorm.weight": [H], "layer_scalar": [1]}
    shapes.update({p + "layers.0." + k: v for k, v in layer.items()})
    header, body = {}, b""
    for name, shape in shapes.items():
        n = 1
        for d in shape:
            n *= d
        data = b"\x80\x3f" * n  # BF16 1.0
        header[name] = {"dtype": "BF16", "shape": shape,
                        "data_offsets": [len(body), len(body) + len(data)]}
        body += data
    text = json.dumps(header).encode()
    shard = struct.pack("<Q", len(text)) + text + body
    config = {"model_type": "gemma4_text", "vocab_size": V, "hidden_size": H,
              "intermediate_size": F, "num_hidden_layers": 1,
              "num_attention_heads": 1, "num_key_value_heads": 1, "head_dim": HD,
              "global_head_dim": HD, "hidden_size_per_layer_input": 0,
              "sliding_window": 4, "max_position_embeddings": 64,
              "final_logit_softcapping": 30.0}
    vocab = {f"<t{i}>": i for i in range(V)}
    tokenizer = {"added_tokens": [{"id": 2, "content": "<t2>", "special": True}],
                 "model": {"type": "BPE", "vocab": vocab, "merges": [["<t3>", "<t4>"]]}}
    files = {"config.json": json.dumps(config).encode(), "model.safetensors": shard,
             "tokenizer.json": json.dumps(tokenizer).encode(),
             "generation_config.json": b'{"eos_token_id": [1, 3]}',
             "chat_template.jinja": b"{{ bos_token }}"}
    return b"".join(b"@@file " + n.encode() + b"\n" + d for n, d in files.items())


MASK = (1 << 64) - 1


def word_hash(data, seed):
    """abi/weights_checksum.h's WordHash over bytes."""
    h = 0x9E3779B97F4A7C15 ^ seed

    def add(w):
        nonlocal h
        h = ((h ^ w) * 0xFF51AFD7ED558CCD) & MASK
        h ^= h >> 32

    whole = len(data) // 8 * 8
    for (w,) in struct.iter_unpack("<Q", data[:whole]):
        add(w)
    tail = data[whole:]
    add(int.from_bytes(tail, "little") ^ (len(tail) << 56))
    return h ^ (h >> 29)


def session_state(pos, seeded, logits):
    """A session state (runtime/src/state_format.h) for the session_state
    harness's fake model (test/unit/fake_program.h: weights checksum 0x1234,
    fingerprint 0xabcd, 1000 weight bytes, vocab 40, n_ctx 32, KV (2 + 32) x
    8 bytes). The cache bytes are arbitrary: the fake model evaluates from
    any cache."""
    vocab, n_ctx, kv = 40, 32, (2 + 32) * 8
    rng = b"".join(struct.pack("<Q", (i * 0x9E3779B97F4A7C15) & MASK) for i in range(312))
    history = b"".join(struct.pack("<i", (i * 7 + 3) % vocab) for i in range(pos))
    logit_bytes = b"".join(struct.pack("<f", i / 8 - 2) for i in range(vocab)) if logits else b""
    body = rng + history + logit_bytes + bytes((i * 31) & 0xFF for i in range(kv))
    total = 112 + len(body)
    header = b"GMCSTATE" + struct.pack(
        "<IIQQQQQiiQiIQIIIIQ", 1, 112, total, 0, 0x1234, 0xABCD, 1000, vocab, n_ctx,
        kv, pos, 1 if seeded else 0, 77, 312, 5, pos, vocab if logits else 0, 0)
    assert len(header) == 112
    state = header + body
    checksum = word_hash(state, total)
    return state[:24] + struct.pack("<Q", checksum) + state[32:]


def session_state_seeds(out):
    # The harness's first byte: 0 as it is (these are sealed).
    (out / "empty.state").write_bytes(b"\x00" + session_state(0, False, False))
    (out / "mid.state").write_bytes(b"\x00" + session_state(9, True, True))
    (out / "full.state").write_bytes(b"\x01" + session_state(32, True, True))


if __name__ == "__main__":
    main()
