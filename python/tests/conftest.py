"""Shared fixtures: the repository's data, the command-line tool, and tolerances derived from the math."""

import os
import pathlib
import struct

import numpy as np
import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
GOLDEN = ROOT / "tests" / "data" / "golden"
MODEL = ROOT / "data" / "ppocrv4_rec_linear.safetensors"


@pytest.fixture
def rng():
    return np.random.default_rng(1234)


@pytest.fixture
def cli():
    """The qlinear command-line tool of the same build (ctest passes it), or skip."""
    path = os.environ.get("QLINEAR_CLI")
    if not path or not os.path.exists(path):
        pytest.skip("QLINEAR_CLI is not set (ctest sets it)")
    return path


def read_golden(path):
    """A golden vector file of tests/data/golden (layout in its README)."""
    data = path.read_bytes()
    magic, version, ggml_type, rows, cols, row_bytes, has_imatrix = struct.unpack_from("<4s6I", data, 0)
    assert magic == b"QLGV" and version == 1
    off = 28
    x = np.frombuffer(data, np.float32, rows * cols, off).reshape(rows, cols)
    off += x.nbytes
    imatrix = None
    if has_imatrix:
        imatrix = np.frombuffer(data, np.float32, cols, off)
        off += imatrix.nbytes
    quantized = np.frombuffer(data, np.uint8, rows * row_bytes, off).reshape(rows, row_bytes)
    off += quantized.nbytes
    dequantized = np.frombuffer(data, np.float32, rows * cols, off).reshape(rows, cols)
    return ggml_type, x, imatrix, quantized, dequantized


def forward_bound(x, w_dq, quantized_input=True):
    """The largest |y - x @ w_dq.T| the kernels may show, per output (README, 'what forward() computes').

    Quantized formats round each input block of 32 to q8_0: an error of at most d/2 per input, with
    d = max|x_block| / 127, plus fp16's rounding of d (at most 12.5% more, counted generously). Float
    sums of K terms add at most K * 2^-23 of sum |x| |w| (float32 accumulation), for every format.
    """
    x = np.atleast_2d(np.asarray(x, np.float64))
    w = np.abs(np.asarray(w_dq, np.float64))
    k = x.shape[1]
    bound = (np.abs(x) @ w.T) * (k * 2.0 ** -23) + 1e-30
    if quantized_input:
        pad = (-k) % 32
        blocks = np.abs(np.pad(x, ((0, 0), (0, pad)))).reshape(x.shape[0], -1, 32).max(axis=2)
        step = np.repeat(blocks / 127.0, 32, axis=1)[:, :k]
        bound += 0.5 * 1.125 * (step @ w.T)
    return bound
