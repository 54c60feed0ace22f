"""A fake of the few parts of Conan 2 that conanfile.py uses, recording what the recipe sets and
calls, so the recipe is checked without Conan installed (tests/packaging/test_packaging.py)."""
import os

calls = []  # (name, args, kwargs) of every tool function the recipe called, in order


class _Setting(str):
    """A settings value: compares as a string, like Conan's."""


class _Settings:
    def __init__(self, **values):
        self._values = dict(values)

    def __getattr__(self, name):
        try:
            return _Setting(self.__dict__["_values"][name])
        except KeyError:
            raise AttributeError(name) from None

    def get_safe(self, name, default=None):
        return self._values.get(name, default)


class _CppInfo:
    def __init__(self):
        self.properties = {}
        self.bindirs = ["bin"]  # Conan's defaults: a header-only recipe must empty them
        self.libdirs = ["lib"]
        self.includedirs = ["include"]
        self.system_libs = []

    def set_property(self, name, value):
        self.properties[name] = value


class _Info:
    def __init__(self):
        self.cleared = False

    def clear(self):
        self.cleared = True


class ConanFile:
    """The attributes Conan gives a recipe before it calls the recipe's methods."""

    def __init__(self, recipe_folder, settings=None, folders=None):
        self.recipe_folder = recipe_folder
        self.settings = _Settings(**(settings or {"os": "Linux", "compiler.cppstd": "20"}))
        folders = folders or {}
        self.source_folder = folders.get("source", recipe_folder)
        self.build_folder = folders.get("build", os.path.join(recipe_folder, "build"))
        self.package_folder = folders.get("package", os.path.join(recipe_folder, "package"))
        self.cpp_info = _CppInfo()
        self.info = _Info()
        self.version = None
