#!/usr/bin/env bash
# update-docs.sh: runs the demo in the test VM (as `make run` does), writes what it printed into
# the marked blocks of docs/design.md, so that the quoted output is always a real run's, and
# copies the picture it drew (build/vmdev-pages.svg) to docs/, where design.md shows it.
# A block is `<!-- demo:NAME -->`, a fenced block, `<!-- /demo -->`; NAME picks its lines below.
set -euo pipefail
source "$(dirname "$0")/common.sh"

"$VMDEV_ROOT/scripts/run-vm.sh" demo >/dev/null
cp "$VMDEV_ROOT/build/vmdev-pages.svg" "$VMDEV_ROOT/docs/vmdev-pages.svg"
timed "docs: demo output into docs/design.md" python3 - "$VMDEV_ROOT/build/vm-demo.log" \
  "$VMDEV_ROOT/docs/design.md" <<'PY'
import re, sys

log, doc = sys.argv[1], sys.argv[2]
# The demo's own lines, from its first to its last: the kernel's carry a timestamp, and the
# picture's lines (picture|) follow the demo.
lines = [l.rstrip() for l in open(log, errors="replace") if not l.startswith(("[", "picture|"))]
first = next((i for i, l in enumerate(lines) if l.startswith("vmdev-demo: one byte")), None)
last = next((i for i, l in enumerate(lines) if l == "vmdev-demo: every check passed"), None)
if first is None or last is None:
    sys.exit(f"update-docs: no whole demo run in {log}")
lines = lines[first:last + 1]

# NAME: the demo's section whose "== " heading matches the pattern, up to the next heading; or
# (a list) the first line matching each pattern.
blocks = {
    "remap": r"^== /dev/vmdev-remap",
    "huge": r"^== /dev/vmdev-huge",
    "fault": r"^== /dev/vmdev-fault",
    "fork": r"^== fork",
    "cow": r"^== copy-on-write",
    "folio": r"^== /dev/vmdev-folio",
    "gup": r"^== get_user_pages\(\)",
    "folio_split": r"^== mprotect\(PROT_READ\) of the folio",
    "maps": [r"^maps: +(\w+-\w+ .*/dev/vmdev-remap)$"],
    "mm": r"^== this process's mm_struct",
    "threads": r"^== mm_users",
    "tree": r"^== the VMA tree",
    "heap": r"^== the heap",
    "swap": r"^== swap",
    "branches": r"^== the fault handler's branch",
}

def pick(name):
    spec = blocks[name]
    if isinstance(spec, str):
        at = next((i for i, l in enumerate(lines) if re.search(spec, l)), None)
        if at is None:
            sys.exit(f"update-docs: no demo section matches {spec!r} (block {name}) in {log}")
        end = next((i for i in range(at + 1, len(lines)) if lines[i].startswith(("== ", "vmdev-demo:"))), len(lines))
        return lines[at:end]
    out = []
    for pattern in spec:
        match = next((m for m in map(re.compile(pattern).search, lines) if m), None)
        if match is None:
            sys.exit(f"update-docs: no demo line matches {pattern!r} (block {name}) in {log}")
        out.append(match.group(1) if match.re.groups else match.string)
    return out

text = open(doc).read()
def fill(m):
    return f"<!-- demo:{m.group(1)} -->\n```\n" + "\n".join(pick(m.group(1))) + "\n```\n<!-- /demo -->"
new, count = re.subn(r"<!-- demo:(\w+) -->\n```\n.*?\n```\n<!-- /demo -->", fill, text, flags=re.S)
if count != len(blocks):
    sys.exit(f"update-docs: {doc} has {count} demo blocks, expected {len(blocks)}")
open(doc, "w").write(new)
PY
