"""read_tensors, read_metadata, the writers, write_calibration, quantize_model and plan_model,
checked against the library's own output and against the command-line tool's files."""

import subprocess

import numpy as np
import pytest

import qlinear
from conftest import MODEL


def test_read_safetensors_views_the_mapped_file():
    tensors = qlinear.read_tensors(MODEL)
    assert len(tensors) == 29
    name, w = next(iter(tensors.items()))
    assert isinstance(w, np.ndarray) and w.dtype == np.float32 and not w.flags.writeable
    assert isinstance(w.base, qlinear.MappedFile) or isinstance(getattr(w.base, "base", None), qlinear.MappedFile)
    again = qlinear.read_tensors(MODEL)[name]
    np.testing.assert_array_equal(w, again)
    del tensors
    assert np.isfinite(w).all()  # the mapping lives as long as the view


def test_gguf_round_trip_every_format(tmp_path, rng):
    tensors = {}
    for f in qlinear.formats():
        cols = 512 if f["block_size"] > 1 else 300
        w = rng.standard_normal((4, cols)).astype(np.float32)
        opts = {"symmetric": False, "granularity": "group", "group_size": 64} if f["affine"] else None
        tensors["w." + f["name"]] = qlinear.quantize(w, f["name"], affine=opts)
    tensors["plain"] = rng.standard_normal((2, 3, 5)).astype(np.float32)
    tensors["half"] = np.arange(7, dtype=np.float16)
    tensors["ids"] = np.arange(6, dtype=np.int32).reshape(2, 3)
    path = tmp_path / "all.gguf"
    meta = {"general.name": "test", "n": 3, "neg": -2, "big": 2 ** 40, "ratio": 0.5, "flag": True,
            "names": ["a", "b"], "ints": [1, -1]}
    qlinear.write_gguf(path, tensors, meta)
    back = qlinear.read_tensors(path)
    assert list(back) == list(tensors)
    for name, t in tensors.items():
        got = back[name]
        if isinstance(t, qlinear.QuantizedTensor) and t.format in ("f32", "f16"):  # read as arrays
            assert got.dtype == {"f32": np.float32, "f16": np.float16}[t.format]
            np.testing.assert_array_equal(got.view(np.uint8).reshape(t.rows, -1), np.asarray(t))
        elif isinstance(t, qlinear.QuantizedTensor):
            assert isinstance(got, qlinear.QuantizedTensor) and got.format == t.format and got.shape == t.shape
            np.testing.assert_array_equal(np.asarray(got), np.asarray(t))
            np.testing.assert_array_equal(got.scales, t.scales)
            np.testing.assert_array_equal(got.zero_points, t.zero_points)
        else:
            assert got.dtype == t.dtype and got.shape == t.shape and np.array_equal(got, t)
    read_meta = qlinear.read_metadata(path)
    for k, v in meta.items():
        assert read_meta[k] == (pytest.approx(v) if isinstance(v, float) else v)
    assert read_meta["general.quantization_version"] == 2
    # A layer over a tensor read from the file computes what one over the original does.
    x = rng.standard_normal((3, 512)).astype(np.float32)
    layer = qlinear.QuantizedLinear.from_quantized(back["w.q4_K"])
    np.testing.assert_array_equal(layer(x), qlinear.QuantizedLinear.from_quantized(tensors["w.q4_K"])(x))


def test_gguf_block_tensors_are_zero_copy(tmp_path, rng):
    q = qlinear.quantize(rng.standard_normal((8, 256)).astype(np.float32), "q6_K")
    qlinear.write_gguf(tmp_path / "a.gguf", {"a": q, "b": q})
    back = qlinear.read_tensors(tmp_path / "a.gguf")
    a, b = np.asarray(back["a"]), np.asarray(back["b"])
    # Both tensors lie in the one mapping, one after the other, 32-byte aligned.
    assert b.__array_interface__["data"][0] - a.__array_interface__["data"][0] == -(-a.nbytes // 32) * 32


def test_writer_errors(tmp_path, rng):
    q = qlinear.quantize(rng.standard_normal((2, 100)).astype(np.float32), "q4_0")  # 100: not whole blocks
    with pytest.raises(qlinear.Error, match="multiple"):
        qlinear.write_gguf(tmp_path / "x.gguf", {"w": q})
    assert not (tmp_path / "x.gguf").exists()
    with pytest.raises(TypeError):
        qlinear.write_gguf(tmp_path / "x.gguf", {"w": np.ones(3, np.uint16)})
    with pytest.raises(TypeError):
        qlinear.write_gguf(tmp_path / "x.gguf", {"w": np.ones(3, np.float32)}, {"k": object()})
    with pytest.raises(TypeError):
        qlinear.write_gguf(tmp_path / "x.gguf", {"w": np.ones(3, np.float32)}, {"k": [1, "a"]})
    with pytest.raises(qlinear.Error) as info:
        qlinear.write_safetensors(tmp_path / "x.safetensors", {"w": q})
    assert info.value.code == "unsupported"
    with pytest.raises(qlinear.Error) as info:
        qlinear.read_tensors(tmp_path / "missing.gguf")
    assert info.value.code == "io"
    (tmp_path / "bad.gguf").write_bytes(b"GGUF" + b"\x03\x00\x00\x00" + b"\xff" * 8)
    with pytest.raises(qlinear.Error) as info:
        qlinear.read_tensors(tmp_path / "bad.gguf")
    assert info.value.code == "malformed_file" and "bad.gguf" in str(info.value)


def test_safetensors_round_trip(tmp_path, rng):
    w = rng.standard_normal((3, 4)).astype(np.float32)
    bf = qlinear.quantize(w, "bf16")
    tensors = {"w": w, "h": w.astype(np.float16), "b": bf, "i": np.arange(4, dtype=np.int64), "u": np.ones(2, np.uint8)}
    qlinear.write_safetensors(tmp_path / "t.safetensors", tensors, {"who": "me"})
    back = qlinear.read_tensors(tmp_path / "t.safetensors")
    np.testing.assert_array_equal(back["w"], w)
    np.testing.assert_array_equal(back["h"], w.astype(np.float16))
    assert isinstance(back["b"], qlinear.QuantizedTensor) and back["b"].format == "bf16"
    np.testing.assert_array_equal(np.asarray(back["b"]), np.asarray(bf))
    np.testing.assert_array_equal(back["i"], np.arange(4))
    assert back["u"].dtype == np.uint8
    assert qlinear.read_metadata(tmp_path / "t.safetensors") == {"who": "me"}


def test_quantize_model_equals_the_cli(tmp_path, cli):
    ours, theirs = tmp_path / "py.gguf", tmp_path / "cli.gguf"
    seen = []
    report = qlinear.quantize_model(MODEL, ours, type="q4_0", rules=["linear_85.*=q8_0"], progress=seen.append)
    subprocess.run([cli, "quantize", str(MODEL), str(theirs), "--type", "q4_0", "--rule", "linear_85.*=q8_0", "-q"],
                   check=True, capture_output=True)
    assert ours.read_bytes() == theirs.read_bytes()
    # One call per tensor, `index` of `count` done.
    assert [p["index"] for p in seen] == list(range(1, len(report["tensors"]) + 1))
    assert {p["count"] for p in seen} == {len(report["tensors"])}
    assert report["totals"]["bytes_out"] == sum(t["bytes_out"] for t in report["tensors"])
    assert "q4_0" in report["text"]


def test_quantize_model_tensors_equal_quantize(tmp_path):
    """Each tensor of the model file equals quantize() of the input tensor: the library's bytes."""
    out = tmp_path / "m.gguf"
    report = qlinear.quantize_model(MODEL, out, type="q4_K")  # 480 falls back to q5_0, others to f16
    src, dst = qlinear.read_tensors(MODEL), qlinear.read_tensors(out)
    checked = set()
    for t in report["tensors"]:
        w = src[t["name"]]
        expect = np.asarray(qlinear.quantize(w.reshape(-1, w.shape[-1]), t["format_out"]))
        got = dst[t["name"]]
        np.testing.assert_array_equal(np.asarray(got).view(np.uint8).reshape(expect.shape), expect)
        checked.add(t["format_out"])
    assert checked == {"q5_0", "f16"}  # no row of this model is whole q4_K blocks


def test_quantize_model_options_and_errors(tmp_path, capsys):
    plan = qlinear.plan_model(MODEL, type="q4_k_m", rules={"conv2d_16*": "q8_0"}, keep=["conv2d_1[0-4]*"])
    by_name = {p["name"]: p for p in plan}
    assert by_name["conv2d_106.w_0"]["format"] is None and by_name["conv2d_106.w_0"]["reason"].startswith("rule")
    assert by_name["conv2d_162.w_0"]["format"] == "q8_0"        # 64 columns: whole q8_0 blocks
    assert by_name["conv2d_160.w_0"]["reason"].startswith("rule conv2d_16*=q8_0")
    assert by_name["conv2d_180.w_0"]["format"] == "q5_0"        # 480: q4_K's fallback, as llama-quantize's
    assert by_name["linear_78.w_0"]["format"] == "f16"          # 120: not whole blocks of 32
    report = qlinear.quantize_model(MODEL, tmp_path / "i4.gguf", type="i4", progress=True,
                                    affine={"granularity": "group", "group_size": 32}, keep=[("conv*")])
    assert "quantizing" in capsys.readouterr().err
    assert all(t["format_out"] in ("i4", "F32") for t in report["tensors"])
    back = qlinear.read_tensors(tmp_path / "i4.gguf")
    assert any(isinstance(v, qlinear.QuantizedTensor) and v.format == "i4" for v in back.values())
    with pytest.raises(qlinear.ArgumentError, match="calibration"):
        qlinear.quantize_model(MODEL, tmp_path / "g.gguf", type="q4_0", method="gptq")
    with pytest.raises(qlinear.ArgumentError, match="valid formats"):
        qlinear.quantize_model(MODEL, tmp_path / "g.gguf", type="q4_2")
    with pytest.raises(qlinear.ArgumentError):
        qlinear.quantize_model(MODEL, tmp_path / "g.gguf", rules=["no-equals-sign"])
    with pytest.raises(qlinear.Error) as info:
        qlinear.quantize_model(tmp_path / "none.safetensors", tmp_path / "g.gguf")
    assert info.value.code == "io"

    def stop(p):
        raise KeyboardInterrupt("stop here")

    with pytest.raises(KeyboardInterrupt):
        qlinear.quantize_model(MODEL, tmp_path / "s.gguf", type="q8_0", progress=stop)
    assert not (tmp_path / "s.gguf").exists()


def test_calibration_file_drives_gptq(tmp_path, rng):
    src = qlinear.read_tensors(MODEL)
    name = "conv2d_166.w_0"  # [128, 128]: whole q4_0 blocks
    w = src[name]
    cal = qlinear.Calibration(w.shape[-1])
    cal.add(rng.standard_normal((64, w.shape[-1])))
    qlinear.write_calibration(tmp_path / "cal.gguf", {name: cal}, ["random"])
    report = qlinear.quantize_model(MODEL, tmp_path / "g.gguf", type="q4_0", method="gptq",
                                    calibration=tmp_path / "cal.gguf")
    entry = next(t for t in report["tensors"] if t["name"] == name)
    assert entry["method"] == "gptq" and entry["output_error"] is not None
    got = qlinear.read_tensors(tmp_path / "g.gguf")[name]
    expect = qlinear.quantize(w.reshape(-1, w.shape[-1]), "q4_0", method="gptq", calibration=cal)
    np.testing.assert_array_equal(np.asarray(got), np.asarray(expect))
    assert qlinear.read_metadata(tmp_path / "cal.gguf")["imatrix.datasets"] == ["random"]


def test_imatrix_weights_the_search(tmp_path, rng):
    """A calibration GGUF is also an importance matrix (llama.cpp's layout): imatrix= weights each
    tensor with an entry by in_sum2 / counts, as quantize(importance=...) does."""
    name = "conv2d_166.w_0"
    cal = qlinear.Calibration(128)
    cal.add(rng.standard_normal((32, 128)) * np.linspace(0.1, 4, 128))
    qlinear.write_calibration(tmp_path / "imatrix.gguf", {name: cal})
    report = qlinear.quantize_model(MODEL, tmp_path / "w.gguf", type="q4_0", imatrix=tmp_path / "imatrix.gguf")
    assert [t["name"] for t in report["tensors"] if t["importance"]] == [name]
    stats = qlinear.read_tensors(tmp_path / "imatrix.gguf")
    importance = stats[name + ".in_sum2"].reshape(-1) / np.float32(np.round(stats[name + ".counts"].reshape(-1)[0]))
    w = qlinear.read_tensors(MODEL)[name]
    expect = qlinear.quantize(w, "q4_0", importance=importance)
    got = qlinear.read_tensors(tmp_path / "w.gguf")[name]
    np.testing.assert_array_equal(np.asarray(got), np.asarray(expect))
    assert not np.array_equal(np.asarray(got), np.asarray(qlinear.quantize(w, "q4_0")))
