#!/usr/bin/env python3
"""Compile every ```cpp block of README.md and docs/*.md against include/, with g++ and clang++.

A block is compiled after a prelude that includes <millrace/millrace.hpp> and the common standard
headers and says `using namespace std::chrono_literals;`. One marker line directly above the fence
says how, when the block is not a whole translation unit:

  (none)                     the block is a whole translation unit (declarations, maybe a main)
  <!-- compile: main -->     statements: compiled inside `int main() { ... }`
  <!-- compile: partial -->  a deliberate excerpt (member signatures, a concept as the header
                             spells it): compiled inside a stub in namespace millrace, and accepted
                             when it fits one of: namespace-scope declarations, the body of a class
                             (named after the constructor or destructor it lists) templated on the
                             usual names it uses without declaring them (STUB_PARAMS), or a
                             function body

Each block is compiled with -std=c++20 -Wall -Wextra -Wpedantic -Werror; a block with a main() is
linked as well, the rest are checked with -fsyntax-only. Diagnostics point at the Markdown file's own
lines (#line), and the summary lists each failing block as file:line. Blocks compile in parallel,
with the prelude precompiled once per compiler.

  .ci/check_doc_snippets.py [--include DIR] [--jobs N] [--cxx g++ --cxx clang++] [FILE.md ...]
  .ci/check_doc_snippets.py --self-test     proves the check fails on broken blocks
Standard library only (Debian's python3).
"""

from __future__ import annotations

import argparse
import concurrent.futures
import dataclasses
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FLAGS = ["-std=c++20", "-Wall", "-Wextra", "-Wpedantic", "-Werror"]
FENCE_OPEN = re.compile(r"^(?P<indent>[ \t]*)(?P<fence>`{3,}|~{3,})[ \t]*(?P<lang>[^\s`]*)")
MARKER = re.compile(r"^\s*<!--\s*compile:\s*(?P<mode>[A-Za-z_-]+)\s*-->\s*$")
LOOSE_MARKER = re.compile(r"<!--\s*compile\b", re.IGNORECASE)
CPP_LANGS = {"cpp", "c++", "cxx", "cc"}
MODES = {"tu", "main", "partial"}

PRELUDE = """\
#include <millrace/millrace.hpp>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <iostream>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <stdexcept>
#include <stop_token>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_map>
#include <utility>
#include <vector>

using namespace std::chrono_literals;
"""

# The stubs a partial block may fit, tried in order; {body} is the block with its #line.
PARTIAL_STUBS = [
    ("namespace scope", "namespace millrace::doc_stub {{\n{body}\n}}  // namespace millrace::doc_stub\n"),
    ("class body",
     "namespace millrace::doc_stub {{\n{template}struct {name} {{\n{body}\n}};\n"
     "}}  // namespace millrace::doc_stub\n"),
    ("function body",
     "namespace millrace::doc_stub {{\n[[maybe_unused]] inline void stub() {{\n{body}\n}}\n"
     "}}  // namespace millrace::doc_stub\n"),
]
# Names a list of member signatures takes from its class: the class body stub declares those the
# block uses and does not declare itself as the stub's template parameters.
STUB_PARAMS = ["T", "U", "R", "F", "Rep", "Period", "Range", "It", "Task", "Clock", "Key", "Value",
               "Policies", "Io", "clock_type", "time_point", "duration", "value_type", "size_type",
               "key_type"]
STUB_PACKS = ["Args", "Ts"]
CTOR_NAME = re.compile(r"(?:~\s*|\bexplicit\s+)([A-Za-z_]\w*)\s*\(")


def class_stub(code: str) -> dict[str, str]:
    """The class body stub's name (the class whose constructor or destructor the block lists)
    and template header (the class's names the block uses without declaring them)."""
    m = CTOR_NAME.search(code)
    name = m.group(1) if m else "stub"

    def free(n: str) -> bool:
        # a template's own `class R>` parameter does not declare R for the rest of the block
        declared = re.search(rf"\busing\s+{n}\s*=|\b(?:struct|enum|concept)\s+{n}\b|"
                             rf"\benum\s+class\s+{n}\b|\bclass\s+{n}\s*[{{:;]", code)
        # nor may it be a template parameter the block declares itself (it would shadow)
        own_param = re.search(rf"\b(?:class|typename)(?:\.\.\.)?\s+{n}\s*[>,=]", code)
        return bool(re.search(rf"\b{n}\b", code)) and not declared and not own_param and n != name
    params = [f"class {n}" for n in STUB_PARAMS if free(n)]
    params += [f"class... {n}" for n in STUB_PACKS if free(n)]
    return {"name": name, "template": f"template <{', '.join(params)}>\n" if params else ""}

HAS_MAIN = re.compile(r"\bint\s+main\s*\(")


@dataclasses.dataclass
class Block:
    path: Path       # the Markdown file
    line: int        # 1-based line of the first line inside the fence
    mode: str        # tu, main or partial
    code: str
    marker_error: str = ""

    @property
    def where(self) -> str:
        try:
            rel = self.path.resolve().relative_to(ROOT)
        except ValueError:
            rel = self.path
        return f"{rel}:{self.line - 1}"  # the fence's own line, as an editor shows it


def extract(path: Path) -> list[Block]:
    """Every ```cpp block of one Markdown file, with the marker directly above its fence."""
    lines = path.read_text(encoding="utf-8").splitlines()
    blocks: list[Block] = []
    i = 0
    while i < len(lines):
        m = FENCE_OPEN.match(lines[i])
        if not m:
            i += 1
            continue
        fence, indent = m.group("fence"), len(m.group("indent").expandtabs())
        lang = m.group("lang").lower()
        close = re.compile(r"^[ \t]*" + re.escape(fence[0]) + "{" + str(len(fence)) + r",}[ \t]*$")
        j = i + 1
        while j < len(lines) and not close.match(lines[j]):
            j += 1
        if lang in CPP_LANGS:
            mode, err = "tu", ""
            above = lines[i - 1] if i > 0 else ""
            mm = MARKER.match(above)
            if mm:
                mode = mm.group("mode").lower()
                if mode not in MODES - {"tu"}:
                    err = f"unknown marker '{above.strip()}' (use compile: main or compile: partial)"
            elif LOOSE_MARKER.search(above):
                err = f"malformed marker '{above.strip()}' (write <!-- compile: main --> or <!-- compile: partial -->)"
            body = [ln[indent:] if ln[:indent].strip() == "" else ln.lstrip() for ln in lines[i + 1:j]]
            blocks.append(Block(path, i + 2, mode, "\n".join(body) + "\n", err))
        i = j + 1
    return blocks


def translation_units(block: Block) -> list[tuple[str, str]]:
    """The source(s) to try for a block: (label, text). One must compile. The prelude comes in
    through -include (precompiled once per compiler when it can be)."""
    src = str(block.path.resolve()).replace("\\", "\\\\").replace('"', '\\"')
    body = f'#line {block.line} "{src}"\n{block.code}'
    if block.mode == "main":
        return [("main", f"int main() {{\n{body}\n}}\n")]
    if block.mode == "partial":
        names = class_stub(block.code)
        return [(label, stub.format(body=body, **names)) for label, stub in PARTIAL_STUBS]
    return [("translation unit", body)]


def write_prelude(tmp: Path, compilers: list[str], include: Path) -> Path:
    """Writes the prelude and precompiles it for each compiler (g++ finds prelude.hpp.gch and
    clang++ prelude.hpp.pch beside it when given -include prelude.hpp). A prelude that does not
    precompile is still included as text, so its errors surface in every block."""
    prelude = tmp / "prelude.hpp"
    prelude.write_text(PRELUDE, encoding="utf-8")
    for cxx in compilers:
        ext = ".pch" if "clang" in Path(cxx).name else ".gch"
        subprocess.run([cxx, *FLAGS, "-pthread", "-I", str(include), "-x", "c++-header", str(prelude),
                        "-o", str(prelude) + ext], capture_output=True, text=True, timeout=300)
    return prelude


def compile_one(cxx: str, include: Path, label: str, text: str, link: bool, tmp: Path) -> tuple[bool, str]:
    fd, src = tempfile.mkstemp(suffix=".cpp", dir=tmp)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(text)
    cmd = [cxx, *FLAGS, "-pthread", "-I", str(include), "-include", str(tmp / "prelude.hpp"), src]
    cmd += ["-o", src + ".out"] if link else ["-fsyntax-only"]
    try:
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
        ok, out = r.returncode == 0, r.stdout + r.stderr
    except subprocess.TimeoutExpired:
        ok, out = False, "compiler timed out after 300 s"
    finally:
        for p in (src, src + ".out"):
            try:
                os.unlink(p)
            except FileNotFoundError:
                pass
    return ok, f"[{label}] {' '.join(cmd[:-1] if not link else cmd)}\n{out}" if not ok else ""


def check_block(block: Block, cxx: str, include: Path, tmp: Path) -> tuple[bool, str]:
    if block.marker_error:
        return False, block.marker_error
    link = block.mode == "main" or (block.mode == "tu" and bool(HAS_MAIN.search(block.code)))
    errors = []
    for label, text in translation_units(block):
        ok, err = compile_one(cxx, include, label, text, link, tmp)
        if ok:
            return True, ""
        errors.append(err)
    return False, "\n".join(errors)


def first_error(log: str) -> str:
    for ln in log.splitlines():
        if "error:" in ln and not ln.startswith("["):
            return ln.strip()
    return log.strip().splitlines()[0] if log.strip() else "failed"


def collect(files: list[Path], compilers: list[str], include: Path,
            jobs: int) -> tuple[list[Block], list[tuple[Block, str, str]]]:
    """Compiles every block of `files` with every compiler; returns the blocks and the failures."""
    blocks = [b for f in files for b in extract(f)]
    failures: list[tuple[Block, str, str]] = []
    with tempfile.TemporaryDirectory(prefix="millrace-snippets-") as tmpdir, \
            concurrent.futures.ThreadPoolExecutor(max_workers=jobs) as pool:
        tmp = Path(tmpdir)
        write_prelude(tmp, compilers, include)
        futures = {pool.submit(check_block, b, cxx, include, tmp): (b, cxx) for b in blocks for cxx in compilers}
        for fut in concurrent.futures.as_completed(futures):
            b, cxx = futures[fut]
            ok, log = fut.result()
            if not ok:
                failures.append((b, cxx, log))
    failures.sort(key=lambda x: (str(x[0].path), x[0].line, x[1]))
    return blocks, failures


def run(files: list[Path], compilers: list[str], include: Path, jobs: int, verbose: bool = True) -> int:
    blocks, failures = collect(files, compilers, include, jobs)
    if not blocks:
        print("doc snippets: no ```cpp blocks found")
        return 1
    if verbose:
        for b, cxx, log in failures:
            print(f"::: {b.where} ({b.mode}) FAILED with {cxx} :::\n{log}")
    print(f"doc snippets: {len(blocks)} blocks x {len(compilers)} compilers, {len(failures)} failures")
    for b, cxx, log in failures:
        print(f"  {b.where}: {cxx} ({b.mode}): {first_error(log)}")
    return 1 if failures else 0


def self_test(compilers: list[str], include: Path, jobs: int) -> int:
    """The check must pass a good block of each kind and fail each broken one."""
    good = """\
# good

```cpp
int helper() { return 1; }
```

<!-- compile: main -->
```cpp
millrace::mpmc_queue<int> q(8);
(void)q.try_push(1);
std::this_thread::sleep_for(1ms);
```

<!-- compile: partial -->
```cpp
bool try_push(T&& value) noexcept;   // a member signature, as the header spells it
```

<!-- compile: partial -->
```cpp
explicit widget(std::size_t capacity, clock_type = {});   // std::invalid_argument when 0
~widget();
template <class Rep, class Period> bool wait_for(std::chrono::duration<Rep, Period>);
R get();
```
"""
    broken = {
        "undeclared name": "```cpp\nint f() { return no_such_name; }\n```\n",
        "statements without a main marker": "```cpp\nmillrace::mpmc_queue<int> q(8);\nq.close();\n```\n",
        "unused variable (-Werror)": "<!-- compile: main -->\n```cpp\nint unused = 0;\n```\n",
        "partial with a typo": "<!-- compile: partial -->\n```cpp\nbool try_psh(T&& value) noexcept = 0;\nmillrace::no_such_type x;\n```\n",
        "unknown marker": "<!-- compile: maybe -->\n```cpp\nint g();\n```\n",
    }
    failed = 0
    with tempfile.TemporaryDirectory(prefix="millrace-snippets-self-") as d:
        good_md = Path(d, "good.md")
        good_md.write_text(good, encoding="utf-8")
        files = [good_md]
        for k, text in enumerate(broken.values()):
            files.append(Path(d, f"broken{k}.md"))
            files[-1].write_text("# broken\n\n" + text, encoding="utf-8")
        blocks, failures = collect(files, compilers, include, jobs)
        good_failures = [f for f in failures if f[0].path == good_md]
        for b, cxx, log in good_failures:
            print(f"self-test: a good block failed: {b.where} with {cxx}:\n{log}")
            failed = 1
        if len([b for b in blocks if b.path == good_md]) != 4:
            print("self-test: the good file's four blocks were not all found")
            failed = 1
        for name, md in zip(broken, files[1:]):
            caught = {cxx for b, cxx, _ in failures if b.path == md}
            ok = caught == set(compilers)
            print(f"self-test: {name}: {'caught by ' + ', '.join(sorted(caught)) if ok else 'NOT CAUGHT'}")
            failed |= not ok
        # file:line must point at the Markdown file.
        md = Path(d, "where.md")
        md.write_text("# where\n\ntext\n\n```cpp\nint f() { return no_such_name; }\n```\n", encoding="utf-8")
        write_prelude(Path(d), compilers[:1], include)
        ok, log = check_block(extract(md)[0], compilers[0], include, Path(d))
        if ok or f"{md}:6" not in log:
            print(f"self-test: diagnostics do not point at {md}:6:\n{log}")
            failed = 1
        else:
            print("self-test: diagnostics point at the Markdown line")
    print("self-test " + ("FAILED" if failed else "passed"))
    return 1 if failed else 0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("files", nargs="*", type=Path, help="Markdown files (default: README.md and docs/*.md)")
    ap.add_argument("--include", type=Path, default=ROOT / "include", help="the headers (default: include/)")
    ap.add_argument("--cxx", action="append", help="compiler (repeatable; default: g++ and clang++)")
    ap.add_argument("--jobs", type=int, default=os.cpu_count() or 2)
    ap.add_argument("--self-test", action="store_true", help="prove that broken blocks fail the check")
    args = ap.parse_args()
    compilers = args.cxx or ["g++", "clang++"]
    include = args.include.resolve()
    if args.self_test:
        return self_test(compilers, include, args.jobs)
    files = args.files or [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
    return run(files, compilers, include, args.jobs)


if __name__ == "__main__":
    sys.exit(main())
