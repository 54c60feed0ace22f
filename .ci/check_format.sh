#!/usr/bin/env bash
# Every tracked .hpp/.cpp is in the repository's .clang-format style (Debian's clang-format 14).
# Lists the files that differ; `clang-format -i <file>` fixes one.
set -euo pipefail
cd "$(dirname "$0")/.."
fmt=${CLANG_FORMAT:-$(command -v clang-format-14 || command -v clang-format)}
mapfile -t files < <(git ls-files '*.hpp' '*.cpp')
bad=()
for f in "${files[@]}"; do
    "$fmt" --dry-run --Werror "$f" >/dev/null 2>&1 || bad+=("$f")
done
if ((${#bad[@]})); then
    printf 'not formatted: %s\n' "${bad[@]}"
    echo "clang-format: ${#bad[@]} of ${#files[@]} files differ from .clang-format ($("$fmt" --version))"
    exit 1
fi
echo "clang-format: ${#files[@]} files match .clang-format"
