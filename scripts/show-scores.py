#!/usr/bin/python3
"""Print a simulate `scores` (or `snapshot`) JSON line as a table, its
columns aligned by display width: a Chinese character takes two columns
(East Asian Wide or Fullwidth), a combining mark none."""
import json
import sys
import unicodedata


def width(s):
    return sum(0 if unicodedata.combining(c) else
               2 if unicodedata.east_asian_width(c) in ("W", "F") else 1 for c in s)


def cell(s, n, right):
    space = " " * max(0, n - width(s))
    return space + s if right else s + space


obj = json.loads(sys.stdin.readline())
units = sorted(obj["units"], key=lambda u: (u["rank"], u["unit"]))
head = ("rank", "unit", "名称", "total", "basic", "key")
right = (False, False, False, True, True, True)
rows = [tuple(str(u[k]) for k in ("rank", "unit", "name", "total", "basic", "key"))
        for u in units]
widths = [max(width(r[i]) for r in rows + [head]) for i in range(len(head))]
print(f"as of {obj['at']}")
for r in [head] + rows:
    print("  ".join(cell(r[i], widths[i], right[i]) for i in range(len(r))).rstrip())
