"""qlinear.torch: PyTorch modules over qlinear's kernels (CPU, float32).

    import qlinear.torch as qt
    layer = qt.QuantizedLinear.from_linear(nn.Linear(4096, 4096), "q4_K")
    qt.quantize_(model, "q4_k_m", skip=["lm_head"])        # every nn.Linear replaced in place
    stats = qt.calibrate(model, batches)                    # each Linear's inputs, by module name
    qt.quantize_(model, "q4_0", method="gptq", calibration=stats)
    qt.save_gguf(model, "model.gguf")

Inference only: inputs are detached (no gradients flow through a quantized layer) and moved to
CPU float32 when they are not (a copy); CPU float32 tensors reach the kernels without one, and the
output is a float32 tensor over the kernels' result, also without a copy.

The quantized bytes are a uint8 buffer ``qweight`` [rows, row_bytes] in ggml's layout (plus
``scales`` and ``zero_points`` for i8/i4, and ``bias``), with the format and shape in the module's
extra state, so ``state_dict()`` / ``load_state_dict()`` and ``torch.save`` round-trip exactly. The
buffers view the layer's bytes: they are read-only (writing to them is not supported).
"""

import fnmatch
import re
import warnings

import numpy as np
import torch
from torch import nn

import qlinear as _q

__all__ = ["QuantizedLinear", "quantize_", "calibrate", "save_gguf", "save_safetensors", "module_format"]


def _from_numpy(a):
    """A tensor over a numpy array without a copy; read-only arrays stay unwritten by contract."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # "The given NumPy array is not writable"
        return torch.from_numpy(a)


def _as_numpy(t):
    """A float32 CPU tensor as a numpy array (no copy when it already is one)."""
    t = t.detach()
    if t.device.type != "cpu" or t.dtype != torch.float32:
        t = t.to(device="cpu", dtype=torch.float32)
    return t.contiguous().numpy()


class QuantizedLinear(nn.Module):
    """y = x @ W.T + b with W quantized, computed by qlinear's kernels on CPU float32.

    Build it with ``from_linear(linear, format, **quantize options)`` or ``from_quantized(q, bias)``;
    ``QuantizedLinear(in_features, out_features, bias, format)`` makes an all-zero layer to load a
    state_dict into (whose format and shape then replace its own). x: [..., in_features].
    """

    def __init__(self, in_features, out_features, bias=True, format="q8_0"):
        super().__init__()
        w = np.zeros((out_features, in_features), dtype=np.float32)
        b = np.zeros(out_features, dtype=np.float32) if bias else None
        self._set_layer(_q.QuantizedLinear(w, b, format=format))

    @classmethod
    def from_linear(cls, linear, format="q8_0", **options):
        """Quantizes an nn.Linear's weights into `format`; options as qlinear.quantize (importance,
        method, calibration, affine, damping)."""
        bias = None if linear.bias is None else _as_numpy(linear.bias)
        return cls._wrap(_q.QuantizedLinear(_as_numpy(linear.weight), bias, format=format, **options))

    @classmethod
    def from_quantized(cls, q, bias=None):
        """A module around a qlinear.QuantizedTensor (shared, not copied) and an optional bias."""
        if isinstance(bias, torch.Tensor):
            bias = _as_numpy(bias)
        return cls._wrap(_q.QuantizedLinear.from_quantized(q, bias))

    @classmethod
    def _wrap(cls, layer):
        module = cls.__new__(cls)
        nn.Module.__init__(module)
        module._set_layer(layer)
        return module

    def _set_layer(self, layer):
        """Makes `layer` this module's computation and its bytes the buffers (views, no copies)."""
        self.layer = layer
        q = layer.weight
        self.register_buffer("qweight", _from_numpy(np.asarray(q)))
        self.register_buffer("scales", _from_numpy(q.scales))
        self.register_buffer("zero_points", _from_numpy(q.zero_points))
        self.register_buffer("bias", None if layer.bias is None else _from_numpy(layer.bias))

    @property
    def in_features(self):
        return self.layer.in_features

    @property
    def out_features(self):
        return self.layer.out_features

    @property
    def format(self):
        return self.layer.format

    @property
    def quantized(self):
        """The weights as a qlinear.QuantizedTensor."""
        return self.layer.weight

    def dequantize_weight(self):
        """The weights as a float32 tensor [out_features, in_features]."""
        return torch.from_numpy(self.layer.dequantize_weights())

    def forward(self, x):
        shape = x.shape
        if x.dim() == 0 or shape[-1] != self.in_features:
            e = _q.ArgumentError(f"x must be [..., in_features] with in_features = {self.in_features}, "
                                 f"got shape {tuple(shape)}")
            e.code = "size_mismatch"
            raise e
        y = self.layer(_as_numpy(x).reshape(-1, self.in_features))
        return torch.from_numpy(y).reshape(*shape[:-1], self.out_features)

    def extra_repr(self):
        return (f"in_features={self.in_features}, out_features={self.out_features}, "
                f"bias={self.layer.bias is not None}, format={self.format!r}")

    def get_extra_state(self):
        q = self.layer.weight
        return {"format": q.format, "shape": tuple(q.shape),
                "affine": None if q.affine is None else q.affine.as_dict()}

    def set_extra_state(self, state):
        self._pending_state = state

    def _load_from_state_dict(self, state_dict, prefix, local_metadata, strict, missing_keys,
                              unexpected_keys, error_msgs):
        # The incoming bytes may be of another format or shape than this module's: the layer is
        # rebuilt from them rather than copied into buffers of the current size.
        key = prefix + "_extra_state"
        if key not in state_dict:
            missing_keys.append(key)
            return
        state = state_dict[key]
        names = ["qweight", "scales", "zero_points"]
        for n in names:
            if prefix + n not in state_dict:
                missing_keys.append(prefix + n)
        if any(prefix + n not in state_dict for n in names):
            return
        bias = state_dict.get(prefix + "bias")
        try:
            layer = _layer_from_state(state, *(state_dict[prefix + n] for n in names), bias)
        except (_q.Error, TypeError, ValueError, KeyError) as e:
            error_msgs.append(f"{prefix}: {e}")
            return
        self._set_layer(layer)

    def __getstate__(self):
        state = self.__dict__.copy()
        state["_layer_state"] = self.get_extra_state()
        del state["layer"]
        return state

    def __setstate__(self, state):
        extra = state.pop("_layer_state")
        self.__dict__.update(state)
        buffers = self._buffers
        self._set_layer(_layer_from_state(extra, buffers["qweight"], buffers["scales"],
                                          buffers["zero_points"], buffers["bias"]))


def _layer_from_state(state, qweight, scales, zero_points, bias):
    rows, cols = state["shape"]
    codes = qweight.detach().cpu().contiguous().numpy()
    if state["affine"] is None:
        q = _q.QuantizedTensor.from_blocks(state["format"], rows, cols, codes)
    else:
        zp = zero_points.detach().cpu().numpy()
        q = _q.QuantizedTensor.from_affine(state["format"], rows, cols, state["affine"], codes,
                                           scales.detach().cpu().numpy(), zp if zp.size else None)
    b = None if bias is None else _as_numpy(bias)
    return _q.QuantizedLinear.from_quantized(q, b)


# llama-quantize's fallback for rows that are not whole blocks of a 256-block format (docs/mixes.md).
_FALLBACK = {"q2_K": "q4_0", "q3_K": "q4_0", "q4_K": "q5_0", "q5_K": "q5_1", "q6_K": "q8_0",
             "iq4_xs": "iq4_nl"}
_OUTPUT_NAMES = ("lm_head", "output")


def _block_size(fmt):
    return next(f["block_size"] for f in _q.formats() if f["name"] == fmt)


def _mix_base(type_):
    """The base format of a mix name (any case), or None when `type_` is not a mix."""
    for name, base in _q.mixes().items():
        if name.lower() == type_.lower():
            return name, base
    return None


def module_format(name, linear, type_):
    """The format quantize_ gives the nn.Linear `name` for a type that is a mix (e.g. 'q4_k_m').

    A torch model has neither llama.cpp's tensor names nor its metadata, so of llama-quantize's
    per-tensor rules only those that need neither apply: every Linear gets the mix's base format,
    except the output head (a module named 'lm_head' or 'output', as Hugging Face and llama.cpp
    name it), which gets q6_K as llama-quantize gives output.weight (q8_0 stays q8_0); then rows
    (in_features) that are not whole blocks fall back as llama-quantize's do: q2_K/q3_K to q4_0,
    q4_K to q5_0, q5_K to q5_1, q6_K to q8_0, iq4_xs to iq4_nl, and to f16 when not a multiple of 32.
    """
    _, fmt = _mix_base(type_)
    if name.rsplit(".", 1)[-1] in _OUTPUT_NAMES and fmt != "q8_0":
        fmt = "q6_K"
    if linear.in_features % _block_size(fmt) != 0:
        fmt = _FALLBACK.get(fmt, fmt)
        if linear.in_features % _block_size(fmt) != 0:
            fmt = "f16"
    return fmt


def _matches(pattern, name):
    if pattern.startswith("re:"):
        return re.fullmatch(pattern[3:], name) is not None
    return fnmatch.fnmatchcase(name, pattern)


def _rules(rules):
    if rules is None:
        return []
    if isinstance(rules, dict):
        return list(rules.items())
    out = []
    for r in rules:
        if isinstance(r, str):
            pattern, sep, fmt = r.rpartition("=")
            if not sep or not pattern:
                raise _q.ArgumentError(f"a rule is 'PATTERN=FORMAT' or 'PATTERN=keep', got '{r}'")
            out.append((pattern, fmt))
        else:
            out.append(tuple(r))
    return [(p, None if f in (None, "keep") else f) for p, f in out]


def quantize_(model, type="q8_0", rules=None, skip=(), method="reference", calibration=None,
              affine=None, damping=0.01):
    """Replaces every nn.Linear of `model` (the model itself too) by a QuantizedLinear, in place.

    type: a format ('q4_0', 'q4_K', 'i4', ...) for every Linear, llama-quantize's mix name
    ('q4_k_m', any case), read per module as module_format() says, or rules in place of a type
    (then the modules no rule matches stay as they are). rules: {pattern: format} or
    ['PATTERN=FORMAT', ...] on the modules' qualified names (globs, or 're:' + a regular
    expression; first match wins; format None or 'keep' leaves the module as it is); they take
    precedence over `type`. skip: patterns of modules left as they are. method: 'reference',
    'search' or 'gptq'; calibration: {module name: qlinear.Calibration}, as calibrate() returns,
    which gptq needs (a module without an entry gets 'search', as `qlinear quantize` does) and
    search weighs by. affine, damping: as qlinear.quantize. Returns the model.
    Errors name the module: qlinear.Error's message starts with it.
    """
    if not isinstance(type, str):  # rules in place of a type: modules no rule matches are kept
        rule_list, type = _rules(type) + _rules(rules), None
    else:
        rule_list = _rules(rules)
    known = type is None or any(f["name"] == type for f in _q.formats())
    mix = None if known else _mix_base(type)
    if not known and mix is None:
        e = _q.ArgumentError(f"unknown type '{type}': a format ({', '.join(f['name'] for f in _q.formats())}) "
                             f"or a mix ({', '.join(_q.mixes())})")
        e.code = "unknown_format"
        raise e
    calibration = calibration or {}

    targets = []
    for name, module in model.named_modules():
        if not isinstance(module, nn.Linear) or any(_matches(p, name) for p in skip):
            continue
        fmt = next((f for p, f in rule_list if _matches(p, name)), "")
        if fmt == "":
            fmt = module_format(name, module, type) if mix else type  # None: no rule, no type
        if fmt is not None:
            targets.append((name, module, fmt))

    for name, module, fmt in targets:
        cal = calibration.get(name)
        m = method if (method != "gptq" or cal is not None) else "search"
        try:
            new = QuantizedLinear.from_linear(module, fmt, method=m, calibration=cal, affine=affine,
                                              damping=damping)
        except _q.Error as e:
            e.args = (f"{name or 'model'}: {e}",)
            raise
        if name == "":
            return new
        parent_name, _, child = name.rpartition(".")
        setattr(model.get_submodule(parent_name), child, new)
    return model


def calibrate(model, batches, skip=()):
    """Runs `model` on each batch (a tensor, a tuple of arguments, or a dict of keyword arguments)
    under torch.no_grad() and returns {module name: qlinear.Calibration} of every nn.Linear's
    inputs (XᵀX and Σx² in double), collected by forward hooks that are removed afterwards."""
    stats, hooks = {}, []

    def hook(name):
        def record(module, inputs):
            stats[name].add(_as_numpy(inputs[0]).reshape(-1, module.in_features))
        return record

    for name, module in model.named_modules():
        if isinstance(module, nn.Linear) and not any(_matches(p, name) for p in skip):
            stats[name] = _q.Calibration(module.in_features)
            hooks.append(module.register_forward_pre_hook(hook(name)))
    try:
        with torch.no_grad():
            for batch in batches:
                if isinstance(batch, dict):
                    model(**batch)
                elif isinstance(batch, (tuple, list)):
                    model(*batch)
                else:
                    model(batch)
    finally:
        for h in hooks:
            h.remove()
    return {name: c for name, c in stats.items() if c.rows > 0}


def _state_arrays(model, skip_prefixes):
    """The model's other tensors (parameters and buffers not of a QuantizedLinear) as numpy."""
    out = {}
    for name, t in model.state_dict().items():
        if not isinstance(t, torch.Tensor) or any(name.startswith(p) for p in skip_prefixes):
            continue
        t = t.detach().cpu()
        if t.dtype == torch.bfloat16:
            t = t.to(torch.float32)  # numpy has no bfloat16
        elif t.dtype == torch.bool:
            t = t.to(torch.int8)
        out[name] = t.contiguous().numpy()
    return out


def _quantized_modules(model):
    return [(n, m) for n, m in model.named_modules() if isinstance(m, QuantizedLinear)]


def save_gguf(model, path, metadata=None):
    """Writes the model's tensors to a GGUF file through qlinear's writer: each QuantizedLinear as
    NAME.weight in its format (block formats need in_features a multiple of their block; i8/i4 as
    qlinear stores them) and NAME.bias (f32), every other parameter and buffer as its dtype
    (bfloat16 as f32). metadata: {key: value} as qlinear.write_gguf takes it."""
    tensors, prefixes = {}, []
    for name, m in _quantized_modules(model):
        prefix = f"{name}." if name else ""
        prefixes.append(prefix)
        tensors[prefix + "weight"] = m.quantized
        if m.layer.bias is not None:
            tensors[prefix + "bias"] = m.layer.bias
    for name, a in _state_arrays(model, prefixes).items():
        tensors[name] = a
    _q.write_gguf(path, tensors, metadata)


def save_safetensors(model, path, metadata=None):
    """Writes a float checkpoint that any safetensors reader and plain nn.Linear layers load: each
    QuantizedLinear's weights dequantized to float32 (its format recorded in the metadata as
    'qlinear.format.NAME'), every other parameter and buffer as its dtype (bfloat16 as f32)."""
    tensors, prefixes, meta = {}, [], dict(metadata or {})
    for name, m in _quantized_modules(model):
        prefix = f"{name}." if name else ""
        prefixes.append(prefix)
        tensors[prefix + "weight"] = m.layer.dequantize_weights()
        if m.layer.bias is not None:
            tensors[prefix + "bias"] = m.layer.bias
        meta[f"qlinear.format.{name}"] = m.format
    for name, a in _state_arrays(model, prefixes).items():
        tensors[name] = a
    _q.write_safetensors(path, tensors, meta)
