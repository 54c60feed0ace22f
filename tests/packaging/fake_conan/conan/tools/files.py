from conan import calls


def load(conanfile, path, **kwargs):
    calls.append(("load", (path,), kwargs))
    with open(path, encoding="utf-8") as f:
        return f.read()


def copy(conanfile, pattern, src, dst, **kwargs):
    calls.append(("copy", (pattern, src, dst), kwargs))


def rmdir(conanfile, path):
    calls.append(("rmdir", (path,), {}))
