"""qlinear: post-training weight quantization and quantized linear layers on CPU.

numpy in, numpy out; the names mirror the C++ API (include/qlinear/)::

    import numpy as np, qlinear
    q = qlinear.quantize(w, "q4_K")              # QuantizedTensor; np.asarray(q) is its bytes, no copy
    w2 = qlinear.dequantize(q)                   # float32 [rows, cols]
    s = qlinear.measure(w, q)                    # rmse, rel_rmse, sqnr_db, cosine, max_abs, ...
    layer = qlinear.QuantizedLinear(w, bias, format="q4_0")
    y = layer(x)                                 # x [batch, in] or [in], float32

Arrays that are not float32 or not C-contiguous are converted once (a copy) before the C++ call;
float32 C-contiguous arrays are passed without one. Shapes that do not fit raise
qlinear.ArgumentError (a ValueError and a qlinear.Error); dtypes that hold no real numbers raise
TypeError; other failures qlinear.Error, whose ``code`` names the kind ('io', 'malformed_file', ...).
forward and quantize release the GIL, so Python threads run layers in parallel.

PyTorch: ``import qlinear.torch`` (only when torch is installed) for nn.Module layers.
"""

import sys as _sys

from ._qlinear import (
    AffineOptions,
    ArgumentError,
    Calibration,
    Error,
    MappedFile,
    QuantizedLinear,
    QuantizedTensor,
    QuantStats,
    __version__,
    dequantize,
    formats,
    get_num_threads,
    isa,
    measure,
    mixes,
    plan_model,
    quantize,
    quantize_model,
    read_metadata,
    read_tensors,
    set_isa,
    set_num_threads,
    write_calibration,
    write_gguf,
    write_safetensors,
)

__all__ = [
    "AffineOptions",
    "ArgumentError",
    "Calibration",
    "Error",
    "MappedFile",
    "QuantizedLinear",
    "QuantizedTensor",
    "QuantStats",
    "__version__",
    "dequantize",
    "formats",
    "get_num_threads",
    "isa",
    "measure",
    "mixes",
    "plan_model",
    "quantize",
    "quantize_model",
    "read_metadata",
    "read_tensors",
    "set_isa",
    "set_num_threads",
    "write_calibration",
    "write_gguf",
    "write_safetensors",
]


def _print_progress(p):
    """quantize_model(progress=True): one line on stderr, rewritten after each tensor."""
    done = p["index"]  # tensors done so far, counted from 1
    end = "\n" if done == p["count"] else ""
    _sys.stderr.write(f"\rquantizing {done}/{p['count']} {p['name'][:60]:<60}{end}")
    _sys.stderr.flush()
