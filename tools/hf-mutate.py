#!/usr/bin/python3
"""Writes a malformed copy of a Hugging Face checkpoint directory, one
failure class at a time, for the tests of compile-model's safetensors
frontend (test/frontends/safetensors/malformed.test).

    hf-mutate.py SRC_DIR MUTATION DST_DIR

SRC_DIR is a two-shard checkpoint written by gemmac-gen-model --hf. DST_DIR
is created (or replaced) and holds the copy; SRC_DIR is never modified.
"""
import json
import os
import shutil
import struct
import sys

SHARD1 = "model-00001-of-00002.safetensors"
SHARD2 = "model-00002-of-00002.safetensors"
ROOT = "model.language_model."


def read_shard(path):
    with open(path, "rb") as f:
        data = f.read()
    (n,) = struct.unpack("<Q", data[:8])
    return json.loads(data[8:8 + n]), data[8 + n:]


def write_shard(path, header, body, length=None):
    text = json.dumps(header).encode()
    text += b" " * (-len(text) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text) if length is None else length))
        f.write(text)
        f.write(body)


def edit_header(d, shard, fn):
    path = os.path.join(d, shard)
    header, body = read_shard(path)
    body = fn(header, body) or body
    write_shard(path, header, body)


def edit_json(d, name, fn):
    path = os.path.join(d, name)
    with open(path) as f:
        obj = json.load(f)
    fn(obj)
    with open(path, "w") as f:
        json.dump(obj, f)


def last_tensor(header):
    return max((k for k in header if k != "__metadata__"),
               key=lambda k: header[k]["data_offsets"][1])


def shard_of(d, tensor):
    with open(os.path.join(d, "model.safetensors.index.json")) as f:
        return json.load(f)["weight_map"][tensor]


def rename_tensor(d, old, new):
    shard = shard_of(d, old)
    edit_header(d, shard, lambda h, b: h.__setitem__(new, h.pop(old)))
    edit_json(d, "model.safetensors.index.json",
              lambda o: o["weight_map"].__setitem__(new, o["weight_map"].pop(old)))


def mutate(d, kind):
    s1 = os.path.join(d, SHARD1)
    q = ROOT + "layers.0.self_attn.q_proj.weight"
    if kind == "too-short":
        with open(s1, "wb") as f:
            f.write(b"\x10\x00\x00\x00")
    elif kind == "header-too-large":
        header, body = read_shard(s1)
        write_shard(s1, header, body, length=200_000_000)
    elif kind == "header-past-end":
        with open(s1, "r+b") as f:
            f.write(struct.pack("<Q", os.path.getsize(s1)))
    elif kind == "header-not-object":
        header, body = read_shard(s1)
        text = b"[" + json.dumps(header).encode()[1:-1] + b"]"
        text += b" " * (-len(text) % 8)
        with open(s1, "wb") as f:
            f.write(struct.pack("<Q", len(text)) + text + body)
    elif kind == "header-bad-json":
        header, body = read_shard(s1)
        text = json.dumps(header).encode()[:-1] + b",}"
        text += b" " * (-len(text) % 8)
        with open(s1, "wb") as f:
            f.write(struct.pack("<Q", len(text)) + text + body)
    elif kind == "header-deep-json":
        header, body = read_shard(s1)
        text = json.dumps(header).encode()[:-1] + b', "deep": ' + b"[" * 100000 + b"]" * 100000 + b"}"
        text += b" " * (-len(text) % 8)
        with open(s1, "wb") as f:
            f.write(struct.pack("<Q", len(text)) + text + body)
    elif kind == "config-deep-json":
        with open(os.path.join(d, "config.json"), "rb") as f:
            text = f.read().rstrip()[:-1]
        with open(os.path.join(d, "config.json"), "wb") as f:
            f.write(text + b', "deep": ' + b"[" * 100000 + b"]" * 100000 + b"}")
    elif kind == "unknown-dtype":
        edit_header(d, shard_of(d, q), lambda h, b: h[q].__setitem__("dtype", "Q4"))
    elif kind == "size-mismatch":
        edit_header(d, shard_of(d, q), lambda h, b: h[q]["shape"].__setitem__(0, 500))
    elif kind == "overlap":
        def overlap(h, b):
            a, e = h[q]["data_offsets"]
            h[q]["data_offsets"] = [a - 2, e - 2]
        edit_header(d, shard_of(d, q), overlap)
    elif kind == "gap":
        def gap(h, b):
            last = last_tensor(h)
            a, e = h[last]["data_offsets"]
            h[last]["data_offsets"] = [a + 2, e + 2]
            return b + b"\0\0"
        edit_header(d, SHARD1, gap)
    elif kind == "trailing-bytes":
        with open(s1, "ab") as f:
            f.write(b"\0" * 6)
    elif kind == "truncated":
        with open(s1, "r+b") as f:
            f.truncate(os.path.getsize(s1) - 100)
    elif kind == "index-missing-shard":
        edit_json(d, "model.safetensors.index.json",
                  lambda o: o["weight_map"].__setitem__(q, "model-00003-of-00003.safetensors"))
    elif kind == "index-path-escape":
        edit_json(d, "model.safetensors.index.json",
                  lambda o: o["weight_map"].__setitem__(q, "../" + SHARD1))
    elif kind == "index-wrong-shard":
        other = SHARD2 if shard_of(d, q) == SHARD1 else SHARD1
        edit_json(d, "model.safetensors.index.json",
                  lambda o: o["weight_map"].__setitem__(q, other))
    elif kind == "duplicate-tensor":
        # The second shard's first tensor, under a name the first shard has.
        header, _ = read_shard(os.path.join(d, SHARD1))
        name = next(k for k in header if k != "__metadata__")
        def dup(h, b):
            first = min((k for k in h if k != "__metadata__"),
                        key=lambda k: h[k]["data_offsets"][0])
            h[name] = h.pop(first)
        edit_header(d, SHARD2, dup)
    elif kind == "no-config":
        os.remove(os.path.join(d, "config.json"))
    elif kind == "wrong-model-type":
        edit_json(d, "config.json", lambda o: o.__setitem__("model_type", "llama"))
    elif kind == "text-model-type":
        edit_json(d, "config.json",
                  lambda o: o["text_config"].__setitem__("model_type", "gemma3_text"))
    elif kind == "bad-layers":
        edit_json(d, "config.json",
                  lambda o: o["text_config"].__setitem__("num_hidden_layers", -1))
    elif kind == "bad-layer-types":
        edit_json(d, "config.json",
                  lambda o: o["text_config"]["layer_types"].pop())
    elif kind == "bad-rope":
        edit_json(d, "config.json",
                  lambda o: o["text_config"]["rope_parameters"]["full_attention"]
                  .__setitem__("rope_type", "yarn"))
    elif kind == "moe":
        edit_json(d, "config.json",
                  lambda o: o["text_config"].__setitem__("enable_moe_block", True))
    elif kind == "untied-without-lm-head":
        edit_json(d, "config.json", lambda o: o.__setitem__("tie_word_embeddings", False))
    elif kind == "no-tokenizer":
        os.remove(os.path.join(d, "tokenizer.json"))
    elif kind == "tokenizer-not-bpe":
        edit_json(d, "tokenizer.json", lambda o: o["model"].__setitem__("type", "Unigram"))
    elif kind == "tokenizer-gap":
        def gap(o):
            vocab = o["model"]["vocab"]
            victim = next(t for t, i in vocab.items() if i == 500)
            del vocab[victim]
        edit_json(d, "tokenizer.json", gap)
    elif kind == "generation-eos":
        edit_json(d, "generation_config.json",
                  lambda o: o.__setitem__("eos_token_id", [1, 99999]))
    elif kind == "generation-sampling":
        # Not a failure: sampling defaults other than gemmac's own.
        edit_json(d, "generation_config.json", lambda o: o.update(
            temperature=0.5, top_k=7, top_p=0.8, min_p=0.05,
            repetition_penalty=1.1, penalty_last_n=32))
    elif kind == "generation-top-p":
        edit_json(d, "generation_config.json", lambda o: o.__setitem__("top_p", 2))
    elif kind == "missing-tensor":
        rename_tensor(d, q, ROOT + "layers.0.self_attn.query.weight")
    elif kind == "wrong-shape":
        up = ROOT + "layers.0.mlp.up_proj.weight"
        edit_header(d, shard_of(d, up), lambda h, b: h[up].__setitem__(
            "shape", list(reversed(h[up]["shape"]))))
    elif kind == "wrong-dtype":
        edit_header(d, shard_of(d, q), lambda h, b: h[q].__setitem__("dtype", "I16"))
    elif kind == "non-finite-scalar":
        name = ROOT + "layers.0.layer_scalar"
        def inf(h, b):
            a, _ = h[name]["data_offsets"]
            return b[:a] + b"\x80\x7f" + b[a + 2:]
        edit_header(d, shard_of(d, name), inf)
    elif kind.startswith("gptq-"):
        # On a checkpoint written with --hf-quant gptq.
        up = ROOT + "layers.0.mlp.up_proj"
        if kind == "gptq-gidx-range":
            name = up + ".g_idx"
            def bad(h, b):
                a, _ = h[name]["data_offsets"]
                return b[:a + 20] + struct.pack("<i", 99) + b[a + 24:]
            edit_header(d, shard_of(d, name), bad)
        elif kind == "gptq-qweight-shape":
            name = up + ".qweight"
            edit_header(d, shard_of(d, name), lambda h, b: h[name].__setitem__(
                "shape", list(reversed(h[name]["shape"]))))
        elif kind == "gptq-scales-dtype":
            name = up + ".scales"
            edit_header(d, shard_of(d, name), lambda h, b: h[name].__setitem__(
                "dtype", "BF16"))
        elif kind == "gptq-no-qzeros":
            rename_tensor(d, up + ".qzeros", up + ".zeros")
        elif kind == "gptq-bits":
            edit_json(d, "config.json", lambda o: o["quantization_config"]
                      .__setitem__("bits", 8))
        elif kind == "gptq-inf-scale":
            name = up + ".scales"
            def inf(h, b):
                a, _ = h[name]["data_offsets"]
                return b[:a + 6] + b"\x00\x7c" + b[a + 8:]
            edit_header(d, shard_of(d, name), inf)
        elif kind == "gptq-groups":
            edit_json(d, "config.json", lambda o: o["quantization_config"]
                      .__setitem__("group_size", 32))
        else:
            sys.exit(f"hf-mutate.py: unknown mutation '{kind}'")
    elif kind.startswith("fp8-"):
        # On a checkpoint written with --hf-quant fp8.
        up = ROOT + "layers.0.mlp.up_proj"
        if kind == "fp8-scale-shape":
            name = up + ".weight_scale"
            edit_header(d, shard_of(d, name), lambda h, b: h[name].__setitem__(
                "shape", [h[name]["shape"][2], 1, h[name]["shape"][0], 1]))
        elif kind == "fp8-scale-dtype":
            name = up + ".weight_scale"
            edit_header(d, shard_of(d, name), lambda h, b: h[name].__setitem__(
                "dtype", "I32"))
        elif kind == "fp8-no-scale":
            rename_tensor(d, up + ".weight_scale", up + ".scale")
        elif kind == "fp8-nan-scale":
            name = up + ".weight_scale"
            def nan(h, b):
                a, _ = h[name]["data_offsets"]
                return b[:a + 4] + struct.pack("<f", float("nan")) + b[a + 8:]
            edit_header(d, shard_of(d, name), nan)
        elif kind == "fp8-nan-weight":
            name = up + ".weight"
            def nan(h, b):
                a, _ = h[name]["data_offsets"]
                return b[:a + 300] + b"\x7f" + b[a + 301:]
            edit_header(d, shard_of(d, name), nan)
        else:
            sys.exit(f"hf-mutate.py: unknown mutation '{kind}'")
    elif kind.startswith("nvfp4-"):
        # On a checkpoint written with --hf-quant nvfp4.
        up = ROOT + "layers.0.mlp.up_proj"
        if kind == "nvfp4-weight-shape":
            name = up + ".weight"
            edit_header(d, shard_of(d, name), lambda h, b: h[name].__setitem__(
                "shape", list(reversed(h[name]["shape"]))))
        elif kind == "nvfp4-scale-dtype":
            name = up + ".weight_scale"
            edit_header(d, shard_of(d, name), lambda h, b: h[name].__setitem__(
                "dtype", "U8"))
        elif kind == "nvfp4-no-scale":
            rename_tensor(d, up + ".weight_scale", up + ".block_scale")
        elif kind == "nvfp4-no-scale-2":
            rename_tensor(d, up + ".weight_scale_2", up + ".global_scale")
        elif kind in ("nvfp4-nan-scale", "nvfp4-negative-scale"):
            name = up + ".weight_scale"
            byte = b"\x7f" if kind == "nvfp4-nan-scale" else b"\xb8"
            def bad(h, b):
                a, _ = h[name]["data_offsets"]
                return b[:a + 37] + byte + b[a + 38:]
            edit_header(d, shard_of(d, name), bad)
        elif kind == "nvfp4-zero-scale-2":
            name = up + ".weight_scale_2"
            def zero(h, b):
                a, _ = h[name]["data_offsets"]
                return b[:a] + struct.pack("<f", 0.0) + b[a + 4:]
            edit_header(d, shard_of(d, name), zero)
        else:
            sys.exit(f"hf-mutate.py: unknown mutation '{kind}'")
    elif kind.startswith("kv-scale-"):
        # On a checkpoint written with --kv-scales.
        name = ROOT + "layers.1.self_attn.k_proj.k_scale"
        if kind == "kv-scale-dtype":
            edit_header(d, shard_of(d, name), lambda h, b: h[name].__setitem__(
                "dtype", "I32"))
        elif kind == "kv-scale-shape":
            # Two elements' room is not there: the shape alone is checked.
            edit_header(d, shard_of(d, name), lambda h, b: h[name].__setitem__(
                "shape", [1, 1]))
        elif kind in ("kv-scale-negative", "kv-scale-nan"):
            value = -0.5 if kind == "kv-scale-negative" else float("nan")
            def bad(h, b):
                a, _ = h[name]["data_offsets"]
                return b[:a] + struct.pack("<f", value) + b[a + 4:]
            edit_header(d, shard_of(d, name), bad)
        else:
            sys.exit(f"hf-mutate.py: unknown mutation '{kind}'")
    elif kind == "expert-missing":
        # A per-expert checkpoint (--hf-per-expert) missing one module.
        rename_tensor(d, ROOT + "layers.0.experts.3.up_proj.weight",
                      ROOT + "layers.0.experts.3.upper_proj.weight")
    elif kind == "expert-dtype":
        # One expert's module in another type (the same bytes as F16).
        name = ROOT + "layers.1.experts.2.gate_proj.weight"
        edit_header(d, shard_of(d, name),
                    lambda h, b: h[name].__setitem__("dtype", "F16"))
    elif kind == "expert-shape":
        name = ROOT + "layers.0.experts.5.down_proj.weight"
        edit_header(d, shard_of(d, name),
                    lambda h, b: h[name]["shape"].reverse())
    elif kind == "expert-nvfp4-scale2":
        # An NVFP4 per-expert checkpoint (--hf-quant nvfp4) whose expert lost
        # its weight_scale_2.
        rename_tensor(d, ROOT + "layers.1.experts.7.up_proj.weight_scale_2",
                      ROOT + "layers.1.experts.7.up_proj.weight_scale_3")
    elif kind == "expert-scale-dtype":
        # router.per_expert_scale as I32 (the same bytes).
        name = ROOT + "layers.0.router.per_expert_scale"
        edit_header(d, shard_of(d, name),
                    lambda h, b: h[name].__setitem__("dtype", "I16"))
    elif kind == "text-only":
        # Not a failure: the same model as a text-only export
        # (Gemma4ForCausalLM): a flat config and the "model." prefix.
        def flat(o):
            text = o.pop("text_config")
            o.clear()
            o.update(text)
            o["architectures"] = ["Gemma4ForCausalLM"]
        edit_json(d, "config.json", flat)
        for shard in (SHARD1, SHARD2):
            def rename(h, b):
                for k in [k for k in h if k.startswith(ROOT)]:
                    h["model." + k[len(ROOT):]] = h.pop(k)
            edit_header(d, shard, rename)
        edit_json(d, "model.safetensors.index.json", lambda o: o.__setitem__(
            "weight_map", {("model." + k[len(ROOT):] if k.startswith(ROOT) else k): v
                           for k, v in o["weight_map"].items()}))
    else:
        sys.exit(f"hf-mutate.py: unknown mutation '{kind}'")


def main():
    if len(sys.argv) != 4:
        sys.exit(__doc__)
    src, kind, dst = sys.argv[1:]
    if os.path.exists(dst):
        shutil.rmtree(dst)
    shutil.copytree(src, dst)
    mutate(dst, kind)


if __name__ == "__main__":
    main()
