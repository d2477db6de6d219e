"""quantize, dequantize, measure, QuantizedTensor, formats and the runtime settings."""

import threading

import numpy as np
import pytest

import qlinear
from conftest import GOLDEN, read_golden

FORMATS = [f["name"] for f in qlinear.formats()]
GGML_NAMES = {f["ggml_type"]: f["name"] for f in qlinear.formats()}


@pytest.mark.parametrize("path", sorted(GOLDEN.glob("*.bin")), ids=lambda p: p.stem)
def test_golden_bytes_and_dequantized_floats(path):
    """ggml's own bytes and floats: quantize() reproduces every byte, dequantize() every bit."""
    ggml_type, x, imatrix, quantized, dequantized = read_golden(path)
    q = qlinear.quantize(x, GGML_NAMES[ggml_type], importance=imatrix)
    np.testing.assert_array_equal(np.asarray(q), quantized)
    assert qlinear.dequantize(q).view(np.uint32).tolist() == dequantized.view(np.uint32).tolist()


def test_formats_lists_every_format():
    names = FORMATS
    assert names[:3] == ["f32", "f16", "bf16"] and "q4_K" in names and "i4" in names
    q40 = next(f for f in qlinear.formats() if f["name"] == "q4_0")
    assert (q40["ggml_type"], q40["block_size"], q40["block_bytes"], q40["bits_per_weight"]) == (2, 32, 18, 4.5)
    assert qlinear.mixes()["q4_K_M"] == "q4_K"


@pytest.mark.parametrize("fmt", FORMATS)
def test_every_format_round_trips_within_its_step(fmt, rng):
    w = rng.standard_normal((8, 300)).astype(np.float32)  # 300: padded inside to the block
    q = qlinear.quantize(w, fmt)
    assert q.format == fmt and q.shape == (8, 300) and (q.rows, q.cols) == (8, 300)
    codes = np.asarray(q)
    assert codes.dtype == np.uint8 and codes.shape == (8, q.row_bytes) and not codes.flags.writeable
    assert q.nbytes == codes.nbytes + q.scales.nbytes + q.zero_points.nbytes
    assert q.bits_per_weight == pytest.approx(q.nbytes * 8 / (8 * 300))
    w2 = qlinear.dequantize(q)
    assert w2.shape == (8, 300) and w2.dtype == np.float32
    np.testing.assert_array_equal(w2, q.dequantize())
    s = qlinear.measure(w, q)
    err = w.astype(np.float64) - w2
    assert s.rmse == pytest.approx(np.sqrt(np.mean(err ** 2)), rel=1e-9, abs=1e-12)
    assert s.max_abs == pytest.approx(np.abs(err).max(), rel=1e-9, abs=1e-12)
    assert s.bytes == q.nbytes and s.as_dict()["cosine"] == s.cosine
    # No format loses more than half of a 2-bit step of the row's range.
    assert s.max_abs <= (w.max() - w.min()) / 3 / 2 * 1.01 + 1e-6


def test_buffer_is_zero_copy(rng):
    q = qlinear.quantize(rng.standard_normal((4, 64)).astype(np.float32), "q8_0")
    a, b = np.asarray(q), np.asarray(q)
    assert a.__array_interface__["data"][0] == b.__array_interface__["data"][0]
    assert np.shares_memory(a, b)
    with pytest.raises(ValueError):
        a[0, 0] = 1
    del q  # the array keeps the tensor alive
    assert a.sum() == b.sum()


def test_inputs_are_converted_once(rng):
    w = rng.standard_normal((16, 64))
    ref = np.asarray(qlinear.quantize(w.astype(np.float32), "q4_0"))
    for variant in (w, np.asfortranarray(w), w.tolist()):  # float64, Fortran order, a list
        np.testing.assert_array_equal(np.asarray(qlinear.quantize(variant, "q4_0")), ref)
    strided = np.repeat(w.astype(np.float32), 2, axis=1)[:, ::2]
    np.testing.assert_array_equal(np.asarray(qlinear.quantize(strided, "q4_0")), ref)
    ints = np.arange(64 * 2, dtype=np.int64).reshape(2, 64)
    np.testing.assert_array_equal(np.asarray(qlinear.quantize(ints, "q8_0")),
                                  np.asarray(qlinear.quantize(ints.astype(np.float32), "q8_0")))


def test_importance_search_and_gptq(rng):
    w = rng.standard_normal((32, 128)).astype(np.float32)
    x = rng.standard_normal((256, 128)).astype(np.float32) * np.linspace(0.1, 3, 128, dtype=np.float32)
    cal = qlinear.Calibration(128)
    cal.add(x)
    imp = cal.importance()
    ref = qlinear.quantize(w, "q4_0")
    weighted = qlinear.quantize(w, "q4_0", importance=imp)
    searched = qlinear.quantize(w, "q4_0", method="search", calibration=cal)
    gptq = qlinear.quantize(w, "q4_0", method="gptq", calibration=cal, damping=0.01)
    out = lambda q: np.linalg.norm(x @ (w - qlinear.dequantize(q)).T)
    # Both calibration-aware methods lower the output error on the inputs they saw.
    assert out(searched) < out(ref) and out(gptq) < out(ref)
    assert weighted.shape == ref.shape
    assert np.asarray(qlinear.quantize(w, "q4_0", method="search", calibration=cal)).tobytes() == \
        np.asarray(searched).tobytes()


def test_affine_options_and_parts(rng):
    w = rng.standard_normal((6, 100)).astype(np.float32)
    opts = qlinear.AffineOptions(symmetric=False, granularity="group", group_size=32, calibration="mse")
    q = qlinear.quantize(w, "i4", affine=opts)
    assert q.affine.as_dict() == opts.as_dict() and q.group_size == 32
    assert q.scales.shape == (6 * 4,) and q.zero_points.shape == (6 * 4,)
    same = qlinear.quantize(w, "i4", affine=opts.as_dict())
    np.testing.assert_array_equal(np.asarray(q), np.asarray(same))
    rebuilt = qlinear.QuantizedTensor.from_affine("i4", 6, 100, opts, np.asarray(q), q.scales, q.zero_points)
    np.testing.assert_array_equal(qlinear.dequantize(rebuilt), qlinear.dequantize(q))
    assert qlinear.quantize(w, "i8").affine.granularity == "channel"
    assert qlinear.quantize(w, "q8_0").affine is None
    assert "group_size=32" in repr(opts)
    opts.granularity = "tensor"
    opts.group_size = 0
    assert qlinear.quantize(w, "i8", affine=opts).scales.shape == (1,)


def test_from_blocks_copies_the_bytes(rng):
    q = qlinear.quantize(rng.standard_normal((3, 256)).astype(np.float32), "q4_K")
    copy = qlinear.QuantizedTensor.from_blocks("q4_K", 3, 256, np.asarray(q))
    np.testing.assert_array_equal(np.asarray(copy), np.asarray(q))
    assert not np.shares_memory(np.asarray(copy), np.asarray(q))
    assert "q4_K" in repr(copy) and "(3, 256)" in repr(copy)
    as_bytes = qlinear.QuantizedTensor.from_blocks("q4_K", 3, 256, np.asarray(q).tobytes())
    np.testing.assert_array_equal(np.asarray(as_bytes), np.asarray(q))
    with pytest.raises(qlinear.ArgumentError, match="C-contiguous"):
        qlinear.QuantizedTensor.from_blocks("q4_K", 3, 256, np.asfortranarray(np.asarray(q)))


@pytest.mark.parametrize("call, message", [
    (lambda w: qlinear.quantize(w[0], "q4_0"), "w must be 2-D"),
    (lambda w: qlinear.quantize(w, "q3_0"), "valid formats: f32, f16"),
    (lambda w: qlinear.quantize(w, "q4_0", method="best"), "method must be"),
    (lambda w: qlinear.quantize(w, "q4_0", importance=np.ones(3)), "importance"),
    (lambda w: qlinear.quantize(w, "q4_0", importance=np.ones((2, 64))), "importance must be 1-D"),
    (lambda w: qlinear.quantize(w, "q4_0", method="gptq"), "calibration"),
    (lambda w: qlinear.quantize(w, "q4_0", method="gptq", calibration=qlinear.Calibration(3)), "3"),
    (lambda w: qlinear.quantize(w[:0], "q4_0"), "empty shape"),
    (lambda w: qlinear.quantize(w, "i4", affine={"granularity": "group", "group_size": 12}), "multiple of 8"),
    (lambda w: qlinear.quantize(w, "i4", affine={"granularity": "row"}), "granularity must be"),
    (lambda w: qlinear.quantize(w, "i4", affine={"calibration": "max"}), "calibration must be"),
    (lambda w: qlinear.measure(w[:2], qlinear.quantize(w, "q8_0")), "shape (4, 64)"),
    (lambda w: qlinear.QuantizedTensor.from_blocks("q4_0", 4, 64, np.zeros(10, np.uint8)), "expected 144, got 10"),
    (lambda w: qlinear.QuantizedTensor.from_blocks("i8", 4, 64, np.zeros(10, np.uint8)), "affine"),
    (lambda w: qlinear.set_isa("avx9"), "scalar"),
])
def test_argument_errors_are_value_errors_with_the_library_message(call, message, rng):
    w = rng.standard_normal((4, 64)).astype(np.float32)
    with pytest.raises(qlinear.ArgumentError, match=None) as info:
        call(w)
    assert isinstance(info.value, ValueError) and isinstance(info.value, qlinear.Error)
    assert message in str(info.value)
    assert info.value.code in ("invalid_argument", "size_mismatch", "unknown_format", "non_finite")


def test_nan_names_row_and_column(rng):
    w = rng.standard_normal((4, 64)).astype(np.float32)
    w[2, 17] = np.nan
    with pytest.raises(qlinear.ArgumentError) as info:
        qlinear.quantize(w, "q4_0")
    assert info.value.code == "non_finite" and "2" in str(info.value) and "17" in str(info.value)


@pytest.mark.parametrize("bad", [np.ones((2, 32), np.complex64), np.array([["a"] * 32] * 2), object()])
def test_dtypes_without_real_numbers_are_type_errors(bad):
    with pytest.raises(TypeError):
        qlinear.quantize(bad, "q8_0")
    with pytest.raises(TypeError):
        qlinear.quantize(np.ones((2, 32)), "q8_0", affine=3)
    with pytest.raises(TypeError):
        qlinear.quantize(np.ones((2, 32)), "q8_0", calibration="file")


def test_threads_and_isa():
    before = qlinear.get_num_threads()
    try:
        qlinear.set_num_threads(1)
        assert qlinear.get_num_threads() == 1
    finally:
        qlinear.set_num_threads(0)
    assert qlinear.get_num_threads() == before
    level = qlinear.isa()
    assert level in ("scalar", "avx2", "avxvnni", "avx512", "neon", "dotprod", "i8mm")
    qlinear.set_isa(level)


def test_quantize_from_threads_matches_sequential(rng):
    ws = [rng.standard_normal((64, 512)).astype(np.float32) for _ in range(4)]
    expected = [np.asarray(qlinear.quantize(w, "q4_K")).tobytes() for w in ws]
    got = [None] * 4

    def work(i):
        got[i] = np.asarray(qlinear.quantize(ws[i], "q4_K")).tobytes()

    threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert got == expected


def test_docstrings_are_useful():
    assert "byte-identical" in qlinear.quantize.__doc__
    for name in qlinear.__all__:
        obj = getattr(qlinear, name)
        if callable(obj):
            assert obj.__doc__, name


def test_importing_qlinear_leaves_torch_alone():
    """qlinear.torch is imported only when asked for: numpy users need no torch."""
    import subprocess
    import sys
    code = "import sys, qlinear; assert 'torch' not in sys.modules and 'qlinear.torch' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)
