#!/usr/bin/env bash
# The module's structure, drawn from its imports, with two rules (part of make lint):
# - the abstraction (chardev.rs, mm_view.rs, vma_ops.rs and vma_ops/) names nothing of the
#   driver: every `crate::X` path in it leads to another of its files, and inside vma_ops/ every
#   `super::X` names a sibling file, never the front's re-exports (a floor importing from above);
# - the files' imports have no circle.
# An edge is a `crate::X` or (inside vma_ops/) `super::X` path in code; comments and doc-only
# imports (`#[cfg(doc)]`, for intra-doc links) are not edges. rust_vmdev.rs is the crate root,
# the top floor, whose `mod`s and relative `use`s are not edges either.
set -euo pipefail
source "$(dirname "$0")/common.sh"
cd "$VMDEV_ROOT"

layer=(chardev mm_view vma_ops)
ok=true
edges=$(mktemp)
trap 'rm -f "$edges"' EXIT

# edges FILE NODE: prints "NODE TARGET" for each path FILE's code names.
file_edges() {
  awk -v node="$2" '
    /^[[:space:]]*\/\// { next }
    /^[[:space:]]*#\[cfg\(doc\)\]/ { skip = 1; next }
    skip { if ($0 ~ /;[[:space:]]*$/) skip = 0; next }
    {
      line = $0
      while (match(line, /crate::[a-z_]+/)) {
        print node, "crate", substr(line, RSTART + 7, RLENGTH - 7); line = substr(line, RSTART + RLENGTH)
      }
      line = $0
      while (match(line, /super::[A-Za-z_]+/)) {
        print node, "super", substr(line, RSTART + 7, RLENGTH - 7); line = substr(line, RSTART + RLENGTH)
      }
    }' "$1"
}

for f in *.rs vma_ops/*.rs; do
  node=${f%.rs}
  [ "$node" != rust_vmdev ] || continue
  while read -r from kind to; do
    case $kind in
      crate)
        [ "$to" != module_parameters ] || to=rust_vmdev # the module!'s parameters, in the root
        if [[ " ${layer[*]} " == *" ${from%%/*} "* && " ${layer[*]} " != *" $to "* ]]; then
          echo "$f: names crate::$to, which is the driver's: the abstraction names only kernel:: and its own files" >&2
          ok=false
        fi
        echo "$from $to" >>"$edges" ;;
      super)
        [[ $from == vma_ops/* ]] || continue
        if [ ! -f "vma_ops/$to.rs" ]; then
          echo "$f: names super::$to, not a file of vma_ops/: import it from the file that defines it" >&2
          ok=false
        fi
        echo "$from vma_ops/$to" >>"$edges" ;;
    esac
  done < <(file_edges "$f" "$node")
done
# tsort prints each circle it finds on stderr ("input contains a loop").
if ! tsort "$edges" >/dev/null 2>"$edges.err"; then
  sed 's/^tsort: /module-layers: /' "$edges.err" >&2
  ok=false
fi
rm -f "$edges.err"
$ok || die "module-layers: the module's imports break the layering above"
say "module-layers: $(sort -u "$edges" | wc -l) imports between files, no circle, the abstraction names no driver file"
