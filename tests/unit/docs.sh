#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# tests/unit/docs.sh - Documentation/ is well-formed reStructuredText, and
# no tracked text file holds a merge's conflict markers.
#
# Every Documentation/**/*.rst is parsed by docutils (python3-docutils); a
# warning or error (a title underline too short, an emphasis left open, a
# broken table) fails. A line "<<<<<<< ", ">>>>>>> " or a bare "=======" that
# does not underline a title of seven characters fails too: a merge left
# it (docutils takes a bare "=======" for a transition and says nothing).
#
# Prints "ok FILE" or "FAIL FILE" lines; exits 1 on a failure.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
cd "$ROOT"
python3 -c 'import docutils' 2>/dev/null || { echo "docs: python3-docutils is missing (scripts/setup)"; exit 77; }

python3 - <<'PY'
import io
import pathlib
import subprocess
import sys

import docutils.core
import docutils.utils

fail = 0
for path in sorted(pathlib.Path("Documentation").rglob("*.rst")):
    err = io.StringIO()
    try:
        docutils.core.publish_doctree(
            path.read_text(), source_path=str(path),
            settings_overrides={"warning_stream": err, "report_level": 2,
                                "halt_level": 5, "file_insertion_enabled": False})
    except docutils.utils.SystemMessage as e:
        err.write(str(e))
    if err.getvalue():
        fail += 1
        print(f"FAIL {path}")
        print("    " + err.getvalue().strip().replace("\n", "\n    "))
    else:
        print(f"ok {path}")

files = subprocess.run(["git", "ls-files", "-z"], capture_output=True,
                       check=False).stdout.split(b"\0")
bad = []
for name in filter(None, files):
    try:
        lines = pathlib.Path(name.decode()).read_text().split("\n")
    except (UnicodeDecodeError, OSError):
        continue
    for i, line in enumerate(lines):
        marker = line.startswith(("<<<<<<< ", ">>>>>>> "))
        if line == "=======":
            # a title of seven characters is underlined so
            marker = not (i and len(lines[i - 1]) == 7 and lines[i - 1].strip())
        if marker:
            bad.append(f"{name.decode()}:{i + 1}: {line}")
if bad:
    fail += 1
    print("FAIL conflict markers left by a merge:")
    print("    " + "\n    ".join(bad))
else:
    print("ok no conflict markers")
sys.exit(1 if fail else 0)
PY
