#!/usr/bin/env python3
"""Checks of the Conan recipe, the vcpkg port and the version numbers that need neither tool.

- conanfile.py is imported against fake_conan/ (a recording fake of the Conan API it uses) and
  each method is called: the names and properties Conan's generators read, C++20 checked, a
  header-library with one package for all settings, and a package made by our CMake install with
  tests, benchmarks, examples and fuzz off.
- ports/millrace/portfile.cmake runs under `cmake -P` with recording vcpkg_* stubs
  (test_portfile.cmake).
- Every JSON manifest parses, and the version in version.hpp, CMake's project(), the recipe and
  both vcpkg.json files agree.

`--self-test` first plants a bug in a copy of the recipe, the portfile or a manifest, one at a
time, and fails unless the checks catch each one.
"""
import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import unittest

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "fake_conan"))
import conan  # noqa: E402  (the fake, from fake_conan/)

# The files under test; --self-test points these at planted copies.
PATHS = {
    "conanfile": os.path.join(ROOT, "conanfile.py"),
    "portfile": os.path.join(ROOT, "ports", "millrace", "portfile.cmake"),
    "port_manifest": os.path.join(ROOT, "ports", "millrace", "vcpkg.json"),
    "root_manifest": os.path.join(ROOT, "vcpkg.json"),
}


def header_version():
    with open(os.path.join(ROOT, "include", "millrace", "version.hpp"), encoding="utf-8") as f:
        text = f.read()
    return ".".join(re.search(rf"#define MILLRACE_VERSION_{p} +(\d+)", text).group(1)
                    for p in ("MAJOR", "MINOR", "PATCH"))


def load_recipe():
    spec = importlib.util.spec_from_file_location("millrace_conanfile", PATHS["conanfile"])
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def make_recipe(os_name="Linux"):
    module = load_recipe()
    conan.calls.clear()
    recipe = module.MillraceConan(ROOT, settings={"os": os_name, "compiler.cppstd": "20"},
                                  folders={"package": "/pkg"})
    return module, recipe


def calls_named(name):
    return [c for c in conan.calls if c[0] == name]


class Recipe(unittest.TestCase):
    def test_declares_a_conan2_header_library(self):
        module, recipe = make_recipe()
        self.assertEqual(module.required_conan_version, ">=2.0")
        self.assertEqual(recipe.name, "millrace")
        self.assertEqual(recipe.package_type, "header-library")
        self.assertTrue(recipe.no_copy_source)
        self.assertEqual(recipe.license, "MIT")
        self.assertEqual(set(type(recipe).settings), {"os", "arch", "compiler", "build_type"})

    def test_exports_what_the_cmake_install_reads(self):
        _, recipe = make_recipe()
        exported = set(type(recipe).exports_sources)
        self.assertLessEqual({"CMakeLists.txt", "LICENSE", "cmake/*", "include/*"}, exported)

    def test_exported_sources_alone_configure_and_install(self):
        """The recipe's package() step on a tree of only what it exports, as Conan runs it."""
        import glob
        _, recipe = make_recipe()
        recipe.package()
        variables = calls_named("CMake.configure")[0][2]["variables"]
        with tempfile.TemporaryDirectory() as tmp:
            src, build, prefix = (os.path.join(tmp, d) for d in ("src", "build", "prefix"))
            for pattern in type(recipe).exports_sources:
                for path in glob.glob(os.path.join(ROOT, pattern), recursive=True):
                    for f in ([path] if os.path.isfile(path) else
                              [os.path.join(d, n) for d, _, ns in os.walk(path) for n in ns]):
                        dst = os.path.join(src, os.path.relpath(f, ROOT))
                        os.makedirs(os.path.dirname(dst), exist_ok=True)
                        shutil.copy(f, dst)
            configure = subprocess.run(["cmake", "-S", src, "-B", build]
                                       + [f"-D{k}={v}" for k, v in variables.items()],
                                       capture_output=True, text=True)
            self.assertEqual(configure.returncode, 0, configure.stdout + configure.stderr)
            install = subprocess.run(["cmake", "--install", build, "--prefix", prefix],
                                     capture_output=True, text=True)
            self.assertEqual(install.returncode, 0, install.stdout + install.stderr)
            self.assertTrue(os.path.isfile(os.path.join(prefix, "include", "millrace", "version.hpp")))

    def test_version_comes_from_version_hpp(self):
        _, recipe = make_recipe()
        recipe.set_version()
        self.assertEqual(recipe.version, header_version())
        self.assertTrue(calls_named("load")[0][1][0].endswith(os.path.join("millrace", "version.hpp")))

    def test_layout_is_cmake_layout(self):
        _, recipe = make_recipe()
        recipe.layout()
        self.assertEqual(len(calls_named("cmake_layout")), 1)

    def test_validate_requires_cpp20(self):
        _, recipe = make_recipe()
        recipe.validate()
        self.assertEqual([c[1] for c in calls_named("check_min_cppstd")], [(20,)])

    def test_one_package_for_every_setting(self):
        _, recipe = make_recipe()
        recipe.package_id()
        self.assertTrue(recipe.info.cleared)

    def test_package_is_our_cmake_install_with_the_extras_off(self):
        _, recipe = make_recipe()
        recipe.generate()
        recipe.build()
        self.assertEqual(calls_named("CMake.build"), [], "a header-only package builds nothing")
        recipe.package()
        names = [c[0] for c in conan.calls]
        self.assertLess(names.index("CMake.configure"), names.index("CMake.install"))
        variables = calls_named("CMake.configure")[0][2]["variables"]
        for option in ("TESTS", "BENCHMARKS", "EXAMPLES", "FUZZ"):
            self.assertIn(variables.get(f"MILLRACE_BUILD_{option}"), ("OFF", False), option)
        self.assertIn(variables.get("MILLRACE_INSTALL"), ("ON", True))
        licence = [c for c in calls_named("copy") if c[1][0] == "LICENSE"]
        self.assertEqual(len(licence), 1)
        self.assertEqual(licence[0][1][2], os.path.join("/pkg", "licenses"))

    def test_package_info_names_the_cmake_and_pkgconfig_files(self):
        _, recipe = make_recipe()
        recipe.package_info()
        info = recipe.cpp_info
        self.assertEqual(info.properties.get("cmake_file_name"), "millrace")
        self.assertEqual(info.properties.get("cmake_target_name"), "millrace::millrace")
        self.assertEqual(info.properties.get("pkg_config_name"), "millrace")
        self.assertEqual(info.bindirs, [])
        self.assertEqual(info.libdirs, [])
        self.assertEqual(info.includedirs, ["include"])
        self.assertEqual(info.system_libs, ["pthread"])

    def test_no_pthread_outside_linux(self):
        _, recipe = make_recipe("Windows")
        recipe.package_info()
        self.assertEqual(recipe.cpp_info.system_libs, [])


class Port(unittest.TestCase):
    def test_portfile_under_recording_stubs(self):
        with tempfile.TemporaryDirectory() as scratch:
            run = subprocess.run(["cmake", f"-DPORTFILE={PATHS['portfile']}", f"-DSCRATCH={scratch}",
                                  "-P", os.path.join(HERE, "test_portfile.cmake")],
                                 capture_output=True, text=True)
        self.assertEqual(run.returncode, 0, run.stdout + run.stderr)

    def test_port_manifest(self):
        with open(PATHS["port_manifest"], encoding="utf-8") as f:
            manifest = json.load(f)
        self.assertEqual(manifest["name"], "millrace")
        self.assertEqual(manifest["license"], "MIT")
        for key in ("description", "homepage"):
            self.assertTrue(manifest.get(key), key)
        host = {d["name"] for d in manifest["dependencies"] if isinstance(d, dict) and d.get("host")}
        self.assertEqual(host, {"vcpkg-cmake", "vcpkg-cmake-config"})
        self.assertTrue(os.path.isfile(os.path.join(os.path.dirname(PATHS["portfile"]), "usage")))

    def test_every_json_file_parses(self):
        found = [PATHS["port_manifest"], PATHS["root_manifest"]]
        for folder in ("ports", "tests/packaging", "test_package"):
            for dirpath, _, files in os.walk(os.path.join(ROOT, folder)):
                found += [os.path.join(dirpath, f) for f in files if f.endswith(".json")]
        for path in sorted(set(found)):
            with open(path, encoding="utf-8") as f:
                json.load(f)  # raises on a syntax error, naming the line


class Versions(unittest.TestCase):
    def test_every_version_agrees_with_version_hpp(self):
        want = header_version()
        _, recipe = make_recipe()
        recipe.set_version()
        found = {"conanfile.py": recipe.version}
        for key in ("port_manifest", "root_manifest"):
            with open(PATHS[key], encoding="utf-8") as f:
                found[os.path.relpath(PATHS[key], ROOT)] = json.load(f)["version"]
        found["CMake project()"] = cmake_project_version()
        self.assertEqual(found, {k: want for k in found})


def cmake_project_version():
    """The version CMakeLists.txt gives project(), from a configure with everything off."""
    with tempfile.TemporaryDirectory() as build:
        subprocess.run(["cmake", "-S", ROOT, "-B", build, "-DMILLRACE_BUILD_EXAMPLES=OFF",
                        "-DMILLRACE_INSTALL=OFF"], check=True, capture_output=True)
        with open(os.path.join(build, "CMakeCache.txt"), encoding="utf-8") as f:
            return re.search(r"^CMAKE_PROJECT_VERSION:STATIC=(.*)$", f.read(), re.M).group(1)


# Each planted bug: (file key, text in the file, replacement) -- the checks must fail on every one.
PLANTS = [
    ("conanfile", '"cmake_target_name", "millrace::millrace"', '"cmake_target_name", "millrace"'),
    ("conanfile", '"pkg_config_name", "millrace"', '"pkg_config_name", "libmillrace"'),
    ("conanfile", "check_min_cppstd(self, 20)", "check_min_cppstd(self, 17)"),
    ("conanfile", 'package_type = "header-library"', 'package_type = "library"'),
    ("conanfile", "self.cpp_info.libdirs = []", "pass"),
    ("conanfile", "self.info.clear()", "pass"),
    ("conanfile", '"MILLRACE_BUILD_TESTS": "OFF",', ""),
    ("conanfile", "cmake_layout(self", "print(self"),
    ("conanfile", '"cmake/*", ', ""),
    ("portfile", "-DMILLRACE_BUILD_FUZZ=OFF", ""),
    ("portfile", "CONFIG_PATH share/cmake/millrace", "CONFIG_PATH lib/cmake/millrace"),
    ("portfile", 'vcpkg_install_copyright(FILE_LIST "${SOURCE_PATH}/LICENSE")', ""),
    ("portfile", 'file(REMOVE_RECURSE "${CURRENT_PACKAGES_DIR}/debug"', 'file(REMOVE_RECURSE'),
    ("portfile", "set(VCPKG_FIXUP_ELF_RPATH OFF)", ""),
    ("port_manifest", '"version": "', '"version": "9'),
    ("root_manifest", '"license": "MIT",', '"license": "MIT"'),
]


def run_suite():
    suite = unittest.defaultTestLoader.loadTestsFromModule(sys.modules[__name__])
    return unittest.TextTestRunner(stream=open(os.devnull, "w"), verbosity=0).run(suite).wasSuccessful()


def self_test():
    originals = dict(PATHS)
    missed = []
    for key, old, new in PLANTS:
        with open(originals[key], encoding="utf-8") as f:
            text = f.read()
        if old not in text:
            missed.append(f"{key}: '{old}' not found (update PLANTS)")
            continue
        # The copy sits where the original does relative to the checkout (the portfile finds
        # the checkout two levels up), so it goes beside the original under another name.
        planted = os.path.join(os.path.dirname(originals[key]),
                               ".planted-" + os.path.basename(originals[key]))
        with open(planted, "w", encoding="utf-8") as f:
            f.write(text.replace(old, new, 1))
        PATHS[key] = planted
        try:
            caught = not run_suite()
        finally:
            PATHS[key] = originals[key]
            os.remove(planted)
        print(f"  planted in {key}: {old!r} -> {new!r}: {'caught' if caught else 'MISSED'}")
        if not caught:
            missed.append(f"{key}: {old!r} -> {new!r}")
    if missed:
        print("self-test: the checks missed", *missed, sep="\n  ")
        return False
    print(f"self-test: all {len(PLANTS)} planted bugs caught")
    return True


if __name__ == "__main__":
    if "--self-test" in sys.argv:
        sys.argv.remove("--self-test")
        if not self_test():
            sys.exit(1)
    unittest.main(verbosity=2)
