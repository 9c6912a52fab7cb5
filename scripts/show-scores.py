#!/usr/bin/python3
"""Print a simulate `scores` (or `snapshot`) JSON line as a table."""
import json
import sys
import unicodedata


def width(s):
    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in s)


def pad(s, n):
    return s + " " * (n - width(s))


obj = json.loads(sys.stdin.readline())
units = sorted(obj["units"], key=lambda u: (u["rank"], u["unit"]))
print(f"as of {obj['at']}")
print(f"{pad('rank', 5)} {pad('unit', 18)} {pad('名称', 10)} {'total':>7} {'basic':>7} {'key':>7}")
for u in units:
    print(f"{pad(str(u['rank']), 5)} {pad(u['unit'], 18)} {pad(u['name'], 10)} "
          f"{u['total']:>7} {u['basic']:>7} {u['key']:>7}")
