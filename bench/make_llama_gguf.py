#!/usr/bin/env python3
"""Writes a synthetic LLaMA-shaped f16 GGUF that llama.cpp can load: llama metadata, a tokenizer of
`vocab` tokens, and llama.cpp's tensor names, with random weights. The standard library alone
(no numpy), so the benchmark runs wherever Python does.

    make_llama_gguf.py OUT.gguf [--layers 8 --hidden 2048 --ffn 5632 --vocab 8192 --heads 32 --kv-heads 8]

The default shape is 788 MB: the model of the whole-model benchmark (bench/README.md).
"""

import argparse
import os
import struct

ALIGNMENT = 32
F32, F16 = 0, 1  # ggml type ids

# GGUF value types
U32, I32, F32V, STRING, ARRAY = 4, 5, 6, 8, 9


def gguf_string(s):
    b = s.encode()
    return struct.pack("<Q", len(b)) + b


def kv(key, vtype, value):
    out = gguf_string(key) + struct.pack("<I", vtype)
    if vtype == STRING:
        return out + gguf_string(value)
    if vtype == U32:
        return out + struct.pack("<I", value)
    if vtype == I32:
        return out + struct.pack("<i", value)
    if vtype == F32V:
        return out + struct.pack("<f", value)
    raise ValueError(vtype)


def kv_array(key, etype, values):
    out = gguf_string(key) + struct.pack("<IIQ", ARRAY, etype, len(values))
    if etype == STRING:
        return out + b"".join(gguf_string(v) for v in values)
    fmt = {I32: "<%di", F32V: "<%df"}[etype]
    return out + struct.pack(fmt % len(values), *values)


def random_f16_pool(nbytes):
    """Random halves of magnitude 2^-8 .. 2^-4, either sign: random bytes with the high byte of each
    half rewritten (sign kept, exponent 7..10, two mantissa bits)."""
    pool = bytearray(os.urandom(nbytes))
    table = bytes((b & 0x80) | ((7 + ((b >> 2) & 3)) << 2) | (b & 3) for b in range(256))
    pool[1::2] = pool[1::2].translate(table)
    return bytes(pool)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("out")
    p.add_argument("--layers", type=int, default=8)
    p.add_argument("--hidden", type=int, default=2048)
    p.add_argument("--ffn", type=int, default=5632)
    p.add_argument("--vocab", type=int, default=8192)
    p.add_argument("--heads", type=int, default=32)
    p.add_argument("--kv-heads", type=int, default=8)
    a = p.parse_args()
    h, head_dim = a.hidden, a.hidden // a.heads
    kv_dim = head_dim * a.kv_heads

    # (name, shape outermost first, type)
    tensors = [("token_embd.weight", (a.vocab, h), F16)]
    for i in range(a.layers):
        b = "blk.%d." % i
        tensors += [
            (b + "attn_norm.weight", (h,), F32),
            (b + "attn_q.weight", (h, h), F16),
            (b + "attn_k.weight", (kv_dim, h), F16),
            (b + "attn_v.weight", (kv_dim, h), F16),
            (b + "attn_output.weight", (h, h), F16),
            (b + "ffn_norm.weight", (h,), F32),
            (b + "ffn_gate.weight", (a.ffn, h), F16),
            (b + "ffn_up.weight", (a.ffn, h), F16),
            (b + "ffn_down.weight", (h, a.ffn), F16),
        ]
    tensors += [("output_norm.weight", (h,), F32), ("output.weight", (a.vocab, h), F16)]

    # A SentencePiece-style vocabulary: unknown, begin, end, the 256 byte tokens, then plain pieces.
    tokens = ["<unk>", "<s>", "</s>"] + ["<0x%02X>" % i for i in range(256)]
    tokens += ["\u2581t%d" % i for i in range(a.vocab - len(tokens))]
    types = [2, 3, 3] + [6] * 256 + [1] * (a.vocab - 259)
    scores = [0.0] * 259 + [-float(i) for i in range(a.vocab - 259)]

    meta = [
        kv("general.architecture", STRING, "llama"),
        kv("general.name", STRING, "synthetic llama %dL-%d" % (a.layers, h)),
        kv("general.file_type", U32, 1),  # mostly f16
        kv("llama.context_length", U32, 2048),
        kv("llama.embedding_length", U32, h),
        kv("llama.block_count", U32, a.layers),
        kv("llama.feed_forward_length", U32, a.ffn),
        kv("llama.rope.dimension_count", U32, head_dim),
        kv("llama.attention.head_count", U32, a.heads),
        kv("llama.attention.head_count_kv", U32, a.kv_heads),
        kv("llama.attention.layer_norm_rms_epsilon", F32V, 1e-5),
        kv("llama.vocab_size", U32, a.vocab),
        kv("tokenizer.ggml.model", STRING, "llama"),
        kv_array("tokenizer.ggml.tokens", STRING, tokens),
        kv_array("tokenizer.ggml.scores", F32V, scores),
        kv_array("tokenizer.ggml.token_type", I32, types),
        kv("tokenizer.ggml.unknown_token_id", U32, 0),
        kv("tokenizer.ggml.bos_token_id", U32, 1),
        kv("tokenizer.ggml.eos_token_id", U32, 2),
    ]

    infos, offset, sizes = [], 0, []
    for name, shape, t in tensors:
        n = 1
        for d in shape:
            n *= d
        size = n * (4 if t == F32 else 2)
        dims = list(reversed(shape))  # GGUF lists the innermost dimension first
        infos.append(gguf_string(name) + struct.pack("<I", len(dims)) + struct.pack("<%dQ" % len(dims), *dims)
                     + struct.pack("<IQ", t, offset))
        sizes.append(size)
        offset += (size + ALIGNMENT - 1) // ALIGNMENT * ALIGNMENT

    pool = random_f16_pool(64 << 20)
    ones = struct.pack("<f", 1.0) * h
    with open(a.out + ".tmp", "wb") as f:
        f.write(b"GGUF" + struct.pack("<IQQ", 3, len(tensors), len(meta)))
        for m in meta:
            f.write(m)
        for i in infos:
            f.write(i)
        f.write(b"\0" * (-f.tell() % ALIGNMENT))
        at = 0
        for (name, shape, t), size in zip(tensors, sizes):
            if t == F32:
                f.write(ones)
            else:
                left = size
                while left:
                    n = min(left, len(pool) - at)
                    f.write(pool[at:at + n])
                    left -= n
                    at = (at + n) % len(pool)
                at = (at + 4098) % (len(pool) - 2)  # the next tensor starts elsewhere in the pool
            f.write(b"\0" * (-size % ALIGNMENT))
    os.replace(a.out + ".tmp", a.out)


if __name__ == "__main__":
    main()
