#include "kernels/forward.hpp"

#include "core/thread_pool.hpp"
#include "kernels/kernel_table.hpp"

#include <algorithm>
#include <cstring>
#include <memory>
#include <new>

namespace qlinear::kernels {
namespace {

bool is_float_format(Format f) { return f == Format::f32 || f == Format::f16 || f == Format::bf16; }

// Per calling thread: the quantized or tiled activations of the current call. forward() may run on
// several caller threads at once, each with its own buffer; the buffer only grows.
class Scratch {
 public:
  std::byte* get(std::size_t bytes) {
    if (bytes > capacity_) {
      buffer_.reset(static_cast<std::byte*>(::operator new(bytes, std::align_val_t{64})));
      capacity_ = bytes;
    }
    return buffer_.get();
  }

 private:
  struct Free {
    void operator()(std::byte* p) const { ::operator delete(p, std::align_val_t{64}); }
  };
  std::unique_ptr<std::byte, Free> buffer_;
  std::size_t capacity_ = 0;
};

thread_local Scratch t_scratch;

// Rows below this many inputs in total are quantized on the calling thread: waking the pool costs
// more than quantizing them.
constexpr std::size_t kParallelQuantizeInputs = 1 << 16;

ActivationTiles quantize_activations(const KernelTable& k, const float* x, std::size_t batch,
                                     std::size_t cols, std::size_t padded_cols) {
  ActivationTiles t;
  t.rows = batch;
  t.tile_rows = batch == 1 ? 1 : k.int_tile_rows;
  t.tiles = (batch + t.tile_rows - 1) / t.tile_rows;
  t.blocks = padded_cols / kActBlock;
  t.record_bytes = act_record_bytes(t.tile_rows);
  const std::size_t tile_bytes = t.blocks * t.record_bytes;
  t.data = t_scratch.get(t.tiles * tile_bytes);
  if (batch % t.tile_rows != 0) std::memset(t.data + (t.tiles - 1) * tile_bytes, 0, tile_bytes);
  auto row = [&](std::size_t b) {
    std::byte* first = t.data + (b / t.tile_rows) * tile_bytes;
    const std::size_t slot = b % t.tile_rows;
    const ActivationRowOut out{
        reinterpret_cast<std::int8_t*>(first + slot * kActBlock),
        reinterpret_cast<float*>(first + act_scale_offset(t.tile_rows) + slot * 4),
        reinterpret_cast<std::int32_t*>(first + act_sum_offset(t.tile_rows) + slot * 4),
        reinterpret_cast<float*>(first + act_scaled_sum_offset(t.tile_rows) + slot * 4),
        reinterpret_cast<std::int16_t*>(first + act_half_sums_offset(t.tile_rows) + slot * 4),
        t.record_bytes};
    k.quantize_activation_row(x + b * cols, cols, t.blocks, out);
  };
  if (batch * cols < kParallelQuantizeInputs) {
    for (std::size_t b = 0; b < batch; ++b) row(b);
  } else {
    core::parallel_for(batch, row);
  }
  return t;
}

// Float activations regrouped input-major in tiles of tile_rows rows (zero rows at the end).
FloatTiles tile_floats(const KernelTable& k, const float* x, std::size_t batch, std::size_t cols) {
  FloatTiles t;
  t.tile_rows = batch == 1 ? 1 : k.float_tile_rows;
  t.tiles = (batch + t.tile_rows - 1) / t.tile_rows;
  if (t.tile_rows == 1) {
    t.data = x;
    return t;
  }
  auto* out = reinterpret_cast<float*>(t_scratch.get(t.tiles * cols * t.tile_rows * sizeof(float)));
  for (std::size_t tile = 0; tile < t.tiles; ++tile) {
    float* dst = out + tile * cols * t.tile_rows;
    for (std::size_t i = 0; i < t.tile_rows; ++i) {
      const std::size_t b = tile * t.tile_rows + i;
      if (b >= batch) {
        for (std::size_t c = 0; c < cols; ++c) dst[c * t.tile_rows + i] = 0.0f;
        continue;
      }
      const float* src = x + b * cols;
      for (std::size_t c = 0; c < cols; ++c) dst[c * t.tile_rows + i] = src[c];
    }
  }
  t.data = out;
  return t;
}

}  // namespace

void forward(Isa isa, const formats::WeightView& w, const PackedWeights* packed, const float* x,
             std::size_t batch, const float* bias, float* y) {
  const KernelTable& k = kernel_table(isa);
  GemmArgs a;
  a.weight = &w;
  a.packed = packed && isa != Isa::scalar ? &packed->view : nullptr;
  a.batch = batch;
  a.rows = w.rows;
  a.cols = w.cols;
  a.bias = bias;
  a.y = y;
  std::size_t tiles = 0;
  if (is_float_format(w.format)) {
    a.xf = tile_floats(k, x, batch, w.cols);
    tiles = a.xf.tiles;
  } else {
    a.act = quantize_activations(k, x, batch, w.cols, w.padded_cols);
    tiles = a.act.tiles;
  }

  // The task grid: row chunks (multiples of 16 rows, so two threads never write one 64-byte line
  // of y) × groups of activation tiles. Each output belongs to one task and is computed the same
  // way whatever the grid, so the grid may follow the thread count.
  const std::size_t threads = core::pool_threads();
  const std::size_t row_units = (w.rows + 15) / 16;
  const std::size_t tile_rows = is_float_format(w.format) ? a.xf.tile_rows : a.act.tile_rows;
  std::size_t tile_group = tiles, row_chunk = 0;  // row_chunk in units of 16 rows
  if (batch == 1) {
    // GEMV: several chunks per thread, so that a thread slowed by the machine's other work is
    // covered by the others.
    row_chunk = std::max<std::size_t>(1, row_units / (threads * 8));
  } else {
    tile_group = std::clamp<std::size_t>(64 / tile_rows, 1, tiles);  // 64 activation rows
    row_chunk = 4;
  }
  const std::size_t row_tasks = (row_units + row_chunk - 1) / row_chunk;
  const std::size_t tile_tasks = (tiles + tile_group - 1) / tile_group;
  const GemmFn gemm = k.gemm[static_cast<std::size_t>(w.format)];
  core::parallel_for(row_tasks * tile_tasks, [&](std::size_t task) {
    const std::size_t rt = task % row_tasks, tt = task / row_tasks;
    const std::size_t r0 = rt * row_chunk * 16, r1 = std::min(w.rows, r0 + row_chunk * 16);
    const std::size_t t0 = tt * tile_group, t1 = std::min(tiles, t0 + tile_group);
    gemm(a, r0, r1, t0, t1);
  });
}

}  // namespace qlinear::kernels
