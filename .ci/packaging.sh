#!/usr/bin/env bash
# The packaging stage. Always: the Conan recipe, the vcpkg port and the manifests checked without
# either tool (tests/packaging/test_packaging.py, after its self-test plants bugs it must catch).
# Then, where the tools are set up, the real runs: `conan create .` (its test_package builds and
# runs) when `conan` is on the PATH, and `vcpkg install millrace --overlay-ports=ports` plus a
# manifest-mode consumer when VCPKG_ROOT holds a built vcpkg. Each real run works in build/ with
# its own Conan home or vcpkg scratch roots, offline, and leaves the user's setup untouched. Prints
# which ran and which were skipped, and why.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

python3 tests/packaging/test_packaging.py --self-test

ran=() skipped=()

conan_create() {
  local home="$root/build/ci-conan-home"
  rm -rf "$home"
  export CONAN_HOME="$home"
  conan profile detect >/dev/null 2>&1
  conan remote disable conancenter >/dev/null
  # A header-only package needs no binaries from a remote; C++20 is the recipe's minimum.
  conan create . -s compiler.cppstd=20 --build=missing 2>&1 | tee build/ci-conan-create.log | tail -n 8
  grep -q "tasks ran" build/ci-conan-create.log
  unset CONAN_HOME
}

vcpkg_install() {
  local scratch="$root/build/ci-vcpkg"
  rm -rf "$scratch"
  mkdir -p "$scratch"
  export VCPKG_FORCE_SYSTEM_BINARIES=1 VCPKG_BINARY_SOURCES=clear VCPKG_DISABLE_METRICS=1
  local roots=(--x-buildtrees-root="$scratch/buildtrees" --x-packages-root="$scratch/packages"
               --downloads-root="$scratch/downloads")
  # Classic mode: the port straight from the overlay, then a find_package consumer against it.
  # --classic: the checkout's own vcpkg.json would otherwise put vcpkg in manifest mode.
  "$VCPKG_ROOT/vcpkg" install millrace --classic --overlay-ports=ports --x-install-root="$scratch/installed" \
      "${roots[@]}" 2>&1 | tee "$scratch/classic.log" | tail -n 12
  local triplet_dir
  triplet_dir=$(find "$scratch/installed" -mindepth 1 -maxdepth 1 -type d ! -name vcpkg | head -n1)
  test -f "$triplet_dir/include/millrace/version.hpp"
  test -f "$triplet_dir/share/millrace/millraceConfig.cmake"
  test -f "$triplet_dir/share/millrace/copyright"
  test -f "$triplet_dir/share/millrace/usage"
  test -f "$triplet_dir/lib/pkgconfig/millrace.pc"
  test ! -e "$triplet_dir/debug"
  [ "$(cd "$triplet_dir/lib" && find . -type f)" = "./pkgconfig/millrace.pc" ]
  # vcpkg's post-build checks found nothing to warn about.
  if grep -q "post-build check problem" "$scratch/classic.log"; then return 1; fi
  cmake -S tests/packaging/vcpkg_consumer -B "$scratch/classic-consumer" \
        -DCMAKE_PREFIX_PATH="$triplet_dir" >/dev/null
  cmake --build "$scratch/classic-consumer" >/dev/null
  "$scratch/classic-consumer/consumer"
  # Manifest mode: vcpkg's toolchain installs the manifest's dependencies while CMake configures.
  local opts
  opts=$(IFS=';'; echo "${roots[*]}")
  cmake -S tests/packaging/vcpkg_consumer -B "$scratch/manifest-consumer" \
        -DCMAKE_TOOLCHAIN_FILE="$VCPKG_ROOT/scripts/buildsystems/vcpkg.cmake" \
        -DVCPKG_INSTALL_OPTIONS="$opts" > "$scratch/manifest.log" 2>&1 \
    || { tail -n 30 "$scratch/manifest.log"; return 1; }
  grep -E "Installing [0-9]+/[0-9]+ millrace|Total install time" "$scratch/manifest.log" || true
  cmake --build "$scratch/manifest-consumer" >/dev/null
  "$scratch/manifest-consumer/consumer"
}

if command -v conan >/dev/null 2>&1; then
  conan_create
  ran+=("conan create . (test_package built and ran)")
else
  skipped+=("conan create: no conan on the PATH")
fi
if [ -n "${VCPKG_ROOT:-}" ] && [ -x "${VCPKG_ROOT}/vcpkg" ]; then
  vcpkg_install
  ran+=("vcpkg install millrace --overlay-ports=ports, classic and manifest mode (consumers ran)")
elif [ -n "${VCPKG_ROOT:-}" ]; then
  skipped+=("vcpkg: VCPKG_ROOT=$VCPKG_ROOT has no vcpkg executable")
else
  skipped+=("vcpkg: VCPKG_ROOT is not set")
fi

echo "packaging: checks without the tools passed"
for r in "${ran[@]}"; do echo "  ran: $r"; done
for s in "${skipped[@]}"; do echo "  skipped: $s"; done
