# Warnings for qlinear's own targets (third-party headers come in as system includes).
function(qlinear_set_warnings target)
  target_compile_options(${target} PRIVATE -Wall -Wextra -Wpedantic -Wshadow)
endfunction()
