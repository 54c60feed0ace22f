#!/usr/bin/env bash
# Installs the Debian packages of the libraries millrace's benchmarks compare against.
# The bench preset refuses to configure without them, so no comparison silently drops out.
set -euo pipefail
pkgs=(libbenchmark-dev libboost-dev libconcurrentqueue-dev libtbb-dev libsqlite3-dev)
missing=()
for p in "${pkgs[@]}"; do
  dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if ((${#missing[@]})); then
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo=sudo
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}"
fi
echo "benchmark peers present: ${pkgs[*]}"
