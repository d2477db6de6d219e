# The library must run on any 64-bit ARM CPU (ARMv8.0): the dot-product and int8 matrix-multiply
# instructions (sdot, udot, usdot, sudot, smmla, ummla, usmmla) may only appear in the functions of
# neon_gemm_dotprod.cpp and neon_gemm_kquant_dotprod.cpp, the files compiled with +dotprod, which
# run after the CPU has been checked: their entry points qlinear::kernels::neon::gemm_quantized_dotprod
# and gemm_kquant_dotprod and the instances of neon_panels.hpp's and neon_kquant_panels.hpp's
# templates they make, which name kDot = true among their arguments. A shared inline or
# template function compiled inside those files would show up here under its own name.
# Usage: cmake -DOBJDUMP=aarch64-linux-gnu-objdump -DLIBRARY=libqlinear.a -P check_arm_isolation.cmake
execute_process(COMMAND ${OBJDUMP} -d -C ${LIBRARY} OUTPUT_VARIABLE listing RESULT_VARIABLE result)
if(NOT result EQUAL 0)
  message(FATAL_ERROR "${OBJDUMP} failed on ${LIBRARY}")
endif()
string(REPLACE ";" "," listing "${listing}")
string(REPLACE "\n" ";" lines "${listing}")
set(function "")
set(allowed FALSE)
set(flagged FALSE)
set(dot_instructions 0)
set(offenders "")
foreach(line IN LISTS lines)
  if(line MATCHES "^[0-9a-f]+ <(.*)>:$")
    set(function "${CMAKE_MATCH_1}")
    set(flagged FALSE)
    set(allowed FALSE)
    if(function MATCHES "^qlinear::kernels::neon::gemm_(quantized|kquant)_dotprod\\(" OR
       (function MATCHES "^(void )?qlinear::kernels::neon::\\(anonymous namespace\\)::" AND
        function MATCHES "<true,"))
      set(allowed TRUE)
    endif()
  elseif(line MATCHES "^ +[0-9a-f]+:\t[0-9a-f]+ \t(sdot|udot|usdot|sudot|smmla|ummla|usmmla)[ \t]")
    if(allowed)
      math(EXPR dot_instructions "${dot_instructions} + 1")
    elseif(NOT flagged)
      list(APPEND offenders "${function} (${CMAKE_MATCH_1})")
      set(flagged TRUE)
    endif()
  endif()
endforeach()
if(offenders)
  list(JOIN offenders "\n  " text)
  message(FATAL_ERROR "ARMv8.2+ instructions outside the dotprod level:\n  ${text}")
endif()
if(dot_instructions EQUAL 0)
  message(FATAL_ERROR "no sdot in the dotprod level's functions of ${LIBRARY}: the check sees nothing")
endif()
message(STATUS "${dot_instructions} dot-product instructions, all in the dotprod level's functions")
