// qlinear_capi_bench: the C API's boundary, measured. qlinear_layer_forward called from C
// (capi_forward.c) against QuantizedLinear::forward called from C++, both through libqlinear.so, on
// layers made from the same weights: a 64×64 q4_0 layer (where a per-call cost shows) and a
// 4096×4096 one (where it must vanish). Each time is the median of --repeats loops of ~--min-time
// seconds, the two sides alternating; the overhead and ratio are medians over adjacent pairs, which
// met the same load on a shared machine. Results are in bench/README.md ("Python (issue 10)").

#include "capi_forward.h"

#include <qlinear/error.hpp>
#include <qlinear/linear.hpp>
#include <qlinear/runtime.hpp>

#include <CLI/CLI.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <functional>
#include <random>
#include <string>
#include <vector>

namespace {

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const std::size_t n = v.size();
  return n % 2 == 1 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

// `time(calls)` returns the seconds of `calls` calls. How many calls take about min_time seconds.
std::size_t calls_for(const std::function<double(std::size_t)>& time, double min_time) {
  std::size_t n = 1;
  while (time(n) < min_time / 4) n *= 2;
  return n * 4;
}

double seconds_per_call(const std::function<double(std::size_t)>& time, double min_time) {
  const std::size_t n = calls_for(time, min_time);
  return time(n) / static_cast<double>(n);
}

struct Shape {
  std::size_t out, in;
};

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"qlinear_capi_bench: qlinear_layer_forward from C against QuantizedLinear::forward from C++"};
  int repeats = 11;
  double min_time = 0.1;
  std::vector<std::size_t> threads{1};
  std::vector<std::string> isas;
  app.add_option("--repeats", repeats, "loops per side")->check(CLI::PositiveNumber);
  app.add_option("--min-time", min_time, "seconds per loop")->check(CLI::PositiveNumber);
  app.add_option("--threads", threads, "thread counts");
  app.add_option("--isa", isas, "kernel levels (default: the best this CPU has, then avx2 where lower)");
  CLI11_PARSE(app, argc, argv);
  try {
    if (isas.empty()) {
      isas.emplace_back(qlinear::isa_name(qlinear::active_isa()));
      // avx2 where it is a lower level than the active one (the enum's values do not order them).
      const qlinear::Isa active = qlinear::active_isa();
      if (active != qlinear::Isa::avx2 && active != qlinear::Isa::scalar && qlinear::isa_supported(qlinear::Isa::avx2)) {
        isas.emplace_back("avx2");
      }
    }
    std::printf("%10s %6s %3s %6s %10s %10s %9s %6s\n", "shape", "format", "thr", "isa", "C API", "C++",
                "overhead", "ratio");
    std::mt19937 rng(0);
    std::normal_distribution<float> normal;
    for (const Shape shape : {Shape{64, 64}, Shape{4096, 4096}}) {
      std::vector<float> w(shape.out * shape.in), x(shape.in), y(shape.out);
      for (float& v : w) v = normal(rng);
      for (float& v : x) v = normal(rng);
      const auto cpp_layer = qlinear::QuantizedLinear::from_weights(w, {}, shape.out, shape.in, qlinear::Format::q4_0);
      qlinear_layer* c_layer = nullptr;
      if (qlinear_layer_create(w.data(), w.size(), nullptr, 0, shape.out, shape.in, QLINEAR_Q4_0, nullptr,
                               &c_layer) != QLINEAR_OK) {
        std::fprintf(stderr, "qlinear_capi_bench: %s\n", qlinear_last_error());
        return 1;
      }
      const auto c_time = [&](std::size_t calls) {
        const double s = capi_time_forward(c_layer, x.data(), x.size(), 1, y.data(), y.size(), calls);
        if (s < 0) throw qlinear::Error(qlinear::ErrorCode::invalid_argument, qlinear_last_error());
        return s;
      };
      const auto cpp_time = [&](std::size_t calls) {
        const auto start = std::chrono::steady_clock::now();
        for (std::size_t i = 0; i < calls; ++i) cpp_layer.forward(x, 1, y);
        return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      };
      for (const std::size_t t : threads) {
        qlinear::set_num_threads(t);
        for (const std::string& isa : isas) {
          qlinear::set_isa(qlinear::parse_isa(isa));
          std::vector<double> c, cpp, diff, ratio;
          for (int r = 0; r < repeats; ++r) {
            c.push_back(seconds_per_call(c_time, min_time));
            cpp.push_back(seconds_per_call(cpp_time, min_time));
            diff.push_back(c.back() - cpp.back());
            ratio.push_back(c.back() / cpp.back());
          }
          const std::string name = std::to_string(shape.out) + "x" + std::to_string(shape.in);
          std::printf("%10s %6s %3zu %6s %10.3f %10.3f %9.3f %6.3f\n", name.c_str(), "q4_0", t, isa.c_str(),
                      median(c) * 1e6, median(cpp) * 1e6, median(diff) * 1e6, median(ratio));
        }
      }
      qlinear_layer_free(c_layer);
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "qlinear_capi_bench: error: %s\n", e.what());
    return 1;
  }
  return 0;
}
