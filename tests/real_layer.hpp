#pragma once
// One layer of the bundled real model (../shared/data): its weights and the statistics of its
// calibration and held-out inputs, as the real-data method tests use them.

#include <qlinear/calibration.hpp>
#include <qlinear/safetensors.hpp>

#include <cstddef>
#include <vector>

namespace qlinear::test {

struct RealLayer {
  std::size_t out, in;
  std::vector<float> w;
  Calibration calib, held_out;
};

inline RealLayer read_real_layer(const SafetensorsFile& weights, const SafetensorsFile& calib,
                                 const SafetensorsFile& eval, const SafetensorsTensorInfo& info) {
  const std::size_t out = info.shape[0], in = info.shape[1];
  RealLayer layer{out, in, weights.read_f32(info.name), Calibration(in), Calibration(in)};
  const std::vector<float> xc = calib.read_f32(info.name), xe = eval.read_f32(info.name);
  layer.calib.add(xc, xc.size() / in);
  layer.held_out.add(xe, xe.size() / in);
  return layer;
}

}  // namespace qlinear::test
