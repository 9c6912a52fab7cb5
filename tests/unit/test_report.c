/*
 * test_report — the units array of a standing as the writer writes it
 * (the exact text, every unit and row, whole points as integers, a
 * hostile name kept inside its string), an element left open for the
 * caller's members, and the same array as a jansson value.  The plan is
 * the shipped 2020 one (five units, categories basic and key, 28 rows).
 */
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kaohe/report.h"
#include "kaohe/util.h"
#include "support.h"

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

/* The units array of P with make_table's figures as a document, into SB (initialised here). */
static void units_text(const struct plan *p, struct score_table *t, struct sbuf *sb)
{
	struct json_writer w;

	make_table(p, t);
	sbuf_init(sb);
	json_do_start(&w, sb);
	report_units_json(&w, NULL, p, t);
	json_do_finish(&w);
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

/* An element left open takes the caller's members before its end, as `status UNIT` does. */
static void test_unit_open_takes_members(void **state)
{
	(void)state;
	const struct plan *p = g_cfg->plan;
	struct score_table t;
	struct sbuf sb, whole;
	struct json_writer w;

	units_text(p, &t, &whole);
	sbuf_init(&sb);
	json_do_start(&w, &sb);
	json_do_object(&w, NULL);
	json_do_bool(&w, "ok", true);
	report_unit_open(&w, "data", p, &t, 2);
	json_do_array(&w, "occurrences");
	json_do_end(&w);
	json_do_end(&w);
	json_do_end(&w);
	json_do_finish(&w);
	/* unit 2's element of the whole array, with the member added before its brace */
	const char *el = strstr(whole.buf, "{\"unit\":\"baiyun\"");
	assert_non_null(el);
	size_t ellen = (size_t)(strstr(el, "}},") + 1 - el);
	static const char head[] = "{\"ok\":true,\"data\":";
	size_t hl = sizeof(head) - 1;
	assert_true(starts_with(sb.buf, head));
	assert_memory_equal(sb.buf + hl, el, ellen);
	assert_string_equal(sb.buf + hl + ellen, ",\"occurrences\":[]}}");
	sbuf_free(&sb);
	sbuf_free(&whole);
	score_free(&t);
}

/* The array as a member of a line's object, as simulate writes a standing. */
static void test_units_as_member(void **state)
{
	(void)state;
	const struct plan *p = g_cfg->plan;
	struct score_table t;
	struct sbuf sb, whole;
	struct json_writer w;

	units_text(p, &t, &whole);
	sbuf_init(&sb);
	json_do_start(&w, &sb);
	json_do_object(&w, NULL);
	json_do_string(&w, "type", "scores");
	report_units_json(&w, "units", p, &t);
	json_do_int(&w, "reminders_counted", 3);
	json_do_end(&w);
	json_do_finish(&w);
	static const char head[] = "{\"type\":\"scores\",\"units\":";
	size_t hl = sizeof(head) - 1;
	assert_true(starts_with(sb.buf, head));
	assert_memory_equal(sb.buf + hl, whole.buf, whole.len);
	assert_string_equal(sb.buf + hl + whole.len, ",\"reminders_counted\":3}");
	sbuf_free(&sb);
	sbuf_free(&whole);
	score_free(&t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_units_plan_shape),
		cmocka_unit_test(test_units_text_exact_start),
		cmocka_unit_test(test_units_text_parses_with_every_unit_and_row),
		cmocka_unit_test(test_units_value_equals_text),
		cmocka_unit_test_setup_teardown(test_units_text_hostile_name_round_trips,
						swap_name_setup, swap_name_teardown),
		cmocka_unit_test(test_unit_open_takes_members),
		cmocka_unit_test(test_units_as_member),
	};
	return cmocka_run_group_tests(tests, config_group_setup, config_group_teardown);
}
