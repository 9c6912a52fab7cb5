/*
 * deliver — the outbox's worker.  One timer drives it: it fires on the
 * next turn of the loop after something was enqueued or a transfer
 * ended, or at the next row's attempt time.  Each turn is one
 * transaction: what the finished transfers answered, then the rows
 * taken for sending marked in flight.  A crash between a request and the
 * transaction that records its answer sends that request again after the
 * restart, with the same X-Kaohe-Delivery id.
 */
#include <assert.h>
#include <curl/curl.h>
#include <ev.h>
#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>

#include "kaohe/calendar.h"
#include "kaohe/deliver.h"
#include "kaohe/log.h"
#include "kaohe/metrics.h"
#include "kaohe/notify.h"
#include "kaohe/outbox.h"
#include "kaohe/provider.h"
#include "kaohe/transfer.h"
#include "kaohe/util.h"

/* Rows taken from one channel per turn at most: a turn stays short. */
#define CLAIM_BATCH 512

/* What the deliverer keeps of a channel across reloads. */
struct lane {
	char name[72]; /* a channel's name: an id of up to 64 bytes */
	struct rate_limit rates[CHANNEL_MAX_RATES];
	size_t nrates;
	struct deliver_bucket bucket;
	int64_t blocked_until; /* ms: the provider asked us to wait */
	bool live;             /* in the current configuration */
};

/* A row being sent, and then what became of it. */
struct flight {
	struct deliver *d;
	int64_t id;
	int attempts; /* before this one */
	int64_t since_ms;
	int year; /* the row's plan year */
	char kind[16];
	char channel[72];
	char label[160]; /* whom, for the log */
	char unit[72];   /* the unit it concerns, "" none (the log's field) */
	const struct provider *provider;
	/* the outcome */
	enum outbox_state state;
	int64_t next_ms;
	long code;
	char error[256];
	bool grouped;              /* recording: already in a statement of sent ones */
	TAILQ_ENTRY(flight) entry; /* in transfer, or finished */
};
TAILQ_HEAD(flights, flight);

/* A test message in transfer: what its answer needs, kept past any reload. */
struct test_ctx {
	struct deliver *d;
	const struct provider *p; /* the providers are static: no reload frees one */
	struct deliver_test t;
	deliver_test_fn done;
	void *arg;
	/*
	 * Curl's timeout counts from when the transfer starts, which may be
	 * after a wait for a free slot behind the deliveries: this one counts
	 * from the request, and reports the message as unanswered.
	 */
	ev_timer limit;
	bool reported; /* by LIMIT: the transfer's end only frees it */
	TAILQ_ENTRY(test_ctx) entry;
};
TAILQ_HEAD(tests, test_ctx);

struct deliver {
	struct ev_loop *loop;
	struct store *st;
	const struct config *cfg;
	struct deliver_year *years; /* every configured plan year's plan and engine */
	size_t nyears;
	/* The plan year of the row being rendered: its configuration, engine and handle. */
	const struct config *rcfg;
	struct engine *reng;
	struct store *rst;
	struct transfer *xf;
	struct lane *lanes;
	size_t nlanes;
	size_t rr; /* the lane a turn starts with: fairness */
	ev_timer timer;
	int64_t timer_at;      /* ms; INT64_MAX when not armed */
	struct flights done;   /* finished, not yet recorded; newest first */
	struct flights flying; /* in transfer */
	/* One message at a time is built: buffers kept from one to the next. */
	struct sbuf subject, text, body, url;
	size_t active;
	bool failing;       /* the database refused a turn: log once */
	struct tests tests; /* test messages in transfer */
};

static int64_t now_ms(void)
{
	return (int64_t)(ev_time() * 1000.0);
}

/* --- token buckets ----------------------------------------------------- */

void deliver_bucket_init(struct deliver_bucket *b, const struct rate_limit *rates, size_t nrates)
{
	memset(b, 0, sizeof(*b));
	for (size_t i = 0; i < nrates; i++) {
		b->spent[i] = xmalloc((size_t)rates[i].count * sizeof(int64_t));
		for (int j = 0; j < rates[i].count; j++)
			b->spent[i][j] = INT64_MIN / 2;
	}
}

void deliver_bucket_free(struct deliver_bucket *b)
{
	for (size_t i = 0; i < CHANNEL_MAX_RATES; i++)
		free(b->spent[i]);
	memset(b, 0, sizeof(*b));
}

int deliver_bucket_free_tokens(const struct deliver_bucket *b, const struct rate_limit *rates,
			       size_t nrates, int64_t now_ms)
{
	int free = INT_MAX;
	for (size_t i = 0; i < nrates; i++) {
		int n = 0;
		size_t count = (size_t)rates[i].count;
		/* Oldest first: the free ones are a prefix. */
		while (n < rates[i].count &&
		       b->spent[i][(b->head[i] + (size_t)n) % count] + rates[i].per_ms <= now_ms)
			n++;
		if (n < free)
			free = n;
	}
	return free;
}

void deliver_bucket_take(struct deliver_bucket *b, const struct rate_limit *rates, size_t nrates,
			 int64_t now_ms)
{
	for (size_t i = 0; i < nrates; i++) {
		b->spent[i][b->head[i]] = now_ms;
		b->head[i] = (b->head[i] + 1) % (size_t)rates[i].count;
	}
}

int64_t deliver_bucket_next(const struct deliver_bucket *b, const struct rate_limit *rates,
			    size_t nrates, int64_t now_ms)
{
	int64_t next = now_ms;
	for (size_t i = 0; i < nrates; i++) {
		int64_t t = b->spent[i][b->head[i]] + rates[i].per_ms;
		if (t > next)
			next = t;
	}
	return next;
}

int64_t deliver_wait(const struct delivery_settings *s, int64_t retry_after)
{
	/*
	 * One answer must not silence an endpoint for days: a provider that
	 * still wants quiet after the hour says so again.  Nor may it
	 * outlast what a delivery may live.
	 */
	int64_t most = s->retry_max_age_ms / 1000;
	if (most > DELIVER_WAIT_MAX)
		most = DELIVER_WAIT_MAX;
	if (retry_after <= 0)
		return 0;
	return retry_after < most ? retry_after : most;
}

int64_t deliver_backoff(const struct delivery_settings *s, int attempts, double r)
{
	double delay = (double)s->retry_first_ms;
	for (int i = 1; i < attempts && delay < (double)s->retry_cap_ms; i++)
		delay *= s->retry_factor;
	if (delay > (double)s->retry_cap_ms)
		delay = (double)s->retry_cap_ms;
	/* Jitter spreads the retries of a burst that failed together. */
	delay -= delay * s->retry_jitter * r;
	return delay < 1.0 ? 1 : (int64_t)delay;
}

/* --- the timer --------------------------------------------------------- */

static void arm(struct deliver *d, int64_t at_ms)
{
	if (ev_is_active(&d->timer) && d->timer_at <= at_ms)
		return;
	int64_t now = now_ms();
	ev_timer_stop(d->loop, &d->timer);
	ev_timer_set(&d->timer, at_ms > now ? (double)(at_ms - now) / 1000.0 : 0.0, 0.0);
	ev_timer_start(d->loop, &d->timer);
	d->timer_at = at_ms;
}

void deliver_kick(struct deliver *d)
{
	arm(d, 0);
}

size_t deliver_active(const struct deliver *d)
{
	return d->active;
}

static struct lane *lane_of(struct deliver *d, const char *name)
{
	for (size_t i = 0; i < d->nlanes; i++)
		if (strcmp(d->lanes[i].name, name) == 0)
			return &d->lanes[i];
	return NULL;
}

void deliver_unblock(struct deliver *d, const char *channel)
{
	int64_t now = now_ms();
	for (size_t i = 0; i < d->nlanes; i++) {
		struct lane *l = &d->lanes[i];
		if (channel && strcmp(l->name, channel) != 0)
			continue;
		if (l->blocked_until > now)
			log_info("deliver: %s may be tried again: its wait is lifted", l->name);
		l->blocked_until = 0;
	}
	deliver_kick(d);
}

/* Whether CHANNEL waits as its provider asked (outbox_dead's question). */
static bool waiting(void *arg, const char *channel)
{
	struct deliver *d = arg;
	struct lane *l = lane_of(d, channel);
	return l && l->blocked_until > now_ms();
}

/* --- what a finished transfer means ------------------------------------ */

static void settle(struct flight *f, const struct provider_outcome *o)
{
	struct deliver *d = f->d;
	const struct delivery_settings *s = &d->cfg->set.delivery;
	int64_t now = now_ms();
	int attempts = f->attempts + 1;

	f->code = o->code;
	util_strlcpy(f->error, o->error, sizeof(f->error));
	f->attempts = attempts;
	if (o->verdict == PROVIDER_OK) {
		f->state = OUTBOX_SENT;
		f->next_ms = now;
		log_debug("deliver: #%lld sent to %s", (long long)f->id, f->label);
		return;
	}
	int64_t after = deliver_wait(s, o->retry_after);
	if (after > 0) {
		/* The provider's word holds for the whole endpoint. */
		struct lane *l = lane_of(d, f->channel);
		if (l && l->blocked_until < now + after * 1000) {
			l->blocked_until = now + after * 1000;
			log_info("deliver: %s asked to wait %lld s: nothing goes to it until then",
				 f->channel, (long long)after);
		}
	}
	int64_t delay = deliver_backoff(s, attempts, (double)(arc4random() % 1000000) / 1e6);
	if (after > 0 && after * 1000 > delay)
		delay = after * 1000;
	f->next_ms = now + delay;
	struct log_fields lf = { .unit = f->unit,
				 .delivery = f->id,
				 .channel = f->channel,
				 .year = d->cfg->plan->year };
	if (o->verdict == PROVIDER_PERMANENT || attempts >= s->retry_max_attempts ||
	    f->next_ms - f->since_ms > s->retry_max_age_ms) {
		f->state = OUTBOX_DEAD;
		log_with(LOG_LEVEL_ERROR, &lf,
			 "deliver: #%lld to %s is dead after %d attempt%s: %s", (long long)f->id,
			 f->label, attempts, attempts == 1 ? "" : "s", f->error);
	} else {
		f->state = OUTBOX_FAILED;
		log_with(LOG_LEVEL_WARNING, &lf,
			 "deliver: #%lld to %s failed (attempt %d, again in %.1f s): %s",
			 (long long)f->id, f->label, attempts, (double)delay / 1000.0, f->error);
	}
}

static void on_done(void *arg, const struct transfer_result *r)
{
	struct flight *f = arg;
	struct deliver *d = f->d;
	struct provider_outcome o;

	f->provider->classify(r, &o);
	TAILQ_REMOVE(&d->flying, f, entry);
	settle(f, &o);
	assert(d->active > 0);
	d->active--;
	TAILQ_INSERT_HEAD(&d->done, f, entry);
	deliver_kick(d);
}

/* --- rendering --------------------------------------------------------- */

/* An item's times as text, where its notify_item points. */
struct item_times {
	char due[40], deadline[40], close[40];
};

struct render {
	struct notify_item *items;
	struct item_times *times;
	size_t nitems;
	const char **mobiles;
	size_t nmobiles;
	char *mob_buf;
	struct sbuf detail;
	char at_text[40];
};

static void render_free(struct render *r)
{
	free(r->items);
	free(r->times);
	free(r->mobiles);
	free(r->mob_buf);
	sbuf_free(&r->detail);
}

/* Split the space-separated words of S into a fresh array (BUF owns them). */
static const char **words(const char *s, char **buf, size_t *n)
{
	*buf = xstrdup(s);
	size_t cap = 1;
	for (const char *p = s; *p; p++)
		cap += *p == ' ';
	const char **w = xcalloc(cap, sizeof(*w));
	*n = 0;
	for (char *save = NULL, *t = strtok_r(*buf, " ", &save); t; t = strtok_r(NULL, " ", &save))
		w[(*n)++] = t;
	return w;
}

struct snap_find {
	const char *period;
	json_t *data;
};

static int find_snapshot(const char *period, int64_t at, int64_t taken_at, const char *data,
			 void *arg)
{
	struct snap_find *sf = arg;
	(void)at;
	(void)taken_at;
	if (strcmp(period, sf->period) == 0 && sf->data == NULL)
		sf->data = json_loads(data, 0, NULL);
	return 0;
}

/* The snapshot's ranking, one unit per line. */
static void snapshot_detail(struct deliver *d, const char *period, struct sbuf *out)
{
	struct snap_find sf = { .period = period };
	if (store_snapshots(d->rst, true, find_snapshot, &sf) < 0 || sf.data == NULL)
		return;
	size_t i;
	json_t *u;
	json_array_foreach(sf.data, i, u)
	{
		char total[32];
		json_t *t = json_object_get(u, "total");
		if (json_is_integer(t))
			snprintf(total, sizeof(total), "%lld", (long long)json_integer_value(t));
		else
			snprintf(total, sizeof(total), "%.2f", json_number_value(t));
		sbuf_printf(out, "%s%lld. %s %s分", out->len ? "\n" : "",
			    (long long)json_integer_value(json_object_get(u, "rank")),
			    json_string_value(json_object_get(u, "name")) ?: "?", total);
	}
	json_decref(sf.data);
}

static void dead_detail(struct deliver *d, const char *subject, struct sbuf *out)
{
	struct outbox_row r;
	char *end;
	long long id = strtoll(subject + 1, &end, 10);
	if (subject[0] != '#' || *end || store_outbox_get(d->rst, id, &r) != 1) {
		sbuf_printf(out, "投递 %s", subject);
		return;
	}
	sbuf_printf(out, "投递 #%lld（%s，%s → %s%s%s）尝试 %d 次后放弃：%s", id, r.kind, r.channel,
		    r.name, *r.address ? " " : "", r.address, r.attempts, r.error);
}

/* An item of a digest of several units, with what orders it. */
struct keyed {
	struct notify_item it;
	int32_t due; /* the unit's own due day */
	int unit;    /* then plan order */
	size_t pos;  /* then the order enqueued */
};

static int cmp_keyed(const void *a, const void *b)
{
	const struct keyed *x = a, *y = b;
	if (x->due != y->due)
		return x->due < y->due ? -1 : 1;
	if (x->unit != y->unit)
		return x->unit < y->unit ? -1 : 1;
	return x->pos < y->pos ? -1 : x->pos > y->pos;
}

/* A robot's digest for the liaisons: each unit's rows together, by due day. */
static int cmp_keyed_unit(const void *a, const void *b)
{
	const struct keyed *x = a, *y = b;
	if (x->unit != y->unit)
		return x->unit < y->unit ? -1 : 1;
	return cmp_keyed(a, b);
}

/*
 * What every message has: its kind, id, instant, recipient, unit and
 * department (UNIT, DEPT: their plan indexes, or -1) and whom it
 * mentions.
 */
static void render_head(struct deliver *d, const struct outbox_row *row, enum notify_kind kind,
			int unit, int dept, struct notify_message *m, struct render *rd)
{
	const struct plan *p = d->rcfg->plan;

	m->kind = kind;
	m->id = row->id;
	m->at = row->at;
	calendar_format_instant(row->at, rd->at_text, sizeof(rd->at_text));
	m->at_text = rd->at_text;
	m->recipient = row->name;
	if (unit >= 0) {
		m->unit_id = p->units[unit].id;
		m->unit_name = p->units[unit].name;
	}
	if (dept >= 0) {
		m->dept_id = p->depts[dept].id;
		m->dept_name = p->depts[dept].name;
	}
	rd->mobiles = words(row->mentions, &rd->mob_buf, &rd->nmobiles);
	m->mobiles = rd->mobiles;
	m->nmobiles = rd->nmobiles;
}

/*
 * Add occurrence O of unit U to RD's items as it stands NOW, unless it
 * needs no reminder any more (submitted, or closed); SEVERAL: the
 * message lists several units' rows, so the item names its unit.  The
 * occurrence's schedule, or NULL when it was left out.
 */
static const struct schedule *render_item(struct deliver *d, enum notify_kind kind, int u, int o,
					  bool several, int64_t now, struct render *rd)
{
	const struct plan *p = d->rcfg->plan;
	const struct plan_occ *po = &p->occs[o];
	const struct plan_row *pr = &p->rows[po->row];
	const char *state = "pending";

	/* A record reminder is about the office's entry, not the unit's report. */
	if (kind != NOTIFY_RECORD) {
		int64_t first;
		enum occ_state s = engine_occ_state(d->reng, u, o, now, &first);
		if (s != OCC_PENDING && s != OCC_OVERDUE)
			return NULL;
		state = engine_state_name(s);
	}
	const struct schedule *sc = engine_schedule(d->reng, o, kind == NOTIFY_RECORD ? -1 : u);
	struct item_times *t = &rd->times[rd->nitems];
	calendar_format_day(sc->due_day, t->due, sizeof(t->due));
	calendar_format_instant(sc->deadline, t->deadline, sizeof(t->deadline));
	calendar_format_instant(sc->close, t->close, sizeof(t->close));
	rd->items[rd->nitems++] = (struct notify_item){
		.occ = po->name,
		.row = pr->id,
		.seq = pr->seq,
		.title = pr->content,
		.dept = p->depts[pr->dept].name,
		.state = state,
		.due = t->due,
		.deadline = t->deadline,
		.close = t->close,
		.late = pr->late < 0 ? -pr->late : pr->late,
		.missing = pr->missing < 0 ? -pr->missing : pr->missing,
		.unit = several ? p->units[u].name : NULL,
		.submit = pr->submit,
		.due_day = sc->due_day,
		.deadline_at = sc->deadline,
		.close_at = sc->close,
	};
	return sc;
}

/*
 * The units came in plan order, each by its own due days (a move may
 * have shifted one unit's): an office's digest of several units lists
 * the rows by due day, a robot's (BY_UNIT) each unit's together.  KEYS[i]
 * orders RD's item i.
 */
static void sort_digest(struct render *rd, struct keyed *keys, bool by_unit)
{
	for (size_t i = 0; i < rd->nitems; i++)
		keys[i].it = rd->items[i];
	qsort(keys, rd->nitems, sizeof(*keys), by_unit ? cmp_keyed_unit : cmp_keyed);
	for (size_t i = 0; i < rd->nitems; i++)
		rd->items[i] = keys[i].it;
}

/*
 * The items of a reminder of KIND: the occurrences ROW's subject names
 * ("OCC …", or for an office's digest of several units "UNIT:OCC …"),
 * those still to remind of, as they stand now.  UNIT: the row's unit,
 * or -1.
 */
static void render_items(struct deliver *d, const struct outbox_row *row, enum notify_kind kind,
			 int unit, struct render *rd)
{
	const struct plan *p = d->rcfg->plan;
	/* An office's escalation digest, or a robot's of several units' liaisons. */
	bool several = kind != NOTIFY_RECORD && !*row->unit;
	int64_t now = now_ms() / 1000;
	char *buf;
	size_t n;
	const char **occs = words(row->subject, &buf, &n);

	rd->items = xcalloc(n ? n : 1, sizeof(*rd->items));
	rd->times = xcalloc(n ? n : 1, sizeof(*rd->times));
	struct keyed *keys = several ? xcalloc(n ? n : 1, sizeof(*keys)) : NULL;
	for (size_t i = 0; i < n; i++) {
		const char *name = occs[i];
		int u = unit;
		if (several) {
			char *w = buf + (occs[i] - buf), *colon = strchr(w, ':');
			if (colon == NULL)
				continue;
			*colon = '\0';
			name = colon + 1;
			if ((u = plan_unit_find(p, w)) < 0)
				continue; /* the unit left the plan */
		}
		int o = plan_occ_find(p, name);
		if (o < 0)
			continue;
		const struct schedule *sc = render_item(d, kind, u, o, several, now, rd);
		if (sc && keys)
			keys[rd->nitems - 1] = (struct keyed){ .due = sc->due_day,
							       .unit = u,
							       .pos = rd->nitems - 1 };
	}
	if (keys)
		sort_digest(rd, keys, kind != NOTIFY_ESCALATION);
	free(keys);
	free(occs);
	free(buf);
}

/*
 * Fill M from row ROW as it stands now.  Occurrences submitted or closed
 * since it was enqueued are left out; 0 when nothing is left to say.
 */
static int render(struct deliver *d, const struct outbox_row *row, struct notify_message *m,
		  struct render *rd)
{
	/* A row of a plan year no longer configured is read with the latest plan. */
	const struct deliver_year *y = &d->years[d->nyears - 1];
	for (size_t i = 0; i < d->nyears; i++)
		if (d->years[i].year == row->year)
			y = &d->years[i];
	d->rcfg = y->cfg;
	d->reng = y->eng;
	d->rst = store_year(d->st, row->year);
	const struct plan *p = d->rcfg->plan;
	int kind = notify_kind_find(row->kind);
	int unit = *row->unit ? plan_unit_find(p, row->unit) : -1;
	int dept = *row->dept ? plan_dept_find(p, row->dept) : -1;

	memset(rd, 0, sizeof(*rd));
	sbuf_init(&rd->detail);
	memset(m, 0, sizeof(*m));
	if (kind < 0)
		return 0;
	render_head(d, row, (enum notify_kind)kind, unit, dept, m, rd);
	if (m->kind == NOTIFY_SNAPSHOT) {
		m->period = row->subject;
		snapshot_detail(d, row->subject, &rd->detail);
		m->detail = rd->detail.buf;
		return 1;
	}
	if (m->kind == NOTIFY_ENDED) {
		m->period = row->subject;
		return 1;
	}
	if (m->kind == NOTIFY_DEAD) {
		dead_detail(d, row->subject, &rd->detail);
		m->detail = rd->detail.buf;
		return 1;
	}
	if (*row->unit && unit < 0)
		return 0; /* the unit left the plan */
	render_items(d, row, m->kind, unit, rd);
	m->items = rd->items;
	m->nitems = rd->nitems;
	return rd->nitems > 0;
}

/* --- sending ----------------------------------------------------------- */

/* A flight for ROW over channel C, for the log and the record. */
static struct flight *flight_new(struct deliver *d, const struct channel *c,
				 const struct outbox_row *row)
{
	struct flight *f = xcalloc(1, sizeof(*f));
	f->d = d;
	f->id = row->id;
	f->attempts = row->attempts;
	f->since_ms = row->since_ms;
	f->year = row->year;
	f->provider = c->provider;
	util_strlcpy(f->kind, row->kind, sizeof(f->kind));
	util_strlcpy(f->channel, c->name, sizeof(f->channel));
	util_strlcpy(f->unit, row->unit, sizeof(f->unit));
	snprintf(f->label, sizeof(f->label), "%s%s%s", c->name, *row->address ? " " : "",
		 row->address);
	return f;
}

/*
 * F could not start: counted as a failed attempt, so that the backoff
 * keeps it from spinning; PERMANENT when it never can (a message that
 * cannot be built never will be).
 */
static void grounded(struct deliver *d, struct flight *f, bool permanent)
{
	struct provider_outcome o = { .verdict = permanent ? PROVIDER_PERMANENT : PROVIDER_RETRY,
				      .retry_after = -1 };
	util_strlcpy(o.error, f->error, sizeof(o.error));
	settle(f, &o);
	TAILQ_INSERT_HEAD(&d->done, f, entry);
}

/*
 * Build and start the request for row ROW over channel C.  0 started
 * (or, when it could not start, recorded as failed), 1 cancelled
 * (nothing left to say; recorded), -1 a database error.
 */
static int send_row(struct deliver *d, const struct channel *c, const struct outbox_row *row)
{
	struct notify_message m;
	struct render rd;
	struct provider_request req;
	int64_t now = now_ms();

	assert(c->url != NULL); /* config refuses a channel without one */
	if (!render(d, row, &m, &rd)) {
		render_free(&rd);
		struct log_fields lf = { .unit = row->unit,
					 .delivery = row->id,
					 .channel = c->name,
					 .year = d->cfg->plan->year };
		log_with(LOG_LEVEL_INFO, &lf,
			 "deliver: #%lld cancelled: what it reminded of was submitted or closed",
			 (long long)row->id);
		metrics_delivery(c->name, OUTBOX_CANCELLED);
		return store_outbox_update(d->st, row->id, OUTBOX_CANCELLED, row->attempts,
					   row->next_ms, 0, "nothing left to remind of",
					   now / 1000) < 0
			       ? -1
			       : 1;
	}
	sbuf_reset(&d->subject);
	sbuf_reset(&d->text);
	notify_render(&d->cfg->set.templates, &m, &d->subject, &d->text);
	provider_request_init(&req, c, &d->cfg->set.delivery, &d->body, &d->url);
	struct provider_message pm = { .m = &m,
				       .subject = d->subject.buf,
				       .text = d->text.buf,
				       .address = row->address,
				       .now_ms = now };
	int rc = provider_request(c, &pm, &req);

	struct flight *f = flight_new(d, c, row);
	if (rc < 0) {
		snprintf(
			f->error, sizeof(f->error),
			"cannot build the %s message for %s (an address or a text it cannot carry)",
			c->provider->name, *row->address ? row->address : row->name);
		grounded(d, f, true);
	} else if (transfer_start(d->xf, &req.xfer, on_done, f) < 0) {
		snprintf(f->error, sizeof(f->error), "the transfer could not start");
		grounded(d, f, false);
	} else {
		/* The claim marked it in flight. */
		d->active++;
		TAILQ_INSERT_HEAD(&d->flying, f, entry);
	}
	render_free(&rd);
	return 0;
}

struct claim {
	struct deliver *d;
	const struct channel *c;
	struct lane *l;
	int started;
	int64_t now;
};

static int claim_row(const struct outbox_row *row, void *arg)
{
	struct claim *cl = arg;
	int rc = send_row(cl->d, cl->c, row);
	if (rc < 0)
		return -1;
	if (rc == 0) {
		deliver_bucket_take(&cl->l->bucket, cl->l->rates, cl->l->nrates, cl->now);
		cl->started++;
	}
	return 0;
}

/*
 * Record what the transfers in BATCH answered (inside the turn's
 * transaction): the sent ones in one statement per answer code, the
 * others one by one.
 */
static int record_done(struct deliver *d, struct flights *batch)
{
	int64_t now = now_ms() / 1000;
	size_t n = 0, cap = 0;
	int64_t *ids = NULL;
	int ret = -1;

	assert(store_in_transaction(d->st));
	struct flight *f, *g;
	TAILQ_FOREACH(f, batch, entry)
	{
		f->grouped = false;
		metrics_delivery(f->channel, f->state);
		if (f->state == OUTBOX_SENT)
			continue;
		if (store_outbox_update(d->st, f->id, f->state, f->attempts, f->next_ms, f->code,
					f->error, now) < 0)
			goto out;
		if (f->state == OUTBOX_DEAD) {
			struct outbox_row dead = { .id = f->id,
						   .kind = f->kind,
						   .since_ms = f->since_ms };
			size_t added = 0, left = 0;
			if (outbox_dead(store_year(d->st, f->year), d->cfg, &dead, now, waiting, d,
					&added, &left) < 0)
				goto out;
			if (left > 0)
				log_warnx("deliver: the admins' notice of dead #%lld leaves "
					  "out %zu channel%s waiting as the provider asked%s",
					  (long long)f->id, left, left == 1 ? "" : "s",
					  added ? "" : ": this log is all that tells of it");
		}
	}
	/* The codes of one burst are few (204, 200, 250): a pass per code. */
	TAILQ_FOREACH(f, batch, entry)
	{
		if (f->state != OUTBOX_SENT || f->grouped)
			continue;
		long code = f->code;
		n = 0;
		for (g = f; g; g = TAILQ_NEXT(g, entry))
			if (g->state == OUTBOX_SENT && !g->grouped && g->code == code) {
				util_reserve(&ids, &cap, n + 1, sizeof(*ids));
				ids[n++] = g->id;
				g->grouped = true;
			}
		if (store_outbox_sent(d->st, ids, n, code, now) < 0)
			goto out;
	}
	ret = 0;
out:
	free(ids);
	return ret;
}

static void flights_free(struct flights *list)
{
	struct flight *f;
	while ((f = TAILQ_FIRST(list)) != NULL) {
		TAILQ_REMOVE(list, f, entry);
		free(f);
	}
}

/*
 * Take up to what the room and LANE's tokens allow of its due rows and
 * start them.  0, or -1 on a database error; *WAKE lowered to when this
 * lane wants another turn.
 */
static int work_lane(struct deliver *d, struct lane *l, int64_t now, int64_t *wake)
{
	const struct channel *c = l->live ? config_channel(d->cfg, l->name) : NULL;
	int64_t next, t;
	if (c == NULL)
		return 0;
	int rc = store_outbox_next(d->st, c->name, &next);
	if (rc <= 0)
		return rc;
	if (next > now || l->blocked_until > now) {
		t = next > l->blocked_until ? next : l->blocked_until;
		*wake = t < *wake ? t : *wake;
		return 0;
	}
	int tokens = deliver_bucket_free_tokens(&l->bucket, l->rates, l->nrates, now);
	if (tokens == 0) {
		t = deliver_bucket_next(&l->bucket, l->rates, l->nrates, now);
		*wake = t < *wake ? t : *wake;
		return 0;
	}
	int want = d->cfg->set.delivery.concurrency - (int)d->active;
	if (want > tokens)
		want = tokens;
	if (want > CLAIM_BATCH)
		want = CLAIM_BATCH;
	if (want <= 0)
		return 0; /* full: a finished transfer brings the next turn */
	struct claim cl = { .d = d, .c = c, .l = l, .now = now };
	/* Marked in flight in the turn's transaction, with what it records. */
	assert(store_in_transaction(d->st));
	if (store_outbox_claim(d->st, c->name, now, want, claim_row, &cl) < 0)
		return -1;
	/* Whatever is left (more due now, or later) has its turn armed: a
	 * claim that only cancelled rows must not leave the rest waiting. */
	if ((rc = store_outbox_next(d->st, c->name, &next)) < 0)
		return -1;
	if (rc == 1) {
		t = next > now ? next : now;
		*wake = t < *wake ? t : *wake;
	}
	return 0;
}

/*
 * One turn: record what finished, then start what is due, in one
 * transaction.  If it fails, the finished ones are kept for the next
 * try; rows started in the failed turn were not marked in flight and
 * may be sent once more (at least once).
 */
static void turn(struct deliver *d)
{
	int64_t now = now_ms(), wake = INT64_MAX;
	struct flights batch = TAILQ_HEAD_INITIALIZER(batch);

	d->timer_at = INT64_MAX;
	if (d->cfg == NULL)
		return;
	TAILQ_CONCAT(&batch, &d->done, entry);
	/* A lost mark only sends a message again: no wait for the disk. */
	store_set_durable(d->st, false);
	if (store_begin(d->st) < 0)
		goto failed;
	if (record_done(d, &batch) < 0)
		goto rollback;
	for (size_t k = 0; k < d->nlanes; k++)
		if (work_lane(d, &d->lanes[(d->rr + k) % d->nlanes], now, &wake) < 0)
			goto rollback;
	d->rr++;
	if (store_commit(d->st) < 0)
		goto failed;
	store_set_durable(d->st, true);
	flights_free(&batch);
	if (d->failing)
		log_info("deliver: the outbox is being worked off again");
	d->failing = false;
	/* Rows that could not start are finished already: record them. */
	if (!TAILQ_EMPTY(&d->done))
		wake = now;
	if (wake != INT64_MAX)
		arm(d, wake);
	return;
rollback:
	store_rollback(d->st);
failed:
	/* Back in front of anything finished meanwhile. */
	TAILQ_CONCAT(&batch, &d->done, entry);
	TAILQ_CONCAT(&d->done, &batch, entry);
	if (!d->failing)
		log_warnx("deliver: cannot work off the outbox: %s; trying again in 5 s",
			  store_errmsg(d->st));
	/* After the message: a statement of its own would replace it. */
	store_set_durable(d->st, true);
	d->failing = true;
	arm(d, now + 5000);
}

static void on_timer(struct ev_loop *loop, ev_timer *w, int revents)
{
	(void)loop;
	(void)revents;
	turn(w->data);
}

/* --- a test message ---------------------------------------------------- */

static void test_ctx_free(struct test_ctx *tc)
{
	sbuf_free(&tc->t.said);
	sbuf_free(&tc->t.body);
	free(tc);
}

static void on_test_done(void *arg, const struct transfer_result *r)
{
	struct test_ctx *tc = arg;
	struct provider_outcome o;

	TAILQ_REMOVE(&tc->d->tests, tc, entry);
	ev_timer_stop(tc->d->loop, &tc->limit);
	if (tc->reported) {
		test_ctx_free(tc);
		return;
	}
	tc->p->classify(r, &o);
	tc->t.sent = o.verdict == PROVIDER_OK;
	tc->t.status = r->status;
	if (r->curl_code == CURLE_OPERATION_TIMEDOUT)
		/* curl's words name its timeout, not test-send's limit or a remedy */
		snprintf(tc->t.error, sizeof(tc->t.error),
			 "no answer in %d s (%.160s): check that the server is up and that this "
			 "host reaches it",
			 DELIVER_TEST_TIMEOUT_MS / 1000, o.error);
	else
		util_strlcpy(tc->t.error, o.error, sizeof(tc->t.error));
	if (r->said_len)
		sbuf_add(&tc->t.said, r->said, r->said_len);
	if (r->body_len)
		sbuf_add(&tc->t.body, r->body, r->body_len);
	tc->done(tc->arg, &tc->t);
	test_ctx_free(tc);
}

static void on_test_limit(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct test_ctx *tc = w->data;
	(void)loop;
	(void)revents;
	tc->reported = true;
	snprintf(tc->t.error, sizeof(tc->t.error),
		 "no answer in %d s (the server, or the deliveries ahead of it, took longer)",
		 DELIVER_TEST_TIMEOUT_MS / 1000);
	tc->done(tc->arg, &tc->t);
}

/* A webhook's endpoint for the answer: its scheme, host and path, never a key in the query. */
static void endpoint(const char *url, char *out, size_t len)
{
	size_t n = strcspn(url, "?#");
	snprintf(out, len, "%.*s%s", (int)n, url, url[n] ? "?…" : "");
}

/* Why CHANNEL names no channel, with the channels there are, into ERR. */
static void no_channel(const struct settings *set, const char *channel, char *err, size_t errlen)
{
	struct sbuf names;

	sbuf_init(&names);
	for (size_t i = 0; i < set->nchannels; i++)
		sbuf_printf(&names, "%s%s", i ? ", " : "", set->channels[i].name);
	snprintf(err, errlen, "no channel \"%s\" (the channels: %s)", channel,
		 names.len ? names.buf : "none configured");
	sbuf_free(&names);
}

/*
 * The recipient of a test through C: a mail channel without one goes to
 * the first admin with an address (whose NAME the message greets); a
 * webhook's is a mobile number to mention, or none.
 */
static int test_recipient(const struct settings *set, const struct channel *c,
			  const char **recipient, const char **name, char *err, size_t errlen)
{
	if (c->provider->mail && *recipient == NULL) {
		for (size_t i = 0; i < set->nadmins_contacts && !*recipient; i++)
			if (set->admins_contacts[i].email) {
				*recipient = set->admins_contacts[i].email;
				*name = set->admins_contacts[i].name;
			}
		if (*recipient == NULL) {
			snprintf(err, errlen,
				 "test-send %s needs RECIPIENT, an email address: no admin in "
				 "reminders.admins has one",
				 c->name);
			return -1;
		}
	}
	if (!c->provider->mail && *recipient && (*recipient)[strspn(*recipient, "+0123456789")]) {
		snprintf(err, errlen,
			 "RECIPIENT of a webhook is a mobile number to mention, not \"%s\"",
			 *recipient);
		return -1;
	}
	return 0;
}

/*
 * Curl's own timeout ends a second before the limit's: when the
 * transfer started at once, curl's words say what timed out.
 */
static struct delivery_settings test_settings(const struct delivery_settings *set)
{
	struct delivery_settings ds = *set;

	if (ds.timeout_ms <= 0 || ds.timeout_ms > DELIVER_TEST_TIMEOUT_MS - 1000)
		ds.timeout_ms = DELIVER_TEST_TIMEOUT_MS - 1000;
	if (ds.connect_timeout_ms <= 0 || ds.connect_timeout_ms > ds.timeout_ms)
		ds.connect_timeout_ms = ds.timeout_ms;
	return ds;
}

int deliver_test(struct deliver *d, const char *channel, const char *recipient, const char *actor,
		 deliver_test_fn done, void *arg, char *err, size_t errlen)
{
	const struct settings *set = &d->cfg->set;
	const struct channel *c = config_channel(d->cfg, channel);
	const char *name = "考核管理员";
	const char *mobiles[1] = { recipient };
	struct provider_request req;
	struct sbuf detail;
	struct deliver_test tt, *t = &tt;

	memset(t, 0, sizeof(*t));
	if (c == NULL) {
		no_channel(set, channel, err, errlen);
		return -1;
	}
	t->provider = c->provider->name;
	if (test_recipient(set, c, &recipient, &name, err, errlen) < 0)
		return -1;
	if (c->provider->mail)
		util_strlcpy(t->to, recipient, sizeof(t->to));
	else
		endpoint(c->url, t->to, sizeof(t->to));

	int64_t now = now_ms();
	char at_text[40];
	calendar_format_instant(now / 1000, at_text, sizeof(at_text));
	sbuf_init(&detail);
	sbuf_printf(&detail,
		    "这是通知渠道“%s”（%s）的测试消息，由%s发送。收到即说明考核系统的提醒"
		    "能够经此渠道送达。",
		    c->name, c->provider->name, actor);
	struct notify_message m = { .kind = NOTIFY_TEST,
				    .at = now / 1000,
				    .at_text = at_text,
				    .recipient = name,
				    .detail = detail.buf,
				    .mobiles = mobiles,
				    .nmobiles = !c->provider->mail && recipient ? 1 : 0 };
	sbuf_reset(&d->subject);
	sbuf_reset(&d->text);
	notify_render(&set->templates, &m, &d->subject, &d->text);
	struct delivery_settings ds = test_settings(&set->delivery);
	provider_request_init(&req, c, &ds, &d->body, &d->url);
	struct provider_message pm = { .m = &m,
				       .subject = d->subject.buf,
				       .text = d->text.buf,
				       .address = c->provider->mail ? recipient : "",
				       .now_ms = now };
	int rc = provider_request(c, &pm, &req);
	sbuf_free(&detail);
	if (rc < 0) {
		snprintf(err, errlen,
			 "cannot build the %s message for %s (an address it cannot carry)",
			 c->provider->name, t->to);
		return -1;
	}
	struct test_ctx *tc = xcalloc(1, sizeof(*tc));
	tc->d = d;
	tc->p = c->provider;
	tc->t = tt;
	sbuf_init(&tc->t.said);
	sbuf_init(&tc->t.body);
	tc->done = done;
	tc->arg = arg;
	/* The admin waits for the server's own words. */
	req.xfer.said = true;
	if (transfer_start(d->xf, &req.xfer, on_test_done, tc) < 0) {
		test_ctx_free(tc);
		snprintf(err, errlen, "the transfer to %s could not start", t->to);
		return -1;
	}
	ev_timer_init(&tc->limit, on_test_limit, DELIVER_TEST_TIMEOUT_MS / 1000.0, 0.);
	tc->limit.data = tc;
	ev_timer_start(d->loop, &tc->limit);
	TAILQ_INSERT_TAIL(&d->tests, tc, entry);
	return 0;
}

/* --- life -------------------------------------------------------------- */

struct deliver *deliver_new(struct ev_loop *loop, struct store *st, char *err, size_t errlen)
{
	struct deliver *d = xcalloc(1, sizeof(*d));
	d->loop = loop;
	d->st = st;
	d->timer_at = INT64_MAX;
	d->xf = transfer_new(loop, 64, err, errlen);
	if (d->xf == NULL) {
		free(d);
		return NULL;
	}
	sbuf_init(&d->subject);
	sbuf_init(&d->text);
	sbuf_init(&d->body);
	sbuf_init(&d->url);
	TAILQ_INIT(&d->done);
	TAILQ_INIT(&d->flying);
	TAILQ_INIT(&d->tests);
	ev_init(&d->timer, on_timer);
	d->timer.data = d;
	int n = -1;
	if (store_begin(st) == 0 && (n = store_outbox_requeue(st)) >= 0 && store_commit(st) == 0) {
		if (n > 0)
			log_info(
				"deliver: %d deliver%s in flight at the last stop will be sent again",
				n, n == 1 ? "y" : "ies");
	} else {
		store_rollback(st);
		snprintf(err, errlen, "cannot read the outbox: %s", store_errmsg(st));
		transfer_free(d->xf);
		free(d);
		return NULL;
	}
	return d;
}

static bool same_rates(const struct lane *l, const struct channel *c)
{
	return l->nrates == c->nrates &&
	       memcmp(l->rates, c->rates, c->nrates * sizeof(*c->rates)) == 0;
}

void deliver_configure(struct deliver *d, const struct config *cfg,
		       const struct deliver_year *years, size_t nyears)
{
	const struct settings *set = &cfg->set;
	struct lane *lanes = xcalloc(set->nchannels ? set->nchannels : 1, sizeof(*lanes));

	deliver_unblock(d, NULL);
	for (size_t i = 0; i < set->nchannels; i++) {
		const struct channel *c = &set->channels[i];
		struct lane *l = &lanes[i], *old = lane_of(d, c->name);
		util_strlcpy(l->name, c->name, sizeof(l->name));
		l->live = true;
		if (old && same_rates(old, c)) {
			*l = *old;
			old->nrates = 0;
			memset(&old->bucket, 0, sizeof(old->bucket));
		} else {
			memcpy(l->rates, c->rates, sizeof(l->rates));
			l->nrates = c->nrates;
			deliver_bucket_init(&l->bucket, l->rates, l->nrates);
		}
	}
	for (size_t i = 0; i < d->nlanes; i++)
		deliver_bucket_free(&d->lanes[i].bucket);
	free(d->lanes);
	d->lanes = lanes;
	d->nlanes = set->nchannels;
	d->cfg = cfg;
	d->years = xrealloc(d->years, (nyears + 1) * sizeof(*d->years));
	memcpy(d->years, years, nyears * sizeof(*years));
	d->nyears = nyears;
	transfer_set_max_active(d->xf, set->delivery.concurrency);
	deliver_kick(d);
}

void deliver_free(struct deliver *d)
{
	if (d == NULL)
		return;
	ev_timer_stop(d->loop, &d->timer);
	/* The flights in transfer are freed with it: their rows stay in
	 * flight and go back to pending at the next start. */
	transfer_free(d->xf);
	/* Test messages still in transfer are dropped: their callers hear so. */
	struct test_ctx *tc;
	while ((tc = TAILQ_FIRST(&d->tests)) != NULL) {
		TAILQ_REMOVE(&d->tests, tc, entry);
		ev_timer_stop(d->loop, &tc->limit);
		if (!tc->reported)
			tc->done(tc->arg, NULL);
		test_ctx_free(tc);
	}
	flights_free(&d->flying);
	flights_free(&d->done);
	for (size_t i = 0; i < d->nlanes; i++)
		deliver_bucket_free(&d->lanes[i].bucket);
	free(d->years);
	free(d->lanes);
	sbuf_free(&d->subject);
	sbuf_free(&d->text);
	sbuf_free(&d->body);
	sbuf_free(&d->url);
	free(d);
}
