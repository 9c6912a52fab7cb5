/*
 * test_planfile — finding a plan file's units list for reading in batches:
 * the elements and their lines through strings, comments and nesting;
 * the rest of the file with its lines kept; the batches as libconfig reads
 * them; and every file left to be read whole.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <libconfig.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kaohe/planfile.h"
#include "kaohe/util.h"
#include "support.h"

/* Scan TEXT (copied); the result of planfile_scan(). */
static int scan(const char *text, struct planfile *pf)
{
	char *t = xstrdup(text);
	int r = planfile_scan(t, strlen(t), pf);
	if (r != 0)
		free(t);
	return r;
}

static int lines(const char *s)
{
	int n = 0;
	for (; *s; s++)
		n += *s == '\n';
	return n;
}

static const char PLAN[] =
	"# a plan ( { [\n"
	"plan: {\n"
	"  year = 2026;\n"
	"  rows = ( { id = \"1\"; units = ( 1, 2 ); } );\n" /* not the plan's units */
	"  x = { units = ( { id = \"no\"; } ); };\n"
	"  units = ( /* the units ) */\n"
	"    { id = \"a\"; name = \"甲, (乙)\"; },\n"
	"    // a comment ) ,\n"
	"    { id = \"b\"; name = \"a \\\" ) , \\\\\"; liaisons = ( { name = \"x\"; } ); },\n"
	"    { id = \"c\";\n"
	"      name = \"丙\"; }\n"
	"  );\n"
	"  total = 0x1F;\n"
	"};\n";

static void finds_the_plans_units(void **state)
{
	(void)state;
	struct planfile pf;
	assert_int_equal(scan(PLAN, &pf), 0);
	assert_int_equal(pf.nel, 3);
	assert_int_equal(pf.list_line, 6);
	assert_int_equal(pf.el[0].line, 7);
	assert_int_equal(pf.el[1].line, 9);
	assert_int_equal(pf.el[2].line, 10);
	assert_memory_equal(pf.text + pf.el[0].off, "{ id = \"a\"", 10);
	/* the last runs to the list's end, the white space before it too */
	const char *end = pf.text + pf.el[2].off + pf.el[2].len;
	assert_memory_equal(end, ");", 2);
	assert_memory_equal(end - 4, "}\n  ", 4);
	/* the rest keeps every line and nothing of the elements */
	assert_int_equal(lines(pf.rest), lines(PLAN));
	assert_null(strstr(pf.rest, "\"b\""));
	assert_non_null(strstr(pf.rest, "units = ( { id = \"no\"; }"));
	config_t c;
	config_init(&c);
	assert_int_equal(config_read_string(&c, pf.rest), CONFIG_TRUE);
	const config_setting_t *u = config_lookup(&c, "plan.units");
	assert_non_null(u);
	assert_int_equal(config_setting_length(u), 0);
	assert_int_equal(config_setting_source_line(config_lookup(&c, "plan.total")), 13);
	config_destroy(&c);
	planfile_free(&pf);
}

/* Each batch reads as the list's elements, on the lines of the file. */
static void batches_keep_their_lines(void **state)
{
	(void)state;
	struct planfile pf;
	assert_int_equal(scan(PLAN, &pf), 0);
	char *b = planfile_batch(&pf, 1, 2);
	config_t c;
	config_init(&c);
	if (config_read_string(&c, b) != CONFIG_TRUE)
		fail_msg("line %d: %s", config_error_line(&c), config_error_text(&c));
	const config_setting_t *l = config_lookup(&c, "units");
	assert_int_equal(config_setting_length(l), 2);
	const config_setting_t *e1 = config_setting_get_elem(l, 0),
			       *e2 = config_setting_get_elem(l, 1);
	const char *name;
	assert_int_equal(config_setting_lookup_string(e1, "name", &name), CONFIG_TRUE);
	assert_string_equal(name, "a \" ) , \\");
	assert_int_equal(config_setting_source_line(config_setting_get_member(e1, "id")), 9);
	assert_int_equal(config_setting_source_line(config_setting_get_member(e2, "name")), 11);
	config_destroy(&c);
	free(b);
	planfile_free(&pf);
}

/* Anything the scan is not sure of is read whole. */
static void left_to_libconfig(void **state)
{
	(void)state;
	static const char *const whole[] = {
		"@include \"units.conf\"\nplan: { units = ( { id = \"a\"; } ); };\n",
		"plan: { units = ( { id = \"a\"; }, ); };\n",      /* a trailing comma */
		"plan: { units = ( { id = \"a\"; }, , {} ); };\n", /* an empty element */
		"plan: { units = ( , { id = \"a\"; } ); };\n",     /* a leading comma */
		"plan: { units = ( { id = \"a\"; ] ); };\n",       /* brackets that do not pair */
		"plan: { units = ( { id = \"a\"; } );\n",          /* unclosed */
		"plan: { units = ( { id = \"a }; } ); };\n",       /* an unterminated string */
		"plan: { units = ( { id = \"a\"; } ); /* open\n};\n", /* an unterminated comment */
		"plan: { year = 2026; };\n",                          /* no units */
		"units = ( { id = \"a\"; } );\nplan: { };\n",         /* not in the plan */
		"plan: { units = { a = 1; }; };\n",                   /* a group */
		"plan: { units = [ { id = \"a\"; } ]; };\n",          /* an array: no groups */
		"plan: { units = ( {} ); units = ( {} ); };\n",       /* given twice */
		"plan: { units = ( {} ); };\nplan: { };\n",           /* a second plan */
	};
	for (size_t i = 0; i < sizeof(whole) / sizeof(whole[0]); i++) {
		struct planfile pf;
		if (scan(whole[i], &pf) != 1)
			fail_msg("found units in: %s", whole[i]);
		assert_null(pf.rest);
		assert_int_equal(pf.nel, 0);
	}
	/* an empty list is found, and judged by the loader */
	struct planfile pf;
	assert_int_equal(scan("plan = { units = ( ); };", &pf), 0);
	assert_int_equal(pf.nel, 0);
	planfile_free(&pf);
}

/* planfile_read: a file found, a NUL inside, and a file that is not there. */
static void read_files(void **state)
{
	(void)state;
	char dir[64], path[128];
	temp_dir(dir, sizeof(dir), "planfile");
	snprintf(path, sizeof(path), "%s/plan.conf", dir);
	write_file(path, PLAN);
	struct planfile pf;
	assert_int_equal(planfile_read(path, &pf), 0);
	assert_int_equal(pf.nel, 3);
	assert_int_equal(pf.len, strlen(PLAN));
	planfile_free(&pf);
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fwrite("plan: { units = ( {} ); \0 };\n", 1, 29, f);
	fclose(f);
	assert_int_equal(planfile_read(path, &pf), 1);
	assert_int_equal(planfile_read(dir, &pf), 1);
	snprintf(path, sizeof(path), "%s/absent.conf", dir);
	assert_int_equal(planfile_read(path, &pf), 1);
	remove_tree(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(finds_the_plans_units),
		cmocka_unit_test(batches_keep_their_lines),
		cmocka_unit_test(left_to_libconfig),
		cmocka_unit_test(read_files),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
