/*
 * test_annex — the published page, sheet and index of a period: the
 * ranking in rank order, the annex table with the seed's columns (工作标准
 * and 评分办法 collapsed in <details>), its losses as titles and
 * footnotes (shared by the cells of a row with the same reasons), the
 * sticky first columns, the bar chart, periods and instants in Chinese,
 * the provisional mark, HTML escaping of a hostile unit name everywhere,
 * no script and no external URL; the CSV's BOM, CRLF, RFC 4180 quoting
 * and formula guard, read back with a small parser; the index newest
 * first with its links, the periods' ends and ties.
 *
 * Two plans: the shipped 2020 one with made-up scores, and a small plan
 * built by hand whose unit name, department and row text are hostile.
 * (integration.publish looks at real pages in a browser.)
 */
#include <ctype.h>
#include <stdio.h>
#include <strings.h>
#include <stdlib.h>
#include <string.h>

#include "kaohe/annex.h"
#include "kaohe/util.h"
#include "support.h"

#define HOSTILE      "<script>alert(1)</script>\"a,b"
#define HOSTILE_HTML "&lt;script&gt;alert(1)&lt;/script&gt;&quot;a,b"
#define BANNER       "临时排名（尚未发布的快照，仅供参考）"

/* ---- text helpers ------------------------------------------------------- */

/* How often NEEDLE occurs in HAY (non-overlapping). */
static size_t count(const char *hay, const char *needle)
{
	size_t n = 0, k = strlen(needle);

	for (const char *s = hay; (s = strstr(s, needle)) != NULL; s += k)
		n++;
	return n;
}

/* How often NEEDLE occurs in HAY, ignoring ASCII case. */
static size_t count_nocase(const char *hay, const char *needle)
{
	size_t n = 0, k = strlen(needle);

	for (const char *s = hay; *s; s++)
		if (strncasecmp(s, needle, k) == 0)
			n++;
	return n;
}

/* A copy of HAY from FROM up to and including the first TO after it; or fail. */
static char *section(const char *hay, const char *from, const char *to)
{
	const char *a = strstr(hay, from), *b;

	if (a == NULL)
		fail_msg("no \"%s\"", from);
	b = strstr(a, to);
	if (b == NULL)
		fail_msg("no \"%s\" after \"%s\"", to, from);
	b += strlen(to);
	char *s = malloc((size_t)(b - a) + 1);
	assert_non_null(s);
	memcpy(s, a, (size_t)(b - a));
	s[b - a] = '\0';
	return s;
}

/* The text after each PREFIX in HAY up to the next STOP, in order, into OUT[MAX]. */
static size_t pick(const char *hay, const char *prefix, char stop, char out[][64], size_t max)
{
	size_t n = 0;

	for (const char *s = hay; (s = strstr(s, prefix)) != NULL && n < max;) {
		s += strlen(prefix);
		size_t k = strcspn(s, (char[]){ stop, '\0' });
		assert_true(k < 64);
		memcpy(out[n], s, k);
		out[n][k] = '\0';
		n++;
		s += k;
	}
	return n;
}

/* Tags open and close in equal numbers: a sanity check of the structure. */
static void expect_balanced(const char *html)
{
	static const char *const tags[] = { "table", "thead",   "tbody",  "tfoot", "tr",
					    "td",    "th",      "svg",    "g",     "text",
					    "title", "section", "ol",     "li",    "sup",
					    "a",     "div",     "figure", "dl",    "p" };
	for (size_t i = 0; i < sizeof(tags) / sizeof(tags[0]); i++) {
		char open1[32], open2[32], close[32];
		snprintf(open1, sizeof(open1), "<%s>", tags[i]);
		snprintf(open2, sizeof(open2), "<%s ", tags[i]);
		snprintf(close, sizeof(close), "</%s>", tags[i]);
		size_t o = count(html, open1) + count(html, open2), c = count(html, close);
		if (o != c)
			fail_msg("<%s>: %zu opened, %zu closed", tags[i], o, c);
	}
	assert_int_equal(count(html, "<html"), 1);
	assert_int_equal(count(html, "</html>"), 1);
	assert_int_equal(count(html, "<body>"), 1);
	assert_int_equal(count(html, "</body>"), 1);
}

/*
 * What a self-contained page never has: a script, an element that loads
 * anything, an absolute URL.  Every href is a relative path or a
 * fragment (no scheme, no "//").
 */
static void expect_self_contained(const char *html)
{
	static const char *const banned[] = { "<script", "<img",    "<link",  "<iframe", "<object",
					      "<embed",  "<audio",  "<video", "<base",   "http:",
					      "https:",  "@import", "url(",   "xlink:" };
	for (size_t i = 0; i < sizeof(banned) / sizeof(banned[0]); i++)
		if (count_nocase(html, banned[i]) != 0)
			fail_msg("the page has \"%s\"", banned[i]);
	for (const char *s = html; (s = strstr(s, "href=\"")) != NULL;) {
		s += 6;
		size_t n = strcspn(s, "\"");
		if (memchr(s, ':', n) != NULL || (n >= 2 && s[0] == '/' && s[1] == '/'))
			fail_msg("href=\"%.*s\" is not relative", (int)n, s);
		s += n;
	}
}

/* ---- a small RFC 4180 reader ------------------------------------------------ */

#define CSV_MAXF 16
#define CSV_MAXR 64

struct csv {
	char *f[CSV_MAXR][CSV_MAXF];
	size_t nf[CSV_MAXR];
	size_t nr;
};

/*
 * Parse S (after the BOM): records end in CRLF, fields are plain or
 * quoted with doubled quotes inside.  Fails the test on anything else: a
 * bare CR or LF outside quotes, a quote inside a plain field, text after
 * a closing quote, a missing final CRLF.
 */
static void csv_parse(const char *s, struct csv *c)
{
	memset(c, 0, sizeof(*c));
	while (*s) {
		assert_true(c->nr < CSV_MAXR);
		size_t r = c->nr++;
		for (;;) {
			struct sbuf f;
			sbuf_init(&f);
			sbuf_add(&f, "", 0);
			if (*s == '"') {
				for (s++;; s++) {
					if (*s == '\0')
						fail_msg("unterminated quoted field");
					if (*s == '"' && s[1] == '"') {
						sbuf_add(&f, "\"", 1);
						s++;
					} else if (*s == '"') {
						s++;
						break;
					} else {
						sbuf_add(&f, s, 1);
					}
				}
			} else {
				for (; *s && *s != ',' && *s != '\r' && *s != '\n'; s++) {
					if (*s == '"')
						fail_msg("quote inside a plain field");
					sbuf_add(&f, s, 1);
				}
			}
			assert_true(c->nf[r] < CSV_MAXF);
			c->f[r][c->nf[r]++] = f.buf;
			if (*s == ',') {
				s++;
				continue;
			}
			if (s[0] == '\r' && s[1] == '\n') {
				s += 2;
				break;
			}
			fail_msg("record %zu: expected , or CRLF, got byte %d", r + 1, *s);
		}
	}
}

static void csv_free(struct csv *c)
{
	for (size_t r = 0; r < c->nr; r++)
		for (size_t i = 0; i < c->nf[r]; i++)
			free(c->f[r][i]);
}

/* Every LF is preceded by CR. */
static void expect_crlf_only(const char *s)
{
	for (const char *p = s; (p = strchr(p, '\n')) != NULL; p++)
		if (p == s || p[-1] != '\r')
			fail_msg("bare LF at byte %zu", (size_t)(p - s));
	for (const char *p = s; (p = strchr(p, '\r')) != NULL; p++)
		if (p[1] != '\n')
			fail_msg("bare CR at byte %zu", (size_t)(p - s));
}

/* ---- score tables by hand ----------------------------------------------------- */

/* T from row scores ROWS[unit * nrows + row]: categories, totals, ranks. */
static void table_from_rows(const struct plan *p, const int64_t *rows, struct score_table *t)
{
	t->nunits = p->nunits;
	t->nrows = p->nrows;
	t->ncats = p->ncats;
	t->rows = xcalloc(p->nunits * p->nrows + 1, sizeof(int64_t));
	t->cats = xcalloc(p->nunits * p->ncats + 1, sizeof(int64_t));
	t->total = xcalloc(p->nunits + 1, sizeof(int64_t));
	t->rank = xcalloc(p->nunits + 1, sizeof(int));
	for (size_t u = 0; u < p->nunits; u++)
		for (size_t r = 0; r < p->nrows; r++) {
			int64_t v = rows[u * p->nrows + r];
			t->rows[u * p->nrows + r] = v;
			t->cats[u * p->ncats + (size_t)p->rows[r].category] += v;
			t->total[u] += v;
		}
	score_rank(t->total, NULL, p->nunits, true, t->rank);
}

/* ---- the shipped plan with made-up scores -------------------------------------- */

/* What each unit lost, and why. */
static const struct {
	int unit;
	const char *row;
	int64_t points;
	const char *why;
} losses[] = {
	{ 0, "2c", 100, "2020年12月11日 逾期报送 -1分" },
	{ 0, "4", 200,
	  "2020年6月21日 逾期报送 -1分（6月20日节点）\n"
	  "2020年9月21日 逾期报送 -1分（9月20日节点）" },
	{ 1, "3", 300, "2020年12月31日 排名扣分 -3分" },
	{ 2, "6c", 60, "2020年8月3日 推诿扯皮×3 -0.6分" },
	{ 4, "1", 300, "2020年10月1日 未报送 -3分" },
	{ 4, "7a", 50, "2020年7月15日 台账不全 -0.5分" },
};
#define NLOSSES (sizeof(losses) / sizeof(losses[0]))

/*
 * Totals: 八一路 97, 人民广场 97, 白云 99.4, 日新 100, 香炉礁 96.5; so
 * ranks 3 3 2 1 5, and the ranking reads 日新 白云 八一路 人民广场 香炉礁
 * (the tie in plan order).
 */
static const char *const want_order[5] = { "rixin", "baiyun", "bayilu", "renminguangchang",
					   "xianglujiao" };
static const char *const want_totals[5] = { "100", "99.4", "97", "97", "96.5" };

static const char *const periods3[3] = { "2020-Q2", "2020-Q3", "2020-Q4" };
static const char *const zh3[3] = { "2020年第二季度", "2020年第三季度", "2020年第四季度" };

struct shipped {
	struct score_table t;
	const char **lost;
	int64_t history[3 * 5];
	struct annex_input in;
};

static struct shipped *shipped_new(bool provisional, size_t nperiods)
{
	const struct plan *p = g_cfg->plan;
	struct shipped *s = calloc(1, sizeof(*s));
	int64_t *rows = calloc(p->nunits * p->nrows, sizeof(int64_t));

	assert_non_null(s);
	assert_non_null(rows);
	assert_int_equal(p->nunits, 5);
	s->lost = calloc(p->nunits * p->nrows, sizeof(*s->lost));
	for (size_t u = 0; u < p->nunits; u++)
		for (size_t r = 0; r < p->nrows; r++)
			rows[u * p->nrows + r] = p->rows[r].max;
	for (size_t i = 0; i < NLOSSES; i++) {
		int r = plan_row_find(p, losses[i].row);
		assert_true(r >= 0);
		rows[(size_t)losses[i].unit * p->nrows + (size_t)r] -= losses[i].points;
		s->lost[(size_t)losses[i].unit * p->nrows + (size_t)r] = losses[i].why;
	}
	table_from_rows(p, rows, &s->t);
	free(rows);

	/* The history: Q2 and Q3 made up, the last period this one. */
	for (size_t u = 0; u < 5; u++) {
		s->history[0 * 5 + u] = 10000 - 50 * (int64_t)u;
		s->history[1 * 5 + u] = 9900 - 80 * (int64_t)u;
		s->history[(nperiods - 1) * 5 + u] = s->t.total[u];
	}
	s->in = (struct annex_input){
		.plan = p,
		.period = periods3[nperiods - 1],
		.provisional = provisional,
		.as_of = "2021-01-01T00:00:00+08:00",
		.t = &s->t,
		.lost = s->lost,
		.nperiods = nperiods,
		.periods = periods3,
		.totals = s->history,
	};
	return s;
}

static void shipped_free(struct shipped *s)
{
	score_free(&s->t);
	free(s->lost);
	free(s);
}

static char *render_html(const struct annex_input *in)
{
	struct sbuf sb;
	sbuf_init(&sb);
	annex_html(in, &sb);
	return sb.buf;
}

static char *render_csv(const struct annex_input *in)
{
	struct sbuf sb;
	sbuf_init(&sb);
	annex_csv(in, &sb);
	return sb.buf;
}

static void html_head_is_standard(void **state)
{
	(void)state;
	struct shipped *s = shipped_new(false, 3);
	char *h = render_html(&s->in);

	assert_true(strncmp(h, "<!DOCTYPE html>\n<html lang=\"zh-CN\">", 35) == 0);
	assert_int_equal(count(h, "<meta charset=\"utf-8\">"), 1);
	assert_int_equal(count(h, "<meta name=\"viewport\" content=\"width=device-width, "
				  "initial-scale=1\">"),
			 1);
	assert_int_equal(count(h, "<style>"), 1);
	assert_int_equal(count(h, "@page{size:A4 landscape;margin:10mm}"), 1);
	assert_int_equal(count(h, "@media print"), 1);
	assert_int_equal(count(h, "<title>西岗区2020年街道办事处居住小区管理工作考核结果 "
				  "2020年第四季度</title>"),
			 1);
	assert_non_null(strstr(h, "西政办发〔2020〕17号"));
	/* the period and the instant as readers say them; the snapshot is of the period's end */
	assert_non_null(strstr(h, "<dt>考核期</dt><dd>2020年第四季度</dd>"));
	assert_non_null(strstr(h, "<dt>快照时间</dt><dd>2020年12月31日24时</dd>"));
	assert_null(strstr(h, "2021-01-01T"));
	assert_null(strstr(h, "2020-Q4<"));
	/* nothing that changes from one publication to the next */
	assert_null(strstr(h, "生成时间"));
	expect_self_contained(h);
	expect_balanced(h);
	free(h);
	shipped_free(s);
}

static void html_ranking_in_rank_order(void **state)
{
	(void)state;
	struct shipped *s = shipped_new(false, 3);
	char *h = render_html(&s->in);
	char *rk = section(h, "<table id=\"ranking\">", "</table>");
	char ids[8][64], totals[8][64], ranks[8][64];

	assert_int_equal(count(rk, "<tr data-unit=\""), 5);
	assert_int_equal(pick(rk, "<tr data-unit=\"", '"', ids, 8), 5);
	assert_int_equal(pick(rk, "<td class=\"num total\">", '<', totals, 8), 5);
	assert_int_equal(pick(rk, "<td class=\"num rank\">", '<', ranks, 8), 5);
	for (size_t i = 0; i < 5; i++) {
		assert_string_equal(ids[i], want_order[i]);
		assert_string_equal(totals[i], want_totals[i]);
		assert_int_equal(count(rk, shipped_unit_names[i]), 1);
	}
	assert_string_equal(ranks[0], "1");
	assert_string_equal(ranks[1], "2");
	assert_string_equal(ranks[2], "3");
	assert_string_equal(ranks[3], "3");
	assert_string_equal(ranks[4], "5");
	/* one column per category, by the plan's names */
	assert_non_null(strstr(rk, ">基本工作</th>"));
	assert_non_null(strstr(rk, ">重点工作</th>"));
	/* 八一路: basic 85 - 3 = 82, key 15 */
	char *row = section(rk, "<tr data-unit=\"bayilu\">", "</tr>");
	assert_non_null(strstr(row, "<td class=\"num cat\">82</td><td class=\"num cat\">15</td>"));
	free(row);
	free(rk);
	free(h);
	shipped_free(s);
}

static void html_annex_rows_and_losses(void **state)
{
	(void)state;
	struct shipped *s = shipped_new(false, 3);
	const struct plan *p = g_cfg->plan;
	char *h = render_html(&s->in);
	char *ax = section(h, "<table id=\"annex\">", "</table>");

	assert_int_equal(count(ax, "<tr data-row=\""), p->nrows);
	assert_int_equal(count(ax, "<tr class=\"subtotal\">"), p->ncats);
	assert_int_equal(count(ax, "<tr class=\"sum\">"), 1);
	/* the seed's columns, in its order, then the units' */
	char *head = section(ax, "<thead>", "</thead>");
	static const char *const cols[] = { "序号",     "类别",     "责任部门", "考核内容",
					    "时间节点", "工作标准", "评分办法", "分值" };
	const char *at = head;
	for (size_t i = 0; i < 8; i++) {
		char want[64];
		snprintf(want, sizeof(want), ">%s</th>", cols[i]);
		const char *q = strstr(head, want);
		if (q == NULL || q < at)
			fail_msg("column %s missing or out of order", cols[i]);
		at = q;
	}
	assert_int_equal(count(head, "<th scope=\"col\" id=\"unit-"), p->nunits);
	assert_non_null(strstr(head, "<th scope=\"col\" id=\"unit-bayilu\" data-unit=\"bayilu\">"
				     "八一路</th>"));
	/* 序号 and 考核内容 are the columns that stay in view */
	assert_non_null(strstr(head, "<th scope=\"col\" class=\"seq\">序号</th>"));
	assert_non_null(strstr(head, "<th scope=\"col\" class=\"content\">考核内容</th>"));
	free(head);

	/* row 1 as the seed prints it, then 香炉礁's 0 with its loss */
	char *r1 = section(ax, "<tr data-row=\"1\">", "</tr>");
	assert_non_null(strstr(r1, "<td class=\"seq\">1</td><td class=\"cat\">常规工作</td>"
				   "<td class=\"dept\">区住建局</td>"));
	assert_non_null(strstr(r1, "<td class=\"content\">打造“红色物业”示范项目"));
	/* the long texts collapsed behind their first words, whole inside */
	assert_non_null(strstr(r1, "<td class=\"node\">9月15日</td><td class=\"text\"><details>"
				   "<summary><span class=\"ex\">开展“红色物业”组建工作，9…</span>"
				   "</summary>开展“红色物业”组建工作，9月15日之前"));
	assert_non_null(strstr(r1, "报送工作落实情况及相关图片证明。（满分3分）</details></td>"));
	assert_non_null(strstr(r1,
			       "<td class=\"text\"><details><summary><span class=\"ex\">"
			       "9月15日前报送不扣分，9月…</span></summary>"
			       "9月15日前报送不扣分，9月15日后报送扣2分，未报送扣3分。</details>"
			       "</td><td class=\"num max\">3</td>"));
	assert_non_null(strstr(r1, "<td class=\"lost\" title=\"2020年10月1日 未报送 -3分\">0"
				   "<sup><a href=\"#fn-1\">[1]</a></sup></td></tr>"));
	assert_non_null(strstr(r1, "<td class=\"num max\">3</td><td>3</td>"));
	free(r1);
	/* a short text stays as it is; no details opened by default */
	assert_int_equal(count(ax, "<details>"), count(ax, "</details>"));
	assert_true(count(ax, "<details>") >= p->nrows);
	assert_int_equal(count(ax, "<details open"), 0);
	char *r18 = section(ax, "<tr data-row=\"18\">", "</tr>");
	assert_int_equal(count(r18, "<details>"), 2);
	free(r18);

	/* two lines of loss: one title, the lines as &#10; */
	assert_non_null(strstr(ax, "<td class=\"lost\" title=\"2020年6月21日 逾期报送 -1分"
				   "（6月20日节点）&#10;2020年9月21日 逾期报送 -1分"
				   "（9月20日节点）\">6<sup"));

	/* every loss marked and footnoted, numbered in table order */
	assert_int_equal(count(ax, "<td class=\"lost\""), NLOSSES);
	assert_int_equal(count(ax, "<sup>"), NLOSSES);
	char *fn = section(h, "<ol class=\"footnotes\">", "</ol>");
	assert_int_equal(count(fn, "<li id=\"fn-"), NLOSSES);
	assert_non_null(strstr(fn, "<li id=\"fn-1\">[1] 第1项 香炉礁：2020年10月1日 未报送 -3分"
				   "</li>"));
	assert_non_null(strstr(fn, "第4项 八一路：2020年6月21日 逾期报送 -1分（6月20日节点）<br>"
				   "2020年9月21日 逾期报送 -1分（9月20日节点）</li>"));
	for (size_t i = 1; i <= NLOSSES; i++) {
		char ref[32];
		snprintf(ref, sizeof(ref), "<a href=\"#fn-%zu\">[%zu]</a>", i, i);
		assert_int_equal(count(ax, ref), 1);
	}
	free(fn);

	/* totals and ranks at the foot, in plan order, the label where the content is */
	char *sum = section(ax, "<tr class=\"sum\">", "</tr>");
	assert_non_null(strstr(sum, "<td class=\"seq\"></td><td colspan=\"2\"></td>"
				    "<th scope=\"row\" class=\"content\">总分</th>"
				    "<td colspan=\"3\"></td><td class=\"num max\">100</td>"
				    "<td class=\"total\">97</td><td class=\"total\">97</td>"
				    "<td class=\"total\">99.4</td><td class=\"total\">100</td>"
				    "<td class=\"total\">96.5</td></tr>"));
	free(sum);
	char *rr = section(ax, "<tr class=\"rankrow\">", "</tr>");
	assert_non_null(strstr(rr, "<td></td><td>3</td><td>3</td><td>2</td><td>1</td>"
				   "<td>5</td></tr>"));
	free(rr);
	char *sub = section(ax, "<tr class=\"subtotal\">", "</tr>");
	assert_non_null(strstr(sub, ">基本工作小计</th><td colspan=\"3\"></td>"
				    "<td class=\"num max\">85</td><td>82</td>"));
	free(sub);

	/* print shows the footnotes and the long texts, hides the hints */
	assert_non_null(strstr(h, ".screen{display:none}"));
	assert_non_null(strstr(h, "<p class=\"hint screen\">"));
	assert_non_null(strstr(h, "summary{display:none}details::details-content{"
				  "content-visibility:visible;display:contents}"));
	/* on a phone the first columns stay while the units' scroll */
	assert_non_null(strstr(h, ".scroll{overflow-x:auto;"));
	assert_non_null(strstr(h, "#annex .seq{position:sticky;left:0;"));
	assert_non_null(strstr(h, "#annex .content{position:sticky;left:3.4em;"));
	free(ax);
	free(h);
	shipped_free(s);
}

/* Cells of one row with the same reasons share a note naming their units. */
static void html_shared_reasons_one_note(void **state)
{
	(void)state;
	struct shipped *s = shipped_new(false, 3);
	const struct plan *p = g_cfg->plan;
	int r1 = plan_row_find(p, "1"), r8 = plan_row_find(p, "8");
	const char *why = "2020年10月1日 未报送 -3分";

	/* 八一路 and 白云 as 香炉礁 on row 1; every unit on row 8 */
	s->lost[0 * p->nrows + (size_t)r1] = why;
	s->lost[2 * p->nrows + (size_t)r1] = why;
	for (size_t u = 0; u < 5; u++)
		s->lost[u * p->nrows + (size_t)r8] = "2020年12月11日 逾期报送 -1分";
	char *h = render_html(&s->in);
	char *fn = section(h, "<ol class=\"footnotes\">", "</ol>");

	assert_int_equal(count(fn, "<li id=\"fn-"), NLOSSES + 1);
	assert_non_null(strstr(fn, "<li id=\"fn-1\">[1] 第1项 八一路、白云、香炉礁："
				   "2020年10月1日 未报送 -3分</li>"));
	assert_non_null(strstr(fn, "第8项 八一路、人民广场、白云等5个单位："
				   "2020年12月11日 逾期报送 -1分</li>"));
	assert_int_equal(count(h, "<a href=\"#fn-1\">[1]</a>"), 3);
	free(fn);
	free(h);
	shipped_free(s);
}

static void html_no_losses_no_footnotes(void **state)
{
	(void)state;
	struct shipped *s = shipped_new(false, 3);
	s->in.lost = NULL;
	char *h = render_html(&s->in);

	assert_int_equal(count(h, "<td class=\"lost\""), 0);
	assert_int_equal(count(h, "<ol class=\"footnotes\">"), 0);
	assert_int_equal(count(h, "<sup"), 0);
	expect_balanced(h);
	free(h);

	/* an empty explanation explains nothing */
	int r = plan_row_find(g_cfg->plan, "8");
	s->lost[(size_t)r] = "";
	s->in.lost = s->lost;
	h = render_html(&s->in);
	assert_int_equal(count(h, "<td class=\"lost\""), NLOSSES);
	free(h);
	shipped_free(s);
}

static void html_provisional_marked(void **state)
{
	(void)state;
	struct shipped *s = shipped_new(true, 3);
	char *h = render_html(&s->in);

	assert_int_equal(count(h, "<p class=\"provisional\" role=\"note\">" BANNER "</p>"), 1);
	assert_int_equal(count(h, "<title>西岗区2020年街道办事处居住小区管理工作考核结果 "
				  "2020年第四季度（临时）</title>"),
			 1);
	assert_non_null(strstr(h, "<dt>数据截至</dt><dd>2020年12月31日24时</dd>"));
	expect_self_contained(h);
	expect_balanced(h);
	free(h);

	s->in.provisional = false;
	h = render_html(&s->in);
	assert_int_equal(count(h, "临时排名"), 0);
	assert_int_equal(count(h, "（临时）"), 0);
	assert_int_equal(count(h, "class=\"provisional\""), 0);
	assert_non_null(strstr(h, "<dt>快照时间</dt>"));
	free(h);
	shipped_free(s);
}

static void html_chart_bars(void **state)
{
	(void)state;
	for (size_t np = 1; np <= 3; np++) {
		struct shipped *s = shipped_new(false, np);
		char *h = render_html(&s->in);
		char *svg = section(h, "<svg ", "</svg>");

		assert_non_null(strstr(svg, "role=\"img\""));
		assert_int_equal(count(svg, "<title"), 1 + 5 * np);
		assert_int_equal(count(svg, "<rect class=\"bar\""), 5 * np);
		assert_int_equal(count(svg, "<rect class=\"swatch\""), np);
		for (size_t i = 0; i < np; i++)
			assert_non_null(strstr(svg, zh3[i]));
		assert_null(strstr(svg, "-Q"));
		/* this period's bars carry this period's totals */
		char t[96];
		snprintf(t, sizeof(t), "<title>香炉礁 %s：96.5</title>", zh3[np - 1]);
		assert_int_equal(count(svg, t), 1);
		/* the full score (100) is 200 units high: 96.5 is 193 */
		assert_true(count(svg, "height=\"193\"") >= 1);
		free(svg);
		free(h);
		shipped_free(s);
	}

	/* no history: this period's totals alone */
	struct shipped *s = shipped_new(false, 1);
	s->in.nperiods = 0;
	s->in.periods = NULL;
	s->in.totals = NULL;
	char *h = render_html(&s->in);
	assert_int_equal(count(h, "<rect class=\"bar\""), 5);
	assert_int_equal(count(h, "<title>日新 2020年第二季度：100</title>"), 1);
	free(h);
	shipped_free(s);
}

static void csv_shipped(void **state)
{
	(void)state;
	struct shipped *s = shipped_new(false, 3);
	const struct plan *p = g_cfg->plan;
	char *c = render_csv(&s->in);
	struct csv rd;

	assert_memory_equal(c, "\xEF\xBB\xBF", 3);
	expect_crlf_only(c);
	csv_parse(c + 3, &rd);
	assert_int_equal(rd.nr, 1 + p->nrows + p->ncats + 2);
	for (size_t r = 0; r < rd.nr; r++)
		assert_int_equal(rd.nf[r], 8 + p->nunits);
	const char *head[] = { "序号",     "类别",     "责任部门", "考核内容",
			       "时间节点", "工作标准", "评分办法", "分值" };
	for (size_t i = 0; i < 8; i++)
		assert_string_equal(rd.f[0][i], head[i]);
	for (size_t u = 0; u < 5; u++)
		assert_string_equal(rd.f[0][8 + u], shipped_unit_names[u]);
	/* row 1, with the seed's texts whole */
	assert_string_equal(rd.f[1][0], "1");
	assert_string_equal(rd.f[1][1], "常规工作");
	assert_string_equal(rd.f[1][2], "区住建局");
	assert_string_equal(rd.f[1][3], p->rows[0].content);
	assert_string_equal(rd.f[1][4], "9月15日");
	assert_string_equal(rd.f[1][5], p->rows[0].standard);
	assert_string_equal(rd.f[1][6], "9月15日前报送不扣分，9月15日后报送扣2分，未报送扣3分。");
	assert_string_equal(rd.f[1][7], "3");
	assert_string_equal(rd.f[1][8], "3");
	assert_string_equal(rd.f[1][12], "0");
	for (size_t r = 0; r < p->nrows; r++) {
		assert_string_equal(rd.f[1 + r][5], p->rows[r].standard ? p->rows[r].standard : "");
		assert_string_equal(rd.f[1 + r][6], p->rows[r].scoring ? p->rows[r].scoring : "");
	}
	/* subtotals, total, rank */
	size_t b = 1 + p->nrows;
	assert_string_equal(rd.f[b][0], "");
	assert_string_equal(rd.f[b][1], "基本工作小计");
	assert_string_equal(rd.f[b][5], "");
	assert_string_equal(rd.f[b][7], "85");
	assert_string_equal(rd.f[b][8], "82");
	assert_string_equal(rd.f[b + 1][1], "重点工作小计");
	assert_string_equal(rd.f[b + 1][7], "15");
	assert_string_equal(rd.f[b + 2][1], "总分");
	assert_string_equal(rd.f[b + 2][7], "100");
	assert_string_equal(rd.f[b + 2][10], "99.4");
	assert_string_equal(rd.f[b + 2][12], "96.5");
	assert_string_equal(rd.f[b + 3][1], "名次");
	assert_string_equal(rd.f[b + 3][7], "");
	assert_string_equal(rd.f[b + 3][8], "3");
	assert_string_equal(rd.f[b + 3][11], "1");
	/* no provisional note on a snapshot */
	assert_int_equal(count(c, "临时排名"), 0);
	csv_free(&rd);
	free(c);

	/* provisional: the header stays row 1, the note is one more line */
	s->in.provisional = true;
	c = render_csv(&s->in);
	expect_crlf_only(c);
	csv_parse(c + 3, &rd);
	assert_int_equal(rd.nr, 1 + p->nrows + p->ncats + 3);
	assert_string_equal(rd.f[0][0], "序号");
	assert_int_equal(rd.nf[rd.nr - 1], 8 + p->nunits);
	assert_string_equal(rd.f[rd.nr - 1][1], BANNER " 数据截至2020年12月31日24时");
	csv_free(&rd);
	free(c);
	shipped_free(s);
}

/* ---- a hostile plan by hand ------------------------------------------------------ */

static char *sdup(const char *s)
{
	char *d = strdup(s);
	assert_non_null(d);
	return d;
}

/*
 * Units 甲 (a), HOSTILE (evil), 丙 (c); departments 区住建局 and
 * "@城管"; rows "1" (=1+1, basic 3), "2a" (a comma and quotes, basic 5),
 * "3" (markup, key 2).
 */
static struct plan *hostile_plan(void)
{
	struct plan *p = plan_new();
	static const char *const uid[] = { "a", "evil", "c" }, *const uname[] = { "甲", HOSTILE,
										  "丙" };

	p->title = sdup("测试区<考核>方案");
	p->document = sdup("测〔2020〕1号 & \"x\"");
	p->total = 1000;
	p->nunits = 3;
	p->units = xcalloc(3, sizeof(*p->units));
	for (size_t u = 0; u < 3; u++) {
		p->units[u].id = sdup(uid[u]);
		p->units[u].name = sdup(uname[u]);
	}
	p->ndepts = 2;
	p->depts = xcalloc(2, sizeof(*p->depts));
	p->depts[0] = (struct plan_dept){ .id = sdup("d1"), .name = sdup("区住建局") };
	p->depts[1] = (struct plan_dept){ .id = sdup("d2"), .name = sdup("@城管") };
	p->ncats = 2;
	p->cats = xcalloc(2, sizeof(*p->cats));
	p->cats[0] =
		(struct plan_category){ .id = sdup("basic"), .name = sdup("基本工作"), .max = 800 };
	p->cats[1] =
		(struct plan_category){ .id = sdup("key"), .name = sdup("重点工作"), .max = 200 };
	p->nrows = 3;
	p->rows = xcalloc(3, sizeof(*p->rows));
	p->rows[0] = (struct plan_row){ .id = sdup("1"),
					.seq = sdup("1"),
					.annex_category = sdup("常规工作"),
					.category = 0,
					.dept = 0,
					.max = 300,
					.content = sdup("=1+1"),
					.time_node = sdup("9月15日") };
	p->rows[1] = (struct plan_row){ .id = sdup("2a"),
					.seq = sdup("2"),
					.annex_category = sdup("常规工作"),
					.category = 0,
					.dept = 1,
					.max = 500,
					.content = sdup("报送,\"年度\"计划"),
					.time_node = sdup("-每季度") };
	p->rows[2] = (struct plan_row){ .id = sdup("3"),
					.annex_category = sdup("重点工作"),
					.category = 1,
					.dept = 0,
					.max = 200,
					.content = sdup("<b>粗</b> & 'x'"),
					.time_node = sdup("") };
	return p;
}

struct hostile {
	struct plan *p;
	struct score_table t;
	const char *lost[9];
	int64_t history[2 * 3];
	const char *periods[2];
	struct annex_input in;
};

static int hostile_setup(void **state)
{
	struct hostile *x = calloc(1, sizeof(*x));
	/* rows[unit * 3 + row] */
	const int64_t rows[9] = { 300, 450, 200, 250, 500, 150, 300, 500, 200 };

	x->p = hostile_plan();
	table_from_rows(x->p, rows, &x->t);
	x->lost[1] = "2020年6月22日 逾期报送 -0.5分";
	x->lost[3] = "<img src=x onerror=alert(1)> \"quoted\" & 'single'";
	x->lost[5] = "第一行\n\n第二行\r\n";
	x->periods[0] = "2020-Q2";
	x->periods[1] = "2020-Q3";
	for (size_t u = 0; u < 3; u++) {
		x->history[u] = 1000;
		x->history[3 + u] = x->t.total[u];
	}
	x->in = (struct annex_input){ .plan = x->p,
				      .period = "2020-Q3",
				      .as_of = "2020-10-01T00:00:00+08:00",
				      .t = &x->t,
				      .lost = x->lost,
				      .nperiods = 2,
				      .periods = x->periods,
				      .totals = x->history };
	*state = x;
	return 0;
}

static int hostile_teardown(void **state)
{
	struct hostile *x = *state;
	score_free(&x->t);
	plan_free(x->p);
	free(x);
	return 0;
}

static void hostile_html_inert(void **state)
{
	struct hostile *x = *state;

	for (int prov = 0; prov < 2; prov++) {
		x->in.provisional = prov;
		char *h = render_html(&x->in);

		expect_self_contained(h);
		expect_balanced(h);
		assert_int_equal(count_nocase(h, "<img"), 0);
		assert_int_equal(count_nocase(h, "<b>"), 0);
		assert_int_equal(count(h, "alert(1)</"), 0);
		/* ranking, annex header, chart label, a bar title per period, two footnotes */
		assert_int_equal(count(h, HOSTILE_HTML), 1 + 1 + 1 + 2 + 2);
		char *rk = section(h, "<table id=\"ranking\">", "</table>");
		assert_int_equal(count(rk, HOSTILE_HTML), 1);
		assert_int_equal(count(rk, "<tr data-unit=\""), 3);
		free(rk);
		char *svg = section(h, "<svg ", "</svg>");
		assert_int_equal(count(svg, HOSTILE_HTML), 3);
		assert_int_equal(count(svg, "<rect class=\"bar\""), 6);
		free(svg);
		assert_non_null(strstr(h, "<title>测试区&lt;考核&gt;结果 2020年第三季度"));
		assert_non_null(strstr(h, "测〔2020〕1号 &amp; &quot;x&quot;"));
		assert_non_null(strstr(h, "&lt;b&gt;粗&lt;/b&gt; &amp; &#39;x&#39;"));
		assert_non_null(strstr(h, "报送,&quot;年度&quot;计划"));

		/* losses: escaped titles, and lines without the empty ones */
		assert_non_null(
			strstr(h, "<td class=\"lost\" "
				  "title=\"&lt;img src=x onerror=alert(1)&gt; &quot;quoted&quot; "
				  "&amp; &#39;single&#39;\">2.5<sup"));
		assert_non_null(strstr(h, "title=\"第一行&#10;第二行\">1.5<sup"));
		char *fn = section(h, "<ol class=\"footnotes\">", "</ol>");
		assert_int_equal(count(fn, "<li"), 3);
		assert_non_null(strstr(fn, "[3] 第3项 " HOSTILE_HTML "：第一行<br>第二行</li>"));
		free(fn);
		assert_int_equal(count(h, BANNER), (size_t)prov);
		free(h);
	}
}

static void hostile_csv(void **state)
{
	struct hostile *x = *state;
	struct csv rd;

	x->in.provisional = false;
	char *c = render_csv(&x->in);
	assert_memory_equal(c, "\xEF\xBB\xBF", 3);
	expect_crlf_only(c);
	csv_parse(c + 3, &rd);
	assert_int_equal(rd.nr, 1 + 3 + 2 + 2);
	for (size_t r = 0; r < rd.nr; r++)
		assert_int_equal(rd.nf[r], 11);
	/* the hostile name comes back whole, quotes and comma included */
	assert_string_equal(rd.f[0][8], "甲");
	assert_string_equal(rd.f[0][9], HOSTILE);
	assert_string_equal(rd.f[0][10], "丙");
	/* formulas are text */
	assert_string_equal(rd.f[1][3], "'=1+1");
	assert_string_equal(rd.f[2][2], "'@城管");
	assert_string_equal(rd.f[2][3], "报送,\"年度\"计划");
	assert_string_equal(rd.f[2][4], "'-每季度");
	assert_string_equal(rd.f[3][3], "<b>粗</b> & 'x'");
	assert_string_equal(rd.f[3][4], "");
	/* no standard nor scoring in this plan: empty fields */
	assert_string_equal(rd.f[1][5], "");
	assert_string_equal(rd.f[1][6], "");
	/* scores */
	assert_string_equal(rd.f[2][7], "5");
	assert_string_equal(rd.f[2][8], "4.5");
	assert_string_equal(rd.f[1][9], "2.5");
	assert_string_equal(rd.f[3][9], "1.5");
	/* totals: 9.5, 9, 10; ranks 2, 3, 1 */
	assert_string_equal(rd.f[6][1], "总分");
	assert_string_equal(rd.f[6][7], "10");
	assert_string_equal(rd.f[6][8], "9.5");
	assert_string_equal(rd.f[6][9], "9");
	assert_string_equal(rd.f[6][10], "10");
	assert_string_equal(rd.f[7][1], "名次");
	assert_string_equal(rd.f[7][8], "2");
	assert_string_equal(rd.f[7][9], "3");
	assert_string_equal(rd.f[7][10], "1");
	csv_free(&rd);
	/* quoting: the raw text */
	assert_non_null(strstr(c, ",\"<script>alert(1)</script>\"\"a,b\","));
	assert_non_null(strstr(c, ",\"报送,\"\"年度\"\"计划\","));
	free(c);
}

/* ---- the index ------------------------------------------------------------- */

static void index_newest_first(void **state)
{
	(void)state;
	const struct plan *p = g_cfg->plan;
	/* given out of order: the index sorts */
	const struct annex_entry e[] = {
		{ "2020-Q3", "2020-10-01T00:00:00+08:00", "白云", 1, 9940 },
		{ "2020-Q4", "2021-01-01T00:00:00+08:00", "八一路", 5, 10000 },
		{ "2020-Q2", "2020-07-01T00:00:00+08:00", "八一路", 2, 10000 },
	};
	struct sbuf sb;
	char periods[8][64];

	sbuf_init(&sb);
	annex_index_html(p, e, 3, &sb);
	const char *h = sb.buf;

	assert_true(strncmp(h, "<!DOCTYPE html>\n<html lang=\"zh-CN\">", 35) == 0);
	expect_self_contained(h);
	expect_balanced(h);
	assert_int_equal(pick(h, "<tr data-period=\"", '"', periods, 8), 3);
	assert_string_equal(periods[0], "2020-Q4");
	assert_string_equal(periods[1], "2020-Q3");
	assert_string_equal(periods[2], "2020-Q2");
	for (size_t i = 0; i < 3; i++) {
		const char *ext[] = { ".html", ".csv", ".json" };
		for (size_t k = 0; k < 3; k++) {
			char href[64];
			snprintf(href, sizeof(href), "href=\"%s%s\"", e[i].period, ext[k]);
			assert_int_equal(count(h, href), 1);
		}
	}
	/* the links of one line are in the order of the lines */
	assert_true(strstr(h, "href=\"2020-Q4.html\"") < strstr(h, "href=\"2020-Q3.html\""));
	assert_true(strstr(h, "href=\"2020-Q3.json\"") < strstr(h, "href=\"2020-Q2.html\""));
	/* the period in Chinese, its end as the snapshot's time, ties said so */
	char *q4 = section(h, "<tr data-period=\"2020-Q4\"", "</tr>");
	assert_non_null(strstr(q4, ">2020年第四季度</a></th><td>2020年12月31日24时</td>"
				   "<td class=\"first\">八一路等5个单位并列第一</td>"
				   "<td class=\"num total\">100</td>"));
	free(q4);
	char *q3 = section(h, "<tr data-period=\"2020-Q3\"", "</tr>");
	assert_non_null(strstr(q3, "<td>2020年9月30日24时</td><td class=\"first\">白云</td>"
				   "<td class=\"num total\">99.4</td>"));
	free(q3);
	char *q2 = section(h, "<tr data-period=\"2020-Q2\"", "</tr>");
	assert_non_null(strstr(q2, "<td class=\"first\">八一路等2个单位并列第一</td>"));
	free(q2);
	/* the feeds, a list of links */
	char *feeds = section(h, "<ul class=\"feeds\">", "</ul>");
	assert_int_equal(count(feeds, "<li><a href=\""), 1 + 5);
	assert_int_equal(count(feeds, "href=\"all.ics\""), 1);
	for (size_t u = 0; u < 5; u++) {
		char href[64];
		snprintf(href, sizeof(href), "<li><a href=\"%s.ics\">%s</a></li>",
			 shipped_unit_ids[u], shipped_unit_names[u]);
		assert_int_equal(count(feeds, href), 1);
	}
	free(feeds);
	assert_non_null(strstr(h, "ul.feeds{columns:"));
	assert_null(strstr(h, "生成时间"));
	sbuf_free(&sb);
}

static void index_hostile(void **state)
{
	struct hostile *x = *state;
	const struct annex_entry e[] = {
		{ "../\"x\" javascript:alert(1)", "garbage", HOSTILE, 1, 950 },
	};
	struct sbuf sb;

	sbuf_init(&sb);
	annex_index_html(x->p, e, 1, &sb);
	expect_self_contained(sb.buf);
	expect_balanced(sb.buf);
	/* the period is one relative path segment, the name inert */
	assert_non_null(strstr(sb.buf, "href=\"..%2F%22x%22%20javascript%3Aalert%281%29.html\""));
	assert_int_equal(count(sb.buf, "href=\"javascript"), 0);
	assert_non_null(
		strstr(sb.buf, "<td>garbage</td><td class=\"first\">" HOSTILE_HTML "</td>"));
	assert_non_null(strstr(sb.buf, "href=\"evil.ics\">" HOSTILE_HTML "</a>"));
	sbuf_free(&sb);

	/* nothing published yet */
	sbuf_init(&sb);
	annex_index_html(x->p, NULL, 0, &sb);
	expect_balanced(sb.buf);
	assert_int_equal(count(sb.buf, "<tr data-period"), 0);
	assert_non_null(strstr(sb.buf, "href=\"all.ics\""));
	sbuf_free(&sb);
}

/* The index across years: newest first, each year's index linked; a re-dated plan says so. */
static void years_index_and_redated(void **state)
{
	(void)state;
	struct plan old = *g_cfg->plan, redated = *g_cfg->plan;
	const struct plan *plans[] = { &old, &redated };
	struct sbuf sb;

	redated.year = 2026;
	assert_true(plan_redated(&redated));
	assert_false(plan_redated(&old));
	sbuf_init(&sb);
	annex_years_html(plans, 2, &sb);
	const char *h = sb.buf;
	expect_self_contained(h);
	expect_balanced(h);
	assert_true(strstr(h, "<a href=\"2026/index.html\">2026年度</a>") <
		    strstr(h, "<a href=\"2020/index.html\">2020年度</a>"));
	assert_non_null(strstr(h, "<a href=\"2020/index.html\">2020年度</a>"));
	assert_int_equal(count(h, "运行于2026年度"), 1);
	/* each line names its document, and the re-dated line once more */
	assert_int_equal(count(h, "西政办发〔2020〕17号"), 3);
	sbuf_free(&sb);

	/* a page and the year's index of the re-dated plan carry the banner */
	struct shipped *s = shipped_new(false, 3);
	s->in.plan = &redated;
	char *page = render_html(&s->in);
	assert_int_equal(count(page, "<p class=\"redated\" role=\"note\">本页按《西岗区2020年"), 1);
	assert_int_equal(count(page, "运行于2026年度</p>"), 1);
	free(page);
	s->in.plan = &old;
	page = render_html(&s->in);
	assert_int_equal(count(page, "class=\"redated\""), 0);
	free(page);
	shipped_free(s);
	sbuf_init(&sb);
	annex_index_html(&redated, NULL, 0, &sb);
	assert_int_equal(count(sb.buf, "运行于2026年度</p>"), 1);
	assert_non_null(strstr(sb.buf, "<a href=\"../index.html\">全部年度</a>"));
	sbuf_free(&sb);
}

int main(void)
{
	const struct CMUnitTest shipped[] = {
		cmocka_unit_test(html_head_is_standard),
		cmocka_unit_test(html_ranking_in_rank_order),
		cmocka_unit_test(html_annex_rows_and_losses),
		cmocka_unit_test(html_shared_reasons_one_note),
		cmocka_unit_test(html_no_losses_no_footnotes),
		cmocka_unit_test(html_provisional_marked),
		cmocka_unit_test(html_chart_bars),
		cmocka_unit_test(csv_shipped),
		cmocka_unit_test(index_newest_first),
		cmocka_unit_test(years_index_and_redated),
	};
	const struct CMUnitTest hostile[] = {
		cmocka_unit_test_setup_teardown(hostile_html_inert, hostile_setup,
						hostile_teardown),
		cmocka_unit_test_setup_teardown(hostile_csv, hostile_setup, hostile_teardown),
		cmocka_unit_test_setup_teardown(index_hostile, hostile_setup, hostile_teardown),
	};
	int rc = cmocka_run_group_tests_name("annex (shipped plan)", shipped, config_group_setup,
					     config_group_teardown);
	rc += cmocka_run_group_tests_name("annex (hostile plan)", hostile, NULL, NULL);
	return rc;
}
