#pragma once
// JSON has no infinity: an exact reproduction's SQNR (or a zero signal's relative error) is written as
// null by the model layer's reports.

#include <nlohmann/json.hpp>

#include <cmath>

namespace qlinear::model {

inline nlohmann::json finite_or_null(double v) { return std::isfinite(v) ? nlohmann::json(v) : nlohmann::json(); }

}  // namespace qlinear::model
