/*
 * publish — gathers a period's standing (from its snapshot, or the
 * current one), why each unit lost points (the ledger as of that
 * instant), and the totals of the periods before it; hands them to
 * annex (HTML, CSV) or writes the JSON; and writes files atomically,
 * those that changed only.  At 40,000 units the ledger is read once for
 * every snapshot, each snapshot's table parsed once, and the feeds of the
 * units on the shared schedule are links to all.ics.
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

/* A snapshot as stored, and its table once read. */
struct snap {
	char *period;
	int64_t at, taken_at;
	char *data; /* the units array, JSON */
	struct score_table t;
	bool readable; /* T holds DATA */
};

struct snaps {
	struct snap *v;
	size_t n, cap;
};

static int collect(const char *period, int64_t at, int64_t taken_at, const char *data, void *arg)
{
	struct snaps *s = arg;
	util_reserve(&s->v, &s->cap, s->n + 1, sizeof(*s->v));
	s->v[s->n++] = (struct snap){
		.period = xstrdup(period), .at = at, .taken_at = taken_at, .data = xstrdup(data)
	};
	return 0;
}

static void snaps_free(struct snaps *s)
{
	for (size_t i = 0; i < s->n; i++) {
		free(s->v[i].period);
		free(s->v[i].data);
		if (s->v[i].readable)
			score_free(&s->v[i].t);
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

/* Every snapshot of the store, each table read once (a big plan's take a while). */
static int snaps_load(struct store *st, const struct plan *p, struct snaps *ss, char *err,
		      size_t errlen)
{
	if (store_snapshots(st, true, collect, ss) < 0) {
		snprintf(err, errlen, "database: %s", store_errmsg(st));
		return -1;
	}
	for (size_t i = 0; i < ss->n; i++)
		ss->v[i].readable = table_of(p, ss->v[i].data, &ss->v[i].t) == 0;
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

/*
 * Why a unit lost points in each row, as of each of N instants AS_OF:
 * LINES[i * nrows + row] gathers the lines of instant i.
 */
struct lost_ctx {
	const struct plan *p;
	const int64_t *as_of;
	size_t n;
	struct sbuf *lines;
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

/*
 * One line for entry E: "2020年10月1日 未报送 -3分", with the count of a
 * finding ("×2"), the node of a row with several ("（6月20日节点）")
 * and the note ("：楼道堆物").
 */
static void lost_line(const struct plan *p, const struct entry *e, struct sbuf *l)
{
	int y, m, d;
	char pts[32];
	const char *at = strchr(e->occ, '@');

	calendar_civil_from_days(calendar_day_of(e->at, NULL), &y, &m, &d);
	util_format_fixed(e->points, 2, pts, sizeof(pts));
	sbuf_printf(l, "%d年%d月%d日 %s", y, m, d, reason_of(p, e));
	if (e->type == ENTRY_FINDING && e->count > 1)
		sbuf_printf(l, "×%lld", (long long)e->count);
	sbuf_printf(l, " %s分", pts);
	if (at && sscanf(at + 1, "%d-%d-%d", &y, &m, &d) == 3)
		sbuf_printf(l, "（%d月%d日节点）", m, d);
	if (e->note && *e->note)
		sbuf_printf(l, "：%s", e->note);
}

static int lost_entry(const struct entry *e, void *arg)
{
	struct lost_ctx *x = arg;
	int row = plan_row_find(x->p, e->row);
	struct sbuf line;

	if (row < 0 || e->points >= 0)
		return 0;
	sbuf_init(&line);
	for (size_t i = 0; i < x->n; i++) {
		if (e->at > x->as_of[i] || (e->voided_at && e->voided_at <= x->as_of[i]))
			continue;
		if (line.len == 0)
			lost_line(x->p, e, &line);
		struct sbuf *l = &x->lines[i * x->p->nrows + (size_t)row];
		if (l->len)
			SBUF_LIT(l, "\n");
		sbuf_add(l, line.buf, line.len);
	}
	sbuf_free(&line);
	return 0;
}

/*
 * Why each unit lost points, as of each of the N instants AS_OF, in one
 * pass over the ledger: LOST[i][unit * nrows + row], NULL where nothing
 * was lost.  0, or -1 on a database error (nothing allocated then).
 */
static int lost_build(struct store *st, const struct plan *p, const int64_t *as_of, size_t n,
		      char ***lost)
{
	struct sbuf *lines = xcalloc(n * p->nrows + 1, sizeof(*lines));
	int rc = 0;

	for (size_t i = 0; i < n; i++)
		lost[i] = xcalloc(p->nunits * p->nrows + 1, sizeof(**lost));
	for (size_t i = 0; i < n * p->nrows; i++)
		sbuf_init(&lines[i]);
	for (size_t u = 0; u < p->nunits && rc == 0; u++) {
		struct lost_ctx x = { .p = p, .as_of = as_of, .n = n, .lines = lines };
		rc = store_entries_of(st, (int)u, NULL, lost_entry, &x);
		for (size_t i = 0; i < n; i++)
			for (size_t r = 0; r < p->nrows; r++) {
				struct sbuf *l = &lines[i * p->nrows + r];
				if (l->len)
					lost[i][u * p->nrows + r] = xstrdup(l->buf);
				sbuf_reset(l);
			}
	}
	for (size_t i = 0; i < n * p->nrows; i++)
		sbuf_free(&lines[i]);
	free(lines);
	if (rc < 0) {
		for (size_t i = 0; i < n; i++) {
			for (size_t k = 0; k < p->nunits * p->nrows; k++)
				free(lost[i][k]);
			free(lost[i]);
			lost[i] = NULL;
		}
		return -1;
	}
	return 0;
}

/* Everything annex needs for one period, and what owns it. */
struct page {
	struct annex_input in;
	struct score_table t;
	char **lost;
	const char **periods;
	int64_t *totals;
	char as_of[40];
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
 * NOW), with the totals of the snapshots SS taken before it.  LOST, when
 * not NULL, is why units lost points as of that instant (PG takes it);
 * otherwise it is read from the ledger.
 */
static int page_build(struct store *st, const struct plan *p, struct engine *eng,
		      const char *period, const struct snap *sn, const struct snaps *ss,
		      int64_t now, char **lost, struct page *pg, char *err, size_t errlen)
{
	int64_t as_of = sn ? sn->at : now;
	memset(pg, 0, sizeof(*pg));
	pg->lost = lost;
	if (sn) {
		if (!sn->readable) {
			snprintf(err, errlen, "the snapshot of %s cannot be read", period);
			page_free(pg, p);
			return -1;
		}
		copy_table(p, &sn->t, &pg->t);
	} else {
		const struct score_table *cur = engine_current(eng);
		if (cur == NULL) {
			snprintf(err, errlen, "database: %s", store_errmsg(st));
			page_free(pg, p);
			return -1;
		}
		copy_table(p, cur, &pg->t);
	}
	if (pg->lost == NULL && lost_build(st, p, &as_of, 1, &pg->lost) < 0) {
		snprintf(err, errlen, "database: %s", store_errmsg(st));
		page_free(pg, p);
		return -1;
	}
	/* The chart: every snapshot up to this period, then this one. */
	size_t n = 0;
	pg->periods = xcalloc(ss->n + 1, sizeof(*pg->periods));
	pg->totals = xcalloc((ss->n + 1) * p->nunits + 1, sizeof(*pg->totals));
	for (size_t i = 0; i < ss->n && ss->v[i].at < as_of; i++) {
		if (&ss->v[i] == sn || !ss->v[i].readable)
			continue;
		memcpy(pg->totals + n * p->nunits, ss->v[i].t.total,
		       p->nunits * sizeof(*pg->totals));
		pg->periods[n++] = ss->v[i].period;
	}
	memcpy(pg->totals + n * p->nunits, pg->t.total, p->nunits * sizeof(*pg->t.total));
	pg->periods[n++] = period;
	calendar_format_instant(as_of, pg->as_of, sizeof(pg->as_of));
	pg->in = (struct annex_input){ .plan = p,
				       .period = period,
				       .provisional = sn == NULL,
				       .as_of = pg->as_of,
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
	struct json_writer w;

	json_do_start(&w, out);
	json_do_object(&w, NULL);
	json_do_string(&w, "period", pg->in.period);
	json_do_bool(&w, "provisional", sn == NULL);
	json_do_string(&w, "as_of", pg->as_of);
	if (sn)
		json_do_instant(&w, "taken_at", sn->taken_at);
	json_do_object(&w, "plan");
	json_do_string(&w, "title", p->title);
	json_do_string(&w, "document", p->document);
	json_do_int(&w, "year", p->year);
	json_do_end(&w);
	report_units_json(&w, "units", p, &pg->t);
	json_do_end(&w);
	json_do_finish(&w);
	SBUF_LIT(out, "\n");
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

	if (snaps_load(st, p, &ss, err, errlen) < 0)
		goto out;
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
	if (page_build(st, p, eng, period, sn, &ss, now, NULL, &pg, err, errlen) < 0)
		goto out;
	render_page(p, &pg, sn, f, out);
	page_free(&pg, p);
	ret = sn != NULL;
out:
	snaps_free(&ss);
	return ret;
}

/*
 * Whether A and B hold the same text, a feed's DTSTAMP lines aside when
 * STAMPS: DTSTAMP is when the feed was made, and a feed whose events did
 * not change is left as it was, with the DTSTAMP it was made with.
 */
static bool same_text(const char *a, size_t alen, const char *b, size_t blen, bool stamps)
{
	static const char stamp[] = "\r\nDTSTAMP:";
	const char *ae = a + alen, *be = b + blen;

	if (!stamps)
		return alen == blen && memcmp(a, b, alen) == 0;
	for (;;) {
		const char *x = memmem(a, (size_t)(ae - a), stamp, sizeof(stamp) - 1);
		const char *y = memmem(b, (size_t)(be - b), stamp, sizeof(stamp) - 1);
		if (x == NULL || y == NULL)
			return x == y && ae - a == be - b && memcmp(a, b, (size_t)(ae - a)) == 0;
		if (x - a != y - b || memcmp(a, b, (size_t)(x - a)) != 0)
			return false;
		/* The stamp's line ends the same way on both sides: past it. */
		a = memmem(x + 2, (size_t)(ae - x - 2), "\r\n", 2);
		b = memmem(y + 2, (size_t)(be - y - 2), "\r\n", 2);
		if (a == NULL || b == NULL)
			return a == b;
	}
}

/* Whether the file at PATH holds TEXT already (see same_text). */
static bool unchanged(const char *path, const struct sbuf *text, bool stamps)
{
	struct stat sb;
	bool same = false;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return false;
	/* A size that differs beyond a DTSTAMP's own says enough. */
	if (fstat(fd, &sb) == 0 && S_ISREG(sb.st_mode) && (sb.st_mode & 07777) == 0644 &&
	    (stamps || (size_t)sb.st_size == text->len) && (size_t)sb.st_size < SIZE_MAX / 2) {
		char *buf = xmalloc((size_t)sb.st_size + 1);
		size_t off = 0;
		ssize_t n = 1;
		while (off < (size_t)sb.st_size &&
		       ((n = read(fd, buf + off, (size_t)sb.st_size - off)) > 0 || errno == EINTR))
			off += n > 0 ? (size_t)n : 0;
		same = off == (size_t)sb.st_size &&
		       same_text(buf, off, text->buf, text->len, stamps);
		free(buf);
	}
	close(fd);
	return same;
}

/*
 * Put TEXT at DIR/NAME through a temporary file and a rename, unless the
 * file there holds it already: a publication that changed nothing
 * writes nothing, and a reader's copy (and its HTTP validators) stays.
 * STAMPS: TEXT is a feed (see same_text).  0, or -1 with ERR.
 */
static int write_file(const char *dir, const char *name, const struct sbuf *text, bool stamps,
		      char *err, size_t errlen)
{
	char *path = xasprintf("%s/%s", dir, name);
	char *tmp = xasprintf("%s/.%s.%ld.tmp", dir, name, (long)getpid());
	int ret = -1;

	if (unchanged(path, text, stamps)) {
		ret = 0;
		goto out;
	}
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

/*
 * Make DIR/NAME the file DIR/TARGET (whose identity is *TS) by a hard
 * link, put in place by a rename like any file; nothing when it is so
 * already.  0, or -1 with ERR.
 */
static int link_file(const char *dir, const char *target, const struct stat *ts, const char *name,
		     char *err, size_t errlen)
{
	char *path = xasprintf("%s/%s", dir, name);
	char *from = xasprintf("%s/%s", dir, target);
	char *tmp = xasprintf("%s/.%s.%ld.tmp", dir, name, (long)getpid());
	struct stat sb;
	int ret = 0;

	if (lstat(path, &sb) == 0 && sb.st_ino == ts->st_ino && sb.st_dev == ts->st_dev)
		goto out;
	(void)unlink(tmp);
	if (link(from, tmp) < 0 || rename(tmp, path) < 0) {
		snprintf(err, errlen, "cannot link %s to %s: %s", path, from, strerror(errno));
		unlink(tmp);
		ret = -1;
	}
out:
	free(path);
	free(from);
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
	if (snaps_load(st, p, &ss, err, errlen) < 0)
		goto out;
	struct annex_entry *idx = xcalloc(ss.n + 1, sizeof(*idx));
	char(*as_of)[40] = xcalloc(ss.n + 1, sizeof(*as_of));
	int64_t *at = xcalloc(ss.n + 1, sizeof(*at));
	char ***lost = xcalloc(ss.n + 1, sizeof(*lost));
	size_t n = 0, i = 0;
	for (i = 0; i < ss.n; i++)
		at[i] = ss.v[i].at;
	/* Why units lost points, as of every snapshot, in one pass over the ledger. */
	if (lost_build(st, p, at, ss.n, lost) < 0) {
		snprintf(err, errlen, "database: %s", store_errmsg(st));
		goto out_idx;
	}
	for (i = 0; i < ss.n; i++) {
		struct page pg;
		const struct snap *sn = &ss.v[i];
		int rc =
			page_build(st, p, eng, sn->period, sn, &ss, now, lost[i], &pg, err, errlen);
		lost[i] = NULL;
		if (rc < 0)
			goto out_idx;
		for (int f = 0; f < 3; f++) {
			char name[64];
			snprintf(name, sizeof(name), "%s.%s", sn->period,
				 publish_format_name((enum publish_format)f));
			sbuf_reset(&text);
			render_page(p, &pg, sn, (enum publish_format)f, &text);
			if (write_file(dir, name, &text, false, err, errlen) < 0) {
				page_free(&pg, p);
				goto out_idx;
			}
		}
		int best = -1, nbest = 0;
		for (size_t u = 0; u < p->nunits; u++)
			if (pg.t.rank[u] == 1 && nbest++ == 0)
				best = (int)u;
		calendar_format_instant(sn->at, as_of[n], sizeof(as_of[n]));
		idx[n] = (struct annex_entry){ .period = sn->period,
					       .as_of = as_of[n],
					       .first = best >= 0 ? p->units[best].name : NULL,
					       .nfirst = nbest,
					       .first_total = best >= 0 ? pg.t.total[best] : 0 };
		n++;
		page_free(&pg, p);
	}
	sbuf_reset(&text);
	annex_index_html(p, idx, n, &text);
	ret = write_file(dir, "index.html", &text, false, err, errlen);
out_idx:
	/* What a failure left unused. */
	for (; i < ss.n; i++) {
		for (size_t k = 0; lost[i] && k < p->nunits * p->nrows; k++)
			free(lost[i][k]);
		free(lost[i]);
	}
	free(lost);
	free(at);
	free(idx);
	free(as_of);
out:
	snaps_free(&ss);
	sbuf_free(&text);
	return ret;
}

/*
 * all.ics, then every unit's feed, or only ONLY's: a unit with a
 * schedule of its own gets a file of its own; any other unit's feed is
 * all.ics, byte for byte, and is made a hard link to it.  40,000 units
 * then cost one feed and 40,000 directory entries, and a subscriber of
 * a unit's feed sees the same UIDs whether or not the unit has had a
 * move (feed.h).
 */
static int write_feeds(const char *dir, const struct plan *p, const struct engine *eng, int64_t now,
		       int only, char *err, size_t errlen)
{
	struct sbuf text;
	struct stat all;
	int ret = 0;

	sbuf_init(&text);
	for (int u = -1; u < (int)p->nunits && ret == 0; u++) {
		if (u >= 0 && only >= 0 && u != only)
			continue;
		char name[80];
		snprintf(name, sizeof(name), "%s.ics", u < 0 ? "all" : p->units[u].id);
		if (u >= 0 && !feed_own_schedule(p, eng, u)) {
			ret = link_file(dir, "all.ics", &all, name, err, errlen);
			continue;
		}
		sbuf_reset(&text);
		if (feed_calendar(p, eng, u, now, &text) < 0) {
			snprintf(err, errlen, "cannot build the calendar feed %s", name);
			ret = -1;
		} else if ((ret = write_file(dir, name, &text, true, err, errlen)) == 0 && u < 0) {
			/* What the units' links are to be. */
			char *path = xasprintf("%s/%s", dir, name);
			if (stat(path, &all) < 0) {
				snprintf(err, errlen, "cannot read %s: %s", path, strerror(errno));
				ret = -1;
			}
			free(path);
		}
	}
	sbuf_free(&text);
	return ret;
}

/* DIR, created readable by all if missing.  0, or -1 with ERR. */
static int make_dir(const char *dir, char *err, size_t errlen)
{
	if (mkdir(dir, 0755) == 0)
		(void)chmod(dir, 0755); /* the umask took some away */
	else if (errno != EEXIST) {
		snprintf(err, errlen, "cannot create %s: %s", dir, strerror(errno));
		return -1;
	}
	return 0;
}

int publish_write(const char *dir, struct store *st, const struct plan *p, struct engine *eng,
		  int64_t now, bool pages, bool feeds, int feed_unit, char *err, size_t errlen)
{
	if (make_dir(dir, err, errlen) < 0)
		return -1;
	if (pages && write_pages(dir, st, p, eng, now, err, errlen) < 0)
		return -1;
	if (feeds && write_feeds(dir, p, eng, now, feed_unit, err, errlen) < 0)
		return -1;
	return 0;
}

int publish_index(const char *dir, const struct plan *const *plans, size_t n, char *err,
		  size_t errlen)
{
	struct sbuf text;
	int ret;

	if (make_dir(dir, err, errlen) < 0)
		return -1;
	sbuf_init(&text);
	annex_years_html(plans, n, &text);
	ret = write_file(dir, "index.html", &text, false, err, errlen);
	sbuf_free(&text);
	return ret;
}

char *publish_year_dir(const char *dir, int year, char *err, size_t errlen)
{
	if (make_dir(dir, err, errlen) < 0)
		return NULL;
	return xasprintf("%s/%d", dir, year);
}
