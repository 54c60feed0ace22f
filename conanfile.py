"""Conan 2 recipe for millrace, a header-only C++20 library.

It follows conan-center-index's header-only template; the package is made by millrace's own CMake
install (tests, benchmarks, examples and fuzz targets off), so Conan ships exactly the headers a
CMake install ships. The version is read from include/millrace/version.hpp, its one source.
"""
import os
import re

from conan import ConanFile
from conan.tools.build import check_min_cppstd
from conan.tools.cmake import CMake, CMakeToolchain, cmake_layout
from conan.tools.files import copy, load, rmdir

required_conan_version = ">=2.0"


class MillraceConan(ConanFile):
    name = "millrace"
    description = "Header-only C++20 concurrency building blocks for task dispatch"
    license = "MIT"
    url = "https://github.com/millrace/millrace"
    homepage = "https://github.com/millrace/millrace"
    topics = ("concurrency", "queue", "scheduler", "timing-wheel", "consistent-hashing", "header-only")
    package_type = "header-library"
    settings = "os", "arch", "compiler", "build_type"
    no_copy_source = True
    # Only what the install step reads: tests, benchmarks, examples and fuzz stay behind.
    exports_sources = "CMakeLists.txt", "LICENSE", "cmake/*", "include/*"

    def set_version(self):
        header = load(self, os.path.join(self.recipe_folder, "include", "millrace", "version.hpp"))
        parts = [re.search(rf"#define MILLRACE_VERSION_{p} +(\d+)", header).group(1)
                 for p in ("MAJOR", "MINOR", "PATCH")]
        self.version = ".".join(parts)

    def layout(self):
        cmake_layout(self, src_folder=".")

    def package_id(self):
        # Headers only: one package serves every compiler, build type and architecture.
        self.info.clear()

    def validate(self):
        check_min_cppstd(self, 20)

    def generate(self):
        tc = CMakeToolchain(self)
        tc.user_presets_path = False  # a `conan install .` leaves no CMakeUserPresets.json beside ours
        tc.generate()

    def build(self):
        pass

    def package(self):
        cmake = CMake(self)
        cmake.configure(variables={
            "MILLRACE_BUILD_TESTS": "OFF",
            "MILLRACE_BUILD_BENCHMARKS": "OFF",
            "MILLRACE_BUILD_EXAMPLES": "OFF",
            "MILLRACE_BUILD_FUZZ": "OFF",
            "MILLRACE_INSTALL": "ON",
        })
        cmake.install()
        copy(self, "LICENSE", src=self.source_folder, dst=os.path.join(self.package_folder, "licenses"))
        # Conan's generators (CMakeDeps, PkgConfigDeps) write the consumer's config and .pc files
        # from package_info(), so the ones the CMake install wrote would only shadow them.
        rmdir(self, os.path.join(self.package_folder, "share"))

    def package_info(self):
        self.cpp_info.set_property("cmake_file_name", "millrace")
        self.cpp_info.set_property("cmake_target_name", "millrace::millrace")
        self.cpp_info.set_property("pkg_config_name", "millrace")
        self.cpp_info.bindirs = []
        self.cpp_info.libdirs = []
        if self.settings.os in ("Linux", "FreeBSD"):
            self.cpp_info.system_libs = ["pthread"]
