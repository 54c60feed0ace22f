from conan import calls


def check_min_cppstd(conanfile, cppstd, gnu_extensions=False):
    calls.append(("check_min_cppstd", (cppstd,), {"gnu_extensions": gnu_extensions}))
