#!/usr/bin/env python3
"""Checks that a shared library exports exactly the symbols its version script lists, and that
the version script lists exactly the functions its public header declares (with the API macro).

    export_check.py LIB VERSION_SCRIPT [HEADER]
"""
import re
import subprocess
import sys

lib, mapfile = sys.argv[1], sys.argv[2]
header = sys.argv[3] if len(sys.argv) > 3 else None
text = re.sub(r"/\*.*?\*/", "", open(mapfile).read(), flags=re.S)
glob = text.split("global:")[1].split("local:")[0]
want = {s.strip() for s in glob.split(";") if s.strip()}
out = subprocess.run(["nm", "-D", "--defined-only", lib], capture_output=True, text=True,
                     check=True).stdout
have = set()
for line in out.splitlines():
    parts = line.split()
    if len(parts) >= 3 and parts[1] in "TDBRVWi" and not parts[2].startswith("DRIFTQ_") \
            and not parts[2].startswith("QDRANT_"):
        have.add(parts[2].split("@")[0])
missing = sorted(want - have)
extra = sorted(have - want)
# The header's declarations: every DRIFTQ_API / QDRANT_API function, by name.
undeclared = unlisted = []
if header:
    htext = re.sub(r"/\*.*?\*/", "", open(header).read(), flags=re.S)
    htext = re.sub(r"#define[^\n]*(\\\n[^\n]*)*", "", htext)
    declared = set()
    for decl in re.findall(r"\b(?:DRIFTQ|QDRANT)_API\b([^;{]*?)\(", htext):
        m = re.search(r"(\w+)\s*$", decl)
        if m:
            declared.add(m.group(1))
    undeclared = sorted(want - declared)
    unlisted = sorted(declared - want)
    for s in unlisted:
        print(f"declared in {header} but not in {mapfile}: {s}")
    for s in undeclared:
        print(f"listed in {mapfile} but not declared in {header}: {s}")
for s in missing:
    print(f"listed in {mapfile} but not exported: {s}")
for s in extra:
    print(f"exported but not listed in {mapfile}: {s}")
# The library never prints, exits or aborts: it must not even import such a function.
FORBIDDEN = {"printf", "fprintf", "vprintf", "vfprintf", "puts", "fputs", "putchar", "perror",
             "abort", "exit", "_exit", "_Exit", "quick_exit", "__assert_fail", "stdout",
             "stderr", "__printf_chk", "__fprintf_chk", "__vfprintf_chk", "syslog"}
und = subprocess.run(["nm", "-D", "--undefined-only", lib], capture_output=True, text=True,
                     check=True).stdout
bad = sorted({ln.split()[-1].split("@")[0] for ln in und.splitlines() if ln.strip()} & FORBIDDEN)
for s in bad:
    print(f"{lib} imports {s}: library code must not print, exit or abort")
if missing or extra or bad or undeclared or unlisted:
    sys.exit(1)
print(f"{lib}: {len(have)} symbols, exactly the version script's"
      + (f" and the header's" if header else ""))
