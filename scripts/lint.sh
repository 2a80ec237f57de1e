#!/usr/bin/env bash
# The lints: shellcheck on these scripts; rustfmt and clippy on the kernel module (with the
# kernel's own rustfmt settings) and on the userspace crate. Any finding fails.
set -euo pipefail
source "$(dirname "$0")/common.sh"

"$VMDEV_ROOT/scripts/install-deps.sh"
cd "$VMDEV_ROOT"
# -x -P SCRIPTDIR: follow `source .../common.sh`, so its functions and variables count as known.
timed "lint: shellcheck (scripts)" shellcheck -x -P SCRIPTDIR scripts/*.sh
# The crate root: rustfmt follows its `mod` declarations to the other files of the module.
timed "lint: rustfmt (module)" rustfmt --check --config-path "$(echo "$VMDEV_CACHE"/src/linux-source-*)/.rustfmt.toml" \
  rust_vmdev.rs
lint_userspace() {
  (cd userspace && cargo fmt --check && env -u RUSTC cargo clippy --quiet --locked --all-targets -- -D warnings)
}
timed "lint: rustfmt, clippy (userspace)" lint_userspace
timed "lint: the module's layers (scripts/module-layers.sh)" scripts/module-layers.sh
timed "lint: design.md's concept index against the code" scripts/concept-index.sh
CLIPPY=1 "$VMDEV_ROOT/scripts/build-module.sh"
