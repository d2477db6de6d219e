"""QuantizedLinear and Calibration: results against double-precision references, shapes, errors,
and Python threads running layers at once."""

import threading

import numpy as np
import pytest

import qlinear
from conftest import forward_bound

FLOAT_FORMATS = ("f32", "f16", "bf16")


@pytest.mark.parametrize("fmt", [f["name"] for f in qlinear.formats()])
@pytest.mark.parametrize("batch", [1, 5])
def test_forward_against_double_reference(fmt, batch, rng):
    out_f, in_f = 24, 200
    w = rng.standard_normal((out_f, in_f)).astype(np.float32)
    b = rng.standard_normal(out_f).astype(np.float32)
    x = rng.standard_normal((batch, in_f)).astype(np.float32)
    layer = qlinear.QuantizedLinear(w, b, format=fmt)
    w_dq = layer.dequantize_weights().astype(np.float64)
    np.testing.assert_array_equal(w_dq, qlinear.dequantize(layer.weight))
    y = layer(x)
    assert y.shape == (batch, out_f) and y.dtype == np.float32
    ref = x.astype(np.float64) @ w_dq.T + b
    bound = forward_bound(x, w_dq, quantized_input=fmt not in FLOAT_FORMATS) + np.abs(ref) * 2 ** -22
    assert np.all(np.abs(y - ref) <= bound)


def test_shapes_out_and_properties(rng):
    w = rng.standard_normal((16, 64)).astype(np.float32)
    layer = qlinear.QuantizedLinear(w, format="q8_0")
    assert (layer.in_features, layer.out_features, layer.format, layer.bias) == (64, 16, "q8_0", None)
    assert layer.weight_bytes == layer.weight.nbytes
    assert layer.compression_ratio == pytest.approx(4 * 16 * 64 / layer.weight_bytes)
    x = rng.standard_normal((3, 64)).astype(np.float32)
    y = layer(x)
    np.testing.assert_array_equal(layer(x[1]), y[1])          # [in] -> [out]
    np.testing.assert_array_equal(layer.forward(x.astype(np.float64)), y)  # converted once
    np.testing.assert_array_equal(layer(np.asfortranarray(x)), y)
    np.testing.assert_array_equal(layer(x.astype(">f4")), y)  # big-endian: converted too
    unaligned = np.frombuffer(b"\0" + x.tobytes(), np.float32, x.size, 1).reshape(x.shape)
    assert not unaligned.flags.aligned
    np.testing.assert_array_equal(layer(unaligned), y)
    out = np.empty((3, 16), np.float32)
    assert layer(x, out=out) is not None and np.array_equal(out, y)
    assert layer(np.zeros((0, 64), np.float32)).shape == (0, 16)
    assert "q8_0" in repr(layer)


def test_from_quantized_shares_the_weights(rng):
    w = rng.standard_normal((8, 96)).astype(np.float32)
    q = qlinear.quantize(w, "q5_1")
    b = np.arange(8, dtype=np.float32)
    layer = qlinear.QuantizedLinear.from_quantized(q, b)
    np.testing.assert_array_equal(layer.bias, b)
    assert not layer.bias.flags.writeable
    np.testing.assert_array_equal(np.asarray(layer.weight), np.asarray(q))
    x = rng.standard_normal((2, 96)).astype(np.float32)
    np.testing.assert_array_equal(layer(x), qlinear.QuantizedLinear(w, b, format="q5_1")(x))


@pytest.mark.parametrize("call, message", [
    (lambda l: l(np.ones((2, 63), np.float32)), "x has 126 values, expected batch × in_features = 2 × 64"),
    (lambda l: l(np.ones((2, 2, 64), np.float32)), "x must be [batch, in_features]"),
    (lambda l: l(np.ones((2, 64), np.float32), out=np.empty((3, 16), np.float32)), "out must have shape (2, 16)"),
    (lambda l: qlinear.QuantizedLinear(np.ones((16, 64)), bias=np.ones(15)), "15"),
    (lambda l: qlinear.QuantizedLinear(np.ones(64)), "2-D"),
    (lambda l: qlinear.QuantizedLinear(np.ones((16, 64)), bias=np.ones((4, 4))), "bias must be 1-D"),
    (lambda l: qlinear.QuantizedLinear(np.ones((16, 64)), format="q9"), "unknown format"),
])
def test_layer_argument_errors(call, message, rng):
    layer = qlinear.QuantizedLinear(rng.standard_normal((16, 64)), format="q4_0")
    with pytest.raises(ValueError) as info:
        call(layer)
    assert message in str(info.value) and isinstance(info.value, qlinear.Error)


def test_layer_type_errors():
    layer = qlinear.QuantizedLinear(np.ones((16, 64)), format="q4_0")
    with pytest.raises(TypeError):
        layer(np.ones((2, 64), np.complex64))
    with pytest.raises(TypeError):
        layer(np.ones((2, 64), np.float32), out=np.empty((2, 16), np.float64))
    with pytest.raises(TypeError):
        layer(np.ones((2, 64), np.float32), out=np.empty((16, 2), np.float32).T)


def test_python_threads_run_layers_at_once(rng):
    """Correctness of concurrent calls (the GIL is released inside): each thread's results equal
    the ones computed alone, for one shared layer and for layers of their own."""
    shared = qlinear.QuantizedLinear(rng.standard_normal((256, 512)), format="q4_0")
    own = [qlinear.QuantizedLinear(rng.standard_normal((128, 512)), format=f) for f in ("q8_0", "q4_K")]
    xs = [rng.standard_normal((b, 512)).astype(np.float32) for b in (1, 7, 16)]
    expected = {(i, j): (l(x) if i < 2 else shared(x)) for i, l in enumerate(own + [shared]) for j, x in enumerate(xs)}
    errors, barrier = [], threading.Barrier(3)

    def work(i, layer):
        barrier.wait()
        for _ in range(20):
            for j, x in enumerate(xs):
                if not np.array_equal(layer(x), expected[(i, j)]):
                    errors.append((i, j))
                if not np.array_equal(shared(x), expected[(2, j)]):
                    errors.append((2, j))

    threads = [threading.Thread(target=work, args=(i, l)) for i, l in enumerate(own + [shared])]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []


def test_calibration_statistics(rng):
    x = rng.standard_normal((50, 3, 40))  # leading dimensions are rows
    cal = qlinear.Calibration(40)
    assert cal.rows == 0 and not cal.importance().any()
    cal.add(x[:20])
    other = qlinear.Calibration(40)
    other.add(x[20:].astype(np.float32))
    cal.merge(other)
    flat = x.reshape(-1, 40).astype(np.float32).astype(np.float64)
    assert cal.rows == 150 and cal.in_features == 40
    np.testing.assert_allclose(cal.xtx, flat.T @ flat, rtol=1e-12)
    np.testing.assert_allclose(cal.sum_squares(), (flat ** 2).sum(0), rtol=1e-12)
    np.testing.assert_allclose(cal.importance(), (flat ** 2).mean(0), rtol=1e-6)
    one = qlinear.Calibration(40)
    one.add(x[0, 0])
    assert one.rows == 1
    again = qlinear.Calibration.from_statistics(40, cal.xtx, cal.rows)
    np.testing.assert_array_equal(again.xtx, cal.xtx)
    assert "rows=150" in repr(cal)


def test_calibration_errors():
    cal = qlinear.Calibration(8)
    with pytest.raises(ValueError, match="in_features = 8"):
        cal.add(np.ones((2, 9)))
    bad = np.ones((3, 8))
    bad[1, 5] = np.inf
    with pytest.raises(qlinear.ArgumentError) as info:
        cal.add(bad)
    assert info.value.code == "non_finite" and cal.rows == 0
    with pytest.raises(qlinear.Error):
        cal.merge(qlinear.Calibration(9))
    with pytest.raises(qlinear.Error):
        qlinear.Calibration(0)
    with pytest.raises(qlinear.Error):
        qlinear.Calibration.from_statistics(2, np.array([[1.0, 2.0], [3.0, 1.0]]), 1)  # not symmetric
