"""qlinear.torch: the nn.Module against torch.nn.functional.linear on the dequantized weights, the
state_dict round trip, quantize_ / calibrate / save_*, and a two-layer model end to end."""

import copy
import io

import numpy as np
import pytest

torch = pytest.importorskip("torch")
from torch import nn  # noqa: E402
import torch.nn.functional as F  # noqa: E402

import qlinear  # noqa: E402
import qlinear.torch as qt  # noqa: E402
from conftest import forward_bound  # noqa: E402


def linear(in_f, out_f, seed=0, bias=True):
    torch.manual_seed(seed)
    return nn.Linear(in_f, out_f, bias=bias)


def check_against_functional(module, x):
    """module(x) against F.linear on its dequantized weights, in double, within the derived bound."""
    y = module(x)
    w = module.dequantize_weight().double()
    b = None if module.bias is None else module.bias.double()
    ref = F.linear(x.double(), w, b)
    x2 = x.reshape(-1, x.shape[-1]).double().numpy()
    bound = forward_bound(x2, w.numpy(), quantized_input=module.format not in ("f32", "f16", "bf16"))
    bound = bound.reshape(ref.shape) + ref.abs().numpy() * 2 ** -22
    assert y.dtype == torch.float32 and y.shape == ref.shape
    assert np.all(np.abs(y.double().numpy() - ref.numpy()) <= bound)
    return y


@pytest.mark.parametrize("fmt", ["q8_0", "q4_0", "q4_K", "q6_K", "iq4_nl", "i4", "f16"])
def test_from_linear_matches_functional_linear(fmt):
    lin = linear(256, 48)
    m = qt.QuantizedLinear.from_linear(lin, fmt)
    assert (m.in_features, m.out_features, m.format) == (256, 48, fmt)
    np.testing.assert_array_equal(m.dequantize_weight().numpy(),
                                  qlinear.dequantize(qlinear.quantize(lin.weight.detach().numpy(), fmt)))
    torch.manual_seed(1)
    check_against_functional(m, torch.randn(5, 256))
    check_against_functional(m, torch.randn(256))            # [in] -> [out]
    check_against_functional(m, torch.randn(2, 3, 256))      # leading dimensions kept
    check_against_functional(m, torch.randn(256, 4).t())     # not contiguous: converted once
    y64 = m(torch.randn(3, 256, dtype=torch.float64))
    assert y64.dtype == torch.float32
    with pytest.raises(ValueError, match="in_features = 256, got shape \\(2, 128\\)"):
        m(torch.randn(2, 128))  # as many values as one row: must not be read as one


def test_outputs_are_zero_copy():
    m = qt.QuantizedLinear.from_linear(linear(64, 16), "q8_0")
    q = np.asarray(m.quantized)
    assert m.qweight.data_ptr() == q.__array_interface__["data"][0]
    assert m.bias.data_ptr() == m.layer.bias.__array_interface__["data"][0]


def test_quantize_options_pass_through():
    lin = linear(128, 32, bias=False)
    cal = qlinear.Calibration(128)
    cal.add(torch.randn(64, 128).numpy())
    m = qt.QuantizedLinear.from_linear(lin, "q4_0", method="gptq", calibration=cal)
    expect = qlinear.quantize(lin.weight.detach().numpy(), "q4_0", method="gptq", calibration=cal)
    np.testing.assert_array_equal(np.asarray(m.quantized), np.asarray(expect))
    assert m.bias is None
    a = qt.QuantizedLinear.from_linear(lin, "i8", affine={"symmetric": False})
    assert a.quantized.affine.symmetric is False
    with pytest.raises(qlinear.ArgumentError):
        qt.QuantizedLinear.from_linear(lin, "q4_0", method="gptq")


@pytest.mark.parametrize("fmt", ["q4_K", "i4"])
def test_state_dict_round_trip(fmt):
    src = qt.QuantizedLinear.from_linear(linear(256, 24), fmt)
    state = src.state_dict()
    assert state["qweight"].dtype == torch.uint8 and tuple(state["qweight"].shape) == np.asarray(src.quantized).shape
    dst = qt.QuantizedLinear(8, 4, bias=True, format="q8_0")  # another format and shape: rebuilt
    dst.load_state_dict(state)
    assert dst.format == fmt and (dst.in_features, dst.out_features) == (256, 24)
    np.testing.assert_array_equal(np.asarray(dst.quantized), np.asarray(src.quantized))
    x = torch.randn(3, 256)
    assert torch.equal(dst(x), src(x))
    buf = io.BytesIO()
    torch.save(state, buf)
    buf.seek(0)
    again = qt.QuantizedLinear(1, 1, format="q8_0")
    again.load_state_dict(torch.load(buf))
    assert torch.equal(again(x), src(x))
    with pytest.raises(RuntimeError, match="qweight"):
        qt.QuantizedLinear(1, 1).load_state_dict({k: v for k, v in state.items() if k != "qweight"})


def test_pickle_and_deepcopy_of_a_model():
    model = nn.Sequential(qt.QuantizedLinear.from_linear(linear(64, 32), "q5_K"))
    x = torch.randn(2, 64)
    buf = io.BytesIO()
    torch.save(model, buf)
    buf.seek(0)
    assert torch.equal(torch.load(buf)(x), model(x))
    assert torch.equal(copy.deepcopy(model)(x), model(x))


class TwoLayer(nn.Module):
    def __init__(self):
        super().__init__()
        torch.manual_seed(3)
        self.fc1 = nn.Linear(256, 128)
        self.fc2 = nn.Linear(128, 64)
        self.norm = nn.LayerNorm(64)

    def forward(self, x):
        return self.norm(self.fc2(torch.relu(self.fc1(x))))


def test_two_layer_model_end_to_end(tmp_path):
    model = TwoLayer()
    torch.manual_seed(4)
    x = torch.randn(6, 256)
    float_out = model(x).detach()
    qt.quantize_(model, "q8_0")
    assert isinstance(model.fc1, qt.QuantizedLinear) and isinstance(model.fc2, qt.QuantizedLinear)
    y = model(x)
    # Layer by layer: each quantized layer within its bound of F.linear on its dequantized weights.
    h = torch.relu(check_against_functional(model.fc1, x))
    check_against_functional(model.fc2, h)
    # The same kernels straight from numpy give the same bits.
    h_np = np.maximum(model.fc1.layer(x.numpy()), 0)
    assert torch.equal(model.norm(torch.from_numpy(model.fc2.layer(h_np))), y)
    # q8_0 moves the output of the normalized model a little (8.5 bits per weight).
    assert (y - float_out).norm() / float_out.norm() < 0.05

    # GGUF: the quantized bytes themselves; safetensors: a float checkpoint plain nn.Linear loads.
    qt.save_gguf(model, tmp_path / "m.gguf", {"general.name": "two-layer"})
    back = qlinear.read_tensors(tmp_path / "m.gguf")
    assert set(back) == {"fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias", "norm.weight", "norm.bias"}
    np.testing.assert_array_equal(np.asarray(back["fc1.weight"]), np.asarray(model.fc1.quantized))
    rebuilt = TwoLayer()
    rebuilt.fc1 = qt.QuantizedLinear.from_quantized(back["fc1.weight"], torch.from_numpy(back["fc1.bias"].copy()))
    rebuilt.fc2 = qt.QuantizedLinear.from_quantized(back["fc2.weight"], back["fc2.bias"])
    rebuilt.norm.load_state_dict({"weight": torch.from_numpy(back["norm.weight"].copy()),
                                  "bias": torch.from_numpy(back["norm.bias"].copy())})
    assert torch.equal(rebuilt(x), y)

    qt.save_safetensors(model, tmp_path / "m.safetensors")
    plain = TwoLayer()
    plain.load_state_dict({k: torch.from_numpy(np.array(v)) for k, v in
                           qlinear.read_tensors(tmp_path / "m.safetensors").items()})
    assert torch.equal(plain.fc1.weight, model.fc1.dequantize_weight())
    assert qlinear.read_metadata(tmp_path / "m.safetensors")["qlinear.format.fc1"] == "q8_0"

    state = model.state_dict()
    fresh = TwoLayer()
    qt.quantize_(fresh, "q4_0")
    fresh.load_state_dict(state)
    assert torch.equal(fresh(x), y)


def test_quantize_rules_skip_and_mixes():
    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.blocks = nn.ModuleList([nn.Linear(256, 256), nn.Linear(256, 96), nn.Linear(96, 64)])
            self.lm_head = nn.Linear(256, 10)
            self.extra = nn.Linear(256, 5)

    net = qt.quantize_(Net(), "q4_k_m", rules={"blocks.1": "q8_0", "extra": None}, skip=["re:blocks\\.2"])
    assert net.blocks[0].format == "q4_K"                                  # the mix's base format
    assert net.blocks[1].format == "q8_0"                                  # a rule
    assert type(net.blocks[2]) is nn.Linear and type(net.extra) is nn.Linear  # skipped, kept
    assert net.lm_head.format == "q6_K"                                    # the output head
    assert qt.module_format("x", nn.Linear(96, 8), "Q4_K_M") == "q5_0"     # 96: whole blocks of 32
    assert qt.module_format("x", nn.Linear(100, 8), "q4_k_m") == "f16"     # 100: q5_0 cannot hold it either
    assert qt.module_format("x", nn.Linear(480, 8), "q4_k_s") == "q5_0"    # q4_K's fallback
    assert qt.module_format("output", nn.Linear(256, 8), "q8_0") == "q8_0"
    single = qt.quantize_(nn.Linear(64, 4), ["*=q5_1"])  # a bare Linear is replaced and returned
    assert isinstance(single, qt.QuantizedLinear) and single.format == "q5_1"
    with pytest.raises(qlinear.ArgumentError, match="unknown type 'q4_z'"):
        qt.quantize_(Net(), "q4_z")
    with pytest.raises(qlinear.ArgumentError, match="PATTERN=FORMAT"):
        qt.quantize_(Net(), "q8_0", rules=["nothing"])
    with pytest.raises(qlinear.ArgumentError, match="^blocks.0: the calibration has 128 inputs"):
        qt.quantize_(Net(), "q4_K", method="gptq", calibration={"blocks.0": qlinear.Calibration(128)})


def test_calibrate_then_gptq():
    model = TwoLayer()
    torch.manual_seed(5)
    batches = [torch.randn(16, 256) for _ in range(3)]
    stats = qt.calibrate(model, batches + [(batches[0],)])
    assert set(stats) == {"fc1", "fc2"} and stats["fc1"].rows == 64 and stats["fc2"].in_features == 128
    expect = qlinear.Calibration(256)
    for b in batches + [batches[0]]:
        expect.add(b.numpy())
    np.testing.assert_allclose(stats["fc1"].xtx, expect.xtx, rtol=1e-12)
    assert not model.fc1._forward_pre_hooks  # the hooks are gone
    w1 = model.fc1.weight.detach().numpy().copy()
    qt.quantize_(model, "q4_0", method="gptq", calibration={"fc1": stats["fc1"]})
    np.testing.assert_array_equal(
        np.asarray(model.fc1.quantized),
        np.asarray(qlinear.quantize(w1, "q4_0", method="gptq", calibration=stats["fc1"])))
    assert model.fc2.format == "q4_0"  # no statistics given for it: search instead of gptq
