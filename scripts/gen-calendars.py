#!/usr/bin/python3
"""Write config/calendars/YYYY.conf, the official working-day calendar of each year.

Usage:
    /usr/bin/python3 scripts/gen-calendars.py [--from PATH] [--version V]
                                              [--years 2020-2026] [--out DIR]

--years takes YYYY, YYYY-YYYY or a comma-separated list of them; by default
2020 to the last year of NOTICES.

The data are those of the npm package chinese-days (MIT licence): its
dist/chinese-days.json maps "YYYY-MM-DD" to "English name,中文名,N" in
`holidays` (days off) and `workdays` (weekend days worked, 调休上班); its
`inLieuDays` are weekdays already among the holidays and are not needed.

--from names an unpacked package (its directory, or the directory holding
package/), the .tgz that `npm pack` makes, or the bare chinese-days.json.
Without it, `npm pack chinese-days@VERSION` fetches the package into a
temporary directory.  When the package's src/holidays/generate.ts is at hand,
the notice URLs and numbers of NOTICES are checked against its comments.

Every year's file is made in memory and checked before any is written; a year
the data set does not cover, or whose notices NOTICES does not record, is
refused.  The output depends on the data and the version only: running the
script twice writes identical files.  Standard library only.
"""

import argparse
import collections
import datetime as dt
import json
import os
import re
import subprocess
import sys
import tarfile
import tempfile

PACKAGE = "chinese-days"
DEFAULT_VERSION = "1.5.7"
DATA = "dist/chinese-days.json"
GENERATE_TS = "src/holidays/generate.ts"
DEFAULT_OUT = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                           "config", "calendars")

Notice = collections.namedtuple("Notice", "number title url")

# The State Council General Office's notices, by the year whose holidays they
# arrange.  The URLs are those in the comments of the package's
# src/holidays/generate.ts (checked when it is at hand); a new year's notice
# goes here before its calendar can be generated.
NOTICES = {
    2020: (Notice("国办发明电〔2019〕16号", "国务院办公厅关于2020年部分节假日安排的通知",
                  "http://www.gov.cn/zhengce/content/2019-11/21/content_5454164.htm"),
           Notice("国办发明电〔2020〕1号", "国务院办公厅关于延长2020年春节假期的通知",
                  "http://www.gov.cn/zhengce/content/2020-01/27/content_5472352.htm")),
    2021: (Notice("国办发明电〔2020〕27号", "国务院办公厅关于2021年部分节假日安排的通知",
                  "http://www.gov.cn/zhengce/content/2020-11/25/content_5564127.htm"),),
    2022: (Notice("国办发明电〔2021〕11号", "国务院办公厅关于2022年部分节假日安排的通知",
                  "http://www.gov.cn/zhengce/content/2021-10/25/content_5644835.htm"),),
    2023: (Notice("国办发明电〔2022〕16号", "国务院办公厅关于2023年部分节假日安排的通知",
                  "http://www.gov.cn/zhengce/content/2022-12/08/content_5730844.htm"),),
    2024: (Notice("国办发明电〔2023〕7号", "国务院办公厅关于2024年部分节假日安排的通知",
                  "https://www.gov.cn/zhengce/content/202310/content_6911527.htm"),),
    2025: (Notice("国办发明电〔2024〕12号", "国务院办公厅关于2025年部分节假日安排的通知",
                  "https://www.gov.cn/zhengce/zhengceku/202411/content_6986383.htm"),),
    2026: (Notice("国办发明电〔2025〕7号", "国务院办公厅关于2026年部分节假日安排的通知",
                  "https://www.gov.cn/zhengce/zhengceku/202511/content_7047091.htm"),),
}

# The data set's English names, written as the notices name the festivals
# (the data set's own Chinese names shorten some: 清明, 端午, 中秋).
FESTIVALS = {
    "New Year's Day": "元旦",
    "Spring Festival": "春节",
    "Tomb-sweeping Day": "清明节",
    "Labour Day": "劳动节",
    "Dragon Boat Festival": "端午节",
    "Mid-autumn Festival": "中秋节",
    "National Day": "国庆节",
}

# Every year's notice since 2000 gives days off for these (清明节, 端午节 and
# 中秋节 only since 2008, and 中秋节 may be named 国庆节 in the data set when it
# falls in that week); a year lacking one of them in the data set is not covered.
REQUIRED = ("New Year's Day", "Spring Festival", "National Day")

# The years written by default: from the first plan year to the last notice.
DEFAULT_YEARS = "2020-%d" % max(NOTICES)

COMMENT_COLUMN = 32


class Error(Exception):
    pass


Day = collections.namedtuple("Day", "date english chinese")


def notice_year(day):
    """The year of the notice that arranges DAY: a New Year holiday (or its
    make-up day) in December belongs to the next year's notice."""
    if day.english == "New Year's Day" and day.date.month == 12:
        return day.date.year + 1
    return day.date.year


def festival(day):
    return FESTIVALS.get(day.english, day.chinese)


# ------------------------------------------------------------------ input

def parse_map(data, key):
    """DATA[KEY] as a sorted list of Day; Error naming the entry otherwise."""
    m = data.get(key)
    if not isinstance(m, dict):
        raise Error("%s: no `%s` map" % (DATA, key))
    days = []
    for date, value in m.items():
        where = "%s: %s[%r]" % (DATA, key, date)
        try:
            d = dt.date.fromisoformat(date)
        except (TypeError, ValueError):
            raise Error("%s: not a date YYYY-MM-DD" % where) from None
        if d.isoformat() != date:
            raise Error("%s: not a date YYYY-MM-DD" % where)
        parts = value.rsplit(",", 2) if isinstance(value, str) else []
        if len(parts) != 3 or not parts[0] or not parts[1] or not parts[2].isdigit():
            raise Error("%s: %r is not \"English name,中文名,N\"" % (where, value))
        days.append(Day(d, parts[0], parts[1]))
    days.sort()
    return days


def read_tgz(path):
    """(data, package.json text or None, generate.ts text or None) of a tarball."""
    try:
        with tarfile.open(path, "r:gz") as tar:
            def member(name):
                try:
                    f = tar.extractfile("package/" + name)
                except KeyError:
                    return None
                return f.read().decode("utf-8") if f else None
            data = member(DATA)
            if data is None:
                raise Error("%s: no package/%s in it" % (path, DATA))
            return data, member("package.json"), member(GENERATE_TS)
    except (OSError, tarfile.TarError, UnicodeDecodeError) as e:
        raise Error("%s: %s" % (path, e)) from None


def read_text(path):
    try:
        with open(path, encoding="utf-8") as f:
            return f.read()
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as e:
        raise Error("%s: %s" % (path, e)) from None


def read_source(path):
    """(data text, package.json text or None, generate.ts text or None)."""
    if os.path.isdir(path):
        root = path
        if not os.path.exists(os.path.join(root, DATA)) and \
                os.path.exists(os.path.join(root, "package", DATA)):
            root = os.path.join(root, "package")
        data = read_text(os.path.join(root, DATA))
        if data is None:
            raise Error("%s: no %s in it" % (path, DATA))
        return (data, read_text(os.path.join(root, "package.json")),
                read_text(os.path.join(root, GENERATE_TS)))
    if path.endswith((".tgz", ".tar.gz")):
        return read_tgz(path)
    data = read_text(path)
    if data is None:
        raise Error("%s: no such file or directory" % path)
    return data, None, None


def npm_pack(version, tmp):
    """Fetch chinese-days@VERSION with `npm pack` into TMP; the tarball's path."""
    spec = "%s@%s" % (PACKAGE, version)
    try:
        r = subprocess.run(["npm", "pack", "--silent", spec], cwd=tmp,
                           stdin=subprocess.DEVNULL, capture_output=True, text=True)
    except OSError as e:
        raise Error("npm pack %s: %s (or give --from)" % (spec, e)) from None
    if r.returncode != 0:
        raise Error("npm pack %s failed: %s" % (spec, r.stderr.strip() or r.returncode))
    tgz = [f for f in os.listdir(tmp) if f.endswith(".tgz")]
    if len(tgz) != 1:
        raise Error("npm pack %s: expected one tarball, found %s" % (spec, tgz))
    return os.path.join(tmp, tgz[0])


def load(args):
    """(holidays, workdays, version, generate.ts text or None)."""
    if args.source:
        data, pkg, gen = read_source(args.source)
        origin = args.source
    else:
        with tempfile.TemporaryDirectory(prefix="gen-calendars.") as tmp:
            data, pkg, gen = read_tgz(npm_pack(args.version or DEFAULT_VERSION, tmp))
        origin = "npm pack"
    if pkg is not None:
        try:
            meta = json.loads(pkg)
            name, version = meta["name"], meta["version"]
        except (ValueError, KeyError, TypeError) as e:
            raise Error("%s: package.json: %s" % (origin, e)) from None
        if name != PACKAGE:
            raise Error("%s: package %r, not %r" % (origin, name, PACKAGE))
        if args.version and args.version != version:
            raise Error("%s: package version %s, not the --version %s"
                        % (origin, version, args.version))
    else:
        version = args.version or DEFAULT_VERSION
        print("gen-calendars: %s has no package.json: taken as %s %s"
              % (origin, PACKAGE, version), file=sys.stderr)
    if gen is None:
        print("gen-calendars: %s has no %s: notices not checked against it"
              % (origin, GENERATE_TS), file=sys.stderr)
    try:
        obj = json.loads(data)
    except ValueError as e:
        raise Error("%s: %s: %s" % (origin, DATA, e)) from None
    if not isinstance(obj, dict):
        raise Error("%s: %s is not a JSON object" % (origin, DATA))
    return parse_map(obj, "holidays"), parse_map(obj, "workdays"), version, gen


# ------------------------------------------------------------- checking

def covered_years(holidays):
    seen = collections.defaultdict(set)
    for day in holidays:
        seen[notice_year(day)].add(day.english)
    return sorted(y for y, names in seen.items() if all(n in names for n in REQUIRED))


def span(years):
    if years and years == list(range(years[0], years[-1] + 1)):
        return "%d-%d" % (years[0], years[-1])
    return ", ".join(map(str, years)) or "no year"


def comment_blocks(ts):
    """generate.ts's /** ... */ comments that begin with a year, by year."""
    blocks = {}
    for m in re.finditer(r"/\*\*(.*?)\*/", ts, re.S):
        lines = [re.sub(r"^\s*\*\s?", "", l).strip() for l in m.group(1).splitlines()]
        lines = [l for l in lines if l]
        if lines and re.fullmatch(r"\d{4}", lines[0]):
            blocks[int(lines[0])] = "\n".join(lines[1:])
    return blocks


def check_notices(year, ts):
    """The URLs and notice numbers that generate.ts gives for YEAR are those
    of NOTICES[YEAR]."""
    block = comment_blocks(ts).get(year)
    if block is None:
        raise Error("%s: no comment for %d: check NOTICES[%d] by hand"
                    % (GENERATE_TS, year, year))
    ours = NOTICES[year]
    urls = re.findall(r"https?://\S+", block)
    numbers = re.findall(r"国办发明电〔\d{4}〕\d+号", block)
    for u in urls:
        if u not in [n.url for n in ours]:
            raise Error("%s names %s for %d, which NOTICES[%d] lacks"
                        % (GENERATE_TS, u, year, year))
    for n in ours:
        if n.url not in urls:
            raise Error("NOTICES[%d] names %s, which %s does not give for %d"
                        % (year, n.url, GENERATE_TS, year))
    for num in numbers:
        if num not in [n.number for n in ours]:
            raise Error("%s names %s for %d, which NOTICES[%d] lacks"
                        % (GENERATE_TS, num, year, year))


def check_year(year, hols, works):
    hol_dates = {d.date for d in hols}
    for d in works:
        if d.date in hol_dates:
            raise Error("%s is both a holiday and a workday in the data set" % d.date)
        if d.date.weekday() < 5:
            raise Error("workday %s (%s) is not a Saturday or Sunday"
                        % (d.date, d.date.strftime("%A")))


# ---------------------------------------------------------------- output

def holiday_runs(hols):
    """Runs of consecutive days off of one notice: [(first, last, [names])]."""
    runs = []
    for day in hols:
        name = festival(day)
        if runs and runs[-1][1] + dt.timedelta(days=1) == day.date and \
                runs[-1][3] == notice_year(day):
            first, _, names, ny = runs[-1]
            runs[-1] = (first, day.date, names + [name] * (name not in names), ny)
        else:
            runs.append((day.date, day.date, [name], notice_year(day)))
    return runs


def entry_lines(items):
    """ITEMS as (text, comment): the array's lines, the comments aligned."""
    lines = []
    for i, (text, comment) in enumerate(items):
        item = '"%s"%s' % (text, "," if i < len(items) - 1 else "")
        lines.append(("    %s" % item).ljust(COMMENT_COLUMN) + "# " + comment)
    return lines


def label(names, ny, year):
    s = "、".join(names)
    if ny != year:
        s = "%d年%s (%s)" % (ny, s, NOTICES[ny][0].number)
    return s


def render(year, hols, works, version):
    nys = sorted({notice_year(d) for d in hols + works} | {year})
    notices = [n for ny in nys for n in NOTICES[ny]]
    out = ["# %d: the official working-day calendar of the People's Republic of China." % year,
           "# Generated by scripts/gen-calendars.py from %s %s (npm, MIT" % (PACKAGE, version),
           "# licence), %s; do not edit by hand." % DATA,
           "# Notices:"]
    for n in notices:
        out += ["#   %s %s" % (n.title, n.number), "#   %s" % n.url]
    out += ["calendar: {",
            "  year = %d;" % year,
            '  source = "%s %s";' % (PACKAGE, version),
            "  notices = [ %s ];" % ", ".join('"%s"' % n.number for n in notices),
            "  # days off: single days or inclusive ranges of full dates"]
    runs = [(a.isoformat() if a == b else "%s..%s" % (a, b), label(names, ny, year))
            for a, b, names, ny in holiday_runs(hols)]
    out += ["  holidays = [", *entry_lines(runs), "  ];"] if runs else ["  holidays = [ ];"]
    out.append("  # weekend days that are worked (调休上班)")
    days = [(d.date.isoformat(), label([festival(d)], notice_year(d), year)) for d in works]
    out += ["  workdays = [", *entry_lines(days), "  ];"] if days else ["  workdays = [ ];"]
    out.append("};")
    return "\n".join(out) + "\n"


def parse_years(text):
    years = set()
    for part in text.split(","):
        m = re.fullmatch(r"\s*(\d{4})\s*(?:-\s*(\d{4})\s*)?", part)
        if not m:
            raise Error("--years %r: expected YYYY, YYYY-YYYY or a comma-separated list"
                        % text)
        a, b = int(m.group(1)), int(m.group(2) or m.group(1))
        if b < a:
            raise Error("--years %r: %d-%d is reversed" % (text, a, b))
        years.update(range(a, b + 1))
    return sorted(years)


def write(path, text):
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8", newline="\n") as f:
        f.write(text)
    os.replace(tmp, path)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--from", dest="source", metavar="PATH",
                    help="unpacked package, its .tgz or chinese-days.json "
                         "(default: npm pack %s@VERSION)" % PACKAGE)
    ap.add_argument("--version", help="the package version to fetch (default %s); "
                    "with --from, the version the data are of" % DEFAULT_VERSION)
    ap.add_argument("--years", default=DEFAULT_YEARS, help="default %s" % DEFAULT_YEARS)
    ap.add_argument("--out", default=DEFAULT_OUT, help="default config/calendars")
    args = ap.parse_args()
    try:
        years = parse_years(args.years)
        holidays, workdays, version, ts = load(args)
        covered = covered_years(holidays)
        files = []
        for year in years:
            if year not in covered:
                raise Error("%s %s does not cover %d (it covers %s)"
                            % (PACKAGE, version, year, span(covered)))
            hols = [d for d in holidays if d.date.year == year]
            works = [d for d in workdays if d.date.year == year]
            for ny in sorted({notice_year(d) for d in hols + works} | {year}):
                if ny not in NOTICES:
                    raise Error("no notice for %d in NOTICES of %s: add its number, "
                                "title and URL" % (ny, sys.argv[0]))
                if ts is not None:
                    check_notices(ny, ts)
            check_year(year, hols, works)
            files.append(("%d.conf" % year, render(year, hols, works, version)))
        os.makedirs(args.out, exist_ok=True)
        for name, text in files:
            write(os.path.join(args.out, name), text)
            print("wrote %s" % os.path.join(args.out, name))
    except (Error, OSError) as e:
        print("gen-calendars: %s" % e, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
