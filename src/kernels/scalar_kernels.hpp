#pragma once
// The scalar level: portable C++ on the standard layout. It runs on any CPU, serves the shapes the
// packed kernels do not, and is what the faster levels are tested against.

#include "kernels/kernel_table.hpp"

#include <cstdint>

namespace qlinear::kernels::scalar {

void quantize_activation_row(const float* x, std::size_t cols, std::size_t blocks,
                             const ActivationRowOut& out);

// Integer formats (the ggml block formats and affine i8/i4) against quantized activations.
void gemm_quantized(const GemmArgs& args, std::size_t row_begin, std::size_t row_end,
                    std::size_t tile_begin, std::size_t tile_end);
// f32, f16 and bf16 against float activations.
void gemm_float(const GemmArgs& args, std::size_t row_begin, std::size_t row_end,
                std::size_t tile_begin, std::size_t tile_end);

// Calls in which a layer with a packed copy was not served by its level's own kernel: the scalar
// kernels count them, and so do the levels that fall back to a lower level's kernel (avx512 and
// avxvnni to avx2's, i8mm's GEMM to dotprod's). Every packed layout has a kernel at every level, so
// this stays 0 outside the scalar level; the tests check it. Counting costs nothing on the kernels'
// own path.
void note_packed_fallback(const GemmArgs& args) noexcept;
std::uint64_t packed_fallbacks() noexcept;

}  // namespace qlinear::kernels::scalar
