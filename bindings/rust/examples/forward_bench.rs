//! The Rust boundary, measured (bench/README.md, "Python (issue 10)"): `QuantizedLinear::forward_into`
//! and `forward` (which allocates its output) against `qlinear_layer_forward` called directly
//! through FFI, on a 64×64 and a 4096×4096 q4_0 layer made from the same weights, batch 1, one
//! thread. The C call against the C++ one is bench/capi_bench.cpp's figure; this one adds what the
//! safe wrapper costs. Each time is the median of 11 loops of ~0.1 s, the sides alternating; the
//! overheads are medians over adjacent runs.
//!
//! Run: PKG_CONFIG_PATH=build/pkgconfig-uninstalled /usr/bin/cargo run --offline --release \
//!      --manifest-path bindings/rust/Cargo.toml --example forward_bench

use qlinear::{Format, QuantizedLinear};
use std::time::Instant;

#[allow(non_camel_case_types)]
#[repr(C)]
struct qlinear_layer {
    _private: [u8; 0],
}

// The C API's own declarations (include/qlinear/qlinear.h), for the direct calls; the crate links
// the library.
extern "C" {
    fn qlinear_layer_create(
        w: *const f32,
        w_count: usize,
        bias: *const f32,
        bias_count: usize,
        out_features: usize,
        in_features: usize,
        format: i32,
        options: *const std::ffi::c_void,
        out: *mut *mut qlinear_layer,
    ) -> i32;
    fn qlinear_layer_forward(
        layer: *const qlinear_layer,
        x: *const f32,
        x_count: usize,
        batch: usize,
        y: *mut f32,
        y_count: usize,
    ) -> i32;
    fn qlinear_layer_free(layer: *mut qlinear_layer);
}

const QLINEAR_Q4_0: i32 = 5;

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

/// Seconds per call of `f`, in a loop of about `min_time` seconds.
fn seconds_per_call(f: &mut dyn FnMut(), min_time: f64) -> f64 {
    let mut n = 1usize;
    loop {
        let start = Instant::now();
        for _ in 0..n {
            f();
        }
        let s = start.elapsed().as_secs_f64();
        if s >= min_time / 4.0 {
            break;
        }
        n *= 2;
    }
    n *= 4;
    let start = Instant::now();
    for _ in 0..n {
        f();
    }
    start.elapsed().as_secs_f64() / n as f64
}

// A small generator, so the example needs no crate: xorshift64* mapped to [-1, 1).
fn weights(count: usize, seed: u64) -> Vec<f32> {
    let mut s = seed;
    (0..count)
        .map(|_| {
            s ^= s >> 12;
            s ^= s << 25;
            s ^= s >> 27;
            let r = s.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 40;
            r as f32 / (1u64 << 23) as f32 - 1.0
        })
        .collect()
}

fn main() -> Result<(), qlinear::Error> {
    let (repeats, min_time) = (11, 0.1);
    qlinear::set_num_threads(1)?;
    println!(
        "{:>10} {:>6} {:>12} {:>12} {:>12} {:>10} {:>10} {:>7} {:>7}",
        "shape", "format", "C (FFI) µs", "forward_into", "forward", "into - C", "fwd - C", "into/C", "fwd/C"
    );
    for &(out_f, in_f) in &[(64usize, 64usize), (4096, 4096)] {
        let w = weights(out_f * in_f, 1);
        let x = weights(in_f, 2);
        let mut y = vec![0.0f32; out_f];
        let layer = QuantizedLinear::new(&w, None, out_f, in_f, Format::Q4_0)?;
        let mut raw: *mut qlinear_layer = std::ptr::null_mut();
        let status = unsafe {
            qlinear_layer_create(
                w.as_ptr(),
                w.len(),
                std::ptr::null(),
                0,
                out_f,
                in_f,
                QLINEAR_Q4_0,
                std::ptr::null(),
                &mut raw,
            )
        };
        assert_eq!(status, 0, "qlinear_layer_create failed");
        let (mut c, mut into, mut alloc) = (Vec::new(), Vec::new(), Vec::new());
        for _ in 0..repeats {
            c.push(seconds_per_call(
                &mut || {
                    let s = unsafe { qlinear_layer_forward(raw, x.as_ptr(), x.len(), 1, y.as_mut_ptr(), y.len()) };
                    assert_eq!(s, 0);
                },
                min_time,
            ));
            into.push(seconds_per_call(&mut || layer.forward_into(&x, 1, &mut y).unwrap(), min_time));
            // The Vec is handed to the C call, so the allocation cannot be optimized away.
            alloc.push(seconds_per_call(&mut || drop(layer.forward(&x, 1).unwrap()), min_time));
        }
        let diff = |a: &[f64]| median(a.iter().zip(&c).map(|(a, c)| a - c).collect());
        let ratio = |a: &[f64]| median(a.iter().zip(&c).map(|(a, c)| a / c).collect());
        println!(
            "{:>10} {:>6} {:>12.3} {:>12.3} {:>12.3} {:>10.3} {:>10.3} {:>7.3} {:>7.3}",
            format!("{}x{}", out_f, in_f),
            "q4_0",
            median(c.clone()) * 1e6,
            median(into.clone()) * 1e6,
            median(alloc.clone()) * 1e6,
            diff(&into) * 1e6,
            diff(&alloc) * 1e6,
            ratio(&into),
            ratio(&alloc)
        );
        unsafe { qlinear_layer_free(raw) };
    }
    Ok(())
}
