# Install rules: the library, its public headers, an exported CMake package
# (find_package(qlinear) gives qlinear::qlinear) and a pkg-config file.
include(CMakePackageConfigHelpers)

install(TARGETS qlinear EXPORT qlinearTargets
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
file(RELATIVE_PATH QLINEAR_PC_TO_PREFIX "/root/${CMAKE_INSTALL_LIBDIR}/pkgconfig" "/root")
# OpenBLAS must follow a static libqlinear on the link line (pkg-config --libs leaves out
# Libs.private unless --static); a shared one carries its own dependency.
get_target_property(QLINEAR_TYPE qlinear TYPE)
if(QLINEAR_TYPE STREQUAL "STATIC_LIBRARY")
  set(QLINEAR_PC_STATIC_LIBS " -lopenblas -lpthread")
  set(QLINEAR_PC_PRIVATE_LIBS "")
else()
  set(QLINEAR_PC_STATIC_LIBS "")
  set(QLINEAR_PC_PRIVATE_LIBS "-lopenblas -lpthread")
endif()
configure_file(cmake/qlinear.pc.in ${CMAKE_CURRENT_BINARY_DIR}/qlinear.pc @ONLY)
install(FILES ${CMAKE_CURRENT_BINARY_DIR}/qlinear.pc DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig)
