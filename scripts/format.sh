#!/usr/bin/env bash
# Formats labrun's C++ files with the tree's .clang-format (clang-format 14, Debian's).
#   scripts/format.sh           rewrite the files that differ
#   scripts/format.sh --check   list the files that differ and exit 1 if any does (CI runs this)
set -euo pipefail
if [[ "${1:-}" == "-h" || "${1:-}" == "--help" ]]; then  # the comment above is the help
  sed -n '2,/^set -euo/{/^#/s/^# \{0,1\}//p}' "$0"
  exit 0
fi
cd "$(dirname "$0")/.."
mode=fix
case "${1:-}" in
  "") ;;
  --check) mode=check ;;
  *) echo "format.sh: unknown option '$1' (known: --check)" >&2; exit 2 ;;
esac
command -v clang-format >/dev/null 2>&1 || { echo "format.sh: no clang-format; scripts/setup.sh --test installs it" >&2; exit 1; }
mapfile -t files < <(git ls-files '*.cpp' '*.hpp' '*.h')
if [[ $mode == fix ]]; then
  clang-format -i "${files[@]}"
  exit 0
fi
differ=()
for file in "${files[@]}"; do
  clang-format --dry-run --Werror "$file" >/dev/null 2>&1 || differ+=("$file")
done
if [[ ${#differ[@]} -gt 0 ]]; then
  printf 'format.sh: not formatted (run scripts/format.sh): %s\n' "${differ[@]}" >&2
  exit 1
fi
echo "format.sh: ${#files[@]} files formatted as .clang-format says" >&2
