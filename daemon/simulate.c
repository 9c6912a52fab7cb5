/*
 * simulate — virtual time.  The engine is stepped one due instant at a
 * time, so each instant is processed exactly as the daemon would on
 * time; events run after the engine's own work at their instant.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "kaohe/command.h"
#include "kaohe/engine.h"
#include "kaohe/log.h"
#include "kaohe/report.h"
#include "kaohe/simulate.h"
#include "kaohe/store.h"
#include "kaohe/util.h"

struct event {
	int64_t at;
	int line;
	char *text; /* the command */
};

struct sim {
	const struct plan *p;
	FILE *out;
	int count_reminders;
	uint64_t reminders;
};

static void emit(struct sim *s, json_t *o)
{
	char *text = report_dump(o);
	fputs(text, s->out);
	fputc('\n', s->out);
	free(text);
	json_decref(o);
}

static void on_deduction(void *arg, const struct deduction *d)
{
	struct sim *s = arg;
	json_t *o = json_pack("{s:o, s:s, s:s, s:s}", "at", report_instant(d->at), "type", "deduction",
			      "unit", s->p->units[d->unit].id, "row", s->p->rows[d->row].id);
	if (d->occ >= 0)
		json_object_set_new(o, "occurrence", json_string(s->p->occs[d->occ].name));
	json_object_set_new(o, "reason", json_string(store_entry_type_name(d->type)));
	json_object_set_new(o, "points", report_points(d->points));
	json_object_set_new(o, "entry", json_integer(d->entry));
	if (d->replaces)
		json_object_set_new(o, "replaces", json_integer(d->replaces));
	emit(s, o);
}

static void on_snapshot(void *arg, int64_t at, const char *period, const struct score_table *t)
{
	struct sim *s = arg;
	emit(s, json_pack("{s:o, s:s, s:s, s:o}", "at", report_instant(at), "type", "snapshot", "period",
			  period, "units", report_units(s->p, t)));
}

static json_t *contact_json(const struct contact *c, const char *role)
{
	json_t *o = json_pack("{s:s, s:s}", "role", role, "name", c->name ? c->name : "");
	if (c->email)
		json_object_set_new(o, "email", json_string(c->email));
	if (c->mobile)
		json_object_set_new(o, "mobile", json_string(c->mobile));
	return o;
}

static const char *const kind_names[] = { "before", "due", "overdue", "due" };

static void on_reminder(void *arg, const struct reminder *r)
{
	struct sim *s = arg;
	const struct plan *p = s->p;

	s->reminders++;
	if (s->count_reminders)
		return;
	json_t *o = json_pack("{s:o, s:s, s:s}", "at", report_instant(r->at), "type", "reminder", "kind",
			      kind_names[r->kind]);
	json_t *occs = json_array(), *slots = json_array(), *to = json_array(), *cc = json_array();
	for (size_t i = 0; i < r->nocc; i++) {
		json_array_append_new(occs, json_string(p->occs[r->occs[i]].name));
		json_array_append_new(slots, json_string(r->slots[i]));
	}
	if (r->unit >= 0) {
		const struct plan_unit *u = &p->units[r->unit];
		json_object_set_new(o, "unit", json_string(u->id));
		for (size_t i = 0; i < u->nliaisons; i++)
			json_array_append_new(to, contact_json(&u->liaisons[i], "liaison"));
		if (r->escalate) {
			json_array_append_new(cc, contact_json(&u->leader, "leader"));
			uint8_t seen[64] = { 0 };
			for (size_t i = 0; i < r->nocc; i++) {
				int d = p->rows[p->occs[r->occs[i]].row].dept;
				if (d >= 0 && d < 64 && !seen[d]++)
					json_array_append_new(cc, contact_json(&p->depts[d].office, "office"));
			}
		}
	} else {
		json_object_set_new(o, "department", json_string(p->depts[r->dept].id));
		json_object_set_new(o, "purpose", json_string("record"));
		json_array_append_new(to, contact_json(&p->depts[r->dept].office, "office"));
	}
	json_object_set_new(o, "occurrences", occs);
	json_object_set_new(o, "slots", slots);
	json_object_set_new(o, "recipients", to);
	if (json_array_size(cc))
		json_object_set_new(o, "cc", cc);
	else
		json_decref(cc);
	emit(s, o);
}

static int cmp_event(const void *a, const void *b)
{
	const struct event *x = a, *y = b;
	if (x->at != y->at)
		return x->at < y->at ? -1 : 1;
	return x->line - y->line;
}

/*
 * Read and vet the whole events file before anything runs, so that a bad
 * line is reported without a half-written simulation.
 */
static int read_events(const struct plan *p, const char *file, int64_t from, int64_t to,
		       struct event **out, size_t *nout)
{
	FILE *f = fopen(file, "r");
	char *line = NULL;
	size_t cap = 0, n = 0, vcap = 0;
	ssize_t len;
	int lineno = 0, bad = 0;
	struct event *v = NULL;

	if (f == NULL) {
		fprintf(stderr, "kaohed: simulate: %s: %s\n", file, strerror(errno));
		return -1;
	}
	while ((len = getline(&line, &cap, f)) >= 0) {
		lineno++;
		while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
			line[--len] = '\0';
		char *s = line;
		while (*s == ' ' || *s == '\t')
			s++;
		if (*s == '\0' || *s == '#')
			continue;
		char *sp = s + strcspn(s, " \t");
		char stamp[64];
		snprintf(stamp, sizeof(stamp), "%.*s", (int)(sp - s), s);
		while (*sp == ' ' || *sp == '\t')
			sp++;
		int64_t at;
		const char *code;
		char msg[1024];
		if (calendar_parse_instant(stamp, true, &at) < 0) {
			fprintf(stderr, "%s:%d: bad timestamp \"%s\" (expected ISO-8601 with offset, e.g. 2020-09-15T18:00:00+08:00)\n",
				file, lineno, stamp);
			bad++;
			continue;
		}
		if (at < from || at > to) {
			fprintf(stderr, "%s:%d: %s is outside the simulated period\n", file, lineno, stamp);
			bad++;
			continue;
		}
		if (*sp == '\0') {
			fprintf(stderr, "%s:%d: a timestamp without a command\n", file, lineno);
			bad++;
			continue;
		}
		if (command_check(p, sp, strlen(sp), &code, msg, sizeof(msg)) < 0) {
			fprintf(stderr, "%s:%d: %s\n", file, lineno, msg);
			bad++;
			continue;
		}
		util_reserve(&v, &vcap, n + 1, sizeof(*v));
		v[n++] = (struct event){ .at = at, .line = lineno, .text = xstrdup(sp) };
	}
	free(line);
	if (ferror(f)) {
		fprintf(stderr, "kaohed: simulate: %s: read error\n", file);
		bad++;
	}
	fclose(f);
	if (bad) {
		for (size_t i = 0; i < n; i++)
			free(v[i].text);
		free(v);
		return -1;
	}
	/* Events are applied in time order; equal instants keep file order. */
	qsort(v, n, sizeof(*v), cmp_event);
	*out = v;
	*nout = n;
	return 0;
}

static int step_until(struct engine *e, int64_t t)
{
	int64_t next;
	while ((next = engine_next(e)) <= t)
		if (engine_run(e, next) < 0)
			return -1;
	return 0;
}

int simulate_run(const struct config *cfg, const struct simulate_opts *o, FILE *out)
{
	const struct plan *p = cfg->plan;
	int32_t dfrom, dto;
	struct event *ev = NULL;
	size_t nev = 0;
	char err[512];
	int status = 1;

	if (calendar_parse_day(o->from, 0, &dfrom) < 0 || strlen(o->from) != 10) {
		fprintf(stderr, "kaohed: simulate: --from \"%s\" is not a date YYYY-MM-DD\n", o->from);
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
	if (o->export_dir) {
		fprintf(stderr, "kaohed: simulate: --export: writing publication files is not available in this version\n");
		return 2;
	}
	int64_t from = calendar_instant(dfrom, 0), to = calendar_instant(dto, 0);
	if (o->events && read_events(p, o->events, from, to, &ev, &nev) < 0)
		return 1;

	struct store *st = store_open(":memory:", err, sizeof(err));
	if (st == NULL) {
		fprintf(stderr, "kaohed: simulate: %s\n", err);
		goto out;
	}
	struct sim sim = { .p = p, .out = out, .count_reminders = o->count_reminders };
	struct engine_sink sink = { .arg = &sim, .deduction = on_deduction, .snapshot = on_snapshot,
				    .reminder = on_reminder };
	struct engine *e = NULL;
	struct actor admin = { .admin = true };
	snprintf(admin.name, sizeof(admin.name), "simulate");
	/* One outer transaction: commands and instants are savepoints in it. */
	if (store_begin(st) < 0 || store_sync_plan(st, p) < 0 ||
	    (e = engine_new(p, st, &sink, from)) == NULL) {
		fprintf(stderr, "kaohed: simulate: cannot set up the database: %s\n", store_errmsg(st));
		goto out_store;
	}
	struct command_ctx ctx = { .plan = p, .st = st, .eng = e, .actor = &admin };
	for (size_t i = 0; i < nev; i++) {
		if (step_until(e, ev[i].at) < 0)
			goto out_engine;
		ctx.now = ev[i].at;
		json_t *answer = command_execute(&ctx, ev[i].text, strlen(ev[i].text));
		if (!json_is_true(json_object_get(answer, "ok"))) {
			json_t *er = json_object_get(answer, "error");
			fprintf(stderr, "%s:%d: %s: %s\n", o->events, ev[i].line,
				json_string_value(json_object_get(er, "code")),
				json_string_value(json_object_get(er, "message")));
			json_decref(answer);
			goto out_engine;
		}
		json_decref(answer);
	}
	if (step_until(e, to) < 0)
		goto out_engine;
	struct score_table t;
	if (engine_scores(e, to, &t) < 0)
		goto out_engine;
	json_t *final = json_pack("{s:o, s:s, s:o}", "at", report_instant(to), "type", "scores", "units",
				  report_units(p, &t));
	if (o->count_reminders)
		json_object_set_new(final, "reminders_counted", json_integer((json_int_t)sim.reminders));
	emit(&sim, final);
	score_free(&t);
	status = 0;
	fflush(out);
	if (ferror(out)) {
		fprintf(stderr, "kaohed: simulate: write error on the output\n");
		status = 1;
	}
out_engine:
	engine_free(e);
	store_rollback(st);
out_store:
	store_close(st);
out:
	for (size_t i = 0; i < nev; i++)
		free(ev[i].text);
	free(ev);
	return status;
}
