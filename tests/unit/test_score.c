/*
 * test_score — row scores (caps and clamps), the standard competition
 * ranking and the category/total table, on a small plan built by hand and
 * on the shipped 2020 plan.  Every expected figure is worked out from
 * plan-2020.md in integer hundredths.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "kaohe/config.h"
#include "kaohe/log.h"
#include "kaohe/plan.h"
#include "kaohe/score.h"
#include "kaohe/util.h"
#include "support.h"

/* ---- a small plan by hand ------------------------------------------- */

struct kind_spec {
	const char *id;
	bool award;
	int64_t per, cap;
};

static void add_row(struct plan *p, const char *id, int cat, int64_t max, bool earn,
		    const struct kind_spec *kinds, size_t nkinds)
{
	struct plan_row *r;

	p->rows = realloc(p->rows, (p->nrows + 1) * sizeof(*p->rows));
	assert_non_null(p->rows);
	r = &p->rows[p->nrows++];
	memset(r, 0, sizeof(*r));
	r->id = strdup(id);
	r->category = cat;
	r->dept = 0;
	r->max = max;
	r->earn = earn;
	r->kinds = calloc(nkinds + 1, sizeof(*r->kinds));
	assert_non_null(r->kinds);
	for (size_t i = 0; i < nkinds; i++) {
		r->kinds[i].id = strdup(kinds[i].id);
		r->kinds[i].name = strdup(kinds[i].id);
		r->kinds[i].award = kinds[i].award;
		r->kinds[i].per = kinds[i].per;
		r->kinds[i].cap = kinds[i].cap;
	}
	r->nkinds = nkinds;
}

/*
 * Units a, b, c, d; rows (maxima in hundredths):
 *   "1"  basic 3, no kinds (deadline points go to the row's own bucket)
 *   "6c" basic 5, pushback finding 0.2 cap 5, resolved award 0.1 cap 5
 *   "12" basic 6, org-incomplete finding 2 (no cap),
 *        no-community-specialist finding 1 cap 2
 *   "13" basic 5 earn, commendation award 2 (no cap)
 *   "14" key 2, no kinds
 */
static struct plan *mini_plan(void)
{
	static const char *const units[] = { "a", "b", "c", "d" };
	static const struct kind_spec k6c[] = { { "pushback", false, 20, 500 },
						{ "resolved", true, 10, 500 } };
	static const struct kind_spec k12[] = { { "org-incomplete", false, 200, -1 },
						{ "no-community-specialist", false, 100, 200 } };
	static const struct kind_spec k13[] = { { "commendation", true, 200, -1 } };
	struct plan *p = plan_new();

	calendar_init(&p->cal, 2020);
	p->year = 2020;
	p->total = 2100;
	p->ncats = 2;
	p->cats = calloc(2, sizeof(*p->cats));
	p->cats[0].id = strdup("basic");
	p->cats[0].name = strdup("basic");
	p->cats[0].max = 1900;
	p->cats[1].id = strdup("key");
	p->cats[1].name = strdup("key");
	p->cats[1].max = 200;
	p->nunits = 4;
	p->units = calloc(4, sizeof(*p->units));
	for (size_t i = 0; i < 4; i++) {
		p->units[i].id = strdup(units[i]);
		p->units[i].name = strdup(units[i]);
	}
	p->ndepts = 1;
	p->depts = calloc(1, sizeof(*p->depts));
	p->depts[0].id = strdup("zhujian");
	p->depts[0].name = strdup("zhujian");
	add_row(p, "1", 0, 300, false, NULL, 0);
	add_row(p, "6c", 0, 500, false, k6c, 2);
	add_row(p, "12", 0, 600, false, k12, 2);
	add_row(p, "13", 0, 500, true, k13, 1);
	add_row(p, "14", 1, 200, false, NULL, 0);
	plan_finish(p);
	return p;
}

/* The fixture of the tests on the small plan: it and an empty accumulator. */
struct mini {
	struct plan *p;
	int64_t *acc; /* every unit's buckets */
};

static int mini_setup(void **state)
{
	struct mini *m = calloc(1, sizeof(*m));
	m->p = mini_plan();
	m->acc = calloc(m->p->nunits * m->p->nbuckets, sizeof(*m->acc));
	*state = m;
	return 0;
}

static int mini_teardown(void **state)
{
	struct mini *m = *state;
	free(m->acc);
	plan_free(m->p);
	free(m);
	return 0;
}

/* The accumulator slot of unit U, row ROW, kind KIND (NULL: the row's own). */
static int64_t *slot(const struct plan *p, int64_t *acc, int u, const char *row, const char *kind)
{
	int r = plan_row_find(p, row);
	assert_true(r >= 0);
	const struct plan_row *pr = &p->rows[r];
	int b = pr->bucket;
	if (kind) {
		int k = plan_kind_find(pr, kind);
		assert_true(k >= 0);
		b = pr->kinds[k].bucket;
	}
	assert_true(b >= 0 && (size_t)b < p->nbuckets);
	return &acc[(size_t)u * p->nbuckets + (size_t)b];
}

static const struct plan_row *row_of(const struct plan *p, const char *id)
{
	int r = plan_row_find(p, id);
	assert_true(r >= 0);
	return &p->rows[r];
}

static const struct plan_kind *kind_of(const struct plan *p, const char *row, const char *kind)
{
	const struct plan_row *r = row_of(p, row);
	int k = plan_kind_find(r, kind);
	assert_true(k >= 0);
	return &r->kinds[k];
}

/* ---- score_kind ------------------------------------------------------ */

static void test_kind_finding_cap(void **state)
{
	struct mini *m = *state;
	struct plan *p = m->p;
	const struct plan_kind *push = kind_of(p, "6c", "pushback");
	const struct plan_kind *ncs = kind_of(p, "12", "no-community-specialist");

	/* 6c pushback: 0.2 each, cap 5 -> 30 pushbacks (-6) count -5 */
	assert_int_equal(score_kind(push, -600), -500);
	assert_int_equal(score_kind(push, -500), -500);
	assert_int_equal(score_kind(push, -480), -480);
	assert_int_equal(score_kind(push, 0), 0);
	/* 12 no-community-specialist: 1 each, cap 2 (两处以上扣2分) */
	assert_int_equal(score_kind(ncs, -100), -100);
	assert_int_equal(score_kind(ncs, -200), -200);
	assert_int_equal(score_kind(ncs, -300), -200);
}

static void test_kind_award_cap(void **state)
{
	struct mini *m = *state;
	struct plan *p = m->p;
	const struct plan_kind *res = kind_of(p, "6c", "resolved");

	/* 6c resolved: 0.1 each, cap 5 */
	assert_int_equal(score_kind(res, 120), 120);
	assert_int_equal(score_kind(res, 500), 500);
	assert_int_equal(score_kind(res, 620), 500);
}

static void test_kind_no_cap(void **state)
{
	struct mini *m = *state;
	struct plan *p = m->p;
	const struct plan_kind *org = kind_of(p, "12", "org-incomplete");
	const struct plan_kind *com = kind_of(p, "13", "commendation");

	assert_int_equal(score_kind(org, -1000), -1000);
	assert_int_equal(score_kind(com, 1200), 1200);
}

/* ---- score_row ------------------------------------------------------- */

static void test_row_starts_full(void **state)
{
	struct mini *m = *state;
	struct plan *p = m->p;
	int64_t *acc = m->acc;

	assert_int_equal(score_row(row_of(p, "1"), acc), 300);
	assert_int_equal(score_row(row_of(p, "6c"), acc), 500);
	assert_int_equal(score_row(row_of(p, "12"), acc), 600);
	assert_int_equal(score_row(row_of(p, "14"), acc), 200);
}

static void test_row_earn_starts_at_zero(void **state)
{
	struct mini *m = *state;
	struct plan *p = m->p;
	int64_t *acc = m->acc;

	assert_int_equal(score_row(row_of(p, "13"), acc), 0);
	/* one commendation +2 */
	*slot(p, acc, 0, "13", "commendation") = 200;
	assert_int_equal(score_row(row_of(p, "13"), acc), 200);
	/* plus the threshold +2 (the row's own bucket) */
	*slot(p, acc, 0, "13", NULL) = 200;
	assert_int_equal(score_row(row_of(p, "13"), acc), 400);
}

static void test_row_clamp_at_zero(void **state)
{
	struct mini *m = *state;
	struct plan *p = m->p;
	int64_t *acc = m->acc;

	/* row 1: late 2 then missing 3 in the ledger would be -5 on max 3 */
	*slot(p, acc, 0, "1", NULL) = -500;
	assert_int_equal(score_row(row_of(p, "1"), acc), 0);
	/* row 12: org-incomplete 2 x 4 = -8 on max 6 */
	*slot(p, acc, 0, "12", "org-incomplete") = -800;
	assert_int_equal(score_row(row_of(p, "12"), acc), 0);
}

static void test_row_clamp_at_max(void **state)
{
	struct mini *m = *state;
	struct plan *p = m->p;
	int64_t *acc = m->acc;

	/* row 13 (earn, max 5): threshold 2 + commendations 3 x 2 = 8 -> 5 */
	*slot(p, acc, 0, "13", NULL) = 200;
	*slot(p, acc, 0, "13", "commendation") = 600;
	assert_int_equal(score_row(row_of(p, "13"), acc), 500);
}

static void test_row_caps_per_kind(void **state)
{
	struct mini *m = *state;
	struct plan *p = m->p;
	int64_t *acc = m->acc;

	/* row 12: no-community-specialist 3 x 1 = -3 -> cap -2 -> 4 */
	*slot(p, acc, 0, "12", "no-community-specialist") = -300;
	assert_int_equal(score_row(row_of(p, "12"), acc), 400);
	/* plus org-incomplete 2 (uncapped) -> 2 */
	*slot(p, acc, 0, "12", "org-incomplete") = -200;
	assert_int_equal(score_row(row_of(p, "12"), acc), 200);
}

/* Row 6c: resolved complaints win back points lost to pushbacks, never above max. */
static void test_row_6c_award_wins_back(void **state)
{
	struct mini *m = *state;
	struct plan *p = m->p;
	int64_t *acc = m->acc;
	const struct plan_row *r = row_of(p, "6c");

	/* 30 pushbacks: -6 capped at -5 -> 0 */
	*slot(p, acc, 0, "6c", "pushback") = -600;
	assert_int_equal(score_row(r, acc), 0);
	/* 12 resolved: +1.2 -> 1.2 (not 0: the cap bounds the kind, not the row) */
	*slot(p, acc, 0, "6c", "resolved") = 120;
	assert_int_equal(score_row(r, acc), 120);
	/* 62 resolved: +6.2 capped at +5 -> 5 - 5 + 5 = 5 */
	*slot(p, acc, 0, "6c", "resolved") = 620;
	assert_int_equal(score_row(r, acc), 500);
	/* 2 pushbacks (-0.4) and 60 resolved (+6 -> +5): 9.6 clamped to max 5 */
	*slot(p, acc, 0, "6c", "pushback") = -40;
	*slot(p, acc, 0, "6c", "resolved") = 600;
	assert_int_equal(score_row(r, acc), 500);
	/* 12 pushbacks (-2.4), 5 resolved (+0.5): 3.1 */
	*slot(p, acc, 0, "6c", "pushback") = -240;
	*slot(p, acc, 0, "6c", "resolved") = 50;
	assert_int_equal(score_row(r, acc), 310);
}

/* ---- score_rank ------------------------------------------------------ */

/* score_rank ranks the N values V (PRESENT: which count; NULL: all) WANT. */
static void expect_ranks(const int64_t *v, const bool *present, size_t n, bool higher_better,
			 const int *want)
{
	int rank[8];

	assert_true(n <= 8);
	for (size_t i = 0; i < n; i++)
		rank[i] = -1;
	score_rank(v, present, n, higher_better, rank);
	for (size_t i = 0; i < n; i++)
		if (rank[i] != want[i])
			fail_msg("rank[%zu] is %d, expected %d", i, rank[i], want[i]);
}

static void test_rank_1224_higher_better(void **state)
{
	const int64_t v[] = { 9500, 9000, 9500, 8000, 9000 };
	(void)state;

	expect_ranks(v, NULL, 5, true, (const int[]){ 1, 3, 1, 5, 3 });
}

static void test_rank_lower_better(void **state)
{
	const int64_t v[] = { 300, 100, 200, 100 };
	(void)state;

	expect_ranks(v, NULL, 4, false, (const int[]){ 4, 1, 3, 1 });
}

/* Row 3's ranking: dissatisfaction, highest worst; tied worst share position 1. */
static void test_rank_row3_tied_worst(void **state)
{
	/* ten-thousandths: 12.5, 12.5, 10, 5 */
	const int64_t v[] = { 125000, 125000, 100000, 50000 };
	(void)state;

	expect_ranks(v, NULL, 4, true, (const int[]){ 1, 1, 3, 4 });
}

static void test_rank_absent_is_zero(void **state)
{
	const int64_t v[] = { 500, 1000000, 300, 300 };
	const bool present[] = { true, false, true, true };
	(void)state;

	/* the absent one: neither ranked nor pushing others down */
	expect_ranks(v, present, 4, true, (const int[]){ 1, 0, 2, 2 });
}

static void test_rank_all_tied_and_empty(void **state)
{
	const int64_t v[] = { 7, 7, 7 };
	int rank[3];
	const bool none[] = { false, false, false };
	(void)state;

	expect_ranks(v, NULL, 3, true, (const int[]){ 1, 1, 1 });
	expect_ranks(v, none, 3, false, (const int[]){ 0, 0, 0 });
	score_rank(v, NULL, 0, true, rank);
}

/* ---- score_compute --------------------------------------------------- */

static void test_compute_mini(void **state)
{
	struct mini *m = *state;
	struct plan *p = m->p;
	int64_t *acc = m->acc;
	struct score_table t;
	int basic = plan_category_find(p, "basic"), key = plan_category_find(p, "key");
	int r1 = plan_row_find(p, "1"), r6c = plan_row_find(p, "6c"), r12 = plan_row_find(p, "12"),
	    r13 = plan_row_find(p, "13"), r14 = plan_row_find(p, "14");

	/* a: nothing -> 3 + 5 + 6 + 0 = 14 basic, key 2, total 16 */
	/* b: row 1 -3 -> 0; 6c pushback -6 (cap -5) resolved +1.2 -> 1.2;
	 *    12 no-community-specialist -3 (cap -2) -> 4; 13 threshold 2 +
	 *    commendation 4 -> 5 (max); 14 -1 -> 1.
	 *    basic 0 + 1.2 + 4 + 5 = 10.2, key 1, total 11.2 */
	*slot(p, acc, 1, "1", NULL) = -300;
	*slot(p, acc, 1, "6c", "pushback") = -600;
	*slot(p, acc, 1, "6c", "resolved") = 120;
	*slot(p, acc, 1, "12", "no-community-specialist") = -300;
	*slot(p, acc, 1, "13", NULL) = 200;
	*slot(p, acc, 1, "13", "commendation") = 400;
	*slot(p, acc, 1, "14", NULL) = -100;
	/* c and d: row 1 -2 -> 1; 6c -0.4 + 6 (cap 5) -> 5; 12 -2 -1 -> 3;
	 *    13 commendation 2; 14 full 2.  basic 1 + 5 + 3 + 2 = 11, key 2,
	 *    total 13 */
	for (int u = 2; u <= 3; u++) {
		*slot(p, acc, u, "1", NULL) = -200;
		*slot(p, acc, u, "6c", "pushback") = -40;
		*slot(p, acc, u, "6c", "resolved") = 600;
		*slot(p, acc, u, "12", "org-incomplete") = -200;
		*slot(p, acc, u, "12", "no-community-specialist") = -100;
		*slot(p, acc, u, "13", "commendation") = 200;
	}
	score_compute(p, acc, &t);
	assert_int_equal(t.nunits, 4);
	assert_int_equal(t.nrows, 5);
	assert_int_equal(t.ncats, 2);

	assert_int_equal(t.rows[0 * t.nrows + (size_t)r1], 300);
	assert_int_equal(t.rows[0 * t.nrows + (size_t)r13], 0);
	assert_int_equal(t.cats[0 * t.ncats + (size_t)basic], 1400);
	assert_int_equal(t.cats[0 * t.ncats + (size_t)key], 200);
	assert_int_equal(t.total[0], 1600);

	assert_int_equal(t.rows[1 * t.nrows + (size_t)r1], 0);
	assert_int_equal(t.rows[1 * t.nrows + (size_t)r6c], 120);
	assert_int_equal(t.rows[1 * t.nrows + (size_t)r12], 400);
	assert_int_equal(t.rows[1 * t.nrows + (size_t)r13], 500);
	assert_int_equal(t.rows[1 * t.nrows + (size_t)r14], 100);
	assert_int_equal(t.cats[1 * t.ncats + (size_t)basic], 1020);
	assert_int_equal(t.cats[1 * t.ncats + (size_t)key], 100);
	assert_int_equal(t.total[1], 1120);

	for (size_t u = 2; u <= 3; u++) {
		assert_int_equal(t.rows[u * t.nrows + (size_t)r1], 100);
		assert_int_equal(t.rows[u * t.nrows + (size_t)r6c], 500);
		assert_int_equal(t.rows[u * t.nrows + (size_t)r12], 300);
		assert_int_equal(t.rows[u * t.nrows + (size_t)r13], 200);
		assert_int_equal(t.rows[u * t.nrows + (size_t)r14], 200);
		assert_int_equal(t.cats[u * t.ncats + (size_t)basic], 1100);
		assert_int_equal(t.cats[u * t.ncats + (size_t)key], 200);
		assert_int_equal(t.total[u], 1300);
	}
	/* ranked by total, highest first, ties sharing: a 1, c 2, d 2, b 4 */
	assert_int_equal(t.rank[0], 1);
	assert_int_equal(t.rank[1], 4);
	assert_int_equal(t.rank[2], 2);
	assert_int_equal(t.rank[3], 2);
	score_free(&t);
	assert_null(t.rows);
}

/* The shipped plan: with nothing recorded every unit has 80 + 15 = 95. */
static void test_compute_shipped_plan_empty(void **state)
{
	struct config *cfg = load_shipped_config();
	struct score_table t;
	(void)state;

	if (cfg == NULL)
		fail_msg("config_load failed (the errors are above)");
	const struct plan *p = cfg->plan;
	int64_t *acc = calloc(p->nunits * p->nbuckets + 1, sizeof(*acc));
	int basic = plan_category_find(p, "basic"), key = plan_category_find(p, "key");
	int r13 = plan_row_find(p, "13"), r3 = plan_row_find(p, "3");

	assert_int_equal(p->nunits, 5);
	assert_true(basic >= 0 && key >= 0 && r13 >= 0 && r3 >= 0);
	score_compute(p, acc, &t);
	for (size_t u = 0; u < 5; u++) {
		assert_int_equal(t.cats[u * t.ncats + (size_t)basic], 8000);
		assert_int_equal(t.cats[u * t.ncats + (size_t)key], 1500);
		assert_int_equal(t.total[u], 9500);
		assert_int_equal(t.rank[u], 1);
		assert_int_equal(t.rows[u * t.nrows + (size_t)r13], 0);
		assert_int_equal(t.rows[u * t.nrows + (size_t)r3], 1000);
	}
	score_free(&t);

	/* rixin loses row 1 entirely (-3) and 6c's pushback cap (-5): 87, rank 5;
	 * bayilu earns row 13's threshold (+2): 97, rank 1; the rest 95, rank 2 */
	int rixin = plan_unit_find(p, "rixin"), bayilu = plan_unit_find(p, "八一路");
	int r1 = plan_row_find(p, "1"), r6c = plan_row_find(p, "6c");
	int push = plan_kind_find(&p->rows[r6c], "pushback");
	assert_true(rixin >= 0 && bayilu >= 0 && push >= 0);
	acc[(size_t)rixin * p->nbuckets + (size_t)p->rows[r1].bucket] = -300;
	acc[(size_t)rixin * p->nbuckets + (size_t)p->rows[r6c].kinds[push].bucket] = -1000;
	acc[(size_t)bayilu * p->nbuckets + (size_t)p->rows[r13].bucket] = 200;
	score_compute(p, acc, &t);
	assert_int_equal(t.total[rixin], 8700);
	assert_int_equal(t.cats[(size_t)rixin * t.ncats + (size_t)basic], 7200);
	assert_int_equal(t.total[bayilu], 9700);
	assert_int_equal(t.rank[bayilu], 1);
	assert_int_equal(t.rank[rixin], 5);
	for (size_t u = 0; u < 5; u++)
		if ((int)u != rixin && (int)u != bayilu)
			assert_int_equal(t.rank[u], 2);
	score_free(&t);
	free(acc);
	config_free(cfg);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
#define MINI(fn) cmocka_unit_test_setup_teardown(fn, mini_setup, mini_teardown)
		MINI(test_kind_finding_cap),
		MINI(test_kind_award_cap),
		MINI(test_kind_no_cap),
		MINI(test_row_starts_full),
		MINI(test_row_earn_starts_at_zero),
		MINI(test_row_clamp_at_zero),
		MINI(test_row_clamp_at_max),
		MINI(test_row_caps_per_kind),
		MINI(test_row_6c_award_wins_back),
		cmocka_unit_test(test_rank_1224_higher_better),
		cmocka_unit_test(test_rank_lower_better),
		cmocka_unit_test(test_rank_row3_tied_worst),
		cmocka_unit_test(test_rank_absent_is_zero),
		cmocka_unit_test(test_rank_all_tied_and_empty),
		MINI(test_compute_mini),
		cmocka_unit_test(test_compute_shipped_plan_empty),
#undef MINI
	};
	log_set_level(LOG_LEVEL_WARNING);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
