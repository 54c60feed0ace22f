from conan import calls


def cmake_layout(conanfile, **kwargs):
    calls.append(("cmake_layout", (), kwargs))


class CMakeToolchain:
    def __init__(self, conanfile):
        self.user_presets_path = "CMakeUserPresets.json"
        self.cache_variables = {}

    def generate(self):
        calls.append(("CMakeToolchain.generate", (), {"user_presets_path": self.user_presets_path,
                                                      "cache_variables": dict(self.cache_variables)}))


class CMake:
    def __init__(self, conanfile):
        pass

    def configure(self, variables=None, **kwargs):
        calls.append(("CMake.configure", (), {"variables": dict(variables or {}), **kwargs}))

    def install(self, **kwargs):
        calls.append(("CMake.install", (), kwargs))

    def build(self, **kwargs):
        calls.append(("CMake.build", (), kwargs))
