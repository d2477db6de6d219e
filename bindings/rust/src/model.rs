//! Whole-model quantization: a safetensors or GGUF file in, a GGUF (or safetensors) file out.

use crate::{check, ffi, AffineOptions, Error, ErrorKind, Format, Method, Result};
use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::ptr;

/// What `quantize_model` can be told beyond the type (the CLI's `quantize` flags).
#[derive(Clone, Debug)]
pub struct ModelOptions {
    /// With a mix: every tensor in its base format.
    pub pure: bool,
    /// Keep tensors of rank < 2 (biases, norms) as they are.
    pub keep_1d: bool,
    /// "PATTERN=FORMAT" or "PATTERN=keep", first match wins.
    pub rules: Vec<String>,
    /// The format of rows a block format cannot hold.
    pub fallback: Option<Format>,
    /// llama.cpp's importance matrix.
    pub imatrix: Option<PathBuf>,
    /// An activations or statistics file (gptq needs one).
    pub calibration: Option<PathBuf>,
    pub method: Method,
    pub damping: f64,
    pub affine: AffineOptions,
}

impl Default for ModelOptions {
    fn default() -> ModelOptions {
        ModelOptions {
            pure: false,
            keep_1d: true,
            rules: Vec::new(),
            fallback: None,
            imatrix: None,
            calibration: None,
            method: Method::Reference,
            damping: 0.01,
            affine: AffineOptions::default(),
        }
    }
}

/// What `quantize_model` wrote.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ModelSummary {
    pub tensors: usize,
    /// Of them, quantized to a new format.
    pub quantized: usize,
    pub bytes_in: u64,
    pub bytes_out: u64,
    pub weights: u64,
    pub seconds: f64,
}

fn c_string(text: &[u8], what: &str) -> Result<CString> {
    CString::new(text).map_err(|_| Error::new(ErrorKind::InvalidArgument, format!("{} holds a NUL byte", what)))
}

fn c_path(path: &Path, what: &str) -> Result<CString> {
    c_string(path.as_os_str().as_bytes(), what)
}

/// Reads `input` (safetensors or GGUF), quantizes it to `quant_type` (a format name, or one of
/// llama-quantize's mixes such as "q4_k_m") and writes `output` (GGUF, or safetensors when the name
/// ends in .safetensors). The output appears only on success.
pub fn quantize_model(
    input: impl AsRef<Path>,
    output: impl AsRef<Path>,
    quant_type: &str,
    options: &ModelOptions,
) -> Result<ModelSummary> {
    let input = c_path(input.as_ref(), "the input path")?;
    let output = c_path(output.as_ref(), "the output path")?;
    let quant_type = c_string(quant_type.as_bytes(), "the type")?;
    let rules: Vec<CString> = options.rules.iter().map(|r| c_string(r.as_bytes(), "a rule")).collect::<Result<_>>()?;
    let rule_ptrs: Vec<*const std::os::raw::c_char> = rules.iter().map(|r| r.as_ptr()).collect();
    let fallback = options.fallback.map(|f| c_string(f.name().as_bytes(), "the fallback")).transpose()?;
    let imatrix = options.imatrix.as_deref().map(|p| c_path(p, "the imatrix path")).transpose()?;
    let calibration = options.calibration.as_deref().map(|p| c_path(p, "the calibration path")).transpose()?;
    let raw = ffi::qlinear_model_options {
        pure_: options.pure as i32,
        keep_1d: options.keep_1d as i32,
        rules: if rule_ptrs.is_empty() { ptr::null() } else { rule_ptrs.as_ptr() },
        rule_count: rule_ptrs.len(),
        fallback: fallback.as_ref().map_or(ptr::null(), |s| s.as_ptr()),
        imatrix: imatrix.as_ref().map_or(ptr::null(), |s| s.as_ptr()),
        calibration: calibration.as_ref().map_or(ptr::null(), |s| s.as_ptr()),
        method: options.method as i32,
        damping: options.damping,
        affine: options.affine.to_ffi(),
    };
    let mut summary = ffi::qlinear_model_summary::default();
    check(unsafe {
        ffi::qlinear_quantize_model(input.as_ptr(), output.as_ptr(), quant_type.as_ptr(), &raw, &mut summary)
    })?;
    Ok(ModelSummary {
        tensors: summary.tensors,
        quantized: summary.quantized,
        bytes_in: summary.bytes_in,
        bytes_out: summary.bytes_out,
        weights: summary.weights,
        seconds: summary.seconds,
    })
}
