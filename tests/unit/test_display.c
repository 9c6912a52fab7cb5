/*
 * test_display — display widths as a terminal counts them (a Chinese
 * character two columns, the full-width punctuation of the plan's texts
 * too, a combining mark none, a stray byte one) and text cut to a width
 * with "…", never inside a character, never wider than asked.
 */
#include <locale.h>
#include <stdlib.h>
#include <string.h>

#include "kaohe/display.h"
#include "support.h"

static int setup(void **state)
{
	(void)state;
	/* As kaohectl does when the caller's locale is not UTF-8. */
	return setlocale(LC_CTYPE, "C.UTF-8") ? 0 : -1;
}

static void test_width(void **state)
{
	(void)state;
	assert_int_equal(display_width(""), 0);
	assert_int_equal(display_width("bayilu"), 6);
	assert_int_equal(display_width("八一路"), 6);
	assert_int_equal(display_width("人民广场 total"), 14);
	/* full-width punctuation and the ideographic comma of the plan's texts */
	assert_int_equal(display_width("（含）、。"), 10);
	/* the curly quotes of "红色物业" are narrow, as wcwidth and Python say */
	assert_int_equal(display_width("“红色物业”"), 10);
	/* e + COMBINING ACUTE ACCENT: one column */
	assert_int_equal(display_width("e\xcc\x81"), 1);
	/* stray bytes: one column each, and the count goes on after them */
	assert_int_equal(display_width("a\xff\xfe"
				       "八"),
			 5);
	assert_int_equal(display_width("\xe5\x85"), 2); /* a character cut short */
	assert_int_equal(display_width("…"), 1);
	assert_int_equal(display_width_n("八一路", 3), 2);
	assert_int_equal(display_width_n("八一路", 4), 3); /* the broken byte */
}

static void check_fit(const char *s, int max, const char *want)
{
	char *got = display_fit(s, max);
	assert_non_null(got);
	assert_string_equal(got, want);
	assert_true(display_width(got) <= (max > 0 ? max : 0));
	free(got);
}

static void test_fit(void **state)
{
	(void)state;
	check_fit("bayilu", 6, "bayilu");
	check_fit("bayilu", 10, "bayilu");
	check_fit("bayilu", 5, "bayi…");
	check_fit("bayilu", 1, "…");
	check_fit("bayilu", 0, "");
	check_fit("bayilu", -3, "");
	check_fit("八一路", 6, "八一路");
	/* a double-width character never straddles the edge */
	check_fit("八一路", 5, "八一…");
	check_fit("八一路", 4, "八…");
	check_fit("八一路", 2, "…");
	check_fit("a八一路", 4, "a八…");
	/* a combining mark stays with its letter */
	check_fit("e\xcc\x81tude", 3, "e\xcc\x81t…");
	/* every width of a long mixed text fits and ends in … */
	const char *text = "打造“红色物业”示范项目，推动党建引领业主委员会工作 (row 1)";
	int full = display_width(text);
	for (int max = 1; max < full; max++) {
		char *got = display_fit(text, max);
		int w = display_width(got);
		assert_true(w <= max);
		assert_true(w >= max - 1); /* at most one column lost to a wide character */
		size_t n = strlen(got);
		assert_true(n >= strlen("…"));
		assert_string_equal(got + n - strlen("…"), "…");
		assert_memory_equal(got, text, n - strlen("…"));
		free(got);
	}
	check_fit(text, full, text);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_width),
		cmocka_unit_test(test_fit),
	};
	return cmocka_run_group_tests(tests, setup, NULL);
}
