/*
 * annex — the published form of one period's standing: the seed's annex
 * table (考核标准) filled in with every unit's score, as a self-contained
 * HTML page (no script, no external asset; readable on a phone, printable
 * on A4 landscape) and as CSV for Excel; and the index page that lists
 * every published period.  Pure: text in, text out.
 */
#ifndef KAOHE_ANNEX_H
#define KAOHE_ANNEX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kaohe/plan.h"
#include "kaohe/score.h"
#include "kaohe/util.h"

/* What one period's publication shows. */
struct annex_input {
	const struct plan *plan;
	const char *period;          /* "2020-Q3" */
	bool provisional;            /* the current standing, not a snapshot taken */
	const char *as_of;           /* ISO-8601 instant the standing is as of */
	const char *generated;       /* ISO-8601 instant the page was made */
	const struct score_table *t; /* the standing: rows, categories, totals, ranks */
	/*
	 * Why points were lost, per [unit * nrows + row]: one line per
	 * ledger entry ("2020-12-11 逾期报送 -0.5（2c）"), or NULL when
	 * nothing was lost.  Shown as the cell's hover title and, for print,
	 * as numbered footnotes.
	 */
	const char *const *lost;
	/* The bar chart: each unit's total per published period so far. */
	size_t nperiods;
	const char *const *periods; /* names, in time order (this one last) */
	const int64_t *totals;      /* [period * nunits + unit], hundredths */
};

/*
 * The HTML page: title, the ranking (rank, unit, total, basic, key —
 * one column per category, in plan order), an inline SVG bar chart of
 * each unit's total per period, then the annex table: number (序号),
 * category, department, content, time node, max, and one column per
 * unit with its score.  Every value HTML-escaped.  Appended to OUT.
 */
void annex_html(const struct annex_input *in, struct sbuf *out);

/*
 * The CSV: UTF-8 with a BOM, CRLF line ends, RFC 4180 quoting; a header
 * row, then the annex table's rows with the same columns as the HTML
 * table, then a total line per category and the overall total and rank.
 * Appended to OUT.
 */
void annex_csv(const struct annex_input *in, struct sbuf *out);

/* One published period for the index. */
struct annex_entry {
	const char *period;
	const char *taken_at; /* ISO-8601, or NULL when provisional */
	const char *first;    /* the top-ranked unit's name */
	int64_t first_total;  /* hundredths */
};

/*
 * index.html: the plan's title and one line per period, newest first,
 * linking PERIOD.html, PERIOD.csv and PERIOD.json, and the calendar
 * feeds (all.ics and each unit's UNIT.ics).  Appended to OUT.
 */
void annex_index_html(const struct plan *p, const struct annex_entry *e, size_t n,
		      const char *generated, struct sbuf *out);

#endif
