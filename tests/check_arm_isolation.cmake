# The library must run on any 64-bit ARM CPU (ARMv8.0): the dot-product instructions (sdot, udot)
# may only appear in the functions of the dotprod and i8mm levels, and the int8 matrix-multiply ones
# (smmla, ummla, usmmla, usdot, sudot) only in those of the i8mm level: neon_gemm_dotprod.cpp,
# neon_gemm_kquant_dotprod.cpp and neon_gemm_i8mm.cpp are the only files compiled for them, and run after the CPU has been checked.
# A level's functions are its entry points (qlinear::kernels::neon::gemm_quantized_dotprod and
# gemm_kquant_dotprod, or gemm_quantized_i8mm) and the instances of the templates they make:
# neon_panels.hpp's name the level struct (Dotprod or I8mm, in neon's unnamed namespace) among their
# arguments or as their class, neon_kquant_panels.hpp's have kDot = true as their first argument. A shared inline or template function compiled inside those files would show up here under
# its own name.
# Usage: cmake -DOBJDUMP=aarch64-linux-gnu-objdump -DLIBRARY=libqlinear.a -P check_arm_isolation.cmake
execute_process(COMMAND ${OBJDUMP} -d -C ${LIBRARY} OUTPUT_VARIABLE listing RESULT_VARIABLE result)
if(NOT result EQUAL 0)
  message(FATAL_ERROR "${OBJDUMP} failed on ${LIBRARY}")
endif()
string(REPLACE ";" "," listing "${listing}")
string(REPLACE "\n" ";" lines "${listing}")
set(level_struct "qlinear::kernels::neon::\\(anonymous namespace\\)::")
set(function "")
set(level "")
set(flagged FALSE)
set(dot_instructions 0)
set(mm_instructions 0)
set(offenders "")
foreach(line IN LISTS lines)
  if(line MATCHES "^[0-9a-f]+ <(.*)>:$")
    set(function "${CMAKE_MATCH_1}")
    set(flagged FALSE)
    set(level "")
    if(function MATCHES "^qlinear::kernels::neon::gemm_quantized_i8mm\\(" OR
       function MATCHES "${level_struct}I8mm[:,>]")
      set(level "i8mm")
    elseif(function MATCHES "^qlinear::kernels::neon::gemm_(quantized|kquant)_dotprod\\(" OR
           function MATCHES "${level_struct}Dotprod[:,>]" OR
           function MATCHES "${level_struct}[a-z_]*kquant[a-z_]*<true,")
      set(level "dotprod")
    endif()
  elseif(line MATCHES "^ +[0-9a-f]+:\t[0-9a-f]+ \t(sdot|udot|usdot|sudot|smmla|ummla|usmmla)[ \t]")
    set(instruction "${CMAKE_MATCH_1}")
    if(instruction MATCHES "^(sdot|udot)$" AND level MATCHES "^(dotprod|i8mm)$")
      math(EXPR dot_instructions "${dot_instructions} + 1")
    elseif(NOT instruction MATCHES "^(sdot|udot)$" AND level STREQUAL "i8mm")
      math(EXPR mm_instructions "${mm_instructions} + 1")
    elseif(NOT flagged)
      list(APPEND offenders "${function} (${instruction})")
      set(flagged TRUE)
    endif()
  endif()
endforeach()
if(offenders)
  list(JOIN offenders "\n  " text)
  message(FATAL_ERROR "ARMv8.2+ instructions outside their level's functions:\n  ${text}")
endif()
if(dot_instructions EQUAL 0 OR mm_instructions EQUAL 0)
  message(FATAL_ERROR "${dot_instructions} sdot/udot and ${mm_instructions} smmla-family instructions in the "
                      "dotprod and i8mm levels' functions of ${LIBRARY}: the check sees nothing")
endif()
message(STATUS "${dot_instructions} dot-product instructions in the dotprod and i8mm levels' functions, "
               "${mm_instructions} matrix-multiply instructions in the i8mm level's only")
