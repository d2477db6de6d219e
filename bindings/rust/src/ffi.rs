//! The C API of <qlinear/qlinear.h>, declared for Rust. Enums cross as their C numbers (C enums are
//! `int`-sized on every platform qlinear builds for).
#![allow(non_camel_case_types)]
// The whole C API is declared, the few calls the wrappers do not need included.
#![allow(dead_code)]

use std::os::raw::{c_char, c_int, c_void};

pub type qlinear_status = c_int;
pub type qlinear_format = c_int;

#[repr(C)]
pub struct qlinear_tensor {
    _private: [u8; 0],
}
#[repr(C)]
pub struct qlinear_layer {
    _private: [u8; 0],
}
#[repr(C)]
pub struct qlinear_calibration {
    _private: [u8; 0],
}

#[repr(C)]
#[derive(Clone, Copy)]
pub struct qlinear_format_info {
    pub name: *const c_char,
    pub description: *const c_char,
    pub ggml_type: c_int,
    pub block_size: usize,
    pub block_bytes: usize,
    pub bits_per_weight: f64,
    pub row_alignment: usize,
    pub affine: c_int,
}

#[repr(C)]
#[derive(Clone, Copy)]
pub struct qlinear_affine_options {
    pub symmetric: c_int,
    pub granularity: c_int,
    pub group_size: usize,
    pub clip: c_int,
    pub percentile: f64,
}

#[repr(C)]
pub struct qlinear_quantize_options {
    pub affine: qlinear_affine_options,
    pub importance: *const f32,
    pub importance_count: usize,
    pub method: c_int,
    pub calibration: *const qlinear_calibration,
    pub damping: f64,
}

#[repr(C)]
#[derive(Clone, Copy, Default)]
pub struct qlinear_stats {
    pub rmse: f64,
    pub max_abs: f64,
    pub sqnr_db: f64,
    pub cosine: f64,
    pub rel_rmse: f64,
    pub compression: f64,
    pub bytes: usize,
}

#[repr(C)]
pub struct qlinear_model_options {
    pub pure_: c_int,
    pub keep_1d: c_int,
    pub rules: *const *const c_char,
    pub rule_count: usize,
    pub fallback: *const c_char,
    pub imatrix: *const c_char,
    pub calibration: *const c_char,
    pub method: c_int,
    pub damping: f64,
    pub affine: qlinear_affine_options,
}

#[repr(C)]
#[derive(Clone, Copy, Default)]
pub struct qlinear_model_summary {
    pub tensors: usize,
    pub quantized: usize,
    pub bytes_in: u64,
    pub bytes_out: u64,
    pub weights: u64,
    pub seconds: f64,
}

extern "C" {
    pub fn qlinear_version() -> *const c_char;
    pub fn qlinear_status_name(status: qlinear_status) -> *const c_char;
    pub fn qlinear_last_error() -> *const c_char;

    pub fn qlinear_format_name(format: qlinear_format, name: *mut *const c_char) -> qlinear_status;
    pub fn qlinear_format_parse(name: *const c_char, format: *mut qlinear_format) -> qlinear_status;
    pub fn qlinear_format_bits_per_weight(format: qlinear_format, bits: *mut f64) -> qlinear_status;
    pub fn qlinear_format_get_info(format: qlinear_format, info: *mut qlinear_format_info) -> qlinear_status;

    pub fn qlinear_quantize_options_init(options: *mut qlinear_quantize_options) -> qlinear_status;
    pub fn qlinear_quantize(
        w: *const f32,
        w_count: usize,
        rows: usize,
        cols: usize,
        format: qlinear_format,
        options: *const qlinear_quantize_options,
        out: *mut *mut qlinear_tensor,
    ) -> qlinear_status;
    pub fn qlinear_tensor_from_bytes(
        format: qlinear_format,
        rows: usize,
        cols: usize,
        data: *const c_void,
        size: usize,
        out: *mut *mut qlinear_tensor,
    ) -> qlinear_status;
    pub fn qlinear_dequantize(tensor: *const qlinear_tensor, out: *mut f32, out_count: usize) -> qlinear_status;
    pub fn qlinear_measure(
        original: *const f32,
        original_count: usize,
        tensor: *const qlinear_tensor,
        stats: *mut qlinear_stats,
    ) -> qlinear_status;
    pub fn qlinear_tensor_format(tensor: *const qlinear_tensor, format: *mut qlinear_format) -> qlinear_status;
    pub fn qlinear_tensor_rows(tensor: *const qlinear_tensor, rows: *mut usize) -> qlinear_status;
    pub fn qlinear_tensor_cols(tensor: *const qlinear_tensor, cols: *mut usize) -> qlinear_status;
    pub fn qlinear_tensor_row_bytes(tensor: *const qlinear_tensor, row_bytes: *mut usize) -> qlinear_status;
    pub fn qlinear_tensor_nbytes(tensor: *const qlinear_tensor, nbytes: *mut usize) -> qlinear_status;
    pub fn qlinear_tensor_bits_per_weight(tensor: *const qlinear_tensor, bits: *mut f64) -> qlinear_status;
    pub fn qlinear_tensor_data(
        tensor: *const qlinear_tensor,
        data: *mut *const c_void,
        size: *mut usize,
    ) -> qlinear_status;
    pub fn qlinear_tensor_free(tensor: *mut qlinear_tensor);

    pub fn qlinear_layer_create(
        w: *const f32,
        w_count: usize,
        bias: *const f32,
        bias_count: usize,
        out_features: usize,
        in_features: usize,
        format: qlinear_format,
        options: *const qlinear_quantize_options,
        out: *mut *mut qlinear_layer,
    ) -> qlinear_status;
    pub fn qlinear_layer_from_tensor(
        weight: *const qlinear_tensor,
        bias: *const f32,
        bias_count: usize,
        out: *mut *mut qlinear_layer,
    ) -> qlinear_status;
    pub fn qlinear_layer_forward(
        layer: *const qlinear_layer,
        x: *const f32,
        x_count: usize,
        batch: usize,
        y: *mut f32,
        y_count: usize,
    ) -> qlinear_status;
    pub fn qlinear_layer_in_features(layer: *const qlinear_layer, in_features: *mut usize) -> qlinear_status;
    pub fn qlinear_layer_out_features(layer: *const qlinear_layer, out_features: *mut usize) -> qlinear_status;
    pub fn qlinear_layer_format(layer: *const qlinear_layer, format: *mut qlinear_format) -> qlinear_status;
    pub fn qlinear_layer_compression_ratio(layer: *const qlinear_layer, ratio: *mut f64) -> qlinear_status;
    pub fn qlinear_layer_dequantize_weights(
        layer: *const qlinear_layer,
        out: *mut f32,
        out_count: usize,
    ) -> qlinear_status;
    pub fn qlinear_layer_weight(layer: *const qlinear_layer, out: *mut *mut qlinear_tensor) -> qlinear_status;
    pub fn qlinear_layer_free(layer: *mut qlinear_layer);

    pub fn qlinear_calibration_new(in_features: usize, out: *mut *mut qlinear_calibration) -> qlinear_status;
    pub fn qlinear_calibration_add(
        calibration: *mut qlinear_calibration,
        x: *const f32,
        x_count: usize,
        rows: usize,
    ) -> qlinear_status;
    pub fn qlinear_calibration_merge(
        calibration: *mut qlinear_calibration,
        other: *const qlinear_calibration,
    ) -> qlinear_status;
    pub fn qlinear_calibration_in_features(
        calibration: *const qlinear_calibration,
        in_features: *mut usize,
    ) -> qlinear_status;
    pub fn qlinear_calibration_rows(calibration: *const qlinear_calibration, rows: *mut u64) -> qlinear_status;
    pub fn qlinear_calibration_importance(
        calibration: *const qlinear_calibration,
        out: *mut f32,
        out_count: usize,
    ) -> qlinear_status;
    pub fn qlinear_calibration_free(calibration: *mut qlinear_calibration);

    pub fn qlinear_model_options_init(options: *mut qlinear_model_options) -> qlinear_status;
    pub fn qlinear_quantize_model(
        input: *const c_char,
        output: *const c_char,
        type_: *const c_char,
        options: *const qlinear_model_options,
        summary: *mut qlinear_model_summary,
    ) -> qlinear_status;

    pub fn qlinear_set_num_threads(count: usize) -> qlinear_status;
    pub fn qlinear_get_num_threads(count: *mut usize) -> qlinear_status;
}
