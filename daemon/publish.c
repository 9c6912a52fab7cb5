/*
 * publish — gathers a period's standing (from its snapshot, or the
 * current one), why each unit lost points (the ledger as of that
 * instant), and the totals of the periods before it; hands them to
 * annex (HTML, CSV) or writes the JSON; and writes files atomically.
 */
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "kaohe/annex.h"
#include "kaohe/calendar.h"
#include "kaohe/feed.h"
#include "kaohe/log.h"
#include "kaohe/publish.h"
#include "kaohe/report.h"

const char *publish_format_name(enum publish_format f)
{
	static const char *const names[] = { "html", "csv", "json" };
	return (unsigned)f < 3 ? names[f] : "?";
}

int publish_format_find(const char *s)
{
	for (int i = 0; i < 3; i++)
		if (strcmp(s, publish_format_name((enum publish_format)i)) == 0)
			return i;
	return -1;
}

/* A snapshot as stored. */
struct snap {
	char *period;
	int64_t at, taken_at;
	char *data; /* the units array, JSON */
};

struct snaps {
	struct snap *v;
	size_t n, cap;
};

static int collect(const char *period, int64_t at, int64_t taken_at, const char *data, void *arg)
{
	struct snaps *s = arg;
	util_reserve(&s->v, &s->cap, s->n + 1, sizeof(*s->v));
	s->v[s->n++] = (struct snap){ xstrdup(period), at, taken_at, xstrdup(data) };
	return 0;
}

static void snaps_free(struct snaps *s)
{
	for (size_t i = 0; i < s->n; i++) {
		free(s->v[i].period);
		free(s->v[i].data);
	}
	free(s->v);
}

/* A snapshot's points (JSON numbers with at most two decimals) in hundredths. */
static int64_t hundredths(const json_t *v)
{
	int64_t h = 0;
	if (json_is_integer(v))
		return (int64_t)json_integer_value(v) * 100;
	util_double_to_hundredths(json_number_value(v), &h);
	return h;
}

/*
 * Read a snapshot's units array into T (allocated here) for plan P.  A
 * unit or row the plan no longer has is left out; one it has since
 * gained scores nothing.  0, or -1 if the text is not a units array.
 */
static int table_of(const struct plan *p, const char *data, struct score_table *t)
{
	json_t *arr = json_loads(data, 0, NULL);
	if (!json_is_array(arr)) {
		json_decref(arr);
		return -1;
	}
	t->nunits = p->nunits;
	t->nrows = p->nrows;
	t->ncats = p->ncats;
	t->rows = xcalloc(p->nunits * p->nrows + 1, sizeof(*t->rows));
	t->cats = xcalloc(p->nunits * p->ncats + 1, sizeof(*t->cats));
	t->total = xcalloc(p->nunits + 1, sizeof(*t->total));
	t->rank = xcalloc(p->nunits + 1, sizeof(*t->rank));
	size_t i;
	json_t *u;
	json_array_foreach(arr, i, u)
	{
		int unit = plan_unit_find(p, json_string_value(json_object_get(u, "unit")) ?: "");
		if (unit < 0)
			continue;
		t->total[unit] = hundredths(json_object_get(u, "total"));
		t->rank[unit] = (int)json_integer_value(json_object_get(u, "rank"));
		for (size_t c = 0; c < p->ncats; c++)
			t->cats[(size_t)unit * p->ncats + c] =
				hundredths(json_object_get(u, p->cats[c].id));
		json_t *rows = json_object_get(u, "rows");
		for (size_t r = 0; r < p->nrows; r++)
			t->rows[(size_t)unit * p->nrows + r] =
				hundredths(json_object_get(rows, p->rows[r].id));
	}
	json_decref(arr);
	return 0;
}

static void copy_table(const struct plan *p, const struct score_table *src, struct score_table *t)
{
	t->nunits = src->nunits;
	t->nrows = src->nrows;
	t->ncats = src->ncats;
	t->rows = xmalloc((p->nunits * p->nrows + 1) * sizeof(*t->rows));
	t->cats = xmalloc((p->nunits * p->ncats + 1) * sizeof(*t->cats));
	t->total = xmalloc((p->nunits + 1) * sizeof(*t->total));
	t->rank = xmalloc((p->nunits + 1) * sizeof(*t->rank));
	memcpy(t->rows, src->rows, p->nunits * p->nrows * sizeof(*t->rows));
	memcpy(t->cats, src->cats, p->nunits * p->ncats * sizeof(*t->cats));
	memcpy(t->total, src->total, p->nunits * sizeof(*t->total));
	memcpy(t->rank, src->rank, p->nunits * sizeof(*t->rank));
}

/* Why UNIT lost points in each row, as of AS_OF: lines per row. */
struct lost_ctx {
	const struct plan *p;
	int64_t as_of;
	struct sbuf *lines; /* [row] */
};

static const char *reason_of(const struct plan *p, const struct entry *e)
{
	int row = plan_row_find(p, e->row);
	switch (e->type) {
	case ENTRY_LATE: return "逾期报送";
	case ENTRY_MISSING: return "未报送";
	case ENTRY_RANKING: return "排名扣分";
	case ENTRY_THRESHOLD: return "指标";
	case ENTRY_FINDING:
		if (row >= 0) {
			int k = plan_kind_find(&p->rows[row], e->kind);
			if (k >= 0)
				return p->rows[row].kinds[k].name;
		}
		return e->kind;
	default: return store_entry_type_name(e->type);
	}
}

static int lost_entry(const struct entry *e, void *arg)
{
	struct lost_ctx *x = arg;
	int row = plan_row_find(x->p, e->row);
	if (row < 0 || e->points >= 0 || e->at > x->as_of ||
	    (e->voided_at && e->voided_at <= x->as_of))
		return 0;
	char day[40], pts[32];
	calendar_format_instant(e->at, day, sizeof(day));
	day[10] = '\0';
	util_format_fixed(e->points, 2, pts, sizeof(pts));
	struct sbuf *l = &x->lines[row];
	sbuf_printf(l, "%s%s %s", l->len ? "\n" : "", day, reason_of(x->p, e));
	if (e->type == ENTRY_FINDING && e->count > 1)
		sbuf_printf(l, "×%lld", (long long)e->count);
	sbuf_printf(l, " %s分", pts);
	if (e->occ[0])
		sbuf_printf(l, "（%s）", e->occ);
	if (e->note && *e->note)
		sbuf_printf(l, "：%s", e->note);
	return 0;
}

/* Everything annex needs for one period, and what owns it. */
struct page {
	struct annex_input in;
	struct score_table t;
	char **lost;
	const char **periods;
	int64_t *totals;
	char as_of[40], generated[40];
};

static void page_free(struct page *pg, const struct plan *p)
{
	for (size_t i = 0; pg->lost && i < p->nunits * p->nrows; i++)
		free(pg->lost[i]);
	free(pg->lost);
	free(pg->periods);
	free(pg->totals);
	score_free(&pg->t);
}

/*
 * Fill PG for PERIOD: snapshot SN (or NULL: the current standing, as of
 * NOW), with the totals of the snapshots SS taken before it.
 */
static int page_build(struct store *st, const struct plan *p, struct engine *eng,
		      const char *period, const struct snap *sn, const struct snaps *ss,
		      int64_t now, struct page *pg, char *err, size_t errlen)
{
	int64_t as_of = sn ? sn->at : now;
	memset(pg, 0, sizeof(*pg));
	if (sn) {
		if (table_of(p, sn->data, &pg->t) < 0) {
			snprintf(err, errlen, "the snapshot of %s cannot be read", period);
			return -1;
		}
	} else {
		const struct score_table *cur = engine_current(eng);
		if (cur == NULL) {
			snprintf(err, errlen, "database: %s", store_errmsg(st));
			return -1;
		}
		copy_table(p, cur, &pg->t);
	}
	pg->lost = xcalloc(p->nunits * p->nrows + 1, sizeof(*pg->lost));
	struct sbuf *lines = xcalloc(p->nrows + 1, sizeof(*lines));
	int rc = 0;
	for (size_t u = 0; u < p->nunits && rc == 0; u++) {
		for (size_t r = 0; r < p->nrows; r++)
			sbuf_init(&lines[r]);
		struct lost_ctx x = { .p = p, .as_of = as_of, .lines = lines };
		rc = store_entries_of(st, (int)u, NULL, lost_entry, &x);
		for (size_t r = 0; r < p->nrows; r++) {
			if (lines[r].len)
				pg->lost[u * p->nrows + r] = xstrdup(lines[r].buf);
			sbuf_free(&lines[r]);
		}
	}
	free(lines);
	if (rc < 0) {
		snprintf(err, errlen, "database: %s", store_errmsg(st));
		page_free(pg, p);
		return -1;
	}
	/* The chart: every snapshot up to this period, then this one. */
	size_t n = 0;
	pg->periods = xcalloc(ss->n + 1, sizeof(*pg->periods));
	pg->totals = xcalloc((ss->n + 1) * p->nunits + 1, sizeof(*pg->totals));
	for (size_t i = 0; i < ss->n && ss->v[i].at < as_of; i++) {
		struct score_table t;
		if (&ss->v[i] == sn || table_of(p, ss->v[i].data, &t) < 0)
			continue;
		memcpy(pg->totals + n * p->nunits, t.total, p->nunits * sizeof(*t.total));
		pg->periods[n++] = ss->v[i].period;
		score_free(&t);
	}
	memcpy(pg->totals + n * p->nunits, pg->t.total, p->nunits * sizeof(*pg->t.total));
	pg->periods[n++] = period;
	calendar_format_instant(as_of, pg->as_of, sizeof(pg->as_of));
	calendar_format_instant(now, pg->generated, sizeof(pg->generated));
	pg->in = (struct annex_input){ .plan = p,
				       .period = period,
				       .provisional = sn == NULL,
				       .as_of = pg->as_of,
				       .generated = pg->generated,
				       .t = &pg->t,
				       .lost = (const char *const *)pg->lost,
				       .nperiods = n,
				       .periods = pg->periods,
				       .totals = pg->totals };
	return 0;
}

/* The JSON publication: the standing with what it is of. */
static void page_json(const struct plan *p, const struct page *pg, const struct snap *sn,
		      struct sbuf *out)
{
	SBUF_LIT(out, "{\"period\":");
	report_json_string(out, pg->in.period);
	sbuf_printf(out, ",\"provisional\":%s", sn ? "false" : "true");
	SBUF_LIT(out, ",\"as_of\":");
	report_json_string(out, pg->as_of);
	if (sn)
		report_instant_member(out, "taken_at", sn->taken_at);
	SBUF_LIT(out, ",\"plan\":{\"title\":");
	report_json_string(out, p->title);
	SBUF_LIT(out, ",\"document\":");
	report_json_string(out, p->document);
	sbuf_printf(out, ",\"year\":%d}", p->year);
	SBUF_LIT(out, ",\"units\":");
	report_units_text(p, &pg->t, out);
	SBUF_LIT(out, "}\n");
}

static const struct quarter *quarter_of(const struct plan *p, const char *period)
{
	for (size_t i = 0; i < p->nquarters; i++)
		if (strcmp(p->quarters[i].period, period) == 0)
			return &p->quarters[i];
	return NULL;
}

static void render_page(const struct plan *p, const struct page *pg, const struct snap *sn,
			enum publish_format f, struct sbuf *out)
{
	switch (f) {
	case PUBLISH_HTML: annex_html(&pg->in, out); break;
	case PUBLISH_CSV: annex_csv(&pg->in, out); break;
	case PUBLISH_JSON: page_json(p, pg, sn, out); break;
	}
}

int publish_render(struct store *st, const struct plan *p, struct engine *eng, const char *period,
		   enum publish_format f, int64_t now, struct sbuf *out, char *err, size_t errlen)
{
	struct snaps ss = { 0 };
	const struct snap *sn = NULL;
	struct page pg;
	int ret = -1;

	if (store_snapshots(st, true, collect, &ss) < 0) {
		snprintf(err, errlen, "database: %s", store_errmsg(st));
		goto out;
	}
	for (size_t i = 0; i < ss.n; i++)
		if (strcmp(ss.v[i].period, period) == 0)
			sn = &ss.v[i];
	if (sn == NULL && quarter_of(p, period) == NULL) {
		struct sbuf names;
		sbuf_init(&names);
		for (size_t i = 0; i < p->nquarters; i++)
			sbuf_printf(&names, "%s%s", i ? ", " : "", p->quarters[i].period);
		snprintf(err, errlen, "unknown period \"%.40s\"; the plan's periods: %s", period,
			 names.buf);
		sbuf_free(&names);
		goto out;
	}
	if (page_build(st, p, eng, period, sn, &ss, now, &pg, err, errlen) < 0)
		goto out;
	render_page(p, &pg, sn, f, out);
	page_free(&pg, p);
	ret = sn != NULL;
out:
	snaps_free(&ss);
	return ret;
}

/* Write TEXT to DIR/NAME through a temporary file and a rename. */
static int write_atomic(const char *dir, const char *name, const struct sbuf *text, char *err,
			size_t errlen)
{
	char *path = xasprintf("%s/%s", dir, name);
	char *tmp = xasprintf("%s/.%s.%ld.tmp", dir, name, (long)getpid());
	int ret = -1;
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	/* Published means readable by all, whatever the service's umask. */
	if (fd < 0 || fchmod(fd, 0644) < 0) {
		snprintf(err, errlen, "cannot write %s: %s", tmp, strerror(errno));
		if (fd >= 0) {
			close(fd);
			unlink(tmp);
		}
		goto out;
	}
	size_t off = 0;
	while (off < text->len) {
		ssize_t n = write(fd, text->buf + off, text->len - off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			snprintf(err, errlen, "cannot write %s: %s", tmp, strerror(errno));
			close(fd);
			unlink(tmp);
			goto out;
		}
		off += (size_t)n;
	}
	if (close(fd) < 0 || rename(tmp, path) < 0) {
		snprintf(err, errlen, "cannot put %s in place: %s", path, strerror(errno));
		unlink(tmp);
		goto out;
	}
	ret = 0;
out:
	free(path);
	free(tmp);
	return ret;
}

static int write_pages(const char *dir, struct store *st, const struct plan *p, struct engine *eng,
		       int64_t now, char *err, size_t errlen)
{
	struct snaps ss = { 0 };
	struct sbuf text;
	int ret = -1;

	sbuf_init(&text);
	if (store_snapshots(st, true, collect, &ss) < 0) {
		snprintf(err, errlen, "database: %s", store_errmsg(st));
		goto out;
	}
	struct annex_entry *idx = xcalloc(ss.n + 1, sizeof(*idx));
	char(*taken)[40] = xcalloc(ss.n + 1, sizeof(*taken));
	size_t n = 0;
	for (size_t i = 0; i < ss.n; i++) {
		struct page pg;
		const struct snap *sn = &ss.v[i];
		if (page_build(st, p, eng, sn->period, sn, &ss, now, &pg, err, errlen) < 0)
			goto out_idx;
		for (int f = 0; f < 3; f++) {
			char name[64];
			snprintf(name, sizeof(name), "%s.%s", sn->period,
				 publish_format_name((enum publish_format)f));
			sbuf_reset(&text);
			render_page(p, &pg, sn, (enum publish_format)f, &text);
			if (write_atomic(dir, name, &text, err, errlen) < 0) {
				page_free(&pg, p);
				goto out_idx;
			}
		}
		int best = -1;
		for (size_t u = 0; u < p->nunits; u++)
			if (pg.t.rank[u] == 1 && best < 0)
				best = (int)u;
		calendar_format_instant(sn->taken_at, taken[n], sizeof(taken[n]));
		idx[n] = (struct annex_entry){ .period = sn->period,
					       .taken_at = taken[n],
					       .first = best >= 0 ? p->units[best].name : "",
					       .first_total = best >= 0 ? pg.t.total[best] : 0 };
		n++;
		page_free(&pg, p);
	}
	char generated[40];
	calendar_format_instant(now, generated, sizeof(generated));
	sbuf_reset(&text);
	annex_index_html(p, idx, n, generated, &text);
	ret = write_atomic(dir, "index.html", &text, err, errlen);
out_idx:
	free(idx);
	free(taken);
out:
	snaps_free(&ss);
	sbuf_free(&text);
	return ret;
}

static int write_feeds(const char *dir, const struct plan *p, const struct engine *eng, int64_t now,
		       int only, char *err, size_t errlen)
{
	struct sbuf text;
	int ret = 0;
	sbuf_init(&text);
	for (int u = -1; u < (int)p->nunits && ret == 0; u++) {
		if (only >= 0 && u != only)
			continue;
		char name[80];
		snprintf(name, sizeof(name), "%s.ics", u < 0 ? "all" : p->units[u].id);
		sbuf_reset(&text);
		if (feed_calendar(p, eng, u, now, &text) < 0) {
			snprintf(err, errlen, "cannot build the calendar feed %s", name);
			ret = -1;
		} else {
			ret = write_atomic(dir, name, &text, err, errlen);
		}
	}
	sbuf_free(&text);
	return ret;
}

int publish_write(const char *dir, struct store *st, const struct plan *p, struct engine *eng,
		  int64_t now, bool pages, bool feeds, int feed_unit, char *err, size_t errlen)
{
	if (mkdir(dir, 0755) == 0)
		(void)chmod(dir, 0755); /* the umask took some away */
	else if (errno != EEXIST) {
		snprintf(err, errlen, "cannot create %s: %s", dir, strerror(errno));
		return -1;
	}
	if (pages && write_pages(dir, st, p, eng, now, err, errlen) < 0)
		return -1;
	if (feeds && write_feeds(dir, p, eng, now, feed_unit, err, errlen) < 0)
		return -1;
	return 0;
}
