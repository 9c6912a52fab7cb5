/*
 * test_engine — the real engine over the shipped 2020 plan on an
 * in-memory store, on virtual time, driven through its own writes
 * (engine_submit, engine_void, engine_move, engine_metric): deadlines,
 * closes, moves, the final ranking, quarterly snapshots, idempotence and
 * restarts, reminders, and the writes' refusals and transactions.
 * Expected figures are worked out by hand from plan-2020.md: every row
 * starts full (row 13 at 0), so a unit with nothing recorded has basic
 * 80, key 15, total 95.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kaohe/log.h"
#include "kaohe/util.h"
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

/* ---- the engine's writes, as the tests make them ------------------------ */

#define BY "tester"

/* What a write answered, as text: the entry, the state, the schedule after it. */
struct answer {
	int64_t id;
	bool first;
	const char *state;
	char at[40], due[40], deadline[40], close[40];
};

/* OCC's schedule for UNIT (-1: the shared one) into A. */
static void sched_into(struct fx *f, int occ, int unit, struct answer *a)
{
	const struct schedule *s = engine_schedule(f->eng, occ, unit);
	if (s->timed)
		calendar_format_instant(s->due_at, a->due, sizeof(a->due));
	else
		calendar_format_day(s->due_day, a->due, sizeof(a->due));
	calendar_format_instant(s->deadline, a->deadline, sizeof(a->deadline));
	calendar_format_instant(s->close, a->close, sizeof(a->close));
}

/* The schedule of OCC for UNIT (NULL: the shared one). */
static struct answer sched_of(struct fx *f, const char *unit, const char *occ)
{
	struct answer a = { 0 };
	sched_into(f, OCC(f, occ), unit ? U(f, unit) : -1, &a);
	return a;
}

/* UNIT submits OCC now, dated AT (NULL: now), with NOTE (may be NULL); it must be taken. */
static struct answer submit_at(struct fx *f, const char *unit, const char *occ, const char *at,
			       const char *note)
{
	struct engine_submission sub;
	struct engine_error err;
	struct answer a = { 0 };
	int64_t t = at ? T(at) : f->now;
	int u = U(f, unit), o = OCC(f, occ);

	if (engine_submit(f->eng, u, o, t, note, BY, f->now, &sub, &err) < 0)
		fail_msg("submit %s %s: %s: %s", unit, occ, engine_errcode_name(err.code), err.msg);
	a.id = sub.id;
	a.first = sub.first;
	a.state = engine_state_name(sub.state);
	calendar_format_instant(t, a.at, sizeof(a.at));
	sched_into(f, o, u, &a);
	return a;
}

static struct answer submit(struct fx *f, const char *unit, const char *occ)
{
	return submit_at(f, unit, occ, NULL, NULL);
}

/* Void entry ID for REASON; it must be voided. */
static void void_entry(struct fx *f, int64_t id, const char *reason)
{
	struct engine_voided v;
	struct engine_error err;

	if (engine_void(f->eng, id, BY, reason, f->now, &v, &err) < 0)
		fail_msg("void %lld: %s: %s", (long long)id, engine_errcode_name(err.code),
			 err.msg);
	assert_i64(v.id, id);
}

/* Metric NAME of UNIT, under row ROW, is VALUE ("12.5") from now. */
static void metric(struct fx *f, const char *unit, const char *row, const char *name,
		   const char *value)
{
	struct engine_error err;
	int64_t v, id;
	int m = plan_metric_find(f->p, name);

	assert_true(m >= 0);
	assert_int_equal(util_parse_fixed(value, 4, &v), 0);
	if (engine_metric(f->eng, U(f, unit), ROW(f, row), m, v, BY, f->now, &id, &err) < 0)
		fail_msg("metric %s %s: %s: %s", unit, name, engine_errcode_name(err.code),
			 err.msg);
}

/*
 * Move OCC's due to DUE (a day, or a date-time with its offset) for UNIT
 * (NULL: every unit) for REASON; it must be moved.  The schedule after.
 */
static struct answer move(struct fx *f, const char *occ, const char *due, const char *unit,
			  const char *reason)
{
	struct engine_due d = { 0 };
	struct engine_error err;

	if (strchr(due, 'T')) {
		d.timed = true;
		d.at = T(due);
		d.day = calendar_day_of(d.at, NULL);
	} else {
		assert_int_equal(calendar_parse_day(due, f->p->year, &d.day), 0);
	}
	if (engine_move(f->eng, OCC(f, occ), unit ? U(f, unit) : -1, &d, BY, reason, f->now, &err) <
	    0)
		fail_msg("move %s: %s: %s", occ, engine_errcode_name(err.code), err.msg);
	return sched_of(f, unit, occ);
}

/* The state of UNIT's OCC now. */
static const char *state_of(struct fx *f, const char *unit, const char *occ)
{
	return engine_state_name(engine_occ_state(f->eng, U(f, unit), OCC(f, occ), f->now, NULL));
}

/* ---- submission states of one occurrence ------------------------------ */

static void test_submit_one_second_before_deadline(void **state)
{
	struct fx *f = *state;

	run_to(f, T("2020-09-15T23:59:59+08:00"));
	struct answer d = submit(f, "bayilu", "1");
	assert_string_equal(d.state, "on-time");
	assert_string_equal(d.deadline, R1_DEADLINE);
	assert_string_equal(d.close, R1_CLOSE);
	assert_true(d.first);

	run_to(f, T(R1_CLOSE));
	assert_int_equal(nded(f, U(f, "bayilu"), "1", 0), 0);
	assert_i64(score(f, "bayilu", "1", f->now), 300);
	assert_string_equal(state_of(f, "bayilu", "1"), "on-time");
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
	struct answer d = submit(f, "bayilu", "1");
	assert_string_equal(d.state, "late");
	assert_i64(score(f, "bayilu", "1", f->now), 100);

	run_to(f, T(R1_CLOSE));
	assert_int_equal(nded(f, b, "1", ENTRY_MISSING), 0);
	assert_i64(score(f, "bayilu", "1", f->now), 100);
	assert_string_equal(state_of(f, "bayilu", "1"), "late");
}

static void test_no_submission_late_then_missing(void **state)
{
	struct fx *f = *state;

	run_to(f, T("2020-09-15T23:59:59+08:00"));
	assert_int_equal(nded(f, -1, "1", 0), 0);
	assert_string_equal(state_of(f, "bayilu", "1"), "pending");

	run_to(f, T(R1_DEADLINE));
	assert_int_equal(nded(f, -1, "1", ENTRY_LATE), 5);
	for (size_t u = 0; u < 5; u++) {
		const struct ded *l = find_ded(f, (int)u, "1", ENTRY_LATE);
		assert_i64(l->at, T(R1_DEADLINE));
		assert_i64(l->points, -200);
		assert_int_equal(l->row, ROW(f, "1"));
	}
	run_to(f, T("2020-09-20T12:00:00+08:00"));
	assert_string_equal(state_of(f, "bayilu", "1"), "overdue");

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
	assert_string_equal(state_of(f, "bayilu", "1"), "missing");
	for (size_t u = 0; u < 5; u++) {
		assert_i64(score(f, shipped_unit_ids[u], "1", T("2020-09-15T23:59:59+08:00")), 300);
		assert_i64(score(f, shipped_unit_ids[u], "1", T(R1_DEADLINE)), 100);
		assert_i64(score(f, shipped_unit_ids[u], "1", T("2020-09-30T23:59:59+08:00")), 100);
		assert_i64(score(f, shipped_unit_ids[u], "1", T(R1_CLOSE)), 0);
		assert_i64(score(f, shipped_unit_ids[u], "1", T("2020-11-15T00:00:00+08:00")), 0);
	}
}

static void test_submit_between_deadline_and_close_stays_late(void **state)
{
	struct fx *f = *state;

	run_to(f, T("2020-09-20T10:00:00+08:00"));
	struct answer d = submit(f, "bayilu", "1");
	assert_string_equal(d.state, "late");
	run_to(f, T(R1_CLOSE));
	assert_int_equal(nded(f, U(f, "bayilu"), "1", ENTRY_MISSING), 0);
	assert_i64(score(f, "bayilu", "1", f->now), 100);
	run_to(f, T("2021-01-01T00:00:00+08:00"));
	assert_i64(score(f, "bayilu", "1", f->now), 100);
	assert_string_equal(state_of(f, "bayilu", "1"), "late");
}

static void test_submit_at_close_is_missing(void **state)
{
	struct fx *f = *state;

	run_to(f, T(R1_CLOSE));
	struct answer d = submit(f, "bayilu", "1");
	assert_string_equal(d.state, "missing");
	assert_i64(score(f, "bayilu", "1", f->now), 0);
	assert_string_equal(state_of(f, "bayilu", "1"), "missing");
}

static void test_submit_after_close_is_missing(void **state)
{
	struct fx *f = *state;

	run_to(f, T("2020-10-05T10:00:00+08:00"));
	struct answer d = submit(f, "bayilu", "1");
	assert_string_equal(d.state, "missing");
	assert_i64(score(f, "bayilu", "1", f->now), 0);
	run_to(f, T("2021-01-01T00:00:00+08:00"));
	assert_i64(score(f, "bayilu", "1", f->now), 0);
}

static void test_only_first_submission_counts(void **state)
{
	struct fx *f = *state;
	struct answer d;

	run_to(f, T("2020-09-10T10:00:00+08:00"));
	d = submit(f, "bayilu", "1");
	assert_true(d.first);
	run_to(f, T("2020-09-20T10:00:00+08:00"));
	d = submit_at(f, "bayilu", "1", NULL, "a second copy");
	assert_false(d.first);
	assert_string_equal(d.state, "on-time");
	run_to(f, T(R1_CLOSE));
	assert_int_equal(nded(f, U(f, "bayilu"), "1", 0), 0);
	assert_i64(score(f, "bayilu", "1", f->now), 300);
}

static void test_void_first_submission_second_counts(void **state)
{
	struct fx *f = *state;

	run_to(f, T("2020-09-10T10:00:00+08:00"));
	int64_t first = submit(f, "bayilu", "1").id;
	run_to(f, T("2020-09-20T10:00:00+08:00"));
	submit(f, "bayilu", "1");
	run_to(f, T("2020-09-25T10:00:00+08:00"));
	assert_i64(score(f, "bayilu", "1", f->now), 300);
	void_entry(f, first, "wrong file");
	/* the submission of 09-20 is now the first: late */
	assert_i64(score(f, "bayilu", "1", f->now), 100);
	assert_string_equal(state_of(f, "bayilu", "1"), "late");
	char at[40];
	calendar_format_instant(engine_first_submission(f->eng, U(f, "bayilu"), OCC(f, "1")), at,
				sizeof(at));
	assert_string_equal(at, "2020-09-20T10:00:00+08:00");
	run_to(f, T(R1_CLOSE));
	assert_int_equal(nded(f, U(f, "bayilu"), "1", ENTRY_MISSING), 0);
	assert_i64(score(f, "bayilu", "1", f->now), 100);
}

static void test_void_only_submission_is_missing(void **state)
{
	struct fx *f = *state;

	run_to(f, T("2020-09-10T10:00:00+08:00"));
	int64_t b = submit(f, "bayilu", "1").id;
	int64_t r = submit(f, "renminguangchang", "1").id;
	/* voided between deadline and close: overdue, so late now and missing at close */
	run_to(f, T("2020-09-25T10:00:00+08:00"));
	void_entry(f, r, "appeal");
	assert_i64(score(f, "renminguangchang", "1", f->now), 100);
	assert_string_equal(state_of(f, "renminguangchang", "1"), "overdue");
	run_to(f, T(R1_CLOSE));
	assert_i64(score(f, "renminguangchang", "1", f->now), 0);
	/* voided after close: missing at once */
	run_to(f, T("2020-10-05T10:00:00+08:00"));
	assert_i64(score(f, "bayilu", "1", f->now), 300);
	void_entry(f, b, "appeal");
	assert_i64(score(f, "bayilu", "1", f->now), 0);
	assert_string_equal(state_of(f, "bayilu", "1"), "missing");
}

static void test_backdated_submission_removes_late(void **state)
{
	struct fx *f = *state;

	run_to(f, T("2020-09-17T10:00:00+08:00"));
	assert_i64(score(f, "bayilu", "1", f->now), 100);
	struct answer d = submit_at(f, "bayilu", "1", "2020-09-15T18:00:00+08:00", NULL);
	assert_string_equal(d.state, "on-time");
	assert_string_equal(d.at, "2020-09-15T18:00:00+08:00");
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
	struct answer d = submit_at(f, "bayilu", "1", "2020-09-20T10:00:00+08:00", NULL);
	assert_string_equal(d.state, "late");
	assert_i64(score(f, "bayilu", "1", f->now), 100);
	assert_string_equal(state_of(f, "bayilu", "1"), "late");
}

static void test_backdated_in_future_refused(void **state)
{
	struct fx *f = *state;

	run_to(f, T("2020-09-17T10:00:00+08:00"));
	struct engine_submission sub;
	struct engine_error err;
	int64_t later = T("2020-09-17T10:00:01+08:00");
	assert_int_equal(engine_submit(f->eng, U(f, "bayilu"), OCC(f, "1"), later, NULL, BY, f->now,
				       &sub, &err),
			 -1);
	assert_int_equal(err.code, ENGINE_EBADTIME);
	assert_string_equal(engine_errcode_name(err.code), "bad-time");
	assert_string_equal(state_of(f, "bayilu", "1"), "overdue");
	assert_i64(score(f, "bayilu", "1", f->now), 100);
	/* --at exactly now is not the future */
	struct answer d = submit_at(f, "bayilu", "1", "2020-09-17T10:00:00+08:00", NULL);
	assert_string_equal(d.state, "late");
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
	metric(f, "bayilu", "3", "dissatisfaction", "20");
	run_to(f, T("2020-12-22T10:00:00+08:00"));
	metric(f, "bayilu", "3", "dissatisfaction", "12.5");
	metric(f, "renminguangchang", "3", "dissatisfaction", "12.5");
	metric(f, "baiyun", "3", "dissatisfaction", "10");
	metric(f, "rixin", "3", "dissatisfaction", "5");
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
	metric(f, "xianglujiao", "3", "dissatisfaction", "99");
	metric(f, "rixin", "3", "dissatisfaction", "50");
	run_to(f, T("2021-01-05T00:00:00+08:00"));
	metric(f, "baiyun", "3", "dissatisfaction", "1");
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

/* Keep the last move of the store (its reason is not kept). */
static int last_move(const struct move *m, void *arg)
{
	struct move *keep = arg;
	*keep = *m;
	keep->reason = NULL;
	return 0;
}

static void test_move_crossing_quarter(void **state)
{
	struct fx *f = *state;
	const char *occ = "4@2020-06-20";
	int b = U(f, "bayilu"), r = U(f, "renminguangchang");

	run_to(f, T("2020-06-10T10:00:00+08:00"));
	struct answer d = move(f, occ, "2020-07-10", NULL, "survey delayed");
	/* the occurrence keeps its name */
	assert_int_equal(plan_occ_find(f->p, occ), OCC(f, occ));
	assert_string_equal(f->p->occs[OCC(f, occ)].name, occ);
	assert_string_equal(d.due, "2020-07-10");
	assert_string_equal(d.deadline, "2020-07-11T00:00:00+08:00");
	/* the close follows the new due day's quarter, not the old one's */
	assert_string_equal(d.close, "2020-10-01T00:00:00+08:00");

	run_to(f, T("2020-07-05T10:00:00+08:00"));
	/* neither the old deadline (06-21) nor the old close (07-01) applied anything */
	assert_int_equal(nded(f, -1, occ, 0), 0);
	d = submit(f, "bayilu", occ);
	assert_string_equal(d.state, "on-time");
	assert_string_equal(d.deadline, "2020-07-11T00:00:00+08:00");

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
	assert_string_equal(state_of(f, "bayilu", occ), "on-time");
	/* the move is recorded, with who made it and why (test_command: and audited) */
	struct move seen = { 0 };
	assert_int_equal(store_moves(f->st, last_move, &seen), 0);
	assert_string_equal(seen.occ, occ);
	assert_int_equal(seen.unit, -1);
	assert_int_equal(seen.due_day, D(7, 10));
	assert_false(seen.timed);
	assert_string_equal(seen.actor, BY);
	assert_i64(seen.at, T("2020-06-10T10:00:00+08:00"));
}

static void test_move_one_unit(void **state)
{
	struct fx *f = *state;
	const char *occ = "4@2020-06-20";
	int x = U(f, "rixin");

	run_to(f, T("2020-06-10T10:00:00+08:00"));
	struct answer d = move(f, occ, "2020-07-10", "rixin", "flooded office");
	/* moved for rixin only */
	assert_string_equal(sched_of(f, NULL, occ).deadline, "2020-06-21T00:00:00+08:00");
	assert_string_equal(d.deadline, "2020-07-11T00:00:00+08:00");

	run_to(f, T("2020-06-21T00:00:00+08:00"));
	assert_int_equal(nded(f, -1, occ, ENTRY_LATE), 4);
	assert_int_equal(nded(f, x, occ, 0), 0);
	run_to(f, T("2020-07-01T00:00:00+08:00"));
	assert_int_equal(nded(f, -1, occ, ENTRY_MISSING), 4);
	assert_int_equal(nded(f, x, occ, 0), 0);
	assert_string_equal(sched_of(f, "rixin", occ).deadline, "2020-07-11T00:00:00+08:00");
	assert_string_equal(sched_of(f, "bayilu", occ).deadline, "2020-06-21T00:00:00+08:00");

	run_to(f, T("2020-07-05T10:00:00+08:00"));
	d = submit(f, "rixin", occ);
	assert_string_equal(d.state, "on-time");
	d = submit(f, "bayilu", occ);
	assert_string_equal(d.state, "missing");
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
	move(f, occ, "2020-07-10", "rixin", "flooded office");
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

/*
 * Who owes an open occurrence (overdue): not a unit whose own deadline is
 * ahead (test_command: and `status` lists them so).
 */
static void test_move_one_unit_status_overdue(void **state)
{
	struct fx *f = *state;
	const char *occ = "4@2020-06-20";

	run_to(f, T("2020-06-10T10:00:00+08:00"));
	move(f, occ, "2020-07-10", "rixin", "flooded office");
	run_to(f, T("2020-06-25T10:00:00+08:00"));
	char list[256] = "";
	for (size_t u = 0; u < f->p->nunits; u++)
		if (engine_occ_state(f->eng, (int)u, OCC(f, occ), f->now, NULL) == OCC_OVERDUE)
			snprintf(list + strlen(list), sizeof(list) - strlen(list), "%s%s",
				 *list ? "," : "", f->p->units[u].id);
	/* rixin's own deadline is 07-11: it owes nothing yet */
	assert_string_equal(list, "bayilu,renminguangchang,baiyun,xianglujiao");
	assert_string_equal(state_of(f, "rixin", occ), "pending");
}

/* 16a (due 05-06) moved after its deadline passed: the late is lifted. */
static void test_move_after_deadline_lifts_late(void **state)
{
	struct fx *f = *state;
	int b = U(f, "bayilu");

	run_to(f, T("2020-05-10T10:00:00+08:00"));
	assert_i64(find_ded(f, b, "16a", ENTRY_LATE)->at, T("2020-05-07T00:00:00+08:00"));
	assert_i64(score(f, "bayilu", "16a", f->now), 0);
	struct answer d = move(f, "16a", "2020-07-31", NULL, "regulation not yet issued");
	assert_string_equal(d.deadline, "2020-08-01T00:00:00+08:00");
	assert_string_equal(d.close, "2020-10-01T00:00:00+08:00");
	assert_i64(score(f, "bayilu", "16a", f->now), 100);
	assert_string_equal(state_of(f, "bayilu", "16a"), "pending");
	/* the old close (07-01) no longer applies; the new deadline does */
	run_to(f, T("2020-07-28T10:00:00+08:00"));
	submit(f, "bayilu", "16a");
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
	struct answer d = move(f, occ, "2020-06-25T12:00:00+08:00", NULL, "noon sharp");
	assert_string_equal(d.due, "2020-06-25T12:00:00+08:00");
	assert_string_equal(d.deadline, "2020-06-25T12:00:00+08:00");
	assert_string_equal(d.close, "2020-07-01T00:00:00+08:00");

	run_to(f, T("2020-06-25T11:59:59+08:00"));
	assert_int_equal(nded(f, -1, occ, 0), 0);
	assert_string_equal(submit(f, "bayilu", occ).state, "on-time");
	run_to(f, T("2020-06-25T12:00:00+08:00"));
	assert_int_equal(nded(f, -1, occ, ENTRY_LATE), 4);
	assert_i64(find_ded(f, U(f, "baiyun"), occ, ENTRY_LATE)->at,
		   T("2020-06-25T12:00:00+08:00"));
	assert_string_equal(submit(f, "renminguangchang", occ).state, "late");
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
/* The snapshots the store holds, in time order. */
struct stored {
	size_t n;
	char period[4][16], at[4][40];
};

static int list_snapshot(const char *period, int64_t at, int64_t taken_at, const char *data,
			 void *arg)
{
	struct stored *st = arg;
	(void)taken_at;
	(void)data;
	assert_true(st->n < 4);
	snprintf(st->period[st->n], sizeof(st->period[0]), "%s", period);
	calendar_format_instant(at, st->at[st->n], sizeof(st->at[0]));
	st->n++;
	return 0;
}

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
	struct stored st = { 0 };
	assert_int_equal(store_snapshots(f->st, false, list_snapshot, &st), 0);
	assert_int_equal(st.n, 3);
	for (size_t q = 0; q < 3; q++) {
		assert_string_equal(st.period[q], periods[q]);
		assert_string_equal(st.at[q], ats[q]);
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
	assert_string_equal(submit(f, "bayilu", "2c").state, "late");
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
	submit(f, "bayilu", "1");
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
	move(f, "17b", "2020-12-04", NULL, "earlier inspection");
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
	move(f, "17b", "2020-12-04", "bayilu", "earlier inspection");
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
	int64_t open_at;     /* the instant of the reminders handed over since the last end */
	size_t open;         /* how many */
	size_t nends, nfull; /* ends, and ends closing some reminders */
	int64_t last_end;
	int64_t fail_at; /* the end of this instant fails once */
	bool mixed;      /* an end came for another instant than its reminders' */
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

/* ---- the writes' refusals and transactions ------------------------------ */

/* Each refusal names its code and writes nothing. */
static void test_writes_refused(void **state)
{
	struct fx *f = *state;
	struct engine_submission sub;
	struct engine_voided v;
	struct engine_error err;
	int b = U(f, "bayilu");

	run_to(f, T("2020-06-01T10:00:00+08:00"));
	int64_t changes = store_changes(f->st);
	/* a record node takes no submissions */
	assert_int_equal(
		engine_submit(f->eng, b, OCC(f, "9"), f->now, NULL, BY, f->now, &sub, &err), -1);
	assert_int_equal(err.code, ENGINE_ENOTSUBMITTABLE);
	assert_string_equal(engine_errcode_name(err.code), "not-submittable");
	/* nor is a submission dated before the plan year */
	int64_t early = T("2019-12-31T23:59:59+08:00");
	assert_int_equal(
		engine_submit(f->eng, b, OCC(f, "14"), early, NULL, BY, f->now, &sub, &err), -1);
	assert_int_equal(err.code, ENGINE_EBADTIME);
	assert_non_null(strstr(err.msg, "before the plan year 2020"));
	/* a due outside the plan year */
	struct engine_due due = { .day = D(12, 31) + 1 };
	assert_int_equal(engine_move(f->eng, OCC(f, "16a"), -1, &due, BY, "x", f->now, &err), -1);
	assert_int_equal(err.code, ENGINE_EBADDATE);
	assert_string_equal(engine_errcode_name(err.code), "bad-date");
	assert_non_null(strstr(err.msg, "2021-01-01"));
	/* an entry that does not exist */
	assert_int_equal(engine_void(f->eng, 999999, BY, "x", f->now, &v, &err), -1);
	assert_int_equal(err.code, ENGINE_ENOTFOUND);
	assert_string_equal(engine_errcode_name(err.code), "not-found");
	assert_i64(store_changes(f->st), changes);
	/* one already void */
	int64_t id = submit(f, "bayilu", "14").id;
	void_entry(f, id, "typo");
	changes = store_changes(f->st);
	assert_int_equal(engine_void_target(f->eng, id, &v, &err), -1);
	assert_int_equal(err.code, ENGINE_ECONFLICT);
	assert_int_equal(engine_void(f->eng, id, BY, "again", f->now, &v, &err), -1);
	assert_int_equal(err.code, ENGINE_ECONFLICT);
	assert_string_equal(engine_errcode_name(err.code), "conflict");
	assert_i64(store_changes(f->st), changes);
	/* due 05-15: overdue again once its only submission is void */
	assert_string_equal(state_of(f, "bayilu", "14"), "overdue");
	assert_string_equal(sched_of(f, NULL, "16a").deadline, "2020-05-07T00:00:00+08:00");
}

/* What the void target names: the entry's row and unit, a submission's occurrence. */
static void test_void_target(void **state)
{
	struct fx *f = *state;
	struct engine_voided v;
	struct engine_error err;

	run_to(f, T("2020-06-01T10:00:00+08:00"));
	int64_t id = submit(f, "baiyun", "2b").id;
	assert_int_equal(engine_void_target(f->eng, id, &v, &err), 0);
	assert_i64(v.id, id);
	assert_int_equal(v.type, ENTRY_SUBMISSION);
	assert_int_equal(v.unit, U(f, "baiyun"));
	assert_int_equal(v.row, ROW(f, "2b"));
	assert_int_equal(v.occ, OCC(f, "2b"));
	int64_t late = find_ded(f, U(f, "baiyun"), "16a", ENTRY_LATE)->entry;
	assert_int_equal(engine_void_target(f->eng, late, &v, &err), 0);
	assert_int_equal(v.type, ENTRY_LATE);
	assert_int_equal(v.row, ROW(f, "16a"));
	assert_int_equal(v.occ, -1);
}

/*
 * A caller's transaction rolled back after a write (a command whose audit
 * row failed): what the engine keeps of the store is put back, and the
 * caller hears that the timeline may have changed.  A rollback with
 * nothing written says so.
 */
static void test_rollback_puts_back_what_is_kept(void **state)
{
	struct fx *f = *state;
	int b = U(f, "bayilu"), o = OCC(f, "1");

	run_to(f, T("2020-09-10T10:00:00+08:00"));
	assert_int_equal(engine_begin(f->eng), 0);
	assert_int_equal(engine_rollback(f->eng), 0);

	assert_int_equal(engine_begin(f->eng), 0);
	submit(f, "bayilu", "1");
	move(f, "1", "2020-09-30", NULL, "later");
	assert_i64(engine_first_submission(f->eng, b, o), T("2020-09-10T10:00:00+08:00"));
	assert_string_equal(sched_of(f, NULL, "1").deadline, "2020-10-01T00:00:00+08:00");
	assert_int_equal(engine_rollback(f->eng), 1);
	assert_int_equal(store_in_transaction(f->st), 0);
	assert_i64(engine_first_submission(f->eng, b, o), INT64_MAX);
	assert_string_equal(sched_of(f, NULL, "1").deadline, R1_DEADLINE);
	assert_string_equal(state_of(f, "bayilu", "1"), "pending");

	/* committed, it stays */
	assert_int_equal(engine_begin(f->eng), 0);
	submit(f, "bayilu", "1");
	assert_int_equal(engine_commit(f->eng), 0);
	assert_string_equal(state_of(f, "bayilu", "1"), "on-time");
	run_to(f, T(R1_CLOSE));
	assert_int_equal(nded(f, b, "1", 0), 0);
}

/*
 * In batch (simulate), the writes run inside the caller's one
 * transaction and open none of their own.
 */
static void test_batch_writes_in_the_callers_transaction(void **state)
{
	struct fx *f = *state;

	engine_set_batch(f->eng);
	assert_int_equal(store_begin(f->st), 0);
	run_to(f, T("2020-09-10T10:00:00+08:00"));
	assert_int_equal(store_in_transaction(f->st), 1);
	assert_string_equal(submit(f, "bayilu", "1").state, "on-time");
	metric(f, "bayilu", "13", "satisfaction", "80");
	assert_int_equal(store_in_transaction(f->st), 1);
	assert_i64(score(f, "bayilu", "13", f->now), 200);
	assert_int_equal(store_commit(f->st), 0);
	run_to(f, T(R1_CLOSE));
	assert_int_equal(nded(f, U(f, "bayilu"), "1", 0), 0);
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
		T_(test_writes_refused),
		T_(test_void_target),
		T_(test_rollback_puts_back_what_is_kept),
		T_(test_batch_writes_in_the_callers_transaction),
#undef T_
	};
	return cmocka_run_group_tests(tests, config_group_setup, config_group_teardown);
}
