/*
 * test_json — the JSON writer and the jansson values of the project's
 * types: nesting and commas, member names as they are, escaping byte for
 * byte as jansson escapes (every control character, quotes, backslash;
 * UTF-8 with U+2028/2029 and any other byte passed through), integers,
 * points and metric values printed the same whichever way an answer is
 * built, instants with their offset, spliced fragments, the compact
 * dump, and each misuse the writer asserts against (in builds with
 * assertions).
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "kaohe/json.h"
#include "support.h"

/* ---- helpers ------------------------------------------------------------ */

/* What the writer made of one document; the caller frees. */
typedef void (*write_fn)(struct json_writer *w);

static char *written(write_fn fn)
{
	struct sbuf sb;
	struct json_writer w;

	sbuf_init(&sb);
	json_do_start(&w, &sb);
	fn(&w);
	json_do_finish(&w);
	return sb.buf;
}

static void expect_written(write_fn fn, const char *want)
{
	char *got = written(fn);
	assert_string_equal(got, want);
	/* and it is one JSON value that jansson reads */
	json_error_t err;
	json_t *j = json_loads(got, JSON_DECODE_ANY, &err);
	if (j == NULL)
		fail_msg("not JSON (%s): %s", err.text, got);
	json_decref(j);
	free(got);
}

/* S as a string document by the writer; the caller frees. */
static char *string_doc(const char *s)
{
	struct sbuf sb;
	struct json_writer w;

	sbuf_init(&sb);
	json_do_start(&w, &sb);
	json_do_string(&w, NULL, s);
	json_do_finish(&w);
	return sb.buf;
}

/* J dumped by json_dump_compact, J dropped; the caller frees. */
static char *dumped(json_t *j)
{
	assert_non_null(j);
	char *s = json_dump_compact(j);
	json_decref(j);
	if (s == NULL)
		fail_msg("json_dump_compact returned NULL");
	return s;
}

/* The writer writes the valid UTF-8 string S exactly as jansson dumps it. */
static void expect_as_jansson(const char *s)
{
	char *mine = string_doc(s), *theirs = dumped(json_string(s));
	if (strcmp(mine, theirs) != 0)
		fail_msg("writer %s, jansson %s", mine, theirs);
	free(mine);
	free(theirs);
}

/* ---- nesting and commas ------------------------------------------------ */

static void nested(struct json_writer *w)
{
	json_do_object(w, NULL);
	json_do_int(w, "a", 1);
	json_do_array(w, "b");
	json_do_int(w, NULL, 1);
	json_do_int(w, NULL, 2);
	json_do_array(w, NULL);
	json_do_end(w);
	json_do_object(w, NULL);
	json_do_end(w);
	json_do_array(w, NULL);
	json_do_string(w, NULL, "x");
	json_do_end(w);
	json_do_end(w);
	json_do_object(w, "c");
	json_do_object(w, "d");
	json_do_array(w, "e");
	json_do_object(w, NULL);
	json_do_null(w, "f");
	json_do_end(w);
	json_do_end(w);
	json_do_end(w);
	json_do_end(w);
	json_do_bool(w, "g", true);
	json_do_bool(w, "h", false);
	json_do_end(w);
}

static void test_nesting_and_commas(void **state)
{
	(void)state;
	expect_written(nested, "{\"a\":1,\"b\":[1,2,[],{},[\"x\"]],"
			       "\"c\":{\"d\":{\"e\":[{\"f\":null}]}},\"g\":true,\"h\":false}");
}

/* The same document built as a jansson tree dumps to the same bytes. */
static void test_nesting_as_jansson(void **state)
{
	(void)state;
	char *mine = written(nested);
	char *theirs =
		dumped(json_pack("{s:i, s:[i, i, [], {}, [s]], s:{s:{s:[{s:n}]}}, s:b, s:b}", "a",
				 1, "b", 1, 2, "x", "c", "d", "e", "f", "g", 1, "h", 0));
	assert_string_equal(mine, theirs);
	free(mine);
	free(theirs);
}

static void empty_object(struct json_writer *w)
{
	json_do_object(w, NULL);
	json_do_end(w);
}

static void empty_array(struct json_writer *w)
{
	json_do_array(w, NULL);
	json_do_end(w);
}

static void empty_members(struct json_writer *w)
{
	json_do_object(w, NULL);
	json_do_object(w, "o");
	json_do_end(w);
	json_do_array(w, "a");
	json_do_end(w);
	json_do_int(w, "n", 0);
	json_do_end(w);
}

static void test_empty_containers(void **state)
{
	(void)state;
	expect_written(empty_object, "{}");
	expect_written(empty_array, "[]");
	expect_written(empty_members, "{\"o\":{},\"a\":[],\"n\":0}");
}

static void scalar_string(struct json_writer *w)
{
	json_do_string(w, NULL, "八一路");
}

static void scalar_null(struct json_writer *w)
{
	json_do_null(w, NULL);
}

static void scalar_points(struct json_writer *w)
{
	json_do_points(w, NULL, -5);
}

static void scalar_false(struct json_writer *w)
{
	json_do_bool(w, NULL, false);
}

/* A document may be any one value, as simulate's fragments and jansson's JSON_ENCODE_ANY. */
static void test_scalar_documents(void **state)
{
	(void)state;
	expect_written(scalar_string, "\"八一路\"");
	expect_written(scalar_null, "null");
	expect_written(scalar_points, "-0.05");
	expect_written(scalar_false, "false");
}

static void deep(struct json_writer *w)
{
	for (int i = 0; i < JSON_MAX_DEPTH; i++)
		json_do_array(w, NULL);
	json_do_int(w, NULL, 7);
	for (int i = 0; i < JSON_MAX_DEPTH; i++)
		json_do_end(w);
}

static void test_max_depth(void **state)
{
	(void)state;
	char want[2 * JSON_MAX_DEPTH + 2], *p = want;
	for (int i = 0; i < JSON_MAX_DEPTH; i++)
		*p++ = '[';
	*p++ = '7';
	for (int i = 0; i < JSON_MAX_DEPTH; i++)
		*p++ = ']';
	*p = '\0';
	expect_written(deep, want);
}

/* A writer appends to what the buffer holds; documents follow one another. */
static void test_appends_documents(void **state)
{
	(void)state;
	struct sbuf sb;
	struct json_writer w;

	sbuf_init(&sb);
	SBUF_LIT(&sb, "held:");
	for (int i = 0; i < 2; i++) {
		json_do_start(&w, &sb);
		json_do_object(&w, NULL);
		json_do_int(&w, "line", i);
		json_do_end(&w);
		json_do_finish(&w);
		SBUF_LIT(&sb, "\n");
	}
	assert_string_equal(sb.buf, "held:{\"line\":0}\n{\"line\":1}\n");
	sbuf_free(&sb);
}

/* ---- escaping ----------------------------------------------------------- */

static void expect_literal(const char *s, const char *want)
{
	char *got = string_doc(s);
	assert_string_equal(got, want);
	free(got);
}

static void test_escape_every_control_character(void **state)
{
	(void)state;
	static const char *const named[0x20] = {
		['\b'] = "\\b", ['\t'] = "\\t", ['\n'] = "\\n", ['\f'] = "\\f", ['\r'] = "\\r",
	};
	for (int c = 1; c < 0x20; c++) {
		char s[4] = { 'a', (char)c, 'b', '\0' }, want[16];
		if (named[c])
			snprintf(want, sizeof(want), "\"a%sb\"", named[c]);
		else
			snprintf(want, sizeof(want), "\"a\\u%04Xb\"", (unsigned)c);
		expect_literal(s, want);
		expect_as_jansson(s);
	}
	/* capitals, as jansson writes them */
	expect_literal("\033[2J", "\"\\u001B[2J\"");
	expect_literal("\037", "\"\\u001F\"");
}

static void test_escape_quotes_backslash(void **state)
{
	(void)state;
	expect_literal("say \"hi\"", "\"say \\\"hi\\\"\"");
	expect_literal("a\\b", "\"a\\\\b\"");
	expect_literal("\\\"", "\"\\\\\\\"\"");
	expect_literal("", "\"\"");
	/* the slash is not escaped (jansson without JSON_ESCAPE_SLASH) */
	expect_literal("</script>", "\"</script>\"");
	expect_as_jansson("say \"hi\" a\\b \\\" </script>");
}

static void test_utf8_passes_through(void **state)
{
	(void)state;
	/* Chinese as its UTF-8 bytes, never \u escapes; DEL and C1 controls as they are */
	expect_literal("八一路", "\"八一路\"");
	expect_literal("《大连市》\"引号\"", "\"《大连市》\\\"引号\\\"\"");
	expect_literal("\x7f", "\"\x7f\"");
	expect_literal("\xc2\x85\xc2\x9b", "\"\xc2\x85\xc2\x9b\"");
	expect_literal("\xf0\x9f\x93\x85", "\"\xf0\x9f\x93\x85\"");
	expect_as_jansson("人民广场 香炉礁 — 9月15日前报送 \x7f \xc2\x85 \xf0\x9f\x93\x85");
}

/*
 * U+2028 and U+2029 are valid in JSON strings and jansson writes them as
 * they are: so does the writer, next to escaped bytes too (a reader that
 * takes JSON for JavaScript must cope, as it must with jansson's answers).
 */
static void test_line_separators_pass_through(void **state)
{
	(void)state;
	expect_literal("\xe2\x80\xa8", "\"\xe2\x80\xa8\"");
	expect_literal("a\xe2\x80\xa9z", "\"a\xe2\x80\xa9z\"");
	expect_literal("\n\xe2\x80\xa8\t\xe2\x80\xa9\"", "\"\\n\xe2\x80\xa8\\t\xe2\x80\xa9\\\"\"");
	expect_as_jansson("\xe2\x80\xa8\xe2\x80\xa9 \n\xe2\x80\xa8");
}

/*
 * Bytes that are not UTF-8 pass through as they are, as the hand-written
 * escaper did: the writer does not check, the callers do (jansson refuses
 * such a string outright).
 */
static void test_invalid_utf8_passes_through(void **state)
{
	(void)state;
	expect_literal("bad \xff\xfe", "\"bad \xff\xfe\"");
	expect_literal("cut \xe5\x85", "\"cut \xe5\x85\"");
	expect_literal("\xc0\xaf", "\"\xc0\xaf\"");
	assert_null(json_string("bad \xff\xfe"));
}

static void names(struct json_writer *w)
{
	json_do_object(w, NULL);
	json_do_int(w, "unit", 1);
	json_do_int(w, "2a", 2);
	json_do_int(w, "no-community_specialist", 3);
	json_do_int(w, "行", 4);
	json_do_end(w);
}

/* Names are the program's words and plan ids: copied as they are. */
static void test_names(void **state)
{
	(void)state;
	expect_written(names, "{\"unit\":1,\"2a\":2,\"no-community_specialist\":3,\"行\":4}");
}

/*
 * Strings drawn from quotes, backslashes, every control character, ASCII
 * and multi-byte characters: the writer's bytes are jansson's.
 */
static void test_escape_matches_jansson(void **state)
{
	(void)state;
	static const char *const pieces[] = { "\"",      "\\", "/",  "a",
					      "Z",       " ",  "~",  "\x7f",
					      "é",       "八", "《", "\xf0\x9f\x93\x85",
					      "\xc2\x9f" };
	unsigned seed = 2020;
	char s[64];

	for (int c = 1; c < 0x80; c++) {
		s[0] = (char)c;
		s[1] = '\0';
		expect_as_jansson(s);
	}
	for (int round = 0; round < 2000; round++) {
		size_t len = 0;
		int n = (int)(rand_r(&seed) % 12);
		for (int i = 0; i < n; i++) {
			int k = rand_r(&seed) % 45;
			if (k < 32) {
				s[len++] = (char)(k ? k : 0x1f);
			} else {
				const char *p = pieces[k - 32];
				memcpy(s + len, p, strlen(p));
				len += strlen(p);
			}
		}
		s[len] = '\0';
		expect_as_jansson(s);
	}
}

/*
 * An escaped byte at any offset of a long string, next to bytes at or
 * above 0x80, is found: the text before and after it is copied whole.
 */
static void test_escape_at_every_offset(void **state)
{
	(void)state;
	static const char escaped[] = { '"', '\\', '\n', '\x01', '\x1f' };
	char s[40];

	for (size_t k = 0; k < sizeof(escaped); k++) {
		for (size_t at = 0; at < sizeof(s) - 1; at++) {
			/* 八 (e5 85 ab) thirteen times, the one holding AT made ASCII */
			for (size_t i = 0; i < sizeof(s) - 1; i += 3)
				memcpy(s + i, "\xe5\x85\xab", 3);
			s[sizeof(s) - 1] = '\0';
			memcpy(s + at / 3 * 3, "abc", 3);
			s[at] = escaped[k];
			expect_as_jansson(s);
		}
	}
}

/* ---- numbers ------------------------------------------------------------ */

static void expect_int(int64_t v, const char *want)
{
	struct sbuf sb;
	struct json_writer w;

	sbuf_init(&sb);
	json_do_start(&w, &sb);
	json_do_int(&w, NULL, v);
	json_do_finish(&w);
	assert_string_equal(sb.buf, want);
	char *theirs = dumped(json_integer(v));
	assert_string_equal(sb.buf, theirs);
	free(theirs);
	sbuf_free(&sb);
}

static void test_integers(void **state)
{
	(void)state;
	expect_int(0, "0");
	expect_int(-1, "-1");
	expect_int(42, "42");
	expect_int(INT64_MAX, "9223372036854775807");
	expect_int(INT64_MIN, "-9223372036854775808");
}

/* The writer's points; the caller frees. */
static char *points_text(int64_t h)
{
	struct sbuf sb;
	struct json_writer w;

	sbuf_init(&sb);
	json_do_start(&w, &sb);
	json_do_points(&w, NULL, h);
	json_do_finish(&w);
	return sb.buf;
}

static void expect_points(int64_t h, const char *want)
{
	char *got = points_text(h);
	assert_string_equal(got, want);
	free(got);
}

static void test_points(void **state)
{
	(void)state;
	expect_points(0, "0");
	expect_points(1400, "14");
	expect_points(-300, "-3");
	expect_points(10000, "100");
	expect_points(9650, "96.5");
	expect_points(8250, "82.5");
	expect_points(-20, "-0.2");
	expect_points(-250, "-2.5");
	expect_points(5, "0.05");
	expect_points(-5, "-0.05");
	expect_points(1010, "10.1");
	expect_points(123456, "1234.56");
	expect_points(123456789012345, "1234567890123.45");
}

/*
 * The writer's points and json_new_points() dumped are the same text, and
 * jansson reads them back as the same value, an integer exactly when whole.
 */
static void test_points_as_jansson(void **state)
{
	(void)state;
	static const int64_t big[] = { 99999999, -99999999, 123456789012345, 100000000000000,
				       -123456789012301 };

	for (int64_t h = -20000; h <= 20000; h++) {
		char *mine = points_text(h), *theirs = dumped(json_new_points(h));
		if (strcmp(mine, theirs) != 0)
			fail_msg("%lld hundredths: writer %s, jansson %s", (long long)h, mine,
				 theirs);
		json_t *j = json_loads(mine, JSON_DECODE_ANY, NULL);
		assert_non_null(j);
		assert_int_equal(json_is_integer(j), h % 100 == 0);
		assert_i64(hund(j), h);
		json_decref(j);
		free(mine);
		free(theirs);
	}
	for (size_t i = 0; i < sizeof(big) / sizeof(*big); i++) {
		char *mine = points_text(big[i]), *theirs = dumped(json_new_points(big[i]));
		assert_string_equal(mine, theirs);
		free(mine);
		free(theirs);
	}
}

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

static void test_new_points(void **state)
{
	(void)state;
	assert_json_int(json_new_points(1400), 14);
	assert_json_int(json_new_points(0), 0);
	assert_json_int(json_new_points(-300), -3);
	assert_json_int(json_new_points(10000), 100);
	assert_json_real(json_new_points(9650), 96.5, 1);
	assert_json_real(json_new_points(-20), -2, 10);
	assert_json_real(json_new_points(5), 5, 100);
	assert_json_real(json_new_points(-5), -5, 100);
}

static void test_new_metric(void **state)
{
	(void)state;
	/* 80 (percent), the row 13 threshold */
	assert_json_int(json_new_metric(800000), 80);
	assert_json_int(json_new_metric(0), 0);
	assert_json_int(json_new_metric(-10000), -1);
	assert_json_real(json_new_metric(123456), 12.3456, 1);
	assert_json_real(json_new_metric(1), 1, 10000);
	assert_json_real(json_new_metric(799999), 79.9999, 1);
	assert_json_real(json_new_metric(-15000), -1.5, 1);
	/* 0.5: a value of hundredths is not mistaken for whole */
	assert_json_real(json_new_metric(5000), 0.5, 1);
}

/* Metric values dump as their shortest exact decimal: ten-thousandths as written. */
static void test_metric_dump_exact(void **state)
{
	(void)state;
	static const int64_t big[] = { 999999999999999, -999999999999999, 123456789012345 };
	char buf[48];

	for (int64_t v = -30000; v <= 30000; v += 7) {
		char *theirs = dumped(json_new_metric(v));
		util_format_fixed(v, 4, buf, sizeof(buf));
		if (strcmp(buf, theirs) != 0)
			fail_msg("%lld ten-thousandths: %s, jansson %s", (long long)v, buf, theirs);
		free(theirs);
	}
	for (size_t i = 0; i < sizeof(big) / sizeof(*big); i++) {
		char *theirs = dumped(json_new_metric(big[i]));
		util_format_fixed(big[i], 4, buf, sizeof(buf));
		assert_string_equal(buf, theirs);
		free(theirs);
	}
}

/* ---- instants ----------------------------------------------------------- */

static void expect_instant(int64_t t, const char *want)
{
	struct sbuf sb;
	struct json_writer w;
	char quoted[64];

	sbuf_init(&sb);
	json_do_start(&w, &sb);
	json_do_object(&w, NULL);
	json_do_instant(&w, "at", t);
	json_do_end(&w);
	json_do_finish(&w);
	snprintf(quoted, sizeof(quoted), "{\"at\":\"%s\"}", want);
	assert_string_equal(sb.buf, quoted);
	sbuf_free(&sb);
	json_t *j = json_new_instant(t);
	assert_true(json_is_string(j));
	assert_string_equal(json_string_value(j), want);
	json_decref(j);
}

static void test_instants(void **state)
{
	(void)state;
	/* the plan's issue date, 00:00 local */
	expect_instant(1588262400, "2020-05-01T00:00:00+08:00");
	/* 10:00 UTC is 18:00 in Dalian */
	expect_instant(1600164000, "2020-09-15T18:00:00+08:00");
	/* one second before the Q4 snapshot */
	expect_instant(1609430399, "2020-12-31T23:59:59+08:00");
	/* the epoch, in Shanghai */
	expect_instant(0, "1970-01-01T08:00:00+08:00");
	/* China kept summer time 1986-1991: a hard-coded +08:00 would fail */
	expect_instant(646801200, "1990-07-01T12:00:00+09:00");
}

/* ---- fragments ---------------------------------------------------------- */

/* A fragment written before, as the engine keeps a schedule's members. */
static char *fragment(void)
{
	struct sbuf sb;
	struct json_writer w;

	sbuf_init(&sb);
	json_do_start(&w, &sb);
	json_do_object(&w, NULL);
	json_do_string(&w, "due", "2020-12-10");
	json_do_instant(&w, "deadline", 1607616000);
	json_do_end(&w);
	json_do_finish(&w);
	return sb.buf;
}

static void spliced(struct json_writer *w)
{
	char *f = fragment();

	json_do_array(w, NULL);
	/* first in its object */
	json_do_object(w, NULL);
	json_do_splice(w, f, strlen(f));
	json_do_int(w, "after", 1);
	json_do_end(w);
	/* after a member, twice */
	json_do_object(w, NULL);
	json_do_string(w, "occurrence", "2c");
	json_do_splice(w, f, strlen(f));
	json_do_splice(w, "{\"x\":[1,{}]}", 12);
	json_do_end(w);
	/* an empty fragment adds nothing, not even a comma */
	json_do_object(w, NULL);
	json_do_splice(w, "{}", 2);
	json_do_int(w, "n", 1);
	json_do_splice(w, "{}", 2);
	json_do_end(w);
	json_do_object(w, NULL);
	json_do_splice(w, "{}", 2);
	json_do_end(w);
	json_do_end(w);
	free(f);
}

static void test_splice(void **state)
{
	(void)state;
	expect_written(spliced, "[{\"due\":\"2020-12-10\","
				"\"deadline\":\"2020-12-11T00:00:00+08:00\",\"after\":1},"
				"{\"occurrence\":\"2c\",\"due\":\"2020-12-10\","
				"\"deadline\":\"2020-12-11T00:00:00+08:00\",\"x\":[1,{}]},"
				"{\"n\":1},{}]");
}

/* ---- json_dump_compact --------------------------------------------------- */

static void expect_dump(json_t *j, const char *want)
{
	char *s = dumped(j);
	assert_string_equal(s, want);
	free(s);
}

static void test_dump_compact(void **state)
{
	(void)state;
	expect_dump(json_pack("{s:s, s:i, s:[i, i], s:{s:b}}", "type", "scores", "rank", 1, "a", 1,
			      2, "o", "ok", 1),
		    "{\"type\":\"scores\",\"rank\":1,\"a\":[1,2],\"o\":{\"ok\":true}}");
	/* members in the order they were set */
	json_t *o = json_object();
	json_object_set_new(o, "unit", json_string("bayilu"));
	json_object_set_new(o, "total", json_new_points(9650));
	json_object_set_new(o, "key", json_new_points(1400));
	json_object_set_new(o, "at", json_new_instant(1600185600));
	expect_dump(o, "{\"unit\":\"bayilu\",\"total\":96.5,\"key\":14,"
		       "\"at\":\"2020-09-16T00:00:00+08:00\"}");
	/* any value, not only arrays and objects */
	expect_dump(json_real(0.3), "0.3");
	expect_dump(json_null(), "null");
	expect_dump(json_string("八一路\n\"x\""), "\"八一路\\n\\\"x\\\"\"");
	/* 0.3 is 0.29999999999999999 at 17 digits: it must stay "0.3" */
	expect_dump(json_pack("[o, o, o]", json_new_points(30), json_new_points(-20),
			      json_new_metric(1)),
		    "[0.3,-0.2,0.0001]");
}

/* ---- misuse ------------------------------------------------------------- */

/*
 * Run FN on a fresh writer in a child: it must die of the assertion
 * naming WANT.  Only where assertions are compiled in (the Debug and
 * sanitizer builds); skipped elsewhere.
 */
static void expect_assert(write_fn fn, const char *want)
{
#ifdef NDEBUG
	(void)fn;
	(void)want;
	skip();
#else
	int out[2];
	assert_int_equal(pipe(out), 0);
	fflush(stderr);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct sbuf sb;
		struct json_writer w;
		dup2(out[1], STDERR_FILENO);
		close(out[0]);
		sbuf_init(&sb);
		json_do_start(&w, &sb);
		fn(&w);
		_exit(0);
	}
	close(out[1]);
	char buf[1024];
	size_t len = 0;
	ssize_t n;
	while (len < sizeof(buf) - 1 && (n = read(out[0], buf + len, sizeof(buf) - 1 - len)) > 0)
		len += (size_t)n;
	buf[len] = '\0';
	close(out[0]);
	int status;
	assert_int_equal(waitpid(pid, &status, 0), pid);
	if (!WIFSIGNALED(status) || WTERMSIG(status) != SIGABRT)
		fail_msg("expected the assertion %s; the child ended with status %d: %s", want,
			 status, buf);
	assert_contains(buf, want);
#endif
}

static void member_without_name(struct json_writer *w)
{
	json_do_object(w, NULL);
	json_do_int(w, NULL, 1);
}

static void name_in_array(struct json_writer *w)
{
	json_do_array(w, NULL);
	json_do_int(w, "n", 1);
}

static void name_with_quote(struct json_writer *w)
{
	json_do_object(w, NULL);
	json_do_int(w, "a\"b", 1);
}

static void name_with_line_break(struct json_writer *w)
{
	json_do_object(w, NULL);
	json_do_object(w, "a\nb");
}

static void name_on_document(struct json_writer *w)
{
	json_do_object(w, "top");
}

static void second_document_value(struct json_writer *w)
{
	json_do_int(w, NULL, 1);
	json_do_int(w, NULL, 2);
}

static void too_deep(struct json_writer *w)
{
	for (int i = 0; i <= JSON_MAX_DEPTH; i++)
		json_do_array(w, NULL);
}

static void end_too_many(struct json_writer *w)
{
	json_do_array(w, NULL);
	json_do_end(w);
	json_do_end(w);
}

static void splice_in_array(struct json_writer *w)
{
	json_do_array(w, NULL);
	json_do_splice(w, "{\"a\":1}", 7);
}

static void splice_not_object(struct json_writer *w)
{
	json_do_object(w, NULL);
	json_do_splice(w, "[1]", 3);
}

static void finish_open(struct json_writer *w)
{
	json_do_object(w, NULL);
	json_do_finish(w);
}

static void finish_empty(struct json_writer *w)
{
	json_do_finish(w);
}

static void test_misuse_asserted(void **state)
{
	(void)state;
	expect_assert(member_without_name, "(name != NULL) == w->object[d]");
	expect_assert(name_in_array, "(name != NULL) == w->object[d]");
	expect_assert(name_on_document, "(name != NULL) == w->object[d]");
	expect_assert(name_with_quote, "*plain_end(name) == '\\0'");
	expect_assert(name_with_line_break, "*plain_end(name) == '\\0'");
	expect_assert(second_document_value, "d > 0 || !w->more[0]");
	expect_assert(too_deep, "w->depth < JSON_MAX_DEPTH");
	expect_assert(end_too_many, "w->depth > 0");
	expect_assert(splice_in_array, "d > 0 && w->object[d]");
	expect_assert(splice_not_object, "obj[0] == '{'");
	expect_assert(finish_open, "w->depth == 0 && w->more[0]");
	expect_assert(finish_empty, "w->depth == 0 && w->more[0]");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_nesting_and_commas),
		cmocka_unit_test(test_nesting_as_jansson),
		cmocka_unit_test(test_empty_containers),
		cmocka_unit_test(test_scalar_documents),
		cmocka_unit_test(test_max_depth),
		cmocka_unit_test(test_appends_documents),
		cmocka_unit_test(test_escape_every_control_character),
		cmocka_unit_test(test_escape_quotes_backslash),
		cmocka_unit_test(test_utf8_passes_through),
		cmocka_unit_test(test_line_separators_pass_through),
		cmocka_unit_test(test_invalid_utf8_passes_through),
		cmocka_unit_test(test_names),
		cmocka_unit_test(test_escape_matches_jansson),
		cmocka_unit_test(test_escape_at_every_offset),
		cmocka_unit_test(test_integers),
		cmocka_unit_test(test_points),
		cmocka_unit_test(test_points_as_jansson),
		cmocka_unit_test(test_new_points),
		cmocka_unit_test(test_new_metric),
		cmocka_unit_test(test_metric_dump_exact),
		cmocka_unit_test(test_instants),
		cmocka_unit_test(test_splice),
		cmocka_unit_test(test_dump_compact),
		cmocka_unit_test(test_misuse_asserted),
	};
	return cmocka_run_group_tests(tests, shanghai_group_setup, NULL);
}
