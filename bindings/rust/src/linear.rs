//! Quantized linear layers: y = x · Wᵀ + b.

use crate::{check, ffi, infallible, Format, QuantizeOptions, QuantizedTensor, Result};
use std::ptr::{self, NonNull};

/// A linear layer whose weights are stored in a quantized format.
///
/// `forward` is read-only and may run on one layer from several threads at once (the layer is
/// `Send + Sync`). For the quantized formats it first rounds each block of 32 inputs to 8 bits,
/// as ggml's CPU backend does, so `y ≈ q8(x) · dequantize(W)ᵀ + b`.
#[derive(Debug)]
pub struct QuantizedLinear {
    raw: NonNull<ffi::qlinear_layer>,
}

// The C++ QuantizedLinear is immutable once built and documents forward() as safe to call from
// several threads at once.
unsafe impl Send for QuantizedLinear {}
unsafe impl Sync for QuantizedLinear {}

impl Drop for QuantizedLinear {
    fn drop(&mut self) {
        unsafe { ffi::qlinear_layer_free(self.raw.as_ptr()) }
    }
}

fn bias_parts(bias: Option<&[f32]>) -> (*const f32, usize) {
    match bias {
        Some(b) => (b.as_ptr(), b.len()),
        None => (ptr::null(), 0),
    }
}

impl QuantizedLinear {
    fn from_raw(raw: *mut ffi::qlinear_layer) -> QuantizedLinear {
        QuantizedLinear { raw: NonNull::new(raw).expect("qlinear: a successful call returned no layer") }
    }

    fn as_ptr(&self) -> *const ffi::qlinear_layer {
        self.raw.as_ptr()
    }

    /// A layer from float weights, row-major [out_features, in_features] (rows × cols), and an
    /// optional bias of out_features values, quantized to `format`.
    pub fn new(
        weights: &[f32],
        bias: Option<&[f32]>,
        out_features: usize,
        in_features: usize,
        format: Format,
    ) -> Result<QuantizedLinear> {
        QuantizedLinear::with_options(weights, bias, out_features, in_features, format, &QuantizeOptions::default())
    }

    /// As `new`, the quantization type named as the library spells it ("q4_0", "q4_K", "i8", ...).
    pub fn from_weights(
        weights: &[f32],
        bias: Option<&[f32]>,
        out_features: usize,
        in_features: usize,
        quant_type: &str,
    ) -> Result<QuantizedLinear> {
        QuantizedLinear::new(weights, bias, out_features, in_features, quant_type.parse()?)
    }

    /// As `new`, with quantization options (importance, method, calibration, affine options).
    pub fn with_options(
        weights: &[f32],
        bias: Option<&[f32]>,
        out_features: usize,
        in_features: usize,
        format: Format,
        options: &QuantizeOptions<'_>,
    ) -> Result<QuantizedLinear> {
        let (bias_ptr, bias_len) = bias_parts(bias);
        let options = options.to_ffi();
        let mut out = ptr::null_mut();
        check(unsafe {
            ffi::qlinear_layer_create(
                weights.as_ptr(),
                weights.len(),
                bias_ptr,
                bias_len,
                out_features,
                in_features,
                format as i32,
                &options,
                &mut out,
            )
        })?;
        Ok(QuantizedLinear::from_raw(out))
    }

    /// A layer around weights already quantized (their bytes are shared, not copied).
    pub fn from_tensor(weight: &QuantizedTensor, bias: Option<&[f32]>) -> Result<QuantizedLinear> {
        let (bias_ptr, bias_len) = bias_parts(bias);
        let mut out = ptr::null_mut();
        check(unsafe { ffi::qlinear_layer_from_tensor(weight.as_ptr(), bias_ptr, bias_len, &mut out) })?;
        Ok(QuantizedLinear::from_raw(out))
    }

    /// `input`: row-major [batch, in_features]; returns [batch, out_features].
    pub fn forward(&self, input: &[f32], batch: usize) -> Result<Vec<f32>> {
        let mut output = vec![0.0f32; batch.saturating_mul(self.out_features())];
        self.forward_into(input, batch, &mut output)?;
        Ok(output)
    }

    /// As `forward`, into `output` ([batch, out_features]).
    pub fn forward_into(&self, input: &[f32], batch: usize, output: &mut [f32]) -> Result<()> {
        check(unsafe {
            ffi::qlinear_layer_forward(
                self.as_ptr(),
                input.as_ptr(),
                input.len(),
                batch,
                output.as_mut_ptr(),
                output.len(),
            )
        })
    }

    pub fn in_features(&self) -> usize {
        let mut n = 0;
        infallible(unsafe { ffi::qlinear_layer_in_features(self.as_ptr(), &mut n) });
        n
    }

    pub fn out_features(&self) -> usize {
        let mut n = 0;
        infallible(unsafe { ffi::qlinear_layer_out_features(self.as_ptr(), &mut n) });
        n
    }

    pub fn format(&self) -> Format {
        let mut raw = 0;
        infallible(unsafe { ffi::qlinear_layer_format(self.as_ptr(), &mut raw) });
        Format::from_raw(raw)
    }

    /// 4·out·in / the bytes the weights take.
    pub fn compression_ratio(&self) -> f64 {
        let mut ratio = 0.0;
        infallible(unsafe { ffi::qlinear_layer_compression_ratio(self.as_ptr(), &mut ratio) });
        ratio
    }

    /// The weights as floats, [out_features, in_features].
    pub fn dequantize_weights(&self) -> Vec<f32> {
        let mut out = vec![0.0f32; self.out_features() * self.in_features()];
        infallible(unsafe { ffi::qlinear_layer_dequantize_weights(self.as_ptr(), out.as_mut_ptr(), out.len()) });
        out
    }

    /// The quantized weights (sharing the layer's bytes).
    pub fn weight(&self) -> QuantizedTensor {
        let mut out = ptr::null_mut();
        infallible(unsafe { ffi::qlinear_layer_weight(self.as_ptr(), &mut out) });
        QuantizedTensor::from_raw(out)
    }
}
