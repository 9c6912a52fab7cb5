/*
 * calread — read a calendar file (config/calendars/YYYY.conf) with libconfig,
 * as the daemon does, and print what libconfig found, one item a line:
 *
 *   year 2026
 *   source chinese-days 1.5.7
 *   notice 国办发明电〔2025〕7号
 *   holiday 2026-01-01..2026-01-03
 *   workday 2026-01-04
 *
 * test_calendars.py compares this with its own reading of the file, so a
 * file that libconfig rejects or reads otherwise fails the test.
 *
 *   calread FILE
 */
#include <libconfig.h>
#include <stdio.h>

/* Print each string of the array NAME in GROUP after TAG; -1 if NAME is not
 * an array of strings. */
static int print_strings(const config_setting_t *group, const char *name, const char *tag,
			 const char *file)
{
	config_setting_t *a;
	const char *s;
	int i, n;

	a = config_setting_get_member(group, name);
	if (a == NULL || !config_setting_is_array(a)) {
		fprintf(stderr, "%s: calendar.%s: not an array\n", file, name);
		return -1;
	}
	n = config_setting_length(a);
	for (i = 0; i < n; i++) {
		if ((s = config_setting_get_string_elem(a, i)) == NULL) {
			fprintf(stderr, "%s: calendar.%s[%d]: not a string\n", file, name, i);
			return -1;
		}
		printf("%s %s\n", tag, s);
	}
	return 0;
}

int main(int argc, char *argv[])
{
	config_t cfg;
	config_setting_t *cal;
	const char *source;
	int year, rc = 1;

	if (argc != 2) {
		fprintf(stderr, "usage: calread FILE\n");
		return 2;
	}
	config_init(&cfg);
	if (!config_read_file(&cfg, argv[1])) {
		fprintf(stderr, "%s:%d: %s\n", argv[1], config_error_line(&cfg),
			config_error_text(&cfg));
		goto done;
	}
	if ((cal = config_lookup(&cfg, "calendar")) == NULL || !config_setting_is_group(cal)) {
		fprintf(stderr, "%s: no group `calendar`\n", argv[1]);
		goto done;
	}
	if (!config_setting_lookup_int(cal, "year", &year)) {
		fprintf(stderr, "%s: calendar.year: not an integer\n", argv[1]);
		goto done;
	}
	if (!config_setting_lookup_string(cal, "source", &source)) {
		fprintf(stderr, "%s: calendar.source: not a string\n", argv[1]);
		goto done;
	}
	printf("year %d\nsource %s\n", year, source);
	if (print_strings(cal, "notices", "notice", argv[1]) == -1 ||
	    print_strings(cal, "holidays", "holiday", argv[1]) == -1 ||
	    print_strings(cal, "workdays", "workday", argv[1]) == -1)
		goto done;
	rc = 0;
done:
	config_destroy(&cfg);
	return rc;
}
