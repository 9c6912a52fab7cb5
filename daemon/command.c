/*
 * command — parse, authorize and run one control request.  The daemon's
 * control socket and simulate's events file both come through here, so a
 * command behaves the same live and on virtual time.  A request is split
 * into words, assigned to its command's slots (grammar.c) and each slot
 * resolved by its type; then the command is authorized, the engine (or
 * the store, for reads and the outbox) called, and the answer formatted.
 */
#include <assert.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kaohe/calendar.h"
#include "kaohe/command.h"
#include "kaohe/grammar.h"
#include "kaohe/json.h"
#include "kaohe/log.h"
#include "kaohe/publish.h"
#include "kaohe/report.h"
#include "kaohe/util.h"

/*
 * A request resolved against its command's slots.  A command has at most
 * one slot of each type, so each value is found by its type; WORD holds
 * each slot's word as given (NULL: not given).
 */
struct args {
	const struct grammar_cmd *cmd;
	const char *word[ARG_NTYPES];
	int unit, occ, row, kind, metric, state, format;
	int64_t count, value, time, entry, delivery, number;
	struct engine_due due;
	bool moved; /* a move changed the timeline: of MOVED_UNIT, or (-1) every unit's */
	int moved_unit;
	int year; /* --year, or 0: the latest plan year in force */
};

/* What runs a command of the table. */
struct handler {
	json_t *(*run)(struct command_ctx *c, struct args *a);
	/*
	 * Optional, for reads on the control socket: write the whole answer
	 * into the buffer and return NULL, or return an error answer, or
	 * json_null() to leave the request to run().
	 */
	json_t *(*text)(struct command_ctx *c, struct args *a, struct sbuf *sb);
};

/*
 * Every code an answer may carry, wherever it is made (here, the engine's
 * refusals, the control socket's own, a reload's): clients and the
 * README's list go by this table, and command_error takes no other.
 */
const char *const command_codes[] = {
	"unknown-unit",
	"unknown-row",
	"unknown-kind",
	"unknown-metric",
	"unknown-occurrence",
	"ambiguous-occurrence",
	"not-submittable",
	"bad-count",
	"bad-value",
	"bad-time",
	"bad-date",
	"bad-utf8",
	"control-character",
	"answer-too-large",
	"too-long",
	"format-character",
	"unknown-delivery",
	"bad-state",
	"unknown-period",
	"unknown-year",
	"bad-path",
	"backup-failed",
	"send-failed",
	"bad-config",
	"unavailable",
	"line-too-long",
	"busy",
	"usage",
	"unknown-command",
	"permission-denied",
	"not-found",
	"conflict",
	"internal",
	NULL,
};

bool command_code_known(const char *code)
{
	for (const char *const *c = command_codes; *c; c++)
		if (strcmp(*c, code) == 0)
			return true;
	return false;
}

json_t *command_error(const char *code, const char *fmt, ...)
{
	char msg[2048];
	va_list ap;

	assert(command_code_known(code));

	va_start(ap, fmt);
	int n = vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	/* A long message is cut on a character boundary, never inside one. */
	if (n >= (int)sizeof(msg))
		msg[util_utf8_trim(msg, sizeof(msg) - 1)] = '\0';
	json_t *e =
		json_pack("{s:b, s:{s:s, s:s}}", "ok", 0, "error", "code", code, "message", msg);
	if (e == NULL)
		e = json_pack("{s:b, s:{s:s, s:s}}", "ok", 0, "error", "code", code, "message",
			      "(the message could not be encoded)");
	if (e == NULL)
		abort(); /* jansson out of memory: nothing sensible is left to do */
	return e;
}

/* At most this many bytes of a caller's word are echoed in an error. */
#define ECHO_MAX 96

/* A caller's word, shortened for echoing into a message. */
static const char *echo(const char *s, char *buf, size_t len)
{
	size_t n = strlen(s);
	if (n <= ECHO_MAX || len < ECHO_MAX + 4)
		return s;
	n = util_utf8_trim(s, ECHO_MAX);
	memcpy(buf, s, n);
	memcpy(buf + n, "…", sizeof("…"));
	return buf;
}

static json_t *ok(json_t *data)
{
	return json_pack("{s:b, s:o}", "ok", 1, "data", data ? data : json_null());
}

/* The answer of a batch write: one shared object, nobody reads it. */
static json_t *ok_batch(void)
{
	static json_t *answer;
	if (answer == NULL)
		answer = json_pack("{s:b, s:n}", "ok", 1, "data");
	return json_incref(answer);
}

static bool is_error(const json_t *answer)
{
	return !json_is_true(json_object_get(answer, "ok"));
}

int command_split(const char *line, char *buf, size_t buflen, char **argv, char *err, size_t errlen)
{
	size_t len = strlen(line), o = 0;
	int argc = 0;
	const char *p = line;

	if (len + 1 > buflen) {
		snprintf(err, errlen, "request longer than %zu bytes", buflen - 1);
		return -1;
	}
	for (;;) {
		while (*p == ' ' || *p == '\t')
			p++;
		if (*p == '\0' || *p == '\r' || *p == '\n')
			break;
		if (argc == COMMAND_MAX_ARGS) {
			snprintf(err, errlen, "more than %d words", COMMAND_MAX_ARGS);
			return -1;
		}
		argv[argc++] = buf + o;
		if (*p == '"') {
			p++;
			for (;;) {
				if (*p == '\0') {
					snprintf(err, errlen, "unterminated quoted word %d", argc);
					return -1;
				}
				if (*p == '"')
					break;
				if (*p == '\\') {
					if (p[1] != '"' && p[1] != '\\') {
						snprintf(
							err, errlen,
							"bad escape \\%c in word %d (only \\\" and \\\\)",
							p[1] ? p[1] : '0', argc);
						return -1;
					}
					p++;
				}
				buf[o++] = *p++;
			}
			p++;
			if (*p != '\0' && *p != ' ' && *p != '\t' && *p != '\r' && *p != '\n') {
				snprintf(err, errlen, "word %d: a closing quote must end the word",
					 argc);
				return -1;
			}
		} else {
			while (*p && *p != ' ' && *p != '\t' && *p != '\r' && *p != '\n') {
				if (*p == '"') {
					snprintf(err, errlen, "word %d: a quote inside a word",
						 argc);
					return -1;
				}
				buf[o++] = *p++;
			}
		}
		buf[o++] = '\0';
	}
	return argc;
}

/* ---- lookups with errors that tell what would have been right ---- */

static json_t *unknown_unit(const struct plan *p, const char *s)
{
	struct sbuf sb;
	sbuf_init(&sb);
	for (size_t i = 0; i < p->nunits && i < 20; i++)
		sbuf_printf(&sb, "%s%s (%s)", i ? ", " : "", p->units[i].id, p->units[i].name);
	if (p->nunits > 20)
		sbuf_printf(&sb, ", … %zu in all", p->nunits);
	char eb[ECHO_MAX + 8];
	json_t *e = command_error("unknown-unit", "unknown unit \"%s\"; known units: %s",
				  echo(s, eb, sizeof(eb)), sb.buf);
	sbuf_free(&sb);
	return e;
}

static json_t *find_row(const struct plan *p, const char *s, int *row)
{
	*row = plan_row_find(p, s);
	if (*row >= 0)
		return NULL;
	struct sbuf sb;
	sbuf_init(&sb);
	for (size_t i = 0; i < p->nrows; i++)
		sbuf_printf(&sb, "%s%s", i ? ", " : "", p->rows[i].id);
	char eb[ECHO_MAX + 8];
	json_t *e = command_error("unknown-row", "unknown row \"%s\"; rows: %s",
				  echo(s, eb, sizeof(eb)), sb.buf);
	sbuf_free(&sb);
	return e;
}

static void list_occs(const struct plan *p, const struct plan_row *r, struct sbuf *sb)
{
	for (size_t i = 0; i < r->nocc; i++)
		sbuf_printf(sb, "%s%s", i ? ", " : "", p->occs[r->occ_first + i].name);
}

static json_t *find_occ(const struct plan *p, const char *s, int *occ)
{
	char rowid[64];
	int row;
	json_t *err;

	*occ = plan_occ_find(p, s);
	if (*occ >= 0)
		return NULL;
	util_strlcpy(rowid, s, sizeof(rowid));
	char *at = strchr(rowid, '@');
	if (at)
		*at = '\0';
	if ((err = find_row(p, rowid, &row)) != NULL) {
		json_decref(err);
		char eb[ECHO_MAX + 8];
		return command_error("unknown-occurrence",
				     "unknown occurrence \"%s\" (expected ROW or ROW@YYYY-MM-DD)",
				     echo(s, eb, sizeof(eb)));
	}
	const struct plan_row *r = &p->rows[row];
	if (r->nocc == 0)
		return command_error("unknown-occurrence", "row %s has no time node", r->id);
	struct sbuf sb;
	sbuf_init(&sb);
	list_occs(p, r, &sb);
	err = at ? command_error("unknown-occurrence",
				 "row %s has no occurrence \"%s\"; its occurrences: %s", r->id, s,
				 sb.buf)
		 : command_error("ambiguous-occurrence",
				 "row %s has several occurrences; name one of: %s", r->id, sb.buf);
	sbuf_free(&sb);
	return err;
}

/* ---- authorization ---- */

/*
 * Whether the actor may write ROW: NULL, or the refusal, which names
 * what was attempted in ACTION ("void entry #12 of"), then the row.
 */
static json_t *may_write_row(const struct command_ctx *c, int row, const char *action)
{
	const struct actor *a = c->actor;
	int dept = c->plan->rows[row].dept;
	if (a->admin || (a->depts && dept >= 0 && a->depts[dept]))
		return NULL;
	return command_error("permission-denied",
			     "%s may not %s row %s (owned by %s: its officers and admins only)",
			     a->name, action, c->plan->rows[row].id,
			     dept >= 0 ? c->plan->depts[dept].id : "nobody");
}

static bool is_officer(const struct command_ctx *c)
{
	for (size_t i = 0; c->actor->depts && i < c->plan->ndepts; i++)
		if (c->actor->depts[i])
			return true;
	return false;
}

static json_t *may_read_unit(const struct command_ctx *c, int unit)
{
	const struct actor *a = c->actor;
	if (a->admin || is_officer(c) || (unit >= 0 && a->units && a->units[unit]))
		return NULL;
	return command_error("permission-denied", "%s may not read unit %s", a->name,
			     unit >= 0 ? c->plan->units[unit].id : "(all units)");
}

static json_t *may_read_all(const struct command_ctx *c)
{
	return may_read_unit(c, -1);
}

/* ---- the arguments, by type ---- */

static json_t *parse_time(const char *what, const char *s, int64_t *t)
{
	if (calendar_parse_instant(s, false, t) < 0)
		return command_error(
			"bad-time",
			"%s \"%s\" is not a time (expected e.g. 2020-09-15T18:00:00+08:00 or 2020-09-15)",
			what, s);
	return NULL;
}

/* A unit: for a read by someone who may not read every unit, none is listed. */
static json_t *resolve_unit(const struct command_ctx *c, const struct args *a, const char *s,
			    int *unit)
{
	*unit = plan_unit_find(c->plan, s);
	if (*unit >= 0)
		return NULL;
	if (a->cmd->access == CMD_READ && c->actor && !c->actor->admin && !is_officer(c)) {
		char eb[ECHO_MAX + 8];
		return command_error("permission-denied", "%s may not read unit \"%s\"",
				     c->actor->name, echo(s, eb, sizeof(eb)));
	}
	return unknown_unit(c->plan, s);
}

static json_t *resolve_kind(const struct plan *p, const char *s, int row, int *kind)
{
	const struct plan_row *r = &p->rows[row];
	json_t *err;

	if ((*kind = plan_kind_find(r, s)) >= 0)
		return NULL;
	struct sbuf sb;
	sbuf_init(&sb);
	for (size_t i = 0; i < r->nkinds; i++)
		sbuf_printf(&sb, "%s%s (%s)", i ? ", " : "", r->kinds[i].id,
			    r->kinds[i].award ? "award" : "finding");
	if (r->nkinds)
		err = command_error("unknown-kind", "row %s has no kind \"%s\"; its kinds: %s",
				    r->id, s, sb.buf);
	else
		err = command_error("unknown-kind", "row %s has no finding or award kinds", r->id);
	sbuf_free(&sb);
	return err;
}

static bool row_uses_metric(const struct plan_row *r, int m)
{
	if (r->ranking && r->ranking->metric == m)
		return true;
	for (size_t t = 0; t < r->nthresholds; t++)
		for (size_t i = 0; i < r->thresholds[t].nany; i++)
			if (r->thresholds[t].any[i].metric == m)
				return true;
	return false;
}

static json_t *resolve_metric(const struct plan *p, const char *s, int row, int *metric)
{
	const struct plan_row *r = &p->rows[row];

	*metric = plan_metric_find(p, s);
	if (*metric >= 0 && row_uses_metric(r, *metric))
		return NULL;
	struct sbuf sb;
	sbuf_init(&sb);
	for (size_t i = 0; i < p->nmetrics; i++)
		if (row_uses_metric(r, (int)i))
			sbuf_printf(&sb, "%s%s", sb.len ? ", " : "", p->metrics[i].id);
	json_t *err = command_error("unknown-metric", "row %s has no metric \"%s\"%s%s", r->id, s,
				    sb.len ? "; its metrics: " : " (it uses none)", sb.buf);
	sbuf_free(&sb);
	return err;
}

/* A new due: a date-time (with a 'T' or a space), else a date of the plan's year. */
static json_t *resolve_due(const struct plan *p, const char *s, struct engine_due *due)
{
	json_t *err;

	if (strchr(s, 'T') || strchr(s, ' ')) {
		if ((err = parse_time("the new due", s, &due->at)))
			return err;
		due->timed = true;
		due->day = calendar_day_of(due->at, NULL);
	} else if (calendar_parse_day(s, p->year, &due->day) < 0) {
		return command_error("bad-date", "\"%s\" is not a date (YYYY-MM-DD) or a date-time",
				     s);
	}
	return NULL;
}

static int snapshot_named(const char *period, int64_t at, int64_t taken_at, const char *data,
			  void *arg)
{
	(void)at;
	(void)taken_at;
	(void)data;
	return strcmp(period, arg) == 0;
}

/*
 * A period: a quarter of the plan, or one with a snapshot (an earlier
 * plan's).  Without a store (command_check()), only the plan's are known
 * and the others are left to the run.
 */
static json_t *resolve_period(const struct command_ctx *c, const char *s)
{
	const struct plan *p = c->plan;

	for (size_t i = 0; i < p->nquarters; i++)
		if (strcmp(p->quarters[i].period, s) == 0)
			return NULL;
	if (c->st == NULL)
		return NULL;
	int rc = store_snapshots(c->st, false, snapshot_named, (void *)s);
	if (rc < 0)
		return command_error("internal", "database: %s", store_errmsg(c->st));
	if (rc > 0)
		return NULL;
	struct sbuf names;
	sbuf_init(&names);
	for (size_t i = 0; i < p->nquarters; i++)
		sbuf_printf(&names, "%s%s", i ? ", " : "", p->quarters[i].period);
	json_t *err = command_error(
		"unknown-period", "unknown period \"%.40s\"; the plan's periods: %s", s, names.buf);
	sbuf_free(&names);
	return err;
}

static json_t *resolve_state(const char *s, int *state)
{
	if ((*state = store_outbox_state_find(s)) >= 0)
		return NULL;
	struct sbuf names;
	sbuf_init(&names);
	for (int i = 0; i < OUTBOX_NSTATES; i++)
		sbuf_printf(&names, "%s%s", i ? ", " : "",
			    store_outbox_state_name((enum outbox_state)i));
	char eb[ECHO_MAX + 8];
	json_t *err = command_error("usage", "unknown state \"%s\"; states: %s",
				    echo(s, eb, sizeof(eb)), names.buf);
	sbuf_free(&names);
	return err;
}

/* A whole number from MIN to MAX. */
static bool whole(const char *s, int64_t min, int64_t max, int64_t *n)
{
	return util_parse_fixed(s, 0, n) == 0 && *n >= min && *n <= max;
}

/*
 * Free text W of slot S: stored, and shown again in every answer that
 * lists it, so it has a limit.  NULL, or the answer that refuses it.
 */
static json_t *too_long(const struct grammar_slot *s, const char *w)
{
	size_t n = 0;

	for (const unsigned char *p = (const unsigned char *)w; *p; p++)
		n += (*p & 0xc0) != 0x80;
	if (n <= GRAMMAR_MAX_TEXT)
		return NULL;
	return command_error("too-long", "%s holds %zu characters; it may hold at most %d", s->name,
			     n, GRAMMAR_MAX_TEXT);
}

/*
 * Resolve the word W of slot S of the request's command into A, by the
 * slot's type: NULL, or the answer that refuses it.
 */
static json_t *resolve(const struct command_ctx *c, const struct grammar_slot *s, const char *w,
		       struct args *a)
{
	const struct plan *p = c->plan;
	char eb[ECHO_MAX + 8];

	a->word[s->type] = w;
	switch (s->type) {
	case ARG_UNIT: return resolve_unit(c, a, w, &a->unit);
	case ARG_OCC: return find_occ(p, w, &a->occ);
	case ARG_ROW: return find_row(p, w, &a->row);
	case ARG_KIND: return resolve_kind(p, w, a->row, &a->kind);
	case ARG_COUNT:
		if (!whole(w, 1, 1000000, &a->count))
			return command_error("bad-count",
					     "count \"%s\" must be a whole number "
					     "from 1 to 1000000",
					     w);
		return NULL;
	case ARG_METRIC: return resolve_metric(p, w, a->row, &a->metric);
	case ARG_VALUE:
		if (util_parse_fixed(w, 4, &a->value) < 0 || a->value > 1000000000000LL ||
		    a->value < -1000000000000LL)
			return command_error("bad-value",
					     "metric value \"%s\" is not a number (at most four "
					     "decimals, e.g. 12.5)",
					     w);
		return NULL;
	case ARG_TIME: return parse_time(s->name, w, &a->time);
	case ARG_DUE: return resolve_due(p, w, &a->due);
	case ARG_ENTRY:
		if (!whole(w, 1, INT64_MAX, &a->entry))
			return command_error("usage", "\"%s\" is not an entry id", w);
		return NULL;
	case ARG_DELIVERY:
		if (!whole(w, 1, INT64_MAX, &a->delivery))
			return command_error("usage", "DELIVERY_ID \"%s\" must be a whole number",
					     echo(w, eb, sizeof(eb)));
		return NULL;
	case ARG_NUMBER:
		if (!whole(w, s->min, s->max, &a->number))
			return command_error("usage",
					     "%s \"%s\" must be a whole number from %lld to %lld",
					     s->name, w, (long long)s->min, (long long)s->max);
		return NULL;
	case ARG_STATE: return resolve_state(w, &a->state);
	case ARG_PERIOD: return resolve_period(c, w);
	case ARG_FORMAT:
		if ((a->format = publish_format_find(w)) < 0)
			return command_error("usage", "%s \"%s\" is not html, csv or json", s->name,
					     echo(w, eb, sizeof(eb)));
		return NULL;
	case ARG_REASON:
		if (*w == '\0')
			return command_error("usage", "%s needs %s %s: every %s is audited",
					     a->cmd->name, s->name, s->value, a->cmd->name);
		return too_long(s, w);
	case ARG_TEXT: return too_long(s, w);
	case ARG_PATH:
		if (strlen(w) >= PATH_MAX)
			return command_error("too-long",
					     "%s is %zu bytes long; a path has at most %d", s->name,
					     strlen(w), PATH_MAX - 1);
		return NULL;
	case ARG_CHANNEL:
	case ARG_NTYPES: break;
	}
	return NULL;
}

static json_t *entry_json(const struct plan *p, const struct entry *e)
{
	json_t *o = json_object();
	json_object_set_new(o, "id", json_integer(e->id));
	json_object_set_new(o, "type", json_string(store_entry_type_name(e->type)));
	json_object_set_new(o, "unit", json_string(e->unit >= 0 ? p->units[e->unit].id : "?"));
	json_object_set_new(o, "row", json_string(e->row));
	if (e->occ[0])
		json_object_set_new(o, "occurrence", json_string(e->occ));
	if (e->kind[0])
		json_object_set_new(o, e->type == ENTRY_METRIC ? "metric" : "kind",
				    json_string(e->kind));
	if (e->type == ENTRY_FINDING || e->type == ENTRY_AWARD)
		json_object_set_new(o, "count", json_integer(e->count));
	if (e->type == ENTRY_RANKING)
		json_object_set_new(o, "position", json_integer(e->count));
	if (e->type == ENTRY_METRIC)
		json_object_set_new(o, "value", json_new_metric(e->value));
	else if (e->type != ENTRY_SUBMISSION)
		json_object_set_new(o, "points", json_new_points(e->points));
	json_object_set_new(o, "at", json_new_instant(e->at));
	json_object_set_new(o, "recorded_at", json_new_instant(e->recorded_at));
	json_object_set_new(o, "by", json_string(e->actor));
	if (e->note)
		json_object_set_new(o, "note", json_string(e->note));
	if (e->rule)
		json_object_set_new(o, "rule", json_string(e->rule));
	if (e->voided_at)
		json_object_set_new(o, "voided",
				    json_pack("{s:o, s:s, s:s}", "at",
					      json_new_instant(e->voided_at), "by", e->voided_by,
					      "reason", e->void_reason ? e->void_reason : ""));
	return o;
}

static json_t *sched_json(const struct schedule *s, json_t *o)
{
	char day[16];
	calendar_format_day(s->due_day, day, sizeof(day));
	json_object_set_new(o, "due", s->timed ? json_new_instant(s->due_at) : json_string(day));
	json_object_set_new(o, "deadline", json_new_instant(s->deadline));
	json_object_set_new(o, "close", json_new_instant(s->close));
	return o;
}

/*
 * What an untracked occurrence's reader is told: it fell due before kaohe
 * tracked the plan year, and what an admin may do about it.
 */
static json_t *untracked_hint(const struct command_ctx *c)
{
	char day[16], hint[512];
	calendar_format_day(calendar_day_of(engine_adopted(c->eng), NULL), day, sizeof(day));
	snprintf(hint, sizeof(hint),
		 "fell due before kaohe tracked %d (adopted %s): record it with `submit --at`, "
		 "or apply the missed deductions with `kaohectl apply-missed`",
		 c->plan->year, day);
	return json_string(hint);
}

/* ---- the commands ---- */

static json_t *cmd_ping(struct command_ctx *c, struct args *a)
{
	(void)a;
	return ok(json_pack("{s:b, s:o}", "pong", 1, "now", json_new_instant(c->now)));
}

/* What the engine refused or failed, answered in its own code and words. */
static json_t *engine_failed(const struct engine_error *err)
{
	return command_error(engine_errcode_name(err->code), "%s", err->msg);
}

static json_t *cmd_submit(struct command_ctx *c, struct args *a)
{
	const struct plan *p = c->plan;
	int64_t at = a->word[ARG_TIME] ? a->time : c->now;
	struct engine_submission sub;
	struct engine_error ee;
	json_t *err;

	if ((err = may_write_row(c, p->occs[a->occ].row, "submit for")))
		return err;
	if (engine_submit(c->eng, a->unit, a->occ, at, a->word[ARG_TEXT], c->actor->name, c->now,
			  &sub, &ee) < 0)
		return engine_failed(&ee);
	if (c->batch)
		return ok_batch();
	json_t *d = json_pack("{s:I, s:s, s:s, s:o, s:b, s:s}", "id", (json_int_t)sub.id, "unit",
			      p->units[a->unit].id, "occurrence", p->occs[a->occ].name, "at",
			      json_new_instant(at), "first", sub.first, "state",
			      engine_state_name(sub.state));
	sched_json(engine_schedule(c->eng, a->occ, a->unit), d);
	return ok(d);
}

static json_t *cmd_record(struct command_ctx *c, struct args *a)
{
	const struct plan *p = c->plan;
	const struct plan_row *r = &p->rows[a->row];
	int64_t count = a->word[ARG_COUNT] ? a->count : 1, id, points;
	struct engine_error ee;
	json_t *err;

	if ((err = may_write_row(c, a->row, "record findings or awards on")))
		return err;
	if (engine_record(c->eng, a->unit, a->row, a->kind, count, a->word[ARG_TEXT],
			  c->actor->name, c->now, &id, &points, &ee) < 0)
		return engine_failed(&ee);
	if (c->batch)
		return ok_batch();
	const struct plan_kind *kd = &r->kinds[a->kind];
	return ok(json_pack("{s:I, s:s, s:s, s:s, s:s, s:I, s:o}", "id", (json_int_t)id, "unit",
			    p->units[a->unit].id, "row", r->id, "kind", kd->id, "type",
			    kd->award ? "award" : "finding", "count", (json_int_t)count, "points",
			    json_new_points(points)));
}

static json_t *cmd_metric(struct command_ctx *c, struct args *a)
{
	const struct plan *p = c->plan;
	int64_t id;
	struct engine_error ee;
	json_t *err;

	if ((err = may_write_row(c, a->row, "record metrics on")))
		return err;
	if (engine_metric(c->eng, a->unit, a->row, a->metric, a->value, c->actor->name, c->now, &id,
			  &ee) < 0)
		return engine_failed(&ee);
	if (c->batch)
		return ok_batch();
	return ok(json_pack("{s:I, s:s, s:s, s:s, s:o}", "id", (json_int_t)id, "unit",
			    p->units[a->unit].id, "row", p->rows[a->row].id, "metric",
			    p->metrics[a->metric].id, "value", json_new_metric(a->value)));
}

static json_t *cmd_move(struct command_ctx *c, struct args *a)
{
	const struct plan *p = c->plan;
	int unit = a->word[ARG_UNIT] ? a->unit : -1;
	struct engine_error ee;
	json_t *err;

	if ((err = may_write_row(c, p->occs[a->occ].row, "move the dues of")))
		return err;
	if (engine_move(c->eng, a->occ, unit, &a->due, c->actor->name, a->word[ARG_REASON], c->now,
			&ee) < 0)
		return engine_failed(&ee);
	a->moved = true;
	a->moved_unit = unit;
	json_t *d = json_pack("{s:s}", "occurrence", p->occs[a->occ].name);
	if (unit >= 0)
		json_object_set_new(d, "unit", json_string(p->units[unit].id));
	return ok(sched_json(engine_schedule(c->eng, a->occ, unit), d));
}

static json_t *cmd_void(struct command_ctx *c, struct args *a)
{
	struct engine_voided v;
	struct engine_error ee;
	json_t *err;

	/* An officer voids only the entries of the rows their department owns. */
	if (engine_void_target(c->eng, a->entry, &v, &ee) < 0)
		return engine_failed(&ee);
	char action[64];
	snprintf(action, sizeof(action), "void entry #%lld of", (long long)a->entry);
	if ((err = may_write_row(c, v.row, action)))
		return err;
	if (engine_void(c->eng, a->entry, c->actor->name, a->word[ARG_REASON], c->now, &v, &ee) < 0)
		return engine_failed(&ee);
	return ok(json_pack("{s:I, s:s, s:s, s:o}", "id", (json_int_t)a->entry, "type",
			    store_entry_type_name(v.type), "unit", c->plan->units[v.unit].id,
			    "voided_at", json_new_instant(c->now)));
}

static json_t *units_scores(struct command_ctx *c, int64_t as_of, json_t **err)
{
	struct score_table t;
	if (as_of >= c->now) {
		const struct score_table *cur = engine_current(c->eng);
		if (cur)
			return report_units(c->plan, cur);
	} else if (engine_scores(c->eng, as_of, &t) == 0) {
		json_t *u = report_units(c->plan, &t);
		score_free(&t);
		return u;
	}
	*err = command_error("internal", "database: %s", store_errmsg(c->st));
	return NULL;
}

static json_t *cmd_scores(struct command_ctx *c, struct args *a)
{
	int64_t as_of = a->word[ARG_TIME] ? a->time : c->now;
	json_t *err = may_read_all(c);
	if (err)
		return err;
	json_t *units = units_scores(c, as_of, &err);
	if (units == NULL)
		return err;
	return ok(json_pack("{s:o, s:o}", "as_of", json_new_instant(as_of), "units", units));
}

/*
 * The status of one unit, written as text: the busiest read of a large
 * plan (every liaison's view), so it builds no JSON objects.
 */
static json_t *unit_status_text(struct command_ctx *c, int unit, struct sbuf *sb)
{
	const struct plan *p = c->plan;
	const struct score_table *t = engine_current(c->eng);
	struct json_writer w;

	if (t == NULL)
		return command_error("internal", "database: %s", store_errmsg(c->st));
	json_do_start(&w, sb);
	json_do_object(&w, NULL);
	json_do_bool(&w, "ok", true);
	report_unit_open(&w, "data", p, t, (size_t)unit);
	json_do_array(&w, "occurrences");
	bool untracked = false;
	for (size_t i = 0; i < p->noccs; i++) {
		if (p->occs[i].type != OCC_DEADLINE)
			continue;
		int64_t first;
		enum occ_state s = engine_occ_state(c->eng, unit, (int)i, c->now, &first);
		json_do_object(&w, NULL);
		json_do_string(&w, "occurrence", p->occs[i].name);
		json_do_string(&w, "row", p->rows[p->occs[i].row].id);
		json_do_string(&w, "state", engine_state_name(s));
		untracked |= s == OCC_UNTRACKED;
		engine_schedule_json(c->eng, (int)i, unit, &w);
		if (first != INT64_MAX)
			json_do_instant(&w, "submitted_at", first);
		json_do_end(&w);
	}
	json_do_end(&w);
	if (untracked) {
		json_t *h = untracked_hint(c);
		json_do_string(&w, "hint", json_string_value(h));
		json_decref(h);
	}
	json_do_instant(&w, "now", c->now);
	json_do_end(&w);
	json_do_end(&w);
	json_do_finish(&w);
	return NULL;
}

/*
 * The unit a bare `status` shows: a unit's member reads their own unit
 * only, so it is theirs.  -1 for the whole status (officers and admins,
 * and those who may read nothing, whom may_read_all() refuses); -2 with
 * an answer in *ERR for a member of several units, who names one.
 */
static int own_unit(const struct command_ctx *c, json_t **err)
{
	const struct plan *p = c->plan;
	int unit = -1;
	size_t n = 0;

	if (c->actor->admin || is_officer(c) || c->actor->units == NULL)
		return -1;
	for (size_t u = 0; u < p->nunits; u++)
		if (c->actor->units[u] && n++ == 0)
			unit = (int)u;
	if (n <= 1)
		return unit;
	struct sbuf sb;
	sbuf_init(&sb);
	for (size_t u = 0, k = 0; u < p->nunits && k < 20; u++)
		if (c->actor->units[u])
			sbuf_printf(&sb, "%s%s (%s)", k++ ? ", " : "", p->units[u].id,
				    p->units[u].name);
	*err = command_error("usage", "status: name one of your %zu units: %s%s", n, sb.buf,
			     n > 20 ? ", …" : "");
	sbuf_free(&sb);
	return -2;
}

/* `status [UNIT]` of one unit, answered as text; NULL when written into SB. */
static json_t *status_text(struct command_ctx *c, struct args *a, struct sbuf *sb)
{
	json_t *err = NULL;
	int unit = a->word[ARG_UNIT] ? a->unit : own_unit(c, &err);

	if (err)
		return err;
	if (unit < 0)
		return json_null(); /* the whole status: the JSON path */
	if ((err = may_read_unit(c, unit)))
		return err;
	return unit_status_text(c, unit, sb);
}

static json_t *cmd_status(struct command_ctx *c, struct args *a)
{
	const struct plan *p = c->plan;
	struct sbuf sb;
	json_t *err;

	sbuf_init(&sb);
	json_t *answer = status_text(c, a, &sb);
	if (answer == NULL)
		answer = json_loadb(sb.buf, sb.len, 0, NULL);
	sbuf_free(&sb);
	if (answer == NULL)
		return command_error("internal", "cannot read back an answer");
	if (!json_is_null(answer))
		return answer;
	if ((err = may_read_all(c)))
		return err;
	json_t *units = units_scores(c, c->now, &err);
	if (units == NULL)
		return err;
	/* The occurrences between deadline and close, with who still owes them
	 * (each unit by its own schedule: a deadline may be moved for one). */
	json_t *open = json_array();
	int64_t adopted = engine_adopted(c->eng), nuntracked = 0;
	for (size_t i = 0; i < p->noccs; i++) {
		if (p->occs[i].type != OCC_DEADLINE)
			continue;
		json_t *owing = json_array();
		for (size_t u = 0; u < p->nunits; u++) {
			const struct schedule *s = engine_schedule(c->eng, (int)i, (int)u);
			if (s->deadline < adopted) {
				if (engine_occ_state(c->eng, (int)u, (int)i, c->now, NULL) ==
				    OCC_UNTRACKED)
					nuntracked++;
				continue;
			}
			if (c->now >= s->deadline && c->now < s->close &&
			    engine_first_submission(c->eng, (int)u, (int)i) > c->now)
				json_array_append_new(owing, json_string(p->units[u].id));
		}
		if (json_array_size(owing) == 0) {
			json_decref(owing);
			continue;
		}
		json_t *o =
			json_pack("{s:s, s:o}", "occurrence", p->occs[i].name, "overdue", owing);
		json_array_append_new(open, sched_json(engine_schedule(c->eng, (int)i, -1), o));
	}
	int64_t next = engine_next(c->eng);
	json_t *d = json_pack("{s:o, s:o, s:o, s:o}", "now", json_new_instant(c->now), "next",
			      next == INT64_MAX ? json_null() : json_new_instant(next), "units",
			      units, "open", open);
	json_object_set_new(d, "year", json_integer(p->year));
	if (p->written_year != p->year)
		json_object_set_new(d, "plan_year", json_integer(p->written_year));
	if (engine_adoption(c->eng) != INT64_MIN)
		json_object_set_new(d, "adopted", json_new_instant(engine_adoption(c->eng)));
	if (nuntracked) {
		json_object_set_new(d, "untracked", json_integer(nuntracked));
		json_object_set_new(d, "hint", untracked_hint(c));
	}
	json_t *years = json_array();
	for (size_t i = 0; i < c->nyears; i++)
		json_array_append_new(years, json_integer(c->years[i]));
	json_object_set_new(d, "years", years);
	json_object_set_new(d, "ended", json_boolean(c->ended));
	if (c->ended)
		json_object_set_new(d, "message", json_string(c->ended_message));
	return ok(d);
}

/*
 * About the length of S in an answer, and of an entry's or an audit
 * record's members besides their texts: enough to stop building an
 * answer no client would take (the control socket refuses what still
 * gets through, exactly).
 */
#define TEXT_SIZE(s) ((s) ? strlen(s) + 16 : 0)
#define RECORD_SIZE  400

struct explain_ctx {
	const struct plan *p;
	json_t *rows; /* row id -> {entries: […]} */
	size_t bytes; /* of the answer so far, about */
};

static int explain_entry(const struct entry *e, void *arg)
{
	struct explain_ctx *x = arg;
	json_t *r = json_object_get(x->rows, e->row);
	if (r == NULL)
		return 0;
	x->bytes += RECORD_SIZE + TEXT_SIZE(e->note) + TEXT_SIZE(e->rule) +
		    TEXT_SIZE(e->void_reason) + TEXT_SIZE(e->actor) + TEXT_SIZE(e->voided_by);
	if (x->bytes > GRAMMAR_MAX_ANSWER)
		return 1;
	json_array_append_new(json_object_get(r, "entries"), entry_json(x->p, e));
	return 0;
}

static json_t *cmd_explain(struct command_ctx *c, struct args *a)
{
	const struct plan *p = c->plan;
	int unit = a->unit, row = a->word[ARG_ROW] ? a->row : -1;
	json_t *err;

	if ((err = may_read_unit(c, unit)))
		return err;
	const struct score_table *cur = engine_current(c->eng);
	if (cur == NULL)
		return command_error("internal", "database: %s", store_errmsg(c->st));
	const struct score_table t = *cur;
	json_t *rows = json_object(), *list = json_array();
	for (size_t r = 0; r < p->nrows; r++) {
		if (row >= 0 && (int)r != row)
			continue;
		const struct plan_row *pr = &p->rows[r];
		json_t *o = json_pack("{s:s, s:s, s:s, s:o, s:o, s:o, s:s, s:s, s:[]}", "row",
				      pr->id, "category", p->cats[pr->category].id, "content",
				      pr->content, "max", json_new_points(pr->max), "start",
				      json_new_points(pr->earn ? 0 : pr->max), "score",
				      json_new_points(t.rows[(size_t)unit * p->nrows + r]),
				      "standard", pr->standard, "scoring", pr->scoring, "entries");
		json_object_set(rows, pr->id, o);
		json_array_append_new(list, o);
	}
	struct explain_ctx x = { .p = p, .rows = rows };
	int rc =
		store_entries_of(c->st, unit, row >= 0 ? p->rows[row].id : NULL, explain_entry, &x);
	json_t *d = json_pack("{s:s, s:s, s:o, s:i, s:o, s:o}", "unit", p->units[unit].id, "name",
			      p->units[unit].name, "total", json_new_points(t.total[unit]), "rank",
			      t.rank[unit], "as_of", json_new_instant(c->now), "rows", list);
	json_decref(rows);
	json_t *untracked = json_array();
	for (size_t i = 0; engine_adopted(c->eng) != INT64_MIN && i < p->noccs; i++)
		if ((row < 0 || (int)p->occs[i].row == row) &&
		    engine_occ_state(c->eng, unit, (int)i, c->now, NULL) == OCC_UNTRACKED)
			json_array_append_new(untracked, json_string(p->occs[i].name));
	if (json_array_size(untracked)) {
		json_object_set_new(d, "untracked", untracked);
		json_object_set_new(d, "hint", untracked_hint(c));
	} else {
		json_decref(untracked);
	}
	if (rc < 0) {
		json_decref(d);
		return command_error("internal", "database: %s", store_errmsg(c->st));
	}
	if (rc > 0) {
		json_decref(d);
		if (row >= 0)
			return command_error("answer-too-large",
					     "the entries of %s in row %s come to more than %d "
					     "bytes, the longest answer",
					     p->units[unit].id, p->rows[row].id,
					     GRAMMAR_MAX_ANSWER);
		return command_error("answer-too-large",
				     "the entries of %s come to more than %d bytes, the longest "
				     "answer; ask for one row at a time: explain %s ROW",
				     p->units[unit].id, GRAMMAR_MAX_ANSWER, p->units[unit].id);
	}
	return ok(d);
}

static json_t *cmd_plan(struct command_ctx *c, struct args *a)
{
	const struct plan *p = c->plan;
	json_t *rows, *err;
	(void)a;

	if ((err = may_read_all(c)))
		return err;
	rows = json_array();
	for (size_t r = 0; r < p->nrows; r++) {
		const struct plan_row *pr = &p->rows[r];
		json_t *occs = json_array(), *kinds = json_array();
		for (size_t i = 0; i < pr->nocc; i++) {
			int o = (int)(pr->occ_first + i);
			json_t *oj =
				json_pack("{s:s, s:s}", "occurrence", p->occs[o].name, "type",
					  p->occs[o].type == OCC_DEADLINE ? "deadline" : "record");
			json_array_append_new(occs, sched_json(engine_schedule(c->eng, o, -1), oj));
		}
		for (size_t k = 0; k < pr->nkinds; k++) {
			json_t *kj = json_pack("{s:s, s:s, s:s, s:o}", "kind", pr->kinds[k].id,
					       "name", pr->kinds[k].name, "type",
					       pr->kinds[k].award ? "award" : "finding", "points",
					       json_new_points(pr->kinds[k].per));
			if (pr->kinds[k].cap >= 0)
				json_object_set_new(kj, "cap", json_new_points(pr->kinds[k].cap));
			json_array_append_new(kinds, kj);
		}
		json_t *o = json_pack("{s:s, s:s, s:s, s:o, s:b, s:s, s:s, s:o, s:o}", "row",
				      pr->id, "category", p->cats[pr->category].id, "department",
				      p->depts[pr->dept].id, "max", json_new_points(pr->max),
				      "earn", pr->earn, "content", pr->content, "time_node",
				      pr->time_node, "occurrences", occs, "kinds", kinds);
		if (pr->has_deadline) {
			json_object_set_new(o, "late", json_new_points(pr->late));
			json_object_set_new(o, "missing", json_new_points(pr->missing));
		}
		json_array_append_new(rows, o);
	}
	return ok(json_pack("{s:i, s:s, s:s, s:s, s:o, s:I, s:o}", "year", p->year, "title",
			    p->title, "document", p->document, "timezone", p->timezone, "total",
			    json_new_points(p->total), "units", (json_int_t)p->nunits, "rows",
			    rows));
}

static json_t *cmd_upcoming(struct command_ctx *c, struct args *a)
{
	const struct plan *p = c->plan;
	int64_t days = a->word[ARG_NUMBER] ? a->number : 14;
	json_t *list = json_array();

	bool all = c->actor->admin || is_officer(c), member = false;
	for (size_t u = 0; !all && c->actor->units && u < p->nunits && !member; u++)
		member = c->actor->units[u];
	if (!all && !member) {
		json_decref(list);
		return command_error("permission-denied", "%s may not read upcoming deadlines",
				     c->actor->name);
	}
	int64_t until = c->now + days * DAY_SECONDS;
	for (size_t i = 0; i < p->noccs; i++) {
		const struct schedule *s = engine_schedule(c->eng, (int)i, -1);
		const struct plan_occ *o = &p->occs[i];
		json_t *owing = NULL;
		if (o->type == OCC_RECORD) {
			if (!all || s->deadline <= c->now || s->deadline > until)
				continue;
		} else {
			/* Each unit by its own schedule. */
			owing = json_array();
			for (size_t u = 0; u < p->nunits; u++) {
				const struct schedule *us = engine_schedule(c->eng, (int)i, (int)u);
				if ((all || c->actor->units[u]) && us->deadline > c->now &&
				    us->deadline <= until &&
				    engine_first_submission(c->eng, (int)u, (int)i) > c->now)
					json_array_append_new(owing, json_string(p->units[u].id));
			}
			if ((s->deadline <= c->now || s->deadline > until) &&
			    json_array_size(owing) == 0) {
				json_decref(owing);
				continue;
			}
		}
		json_t *oj = json_pack("{s:s, s:s, s:s}", "occurrence", o->name, "row",
				       p->rows[o->row].id, "title", p->rows[o->row].content);
		sched_json(s, oj);
		if (o->type == OCC_RECORD) {
			json_object_set_new(oj, "department",
					    json_string(p->depts[p->rows[o->row].dept].id));
		} else {
			json_object_set_new(oj, "not_submitted", owing);
			json_object_set_new(oj, "late", json_new_points(p->rows[o->row].late));
			json_object_set_new(oj, "missing",
					    json_new_points(p->rows[o->row].missing));
		}
		json_array_append_new(list, oj);
	}
	return ok(json_pack("{s:o, s:I, s:o}", "now", json_new_instant(c->now), "days",
			    (json_int_t)days, "occurrences", list));
}

static int snapshot_row(const char *period, int64_t at, int64_t taken_at, const char *data,
			void *arg)
{
	(void)data;
	json_array_append_new(arg, json_pack("{s:s, s:o, s:o}", "period", period, "at",
					     json_new_instant(at), "taken_at",
					     json_new_instant(taken_at)));
	return 0;
}

static json_t *cmd_snapshots(struct command_ctx *c, struct args *a)
{
	json_t *list = json_array(), *err;
	(void)a;
	if ((err = may_read_all(c))) {
		json_decref(list);
		return err;
	}
	if (store_snapshots(c->st, false, snapshot_row, list) < 0) {
		json_decref(list);
		return command_error("internal", "database: %s", store_errmsg(c->st));
	}
	return ok(list);
}

struct audit_ctx {
	json_t *list;
	size_t bytes; /* of the answer so far, about */
};

static int audit_row(int64_t id, int64_t at, const char *actor, const char *command,
		     const char *result, void *arg)
{
	struct audit_ctx *x = arg;
	x->bytes += RECORD_SIZE + TEXT_SIZE(actor) + TEXT_SIZE(command) + TEXT_SIZE(result);
	if (x->bytes > GRAMMAR_MAX_ANSWER)
		return 1;
	json_array_append_new(x->list, json_pack("{s:I, s:o, s:s, s:s, s:s}", "id", (json_int_t)id,
						 "at", json_new_instant(at), "by", actor, "command",
						 command, "result", result));
	return 0;
}

static json_t *cmd_audit(struct command_ctx *c, struct args *a)
{
	int64_t n = a->word[ARG_NUMBER] ? a->number : 20;
	json_t *err;
	if ((err = may_read_all(c)))
		return err;
	struct audit_ctx x = { .list = json_array() };
	int rc = store_audit(c->st, (int)n, audit_row, &x);
	if (rc != 0) {
		size_t got = json_array_size(x.list);
		json_decref(x.list);
		if (rc > 0)
			return command_error(
				"answer-too-large",
				"the last %lld records come to more than %d bytes, the "
				"longest answer; ask for fewer: audit %zu",
				(long long)n, GRAMMAR_MAX_ANSWER, got);
		return command_error("internal", "database: %s", store_errmsg(c->st));
	}
	return ok(x.list);
}

static json_t *cmd_backup(struct command_ctx *c, struct args *a)
{
	char err[PATH_MAX + 256];
	bool refused;
	const char *path = a->word[ARG_PATH];
	if (store_backup(c->st, path, &refused, err, sizeof(err)) < 0) {
		log_warnx("%s: backup %s: %s", c->actor->name, refused ? "refused" : "failed", err);
		return command_error(refused ? "bad-path" : "backup-failed", "%s", err);
	}
	log_info("%s: backup written to %s", c->actor->name, path);
	return ok(json_pack("{s:s, s:o}", "path", path, "at", json_new_instant(c->now)));
}

static json_t *cmd_reload(struct command_ctx *c, struct args *a)
{
	(void)a;
	if (c->reload == NULL)
		return command_error("unavailable",
				     "reload is only available in the running daemon");
	return c->reload(c->hook_arg);
}

static json_t *cmd_test_send(struct command_ctx *c, struct args *a)
{
	if (c->test_send == NULL || c->token == 0)
		return command_error("unavailable",
				     "test-send is only available in the running daemon");
	return c->test_send(c->hook_arg, a->word[ARG_CHANNEL], a->word[ARG_TEXT], c->actor->name,
			    c->request, c->token);
}

static json_t *cmd_metrics(struct command_ctx *c, struct args *a)
{
	struct sbuf sb;
	char err[256];
	(void)a;
	if (c->metrics == NULL)
		return command_error("unavailable",
				     "metrics are only available in the running daemon");
	sbuf_init(&sb);
	if (c->metrics(c->hook_arg, &sb, err, sizeof(err)) < 0) {
		sbuf_free(&sb);
		return command_error("internal", "metrics: %s", err);
	}
	/* A document, as `report` answers one: kaohectl prints its content as it is. */
	json_t *d = json_pack("{s:s, s:s%}", "format", "prometheus-text-0.0.4", "content", sb.buf,
			      sb.len);
	sbuf_free(&sb);
	return ok(d);
}

static int outbox_row_json(const struct outbox_row *r, void *arg)
{
	json_t *o = json_pack("{s:I, s:s, s:s, s:s, s:s, s:s, s:o, s:s, s:i, s:I, s:s}", "id",
			      (json_int_t)r->id, "state", store_outbox_state_name(r->state), "kind",
			      r->kind, "channel", r->channel, "to",
			      *r->address ? r->address : r->name, "about", r->subject, "at",
			      json_new_instant(r->at), "unit", r->unit, "attempts", r->attempts,
			      "code", (json_int_t)r->code, "error", r->error);
	if (r->state == OUTBOX_PENDING || r->state == OUTBOX_FAILED)
		json_object_set_new(o, "next", json_new_instant(r->next_ms / 1000));
	if (r->sent_at)
		json_object_set_new(o, "sent", json_new_instant(r->sent_at));
	json_array_append_new(arg, o);
	return 0;
}

#define OUTBOX_LIST_MAX 200

/*
 * outbox [STATE]: the latest rows (all of them for officers and admins,
 * a member's own units' otherwise) and how many are in each state.
 */
static json_t *cmd_outbox(struct command_ctx *c, struct args *a)
{
	int state = a->word[ARG_STATE] ? a->state : -1;
	int64_t counts[OUTBOX_NSTATES];
	bool all = c->actor->admin || is_officer(c), member = false;

	json_t *rows = json_array();
	int rc = 0;
	for (size_t u = 0; !all && c->actor->units && u < c->plan->nunits && rc == 0; u++)
		if (c->actor->units[u]) {
			member = true;
			rc = store_outbox_list(c->st, state, c->plan->units[u].id, OUTBOX_LIST_MAX,
					       outbox_row_json, rows);
		}
	if (!all && !member) {
		json_decref(rows);
		return command_error("permission-denied", "%s may not read the outbox",
				     c->actor->name);
	}
	if (all)
		rc = store_outbox_list(c->st, state, NULL, OUTBOX_LIST_MAX, outbox_row_json, rows);
	if (rc < 0 || (all && store_outbox_counts(c->st, counts) < 0)) {
		json_decref(rows);
		return command_error("internal", "database: %s", store_errmsg(c->st));
	}
	json_t *data = json_object();
	if (all) {
		json_t *cj = json_object();
		for (int i = 0; i < OUTBOX_NSTATES; i++)
			json_object_set_new(cj, store_outbox_state_name((enum outbox_state)i),
					    json_integer(counts[i]));
		json_object_set_new(data, "counts", cj);
	}
	json_object_set_new(data, "rows", rows);
	return ok(data);
}

/* retry ID: a failed, dead or cancelled delivery goes out again now. */
static json_t *cmd_retry(struct command_ctx *c, struct args *a)
{
	int64_t id = a->delivery;
	struct outbox_row r;

	int rc = store_outbox_get(c->st, id, &r);
	if (rc < 0)
		return command_error("internal", "database: %s", store_errmsg(c->st));
	if (rc == 0)
		return command_error("unknown-delivery", "no delivery #%lld", (long long)id);
	int dept = *r.dept ? plan_dept_find(c->plan, r.dept) : -1;
	if (!c->actor->admin && !(dept >= 0 && c->actor->depts && c->actor->depts[dept]))
		return command_error("permission-denied",
				     "%s may not retry delivery #%lld (admins, or the officers of "
				     "its department)",
				     c->actor->name, (long long)id);
	if (r.state != OUTBOX_FAILED && r.state != OUTBOX_DEAD && r.state != OUTBOX_CANCELLED)
		return command_error("bad-state",
				     "delivery #%lld is %s; only failed, dead or cancelled"
				     " ones can be retried",
				     (long long)id, store_outbox_state_name(r.state));
	if (store_outbox_retry(c->st, id, c->now) != 1)
		return command_error("internal", "database: %s", store_errmsg(c->st));
	if (c->outbox_changed)
		c->outbox_changed(c->hook_arg, r.channel);
	return ok(json_pack("{s:I, s:s}", "id", (json_int_t)id, "state", "pending"));
}

/*
 * report PERIOD [--format html|csv|json]: the publication of a period,
 * the same text as the file in export_dir; a period without a snapshot
 * yet shows the current standing, marked provisional.
 */
static json_t *cmd_report(struct command_ctx *c, struct args *a)
{
	enum publish_format f = a->word[ARG_FORMAT] ? (enum publish_format)a->format : PUBLISH_HTML;
	const char *period = a->word[ARG_PERIOD];
	char err[512];
	struct sbuf text;

	sbuf_init(&text);
	int rc = publish_render(c->st, c->plan, c->eng, period, f, c->now, &text, err, sizeof(err));
	if (rc < 0) {
		sbuf_free(&text);
		return command_error("internal", "%s", err);
	}
	json_t *d = json_pack("{s:s, s:s, s:b, s:s%}", "period", period, "format",
			      publish_format_name(f), "provisional", rc == 0, "content", text.buf,
			      text.len);
	sbuf_free(&text);
	return ok(d);
}

static json_t *cmd_apply_missed(struct command_ctx *c, struct args *a)
{
	struct engine_error err;
	int64_t n;
	(void)a;
	if (engine_apply_missed(c->eng, c->now, &n, &err) < 0)
		return engine_failed(&err);
	log_info("%s: %lld missed deductions of plan year %d applied", c->actor->name, (long long)n,
		 c->plan->year);
	return ok(json_pack("{s:i, s:I}", "year", c->plan->year, "applied", (json_int_t)n));
}

static const struct handler handlers[CMD_NCOMMANDS] = {
	[CMD_PING] = { cmd_ping, NULL },
	[CMD_STATUS] = { cmd_status, status_text },
	[CMD_UPCOMING] = { cmd_upcoming, NULL },
	[CMD_SCORES] = { cmd_scores, NULL },
	[CMD_EXPLAIN] = { cmd_explain, NULL },
	[CMD_SNAPSHOTS] = { cmd_snapshots, NULL },
	[CMD_AUDIT] = { cmd_audit, NULL },
	[CMD_PLAN] = { cmd_plan, NULL },
	[CMD_OUTBOX] = { cmd_outbox, NULL },
	[CMD_SUBMIT] = { cmd_submit, NULL },
	[CMD_RECORD] = { cmd_record, NULL },
	[CMD_METRIC] = { cmd_metric, NULL },
	[CMD_VOID] = { cmd_void, NULL },
	[CMD_MOVE] = { cmd_move, NULL },
	[CMD_RETRY] = { cmd_retry, NULL },
	[CMD_RELOAD] = { cmd_reload, NULL },
	[CMD_BACKUP] = { cmd_backup, NULL },
	[CMD_REPORT] = { cmd_report, NULL },
	[CMD_TEST_SEND] = { cmd_test_send, NULL },
	[CMD_METRICS] = { cmd_metrics, NULL },
	[CMD_APPLY_MISSED] = { cmd_apply_missed, NULL },
};

/*
 * Text that is stored (names, notes, reasons, paths in the audit trail)
 * is shown later in terminals, where a control character acts instead of
 * showing: escape sequences, a carriage return over a table's cells.
 * None is taken, in any argument: NULL, or the refusal of the word S,
 * named by option NAME or as positional argument I (NAME NULL).
 */
static json_t *refuse_control(const char *s, const struct grammar_cmd *cmd, const char *name, int i)
{
	unsigned cp;
	long at = util_control_char(s, strlen(s), &cp);
	bool format = false;
	char what[64];

	if (at < 0 && (at = util_format_char(s, strlen(s), &cp)) >= 0)
		format = true;
	if (at < 0)
		return NULL;
	if (name)
		snprintf(what, sizeof(what), "%s", name);
	else
		snprintf(what, sizeof(what), "argument %d (%s)", i + 1, cmd->pos[i].name);
	if (format)
		return command_error(
			"format-character",
			"%s holds U+%04X (byte %ld), a character that reorders or "
			"breaks the text shown around it (bidirectional controls "
			"U+202A-U+202E and U+2066-U+2069, separators U+2028 and "
			"U+2029) or is no character (U+FFFE, U+FFFF); none is accepted "
			"in any argument",
			what, cp, at + 1);
	return command_error("control-character",
			     "%s holds the control character U+%04X (byte %ld); control characters "
			     "are not accepted in any argument",
			     what, cp, at + 1);
}

/*
 * Split and check LINE's form: its words, a command of the table, the
 * words on its slots (in A->cmd and W), no control character.  NULL or
 * an error answer.  BUF holds 2 * (LEN + 1) bytes: a terminated copy of
 * LINE, then its words.
 */
static json_t *parse(const char *line, size_t len, char *buf, struct args *a,
		     struct grammar_words *w)
{
	char *argv[COMMAND_MAX_ARGS], err[256];
	int argc;

	if (len > COMMAND_MAX_LINE)
		return command_error("line-too-long", "request of %zu bytes; the limit is %d", len,
				     COMMAND_MAX_LINE);
	const char *nul = memchr(line, '\0', len);
	if (nul)
		return command_error("bad-utf8",
				     "the request holds a NUL byte (byte %zu): it is not text",
				     (size_t)(nul - line) + 1);
	if (!util_utf8_valid(line, len))
		return command_error("bad-utf8", "the request is not valid UTF-8 text");
	/* A line break inside a request would hide a second one in it. */
	if (memchr(line, '\r', len) || memchr(line, '\n', len))
		return command_error("usage", "a request may not hold a line break (CR or LF)");
	memcpy(buf, line, len);
	buf[len] = '\0';
	argc = command_split(buf, buf + len + 1, len + 1, argv, err, sizeof(err));
	if (argc < 0)
		return command_error("usage", "%s", err);
	if (argc == 0)
		return command_error("usage", "empty request");
	memset(a, 0, sizeof(*a));
	if ((a->cmd = grammar_find(argv[0])) == NULL) {
		struct sbuf sb;
		sbuf_init(&sb);
		for (int i = 0; i < CMD_NCOMMANDS; i++)
			sbuf_printf(&sb, "%s%s", i ? ", " : "",
				    grammar_command((enum grammar_id)i)->name);
		char eb[ECHO_MAX + 8];
		json_t *e = command_error("unknown-command", "unknown command \"%s\"; commands: %s",
					  echo(argv[0], eb, sizeof(eb)), sb.buf);
		sbuf_free(&sb);
		return e;
	}
	if (grammar_assign(a->cmd, argc - 1, argv + 1, w, err, sizeof(err)) < 0)
		return command_error("usage", "%s", err);
	/* --year, an option of every command, chooses the plan year it addresses. */
	if (w->year) {
		if (strlen(w->year) != 4 || strspn(w->year, "0123456789") != 4)
			return command_error("usage", "--year takes one plan year, as 2026");
		a->year = atoi(w->year);
	}
	json_t *bad;
	for (int k = 0; a->cmd->opt[k].name; k++)
		if (w->opt[k] && (bad = refuse_control(w->opt[k], a->cmd, a->cmd->opt[k].name, k)))
			return bad;
	for (int i = 0; i < w->npos; i++)
		if ((bad = refuse_control(w->pos[i], a->cmd, NULL, i)))
			return bad;
	return NULL;
}

/*
 * Resolve each slot's word of W into A by its type, in the order of the
 * command's slots (positional, then options): NULL or the first refusal.
 * A reason not given is one left empty.
 */
static json_t *resolve_all(const struct command_ctx *c, const struct grammar_words *w,
			   struct args *a)
{
	const struct grammar_cmd *cmd = a->cmd;
	json_t *err;

	for (int i = 0; i < w->npos; i++)
		if ((err = resolve(c, &cmd->pos[i], w->pos[i], a)))
			return err;
	for (int k = 0; cmd->opt[k].name; k++) {
		const char *word = w->opt[k];
		if (word == NULL && cmd->opt[k].optional)
			continue;
		if ((err = resolve(c, &cmd->opt[k], word ? word : "", a)))
			return err;
	}
	return NULL;
}

int command_check(const struct plan *plan, const char *line, size_t len, char *code, size_t codelen,
		  char *msg, size_t msglen)
{
	char small[1024];
	char *buf = 2 * (len + 1) <= sizeof(small) ? small : xmalloc(2 * (len + 1));
	struct command_ctx c = { .plan = plan };
	struct grammar_words w;
	struct args a;
	json_t *err = parse(line, len, buf, &a, &w);

	/* Every argument the plan decides is known before anything runs. */
	if (err == NULL)
		err = resolve_all(&c, &w, &a);
	if (buf != small)
		free(buf);
	if (err == NULL)
		return 0;
	json_t *e = json_object_get(err, "error");
	snprintf(code, codelen, "%s", json_string_value(json_object_get(e, "code")));
	snprintf(msg, msglen, "%s", json_string_value(json_object_get(e, "message")));
	json_decref(err);
	return -1;
}

int command_year(const char *line, size_t len)
{
	char small[1024];
	char *buf = 2 * (len + 1) <= sizeof(small) ? small : xmalloc(2 * (len + 1));
	struct grammar_words w;
	struct args a;
	json_t *err = parse(line, len, buf, &a, &w);

	if (buf != small)
		free(buf);
	if (err) {
		json_decref(err);
		return -1;
	}
	return a.year;
}

json_t *command_unknown_year(int year, const int *configured, size_t n, const int *held,
			     size_t nheld)
{
	struct sbuf cfgd, hd;

	sbuf_init(&cfgd);
	sbuf_init(&hd);
	for (size_t i = 0; i < n; i++)
		sbuf_printf(&cfgd, "%s%d", i ? ", " : "", configured[i]);
	for (size_t i = 0; i < nheld; i++)
		sbuf_printf(&hd, "%s%d", i ? ", " : "", held[i]);
	json_t *e = command_error("unknown-year",
				  "plan year %d is not configured (configured: %s; in the "
				  "database: %s)",
				  year, cfgd.buf, nheld ? hd.buf : "none");
	sbuf_free(&cfgd);
	sbuf_free(&hd);
	return e;
}

/* LINE is LEN bytes, not a C string (the socket's buffer goes on): a copy. */
static char *request_text(const char *line, size_t len)
{
	char *text = xmalloc(len + 1);
	memcpy(text, line, len);
	text[len] = '\0';
	text[strcspn(text, "\r\n")] = '\0';
	return text;
}

int command_audit(struct store *st, int64_t now, const char *actor, const char *request,
		  const json_t *answer)
{
	const json_t *r = json_object_get(answer, is_error(answer) ? "error" : "data");
	char *result = json_dump_compact(r ? r : json_null());
	if (strlen(result) > 1024)
		strcpy(result + util_utf8_trim(result, 1020), "…");
	int rc = store_audit_add(st, now, actor, request, result);
	free(result);
	return rc;
}

/*
 * Parse LINE, check that the actor may run its command at all, and
 * resolve its arguments into A: NULL, or the answer that refuses it.
 * BUF as for parse().
 */
static json_t *prepare(struct command_ctx *c, const char *line, size_t len, char *buf,
		       struct args *a)
{
	struct grammar_words w;
	json_t *err = parse(line, len, buf, a, &w);

	if (err)
		return err;
	/* The plan year first: the names below are its plan's. */
	if (c->select_year && (err = c->select_year(c->hook_arg, a->year, c)))
		return err;
	const struct grammar_cmd *cmd = a->cmd;
	if (c->unconfigured && strcmp(cmd->name, "snapshots") != 0 &&
	    strcmp(cmd->name, "audit") != 0 && strcmp(cmd->name, "outbox") != 0) {
		struct sbuf cfgd;
		sbuf_init(&cfgd);
		for (size_t i = 0; i < c->nyears; i++)
			sbuf_printf(&cfgd, "%s%d", i ? ", " : "", c->years[i]);
		err = command_error("unknown-year",
				    "plan year %d is recorded in the database but not configured: "
				    "only snapshots, audit and outbox read it (configured: %s)",
				    c->unconfigured, cfgd.buf);
		sbuf_free(&cfgd);
		return err;
	}
	if (cmd->access == CMD_ADMIN && !c->actor->admin)
		return command_error("permission-denied", "%s may not run %s (admins only)",
				     c->actor->name, cmd->name);
	if ((cmd->access == CMD_WRITE || cmd->access == CMD_READ_ALL) && !c->actor->admin &&
	    !is_officer(c))
		return command_error("permission-denied",
				     "%s may not run %s (officers and admins only)", c->actor->name,
				     cmd->name);
	/* Only now the names: who may not run a command learns none from it. */
	return resolve_all(c, &w, a);
}

/*
 * Run the command prepared in A from LINE, as its access says: a read as
 * it is; an administrative action, then its audit whatever came of it; a
 * write in one transaction with its audit, or not at all.
 */
static json_t *run(struct command_ctx *c, const char *line, size_t len, struct args *a)
{
	const struct handler *h = &handlers[a->cmd->id];
	json_t *answer;

	/* A batch runs inside the caller's work (simulate's one transaction). */
	assert(!c->batch || store_in_transaction(c->st));
	if (c->batch || a->cmd->access == CMD_READ || a->cmd->access == CMD_READ_ALL)
		return h->run(c, a);
	if (a->cmd->access == CMD_ADMIN) {
		char *text = request_text(line, len);
		c->request = text;
		answer = h->run(c, a);
		c->request = NULL;
		if (answer == NULL) {
			/* Its answer comes later, audited by the hook that gives it. */
			free(text);
			return NULL;
		}
		if (command_audit(c->st, c->now, c->actor->name, text, answer) < 0)
			log_warnx("audit: cannot record \"%s\" by %s: %s", text, c->actor->name,
				  store_errmsg(c->st));
		free(text);
		return answer;
	}
	if (engine_begin(c->eng) < 0)
		return command_error("internal", "database: %s", store_errmsg(c->st));
	answer = h->run(c, a);
	int rc = is_error(answer) ? -1 : 0;
	if (rc == 0) {
		char *text = request_text(line, len);
		rc = command_audit(c->st, c->now, c->actor->name, text, answer);
		if (rc == 0 && (rc = engine_commit(c->eng)) == 0)
			log_info("%s: %s", c->actor->name, text);
		if (rc < 0) {
			json_decref(answer);
			answer = command_error("internal", "database: %s", store_errmsg(c->st));
		}
		free(text);
	}
	/* What the engine keeps may have moved with what was rolled back. */
	if (rc < 0 && engine_rollback(c->eng) > 0 && c->timeline_changed)
		c->timeline_changed(c->hook_arg, c->plan->year, -1);
	if (rc == 0 && a->moved && c->timeline_changed)
		c->timeline_changed(c->hook_arg, c->plan->year, a->moved_unit);
	return answer;
}

json_t *command_execute(struct command_ctx *c, const char *line, size_t len)
{
	char small[1024];
	char *buf = 2 * (len + 1) <= sizeof(small) ? small : xmalloc(2 * (len + 1));
	struct args a;
	json_t *answer = prepare(c, line, len, buf, &a);

	if (answer == NULL)
		answer = run(c, line, len, &a);
	if (buf != small)
		free(buf);
	return answer;
}

void command_execute_text(struct command_ctx *c, const char *line, size_t len, struct sbuf *out)
{
	char small[1024];
	char *buf = 2 * (len + 1) <= sizeof(small) ? small : xmalloc(2 * (len + 1));
	struct args a;
	a.cmd = NULL;
	json_t *answer = prepare(c, line, len, buf, &a);
	const struct handler *h = answer ? NULL : &handlers[a.cmd->id];

	if (h && h->text && a.cmd->access == CMD_READ) {
		size_t mark = out->len;
		answer = h->text(c, &a, out);
		if (answer == NULL)
			goto done;
		out->len = mark;
		out->buf[mark] = '\0';
		if (json_is_null(answer)) {
			json_decref(answer);
			answer = NULL;
		}
	}
	if (answer == NULL && (answer = run(c, line, len, &a)) == NULL) {
		c->deferred = true;
		c->answered = a.cmd->name;
		if (buf != small)
			free(buf);
		return;
	}
	char *text = json_dump_compact(answer);
	sbuf_puts(out, text);
	free(text);
	snprintf(c->result, sizeof(c->result), "%s",
		 is_error(answer) ? json_string_value(json_object_get(
					    json_object_get(answer, "error"), "code"))
				  : "ok");
	json_decref(answer);
	c->answered = a.cmd ? a.cmd->name : NULL;
	if (buf != small)
		free(buf);
	return;
done:
	snprintf(c->result, sizeof(c->result), "ok");
	c->answered = a.cmd->name;
	if (buf != small)
		free(buf);
}
