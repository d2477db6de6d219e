import os
from typing import Any, Callable, Mapping, Optional, Sequence, Union

import numpy as np
import numpy.typing as npt

__version__: str

ArrayLike = npt.ArrayLike
PathLike = Union[str, os.PathLike[str]]
Affine = Union[None, "AffineOptions", Mapping[str, Any]]
Rules = Union[None, Mapping[str, Optional[str]], Sequence[Union[str, Sequence[Optional[str]]]]]

class Error(Exception):
    code: str

class ArgumentError(Error, ValueError): ...

class AffineOptions:
    symmetric: bool
    granularity: str
    group_size: int
    calibration: str
    percentile: float
    def __init__(self, *, symmetric: bool = ..., granularity: str = ..., group_size: int = ...,
                 calibration: str = ..., percentile: float = ...) -> None: ...
    def as_dict(self) -> dict[str, Any]: ...

class QuantStats:
    rmse: float
    rel_rmse: float
    max_abs: float
    sqnr_db: float
    cosine: float
    bytes: int
    compression: float
    def as_dict(self) -> dict[str, float]: ...

class QuantizedTensor:
    format: str
    shape: tuple[int, int]
    rows: int
    cols: int
    padded_cols: int
    row_bytes: int
    nbytes: int
    bits_per_weight: float
    affine: Optional[AffineOptions]
    group_size: int
    scales: npt.NDArray[np.float32]
    zero_points: npt.NDArray[np.uint8]
    def dequantize(self) -> npt.NDArray[np.float32]: ...
    @staticmethod
    def from_blocks(format: str, rows: int, cols: int, data: Any) -> "QuantizedTensor": ...
    @staticmethod
    def from_affine(format: str, rows: int, cols: int, affine: Affine, codes: ArrayLike, scales: ArrayLike,
                    zero_points: Optional[ArrayLike] = ...) -> "QuantizedTensor": ...

class Calibration:
    in_features: int
    rows: int
    xtx: npt.NDArray[np.float64]
    def __init__(self, in_features: int) -> None: ...
    @staticmethod
    def from_statistics(in_features: int, xtx: ArrayLike, rows: int) -> "Calibration": ...
    def add(self, x: ArrayLike) -> None: ...
    def merge(self, other: "Calibration") -> None: ...
    def importance(self) -> npt.NDArray[np.float32]: ...
    def sum_squares(self) -> npt.NDArray[np.float64]: ...

class QuantizedLinear:
    in_features: int
    out_features: int
    format: str
    weight: QuantizedTensor
    bias: Optional[npt.NDArray[np.float32]]
    weight_bytes: int
    compression_ratio: float
    def __init__(self, w: ArrayLike, bias: Optional[ArrayLike] = ..., format: str = ...,
                 importance: Optional[ArrayLike] = ..., method: str = ..., calibration: Optional[Calibration] = ...,
                 affine: Affine = ..., damping: float = ...) -> None: ...
    @staticmethod
    def from_quantized(q: QuantizedTensor, bias: Optional[ArrayLike] = ...) -> "QuantizedLinear": ...
    def __call__(self, x: ArrayLike, out: Optional[npt.NDArray[np.float32]] = ...) -> npt.NDArray[np.float32]: ...
    def forward(self, x: ArrayLike, out: Optional[npt.NDArray[np.float32]] = ...) -> npt.NDArray[np.float32]: ...
    def dequantize_weights(self) -> npt.NDArray[np.float32]: ...

class MappedFile:
    path: os.PathLike[str]

def quantize(w: ArrayLike, format: str, importance: Optional[ArrayLike] = ..., method: str = ...,
             calibration: Optional[Calibration] = ..., affine: Affine = ..., damping: float = ...) -> QuantizedTensor: ...
def dequantize(q: QuantizedTensor) -> npt.NDArray[np.float32]: ...
def measure(w: ArrayLike, q: QuantizedTensor) -> QuantStats: ...
def set_num_threads(count: int) -> None: ...
def get_num_threads() -> int: ...
def isa() -> str: ...
def set_isa(name: str) -> None: ...
def formats() -> list[dict[str, Any]]: ...
def mixes() -> dict[str, str]: ...
def read_tensors(path: PathLike) -> dict[str, Union[QuantizedTensor, np.ndarray]]: ...
def read_metadata(path: PathLike) -> dict[str, Any]: ...
def write_gguf(path: PathLike, tensors: Mapping[str, Union[QuantizedTensor, ArrayLike]],
               metadata: Optional[Mapping[str, Any]] = ..., alignment: int = ...) -> None: ...
def write_safetensors(path: PathLike, tensors: Mapping[str, Union[QuantizedTensor, ArrayLike]],
                      metadata: Optional[Mapping[str, str]] = ...) -> None: ...
def write_calibration(path: PathLike, calibrations: Mapping[str, Calibration], datasets: Sequence[str] = ...) -> None: ...
def quantize_model(input: PathLike, output: PathLike, *, type: str = ..., rules: Rules = ...,
                   keep: Optional[Sequence[str]] = ..., calibration: Optional[PathLike] = ...,
                   imatrix: Optional[PathLike] = ..., method: str = ..., damping: float = ..., affine: Affine = ...,
                   fallback: Optional[str] = ..., pure: bool = ..., keep_1d: bool = ...,
                   progress: Union[bool, Callable[[dict[str, Any]], None]] = ...) -> dict[str, Any]: ...
def plan_model(input: PathLike, *, type: str = ..., rules: Rules = ..., keep: Optional[Sequence[str]] = ...,
               affine: Affine = ..., fallback: Optional[str] = ..., pure: bool = ..., keep_1d: bool = ...,
               imatrix: Optional[PathLike] = ..., gguf: bool = ...) -> list[dict[str, Any]]: ...
