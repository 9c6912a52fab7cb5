/*
 * loop — the daemon's event loop.  Everything happens on this one thread:
 * signal handlers are libev watchers, the engine runs from an absolute
 * ev_periodic (which libev re-schedules by itself when the wall clock is
 * stepped), and commands arrive through the control socket.  The only
 * blocking work is short SQLite transactions.
 */
#include <errno.h>
#include <fcntl.h>
#include <ev.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <systemd/sd-daemon.h>
#include <time.h>
#include <unistd.h>

#include "kaohe/access.h"
#include "kaohe/calendar.h"
#include "kaohe/command.h"
#include "kaohe/config.h"
#include "kaohe/control.h"
#include "kaohe/deliver.h"
#include "kaohe/engine.h"
#include "kaohe/log.h"
#include "kaohe/metrics.h"
#include "kaohe/outbox.h"
#include "kaohe/publish.h"
#include "kaohe/loop.h"
#include "kaohe/sdnotify.h"
#include "kaohe/store.h"
#include "kaohe/util.h"

struct kaohed;

/* A plan year the daemon runs: its configuration, store handle and engine. */
struct year_run {
	struct kaohed *d;
	struct config *cfg; /* one of the daemon's cfg->years */
	struct store *st;
	struct engine *eng;
};

struct kaohed {
	const struct loop_opts *opts;
	struct ev_loop *loop;
	struct config *cfg;
	struct store *st;      /* the handle of the latest plan year in force when opened */
	struct year_run *runs; /* every configured plan year, by year */
	size_t nruns;
	struct actor actor; /* the actor of the command being run, in its year */
	struct peer *peer;  /* who runs it */
	int years[64];      /* the configured plan years, for status */
	size_t nyears_cfg;
	bool ended; /* every configured plan year has ended: told */
	char ended_msg[160];
	struct control *ctl;
	struct deliver *dl;
	size_t queued;                /* outbox rows enqueued by the engine since the last kick */
	struct outbox_copies *copies; /* the offices' escalation copies of the instant */
	size_t reminded;              /* reminders logged for the instant being applied */
	char *state_dir;              /* a copy: the configuration's goes with a reload */
	int lock_fd;                  /* kaohe.lock in the state directory, held while we run */
	/* The publisher: a process of its own writing export_dir. */
	ev_child publisher;
	int publisher_err;       /* its stderr, read when it ends */
	unsigned publish_wanted; /* PUB_* still to do once it is done */
	int publish_unit;        /* the feed wanted with it: a unit's, or -1 every one */
	int publish_year;        /* the plan year of publish_unit's plan */
	ev_periodic due;
	ev_signal sighup, sigterm, sigint;
	ev_timer watchdog;
	ev_timer retry;         /* after a failed engine run */
	ev_timer metrics_timer; /* writes kaohe.metrics_file */
	bool metrics_failing;   /* the last write of it failed (logged once) */
	int64_t start_time;
	unsigned gen;   /* of the configuration: counts reloads, from 1 */
	unsigned stale; /* the files changed after configuration GEN loaded: no publishing */
	bool ready;     /* READY=1 sent */
};

/* What the publisher writes: the periods' pages (and index), the feeds. */
enum { PUB_PAGES = 1, PUB_FEEDS = 2 };
static void publish(struct kaohed *d, unsigned what, int year, int unit);
static void metrics_schedule(struct kaohed *d);

static int64_t wall_now(void)
{
	return (int64_t)floor(ev_time());
}

/* The run of the engine whose next instant comes first, or NULL when every year has ended. */
static struct year_run *next_run(struct kaohed *d)
{
	struct year_run *r = NULL;
	for (size_t i = 0; i < d->nruns; i++)
		if (engine_next(d->runs[i].eng) != INT64_MAX &&
		    (r == NULL || engine_next(d->runs[i].eng) < engine_next(r->eng)))
			r = &d->runs[i];
	return r;
}

/*
 * The plan year a command addresses by default at NOW (the engines are
 * D's configuration's years, in its order).
 */
static struct year_run *default_run(struct kaohed *d, int64_t now)
{
	return &d->runs[config_in_force(d->cfg, now)];
}

/*
 * Every configured plan year has ended: say so once (the log; STATUS=
 * and status keep saying it), so that next year's plan gets installed.
 */
static void tell_ended(struct kaohed *d)
{
	if (d->ended)
		return;
	d->ended = true;
	snprintf(d->ended_msg, sizeof(d->ended_msg),
		 "every configured plan year has ended (latest: %d); install next year's plan "
		 "(README: A new year)",
		 d->runs[d->nruns - 1].cfg->plan->year);
	log_warnx("%s", d->ended_msg);
	/* The admins by their channels, once: the outbox's key keeps a restart from repeating it. */
	struct year_run *y = &d->runs[d->nruns - 1];
	size_t added = 0;
	if (store_begin(y->st) < 0 ||
	    outbox_ended(y->st, y->cfg, wall_now(), y->cfg->plan->year, &added) < 0 ||
	    store_commit(y->st) < 0) {
		store_rollback(y->st);
		log_warnx("cannot tell the admins that the plan years have ended: %s",
			  store_errmsg(y->st));
	} else if (added && d->dl) {
		deliver_kick(d->dl);
	}
}

static void report_status(struct kaohed *d)
{
	char what[256];
	struct year_run *r = next_run(d);
	if (r == NULL) {
		tell_ended(d);
		sdnotify_send(0, "STATUS=%s", d->ended_msg);
		return;
	}
	engine_next_describe(r->eng, what, sizeof(what));
	if (d->nruns > 1)
		sdnotify_send(0, "STATUS=%d: %s", r->cfg->plan->year, what);
	else
		sdnotify_send(0, "STATUS=%s", what);
	log_debug("%s", what);
}

/* Arm the one timer at the earliest next instant of the engines (or stop it). */
static void arm(struct kaohed *d)
{
	struct year_run *r = next_run(d);
	int64_t next = r ? engine_next(r->eng) : INT64_MAX;
	ev_periodic_stop(d->loop, &d->due);
	if (next != INT64_MAX) {
		ev_periodic_set(&d->due, (ev_tstamp)next, 0, NULL);
		ev_periodic_start(d->loop, &d->due);
	}
	report_status(d);
}

/* After a failed run (the database busy or full), this long before trying again. */
#define RETRY_SECONDS 10.0

/* Run every plan year's engine up to NOW, in year order: 0, or -1 if one failed. */
static int run_engines(struct kaohed *d, int64_t now)
{
	int rc = 0;
	for (size_t i = 0; i < d->nruns; i++)
		if (engine_run(d->runs[i].eng, now) < 0)
			rc = -1;
	return rc;
}

/* Whether something of any plan year is due by NOW. */
static bool any_due(struct kaohed *d, int64_t now)
{
	for (size_t i = 0; i < d->nruns; i++)
		if (engine_next(d->runs[i].eng) <= now)
			return true;
	return false;
}

static void run_engine(struct kaohed *d)
{
	int rc = run_engines(d, wall_now());
	/* An instant rolled back before its end leaves its copies behind. */
	outbox_copies_clear(d->copies);
	if (d->queued && d->dl) {
		d->queued = 0;
		deliver_kick(d->dl);
	}
	if (rc < 0) {
		/* The timer would fire at once again: back off instead. */
		log_warnx("engine: could not apply what is due; trying again in %.0f s",
			  RETRY_SECONDS);
		ev_periodic_stop(d->loop, &d->due);
		ev_timer_stop(d->loop, &d->retry);
		ev_timer_set(&d->retry, RETRY_SECONDS, 0);
		ev_timer_start(d->loop, &d->retry);
		return;
	}
	metrics_engine_run(wall_now());
	arm(d);
}

static void on_retry(struct ev_loop *loop, ev_timer *w, int revents)
{
	(void)loop;
	(void)revents;
	run_engine(w->data);
}

static void on_due(struct ev_loop *loop, ev_periodic *w, int revents)
{
	(void)loop;
	(void)revents;
	run_engine(w->data);
}

/* Reminders of one instant logged one by one; the rest are counted. */
#define REMINDERS_LOGGED 20

/*
 * During a long catch-up before READY=1 (a first start on a large plan),
 * keep systemd's start timeout and watchdog from firing.
 */
static void on_progress(void *arg, int64_t at)
{
	struct kaohed *d = ((struct year_run *)arg)->d;
	static double last;
	double t = ev_time();
	if (d->reminded > REMINDERS_LOGGED && !log_enabled(LOG_LEVEL_DEBUG)) {
		char when[40];
		calendar_format_instant(at, when, sizeof(when));
		log_info("… and %zu more reminders at %s (kaohectl outbox lists them)",
			 d->reminded - REMINDERS_LOGGED, when);
	}
	d->reminded = 0;
	if (d->ready || t - last < 5.0)
		return;
	last = t;
	sdnotify_send(0, "WATCHDOG=1\nEXTEND_TIMEOUT_USEC=30000000");
}

/* Inside the engine's transaction: the messages go in the outbox with the step. */
static int on_enqueue(void *arg, const struct reminder *r)
{
	struct year_run *y = arg;
	return outbox_reminder(y->st, y->cfg, r, y->d->copies, &y->d->queued);
}

/* The instant is complete: each office's copies go in as one digest. */
static int on_enqueue_end(void *arg, int64_t at)
{
	struct year_run *y = arg;
	return outbox_copies_flush(y->st, y->cfg, y->d->copies, at, &y->d->queued);
}

static int on_enqueue_snapshot(void *arg, int64_t at, const char *period,
			       const struct score_table *t)
{
	struct year_run *y = arg;
	struct kaohed *d = y->d;
	const struct plan *p = y->cfg->plan;
	int64_t now = wall_now();
	(void)t;
	/* Catching up, the admins hear of the latest snapshot only. */
	for (size_t i = 0; i < p->nquarters; i++)
		if (p->quarters[i].at > at && p->quarters[i].at <= now)
			return 0;
	return outbox_snapshot(y->st, y->cfg, at, period, &d->queued);
}

/* After the commit of an instant with a snapshot: publish it. */
static void on_snapshot(void *arg, int64_t at, const char *period, const struct score_table *t)
{
	struct kaohed *d = ((struct year_run *)arg)->d;
	(void)at;
	(void)period;
	(void)t;
	if (d->ready)
		publish(d, PUB_PAGES | PUB_FEEDS, 0, -1);
}

/* A test message whose answer an admin waits for. */
struct test_wait {
	struct kaohed *d;
	uint64_t token; /* of the control socket's request */
	char *request, *channel;
	char actor[64];
};

/* The answer to `test-send`: what the server said, line by line. */
static json_t *test_answer(const struct test_wait *w, const struct deliver_test *t)
{
	json_t *lines = json_array();
	for (const char *p = t->said.buf; p && *p;) {
		size_t n = strcspn(p, "\r\n");
		if (n)
			json_array_append_new(lines,
					      json_stringn(p, n) ?: json_string("(not UTF-8)"));
		p += n;
		p += strspn(p, "\r\n");
	}
	json_t *body = t->body.len ? json_stringn(t->body.buf, t->body.len) : json_null();
	json_t *answer;
	if (t->sent) {
		log_info("%s: test message over %s to %s: sent (%ld)", w->actor, w->channel, t->to,
			 t->status);
		answer = json_pack("{s:b, s:{s:s, s:s, s:s, s:I, s:o, s:o}}", "ok", 1, "data",
				   "channel", w->channel, "provider", t->provider, "to", t->to,
				   "status", (json_int_t)t->status, "said", lines, "body",
				   body ?: json_string("(not UTF-8)"));
	} else {
		log_warnx("%s: test message over %s to %s failed: %s", w->actor, w->channel, t->to,
			  t->error);
		answer = command_error("send-failed", "%s to %s: %s", w->channel, t->to, t->error);
		json_t *e = json_object_get(answer, "error");
		if (body && json_is_string(body))
			json_array_append(lines, body);
		json_object_set_new(e, "errors", lines);
		json_object_set_new(e, "status", json_integer(t->status));
		json_decref(body);
	}
	return answer;
}

/*
 * The server answered (or the daemon stops first, T NULL): the request is
 * audited with its result, counted, and answered if its client is still
 * there.
 */
static void test_done(void *arg, const struct deliver_test *t)
{
	struct test_wait *w = arg;
	struct kaohed *d = w->d;
	json_t *answer =
		t ? test_answer(w, t)
		  : command_error("unavailable", "kaohed stopped before the server answered");

	if (command_audit(d->st, wall_now(), w->actor, w->request, answer) < 0)
		log_warnx("audit: cannot record \"%s\" by %s: %s", w->request, w->actor,
			  store_errmsg(d->st));
	json_t *e = json_object_get(answer, "error");
	metrics_request("test-send", e ? json_string_value(json_object_get(e, "code")) : "ok");
	char *text = json_dump_compact(answer);
	if (control_answer(d->ctl, w->token, text, strlen(text)) < 0 && t)
		log_info("%s: \"%s\": the client left before the answer", w->actor, w->request);
	free(text);
	json_decref(answer);
	free(w->request);
	free(w->channel);
	free(w);
}

/*
 * kaohectl test-send: the message goes now, outside the outbox, through
 * the deliveries' transfers; the answer, what the server said, follows
 * when it said it, and the loop goes on meanwhile.
 */
static json_t *test_send(void *arg, const char *channel, const char *recipient, const char *actor,
			 const char *request, uint64_t token)
{
	struct kaohed *d = arg;
	struct test_wait *w = xcalloc(1, sizeof(*w));
	char err[512];

	w->d = d;
	w->token = token;
	w->request = xstrdup(request);
	w->channel = xstrdup(channel);
	util_strlcpy(w->actor, actor, sizeof(w->actor));
	if (deliver_test(d->dl, channel, recipient, actor, test_done, w, err, sizeof(err)) < 0) {
		free(w->request);
		free(w->channel);
		free(w);
		return command_error("usage", "%s", err);
	}
	return NULL;
}

static void outbox_changed(void *arg, const char *channel)
{
	struct kaohed *d = arg;
	deliver_unblock(d->dl, channel);
}

static void on_deduction(void *arg, const struct deduction *ded)
{
	(void)arg;
	metrics_deduction(ded->type);
}

/* Every reminder is logged, whichever channels carry it. */
static void on_reminder(void *arg, const struct reminder *r)
{
	struct year_run *y = arg;
	struct kaohed *d = y->d;
	const struct plan *p = y->cfg->plan;
	struct sbuf sb;

	/* 40,000 units make 40,000 lines that nobody reads: a summary. */
	if (++d->reminded > REMINDERS_LOGGED && !log_enabled(LOG_LEVEL_DEBUG))
		return;
	sbuf_init(&sb);
	for (size_t i = 0; i < r->nocc; i++)
		sbuf_printf(&sb, "%s%s", i ? ", " : "", p->occs[r->occs[i]].name);
	struct log_fields f = { .unit = r->unit >= 0 ? p->units[r->unit].id : NULL,
				.occurrence = r->nocc == 1 ? p->occs[r->occs[0]].name : NULL,
				.year = p->year };
	if (r->unit >= 0)
		log_with(LOG_LEVEL_INFO, &f, "reminder (%s) to the liaisons of %s%s: %s",
			 calendar_slot_kind_name(r->kind), p->units[r->unit].id,
			 r->escalate ? ", copied to its leader and the offices" : "", sb.buf);
	else
		log_info("reminder to the office of %s to record findings: %s",
			 p->depts[r->dept].id, sb.buf);
	sbuf_free(&sb);
}

static void runs_free(struct year_run *runs, size_t n)
{
	for (size_t i = 0; i < n; i++)
		engine_free(runs[i].eng);
	free(runs);
}

/*
 * Record the plans of CFG in the store and make an engine for each plan
 * year, in *RUNS (*N of them).  A plan year new to the database is
 * adopted at 00:00 of its plan.track_from when given, else at NOW; never
 * before its in-force period.  On failure nothing is changed and -1
 * returned with a message in ERR.
 */
static int open_engines(struct kaohed *d, struct config *cfg, int64_t now, struct year_run **runs,
			size_t *n, char *err, size_t errlen)
{
	struct engine_sink sink = { .deduction = on_deduction,
				    .reminder = on_reminder,
				    .progress = on_progress,
				    .snapshot = on_snapshot,
				    .enqueue = on_enqueue,
				    .enqueue_snapshot = on_enqueue_snapshot,
				    .enqueue_end = on_enqueue_end };
	struct year_run *r = xcalloc(cfg->nyears, sizeof(*r));

	for (size_t i = 0; i < cfg->nyears; i++) {
		struct config *yc = cfg->years[i];
		const struct plan *p = yc->plan;
		struct store *st = store_year(d->st, p->year);
		r[i] = (struct year_run){ .d = d, .cfg = yc, .st = st };
		if (store_begin(st) < 0 || store_sync_plan(st, p) < 0 || store_commit(st) < 0) {
			store_rollback(st);
			snprintf(err, errlen, "cannot record the plan of %d in the database: %s",
				 p->year, store_errmsg(st));
			runs_free(r, i);
			return -1;
		}
		sink.arg = &r[i];
		if ((r[i].eng = engine_new(p, st, &sink, engine_start_of(p, now))) == NULL) {
			snprintf(err, errlen, "cannot start the engine of %d: %s", p->year,
				 store_errmsg(st));
			runs_free(r, i);
			return -1;
		}
	}
	*runs = r;
	*n = cfg->nyears;
	return 0;
}

/*
 * Record the adoption of every plan year new to the database (the
 * engines' start); logged.  0, or -1 (logged).
 */
static int adopt(struct kaohed *d)
{
	for (size_t i = 0; i < d->nruns; i++) {
		struct year_run *y = &d->runs[i];
		int rc = engine_adopt(y->eng);
		if (rc < 0) {
			log_warnx("cannot record the adoption of plan year %d: %s",
				  y->cfg->plan->year, store_errmsg(y->st));
			return -1;
		}
		if (rc == 1) {
			char when[40];
			calendar_format_instant(engine_adopted(y->eng), when, sizeof(when));
			log_info("plan year %d adopted at %s: nothing that fell due before is "
				 "applied",
				 y->cfg->plan->year, when);
		}
	}
	return 0;
}

/* The plan years of D for the deliverer, and the deliverer told. */
static void configure_deliver(struct kaohed *d)
{
	struct deliver_year *ys = xcalloc(d->nruns, sizeof(*ys));
	for (size_t i = 0; i < d->nruns; i++)
		ys[i] = (struct deliver_year){ .year = d->runs[i].cfg->plan->year,
					       .cfg = d->runs[i].cfg,
					       .eng = d->runs[i].eng };
	deliver_configure(d->dl, d->cfg, ys, d->nruns);
	free(ys);
	d->nyears_cfg = 0;
	for (size_t i = 0; i < d->nruns && i < sizeof(d->years) / sizeof(*d->years); i++)
		d->years[d->nyears_cfg++] = d->runs[i].cfg->plan->year;
}

static struct control_limits limits_of(const struct settings *set)
{
	return (struct control_limits){ .max_clients = set->control_max_clients,
					.max_per_uid = set->control_max_per_uid,
					.idle_seconds = set->control_idle_timeout };
}

/*
 * Read and check the configuration again; swap it in only when it is
 * whole.  Returns the answer of `reload` (errors listed on failure).
 */
/* Put RUNS in the place of D's engines, the deliverer told first; the old ones freed. */
static void swap_runs(struct kaohed *d, struct year_run *runs, size_t nruns)
{
	struct year_run *old = d->runs;
	size_t nold = d->nruns;

	d->runs = runs;
	d->nruns = nruns;
	configure_deliver(d);
	runs_free(old, nold);
}

/*
 * A reload refused for the errors in ERRS: the old configuration stands,
 * its engines reopened at NOW; one log line and the `bad-config` answer.
 */
static json_t *reload_refused(struct kaohed *d, struct sbuf *errs, int64_t now)
{
	struct year_run *runs = NULL;
	size_t nruns = 0;
	char err[512];

	/* config_load set the zone of the new file: the old one stands. */
	calendar_set_timezone(d->cfg->set.timezone, err, sizeof(err));
	if (open_engines(d, d->cfg, now, &runs, &nruns, err, sizeof(err)) == 0)
		swap_runs(d, runs, nruns);
	json_t *list = json_array();
	struct sbuf why;
	sbuf_init(&why);
	for (char *line = strtok(errs->buf, "\n"); line; line = strtok(NULL, "\n")) {
		sbuf_printf(&why, "%s%s", why.len ? "; " : "", line);
		json_array_append_new(list, json_string(line));
	}
	/* One message, whole: what an operator filtering on errors sees. */
	log_errorx("reload: refused: the configuration has errors; the old one keeps running: %s",
		   why.buf);
	sbuf_free(&why);
	json_t *answer = command_error("bad-config",
				       "the configuration has errors; the old one keeps "
				       "running: %s",
				       json_string_value(json_array_get(list, 0)) ?: "");
	json_object_set_new(json_object_get(answer, "error"), "errors", list);
	metrics_reload(false);
	return answer;
}

/*
 * A reload taken: CFG and its engines RUNS replace D's, what the new
 * schedules changed reconciled at NOW, the files and limits following.
 */
static json_t *reload_take(struct kaohed *d, struct config *cfg, struct year_run *runs,
			   size_t nruns, struct sbuf *warns, int64_t now)
{
	for (char *line = strtok(warns->buf, "\n"); line; line = strtok(NULL, "\n"))
		log_warnx("reload: %s", line);
	/* A due the new plan moved changes the state of what is applied. */
	for (size_t i = 0; i < nruns; i++)
		for (size_t k = 0; k < d->nruns; k++)
			if (d->runs[k].cfg->plan->year == runs[i].cfg->plan->year &&
			    engine_reconcile_changed(runs[i].eng, d->runs[k].eng, now) < 0)
				log_warnx(
					"reload: cannot reconcile the changed schedules of %d: %s",
					runs[i].cfg->plan->year, store_errmsg(runs[i].st));
	/* The deliverer lets go of the old ones first. */
	struct config *oldcfg = d->cfg;
	d->cfg = cfg;
	swap_runs(d, runs, nruns);
	config_free(oldcfg);
	adopt(d);
	/* A year added: the end is not reached any more. */
	d->ended = false;
	d->gen++;
	struct control_limits lim = limits_of(&cfg->set);
	control_set_limits(d->ctl, &lim);
	log_set_level(cfg->set.log_level);
	log_info("reload: configuration loaded: %zu units, %zu rows, plan year %d",
		 cfg->plan->nunits, cfg->plan->nrows, cfg->plan->year);
	/* Titles, rows and schedules may have changed: the files follow. */
	publish(d, PUB_PAGES | PUB_FEEDS, 0, -1);
	metrics_reload(true);
	metrics_schedule(d);
	return json_pack("{s:b, s:{s:i, s:I, s:I}}", "ok", 1, "data", "year", cfg->plan->year,
			 "units", (json_int_t)cfg->plan->nunits, "rows",
			 (json_int_t)cfg->plan->nrows);
}

static json_t *reload(void *arg)
{
	struct kaohed *d = arg;
	struct sbuf errs, warns;
	char err[512];
	struct year_run *runs = NULL;
	size_t nruns = 0;
	int64_t now = wall_now();

	sdnotify_send(SDNOTIFY_STATE, "RELOADING=1");
	log_info("reload: reading %s", d->opts->config);
	sbuf_init(&errs);
	sbuf_init(&warns);
	struct config *cfg = config_load_opts(d->opts->config, &d->opts->load, &errs, &warns);
	if (cfg && open_engines(d, cfg, now, &runs, &nruns, err, sizeof(err)) < 0) {
		sbuf_printf(&errs, "%s\n", err);
		config_free(cfg);
		cfg = NULL;
	}
	json_t *answer = cfg ? reload_take(d, cfg, runs, nruns, &warns, now)
			     : reload_refused(d, &errs, now);
	sbuf_free(&errs);
	sbuf_free(&warns);
	run_engine(d);
	sdnotify_send(SDNOTIFY_STATE, "READY=1");
	return answer;
}

static void on_publisher(struct ev_loop *loop, ev_child *w, int revents)
{
	struct kaohed *d = w->data;
	char msg[2048];
	(void)revents;
	ev_child_stop(loop, w);
	/* What it said: its lines, in the daemon's log whatever goes there. */
	ssize_t n = read(d->publisher_err, msg, sizeof(msg) - 1);
	close(d->publisher_err);
	d->publisher_err = -1;
	msg[n > 0 ? n : 0] = '\0';
	/* Its lines say "kaohed: publish: …": once "publish: " here. */
	for (char *save = NULL, *l = strtok_r(msg, "\n", &save); l;
	     l = strtok_r(NULL, "\n", &save)) {
		if (strncmp(l, "kaohed: ", 8) == 0)
			l += 8;
		log_warnx("publish: %s", strncmp(l, "publish: ", 9) == 0 ? l + 9 : l);
	}
	if (WIFEXITED(w->rstatus) && WEXITSTATUS(w->rstatus) == PUBLISH_EXIT_STALE)
		/* Its one line said why; said once, until a reload. */
		d->stale = d->gen;
	else if (WIFEXITED(w->rstatus) && WEXITSTATUS(w->rstatus) == 0)
		log_info("publish: %s written",
			 d->opts->export_dir ? d->opts->export_dir : d->cfg->set.export_dir);
	else if (WIFSIGNALED(w->rstatus))
		log_warnx("publish: the publisher died of signal %d", WTERMSIG(w->rstatus));
	else
		log_warnx("publish: the publisher failed (exit %d)", WEXITSTATUS(w->rstatus));
	w->pid = 0;
	unsigned again = d->publish_wanted;
	d->publish_wanted = 0;
	if (again)
		publish(d, again, d->publish_year, d->publish_unit);
}

/*
 * Write export_dir in a process of its own, `kaohed publish`: 40,000
 * units' feeds take minutes, and the loop must go on answering and
 * delivering meanwhile.  A fresh process, not a fork that carries on: a
 * SQLite connection (and the deliverer's thread) does not survive fork.
 * It reads the configuration files again and publishes only if they are
 * still the ones the daemon runs (their fingerprint).  One at a time;
 * what is asked for meanwhile follows.
 */
static void publish(struct kaohed *d, unsigned what, int year, int unit)
{
	const char *dir = d->opts->export_dir ? d->opts->export_dir : d->cfg->set.export_dir;
	const char *argv[20];
	char redate[16], uyear[16];
	int n = 0, fds[2];

	if (dir == NULL || *dir == '\0' || d->stale == d->gen)
		return;
	if (d->publisher.pid) {
		/* Two units' moves meanwhile: every feed then. */
		if ((what & PUB_FEEDS) && (d->publish_wanted & PUB_FEEDS) &&
		    (d->publish_unit != unit || d->publish_year != year))
			unit = -1;
		d->publish_wanted |= what;
		d->publish_unit = unit;
		d->publish_year = year;
		return;
	}
	char uid[80];
	argv[n++] = "kaohed";
	argv[n++] = "-c";
	argv[n++] = d->opts->config;
	if (d->opts->load.year) {
		snprintf(redate, sizeof(redate), "%d", d->opts->load.year);
		argv[n++] = "--year";
		argv[n++] = redate;
	}
	if (d->opts->load.weekdays) {
		argv[n++] = "--calendar";
		argv[n++] = "weekdays";
	}
	argv[n++] = "--state-dir";
	argv[n++] = d->state_dir;
	argv[n++] = "--export-dir";
	argv[n++] = dir;
	argv[n++] = "publish";
	argv[n++] = "--fingerprint";
	argv[n++] = d->cfg->fingerprint;
	if (!(what & PUB_PAGES))
		argv[n++] = "--feeds";
	/* A unit's index is its year's plan's. */
	const struct config *yc = unit >= 0 ? config_year(d->cfg, year) : NULL;
	if (!(what & PUB_PAGES) && yc && (size_t)unit < yc->plan->nunits) {
		util_strlcpy(uid, yc->plan->units[unit].id, sizeof(uid));
		snprintf(uyear, sizeof(uyear), "%d", year);
		argv[n++] = "--unit";
		argv[n++] = uid;
		argv[n++] = "--unit-year";
		argv[n++] = uyear;
	}
	if (!(what & PUB_FEEDS))
		argv[n++] = "--pages";
	argv[n] = NULL;
	if (pipe2(fds, O_CLOEXEC | O_NONBLOCK) < 0) {
		log_warn("publish: pipe");
		return;
	}
	pid_t pid = fork();
	if (pid < 0) {
		log_warn("publish: fork");
		close(fds[0]);
		close(fds[1]);
		return;
	}
	if (pid == 0) {
		/* Only its stderr (the pipe) goes with it: curl's sockets,
		 * the control socket and the rest stay the daemon's. */
		dup2(fds[1], STDERR_FILENO);
		close_range(STDERR_FILENO + 1, ~0U, 0);
		execv("/proc/self/exe", (char *const *)argv);
		_exit(127);
	}
	close(fds[1]);
	d->publisher_err = fds[0];
	ev_child_set(&d->publisher, pid, 0);
	ev_child_start(d->loop, &d->publisher);
}

/*
 * What the actor worked out for a peer is kept under a key: the
 * configuration's generation and the plan year (each plan has its own
 * indexes of units and departments).
 */
static unsigned actor_key(const struct kaohed *d, const struct year_run *y)
{
	return d->gen * 64u + (unsigned)(y - d->runs) + 1u;
}

/* --year YEAR (0: none) of a command: its plan year's plan, handle, engine and actor. */
static json_t *select_year(void *arg, int year, struct command_ctx *c)
{
	struct kaohed *d = arg;
	struct year_run *y = NULL;

	if (year == 0)
		y = default_run(d, c->now);
	for (size_t i = 0; y == NULL && i < d->nruns; i++)
		if (d->runs[i].cfg->plan->year == year)
			y = &d->runs[i];
	if (y == NULL) {
		int years[64];
		size_t n = 0;
		if (store_years_held(d->st, years, 64, &n) < 0)
			n = 0;
		for (size_t i = 0; i < n; i++)
			if (years[i] == year) {
				/* Held, no longer configured: its records, read with
				 * the latest plan's rights (prepare() says which). */
				y = default_run(d, c->now);
				access_actor(y->cfg, actor_key(d, y), d->peer, &d->actor);
				c->plan = y->cfg->plan;
				c->st = store_year(d->st, year);
				c->eng = y->eng;
				c->actor = &d->actor;
				c->unconfigured = year;
				return NULL;
			}
		return command_unknown_year(year, d->years, d->nyears_cfg, years, n);
	}
	/* The access rules name each plan's own indexes: a key of their own per year. */
	access_actor(y->cfg, actor_key(d, y), d->peer, &d->actor);
	c->plan = y->cfg->plan;
	c->st = y->st;
	c->eng = y->eng;
	c->actor = &d->actor;
	return NULL;
}

/* The metrics as they stand (the `metrics` command and the textfile collector's file). */
static int metrics_text(void *arg, struct sbuf *out, char *err, size_t errlen)
{
	struct kaohed *d = arg;
	const struct settings *set = &d->cfg->set;
	const char **channels = xcalloc(set->nchannels + 1, sizeof(*channels));
	char *db = xasprintf("%s/kaohe.db", d->state_dir);

	for (size_t i = 0; i < set->nchannels; i++)
		channels[i] = set->channels[i].name;
	struct metrics_state s = { .now = wall_now(),
				   .start_time = d->start_time,
				   .next_due = next_run(d) ? engine_next(next_run(d)->eng)
							   : INT64_MAX,
				   .years = d->years,
				   .nyears = d->nyears_cfg,
				   .channels = channels,
				   .nchannels = set->nchannels,
				   .clients = control_clients(d->ctl),
				   .db_path = db };
	int rc = metrics_render(d->st, &s, out, err, errlen);
	free(channels);
	free(db);
	return rc;
}

/* Write kaohe.metrics_file; a failure is logged once, until a write succeeds again. */
static void metrics_write(struct kaohed *d)
{
	const char *path = d->cfg->set.metrics_file;
	struct sbuf sb;
	char err[512];

	sbuf_init(&sb);
	if (metrics_text(d, &sb, err, sizeof(err)) == 0 &&
	    metrics_write_file(path, sb.buf, err, sizeof(err)) == 0) {
		if (d->metrics_failing)
			log_info("metrics: %s written again", path);
		d->metrics_failing = false;
	} else if (!d->metrics_failing) {
		log_warnx("metrics: %s (logged once until a write succeeds)", err);
		d->metrics_failing = true;
	}
	sbuf_free(&sb);
}

static void on_metrics(struct ev_loop *loop, ev_timer *w, int revents)
{
	(void)loop;
	(void)revents;
	metrics_write(w->data);
}

/* The file's timer as the configuration says: every metrics_interval s, or none. */
static void metrics_schedule(struct kaohed *d)
{
	ev_timer_stop(d->loop, &d->metrics_timer);
	if (*d->cfg->set.metrics_file == '\0')
		return;
	ev_timer_set(&d->metrics_timer, 0, (double)d->cfg->set.metrics_interval);
	ev_timer_start(d->loop, &d->metrics_timer);
}

static void timeline_changed(void *arg, int year, int unit)
{
	struct kaohed *d = arg;
	arm(d);
	/* A move changes the feeds: one unit's of YEAR, or (for all units) every one. */
	publish(d, PUB_FEEDS, year, unit);
}

static bool execute(void *arg, struct peer *peer, const char *line, size_t len, struct sbuf *out,
		    uint64_t token)
{
	struct kaohed *d = arg;
	struct actor actor;

	/* What is due up to now comes before the command, as in simulate
	 * (unless the engine is backing off after a failure). */
	if (!ev_is_active(&d->retry) && any_due(d, wall_now()))
		run_engine(d);
	int64_t now = wall_now();
	struct year_run *y = default_run(d, now);
	access_actor(y->cfg, actor_key(d, y), peer, &actor);
	d->peer = peer;
	struct command_ctx ctx = { .plan = y->cfg->plan,
				   .st = y->st,
				   .eng = y->eng,
				   .now = now,
				   .actor = &actor,
				   .hook_arg = d,
				   .reload = reload,
				   .timeline_changed = timeline_changed,
				   .outbox_changed = outbox_changed,
				   .test_send = test_send,
				   .select_year = select_year,
				   .years = d->years,
				   .nyears = d->nyears_cfg,
				   .ended = d->ended,
				   .ended_message = d->ended_msg,
				   .metrics = metrics_text,
				   .token = token };
	command_execute_text(&ctx, line, len, out);
	/* An answer that comes later is counted then. */
	if (!ctx.deferred)
		metrics_request(ctx.answered, ctx.result);
	return ctx.deferred;
}

static enum control_rights rights(void *arg, struct peer *peer)
{
	struct kaohed *d = arg;
	struct actor actor;

	struct year_run *y = default_run(d, wall_now());
	access_actor(y->cfg, actor_key(d, y), peer, &actor);
	if (actor.admin)
		return CONTROL_ADMIN;
	for (size_t i = 0; i < y->cfg->plan->ndepts; i++)
		if (actor.depts[i])
			return CONTROL_WRITER;
	for (size_t i = 0; i < y->cfg->plan->nunits; i++)
		if (actor.units[i])
			return CONTROL_READER;
	return CONTROL_NO_RIGHTS;
}

static void on_sighup(struct ev_loop *loop, ev_signal *w, int revents)
{
	struct kaohed *d = w->data;
	(void)loop;
	(void)revents;
	json_t *answer = reload(d);
	struct store *st = default_run(d, wall_now())->st;
	/* An administrative action like `kaohectl reload`, by whoever may signal us. */
	if (command_audit(st, wall_now(), "SIGHUP", "reload", answer) < 0)
		log_warnx("audit: cannot record the reload on SIGHUP: %s", store_errmsg(st));
	json_decref(answer);
}

static void on_stop(struct ev_loop *loop, ev_signal *w, int revents)
{
	(void)revents;
	log_info("signal %d: stopping", w->signum);
	sdnotify_send(SDNOTIFY_STATE, "STOPPING=1");
	ev_break(loop, EVBREAK_ALL);
}

static void on_watchdog(struct ev_loop *loop, ev_timer *w, int revents)
{
	(void)loop;
	(void)w;
	(void)revents;
	sdnotify_send(0, "WATCHDOG=1");
}

/*
 * One kaohed per state directory: an exclusive lock on kaohe.lock there,
 * taken before the database is opened and held until the process ends.
 * The publisher (`kaohed publish`, run by the daemon) does not take it:
 * it works beside the daemon through SQLite's own locking, and the
 * lock's descriptor does not pass to it (O_CLOEXEC, and it closes what it
 * inherits), so a publisher outliving its daemon never holds up the next.
 * The file holds the holder's pid, for the refusal's message.
 * Returns the descriptor, or -1 with a message in ERR.
 */
static int lock_state_dir(const char *dir, char *err, size_t errlen)
{
	char *path = xasprintf("%s/kaohe.lock", dir);
	char pid[32];
	/* O_NONBLOCK: a FIFO planted there must not hang the start. */
	int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK, 0640);
	struct stat sb;

	if (fd < 0 || fstat(fd, &sb) < 0) {
		snprintf(err, errlen, "cannot open %s: %s", path, strerror(errno));
		goto fail;
	}
	/*
	 * The pid is written into it: a file of someone else's, another name
	 * of a file (a hard link) or one others may write would have kaohed
	 * overwrite what it does not own, or let others fake the holder.
	 */
	if (!S_ISREG(sb.st_mode) || sb.st_uid != geteuid() || sb.st_nlink != 1 ||
	    (sb.st_mode & 022)) {
		snprintf(err, errlen,
			 "%s is %s; the lock file must be a regular file of kaohed's user (uid "
			 "%d), with one name, that only it may write: remove it",
			 path,
			 !S_ISREG(sb.st_mode)     ? "not a regular file"
			 : sb.st_uid != geteuid() ? "owned by another user"
			 : sb.st_nlink != 1       ? "a file with more than one name (a hard link)"
						  : "writable by others",
			 (int)geteuid());
		goto fail;
	}
	if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
		if (errno != EWOULDBLOCK) {
			snprintf(err, errlen, "cannot lock %s: %s", path, strerror(errno));
			goto fail;
		}
		ssize_t n = pread(fd, pid, sizeof(pid) - 1, 0);
		pid[n > 0 ? n : 0] = '\0';
		pid[strspn(pid, "0123456789")] = '\0';
		snprintf(err, errlen,
			 "another kaohed (pid %s) runs on the state directory %s: it holds %s; "
			 "not starting",
			 *pid ? pid : "unknown", dir, path);
		goto fail;
	}
	int len = snprintf(pid, sizeof(pid), "%d\n", (int)getpid());
	if (ftruncate(fd, 0) < 0 || pwrite(fd, pid, (size_t)len, 0) != len) {
		snprintf(err, errlen, "cannot write %s: %s", path, strerror(errno));
		goto fail;
	}
	free(path);
	return fd;
fail:
	if (fd >= 0)
		close(fd);
	free(path);
	return -1;
}

static int make_dir(const char *path)
{
	if (mkdir(path, 0750) == 0 || errno == EEXIST)
		return 0;
	log_warn("cannot create %s", path);
	return -1;
}

/*
 * Fork into the background.  The child gets a pipe to report "0" (ready)
 * or "1" (failed) to the parent, which waits and exits with it: a start
 * that fails is seen by whoever started it.  The working directory is
 * kept, so relative paths (-c, --state-dir, --socket) stay valid.
 * Returns the pipe in the child; in the parent -2 when the child is
 * ready, -3 when it failed; -1 when forking failed.
 */
static int detach(void)
{
	int fds[2];
	char verdict = '1';

	if (pipe2(fds, O_CLOEXEC) < 0) {
		log_warn("cannot detach");
		return -1;
	}
	pid_t pid = fork();
	if (pid < 0) {
		log_warn("cannot detach");
		return -1;
	}
	if (pid > 0) {
		close(fds[1]);
		if (read(fds[0], &verdict, 1) != 1 || verdict != '0') {
			fprintf(stderr, "kaohed: did not start; see the system log\n");
			return -3;
		}
		return -2;
	}
	close(fds[0]);
	setsid();
	int null = open("/dev/null", O_RDWR);
	if (null >= 0) {
		dup2(null, STDIN_FILENO);
		dup2(null, STDOUT_FILENO);
		dup2(null, STDERR_FILENO);
		if (null > STDERR_FILENO)
			close(null);
	}
	log_init("kaohed", false);
	return fds[1];
}

/* The configuration of O, its warnings and errors logged; NULL when it has errors. */
static struct config *load_config(const struct loop_opts *o)
{
	struct sbuf errs, warns;

	sbuf_init(&errs);
	sbuf_init(&warns);
	struct config *cfg = config_load_opts(o->config, &o->load, &errs, &warns);
	for (char *line = strtok(warns.buf, "\n"); line; line = strtok(NULL, "\n"))
		log_warnx("%s", line);
	for (char *line = strtok(errs.buf, "\n"); line; line = strtok(NULL, "\n"))
		log_errorx("%s", line);
	sbuf_free(&errs);
	sbuf_free(&warns);
	if (cfg == NULL)
		log_errorx("the configuration has errors: not starting");
	return cfg;
}

/*
 * Take the state directory STATE and open its database, unless another
 * instance runs on it or answers on SOCK: that one is left alone, its
 * database without a catch-up of ours.  0, or -1 (logged).
 */
static int open_state(struct kaohed *d, const char *state, const char *sock)
{
	char err[512];

	if (make_dir(state) < 0)
		return -1;
	if ((d->lock_fd = lock_state_dir(state, err, sizeof(err))) < 0 ||
	    control_probe(sock, err, sizeof(err)) < 0) {
		log_errorx("%s", err);
		return -1;
	}
	char *dbpath = xasprintf("%s/kaohe.db", state);
	d->st = store_open(dbpath, d->cfg->years[0]->plan->year, err, sizeof(err));
	if (d->st)
		d->st = store_year(d->st, d->cfg->plan->year);
	free(dbpath);
	d->state_dir = xstrdup(state);
	if (d->st == NULL) {
		log_errorx("%s", err);
		return -1;
	}
	return 0;
}

/*
 * The engine over the open store, and the deliverer on the loop; 0, or
 * -1 (logged).
 */
static int start_engine(struct kaohed *d)
{
	char err[512];

	d->copies = outbox_copies_new();
	if (open_engines(d, d->cfg, wall_now(), &d->runs, &d->nruns, err, sizeof(err)) < 0) {
		log_errorx("%s", err);
		return -1;
	}
	if (adopt(d) < 0)
		return -1;
	d->loop = EV_DEFAULT;
	/* Gather what arrives within 0.2 ms into one pass: under load the
	 * loop then answers many clients per wake-up instead of one, which
	 * keeps latency even (a deadline's precision is a second). */
	ev_set_io_collect_interval(d->loop, 0.0002);
	d->dl = deliver_new(d->loop, d->st, err, sizeof(err));
	if (d->dl == NULL) {
		log_errorx("%s", err);
		return -1;
	}
	configure_deliver(d);
	return 0;
}

/* Apply what fell due since the high-water mark, before anyone is told we are ready. */
static int catch_up(struct kaohed *d)
{
	int64_t now = wall_now();

	for (size_t i = 0; i < d->nruns; i++) {
		int64_t hwm = engine_hwm(d->runs[i].eng);
		if (hwm < now - 1 && engine_next(d->runs[i].eng) <= now) {
			char from[40];
			calendar_format_instant(hwm, from, sizeof(from));
			log_info("catching up plan year %d from %s", d->runs[i].cfg->plan->year,
				 from);
		}
	}
	if (run_engines(d, now) < 0) {
		log_errorx("catch-up failed: not starting");
		return -1;
	}
	metrics_engine_run(now);
	return 0;
}

/* The timer, the signals and the watchdog. */
static void start_watchers(struct kaohed *d)
{
	uint64_t usec;

	ev_periodic_init(&d->due, on_due, 0, 0, NULL);
	d->due.data = d;
	ev_init(&d->retry, on_retry);
	d->retry.data = d;
	ev_init(&d->metrics_timer, on_metrics);
	d->metrics_timer.data = d;
	ev_signal_init(&d->sighup, on_sighup, SIGHUP);
	ev_signal_init(&d->sigterm, on_stop, SIGTERM);
	ev_signal_init(&d->sigint, on_stop, SIGINT);
	d->sighup.data = d->sigterm.data = d->sigint.data = d;
	ev_signal_start(d->loop, &d->sighup);
	ev_signal_start(d->loop, &d->sigterm);
	ev_signal_start(d->loop, &d->sigint);
	signal(SIGPIPE, SIG_IGN);
	if (sd_watchdog_enabled(0, &usec) > 0) {
		ev_timer_init(&d->watchdog, on_watchdog, 0, (double)usec / 2e6);
		ev_timer_again(d->loop, &d->watchdog);
	}
	arm(d);
}

static void stop_watchers(struct kaohed *d)
{
	ev_timer_stop(d->loop, &d->watchdog);
	ev_timer_stop(d->loop, &d->retry);
	ev_timer_stop(d->loop, &d->metrics_timer);
	ev_periodic_stop(d->loop, &d->due);
	/* A publisher still running finishes on its own: whole files only. */
	ev_child_stop(d->loop, &d->publisher);
	if (d->publisher_err >= 0)
		close(d->publisher_err);
}

/*
 * Tell whoever waits that the daemon is up: the log, the service
 * manager, and the parent of a detached start (READY_FD, then closed).
 */
static void announce_ready(struct kaohed *d, const char *sock, const char *state, int *ready_fd)
{
	log_info("kaohed %s ready: plan %d, %zu units, %zu rows; control socket %s; database "
		 "%s/kaohe.db",
		 KAOHE_VERSION, d->cfg->plan->year, d->cfg->plan->nunits, d->cfg->plan->nrows, sock,
		 state);
	sdnotify_send(SDNOTIFY_STATE, "READY=1");
	d->ready = true;
	if (*ready_fd >= 0) {
		/* The parent exits 0: the daemon is up. */
		(void)!write(*ready_fd, "0", 1);
		close(*ready_fd);
		*ready_fd = -1;
	}
}

int loop_run(const struct loop_opts *o)
{
	struct kaohed d = { .opts = o, .gen = 1, .lock_fd = -1, .start_time = (int64_t)time(NULL) };
	char err[512];
	int status = 1;
	/* An empty NOTIFY_SOCKET is no service manager (sd_notify(3) reads it so). */
	const char *notify = getenv("NOTIFY_SOCKET");
	bool systemd = notify != NULL && *notify != '\0';

	/* Until it detaches (or under systemd), errors go where someone looks. */
	log_init("kaohed", o->foreground || !systemd);
	log_set_timestamps(o->foreground);
	if (sdnotify_init(err, sizeof(err)) < 0)
		log_warnx("%s", err);
	if ((d.cfg = load_config(o)) == NULL) {
		sdnotify_finalise();
		return 1;
	}
	struct settings *set = &d.cfg->set;
	log_set_level(set->log_level);
	/* Detach before the state directory is locked and the database
	 * opened: SQLite's locks do not pass to a forked child, and the lock
	 * file names the daemon's pid.  The parent waits for the child's
	 * verdict. */
	int ready_fd = -1;
	if (!o->foreground && !systemd && (ready_fd = detach()) < 0) {
		config_free(d.cfg);
		return ready_fd == -2 ? 0 : 1;
	}
	const char *state = o->state_dir ? o->state_dir : set->state_dir;
	const char *sock = o->socket ? o->socket : set->control_socket;
	if (open_state(&d, state, sock) < 0 || start_engine(&d) < 0 || catch_up(&d) < 0)
		goto out;

	struct control_ops ops = { .arg = &d, .execute = execute, .rights = rights };
	struct control_limits lim = limits_of(set);
	d.ctl = control_new(d.loop, sock, &ops, &lim, err, sizeof(err));
	if (d.ctl == NULL) {
		log_errorx("%s", err);
		goto out;
	}
	start_watchers(&d);
	announce_ready(&d, sock, state, &ready_fd);
	/* The first write of the metrics file: at once, then every interval. */
	metrics_schedule(&d);
	/* The standing every status reads: worked out now, not in the first
	 * caller's wait (a large plan's ledger takes a moment to add up). */
	engine_current(default_run(&d, wall_now())->eng);
	/* The files of export_dir as this configuration and database have them. */
	ev_child_init(&d.publisher, on_publisher, 0, 0);
	d.publisher.data = &d;
	d.publisher_err = -1;
	publish(&d, PUB_PAGES | PUB_FEEDS, 0, -1);

	ev_run(d.loop, 0);
	status = 0;
	stop_watchers(&d);
out:
	control_free(d.ctl);
	/* Test messages still in transfer are audited as dropped, answered to nobody. */
	d.ctl = NULL;
	deliver_free(d.dl);
	runs_free(d.runs, d.nruns);
	store_close(d.st);
	outbox_copies_free(d.copies);
	config_free(d.cfg);
	free(d.state_dir);
	if (d.lock_fd >= 0)
		close(d.lock_fd);
	if (ready_fd >= 0) {
		(void)!write(ready_fd, "1", 1); /* the parent exits 1 */
		close(ready_fd);
	}
	metrics_reset();
	log_info("stopped");
	sdnotify_finalise();
	log_finalise();
	return status;
}
