#!/usr/bin/env bash
# concept-index.sh: checks that each code pointer in the concept index of docs/design.md (the
# table's "code (file: item)" column) names an item that exists in the file it names, so the
# index cannot point at code that moved or was renamed. Prints `design.md:LINE: FILE: ITEM not
# found` for each dead pointer and fails if there is one.
#
# A cell is a list of `FILE`: `ITEM`, `ITEM` separated by "; ". FILE is a path from the tree's
# root, or a module or directory without extension (`vma_ops`: vma_ops.rs and every file under
# vma_ops/); a FILE marked "(the kernel's)" is a path in the cached kernel source, skipped with a
# note when the source is not there. An ITEM is `name` or `name()` (defined in FILE: fn, struct,
# trait, ... in Rust; a function, struct or #define in C; a function or variable in a script),
# `Type::name` (Type defined and a `fn name` in FILE), or a phrase with spaces (`impl A for B`:
# the words in that order). Parentheses are remarks, not pointers; a part that names no FILE in
# backquotes ("the rows above") is prose.
set -euo pipefail
source "$(dirname "$0")/common.sh"

doc=$VMDEV_ROOT/docs/design.md

# One line per pointer: LINE, "kernel" or "tree", FILE, ITEM (empty: the file alone), tab-separated.
pointers() {
  awk -F'|' '
    /^## / { inside = ($0 ~ /^## Concept index/); next }
    !inside || !/^\|/ || /^\|---/ || /^\| concept \|/ { next }
    {
      cell = $4
      gsub(/\(\)/, "", cell) # walk_page_test() names walk_page_test
      n = split(cell, parts, /; /)
      for (p = 1; p <= n; p++) {
        part = parts[p]
        where = part ~ /\(the kernel.s\)/ ? "kernel" : "tree"
        gsub(/\([^)]*\)/, "", part) # remarks
        if (!match(part, /^ *`[^`]+`/)) continue # prose
        file = substr(part, RSTART, RLENGTH)
        rest = substr(part, RSTART + RLENGTH)
        sub(/^ *`/, "", file)
        sub(/`$/, "", file)
        if (rest !~ /^:/) { printf "%d\t%s\t%s\t\n", NR, where, file; continue }
        while (match(rest, /`[^`]+`/)) {
          printf "%d\t%s\t%s\t%s\n", NR, where, file, substr(rest, RSTART + 1, RLENGTH - 2)
          rest = substr(rest, RSTART + RLENGTH)
        }
      }
    }' "$doc"
}

# defined NAME FILE...: whether one of the files defines NAME, by the conventions of its language.
defined() {
  local name=$1 f re
  shift
  for f in "$@"; do
    case $f in
      *.rs) re="\\b(fn|struct|enum|trait|union|type|const|static|mod|macro_rules!)[[:space:]]+$name\\b" ;;
      *.c | *.h) re="^[A-Za-z_].*[^[:alnum:]_]$name\\(|^#define[[:space:]]+$name\\b|\\bstruct[[:space:]]+${name}[[:space:]]*\\{" ;;
      *.sh) re="^[[:space:]]*(local[[:space:]]+)?$name(\\(\\)|=)" ;;
      *) re="\\b$name\\b" ;;
    esac
    grep -qE "$re" "$f" && return 0
  done
  return 1
}

# found ITEM FILE...: whether the item a pointer names is in the files.
found() {
  local item=$1 f
  shift
  case $item in
    *' '*)
      # A phrase: its words in order, on one line, whatever the spacing.
      local re="\\b${item// /[[:space:]]+}\\b"
      for f in "$@"; do grep -qE "$re" "$f" && return 0; done
      return 1 ;;
    *::*) defined "${item%%::*}" "$@" && defined_fn "${item##*::}" "$@" ;;
    *) defined "$item" "$@" ;;
  esac
}

# defined_fn NAME FILE...: a `fn NAME` (Rust) in one of the files.
defined_fn() {
  local name=$1
  shift
  grep -qE "\\bfn[[:space:]]+$name\\b" "$@"
}

ksrc=$(echo "$VMDEV_CACHE"/src/linux-source-*)
dead=0 skipped=() checked=0
while IFS=$'\t' read -r line where file item; do
  checked=$((checked + 1))
  what="$file${item:+: $item}"
  if [ "$where" = kernel ]; then
    if [ ! -d "$ksrc" ]; then
      skipped+=("$what")
      continue
    fi
    root=$ksrc
  else
    root=$VMDEV_ROOT
  fi
  # The files FILE names: itself, or a module's FILE.rs and everything under FILE/.
  files=()
  [ ! -f "$root/$file" ] || files+=("$root/$file")
  [ ! -f "$root/$file.rs" ] || files+=("$root/$file.rs")
  if [ -d "$root/$file" ]; then
    mapfile -t -O "${#files[@]}" files < <(find "$root/$file" -type f \( -name '*.rs' -o -name '*.c' -o -name '*.h' \) | sort)
  fi
  if ((${#files[@]} == 0)); then
    echo "design.md:$line: $file: no such file"
    dead=$((dead + 1))
  elif [ -n "$item" ] && ! found "$item" "${files[@]}"; then
    echo "design.md:$line: $file: $item not found"
    dead=$((dead + 1))
  fi
done < <(pointers)

# A renamed heading or column would otherwise pass with nothing checked.
((checked)) || die "docs/design.md: no code pointers found under '## Concept index'"
if ((${#skipped[@]})); then
  list=$(printf '%s; ' "${skipped[@]}")
  say "concept index: no kernel source in $VMDEV_CACHE/src (scripts/fetch-kernel-source.sh):" \
    "not checked: ${list%; }"
fi
if ((dead)); then
  say "concept index: $dead dead pointer(s) in docs/design.md"
  exit 1
fi
say "concept index: every code pointer in docs/design.md names an item that exists"
