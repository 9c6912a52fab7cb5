/*
 * Unit tests of plan: a small plan built by hand, and the shipped 2020
 * plan loaded from config/kaohe.conf, checked against plan-2020.md.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kaohe/calendar.h"
#include "kaohe/config.h"
#include "kaohe/plan.h"
#include "kaohe/util.h"
#include "support.h"

#define H 3600

/* Local Asia/Shanghai (UTC+08:00, no DST) 00:00 of DAY. */
static int64_t MIDNIGHT(int32_t day)
{
	return (int64_t)day * 86400 - 8 * H;
}

/* The shipped configuration, loaded once. */
static struct config *cfg;
static const struct plan *P;

static int shipped_setup(void **state)
{
	if (shanghai_group_setup(state) < 0)
		return -1;
	cfg = load_shipped_config();
	if (cfg == NULL)
		return -1;
	P = cfg->plan;
	return 0;
}

static int shipped_teardown(void **state)
{
	(void)state;
	config_free(cfg);
	cfg = NULL;
	P = NULL;
	return 0;
}

/* ------------------------------------------------------------------ */
/* a small plan built by hand */

static struct plan_kind mk_kind(const char *id, bool award, int64_t per)
{
	struct plan_kind k;
	memset(&k, 0, sizeof(k));
	k.id = xstrdup(id);
	k.name = xstrdup(id);
	k.award = award;
	k.per = per;
	k.cap = -1;
	k.bucket = -1;
	return k;
}

/*
 * Units rixin, bayilu, xianglujiao, renminguangchang; rows "2c" (one
 * deadline on 12-10, one finding), "4" (quarterly 06-20, 09-20, 12-20,
 * two findings), "6c" (no occurrence, a finding and an award).
 */
static struct plan *small_plan(void)
{
	struct plan *p = plan_new();
	/* ids sort bayilu, renminguangchang, rixin, xianglujiao; names (UTF-8
	 * bytes) 人民广场, 八一路, 日新, 香炉礁: neither is the order here */
	static const char *const ids[] = { "rixin", "bayilu", "xianglujiao", "renminguangchang" };
	static const char *const names[] = { "日新", "八一路", "香炉礁", "人民广场" };

	p->year = 2020;
	p->title = xstrdup("test plan");
	p->timezone = xstrdup("Asia/Shanghai");
	calendar_init(&p->cal, 2020);
	p->cal.first_day = D(5, 1);
	p->cal.last_day = D(12, 31);
	p->cal.in_force_start = MIDNIGHT(D(5, 1));

	p->nunits = 4;
	p->units = xcalloc(4, sizeof(*p->units));
	for (size_t i = 0; i < 4; i++) {
		p->units[i].id = xstrdup(ids[i]);
		p->units[i].name = xstrdup(names[i]);
	}

	p->nrows = 3;
	p->rows = xcalloc(3, sizeof(*p->rows));
	p->rows[0].id = xstrdup("2c");
	p->rows[0].max = 500;
	p->rows[0].has_deadline = true;
	p->rows[0].nkinds = 1;
	p->rows[0].kinds = xcalloc(1, sizeof(struct plan_kind));
	p->rows[0].kinds[0] = mk_kind("expired-committee", false, 100);

	p->rows[1].id = xstrdup("4");
	p->rows[1].max = 800;
	p->rows[1].has_deadline = true;
	p->rows[1].nkinds = 2;
	p->rows[1].kinds = xcalloc(2, sizeof(struct plan_kind));
	p->rows[1].kinds[0] = mk_kind("patrol-frequency", false, 100);
	p->rows[1].kinds[1] = mk_kind("unreported-hazard", false, 100);

	p->rows[2].id = xstrdup("6c");
	p->rows[2].max = 500;
	p->rows[2].nkinds = 2;
	p->rows[2].kinds = xcalloc(2, sizeof(struct plan_kind));
	p->rows[2].kinds[0] = mk_kind("pushback", false, 20);
	p->rows[2].kinds[1] = mk_kind("resolved", true, 10);

	static const int due[][3] = { { 0, 12, 10 }, { 1, 6, 20 }, { 1, 9, 20 }, { 1, 12, 20 } };
	p->noccs = 4;
	p->occs = xcalloc(4, sizeof(*p->occs));
	for (size_t i = 0; i < 4; i++) {
		p->occs[i].row = due[i][0];
		p->occs[i].type = OCC_DEADLINE;
		p->occs[i].sched.due_day = D(due[i][1], due[i][2]);
		calendar_schedule(&p->cal, &p->occs[i].sched);
	}
	p->rows[0].occ_first = 0;
	p->rows[0].nocc = 1;
	p->rows[1].occ_first = 1;
	p->rows[1].nocc = 3;
	p->rows[2].occ_first = 4;
	p->rows[2].nocc = 0;

	plan_finish(p);
	return p;
}

static void small_occurrence_names(void **state)
{
	(void)state;
	struct plan *p = small_plan();

	assert_string_equal(p->occs[0].name, "2c");
	assert_string_equal(p->occs[1].name, "4@2020-06-20");
	assert_string_equal(p->occs[2].name, "4@2020-09-20");
	assert_string_equal(p->occs[3].name, "4@2020-12-20");
	plan_free(p);
}

static void small_occ_find(void **state)
{
	(void)state;
	struct plan *p = small_plan();

	assert_int_equal(plan_occ_find(p, "2c"), 0);
	assert_int_equal(plan_occ_find(p, "4@2020-06-20"), 1);
	assert_int_equal(plan_occ_find(p, "4@2020-09-20"), 2);
	assert_int_equal(plan_occ_find(p, "4@2020-12-20"), 3);
	assert_int_equal(plan_occ_find(p, "4"), -1);
	assert_int_equal(plan_occ_find(p, "4@2020-03-20"), -1);
	assert_int_equal(plan_occ_find(p, "6c"), -1);
	assert_int_equal(plan_occ_find(p, ""), -1);
	assert_int_equal(plan_occ_find(p, "2C"), -1);
	plan_free(p);
}

static void small_unit_find(void **state)
{
	(void)state;
	struct plan *p = small_plan();

	assert_int_equal(plan_unit_find(p, "rixin"), 0);
	assert_int_equal(plan_unit_find(p, "bayilu"), 1);
	assert_int_equal(plan_unit_find(p, "xianglujiao"), 2);
	assert_int_equal(plan_unit_find(p, "日新"), 0);
	assert_int_equal(plan_unit_find(p, "八一路"), 1);
	assert_int_equal(plan_unit_find(p, "香炉礁"), 2);
	assert_int_equal(plan_unit_find(p, "renminguangchang"), 3);
	assert_int_equal(plan_unit_find(p, "人民广场"), 3);
	assert_int_equal(plan_unit_find(p, "baiyun"), -1);
	assert_int_equal(plan_unit_find(p, "白云"), -1);
	assert_int_equal(plan_unit_find(p, "八一"), -1);
	assert_int_equal(plan_unit_find(p, "bayilu "), -1);
	assert_int_equal(plan_unit_find(p, ""), -1);
	plan_free(p);
}

static void small_buckets(void **state)
{
	(void)state;
	struct plan *p = small_plan();
	bool seen[8] = { false };

	/* 3 rows + 5 kinds */
	assert_int_equal(p->nbuckets, 8);
	for (size_t i = 0; i < p->nrows; i++) {
		const struct plan_row *r = &p->rows[i];
		assert_in_range(r->bucket, 0, 7);
		assert_false(seen[r->bucket]);
		seen[r->bucket] = true;
		for (size_t j = 0; j < r->nkinds; j++) {
			assert_in_range(r->kinds[j].bucket, 0, 7);
			assert_false(seen[r->kinds[j].bucket]);
			seen[r->kinds[j].bucket] = true;
		}
	}
	for (size_t i = 0; i < 8; i++)
		assert_true(seen[i]);
	plan_free(p);
}

static void small_lookups(void **state)
{
	(void)state;
	struct plan *p = small_plan();

	assert_int_equal(plan_row_find(p, "2c"), 0);
	assert_int_equal(plan_row_find(p, "4"), 1);
	assert_int_equal(plan_row_find(p, "6c"), 2);
	assert_int_equal(plan_row_find(p, "6"), -1);
	assert_int_equal(plan_kind_find(&p->rows[1], "unreported-hazard"), 1);
	assert_int_equal(plan_kind_find(&p->rows[2], "resolved"), 1);
	assert_int_equal(plan_kind_find(&p->rows[2], "patrol-frequency"), -1);
	plan_free(p);
}

static void small_quarters_and_final(void **state)
{
	(void)state;
	struct plan *p = small_plan();

	assert_int_equal(p->nquarters, 3);
	assert_string_equal(p->quarters[0].period, "2020-Q2");
	assert_int_equal(p->quarters[0].at, MIDNIGHT(D(7, 1)));
	assert_int_equal(plan_final_at(p), T_2021_01_01);
	/* the occurrences' schedules */
	assert_int_equal(p->occs[1].sched.deadline, MIDNIGHT(D(6, 21)));
	assert_int_equal(p->occs[1].sched.close, MIDNIGHT(D(7, 1)));
	plan_free(p);
}

static void plan_free_null(void **state)
{
	(void)state;
	plan_free(NULL);
	struct plan *p = plan_new();
	assert_int_equal(p->nunits, 0);
	assert_int_equal(p->nrows, 0);
	assert_null(p->occs);
	plan_free(p);
}

/* ------------------------------------------------------------------ */
/* the shipped 2020 plan */

static const struct plan_row *row(const char *id)
{
	int i = plan_row_find(P, id);
	if (i < 0)
		fail_msg("no row \"%s\"", id);
	return &P->rows[i];
}

static void shipped_frame(void **state)
{
	(void)state;
	assert_int_equal(P->year, 2020);
	assert_int_equal(P->nrows, 28);
	assert_int_equal(P->nunits, 5);
	assert_int_equal(P->ndepts, 2);
	assert_int_equal(P->ncats, 2);
	assert_int_equal(P->total, 10000);
	assert_string_equal(P->timezone, "Asia/Shanghai");
	assert_int_equal(P->cal.first_day, D(5, 1));
	assert_int_equal(P->cal.last_day, D(12, 31));
	assert_int_equal(P->cal.in_force_start, MIDNIGHT(D(5, 1)));
	assert_int_equal(P->cal.close, CLOSE_QUARTER_END);
}

static void shipped_row_ids_in_annex_order(void **state)
{
	(void)state;
	assert_int_equal(P->nrows, sizeof(shipped_row_ids) / sizeof(shipped_row_ids[0]));
	for (size_t i = 0; i < P->nrows; i++)
		assert_string_equal(P->rows[i].id, shipped_row_ids[i]);
}

static void shipped_row_maxima(void **state)
{
	(void)state;
	int basic = plan_category_find(P, "basic"), key = plan_category_find(P, "key");
	int64_t sum[2] = { 0, 0 };

	assert_true(basic >= 0);
	assert_true(key >= 0);
	assert_int_equal(P->cats[basic].max, 8500);
	assert_int_equal(P->cats[key].max, 1500);
	for (size_t i = 0; i < P->nrows; i++) {
		int c = P->rows[i].category;
		assert_true(c == basic || c == key);
		sum[c == key] += P->rows[i].max;
	}
	assert_int_equal(sum[0], 8500);
	assert_int_equal(sum[1], 1500);

	/* where the column wins over the text */
	assert_int_equal(row("6b")->max, 200);
	assert_int_equal(row("16a")->max, 100);
	assert_int_equal(row("16b")->max, 100);
	assert_int_equal(row("3")->max, 1000);
	assert_int_equal(row("13")->max, 500);
	assert_true(row("13")->earn);
	assert_false(row("3")->earn);
	assert_int_equal(row("16a")->category, key);
	assert_int_equal(row("13")->category, basic);
}

static void shipped_units(void **state)
{
	(void)state;
	const char *const *ids = shipped_unit_ids, *const *names = shipped_unit_names;

	for (int i = 0; i < 5; i++) {
		assert_string_equal(P->units[i].id, ids[i]);
		assert_string_equal(P->units[i].name, names[i]);
		assert_int_equal(plan_unit_find(P, ids[i]), i);
		assert_int_equal(plan_unit_find(P, names[i]), i);
	}
	assert_int_equal(plan_unit_find(P, "八一路"), plan_unit_find(P, "bayilu"));
	assert_int_equal(plan_unit_find(P, "unknown"), -1);
	assert_int_equal(plan_unit_find(P, "八一路街道"), -1);
	assert_int_equal(plan_unit_find(P, "Bayilu"), -1);
	assert_int_equal(plan_unit_find(P, ""), -1);

	assert_int_equal(plan_dept_find(P, "zhujian"), 0);
	assert_int_equal(plan_dept_find(P, "chengguan"), 1);
	assert_int_equal(plan_dept_find(P, "区住建局"), -1);
	assert_string_equal(P->depts[0].name, "区住建局");
}

static void shipped_occurrence_counts(void **state)
{
	(void)state;
	static const struct {
		const char *row;
		size_t n;
	} want[] = {
		{ "1", 1 },   { "2a", 1 },  { "2b", 1 },  { "2c", 1 }, { "3", 1 },   { "4", 3 },
		{ "5", 3 },   { "6a", 1 },  { "6b", 1 },  { "6c", 0 }, { "7a", 1 },  { "7b", 2 },
		{ "7c", 3 },  { "7d", 3 },  { "8", 1 },   { "9", 1 },  { "10", 1 },  { "11", 1 },
		{ "12", 1 },  { "13", 1 },  { "14", 1 },  { "15", 1 }, { "16a", 1 }, { "16b", 1 },
		{ "16c", 1 }, { "17a", 1 }, { "17b", 1 }, { "18", 3 },
	};
	size_t total = 0;

	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		if (row(want[i].row)->nocc != want[i].n)
			fail_msg("row %s: %zu occurrences, expected %zu", want[i].row,
				 row(want[i].row)->nocc, want[i].n);
		total += want[i].n;
	}
	assert_int_equal(total, 38);
	assert_int_equal(P->noccs, 38);
}

static void shipped_occurrences_grouped_in_due_order(void **state)
{
	(void)state;
	size_t next = 0;

	for (size_t i = 0; i < P->nrows; i++) {
		const struct plan_row *r = &P->rows[i];
		if (r->nocc > 0) {
			assert_int_equal(r->occ_first, next);
			next += r->nocc;
		}
		for (size_t j = r->occ_first; j < r->occ_first + r->nocc; j++) {
			assert_int_equal(P->occs[j].row, (int)i);
			if (j > r->occ_first)
				assert_true(P->occs[j - 1].sched.due_day <
					    P->occs[j].sched.due_day);
		}
	}
	assert_int_equal(next, P->noccs);
}

static void shipped_occ_find(void **state)
{
	(void)state;
	int i;

	i = plan_occ_find(P, "2c");
	assert_true(i >= 0);
	assert_int_equal(P->occs[i].row, plan_row_find(P, "2c"));
	assert_int_equal(P->occs[i].sched.due_day, D(12, 10));

	i = plan_occ_find(P, "7d@2020-12-10");
	assert_true(i >= 0);
	assert_int_equal(P->occs[i].row, plan_row_find(P, "7d"));
	assert_int_equal(P->occs[i].sched.due_day, D(12, 10));

	i = plan_occ_find(P, "4@2020-06-20");
	assert_true(i >= 0);
	assert_int_equal(P->occs[i].row, plan_row_find(P, "4"));
	assert_int_equal(P->occs[i].sched.due_day, D(6, 20));
	assert_int_equal(P->occs[i].type, OCC_DEADLINE);

	/* 03-20 precedes the plan: it does not exist */
	assert_int_equal(plan_occ_find(P, "4@2020-03-20"), -1);
	/* a row of several occurrences has no bare name */
	assert_int_equal(plan_occ_find(P, "4"), -1);
	assert_int_equal(plan_occ_find(P, "7d"), -1);
	/* a row without occurrences has none */
	assert_int_equal(plan_occ_find(P, "6c"), -1);
	assert_int_equal(plan_occ_find(P, "nonesuch"), -1);
	assert_int_equal(plan_occ_find(P, "7d@2020-12-11"), -1);
}

static void shipped_occurrence_names(void **state)
{
	(void)state;
	static const char *const four[] = { "4@2020-06-20", "4@2020-09-20", "4@2020-12-20" };
	static const char *const five[] = { "5@2020-06-20", "5@2020-09-20", "5@2020-12-20" };
	static const char *const b7[] = { "7b@2020-05-22", "7b@2020-06-22" };
	static const char *const c7[] = { "7c@2020-07-22", "7c@2020-08-22", "7c@2020-09-22" };
	static const char *const d7[] = { "7d@2020-10-22", "7d@2020-11-22", "7d@2020-12-10" };
	static const char *const e18[] = { "18@2020-06-30", "18@2020-09-30", "18@2020-12-31" };
	static const struct {
		const char *row;
		const char *const *names;
		size_t n;
	} multi[] = {
		{ "4", four, 3 }, { "5", five, 3 }, { "7b", b7, 2 },
		{ "7c", c7, 3 },  { "7d", d7, 3 },  { "18", e18, 3 },
	};

	for (size_t i = 0; i < sizeof(multi) / sizeof(multi[0]); i++) {
		const struct plan_row *r = row(multi[i].row);
		assert_int_equal(r->nocc, multi[i].n);
		for (size_t j = 0; j < multi[i].n; j++)
			assert_string_equal(P->occs[r->occ_first + j].name, multi[i].names[j]);
	}
	/* every row with a single occurrence is named by its id */
	for (size_t i = 0; i < P->nrows; i++) {
		const struct plan_row *r = &P->rows[i];
		if (r->nocc == 1)
			assert_string_equal(P->occs[r->occ_first].name, r->id);
	}
	/* all names distinct, and each finds itself */
	for (size_t i = 0; i < P->noccs; i++)
		assert_int_equal(plan_occ_find(P, P->occs[i].name), (int)i);
}

static void shipped_occurrence_types(void **state)
{
	(void)state;
	static const char *const record_rows[] = { "3", "9", "10", "11", "12", "13", "18" };
	size_t nrecord = 0;

	for (size_t i = 0; i < sizeof(record_rows) / sizeof(record_rows[0]); i++) {
		const struct plan_row *r = row(record_rows[i]);
		assert_false(r->has_deadline);
		for (size_t j = r->occ_first; j < r->occ_first + r->nocc; j++)
			assert_int_equal(P->occs[j].type, OCC_RECORD);
		nrecord += r->nocc;
	}
	assert_int_equal(nrecord, 9);
	size_t ndeadline = 0;
	for (size_t i = 0; i < P->noccs; i++)
		ndeadline += P->occs[i].type == OCC_DEADLINE;
	assert_int_equal(ndeadline, 29);
	assert_int_equal(P->occs[plan_occ_find(P, "18@2020-06-30")].type, OCC_RECORD);
	assert_int_equal(P->occs[plan_occ_find(P, "16a")].type, OCC_DEADLINE);
	assert_int_equal(P->occs[plan_occ_find(P, "16a")].sched.due_day, D(5, 6));
}

static void shipped_schedules(void **state)
{
	(void)state;
	const struct schedule *s;

	s = &P->occs[plan_occ_find(P, "1")].sched;
	assert_int_equal(s->due_day, D(9, 15));
	assert_false(s->timed);
	assert_int_equal(s->deadline, INT64_C(1600185600)); /* 2020-09-16T00:00+08:00 */
	assert_int_equal(s->close, MIDNIGHT(D(10, 1)));

	s = &P->occs[plan_occ_find(P, "4@2020-06-20")].sched;
	assert_int_equal(s->deadline, MIDNIGHT(D(6, 21)));
	assert_int_equal(s->close, MIDNIGHT(D(7, 1)));

	s = &P->occs[plan_occ_find(P, "16a")].sched;
	assert_int_equal(s->deadline, MIDNIGHT(D(5, 7)));
	assert_int_equal(s->close, MIDNIGHT(D(7, 1)));

	s = &P->occs[plan_occ_find(P, "2c")].sched;
	assert_int_equal(s->deadline, MIDNIGHT(D(12, 11)));
	assert_int_equal(s->close, T_2021_01_01);

	s = &P->occs[plan_occ_find(P, "18@2020-12-31")].sched;
	assert_int_equal(s->deadline, T_2021_01_01);
	assert_int_equal(s->close, T_2021_01_01);
}

static void shipped_buckets(void **state)
{
	(void)state;
	/* 28 rows + 23 kinds: 2c 1, 3 2, 4 2, 5 2, 6c 2, 7a 2, 9 1, 10 2, 11 1,
	 * 12 4, 13 1, 15 1, 16c 1, 18 1 */
	assert_int_equal(P->nbuckets, 51);
	bool *seen = calloc(P->nbuckets, sizeof(*seen));
	size_t count = 0;
	for (size_t i = 0; i < P->nrows; i++) {
		const struct plan_row *r = &P->rows[i];
		assert_in_range(r->bucket, 0, P->nbuckets - 1);
		assert_false(seen[r->bucket]);
		seen[r->bucket] = true;
		count++;
		for (size_t j = 0; j < r->nkinds; j++) {
			int b = r->kinds[j].bucket;
			assert_in_range(b, 0, P->nbuckets - 1);
			assert_false(seen[b]);
			seen[b] = true;
			count++;
		}
	}
	assert_int_equal(count, P->nbuckets);
	free(seen);
}

static void shipped_final_and_quarters(void **state)
{
	(void)state;
	assert_int_equal(plan_final_at(P), T_2021_01_01);
	assert_int_equal(P->nquarters, 3);
	assert_string_equal(P->quarters[0].period, "2020-Q2");
	assert_int_equal(P->quarters[0].at, MIDNIGHT(D(7, 1)));
	assert_string_equal(P->quarters[1].period, "2020-Q3");
	assert_int_equal(P->quarters[1].at, MIDNIGHT(D(10, 1)));
	assert_string_equal(P->quarters[2].period, "2020-Q4");
	assert_int_equal(P->quarters[2].at, MIDNIGHT(JAN1_2021));
}

static void shipped_deadline_rules(void **state)
{
	(void)state;
	assert_true(row("1")->has_deadline);
	assert_int_equal(row("1")->late, 200);
	assert_int_equal(row("1")->missing, 300);
	assert_int_equal(row("2c")->late, 100);
	assert_int_equal(row("2c")->missing, 500);
	assert_int_equal(row("7a")->late, 0);
	assert_int_equal(row("7a")->missing, 100);
	/* no missing amount in the seed: missing = late */
	assert_int_equal(row("7b")->late, 100);
	assert_int_equal(row("7b")->missing, 100);
	assert_int_equal(row("15")->missing, 100);
	assert_int_equal(row("16a")->missing, 100);
	assert_int_equal(row("16c")->late, 0);
	assert_int_equal(row("16c")->missing, 0);
	assert_false(row("6c")->has_deadline);
}

static void shipped_kinds(void **state)
{
	(void)state;
	const struct plan_row *r = row("6c");
	int k;

	expect_shipped_row_6c_kinds(r);

	r = row("12");
	assert_int_equal(r->nkinds, 4);
	k = plan_kind_find(r, "no-community-specialist");
	assert_int_equal(r->kinds[k].per, 100);
	assert_int_equal(r->kinds[k].cap, 200);
	k = plan_kind_find(r, "org-incomplete");
	assert_int_equal(r->kinds[k].per, 200);
	assert_int_equal(r->kinds[k].cap, -1);

	r = row("7a");
	assert_int_equal(r->kinds[plan_kind_find(r, "ledger")].per, 50);
	assert_int_equal(plan_kind_find(r, "pushback"), -1);

	expect_shipped_row_3_ranking(P, row("3"));

	r = row("13");
	assert_int_equal(r->nthresholds, 1);
	assert_int_equal(r->thresholds[0].points, 200);
	assert_int_equal(r->thresholds[0].nany, 2);
	assert_int_equal(r->thresholds[0].any[0].metric, plan_metric_find(P, "satisfaction"));
	assert_int_equal(r->thresholds[0].any[0].min, 800000);
	assert_int_equal(r->thresholds[0].any[1].metric, plan_metric_find(P, "fee-rate"));
}

static void shipped_calendar(void **state)
{
	(void)state;
	const struct calendar *c = &P->cal;

	assert_false(calendar_is_workday(c, D(5, 1)));
	assert_false(calendar_is_workday(c, D(5, 5)));
	assert_true(calendar_is_workday(c, D(5, 9)));
	assert_true(calendar_is_workday(c, D(6, 28)));
	assert_false(calendar_is_workday(c, D(6, 26)));
	assert_true(calendar_is_workday(c, D(9, 27)));
	assert_false(calendar_is_workday(c, D(10, 5)));
	assert_true(calendar_is_workday(c, D(10, 10)));
	assert_false(calendar_is_workday(c, D(2, 1)));
	assert_true(calendar_is_workday(c, D(1, 19)));
	assert_false(calendar_is_workday(c, D(1, 1)));

	const struct reminder_policy *p = &c->reminders;
	assert_int_equal(p->nbefore, 3);
	assert_int_equal(p->before[0].offset, -7 * 86400);
	assert_int_equal(p->before[0].tod, 9 * H);
	assert_int_equal(p->ndue, 1);
	assert_int_equal(p->due[0].offset, 0);
	assert_true(p->has_overdue);
	assert_int_equal(p->overdue_first.offset, 86400);
	assert_int_equal(p->overdue_every, 3 * 86400);
	assert_true(p->shift_to_workdays);
	assert_true(p->not_before_in_force);
}

int main(void)
{
	const struct CMUnitTest small[] = {
		cmocka_unit_test(small_occurrence_names),
		cmocka_unit_test(small_occ_find),
		cmocka_unit_test(small_unit_find),
		cmocka_unit_test(small_buckets),
		cmocka_unit_test(small_lookups),
		cmocka_unit_test(small_quarters_and_final),
		cmocka_unit_test(plan_free_null),
	};
	const struct CMUnitTest shipped[] = {
		cmocka_unit_test(shipped_frame),
		cmocka_unit_test(shipped_row_ids_in_annex_order),
		cmocka_unit_test(shipped_row_maxima),
		cmocka_unit_test(shipped_units),
		cmocka_unit_test(shipped_occurrence_counts),
		cmocka_unit_test(shipped_occurrences_grouped_in_due_order),
		cmocka_unit_test(shipped_occ_find),
		cmocka_unit_test(shipped_occurrence_names),
		cmocka_unit_test(shipped_occurrence_types),
		cmocka_unit_test(shipped_schedules),
		cmocka_unit_test(shipped_buckets),
		cmocka_unit_test(shipped_final_and_quarters),
		cmocka_unit_test(shipped_deadline_rules),
		cmocka_unit_test(shipped_kinds),
		cmocka_unit_test(shipped_calendar),
	};
	int failed = cmocka_run_group_tests_name("plan built by hand", small, shanghai_group_setup,
						 NULL);
	failed += cmocka_run_group_tests_name("shipped 2020 plan", shipped, shipped_setup,
					      shipped_teardown);
	return failed;
}
