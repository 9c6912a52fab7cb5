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

#include <openssl/evp.h>
#include <openssl/hmac.h>

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
	struct store *st = store_open(path, p->year, err, sizeof(err));
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

/* ---- messages and what the providers make of them ------------------------ */

bool starts_with(const char *s, const char *prefix)
{
	return strncmp(s, prefix, strlen(prefix)) == 0;
}

bool ends_with(const char *s, const char *suffix)
{
	size_t a = strlen(s), b = strlen(suffix);
	return a >= b && strcmp(s + a - b, suffix) == 0;
}

const struct notify_item sample_items[SAMPLE_NITEMS] = {
	{ "2c@2020-12-10", "2c", "2", "年度工作总结", "区住建局", "2020-12-10",
	  "2020-12-11T00:00:00+08:00", "2020-12-26T00:00:00+08:00", "pending", 50, 100, NULL,
	  "报送年度业主委员会工作总结", 18606, INT64_C(1607616000), INT64_C(1608912000) },
	{ "7d@2020-12-08", "7d", "7", "物业企业信用评价<script>alert('x')</script> & \"整改\"",
	  "区城管执法局", "2020-12-08", "2020-12-09T00:00:00+08:00", "2020-12-24T00:00:00+08:00",
	  "overdue", 20, 200, NULL, NULL, 18604, INT64_C(1607443200), INT64_C(1608739200) },
	{ "7a@2020-12-15", "7a", NULL, "小区巡查台账", "区住建局", "2020-12-15",
	  "2020-12-16T00:00:00+08:00", "2020-12-31T00:00:00+08:00", "late", 0, 100, NULL, "", 18611,
	  INT64_C(1608048000), INT64_C(1609344000) },
};
const char *const sample_mobiles[2] = { "13800000000", "13900000001" };

struct notify_message sample_message(enum notify_kind kind)
{
	struct notify_message m = {
		.kind = kind,
		.id = 42,
		.at = AT_2020_12_08_0900,
		.at_text = "2020-12-08T09:00:00+08:00",
		.recipient = "八一路街道联络员",
		.unit_id = "bayilu",
		.unit_name = "八一路",
		.items = sample_items,
		.nitems = SAMPLE_NITEMS,
		.mobiles = sample_mobiles,
		.nmobiles = 2,
	};
	if (kind == NOTIFY_RECORD || kind == NOTIFY_ESCALATION) {
		m.dept_id = "zjj";
		m.dept_name = "区住建局";
	}
	if (kind == NOTIFY_RECORD)
		m.unit_id = m.unit_name = NULL;
	if (kind == NOTIFY_SNAPSHOT || kind == NOTIFY_DEAD) {
		m.items = NULL;
		m.nitems = 0;
		m.unit_id = m.unit_name = NULL;
	}
	if (kind == NOTIFY_SNAPSHOT) {
		m.period = "2020-Q3";
		m.detail = "1. 八一路 96.5\n2. 白云 95";
	}
	if (kind == NOTIFY_DEAD)
		m.detail = "投递 #12（before，mail → 八一路街道联络员 liaison@example.org）"
			   "尝试 5 次后放弃：SMTP 550 mailbox unavailable";
	return m;
}

struct notify_message sample_office_digest(struct notify_item its[SAMPLE_NITEMS])
{
	static const char *const units[SAMPLE_NITEMS] = { "八一路", "白云", "八一路" };
	struct notify_message m = sample_message(NOTIFY_ESCALATION);

	memcpy(its, sample_items, SAMPLE_NITEMS * sizeof(*its));
	for (size_t i = 0; i < SAMPLE_NITEMS; i++)
		its[i].unit = units[i];
	m.items = its;
	m.recipient = "住建局办公室";
	m.unit_id = m.unit_name = NULL;
	m.nmobiles = 0;
	return m;
}

void sample_render(const struct notify_templates *t, const struct notify_message *m,
		   struct sbuf *subject, struct sbuf *text)
{
	sbuf_init(subject);
	sbuf_init(text);
	notify_render(t, m, subject, text);
}

char *long_text(const char *prefix, size_t n)
{
	static const char *const chars[] = { "考", "核", "材", "料", "报", "送" };
	struct sbuf sb;
	sbuf_init(&sb);
	sbuf_puts(&sb, prefix);
	for (size_t i = 0; i < n; i++)
		sbuf_puts(&sb, chars[i % 6]);
	char *r = xstrdup(sb.buf);
	sbuf_free(&sb);
	return r;
}

json_t *parse_body(const struct sbuf *body)
{
	json_error_t err;
	json_t *j = json_loads(body->buf, 0, &err);
	if (!j)
		fail_msg("not JSON: %s in %s", err.text, body->buf);
	return j;
}

void b64_hmac(const char *key, size_t klen, const char *msg, size_t mlen, char out[45])
{
	unsigned char mac[32];
	unsigned int n = 32;
	assert_non_null(
		HMAC(EVP_sha256(), key, (int)klen, (const unsigned char *)msg, mlen, mac, &n));
	EVP_EncodeBlock((unsigned char *)out, mac, 32);
}

struct provider_outcome classify_answer(const char *name, long status, const char *body,
					int64_t retry_after)
{
	const struct provider *p = provider_find(name);
	struct transfer_result r = { .status = status,
				     .body = body,
				     .body_len = body ? strlen(body) : 0,
				     .retry_after = retry_after,
				     .error = "" };
	struct provider_outcome o;
	assert_non_null(p);
	memset(&o, 0x55, sizeof(o));
	p->classify(&r, &o);
	assert_true(memchr(o.error, '\0', sizeof(o.error)) != NULL);
	assert_true(util_utf8_valid(o.error, strlen(o.error)));
	return o;
}

char *b64decode(const char *s, size_t len, size_t *outlen)
{
	char *out = malloc(len / 4 * 3 + 4);
	assert_non_null(out);
	assert_int_equal(len % 4, 0);
	int n = EVP_DecodeBlock((unsigned char *)out, (const unsigned char *)s, (int)len);
	assert_true(n >= 0);
	size_t pad = 0;
	while (pad < 2 && len > pad && s[len - 1 - pad] == '=')
		pad++;
	*outlen = (size_t)n - pad;
	out[*outlen] = '\0';
	return out;
}

char *mime_header_value(const char *msg, const char *name)
{
	size_t nl = strlen(name);
	const char *end = strstr(msg, "\r\n\r\n");
	for (const char *p = msg; p && p < end; p = strstr(p, "\r\n") + 2) {
		if (strncmp(p, name, nl) != 0 || p[nl] != ':')
			continue;
		const char *v = p + nl + 1;
		struct sbuf sb;
		sbuf_init(&sb);
		for (;;) {
			const char *e = strstr(v, "\r\n");
			sbuf_add(&sb, v, (size_t)(e - v));
			if (e[2] != ' ' && e[2] != '\t')
				break;
			v = e + 2;
		}
		char *r = xstrdup(sb.buf[0] == ' ' ? sb.buf + 1 : sb.buf);
		sbuf_free(&sb);
		return r;
	}
	return NULL;
}

int decode_words(const char *value, struct sbuf *out)
{
	int n = 0;
	const char *p = value;
	while (*p) {
		if (*p == ' ') {
			p++;
			continue;
		}
		if (strncmp(p, "=?UTF-8?B?", 10) != 0)
			fail_msg("not an encoded-word at \"%s\"", p);
		const char *b = p + 10, *e = strstr(b, "?=");
		assert_non_null(e);
		size_t wlen = (size_t)(e + 2 - p);
		if (wlen > 75)
			fail_msg("encoded-word of %zu octets", wlen);
		size_t dl;
		char *d = b64decode(b, (size_t)(e - b), &dl);
		if (!util_utf8_valid(d, dl))
			fail_msg("encoded-word %.*s is not UTF-8 by itself", (int)wlen, p);
		sbuf_add(out, d, dl);
		free(d);
		n++;
		p = e + 2;
	}
	return n;
}

void expect_mime_lines(const char *s, size_t header_limit)
{
	const char *body = strstr(s, "\r\n\r\n");
	assert_non_null(body);
	for (const char *p = s; *p; p++) {
		if (*p == '\n' && (p == s || p[-1] != '\r'))
			fail_msg("bare LF at offset %zu", (size_t)(p - s));
		if (*p == '\r' && p[1] != '\n')
			fail_msg("bare CR at offset %zu", (size_t)(p - s));
	}
	for (const char *p = s; p < body;) {
		const char *e = strstr(p, "\r\n");
		if ((size_t)(e - p) > header_limit)
			fail_msg("header line of %zu characters: %.*s", (size_t)(e - p),
				 (int)(e - p), p);
		p = e + 2;
	}
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
	char line[16384];
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
	json_array_foreach(occs, i, o) if (strcmp(str(o, "occurrence"), occ) == 0) return o;
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
