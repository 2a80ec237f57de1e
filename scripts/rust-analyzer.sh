#!/usr/bin/env bash
# `make rust-analyzer`: writes rust-project.json, rust-analyzer's description of the module's crate
# and of the kernel crates it uses, from $KDIR or the cached test-VM kernel tree, the way the
# kernel's own `make M=... rust-analyzer` does it for out-of-tree modules (its
# scripts/generate_rust_analyzer.py takes as crate roots the .rs files a Kbuild names as objects).
set -euo pipefail
source "$(dirname "$0")/common.sh"

"$VMDEV_ROOT/scripts/install-deps.sh"
kdir=$(kernel_dir)
rm -f "$VMDEV_ROOT/rust-project.json"
# shellcheck disable=SC2046 # kmake_flags is a list of words
timed "rust-analyzer: rust-project.json against $kdir" \
  make -s -C "$kdir" M="$VMDEV_ROOT" $(kmake_flags) rust-analyzer
# Ends with a summary, and fails when the module's crate or the kernel crates are missing.
python3 - "$VMDEV_ROOT/rust-project.json" <<'EOF'
import json, sys
crates = json.load(open(sys.argv[1]))["crates"]
names = {c["display_name"]: c for c in crates}
missing = [n for n in ("rust_vmdev", "kernel", "core", "macros", "pin_init") if n not in names]
if missing:
    sys.exit(f"rust-project.json: no crate {', '.join(missing)}")
module = names["rust_vmdev"]
deps = [crates[d["crate"]]["display_name"] for d in module["deps"]]
print(f"==> rust-analyzer: {sys.argv[1]}: {len(crates)} crates; rust_vmdev's root is "
      f"{module['root_module']}, with {', '.join(deps)}", file=sys.stderr)
EOF
