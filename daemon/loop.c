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

struct kaohed {
	const struct loop_opts *opts;
	struct ev_loop *loop;
	struct config *cfg;
	struct store *st;
	struct engine *eng;
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
static void publish(struct kaohed *d, unsigned what, int unit);
static void metrics_schedule(struct kaohed *d);

static int64_t wall_now(void)
{
	return (int64_t)floor(ev_time());
}

static void report_status(struct kaohed *d)
{
	char what[256];
	engine_next_describe(d->eng, what, sizeof(what));
	sdnotify_send(0, "STATUS=%s", what);
	log_debug("%s", what);
}

/* Arm the one timer at the engine's next instant (or stop it). */
static void arm(struct kaohed *d)
{
	int64_t next = engine_next(d->eng);
	ev_periodic_stop(d->loop, &d->due);
	if (next != INT64_MAX) {
		ev_periodic_set(&d->due, (ev_tstamp)next, 0, NULL);
		ev_periodic_start(d->loop, &d->due);
	}
	report_status(d);
}

/* After a failed run (the database busy or full), this long before trying again. */
#define RETRY_SECONDS 10.0

static void run_engine(struct kaohed *d)
{
	int rc = engine_run(d->eng, wall_now());
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
	struct kaohed *d = arg;
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
	struct kaohed *d = arg;
	return outbox_reminder(d->st, d->cfg, r, d->copies, &d->queued);
}

/* The instant is complete: each office's copies go in as one digest. */
static int on_enqueue_end(void *arg, int64_t at)
{
	struct kaohed *d = arg;
	return outbox_copies_flush(d->st, d->cfg, d->copies, at, &d->queued);
}

static int on_enqueue_snapshot(void *arg, int64_t at, const char *period,
			       const struct score_table *t)
{
	struct kaohed *d = arg;
	const struct plan *p = d->cfg->plan;
	int64_t now = wall_now();
	(void)t;
	/* Catching up, the admins hear of the latest snapshot only. */
	for (size_t i = 0; i < p->nquarters; i++)
		if (p->quarters[i].at > at && p->quarters[i].at <= now)
			return 0;
	return outbox_snapshot(d->st, d->cfg, at, period, &d->queued);
}

/* After the commit of an instant with a snapshot: publish it. */
static void on_snapshot(void *arg, int64_t at, const char *period, const struct score_table *t)
{
	struct kaohed *d = arg;
	(void)at;
	(void)period;
	(void)t;
	if (d->ready)
		publish(d, PUB_PAGES | PUB_FEEDS, -1);
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
	struct kaohed *d = arg;
	const struct plan *p = d->cfg->plan;
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

/*
 * Open the store and the engine for CFG.  On failure nothing is changed
 * and -1 returned with a message in ERR.
 */
static int open_engine(struct kaohed *d, struct config *cfg, struct engine **eng, char *err,
		       size_t errlen)
{
	struct engine_sink sink = { .arg = d,
				    .deduction = on_deduction,
				    .reminder = on_reminder,
				    .progress = on_progress,
				    .snapshot = on_snapshot,
				    .enqueue = on_enqueue,
				    .enqueue_snapshot = on_enqueue_snapshot,
				    .enqueue_end = on_enqueue_end };

	if (store_begin(d->st) < 0 || store_sync_plan(d->st, cfg->plan) < 0 ||
	    store_commit(d->st) < 0) {
		store_rollback(d->st);
		snprintf(err, errlen, "cannot record the plan in the database: %s",
			 store_errmsg(d->st));
		return -1;
	}
	*eng = engine_new(cfg->plan, d->st, &sink, cfg->plan->cal.in_force_start);
	if (*eng == NULL) {
		snprintf(err, errlen, "cannot start the engine: %s", store_errmsg(d->st));
		return -1;
	}
	return 0;
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
static json_t *reload(void *arg)
{
	struct kaohed *d = arg;
	struct sbuf errs, warns;
	char err[512];
	struct engine *eng = NULL;

	sdnotify_send(SDNOTIFY_STATE, "RELOADING=1");
	log_info("reload: reading %s", d->opts->config);
	sbuf_init(&errs);
	sbuf_init(&warns);
	struct config *cfg = config_load(d->opts->config, d->opts->year, &errs, &warns);
	json_t *answer;
	if (cfg && open_engine(d, cfg, &eng, err, sizeof(err)) < 0) {
		sbuf_printf(&errs, "%s\n", err);
		config_free(cfg);
		cfg = NULL;
	}
	if (cfg == NULL) {
		/* config_load set the zone of the new file: the old one stands. */
		calendar_set_timezone(d->cfg->set.timezone, err, sizeof(err));
		if (open_engine(d, d->cfg, &eng, err, sizeof(err)) == 0) {
			deliver_configure(d->dl, d->cfg, eng);
			engine_free(d->eng);
			d->eng = eng;
		}
		json_t *list = json_array();
		struct sbuf why;
		sbuf_init(&why);
		for (char *line = strtok(errs.buf, "\n"); line; line = strtok(NULL, "\n")) {
			sbuf_printf(&why, "%s%s", why.len ? "; " : "", line);
			json_array_append_new(list, json_string(line));
		}
		/* One message, whole: what an operator filtering on errors sees. */
		log_errorx(
			"reload: refused: the configuration has errors; the old one keeps running: %s",
			why.buf);
		sbuf_free(&why);
		answer = command_error("bad-config",
				       "the configuration has errors; the old one keeps "
				       "running: %s",
				       json_string_value(json_array_get(list, 0)) ?: "");
		json_object_set_new(json_object_get(answer, "error"), "errors", list);
		metrics_reload(false);
	} else {
		for (char *line = strtok(warns.buf, "\n"); line; line = strtok(NULL, "\n"))
			log_warnx("reload: %s", line);
		/* A due the new plan moved changes the state of what is applied. */
		if (engine_reconcile_changed(eng, d->eng, wall_now()) < 0)
			log_warnx("reload: cannot reconcile the changed schedules: %s",
				  store_errmsg(d->st));
		/* The deliverer lets go of the old ones first. */
		deliver_configure(d->dl, cfg, eng);
		engine_free(d->eng);
		config_free(d->cfg);
		d->eng = eng;
		d->cfg = cfg;
		d->gen++;
		struct control_limits lim = limits_of(&cfg->set);
		control_set_limits(d->ctl, &lim);
		log_set_level(cfg->set.log_level);
		log_info("reload: configuration loaded: %zu units, %zu rows, plan year %d",
			 cfg->plan->nunits, cfg->plan->nrows, cfg->plan->year);
		/* Titles, rows and schedules may have changed: the files follow. */
		publish(d, PUB_PAGES | PUB_FEEDS, -1);
		metrics_reload(true);
		metrics_schedule(d);
		answer = json_pack("{s:b, s:{s:i, s:I, s:I}}", "ok", 1, "data", "year",
				   cfg->plan->year, "units", (json_int_t)cfg->plan->nunits, "rows",
				   (json_int_t)cfg->plan->nrows);
	}
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
		publish(d, again, d->publish_unit);
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
static void publish(struct kaohed *d, unsigned what, int unit)
{
	const char *dir = d->opts->export_dir ? d->opts->export_dir : d->cfg->set.export_dir;
	const char *argv[20];
	char year[16];
	int n = 0, fds[2];

	if (dir == NULL || *dir == '\0' || d->stale == d->gen)
		return;
	if (d->publisher.pid) {
		/* Two units' moves meanwhile: every feed then. */
		if ((what & PUB_FEEDS) && (d->publish_wanted & PUB_FEEDS) &&
		    d->publish_unit != unit)
			unit = -1;
		d->publish_wanted |= what;
		d->publish_unit = unit;
		return;
	}
	char uid[80];
	argv[n++] = "kaohed";
	argv[n++] = "-c";
	argv[n++] = d->opts->config;
	if (d->opts->year) {
		snprintf(year, sizeof(year), "%d", d->opts->year);
		argv[n++] = "--year";
		argv[n++] = year;
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
	if (!(what & PUB_PAGES) && unit >= 0) {
		util_strlcpy(uid, d->cfg->plan->units[unit].id, sizeof(uid));
		argv[n++] = "--unit";
		argv[n++] = uid;
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

/* The metrics as they stand (the `metrics` command and the textfile collector's file). */
static int metrics_text(void *arg, struct sbuf *out, char *err, size_t errlen)
{
	struct kaohed *d = arg;
	const struct settings *set = &d->cfg->set;
	const char **channels = xcalloc(set->nchannels + 1, sizeof(*channels));
	int year = d->cfg->plan->year;
	char *db = xasprintf("%s/kaohe.db", d->state_dir);

	for (size_t i = 0; i < set->nchannels; i++)
		channels[i] = set->channels[i].name;
	struct metrics_state s = { .now = wall_now(),
				   .start_time = d->start_time,
				   .next_due = engine_next(d->eng),
				   .years = &year,
				   .nyears = 1,
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

static void timeline_changed(void *arg, int unit)
{
	struct kaohed *d = arg;
	arm(d);
	/* A move changes the feeds: one unit's, or (for all units) every one. */
	publish(d, PUB_FEEDS, unit);
}

static bool execute(void *arg, struct peer *peer, const char *line, size_t len, struct sbuf *out,
		    uint64_t token)
{
	struct kaohed *d = arg;
	struct actor actor;

	/* What is due up to now comes before the command, as in simulate
	 * (unless the engine is backing off after a failure). */
	if (!ev_is_active(&d->retry) && engine_next(d->eng) <= wall_now())
		run_engine(d);
	access_actor(d->cfg, d->gen, peer, &actor);
	struct command_ctx ctx = { .plan = d->cfg->plan,
				   .st = d->st,
				   .eng = d->eng,
				   .now = wall_now(),
				   .actor = &actor,
				   .hook_arg = d,
				   .reload = reload,
				   .timeline_changed = timeline_changed,
				   .outbox_changed = outbox_changed,
				   .test_send = test_send,
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

	access_actor(d->cfg, d->gen, peer, &actor);
	if (actor.admin)
		return CONTROL_ADMIN;
	for (size_t i = 0; i < d->cfg->plan->ndepts; i++)
		if (actor.depts[i])
			return CONTROL_WRITER;
	for (size_t i = 0; i < d->cfg->plan->nunits; i++)
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
	/* An administrative action like `kaohectl reload`, by whoever may signal us. */
	if (command_audit(d->st, wall_now(), "SIGHUP", "reload", answer) < 0)
		log_warnx("audit: cannot record the reload on SIGHUP: %s", store_errmsg(d->st));
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
	struct config *cfg = config_load(o->config, o->year, &errs, &warns);
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
		log_warnx("%s", err);
		return -1;
	}
	char *dbpath = xasprintf("%s/kaohe.db", state);
	d->st = store_open(dbpath, err, sizeof(err));
	free(dbpath);
	d->state_dir = xstrdup(state);
	if (d->st == NULL) {
		log_warnx("%s", err);
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
	if (open_engine(d, d->cfg, &d->eng, err, sizeof(err)) < 0) {
		log_warnx("%s", err);
		return -1;
	}
	d->loop = EV_DEFAULT;
	/* Gather what arrives within 0.2 ms into one pass: under load the
	 * loop then answers many clients per wake-up instead of one, which
	 * keeps latency even (a deadline's precision is a second). */
	ev_set_io_collect_interval(d->loop, 0.0002);
	d->dl = deliver_new(d->loop, d->st, err, sizeof(err));
	if (d->dl == NULL) {
		log_warnx("%s", err);
		return -1;
	}
	deliver_configure(d->dl, d->cfg, d->eng);
	return 0;
}

/* Apply what fell due since the high-water mark, before anyone is told we are ready. */
static int catch_up(struct kaohed *d)
{
	int64_t hwm = engine_hwm(d->eng), now = wall_now();

	if (hwm < now - 1) {
		char from[40];
		calendar_format_instant(hwm, from, sizeof(from));
		log_info("catching up from %s", from);
	}
	if (engine_run(d->eng, now) < 0) {
		log_warnx("catch-up failed: not starting");
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
		log_warnx("%s", err);
		goto out;
	}
	start_watchers(&d);
	announce_ready(&d, sock, state, &ready_fd);
	/* The first write of the metrics file: at once, then every interval. */
	metrics_schedule(&d);
	/* The standing every status reads: worked out now, not in the first
	 * caller's wait (a large plan's ledger takes a moment to add up). */
	engine_current(d.eng);
	/* The files of export_dir as this configuration and database have them. */
	ev_child_init(&d.publisher, on_publisher, 0, 0);
	d.publisher.data = &d;
	d.publisher_err = -1;
	publish(&d, PUB_PAGES | PUB_FEEDS, -1);

	ev_run(d.loop, 0);
	status = 0;
	stop_watchers(&d);
out:
	control_free(d.ctl);
	/* Test messages still in transfer are audited as dropped, answered to nobody. */
	d.ctl = NULL;
	deliver_free(d.dl);
	engine_free(d.eng);
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
