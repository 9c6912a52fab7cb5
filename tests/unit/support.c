/*
 * support — what the unit tests share; see support.h.
 */
#include "support.h"

#include <errno.h>
#include <ftw.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "kaohe/log.h"
#include "kaohe/util.h"

/* ---- the shipped configuration ---------------------------------------- */

const char *const shipped_unit_ids[5] = { "bayilu", "renminguangchang", "baiyun", "rixin",
					  "xianglujiao" };
const char *const shipped_unit_names[5] = { "八一路", "人民广场", "白云", "日新", "香炉礁" };
const char *const shipped_row_ids[28] = { "1",  "2a",  "2b",  "2c",  "3",   "4",   "5",
					  "6a", "6b",  "6c",  "7a",  "7b",  "7c",  "7d",
					  "8",  "9",   "10",  "11",  "12",  "13",  "14",
					  "15", "16a", "16b", "16c", "17a", "17b", "18" };

struct config *load_shipped_config(void)
{
	struct sbuf errs, warns;
	sbuf_init(&errs);
	sbuf_init(&warns);
	struct config *cfg = config_load(SHIPPED_CONF, 0, &errs, &warns);
	if (cfg == NULL)
		fprintf(stderr, "config_load: %s\n", errs.buf);
	sbuf_free(&errs);
	sbuf_free(&warns);
	return cfg;
}

struct config *g_cfg;

int config_group_setup(void **state)
{
	(void)state;
	log_set_level(LOG_LEVEL_WARNING);
	g_cfg = load_shipped_config();
	return g_cfg ? 0 : -1;
}

int config_group_teardown(void **state)
{
	(void)state;
	config_free(g_cfg);
	return 0;
}

int shanghai_group_setup(void **state)
{
	char err[256];
	(void)state;
	if (calendar_set_timezone("Asia/Shanghai", err, sizeof(err)) < 0) {
		print_error("%s\n", err);
		return -1;
	}
	return 0;
}

/* Row 6c: pushback 0.2 each, cap 5; resolved (an award) 0.1 each, cap 5. */
void expect_shipped_row_6c_kinds(const struct plan_row *r)
{
	int k = plan_kind_find(r, "pushback");
	assert_true(k >= 0);
	assert_false(r->kinds[k].award);
	assert_int_equal(r->kinds[k].per, 20);
	assert_int_equal(r->kinds[k].cap, 500);
	k = plan_kind_find(r, "resolved");
	assert_true(k >= 0);
	assert_true(r->kinds[k].award);
	assert_int_equal(r->kinds[k].per, 10);
	assert_int_equal(r->kinds[k].cap, 500);
}

/* Row 3: by dissatisfaction, highest worst, the three worst lose 3, 2 and 1. */
void expect_shipped_row_3_ranking(const struct plan *p, const struct plan_row *r)
{
	assert_non_null(r->ranking);
	assert_int_equal(r->ranking->metric, plan_metric_find(p, "dissatisfaction"));
	assert_true(r->ranking->highest_worst);
	assert_int_equal(r->ranking->npoints, 3);
	assert_int_equal(r->ranking->points[0], 300);
	assert_int_equal(r->ranking->points[1], 200);
	assert_int_equal(r->ranking->points[2], 100);
}

/* ---- stores and files --------------------------------------------------- */

void sync_plan(struct store *st, const struct plan *p)
{
	assert_int_equal(store_begin(st), 0);
	assert_int_equal(store_sync_plan(st, p), 0);
	assert_int_equal(store_commit(st), 0);
}

struct store *open_synced(const char *path, const struct plan *p)
{
	char err[512] = "";
	struct store *st = store_open(path, err, sizeof(err));
	if (st == NULL)
		fail_msg("store_open(%s): %s", path, err);
	sync_plan(st, p);
	return st;
}

void write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");
	if (f == NULL)
		fail_msg("cannot write %s: %s", path, strerror(errno));
	assert_int_equal(fputs(text, f) >= 0, 1);
	assert_int_equal(fclose(f), 0);
}

void temp_dir(char *dir, size_t len, const char *name)
{
	snprintf(dir, len, "/tmp/kaohe-test-%s-XXXXXX", name);
	if (mkdtemp(dir) == NULL)
		fail_msg("mkdtemp %s: %s", dir, strerror(errno));
}

static int remove_one(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)ftw;
	if ((flag == FTW_DP ? rmdir(path) : unlink(path)) < 0)
		fprintf(stderr, "remove %s: %s\n", path, strerror(errno));
	return 0;
}

void remove_tree(const char *dir)
{
	nftw(dir, remove_one, 16, FTW_DEPTH | FTW_PHYS);
}

char *read_whole(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	if (f == NULL)
		fail_msg("cannot read %s: %s", path, strerror(errno));
	struct sbuf sb;
	char buf[8192];
	size_t n;
	sbuf_init(&sb);
	while ((n = fread(buf, 1, sizeof(buf), f)) > 0)
		sbuf_add(&sb, buf, n);
	assert_false(ferror(f));
	fclose(f);
	if (len)
		*len = sb.len;
	return sb.buf;
}

void capture_begin(struct capture *c)
{
	char path[] = "/tmp/kaohe-test-stderr-XXXXXX";

	fflush(stderr);
	c->fd = mkstemp(path);
	if (c->fd < 0)
		fail_msg("mkstemp: %s", strerror(errno));
	unlink(path);
	c->saved = dup(STDERR_FILENO);
	assert_true(c->saved >= 0);
	assert_true(dup2(c->fd, STDERR_FILENO) >= 0);
}

char *capture_text(const struct capture *c)
{
	struct stat sb;

	fflush(stderr);
	assert_int_equal(fstat(c->fd, &sb), 0);
	char *text = xcalloc(1, (size_t)sb.st_size + 1);
	assert_int_equal(pread(c->fd, text, (size_t)sb.st_size, 0), sb.st_size);
	return text;
}

void capture_end(struct capture *c, size_t tail)
{
	if (c->fd < 0)
		return;
	char *text = capture_text(c);
	size_t len = strlen(text);
	dup2(c->saved, STDERR_FILENO);
	close(c->saved);
	close(c->fd);
	c->fd = -1;
	if (len > tail)
		fputs("...\n", stderr);
	fputs(len > tail ? text + len - tail : text, stderr);
	free(text);
}

size_t count_in(const char *hay, const char *needle)
{
	size_t n = 0, k = strlen(needle);

	for (const char *s = hay; (s = strstr(s, needle)) != NULL; s += k)
		n++;
	return n;
}

void ob_copy(struct ob *o, const struct outbox_row *r)
{
	o->id = r->id;
	o->at = r->at;
	o->next_ms = r->next_ms;
	o->since_ms = r->since_ms;
	o->updated_at = r->updated_at;
	o->sent_at = r->sent_at;
	o->code = r->code;
	o->attempts = r->attempts;
	o->state = r->state;
	snprintf(o->kind, sizeof(o->kind), "%s", r->kind);
	snprintf(o->unit, sizeof(o->unit), "%s", r->unit);
	snprintf(o->dept, sizeof(o->dept), "%s", r->dept);
	snprintf(o->subject, sizeof(o->subject), "%s", r->subject);
	snprintf(o->channel, sizeof(o->channel), "%s", r->channel);
	snprintf(o->address, sizeof(o->address), "%s", r->address);
	snprintf(o->name, sizeof(o->name), "%s", r->name);
	snprintf(o->mentions, sizeof(o->mentions), "%s", r->mentions);
	snprintf(o->error, sizeof(o->error), "%s", r->error);
}

/* ---- 2020 days and instants -------------------------------------------- */

int32_t D(int m, int d)
{
	static const int cum[] = { 0, 31, 60, 91, 121, 152, 182, 213, 244, 274, 305, 335 };
	return 18262 + cum[m - 1] + d - 1;
}

int64_t T(const char *s)
{
	int64_t t;
	if (calendar_parse_instant(s, true, &t) < 0)
		fail_msg("bad instant %s", s);
	return t;
}

/* ---- JSON -------------------------------------------------------------- */

const char *str(json_t *o, const char *key)
{
	const char *s = json_string_value(json_object_get(o, key));
	if (s == NULL)
		fail_msg("no string member \"%s\"", key);
	return s;
}

int64_t hund(json_t *n)
{
	if (!json_is_number(n))
		fail_msg("not a number");
	return (int64_t)llround(json_number_value(n) * 100.0);
}

/* ---- the engine fixture ------------------------------------------------ */

static void on_ded(void *arg, const struct deduction *d)
{
	struct rec *r = arg;
	r->d = realloc(r->d, (r->nd + 1) * sizeof(*r->d));
	r->d[r->nd] = (struct ded){ .at = d->at,
				    .unit = d->unit,
				    .row = d->row,
				    .occ = d->occ,
				    .type = d->type,
				    .points = d->points,
				    .entry = d->entry,
				    .replaces = d->replaces,
				    .seq = r->seq++ };
	r->nd++;
}

static void on_snap(void *arg, int64_t at, const char *period, const struct score_table *t)
{
	struct rec *r = arg;
	assert_true(r->ns < 16);
	assert_true(t->nunits <= MAXU && t->nrows <= MAXR);
	struct snap *s = &r->s[r->ns++];
	memset(s, 0, sizeof(*s));
	s->at = at;
	snprintf(s->period, sizeof(s->period), "%s", period);
	for (size_t u = 0; u < t->nunits; u++) {
		s->total[u] = t->total[u];
		s->rank[u] = t->rank[u];
		for (size_t i = 0; i < t->nrows; i++)
			s->rows[u][i] = t->rows[u * t->nrows + i];
	}
	s->seq = r->seq++;
}

static void on_rem(void *arg, const struct reminder *rm)
{
	struct rec *r = arg;
	r->r = realloc(r->r, (r->nr + 1) * sizeof(*r->r));
	struct rem *x = &r->r[r->nr++];
	memset(x, 0, sizeof(*x));
	x->at = rm->at;
	x->kind = rm->kind;
	x->unit = rm->unit;
	x->dept = rm->dept;
	x->escalate = rm->escalate;
	x->nocc = rm->nocc;
	for (size_t i = 0; i < rm->nocc && i < REM_OCCS; i++)
		snprintf(x->occ[i], sizeof(x->occ[i]), "%s", r->p->occs[rm->occs[i]].name);
	x->seq = r->seq++;
}

int fx_setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));

	f->p = g_cfg->plan;
	f->st = open_synced(":memory:", f->p);
	f->rec.p = f->p;
	f->sink = (struct engine_sink){
		.arg = &f->rec, .deduction = on_ded, .snapshot = on_snap, .reminder = on_rem
	};
	/* 2020-05-01T00:00:00+08:00, the plan's issue date */
	f->start = T("2020-05-01T00:00:00+08:00");
	assert_i64(f->start, 1588262400);
	f->eng = engine_new(f->p, f->st, &f->sink, f->start);
	assert_non_null(f->eng);
	f->now = f->start;
	snprintf(f->actor.name, sizeof(f->actor.name), "tester");
	f->actor.admin = true;
	*state = f;
	return 0;
}

int fx_teardown(void **state)
{
	struct fx *f = *state;
	for (size_t i = 0; i < f->nkeep; i++)
		json_decref(f->keep[i]);
	free(f->keep);
	engine_free(f->eng);
	store_close(f->st);
	free(f->rec.d);
	free(f->rec.r);
	free(f);
	return 0;
}

void run_to(struct fx *f, int64_t t)
{
	int64_t next;
	while ((next = engine_next(f->eng)) <= t)
		assert_int_equal(engine_run(f->eng, next), 0);
	f->now = t;
}

json_t *exec_n(struct fx *f, const char *line, size_t len)
{
	struct command_ctx c = {
		.plan = f->p, .st = f->st, .eng = f->eng, .now = f->now, .actor = &f->actor
	};
	json_t *a = command_execute(&c, line, len);
	f->keep = realloc(f->keep, (f->nkeep + 1) * sizeof(*f->keep));
	f->keep[f->nkeep++] = a;
	return a;
}

static json_t *vcmd(struct fx *f, const char *fmt, va_list ap)
{
	char line[4096];
	vsnprintf(line, sizeof(line), fmt, ap);
	json_t *a = exec_n(f, line, strlen(line));
	assert_non_null(a);
	return a;
}

json_t *ok(struct fx *f, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	json_t *a = vcmd(f, fmt, ap);
	va_end(ap);
	if (!json_is_true(json_object_get(a, "ok"))) {
		char *s = json_dumps(a, 0);
		fail_msg("command failed: %s", s);
	}
	return json_object_get(a, "data");
}

const char *fails(struct fx *f, const char *code, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	json_t *a = vcmd(f, fmt, ap);
	va_end(ap);
	json_t *e = json_object_get(a, "error");
	if (json_is_true(json_object_get(a, "ok")) ||
	    json_string_value(json_object_get(e, "code")) == NULL ||
	    strcmp(json_string_value(json_object_get(e, "code")), code) != 0) {
		char *s = json_dumps(a, 0);
		fail_msg("expected error %s: %s", code, s);
	}
	return json_string_value(json_object_get(e, "message"));
}

int U(struct fx *f, const char *id)
{
	int u = plan_unit_find(f->p, id);
	if (u < 0)
		fail_msg("no unit %s", id);
	return u;
}

int ROW(struct fx *f, const char *id)
{
	int r = plan_row_find(f->p, id);
	if (r < 0)
		fail_msg("no row %s", id);
	return r;
}

json_t *status_occ(struct fx *f, const char *unit, const char *occ)
{
	json_t *d = ok(f, "status %s", unit);
	json_t *occs = json_object_get(d, "occurrences"), *o;
	size_t i;
	json_array_foreach(occs, i, o)
		if (strcmp(str(o, "occurrence"), occ) == 0)
			return o;
	fail_msg("status %s has no occurrence %s", unit, occ);
	return NULL;
}

int64_t scores_as_of(struct fx *f, const char *unit, const char *row, const char *as_of)
{
	json_t *d = ok(f, "scores --as-of %s", as_of);
	json_t *u = json_array_get(json_object_get(d, "units"), (size_t)U(f, unit));
	assert_string_equal(str(u, "unit"), unit);
	return hund(json_object_get(json_object_get(u, "rows"), row));
}
