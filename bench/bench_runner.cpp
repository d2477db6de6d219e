// The benchmark. Times are medians over repetitions (at least min_repeats, for at least min_time),
// because the machines it runs on are shared and noisy; every comparison is against a peer measured
// in the same run: OpenBLAS sgemm/sgemv and qlinear's f32 path on the same shape and thread count.

#include "bench_runner.hpp"

#include "core/text_table.hpp"
#include "formats/registry.hpp"
#include "kernels/kernel_table.hpp"
#include "openblas.hpp"

#include <qlinear/qlinear.hpp>

#include <nlohmann/json.hpp>

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <limits>
#include <map>
#include <memory>
#include <random>
#include <string_view>
#include <thread>

namespace qlinear::bench {
namespace {

using Clock = std::chrono::steady_clock;
constexpr double kNan = std::numeric_limits<double>::quiet_NaN();

struct Shape {
  std::size_t out, in;
};

// OUTxIN, both positive; refused when the weights, held as f32 and once per format (about 32
// bytes per weight in a --full run), would not fit in the machine's memory.
Shape parse_shape(const std::string& text) {
  const auto bad = [&](const std::string& why) {
    return Error(ErrorCode::invalid_argument, "shape '" + text + "' " + why);
  };
  const auto x = text.find('x');
  const auto digits = [](std::string_view part) {
    return !part.empty() && part.size() <= 9 && std::all_of(part.begin(), part.end(), [](char c) { return c >= '0' && c <= '9'; });
  };
  if (x == std::string::npos || !digits(std::string_view(text).substr(0, x)) ||
      !digits(std::string_view(text).substr(x + 1))) {
    throw bad("is not OUTxIN (two positive numbers, e.g. 4096x4096)");
  }
  const Shape shape{std::stoul(text.substr(0, x)), std::stoul(text.substr(x + 1))};
  if (shape.out == 0 || shape.in == 0) throw bad("has a zero dimension");
  constexpr double kBytesPerWeight = 32.0;
  const double needed = kBytesPerWeight * static_cast<double>(shape.out) * static_cast<double>(shape.in);
  const double memory = static_cast<double>(sysconf(_SC_PHYS_PAGES)) * static_cast<double>(sysconf(_SC_PAGE_SIZE));
  if (memory > 0 && needed > memory) {
    char sizes[96];
    std::snprintf(sizes, sizeof sizes, "about %.1f GiB of weights and layers; it has %.1f GiB", needed / (1u << 30),
                  memory / (1u << 30));
    throw bad("needs more memory than this machine has (" + std::string(sizes) + ")");
  }
  return shape;
}

// Median seconds of `fn` over repetitions.
template <typename Fn>
double median_seconds(const Options& o, Fn&& fn) {
  fn();  // warm up: caches, pool threads, lazily built state
  std::vector<double> times;
  const auto start = Clock::now();
  while (times.size() < o.min_repeats ||
         (std::chrono::duration<double>(Clock::now() - start).count() < o.min_time && times.size() < 20000)) {
    const auto t0 = Clock::now();
    fn();
    times.push_back(std::chrono::duration<double>(Clock::now() - t0).count());
  }
  std::sort(times.begin(), times.end());
  return times[times.size() / 2];
}

std::vector<float> gaussian(std::size_t n, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> dist(0.0f, 1.0f);
  std::vector<float> v(n);
  for (float& x : v) x = dist(rng);
  return v;
}

struct Record {
  std::string section, format, isa;
  std::size_t out = 0, in = 0, batch = 0, threads = 0;
  bool cold = false;
  double seconds = 0, gflops = 0, weight_gbs = 0, vs_openblas = kNan, vs_f32 = kNan;
  double of_stream = kNan;  // weights from DRAM: weight GB/s / the streaming sum's, measured around it
};

// A copy with its own storage (QuantizedTensor copies share their bytes).
QuantizedTensor deep_copy(const QuantizedTensor& q) {
  if (!format_info(q.format()).affine) return QuantizedTensor::from_blocks(q.format(), q.rows(), q.cols(), q.data());
  return QuantizedTensor::from_affine(q.format(), q.rows(), q.cols(), q.affine_options(), q.data(), q.scales(),
                                      q.zero_points());
}

// Buffers this large are read from DRAM whatever the caches: this machine's processor reports
// 512 MiB of L3 to its virtual machine.
constexpr std::size_t kDramBytes = std::size_t{2} << 30;

// Enough copies of a layer that cycling through them reads the weights from DRAM, not a cache.
std::vector<QuantizedLinear> cold_ring(const QuantizedLinear& layer) {
  const std::size_t copies = std::clamp<std::size_t>(kDramBytes / layer.weight_bytes() + 1, 2, 256);
  std::vector<QuantizedLinear> ring;
  for (std::size_t i = 0; i < copies; ++i) ring.push_back(QuantizedLinear::from_quantized(deep_copy(layer.weight()), {}));
  return ring;
}

// Read bandwidth of a plain sum over a buffer far larger than the caches, `threads` threads each
// summing its own contiguous part: the ceiling for a GEMV whose weights come from DRAM. Eight
// independent 4-float sums (GCC vector extensions, so any target) keep the loop bound by memory,
// not by the latency of one chain of additions.
double stream_sum_gbs(const Options& o, std::size_t threads) {
  using Floats4 = float __attribute__((vector_size(16)));
  static std::vector<float> buffer(kDramBytes / sizeof(float), 1.0f);
  std::vector<float> partial(threads);
  auto sum_part = [&](std::size_t t) {
    const std::size_t n = buffer.size() / threads / 32 * 32, begin = t * n;
    Floats4 acc[8] = {};
    for (std::size_t i = begin; i < begin + n; i += 32) {
      for (std::size_t j = 0; j < 8; ++j) {
        Floats4 v;
        std::memcpy(&v, buffer.data() + i + 4 * j, sizeof v);
        acc[j] += v;
      }
    }
    const Floats4 s = ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
    partial[t] = s[0] + s[1] + s[2] + s[3];
  };
  Options once = o;
  once.min_time = 0;
  const double s = median_seconds(once, [&] {
    std::vector<std::thread> pool;
    for (std::size_t t = 1; t < threads; ++t) pool.emplace_back(sum_part, t);
    sum_part(0);
    for (auto& th : pool) th.join();
  });
  return static_cast<double>(kDramBytes) / s / 1e9;
}

class Runner {
 public:
  explicit Runner(Options o) : o_(std::move(o)), blas_(OpenBlas::get()) {}

  void forward_section() {
    for (const std::string& text : o_.shapes) {
      const Shape s = parse_shape(text);
      const std::vector<float> w = gaussian(s.out * s.in, 1);
      std::map<std::string, QuantizedLinear> layers;
      for (const std::string& f : formats_with_f32()) {
        layers.emplace(f, QuantizedLinear::from_weights(w, {}, s.out, s.in, parse_format(f)));
      }
      for (std::size_t threads : o_.threads) {
        set_num_threads(threads);
        blas_.set_threads(static_cast<int>(threads));
        for (std::size_t batch : o_.batches) measure_batch(s, w, layers, threads, batch);
      }
    }
  }

  void stream_section() {
    for (std::size_t threads : o_.threads) {
      Record r;
      r.section = "stream";
      r.threads = threads;
      r.weight_gbs = stream_sum_gbs(o_, threads);
      r.seconds = static_cast<double>(kDramBytes) / r.weight_gbs / 1e9;
      records_.push_back(r);
    }
  }

  // f32 → q4_0 / q8_0 with the active level on every thread, against the scalar reference on one.
  // f32 → q4_0 / q8_0. "rows": the row quantizers alone (the active level's against the scalar
  // reference, one thread, into one preallocated buffer). "quantize()": the whole call (checks,
  // a fresh output whose pages the system must provide, every thread) against the same call on
  // the scalar level and one thread.
  void quantize_section() {
    const std::size_t out = 4096, in = 4096;
    const std::vector<float> w = gaussian(out * in, 2);
    for (const char* name : {"q4_0", "q8_0"}) {
      const Format f = parse_format(name);
      const formats::FormatTraits& t = formats::traits(f);
      const formats::QuantizeRowFn fast = kernels::active_kernels().quantize_row[static_cast<std::size_t>(f)];
      std::vector<std::byte> blocks(out * formats::padded_row_bytes(t.info, in));
      auto rows = [&](formats::QuantizeRowFn fn) {
        return median_seconds(o_, [&] {
          for (std::size_t r = 0; r < out; ++r) fn(w.data() + r * in, blocks.data() + r * (blocks.size() / out), in);
        });
      };
      const double reference_rows = rows(t.quantize_row_ref);
      add_quantize_record(std::string(name) + " rows", 1, rows(fast ? fast : t.quantize_row_ref), reference_rows);

      const Isa best = active_isa();
      set_isa(Isa::scalar);
      set_num_threads(1);
      const double scalar = median_seconds(o_, [&] { quantize(w, out, in, f); });
      set_isa(best);
      for (std::size_t threads : o_.threads) {
        set_num_threads(threads);
        add_quantize_record(std::string(name) + " quantize()", threads,
                            median_seconds(o_, [&] { quantize(w, out, in, f); }), scalar);
      }
    }
  }

  void print(std::ostream& out) const;
  void print_json(std::ostream& out) const;

 private:
  // The levels each cell is timed at: --isa's, else the active one.
  std::vector<Isa> levels(Isa active) const {
    std::vector<Isa> l;
    for (const std::string& name : o_.isas) l.push_back(parse_isa(name));
    if (l.empty()) l.push_back(active);
    return l;
  }

  std::vector<std::string> formats_with_f32() const {
    std::vector<std::string> f = o_.formats;
    if (std::find(f.begin(), f.end(), "f32") == f.end()) f.push_back("f32");
    return f;
  }

  void measure_batch(Shape s, const std::vector<float>& w, std::map<std::string, QuantizedLinear>& layers,
                     std::size_t threads, std::size_t batch) {
    const std::vector<float> x = gaussian(batch * s.in, 3 + batch);
    std::vector<float> y(batch * s.out);
    const double flops = 2.0 * static_cast<double>(batch) * s.out * s.in;
    double blas = kNan;
    if (blas_.available()) {
      blas = median_seconds(o_, [&] {
        blas_.linear(w.data(), x.data(), y.data(), static_cast<int>(batch), static_cast<int>(s.out),
                     static_cast<int>(s.in));
      });
    }
    const double f32 = median_seconds(o_, [&] { layers.at("f32").forward(x, batch, y); });
    const Isa active = active_isa();
    for (const std::string& f : formats_with_f32()) {
      if (f == "f32" && std::find(o_.formats.begin(), o_.formats.end(), "f32") == o_.formats.end()) continue;
      const QuantizedLinear& layer = layers.at(f);
      for (const Isa isa : levels(active)) {
        set_isa(isa);
        Record r;
        r.section = "forward";
        r.format = f;
        r.isa = isa_name(isa);
        r.out = s.out;
        r.in = s.in;
        r.batch = batch;
        r.threads = threads;
        r.seconds = f == "f32" && isa == active ? f32 : median_seconds(o_, [&] { layer.forward(x, batch, y); });
        finish(r, flops, layer.weight_bytes(), blas, f32);
        if (o_.cold && batch == 1) {
          const std::vector<QuantizedLinear> ring = cold_ring(layer);
          // One pass over the whole ring first: the virtual machine's host may still have to back
          // (or bring back) pages nobody touched for a while, which is not what a GEMV from DRAM costs.
          for (const QuantizedLinear& copy : ring) copy.forward(x, batch, y);
          std::size_t next = 0;
          Record c = r;
          c.cold = true;
          Options cycle = o_;
          cycle.min_repeats = std::max(o_.min_repeats, ring.size());
          // Other virtual machines share this host's memory bandwidth, so the streaming sum it is
          // compared with is measured just before and just after.
          const double before = stream_sum_gbs(o_, threads);
          c.seconds = median_seconds(cycle, [&] { ring[next++ % ring.size()].forward(x, batch, y); });
          const double after = stream_sum_gbs(o_, threads);
          c.of_stream = static_cast<double>(layer.weight_bytes()) / c.seconds / 1e9 / ((before + after) / 2);
          finish(c, flops, layer.weight_bytes(), kNan, kNan);
        }
      }
      set_isa(active);
    }
    if (threads > 1 && blas_.available()) {
      std::this_thread::sleep_for(std::chrono::milliseconds(100));  // let OpenBLAS's threads go idle
    }
  }

  void add_quantize_record(const std::string& what, std::size_t threads, double seconds, double scalar) {
    Record r;
    r.section = "quantize";
    r.format = what;
    r.out = r.in = 4096;
    r.threads = threads;
    r.seconds = seconds;
    r.weight_gbs = 4.0 * r.out * r.in / seconds / 1e9;  // input floats read
    r.vs_f32 = scalar / seconds;                         // here: × the scalar reference
    records_.push_back(r);
  }

  void finish(Record& r, double flops, std::size_t weight_bytes, double blas, double f32) {
    r.gflops = flops / r.seconds / 1e9;
    r.weight_gbs = static_cast<double>(weight_bytes) / r.seconds / 1e9;
    r.vs_openblas = blas / r.seconds;
    r.vs_f32 = f32 / r.seconds;
    records_.push_back(r);
  }

  Options o_;
  const OpenBlas& blas_;
  std::vector<Record> records_;
};

std::string ratio(double v) { return std::isnan(v) ? "n/a" : core::format_fixed(v, 2) + "×"; }

std::string cpu_name() {
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("model name", 0) == 0) return line.substr(line.find(':') + 2);
  }
  return "unknown CPU";
}

void Runner::print(std::ostream& out) const {
  out << "CPU: " << cpu_name() << ", " << std::thread::hardware_concurrency() << " hardware threads; kernels: "
      << isa_name(active_isa()) << "\nPeer: " << blas_.description() << "\n"
      << "Times are medians; GFLOP/s = 2·batch·out·in / time; weight GB/s = the format's bytes / time;\n"
      << "× OpenBLAS and × f32 = their time / this time (above 1: faster); of stream = weight GB/s with the\n"
      << "weights read from DRAM / a streaming sum's GB/s on as many threads, measured just before and after.\n\n";
  core::Table t({{"shape", core::Table::Align::left}, {"batch"}, {"threads"}, {"format", core::Table::Align::left},
                 {"median ms"}, {"GFLOP/s"}, {"weight GB/s"}, {"× OpenBLAS"}, {"× f32"}, {"of stream"}});
  for (const Record& r : records_) {
    if (r.section != "forward") continue;
    t.add_row({core::format_shape(r.out, r.in) + (r.cold ? " (DRAM)" : ""), std::to_string(r.batch),
               std::to_string(r.threads), r.format + (o_.isas.size() > 1 ? " " + r.isa : ""),
               core::format_fixed(r.seconds * 1e3, 3),
               core::format_fixed(r.gflops, 1), core::format_fixed(r.weight_gbs, 1), ratio(r.vs_openblas),
               ratio(r.vs_f32), std::isnan(r.of_stream) ? "" : core::format_fixed(100 * r.of_stream, 0) + "%"});
  }
  t.print(out);
  for (const Record& r : records_) {
    if (r.section == "stream") {
      out << "\nstreaming sum, " << r.threads << " thread" << (r.threads > 1 ? "s" : "") << ": "
          << core::format_fixed(r.weight_gbs, 1) << " GB/s";
    }
  }
  for (const Record& r : records_) {
    if (r.section == "quantize") {
      out << "\nf32 → " << r.format << " " << core::format_shape(r.out, r.in) << ", " << r.threads
          << " thread" << (r.threads > 1 ? "s" : "") << ": " << core::format_fixed(r.seconds * 1e3, 2) << " ms, "
          << core::format_fixed(r.weight_gbs, 2) << " GB/s of floats, " << ratio(r.vs_f32)
          << " the scalar reference on 1 thread";
    }
  }
  out << '\n';
}

void Runner::print_json(std::ostream& out) const {
  nlohmann::json j;
  j["cpu"] = cpu_name();
  j["hardware_threads"] = std::thread::hardware_concurrency();
  j["isa"] = std::string(isa_name(active_isa()));
  j["peer"] = blas_.description();
  j["version"] = version_string;
  auto number = [](double v) { return std::isnan(v) ? nlohmann::json(nullptr) : nlohmann::json(v); };
  for (const Record& r : records_) {
    j["results"].push_back({{"section", r.section}, {"format", r.format}, {"isa", r.isa}, {"out", r.out}, {"in", r.in},
                            {"batch", r.batch}, {"threads", r.threads}, {"weights_from_dram", r.cold},
                            {"median_seconds", r.seconds}, {"gflops", number(r.gflops)},
                            {"gbytes_per_second", number(r.weight_gbs)}, {"vs_openblas", number(r.vs_openblas)},
                            {"vs_f32_or_scalar", number(r.vs_f32)}, {"of_stream", number(r.of_stream)}});
  }
  out << j.dump(2) << '\n';
}

}  // namespace

void add_options(CLI::App& app, Options& o) {
  app.add_option("--shape", o.shapes, "Weight shape OUTxIN (repeatable; default 4096x4096)");
  app.add_option("--batch", o.batches, "Batch sizes (repeatable; default 1 and 32)")
      ->check(CLI::Range(std::size_t{1}, std::size_t{65536}));
  app.add_option("--threads", o.threads, "Thread counts (repeatable; default 1 and all)")
      ->check(CLI::Range(std::size_t{1}, std::size_t{1024}));
  app.add_option("--format", o.formats, "Formats (repeatable; default q4_0 q8_0 f32)");
  app.add_option("--isa", o.isas,
                 "Kernel levels to time each cell at, one after the other (repeatable; default the active one): scalar, avx2, avxvnni, avx512 (x86-64) or neon, dotprod, i8mm (ARM)");
  app.add_option("--min-time", o.min_time, "Seconds of repetitions per measurement (default 0.1)")
      ->check(CLI::Range(0.0, 3600.0));
  app.add_option("--min-repeats", o.min_repeats, "Repetitions at least (default 5)")
      ->check(CLI::Range(std::size_t{1}, std::size_t{1000000}));
  app.add_flag("--full", o.full,
               "The whole matrix: 4096x4096, 4096x14336, 14336x4096; batch 1 8 32 128 512; threads 1 and 2; "
               "every format; GEMV from DRAM (minutes)");
  app.add_flag("--cold", o.cold, "Also time batch 1 with the weights read from DRAM");
  app.add_flag("--json", o.json, "Print JSON instead of tables");
  app.add_option("--json-file", o.json_path, "Write JSON to this file as well");
  app.add_flag("--no-quantize", o.skip_quantize, "Skip the quantization throughput");
  app.add_flag("--no-stream", o.skip_stream, "Skip the streaming-sum bandwidth");
}

int run(Options o, std::ostream& out) {
  if (o.full) {
    if (o.shapes.empty()) o.shapes = {"4096x4096", "4096x14336", "14336x4096"};
    if (o.batches.empty()) o.batches = {1, 8, 32, 128, 512};
    if (o.threads.empty()) o.threads = {1, 2};
    if (o.formats.empty()) {
      for (const FormatInfo& f : all_formats()) o.formats.emplace_back(f.name);
    }
    o.cold = true;
  }
  if (o.shapes.empty()) o.shapes = {"4096x4096"};
  if (o.batches.empty()) o.batches = {1, 32};
  if (o.threads.empty()) {
    o.threads = {1};
    const std::size_t all = num_threads();
    if (all > 1) o.threads.push_back(all);
  }
  if (o.formats.empty()) o.formats = {"q4_0", "q8_0", "f32"};
  for (const std::string& f : o.formats) parse_format(f);  // unknown names fail before any work
  for (const std::string& s : o.shapes) parse_shape(s);
  for (const std::string& name : o.isas) {
    if (!isa_supported(parse_isa(name))) {
      throw Error(ErrorCode::unsupported, "--isa " + name + ": this CPU supports at most " + std::string(isa_name(best_isa())));
    }
  }
  Runner runner(o);
  runner.forward_section();
  if (!o.skip_stream) runner.stream_section();
  if (!o.skip_quantize) runner.quantize_section();
  set_num_threads(0);
  if (o.json) {
    runner.print_json(out);
  } else {
    runner.print(out);
  }
  if (!o.json_path.empty()) {
    std::ofstream file(o.json_path);
    if (!file) throw Error(ErrorCode::io, o.json_path + ": cannot open for writing");
    runner.print_json(file);
  }
  return 0;
}

}  // namespace qlinear::bench
