/*
 * report — JSON forms of standings.  Points are integer hundredths; they
 * leave the program as JSON numbers, integers where whole so that "14"
 * stays 14, and reals printed with 15 significant digits, which is
 * exact for every value with two decimals below 10^13.
 */
#include <stdio.h>

#include "kaohe/calendar.h"
#include "kaohe/report.h"

json_t *report_points(int64_t h)
{
	if (h % 100 == 0)
		return json_integer(h / 100);
	return json_real((double)h / 100.0);
}

json_t *report_value(int64_t v)
{
	if (v % 10000 == 0)
		return json_integer(v / 10000);
	return json_real((double)v / 10000.0);
}

json_t *report_instant(int64_t t)
{
	char buf[40];
	calendar_format_instant(t, buf, sizeof(buf));
	return json_string(buf);
}

json_t *report_units(const struct plan *p, const struct score_table *t)
{
	json_t *arr = json_array();
	for (size_t u = 0; u < p->nunits; u++) {
		json_t *o = json_object(), *rows = json_object();
		json_object_set_new(o, "unit", json_string(p->units[u].id));
		json_object_set_new(o, "name", json_string(p->units[u].name));
		json_object_set_new(o, "total", report_points(t->total[u]));
		for (size_t c = 0; c < p->ncats; c++)
			json_object_set_new(o, p->cats[c].id, report_points(t->cats[u * t->ncats + c]));
		json_object_set_new(o, "rank", json_integer(t->rank[u]));
		for (size_t r = 0; r < p->nrows; r++)
			json_object_set_new(rows, p->rows[r].id, report_points(t->rows[u * t->nrows + r]));
		json_object_set_new(o, "rows", rows);
		json_array_append_new(arr, o);
	}
	return arr;
}

char *report_dump(const json_t *j)
{
	return json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(15));
}
