// The crate against references computed here: forward against the dequantized weights multiplied
// in f64 (with a tolerance derived from the sizes), formats round trip, errors keep their kind and
// message, models are written.
use qlinear::{
    quantize, quantize_model, quantize_with, AffineOptions, Calibration, Clip, ErrorKind, Format, Granularity, Method,
    ModelOptions, QuantizeOptions, QuantizedLinear, QuantizedTensor,
};
use std::path::PathBuf;

/// Deterministic values in [-1, 1) (a linear congruential generator).
fn values(n: usize, seed: u32) -> Vec<f32> {
    let mut s = seed.wrapping_mul(2654435761).wrapping_add(1);
    (0..n)
        .map(|_| {
            s = s.wrapping_mul(1664525).wrapping_add(1013904223);
            ((s >> 8) & 0xffff) as f32 / 32768.0 - 1.0
        })
        .collect()
}

fn is_float(format: Format) -> bool {
    matches!(format, Format::F32 | Format::F16 | Format::Bf16)
}

/// y against x · Ŵᵀ + b in f64, Ŵ the layer's dequantized weights. The quantized formats round each
/// block of 32 inputs to q8 (step max|x|/127, fp16-rounded: at most 12% more), which moves an output
/// by at most Σ|ŵ_i|·step_i/2; float sums add in·eps·Σ|x_i·ŵ_i|.
fn check_forward(layer: &QuantizedLinear, x: &[f32], batch: usize, bias: Option<&[f32]>) {
    let (out, inp) = (layer.out_features(), layer.in_features());
    let w = layer.dequantize_weights();
    let y = layer.forward(x, batch).unwrap();
    assert_eq!(y.len(), batch * out);
    for b in 0..batch {
        let row = &x[b * inp..(b + 1) * inp];
        for o in 0..out {
            let mut exact = bias.map_or(0.0, |v| v[o] as f64);
            let (mut magnitude, mut input_error) = (0.0f64, 0.0f64);
            for i in 0..inp {
                let (xi, wi) = (row[i] as f64, w[o * inp + i] as f64);
                exact += xi * wi;
                magnitude += (xi * wi).abs();
                if !is_float(layer.format()) {
                    let start = i / 32 * 32;
                    let amax = row[start..(start + 32).min(inp)].iter().fold(0.0f64, |m, v| m.max(v.abs() as f64));
                    input_error += wi.abs() * amax / 127.0 / 2.0 * 1.12;
                }
            }
            let tolerance = input_error + inp as f64 * f32::EPSILON as f64 * (magnitude + 1.0);
            let got = y[b * out + o] as f64;
            assert!(
                (got - exact).abs() <= tolerance,
                "{}: y[{}, {}] = {} vs {} (tolerance {})",
                layer.format(),
                b,
                o,
                got,
                exact,
                tolerance
            );
        }
    }
}

#[test]
fn forward_matches_the_dequantized_product_for_every_format() {
    let (out, inp, batch) = (9, 100, 4);
    let w = values(out * inp, 1);
    let bias = values(out, 2);
    let x = values(batch * inp, 3);
    for format in Format::ALL {
        let layer = QuantizedLinear::new(&w, Some(&bias), out, inp, format).unwrap();
        assert_eq!((layer.out_features(), layer.in_features(), layer.format()), (out, inp, format));
        check_forward(&layer, &x, batch, Some(&bias));
        let weight = layer.weight();
        let ratio = 4.0 * (out * inp) as f64 / weight.nbytes() as f64;
        assert!((layer.compression_ratio() - ratio).abs() < 1e-9);
        // The same weights through a tensor, and through the type's name.
        let again = QuantizedLinear::from_tensor(&weight, Some(&bias)).unwrap();
        assert_eq!(again.forward(&x, batch).unwrap(), layer.forward(&x, batch).unwrap());
        let named = QuantizedLinear::from_weights(&w, Some(&bias), out, inp, format.name()).unwrap();
        assert_eq!(named.forward(&x, batch).unwrap(), layer.forward(&x, batch).unwrap());
    }
}

#[test]
fn forward_from_several_threads_gives_the_same_bits() {
    let (out, inp, batch) = (64, 256, 3);
    let layer = QuantizedLinear::new(&values(out * inp, 4), None, out, inp, Format::Q4K).unwrap();
    let x = values(batch * inp, 5);
    let expected = layer.forward(&x, batch).unwrap();
    std::thread::scope(|s| {
        let handles: Vec<_> = (0..4).map(|_| s.spawn(|| layer.forward(&x, batch).unwrap())).collect();
        for h in handles {
            assert_eq!(h.join().unwrap(), expected);
        }
    });
}

#[test]
fn tensors_quantize_dequantize_and_measure() {
    let (rows, cols) = (5, 300);
    let w = values(rows * cols, 6);
    for format in Format::ALL {
        let q = quantize(&w, rows, cols, format).unwrap();
        assert_eq!((q.format(), q.rows(), q.cols()), (format, rows, cols));
        assert_eq!(q.bytes().len(), rows * q.row_bytes());
        assert!(q.nbytes() >= q.bytes().len());
        assert!((q.bits_per_weight() - q.nbytes() as f64 * 8.0 / (rows * cols) as f64).abs() < 1e-12);
        let back = q.dequantize();
        assert_eq!(back, qlinear::dequantize(&q));
        let se: f64 = w.iter().zip(&back).map(|(a, b)| (*a as f64 - *b as f64).powi(2)).sum();
        let stats = q.measure(&w).unwrap();
        let rmse = (se / (rows * cols) as f64).sqrt();
        assert!((stats.rmse - rmse).abs() <= 1e-9 * (1.0 + rmse), "{}: {} vs {}", format, stats.rmse, rmse);
        assert_eq!(stats.bytes, q.nbytes());
        if !format.info().affine {
            let copy = QuantizedTensor::from_bytes(format, rows, cols, q.bytes()).unwrap();
            assert_eq!(copy.bytes(), q.bytes());
        }
    }
}

#[test]
fn formats_round_trip_through_their_names() {
    for format in Format::ALL {
        let parsed: Format = format.to_string().parse().unwrap();
        assert_eq!(parsed, format);
        let info = format.info();
        assert_eq!(info.name, format.name());
        assert_eq!(info.bits_per_weight, format.bits_per_weight());
        assert_eq!(info.affine, matches!(format, Format::I8 | Format::I4));
        if !info.affine {
            assert_eq!(format.bits_per_weight(), info.block_bytes as f64 * 8.0 / info.block_size as f64);
        }
    }
    assert_eq!(Format::Q4_0.info().ggml_type, Some(2));
    assert_eq!(Format::Q4K.info().block_bytes, 144);
    assert_eq!(Format::I4.info().ggml_type, None);
    assert_eq!(Format::Q4_0.bits_per_weight(), 4.5);
}

#[test]
fn errors_keep_their_kind_and_message() {
    let e = "q3_0".parse::<Format>().unwrap_err();
    assert_eq!(e.kind(), ErrorKind::UnknownFormat);
    assert!(e.message().contains("q4_0"), "{}", e); // lists the valid names
    assert!(e.to_string().contains("unknown_format"));
    let _: &dyn std::error::Error = &e;

    let w = values(64, 7);
    let e = quantize(&w[..63], 2, 32, Format::Q4_0).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::SizeMismatch);
    assert!(e.message().contains("63"), "{}", e);

    let mut bad = w.clone();
    bad[40] = f32::NAN;
    assert_eq!(quantize(&bad, 2, 32, Format::Q8_0).unwrap_err().kind(), ErrorKind::NonFinite);

    let layer = QuantizedLinear::new(&w, None, 2, 32, Format::Q8_0).unwrap();
    assert_eq!(layer.forward(&w[..31], 1).unwrap_err().kind(), ErrorKind::SizeMismatch);
    let mut small = vec![0.0; 1];
    assert_eq!(layer.forward_into(&w[..32], 1, &mut small).unwrap_err().kind(), ErrorKind::SizeMismatch);
    let e = QuantizedLinear::new(&w, Some(&w[..3]), 2, 32, Format::Q8_0).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::SizeMismatch);
    assert_eq!(QuantizedLinear::from_weights(&w, None, 2, 32, "q9").unwrap_err().kind(), ErrorKind::UnknownFormat);
    assert_eq!(
        QuantizedTensor::from_bytes(Format::Q4_0, 2, 32, &[0u8; 35]).unwrap_err().kind(),
        ErrorKind::SizeMismatch
    );
    let i8 = quantize(&w, 2, 32, Format::I8).unwrap();
    assert_eq!(
        QuantizedTensor::from_bytes(Format::I8, 2, 32, i8.bytes()).unwrap_err().kind(),
        ErrorKind::InvalidArgument
    );
    let group = AffineOptions { granularity: Granularity::Group(12), ..AffineOptions::default() };
    let e = quantize_with(&w, 2, 32, Format::I4, &QuantizeOptions { affine: group, ..Default::default() }).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidArgument);
    let gptq = QuantizeOptions { method: Method::Gptq, ..Default::default() };
    assert_eq!(quantize_with(&w, 2, 32, Format::Q4_0, &gptq).unwrap_err().kind(), ErrorKind::InvalidArgument);
    assert_eq!(Calibration::new(0).unwrap_err().kind(), ErrorKind::InvalidArgument);
    assert_eq!(qlinear::set_num_threads(100_000).unwrap_err().kind(), ErrorKind::InvalidArgument);
}

#[test]
fn options_reach_the_library() {
    let (rows, cols) = (4, 256);
    let w = values(rows * cols, 8);
    // Affine options change the stored bytes (scales per group of 32 take more than per row).
    let per_row = quantize(&w, rows, cols, Format::I4).unwrap();
    let asym = AffineOptions { symmetric: false, granularity: Granularity::Group(32), clip: Clip::Mse };
    let grouped =
        quantize_with(&w, rows, cols, Format::I4, &QuantizeOptions { affine: asym, ..Default::default() }).unwrap();
    assert!(grouped.nbytes() > per_row.nbytes());
    assert!(grouped.measure(&w).unwrap().rmse < per_row.measure(&w).unwrap().rmse);

    // gptq with calibration lowers the output error on the calibration inputs.
    let x = values(64 * cols, 9);
    let mut calibration = Calibration::new(cols).unwrap();
    calibration.add(&x[..32 * cols], 32).unwrap();
    let mut rest = Calibration::new(cols).unwrap();
    rest.add(&x[32 * cols..], 32).unwrap();
    calibration.merge(&rest).unwrap();
    assert_eq!((calibration.rows(), calibration.in_features()), (64, cols));
    let importance = calibration.importance();
    for j in 0..cols {
        let mean: f64 = (0..64).map(|r| (x[r * cols + j] as f64).powi(2)).sum::<f64>() / 64.0;
        assert!((importance[j] as f64 - mean).abs() <= 1e-6 * mean);
    }
    let output_error = |q: &QuantizedTensor| -> f64 {
        let wq = q.dequantize();
        let mut e = 0.0;
        for r in 0..64 {
            for o in 0..rows {
                let d: f64 = (0..cols)
                    .map(|j| x[r * cols + j] as f64 * (w[o * cols + j] as f64 - wq[o * cols + j] as f64))
                    .sum();
                e += d * d;
            }
        }
        e
    };
    let plain = quantize(&w, rows, cols, Format::Q4_0).unwrap();
    let options = QuantizeOptions { method: Method::Gptq, calibration: Some(&calibration), ..Default::default() };
    let gptq = quantize_with(&w, rows, cols, Format::Q4_0, &options).unwrap();
    assert!(output_error(&gptq) < output_error(&plain));
    let importance_options = QuantizeOptions { importance: Some(&importance), ..Default::default() };
    assert!(quantize_with(&w, rows, cols, Format::Q4K, &importance_options).is_ok());
    assert_eq!(
        quantize_with(
            &w,
            rows,
            cols,
            Format::Q4K,
            &QuantizeOptions { importance: Some(&importance[1..]), ..Default::default() }
        )
        .unwrap_err()
        .kind(),
        ErrorKind::SizeMismatch
    );
}

#[test]
fn models_are_quantized_to_files() {
    let input = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../data/ppocrv4_rec_linear.safetensors");
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
    let output = dir.join("rust_model_q8_0.gguf");
    let summary = quantize_model(&input, &output, "q8_0", &ModelOptions::default()).unwrap();
    assert!(summary.quantized > 0 && summary.bytes_out < summary.bytes_in);
    assert!(std::fs::metadata(&output).unwrap().len() >= summary.bytes_out);
    let options =
        ModelOptions { rules: vec!["*.w_0=q4_0".to_string()], fallback: Some(Format::F16), ..Default::default() };
    quantize_model(&input, dir.join("rust_model_mix.gguf"), "q4_k_m", &options).unwrap();

    let e = quantize_model(dir.join("missing.safetensors"), &output, "q8_0", &ModelOptions::default()).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Io);
    assert!(e.message().contains("missing.safetensors"));
    // Not a model: this test's own source.
    let source = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/api.rs");
    let e = quantize_model(&source, dir.join("bad.gguf"), "q8_0", &ModelOptions::default()).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::MalformedFile);
    assert!(e.message().contains("api.rs"), "{}", e);
    assert_eq!(
        quantize_model(&input, &output, "q3_0", &ModelOptions::default()).unwrap_err().kind(),
        ErrorKind::UnknownFormat
    );
}

#[test]
fn threads_and_version() {
    qlinear::set_num_threads(2).unwrap();
    assert_eq!(qlinear::num_threads().unwrap(), 2);
    qlinear::set_num_threads(0).unwrap();
    assert!(qlinear::num_threads().unwrap() >= 1);
    assert_eq!(qlinear::version(), env!("CARGO_PKG_VERSION"));
}
