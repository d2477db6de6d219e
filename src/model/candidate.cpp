// QuantCandidate: a format a size budget may choose, spelled on the command line as the format's
// name, with the affine layout in '/'-separated words ("i4/g64/asym/mse"); and the default set.

#include <qlinear/error.hpp>
#include <qlinear/model.hpp>

#include <charconv>
#include <cmath>
#include <cstdio>

namespace qlinear {
namespace {

using Granularity = AffineOptions::Granularity;
using Clip = AffineOptions::Calibration;

[[noreturn]] void bad_word(std::string_view spec, std::string_view word, const std::string& why) {
  throw Error(ErrorCode::invalid_argument, "candidate '" + std::string(spec) + "': " + std::string(word) + ": " +
                                               why + " (words: gN, channel, tensor, sym, asym, minmax, mse, pNN)");
}

// Group sizes are multiples of 8 (AffineOptions): checked here so a bad candidate fails when parsed.
std::size_t parse_group(std::string_view spec, std::string_view word) {
  std::size_t g = 0;
  const auto digits = word.substr(1);
  const auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), g);
  if (ec != std::errc() || end != digits.data() + digits.size() || digits.empty()) {
    bad_word(spec, word, "not a group size");
  }
  if (g == 0 || g % 8 != 0) bad_word(spec, word, "a group size must be a positive multiple of 8");
  return g;
}

double parse_percentile(std::string_view spec, std::string_view word) {
  const std::string digits(word.substr(1));
  char* end = nullptr;
  const double p = std::strtod(digits.c_str(), &end);
  if (digits.empty() || end != digits.c_str() + digits.size() || !(p > 50.0 && p <= 100.0)) {
    bad_word(spec, word, "a percentile must be in (50, 100]");
  }
  return p;
}

std::string percentile_text(double p) {
  char text[32];
  std::snprintf(text, sizeof text, "%g", p);
  return text;
}

// The group size for about `wanted` inputs per group over a row padded to 32 (as the affine layout
// pads it): the fewest groups of at most `wanted` inputs, each as small a multiple of 8 as holds the
// row. For 120 inputs (padded 128) and 40: 4 groups of 32, which cost the same as 4 groups of 40.
std::size_t group_for(std::uint64_t cols, std::size_t wanted) {
  const std::uint64_t padded = (cols + 31) / 32 * 32;
  const std::uint64_t groups = (padded + wanted - 1) / wanted;
  const std::uint64_t size = (padded + groups - 1) / groups;
  return static_cast<std::size_t>((size + 7) / 8 * 8);
}

}  // namespace

QuantCandidate::QuantCandidate(Format f, const AffineOptions& a)
    : format(f), affine(format_info(f).affine ? a : AffineOptions{}) {}

QuantCandidate QuantCandidate::parse(std::string_view spec, const AffineOptions& base) {
  const std::size_t slash = spec.find('/');
  QuantCandidate c;
  c.format = parse_format(spec.substr(0, slash));
  if (!format_info(c.format).affine) {
    if (slash != std::string_view::npos) {
      throw Error(ErrorCode::invalid_argument, "candidate '" + std::string(spec) + "': " +
                                                   std::string(format_name(c.format)) +
                                                   " has no layout to choose (only i8 and i4 take /words)");
    }
    return c;
  }
  c.affine = base;
  std::string_view rest = slash == std::string_view::npos ? std::string_view() : spec.substr(slash + 1);
  bool layout_given = false;
  while (slash != std::string_view::npos) {
    const std::size_t next = rest.find('/');
    const std::string_view word = rest.substr(0, next);
    if (word.empty()) bad_word(spec, word, "empty word");
    if (word == "channel" || word == "tensor") {
      c.affine.granularity = word == "channel" ? Granularity::channel : Granularity::tensor;
      c.affine.group_size = 0;
      layout_given = true;
    } else if (word[0] == 'g') {
      c.affine.granularity = Granularity::group;
      c.affine.group_size = parse_group(spec, word);
      layout_given = true;
    } else if (word == "sym" || word == "asym") {
      c.affine.symmetric = word == "sym";
    } else if (word == "minmax" || word == "mse") {
      c.affine.calibration = word == "mse" ? Clip::mse : Clip::minmax;
    } else if (word[0] == 'p') {
      c.affine.calibration = Clip::percentile;
      c.affine.percentile = parse_percentile(spec, word);
    } else {
      bad_word(spec, word, "unknown word");
    }
    if (next == std::string_view::npos) break;
    rest = rest.substr(next + 1);
  }
  if (!layout_given && c.affine.granularity == Granularity::group && c.affine.group_size == 0) c.affine.group_size = 32;
  if (c.affine.granularity != Granularity::group) c.affine.group_size = 0;
  return c;
}

std::string QuantCandidate::name() const {
  std::string s(format_name(format));
  if (!format_info(format).affine) return s;
  switch (affine.granularity) {
    case Granularity::tensor: s += "/tensor"; break;
    case Granularity::channel: s += "/channel"; break;
    case Granularity::group: s += "/g" + std::to_string(affine.group_size); break;
  }
  if (!affine.symmetric) s += "/asym";
  if (affine.calibration == Clip::mse) s += "/mse";
  if (affine.calibration == Clip::percentile) s += "/p" + percentile_text(affine.percentile);
  return s;
}

bool QuantCandidate::operator==(const QuantCandidate& o) const noexcept {
  if (format != o.format) return false;
  if (!format_info(format).affine) return true;
  const AffineOptions &a = affine, &b = o.affine;
  return a.symmetric == b.symmetric && a.granularity == b.granularity && a.group_size == b.group_size &&
         a.calibration == b.calibration && (a.calibration != Clip::percentile || a.percentile == b.percentile);
}

std::vector<QuantCandidate> default_candidates(std::uint64_t cols, double target_bits_per_weight) {
  std::vector<QuantCandidate> out = {Format::q2_K, Format::q3_K, Format::q4_K, Format::q5_K,   Format::q6_K,
                                     Format::iq4_xs, Format::q4_0, Format::q4_1, Format::q5_0, Format::q5_1,
                                     Format::q8_0, Format::iq4_nl};
  // Affine layouts with mse clipping: at the same bytes it gives a lower error than the extremes
  // (docs/calibration.md's table), which is all a budget asks of a candidate. In a file each group
  // costs an F32 scale (and an F32 zero point when asymmetric), so the layouts below are those that
  // measured best for their size on the bundled model (docs/budget.md): asymmetric groups of g cost
  // what symmetric groups of g/2 do and make less error.
  AffineOptions affine{.symmetric = true, .granularity = Granularity::channel};
  affine.calibration = Clip::mse;
  const auto add = [&out](const QuantCandidate& c) {
    for (const auto& o : out) {
      if (o == c) return;
    }
    out.push_back(c);
  };
  const std::uint64_t padded = (cols + 31) / 32 * 32;
  const auto layout = [&](bool symmetric, std::size_t wanted) {
    AffineOptions a = affine;
    a.symmetric = symmetric;
    const std::size_t g = wanted == 0 ? padded : group_for(cols, wanted);
    if (g < padded) {  // else one group per row: per channel
      a.granularity = Granularity::group;
      a.group_size = g;
    }
    return QuantCandidate(Format::i4, a);
  };
  add(layout(true, 0));     // ~4 + 32/cols bits
  add(layout(false, 0));    // ~4 + 64/cols
  add(layout(true, 128));   // ~4.25
  add(layout(true, 64));    // ~4.5
  add(layout(false, 64));   // ~5
  add(layout(false, 32));   // ~6
  // i8 with min-max clipping: mse search made 0.2 % less error on the bundled model for 3.5× the time.
  AffineOptions i8 = affine;
  i8.calibration = Clip::minmax;
  out.emplace_back(Format::i8, i8);
  // f16 only where the budget could pay for it somewhere: above q8_0's 8.5 bits it is the next step.
  if (std::isfinite(target_bits_per_weight) && target_bits_per_weight >= 8.5) out.emplace_back(Format::f16);
  return out;
}

}  // namespace qlinear
