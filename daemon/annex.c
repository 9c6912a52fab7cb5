/*
 * annex — the published forms of one period's standing; see annex.h.
 *
 * Everything a reader sees goes through one of three writers: html_text
 * (HTML text and quoted attribute values alike), url_path (a relative
 * href built from a period name or a unit id) and csv_text (an RFC 4180
 * field guarded against spreadsheet formulas).  No other function
 * appends a caller's string to the output, so a hostile unit name or row
 * text cannot reach the page or the sheet unescaped.
 */
#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kaohe/annex.h"
#include "kaohe/calendar.h"

#define PROVISIONAL_NOTE "临时排名（尚未发布的快照，仅供参考）"

/* ---- escaping ----------------------------------------------------------- */

/*
 * Append S escaped for HTML text and for a double- or single-quoted
 * attribute value: & < > " ' become references.  A newline becomes &#10;
 * so that a title attribute keeps its lines whatever the parser does with
 * raw line breaks; other C0 controls and DEL are dropped, as HTML forbids
 * them.  NULL appends nothing.
 */
static void html_text(struct sbuf *sb, const char *s)
{
	if (s == NULL)
		return;
	while (*s) {
		size_t n = 0;
		unsigned char c;

		/* A run that HTML allows as it stands, markup apart... */
		while ((c = (unsigned char)s[n]) == '\t' || (c >= 0x20 && c != 0x7f))
			n++;
		sbuf_add_html(sb, s, n);
		s += n;
		/* ...then the control character or the NUL that ends it. */
		if (c == '\n')
			SBUF_LIT(sb, "&#10;");
		if (c != '\0')
			s++;
	}
}

/*
 * Append S percent-encoded as one path segment of a relative URL: only
 * RFC 3986 unreserved bytes pass, so a period or unit id can neither
 * leave the directory (no '/') nor become a scheme (no ':'), and the
 * result needs no HTML escaping.
 */
static void url_path(struct sbuf *sb, const char *s)
{
	static const char hex[] = "0123456789ABCDEF";

	for (; s && *s; s++) {
		unsigned char c = (unsigned char)*s;
		if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		    c == '-' || c == '.' || c == '_' || c == '~') {
			sbuf_add(sb, (const char *)&c, 1);
		} else {
			char e[3] = { '%', hex[c >> 4], hex[c & 15] };
			sbuf_add(sb, e, 3);
		}
	}
}

/* Append points H (hundredths) as "96.5", "3", "0.5". */
static void points(struct sbuf *sb, int64_t h)
{
	char buf[32];

	util_format_fixed(h, 2, buf, sizeof(buf));
	sbuf_puts(sb, buf);
}

/*
 * Append the lines of a loss explanation, escaped, each separated by SEP
 * (taken as markup): "&#10;" in a title, "<br>" in a footnote.  Empty
 * lines and carriage returns are dropped.
 */
static void lost_lines(struct sbuf *sb, const char *s, const char *sep)
{
	bool first = true;

	while (*s) {
		size_t n = strcspn(s, "\n");
		size_t m = n;
		while (m > 0 && s[m - 1] == '\r')
			m--;
		if (m > 0) {
			char *line = xmalloc(m + 1);
			memcpy(line, s, m);
			line[m] = '\0';
			if (!first)
				sbuf_puts(sb, sep);
			html_text(sb, line);
			free(line);
			first = false;
		}
		s += n;
		if (*s == '\n')
			s++;
	}
}

/* The explanation of what UNIT lost on ROW, or NULL when nothing was lost. */
static const char *lost_at(const struct annex_input *in, size_t unit, size_t row)
{
	const char *s;

	if (in->lost == NULL)
		return NULL;
	s = in->lost[unit * in->plan->nrows + row];
	/* An empty explanation explains nothing: no mark, no footnote. */
	return s && *s ? s : NULL;
}

/* ---- Chinese forms ------------------------------------------------------------ */

/*
 * PERIOD as a reader says it: "2020-Q3" is "2020年第三季度"; another
 * name is kept as it is.  Into BUF of LEN bytes.
 */
static const char *zh_period(const char *period, char *buf, size_t len)
{
	static const char *const nth[] = { "一", "二", "三", "四" };
	int y, q, n = 0;

	if (period && sscanf(period, "%4d-Q%1d%n", &y, &q, &n) == 2 && period[n] == '\0' &&
	    n == 7 && q >= 1 && q <= 4)
		snprintf(buf, len, "%d年第%s季度", y, nth[q - 1]);
	else
		util_strlcpy(buf, period ? period : "", len);
	return buf;
}

/*
 * ISO-8601 instant ISO ("2020-12-10T09:00:00+08:00", in the plan's zone)
 * as a reader says it: "2020年12月10日 09:00"; midnight ends the day
 * before, as notices say: "2020年9月30日24时".  Another text is kept as
 * it is.  Into BUF of LEN bytes.
 */
static const char *zh_instant(const char *iso, char *buf, size_t len)
{
	int y, mo, d, h, mi, n = 0;

	if (iso == NULL || sscanf(iso, "%4d-%2d-%2dT%2d:%2d%n", &y, &mo, &d, &h, &mi, &n) != 5 ||
	    n != 16) {
		util_strlcpy(buf, iso ? iso : "", len);
	} else if (h == 0 && mi == 0 && (iso[16] == '\0' || strncmp(iso + 16, ":00", 3) == 0)) {
		calendar_civil_from_days(calendar_days_from_civil(y, mo, d) - 1, &y, &mo, &d);
		snprintf(buf, len, "%d年%d月%d日24时", y, mo, d);
	} else {
		snprintf(buf, len, "%d年%d月%d日 %02d:%02d", y, mo, d, h, mi);
	}
	return buf;
}

/* The width of S in CSS pixels at 12 px, roughly: CJK 12, others 7. */
static long text_px(const char *s)
{
	long w = 0;

	for (; s && *s; s++)
		if (((unsigned char)*s & 0xc0) != 0x80)
			w += (unsigned char)*s >= 0xe0 ? 12 : 7;
	return w;
}

/* ---- shared page parts ------------------------------------------------------ */

/*
 * The style of both pages.  Fonts: the CJK faces of the usual platforms,
 * then the generic family.  On a phone the wide tables scroll sideways
 * inside .scroll; on paper (A4 landscape) nothing scrolls, the table
 * header repeats on each page and the screen-only hints go away.
 */
static const char style_css[] =
	"<style>\n"
	":root{color-scheme:light}\n"
	"*{box-sizing:border-box}\n"
	"body{margin:0 auto;max-width:1280px;padding:16px;color:#1f2328;background:#fff;"
	"font-family:\"Noto Sans CJK SC\",\"Source Han Sans SC\",\"PingFang SC\","
	"\"Hiragino Sans GB\",\"Microsoft YaHei\",\"WenQuanYi Micro Hei\",\"Noto Sans SC\","
	"sans-serif;font-size:15px;line-height:1.5}\n"
	"h1{font-size:1.4em;margin:.2em 0 .4em}\n"
	"h2{font-size:1.15em;margin:1.4em 0 .5em;border-left:4px solid #1f5fa8;padding-left:.5em}\n"
	"a{color:#1f5fa8}\n"
	".redated{margin:.6em 0;padding:.5em .8em;border:2px solid #0969da;border-radius:6px}\n"
	".provisional{margin:.6em 0;padding:.5em .8em;border:2px solid #d48806;"
	"background:#fff7e6;color:#873800;font-weight:bold}\n"
	".meta{display:flex;flex-wrap:wrap;gap:.2em 1.6em;margin:.4em 0;color:#57606a}\n"
	".meta div{display:flex;gap:.4em}\n"
	".meta dt{font-weight:bold}\n"
	".meta dd{margin:0}\n"
	"nav{margin:.4em 0}\n"
	".scroll{overflow-x:auto;-webkit-overflow-scrolling:touch;max-width:100%}\n"
	"table{border-collapse:collapse;margin:.3em 0}\n"
	"th,td{border:1px solid #c8ccd1;padding:.3em .5em;vertical-align:top;background:#fff}\n"
	"thead th{background:#eef2f7;white-space:nowrap}\n"
	"tfoot th,tfoot td{background:#f6f8fa;font-weight:bold}\n"
	".num{text-align:right;white-space:nowrap;font-variant-numeric:tabular-nums}\n"
	"#ranking{min-width:min(100%,36em)}\n"
	"#ranking tbody tr:first-child td,#ranking tbody tr:first-child th{background:#f0f7ff}\n"
	"#ranking td.total{font-weight:bold}\n"
	"#annex{min-width:60em;font-size:.92em;border-collapse:separate;border-spacing:0}\n"
	/* Separate borders: each cell paints its own, so a sticky cell
	 * covers the borders of those scrolling under it. */
	"#annex th,#annex td{border-width:0 1px 1px 0}\n"
	"#annex tr>:first-child{border-left-width:1px}\n"
	"#annex thead th{border-top-width:1px}\n"
	"#annex tbody td:nth-child(n+8),#annex tfoot td{text-align:right;white-space:nowrap;"
	"font-variant-numeric:tabular-nums}\n"
	"#annex .seq{position:sticky;left:0;z-index:1;width:3.4em;min-width:3.4em;"
	"max-width:3.4em;white-space:nowrap}\n"
	"#annex .content{position:sticky;left:3.4em;z-index:1;min-width:12em;max-width:24em;"
	"box-shadow:inset -2px 0 #c8ccd1}\n"
	"#annex td.node{min-width:6em}\n"
	"#annex td.text{min-width:10em;max-width:20em;font-size:.95em}\n"
	"#annex td.cat,#annex td.dept{white-space:nowrap}\n"
	"#annex td.lost{background:#fff1f0;color:#a8071a;cursor:help}\n"
	"#annex sup{font-size:.72em;margin-left:.1em}\n"
	"#annex sup a{color:inherit;text-decoration:none}\n"
	"summary{cursor:pointer}\n"
	"summary::marker{color:#1f5fa8}\n"
	"details[open]>summary .ex{display:none}\n"
	"details[open]>summary::after{content:\"收起\"}\n"
	".footnotes{list-style:none;padding-left:0;font-size:.88em;color:#57606a}\n"
	".footnotes li{margin:.2em 0;padding-left:2em;text-indent:-2em}\n"
	"ul.feeds{columns:14em;column-gap:2.5em;padding-left:1.5em;margin:.4em 0}\n"
	"ul.feeds li{break-inside:avoid;margin:.15em 0}\n"
	".chart{margin:.6em 0}\n"
	".chart svg{max-width:100%;height:auto;display:block}\n"
	".chart text{font-family:inherit}\n"
	".hint{color:#57606a;font-size:.88em}\n"
	"footer{margin-top:2em;color:#57606a;font-size:.85em}\n"
	"@media (max-width:640px){body{padding:8px;font-size:14px}h1{font-size:1.2em}"
	"th,td{padding:.25em .35em}#annex{min-width:0}"
	"#annex .seq{width:2.8em;min-width:2.8em;max-width:2.8em}"
	"#annex .content{left:2.8em;min-width:7.5em;max-width:7.5em}"
	"#annex td.text{min-width:8em}}\n"
	"@media print{@page{size:A4 landscape;margin:10mm}"
	"body{max-width:none;padding:0;font-size:9pt}"
	".screen{display:none}"
	".scroll{overflow:visible}"
	"#annex{min-width:0;width:100%;font-size:8pt}"
	"#annex .seq,#annex .content{position:static;box-shadow:none}"
	"#annex .content{max-width:none}"
	"#annex td.text{min-width:0;max-width:none}"
	"#annex td.lost{cursor:auto}"
	"summary{display:none}"
	"details::details-content{content-visibility:visible;display:contents}"
	"thead{display:table-header-group}"
	"tfoot{display:table-row-group}"
	"tr{break-inside:avoid}"
	"h2{break-after:avoid}"
	".chart{break-inside:avoid}"
	".chart svg{max-height:70mm;width:auto}"
	"a{color:inherit;text-decoration:none}"
	"*{-webkit-print-color-adjust:exact;print-color-adjust:exact}}\n"
	"</style>\n";

/* The doctype, the head with TITLE_HTML (already escaped) and the body's start. */
static void page_open(struct sbuf *sb, const char *title_html)
{
	SBUF_LIT(sb, "<!DOCTYPE html>\n<html lang=\"zh-CN\">\n<head>\n<meta charset=\"utf-8\">\n"
		     "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
		     "<title>");
	sbuf_puts(sb, title_html);
	SBUF_LIT(sb, "</title>\n");
	sbuf_add(sb, style_css, sizeof(style_css) - 1);
	SBUF_LIT(sb, "</head>\n<body>\n");
}

/*
 * The results' name, escaped: the plan is "…考核方案" (the plan), what
 * is published is its "…考核结果" (the results); any other title gets
 * " 考核结果" appended.
 */
static void results_title(struct sbuf *sb, const struct plan *p)
{
	static const char plan_suffix[] = "方案";
	const char *t = p->title ? p->title : "";
	size_t n = strlen(t), k = sizeof(plan_suffix) - 1;

	if (n > k && strcmp(t + n - k, plan_suffix) == 0) {
		char *head = xmalloc(n - k + 1);
		memcpy(head, t, n - k);
		head[n - k] = '\0';
		html_text(sb, head);
		free(head);
		SBUF_LIT(sb, "结果");
	} else {
		html_text(sb, t);
		sbuf_puts(sb, *t ? " 考核结果" : "考核结果");
	}
}

/* One "<div><dt>LABEL</dt><dd>VALUE</dd></div>" of a .meta list; nothing for NULL. */
static void meta_item(struct sbuf *sb, const char *label, const char *value)
{
	if (value == NULL || *value == '\0')
		return;
	SBUF_LIT(sb, "<div><dt>");
	sbuf_puts(sb, label);
	SBUF_LIT(sb, "</dt><dd>");
	html_text(sb, value);
	SBUF_LIT(sb, "</dd></div>");
}

/* A re-dated plan says so on every page: the plan as written, run for its year. */
static void redated_banner(struct sbuf *sb, const struct plan *p)
{
	char note[1024];

	if (!plan_redated(p))
		return;
	plan_redated_note(p, note, sizeof(note));
	SBUF_LIT(sb, "<p class=\"redated\" role=\"note\">");
	html_text(sb, note);
	SBUF_LIT(sb, "</p>\n");
}

/* ---- ranking order ---------------------------------------------------------- */

struct ranked {
	int rank;
	size_t unit;
};

static int ranked_cmp(const void *a, const void *b)
{
	const struct ranked *x = a, *y = b;
	/* Rank 0 (not ranked) goes last; ties keep the plan's order. */
	unsigned rx = (unsigned)x->rank - 1, ry = (unsigned)y->rank - 1;

	if (rx != ry)
		return rx < ry ? -1 : 1;
	return x->unit < y->unit ? -1 : x->unit > y->unit;
}

/* Unit indexes by rank, then plan order; the caller frees. */
static size_t *rank_order(const struct score_table *t)
{
	struct ranked *r = xcalloc(t->nunits + 1, sizeof(*r));
	size_t *order = xcalloc(t->nunits + 1, sizeof(*order));

	for (size_t u = 0; u < t->nunits; u++)
		r[u] = (struct ranked){ .rank = t->rank[u], .unit = u };
	qsort(r, t->nunits, sizeof(*r), ranked_cmp);
	for (size_t i = 0; i < t->nunits; i++)
		order[i] = r[i].unit;
	free(r);
	return order;
}

/* ---- the HTML page ------------------------------------------------------------ */

static void html_ranking(const struct annex_input *in, struct sbuf *sb)
{
	const struct plan *p = in->plan;
	const struct score_table *t = in->t;
	size_t *order = rank_order(t);

	SBUF_LIT(sb, "<div class=\"scroll\"><table id=\"ranking\">\n<thead><tr>"
		     "<th scope=\"col\">名次</th><th scope=\"col\">单位</th>"
		     "<th scope=\"col\">总分</th>");
	for (size_t c = 0; c < p->ncats; c++) {
		SBUF_LIT(sb, "<th scope=\"col\" data-category=\"");
		html_text(sb, p->cats[c].id);
		SBUF_LIT(sb, "\">");
		html_text(sb, p->cats[c].name);
		SBUF_LIT(sb, "</th>");
	}
	SBUF_LIT(sb, "</tr></thead>\n<tbody>\n");
	for (size_t i = 0; i < t->nunits; i++) {
		size_t u = order[i];
		SBUF_LIT(sb, "<tr data-unit=\"");
		html_text(sb, p->units[u].id);
		sbuf_printf(sb, "\"><td class=\"num rank\">%d</td><th scope=\"row\">", t->rank[u]);
		html_text(sb, p->units[u].name);
		SBUF_LIT(sb, "</th><td class=\"num total\">");
		points(sb, t->total[u]);
		SBUF_LIT(sb, "</td>");
		for (size_t c = 0; c < p->ncats; c++) {
			SBUF_LIT(sb, "<td class=\"num cat\">");
			points(sb, t->cats[u * t->ncats + c]);
			SBUF_LIT(sb, "</td>");
		}
		SBUF_LIT(sb, "</tr>\n");
	}
	SBUF_LIT(sb, "</tbody></table></div>\n");
	free(order);
}

/* Geometry of the bar chart, in SVG user units (CSS pixels at full size). */
enum {
	CHART_LEFT = 46,
	CHART_RIGHT = 12,
	CHART_TOP = 40,   /* the legend above the plot */
	CHART_PLOT = 200, /* the height of a full score */
	CHART_BOTTOM = 30,
	CHART_BAR = 26,
	CHART_BAR_GAP = 4,
	CHART_GROUP_GAP = 30,
};

/*
 * Period I's bar colour out of N: a ramp from a pale to a deep blue, so
 * that the latest period, drawn last in each group, stands out and the
 * order still reads in black-and-white print.
 */
static void bar_colour(size_t i, size_t n, char buf[8])
{
	static const int pale[3] = { 0xa9, 0xc9, 0xe8 }, deep[3] = { 0x1f, 0x5f, 0xa8 };
	int c[3];

	for (int k = 0; k < 3; k++)
		c[k] = n < 2 ? deep[k] : pale[k] + (deep[k] - pale[k]) * (int)i / (int)(n - 1);
	snprintf(buf, 8, "#%02x%02x%02x", c[0], c[1], c[2]);
}

/* What the chart shows and how big it is, worked out once for its parts. */
struct chart {
	const struct plan *p;
	size_t np, nu;            /* periods and units */
	const char *const *names; /* [np] the periods' names */
	const int64_t *totals;    /* [np * nu] the units' totals, period after period */
	int64_t full;             /* the score at the top of the plot */
	long group;               /* the width of one unit's bars */
	long width, height;
};

/*
 * The periods and totals of IN (without a history, this period's alone),
 * the full score and the picture's size.
 */
static void chart_layout(const struct annex_input *in, struct chart *c)
{
	const struct score_table *t = in->t;
	bool own = in->nperiods == 0 || in->periods == NULL || in->totals == NULL;

	c->p = in->plan;
	c->np = own ? 1 : in->nperiods;
	c->nu = t->nunits;
	c->names = own ? &in->period : in->periods;
	c->totals = own ? t->total : in->totals;
	c->full = c->p->total > 0 ? c->p->total : 1;
	/* A total above the plan's (never, as rows are clamped) must still fit. */
	for (size_t i = 0; i < c->np * c->nu; i++)
		if (c->totals[i] > c->full)
			c->full = c->totals[i];
	c->group = (long)(c->np * CHART_BAR + (c->np - 1) * CHART_BAR_GAP);
	c->width = CHART_LEFT + (long)c->nu * (c->group + CHART_GROUP_GAP) + CHART_RIGHT;
	if (c->width < 320)
		c->width = 320;
	c->height = CHART_TOP + CHART_PLOT + CHART_BOTTOM;
}

/* Grid lines at quarters of the full score, labelled. */
static void chart_grid(const struct chart *c, struct sbuf *sb)
{
	for (int q = 0; q <= 4; q++) {
		long y = CHART_TOP + CHART_PLOT - CHART_PLOT * q / 4;
		sbuf_printf(sb,
			    "<line x1=\"%d\" y1=\"%ld\" x2=\"%ld\" y2=\"%ld\" stroke=\"%s\" "
			    "stroke-width=\"1\"/>",
			    CHART_LEFT, y, c->width - CHART_RIGHT, y, q ? "#e1e4e8" : "#57606a");
		sbuf_printf(sb, "<text x=\"%d\" y=\"%ld\" text-anchor=\"end\" fill=\"#57606a\">",
			    CHART_LEFT - 6, y + 4);
		points(sb, c->full * q / 4);
		SBUF_LIT(sb, "</text>\n");
	}
}

/* The legend: one swatch per period, left to right. */
static void chart_legend(const struct chart *c, struct sbuf *sb)
{
	long x = CHART_LEFT;
	char colour[8], name[64];

	for (size_t i = 0; i < c->np; i++) {
		bar_colour(i, c->np, colour);
		sbuf_printf(sb,
			    "<rect class=\"swatch\" x=\"%ld\" y=\"8\" width=\"12\" height=\"12\" "
			    "fill=\"%s\"/><text x=\"%ld\" y=\"18\">",
			    x, colour, x + 16);
		zh_period(c->names[i], name, sizeof(name));
		html_text(sb, name);
		SBUF_LIT(sb, "</text>\n");
		x += 16 + 14 + text_px(name);
	}
}

/* Unit U's group: a bar per period with its value above, the unit's name below. */
static void chart_unit(const struct chart *c, size_t u, struct sbuf *sb)
{
	const struct plan *p = c->p;
	long x0 = CHART_LEFT + CHART_GROUP_GAP / 2 + (long)u * (c->group + CHART_GROUP_GAP);
	char colour[8], name[64];

	SBUF_LIT(sb, "<g data-unit=\"");
	html_text(sb, p->units[u].id);
	SBUF_LIT(sb, "\">\n");
	for (size_t i = 0; i < c->np; i++) {
		int64_t v = c->totals[i * c->nu + u];
		long h = (long)((v < 0 ? 0 : v) * CHART_PLOT / c->full);
		long x = x0 + (long)i * (CHART_BAR + CHART_BAR_GAP);
		long y = CHART_TOP + CHART_PLOT - h;
		bar_colour(i, c->np, colour);
		sbuf_printf(sb,
			    "<rect class=\"bar\" x=\"%ld\" y=\"%ld\" width=\"%d\" "
			    "height=\"%ld\" fill=\"%s\"><title>",
			    x, y, CHART_BAR, h, colour);
		html_text(sb, p->units[u].name);
		SBUF_LIT(sb, " ");
		html_text(sb, zh_period(c->names[i], name, sizeof(name)));
		SBUF_LIT(sb, "：");
		points(sb, v);
		sbuf_printf(sb,
			    "</title></rect><text class=\"val\" x=\"%ld\" y=\"%ld\" "
			    "text-anchor=\"middle\" font-size=\"10\" fill=\"#1f2328\">",
			    x + CHART_BAR / 2, y - 3);
		points(sb, v);
		SBUF_LIT(sb, "</text>\n");
	}
	sbuf_printf(sb, "<text x=\"%ld\" y=\"%d\" text-anchor=\"middle\">", x0 + c->group / 2,
		    CHART_TOP + CHART_PLOT + 20);
	html_text(sb, p->units[u].name);
	SBUF_LIT(sb, "</text>\n</g>\n");
}

/*
 * The inline SVG: one group per unit (plan order), one bar per period,
 * scaled so that the plan's total fills the plot.  Without a history
 * (NPERIODS 0) the chart shows this period's totals alone.
 */
static void html_chart(const struct annex_input *in, struct sbuf *sb)
{
	struct chart c;

	chart_layout(in, &c);
	SBUF_LIT(sb, "<figure class=\"chart\">\n");
	sbuf_printf(sb,
		    "<svg role=\"img\" aria-labelledby=\"chart-title\" viewBox=\"0 0 %ld %ld\" "
		    "width=\"%ld\" height=\"%ld\" font-size=\"12\">\n",
		    c.width, c.height, c.width, c.height);
	SBUF_LIT(sb, "<title id=\"chart-title\">各单位各考核期总分</title>\n");
	chart_grid(&c, sb);
	chart_legend(&c, sb);
	for (size_t u = 0; u < c.nu; u++)
		chart_unit(&c, u, sb);
	SBUF_LIT(sb, "</svg>\n<figcaption class=\"hint\">各单位各考核期总分（满分 ");
	points(sb, c.p->total);
	SBUF_LIT(sb, "）</figcaption>\n</figure>\n");
}

/* The plan's text columns before 分值: 序号 … 评分办法. */
#define TEXT_COLUMNS 7

/*
 * A tfoot line's start: LABEL_HTML where the rows have their content,
 * so that it stays in view with it on a phone, the other text cells
 * spanned empty, then the MAX cell.
 */
static void html_foot_open(struct sbuf *sb, const char *cls, const char *label_html)
{
	SBUF_LIT(sb, "<tr class=\"");
	sbuf_puts(sb, cls);
	SBUF_LIT(sb, "\"><td class=\"seq\"></td><td colspan=\"2\"></td>"
		     "<th scope=\"row\" class=\"content\">");
	sbuf_puts(sb, label_html);
	SBUF_LIT(sb, "</th><td colspan=\"3\"></td>");
}

/*
 * The footnotes under the annex table.  Cells of one row that lost
 * points for the same reasons share one note: at 40,000 units most
 * reasons repeat, and one note with its count reads better than
 * thousands.  NOTE[unit * nrows + row] is the cell's note number, 0
 * for none, numbered in the order of the table (row by row).
 */
struct footnotes {
	unsigned *note;
	unsigned n;
	struct sbuf text;
};

/* Unit names of a note: up to three, then how many in all. */
enum { NOTE_NAMES = 3 };

static void footnotes_build(const struct annex_input *in, struct footnotes *fn)
{
	const struct plan *p = in->plan;
	size_t nu = in->t->nunits, nr = p->nrows;
	/* Per note of a row: how many units, the first ones. */
	size_t *count = xcalloc(nu + 1, sizeof(*count));
	size_t(*names)[NOTE_NAMES] = xcalloc(nu + 1, sizeof(*names));
	struct strmap seen;

	fn->note = xcalloc(nu * nr + 1, sizeof(*fn->note));
	fn->n = 0;
	sbuf_init(&fn->text);
	for (size_t r = 0; r < nr; r++) {
		size_t nnotes = 0;
		strmap_init(&seen, nu);
		for (size_t u = 0; u < nu; u++) {
			const char *why = lost_at(in, u, r);
			if (why == NULL)
				continue;
			int k = strmap_get(&seen, why, NULL);
			if (k < 0) {
				k = (int)nnotes++;
				count[k] = 0;
				strmap_put(&seen, why, k);
			}
			if (count[k] < NOTE_NAMES)
				names[k][count[k]] = u;
			count[k]++;
			fn->note[u * nr + r] = fn->n + 1 + (unsigned)k;
		}
		strmap_free(&seen);
		for (size_t k = 0; k < nnotes; k++) {
			unsigned no = fn->n + 1 + (unsigned)k;
			sbuf_printf(&fn->text, "<li id=\"fn-%u\">[%u] 第", no, no);
			html_text(&fn->text, p->rows[r].id);
			SBUF_LIT(&fn->text, "项 ");
			for (size_t i = 0; i < count[k] && i < NOTE_NAMES; i++) {
				if (i)
					SBUF_LIT(&fn->text, "、");
				html_text(&fn->text, p->units[names[k][i]].name);
			}
			if (count[k] > NOTE_NAMES)
				sbuf_printf(&fn->text, "等%zu个单位", count[k]);
			SBUF_LIT(&fn->text, "：");
			lost_lines(&fn->text, lost_at(in, names[k][0], r), "<br>");
			SBUF_LIT(&fn->text, "</li>\n");
		}
		fn->n += (unsigned)nnotes;
	}
	free(count);
	free(names);
}

static void footnotes_free(struct footnotes *fn)
{
	free(fn->note);
	sbuf_free(&fn->text);
}

/* The hint above the table, the table's start and its header row. */
static void html_annex_head(const struct annex_input *in, struct sbuf *sb)
{
	const struct plan *p = in->plan;

	SBUF_LIT(sb, "<p class=\"hint screen\">扣分的得分标有 [n]：悬停或点击查看扣分原因，"
		     "原因另见表后注释。工作标准、评分办法点击展开。</p>\n");
	SBUF_LIT(sb,
		 "<div class=\"scroll\"><table id=\"annex\">\n<thead><tr>"
		 "<th scope=\"col\" class=\"seq\">序号</th><th scope=\"col\">类别</th>"
		 "<th scope=\"col\">责任部门</th><th scope=\"col\" class=\"content\">考核内容</th>"
		 "<th scope=\"col\">时间节点</th><th scope=\"col\">工作标准</th>"
		 "<th scope=\"col\">评分办法</th><th scope=\"col\">分值</th>");
	for (size_t u = 0; u < in->t->nunits; u++) {
		/* id: a link to PERIOD.html#unit-ID shows that unit's column. */
		SBUF_LIT(sb, "<th scope=\"col\" id=\"unit-");
		html_text(sb, p->units[u].id);
		SBUF_LIT(sb, "\" data-unit=\"");
		html_text(sb, p->units[u].id);
		SBUF_LIT(sb, "\">");
		html_text(sb, p->units[u].name);
		SBUF_LIT(sb, "</th>");
	}
	SBUF_LIT(sb, "</tr></thead>\n<tbody>\n");
}

/* Characters of a long text shown before it is opened. */
enum { EXCERPT_CHARS = 14 };

/*
 * A long text of the seed (工作标准, 评分办法) in cell class "text":
 * collapsed behind its first words on screen (<details>, no script),
 * whole in print; a short one as it is.
 */
static void html_long_text(struct sbuf *sb, const char *s)
{
	size_t chars = 0, cut = 0;

	SBUF_LIT(sb, "<td class=\"text\">");
	for (const char *q = s ? s : ""; *q; q++)
		if (((unsigned char)*q & 0xc0) != 0x80 && chars++ == EXCERPT_CHARS)
			cut = (size_t)(q - s);
	if (chars <= EXCERPT_CHARS + 6) {
		html_text(sb, s);
	} else {
		char *ex = xmalloc(cut + 1);
		memcpy(ex, s, cut);
		ex[cut] = '\0';
		SBUF_LIT(sb, "<details><summary><span class=\"ex\">");
		html_text(sb, ex);
		SBUF_LIT(sb, "…</span></summary>");
		html_text(sb, s);
		SBUF_LIT(sb, "</details>");
		free(ex);
	}
	SBUF_LIT(sb, "</td>");
}

/*
 * Unit U's score on row R; where it lost points, the reasons as the
 * cell's title and a mark pointing to its footnote.  Score cells carry
 * no attribute otherwise: a big plan has millions of them.
 */
static void html_annex_score(const struct annex_input *in, size_t u, size_t r, struct sbuf *sb,
			     const struct footnotes *fn)
{
	const struct score_table *t = in->t;
	unsigned no = fn->note[u * in->plan->nrows + r];

	if (no == 0) {
		SBUF_LIT(sb, "<td>");
		points(sb, t->rows[u * t->nrows + r]);
		SBUF_LIT(sb, "</td>");
		return;
	}
	SBUF_LIT(sb, "<td class=\"lost\" title=\"");
	lost_lines(sb, lost_at(in, u, r), "&#10;");
	SBUF_LIT(sb, "\">");
	points(sb, t->rows[u * t->nrows + r]);
	sbuf_printf(sb, "<sup><a href=\"#fn-%u\">[%u]</a></sup></td>", no, no);
}

/* Row R of the plan as the annex prints it, then every unit's score on it. */
static void html_annex_row(const struct annex_input *in, size_t r, struct sbuf *sb,
			   const struct footnotes *fn)
{
	const struct plan *p = in->plan;
	const struct plan_row *row = &p->rows[r];

	/* The row id, not the printed 序号: the seed prints 2 twice and
	 * leaves continuation rows blank, and the id is what every
	 * command and footnote names. */
	SBUF_LIT(sb, "<tr data-row=\"");
	html_text(sb, row->id);
	SBUF_LIT(sb, "\"><td class=\"seq\">");
	html_text(sb, row->id);
	SBUF_LIT(sb, "</td><td class=\"cat\">");
	html_text(sb, row->annex_category);
	SBUF_LIT(sb, "</td><td class=\"dept\">");
	if (row->dept >= 0 && (size_t)row->dept < p->ndepts)
		html_text(sb, p->depts[row->dept].name);
	SBUF_LIT(sb, "</td><td class=\"content\">");
	html_text(sb, row->content);
	SBUF_LIT(sb, "</td><td class=\"node\">");
	html_text(sb, row->time_node);
	SBUF_LIT(sb, "</td>");
	html_long_text(sb, row->standard);
	html_long_text(sb, row->scoring);
	SBUF_LIT(sb, "<td class=\"num max\">");
	points(sb, row->max);
	SBUF_LIT(sb, "</td>");
	for (size_t u = 0; u < in->t->nunits; u++)
		html_annex_score(in, u, r, sb, fn);
	SBUF_LIT(sb, "</tr>\n");
}

/* The table's foot: each category's subtotal, the total and the rank; the table's end. */
static void html_annex_foot(const struct annex_input *in, struct sbuf *sb)
{
	const struct plan *p = in->plan;
	const struct score_table *t = in->t;

	SBUF_LIT(sb, "</tbody>\n<tfoot>\n");
	for (size_t c = 0; c < p->ncats; c++) {
		struct sbuf label;
		sbuf_init(&label);
		html_text(&label, p->cats[c].name);
		SBUF_LIT(&label, "小计");
		html_foot_open(sb, "subtotal", label.buf);
		sbuf_free(&label);
		SBUF_LIT(sb, "<td class=\"num max\">");
		points(sb, p->cats[c].max);
		SBUF_LIT(sb, "</td>");
		for (size_t u = 0; u < t->nunits; u++) {
			SBUF_LIT(sb, "<td>");
			points(sb, t->cats[u * t->ncats + c]);
			SBUF_LIT(sb, "</td>");
		}
		SBUF_LIT(sb, "</tr>\n");
	}
	html_foot_open(sb, "sum", "总分");
	SBUF_LIT(sb, "<td class=\"num max\">");
	points(sb, p->total);
	SBUF_LIT(sb, "</td>");
	for (size_t u = 0; u < t->nunits; u++) {
		SBUF_LIT(sb, "<td class=\"total\">");
		points(sb, t->total[u]);
		SBUF_LIT(sb, "</td>");
	}
	SBUF_LIT(sb, "</tr>\n");
	html_foot_open(sb, "rankrow", "名次");
	SBUF_LIT(sb, "<td></td>");
	for (size_t u = 0; u < t->nunits; u++)
		sbuf_printf(sb, "<td>%d</td>", t->rank[u]);
	SBUF_LIT(sb, "</tr>\n</tfoot></table></div>\n");
}

/* The annex table: the plan's rows with every unit's scores, then the footnotes. */
static void html_annex(const struct annex_input *in, struct sbuf *sb)
{
	struct footnotes fn;

	footnotes_build(in, &fn);
	html_annex_head(in, sb);
	for (size_t r = 0; r < in->plan->nrows; r++)
		html_annex_row(in, r, sb, &fn);
	html_annex_foot(in, sb);
	if (fn.n > 0) {
		SBUF_LIT(sb, "<ol class=\"footnotes\">\n");
		sbuf_add(sb, fn.text.buf, fn.text.len);
		SBUF_LIT(sb, "</ol>\n");
	}
	footnotes_free(&fn);
}

void annex_html(const struct annex_input *in, struct sbuf *out)
{
	const struct plan *p = in->plan;
	struct sbuf title;
	char period[64], as_of[64];

	assert(in->t->nunits == p->nunits && in->t->nrows == p->nrows && in->t->ncats == p->ncats);

	zh_period(in->period, period, sizeof(period));
	zh_instant(in->as_of, as_of, sizeof(as_of));
	sbuf_init(&title);
	results_title(&title, p);
	SBUF_LIT(&title, " ");
	html_text(&title, period);
	if (in->provisional)
		SBUF_LIT(&title, "（临时）");
	page_open(out, title.buf);

	SBUF_LIT(out, "<header>\n<h1>");
	sbuf_add(out, title.buf, title.len);
	SBUF_LIT(out, "</h1>\n");
	sbuf_free(&title);
	if (in->provisional)
		SBUF_LIT(out, "<p class=\"provisional\" role=\"note\">" PROVISIONAL_NOTE "</p>\n");
	redated_banner(out, p);
	SBUF_LIT(out, "<dl class=\"meta\">");
	meta_item(out, "文号", p->document);
	meta_item(out, "考核期", period);
	meta_item(out, in->provisional ? "数据截至" : "快照时间", as_of);
	SBUF_LIT(out, "</dl>\n<nav class=\"screen\"><a href=\"../index.html\">全部年度</a> · "
		      "<a href=\"index.html\">全部考核期</a> · <a href=\"");
	url_path(out, in->period);
	SBUF_LIT(out, ".csv\">CSV</a> · <a href=\"");
	url_path(out, in->period);
	SBUF_LIT(out, ".json\">JSON</a></nav>\n</header>\n<main>\n");

	SBUF_LIT(out, "<section>\n<h2>排名</h2>\n");
	html_ranking(in, out);
	html_chart(in, out);
	SBUF_LIT(out, "</section>\n<section>\n<h2>考核标准及得分</h2>\n");
	html_annex(in, out);
	SBUF_LIT(out, "</section>\n</main>\n<footer><p>");
	html_text(out, p->title);
	if (p->document && *p->document) {
		SBUF_LIT(out, "（");
		html_text(out, p->document);
		SBUF_LIT(out, "）");
	}
	SBUF_LIT(out,
		 "附件考核标准，各单位得分由扣分记录逐项计算。</p></footer>\n</body>\n</html>\n");
}

/* ---- the CSV -------------------------------------------------------------- */

/*
 * Append S as one CSV field.  Text that a spreadsheet would take for a
 * formula (a leading = + - @, or a tab or CR that some strip before
 * looking) gets a leading apostrophe, which Excel and LibreOffice show
 * as text; numbers never come through here (csv_points), so "-1" as a
 * score would stay a number — scores are never negative anyway.  A field
 * with a comma, quote, CR or LF is quoted, quotes doubled (RFC 4180).
 */
static void csv_text(struct sbuf *sb, const char *s)
{
	bool quote;

	if (s == NULL)
		return;
	quote = strpbrk(s, ",\"\r\n") != NULL;
	if (quote)
		SBUF_LIT(sb, "\"");
	if (s[0] != '\0' && strchr("=+-@\t\r", s[0]) != NULL)
		SBUF_LIT(sb, "'");
	for (const char *q; (q = strchr(s, '"')) != NULL; s = q + 1) {
		sbuf_add(sb, s, (size_t)(q - s + 1));
		SBUF_LIT(sb, "\"");
	}
	sbuf_puts(sb, s);
	if (quote)
		SBUF_LIT(sb, "\"");
}

/* The text fields after 序号 of a summary line: LABEL in 类别, the rest empty. */
static void csv_label(struct sbuf *sb, const char *label, const char *suffix)
{
	struct sbuf l;

	SBUF_LIT(sb, ",");
	sbuf_init(&l);
	sbuf_puts(&l, label ? label : "");
	sbuf_puts(&l, suffix);
	csv_text(sb, l.buf);
	sbuf_free(&l);
	for (int i = 2; i < TEXT_COLUMNS; i++)
		SBUF_LIT(sb, ",");
	SBUF_LIT(sb, ",");
}

/*
 * Row 1 is always the header, so a program can read the columns by name;
 * a provisional standing says so on one extra line after the 名次 line
 * (its note in the 类别 column, like the summary lines' labels) rather
 * than above the header.  Every line has the same number of fields.
 */
void annex_csv(const struct annex_input *in, struct sbuf *out)
{
	const struct plan *p = in->plan;
	const struct score_table *t = in->t;

	assert(t->nunits == p->nunits && t->nrows == p->nrows && t->ncats == p->ncats);

	SBUF_LIT(out, "\xEF\xBB\xBF序号,类别,责任部门,考核内容,时间节点,工作标准,评分办法,分值");
	for (size_t u = 0; u < t->nunits; u++) {
		SBUF_LIT(out, ",");
		csv_text(out, p->units[u].name);
	}
	SBUF_LIT(out, "\r\n");

	for (size_t r = 0; r < p->nrows; r++) {
		const struct plan_row *row = &p->rows[r];
		csv_text(out, row->id);
		SBUF_LIT(out, ",");
		csv_text(out, row->annex_category);
		SBUF_LIT(out, ",");
		if (row->dept >= 0 && (size_t)row->dept < p->ndepts)
			csv_text(out, p->depts[row->dept].name);
		SBUF_LIT(out, ",");
		csv_text(out, row->content);
		SBUF_LIT(out, ",");
		csv_text(out, row->time_node);
		SBUF_LIT(out, ",");
		csv_text(out, row->standard);
		SBUF_LIT(out, ",");
		csv_text(out, row->scoring);
		SBUF_LIT(out, ",");
		points(out, row->max);
		for (size_t u = 0; u < t->nunits; u++) {
			SBUF_LIT(out, ",");
			points(out, t->rows[u * t->nrows + r]);
		}
		SBUF_LIT(out, "\r\n");
	}

	for (size_t c = 0; c < p->ncats; c++) {
		csv_label(out, p->cats[c].name, "小计");
		points(out, p->cats[c].max);
		for (size_t u = 0; u < t->nunits; u++) {
			SBUF_LIT(out, ",");
			points(out, t->cats[u * t->ncats + c]);
		}
		SBUF_LIT(out, "\r\n");
	}
	csv_label(out, "总分", "");
	points(out, p->total);
	for (size_t u = 0; u < t->nunits; u++) {
		SBUF_LIT(out, ",");
		points(out, t->total[u]);
	}
	SBUF_LIT(out, "\r\n");
	csv_label(out, "名次", "");
	for (size_t u = 0; u < t->nunits; u++)
		sbuf_printf(out, ",%d", t->rank[u]);
	SBUF_LIT(out, "\r\n");

	if (in->provisional) {
		struct sbuf note;
		sbuf_init(&note);
		SBUF_LIT(&note, PROVISIONAL_NOTE);
		if (in->as_of && *in->as_of) {
			char as_of[64];
			SBUF_LIT(&note, " 数据截至");
			sbuf_puts(&note, zh_instant(in->as_of, as_of, sizeof(as_of)));
		}
		csv_label(out, note.buf, "");
		sbuf_free(&note);
		for (size_t u = 0; u < t->nunits; u++)
			SBUF_LIT(out, ",");
		SBUF_LIT(out, "\r\n");
	}
}

/* ---- the index ------------------------------------------------------------- */

struct dated {
	const struct annex_entry *e;
	size_t i;
};

static int dated_cmp(const void *a, const void *b)
{
	const struct dated *x = a, *y = b;
	int c = strcmp(x->e->period ? x->e->period : "", y->e->period ? y->e->period : "");

	/* Newest first; the caller's order breaks ties. */
	if (c != 0)
		return -c;
	return x->i < y->i ? -1 : x->i > y->i;
}

/*
 * Periods are named so that their names sort as time does ("2020-Q2" <
 * "2020-Q3" < "2021-Q1"), so newest first is the names in descending
 * order, whatever order the caller keeps them in.
 */
void annex_index_html(const struct plan *p, const struct annex_entry *e, size_t n, struct sbuf *out)
{
	struct dated *d = xcalloc(n + 1, sizeof(*d));
	struct sbuf title;
	char buf[64];

	for (size_t i = 0; i < n; i++)
		d[i] = (struct dated){ .e = &e[i], .i = i };
	qsort(d, n, sizeof(*d), dated_cmp);

	sbuf_init(&title);
	results_title(&title, p);
	page_open(out, title.buf);
	SBUF_LIT(out, "<header>\n<h1>");
	sbuf_add(out, title.buf, title.len);
	SBUF_LIT(out, "</h1>\n<dl class=\"meta\">");
	sbuf_free(&title);
	meta_item(out, "文号", p->document);
	SBUF_LIT(out, "</dl>\n");
	redated_banner(out, p);
	SBUF_LIT(out, "<nav class=\"screen\"><a href=\"../index.html\">全部年度</a></nav>\n"
		      "</header>\n<main>\n<section>\n<h2>各考核期排名</h2>\n");

	if (n == 0) {
		SBUF_LIT(out, "<p>尚无考核结果。</p>\n");
	} else {
		SBUF_LIT(out, "<div class=\"scroll\"><table id=\"periods\">\n<thead><tr>"
			      "<th scope=\"col\">考核期</th><th scope=\"col\">快照时间</th>"
			      "<th scope=\"col\">第一名</th><th scope=\"col\">总分</th>"
			      "<th scope=\"col\">下载</th></tr></thead>\n<tbody>\n");
		for (size_t i = 0; i < n; i++) {
			const struct annex_entry *x = d[i].e;
			SBUF_LIT(out, "<tr data-period=\"");
			html_text(out, x->period);
			SBUF_LIT(out, "\"><th scope=\"row\"><a href=\"");
			url_path(out, x->period);
			SBUF_LIT(out, ".html\">");
			html_text(out, zh_period(x->period, buf, sizeof(buf)));
			SBUF_LIT(out, "</a></th><td>");
			html_text(out, zh_instant(x->as_of, buf, sizeof(buf)));
			SBUF_LIT(out, "</td><td class=\"first\">");
			/* Ties say so: "八一路等5个单位并列第一", not one name. */
			if (x->first == NULL || x->nfirst == 0) {
				SBUF_LIT(out, "—");
			} else {
				html_text(out, x->first);
				if (x->nfirst > 1)
					sbuf_printf(out, "等%d个单位并列第一", x->nfirst);
			}
			SBUF_LIT(out, "</td><td class=\"num total\">");
			points(out, x->first_total);
			SBUF_LIT(out, "</td><td><a href=\"");
			url_path(out, x->period);
			SBUF_LIT(out, ".csv\">CSV</a> · <a href=\"");
			url_path(out, x->period);
			SBUF_LIT(out, ".json\">JSON</a></td></tr>\n");
		}
		SBUF_LIT(out, "</tbody></table></div>\n");
	}

	SBUF_LIT(out, "</section>\n<section>\n<h2>日历订阅</h2>\n"
		      "<p class=\"hint\">在日历应用中订阅，即可收到各时间节点及提醒。</p>\n"
		      "<ul class=\"feeds\">\n<li><a href=\"all.ics\">全部单位</a></li>\n");
	for (size_t u = 0; u < p->nunits; u++) {
		SBUF_LIT(out, "<li><a href=\"");
		url_path(out, p->units[u].id);
		SBUF_LIT(out, ".ics\">");
		html_text(out, p->units[u].name);
		SBUF_LIT(out, "</a></li>\n");
	}
	SBUF_LIT(out, "</ul>\n</section>\n</main>\n</body>\n</html>\n");
	free(d);
}

void annex_years_html(const struct plan *const *plans, size_t n, struct sbuf *out)
{
	const struct plan **by = xcalloc(n + 1, sizeof(*by));

	/* Newest first, as the periods of a year are. */
	for (size_t i = 0; i < n; i++) {
		size_t k = i;
		while (k > 0 && by[k - 1]->year < plans[i]->year) {
			by[k] = by[k - 1];
			k--;
		}
		by[k] = plans[i];
	}
	page_open(out, "考核结果");
	SBUF_LIT(out, "<header>\n<h1>考核结果</h1>\n</header>\n<main>\n<section>\n"
		      "<h2>各年度</h2>\n");
	if (n == 0)
		SBUF_LIT(out, "<p>尚无考核年度。</p>\n");
	else
		SBUF_LIT(out, "<ul class=\"years\">\n");
	for (size_t i = 0; i < n; i++) {
		const struct plan *p = by[i];
		sbuf_printf(out, "<li data-year=\"%d\"><a href=\"%d/index.html\">%d年度</a>",
			    p->year, p->year, p->year);
		SBUF_LIT(out, "：");
		results_title(out, p);
		if (p->document && *p->document) {
			SBUF_LIT(out, "（");
			html_text(out, p->document);
			SBUF_LIT(out, "）");
		}
		if (plan_redated(p)) {
			char note[1024];
			plan_redated_note(p, note, sizeof(note));
			SBUF_LIT(out, "<br><span class=\"hint\">");
			html_text(out, note);
			SBUF_LIT(out, "</span>");
		}
		SBUF_LIT(out, "</li>\n");
	}
	if (n > 0)
		SBUF_LIT(out, "</ul>\n");
	SBUF_LIT(out, "</section>\n</main>\n</body>\n</html>\n");
	free(by);
}
