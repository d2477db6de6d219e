//! Quantized weight matrices: quantize, dequantize, measure.

use crate::{check, ffi, infallible, AffineOptions, Calibration, Format, Method, Result};
use std::ptr::{self, NonNull};

/// Everything `quantize_with` can be told beyond the format (the C++ `QuantizeOptions`).
#[derive(Clone, Copy, Debug)]
pub struct QuantizeOptions<'a> {
    pub affine: AffineOptions,
    /// One weight >= 0 per input column (cols values): how much an error in that column costs, e.g.
    /// the mean x² of its activations (llama.cpp's importance matrix).
    pub importance: Option<&'a [f32]>,
    pub method: Method,
    /// The inputs' statistics: gptq needs them; search uses their importance.
    pub calibration: Option<&'a Calibration>,
    /// gptq: this fraction of mean(diag XᵀX) is added to the diagonal.
    pub damping: f64,
}

impl Default for QuantizeOptions<'_> {
    fn default() -> Self {
        QuantizeOptions {
            affine: AffineOptions::default(),
            importance: None,
            method: Method::Reference,
            calibration: None,
            damping: 0.01,
        }
    }
}

impl QuantizeOptions<'_> {
    pub(crate) fn to_ffi(&self) -> ffi::qlinear_quantize_options {
        let (importance, importance_count) = match self.importance {
            Some(v) => (v.as_ptr(), v.len()),
            None => (ptr::null(), 0),
        };
        ffi::qlinear_quantize_options {
            affine: self.affine.to_ffi(),
            importance,
            importance_count,
            method: self.method as i32,
            calibration: self.calibration.map_or(ptr::null(), |c| c.as_ptr()),
            damping: self.damping,
        }
    }
}

/// What quantization cost (the C++ `QuantStats`).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct QuantStats {
    pub rmse: f64,
    pub max_abs: f64,
    pub sqnr_db: f64,
    pub cosine: f64,
    pub rel_rmse: f64,
    pub compression: f64,
    pub bytes: usize,
}

/// A row-major [rows, cols] matrix of quantized weights (rows = out_features). Immutable.
#[derive(Debug)]
pub struct QuantizedTensor {
    raw: NonNull<ffi::qlinear_tensor>,
}

// The tensor's bytes never change after it is made, and the library's read-only calls may run on
// one tensor from several threads.
unsafe impl Send for QuantizedTensor {}
unsafe impl Sync for QuantizedTensor {}

impl Drop for QuantizedTensor {
    fn drop(&mut self) {
        unsafe { ffi::qlinear_tensor_free(self.raw.as_ptr()) }
    }
}

/// Quantizes `w`, row-major [rows, cols], to `format` with the default options.
pub fn quantize(w: &[f32], rows: usize, cols: usize, format: Format) -> Result<QuantizedTensor> {
    quantize_with(w, rows, cols, format, &QuantizeOptions::default())
}

/// Quantizes `w`, row-major [rows, cols], with `options`.
pub fn quantize_with(
    w: &[f32],
    rows: usize,
    cols: usize,
    format: Format,
    options: &QuantizeOptions<'_>,
) -> Result<QuantizedTensor> {
    let options = options.to_ffi();
    let mut out = ptr::null_mut();
    check(unsafe { ffi::qlinear_quantize(w.as_ptr(), w.len(), rows, cols, format as i32, &options, &mut out) })?;
    Ok(QuantizedTensor::from_raw(out))
}

/// The floats a tensor stands for, [rows, cols].
pub fn dequantize(tensor: &QuantizedTensor) -> Vec<f32> {
    tensor.dequantize()
}

/// What quantizing `original` into `tensor` cost.
pub fn measure(original: &[f32], tensor: &QuantizedTensor) -> Result<QuantStats> {
    tensor.measure(original)
}

impl QuantizedTensor {
    pub(crate) fn from_raw(raw: *mut ffi::qlinear_tensor) -> QuantizedTensor {
        QuantizedTensor { raw: NonNull::new(raw).expect("qlinear: a successful call returned no tensor") }
    }

    pub(crate) fn as_ptr(&self) -> *const ffi::qlinear_tensor {
        self.raw.as_ptr()
    }

    /// Wraps blocks already quantized (e.g. a tensor of a GGUF file): rows × row bytes in ggml's
    /// layout, rows padded to the format's row alignment. Block and float formats only.
    pub fn from_bytes(format: Format, rows: usize, cols: usize, bytes: &[u8]) -> Result<QuantizedTensor> {
        let mut out = ptr::null_mut();
        check(unsafe {
            ffi::qlinear_tensor_from_bytes(format as i32, rows, cols, bytes.as_ptr().cast(), bytes.len(), &mut out)
        })?;
        Ok(QuantizedTensor::from_raw(out))
    }

    pub fn format(&self) -> Format {
        let mut raw = 0;
        infallible(unsafe { ffi::qlinear_tensor_format(self.as_ptr(), &mut raw) });
        Format::from_raw(raw)
    }

    pub fn rows(&self) -> usize {
        let mut n = 0;
        infallible(unsafe { ffi::qlinear_tensor_rows(self.as_ptr(), &mut n) });
        n
    }

    pub fn cols(&self) -> usize {
        let mut n = 0;
        infallible(unsafe { ffi::qlinear_tensor_cols(self.as_ptr(), &mut n) });
        n
    }

    /// Stored bytes per row, padding included.
    pub fn row_bytes(&self) -> usize {
        let mut n = 0;
        infallible(unsafe { ffi::qlinear_tensor_row_bytes(self.as_ptr(), &mut n) });
        n
    }

    /// Every byte the tensor holds: codes, scales, zero points, padding.
    pub fn nbytes(&self) -> usize {
        let mut n = 0;
        infallible(unsafe { ffi::qlinear_tensor_nbytes(self.as_ptr(), &mut n) });
        n
    }

    pub fn bits_per_weight(&self) -> f64 {
        let mut bits = 0.0;
        infallible(unsafe { ffi::qlinear_tensor_bits_per_weight(self.as_ptr(), &mut bits) });
        bits
    }

    /// The blocks (an affine tensor's codes) as stored: rows × row_bytes, ggml's layout.
    pub fn bytes(&self) -> &[u8] {
        let mut data = ptr::null();
        let mut size = 0;
        infallible(unsafe { ffi::qlinear_tensor_data(self.as_ptr(), &mut data, &mut size) });
        if size == 0 {
            return &[];
        }
        // Valid while the tensor lives; the library never changes them.
        unsafe { std::slice::from_raw_parts(data.cast::<u8>(), size) }
    }

    /// The floats the tensor stands for, [rows, cols].
    pub fn dequantize(&self) -> Vec<f32> {
        let mut out = vec![0.0f32; self.rows() * self.cols()];
        infallible(unsafe { ffi::qlinear_dequantize(self.as_ptr(), out.as_mut_ptr(), out.len()) });
        out
    }

    /// What quantizing `original` (rows·cols floats) into this tensor cost.
    pub fn measure(&self, original: &[f32]) -> Result<QuantStats> {
        let mut s = ffi::qlinear_stats::default();
        check(unsafe { ffi::qlinear_measure(original.as_ptr(), original.len(), self.as_ptr(), &mut s) })?;
        Ok(QuantStats {
            rmse: s.rmse,
            max_abs: s.max_abs,
            sqnr_db: s.sqnr_db,
            cosine: s.cosine,
            rel_rmse: s.rel_rmse,
            compression: s.compression,
            bytes: s.bytes,
        })
    }
}
