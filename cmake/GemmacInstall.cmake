# `cmake --install build --prefix P`: compile-model and gemmac-opt, the
# runtime (static and shared), the CLI archive programs are linked with,
# `serve`'s library, the C header, pkg-config files and the CMake package
# (find_package(gemmac), cmake/gemmacConfig.cmake.in). Everything is found
# relative to where it is installed: the tree can be moved or copied.
include(GNUInstallDirs)
set(GEMMAC_LIB_DIR lib) # compile-model finds its runtime in ../lib

install(TARGETS compile-model gemmac-opt gemmac-gen-model
        RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
install(TARGETS gemmac_runtime gemmac_cli
        ARCHIVE DESTINATION ${GEMMAC_LIB_DIR})
install(TARGETS gemmac_runtime_shared
        LIBRARY DESTINATION ${GEMMAC_LIB_DIR})
if(TARGET gemmac_serve)
  install(TARGETS gemmac_serve LIBRARY DESTINATION ${GEMMAC_LIB_DIR})
endif()
# The aarch64 runtime, for compile-model --target cpu:aarch64 from the
# installed tree (it looks in lib/aarch64-linux-gnu beside lib).
if(GEMMAC_HAVE_AARCH64_RUNTIME)
  install(FILES ${CMAKE_BINARY_DIR}/lib/aarch64-linux-gnu/libgemmac_runtime.a
                ${CMAKE_BINARY_DIR}/lib/aarch64-linux-gnu/libgemmac_runtime.so
                ${CMAKE_BINARY_DIR}/lib/aarch64-linux-gnu/libgemmac_cli.a
          DESTINATION ${GEMMAC_LIB_DIR}/aarch64-linux-gnu)
endif()
install(FILES runtime/include/gemmac.h
        DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})

file(READ ${GEMMAC_SOURCE_DIR}/abi/version.h GEMMAC_VERSION_HEADER)
string(REGEX MATCH "kGemmacVersion\\[\\] = \"([0-9.]+)\"" _ ${GEMMAC_VERSION_HEADER})
set(GEMMAC_VERSION ${CMAKE_MATCH_1})

foreach(pc gemmac gemmac-static)
  configure_file(cmake/${pc}.pc.in ${CMAKE_BINARY_DIR}/pkgconfig/${pc}.pc @ONLY)
  install(FILES ${CMAKE_BINARY_DIR}/pkgconfig/${pc}.pc
          DESTINATION ${GEMMAC_LIB_DIR}/pkgconfig)
endforeach()

include(CMakePackageConfigHelpers)
configure_file(cmake/gemmacConfig.cmake.in
               ${CMAKE_BINARY_DIR}/cmake/gemmacConfig.cmake @ONLY)
write_basic_package_version_file(
  ${CMAKE_BINARY_DIR}/cmake/gemmacConfigVersion.cmake
  VERSION ${GEMMAC_VERSION} COMPATIBILITY SameMinorVersion)
install(FILES ${CMAKE_BINARY_DIR}/cmake/gemmacConfig.cmake
              ${CMAKE_BINARY_DIR}/cmake/gemmacConfigVersion.cmake
        DESTINATION ${GEMMAC_LIB_DIR}/cmake/gemmac)
