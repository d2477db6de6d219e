# Checks what a library exports: every function <qlinear/qlinear.h> declares, the C++ API, and
# nothing else. Run on the shared library's dynamic symbol table (`nm -D --defined-only`); run on
# the static library's global symbols, where the internals are visible, it must fail (a second
# test does that, so the rule is known to catch them).
#
# The rule, for each defined symbol (demangled):
#   - a C function `qlinear_*`, or
#   - a C++ name in namespace qlinear (a function, or the typeinfo / vtable of an API class), and
#     naming no internal namespace (qlinear::core, formats, methods, kernels, io, model, capi) anywhere
#     in it, not even as a template argument;
#   - nothing else: no std:: template instance, no helper outside the namespace.
# Usage: cmake -DNM=nm -DLIBRARY=libqlinear.so -DHEADER=include/qlinear/qlinear.h [-DDYNAMIC=OFF] -P check_exports.cmake
if(NOT DEFINED DYNAMIC)
  set(DYNAMIC ON)
endif()
if(DYNAMIC)
  set(nm_args -D --defined-only -C)
else()
  set(nm_args -g --defined-only -C)
endif()
execute_process(COMMAND ${NM} ${nm_args} ${LIBRARY} OUTPUT_VARIABLE listing RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "${NM} could not read ${LIBRARY}")
endif()

string(REPLACE ";" "\\;" listing "${listing}")
string(REPLACE "\n" ";" lines "${listing}")
set(internal_pattern "qlinear::(core|formats|methods|kernels|io|model|capi)::")
set(exported_c "")
set(violations "")
set(count 0)
foreach(line IN LISTS lines)
  # "ADDRESS TYPE NAME"; archive member headers and blank lines do not match.
  if(NOT line MATCHES "^[0-9a-f]+ [A-Za-z] (.+)$")
    continue()
  endif()
  set(name "${CMAKE_MATCH_1}")
  math(EXPR count "${count} + 1")
  if(name MATCHES "^qlinear_[a-z0-9_]+$")
    list(APPEND exported_c "${name}")
  elseif(name MATCHES "${internal_pattern}")
    list(APPEND violations "internal: ${name}")
  elseif(NOT name MATCHES "^((typeinfo|typeinfo name|vtable) for )?qlinear::")
    list(APPEND violations "not the API: ${name}")
  endif()
endforeach()

# Every function the C header declares must be there.
file(READ ${HEADER} header)
string(REGEX MATCHALL "QLINEAR_API[^;(]*[ *](qlinear_[a-z0-9_]+)\\(" declarations "${header}")
set(missing "")
set(declared 0)
foreach(declaration IN LISTS declarations)
  string(REGEX MATCH "qlinear_[a-z0-9_]+\\($" function "${declaration}")
  string(REPLACE "(" "" function "${function}")
  math(EXPR declared "${declared} + 1")
  list(FIND exported_c "${function}" found)
  if(found EQUAL -1)
    list(APPEND missing "${function}")
  endif()
endforeach()
# And the C++ API: a few functions and the exception's type information.
foreach(required "qlinear::quantize(" "qlinear::QuantizedLinear::forward(" "typeinfo for qlinear::Error")
  string(FIND "${listing}" " ${required}" at)
  if(at EQUAL -1)
    list(APPEND missing "${required}")
  endif()
endforeach()

if(declared LESS 30)
  message(FATAL_ERROR "found only ${declared} declarations in ${HEADER}: the pattern no longer reads it")
endif()
list(LENGTH violations bad)
if(bad GREATER 0)
  list(SUBLIST violations 0 20 shown)
  list(JOIN shown "\n  " shown)
  message(FATAL_ERROR "${LIBRARY} exports internal symbols (${bad} of ${count}), e.g.\n  ${shown}")
endif()
if(missing)
  list(JOIN missing ", " missing)
  message(FATAL_ERROR "${LIBRARY} does not export: ${missing}")
endif()
list(LENGTH exported_c c_count)
message(STATUS "${LIBRARY}: ${count} symbols, ${c_count} C functions (all ${declared} declared), the rest qlinear:: C++ API")
