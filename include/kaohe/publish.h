/*
 * publish — the files the district publishes, in kaohe.export_dir: for
 * each plan year, in YEAR/, each snapshot's PERIOD.html, PERIOD.csv and
 * PERIOD.json, index.html, and the calendar feeds all.ics and UNIT.ics;
 * and index.html across the years.  Each file is written beside
 * its place and renamed into it, so a reader never sees half a file, and
 * only when its text changed: a publication that changed nothing writes
 * nothing.  A unit's feed that is all.ics is a hard link to it.
 */
#ifndef KAOHE_PUBLISH_H
#define KAOHE_PUBLISH_H

/*
 * The exit status of `kaohed publish --fingerprint` when the configuration
 * files changed since the daemon loaded them: nothing written, and its
 * one line says why (the daemon logs no failure besides).
 */
#define PUBLISH_EXIT_STALE 3

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kaohe/engine.h"
#include "kaohe/plan.h"
#include "kaohe/store.h"
#include "kaohe/util.h"

enum publish_format { PUBLISH_HTML, PUBLISH_CSV, PUBLISH_JSON };
/* "html", "csv", "json" and back (-1: unknown). */
const char *publish_format_name(enum publish_format f);
int publish_format_find(const char *s);

/*
 * PERIOD ("2020-Q3") in format F, appended to OUT: from its snapshot, or,
 * for a quarter of the plan without one yet, the standing as of NOW,
 * marked provisional.  1 from a snapshot, 0 provisional, -1 with a
 * message in ERR (an unknown period, a database error).
 */
int publish_render(struct store *st, const struct plan *p, struct engine *eng, const char *period,
		   enum publish_format f, int64_t now, struct sbuf *out, char *err, size_t errlen);

/*
 * Write into DIR (created if missing): with PAGES, every snapshot's three
 * files and index.html; with FEEDS, all.ics and every unit's feed, or
 * only all.ics and the feed of unit FEED_UNIT when it is not -1 (after a
 * move of that unit's schedule alone).  A file whose text is there
 * already (a feed's DTSTAMP aside) is left as it is.  0, or -1 with a
 * message in ERR (what was written stays, each file whole).
 */
int publish_write(const char *dir, struct store *st, const struct plan *p, struct engine *eng,
		  int64_t now, bool pages, bool feeds, int feed_unit, char *err, size_t errlen);

/*
 * Write DIR/index.html (DIR created if missing): the index across the
 * plan years of PLANS (N of them), linking each year's YEAR/index.html.
 * Left as it is when its text is there already.  0, or -1 with ERR.
 */
int publish_index(const char *dir, const struct plan *const *plans, size_t n, char *err,
		  size_t errlen);
/*
 * Where plan year YEAR is published under export_dir DIR: "DIR/YEAR"
 * (free it), with DIR created if missing; NULL with a message in ERR.
 */
char *publish_year_dir(const char *dir, int year, char *err, size_t errlen);

#endif
