# Install rules: the static and the shared library, the public headers, an exported CMake package
# (find_package(qlinear) gives qlinear::qlinear, the static library, and qlinear::shared, the shared
# one with the C API) and a pkg-config file (the shared library; --static for the static one).
include(CMakePackageConfigHelpers)

install(TARGETS qlinear qlinear_shared EXPORT qlinearTargets
        ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
        LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}
        RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR}
        INCLUDES DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
install(DIRECTORY include/qlinear DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})

set(QLINEAR_CMAKE_DIR ${CMAKE_INSTALL_LIBDIR}/cmake/qlinear)
install(EXPORT qlinearTargets NAMESPACE qlinear:: DESTINATION ${QLINEAR_CMAKE_DIR})
configure_package_config_file(cmake/qlinearConfig.cmake.in
                              ${CMAKE_CURRENT_BINARY_DIR}/qlinearConfig.cmake
                              INSTALL_DESTINATION ${QLINEAR_CMAKE_DIR})
write_basic_package_version_file(${CMAKE_CURRENT_BINARY_DIR}/qlinearConfigVersion.cmake
                                 COMPATIBILITY SameMinorVersion)
install(FILES ${CMAKE_CURRENT_BINARY_DIR}/qlinearConfig.cmake
              ${CMAKE_CURRENT_BINARY_DIR}/qlinearConfigVersion.cmake
        DESTINATION ${QLINEAR_CMAKE_DIR})

# The .pc file locates the prefix from its own folder, so an install under any --prefix works.
# -lqlinear links the shared library, which carries its own dependencies; `pkg-config --static`
# adds what the static one needs (OpenBLAS, and the C++ runtime for C programs). No -std flag: C
# programs use it too (C++ ones need C++20).
file(RELATIVE_PATH QLINEAR_PC_TO_PREFIX "/root/${CMAKE_INSTALL_LIBDIR}/pkgconfig" "/root")
set(QLINEAR_PC_PREFIX "\${pcfiledir}/${QLINEAR_PC_TO_PREFIX}")
set(QLINEAR_PC_LIBDIR "\${prefix}/${CMAKE_INSTALL_LIBDIR}")
set(QLINEAR_PC_INCLUDEDIR "\${prefix}/${CMAKE_INSTALL_INCLUDEDIR}")
configure_file(cmake/qlinear.pc.in ${CMAKE_CURRENT_BINARY_DIR}/qlinear.pc @ONLY)
install(FILES ${CMAKE_CURRENT_BINARY_DIR}/qlinear.pc DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig)

# The same file for the build tree, uninstalled: the headers of the checkout and the shared library
# where the build put it. The Rust crate's tests find the library through it (PKG_CONFIG_PATH).
set(QLINEAR_PC_PREFIX "${PROJECT_SOURCE_DIR}")
set(QLINEAR_PC_LIBDIR "@QLINEAR_SHARED_DIR@")
set(QLINEAR_PC_INCLUDEDIR "${PROJECT_SOURCE_DIR}/include")
configure_file(cmake/qlinear.pc.in ${CMAKE_CURRENT_BINARY_DIR}/qlinear-uninstalled.pc.in @ONLY)
file(READ ${CMAKE_CURRENT_BINARY_DIR}/qlinear-uninstalled.pc.in QLINEAR_PC_UNINSTALLED)
string(REPLACE "@QLINEAR_SHARED_DIR@" "$<TARGET_FILE_DIR:qlinear_shared>" QLINEAR_PC_UNINSTALLED
       "${QLINEAR_PC_UNINSTALLED}")
file(GENERATE OUTPUT ${CMAKE_CURRENT_BINARY_DIR}/pkgconfig-uninstalled/qlinear.pc
     CONTENT "${QLINEAR_PC_UNINSTALLED}")
