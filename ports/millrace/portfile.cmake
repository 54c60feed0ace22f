# vcpkg port of millrace, a header-only C++20 library: the package is millrace's own CMake install
# (tests, benchmarks, examples and fuzz targets off), with its config files moved to share/millrace.
set(VCPKG_BUILD_TYPE release)  # headers only: one configuration serves Debug and Release
# No ELF file is installed, so there is no RPATH to fix: vcpkg need not fetch patchelf for it.
set(VCPKG_FIXUP_ELF_RPATH OFF)

# As an overlay port (--overlay-ports=ports from a millrace checkout) the source is that checkout.
# A registry's copy of this directory has no checkout above it and downloads the release tag
# instead; SHA512 0 makes the first run print the tarball's hash to paste here.
get_filename_component(MILLRACE_CHECKOUT "${CMAKE_CURRENT_LIST_DIR}/../.." ABSOLUTE)
if(EXISTS "${MILLRACE_CHECKOUT}/include/millrace/version.hpp"
   AND EXISTS "${MILLRACE_CHECKOUT}/CMakeLists.txt")
    set(SOURCE_PATH "${MILLRACE_CHECKOUT}")
else()
    vcpkg_from_github(
        OUT_SOURCE_PATH SOURCE_PATH
        REPO millrace/millrace
        REF "v${VERSION}"
        SHA512 0
        HEAD_REF main
    )
endif()

vcpkg_cmake_configure(
    SOURCE_PATH "${SOURCE_PATH}"
    OPTIONS
        -DMILLRACE_BUILD_TESTS=OFF
        -DMILLRACE_BUILD_BENCHMARKS=OFF
        -DMILLRACE_BUILD_EXAMPLES=OFF
        -DMILLRACE_BUILD_FUZZ=OFF
        -DMILLRACE_INSTALL=ON
)
vcpkg_cmake_install()
vcpkg_cmake_config_fixup(PACKAGE_NAME millrace CONFIG_PATH share/cmake/millrace)
# The .pc file says `Libs: -pthread`, and vcpkg keeps share/pkgconfig for .pc files without
# Libs, so it goes to lib/pkgconfig, the only thing in lib/.
file(MAKE_DIRECTORY "${CURRENT_PACKAGES_DIR}/lib/pkgconfig")
file(RENAME "${CURRENT_PACKAGES_DIR}/share/pkgconfig/millrace.pc" "${CURRENT_PACKAGES_DIR}/lib/pkgconfig/millrace.pc")
file(REMOVE_RECURSE "${CURRENT_PACKAGES_DIR}/share/pkgconfig")
vcpkg_fixup_pkgconfig()

# Nothing is compiled: no debug tree is left; the licence goes where vcpkg wants it.
file(REMOVE_RECURSE "${CURRENT_PACKAGES_DIR}/debug" "${CURRENT_PACKAGES_DIR}/share/doc")
file(INSTALL "${CMAKE_CURRENT_LIST_DIR}/usage" DESTINATION "${CURRENT_PACKAGES_DIR}/share/${PORT}")
vcpkg_install_copyright(FILE_LIST "${SOURCE_PATH}/LICENSE")
