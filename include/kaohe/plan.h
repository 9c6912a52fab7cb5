/*
 * plan — the immutable model of an assessment plan: units, departments,
 * categories, metrics, rows with their rules, and every occurrence of
 * every row's time nodes.  Built once per (re)load by config; read-only
 * afterwards, so the engine and the commands may share it freely.
 */
#ifndef KAOHE_PLAN_H
#define KAOHE_PLAN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kaohe/calendar.h"
#include "kaohe/util.h"

struct contact {
	char *name;
	char *email;  /* may be NULL */
	char *mobile; /* may be NULL */
};

struct plan_unit {
	char *id, *name;
	struct contact *liaisons;
	size_t nliaisons;
	struct contact leader;
};

struct plan_dept {
	char *id, *name;
	struct contact office;
};

struct plan_category {
	char *id, *name;
	int64_t max; /* hundredths */
};

struct plan_metric {
	char *id, *name, *unit;
};

/* A counted finding (deduction) or award (addition) of one row. */
struct plan_kind {
	char *id, *name;
	bool award;
	int64_t per; /* hundredths per count, > 0 */
	int64_t cap; /* hundredths, or -1 for none */
	int bucket;  /* index into a unit's score accumulator */
};

struct plan_condition {
	int metric;
	int64_t min; /* ten-thousandths */
};

struct plan_threshold {
	int64_t points;
	struct plan_condition *any;
	size_t nany;
};

struct plan_ranking {
	int metric;
	bool highest_worst;
	int64_t *points; /* by position, worst first */
	size_t npoints;
};

enum occ_type { OCC_DEADLINE, OCC_RECORD };

struct plan_occ {
	char name[40]; /* "2c", "7d@2020-12-10" */
	int row;
	enum occ_type type;
	struct schedule sched; /* as planned, before any move */
};

struct plan_row {
	char *id, *seq, *annex_category;
	int category, dept;
	int64_t max;
	bool earn;
	char *content, *time_node, *standard, *scoring;
	char *submit; /* the 工作标准 in short: what a reminder asks for ("" if not given) */
	/* deadline rule */
	bool has_deadline;
	int64_t late, missing;
	struct plan_kind *kinds; /* findings then awards */
	size_t nkinds;
	struct plan_threshold *thresholds;
	size_t nthresholds;
	struct plan_ranking *ranking; /* or NULL */
	size_t occ_first, nocc;       /* the row's occurrences */
	int bucket;                   /* its uncounted bucket (deadlines, thresholds, ranking) */
	int line;                     /* where the config defines it */
};

struct plan {
	char *title, *document;
	char *timezone;
	int year;
	/*
	 * plan.year as the file writes it: another than YEAR when the plan
	 * is run for another year (kaohed --year), which its pages say.
	 */
	int written_year;
	char *file;         /* the file the plan group stands in */
	int64_t track_from; /* 00:00 of plan.track_from, or INT64_MIN when not given */
	int64_t total;
	struct calendar cal;
	struct plan_unit *units;
	size_t nunits;
	struct plan_dept *depts;
	size_t ndepts;
	struct plan_category *cats;
	size_t ncats;
	struct plan_metric *metrics;
	size_t nmetrics;
	struct plan_row *rows;
	size_t nrows;
	struct plan_occ *occs; /* grouped by row, in due order */
	size_t noccs;
	size_t nbuckets; /* per unit */
	struct quarter quarters[4];
	size_t nquarters;
	/* Lookups: units by id and by name (value unit << 1 | 1 for a name),
	 * rows and occurrences by id. */
	struct strmap unit_map, row_map, occ_map;
};

/* An empty plan, ready for config to fill. */
struct plan *plan_new(void);
/* Free what contact C holds. */
void plan_contact_free(struct contact *c);
/* Free a plan and everything it owns; NULL is fine. */
void plan_free(struct plan *p);
/*
 * Finish building: occurrences numbered, buckets assigned, lookup
 * indexes sorted.  Called once by config after the rows are in.
 */
void plan_finish(struct plan *p);

/* Index of the unit whose id or name is S, or -1. */
int plan_unit_find(const struct plan *p, const char *s);
int plan_dept_find(const struct plan *p, const char *id);
int plan_row_find(const struct plan *p, const char *id);
int plan_metric_find(const struct plan *p, const char *id);
int plan_category_find(const struct plan *p, const char *id);
/* Index of kind ID within row R, or -1. */
int plan_kind_find(const struct plan_row *r, const char *id);
/* Index of the occurrence named S ("2c", "7d@2020-12-10"), or -1. */
int plan_occ_find(const struct plan *p, const char *s);
/* The instant of the year's final assessment (the last quarter end). */
int64_t plan_final_at(const struct plan *p);
/* Whether P is run for another year than its file's (kaohed --year). */
bool plan_redated(const struct plan *p);
/*
 * What a page or report of a re-dated plan says of it (the plan as
 * written, run for its year) into BUF: "本页按《TITLE》（DOCUMENT）运行于
 * 2026年度"; "" for a plan run in its own year.
 */
void plan_redated_note(const struct plan *p, char *buf, size_t len);

#endif
