/*
 * Unit tests of util: fixed-point parsing and formatting, double to
 * hundredths, UTF-8 validation and the growable string.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kaohe/util.h"

/* ------------------------------------------------------------------ */
/* util_parse_fixed */

/* TEXT parses at SCALE to WANT. */
static void expect_fixed(const char *text, int scale, int64_t want)
{
	int64_t v = want ^ 1; /* anything but WANT */

	if (util_parse_fixed(text, scale, &v) != 0)
		fail_msg("util_parse_fixed(\"%s\", %d) failed", text, scale);
	if (v != want)
		fail_msg("util_parse_fixed(\"%s\", %d) gave %lld, expected %lld", text, scale,
			 (long long)v, (long long)want);
}

static void parse_fixed_valid_hundredths(void **state)
{
	(void)state;
	expect_fixed("0.2", 2, 20);
	expect_fixed("0.5", 2, 50);
	expect_fixed("3", 2, 300);
	expect_fixed("96.50", 2, 9650);
	expect_fixed("96.5", 2, 9650);
	expect_fixed("0.05", 2, 5);
	expect_fixed("0", 2, 0);
	expect_fixed("100", 2, 10000);
	expect_fixed("007", 2, 700);
}

static void parse_fixed_other_scales(void **state)
{
	(void)state;
	int64_t v = 0;

	/* metrics are kept in ten-thousandths */
	expect_fixed("80", 4, 800000);
	expect_fixed("12.3456", 4, 123456);
	expect_fixed("0.0001", 4, 1);
	/* scale 0: plain integers */
	expect_fixed("42", 0, 42);
	assert_int_equal(util_parse_fixed("4.2", 0, &v), -1);
}

static void parse_fixed_too_many_decimals(void **state)
{
	(void)state;
	int64_t v = 777;

	assert_int_equal(util_parse_fixed("0.123", 2, &v), -1);
	assert_int_equal(util_parse_fixed("1.005", 2, &v), -1);
	assert_int_equal(util_parse_fixed("-0.001", 2, &v), -1);
	assert_int_equal(util_parse_fixed("12.34567", 4, &v), -1);
	/* a failed parse leaves the output alone */
	assert_int_equal(v, 777);
}

static void parse_fixed_junk(void **state)
{
	(void)state;
	int64_t v = 777;

	assert_int_equal(util_parse_fixed("abc", 2, &v), -1);
	assert_int_equal(util_parse_fixed("1a", 2, &v), -1);
	assert_int_equal(util_parse_fixed("1.2.3", 2, &v), -1);
	assert_int_equal(util_parse_fixed("1,5", 2, &v), -1);
	assert_int_equal(util_parse_fixed(" 1", 2, &v), -1);
	assert_int_equal(util_parse_fixed("1 ", 2, &v), -1);
	assert_int_equal(util_parse_fixed("1.", 2, &v), -1);
	assert_int_equal(util_parse_fixed(".", 2, &v), -1);
	assert_int_equal(util_parse_fixed("1e2", 2, &v), -1);
	assert_int_equal(util_parse_fixed("0x10", 2, &v), -1);
	assert_int_equal(v, 777);
}

static void parse_fixed_empty(void **state)
{
	(void)state;
	int64_t v = 777;

	assert_int_equal(util_parse_fixed("", 2, &v), -1);
	assert_int_equal(util_parse_fixed("-", 2, &v), -1);
	assert_int_equal(util_parse_fixed("+", 2, &v), -1);
	assert_int_equal(v, 777);
}

static void parse_fixed_signs(void **state)
{
	(void)state;
	int64_t v = 0;

	expect_fixed("-3", 2, -300);
	expect_fixed("-0.2", 2, -20);
	expect_fixed("+0.5", 2, 50);
	expect_fixed("-0", 2, 0);
	assert_int_equal(util_parse_fixed("--1", 2, &v), -1);
	assert_int_equal(util_parse_fixed("+-1", 2, &v), -1);
	assert_int_equal(util_parse_fixed("1-", 2, &v), -1);
}

static void parse_fixed_overflow(void **state)
{
	(void)state;
	int64_t v = 777;

	/* far beyond int64 once scaled */
	assert_int_equal(util_parse_fixed("99999999999999999999", 2, &v), -1);
	assert_int_equal(util_parse_fixed("-99999999999999999999", 2, &v), -1);
	assert_int_equal(util_parse_fixed("9223372036854775807", 2, &v), -1);
	assert_int_equal(util_parse_fixed("123456789012345678901234567890.5", 2, &v), -1);
	assert_int_equal(v, 777);
	/* a large but representable value still parses */
	expect_fixed("1000000000", 2, INT64_C(100000000000));
}

/* ------------------------------------------------------------------ */
/* util_double_to_hundredths */

/* D converts to WANT hundredths. */
static void expect_hundredths(double d, int64_t want)
{
	int64_t v = want ^ 1; /* anything but WANT */

	if (util_double_to_hundredths(d, &v) != 0)
		fail_msg("util_double_to_hundredths(%.17g) failed", d);
	if (v != want)
		fail_msg("util_double_to_hundredths(%.17g) gave %lld, expected %lld", d,
			 (long long)v, (long long)want);
}

static void double_to_hundredths_plain(void **state)
{
	(void)state;
	expect_hundredths(0.2, 20);
	expect_hundredths(0.5, 50);
	expect_hundredths(0.0, 0);
	expect_hundredths(85.0, 8500);
	expect_hundredths(0.01, 1);
}

static void double_to_hundredths_binary_noise(void **state)
{
	(void)state;
	volatile double a = 0.1, b = 0.2, c = 0.7;

	/* 0.1 + 0.2 == 0.30000000000000004 in binary */
	expect_hundredths(a + b, 30);
	/* 1.15 * 100 == 114.99999999999999 */
	expect_hundredths(1.15, 115);
	/* 0.07 * 100 == 7.000000000000001 */
	expect_hundredths(0.07, 7);
	/* 0.1 * 7 == 0.7000000000000001 */
	expect_hundredths(a * 7, 70);
	expect_hundredths(c + c + c, 210);
}

static void double_to_hundredths_too_precise(void **state)
{
	(void)state;
	int64_t v = 777;

	assert_int_equal(util_double_to_hundredths(0.123, &v), -1);
	assert_int_equal(util_double_to_hundredths(0.001, &v), -1);
	assert_int_equal(util_double_to_hundredths(2.345, &v), -1);
	assert_int_equal(util_double_to_hundredths(1.0 / 3.0, &v), -1);
	assert_int_equal(util_double_to_hundredths(NAN, &v), -1);
	assert_int_equal(util_double_to_hundredths(INFINITY, &v), -1);
	assert_int_equal(util_double_to_hundredths(-INFINITY, &v), -1);
	assert_int_equal(util_double_to_hundredths(1e300, &v), -1);
	assert_int_equal(v, 777);
}

static void double_to_hundredths_negative(void **state)
{
	(void)state;
	int64_t v = 0;

	/* the header restricts only the decimals, not the sign */
	expect_hundredths(-0.5, -50);
	expect_hundredths(-3.0, -300);
	expect_hundredths(-0.2, -20);
	assert_int_equal(util_double_to_hundredths(-0.123, &v), -1);
}

/* ------------------------------------------------------------------ */
/* util_format_fixed */

/* V at SCALE formats as WANT. */
static void expect_format(int64_t v, int scale, const char *want)
{
	char buf[32];

	util_format_fixed(v, scale, buf, sizeof(buf));
	if (strcmp(buf, want) != 0)
		fail_msg("util_format_fixed(%lld, %d) gave \"%s\", expected \"%s\"", (long long)v,
			 scale, buf, want);
}

static void format_fixed_examples(void **state)
{
	(void)state;
	expect_format(9650, 2, "96.5");
	expect_format(1400, 2, "14");
	expect_format(-20, 2, "-0.2");
	expect_format(5, 2, "0.05");
	expect_format(0, 2, "0");
	expect_format(-5, 2, "-0.05");
	expect_format(-300, 2, "-3");
	expect_format(8500, 2, "85");
	expect_format(9655, 2, "96.55");
	expect_format(110, 2, "1.1");
}

static void format_fixed_other_scales(void **state)
{
	(void)state;
	expect_format(800000, 4, "80");
	expect_format(123450, 4, "12.345");
	expect_format(1, 4, "0.0001");
	expect_format(42, 0, "42");
	expect_format(INT64_MIN, 2, "-92233720368547758.08");
}

static void format_fixed_round_trip(void **state)
{
	(void)state;
	static const char *const texts[] = { "0.2", "-0.2", "96.5", "14", "0.05", "-85", "0.1" };
	char buf[32];

	for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++) {
		int64_t v;
		assert_int_equal(util_parse_fixed(texts[i], 2, &v), 0);
		util_format_fixed(v, 2, buf, sizeof(buf));
		assert_string_equal(buf, texts[i]);
	}
}

static void format_fixed_truncates_safely(void **state)
{
	(void)state;
	char buf[8];

	memset(buf, 'x', sizeof(buf));
	util_format_fixed(123456789, 2, buf, 4);
	assert_non_null(memchr(buf, '\0', 4));
	assert_int_equal(buf[4], 'x');
	assert_memory_equal(buf, "123", 4);
}

/* ------------------------------------------------------------------ */
/* util_utf8_valid */

static bool utf8(const char *s)
{
	return util_utf8_valid(s, strlen(s));
}

static void utf8_valid_text(void **state)
{
	(void)state;
	assert_true(utf8(""));
	assert_true(utf8("plain ASCII"));
	assert_true(utf8("八一路"));
	assert_true(utf8("西岗区2020年街道办事处居住小区管理工作考核方案"));
	assert_true(utf8("满分3分（注）"));
	assert_true(utf8("\xc2\xa9"));         /* U+00A9, two bytes */
	assert_true(utf8("\xf0\x9f\x98\x80")); /* U+1F600, four bytes */
	assert_true(utf8("\xef\xbf\xbf"));     /* U+FFFF */
	assert_true(utf8("\xf4\x8f\xbf\xbf")); /* U+10FFFF, the last code point */
	assert_true(utf8("\xed\x9f\xbf"));     /* U+D7FF, just below the surrogates */
	assert_true(utf8("\xee\x80\x80"));     /* U+E000, just above them */
}

static void utf8_overlong(void **state)
{
	(void)state;
	assert_false(utf8("\xc0\x80")); /* NUL in two bytes */
	assert_false(utf8("\xc0\xaf")); /* '/' in two bytes */
	assert_false(utf8("\xc1\xbf"));
	assert_false(utf8("\xe0\x80\xaf"));     /* '/' in three bytes */
	assert_false(utf8("\xe0\x9f\xbf"));     /* U+07FF in three bytes */
	assert_false(utf8("\xf0\x80\x80\xaf")); /* '/' in four bytes */
	assert_false(utf8("\xf0\x8f\xbf\xbf")); /* U+FFFF in four bytes */
}

static void utf8_surrogates(void **state)
{
	(void)state;
	assert_false(utf8("\xed\xa0\x80")); /* U+D800 */
	assert_false(utf8("\xed\xbf\xbf")); /* U+DFFF */
	assert_false(utf8("a\xed\xb0\x80z"));
}

static void utf8_out_of_range_and_stray(void **state)
{
	(void)state;
	assert_false(utf8("\xf4\x90\x80\x80")); /* U+110000 */
	assert_false(utf8("\xf5\x80\x80\x80"));
	assert_false(utf8("\xf8\x88\x80\x80\x80"));
	assert_false(utf8("\xff"));
	assert_false(utf8("\xfe"));
	assert_false(utf8("\x80")); /* a lone continuation byte */
	assert_false(utf8("abc\xbf"));
	assert_false(utf8("\xe5\x85\xab\x80")); /* 八 then a stray continuation */
}

static void utf8_truncated(void **state)
{
	(void)state;
	const char *ba = "八"; /* e5 85 ab */

	assert_false(util_utf8_valid(ba, 1));
	assert_false(util_utf8_valid(ba, 2));
	assert_true(util_utf8_valid(ba, 3));
	assert_false(utf8("\xc2"));
	assert_false(utf8("\xf0\x9f\x98"));
	assert_false(utf8("ab\xe5\x85"));
	/* a lead byte followed by a non-continuation byte */
	assert_false(utf8("\xe5\x85x"));
	assert_false(utf8("\xc2 "));
}

static void utf8_nul(void **state)
{
	(void)state;
	static const char with_nul[] = { 'a', '\0', 'b' };
	static const char only_nul[] = { '\0' };

	assert_false(util_utf8_valid(with_nul, sizeof(with_nul)));
	assert_false(util_utf8_valid(only_nul, 1));
	assert_true(util_utf8_valid(with_nul, 1));
	assert_true(util_utf8_valid(with_nul, 0));
}

static long ctl_at(const char *s, unsigned *cp)
{
	return util_control_char(s, strlen(s), cp);
}

static void control_char_found(void **state)
{
	(void)state;
	unsigned cp = 0;
	static const char nul[] = { 'o', 'k', '\0' };

	/* plain text, CJK, and the first characters past C1 */
	assert_int_equal(ctl_at("ok 按时报送 \xc2\xa0 \xc2\xbf \xe2\x80\xa8", &cp), -1);
	assert_int_equal(ctl_at("", &cp), -1);
	/* C0: escape, tab, line breaks, the bell */
	assert_int_equal(ctl_at("ok\033[2J", &cp), 2);
	assert_int_equal(cp, 0x1b);
	assert_int_equal(ctl_at("a\tb", &cp), 1);
	assert_int_equal(cp, 0x09);
	assert_int_equal(ctl_at("名字\r\n", &cp), 6);
	assert_int_equal(cp, 0x0d);
	assert_int_equal(ctl_at("\a", &cp), 0);
	assert_int_equal(ctl_at("\x1f", &cp), 0);
	assert_int_equal(cp, 0x1f);
	/* DEL */
	assert_int_equal(ctl_at("x\x7f", &cp), 1);
	assert_int_equal(cp, 0x7f);
	/* C1: U+0080, U+009B (CSI), U+009F */
	assert_int_equal(ctl_at("\xc2\x80", &cp), 0);
	assert_int_equal(cp, 0x80);
	assert_int_equal(ctl_at("x\xc2\x9b"
				"2J",
				&cp),
			 1);
	assert_int_equal(cp, 0x9b);
	assert_int_equal(ctl_at("\xc2\x9f", &cp), 0);
	assert_int_equal(cp, 0x9f);
	/* a NUL inside the length counts */
	assert_int_equal(util_control_char(nul, sizeof(nul), &cp), 2);
	assert_int_equal(cp, 0);
}

static void control_scrub(void **state)
{
	(void)state;
	char s[] = "ok\033[2J\r\n名\x7f\xc2\x9b"
		   "1\xc2\xa0";
	util_control_scrub(s);
	assert_string_equal(s, "ok [2J  名   1\xc2\xa0");
}

/* ------------------------------------------------------------------ */
/* sbuf */

static void sbuf_starts_empty(void **state)
{
	(void)state;
	struct sbuf sb;

	sbuf_init(&sb);
	assert_non_null(sb.buf);
	assert_int_equal(sb.len, 0);
	assert_string_equal(sb.buf, "");
	sbuf_free(&sb);
	assert_null(sb.buf);
	assert_int_equal(sb.len, 0);
	assert_int_equal(sb.cap, 0);
}

static void sbuf_appends(void **state)
{
	(void)state;
	struct sbuf sb;

	sbuf_init(&sb);
	sbuf_puts(&sb, "row ");
	sbuf_add(&sb, "2c and more", 2);
	sbuf_printf(&sb, ": %s %d/%s", "扣", 5, "5");
	assert_string_equal(sb.buf, "row 2c: 扣 5/5");
	assert_int_equal(sb.len, strlen("row 2c: 扣 5/5"));
	sbuf_add(&sb, "", 0);
	assert_int_equal(sb.len, strlen("row 2c: 扣 5/5"));
	sbuf_free(&sb);
}

static void sbuf_add_html_escapes_markup(void **state)
{
	(void)state;
	struct sbuf sb;
	const char *in = "<a href='x'>\"R&D\"</a>\n第2项";
	const char *want = "&lt;a href=&#39;x&#39;&gt;&quot;R&amp;D&quot;&lt;/a&gt;\n第2项";

	sbuf_init(&sb);
	/* only LEN bytes: the rest of the string is not read */
	sbuf_add_html(&sb, "<b>", 2);
	assert_string_equal(sb.buf, "&lt;b");
	sbuf_reset(&sb);
	sbuf_add_html(&sb, in, strlen(in));
	assert_string_equal(sb.buf, want);
	sbuf_add_html(&sb, "", 0);
	assert_int_equal(sb.len, strlen(want));
	sbuf_free(&sb);
}

static void sbuf_grows(void **state)
{
	(void)state;
	struct sbuf sb;
	char expect[5001];

	sbuf_init(&sb);
	for (int i = 0; i < 1000; i++)
		sbuf_printf(&sb, "%04d|", i);
	for (int i = 0; i < 1000; i++)
		snprintf(expect + 5 * i, 6, "%04d|", i);
	assert_int_equal(sb.len, 5000);
	assert_true(sb.cap > sb.len);
	assert_string_equal(sb.buf, expect);

	/* a single long printf */
	struct sbuf s2;
	sbuf_init(&s2);
	sbuf_printf(&s2, "%s", expect);
	assert_int_equal(s2.len, 5000);
	assert_string_equal(s2.buf, expect);
	sbuf_free(&s2);
	sbuf_free(&sb);
}

/* ------------------------------------------------------------------ */
/* allocation helpers */

static void xasprintf_and_reserve(void **state)
{
	(void)state;
	char *s = xasprintf("%s@%04d-%02d-%02d", "7d", 2020, 12, 10);
	assert_string_equal(s, "7d@2020-12-10");
	free(s);

	char *d = xstrdup("香炉礁");
	assert_string_equal(d, "香炉礁");
	free(d);

	int *arr = NULL;
	size_t cap = 0;
	util_reserve(&arr, &cap, 3, sizeof(*arr));
	assert_true(cap >= 3);
	size_t old = cap;
	util_reserve(&arr, &cap, 2, sizeof(*arr));
	assert_int_equal(cap, old);
	util_reserve(&arr, &cap, 1000, sizeof(*arr));
	assert_true(cap >= 1000);
	for (int i = 0; i < 1000; i++)
		arr[i] = i;
	assert_int_equal(arr[999], 999);
	free(arr);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(parse_fixed_valid_hundredths),
		cmocka_unit_test(parse_fixed_other_scales),
		cmocka_unit_test(parse_fixed_too_many_decimals),
		cmocka_unit_test(parse_fixed_junk),
		cmocka_unit_test(parse_fixed_empty),
		cmocka_unit_test(parse_fixed_signs),
		cmocka_unit_test(parse_fixed_overflow),
		cmocka_unit_test(double_to_hundredths_plain),
		cmocka_unit_test(double_to_hundredths_binary_noise),
		cmocka_unit_test(double_to_hundredths_too_precise),
		cmocka_unit_test(double_to_hundredths_negative),
		cmocka_unit_test(format_fixed_examples),
		cmocka_unit_test(format_fixed_other_scales),
		cmocka_unit_test(format_fixed_round_trip),
		cmocka_unit_test(format_fixed_truncates_safely),
		cmocka_unit_test(utf8_valid_text),
		cmocka_unit_test(utf8_overlong),
		cmocka_unit_test(utf8_surrogates),
		cmocka_unit_test(utf8_out_of_range_and_stray),
		cmocka_unit_test(utf8_truncated),
		cmocka_unit_test(utf8_nul),
		cmocka_unit_test(control_char_found),
		cmocka_unit_test(control_scrub),
		cmocka_unit_test(sbuf_starts_empty),
		cmocka_unit_test(sbuf_appends),
		cmocka_unit_test(sbuf_grows),
		cmocka_unit_test(sbuf_add_html_escapes_markup),
		cmocka_unit_test(xasprintf_and_reserve),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
