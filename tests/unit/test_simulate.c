/*
 * test_simulate — simulate_run over the shipped 2020 plan: the JSON Lines
 * it writes (time order, snapshots, deductions, reminders, the final
 * scores), the events file (vetted whole before anything is written,
 * failing commands, the order of events and the engine's work at one
 * instant, events at TO), bad options and determinism.
 *
 * Expected figures are worked out by hand from plan-2020.md.  With nothing
 * submitted, every deadline row of a quarter ends missing at that
 * quarter's close (the snapshot instant), so:
 *   start: basic 80 (85, row 13 earns from 0), key 15, total 95;
 *   Q2 (2020-07-01): basic −(2a 2 + 4 2 + 5 2 + 6a 2 + 7a 1 + 7b 1+1) = 69,
 *                    key −(14 2 + 16a 1 + 17a 2) = 10, total 79;
 *   Q3 (2020-10-01): basic −(1 3 + 2b 2 + 4 2 + 5 2 + 7c 1+1+1) = 57,
 *                    key −(16b 1) = 9, total 66;
 *   Q4 (2021-01-01): basic −(2c 5 + 4 2 + 5 2 + 6b 2 + 7d 1+1+1 + 8 2) = 41,
 *                    key −(15 1 + 17b 2) = 6, total 47 (no metrics: no
 *                    ranking deduction; 16c's deductions are 0).
 */
#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kaohe/simulate.h"
#include "kaohe/util.h"
#include "support.h"

#define YEAR_EVENTS KAOHE_SOURCE_DIR "/tests/integration/year2020/events.txt"

#define Q2 "2020-07-01T00:00:00+08:00"
#define Q3 "2020-10-01T00:00:00+08:00"
#define Q4 "2021-01-01T00:00:00+08:00"

/* ---- the fixture --------------------------------------------------------- */

static char g_dir[64];
static char *g_files[32];
static size_t g_nfiles;

/* The shipped configuration and a directory for events files. */
static int group_setup(void **state)
{
	int rc = config_group_setup(state);
	snprintf(g_dir, sizeof(g_dir), "/tmp/kaohe-test-simulate-XXXXXX");
	if (mkdtemp(g_dir) == NULL) {
		perror("mkdtemp");
		return -1;
	}
	return rc;
}

static int group_teardown(void **state)
{
	for (size_t i = 0; i < g_nfiles; i++) {
		unlink(g_files[i]);
		free(g_files[i]);
	}
	rmdir(g_dir);
	return config_group_teardown(state);
}

/* Write TEXT to a new events file NAME in the test directory; its path. */
static const char *events_file(const char *name, const char *text)
{
	assert_true(g_nfiles < sizeof(g_files) / sizeof(g_files[0]));
	char *path = xasprintf("%s/%s", g_dir, name);
	write_file(path, text);
	g_files[g_nfiles++] = path;
	return path;
}

/* What one simulate_run did. */
struct run {
	int rc;
	char *out;
	size_t outlen;
	char *err;
	json_t *lines; /* the output, one object per line */
};

static void run_free(struct run *r)
{
	free(r->out);
	free(r->err);
	json_decref(r->lines);
	memset(r, 0, sizeof(*r));
}

/* Parse the output as JSON Lines: each line one object, the last ending in \n. */
static json_t *parse_lines(const char *out, size_t len)
{
	json_t *a = json_array();
	const char *p = out, *end = out + len;
	if (len > 0 && out[len - 1] != '\n')
		fail_msg("output does not end with a newline");
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		json_error_t err;
		json_t *o = json_loadb(p, (size_t)(nl - p), 0, &err);
		if (o == NULL || !json_is_object(o))
			fail_msg("line %zu is not a JSON object: %s: %.120s",
				 json_array_size(a) + 1, err.text, p);
		json_array_append_new(a, o);
		p = nl + 1;
	}
	return a;
}

/* Run simulate_run, capturing what it writes to OUT and to stderr. */
static void simulate(struct run *r, const char *from, const char *to, const char *events,
		     int count_reminders)
{
	struct simulate_opts o = {
		.from = from, .to = to, .events = events, .count_reminders = count_reminders
	};
	FILE *out = open_memstream(&r->out, &r->outlen);
	FILE *errf = tmpfile();
	assert_non_null(out);
	assert_non_null(errf);

	fflush(stderr);
	int saved = dup(STDERR_FILENO);
	assert_true(saved >= 0);
	assert_true(dup2(fileno(errf), STDERR_FILENO) >= 0);
	r->rc = simulate_run(g_cfg, &o, out);
	fflush(stderr);
	assert_true(dup2(saved, STDERR_FILENO) >= 0);
	close(saved);
	assert_int_equal(fclose(out), 0);

	long n = ftell(errf);
	assert_true(n >= 0);
	r->err = xcalloc(1, (size_t)n + 1);
	rewind(errf);
	if (n > 0)
		assert_int_equal(fread(r->err, 1, (size_t)n, errf), (size_t)n);
	fclose(errf);
	r->lines = r->rc == 0 ? parse_lines(r->out, r->outlen) : json_array();
}

/* The year: from the plan's issue date to the Q4 snapshot instant. */
static void simulate_year(struct run *r, const char *events, int count_reminders)
{
	simulate(r, "2020-05-01", "2021-01-01", events, count_reminders);
	if (r->rc != 0)
		fail_msg("simulate returned %d: %s", r->rc, r->err);
}

/* ---- reading the output ------------------------------------------------- */

static bool is(json_t *o, const char *key, const char *value)
{
	const char *s = json_string_value(json_object_get(o, key));
	return s && strcmp(s, value) == 0;
}

/* Hundredths of a JSON number member (points are at most two decimals). */
static int64_t hund_of(json_t *o, const char *key)
{
	json_t *n = json_object_get(o, key);
	if (!json_is_number(n))
		fail_msg("member \"%s\" is not a JSON number", key);
	return hund(n);
}

/* The one object of TYPE with "period" PERIOD (NULL: any), or fail. */
static json_t *find_one(json_t *lines, const char *type, const char *period)
{
	json_t *found = NULL, *o;
	size_t i;
	json_array_foreach(lines, i, o)
	{
		if (is(o, "type", type) && (period == NULL || is(o, "period", period))) {
			if (found)
				fail_msg("two %s objects for %s", type,
					 period ? period : "the run");
			found = o;
		}
	}
	if (found == NULL)
		fail_msg("no %s object for %s", type, period ? period : "the run");
	return found;
}

static size_t count_type(json_t *lines, const char *type)
{
	size_t n = 0, i;
	json_t *o;
	json_array_foreach(lines, i, o) n += is(o, "type", type);
	return n;
}

/* The element of unit ID in a units array. */
static json_t *unit_of(json_t *standing, const char *id)
{
	json_t *units = json_object_get(standing, "units"), *u;
	size_t i;
	json_array_foreach(units, i, u) if (is(u, "unit", id)) return u;
	fail_msg("no unit %s in the standing", id);
	return NULL;
}

static int64_t row_of(json_t *standing, const char *unit, const char *row)
{
	return hund_of(json_object_get(unit_of(standing, unit), "rows"), row);
}

/* A standing holds the five units, each with the 28 rows as numbers. */
static void assert_standing_shape(json_t *s)
{
	json_t *units = json_object_get(s, "units");
	assert_true(json_is_array(units));
	assert_int_equal(json_array_size(units), 5);
	for (size_t u = 0; u < 5; u++) {
		json_t *e = json_array_get(units, u);
		assert_string_equal(str(e, "unit"), shipped_unit_ids[u]);
		json_t *rows = json_object_get(e, "rows");
		assert_int_equal(json_object_size(rows), 28);
		for (size_t r = 0; r < 28; r++)
			if (!json_is_number(json_object_get(rows, shipped_row_ids[r])))
				fail_msg("unit %s lacks row %s", shipped_unit_ids[u],
					 shipped_row_ids[r]);
		assert_true(json_is_number(json_object_get(e, "total")));
		assert_true(json_is_number(json_object_get(e, "basic")));
		assert_true(json_is_number(json_object_get(e, "key")));
		assert_true(json_is_integer(json_object_get(e, "rank")));
	}
}

/* Every unit of standing S has TOTAL, BASIC and KEY (hundredths) and rank 1. */
static void assert_all_units(json_t *s, int64_t total, int64_t basic, int64_t key)
{
	for (size_t u = 0; u < 5; u++) {
		json_t *e = unit_of(s, shipped_unit_ids[u]);
		assert_i64(hund_of(e, "total"), total);
		assert_i64(hund_of(e, "basic"), basic);
		assert_i64(hund_of(e, "key"), key);
		/* all equal: one shared rank */
		assert_i64(json_integer_value(json_object_get(e, "rank")), 1);
	}
}

/* The deductions for UNIT, ROW and REASON, in output order. */
static size_t deductions(json_t *lines, const char *unit, const char *row, const char *reason,
			 json_t **first)
{
	size_t n = 0, i;
	json_t *o;
	*first = NULL;
	json_array_foreach(lines, i, o)
	{
		if (is(o, "type", "deduction") && is(o, "unit", unit) && is(o, "row", row) &&
		    is(o, "reason", reason)) {
			if (n++ == 0)
				*first = o;
		}
	}
	return n;
}

/* Whether stderr names line LINE of file PATH ("PATH:LINE: "). */
static bool names_line(const char *err, const char *path, int line)
{
	char key[512];
	snprintf(key, sizeof(key), "%s:%d: ", path, line);
	for (const char *p = err; (p = strstr(p, key)) != NULL; p++)
		if (p == err || p[-1] == '\n')
			return true;
	return false;
}

static size_t count_lines_starting(const char *err, const char *prefix)
{
	size_t n = 0, len = strlen(prefix);
	for (const char *p = err; *p;) {
		if (strncmp(p, prefix, len) == 0)
			n++;
		const char *nl = strchr(p, '\n');
		if (nl == NULL)
			break;
		p = nl + 1;
	}
	return n;
}

/* ---- no events ------------------------------------------------------------- */

static void test_no_events_json_lines_in_time_order(void **state)
{
	(void)state;
	struct run r;
	simulate_year(&r, NULL, 0);
	assert_true(json_array_size(r.lines) > 4);
	int64_t last = INT64_MIN;
	json_t *o;
	size_t i;
	json_array_foreach(r.lines, i, o)
	{
		int64_t at = T(str(o, "at"));
		if (at < last)
			fail_msg("line %zu at %s goes back in time", i + 1, str(o, "at"));
		last = at;
		const char *type = str(o, "type");
		assert_true(strcmp(type, "reminder") == 0 || strcmp(type, "deduction") == 0 ||
			    strcmp(type, "snapshot") == 0 || strcmp(type, "scores") == 0);
		/* nothing before the plan is in force, nothing after TO */
		assert_true(at >= T("2020-05-01T00:00:00+08:00"));
		assert_true(at <= T(Q4));
	}
	/* the scores object comes last, once, as of TO */
	json_t *lastobj = json_array_get(r.lines, json_array_size(r.lines) - 1);
	assert_string_equal(str(lastobj, "type"), "scores");
	assert_string_equal(str(lastobj, "at"), Q4);
	assert_int_equal(count_type(r.lines, "scores"), 1);
	assert_standing_shape(lastobj);
	run_free(&r);
}

static void test_no_events_three_snapshots(void **state)
{
	(void)state;
	struct run r;
	simulate_year(&r, NULL, 0);
	assert_int_equal(count_type(r.lines, "snapshot"), 3);
	json_t *q2 = find_one(r.lines, "snapshot", "2020-Q2");
	json_t *q3 = find_one(r.lines, "snapshot", "2020-Q3");
	json_t *q4 = find_one(r.lines, "snapshot", "2020-Q4");
	assert_string_equal(str(q2, "at"), Q2);
	assert_string_equal(str(q3, "at"), Q3);
	assert_string_equal(str(q4, "at"), Q4);
	assert_standing_shape(q2);
	assert_standing_shape(q3);
	assert_standing_shape(q4);
	run_free(&r);
}

static void test_no_events_q2_rows_by_hand(void **state)
{
	(void)state;
	/* Q2 with nothing submitted: every row due by 06-30 is missing */
	static const int64_t want[28] = {
		/* 1 */ 300,  /* 2a */ 0,    /* 2b */ 200, /* 2c */ 500,  /* 3 */ 1000,
		/* 4 */ 600,  /* 5 */ 800,   /* 6a */ 0,   /* 6b */ 200,  /* 6c */ 500,
		/* 7a */ 100, /* 7b */ 0,    /* 7c */ 300, /* 7d */ 300,  /* 8 */ 200,
		/* 9 */ 400,  /* 10 */ 400,  /* 11 */ 500, /* 12 */ 600,  /* 13 */ 0,
		/* 14 */ 0,   /* 15 */ 200,  /* 16a */ 0,  /* 16b */ 100, /* 16c */ 300,
		/* 17a */ 0,  /* 17b */ 200, /* 18 */ 200,
	};
	struct run r;
	simulate_year(&r, NULL, 0);
	json_t *q2 = find_one(r.lines, "snapshot", "2020-Q2");
	for (size_t u = 0; u < 5; u++)
		for (size_t i = 0; i < 28; i++) {
			const char *unit = shipped_unit_ids[u], *row = shipped_row_ids[i];
			if (row_of(q2, unit, row) != want[i])
				fail_msg("Q2 %s row %s is %lld hundredths, expected %lld", unit,
					 row, (long long)row_of(q2, unit, row), (long long)want[i]);
		}
	assert_all_units(q2, 7900, 6900, 1000);
	run_free(&r);
}

static void test_no_events_q3_q4_scores_by_hand(void **state)
{
	(void)state;
	struct run r;
	simulate_year(&r, NULL, 0);
	assert_all_units(find_one(r.lines, "snapshot", "2020-Q3"), 6600, 5700, 900);
	json_t *q4 = find_one(r.lines, "snapshot", "2020-Q4");
	assert_all_units(q4, 4700, 4100, 600);
	json_t *scores = find_one(r.lines, "scores", NULL);
	assert_all_units(scores, 4700, 4100, 600);
	/* Q4 rows by hand: what is left of each */
	static const char *const left[] = { "3",  "4",  "5",  "6c", "7a",  "9",
					    "10", "11", "12", "15", "16c", "18" };
	static const int64_t pts[] = { 1000, 200, 400, 500, 100, 400, 400, 500, 600, 100, 300, 200 };
	for (size_t u = 0; u < 5; u++)
		for (size_t i = 0; i < 28; i++) {
			int64_t want = 0;
			for (size_t k = 0; k < sizeof(left) / sizeof(left[0]); k++)
				if (strcmp(left[k], shipped_row_ids[i]) == 0)
					want = pts[k];
			assert_i64(row_of(scores, shipped_unit_ids[u], shipped_row_ids[i]), want);
		}
	/* whole points are JSON integers */
	assert_true(json_is_integer(json_object_get(unit_of(scores, "bayilu"), "total")));
	run_free(&r);
}

static void test_no_events_deductions(void **state)
{
	(void)state;
	struct run r;
	json_t *late, *missing;
	simulate_year(&r, NULL, 0);
	/* row 14: due 05-15, late 1 at 05-16 00:00, replaced by missing 2 at the Q2 close */
	assert_int_equal(deductions(r.lines, "rixin", "14", "late", &late), 1);
	assert_string_equal(str(late, "at"), "2020-05-16T00:00:00+08:00");
	assert_string_equal(str(late, "occurrence"), "14");
	assert_i64(hund_of(late, "points"), -100);
	assert_true(json_is_integer(json_object_get(late, "points")));
	assert_true(json_is_integer(json_object_get(late, "entry")));
	assert_int_equal(deductions(r.lines, "rixin", "14", "missing", &missing), 1);
	assert_string_equal(str(missing, "at"), Q2);
	assert_i64(hund_of(missing, "points"), -200);
	assert_i64(json_integer_value(json_object_get(missing, "replaces")),
		   json_integer_value(json_object_get(late, "entry")));
	/* row 7a: late is worth 0 and is not recorded; missing 1 at the close */
	assert_int_equal(deductions(r.lines, "baiyun", "7a", "late", &late), 0);
	assert_int_equal(deductions(r.lines, "baiyun", "7a", "missing", &missing), 1);
	assert_string_equal(str(missing, "at"), Q2);
	assert_i64(hund_of(missing, "points"), -100);
	/* row 16c: worth 0 either way, nothing recorded */
	assert_int_equal(deductions(r.lines, "baiyun", "16c", "late", &late), 0);
	assert_int_equal(deductions(r.lines, "baiyun", "16c", "missing", &missing), 0);
	/* 7b has two occurrences: two missing deductions */
	assert_int_equal(deductions(r.lines, "xianglujiao", "7b", "missing", &missing), 2);
	assert_string_equal(str(missing, "occurrence"), "7b@2020-05-22");
	run_free(&r);
}

static void test_no_events_closes_before_snapshot(void **state)
{
	(void)state;
	struct run r;
	simulate_year(&r, NULL, 0);
	/* at the Q2 instant the closes (missing) come before the snapshot */
	size_t snap = SIZE_MAX, nmissing = 0, i;
	json_t *o;
	json_array_foreach(r.lines, i, o)
	{
		if (is(o, "type", "snapshot") && is(o, "period", "2020-Q2"))
			snap = i;
		if (is(o, "type", "deduction") && is(o, "at", Q2)) {
			nmissing++;
			if (snap != SIZE_MAX)
				fail_msg("a deduction at the Q2 instant follows the Q2 snapshot");
		}
	}
	assert_true(snap != SIZE_MAX);
	/* per unit: 2a, 4, 5, 6a, 7a, 7b ×2, 14, 16a, 17a */
	assert_int_equal(nmissing, 5 * 10);
	run_free(&r);
}

/* ---- reminders ------------------------------------------------------------- */

static void test_reminders_printed(void **state)
{
	(void)state;
	struct run r;
	simulate_year(&r, NULL, 0);
	size_t n = 0, i;
	json_t *o, *due16a = NULL;
	json_array_foreach(r.lines, i, o)
	{
		if (!is(o, "type", "reminder"))
			continue;
		n++;
		const char *kind = str(o, "kind");
		assert_true(strcmp(kind, "before") == 0 || strcmp(kind, "due") == 0 ||
			    strcmp(kind, "overdue") == 0);
		/* addressed to a unit or to a department office */
		assert_true(json_is_string(json_object_get(o, "unit")) !=
			    json_is_string(json_object_get(o, "department")));
		json_t *occs = json_object_get(o, "occurrences");
		assert_true(json_is_array(occs) && json_array_size(occs) > 0);
		for (size_t k = 0; k < json_array_size(occs); k++)
			assert_true(json_is_string(json_array_get(occs, k)));
		/* row 16a is due Wednesday 05-06: its due-day notice at 09:00 */
		if (is(o, "at", "2020-05-06T09:00:00+08:00") && is(o, "unit", "bayilu") &&
		    is(o, "kind", "due"))
			due16a = o;
	}
	assert_true(n > 0);
	assert_non_null(due16a);
	json_t *occs = json_object_get(due16a, "occurrences");
	bool has16a = false;
	for (size_t k = 0; k < json_array_size(occs); k++)
		has16a |= strcmp(json_string_value(json_array_get(occs, k)), "16a") == 0;
	assert_true(has16a);
	/* without --count-reminders the scores object counts nothing */
	assert_null(json_object_get(find_one(r.lines, "scores", NULL), "reminders_counted"));
	run_free(&r);
}

static void test_count_reminders(void **state)
{
	(void)state;
	struct run plain, counted;
	simulate_year(&plain, NULL, 0);
	simulate_year(&counted, NULL, 1);
	assert_int_equal(count_type(counted.lines, "reminder"), 0);
	json_t *c = json_object_get(find_one(counted.lines, "scores", NULL), "reminders_counted");
	assert_true(json_is_integer(c));
	assert_true(json_integer_value(c) > 0);
	/* the count is the number of reminders a plain run prints */
	assert_i64(json_integer_value(c), (int64_t)count_type(plain.lines, "reminder"));
	/* and nothing else changes */
	assert_int_equal(json_array_size(counted.lines),
			 json_array_size(plain.lines) - count_type(plain.lines, "reminder"));
	assert_int_equal(count_type(counted.lines, "deduction"),
			 count_type(plain.lines, "deduction"));
	assert_int_equal(count_type(counted.lines, "snapshot"), 3);
	run_free(&plain);
	run_free(&counted);
}

/* ---- a bad events file ----------------------------------------------------- */

static void test_bad_lines_all_named_nothing_written(void **state)
{
	(void)state;
	size_t big = 70000;
	char *note = xmalloc(big + 1);
	memset(note, 'A', big);
	note[big] = '\0';
	char *text = xasprintf(
		"# one bad line of each kind\n"                             /* 1 */
		"2020-04-30T23:59:59+08:00 submit bayilu 16a\n"             /* 2 before FROM */
		"2020-06-01T10:00:00+08:00 submit bayilu 2a\n"              /* 3 good */
		"2020-06-02T10:00:00+08:00 submit nowhere 2a\n"             /* 4 unknown unit */
		"\n"                                                        /* 5 blank */
		"2020-06-03T10:00:00 submit bayilu 6a\n"                    /* 6 no offset */
		"2020-06-31T10:00:00+08:00 submit bayilu 6a\n"              /* 7 no such day */
		"2020-06-04T10:00:00+08:00 submit renminguangchang 2a\n"    /* 8 good */
		"2020-06-02T09:00:00+08:00 submit baiyun 2a\n"              /* 9 out of order */
		"2020-06-05T10:00:00+08:00 frobnicate bayilu\n"             /* 10 unknown command */
		"2020-06-06T10:00:00+08:00 submit rixin 2a --note \"%s\"\n" /* 11 over 64 KiB */
		"2020-06-07T10:00:00+08:00 submit xianglujiao 2a\n"         /* 12 good */
		"2021-01-01T00:00:01+08:00 submit xianglujiao 2c\n",        /* 13 after TO */
		note);
	const char *path = events_file("bad.txt", text);
	free(text);
	free(note);

	struct run r;
	simulate(&r, "2020-05-01", "2021-01-01", path, 0);
	assert_int_equal(r.rc, 1);
	/* nothing at all is written for a bad file */
	if (r.outlen != 0)
		fail_msg("%zu bytes written for a bad events file: %.200s", r.outlen, r.out);
	static const int bad[] = { 2, 4, 6, 7, 9, 10, 11, 13 };
	static const int good[] = { 1, 3, 5, 8, 12 };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (!names_line(r.err, path, bad[i]))
			fail_msg("stderr does not name line %d:\n%s", bad[i], r.err);
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
		if (names_line(r.err, path, good[i]))
			fail_msg("stderr names good line %d:\n%s", good[i], r.err);
	/* the unknown names are named */
	assert_non_null(strstr(r.err, "nowhere"));
	assert_non_null(strstr(r.err, "frobnicate"));
	run_free(&r);
}

/*
 * Run the year over the events file NAME of 60 lines "DAYT10:MM:00+08:00
 * submit nowhere 2a", one a minute: it must fail and write nothing.  The
 * file's path.
 */
static const char *run_sixty_bad_lines(struct run *r, const char *name, const char *day)
{
	struct sbuf sb;
	sbuf_init(&sb);
	for (int i = 1; i <= 60; i++)
		sbuf_printf(&sb, "%sT10:%02d:00+08:00 submit nowhere 2a\n", day, i - 1);
	const char *path = events_file(name, sb.buf);
	sbuf_free(&sb);

	simulate(r, "2020-05-01", "2021-01-01", path, 0);
	assert_int_equal(r->rc, 1);
	assert_int_equal(r->outlen, 0);
	return path;
}

static void test_more_than_50_bad_lines(void **state)
{
	(void)state;
	struct run r;
	const char *path = run_sixty_bad_lines(&r, "sixty.txt", "2020-06-01");
	for (int i = 1; i <= 50; i++)
		if (!names_line(r.err, path, i))
			fail_msg("line %d is not listed", i);
	for (int i = 51; i <= 60; i++)
		if (names_line(r.err, path, i))
			fail_msg("line %d is listed beyond the first 50", i);
	char prefix[300];
	snprintf(prefix, sizeof(prefix), "%s:", path);
	/* 50 listed lines plus one count line */
	assert_int_equal(count_lines_starting(r.err, prefix), 51);
	assert_non_null(strstr(r.err, "60 bad lines"));
	run_free(&r);
}

static void test_bad_lines_counted_once_each(void **state)
{
	(void)state;
	/* 60 lines, each bad twice over: before FROM and an unknown unit */
	struct run r;
	const char *path = run_sixty_bad_lines(&r, "sixty-twice.txt", "2020-04-01");
	/* the first 50 bad lines are listed, and 60 lines are counted */
	int listed = 0;
	for (int i = 1; i <= 50; i++)
		listed += names_line(r.err, path, i);
	char key[300];
	snprintf(key, sizeof(key), "\n%s: ", path);
	const char *count = strstr(r.err, key);
	if (count == NULL)
		fail_msg("no count line");
	count++;
	bool right = listed == 50 && strncmp(count + strlen(key) - 1, "60 bad lines", 12) == 0;
	for (int i = 51; i <= 60; i++)
		right &= !names_line(r.err, path, i);
	char msg[600];
	snprintf(msg, sizeof(msg), "%d of the first 50 bad lines listed; count line: %.*s", listed,
		 (int)strcspn(count, "\n"), count);
	run_free(&r);
	if (!right)
		fail_msg("%s", msg);
}

/*
 * Every argument is vetted by its type before anything runs, not only
 * the names: a bad count, value, time, date, kind or metric is its
 * line's error, with the code the control socket would answer, and
 * nothing is written.
 */
static void test_arguments_vetted_by_type(void **state)
{
	(void)state;
	const char *path = events_file(
		"types.txt",
		"2020-06-01T10:00:00+08:00 submit bayilu 2a\n"                    /* 1 good */
		"2020-06-02T10:00:00+08:00 record bayilu 6c pushback 0\n"         /* 2 */
		"2020-06-03T10:00:00+08:00 metric bayilu 13 satisfaction 8O\n"    /* 3 */
		"2020-06-04T10:00:00+08:00 submit bayilu 6a --at yesterday\n"     /* 4 */
		"2020-06-05T10:00:00+08:00 move 16a 2020-13-01 --reason x\n"      /* 5 */
		"2020-06-06T10:00:00+08:00 record bayilu 6c complaint\n"          /* 6 */
		"2020-06-07T10:00:00+08:00 metric bayilu 13 dissatisfaction 80\n" /* 7 */
		"2020-06-08T10:00:00+08:00 move 16a 2020-07-31\n"                 /* 8 */
		"2020-06-09T10:00:00+08:00 audit 0\n"                             /* 9 */
		"2020-06-10T10:00:00+08:00 submit renminguangchang 2a\n");        /* 10 good */
	static const struct {
		int line;
		const char *code;
	} want[] = { { 2, "bad-count" }, { 3, "bad-value" },    { 4, "bad-time" },
		     { 5, "bad-date" },  { 6, "unknown-kind" }, { 7, "unknown-metric" },
		     { 8, "usage" },     { 9, "usage" } };
	struct run r;
	char line[600];

	simulate(&r, "2020-05-01", "2021-01-01", path, 0);
	assert_int_equal(r.rc, 1);
	assert_int_equal(r.outlen, 0);
	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		snprintf(line, sizeof(line), "%s:%d: %s:", path, want[i].line, want[i].code);
		if (strstr(r.err, line) == NULL)
			fail_msg("stderr lacks \"%s\":\n%s", line, r.err);
	}
	assert_false(names_line(r.err, path, 1));
	assert_false(names_line(r.err, path, 10));
	run_free(&r);
}

static void test_failing_command_names_line_and_code(void **state)
{
	(void)state;
	const char *path = events_file("void.txt",
				       "# an entry that does not exist\n"
				       "\n"
				       "2020-06-01T10:00:00+08:00 submit bayilu 2a\n"
				       "2020-06-02T10:00:00+08:00 void 99999 --reason x\n"
				       "2020-06-03T10:00:00+08:00 submit baiyun 2a\n");
	struct run r;
	simulate(&r, "2020-05-01", "2021-01-01", path, 0);
	assert_int_equal(r.rc, 1);
	char want[300];
	snprintf(want, sizeof(want), "%s:4: not-found:", path);
	if (strstr(r.err, want) == NULL)
		fail_msg("stderr lacks \"%s\":\n%s", want, r.err);
	assert_false(names_line(r.err, path, 3));
	assert_false(names_line(r.err, path, 5));
	/* the run stopped: no final scores */
	assert_null(strstr(r.out ? r.out : "", "\"type\":\"scores\""));
	run_free(&r);
}

/*
 * A NUL byte, or a control character, in an events file is refused as
 * the control socket refuses it: the same code, and the file's line.
 */
static void test_nul_and_control_characters_refused(void **state)
{
	(void)state;
	static const char text[] =
		"2020-06-01T10:00:00+08:00 submit bayilu 2a\n"                         /* 1 good */
		"2020-06-02T10:00:00+08:00 submit baiyun 2a\0 --note hidden\n"         /* 2 NUL */
		"2020-06\0-03T10:00:00+08:00 submit rixin 2a\n"                        /* 3 NUL */
		"2020-06-04T10:00:00+08:00 submit xianglujiao 2a --note \"\033[2J\"\n" /* 4 ESC */
		"2020-06-05T10:00:00+08:00 submit renminguangchang 2a\n";              /* 5 good */
	char *path = xasprintf("%s/nul.txt", g_dir);
	FILE *f = fopen(path, "wb");
	assert_non_null(f);
	assert_int_equal(fwrite(text, 1, sizeof(text) - 1, f), sizeof(text) - 1);
	fclose(f);

	struct run r;
	simulate(&r, "2020-05-01", "2021-01-01", path, 0);
	assert_int_equal(r.rc, 1);
	assert_int_equal(r.outlen, 0);
	char want[600];
	snprintf(want, sizeof(want), "%s:2: bad-utf8: the line holds a NUL byte (byte 43)", path);
	if (strstr(r.err, want) == NULL)
		fail_msg("stderr lacks \"%s\":\n%s", want, r.err);
	snprintf(want, sizeof(want), "%s:3: bad-utf8:", path);
	if (strstr(r.err, want) == NULL)
		fail_msg("stderr lacks \"%s\":\n%s", want, r.err);
	snprintf(want, sizeof(want), "%s:4: control-character: --note", path);
	if (strstr(r.err, want) == NULL)
		fail_msg("stderr lacks \"%s\":\n%s", want, r.err);
	assert_false(names_line(r.err, path, 1));
	assert_false(names_line(r.err, path, 5));
	run_free(&r);
	unlink(path);
	free(path);
}

static void test_missing_events_file(void **state)
{
	(void)state;
	char *path = xasprintf("%s/no-such-file.txt", g_dir);
	struct run r;
	simulate(&r, "2020-05-01", "2021-01-01", path, 0);
	assert_int_equal(r.rc, 1);
	assert_int_equal(r.outlen, 0);
	assert_non_null(strstr(r.err, "no-such-file.txt"));
	run_free(&r);
	free(path);
}

/* ---- options ------------------------------------------------------------------ */

static void assert_bad_options(const char *from, const char *to)
{
	struct run r;
	simulate(&r, from, to, NULL, 0);
	if (r.rc != 2)
		fail_msg("--from %s --to %s: returned %d, expected 2", from, to, r.rc);
	assert_int_equal(r.outlen, 0);
	assert_true(strlen(r.err) > 0);
	run_free(&r);
}

static void test_bad_dates(void **state)
{
	(void)state;
	assert_bad_options("2020-13-01", "2021-01-01");
	assert_bad_options("2020-02-30", "2021-01-01");
	assert_bad_options("yesterday", "2021-01-01");
	assert_bad_options("2020-5-1", "2021-01-01");
	assert_bad_options("", "2021-01-01");
	assert_bad_options("2020-05-01", "2021-01-01T00:00:00+08:00");
	assert_bad_options("2020-05-01", "2020-06-31");
}

static void test_to_before_from(void **state)
{
	(void)state;
	assert_bad_options("2020-06-01", "2020-05-01");
	assert_bad_options("2021-01-01", "2020-05-01");
}

static void test_short_period(void **state)
{
	(void)state;
	/* a period without a quarter end: no snapshot, still the scores */
	struct run r;
	simulate(&r, "2020-05-01", "2020-05-16", NULL, 0);
	assert_int_equal(r.rc, 0);
	assert_int_equal(count_type(r.lines, "snapshot"), 0);
	json_t *s = find_one(r.lines, "scores", NULL);
	assert_string_equal(str(s, "at"), "2020-05-16T00:00:00+08:00");
	/* TO's own instant is included: row 14's late deduction at 05-16 00:00 */
	assert_i64(row_of(s, "bayilu", "14"), 100);
	/* and 16a (due 05-06) is late: 1 − 1 */
	assert_i64(row_of(s, "bayilu", "16a"), 0);
	assert_i64(hund_of(unit_of(s, "bayilu"), "total"), 9500 - 100 - 100);
	run_free(&r);
}

/* ---- events at one instant with the engine ------------------------------------ */

static void test_submission_at_deadline_instant_is_late(void **state)
{
	(void)state;
	const char *path =
		events_file("at-deadline.txt", "2020-09-16T00:00:00+08:00 submit bayilu 1\n");
	struct run r;
	json_t *d;
	simulate_year(&r, path, 0);
	/* row 1 (due 09-15, late 2, missing 3): the deadline's work runs first */
	assert_int_equal(deductions(r.lines, "bayilu", "1", "late", &d), 1);
	assert_string_equal(str(d, "at"), "2020-09-16T00:00:00+08:00");
	assert_i64(hund_of(d, "points"), -200);
	/* the submission keeps it late: no missing at the close */
	assert_int_equal(deductions(r.lines, "bayilu", "1", "missing", &d), 0);
	assert_int_equal(deductions(r.lines, "baiyun", "1", "missing", &d), 1);
	assert_string_equal(str(d, "at"), Q3);
	json_t *scores = find_one(r.lines, "scores", NULL);
	assert_i64(row_of(scores, "bayilu", "1"), 100);
	assert_i64(row_of(scores, "baiyun", "1"), 0);
	assert_i64(hund_of(unit_of(scores, "bayilu"), "total"), 4800);
	assert_i64(json_integer_value(json_object_get(unit_of(scores, "bayilu"), "rank")), 1);
	assert_i64(json_integer_value(json_object_get(unit_of(scores, "baiyun"), "rank")), 2);
	/* Q3 already shows it */
	assert_i64(row_of(find_one(r.lines, "snapshot", "2020-Q3"), "bayilu", "1"), 100);
	run_free(&r);
}

static void test_event_sees_engine_work_at_its_instant(void **state)
{
	(void)state;
	/* the late entry the engine writes for bayilu row 1 at 09-16 00:00 */
	struct run r;
	json_t *d;
	simulate_year(&r, NULL, 0);
	assert_int_equal(deductions(r.lines, "bayilu", "1", "late", &d), 1);
	assert_string_equal(str(d, "at"), "2020-09-16T00:00:00+08:00");
	json_int_t entry = json_integer_value(json_object_get(d, "entry"));
	assert_true(entry > 0);
	run_free(&r);

	/* voided at the same instant: it exists, so the void succeeds */
	char *text = xasprintf("2020-09-16T00:00:00+08:00 void %lld --reason appeal\n",
			       (long long)entry);
	const char *same = events_file("void-same.txt", text);
	free(text);
	simulate_year(&r, same, 0);
	run_free(&r);

	/* one second earlier it does not exist yet */
	text = xasprintf("2020-09-15T23:59:59+08:00 void %lld --reason appeal\n", (long long)entry);
	const char *before = events_file("void-before.txt", text);
	free(text);
	simulate(&r, "2020-05-01", "2021-01-01", before, 0);
	assert_int_equal(r.rc, 1);
	char want[300];
	snprintf(want, sizeof(want), "%s:1: not-found:", before);
	assert_non_null(strstr(r.err, want));
	run_free(&r);
}

static void test_event_at_to_after_snapshot(void **state)
{
	(void)state;
	/* TO's instant is in the period; its event runs after the Q4 snapshot */
	const char *path = events_file("at-to.txt", Q4 " record bayilu 6c pushback 1\n");
	struct run r;
	simulate_year(&r, path, 0);
	json_t *q4 = find_one(r.lines, "snapshot", "2020-Q4");
	assert_i64(row_of(q4, "bayilu", "6c"), 500);
	assert_i64(hund_of(unit_of(q4, "bayilu"), "total"), 4700);
	json_t *scores = find_one(r.lines, "scores", NULL);
	assert_i64(row_of(scores, "bayilu", "6c"), 480);
	assert_i64(hund_of(unit_of(scores, "bayilu"), "total"), 4680);
	/* 46.8 is a JSON real, printed shortest */
	assert_true(json_is_real(json_object_get(unit_of(scores, "bayilu"), "total")));
	assert_non_null(strstr(r.out, "\"total\":46.8,"));
	assert_i64(json_integer_value(json_object_get(unit_of(scores, "bayilu"), "rank")), 5);
	run_free(&r);
}

/* ---- determinism ----------------------------------------------------------------- */

static void assert_same_twice(const char *events)
{
	struct run a, b;
	simulate_year(&a, events, 0);
	simulate_year(&b, events, 0);
	assert_true(a.outlen > 0);
	assert_int_equal(a.outlen, b.outlen);
	if (memcmp(a.out, b.out, a.outlen) != 0)
		fail_msg("two runs of the same input differ");
	run_free(&a);
	run_free(&b);
}

static void test_same_run_twice_identical(void **state)
{
	(void)state;
	assert_same_twice(NULL);
}

static void test_same_year_of_events_twice_identical(void **state)
{
	(void)state;
	assert_same_twice(YEAR_EVENTS);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_no_events_json_lines_in_time_order),
		cmocka_unit_test(test_no_events_three_snapshots),
		cmocka_unit_test(test_no_events_q2_rows_by_hand),
		cmocka_unit_test(test_no_events_q3_q4_scores_by_hand),
		cmocka_unit_test(test_no_events_deductions),
		cmocka_unit_test(test_no_events_closes_before_snapshot),
		cmocka_unit_test(test_reminders_printed),
		cmocka_unit_test(test_count_reminders),
		cmocka_unit_test(test_bad_lines_all_named_nothing_written),
		cmocka_unit_test(test_more_than_50_bad_lines),
		cmocka_unit_test(test_bad_lines_counted_once_each),
		cmocka_unit_test(test_arguments_vetted_by_type),
		cmocka_unit_test(test_failing_command_names_line_and_code),
		cmocka_unit_test(test_nul_and_control_characters_refused),
		cmocka_unit_test(test_missing_events_file),
		cmocka_unit_test(test_bad_dates),
		cmocka_unit_test(test_to_before_from),
		cmocka_unit_test(test_short_period),
		cmocka_unit_test(test_submission_at_deadline_instant_is_late),
		cmocka_unit_test(test_event_sees_engine_work_at_its_instant),
		cmocka_unit_test(test_event_at_to_after_snapshot),
		cmocka_unit_test(test_same_run_twice_identical),
		cmocka_unit_test(test_same_year_of_events_twice_identical),
	};
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
