/*
 * simulate — virtual time.  The engines of every configured plan year
 * are stepped one due instant at a time on one clock, so each instant is
 * processed exactly as the daemon would on time: the engines' own work in
 * year order, then the events stamped at that instant.
 */
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "kaohe/command.h"
#include "kaohe/engine.h"
#include "kaohe/json.h"
#include "kaohe/log.h"
#include "kaohe/publish.h"
#include "kaohe/report.h"
#include "kaohe/simulate.h"
#include "kaohe/store.h"
#include "kaohe/util.h"

struct sim;

/* One plan year of the run: its plan, handle on the database and engine. */
struct sim_year {
	struct sim *s;
	const struct plan *p;
	struct store *st;
	struct engine *e;
	uint64_t reminders;
};

struct sim {
	const struct config *cfg; /* every configured plan year: cfg->years */
	struct sim_year *years;   /* as cfg->years, by year */
	size_t nyears;
	int year_ids[64]; /* the configured years, for status and unknown-year */
	size_t nyear_ids;
	FILE *out;
	int count_reminders;
	struct sbuf line;
};

/*
 * Every line of output is one object that starts with "at", "type" and
 * the plan year it belongs to; each is written into S->line and out
 * whole.  Deductions and standings are the bulk of a large run.
 */
static void line_start(struct sim_year *y, struct json_writer *w, int64_t at, const char *type)
{
	struct sim *s = y->s;

	sbuf_reset(&s->line);
	json_do_start(w, &s->line);
	json_do_object(w, NULL);
	json_do_instant(w, "at", at);
	json_do_string(w, "type", type);
	json_do_int(w, "year", y->p->year);
}

static void line_end(struct sim_year *y, struct json_writer *w)
{
	struct sim *s = y->s;

	json_do_end(w);
	json_do_finish(w);
	SBUF_LIT(&s->line, "\n");
	fwrite(s->line.buf, 1, s->line.len, s->out);
}

static void on_deduction(void *arg, const struct deduction *d)
{
	struct sim_year *y = arg;
	struct json_writer w;

	line_start(y, &w, d->at, "deduction");
	json_do_string(&w, "unit", y->p->units[d->unit].id);
	json_do_string(&w, "row", y->p->rows[d->row].id);
	if (d->occ >= 0)
		json_do_string(&w, "occurrence", y->p->occs[d->occ].name);
	json_do_string(&w, "reason", store_entry_type_name(d->type));
	json_do_points(&w, "points", d->points);
	json_do_int(&w, "entry", d->entry);
	if (d->replaces)
		json_do_int(&w, "replaces", d->replaces);
	line_end(y, &w);
}

static void on_snapshot(void *arg, int64_t at, const char *period, const struct score_table *t)
{
	struct sim_year *y = arg;
	struct json_writer w;

	line_start(y, &w, at, "snapshot");
	json_do_string(&w, "period", period);
	report_units_json(&w, "units", y->p, t);
	line_end(y, &w);
}

/* One of the last lines: plan year Y's standing at TO. */
static void emit_scores(struct sim_year *y, int64_t to, const struct score_table *t)
{
	struct json_writer w;

	line_start(y, &w, to, "scores");
	report_units_json(&w, "units", y->p, t);
	if (y->s->count_reminders)
		json_do_int(&w, "reminders_counted", (int64_t)y->reminders);
	line_end(y, &w);
}

static void contact(struct json_writer *w, const struct contact *c, const char *role)
{
	json_do_object(w, NULL);
	json_do_string(w, "role", role);
	json_do_string(w, "name", c->name ? c->name : "");
	if (c->email)
		json_do_string(w, "email", c->email);
	if (c->mobile)
		json_do_string(w, "mobile", c->mobile);
	json_do_end(w);
}

/*
 * The reminder's kind as simulate's output names it: a department's day
 * to record is its "due" (the design's contract: kind due, purpose
 * record).
 */
static const char *reminder_kind(enum slot_kind k)
{
	return calendar_slot_kind_name(k == SLOT_RECORD ? SLOT_DUE : k);
}

/* Who is told: a unit's liaisons (cc its leader and the offices on escalation), or an office. */
static void reminder_recipients(const struct plan *p, const struct reminder *r,
				struct json_writer *w)
{
	json_do_array(w, "recipients");
	if (r->unit < 0) {
		contact(w, &p->depts[r->dept].office, "office");
		json_do_end(w);
		return;
	}
	const struct plan_unit *u = &p->units[r->unit];
	for (size_t i = 0; i < u->nliaisons; i++)
		contact(w, &u->liaisons[i], "liaison");
	json_do_end(w);
	if (!r->escalate)
		return;
	json_do_array(w, "cc");
	contact(w, &u->leader, "leader");
	uint8_t seen[64] = { 0 };
	for (size_t i = 0; i < r->nocc; i++) {
		int d = p->rows[p->occs[r->occs[i]].row].dept;
		if (d >= 0 && d < 64 && !seen[d]++)
			contact(w, &p->depts[d].office, "office");
	}
	json_do_end(w);
}

static void on_reminder(void *arg, const struct reminder *r)
{
	struct sim_year *y = arg;
	const struct plan *p = y->p;
	struct json_writer w;

	y->reminders++;
	if (y->s->count_reminders)
		return;
	line_start(y, &w, r->at, "reminder");
	json_do_string(&w, "kind", reminder_kind(r->kind));
	if (r->unit >= 0) {
		json_do_string(&w, "unit", p->units[r->unit].id);
	} else {
		json_do_string(&w, "department", p->depts[r->dept].id);
		json_do_string(&w, "purpose", "record");
	}
	json_do_array(&w, "occurrences");
	for (size_t i = 0; i < r->nocc; i++)
		json_do_string(&w, NULL, p->occs[r->occs[i]].name);
	json_do_end(&w);
	json_do_array(&w, "slots");
	for (size_t i = 0; i < r->nocc; i++)
		json_do_string(&w, NULL, r->slots[i]);
	json_do_end(&w);
	reminder_recipients(p, r, &w);
	line_end(y, &w);
}

/* One line of an events file, split into its instant and its command. */
struct event_line {
	int64_t at;
	char *cmd; /* NULL: blank or a comment */
	char stamp[64];
};

/*
 * Split LINE (LEN bytes, as read) in place; -1 with a message when it is
 * not an event.  A NUL byte is refused as the control socket refuses it:
 * read as a C string, the line would silently end there.
 */
static int split_event(char *line, size_t len, struct event_line *ev, char *msg, size_t msglen)
{
	while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
		line[--len] = '\0';
	const char *nul = memchr(line, '\0', len);
	ev->cmd = NULL;
	if (nul) {
		snprintf(msg, msglen,
			 "bad-utf8: the line holds a NUL byte (byte %zu): it is not text",
			 (size_t)(nul - line) + 1);
		return -1;
	}
	char *s = line + strspn(line, " \t");
	if (*s == '\0' || *s == '#')
		return 0;
	char *sp = s + strcspn(s, " \t");
	snprintf(ev->stamp, sizeof(ev->stamp), "%.*s", (int)(sp - s), s);
	sp += strspn(sp, " \t");
	if (calendar_parse_instant(ev->stamp, true, &ev->at) < 0) {
		snprintf(
			msg, msglen,
			"bad timestamp \"%s\" (expected ISO-8601 with offset, e.g. 2020-09-15T18:00:00+08:00)",
			ev->stamp);
		return -1;
	}
	if (*sp == '\0') {
		snprintf(msg, msglen, "a timestamp without a command");
		return -1;
	}
	ev->cmd = sp;
	return 0;
}

/* At most this many bad lines are listed; the rest are counted. */
#define VET_MAX_REPORTS 50

struct vet {
	const struct sim *s; /* its configured years: what the vetting reads of it */
	const char *file;
	int64_t from, to;
	struct sbuf errors;
	int bad;      /* bad lines */
	int last_bad; /* the last one counted */
	pthread_t thread;
	atomic_bool done;
	bool running; /* started, its verdict not yet taken */
	FILE *out;    /* the real output, while the simulation's is held */
	char *held;   /* what the simulation wrote meanwhile */
	size_t heldlen;
};

static void vet_report(struct vet *v, int lineno, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void vet_report(struct vet *v, int lineno, const char *fmt, ...)
{
	char msg[1200];
	va_list ap;

	/* A line is counted once, however many faults it has. */
	if (lineno != v->last_bad) {
		v->last_bad = lineno;
		v->bad++;
	}
	if (v->bad > VET_MAX_REPORTS)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	sbuf_printf(&v->errors, "%s:%d: %s\n", v->file, lineno, msg);
}

/*
 * The plan year an event addresses: the year its --year names, else the
 * latest in force at its instant AT; NULL for a --year not configured.
 * A line that is no command at all addresses the year in force (what is
 * wrong with it is command_check()'s to say).
 */
static const struct config *event_year(const struct sim *s, const char *cmd, int64_t at, int *named)
{
	*named = command_year(cmd, strlen(cmd));
	if (*named > 0)
		return config_year(s->cfg, *named);
	return s->cfg->years[config_in_force(s->cfg, at)];
}

/* Vet one event's command against the plan of the year it addresses. */
static void vet_command(struct vet *v, int lineno, const struct event_line *ev)
{
	const struct sim *s = v->s;
	char msg[1024], code[64];
	int named;
	const struct config *yc = event_year(s, ev->cmd, ev->at, &named);

	if (yc == NULL) {
		/* The fresh database holds exactly the configured years. */
		json_t *e = command_unknown_year(named, s->year_ids, s->nyear_ids, s->year_ids,
						 s->nyear_ids);
		vet_report(
			v, lineno, "unknown-year: %s",
			json_string_value(json_object_get(json_object_get(e, "error"), "message")));
		json_decref(e);
	} else if (command_check(yc->plan, ev->cmd, strlen(ev->cmd), code, sizeof(code), msg,
				 sizeof(msg)) < 0) {
		vet_report(v, lineno, "%s: %s", code, msg);
	}
}

/*
 * Vet the whole events file before it counts: timestamps, the period,
 * time order, and each command's form, plan year and names.  Every bad line is
 * reported, and a file with any is not run.  The file is read again to run
 * it: a year of a large plan is millions of lines, not worth holding.
 */
static void *vet_events(void *arg)
{
	struct vet *v = arg;
	FILE *f = fopen(v->file, "r");
	char *line = NULL, msg[1024];
	size_t cap = 0;
	ssize_t n;
	int lineno = 0;
	int64_t last = INT64_MIN;

	if (f == NULL) {
		v->bad++;
		sbuf_printf(&v->errors, "kaohed: simulate: %s: %s\n", v->file, strerror(errno));
		atomic_store(&v->done, true);
		return NULL;
	}
	while ((n = getline(&line, &cap, f)) >= 0) {
		struct event_line ev;
		lineno++;
		if (split_event(line, (size_t)n, &ev, msg, sizeof(msg)) < 0) {
			vet_report(v, lineno, "%s", msg);
			continue;
		}
		if (ev.cmd == NULL)
			continue;
		if (ev.at < v->from || ev.at > v->to)
			vet_report(v, lineno, "%s is outside the simulated period", ev.stamp);
		else if (ev.at < last)
			vet_report(
				v, lineno,
				"%s comes before the previous event: events must be in time order",
				ev.stamp);
		else
			last = ev.at;
		vet_command(v, lineno, &ev);
	}
	if (ferror(f)) {
		v->bad++;
		sbuf_printf(&v->errors, "kaohed: simulate: %s: read error\n", v->file);
	}
	if (v->bad > VET_MAX_REPORTS)
		sbuf_printf(&v->errors, "%s: %d bad lines in all\n", v->file, v->bad);
	free(line);
	fclose(f);
	atomic_store(&v->done, true);
	return NULL;
}

/*
 * The vetting runs on the other core while the simulation starts; what
 * the simulation writes is held in memory until the vetting is through,
 * so a bad file still produces no output.  0, or -1 after a message.
 */
static int vet_start(struct vet *v, struct sim *s)
{
	atomic_init(&v->done, false);
	v->out = s->out;
	if ((s->out = open_memstream(&v->held, &v->heldlen)) == NULL ||
	    pthread_create(&v->thread, NULL, vet_events, v) != 0) {
		fprintf(stderr, "kaohed: simulate: cannot start checking the events: %s\n",
			strerror(errno));
		if (s->out)
			fclose(s->out);
		s->out = v->out;
		free(v->held);
		return -1;
	}
	v->running = true;
	return 0;
}

/*
 * Take the vetting's verdict (once it is in, or at once when it never
 * ran): its errors to stderr, and what the simulation held to the real
 * output unless the file is bad.  0, or -1 for a bad file.
 */
static int vet_finish(struct vet *v, struct sim *s)
{
	if (!v->running)
		return v->bad ? -1 : 0;
	v->running = false;
	pthread_join(v->thread, NULL);
	fputs(v->errors.buf, stderr);
	fclose(s->out);
	s->out = v->out;
	if (v->bad == 0)
		fwrite(v->held, 1, v->heldlen, s->out);
	free(v->held);
	v->held = NULL;
	return v->bad ? -1 : 0;
}

/*
 * Run every plan year's work due up to T on the one clock: each instant
 * in time order, and at one instant the older year's first.  0, or -1.
 */
static int step_until(struct sim *s, int64_t t)
{
	for (;;) {
		struct sim_year *y = NULL;
		for (size_t i = 0; i < s->nyears; i++)
			if (y == NULL || engine_next(s->years[i].e) < engine_next(y->e))
				y = &s->years[i];
		int64_t next = engine_next(y->e);
		if (next > t)
			return 0;
		if (engine_run(y->e, next) < 0)
			return -1;
	}
}

/* The simulated period: 00:00 of --from and of --to.  0, or 2 (bad options) after a message. */
static int sim_period(const struct simulate_opts *o, int64_t *from, int64_t *to)
{
	int32_t dfrom, dto;

	if (calendar_parse_day(o->from, 0, &dfrom) < 0 || strlen(o->from) != 10) {
		fprintf(stderr, "kaohed: simulate: --from \"%s\" is not a date YYYY-MM-DD\n",
			o->from);
		return 2;
	}
	if (calendar_parse_day(o->to, 0, &dto) < 0 || strlen(o->to) != 10) {
		fprintf(stderr, "kaohed: simulate: --to \"%s\" is not a date YYYY-MM-DD\n", o->to);
		return 2;
	}
	if (dto <= dfrom) {
		fprintf(stderr, "kaohed: simulate: --to must come after --from\n");
		return 2;
	}
	*from = calendar_instant(dfrom, 0);
	*to = calendar_instant(dto, 0);
	return 0;
}

/*
 * The private database with every configured plan year of S, and an
 * engine over each, adopted as a fresh database at FROM
 * (engine_start_of(): plan.track_from wins when given).  Any failure ends
 * the run, so the database needs no journal; and one transaction holds
 * the whole run: no statement commits on its own.  0, or -1 after a
 * message (what was made is in *DB and S's years, to free).
 */
static int sim_open(struct sim *s, int64_t from, struct store **db)
{
	char err[512];
	struct engine_sink sink = { .deduction = on_deduction,
				    .snapshot = on_snapshot,
				    .reminder = on_reminder };

	if ((*db = store_open(":memory:", s->years[0].p->year, err, sizeof(err))) == NULL) {
		fprintf(stderr, "kaohed: simulate: %s\n", err);
		return -1;
	}
	if (store_set_volatile(*db) < 0 || store_begin(*db) < 0) {
		fprintf(stderr, "kaohed: simulate: cannot set up the database: %s\n",
			store_errmsg(*db));
		return -1;
	}
	for (size_t i = 0; i < s->nyears; i++) {
		struct sim_year *y = &s->years[i];
		y->st = store_year(*db, y->p->year);
		sink.arg = y;
		if (store_sync_plan(y->st, y->p) < 0 ||
		    (y->e = engine_new(y->p, y->st, &sink, engine_start_of(y->p, from))) == NULL) {
			fprintf(stderr, "kaohed: simulate: cannot set up plan year %d: %s\n",
				y->p->year, store_errmsg(y->st));
			return -1;
		}
		engine_set_batch(y->e);
	}
	return 0;
}

/*
 * --year YEAR (0: none) of an event: the plan year's plan, handle and
 * engine, or the unknown-year answer (the vetting has reported it).
 */
static json_t *select_year(void *arg, int year, struct command_ctx *c)
{
	struct sim *s = arg;
	struct sim_year *y = NULL;

	if (year == 0)
		y = &s->years[config_in_force(s->cfg, c->now)];
	for (size_t i = 0; y == NULL && i < s->nyears; i++)
		if (s->years[i].p->year == year)
			y = &s->years[i];
	if (y == NULL)
		return command_unknown_year(year, s->year_ids, s->nyear_ids, s->year_ids,
					    s->nyear_ids);
	c->plan = y->p;
	c->st = y->st;
	c->eng = y->e;
	return NULL;
}

/*
 * Run each event of EVENTS (the file NAME) as admin at its instant,
 * after every plan year's own work up to it, in the plan year it
 * addresses.  The vetting's verdict is taken as soon as it is in, and
 * before a failing command is reported: a bad file is reported as such.
 * 0, or -1 (reported).
 */
static int run_events(FILE *events, const char *name, struct vet *v, struct sim *s)
{
	struct actor admin = { .admin = true };
	struct command_ctx ctx = { .actor = &admin,
				   .batch = true,
				   .hook_arg = s,
				   .select_year = select_year,
				   .years = s->year_ids,
				   .nyears = s->nyear_ids };
	char *line = NULL, err[512];
	size_t cap = 0;
	ssize_t n;
	int ret = 0;

	util_strlcpy(admin.name, "simulate", sizeof(admin.name));
	for (int lineno = 1; ret == 0 && (n = getline(&line, &cap, events)) >= 0; lineno++) {
		struct event_line ev;
		if (v->running && atomic_load(&v->done) && vet_finish(v, s) < 0) {
			ret = -1;
			break;
		}
		/* A bad line is the vetting's to report. */
		if (split_event(line, (size_t)n, &ev, err, sizeof(err)) < 0 || ev.cmd == NULL)
			continue;
		if (step_until(s, ev.at) < 0) {
			ret = -1;
			break;
		}
		ctx.now = ev.at;
		json_t *answer = command_execute(&ctx, ev.cmd, strlen(ev.cmd));
		if (!json_is_true(json_object_get(answer, "ok"))) {
			ret = -1;
			json_t *er = json_object_get(answer, "error");
			if (vet_finish(v, s) == 0)
				fprintf(stderr, "%s:%d: %s: %s\n", name, lineno,
					json_string_value(json_object_get(er, "code")),
					json_string_value(json_object_get(er, "message")));
		}
		json_decref(answer);
	}
	free(line);
	return ret;
}

/*
 * Publish plan year Y at TO into its directory of DIR as the daemon
 * leaves it (every snapshot's pages, the index, and the feeds with the
 * schedules as they ended).  0, or -1 with a message in WHY.
 */
static int export_year(const char *dir, struct sim_year *y, int64_t to, char *why, size_t len)
{
	char *ydir = publish_year_dir(dir, y->p->year, why, len);
	int rc = ydir ? publish_write(ydir, y->st, y->p, y->e, to, true, true, -1, why, len) : -1;
	free(ydir);
	return rc;
}

/*
 * The end of the run at TO: every year's work up to it, the final scores
 * of each plan year (oldest first) and, with --export, each year's
 * publication files in YEAR/ and the index across years.  The exit status.
 */
static int sim_end(const struct simulate_opts *o, struct sim *s, int64_t to)
{
	struct score_table t;
	int status = 0;

	if (step_until(s, to) < 0)
		return 1;
	for (size_t i = 0; i < s->nyears; i++) {
		if (engine_scores(s->years[i].e, to, &t) < 0)
			return 1;
		emit_scores(&s->years[i], to, &t);
		score_free(&t);
	}
	if (o->export_dir) {
		char why[512];
		const struct plan **plans = xcalloc(s->nyears, sizeof(*plans));
		int rc = 0;
		for (size_t i = 0; i < s->nyears; i++) {
			plans[i] = s->years[i].p;
			if (rc == 0)
				rc = export_year(o->export_dir, &s->years[i], to, why, sizeof(why));
		}
		if (rc == 0)
			rc = publish_index(o->export_dir, plans, s->nyears, why, sizeof(why));
		free(plans);
		if (rc < 0) {
			fprintf(stderr, "kaohed: simulate: --export: %s\n", why);
			status = 1;
		}
	}
	fflush(s->out);
	if (ferror(s->out)) {
		fprintf(stderr, "kaohed: simulate: write error on the output\n");
		status = 1;
	}
	return status;
}

/* S's plan years: every one CFG configures, by year. */
static void sim_years(struct sim *s, const struct config *cfg)
{
	s->cfg = cfg;
	s->nyears = cfg->nyears;
	s->years = xcalloc(s->nyears, sizeof(*s->years));
	for (size_t i = 0; i < s->nyears; i++) {
		s->years[i] = (struct sim_year){ .s = s, .p = cfg->years[i]->plan };
		if (s->nyear_ids < sizeof(s->year_ids) / sizeof(*s->year_ids))
			s->year_ids[s->nyear_ids++] = cfg->years[i]->plan->year;
	}
}

int simulate_run(const struct config *cfg, const struct simulate_opts *o, FILE *out)
{
	struct sim sim = { .out = out, .count_reminders = o->count_reminders };
	struct vet vet = { .s = &sim, .file = o->events };
	struct store *db = NULL;
	FILE *events = NULL;
	int status = sim_period(o, &vet.from, &vet.to);

	if (status != 0)
		return status;
	if (o->events && (events = fopen(o->events, "r")) == NULL) {
		fprintf(stderr, "kaohed: simulate: %s: %s\n", o->events, strerror(errno));
		return 1;
	}
	status = 1;
	sim_years(&sim, cfg);
	sbuf_init(&sim.line);
	sbuf_init(&vet.errors);
	json_object_seed(0); /* before a second thread makes JSON */
	if (events && vet_start(&vet, &sim) < 0)
		goto out;
	if (sim_open(&sim, vet.from, &db) < 0 ||
	    (events && run_events(events, o->events, &vet, &sim) < 0) || vet_finish(&vet, &sim) < 0)
		goto out;
	status = sim_end(o, &sim, vet.to);
out:
	for (size_t i = 0; i < sim.nyears; i++)
		engine_free(sim.years[i].e);
	free(sim.years);
	store_close(db);
	/* Stopped early: the vetting's verdict still comes first. */
	vet_finish(&vet, &sim);
	sbuf_free(&vet.errors);
	sbuf_free(&sim.line);
	if (events)
		fclose(events);
	return status;
}
