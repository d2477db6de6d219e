//! qlinear: post-training weight quantization and quantized linear layers on CPU, in ggml's block
//! formats (byte-identical to ggml), its K-quants and i-quants, and affine int8/int4.
//!
//! Safe wrappers over libqlinear's C API (`<qlinear/qlinear.h>`); the library is found at build
//! time through `pkg-config qlinear`.
//!
//! ```
//! use qlinear::{Format, QuantizedLinear};
//!
//! # fn main() -> Result<(), qlinear::Error> {
//! let (out_features, in_features) = (4, 64);
//! let weights: Vec<f32> = (0..out_features * in_features).map(|i| (i as f32 * 0.37).sin()).collect();
//! let bias = vec![0.5_f32; out_features];
//! let layer = QuantizedLinear::new(&weights, Some(&bias), out_features, in_features, Format::Q4_0)?;
//!
//! let input = vec![1.0_f32; 2 * in_features]; // batch of 2, row-major [batch, in_features]
//! let output = layer.forward(&input, 2)?; // [batch, out_features]
//! assert_eq!(output.len(), 2 * out_features);
//! assert!(layer.compression_ratio() > 7.0); // 4.5 bits per weight instead of 32
//!
//! let format: Format = "q4_K".parse()?;
//! assert_eq!(format.to_string(), "q4_K");
//! # Ok(())
//! # }
//! ```
//!
//! Every failure is an [`Error`] with an [`ErrorKind`] and the library's message, which names what
//! was wrong (the sizes, the row and column of a NaN, the valid format names).

mod calibration;
mod ffi;
mod format;
mod linear;
mod model;
mod tensor;

pub use calibration::Calibration;
pub use format::{AffineOptions, Clip, Format, FormatInfo, Granularity, Method};
pub use linear::QuantizedLinear;
pub use model::{quantize_model, ModelOptions, ModelSummary};
pub use tensor::{dequantize, measure, quantize, quantize_with, QuantStats, QuantizeOptions, QuantizedTensor};

use std::ffi::CStr;
use std::fmt;
use std::os::raw::c_int;

/// What kind of failure an [`Error`] is: `qlinear::ErrorCode` of the C++ API, and running out of
/// memory.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    /// A parameter out of its range.
    InvalidArgument,
    /// A slice or shape whose size is not what the other arguments imply.
    SizeMismatch,
    /// NaN or Inf where a finite value is required.
    NonFinite,
    /// A format name qlinear does not know.
    UnknownFormat,
    /// A valid request this build or format cannot serve.
    Unsupported,
    /// The operating system refused a file operation.
    Io,
    /// A file whose contents break its format's rules.
    MalformedFile,
    /// A broken invariant inside qlinear (a bug).
    Internal,
    /// An allocation failed.
    OutOfMemory,
}

impl ErrorKind {
    fn from_status(status: c_int) -> ErrorKind {
        match status {
            1 => ErrorKind::InvalidArgument,
            2 => ErrorKind::SizeMismatch,
            3 => ErrorKind::NonFinite,
            4 => ErrorKind::UnknownFormat,
            5 => ErrorKind::Unsupported,
            6 => ErrorKind::Io,
            7 => ErrorKind::MalformedFile,
            9 => ErrorKind::OutOfMemory,
            _ => ErrorKind::Internal,
        }
    }

    /// "invalid_argument", "size_mismatch", ... as the C and C++ APIs name them.
    pub fn name(self) -> &'static str {
        match self {
            ErrorKind::InvalidArgument => "invalid_argument",
            ErrorKind::SizeMismatch => "size_mismatch",
            ErrorKind::NonFinite => "non_finite",
            ErrorKind::UnknownFormat => "unknown_format",
            ErrorKind::Unsupported => "unsupported",
            ErrorKind::Io => "io",
            ErrorKind::MalformedFile => "malformed_file",
            ErrorKind::Internal => "internal",
            ErrorKind::OutOfMemory => "out_of_memory",
        }
    }
}

/// A failure reported by qlinear: its kind and a message naming what was wrong.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Error {
    kind: ErrorKind,
    message: String,
}

impl Error {
    pub(crate) fn new(kind: ErrorKind, message: impl Into<String>) -> Error {
        Error { kind, message: message.into() }
    }

    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.message, self.kind.name())
    }
}

impl std::error::Error for Error {}

pub type Result<T> = std::result::Result<T, Error>;

/// The status of a C call as a Result, with this thread's message for a failure (read at once, on
/// the thread that made the call, which is where the library keeps it).
pub(crate) fn check(status: c_int) -> Result<()> {
    if status == 0 {
        return Ok(());
    }
    let message = unsafe { CStr::from_ptr(ffi::qlinear_last_error()) }.to_string_lossy().into_owned();
    Err(Error::new(ErrorKind::from_status(status), message))
}

/// For calls on a live handle with valid output pointers, which the library documents cannot fail.
pub(crate) fn infallible(status: c_int) {
    if let Err(e) = check(status) {
        panic!("qlinear: an accessor failed: {}", e);
    }
}

/// The library's version ("0.1.0").
pub fn version() -> &'static str {
    unsafe { CStr::from_ptr(ffi::qlinear_version()) }.to_str().unwrap_or("")
}

/// Threads that forward and quantize may use, the caller's included; 0 restores the default
/// (`QLINEAR_NUM_THREADS`, else the hardware threads). Results are the same for any count.
pub fn set_num_threads(count: usize) -> Result<()> {
    check(unsafe { ffi::qlinear_set_num_threads(count) })
}

/// The thread count in use.
pub fn num_threads() -> Result<usize> {
    let mut count = 0;
    check(unsafe { ffi::qlinear_get_num_threads(&mut count) })?;
    Ok(count)
}
