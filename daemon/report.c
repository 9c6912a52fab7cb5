/*
 * report — the units array of a standing.  Points are integer
 * hundredths; they leave as JSON numbers through the writer (json.h).
 */
#include "kaohe/report.h"

void report_unit_open(struct json_writer *w, const char *name, const struct plan *p,
		      const struct score_table *t, size_t u)
{
	json_do_object(w, name);
	json_do_string(w, "unit", p->units[u].id);
	json_do_string(w, "name", p->units[u].name);
	json_do_points(w, "total", t->total[u]);
	for (size_t c = 0; c < p->ncats; c++)
		json_do_points(w, p->cats[c].id, t->cats[u * t->ncats + c]);
	json_do_int(w, "rank", t->rank[u]);
	json_do_object(w, "rows");
	for (size_t r = 0; r < p->nrows; r++)
		json_do_points(w, p->rows[r].id, t->rows[u * t->nrows + r]);
	json_do_end(w);
}

void report_units_json(struct json_writer *w, const char *name, const struct plan *p,
		       const struct score_table *t)
{
	json_do_array(w, name);
	for (size_t u = 0; u < p->nunits; u++) {
		report_unit_open(w, NULL, p, t, u);
		json_do_end(w);
	}
	json_do_end(w);
}

json_t *report_units(const struct plan *p, const struct score_table *t)
{
	struct sbuf sb;
	struct json_writer w;

	sbuf_init(&sb);
	json_do_start(&w, &sb);
	report_units_json(&w, NULL, p, t);
	json_do_finish(&w);
	json_t *j = json_loadb(sb.buf, sb.len, 0, NULL);
	sbuf_free(&sb);
	return j;
}
