# Installs qlinear into a scratch prefix, then builds and runs a consumer project with
# find_package(qlinear) (C++ on the static library, C on the shared one), and compiles the same
# programs with the pkg-config flags (the shared library: C++ through its exported C++ API, C
# through the C API).
set(prefix ${WORK_DIR}/prefix)
file(REMOVE_RECURSE ${WORK_DIR})

function(run)
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "failed (${rc}): ${ARGN}\n${out}\n${err}")
  endif()
  set(last_output "${out}" PARENT_SCOPE)
endfunction()

run(${CMAKE_COMMAND} --install ${BUILD_DIR} --prefix ${prefix})
run(${CMAKE_COMMAND} -S ${SOURCE_DIR}/tests/consumer -B ${WORK_DIR}/consumer -DCMAKE_PREFIX_PATH=${prefix})
run(${CMAKE_COMMAND} --build ${WORK_DIR}/consumer)
run(${WORK_DIR}/consumer/consumer)
message(STATUS "find_package consumer: ${last_output}")
run(${WORK_DIR}/consumer/c_consumer)
message(STATUS "find_package C consumer: ${last_output}")

set(ENV{PKG_CONFIG_PATH} ${prefix}/lib/pkgconfig)
function(pkg_config var)
  execute_process(COMMAND pkg-config ${ARGN} qlinear OUTPUT_VARIABLE out RESULT_VARIABLE rc
                  OUTPUT_STRIP_TRAILING_WHITESPACE)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "pkg-config does not know qlinear")
  endif()
  set(${var} "${out}" PARENT_SCOPE)
endfunction()
pkg_config(flags --cflags --libs)
pkg_config(libdir --variable=libdir)
separate_arguments(flags UNIX_COMMAND "${flags}")
# The library is outside the loader's path: the programs carry it as their run path.
run(c++ -std=c++20 ${SOURCE_DIR}/tests/consumer/main.cpp ${flags} -Wl,-rpath,${libdir} -o ${WORK_DIR}/pkgconfig_consumer)
run(${WORK_DIR}/pkgconfig_consumer)
message(STATUS "pkg-config consumer: ${last_output}")
run(cc -std=c11 -Wall -Wextra -Wpedantic -Werror ${SOURCE_DIR}/tests/consumer/main.c ${flags} -Wl,-rpath,${libdir}
    -o ${WORK_DIR}/pkgconfig_c_consumer)
run(${WORK_DIR}/pkgconfig_c_consumer)
message(STATUS "pkg-config C consumer: ${last_output}")
