/*
 * test_command — the command dispatcher over the shipped 2020 plan on an
 * in-memory store with the real engine: counted entries and their caps,
 * row 13's thresholds, every error code, atomicity of failing commands,
 * authorization, the word splitter, `explain`, and the outbox's commands
 * `outbox` and `retry`.  Expected figures are worked out by hand from
 * plan-2020.md: a unit with nothing recorded has basic 80, key 15, total 95.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kaohe/grammar.h"
#include "support.h"

/* Row ROW of UNIT in `scores` now. */
static int64_t row_now(struct fx *f, const char *unit, const char *row)
{
	json_t *d = ok(f, "scores");
	json_t *u = json_array_get(json_object_get(d, "units"), (size_t)U(f, unit));
	assert_string_equal(str(u, "unit"), unit);
	return hund(json_object_get(json_object_get(u, "rows"), row));
}

static int64_t total_now(struct fx *f, const char *unit)
{
	json_t *d = ok(f, "scores");
	json_t *u = json_array_get(json_object_get(d, "units"), (size_t)U(f, unit));
	return hund(json_object_get(u, "total"));
}

/* The whole answer of LINE as text, to compare database states. */
static char *dump(struct fx *f, const char *line)
{
	json_t *d = ok(f, "%s", line);
	char *s = json_dumps(d, JSON_SORT_KEYS | JSON_COMPACT);
	assert_non_null(s);
	return s;
}

#define MAY "2020-05-02T10:00:00+08:00"

/* ---- counted entries and caps ----------------------------------------- */

/* Row 6c: pushback 0.2 each, cap 5; resolved 0.1 each, cap 5; never above 5. */
static void test_record_6c_cap_and_winback(void **state)
{
	struct fx *f = *state;

	run_to(f, T(MAY));
	json_t *d = ok(f, "record bayilu 6c pushback 30");
	assert_string_equal(str(d, "type"), "finding");
	assert_int_equal(json_integer_value(json_object_get(d, "count")), 30);
	assert_i64(hund(json_object_get(d, "points")), -600);
	/* -6 capped at -5 */
	assert_i64(row_now(f, "bayilu", "6c"), 0);
	assert_i64(total_now(f, "bayilu"), 9000);
	d = ok(f, "record bayilu 6c resolved 12");
	assert_string_equal(str(d, "type"), "award");
	assert_i64(hund(json_object_get(d, "points")), 120);
	assert_i64(row_now(f, "bayilu", "6c"), 120);
	/* 62 resolved: +6.2 capped at +5: 5 - 5 + 5 */
	ok(f, "record bayilu 6c resolved 50");
	assert_i64(row_now(f, "bayilu", "6c"), 500);
	assert_i64(total_now(f, "bayilu"), 9500);
	/* -0.4 and +5 (capped from +6): 9.6 clamped to 5 */
	ok(f, "record renminguangchang 6c pushback 2");
	assert_i64(row_now(f, "renminguangchang", "6c"), 460);
	ok(f, "record renminguangchang 6c resolved 60");
	assert_i64(row_now(f, "renminguangchang", "6c"), 500);
	assert_i64(total_now(f, "renminguangchang"), 9500);
}

/* Row 12: no-community-specialist 1 each, cap 2 (两处以上扣2分). */
static void test_record_12_cap(void **state)
{
	struct fx *f = *state;

	run_to(f, T(MAY));
	ok(f, "record bayilu 12 no-community-specialist 3");
	assert_i64(row_now(f, "bayilu", "12"), 400);
	ok(f, "record bayilu 12 no-community-specialist");
	assert_i64(row_now(f, "bayilu", "12"), 400);
	ok(f, "record bayilu 12 duties-unclear");
	assert_i64(row_now(f, "bayilu", "12"), 200);
	ok(f, "record bayilu 12 no-community-specialist 1");
	assert_i64(row_now(f, "bayilu", "12"), 200);
	/* one specialist missing costs 1 */
	ok(f, "record baiyun 12 no-community-specialist");
	assert_i64(row_now(f, "baiyun", "12"), 500);
}

/* Row 7a (max 2): ledger 0.5 x 3 and no-implementation-plan 0.5 x 2 = -2.5 -> 0. */
static void test_record_7a_clamps_at_zero(void **state)
{
	struct fx *f = *state;

	run_to(f, T(MAY));
	ok(f, "record bayilu 7a ledger 3");
	assert_i64(row_now(f, "bayilu", "7a"), 50);
	ok(f, "record bayilu 7a no-implementation-plan 2");
	assert_i64(row_now(f, "bayilu", "7a"), 0);
	/* the overshoot does not leak into the category or the total */
	assert_i64(total_now(f, "bayilu"), 9300);
	json_t *u =
		json_array_get(json_object_get(ok(f, "scores"), "units"), (size_t)U(f, "bayilu"));
	assert_i64(hund(json_object_get(u, "basic")), 7800);
	assert_i64(hund(json_object_get(u, "key")), 1500);
	/* and the missing 7a (-1 at 07-01) cannot take it below 0 either */
	run_to(f, T("2020-07-01T00:00:00+08:00"));
	assert_i64(row_now(f, "bayilu", "7a"), 0);
}

/* ---- row 13's threshold ------------------------------------------------ */

static void test_threshold_exactly_80(void **state)
{
	struct fx *f = *state;

	run_to(f, T(MAY));
	assert_i64(row_now(f, "bayilu", "13"), 0);
	ok(f, "metric bayilu 13 satisfaction 80");
	assert_i64(row_now(f, "bayilu", "13"), 200);
	assert_i64(total_now(f, "bayilu"), 9700);
	ok(f, "metric baiyun 13 fee-rate 80.0");
	assert_i64(row_now(f, "baiyun", "13"), 200);
}

static void test_threshold_below_80(void **state)
{
	struct fx *f = *state;

	run_to(f, T(MAY));
	ok(f, "metric bayilu 13 satisfaction 79.9999");
	assert_i64(row_now(f, "bayilu", "13"), 0);
	ok(f, "metric bayilu 13 fee-rate 79.99");
	assert_i64(row_now(f, "bayilu", "13"), 0);
	assert_i64(total_now(f, "bayilu"), 9500);
}

static void test_threshold_both_count_once(void **state)
{
	struct fx *f = *state;

	run_to(f, T(MAY));
	ok(f, "metric bayilu 13 satisfaction 85");
	ok(f, "metric bayilu 13 fee-rate 80");
	assert_i64(row_now(f, "bayilu", "13"), 200);
	run_to(f, T("2020-05-03T10:00:00+08:00"));
	ok(f, "metric bayilu 13 fee-rate 95");
	assert_i64(row_now(f, "bayilu", "13"), 200);
	/* with one commendation (+2): 4 */
	ok(f, "record bayilu 13 commendation");
	assert_i64(row_now(f, "bayilu", "13"), 400);
}

static void test_threshold_lower_value_removes(void **state)
{
	struct fx *f = *state;

	run_to(f, T(MAY));
	ok(f, "metric bayilu 13 satisfaction 80");
	ok(f, "metric baiyun 13 satisfaction 90");
	ok(f, "metric baiyun 13 fee-rate 90");
	run_to(f, T("2020-06-01T10:00:00+08:00"));
	ok(f, "metric bayilu 13 satisfaction 79.5");
	assert_i64(row_now(f, "bayilu", "13"), 0);
	/* it held from 05-02 to 06-01 */
	assert_i64(scores_as_of(f, "bayilu", "13", "2020-05-20T00:00:00+08:00"), 200);
	/* one condition of two still holds */
	ok(f, "metric baiyun 13 satisfaction 10");
	assert_i64(row_now(f, "baiyun", "13"), 200);
	ok(f, "metric baiyun 13 fee-rate 50");
	assert_i64(row_now(f, "baiyun", "13"), 0);
	/* met again later: back */
	run_to(f, T("2020-06-02T10:00:00+08:00"));
	json_int_t id = json_integer_value(
		json_object_get(ok(f, "metric bayilu 13 satisfaction 81"), "id"));
	assert_i64(row_now(f, "bayilu", "13"), 200);
	/* and a voided metric counts as never recorded: 79.5 is the latest again */
	run_to(f, T("2020-06-03T10:00:00+08:00"));
	ok(f, "void %lld --reason \"typo\"", (long long)id);
	assert_i64(row_now(f, "bayilu", "13"), 0);
}

/* ---- errors ------------------------------------------------------------ */

static void test_err_unknown_unit(void **state)
{
	struct fx *f = *state;
	const char *m = fails(f, "unknown-unit", "submit nowhere 1");

	for (size_t u = 0; u < 5; u++)
		assert_non_null(strstr(m, shipped_unit_ids[u]));
	assert_non_null(strstr(m, "nowhere"));
	fails(f, "unknown-unit", "record 不存在 6c pushback");
	fails(f, "unknown-unit", "metric nowhere 13 satisfaction 80");
	fails(f, "unknown-unit", "explain nowhere");
	fails(f, "unknown-unit", "move 16a 2020-07-31 --unit nowhere --reason x");
	/* a unit may be named by its Chinese name */
	assert_string_equal(str(ok(f, "submit 八一路 14"), "unit"), "bayilu");
}

static void test_err_unknown_row(void **state)
{
	struct fx *f = *state;
	const char *m = fails(f, "unknown-row", "record bayilu 99 ledger");

	assert_non_null(strstr(m, "99"));
	assert_non_null(strstr(m, "6c"));
	fails(f, "unknown-row", "metric bayilu 2d satisfaction 80");
	fails(f, "unknown-row", "explain bayilu 19");
}

static void test_err_unknown_kind(void **state)
{
	struct fx *f = *state;
	const char *m = fails(f, "unknown-kind", "record bayilu 6c complaint");

	assert_non_null(strstr(m, "pushback"));
	assert_non_null(strstr(m, "resolved"));
	/* a kind of another row is not this row's */
	fails(f, "unknown-kind", "record bayilu 7a pushback");
	/* a row with no kinds at all */
	fails(f, "unknown-kind", "record bayilu 1 late");
}

static void test_err_ambiguous_occurrence(void **state)
{
	struct fx *f = *state;
	const char *m = fails(f, "ambiguous-occurrence", "submit bayilu 4");

	assert_non_null(strstr(m, "4@2020-06-20"));
	assert_non_null(strstr(m, "4@2020-09-20"));
	assert_non_null(strstr(m, "4@2020-12-20"));
	fails(f, "ambiguous-occurrence", "move 7c 2020-09-30 --reason x");
	/* a date that is none of them */
	fails(f, "unknown-occurrence", "submit bayilu 4@2020-06-21");
	/* a single-occurrence row is named by its id only */
	assert_string_equal(str(ok(f, "submit bayilu 14"), "occurrence"), "14");
}

static void test_err_bad_count(void **state)
{
	struct fx *f = *state;

	fails(f, "bad-count", "record bayilu 6c pushback 0");
	fails(f, "bad-count", "record bayilu 6c pushback -1");
	fails(f, "bad-count", "record bayilu 6c pushback abc");
	fails(f, "bad-count", "record bayilu 6c pushback 1.5");
	fails(f, "bad-count", "record bayilu 6c pushback 3x");
	assert_i64(row_now(f, "bayilu", "6c"), 500);
}

static void test_err_bad_value(void **state)
{
	struct fx *f = *state;

	fails(f, "bad-value", "metric bayilu 13 satisfaction abc");
	fails(f, "bad-value", "metric bayilu 13 satisfaction 80%%");
	fails(f, "bad-value", "metric bayilu 13 satisfaction 80.00001");
	fails(f, "bad-value", "metric bayilu 3 dissatisfaction 1e2");
	assert_i64(row_now(f, "bayilu", "13"), 0);
}

static void test_err_bad_date(void **state)
{
	struct fx *f = *state;

	fails(f, "bad-date", "move 16a 2020-13-45 --reason x");
	fails(f, "bad-date", "move 16a 2020-02-30 --reason x");
	fails(f, "bad-date", "move 16a yesterday --reason x");
	/* outside the plan year */
	fails(f, "bad-date", "move 16a 2021-03-01 --reason x");
	assert_string_equal(str(status_occ(f, "bayilu", "16a"), "deadline"),
			    "2020-05-07T00:00:00+08:00");
}

static void test_err_bad_utf8(void **state)
{
	struct fx *f = *state;

	fails(f, "bad-utf8", "submit bayilu 14 --note \"\xff\"");
	fails(f, "bad-utf8", "submit bayilu 14 --note \xc0\xaf");     /* overlong '/' */
	fails(f, "bad-utf8", "submit bayilu 14 --note \xed\xa0\x80"); /* a surrogate */
	fails(f, "bad-utf8", "submit bayilu 14 --note \xe5\x85");     /* truncated */
	/* well-formed Chinese is fine */
	assert_string_equal(str(ok(f, "submit bayilu 14 --note \"维修计划明细表\""), "state"),
			    "on-time");
	/* a NUL inside the request */
	static const char nul[] = "ping\0 x";
	json_t *a = exec_n(f, nul, sizeof(nul) - 1);
	assert_string_equal(json_string_value(json_object_get(json_object_get(a, "error"), "code")),
			    "bad-utf8");
}

static void test_err_line_too_long(void **state)
{
	struct fx *f = *state;
	size_t n = COMMAND_MAX_LINE + 1;
	char *line = malloc(n + 1);

	assert_int_equal(COMMAND_MAX_LINE, 65536);
	/* "ping" and spaces: 65537 bytes is one too many */
	memset(line, ' ', n);
	memcpy(line, "ping", 4);
	line[n] = '\0';
	json_t *a = exec_n(f, line, n);
	assert_string_equal(json_string_value(json_object_get(json_object_get(a, "error"), "code")),
			    "line-too-long");
	/* exactly 64 KiB is allowed */
	line[n - 1] = '\0';
	a = exec_n(f, line, n - 1);
	assert_true(json_is_true(json_object_get(a, "ok")));
	/* a long note that pushes a write past the limit is refused whole */
	memset(line, 'x', n);
	memcpy(line, "submit bayilu 14 --note ", 24);
	line[n] = '\0';
	a = exec_n(f, line, n);
	assert_string_equal(json_string_value(json_object_get(json_object_get(a, "error"), "code")),
			    "line-too-long");
	assert_string_equal(str(status_occ(f, "bayilu", "14"), "state"), "pending");
	free(line);
}

static void test_err_unknown_command(void **state)
{
	struct fx *f = *state;
	const char *m = fails(f, "unknown-command", "frobnicate bayilu");

	assert_non_null(strstr(m, "frobnicate"));
	assert_non_null(strstr(m, "submit"));
	fails(f, "unknown-command", "SUBMIT bayilu 14");
}

static void test_err_unterminated_quote(void **state)
{
	struct fx *f = *state;

	fails(f, "usage", "submit bayilu 14 --note \"half a note");
	fails(f, "usage", "submit bayilu 14 --note \"bad \\escape\"");
	fails(f, "usage", "submit bayilu 14 --note no\"quote");
	assert_string_equal(str(status_occ(f, "bayilu", "14"), "state"), "pending");
}

static void test_err_missing_reason(void **state)
{
	struct fx *f = *state;

	run_to(f, T(MAY));
	json_int_t id =
		json_integer_value(json_object_get(ok(f, "record bayilu 6c pushback"), "id"));
	fails(f, "usage", "move 16a 2020-07-31");
	fails(f, "usage", "move 16a 2020-07-31 --reason \"\"");
	fails(f, "usage", "void %lld", (long long)id);
	fails(f, "usage", "void %lld --reason", (long long)id);
	fails(f, "usage", "move 16a 2020-07-31 --because x");
	assert_string_equal(str(status_occ(f, "bayilu", "16a"), "deadline"),
			    "2020-05-07T00:00:00+08:00");
	assert_i64(row_now(f, "bayilu", "6c"), 480);
}

static void test_err_void_twice_and_unknown(void **state)
{
	struct fx *f = *state;

	run_to(f, T(MAY));
	json_int_t id =
		json_integer_value(json_object_get(ok(f, "record bayilu 6c pushback"), "id"));
	ok(f, "void %lld --reason first", (long long)id);
	fails(f, "conflict", "void %lld --reason second", (long long)id);
	fails(f, "not-found", "void 999999 --reason x");
	fails(f, "usage", "void abc --reason x");
	/* a record row takes no submissions */
	fails(f, "not-submittable", "submit bayilu 9");
}

/*
 * command_check() resolves every argument by its slot's type, as
 * command_execute() does for an admin, and refuses with the same code;
 * what only the database knows is left to the run.
 */
static void test_check_agrees_with_execute(void **state)
{
	struct fx *f = *state;
	static const char *const bad[] = {
		"submit nowhere 1",
		"submit bayilu 4",
		"submit bayilu 4@2020-06-21",
		"submit bayilu 1 --at yesterday",
		"record bayilu 99 ledger",
		"record bayilu 6c complaint",
		"record bayilu 6c pushback 0",
		"record bayilu 6c pushback 1.5",
		"metric bayilu 13 dissatisfaction 80",
		"metric bayilu 13 satisfaction 8O",
		"move 16a 2020-13-45 --reason x",
		"move 16a 2020-07-31T25:00:00+08:00 --reason x",
		"move 16a 2020-07-31",
		"move 16a 2020-07-31 --reason \"\"",
		"move 16a 2020-07-31 --unit nowhere --reason x",
		"void abc --reason x",
		"void 1",
		"retry 0",
		"outbox Pending",
		"upcoming 0",
		"audit 100001",
		"explain bayilu 19",
		"scores --as-of soon",
		"report 2020-Q3 --format pdf",
		"status ua ub",
		"frobnicate",
	};
	char code[64], msg[1024];

	run_to(f, T(MAY));
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (command_check(f->p, bad[i], strlen(bad[i]), code, sizeof(code), msg,
				  sizeof(msg)) == 0)
			fail_msg("command_check passed \"%s\"", bad[i]);
		json_t *a = exec_n(f, bad[i], strlen(bad[i]));
		const char *ecode =
			json_string_value(json_object_get(json_object_get(a, "error"), "code"));
		if (ecode == NULL || strcmp(ecode, code) != 0)
			fail_msg("\"%s\": command_check says %s, command_execute %s", bad[i], code,
				 ecode ? ecode : "ok");
	}
	/* the database's: an entry, a delivery, an earlier plan's period */
	static const char *const later[] = { "void 999999 --reason x", "retry 999999",
					     "report 2019-Q4" };
	static const char *const codes[] = { "not-found", "unknown-delivery", "unknown-period" };
	for (size_t i = 0; i < 3; i++) {
		assert_int_equal(command_check(f->p, later[i], strlen(later[i]), code, sizeof(code),
					       msg, sizeof(msg)),
				 0);
		const char *m = fails(f, codes[i], "%s", later[i]);
		if (i == 2)
			assert_non_null(strstr(m, "2020-Q2, 2020-Q3, 2020-Q4"));
	}
}

/* A failing command leaves everything as it was. */
static void test_failing_commands_change_nothing(void **state)
{
	struct fx *f = *state;
	static const char *const bad[] = {
		"submit nowhere 1",
		"submit bayilu 4",
		"submit bayilu 1 --at 2020-06-02T10:00:00+08:00",
		"record bayilu 99 ledger",
		"record bayilu 6c complaint 3",
		"record bayilu 6c pushback 0",
		"record bayilu 6c pushback abc",
		"metric bayilu 13 satisfaction abc",
		"metric bayilu 13 dissatisfaction 90",
		"move 16a 2020-13-45 --reason x",
		"move 16a 2020-07-31",
		"move 16a 2021-02-01 --reason x",
		"move 4 2020-07-31 --reason x",
		"void 999999 --reason x",
		"submit bayilu 1 --note \"unterminated",
		"frobnicate",
		"submit bayilu 1 --note \xff",
		"submit bayilu 1 extra",
		"submit bayilu 1 --note \"\033[2J\"",
	};

	run_to(f, T("2020-06-01T10:00:00+08:00"));
	ok(f, "submit bayilu 14 --at 2020-05-20T10:00:00+08:00");
	ok(f, "record bayilu 6c pushback 4");
	ok(f, "metric bayilu 13 satisfaction 82");
	int64_t hwm = engine_hwm(f->eng), next = engine_next(f->eng);
	char *explain = dump(f, "explain bayilu"), *audit = dump(f, "audit 1000"),
	     *status = dump(f, "status"), *plan = dump(f, "plan"), *scores = dump(f, "scores");
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		json_t *a = exec_n(f, bad[i], strlen(bad[i]));
		if (json_is_true(json_object_get(a, "ok")))
			fail_msg("\"%s\" succeeded", bad[i]);
	}
	char *explain2 = dump(f, "explain bayilu"), *audit2 = dump(f, "audit 1000"),
	     *status2 = dump(f, "status"), *plan2 = dump(f, "plan"), *scores2 = dump(f, "scores");
	assert_string_equal(explain, explain2);
	assert_string_equal(audit, audit2);
	assert_string_equal(status, status2);
	assert_string_equal(plan, plan2);
	assert_string_equal(scores, scores2);
	assert_i64(engine_hwm(f->eng), hwm);
	assert_i64(engine_next(f->eng), next);
	/* three writes, three audit records */
	json_t *au = ok(f, "audit 1000");
	assert_int_equal(json_array_size(au), 3);
	free(explain);
	free(audit);
	free(status);
	free(plan);
	free(scores);
	free(explain2);
	free(audit2);
	free(status2);
	free(plan2);
	free(scores2);
}

/*
 * Control characters: an officer's note or reason, or any other argument,
 * is shown later in terminals, where ESC [ 2 J clears the screen and a
 * CR LF breaks a table.  Every one is refused, naming the argument.
 */
static void test_err_control_characters(void **state)
{
	struct fx *f = *state;
	const char *m;

	run_to(f, T(MAY));
	m = fails(f, "control-character", "submit bayilu 14 --note \"ok\033[2J\033]0;PWNED\007\"");
	assert_non_null(strstr(m, "--note"));
	assert_non_null(strstr(m, "U+001B"));
	fails(f, "control-character", "record bayilu 6c pushback 1 --note \"x\177\"");
	/* a line break, quoted or not, would end the request on the socket */
	fails(f, "usage", "move 16a 2020-07-31 --reason \"a\r\nb\"");
	m = fails(f, "control-character", "move 16a 2020-07-31 --reason \"a\fb\"");
	assert_non_null(strstr(m, "--reason"));
	m = fails(f, "control-character",
		  "move 16a 2020-07-31 --reason \"\xc2\x9b"
		  "2J\"");
	assert_non_null(strstr(m, "U+009B"));
	fails(f, "control-character", "move 16a 2020-07-31 --reason \"tab\there\"");
	int64_t id = json_integer_value(json_object_get(ok(f, "submit bayilu 14"), "id"));
	m = fails(f, "control-character", "void %lld --reason \"\033[31m\"", (long long)id);
	assert_non_null(strstr(m, "--reason"));
	/* positional arguments are named by their place in the usage */
	m = fails(f, "control-character", "submit \"bay\tilu\" 14");
	assert_non_null(strstr(m, "argument 1 (UNIT)"));
	m = fails(f, "control-character", "record bayilu 6c pushback \"2\033\"");
	assert_non_null(strstr(m, "argument 4 (COUNT)"));
	m = fails(f, "control-character", "backup \"/tmp/x\033y.db\"");
	assert_non_null(strstr(m, "argument 1 (PATH)"));
	/* nothing was written but the one good submission */
	json_t *au = ok(f, "audit 10");
	assert_int_equal(json_array_size(au), 1);
	assert_string_equal(str(json_array_get(au, 0), "command"), "submit bayilu 14");
	/* a tab between words is a separator, not text */
	ok(f, "record\tbayilu\t6c\tpushback\t1 --note \"按时\"");
	/* the first characters past the C1 range are text */
	ok(f, "record bayilu 6c pushback 1 --note \"\xc2\xa0 \xc2\xbf\"");
}

/*
 * Characters that reorder or break the text shown around them (a
 * right-to-left override makes an audit line read backwards) and the
 * noncharacters are refused in any argument, naming it, the code point
 * and the byte; their neighbours are text.
 */
static void test_err_format_characters(void **state)
{
	struct fx *f = *state;
	static const char *const bad[][2] = {
		{ "\xe2\x80\xaa", "U+202A" }, { "\xe2\x80\xae", "U+202E" },
		{ "\xe2\x81\xa6", "U+2066" }, { "\xe2\x81\xa9", "U+2069" },
		{ "\xe2\x80\xa8", "U+2028" }, { "\xe2\x80\xa9", "U+2029" },
		{ "\xef\xbf\xbe", "U+FFFE" }, { "\xef\xbf\xbf", "U+FFFF" },
	};
	const char *m;

	run_to(f, T(MAY));
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		m = fails(f, "format-character", "submit bayilu 14 --note \"ab%sc\"", bad[i][0]);
		assert_non_null(strstr(m, "--note"));
		assert_non_null(strstr(m, bad[i][1]));
		assert_non_null(strstr(m, "byte 3"));
	}
	m = fails(f, "format-character", "move 16a 2020-07-31 --reason \"\xe2\x80\xaegnol oot\"");
	assert_non_null(strstr(m, "--reason"));
	m = fails(f, "format-character", "submit \"bay\xe2\x81\xa7ilu\" 14");
	assert_non_null(strstr(m, "argument 1 (UNIT)"));
	/* nothing written */
	assert_int_equal(json_array_size(ok(f, "audit 10")), 0);
	/* the characters beside them are text: U+2027, U+202F, U+2065, U+206A, U+FFFD */
	ok(f, "submit bayilu 14 --note \"\xe2\x80\xa7\xe2\x80\xaf\xe2\x81\xa5\xe2\x81\xaa"
	      "\xef\xbf\xbd\"");
}

/* A note or a reason holds at most GRAMMAR_MAX_TEXT characters, counted as characters. */
static void test_err_text_too_long(void **state)
{
	struct fx *f = *state;
	char *note = malloc(3 * (GRAMMAR_MAX_TEXT + 1) + 1);

	run_to(f, T(MAY));
	/* 2,000 Chinese characters (6,000 bytes) are a note */
	note[0] = '\0';
	for (int i = 0; i < GRAMMAR_MAX_TEXT; i++)
		strcat(note, "\xe6\x8c\x89");
	ok(f, "submit bayilu 14 --note \"%s\"", note);
	/* one more is not, nor 2,001 ASCII ones */
	strcat(note, "\xe6\x8c\x89");
	const char *m = fails(f, "too-long", "record bayilu 6c pushback 1 --note \"%s\"", note);
	assert_non_null(strstr(m, "2001 characters"));
	memset(note, 'x', GRAMMAR_MAX_TEXT + 1);
	note[GRAMMAR_MAX_TEXT + 1] = '\0';
	m = fails(f, "too-long", "move 16a 2020-07-31 --reason \"%s\"", note);
	assert_non_null(strstr(m, "--reason"));
	int64_t id = json_integer_value(json_object_get(ok(f, "submit bayilu 15"), "id"));
	fails(f, "too-long", "void %lld --reason %s", (long long)id, note);
	note[GRAMMAR_MAX_TEXT] = '\0';
	ok(f, "void %lld --reason %s", (long long)id, note);
	free(note);
}

/*
 * explain and audit stop building an answer once it passes the largest
 * one a client takes, and name the narrower request, rather than build
 * tens of megabytes for the control socket to throw away.
 */
static void test_answer_too_large_stops_early(void **state)
{
	struct fx *f = *state;
	char note[GRAMMAR_MAX_TEXT + 1];
	int n = GRAMMAR_MAX_ANSWER / GRAMMAR_MAX_TEXT + 100;

	run_to(f, T(MAY));
	memset(note, 'x', GRAMMAR_MAX_TEXT);
	note[GRAMMAR_MAX_TEXT] = '\0';
	for (int i = 0; i < n; i++)
		ok(f, "record bayilu 6c pushback 1 --note %s", note);
	const char *m = fails(f, "answer-too-large", "explain bayilu");
	assert_non_null(strstr(m, "explain bayilu ROW"));
	m = fails(f, "answer-too-large", "explain bayilu 6c");
	assert_non_null(strstr(m, "row 6c"));
	m = fails(f, "answer-too-large", "audit 100000");
	assert_non_null(strstr(m, "audit "));
	/* narrower requests are answered */
	assert_int_equal(json_array_size(ok(f, "audit 100")), 100);
	json_t *rows = json_object_get(ok(f, "explain renminguangchang"), "rows");
	assert_true(json_array_size(rows) > 0);
}

/* A reload hook that fails as a bad configuration does. */
static json_t *failing_reload(void *arg)
{
	(void)arg;
	return command_error("bad-config", "kaohe.conf:3: the configuration has errors");
}

static json_t *good_reload(void *arg)
{
	(void)arg;
	return json_pack("{s:b, s:{s:i}}", "ok", 1, "data", "units", 5);
}

/* One request by F's actor, with the reload hook RELOAD. */
static json_t *exec_reload(struct fx *f, const char *line, json_t *(*reload)(void *))
{
	struct command_ctx c = { .plan = f->p,
				 .st = f->st,
				 .eng = f->eng,
				 .now = f->now,
				 .actor = &f->actor,
				 .reload = reload };
	return command_execute(&c, line, strlen(line));
}

/* Every administrative action is audited, succeeded or failed; reads are not. */
static void test_admin_actions_audited(void **state)
{
	struct fx *f = *state;
	char dir[] = "/tmp/kaohe-test-command-XXXXXX", path[128], line[256];

	assert_non_null(mkdtemp(dir));
	run_to(f, T(MAY));
	snprintf(path, sizeof(path), "%s/copy.db", dir);
	snprintf(line, sizeof(line), "backup %s", path);
	assert_string_equal(str(ok(f, "%s", line), "path"), path);
	/* refused: it exists now; a relative path; a URI */
	fails(f, "bad-path", "%s", line);
	fails(f, "bad-path", "backup copy.db");
	fails(f, "bad-path", "backup file:%s", path);
	json_t *a = exec_reload(f, "reload", failing_reload);
	assert_false(json_is_true(json_object_get(a, "ok")));
	json_decref(a);
	a = exec_reload(f, "reload", good_reload);
	assert_true(json_is_true(json_object_get(a, "ok")));
	json_decref(a);
	ok(f, "report 2020-Q2 --format json"); /* an admins' read: not audited */

	json_t *au = ok(f, "audit 10");
	assert_int_equal(json_array_size(au), 6);
	static const char *const cmds[] = { NULL, NULL, "backup copy.db", NULL, "reload", "reload" };
	static const char *const results[] = { "\"path\"", "exists",     "not an absolute path",
					       "is a URI", "bad-config", "\"units\":5" };
	for (size_t i = 0; i < 6; i++) {
		json_t *r = json_array_get(au, i);
		assert_string_equal(str(r, "by"), "tester");
		if (cmds[i])
			assert_string_equal(str(r, "command"), cmds[i]);
		if (strstr(str(r, "result"), results[i]) == NULL)
			fail_msg("audit record %zu: %s -> %s, expected %s", i, str(r, "command"),
				 str(r, "result"), results[i]);
	}
	assert_string_equal(str(json_array_get(au, 0), "command"), line);
	/* a non-admin is refused before anything runs: nothing to audit */
	f->actor.admin = false;
	fails(f, "permission-denied", "backup %s/other.db", dir);
	f->actor.admin = true;
	assert_int_equal(json_array_size(ok(f, "audit 10")), 6);
	unlink(path);
	rmdir(dir);
}

/* ---- authorization ----------------------------------------------------- */

static void test_perm_department_officer(void **state)
{
	struct fx *f = *state;
	uint8_t depts[8] = { 0 };
	struct actor cg = { .admin = false, .depts = depts };
	int c = plan_dept_find(f->p, "chengguan");

	assert_true(c >= 0);
	depts[c] = 1;
	snprintf(cg.name, sizeof(cg.name), "cg-officer");
	run_to(f, T(MAY));
	json_t *rec = ok(f, "record renminguangchang 6c pushback");
	long long zj_entry = (long long)json_integer_value(json_object_get(rec, "id"));
	f->actor = cg;
	/* row 7a belongs to 城管 */
	json_t *d = ok(f, "record bayilu 7a ledger");
	assert_i64(hund(json_object_get(d, "points")), -50);
	assert_string_equal(str(ok(f, "submit bayilu 7a"), "state"), "on-time");
	/* row 1 and row 6c belong to 住建 */
	const char *m = fails(f, "permission-denied", "submit bayilu 1");
	assert_non_null(strstr(m, "cg-officer"));
	/* each refusal names what was attempted, and on which row */
	assert_non_null(strstr(m, "may not submit for row 1 (owned by zhujian"));
	m = fails(f, "permission-denied", "record bayilu 6c pushback");
	assert_non_null(strstr(m, "may not record findings or awards on row 6c"));
	m = fails(f, "permission-denied", "metric bayilu 13 satisfaction 80");
	assert_non_null(strstr(m, "may not record metrics on row 13"));
	m = fails(f, "permission-denied", "move 1 2020-09-30 --reason x");
	assert_non_null(strstr(m, "may not move the dues of row 1"));
	m = fails(f, "permission-denied", "void %lld --reason x", zj_entry);
	char want[64];
	snprintf(want, sizeof(want), "cg-officer may not void entry #%lld of row 6c", zj_entry);
	assert_non_null(strstr(m, want));
	m = fails(f, "permission-denied", "reload");
	assert_non_null(strstr(m, "may not run reload (admins only)"));
	/* officers read everything, the publication too */
	ok(f, "scores");
	ok(f, "explain renminguangchang");
	ok(f, "status");
	assert_non_null(json_object_get(ok(f, "status"), "units"));
	assert_string_equal(str(ok(f, "report 2020-Q2 --format csv"), "format"), "csv");
	assert_i64(row_now(f, "bayilu", "7a"), 150);
	assert_i64(row_now(f, "bayilu", "1"), 300);
	assert_i64(row_now(f, "bayilu", "6c"), 500);
	/* the write is audited under the officer's name */
	json_t *au = ok(f, "audit 10");
	assert_int_equal(json_array_size(au), 3); /* the admin's record, then the officer's */
	assert_string_equal(str(json_array_get(au, 1), "by"), "cg-officer");
	assert_non_null(strstr(str(json_array_get(au, 1), "command"), "record bayilu 7a ledger"));
}

static void test_perm_unit_member(void **state)
{
	struct fx *f = *state;
	uint8_t units[8] = { 0 };
	struct actor m = { .admin = false, .units = units };

	units[U(f, "bayilu")] = 1;
	snprintf(m.name, sizeof(m.name), "bayilu-liaison");
	run_to(f, T(MAY));
	char *before = dump(f, "explain bayilu");
	f->actor = m;
	assert_string_equal(str(ok(f, "status bayilu"), "unit"), "bayilu");
	/* a bare status is their own unit's */
	assert_string_equal(str(ok(f, "status"), "unit"), "bayilu");
	assert_string_equal(str(ok(f, "explain bayilu"), "unit"), "bayilu");
	ok(f, "explain bayilu 1");
	ok(f, "status 八一路");
	fails(f, "permission-denied", "status renminguangchang");
	fails(f, "permission-denied", "explain renminguangchang");
	fails(f, "permission-denied", "explain renminguangchang 1");
	fails(f, "permission-denied", "scores");
	const char *msg = fails(f, "permission-denied", "report 2020-Q2");
	assert_non_null(strstr(msg, "may not run report (officers and admins only)"));
	/* no writes, not even for its own unit */
	msg = fails(f, "permission-denied", "submit bayilu 1");
	assert_non_null(strstr(msg, "may not run submit (officers and admins only)"));
	fails(f, "permission-denied", "record bayilu 6c pushback");
	fails(f, "permission-denied", "metric bayilu 13 satisfaction 90");
	fails(f, "permission-denied", "move 1 2020-09-30 --unit bayilu --reason x");
	char *after = dump(f, "explain bayilu");
	assert_string_equal(before, after);
	free(before);
	free(after);
	/* a member of two units names the one a status is about */
	units[U(f, "baiyun")] = 1;
	msg = fails(f, "usage", "status");
	assert_non_null(strstr(msg, "name one of your 2 units: bayilu (八一路), baiyun (白云)"));
	assert_string_equal(str(ok(f, "status baiyun"), "unit"), "baiyun");
}

/* ---- the outbox and retry ---------------------------------------------- */

#define OB_AT "2020-06-15T09:00:00+08:00"

/* Put a row in the outbox as outbox.c would, then give it STATE; its id. */
static int64_t ob_row(struct fx *f, const char *kind, const char *unit, const char *dept,
		      const char *subject, const char *channel, const char *address,
		      enum outbox_state state)
{
	struct outbox_row r = { .at = T(OB_AT),
				.kind = kind,
				.unit = unit,
				.dept = dept,
				.subject = subject,
				.channel = channel,
				.address = address,
				.name = "收件人",
				.mentions = "" };
	int64_t id = 0;
	assert_int_equal(store_begin(f->st), 0);
	assert_int_equal(store_outbox_add(f->st, &r, &id), 0);
	if (state != OUTBOX_PENDING)
		assert_int_equal(store_outbox_update(f->st, id, state, 3, T(OB_AT) * 1000 + 60000,
						     state == OUTBOX_SENT ? 250 : 421,
						     state == OUTBOX_SENT ? "" : "try later",
						     T(OB_AT) + 60),
				 0);
	assert_int_equal(store_commit(f->st), 0);
	return id;
}

/* The rows of an outbox listing by id, or fail. */
static json_t *ob_listed(json_t *data, int64_t id)
{
	size_t i;
	json_t *o;
	json_array_foreach(json_object_get(data, "rows"), i,
			   o) if (json_integer_value(json_object_get(o, "id")) == id) return o;
	return NULL;
}

struct ob_ids {
	int64_t pending, sent, failed, dead, cancelled, inflight, escalation, record, notice;
};

/*
 * bayilu: a pending, a sent and a failed reminder, and an escalation copy
 * to 住建's office; baiyun: a dead and a cancelled one, one in flight;
 * 住建's own record reminder; a dead notice to the admins.
 */
static struct ob_ids ob_fill(struct fx *f)
{
	struct ob_ids x;
	x.pending = ob_row(f, "before", "bayilu", "", "1", "email", "l@bayilu.example.org",
			   OUTBOX_PENDING);
	x.sent = ob_row(f, "due", "bayilu", "", "1", "streets", "", OUTBOX_SENT);
	x.failed = ob_row(f, "overdue", "bayilu", "", "1 2a", "email", "l@bayilu.example.org",
			  OUTBOX_FAILED);
	x.dead = ob_row(f, "overdue", "baiyun", "", "1", "email", "l@baiyun.example.org",
			OUTBOX_DEAD);
	x.cancelled = ob_row(f, "before", "baiyun", "", "1", "streets", "", OUTBOX_CANCELLED);
	x.inflight = ob_row(f, "before", "baiyun", "", "2a", "streets", "", OUTBOX_INFLIGHT);
	x.escalation = ob_row(f, "escalation", "bayilu", "zhujian", "1", "email",
			      "office@zhujian.example.org", OUTBOX_DEAD);
	x.record = ob_row(f, "record", "", "zhujian", "6c", "email", "office@zhujian.example.org",
			  OUTBOX_FAILED);
	x.notice = ob_row(f, "dead", "", "", "#4", "email", "admin@example.org", OUTBOX_PENDING);
	return x;
}

static void test_outbox_admin_sees_all_and_counts(void **state)
{
	struct fx *f = *state;
	struct ob_ids x = ob_fill(f);

	json_t *d = ok(f, "outbox");
	json_t *c = json_object_get(d, "counts");
	assert_non_null(c);
	assert_int_equal(json_object_size(c), 6);
	assert_int_equal(json_integer_value(json_object_get(c, "pending")), 2);
	assert_int_equal(json_integer_value(json_object_get(c, "inflight")), 1);
	assert_int_equal(json_integer_value(json_object_get(c, "sent")), 1);
	assert_int_equal(json_integer_value(json_object_get(c, "failed")), 2);
	assert_int_equal(json_integer_value(json_object_get(c, "dead")), 2);
	assert_int_equal(json_integer_value(json_object_get(c, "cancelled")), 1);
	json_t *rows = json_object_get(d, "rows");
	assert_int_equal(json_array_size(rows), 9);
	/* oldest first */
	assert_int_equal(json_integer_value(json_object_get(json_array_get(rows, 0), "id")),
			 x.pending);
	assert_int_equal(json_integer_value(json_object_get(json_array_get(rows, 8), "id")),
			 x.notice);
	json_t *o = ob_listed(d, x.failed);
	assert_non_null(o);
	assert_string_equal(str(o, "state"), "failed");
	assert_string_equal(str(o, "kind"), "overdue");
	assert_string_equal(str(o, "channel"), "email");
	assert_string_equal(str(o, "to"), "l@bayilu.example.org");
	assert_string_equal(str(o, "about"), "1 2a");
	assert_string_equal(str(o, "unit"), "bayilu");
	assert_string_equal(str(o, "at"), OB_AT);
	assert_string_equal(str(o, "error"), "try later");
	assert_int_equal(json_integer_value(json_object_get(o, "attempts")), 3);
	assert_int_equal(json_integer_value(json_object_get(o, "code")), 421);
	/* a failed one says when it is tried next; it was never sent */
	assert_string_equal(str(o, "next"), "2020-06-15T09:01:00+08:00");
	assert_null(json_object_get(o, "sent"));
	/* a webhook's row names its recipient */
	o = ob_listed(d, x.sent);
	assert_string_equal(str(o, "to"), "收件人");
	assert_string_equal(str(o, "state"), "sent");
	assert_string_equal(str(o, "sent"), "2020-06-15T09:01:00+08:00");
	assert_null(json_object_get(o, "next"));
	o = ob_listed(d, x.pending);
	assert_string_equal(str(o, "next"), OB_AT);
	assert_null(json_object_get(ob_listed(d, x.dead), "next"));
	/* by state */
	d = ok(f, "outbox dead");
	assert_int_equal(json_array_size(json_object_get(d, "rows")), 2);
	assert_non_null(ob_listed(d, x.dead));
	assert_non_null(ob_listed(d, x.escalation));
	/* the counts stay those of the whole outbox */
	assert_int_equal(json_integer_value(json_object_get(json_object_get(d, "counts"), "sent")),
			 1);
	assert_int_equal(json_array_size(json_object_get(ok(f, "outbox inflight"), "rows")), 1);
}

static void test_outbox_empty(void **state)
{
	struct fx *f = *state;
	json_t *d = ok(f, "outbox");
	assert_int_equal(json_array_size(json_object_get(d, "rows")), 0);
	json_t *c = json_object_get(d, "counts");
	assert_int_equal(json_integer_value(json_object_get(c, "pending")), 0);
	assert_int_equal(json_integer_value(json_object_get(c, "dead")), 0);
}

/* A unit's member reads its own unit's rows only, and no counts. */
static void test_outbox_unit_member(void **state)
{
	struct fx *f = *state;
	uint8_t units[8] = { 0 };
	struct actor m = { .admin = false, .units = units };
	struct ob_ids x = ob_fill(f);

	units[U(f, "bayilu")] = 1;
	snprintf(m.name, sizeof(m.name), "bayilu-liaison");
	f->actor = m;
	json_t *d = ok(f, "outbox");
	assert_null(json_object_get(d, "counts"));
	json_t *rows = json_object_get(d, "rows");
	assert_int_equal(json_array_size(rows), 4);
	assert_non_null(ob_listed(d, x.pending));
	assert_non_null(ob_listed(d, x.sent));
	assert_non_null(ob_listed(d, x.failed));
	assert_non_null(ob_listed(d, x.escalation));
	size_t i;
	json_t *o;
	json_array_foreach(rows, i, o) assert_string_equal(str(o, "unit"), "bayilu");
	d = ok(f, "outbox sent");
	assert_int_equal(json_array_size(json_object_get(d, "rows")), 1);
	assert_non_null(ob_listed(d, x.sent));
	/* a member of two units reads both */
	units[U(f, "baiyun")] = 1;
	d = ok(f, "outbox");
	assert_int_equal(json_array_size(json_object_get(d, "rows")), 7);
	assert_null(ob_listed(d, x.record));
	assert_null(ob_listed(d, x.notice));
}

/* An officer reads everything, like an admin; a stranger nothing. */
static void test_outbox_officer_and_stranger(void **state)
{
	struct fx *f = *state;
	uint8_t depts[8] = { 0 };
	struct actor off = { .admin = false, .depts = depts };
	struct actor nobody = { .admin = false };

	ob_fill(f);
	depts[plan_dept_find(f->p, "chengguan")] = 1;
	snprintf(off.name, sizeof(off.name), "cg-officer");
	f->actor = off;
	json_t *d = ok(f, "outbox");
	assert_int_equal(json_array_size(json_object_get(d, "rows")), 9);
	assert_non_null(json_object_get(d, "counts"));
	snprintf(nobody.name, sizeof(nobody.name), "stranger");
	f->actor = nobody;
	const char *m = fails(f, "permission-denied", "outbox");
	assert_non_null(strstr(m, "stranger"));
	fails(f, "permission-denied", "outbox pending");
}

static void test_outbox_usage(void **state)
{
	struct fx *f = *state;
	const char *m = fails(f, "usage", "outbox bogus");
	assert_non_null(strstr(m, "bogus"));
	assert_non_null(strstr(m, "cancelled"));
	fails(f, "usage", "outbox Pending");
	fails(f, "usage", "outbox pending sent");
}

static void test_retry_usage_and_unknown(void **state)
{
	struct fx *f = *state;
	ob_fill(f);

	const char *m = fails(f, "usage", "retry abc");
	assert_non_null(strstr(m, "abc"));
	fails(f, "usage", "retry 1.5");
	fails(f, "usage", "retry -3");
	fails(f, "usage", "retry 0");
	fails(f, "usage", "retry 3x");
	fails(f, "usage", "retry");
	fails(f, "usage", "retry 1 2");
	m = fails(f, "unknown-delivery", "retry 999");
	assert_non_null(strstr(m, "#999"));
	/* nothing was written */
	assert_int_equal(json_array_size(ok(f, "audit 10")), 0);
}

/* Only failed, dead and cancelled rows go again. */
static void test_retry_states(void **state)
{
	struct fx *f = *state;
	struct ob_ids x = ob_fill(f);
	struct outbox_row r;

	const char *m = fails(f, "bad-state", "retry %lld", (long long)x.pending);
	assert_non_null(strstr(m, "pending"));
	m = fails(f, "bad-state", "retry %lld", (long long)x.sent);
	assert_non_null(strstr(m, "sent"));
	fails(f, "bad-state", "retry %lld", (long long)x.inflight);
	f->now = T("2020-06-16T10:00:00+08:00");
	int64_t again[] = { x.failed, x.dead, x.cancelled };
	for (size_t i = 0; i < 3; i++) {
		json_t *d = ok(f, "retry %lld", (long long)again[i]);
		assert_int_equal(json_integer_value(json_object_get(d, "id")), again[i]);
		assert_string_equal(str(d, "state"), "pending");
		assert_int_equal(store_outbox_get(f->st, again[i], &r), 1);
		assert_int_equal(r.state, OUTBOX_PENDING);
		assert_int_equal(r.attempts, 0);
		assert_i64(r.next_ms, f->now * 1000);
		assert_i64(r.since_ms, f->now * 1000);
	}
	/* once pending, not again */
	fails(f, "bad-state", "retry %lld", (long long)x.dead);
	/* audited, under the admin's name */
	json_t *au = ok(f, "audit 10");
	assert_int_equal(json_array_size(au), 3);
	assert_string_equal(str(json_array_get(au, 0), "by"), "tester");
	char want[32];
	snprintf(want, sizeof(want), "retry %lld", (long long)x.failed);
	assert_string_equal(str(json_array_get(au, 0), "command"), want);
	/* the other rows are as they were */
	assert_int_equal(store_outbox_get(f->st, x.sent, &r), 1);
	assert_int_equal(r.state, OUTBOX_SENT);
	assert_int_equal(store_outbox_get(f->st, x.escalation, &r), 1);
	assert_int_equal(r.state, OUTBOX_DEAD);
}

/* Admins, or the officers of the row's department. */
static void test_retry_permission(void **state)
{
	struct fx *f = *state;
	struct ob_ids x = ob_fill(f);
	uint8_t depts[8] = { 0 }, units[8] = { 0 };
	struct actor zj = { .admin = false, .depts = depts };
	struct actor member = { .admin = false, .units = units };
	struct outbox_row r;

	units[U(f, "bayilu")] = 1;
	snprintf(member.name, sizeof(member.name), "bayilu-liaison");
	f->actor = member;
	fails(f, "permission-denied", "retry %lld", (long long)x.failed);
	/* an officer of another department */
	depts[plan_dept_find(f->p, "chengguan")] = 1;
	snprintf(zj.name, sizeof(zj.name), "cg-officer");
	f->actor = zj;
	const char *m = fails(f, "permission-denied", "retry %lld", (long long)x.escalation);
	assert_non_null(strstr(m, "cg-officer"));
	fails(f, "permission-denied", "retry %lld", (long long)x.record);
	/* a row of no department: admins only */
	fails(f, "permission-denied", "retry %lld", (long long)x.failed);
	assert_int_equal(store_outbox_get(f->st, x.escalation, &r), 1);
	assert_int_equal(r.state, OUTBOX_DEAD);
	/* 住建's officer retries 住建's rows */
	memset(depts, 0, sizeof(depts));
	depts[plan_dept_find(f->p, "zhujian")] = 1;
	snprintf(zj.name, sizeof(zj.name), "zj-officer");
	f->actor = zj;
	assert_string_equal(str(ok(f, "retry %lld", (long long)x.escalation), "state"), "pending");
	assert_string_equal(str(ok(f, "retry %lld", (long long)x.record), "state"), "pending");
	fails(f, "permission-denied", "retry %lld", (long long)x.dead);
	fails(f, "permission-denied", "retry %lld", (long long)x.failed);
	assert_int_equal(store_outbox_get(f->st, x.record, &r), 1);
	assert_int_equal(r.state, OUTBOX_PENDING);
}

static void count_call(void *arg, const char *channel)
{
	assert_non_null(channel);
	assert_true(*channel != '\0');
	(*(int *)arg)++;
}

/* A successful retry tells the daemon (the hook), a refused one does not. */
static void test_retry_calls_outbox_changed(void **state)
{
	struct fx *f = *state;
	struct ob_ids x = ob_fill(f);
	int calls = 0;
	struct command_ctx c = { .plan = f->p,
				 .st = f->st,
				 .eng = f->eng,
				 .now = f->now,
				 .actor = &f->actor,
				 .hook_arg = &calls,
				 .outbox_changed = count_call };
	char line[64];

	snprintf(line, sizeof(line), "retry %lld", (long long)x.pending);
	json_t *a = command_execute(&c, line, strlen(line));
	assert_false(json_is_true(json_object_get(a, "ok")));
	json_decref(a);
	assert_int_equal(calls, 0);
	snprintf(line, sizeof(line), "retry %lld", (long long)x.dead);
	a = command_execute(&c, line, strlen(line));
	assert_true(json_is_true(json_object_get(a, "ok")));
	json_decref(a);
	assert_int_equal(calls, 1);
	a = command_execute(&c, "retry 12345", 11);
	json_decref(a);
	assert_int_equal(calls, 1);
	/* and without a hook (simulate) it works all the same */
	assert_string_equal(str(ok(f, "retry %lld", (long long)x.cancelled), "state"), "pending");
}

/* What the timeline hook saw: how often, for whom, and whether a transaction was open. */
struct moved {
	struct store *st;
	int calls, year, unit;
	bool in_transaction;
};

static void moved_hook(void *arg, int year, int unit)
{
	struct moved *m = arg;
	m->calls++;
	m->year = year;
	m->unit = unit;
	m->in_transaction |= store_in_transaction(m->st) > 0;
}

/*
 * A move is audited, the daemon hears of it (the timer, the feeds) once
 * it is committed, and `status` lists who owes an open occurrence on
 * each unit's own schedule: not a unit whose own deadline is ahead.
 */
static void test_move_audited_and_status(void **state)
{
	struct fx *f = *state;
	const char *occ = "4@2020-06-20";
	struct moved m = { .st = f->st };
	struct command_ctx c = { .plan = f->p,
				 .st = f->st,
				 .eng = f->eng,
				 .actor = &f->actor,
				 .hook_arg = &m,
				 .timeline_changed = moved_hook };
	char line[128];

	run_to(f, T("2020-06-10T10:00:00+08:00"));
	c.now = f->now;
	snprintf(line, sizeof(line), "move %s 2020-07-10 --unit rixin --reason \"flooded office\"",
		 occ);
	json_t *a = command_execute(&c, line, strlen(line));
	assert_true(json_is_true(json_object_get(a, "ok")));
	assert_string_equal(str(json_object_get(a, "data"), "unit"), "rixin");
	json_decref(a);
	assert_int_equal(m.calls, 1);
	assert_int_equal(m.unit, U(f, "rixin"));
	assert_int_equal(m.year, 2020);
	assert_false(m.in_transaction);
	/* a refused move tells nothing */
	a = command_execute(&c, "move 16a 2021-03-01 --reason x", 30);
	assert_false(json_is_true(json_object_get(a, "ok")));
	json_decref(a);
	assert_int_equal(m.calls, 1);

	json_t *audit = ok(f, "audit 50"), *r;
	bool seen = false;
	size_t i;
	json_array_foreach(audit, i, r)
		seen |= strstr(str(r, "command"), "move 4@2020-06-20") != NULL;
	assert_true(seen);

	run_to(f, T("2020-06-25T10:00:00+08:00"));
	json_t *open = json_object_get(ok(f, "status"), "open"), *o, *found = NULL;
	json_array_foreach(open, i, o) if (strcmp(str(o, "occurrence"), occ) == 0) found = o;
	assert_non_null(found);
	json_t *owing = json_object_get(found, "overdue"), *u;
	char list[256] = "";
	json_array_foreach(owing, i, u) snprintf(list + strlen(list), sizeof(list) - strlen(list),
						 "%s%s", i ? "," : "", json_string_value(u));
	/* rixin's own deadline is 07-11: it owes nothing yet */
	assert_string_equal(list, "bayilu,renminguangchang,baiyun,xianglujiao");
	assert_string_equal(str(status_occ(f, "rixin", occ), "state"), "pending");
}

/* ---- command_split ----------------------------------------------------- */

static int split(const char *line, char **argv, char *buf, size_t buflen)
{
	char err[256] = "";
	int n = command_split(line, buf, buflen, argv, err, sizeof(err));
	if (n < 0)
		assert_true(err[0] != '\0');
	return n;
}

static void test_split_quoting(void **state)
{
	char buf[512], *argv[COMMAND_MAX_ARGS];
	(void)state;

	assert_int_equal(split("submit bayilu 1 --note \"two words\"", argv, buf, sizeof(buf)), 5);
	assert_string_equal(argv[0], "submit");
	assert_string_equal(argv[3], "--note");
	assert_string_equal(argv[4], "two words");
	assert_int_equal(split("  a\t\"say \\\"hi\\\"\"  \"back\\\\slash\" \"\"  ", argv, buf,
			       sizeof(buf)),
			 4);
	assert_string_equal(argv[0], "a");
	assert_string_equal(argv[1], "say \"hi\"");
	assert_string_equal(argv[2], "back\\slash");
	assert_string_equal(argv[3], "");
	/* a trailing newline ends the request */
	assert_int_equal(split("ping\r\n", argv, buf, sizeof(buf)), 1);
	assert_string_equal(argv[0], "ping");
	assert_int_equal(split("   ", argv, buf, sizeof(buf)), 0);
	/* escapes are only special inside quotes */
	assert_int_equal(split("a\\b", argv, buf, sizeof(buf)), 1);
	assert_string_equal(argv[0], "a\\b");
}

static void test_split_quote_inside_word(void **state)
{
	char buf[512], *argv[COMMAND_MAX_ARGS];
	(void)state;

	assert_int_equal(split("submit ab\"c", argv, buf, sizeof(buf)), -1);
	assert_int_equal(split("submit abc\"", argv, buf, sizeof(buf)), -1);
	assert_int_equal(split("submit \"abc\"def", argv, buf, sizeof(buf)), -1);
	assert_int_equal(split("submit \"a\"\"b\"", argv, buf, sizeof(buf)), -1);
}

static void test_split_errors(void **state)
{
	char buf[1024], *argv[COMMAND_MAX_ARGS], line[512] = "";
	(void)state;

	assert_int_equal(split("submit \"abc", argv, buf, sizeof(buf)), -1);
	assert_int_equal(split("submit \"abc\\\"", argv, buf, sizeof(buf)), -1);
	assert_int_equal(split("submit \"a\\nb\"", argv, buf, sizeof(buf)), -1);
	/* 64 words fit, 65 do not */
	for (int i = 0; i < COMMAND_MAX_ARGS; i++)
		strcat(line, "w ");
	assert_int_equal(split(line, argv, buf, sizeof(buf)), COMMAND_MAX_ARGS);
	strcat(line, "w");
	assert_int_equal(split(line, argv, buf, sizeof(buf)), -1);
	/* a buffer too small for the copy */
	assert_int_equal(split("ping pong", argv, buf, 5), -1);
}

/* ---- explain ----------------------------------------------------------- */

static json_t *explain_row(struct fx *f, const char *unit, const char *row)
{
	json_t *d = ok(f, "explain %s %s", unit, row);
	json_t *rows = json_object_get(d, "rows");
	assert_int_equal(json_array_size(rows), 1);
	json_t *r = json_array_get(rows, 0);
	assert_string_equal(str(r, "row"), row);
	return r;
}

/* A value-taking option takes the next word, even "--year"; --year itself stays every command's. */
static void test_option_takes_next_word(void **state)
{
	struct fx *f = *state;

	assert_string_equal(str(ok(f, "submit bayilu 14 --note --year"), "state"), "on-time");
	json_t *es = json_object_get(explain_row(f, "bayilu", "14"), "entries");
	assert_string_equal(str(json_array_get(es, json_array_size(es) - 1), "note"), "--year");
	fails(f, "usage", "submit bayilu 14 --note --year 2020");
	fails(f, "usage", "scores --year 2020 --year 2020");
	assert_non_null(ok(f, "scores --year 2020"));
}

static void test_explain_lists_voided_with_rule(void **state)
{
	struct fx *f = *state;
	const struct plan_row *pr = &f->p->rows[ROW(f, "6c")];

	run_to(f, T(MAY));
	json_int_t a = json_integer_value(
		json_object_get(ok(f, "record bayilu 6c pushback 3 --note three"), "id"));
	ok(f, "record bayilu 6c pushback 2");
	run_to(f, T("2020-05-03T10:00:00+08:00"));
	snprintf(f->actor.name, sizeof(f->actor.name), "auditor");
	ok(f, "void %lld --reason \"appeal upheld\"", (long long)a);

	json_t *r = explain_row(f, "bayilu", "6c");
	/* 5 - 2 x 0.2 */
	assert_i64(hund(json_object_get(r, "score")), 460);
	assert_i64(hund(json_object_get(r, "max")), 500);
	assert_i64(hund(json_object_get(r, "start")), 500);
	assert_string_equal(str(r, "scoring"), pr->scoring);
	assert_non_null(strstr(str(r, "scoring"), "最高扣5分"));
	assert_string_equal(str(r, "standard"), pr->standard);
	json_t *es = json_object_get(r, "entries");
	assert_int_equal(json_array_size(es), 2);
	json_t *e0 = json_array_get(es, 0), *e1 = json_array_get(es, 1);
	assert_int_equal(json_integer_value(json_object_get(e0, "id")), a);
	assert_string_equal(str(e0, "type"), "finding");
	assert_string_equal(str(e0, "kind"), "pushback");
	assert_int_equal(json_integer_value(json_object_get(e0, "count")), 3);
	assert_i64(hund(json_object_get(e0, "points")), -60);
	assert_string_equal(str(e0, "note"), "three");
	assert_string_equal(str(e0, "by"), "tester");
	assert_string_equal(str(e0, "rule"), pr->scoring);
	assert_string_equal(str(e0, "at"), MAY);
	json_t *v = json_object_get(e0, "voided");
	assert_non_null(v);
	assert_string_equal(str(v, "by"), "auditor");
	assert_string_equal(str(v, "reason"), "appeal upheld");
	assert_string_equal(str(v, "at"), "2020-05-03T10:00:00+08:00");
	assert_null(json_object_get(e1, "voided"));
	assert_i64(hund(json_object_get(e1, "points")), -40);
	/* the whole explanation: every row, the unit's total */
	json_t *d = ok(f, "explain bayilu");
	assert_int_equal(json_array_size(json_object_get(d, "rows")), f->p->nrows);
	assert_i64(hund(json_object_get(d, "total")), 9460);
}

/* The engine's own entries are explained too: late replaced by missing. */
static void test_explain_auto_deductions(void **state)
{
	struct fx *f = *state;
	const struct plan_row *pr = &f->p->rows[ROW(f, "1")];

	run_to(f, T(R1_CLOSE));
	json_t *r = explain_row(f, "rixin", "1");
	assert_i64(hund(json_object_get(r, "score")), 0);
	assert_non_null(strstr(str(r, "scoring"), "未报送扣3分"));
	json_t *es = json_object_get(r, "entries");
	assert_int_equal(json_array_size(es), 2);
	json_t *late = json_array_get(es, 0), *miss = json_array_get(es, 1);
	assert_string_equal(str(late, "type"), "late");
	assert_i64(hund(json_object_get(late, "points")), -200);
	assert_string_equal(str(late, "by"), "auto");
	assert_string_equal(str(late, "at"), R1_DEADLINE);
	assert_string_equal(str(late, "occurrence"), "1");
	assert_string_equal(str(late, "rule"), pr->scoring);
	json_t *v = json_object_get(late, "voided");
	assert_non_null(v);
	assert_string_equal(str(v, "by"), "auto");
	assert_string_equal(str(v, "at"), R1_CLOSE);
	assert_true(strlen(str(v, "reason")) > 0);
	assert_string_equal(str(miss, "type"), "missing");
	assert_i64(hund(json_object_get(miss, "points")), -300);
	assert_string_equal(str(miss, "at"), R1_CLOSE);
	assert_string_equal(str(miss, "rule"), pr->scoring);
	assert_null(json_object_get(miss, "voided"));
}

/* The engine's refusals answer codes of the table, and the table holds each code once. */
static void test_codes_table(void **state)
{
	(void)state;
	for (int c = ENGINE_EINTERNAL; c <= ENGINE_ECONFLICT; c++)
		assert_true(command_code_known(engine_errcode_name((enum engine_errcode)c)));
	assert_false(command_code_known("no-such-code"));
	for (const char *const *a = command_codes; *a; a++)
		for (const char *const *b = a + 1; *b; b++)
			assert_string_not_equal(*a, *b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
#define T_(fn) cmocka_unit_test_setup_teardown(fn, fx_setup, fx_teardown)
		T_(test_record_6c_cap_and_winback),
		T_(test_record_12_cap),
		T_(test_record_7a_clamps_at_zero),
		T_(test_threshold_exactly_80),
		T_(test_threshold_below_80),
		T_(test_threshold_both_count_once),
		T_(test_threshold_lower_value_removes),
		T_(test_err_unknown_unit),
		T_(test_err_unknown_row),
		T_(test_err_unknown_kind),
		T_(test_err_ambiguous_occurrence),
		T_(test_err_bad_count),
		T_(test_err_bad_value),
		T_(test_err_bad_date),
		T_(test_err_bad_utf8),
		T_(test_option_takes_next_word),
		T_(test_err_line_too_long),
		T_(test_err_unknown_command),
		T_(test_err_unterminated_quote),
		T_(test_err_missing_reason),
		T_(test_err_void_twice_and_unknown),
		T_(test_check_agrees_with_execute),
		T_(test_failing_commands_change_nothing),
		T_(test_err_control_characters),
		T_(test_err_format_characters),
		T_(test_err_text_too_long),
		T_(test_answer_too_large_stops_early),
		T_(test_admin_actions_audited),
		T_(test_perm_department_officer),
		T_(test_perm_unit_member),
		T_(test_outbox_admin_sees_all_and_counts),
		T_(test_outbox_empty),
		T_(test_outbox_unit_member),
		T_(test_outbox_officer_and_stranger),
		T_(test_outbox_usage),
		T_(test_retry_usage_and_unknown),
		T_(test_retry_states),
		T_(test_retry_permission),
		T_(test_retry_calls_outbox_changed),
		T_(test_move_audited_and_status),
		cmocka_unit_test(test_split_quoting),
		cmocka_unit_test(test_split_quote_inside_word),
		cmocka_unit_test(test_split_errors),
		cmocka_unit_test(test_codes_table),
		T_(test_explain_lists_voided_with_rule),
		T_(test_explain_auto_deductions),
#undef T_
	};
	return cmocka_run_group_tests(tests, config_group_setup, config_group_teardown);
}
