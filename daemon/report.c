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

void report_json_string(struct sbuf *sb, const char *s)
{
	static const char hex[] = "0123456789abcdef";
	const char *run = s;

	SBUF_LIT(sb, "\"");
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		if (c >= 0x20 && c != '"' && c != '\\')
			continue;
		sbuf_add(sb, run, (size_t)(s - run));
		run = s + 1;
		switch (c) {
		case '"': SBUF_LIT(sb, "\\\""); break;
		case '\\': SBUF_LIT(sb, "\\\\"); break;
		case '\n': SBUF_LIT(sb, "\\n"); break;
		case '\t': SBUF_LIT(sb, "\\t"); break;
		case '\r': SBUF_LIT(sb, "\\r"); break;
		default: {
			char u[6] = { '\\', 'u', '0', '0', hex[c >> 4], hex[c & 15] };
			sbuf_add(sb, u, 6);
		}
		}
	}
	sbuf_add(sb, run, (size_t)(s - run));
	SBUF_LIT(sb, "\"");
}

void report_points_text(struct sbuf *sb, int64_t h)
{
	char buf[32];
	util_format_fixed(h, 2, buf, sizeof(buf));
	sbuf_puts(sb, buf);
}

void report_instant_member(struct sbuf *sb, const char *key, int64_t t)
{
	char buf[40];
	calendar_format_instant(t, buf, sizeof(buf));
	SBUF_LIT(sb, ",\"");
	sbuf_puts(sb, key);
	SBUF_LIT(sb, "\":\"");
	sbuf_puts(sb, buf);
	SBUF_LIT(sb, "\"");
}

void report_unit_text_open(const struct plan *p, const struct score_table *t, size_t u,
			   struct sbuf *sb)
{
	SBUF_LIT(sb, "{\"unit\":");
	report_json_string(sb, p->units[u].id);
	SBUF_LIT(sb, ",\"name\":");
	report_json_string(sb, p->units[u].name);
	SBUF_LIT(sb, ",\"total\":");
	report_points_text(sb, t->total[u]);
	for (size_t c = 0; c < p->ncats; c++) {
		SBUF_LIT(sb, ",");
		report_json_string(sb, p->cats[c].id);
		SBUF_LIT(sb, ":");
		report_points_text(sb, t->cats[u * t->ncats + c]);
	}
	char rank[16];
	util_format_fixed(t->rank[u], 0, rank, sizeof(rank));
	SBUF_LIT(sb, ",\"rank\":");
	sbuf_puts(sb, rank);
	SBUF_LIT(sb, ",\"rows\":{");
	for (size_t r = 0; r < p->nrows; r++) {
		if (r)
			SBUF_LIT(sb, ",");
		report_json_string(sb, p->rows[r].id);
		SBUF_LIT(sb, ":");
		report_points_text(sb, t->rows[u * t->nrows + r]);
	}
	SBUF_LIT(sb, "}");
}

static void unit_text(const struct plan *p, const struct score_table *t, size_t u, struct sbuf *sb)
{
	report_unit_text_open(p, t, u, sb);
	SBUF_LIT(sb, "}");
}

void report_units_text(const struct plan *p, const struct score_table *t, struct sbuf *sb)
{
	SBUF_LIT(sb, "[");
	for (size_t u = 0; u < p->nunits; u++) {
		if (u)
			SBUF_LIT(sb, ",");
		unit_text(p, t, u, sb);
	}
	SBUF_LIT(sb, "]");
}

json_t *report_units(const struct plan *p, const struct score_table *t)
{
	struct sbuf sb;
	sbuf_init(&sb);
	report_units_text(p, t, &sb);
	json_t *j = json_loadb(sb.buf, sb.len, 0, NULL);
	sbuf_free(&sb);
	return j;
}

char *report_dump(const json_t *j)
{
	return json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_ENCODE_ANY |
				     JSON_REAL_PRECISION(15));
}
