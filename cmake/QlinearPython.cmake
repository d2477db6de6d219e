# The Python module's prerequisites: an interpreter with numpy, its headers, and pybind11.
#
# Debian's /usr/bin/python3 is preferred when it exists, unless Python_EXECUTABLE says otherwise:
# the packages the module is built and tested with (python3-numpy, python3-dev, pybind11-dev,
# python3-torch, python3-pytest) are Debian's, while a python3 that comes first on PATH (pyenv, a
# virtual environment) may lack them or have other versions.
#
# QLINEAR_BUILD_PYTHON defaults to ON when everything is found and OFF (with a message) otherwise;
# asked for explicitly while something is missing, it is an error naming what.

if(DEFINED QLINEAR_BUILD_PYTHON AND NOT QLINEAR_BUILD_PYTHON)
  return()
endif()

# A sanitized module cannot load into an interpreter that was not started with the sanitizer
# runtimes, so sanitizer and fuzzing builds leave the module out.
if(QLINEAR_SANITIZE OR QLINEAR_BUILD_FUZZ)
  if(QLINEAR_BUILD_PYTHON)
    message(FATAL_ERROR "QLINEAR_BUILD_PYTHON cannot be combined with QLINEAR_SANITIZE or QLINEAR_BUILD_FUZZ")
  endif()
  message(STATUS "qlinear Python module skipped: sanitizer build")
  return()
endif()

if(NOT DEFINED Python_EXECUTABLE AND EXISTS /usr/bin/python3)
  set(Python_EXECUTABLE /usr/bin/python3 CACHE FILEPATH "The Python interpreter the qlinear module is built for")
endif()

set(_qlinear_python_missing "")
find_package(Python 3.8 COMPONENTS Interpreter Development.Module QUIET)
if(NOT Python_FOUND)
  set(_qlinear_python_missing "a Python interpreter with its headers (python3-dev)")
else()
  execute_process(COMMAND ${Python_EXECUTABLE} -c "import numpy"
                  RESULT_VARIABLE _qlinear_numpy_rc OUTPUT_QUIET ERROR_QUIET)
  if(NOT _qlinear_numpy_rc EQUAL 0)
    set(_qlinear_python_missing "numpy for ${Python_EXECUTABLE} (python3-numpy)")
  else()
    # Found after Python, pybind11 uses the interpreter found above (its FindPython mode).
    find_package(pybind11 2.6 CONFIG QUIET)
    if(NOT pybind11_FOUND)
      set(_qlinear_python_missing "pybind11 (pybind11-dev)")
    endif()
  endif()
endif()

if(_qlinear_python_missing STREQUAL "")
  option(QLINEAR_BUILD_PYTHON "Build the Python module qlinear (pybind11 + numpy)" ON)
  message(STATUS "qlinear Python module: ${Python_EXECUTABLE} (Python ${Python_VERSION}), pybind11 ${pybind11_VERSION}")
elseif(QLINEAR_BUILD_PYTHON)
  message(FATAL_ERROR "QLINEAR_BUILD_PYTHON=ON needs ${_qlinear_python_missing}")
else()
  option(QLINEAR_BUILD_PYTHON "Build the Python module qlinear (pybind11 + numpy)" OFF)
  message(STATUS "qlinear Python module skipped: ${_qlinear_python_missing} not found "
                 "(scripts/install-deps.sh installs it; -DPython_EXECUTABLE picks another interpreter)")
endif()
