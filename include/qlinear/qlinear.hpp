#pragma once
// qlinear: post-training weight quantization and quantized linear layers on CPU.

#include <qlinear/calibration.hpp>
#include <qlinear/error.hpp>
#include <qlinear/format.hpp>
#include <qlinear/imatrix.hpp>
#include <qlinear/linear.hpp>
#include <qlinear/runtime.hpp>
#include <qlinear/tensor.hpp>
#include <qlinear/version.hpp>
