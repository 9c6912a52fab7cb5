#!/usr/bin/python3
"""Generate a benchmark plan: the 2020 plan's rows with N units, and a year
of random submissions, findings and metrics for them.

usage: gen_plan.py OUTDIR UNITS [SEED]

Writes OUTDIR/kaohe.conf (the shipped settings with the generated plan),
OUTDIR/plan.conf and OUTDIR/events.txt.  Deterministic for a given seed.
"""
import os
import random
import re
import sys
from datetime import datetime, timedelta, timezone

TZ = timezone(timedelta(hours=8))
HERE = os.path.dirname(os.path.abspath(__file__))
CONFIG = os.path.join(HERE, "..", "..", "config")

# Deadline occurrences of the 2020 plan (row, due days) and the kinds that
# departments record; kept in step with config/plan-2020.conf by the
# check in main() below.
DEADLINES = {
    "1": ["09-15"], "2a": ["06-15"], "2b": ["09-15"], "2c": ["12-10"],
    "4": ["06-20", "09-20", "12-20"], "5": ["06-20", "09-20", "12-20"],
    "6a": ["06-15"], "6b": ["12-10"], "7a": ["05-07"],
    "7b": ["05-22", "06-22"], "7c": ["07-22", "08-22", "09-22"],
    "7d": ["10-22", "11-22", "12-10"], "8": ["12-10"], "14": ["05-15"],
    "15": ["10-15"], "16a": ["05-06"], "16b": ["09-15"], "16c": ["11-30"],
    "17a": ["06-15"], "17b": ["12-15"],
}
KINDS = [("2c", "expired-committee"), ("3", "no-handover-guidance"),
         ("4", "patrol-frequency"), ("5", "unsigned"), ("6c", "pushback"),
         ("6c", "resolved"), ("7a", "ledger"), ("9", "area-delineation"),
         ("10", "street-evaluation"), ("11", "no-publicity"),
         ("12", "no-community-specialist"), ("13", "commendation"),
         ("15", "unfinished-building"), ("16c", "unentered-record"),
         ("18", "civilization-criticism")]
METRICS = [("3", "dissatisfaction"), ("13", "satisfaction"), ("13", "fee-rate")]


def stamp(t):
    return t.isoformat()


def main():
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    out, n = sys.argv[1], int(sys.argv[2])
    rnd = random.Random(int(sys.argv[3]) if len(sys.argv) > 3 else 2020)
    os.makedirs(out, exist_ok=True)

    plan = open(os.path.join(CONFIG, "plan-2020.conf"), encoding="utf-8").read()
    for row, kind in KINDS:
        if f'kind = "{kind}"' not in plan:
            sys.exit(f"gen_plan.py: kind {kind} of row {row} is no longer in the plan")
    units = ",\n".join(
        f'    {{ id = "u{i:05d}"; name = "单位{i:05d}";'
        f' liaisons = ( {{ name = "联络员"; email = "liaison@u{i:05d}.example.org"; }} );'
        f' leader = {{ name = "分管副主任"; email = "leader@u{i:05d}.example.org"; }}; }}'
        for i in range(1, n + 1))
    plan, k = re.subn(r"units = \(.*?\n  \);", "units = (\n" + units + "\n  );",
                      plan, count=1, flags=re.S)
    if k != 1:
        sys.exit("gen_plan.py: cannot find the units list in plan-2020.conf")
    with open(os.path.join(out, "plan.conf"), "w", encoding="utf-8") as f:
        f.write(plan)
    conf = open(os.path.join(CONFIG, "kaohe.conf"), encoding="utf-8").read()
    conf = re.sub(r"units = \{.*?\n  \};", "units = { };", conf, count=1, flags=re.S)
    conf = conf.replace('@include "plan-2020.conf"', '@include "plan.conf"')
    with open(os.path.join(out, "kaohe.conf"), "w", encoding="utf-8") as f:
        f.write(conf)
    # the plan's working-day calendar is looked up beside the configuration
    cal = os.path.join(out, "calendars")
    if not os.path.lexists(cal):
        os.symlink(os.path.abspath(os.path.join(CONFIG, "calendars")), cal)

    start = datetime(2020, 5, 1, tzinfo=TZ)
    end = datetime(2020, 12, 31, 23, 59, tzinfo=TZ)
    span = int((end - start).total_seconds())
    events = []
    for i in range(1, n + 1):
        u = f"u{i:05d}"
        for row, dues in DEADLINES.items():
            for due in dues:
                occ = row if len(dues) == 1 else f"{row}@2020-{due}"
                r = rnd.random()
                if r < 0.08:
                    continue  # never submitted: missing at close
                d = datetime(2020, int(due[:2]), int(due[3:]), tzinfo=TZ)
                # most on time, some late
                off = rnd.randint(-20 * 86400, 0) if r < 0.85 else rnd.randint(1, 8 * 86400)
                t = max(start, min(end, d + timedelta(seconds=off + 86399)))
                events.append((t, f"submit {u} {occ}"))
        for _ in range(8):
            row, kind = KINDS[rnd.randrange(len(KINDS))]
            t = start + timedelta(seconds=rnd.randrange(span))
            events.append((t, f"record {u} {row} {kind} {rnd.randint(1, 3)}"))
        for row, metric in METRICS:
            t = start + timedelta(seconds=rnd.randrange(span))
            events.append((t, f"metric {u} {row} {metric} {rnd.randint(5000, 9999) / 100}"))
    events.sort(key=lambda e: e[0])
    with open(os.path.join(out, "events.txt"), "w", encoding="utf-8") as f:
        for t, cmd in events:
            f.write(f"{stamp(t)} {cmd}\n")
    print(f"{n} units, {len(events)} events in {out}")


if __name__ == "__main__":
    main()
