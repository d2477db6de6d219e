//! Statistics of a layer's inputs (XᵀX and Σx², in double) for gptq and search.

use crate::{check, ffi, infallible, Result};
use std::ptr::{self, NonNull};

/// The inputs a layer met, accumulated: what `Method::Gptq` needs and `Method::Search` weighs by.
#[derive(Debug)]
pub struct Calibration {
    raw: NonNull<ffi::qlinear_calibration>,
}

// Changed only through &mut self; the library's read-only calls may share it between threads.
unsafe impl Send for Calibration {}
unsafe impl Sync for Calibration {}

impl Drop for Calibration {
    fn drop(&mut self) {
        unsafe { ffi::qlinear_calibration_free(self.raw.as_ptr()) }
    }
}

impl Calibration {
    /// Empty statistics of `in_features` inputs (InvalidArgument for 0).
    pub fn new(in_features: usize) -> Result<Calibration> {
        let mut out = ptr::null_mut();
        check(unsafe { ffi::qlinear_calibration_new(in_features, &mut out) })?;
        Ok(Calibration { raw: NonNull::new(out).expect("qlinear: a successful call returned no calibration") })
    }

    pub(crate) fn as_ptr(&self) -> *const ffi::qlinear_calibration {
        self.raw.as_ptr()
    }

    /// Adds `rows` input rows, row-major [rows, in_features]. On an error nothing is added.
    pub fn add(&mut self, x: &[f32], rows: usize) -> Result<()> {
        check(unsafe { ffi::qlinear_calibration_add(self.raw.as_ptr(), x.as_ptr(), x.len(), rows) })
    }

    /// Adds another calibration's statistics (the same in_features).
    pub fn merge(&mut self, other: &Calibration) -> Result<()> {
        check(unsafe { ffi::qlinear_calibration_merge(self.raw.as_ptr(), other.as_ptr()) })
    }

    pub fn in_features(&self) -> usize {
        let mut n = 0;
        infallible(unsafe { ffi::qlinear_calibration_in_features(self.as_ptr(), &mut n) });
        n
    }

    /// Input rows added so far.
    pub fn rows(&self) -> u64 {
        let mut n = 0;
        infallible(unsafe { ffi::qlinear_calibration_rows(self.as_ptr(), &mut n) });
        n
    }

    /// Mean x² per input column: llama.cpp's importance.
    pub fn importance(&self) -> Vec<f32> {
        let mut out = vec![0.0f32; self.in_features()];
        infallible(unsafe { ffi::qlinear_calibration_importance(self.as_ptr(), out.as_mut_ptr(), out.len()) });
        out
    }
}
