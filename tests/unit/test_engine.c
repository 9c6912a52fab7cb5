/*
 * test_engine — the real engine and command dispatcher over the shipped
 * 2020 plan on an in-memory store, on virtual time: deadlines, closes,
 * moves, the final ranking, quarterly snapshots, idempotence and restarts,
 * reminders.  Expected figures are worked out by hand from plan-2020.md:
 * every row starts full (row 13 at 0), so a unit with nothing recorded
 * has basic 80, key 15, total 95.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kaohe/log.h"
#include "support.h"

static int OCC(struct fx *f, const char *name)
{
	int o = plan_occ_find(f->p, name);
	if (o < 0)
		fail_msg("no occurrence %s", name);
	return o;
}

/* UNIT's score of ROW (NULL: its total) as of AS_OF, in hundredths. */
static int64_t score(struct fx *f, const char *unit, const char *row, int64_t as_of)
{
	struct score_table t;
	assert_int_equal(engine_scores(f->eng, as_of, &t), 0);
	size_t u = (size_t)U(f, unit);
	int64_t v = row ? t.rows[u * t.nrows + (size_t)ROW(f, row)] : t.total[u];
	score_free(&t);
	return v;
}

static int64_t total(struct fx *f, const char *unit, int64_t as_of)
{
	return score(f, unit, NULL, as_of);
}

/* Deductions reported for UNIT (-1 any) on occurrence OCC (NULL any) of TYPE (0 any). */
static size_t nded(struct fx *f, int unit, const char *occ, enum entry_type type)
{
	size_t n = 0;
	int o = occ ? OCC(f, occ) : -2;
	for (size_t i = 0; i < f->rec.nd; i++) {
		const struct ded *d = &f->rec.d[i];
		if ((unit < 0 || d->unit == unit) && (o == -2 || d->occ == o) &&
		    (type == 0 || d->type == type))
			n++;
	}
	return n;
}

static const struct ded *find_ded(struct fx *f, int unit, const char *occ, enum entry_type type)
{
	int o = OCC(f, occ);
	for (size_t i = 0; i < f->rec.nd; i++) {
		const struct ded *d = &f->rec.d[i];
		if (d->unit == unit && d->occ == o && d->type == type)
			return d;
	}
	fail_msg("no %s deduction for unit %d on %s", store_entry_type_name(type), unit, occ);
	return NULL;
}

/* The reminder at AT to UNIT (-1: a department) of KIND, or NULL. */
static const struct rem *find_rem(struct fx *f, int64_t at, int unit, enum slot_kind kind)
{
	const struct rem *found = NULL;
	for (size_t i = 0; i < f->rec.nr; i++) {
		const struct rem *r = &f->rec.r[i];
		if (r->at == at && r->unit == unit && r->kind == kind) {
			if (found)
				fail_msg("two reminders of one kind to one unit at one instant");
			found = r;
		}
	}
	return found;
}

static bool rem_has(const struct rem *r, const char *occ)
{
	for (size_t i = 0; r && i < r->nocc && i < REM_OCCS; i++)
		if (strcmp(r->occ[i], occ) == 0)
			return true;
	return false;
}

/* ---- submission states of one occurrence ------------------------------ */

static void test_submit_one_second_before_deadline(void **state)
{
	struct fx *f = *state;

	run_to(f, T("2020-09-15T23:59:59+08:00"));
	json_t *d = ok(f, "submit bayilu 1");
	assert_string_equal(str(d, "state"), "on-time");
	assert_string_equal(str(d, "deadline"), R1_DEADLINE);
	assert_string_equal(str(d, "close"), R1_CLOSE);
	assert_true(json_is_true(json_object_get(d, "first")));

	run_to(f, T(R1_CLOSE));
	assert_int_equal(nded(f, U(f, "bayilu"), "1", 0), 0);
	assert_i64(score(f, "bayilu", "1", f->now), 300);
	assert_string_equal(str(status_occ(f, "bayilu", "1"), "state"), "on-time");
	/* the others were late at the deadline and missing at close */
	assert_i64(score(f, "renminguangchang", "1", f->now), 0);
}

static void test_submit_at_deadline_is_late(void **state)
{
	struct fx *f = *state;
	int b = U(f, "bayilu");

	/* the engine runs at the instant first, then the command */
	run_to(f, T(R1_DEADLINE));
	const struct ded *late = find_ded(f, b, "1", ENTRY_LATE);
	assert_i64(late->at, T(R1_DEADLINE));
	assert_i64(late->points, -200);
	json_t *d = ok(f, "submit bayilu 1");
	assert_string_equal(str(d, "state"), "late");
	assert_i64(score(f, "bayilu", "1", f->now), 100);

	run_to(f, T(R1_CLOSE));
	assert_int_equal(nded(f, b, "1", ENTRY_MISSING), 0);
	assert_i64(score(f, "bayilu", "1", f->now), 100);
	assert_string_equal(str(status_occ(f, "bayilu", "1"), "state"), "late");
}

static void test_no_submission_late_then_missing(void **state)
{
	struct fx *f = *state;

	run_to(f, T("2020-09-15T23:59:59+08:00"));
	assert_int_equal(nded(f, -1, "1", 0), 0);
	assert_string_equal(str(status_occ(f, "bayilu", "1"), "state"), "pending");

	run_to(f, T(R1_DEADLINE));
	assert_int_equal(nded(f, -1, "1", ENTRY_LATE), 5);
	for (size_t u = 0; u < 5; u++) {
		const struct ded *l = find_ded(f, (int)u, "1", ENTRY_LATE);
		assert_i64(l->at, T(R1_DEADLINE));
		assert_i64(l->points, -200);
		assert_int_equal(l->row, ROW(f, "1"));
	}
	run_to(f, T("2020-09-20T12:00:00+08:00"));
	assert_string_equal(str(status_occ(f, "bayilu", "1"), "state"), "overdue");

	run_to(f, T(R1_CLOSE));
	assert_int_equal(nded(f, -1, "1", ENTRY_MISSING), 5);
	for (size_t u = 0; u < 5; u++) {
		const struct ded *l = find_ded(f, (int)u, "1", ENTRY_LATE);
		const struct ded *m = find_ded(f, (int)u, "1", ENTRY_MISSING);
		assert_i64(m->at, T(R1_CLOSE));
		assert_i64(m->points, -300);
		assert_i64(m->replaces, l->entry);
	}
	run_to(f, T("2020-12-01T00:00:00+08:00"));
	assert_string_equal(str(status_occ(f, "bayilu", "1"), "state"), "missing");
	for (size_t u = 0; u < 5; u++) {
		assert_i64(scores_as_of(f, shipped_unit_ids[u], "1", "2020-09-15T23:59:59+08:00"), 300);
		assert_i64(scores_as_of(f, shipped_unit_ids[u], "1", R1_DEADLINE), 100);
		assert_i64(scores_as_of(f, shipped_unit_ids[u], "1", "2020-09-30T23:59:59+08:00"), 100);
		assert_i64(scores_as_of(f, shipped_unit_ids[u], "1", R1_CLOSE), 0);
		assert_i64(scores_as_of(f, shipped_unit_ids[u], "1", "2020-11-15T00:00:00+08:00"), 0);
	}
}

static void test_submit_between_deadline_and_close_stays_late(void **state)
{
	struct fx *f = *state;

	run_to(f, T("2020-09-20T10:00:00+08:00"));
	json_t *d = ok(f, "submit bayilu 1");
	assert_string_equal(str(d, "state"), "late");
	run_to(f, T(R1_CLOSE));
	assert_int_equal(nded(f, U(f, "bayilu"), "1", ENTRY_MISSING), 0);
	assert_i64(score(f, "bayilu", "1", f->now), 100);
	run_to(f, T("2021-01-01T00:00:00+08:00"));
	assert_i64(score(f, "bayilu", "1", f->now), 100);
	assert_string_equal(str(status_occ(f, "bayilu", "1"), "state"), "late");
}

static void test_submit_at_close_is_missing(void **state)
{
	struct fx *f = *state;

	run_to(f, T(R1_CLOSE));
	json_t *d = ok(f, "submit bayilu 1");
	assert_string_equal(str(d, "state"), "missing");
	assert_i64(score(f, "bayilu", "1", f->now), 0);
	assert_string_equal(str(status_occ(f, "bayilu", "1"), "state"), "missing");
}

static void test_submit_after_close_is_missing(void **state)
{
	struct fx *f = *state;

	run_to(f, T("2020-10-05T10:00:00+08:00"));
	json_t *d = ok(f, "submit bayilu 1");
	assert_string_equal(str(d, "state"), "missing");
	assert_i64(score(f, "bayilu", "1", f->now), 0);
	run_to(f, T("2021-01-01T00:00:00+08:00"));
	assert_i64(score(f, "bayilu", "1", f->now), 0);
}

static void test_only_first_submission_counts(void **state)
{
	struct fx *f = *state;
	json_t *d;

	run_to(f, T("2020-09-10T10:00:00+08:00"));
	d = ok(f, "submit bayilu 1");
	assert_true(json_is_true(json_object_get(d, "first")));
	run_to(f, T("2020-09-20T10:00:00+08:00"));
	d = ok(f, "submit bayilu 1 --note \"a second copy\"");
	assert_true(json_is_false(json_object_get(d, "first")));
	assert_string_equal(str(d, "state"), "on-time");
	run_to(f, T(R1_CLOSE));
	assert_int_equal(nded(f, U(f, "bayilu"), "1", 0), 0);
	assert_i64(score(f, "bayilu", "1", f->now), 300);
}

static void test_void_first_submission_second_counts(void **state)
{
	struct fx *f = *state;

	run_to(f, T("2020-09-10T10:00:00+08:00"));
	json_int_t first = json_integer_value(json_object_get(ok(f, "submit bayilu 1"), "id"));
	run_to(f, T("2020-09-20T10:00:00+08:00"));
	ok(f, "submit bayilu 1");
	run_to(f, T("2020-09-25T10:00:00+08:00"));
	assert_i64(score(f, "bayilu", "1", f->now), 300);
	ok(f, "void %lld --reason \"wrong file\"", (long long)first);
	/* the submission of 09-20 is now the first: late */
	assert_i64(score(f, "bayilu", "1", f->now), 100);
	json_t *o = status_occ(f, "bayilu", "1");
	assert_string_equal(str(o, "state"), "late");
	assert_string_equal(str(o, "submitted_at"), "2020-09-20T10:00:00+08:00");
	run_to(f, T(R1_CLOSE));
	assert_int_equal(nded(f, U(f, "bayilu"), "1", ENTRY_MISSING), 0);
	assert_i64(score(f, "bayilu", "1", f->now), 100);
}

static void test_void_only_submission_is_missing(void **state)
{
	struct fx *f = *state;

	run_to(f, T("2020-09-10T10:00:00+08:00"));
	json_int_t b = json_integer_value(json_object_get(ok(f, "submit bayilu 1"), "id"));
	json_int_t r = json_integer_value(
		json_object_get(ok(f, "submit renminguangchang 1"), "id"));
	/* voided between deadline and close: overdue, so late now and missing at close */
	run_to(f, T("2020-09-25T10:00:00+08:00"));
	ok(f, "void %lld --reason appeal", (long long)r);
	assert_i64(score(f, "renminguangchang", "1", f->now), 100);
	assert_string_equal(str(status_occ(f, "renminguangchang", "1"), "state"), "overdue");
	run_to(f, T(R1_CLOSE));
	assert_i64(score(f, "renminguangchang", "1", f->now), 0);
	/* voided after close: missing at once */
	run_to(f, T("2020-10-05T10:00:00+08:00"));
	assert_i64(score(f, "bayilu", "1", f->now), 300);
	ok(f, "void %lld --reason appeal", (long long)b);
	assert_i64(score(f, "bayilu", "1", f->now), 0);
	assert_string_equal(str(status_occ(f, "bayilu", "1"), "state"), "missing");
}

static void test_backdated_submission_removes_late(void **state)
{
	struct fx *f = *state;

	run_to(f, T("2020-09-17T10:00:00+08:00"));
	assert_i64(score(f, "bayilu", "1", f->now), 100);
	json_t *d = ok(f, "submit bayilu 1 --at 2020-09-15T18:00:00+08:00");
	assert_string_equal(str(d, "state"), "on-time");
	assert_string_equal(str(d, "at"), "2020-09-15T18:00:00+08:00");
	assert_i64(score(f, "bayilu", "1", f->now), 300);
	run_to(f, T(R1_CLOSE));
	assert_int_equal(nded(f, U(f, "bayilu"), "1", ENTRY_MISSING), 0);
	assert_i64(score(f, "bayilu", "1", f->now), 300);
	assert_i64(score(f, "renminguangchang", "1", f->now), 0);
}

/* Recorded after close, dated inside the late window: late, not missing. */
static void test_backdated_after_close_is_late(void **state)
{
	struct fx *f = *state;

	run_to(f, T("2020-10-05T10:00:00+08:00"));
	assert_i64(score(f, "bayilu", "1", f->now), 0);
	json_t *d = ok(f, "submit bayilu 1 --at 2020-09-20T10:00:00+08:00");
	assert_string_equal(str(d, "state"), "late");
	assert_i64(score(f, "bayilu", "1", f->now), 100);
	assert_string_equal(str(status_occ(f, "bayilu", "1"), "state"), "late");
}

static void test_backdated_in_future_refused(void **state)
{
	struct fx *f = *state;

	run_to(f, T("2020-09-17T10:00:00+08:00"));
	fails(f, "bad-time", "submit bayilu 1 --at 2020-09-17T10:00:01+08:00");
	assert_string_equal(str(status_occ(f, "bayilu", "1"), "state"), "overdue");
	assert_i64(score(f, "bayilu", "1", f->now), 100);
	/* --at exactly now is not the future */
	json_t *d = ok(f, "submit bayilu 1 --at 2020-09-17T10:00:00+08:00");
	assert_string_equal(str(d, "state"), "late");
}

/* ---- the final ranking (row 3) ----------------------------------------- */

/*
 * dissatisfaction: bayilu 20 then 12.5 (latest counts), renminguangchang
 * 12.5, baiyun 10, rixin 5, xianglujiao none.  Worst first, 1224: bayilu
 * and renminguangchang share position 1 (-3 each), baiyun is 3rd (-1),
 * rixin 4th (nothing), xianglujiao unranked.
 */
static void ranking_metrics(struct fx *f)
{
	run_to(f, T("2020-12-20T10:00:00+08:00"));
	ok(f, "metric bayilu 3 dissatisfaction 20");
	run_to(f, T("2020-12-22T10:00:00+08:00"));
	ok(f, "metric bayilu 3 dissatisfaction 12.5");
	ok(f, "metric renminguangchang 3 dissatisfaction 12.5");
	ok(f, "metric baiyun 3 dissatisfaction 10");
	ok(f, "metric rixin 3 dissatisfaction 5");
}

#define FINAL "2021-01-01T00:00:00+08:00"

static void test_ranking_ties_at_final(void **state)
{
	struct fx *f = *state;

	ranking_metrics(f);
	run_to(f, T(FINAL));
	assert_i64(score(f, "bayilu", "3", f->now), 700);
	assert_i64(score(f, "renminguangchang", "3", f->now), 700);
	assert_i64(score(f, "baiyun", "3", f->now), 900);
	assert_i64(score(f, "rixin", "3", f->now), 1000);
	size_t n = 0;
	for (size_t i = 0; i < f->rec.nd; i++) {
		const struct ded *d = &f->rec.d[i];
		if (d->type != ENTRY_RANKING)
			continue;
		n++;
		assert_i64(d->at, T(FINAL));
		assert_int_equal(d->row, ROW(f, "3"));
		assert_int_equal(d->occ, -1);
		assert_i64(d->points, d->unit == U(f, "baiyun") ? -100 : -300);
		assert_true(d->unit == U(f, "bayilu") || d->unit == U(f, "renminguangchang") ||
			    d->unit == U(f, "baiyun"));
	}
	assert_int_equal(n, 3);
}

static void test_ranking_unit_without_metric_not_ranked(void **state)
{
	struct fx *f = *state;

	ranking_metrics(f);
	run_to(f, T(FINAL));
	assert_i64(score(f, "xianglujiao", "3", f->now), 1000);
	for (size_t i = 0; i < f->rec.nd; i++)
		assert_false(f->rec.d[i].type == ENTRY_RANKING &&
			     f->rec.d[i].unit == U(f, "xianglujiao"));
	/* being unranked does not push the others down: baiyun is still 3rd */
	assert_i64(score(f, "baiyun", "3", f->now), 900);
}

static void test_ranking_metrics_after_final_ignored(void **state)
{
	struct fx *f = *state;

	ranking_metrics(f);
	run_to(f, T(FINAL));
	/* at the final instant itself, after the engine ran, and later */
	ok(f, "metric xianglujiao 3 dissatisfaction 99");
	ok(f, "metric rixin 3 dissatisfaction 50");
	run_to(f, T("2021-01-05T00:00:00+08:00"));
	ok(f, "metric baiyun 3 dissatisfaction 1");
	run_to(f, T("2021-02-01T00:00:00+08:00"));
	assert_i64(score(f, "xianglujiao", "3", f->now), 1000);
	assert_i64(score(f, "rixin", "3", f->now), 1000);
	assert_i64(score(f, "baiyun", "3", f->now), 900);
	assert_i64(score(f, "bayilu", "3", f->now), 700);
	size_t n = 0;
	for (size_t i = 0; i < f->rec.nd; i++)
		n += f->rec.d[i].type == ENTRY_RANKING;
	assert_int_equal(n, 3);
}

static void test_ranking_none_before_final(void **state)
{
	struct fx *f = *state;

	ranking_metrics(f);
	run_to(f, T("2020-12-31T23:59:59+08:00"));
	for (size_t i = 0; i < f->rec.nd; i++)
		assert_true(f->rec.d[i].type != ENTRY_RANKING);
	for (size_t u = 0; u < 5; u++)
		assert_i64(score(f, shipped_unit_ids[u], "3", f->now), 1000);
	/* and the Q3 snapshot, earlier, has none either */
	assert_int_equal(f->rec.ns, 2);
	assert_i64(f->rec.s[1].rows[U(f, "bayilu")][ROW(f, "3")], 1000);
}

/* ---- moved deadlines --------------------------------------------------- */

static void test_move_crossing_quarter(void **state)
{
	struct fx *f = *state;
	const char *occ = "4@2020-06-20";
	int b = U(f, "bayilu"), r = U(f, "renminguangchang");

	run_to(f, T("2020-06-10T10:00:00+08:00"));
	json_t *d = ok(f, "move %s 2020-07-10 --reason \"survey delayed\"", occ);
	assert_string_equal(str(d, "occurrence"), occ);
	assert_string_equal(str(d, "due"), "2020-07-10");
	assert_string_equal(str(d, "deadline"), "2020-07-11T00:00:00+08:00");
	/* the close follows the new due day's quarter, not the old one's */
	assert_string_equal(str(d, "close"), "2020-10-01T00:00:00+08:00");

	run_to(f, T("2020-07-05T10:00:00+08:00"));
	/* neither the old deadline (06-21) nor the old close (07-01) applied anything */
	assert_int_equal(nded(f, -1, occ, 0), 0);
	d = ok(f, "submit bayilu %s", occ);
	assert_string_equal(str(d, "state"), "on-time");
	assert_string_equal(str(d, "deadline"), "2020-07-11T00:00:00+08:00");

	run_to(f, T("2020-07-11T00:00:00+08:00"));
	assert_int_equal(nded(f, -1, occ, ENTRY_LATE), 4);
	assert_int_equal(nded(f, b, occ, 0), 0);
	assert_i64(find_ded(f, r, occ, ENTRY_LATE)->at, T("2020-07-11T00:00:00+08:00"));
	assert_i64(find_ded(f, r, occ, ENTRY_LATE)->points, -100);
	assert_i64(score(f, "bayilu", "4", T("2020-09-01T00:00:00+08:00")), 800);

	run_to(f, T("2020-10-01T00:00:00+08:00"));
	assert_int_equal(nded(f, -1, occ, ENTRY_MISSING), 4);
	assert_int_equal(nded(f, b, occ, 0), 0);
	assert_i64(find_ded(f, r, occ, ENTRY_MISSING)->at, T("2020-10-01T00:00:00+08:00"));
	assert_i64(find_ded(f, r, occ, ENTRY_MISSING)->points, -200);
	assert_string_equal(str(status_occ(f, "bayilu", occ), "state"), "on-time");
	/* the move is audited */
	json_t *audit = ok(f, "audit 50");
	bool seen = false;
	size_t i;
	json_t *a;
	json_array_foreach(audit, i, a)
		seen |= strstr(str(a, "command"), "move 4@2020-06-20") != NULL;
	assert_true(seen);
}

static void test_move_one_unit(void **state)
{
	struct fx *f = *state;
	const char *occ = "4@2020-06-20";
	int x = U(f, "rixin");

	run_to(f, T("2020-06-10T10:00:00+08:00"));
	json_t *d = ok(f, "move %s 2020-07-10 --unit rixin --reason \"flooded office\"", occ);
	assert_string_equal(str(d, "unit"), "rixin");
	assert_string_equal(str(d, "deadline"), "2020-07-11T00:00:00+08:00");

	run_to(f, T("2020-06-21T00:00:00+08:00"));
	assert_int_equal(nded(f, -1, occ, ENTRY_LATE), 4);
	assert_int_equal(nded(f, x, occ, 0), 0);
	run_to(f, T("2020-07-01T00:00:00+08:00"));
	assert_int_equal(nded(f, -1, occ, ENTRY_MISSING), 4);
	assert_int_equal(nded(f, x, occ, 0), 0);
	assert_string_equal(str(status_occ(f, "rixin", occ), "deadline"),
			    "2020-07-11T00:00:00+08:00");
	assert_string_equal(str(status_occ(f, "bayilu", occ), "deadline"),
			    "2020-06-21T00:00:00+08:00");

	run_to(f, T("2020-07-05T10:00:00+08:00"));
	d = ok(f, "submit rixin %s", occ);
	assert_string_equal(str(d, "state"), "on-time");
	d = ok(f, "submit bayilu %s", occ);
	assert_string_equal(str(d, "state"), "missing");
	run_to(f, T("2020-10-01T00:00:00+08:00"));
	assert_int_equal(nded(f, x, occ, 0), 0);
	/* rixin's row 4 loses only 4@2020-09-20 (missing 2) */
	assert_i64(score(f, "rixin", "4", f->now), 600);
	/* the others lose both: 8 - 2 - 2 */
	assert_i64(score(f, "bayilu", "4", f->now), 400);
}

/* A unit moved on its own is reminded on its own schedule only. */
static void test_move_one_unit_reminders(void **state)
{
	struct fx *f = *state;
	const char *occ = "4@2020-06-20";
	int x = U(f, "rixin"), b = U(f, "bayilu");

	run_to(f, T("2020-06-10T10:00:00+08:00"));
	ok(f, "move %s 2020-07-10 --unit rixin --reason \"flooded office\"", occ);
	run_to(f, T("2020-07-10T23:59:59+08:00"));
	/* 4@2020-06-20 (Sat): -3d Wed 06-17, -1d and the due day both on Fri 06-19 */
	assert_true(rem_has(find_rem(f, T("2020-06-17T09:00:00+08:00"), b, SLOT_BEFORE), occ));
	assert_false(rem_has(find_rem(f, T("2020-06-17T09:00:00+08:00"), x, SLOT_BEFORE), occ));
	/* rixin's own: due Fri 07-10, -1d Thu 07-09, -3d Tue 07-07 */
	assert_true(rem_has(find_rem(f, T("2020-07-07T09:00:00+08:00"), x, SLOT_BEFORE), occ));
	assert_true(rem_has(find_rem(f, T("2020-07-09T09:00:00+08:00"), x, SLOT_BEFORE), occ));
	assert_true(rem_has(find_rem(f, T("2020-07-10T09:00:00+08:00"), x, SLOT_DUE), occ));
	for (size_t i = 0; i < f->rec.nr; i++) {
		const struct rem *r = &f->rec.r[i];
		if (r->unit == x && rem_has(r, occ))
			assert_true(r->at >= T("2020-07-03T09:00:00+08:00"));
		if (r->unit != x && rem_has(r, occ))
			assert_true(r->at < T("2020-07-01T00:00:00+08:00"));
	}
}

/* `status` lists who owes an open occurrence: not a unit whose own deadline is ahead. */
static void test_move_one_unit_status_overdue(void **state)
{
	struct fx *f = *state;
	const char *occ = "4@2020-06-20";

	run_to(f, T("2020-06-10T10:00:00+08:00"));
	ok(f, "move %s 2020-07-10 --unit rixin --reason \"flooded office\"", occ);
	run_to(f, T("2020-06-25T10:00:00+08:00"));
	json_t *open = json_object_get(ok(f, "status"), "open"), *o, *found = NULL;
	size_t i;
	json_array_foreach(open, i, o)
		if (strcmp(str(o, "occurrence"), occ) == 0)
			found = o;
	assert_non_null(found);
	json_t *owing = json_object_get(found, "overdue"), *u;
	char list[256] = "";
	json_array_foreach(owing, i, u)
		snprintf(list + strlen(list), sizeof(list) - strlen(list), "%s%s", i ? "," : "",
			 json_string_value(u));
	/* rixin's own deadline is 07-11: it owes nothing yet */
	assert_string_equal(list, "bayilu,renminguangchang,baiyun,xianglujiao");
	assert_string_equal(str(status_occ(f, "rixin", occ), "state"), "pending");
}

/* 16a (due 05-06) moved after its deadline passed: the late is lifted. */
static void test_move_after_deadline_lifts_late(void **state)
{
	struct fx *f = *state;
	int b = U(f, "bayilu");

	run_to(f, T("2020-05-10T10:00:00+08:00"));
	assert_i64(find_ded(f, b, "16a", ENTRY_LATE)->at, T("2020-05-07T00:00:00+08:00"));
	assert_i64(score(f, "bayilu", "16a", f->now), 0);
	json_t *d = ok(f, "move 16a 2020-07-31 --reason \"regulation not yet issued\"");
	assert_string_equal(str(d, "deadline"), "2020-08-01T00:00:00+08:00");
	assert_string_equal(str(d, "close"), "2020-10-01T00:00:00+08:00");
	assert_i64(score(f, "bayilu", "16a", f->now), 100);
	assert_string_equal(str(status_occ(f, "bayilu", "16a"), "state"), "pending");
	/* the old close (07-01) no longer applies; the new deadline does */
	run_to(f, T("2020-07-28T10:00:00+08:00"));
	ok(f, "submit bayilu 16a");
	run_to(f, T("2020-08-01T00:00:00+08:00"));
	assert_i64(score(f, "bayilu", "16a", f->now), 100);
	assert_i64(score(f, "baiyun", "16a", f->now), 0);
	assert_i64(score(f, "baiyun", "16a", T("2020-07-01T00:00:00+08:00")), 100);
	run_to(f, T("2020-10-01T00:00:00+08:00"));
	assert_i64(score(f, "bayilu", "16a", f->now), 100);
	assert_i64(score(f, "baiyun", "16a", f->now), 0);
	assert_int_equal(nded(f, U(f, "baiyun"), "16a", ENTRY_MISSING), 1);
}

static void test_move_to_datetime(void **state)
{
	struct fx *f = *state;
	const char *occ = "4@2020-06-20";

	run_to(f, T("2020-06-10T10:00:00+08:00"));
	json_t *d = ok(f, "move %s 2020-06-25T12:00:00+08:00 --reason \"noon sharp\"", occ);
	assert_string_equal(str(d, "due"), "2020-06-25T12:00:00+08:00");
	assert_string_equal(str(d, "deadline"), "2020-06-25T12:00:00+08:00");
	assert_string_equal(str(d, "close"), "2020-07-01T00:00:00+08:00");

	run_to(f, T("2020-06-25T11:59:59+08:00"));
	assert_int_equal(nded(f, -1, occ, 0), 0);
	assert_string_equal(str(ok(f, "submit bayilu %s", occ), "state"), "on-time");
	run_to(f, T("2020-06-25T12:00:00+08:00"));
	assert_int_equal(nded(f, -1, occ, ENTRY_LATE), 4);
	assert_i64(find_ded(f, U(f, "baiyun"), occ, ENTRY_LATE)->at,
		   T("2020-06-25T12:00:00+08:00"));
	assert_string_equal(str(ok(f, "submit renminguangchang %s", occ), "state"), "late");
	run_to(f, T("2020-07-01T00:00:00+08:00"));
	assert_i64(score(f, "bayilu", "4", f->now), 800);
	assert_i64(score(f, "renminguangchang", "4", f->now), 700);
	assert_i64(score(f, "baiyun", "4", f->now), 600);
}

/* ---- quarterly snapshots ----------------------------------------------- */

/*
 * Nothing submitted all year.  Closing at 07-01: 2a 6a 17a (2 each),
 * 4@06-20 5@06-20 (2 each), 14 (2), 7a (1), 7b x2 (1 each), 16a (1):
 * basic 80 - 11 = 69, key 15 - 5 = 10, total 79.  At 10-01: 1 (3), 2b (2),
 * 4@09-20 5@09-20 (2 each), 7c x3 (1 each), 16b (1): basic 57, key 9,
 * total 66.  At 2021-01-01: 2c (5), 6b 8 (2 each), 7d x3 (1 each),
 * 4@12-20 5@12-20 (2 each), 15 (1), 17b (2), 16c (0): basic 41, key 6,
 * total 47.
 */
static void test_snapshots_quarters(void **state)
{
	struct fx *f = *state;
	static const char *const periods[] = { "2020-Q2", "2020-Q3", "2020-Q4" };
	static const char *const ats[] = { "2020-07-01T00:00:00+08:00", "2020-10-01T00:00:00+08:00",
					   FINAL };
	static const int64_t totals[] = { 7900, 6600, 4700 };

	run_to(f, T(FINAL));
	assert_int_equal(f->rec.ns, 3);
	for (size_t q = 0; q < 3; q++) {
		assert_string_equal(f->rec.s[q].period, periods[q]);
		assert_i64(f->rec.s[q].at, T(ats[q]));
		for (size_t u = 0; u < 5; u++) {
			assert_i64(f->rec.s[q].total[u], totals[q]);
			assert_int_equal(f->rec.s[q].rank[u], 1);
		}
	}
	json_t *list = ok(f, "snapshots");
	assert_int_equal(json_array_size(list), 3);
	for (size_t q = 0; q < 3; q++) {
		assert_string_equal(str(json_array_get(list, q), "period"), periods[q]);
		assert_string_equal(str(json_array_get(list, q), "at"), ats[q]);
	}
	/* the scores then equal the Q4 snapshot, row by row */
	struct score_table t;
	assert_int_equal(engine_scores(f->eng, f->now, &t), 0);
	for (size_t u = 0; u < 5; u++)
		for (size_t r = 0; r < t.nrows; r++)
			assert_i64(t.rows[u * t.nrows + r], f->rec.s[2].rows[u][r]);
	score_free(&t);
	/* row by row at Q4: the 12-10 rows are gone, 4 and 5 keep 2 and 4 */
	int u = U(f, "baiyun");
	assert_i64(f->rec.s[2].rows[u][ROW(f, "2c")], 0);
	assert_i64(f->rec.s[2].rows[u][ROW(f, "6b")], 0);
	assert_i64(f->rec.s[2].rows[u][ROW(f, "7d")], 0);
	assert_i64(f->rec.s[2].rows[u][ROW(f, "8")], 0);
	assert_i64(f->rec.s[2].rows[u][ROW(f, "4")], 200);
	assert_i64(f->rec.s[2].rows[u][ROW(f, "5")], 400);
	assert_i64(f->rec.s[2].rows[u][ROW(f, "7a")], 100);
	assert_i64(f->rec.s[2].rows[u][ROW(f, "15")], 100);
	assert_i64(f->rec.s[2].rows[u][ROW(f, "16c")], 300);
	/* at Q3 the 12-10 rows were still full */
	assert_i64(f->rec.s[1].rows[u][ROW(f, "2c")], 500);
}

struct snap_json {
	const char *period;
	json_t *units;
};

static int grab_snapshot(const char *period, int64_t at, int64_t taken_at, const char *data,
			 void *arg)
{
	struct snap_json *s = arg;
	(void)at;
	(void)taken_at;
	if (strcmp(period, s->period) == 0)
		s->units = json_loads(data, 0, NULL);
	return 0;
}

/*
 * At 2021-01-01T00:00 deadlines, closes, the ranking and then the
 * snapshot: the Q4 snapshot carries the 12-10 rows' missing deductions
 * and the ranking.  bayilu submits 2c late (12-12): 2c 4, row 3 -3:
 * 47 + 4 - 3 = 48; renminguangchang 47 - 3 = 44; baiyun 47 - 1 = 46;
 * rixin and xianglujiao 47.  Ranks: 1, 5, 4, 2, 2.
 */
static void test_snapshot_order_at_instant(void **state)
{
	struct fx *f = *state;
	static const int64_t totals[] = { 4800, 4400, 4600, 4700, 4700 };
	static const int ranks[] = { 1, 5, 4, 2, 2 };

	run_to(f, T("2020-12-12T10:00:00+08:00"));
	assert_string_equal(str(ok(f, "submit bayilu 2c"), "state"), "late");
	ranking_metrics(f);
	run_to(f, T(FINAL));
	const struct snap *q4 = &f->rec.s[2];
	assert_string_equal(q4->period, "2020-Q4");
	for (size_t u = 0; u < 5; u++) {
		assert_i64(q4->total[u], totals[u]);
		assert_int_equal(q4->rank[u], ranks[u]);
	}
	assert_i64(q4->rows[U(f, "bayilu")][ROW(f, "2c")], 400);
	assert_i64(q4->rows[U(f, "rixin")][ROW(f, "2c")], 0);
	assert_i64(q4->rows[U(f, "bayilu")][ROW(f, "3")], 700);
	assert_i64(q4->rows[U(f, "baiyun")][ROW(f, "3")], 900);
	/* everything applied at that instant was reported before the snapshot */
	size_t at_final = 0;
	for (size_t i = 0; i < f->rec.nd; i++)
		if (f->rec.d[i].at == T(FINAL)) {
			at_final++;
			assert_true(f->rec.d[i].seq < q4->seq);
		}
	/* 2c 6b 8 17b 15 4@12-20 5@12-20 7d x3 for 5 units, less bayilu's 2c
	 * (already late, kept), plus 3 ranking deductions */
	assert_int_equal(at_final, 10 * 5 - 1 + 3);
	/* the stored publication agrees */
	struct snap_json sj = { .period = "2020-Q4", .units = NULL };
	assert_int_equal(store_snapshots(f->st, true, grab_snapshot, &sj), 0);
	assert_non_null(sj.units);
	json_t *b = json_array_get(sj.units, (size_t)U(f, "bayilu"));
	assert_string_equal(str(b, "unit"), "bayilu");
	assert_i64(hund(json_object_get(b, "total")), 4800);
	assert_int_equal(json_integer_value(json_object_get(b, "rank")), 1);
	assert_i64(hund(json_object_get(json_object_get(b, "rows"), "3")), 700);
	assert_i64(hund(json_object_get(json_object_get(b, "rows"), "2c")), 400);
	json_decref(sj.units);
}

/* ---- idempotence and restarts ------------------------------------------ */

static void test_engine_run_twice_changes_nothing(void **state)
{
	struct fx *f = *state;
	int64_t t = T("2020-10-01T00:00:00+08:00");

	assert_int_equal(engine_run(f->eng, t), 0);
	size_t nd = f->rec.nd, nr = f->rec.nr, ns = f->rec.ns;
	int64_t before = total(f, "bayilu", t);
	assert_true(nd > 0);
	assert_int_equal(ns, 2);
	/* Q3 total with nothing submitted: 66 */
	assert_i64(before, 6600);
	assert_int_equal(engine_run(f->eng, t), 0);
	assert_int_equal(engine_run(f->eng, T("2020-09-16T00:00:00+08:00")), 0);
	assert_int_equal(f->rec.nd, nd);
	assert_int_equal(f->rec.nr, nr);
	assert_int_equal(f->rec.ns, ns);
	assert_i64(total(f, "bayilu", t), before);
	assert_i64(engine_hwm(f->eng), t);
	assert_true(engine_next(f->eng) > t);
}

static void test_restart_continues_from_hwm(void **state)
{
	struct fx *f = *state;

	run_to(f, T(R1_DEADLINE));
	int64_t hwm = engine_hwm(f->eng);
	assert_i64(hwm, T(R1_DEADLINE));
	assert_i64(store_hwm(f->st), hwm);
	size_t late1 = nded(f, -1, "1", ENTRY_LATE), nr = f->rec.nr, ns = f->rec.ns;
	assert_int_equal(late1, 5);
	engine_free(f->eng);

	/* a restart: the START argument no longer matters */
	f->eng = engine_new(f->p, f->st, &f->sink, f->start);
	assert_non_null(f->eng);
	assert_i64(engine_hwm(f->eng), hwm);
	assert_true(engine_next(f->eng) > hwm);
	assert_int_equal(engine_run(f->eng, hwm), 0);
	assert_int_equal(f->rec.nr, nr);
	assert_int_equal(f->rec.ns, ns);
	run_to(f, T(R1_CLOSE));
	assert_int_equal(nded(f, -1, "1", ENTRY_LATE), 5);
	assert_int_equal(nded(f, -1, "1", ENTRY_MISSING), 5);
	assert_int_equal(f->rec.ns, 2); /* Q2 before the restart, Q3 after */
	assert_i64(score(f, "bayilu", "1", f->now), 0);
	assert_i64(total(f, "bayilu", f->now), 6600);
}

/* ---- reminders --------------------------------------------------------- */

/*
 * Row 1 (due Tue 09-15): before at 09-08 09:00, 09-11 09:00 (09-12 is a
 * Saturday: previous working day), 09-14 09:00; due 09-15 09:00; overdue
 * 09-16 09:00, then every 3 days.
 */
static void test_reminder_stops_after_submission(void **state)
{
	struct fx *f = *state;
	int b = U(f, "bayilu"), r = U(f, "renminguangchang");
	int64_t sub_at = T("2020-09-09T10:00:00+08:00");

	run_to(f, sub_at);
	assert_true(rem_has(find_rem(f, T("2020-09-08T09:00:00+08:00"), b, SLOT_BEFORE), "1"));
	ok(f, "submit bayilu 1");
	run_to(f, T("2020-09-30T00:00:00+08:00"));
	for (size_t i = 0; i < f->rec.nr; i++)
		if (f->rec.r[i].unit == b && f->rec.r[i].at > sub_at)
			assert_false(rem_has(&f->rec.r[i], "1"));
	/* the others are still reminded, and bayilu of what it owes */
	assert_true(rem_has(find_rem(f, T("2020-09-11T09:00:00+08:00"), r, SLOT_BEFORE), "1"));
	assert_true(rem_has(find_rem(f, T("2020-09-14T09:00:00+08:00"), r, SLOT_BEFORE), "1"));
	assert_true(rem_has(find_rem(f, T("2020-09-15T09:00:00+08:00"), r, SLOT_DUE), "1"));
	assert_true(rem_has(find_rem(f, T("2020-09-16T09:00:00+08:00"), r, SLOT_OVERDUE), "1"));
	assert_true(rem_has(find_rem(f, T("2020-09-11T09:00:00+08:00"), b, SLOT_BEFORE), "2b"));
	assert_null(find_rem(f, T("2020-09-12T09:00:00+08:00"), r, SLOT_BEFORE));
}

/*
 * 17b moved to Fri 12-04: its -1d slot is Thu 12-03 09:00, where the 12-10
 * occurrences (2c, 6b, 7d@2020-12-10, 8) have their -7d slot.  One
 * reminder per unit, sorted by due day.
 */
static void test_reminder_digest(void **state)
{
	struct fx *f = *state;
	static const char *const want[] = { "17b", "2c", "6b", "7d@2020-12-10", "8" };
	int64_t at = T("2020-12-03T09:00:00+08:00");

	run_to(f, T("2020-11-01T10:00:00+08:00"));
	ok(f, "move 17b 2020-12-04 --reason \"earlier inspection\"");
	run_to(f, at);
	for (size_t u = 0; u < 5; u++) {
		const struct rem *r = find_rem(f, at, (int)u, SLOT_BEFORE);
		assert_non_null(r);
		assert_int_equal(r->nocc, 5);
		for (size_t i = 0; i < 5; i++)
			assert_string_equal(r->occ[i], want[i]);
		assert_false(r->escalate);
		assert_int_equal(r->dept, -1);
	}
	size_t n = 0;
	for (size_t i = 0; i < f->rec.nr; i++)
		n += f->rec.r[i].at == at && f->rec.r[i].kind == SLOT_BEFORE;
	assert_int_equal(n, 5);
}

/* The same with 17b moved for bayilu only: its digest still sorts by its due day. */
static void test_reminder_digest_unit_move(void **state)
{
	struct fx *f = *state;
	static const char *const want_b[] = { "17b", "2c", "6b", "7d@2020-12-10", "8" };
	static const char *const want[] = { "2c", "6b", "7d@2020-12-10", "8" };
	int64_t at = T("2020-12-03T09:00:00+08:00");
	int b = U(f, "bayilu");

	run_to(f, T("2020-11-01T10:00:00+08:00"));
	ok(f, "move 17b 2020-12-04 --unit bayilu --reason \"earlier inspection\"");
	run_to(f, at);
	for (size_t u = 0; u < 5; u++) {
		const struct rem *r = find_rem(f, at, (int)u, SLOT_BEFORE);
		assert_non_null(r);
		char got[256] = "", exp[256] = "";
		for (size_t i = 0; i < r->nocc && i < REM_OCCS; i++)
			snprintf(got + strlen(got), sizeof(got) - strlen(got), "%s%s", i ? "," : "",
				 r->occ[i]);
		for (size_t i = 0; i < ((int)u == b ? 5u : 4u); i++)
			snprintf(exp + strlen(exp), sizeof(exp) - strlen(exp), "%s%s", i ? "," : "",
				 (int)u == b ? want_b[i] : want[i]);
		assert_string_equal(got, exp);
	}
}

/*
 * 4@2020-06-20 and 5@2020-06-20 are due on a Saturday: the -1d slot (Fri
 * 06-19) and the due-day slot (moved back to Fri 06-19) collide and are
 * sent once, as `due`, the kind nearest the deadline.
 */
static void test_reminder_collision_sent_once(void **state)
{
	struct fx *f = *state;
	int64_t at = T("2020-06-19T09:00:00+08:00");

	run_to(f, T("2020-06-20T23:59:59+08:00"));
	for (size_t u = 0; u < 5; u++) {
		const struct rem *due = find_rem(f, at, (int)u, SLOT_DUE);
		assert_true(rem_has(due, "4@2020-06-20"));
		assert_true(rem_has(due, "5@2020-06-20"));
		assert_false(rem_has(find_rem(f, at, (int)u, SLOT_BEFORE), "4@2020-06-20"));
		size_t n = 0;
		for (size_t i = 0; i < f->rec.nr; i++)
			n += f->rec.r[i].unit == (int)u && rem_has(&f->rec.r[i], "4@2020-06-20");
		/* -7d Sat 06-13 -> Fri 06-12, -3d Wed 06-17, Fri 06-19 */
		assert_int_equal(n, 3);
	}
}

/*
 * Catch-up after downtime (design: of the missed slots of one occurrence
 * only the latest is sent, none once it closed).  Down from 09-01 to
 * 09-17 10:00: row 1 missed 09-08, 09-11, 09-14 (before), 09-15 (due) and
 * 09-16 (overdue); only the overdue one goes out.
 */
static void test_catch_up_sends_latest_slot_only(void **state)
{
	struct fx *f = *state;
	int b = U(f, "bayilu");

	run_to(f, T("2020-09-01T00:00:00+08:00"));
	size_t before = f->rec.nr;
	engine_free(f->eng);
	f->eng = engine_new(f->p, f->st, &f->sink, f->start);
	assert_int_equal(engine_run(f->eng, T("2020-09-17T10:00:00+08:00")), 0);
	f->now = T("2020-09-17T10:00:00+08:00");
	size_t n = 0;
	for (size_t i = before; i < f->rec.nr; i++)
		if (f->rec.r[i].unit == b && rem_has(&f->rec.r[i], "1")) {
			n++;
			assert_int_equal(f->rec.r[i].kind, SLOT_OVERDUE);
			assert_i64(f->rec.r[i].at, T("2020-09-16T09:00:00+08:00"));
		}
	assert_int_equal(n, 1);
	/* the deadline itself was applied at its own instant */
	assert_i64(find_ded(f, b, "1", ENTRY_LATE)->at, T(R1_DEADLINE));
	/* down again past the close: nothing more about row 1 */
	before = f->rec.nr;
	assert_int_equal(engine_run(f->eng, T("2020-10-05T10:00:00+08:00")), 0);
	for (size_t i = before; i < f->rec.nr; i++)
		assert_false(rem_has(&f->rec.r[i], "1"));
	assert_i64(find_ded(f, b, "1", ENTRY_MISSING)->at, T(R1_CLOSE));
}

/* Row 15 (deadline 10-16, close 2021-01-01): overdue every 3 days from
 * Fri 10-16 09:00, so also on Thu 12-03 09:00. */
static void test_overdue_reminder_escalates(void **state)
{
	struct fx *f = *state;
	int b = U(f, "bayilu");

	run_to(f, T("2020-12-03T09:00:00+08:00"));
	const struct rem *first = find_rem(f, T("2020-10-16T09:00:00+08:00"), b, SLOT_OVERDUE);
	assert_true(rem_has(first, "15"));
	assert_true(first->escalate);
	const struct rem *r = find_rem(f, T("2020-12-03T09:00:00+08:00"), b, SLOT_OVERDUE);
	assert_non_null(r);
	assert_int_equal(r->nocc, 1);
	assert_string_equal(r->occ[0], "15");
	assert_true(r->escalate);
	/* reminders ahead of a due day never escalate */
	for (size_t i = 0; i < f->rec.nr; i++)
		if (f->rec.r[i].kind != SLOT_OVERDUE)
			assert_false(f->rec.r[i].escalate);
		else
			assert_true(f->rec.r[i].escalate);
}

/* Rows 9-13 record on 12-10: one reminder to 住建局's office at 09:00. */
static void test_record_reminder_to_department(void **state)
{
	struct fx *f = *state;
	static const char *const want[] = { "9", "10", "11", "12", "13" };
	int64_t at = T("2020-12-10T09:00:00+08:00");
	int zj = plan_dept_find(f->p, "zhujian");

	assert_true(zj >= 0);
	run_to(f, at);
	const struct rem *r = find_rem(f, at, -1, SLOT_RECORD);
	assert_non_null(r);
	assert_int_equal(r->dept, zj);
	assert_int_equal(r->nocc, 5);
	for (size_t i = 0; i < 5; i++)
		assert_string_equal(r->occ[i], want[i]);
	for (size_t i = 0; i < f->rec.nr; i++) {
		const struct rem *x = &f->rec.r[i];
		if (x->unit >= 0) {
			for (size_t k = 0; k < 5; k++)
				assert_false(rem_has(x, want[k]));
		} else {
			assert_int_equal(x->kind, SLOT_RECORD);
		}
	}
	/* row 18 reminds the office at each quarter's end: Tue 06-30 09:00 */
	assert_true(rem_has(find_rem(f, T("2020-06-30T09:00:00+08:00"), -1, SLOT_RECORD),
			    "18@2020-06-30"));
}

/* What the enqueue sinks saw. */
struct ends {
	int64_t open_at;  /* the instant of the reminders handed over since the last end */
	size_t open;      /* how many */
	size_t nends, nfull; /* ends, and ends closing some reminders */
	int64_t last_end;
	int64_t fail_at;  /* the end of this instant fails once */
	bool mixed;       /* an end came for another instant than its reminders' */
};

static int ends_enqueue(void *arg, const struct reminder *r)
{
	struct ends *e = arg;
	if (e->open && e->open_at != r->at)
		e->mixed = true;
	e->open_at = r->at;
	e->open++;
	return 0;
}

static int ends_end(void *arg, int64_t at)
{
	struct ends *e = arg;
	if (e->open && e->open_at != at)
		e->mixed = true;
	if (at == e->fail_at) {
		e->fail_at = 0;
		e->open = 0;
		return -1;
	}
	e->nfull += e->open > 0;
	e->open = 0;
	e->nends++;
	e->last_end = at;
	return 0;
}

/*
 * enqueue_end closes every instant after its reminders, inside its
 * transaction: -1 rolls the instant back, and the next run applies it
 * again, end included.
 */
static void test_enqueue_end_closes_each_instant(void **state)
{
	struct fx *f = *state;
	int64_t fail_at = T("2020-10-16T09:00:00+08:00");
	struct ends e = { .fail_at = fail_at };
	struct engine_sink sink = { .arg = &e, .enqueue = ends_enqueue, .enqueue_end = ends_end };
	struct engine *eng = engine_new(f->p, f->st, &sink, f->start);

	assert_non_null(eng);
	log_set_level(LOG_LEVEL_ERROR); /* the failure is meant */
	assert_int_equal(engine_run(eng, T("2020-10-16T12:00:00+08:00")), -1);
	log_set_level(LOG_LEVEL_WARNING);
	assert_true(engine_hwm(eng) < fail_at);
	assert_i64(e.fail_at, 0);
	assert_i64(e.last_end, engine_hwm(eng));
	assert_false(e.mixed);
	size_t ends = e.nends;
	assert_true(ends > 0);
	assert_true(e.nfull > 0);
	/* nothing of the failed instant stayed: it comes again, whole */
	assert_int_equal(engine_run(eng, T("2020-10-16T12:00:00+08:00")), 0);
	assert_true(e.nends > ends);
	assert_i64(e.last_end, engine_hwm(eng));
	assert_true(engine_hwm(eng) >= fail_at);
	assert_false(e.mixed);
	assert_int_equal(e.open, 0);
	engine_free(eng);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
#define T_(fn) cmocka_unit_test_setup_teardown(fn, fx_setup, fx_teardown)
		T_(test_submit_one_second_before_deadline),
		T_(test_submit_at_deadline_is_late),
		T_(test_no_submission_late_then_missing),
		T_(test_submit_between_deadline_and_close_stays_late),
		T_(test_submit_at_close_is_missing),
		T_(test_submit_after_close_is_missing),
		T_(test_only_first_submission_counts),
		T_(test_void_first_submission_second_counts),
		T_(test_void_only_submission_is_missing),
		T_(test_backdated_submission_removes_late),
		T_(test_backdated_after_close_is_late),
		T_(test_backdated_in_future_refused),
		T_(test_ranking_ties_at_final),
		T_(test_ranking_unit_without_metric_not_ranked),
		T_(test_ranking_metrics_after_final_ignored),
		T_(test_ranking_none_before_final),
		T_(test_move_crossing_quarter),
		T_(test_move_one_unit),
		T_(test_move_one_unit_reminders),
		T_(test_move_one_unit_status_overdue),
		T_(test_move_after_deadline_lifts_late),
		T_(test_move_to_datetime),
		T_(test_snapshots_quarters),
		T_(test_snapshot_order_at_instant),
		T_(test_engine_run_twice_changes_nothing),
		T_(test_restart_continues_from_hwm),
		T_(test_reminder_stops_after_submission),
		T_(test_reminder_digest),
		T_(test_reminder_digest_unit_move),
		T_(test_reminder_collision_sent_once),
		T_(test_catch_up_sends_latest_slot_only),
		T_(test_overdue_reminder_escalates),
		T_(test_record_reminder_to_department),
		T_(test_enqueue_end_closes_each_instant),
#undef T_
	};
	return cmocka_run_group_tests(tests, config_group_setup, config_group_teardown);
}
