/*
 * test_report — the published JSON forms: points and metric values as
 * JSON numbers (integers when whole), instants with their offset, JSON
 * string literals written by hand, the units array as text and as a
 * jansson value, and compact dumps with reals printed shortest.  The plan
 * is the shipped 2020 one (five units, categories basic and key, 28 rows).
 */
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kaohe/report.h"
#include "kaohe/util.h"
#include "support.h"

/* ---- report_points / report_value ----------------------------------- */

/* J is a JSON integer of value V; J is freed. */
static void assert_json_int(json_t *j, json_int_t v)
{
	assert_non_null(j);
	if (!json_is_integer(j))
		fail_msg("expected the integer %lld, got JSON type %d", (long long)v,
			 (int)json_typeof(j));
	assert_i64(json_integer_value(j), v);
	json_decref(j);
}

/* J is a JSON real equal to NUM/DEN (the nearest double); J is freed. */
static void assert_json_real(json_t *j, double num, double den)
{
	assert_non_null(j);
	if (!json_is_real(j))
		fail_msg("expected the real %g, got JSON type %d", num / den, (int)json_typeof(j));
	if (json_real_value(j) != num / den)
		fail_msg("real is %.17g, expected %.17g", json_real_value(j), num / den);
	json_decref(j);
}

static void test_points_whole_is_integer(void **state)
{
	(void)state;
	assert_json_int(report_points(1400), 14);
	assert_json_int(report_points(0), 0);
	assert_json_int(report_points(-300), -3);
	assert_json_int(report_points(10000), 100);
}

static void test_points_fraction_is_real(void **state)
{
	(void)state;
	assert_json_real(report_points(9650), 96.5, 1);
	assert_json_real(report_points(-20), -2, 10);
	assert_json_real(report_points(5), 5, 100);
	assert_json_real(report_points(-5), -5, 100);
	assert_json_real(report_points(8250), 82.5, 1);
}

static void test_value_ten_thousandths(void **state)
{
	(void)state;

	/* 80 (percent), the row 13 threshold */
	assert_json_int(report_value(800000), 80);
	assert_json_int(report_value(0), 0);
	assert_json_int(report_value(-10000), -1);
	assert_json_real(report_value(123456), 12.3456, 1);
	assert_json_real(report_value(1), 1, 10000);
	assert_json_real(report_value(799999), 79.9999, 1);
	assert_json_real(report_value(-15000), -1.5, 1);
	/* 0.5: a value of hundredths is not mistaken for whole */
	assert_json_real(report_value(5000), 0.5, 1);
}

/* ---- report_instant --------------------------------------------------- */

static void assert_instant(int64_t t, const char *want)
{
	json_t *j = report_instant(t);
	assert_non_null(j);
	assert_true(json_is_string(j));
	assert_string_equal(json_string_value(j), want);
	json_decref(j);
}

static void test_instant_with_offset(void **state)
{
	(void)state;
	/* the plan's issue date, 00:00 local */
	assert_instant(1588262400, "2020-05-01T00:00:00+08:00");
	/* row 1's deadline instant */
	assert_instant(1600185600, "2020-09-16T00:00:00+08:00");
	/* 10:00 UTC is 18:00 in Dalian */
	assert_instant(1600164000, "2020-09-15T18:00:00+08:00");
	/* one second before the Q4 snapshot */
	assert_instant(1609430399, "2020-12-31T23:59:59+08:00");
	/* the epoch, in Shanghai */
	assert_instant(0, "1970-01-01T08:00:00+08:00");
}

static void test_instant_uses_tz_database(void **state)
{
	(void)state;
	/* China kept summer time 1986-1991: a hard-coded +08:00 would fail */
	assert_instant(646801200, "1990-07-01T12:00:00+09:00");
}

/* ---- report_json_string ----------------------------------------------- */

/* S as a JSON literal by report_json_string; the caller frees. */
static char *literal(const char *s)
{
	struct sbuf sb;
	sbuf_init(&sb);
	report_json_string(&sb, s);
	char *r = xstrdup(sb.buf);
	sbuf_free(&sb);
	return r;
}

static void assert_literal(const char *s, const char *want)
{
	char *got = literal(s);
	assert_string_equal(got, want);
	free(got);
}

/* The literal of S parses back, by jansson, to exactly S. */
static void assert_round_trip(const char *s)
{
	char *text = literal(s);
	json_error_t err;
	json_t *j = json_loads(text, JSON_DECODE_ANY, &err);
	if (j == NULL)
		fail_msg("json_loads(%s): %s", text, err.text);
	assert_true(json_is_string(j));
	assert_string_equal(json_string_value(j), s);
	json_decref(j);
	free(text);
}

static void test_json_string_plain(void **state)
{
	(void)state;
	assert_literal("", "\"\"");
	assert_literal("bayilu", "\"bayilu\"");
	assert_literal("7d@2020-12-10", "\"7d@2020-12-10\"");
}

static void test_json_string_quotes_backslash(void **state)
{
	(void)state;
	assert_literal("say \"hi\"", "\"say \\\"hi\\\"\"");
	assert_literal("a\\b", "\"a\\\\b\"");
	assert_literal("\\\"", "\"\\\\\\\"\"");
	assert_round_trip("say \"hi\" a\\b \\\"");
}

static void test_json_string_control_characters(void **state)
{
	(void)state;
	assert_literal("l1\nl2", "\"l1\\nl2\"");
	assert_literal("a\tb", "\"a\\tb\"");
	assert_literal("x\001y", "\"x\\u0001y\"");
	assert_literal("\r", "\"\\r\"");
	assert_literal("\037", "\"\\u001f\"");
	assert_literal("\b\f", "\"\\u0008\\u000c\"");
	assert_round_trip("l1\nl2\tx\001y\r\037\b\f end");
}

static void test_json_string_utf8_unchanged(void **state)
{
	(void)state;
	/* Chinese passes through as its UTF-8 bytes, never as \u escapes */
	assert_literal("八一路", "\"八一路\"");
	assert_literal("区住建局物业科（考核办公室）", "\"区住建局物业科（考核办公室）\"");
	assert_literal("《大连市》\"引号\"", "\"《大连市》\\\"引号\\\"\"");
	assert_round_trip("人民广场 香炉礁 — 9月15日前报送");
}

/* ---- report_points_text ----------------------------------------------- */

static void assert_points_text(int64_t h, const char *want)
{
	struct sbuf sb;
	sbuf_init(&sb);
	sbuf_puts(&sb, "[");
	report_points_text(&sb, h);
	assert_string_equal(sb.buf + 1, want);
	sbuf_puts(&sb, "]");
	/* a JSON number jansson reads back as the same value */
	json_t *j = json_loads(sb.buf, 0, NULL);
	assert_non_null(j);
	json_t *n = json_array_get(j, 0);
	assert_true(json_is_number(n));
	assert_i64(llround(json_number_value(n) * 100.0), h);
	assert_true(json_is_integer(n) == (h % 100 == 0));
	json_decref(j);
	sbuf_free(&sb);
}

static void test_points_text(void **state)
{
	(void)state;
	assert_points_text(1400, "14");
	assert_points_text(9650, "96.5");
	assert_points_text(-20, "-0.2");
	assert_points_text(5, "0.05");
	assert_points_text(-5, "-0.05");
	assert_points_text(0, "0");
	assert_points_text(-300, "-3");
	assert_points_text(8250, "82.5");
	assert_points_text(123456, "1234.56");
	assert_points_text(10000, "100");
	assert_points_text(1010, "10.1");
}

static void test_points_text_appends(void **state)
{
	(void)state;
	struct sbuf sb;
	sbuf_init(&sb);
	sbuf_puts(&sb, "{\"points\":");
	report_points_text(&sb, -250);
	sbuf_puts(&sb, "}");
	assert_string_equal(sb.buf, "{\"points\":-2.5}");
	sbuf_free(&sb);
}

/* ---- the units array --------------------------------------------------- */

/*
 * A standing of the shipped plan with chosen figures.  Unit 0 is the
 * design's example (total 96.5, basic 82.5, key 14, rank 1); the others
 * vary row by row, with whole and fractional points.
 */
static void make_table(const struct plan *p, struct score_table *t)
{
	static const int ranks[5] = { 1, 2, 2, 4, 5 };
	t->nunits = p->nunits;
	t->nrows = p->nrows;
	t->ncats = p->ncats;
	t->rows = xcalloc(t->nunits * t->nrows, sizeof(*t->rows));
	t->cats = xcalloc(t->nunits * t->ncats, sizeof(*t->cats));
	t->total = xcalloc(t->nunits, sizeof(*t->total));
	t->rank = xcalloc(t->nunits, sizeof(*t->rank));
	for (size_t u = 0; u < t->nunits; u++) {
		t->total[u] = 9650 - (int64_t)u * 120;
		t->cats[u * t->ncats + 0] = 8250 - (int64_t)u * 120;
		t->cats[u * t->ncats + 1] = 1400;
		t->rank[u] = ranks[u % 5];
		for (size_t r = 0; r < t->nrows; r++)
			t->rows[u * t->nrows + r] = (int64_t)((r * 37 + u * 11) % 600);
	}
	t->rows[0] = 300; /* row 1 of unit 0: 3 */
	t->rows[1] = 200; /* row 2a: 2 */
	t->rows[2] = 150; /* row 2b: 1.5 */
	t->rows[3] = 5;   /* row 2c: 0.05 */
}

/* The units array of P with make_table's figures as text, into SB (initialised here). */
static void units_text(const struct plan *p, struct score_table *t, struct sbuf *sb)
{
	make_table(p, t);
	sbuf_init(sb);
	report_units_text(p, t, sb);
}

static void test_units_plan_shape(void **state)
{
	(void)state;
	const struct plan *p = g_cfg->plan;
	/* what the following tests rely on */
	assert_int_equal(p->nunits, 5);
	assert_int_equal(p->nrows, 28);
	assert_int_equal(p->ncats, 2);
	assert_string_equal(p->cats[0].id, "basic");
	assert_string_equal(p->cats[1].id, "key");
	assert_string_equal(p->units[0].id, "bayilu");
	assert_string_equal(p->units[0].name, "八一路");
	assert_string_equal(p->rows[0].id, "1");
	assert_string_equal(p->rows[27].id, "18");
}

static void test_units_text_exact_start(void **state)
{
	(void)state;
	const struct plan *p = g_cfg->plan;
	struct score_table t;
	struct sbuf sb;
	static const char want[] = "[{\"unit\":\"bayilu\",\"name\":\"八一路\",\"total\":96.5,"
				   "\"basic\":82.5,\"key\":14,\"rank\":1,"
				   "\"rows\":{\"1\":3,\"2a\":2,\"2b\":1.5,\"2c\":0.05,";

	units_text(p, &t, &sb);
	if (strncmp(sb.buf, want, strlen(want)) != 0)
		fail_msg("units text starts %.200s", sb.buf);
	/* one line of compact JSON, closing the array */
	assert_null(strchr(sb.buf, '\n'));
	assert_null(strchr(sb.buf, ' '));
	assert_true(sb.len >= 2 && strcmp(sb.buf + sb.len - 2, "}]") == 0);
	sbuf_free(&sb);
	score_free(&t);
}

static void test_units_text_parses_with_every_unit_and_row(void **state)
{
	(void)state;
	const struct plan *p = g_cfg->plan;
	static const int ranks[5] = { 1, 2, 2, 4, 5 };
	struct score_table t;
	struct sbuf sb;
	json_error_t err;

	units_text(p, &t, &sb);
	json_t *j = json_loads(sb.buf, 0, &err);
	if (j == NULL)
		fail_msg("not JSON: %s at %d", err.text, err.position);
	assert_true(json_is_array(j));
	assert_int_equal(json_array_size(j), 5);
	for (size_t u = 0; u < 5; u++) {
		json_t *o = json_array_get(j, u);
		assert_true(json_is_object(o));
		/* unit, name, total, basic, key, rank, rows: nothing else */
		assert_int_equal(json_object_size(o), 7);
		assert_string_equal(json_string_value(json_object_get(o, "unit")),
				    shipped_unit_ids[u]);
		assert_string_equal(json_string_value(json_object_get(o, "name")),
				    shipped_unit_names[u]);
		json_t *total = json_object_get(o, "total"), *basic = json_object_get(o, "basic"),
		       *key = json_object_get(o, "key"), *rank = json_object_get(o, "rank");
		assert_true(json_is_number(total) && json_is_number(basic) && json_is_number(key));
		assert_i64(llround(json_number_value(total) * 100), 9650 - (int64_t)u * 120);
		assert_i64(llround(json_number_value(basic) * 100), 8250 - (int64_t)u * 120);
		assert_true(json_is_integer(key));
		assert_i64(json_integer_value(key), 14);
		assert_true(json_is_integer(rank));
		assert_i64(json_integer_value(rank), ranks[u]);
		json_t *r = json_object_get(o, "rows");
		assert_true(json_is_object(r));
		assert_int_equal(json_object_size(r), 28);
		for (size_t i = 0; i < 28; i++) {
			json_t *v = json_object_get(r, shipped_row_ids[i]);
			if (!json_is_number(v))
				fail_msg("unit %s has no row %s", shipped_unit_ids[u],
					 shipped_row_ids[i]);
			int64_t want = t.rows[u * t.nrows + i];
			assert_i64(llround(json_number_value(v) * 100), want);
			/* whole points are JSON integers, others reals */
			assert_int_equal(json_is_integer(v), want % 100 == 0);
		}
	}
	/* the hand-set figures of unit 0 */
	json_t *r0 = json_object_get(json_array_get(j, 0), "rows");
	assert_true(json_is_integer(json_object_get(r0, "1")));
	assert_i64(json_integer_value(json_object_get(r0, "1")), 3);
	assert_true(json_real_value(json_object_get(r0, "2b")) == 1.5);
	assert_true(json_real_value(json_object_get(r0, "2c")) == 0.05);
	json_decref(j);
	sbuf_free(&sb);
	score_free(&t);
}

static void test_units_value_equals_text(void **state)
{
	(void)state;
	const struct plan *p = g_cfg->plan;
	struct score_table t;
	struct sbuf sb;

	units_text(p, &t, &sb);
	json_t *fromtext = json_loads(sb.buf, 0, NULL);
	json_t *value = report_units(p, &t);
	assert_non_null(fromtext);
	assert_non_null(value);
	assert_true(json_equal(fromtext, value));
	/* and the value is not trivially equal: it holds the five units */
	assert_int_equal(json_array_size(value), 5);
	assert_string_equal(json_string_value(json_object_get(json_array_get(value, 4), "unit")),
			    "xianglujiao");
	json_decref(fromtext);
	json_decref(value);
	sbuf_free(&sb);
	score_free(&t);
}

/* A unit whose name needs escaping: swapped into the plan for one test. */
static char *g_saved_name;

static int swap_name_setup(void **state)
{
	(void)state;
	g_saved_name = g_cfg->plan->units[1].name;
	return 0;
}

static int swap_name_teardown(void **state)
{
	(void)state;
	g_cfg->plan->units[1].name = g_saved_name;
	return 0;
}

static void test_units_text_hostile_name_round_trips(void **state)
{
	(void)state;
	struct plan *p = g_cfg->plan;
	struct score_table t;
	struct sbuf sb;
	char name[] =
		"<script>alert(\"x, y\")</script>, \"人民广场\",\\ \n\t\001 },{\"unit\":\"evil\"";

	p->units[1].name = name;
	units_text(p, &t, &sb);
	json_error_t err;
	json_t *j = json_loads(sb.buf, 0, &err);
	if (j == NULL)
		fail_msg("not JSON: %s", err.text);
	/* still five units: the name did not break out of its string */
	assert_int_equal(json_array_size(j), 5);
	json_t *o = json_array_get(j, 1);
	assert_string_equal(json_string_value(json_object_get(o, "unit")), "renminguangchang");
	assert_string_equal(json_string_value(json_object_get(o, "name")), name);
	assert_int_equal(json_object_size(json_object_get(o, "rows")), 28);
	json_decref(j);
	/* report_units too */
	j = report_units(p, &t);
	assert_non_null(j);
	assert_string_equal(json_string_value(json_object_get(json_array_get(j, 1), "name")), name);
	json_decref(j);
	sbuf_free(&sb);
	score_free(&t);
}

/* ---- report_dump --------------------------------------------------------- */

static void assert_dump(json_t *j, const char *want)
{
	assert_non_null(j);
	char *s = report_dump(j);
	if (s == NULL) {
		json_decref(j);
		fail_msg("report_dump returned NULL, expected %s", want);
	}
	assert_string_equal(s, want);
	free(s);
	json_decref(j);
}

static void test_dump_compact(void **state)
{
	(void)state;
	assert_dump(json_pack("{s:s, s:i, s:[i, i], s:{s:b}}", "type", "scores", "rank", 1, "a", 1,
			      2, "o", "ok", 1),
		    "{\"type\":\"scores\",\"rank\":1,\"a\":[1,2],\"o\":{\"ok\":true}}");
}

static void test_dump_keeps_member_order(void **state)
{
	(void)state;
	json_t *o = json_object();
	json_object_set_new(o, "unit", json_string("bayilu"));
	json_object_set_new(o, "total", report_points(9650));
	json_object_set_new(o, "basic", report_points(8250));
	json_object_set_new(o, "key", report_points(1400));
	json_object_set_new(o, "at", report_instant(1600185600));
	assert_dump(o, "{\"unit\":\"bayilu\",\"total\":96.5,\"basic\":82.5,\"key\":14,"
		       "\"at\":\"2020-09-16T00:00:00+08:00\"}");
}

/* [X] dumped, for a value X that must be shortest. */
static void assert_dump_in_array(json_t *x, const char *want)
{
	char buf[64];
	snprintf(buf, sizeof(buf), "[%s]", want);
	assert_dump(json_pack("[o]", x), buf);
}

static void test_dump_reals_shortest(void **state)
{
	(void)state;
	/* 0.3 is 0.29999999999999999 at 17 digits: it must stay "0.3" */
	assert_dump_in_array(json_real(0.3), "0.3");
	assert_dump_in_array(report_points(30), "0.3");
	assert_dump_in_array(report_points(-20), "-0.2");
	assert_dump_in_array(report_points(5), "0.05");
	assert_dump_in_array(report_points(9650), "96.5");
	assert_dump_in_array(report_points(1400), "14");
	assert_dump_in_array(report_points(10), "0.1");
	assert_dump_in_array(report_points(70), "0.7");
	assert_dump_in_array(report_value(123456), "12.3456");
	assert_dump_in_array(report_value(1), "0.0001");
	/* two decimals stay exact up to 10^13 */
	assert_dump_in_array(report_points(123456789012345), "1234567890123.45");
	assert_dump(json_pack("{s:o, s:o, s:o}", "a", report_points(30), "b", report_points(-20),
			      "c", report_points(5)),
		    "{\"a\":0.3,\"b\":-0.2,\"c\":0.05}");
}

/* Any JSON value serialises, not only arrays and objects. */
static void test_dump_scalar(void **state)
{
	(void)state;
	assert_dump(json_real(0.3), "0.3");
	assert_dump(report_points(1400), "14");
	assert_dump(json_string("八一路"), "\"八一路\"");
	assert_dump(json_null(), "null");
}

static void test_dump_string_escapes(void **state)
{
	(void)state;
	/* UTF-8 unchanged, control characters escaped */
	assert_dump(json_pack("{s:s}", "name", "八一路\n\"x\""),
		    "{\"name\":\"八一路\\n\\\"x\\\"\"}");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_points_whole_is_integer),
		cmocka_unit_test(test_points_fraction_is_real),
		cmocka_unit_test(test_value_ten_thousandths),
		cmocka_unit_test(test_instant_with_offset),
		cmocka_unit_test(test_instant_uses_tz_database),
		cmocka_unit_test(test_json_string_plain),
		cmocka_unit_test(test_json_string_quotes_backslash),
		cmocka_unit_test(test_json_string_control_characters),
		cmocka_unit_test(test_json_string_utf8_unchanged),
		cmocka_unit_test(test_points_text),
		cmocka_unit_test(test_points_text_appends),
		cmocka_unit_test(test_units_plan_shape),
		cmocka_unit_test(test_units_text_exact_start),
		cmocka_unit_test(test_units_text_parses_with_every_unit_and_row),
		cmocka_unit_test(test_units_value_equals_text),
		cmocka_unit_test_setup_teardown(test_units_text_hostile_name_round_trips,
						swap_name_setup, swap_name_teardown),
		cmocka_unit_test(test_dump_compact),
		cmocka_unit_test(test_dump_keeps_member_order),
		cmocka_unit_test(test_dump_reals_shortest),
		cmocka_unit_test(test_dump_scalar),
		cmocka_unit_test(test_dump_string_escapes),
	};
	return cmocka_run_group_tests(tests, config_group_setup, config_group_teardown);
}
