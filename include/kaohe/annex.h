/*
 * annex — the published form of one period's standing: the seed's annex
 * table (考核标准) filled in with every unit's score, as a self-contained
 * HTML page (no script, no external asset; readable on a phone, printable
 * on A4 landscape) and as CSV for Excel; and the index page that lists
 * every published period.  Pure: text in, text out.  Periods and
 * instants are read as they are given ("2020-Q3", ISO-8601 in the plan's
 * zone) and shown as readers say them ("2020年第三季度", "2020年12月10日
 * 09:00"); nothing else on a page changes from one publication to the
 * next unless the standing does.
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
	const struct score_table *t; /* the standing: rows, categories, totals, ranks */
	/*
	 * Why points were lost, per [unit * nrows + row]: one line per
	 * ledger entry ("2020年12月11日 逾期报送 -1分"), or NULL when
	 * nothing was lost.  Shown as the cell's hover title and, for print,
	 * as numbered footnotes, one per row and reasons (cells of a row
	 * with the same reasons share theirs).
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
 * each unit's total per period, then the annex table as the seed prints
 * it: number (序号), category, department, content, time node, work
 * standard (工作标准), scoring (评分办法), max, and one column per unit
 * with its score.  The long texts are collapsed (<details>) on screen
 * and whole in print; on a narrow screen 序号 and 考核内容 stay in view
 * while the units' columns scroll.  Every value HTML-escaped.  Appended
 * to OUT.
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
	const char *as_of;   /* ISO-8601: the period's end, which its snapshot is of */
	const char *first;   /* the first top-ranked unit's name */
	int nfirst;          /* how many share the first rank */
	int64_t first_total; /* hundredths */
};

/*
 * index.html: the plan's title and one line per period, newest first,
 * linking PERIOD.html, PERIOD.csv and PERIOD.json, with the period's
 * end and its first (a tie named as such), and the list of calendar
 * feeds (all.ics and each unit's UNIT.ics).  Appended to OUT.
 */
void annex_index_html(const struct plan *p, const struct annex_entry *e, size_t n,
		      struct sbuf *out);

/*
 * The index across plan years (export_dir/index.html): one line per plan
 * of PLANS (N of them), newest year first, linking YEAR/index.html, with
 * the plan's title and document number, and what a re-dated plan is run
 * as.  Appended to OUT.
 */
void annex_years_html(const struct plan *const *plans, size_t n, struct sbuf *out);

#endif
