#!/usr/bin/env python3
"""Writes a synthetic bf16 model in safetensors shards with a model.safetensors.index.json, for
bench/shard_bench.sh: SIZE_GIB GiB in SHARDS files of 8192 x 8192 tensors (128 MiB each).

    make_sharded_bf16.py DIR [SIZE_GIB=4] [SHARDS=4]

The values are random finite bf16 numbers of magnitude 2^-7 .. 2 (random sign and mantissa bits,
exponents 120..127), made from random bits rather than floats so that 4 GiB take seconds. Needs
numpy (Debian: python3-numpy).
"""
import json
import os
import struct
import sys

import numpy as np

ROWS = COLS = 8192


def write_shard(path, names, rng):
    header, offset = {"__metadata__": {"format": "pt"}}, 0
    size = ROWS * COLS * 2
    for name in names:
        header[name] = {"dtype": "BF16", "shape": [ROWS, COLS], "data_offsets": [offset, offset + size]}
        offset += size
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)  # the data starts 8-aligned, as the safetensors writer pads
    with open(path + ".tmp", "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text)
        for _ in names:
            r = rng.integers(0, 1 << 16, ROWS * COLS, dtype=np.uint16)
            bits = (r & 0x807F) | ((120 + ((r >> 7) & 7)) << 7).astype(np.uint16)
            f.write(bits.tobytes())
    os.replace(path + ".tmp", path)


def main():
    out = sys.argv[1]
    size_gib = int(sys.argv[2]) if len(sys.argv) > 2 else 4
    shards = int(sys.argv[3]) if len(sys.argv) > 3 else 4
    tensors = size_gib * 8  # 128 MiB each
    per_shard = tensors // shards
    os.makedirs(out, exist_ok=True)
    rng = np.random.default_rng(11)
    weight_map = {}
    for k in range(shards):
        file = f"model-{k + 1:05d}-of-{shards:05d}.safetensors"
        names = [f"blk.{i}.ffn_up.weight" for i in range(k * per_shard, (k + 1) * per_shard)]
        write_shard(os.path.join(out, file), names, rng)
        weight_map.update({n: file for n in names})
    index = {"metadata": {"total_size": tensors * ROWS * COLS * 2}, "weight_map": weight_map}
    with open(os.path.join(out, "model.safetensors.index.json"), "w") as f:
        json.dump(index, f, indent=2, sort_keys=True)


if __name__ == "__main__":
    main()
