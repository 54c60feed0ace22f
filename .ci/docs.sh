#!/usr/bin/env bash
# The docs stage: the API reference built by the `docs` target with every Doxygen warning an
# error (an undocumented public entity, a broken \ref or @param), in a configure that needs no
# test framework; before it, the unit tests of the plots' script.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v doxygen >/dev/null 2>&1; then
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo=sudo
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends doxygen
fi
python3 .ci/test_plot.py  # benchmarks/plot.py, which draws docs/img/
rm -rf build/ci-docs
cmake -S . -B build/ci-docs -DMILLRACE_BUILD_EXAMPLES=OFF -DMILLRACE_DOCS_WARN_AS_ERROR=ON >/dev/null
cmake --build build/ci-docs --target docs
test -f build/ci-docs/docs/html/index.html
echo "API reference: build/ci-docs/docs/html/index.html ($(doxygen --version), no warnings)"

# The check must be able to fail: the same build on a copy of the tree where one public struct
# lost its /// comment must stop with a warning naming it.
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
git ls-files -z | xargs -0 -I{} cp --parents {} "$tmp"
sed -i '/^\/\/\/ The version as values/d' "$tmp/include/millrace/version.hpp"
cmake -S "$tmp" -B "$tmp/build" -DMILLRACE_BUILD_EXAMPLES=OFF -DMILLRACE_DOCS_WARN_AS_ERROR=ON >/dev/null
if cmake --build "$tmp/build" --target docs >"$tmp/log" 2>&1; then
  echo "an undocumented public struct was NOT caught by the docs target"; exit 1
fi
grep -m1 "version_info" "$tmp/log"
echo "an undocumented public struct is caught by the docs target"
