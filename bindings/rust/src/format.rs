//! Formats, methods and the affine formats' options.

use crate::{check, ffi, infallible, Error, ErrorKind, Result};
use std::ffi::{CStr, CString};
use std::fmt;
use std::str::FromStr;

/// A weight format. The discriminants are the C API's `qlinear_format` numbers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(i32)]
pub enum Format {
    F32 = 0,
    F16 = 1,
    Bf16 = 2,
    Q8_0 = 3,
    Q8_1 = 4,
    Q4_0 = 5,
    Q4_1 = 6,
    Q5_0 = 7,
    Q5_1 = 8,
    Q2K = 9,
    Q3K = 10,
    Q4K = 11,
    Q5K = 12,
    Q6K = 13,
    Iq4Nl = 14,
    Iq4Xs = 15,
    /// Affine int8 ([`AffineOptions`]).
    I8 = 16,
    /// Affine int4.
    I4 = 17,
}

/// Facts about a format, from the library's registry.
#[derive(Clone, Debug, PartialEq)]
pub struct FormatInfo {
    pub name: &'static str,
    pub description: &'static str,
    /// ggml's type number; None for the affine formats.
    pub ggml_type: Option<u32>,
    pub block_size: usize,
    pub block_bytes: usize,
    pub bits_per_weight: f64,
    pub row_alignment: usize,
    pub affine: bool,
}

impl Format {
    /// Every format, in the order of their numbers.
    pub const ALL: [Format; 18] = [
        Format::F32,
        Format::F16,
        Format::Bf16,
        Format::Q8_0,
        Format::Q8_1,
        Format::Q4_0,
        Format::Q4_1,
        Format::Q5_0,
        Format::Q5_1,
        Format::Q2K,
        Format::Q3K,
        Format::Q4K,
        Format::Q5K,
        Format::Q6K,
        Format::Iq4Nl,
        Format::Iq4Xs,
        Format::I8,
        Format::I4,
    ];

    pub(crate) fn from_raw(raw: i32) -> Format {
        match Format::ALL.get(raw as usize) {
            Some(&f) if raw >= 0 => f,
            _ => panic!("qlinear: the library returned format number {}, unknown to this crate", raw),
        }
    }

    /// "q4_0", "q4_K", ...: the library's spelling, which `parse` reads back.
    pub fn name(self) -> &'static str {
        self.info().name
    }

    /// Bits per weight of the stored blocks (the affine formats add their scales).
    pub fn bits_per_weight(self) -> f64 {
        let mut bits = 0.0;
        infallible(unsafe { ffi::qlinear_format_bits_per_weight(self as i32, &mut bits) });
        bits
    }

    pub fn info(self) -> FormatInfo {
        let mut raw = std::mem::MaybeUninit::<ffi::qlinear_format_info>::uninit();
        infallible(unsafe { ffi::qlinear_format_get_info(self as i32, raw.as_mut_ptr()) });
        let raw = unsafe { raw.assume_init() };
        // The registry's strings are static in the library, which stays loaded.
        let text = |p| unsafe { CStr::from_ptr(p) }.to_str().unwrap_or("");
        FormatInfo {
            name: text(raw.name),
            description: text(raw.description),
            ggml_type: u32::try_from(raw.ggml_type).ok(),
            block_size: raw.block_size,
            block_bytes: raw.block_bytes,
            bits_per_weight: raw.bits_per_weight,
            row_alignment: raw.row_alignment,
            affine: raw.affine != 0,
        }
    }
}

impl FromStr for Format {
    type Err = Error;

    /// A format name as the library spells it ("q4_0", "q4_K", "iq4_xs", "i8", ...). An unknown
    /// name is [`ErrorKind::UnknownFormat`], with a message listing the valid ones.
    fn from_str(name: &str) -> Result<Format> {
        let c = CString::new(name)
            .map_err(|_| Error::new(ErrorKind::UnknownFormat, format!("format name {:?} holds a NUL byte", name)))?;
        let mut raw = 0;
        check(unsafe { ffi::qlinear_format_parse(c.as_ptr(), &mut raw) })?;
        Ok(Format::from_raw(raw))
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// How codes are chosen (the library's docs/methods.md).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Method {
    /// ggml's rule, byte-identical to ggml.
    #[default]
    Reference = 0,
    /// Per block, the scales with the least (importance-weighted) error.
    Search = 1,
    /// Error compensation through the inputs' XᵀX; needs a [`Calibration`](crate::Calibration).
    Gptq = 2,
}

/// How many weights share an affine scale.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Granularity {
    Tensor,
    /// One scale per output row.
    Channel,
    /// One scale per `group_size` inputs (a multiple of 8).
    Group(usize),
}

/// Where an affine scale clips.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Clip {
    MinMax,
    /// At this percentile of |w|, in (50, 100].
    Percentile(f64),
    /// The range with the least squared error.
    Mse,
}

/// Options of the affine formats (i8, i4); the block formats ignore them.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct AffineOptions {
    /// true: w ≈ s·q; false: w ≈ s·(q − z).
    pub symmetric: bool,
    pub granularity: Granularity,
    pub clip: Clip,
}

impl Default for AffineOptions {
    fn default() -> AffineOptions {
        AffineOptions { symmetric: true, granularity: Granularity::Channel, clip: Clip::MinMax }
    }
}

impl AffineOptions {
    pub(crate) fn to_ffi(self) -> ffi::qlinear_affine_options {
        let (granularity, group_size) = match self.granularity {
            Granularity::Tensor => (0, 0),
            Granularity::Channel => (1, 0),
            Granularity::Group(size) => (2, size),
        };
        let (clip, percentile) = match self.clip {
            Clip::MinMax => (0, 99.99),
            Clip::Percentile(p) => (1, p),
            Clip::Mse => (2, 99.99),
        };
        ffi::qlinear_affine_options { symmetric: self.symmetric as i32, granularity, group_size, clip, percentile }
    }
}
