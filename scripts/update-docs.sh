#!/usr/bin/env bash
# update-docs.sh: runs the demo in the test VM (as `make run` does) and writes what it printed
# into the marked blocks of docs/design.md, so that the quoted output is always a real run's.
# A block is `<!-- demo:NAME -->`, a fenced block, `<!-- /demo -->`; NAME picks its lines below.
set -euo pipefail
source "$(dirname "$0")/common.sh"

"$VMDEV_ROOT/scripts/run-vm.sh" demo >/dev/null
timed "docs: demo output into docs/design.md" python3 - "$VMDEV_ROOT/build/vm-demo.log" \
  "$VMDEV_ROOT/docs/design.md" <<'PY'
import re, sys

log, doc = sys.argv[1], sys.argv[2]
# The demo's own lines: the kernel's carry a timestamp.
lines = [l.rstrip() for l in open(log, errors="replace") if not l.startswith("[")]

# NAME: the first line matching each pattern, with what the pattern's group 1 does not cover
# cut off when it has one.
blocks = {
    "maps": [r"^parent before touching: remap: (\w+-\w+ .*)$"],
    "remap": [r"^parent after writing page 0: remap: ", r"^parent after writing page 0: remap:   Rss",
              r"^child: remap: reads"],
    "huge": [r"^parent after writing page 0: huge: \w+-", r"^/dev/vmdev-huge: live_vmas"],
    "fault": [r"^parent before touching: fault: \w+-", r"^parent before touching: fault:   Rss",
              r"^parent after writing page 0: fault:   Rss", r"^/dev/vmdev-fault: live_vmas"],
}

def pick(name):
    out = []
    for pattern in blocks[name]:
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
