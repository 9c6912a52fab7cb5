/*
 * engine — the timeline holds one entry per (occurrence, slot), per
 * deadline, per close and per quarter end, never one per unit: at fire
 * time one query finds the units concerned.  An occurrence moved for a
 * single unit gets its own entries scoped to that unit, and the
 * occurrence's shared entries skip it.
 */
#include <assert.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kaohe/engine.h"
#include "kaohe/log.h"
#include "kaohe/report.h"
#include "kaohe/util.h"

enum phase { PH_DEADLINE, PH_CLOSE, PH_RANKING, PH_SNAPSHOT, PH_REMINDER };

struct tl_entry {
	int64_t at;
	uint8_t phase;
	uint8_t kind;  /* slot kind for reminders */
	int occ;       /* or quarter index for snapshots */
	int unit;      /* -1: every unit without its own schedule */
	int next_same; /* the next reminder of the same (occ, unit), or -1 */
	char key[24];
};

struct override {
	int occ, unit;
	struct schedule s;
};

/* What one instant produced, reported to the sink after the commit. */
struct pending_snapshot {
	int64_t at;
	const char *period;
	struct score_table t;
};

struct digest {
	int unit, dept;
	enum slot_kind kind;
	int *occs;
	const char **slots;
	size_t n, cap;
};

struct engine {
	const struct plan *plan;
	struct store *st;
	struct engine_sink sink;
	struct schedule *sched; /* per occurrence, after moves for every unit */
	char **sched_text;      /* per occurrence, sched's members as an object's text; lazily */
	struct override *ovr;
	size_t novr, ovr_cap;
	struct tl_entry *tl;
	size_t ntl, tl_cap;
	int64_t hwm;
	/*
	 * The instant the plan year was adopted (INT64_MIN: tracked from its
	 * start), and whether an admin applied what fell due before it
	 * (engine_apply_missed()).  FRESH: no high-water mark recorded yet.
	 */
	int64_t adopted;
	bool applied, fresh;
	/* [occ][unit]: the first valid submission, or INT64_MAX; by occurrence,
	 * as a fan-out reads all units of one.  An occurrence nobody submitted
	 * has no row: a year's occurrences × 40,000 units would be megabytes
	 * of INT64_MAX at every start, most of them for what is not due yet. */
	int64_t **first_sub;
	uint8_t *mark;     /* per unit scratch */
	uint8_t *excluded; /* per unit scratch */
	struct deduction *deds;
	size_t ndeds, deds_cap;
	struct pending_snapshot snaps[4];
	size_t nsnaps;
	struct digest *digs;
	size_t ndigs, digs_cap;
	int *dig_of;                /* [unit * SLOT_NKINDS + kind] -> digest, or -1 */
	int *dept_dig;              /* [dept] -> digest, or -1 */
	struct score_table current; /* see engine_current() */
	bool current_valid;
	bool batch;          /* see engine_set_batch() */
	int64_t txn_changes; /* the store's change count at engine_begin() */
	/*
	 * While engine_run() works: the instant it runs at.  What a catch-up
	 * applies at a past instant is written now, and its entries say both.
	 */
	int64_t run_now;
};

static int resync(struct engine *e);
static void touch(struct engine *e);

const char *engine_state_name(enum occ_state s)
{
	static const char *const names[] = { "pending", "on-time", "late",
					     "overdue", "missing", "untracked" };
	return names[s];
}

const struct schedule *engine_schedule(const struct engine *e, int occ, int unit)
{
	for (size_t i = 0; unit >= 0 && i < e->novr; i++)
		if (e->ovr[i].occ == occ && e->ovr[i].unit == unit)
			return &e->ovr[i].s;
	return &e->sched[occ];
}

static void tl_add(struct engine *e, int64_t at, enum phase ph, int occ, int unit,
		   enum slot_kind kind, const char *key)
{
	util_reserve(&e->tl, &e->tl_cap, e->ntl + 1, sizeof(*e->tl));
	struct tl_entry *t = &e->tl[e->ntl++];
	t->at = at;
	t->phase = (uint8_t)ph;
	t->kind = (uint8_t)kind;
	t->occ = occ;
	t->unit = unit;
	t->next_same = -1;
	util_strlcpy(t->key, key ? key : "", sizeof(t->key));
}

static void tl_add_occ(struct engine *e, int occ, int unit, const struct schedule *s)
{
	const struct plan_occ *o = &e->plan->occs[occ];
	struct slot *slots;
	size_t n;

	if (o->type == OCC_DEADLINE) {
		tl_add(e, s->deadline, PH_DEADLINE, occ, unit, SLOT_DUE, NULL);
		tl_add(e, s->close, PH_CLOSE, occ, unit, SLOT_DUE, NULL);
	}
	n = calendar_slots(&e->plan->cal, s, o->type == OCC_RECORD, &slots);
	for (size_t i = 0; i < n; i++)
		tl_add(e, slots[i].at, PH_REMINDER, occ, unit, slots[i].kind, slots[i].key);
	free(slots);
}

static int cmp_tl(const void *a, const void *b)
{
	const struct tl_entry *x = a, *y = b;
	if (x->at != y->at)
		return x->at < y->at ? -1 : 1;
	if (x->phase != y->phase)
		return x->phase < y->phase ? -1 : 1;
	if (x->occ != y->occ)
		return x->occ < y->occ ? -1 : 1;
	return x->unit < y->unit ? -1 : x->unit > y->unit;
}

static int load_move(const struct move *m, void *arg)
{
	struct engine *e = arg;
	const struct plan *p = e->plan;
	int occ = plan_occ_find(p, m->occ);
	struct schedule s = { .due_day = m->due_day, .timed = m->timed, .due_at = m->due_at };

	if (occ < 0 || m->unit == -2) {
		log_debug("engine: move %lld of %s concerns what the plan no longer has",
			  (long long)m->id, m->occ);
		return 0;
	}
	calendar_schedule(&p->cal, &s);
	if (m->unit < 0) {
		/* A move for every unit supersedes earlier moves for single units. */
		e->sched[occ] = s;
		size_t k = 0;
		for (size_t i = 0; i < e->novr; i++)
			if (e->ovr[i].occ != occ)
				e->ovr[k++] = e->ovr[i];
		e->novr = k;
		return 0;
	}
	for (size_t i = 0; i < e->novr; i++)
		if (e->ovr[i].occ == occ && e->ovr[i].unit == m->unit) {
			e->ovr[i].s = s;
			return 0;
		}
	util_reserve(&e->ovr, &e->ovr_cap, e->novr + 1, sizeof(*e->ovr));
	e->ovr[e->novr++] = (struct override){ .occ = occ, .unit = m->unit, .s = s };
	return 0;
}

/* The members due, deadline and close of S, in the object open in W. */
static void schedule_members(const struct schedule *s, struct json_writer *w)
{
	if (s->timed) {
		json_do_instant(w, "due", s->due_at);
	} else {
		char day[16];
		calendar_format_day(s->due_day, day, sizeof(day));
		json_do_string(w, "due", day);
	}
	json_do_instant(w, "deadline", s->deadline);
	json_do_instant(w, "close", s->close);
}

void engine_schedule_json(struct engine *e, int occ, int unit, struct json_writer *w)
{
	const struct schedule *s = engine_schedule(e, occ, unit);

	if (s != &e->sched[occ]) {
		schedule_members(s, w);
		return;
	}
	if (e->sched_text[occ] == NULL) {
		struct sbuf text;
		struct json_writer tw;
		sbuf_init(&text);
		json_do_start(&tw, &text);
		json_do_object(&tw, NULL);
		schedule_members(s, &tw);
		json_do_end(&tw);
		json_do_finish(&tw);
		e->sched_text[occ] = xstrdup(text.buf);
		sbuf_free(&text);
	}
	json_do_splice(w, e->sched_text[occ], strlen(e->sched_text[occ]));
}

/* Re-read the moves from the store and rebuild the timeline. */
static int reschedule(struct engine *e)
{
	const struct plan *p = e->plan;

	for (size_t i = 0; i < p->noccs; i++) {
		free(e->sched_text[i]);
		e->sched_text[i] = NULL;
	}

	for (size_t i = 0; i < p->noccs; i++)
		e->sched[i] = p->occs[i].sched;
	e->novr = 0;
	if (store_moves(e->st, load_move, e) < 0)
		return -1;
	e->ntl = 0;
	for (size_t i = 0; i < p->noccs; i++)
		tl_add_occ(e, (int)i, -1, &e->sched[i]);
	for (size_t i = 0; i < e->novr; i++)
		tl_add_occ(e, e->ovr[i].occ, e->ovr[i].unit, &e->ovr[i].s);
	bool ranking = false;
	for (size_t r = 0; r < p->nrows; r++)
		ranking |= p->rows[r].ranking != NULL;
	if (ranking && p->nquarters)
		tl_add(e, plan_final_at(p), PH_RANKING, 0, -1, SLOT_DUE, NULL);
	for (size_t q = 0; q < p->nquarters; q++)
		tl_add(e, p->quarters[q].at, PH_SNAPSHOT, (int)q, -1, SLOT_DUE, NULL);
	if (e->ntl > 1)
		qsort(e->tl, e->ntl, sizeof(*e->tl), cmp_tl);
	/* Link each reminder to the next one of its (occurrence, scope). */
	int *last = xmalloc((p->noccs + 1) * sizeof(int));
	for (size_t i = 0; i <= p->noccs; i++)
		last[i] = -1;
	for (size_t i = e->ntl; i-- > 0;) {
		struct tl_entry *t = &e->tl[i];
		if (t->phase != PH_REMINDER)
			continue;
		if (t->unit < 0) {
			t->next_same = last[t->occ];
			last[t->occ] = (int)i;
		} else {
			for (size_t j = i + 1; j < e->ntl; j++)
				if (e->tl[j].phase == PH_REMINDER && e->tl[j].occ == t->occ &&
				    e->tl[j].unit == t->unit) {
					t->next_same = (int)j;
					break;
				}
		}
	}
	free(last);
	return 0;
}

int64_t engine_first_submission(const struct engine *e, int unit, int occ)
{
	const int64_t *row = e->first_sub[occ];
	return row ? row[unit] : INT64_MAX;
}

/* The row of OCC's first submissions, made when it has none. */
static int64_t *sub_row(struct engine *e, int occ)
{
	int64_t **row = &e->first_sub[occ];
	if (*row == NULL) {
		*row = xmalloc((e->plan->nunits + 1) * sizeof(**row));
		for (size_t u = 0; u < e->plan->nunits; u++)
			(*row)[u] = INT64_MAX;
	}
	return *row;
}

static void free_sub_rows(int64_t **rows, size_t noccs)
{
	for (size_t o = 0; rows && o < noccs; o++)
		free(rows[o]);
	free(rows);
}

/* UNIT submitted OCC at AT (recorded in the store). */
static void note_submission(struct engine *e, int unit, int occ, int64_t at)
{
	int64_t *f = &sub_row(e, occ)[unit];
	if (at < *f)
		*f = at;
}

/* One of UNIT's submissions of OCC was voided: ask the store again.  0 or -1. */
static int forget_submission(struct engine *e, int unit, int occ)
{
	int64_t first = store_first_submission(e->st, unit, e->plan->occs[occ].name);
	if (first == INT64_MIN)
		return -1;
	if (first != INT64_MAX || e->first_sub[occ])
		sub_row(e, occ)[unit] = first;
	return 0;
}

void engine_submitted(const struct engine *e, int occ, int64_t before, uint8_t *submitted)
{
	const int64_t *f = e->first_sub[occ];
	if (f == NULL) {
		memset(submitted, 0, e->plan->nunits);
		return;
	}
	for (size_t u = 0; u < e->plan->nunits; u++)
		submitted[u] = f[u] < before;
}

static int load_first(int unit, const char *occname, int64_t at, void *arg)
{
	struct engine *e = arg;
	int occ = plan_occ_find(e->plan, occname);
	if (occ >= 0)
		sub_row(e, occ)[unit] = at;
	return 0;
}

/*
 * Re-read everything the engine keeps of the store (moves, first
 * submissions): at the start, and after a transaction was rolled back.
 */
static int resync(struct engine *e)
{
	int64_t **keep = e->first_sub;

	touch(e);
	/* Read into a new table: a failed read must not look like "nobody
	 * submitted", which the next deadline would turn into deductions. */
	e->first_sub = xcalloc(e->plan->noccs + 1, sizeof(*e->first_sub));
	if (store_first_submissions(e->st, load_first, e) < 0) {
		free_sub_rows(e->first_sub, e->plan->noccs);
		e->first_sub = keep;
		return -1;
	}
	free_sub_rows(keep, e->plan->noccs);
	return reschedule(e);
}

struct engine *engine_new(const struct plan *plan, struct store *st, const struct engine_sink *sink,
			  int64_t start)
{
	struct engine *e = xcalloc(1, sizeof(*e));

	e->run_now = INT64_MIN;
	e->plan = plan;
	e->st = st;
	if (sink)
		e->sink = *sink;
	e->sched = xcalloc(plan->noccs + 1, sizeof(*e->sched));
	e->sched_text = xcalloc(plan->noccs + 1, sizeof(*e->sched_text));
	e->mark = xcalloc(plan->nunits + 1, 1);
	e->excluded = xcalloc(plan->nunits + 1, 1);
	e->dig_of = xmalloc((plan->nunits * SLOT_NKINDS + 1) * sizeof(int));
	for (size_t i = 0; i < plan->nunits * SLOT_NKINDS; i++)
		e->dig_of[i] = -1;
	e->dept_dig = xmalloc((plan->ndepts + 1) * sizeof(int));
	for (size_t i = 0; i < plan->ndepts; i++)
		e->dept_dig[i] = -1;
	int64_t applied = 0;
	e->adopted = INT64_MIN;
	if (store_hwm_read(st, &e->hwm) < 0 || store_meta_read(st, "adopted", &e->adopted) < 0 ||
	    store_meta_read(st, "applied", &applied) < 0) {
		engine_free(e);
		return NULL;
	}
	e->applied = applied != 0;
	if (e->hwm == INT64_MIN) {
		/* A fresh plan year: adopted at START, nothing before it applied. */
		e->fresh = true;
		e->hwm = start - 1;
		e->adopted = start;
	}
	if (resync(e) < 0) {
		engine_free(e);
		return NULL;
	}
	return e;
}

int64_t engine_start_of(const struct plan *plan, int64_t now)
{
	int64_t start = plan->track_from != INT64_MIN ? plan->track_from : now;
	return start < plan->cal.in_force_start ? plan->cal.in_force_start : start;
}

void engine_set_batch(struct engine *e)
{
	e->batch = true;
}

void engine_free(struct engine *e)
{
	if (e == NULL)
		return;
	touch(e);
	for (size_t i = 0; i < e->digs_cap; i++) {
		free(e->digs[i].occs);
		free(e->digs[i].slots);
	}
	free(e->digs);
	free(e->dig_of);
	free(e->dept_dig);
	free(e->deds);
	for (size_t i = 0; i < e->plan->noccs; i++)
		free(e->sched_text[i]);
	free(e->sched_text);
	free(e->sched);
	free(e->ovr);
	free(e->tl);
	free(e->mark);
	free_sub_rows(e->first_sub, e->plan->noccs);
	free(e->excluded);
	free(e);
}

int64_t engine_hwm(const struct engine *e)
{
	return e->hwm;
}

int engine_adopt(struct engine *e)
{
	if (!e->fresh)
		return 0;
	if (store_begin(e->st) < 0 || store_set_hwm(e->st, e->hwm) < 0 ||
	    store_meta_set(e->st, "adopted", e->adopted) < 0 || store_commit(e->st) < 0) {
		store_rollback(e->st);
		return -1;
	}
	e->fresh = false;
	return 1;
}

int64_t engine_adopted(const struct engine *e)
{
	return e->applied ? INT64_MIN : e->adopted;
}

int64_t engine_adoption(const struct engine *e)
{
	return e->adopted;
}

/*
 * Whether UNIT's deadline occurrence OCC fell due before the plan year
 * was adopted and stays untracked: no submission of it (SUB, INT64_MAX:
 * none) and the missed deductions not applied.
 */
static bool untracked(const struct engine *e, int unit, int occ, int64_t sub)
{
	if (e->applied || e->adopted == INT64_MIN || sub != INT64_MAX ||
	    e->plan->occs[occ].type != OCC_DEADLINE)
		return false;
	return engine_schedule(e, occ, unit)->deadline < e->adopted;
}

/* Index of the first timeline entry after the high-water mark. */
static size_t first_pending(const struct engine *e)
{
	size_t lo = 0, hi = e->ntl;
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		if (e->tl[mid].at <= e->hwm)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

void engine_next_describe(const struct engine *e, char *buf, size_t len)
{
	static const char *const phases[] = { "deadline of", "close of", "final ranking",
					      "snapshot", "reminders for" };
	size_t i = first_pending(e), n = 0;
	char when[40];

	if (i >= e->ntl) {
		snprintf(buf, len, "nothing more is due in this plan");
		return;
	}
	calendar_format_instant(e->tl[i].at, when, sizeof(when));
	for (size_t j = i; j < e->ntl && e->tl[j].at == e->tl[i].at; j++)
		n++;
	const struct tl_entry *t = &e->tl[i];
	const char *what = t->phase == PH_SNAPSHOT  ? e->plan->quarters[t->occ].period
			   : t->phase == PH_RANKING ? ""
						    : e->plan->occs[t->occ].name;
	snprintf(buf, len, "next: %s%s%s at %s%s", phases[t->phase], *what ? " " : "", what, when,
		 n > 1 ? " (and more at that instant)" : "");
}

int64_t engine_next(const struct engine *e)
{
	size_t i = first_pending(e);
	return i < e->ntl ? e->tl[i].at : INT64_MAX;
}

/* "WHAT:UNIT:A:B", the natural key of an automatic entry. */
static void auto_key(const struct engine *e, char *buf, size_t len, const char *what, int unit,
		     const char *a, size_t b)
{
	char n[24], *p = n + sizeof(n);

	/* A fixed buffer: the key parts are ids of at most 64 bytes. */
	*--p = '\0';
	do {
		*--p = (char)('0' + b % 10);
		b /= 10;
	} while (b);
	size_t need = strlen(what) + strlen(e->plan->units[unit].id) + strlen(a) + strlen(p) + 4;
	if (need > len) {
		snprintf(buf, len, "%s:%s:%s:%s", what, e->plan->units[unit].id, a, p);
		return;
	}
	buf[0] = '\0';
	strcat(buf, what);
	strcat(buf, ":");
	strcat(buf, e->plan->units[unit].id);
	strcat(buf, ":");
	strcat(buf, a);
	strcat(buf, ":");
	strcat(buf, p);
}

/* The state at NOW of an occurrence scheduled S whose first submission is SUB. */
static enum occ_state state_at(const struct schedule *s, int64_t sub, int64_t now)
{
	if (sub != INT64_MAX && sub <= now) {
		if (sub < s->deadline)
			return OCC_ON_TIME;
		return sub < s->close ? OCC_LATE : OCC_MISSING;
	}
	if (now >= s->close)
		return OCC_MISSING;
	return now >= s->deadline ? OCC_OVERDUE : OCC_PENDING;
}

enum occ_state engine_occ_state(struct engine *e, int unit, int occ, int64_t now, int64_t *first)
{
	int64_t sub = engine_first_submission(e, unit, occ);

	if (first)
		*first = sub;
	if (untracked(e, unit, occ, sub))
		return OCC_UNTRACKED;
	return state_at(engine_schedule(e, occ, unit), sub, now);
}

/* Look the first submission up (for reconcile's SUB). */
#define SUB_LOOKUP INT64_MIN

/* How reconcile() runs. */
#define RECONCILE_REPORT      (1 << 0) /* a new deduction goes to the sink */
#define RECONCILE_AT_DEADLINE (1 << 1) /* the occurrence's own deadline: nothing applied yet */
/*
 * Only the submissions changed, not the schedule: before its deadline an
 * occurrence has nothing applied to leave (a move past NOW, which voids
 * what was, reconciles without it).
 */
#define RECONCILE_QUICK (1 << 2)

/*
 * The reconciler behind every deadline change: bring UNIT's automatic
 * deadline entry for OCC in line with its submissions, schedule and NOW,
 * WHY explaining a replaced entry.  SUB is the first valid submission
 * when the caller knows it (INT64_MAX: none), else SUB_LOOKUP.  FLAGS
 * are RECONCILE_*.  Inside the caller's transaction.
 */
static int reconcile(struct engine *e, int unit, int occ, int64_t now, int64_t sub, const char *why,
		     unsigned flags)
{
	const struct plan_occ *o = &e->plan->occs[occ];
	const struct plan_row *r = &e->plan->rows[o->row];
	const struct schedule *s = engine_schedule(e, occ, unit);
	enum entry_type want = 0;
	int64_t pts = 0;
	char key[160];

	assert(store_in_transaction(e->st));
	if (o->type != OCC_DEADLINE)
		return 0;
	if (sub == SUB_LOOKUP)
		sub = engine_first_submission(e, unit, occ);
	if (untracked(e, unit, occ, sub))
		want = 0; /* nothing is applied of what was due before adoption */
	else if (sub != INT64_MAX && sub < s->deadline)
		want = 0;
	else if (sub != INT64_MAX && sub < s->close)
		want = ENTRY_LATE;
	else if (now >= s->close)
		want = ENTRY_MISSING;
	else if (now >= s->deadline)
		want = ENTRY_LATE;
	pts = want == ENTRY_LATE ? r->late : want == ENTRY_MISSING ? r->missing : 0;
	if (pts == 0)
		want = 0;
	if ((flags & RECONCILE_QUICK) && want == 0 && now < s->deadline)
		return 0;
	auto_key(e, key, sizeof(key), "dl", unit, o->name, 0);
	int64_t old = 0, id = 0;
	/* At its own deadline an occurrence has nothing applied yet: the
	 * deadline phase runs before the close phase of the same instant. */
	if (!(flags & RECONCILE_AT_DEADLINE) &&
	    store_auto_void(e->st, key, want, now, why, &old) < 0)
		return -1;
	if (want == 0)
		return 0;
	struct entry en = { .unit = unit,
			    .type = want,
			    .bucket = r->bucket,
			    .count = 1,
			    .points = -pts,
			    .at = now,
			    .recorded_at = now > e->run_now ? now : e->run_now,
			    .rule = r->scoring,
			    .auto_key = key };
	util_strlcpy(en.row, r->id, sizeof(en.row));
	util_strlcpy(en.occ, o->name, sizeof(en.occ));
	snprintf(en.actor, sizeof(en.actor), "auto");
	int rc = store_auto_add(e->st, &en, &id);
	if (rc < 0)
		return -1;
	if (rc == 1 && (flags & RECONCILE_REPORT)) {
		util_reserve(&e->deds, &e->deds_cap, e->ndeds + 1, sizeof(*e->deds));
		e->deds[e->ndeds++] = (struct deduction){ .at = now,
							  .unit = unit,
							  .row = o->row,
							  .occ = occ,
							  .type = want,
							  .points = -pts,
							  .entry = id,
							  .replaces = old };
	}
	return 0;
}

int engine_reconcile_changed(struct engine *e, const struct engine *old, int64_t now)
{
	const struct plan *p = e->plan;
	int rc = store_begin(e->st);

	for (size_t i = 0; rc == 0 && i < p->noccs; i++) {
		if (p->occs[i].type != OCC_DEADLINE)
			continue;
		int o = plan_occ_find(old->plan, p->occs[i].name);
		const struct schedule *was = o >= 0 ? &old->sched[o] : NULL;
		if (was && was->deadline == e->sched[i].deadline && was->close == e->sched[i].close)
			continue;
		for (size_t u = 0; rc == 0 && u < p->nunits; u++)
			rc = reconcile(e, (int)u, (int)i, now, SUB_LOOKUP,
				       "the plan's schedule changed", 0);
	}
	if (rc == 0)
		rc = store_commit(e->st);
	else
		store_rollback(e->st);
	touch(e);
	return rc;
}

/*
 * Bring UNIT's threshold awards in line with its latest metrics at NOW.
 * Inside the caller's transaction.
 */
static int reconcile_thresholds(struct engine *e, int unit, int64_t now)
{
	const struct plan *p = e->plan;

	assert(store_in_transaction(e->st));

	for (size_t ri = 0; ri < p->nrows; ri++) {
		const struct plan_row *r = &p->rows[ri];
		for (size_t ti = 0; ti < r->nthresholds; ti++) {
			const struct plan_threshold *t = &r->thresholds[ti];
			bool met = false;
			for (size_t c = 0; c < t->nany && !met; c++) {
				int64_t v;
				int rc = store_metric_latest(e->st, unit,
							     p->metrics[t->any[c].metric].id, now,
							     false, &v);
				if (rc < 0)
					return -1;
				met = rc == 1 && v >= t->any[c].min;
			}
			char key[160];
			auto_key(e, key, sizeof(key), "th", unit, r->id, ti);
			if (!met) {
				if (store_auto_void(e->st, key, 0, now,
						    "threshold no longer met by the latest metrics",
						    NULL) < 0)
					return -1;
				continue;
			}
			struct entry en = { .unit = unit,
					    .type = ENTRY_THRESHOLD,
					    .bucket = r->bucket,
					    .count = 1,
					    .points = t->points,
					    .at = now,
					    .recorded_at = now > e->run_now ? now : e->run_now,
					    .rule = r->scoring,
					    .auto_key = key };
			util_strlcpy(en.row, r->id, sizeof(en.row));
			snprintf(en.actor, sizeof(en.actor), "auto");
			if (store_auto_add(e->st, &en, NULL) < 0)
				return -1;
		}
	}
	return 0;
}

/* The units an entry concerns: its own, or all without their own schedule. */
static void scope_of(struct engine *e, const struct tl_entry *t)
{
	memset(e->excluded, 0, e->plan->nunits);
	if (t->unit >= 0) {
		memset(e->excluded, 1, e->plan->nunits);
		e->excluded[t->unit] = 0;
		return;
	}
	for (size_t i = 0; i < e->novr; i++)
		if (e->ovr[i].occ == t->occ)
			e->excluded[e->ovr[i].unit] = 1;
}

static int fire_deadline(struct engine *e, const struct tl_entry *t)
{
	const struct schedule *s = t->unit >= 0 ? engine_schedule(e, t->occ, t->unit)
						: &e->sched[t->occ];
	int64_t before = t->phase == PH_DEADLINE ? s->deadline : s->close;
	const char *why = t->phase == PH_DEADLINE ? "deadline passed"
						  : "replaced by missing at close";
	/* At the deadline, the units concerned have submitted nothing yet. */
	int64_t sub = t->phase == PH_DEADLINE ? INT64_MAX : SUB_LOOKUP;
	unsigned flags = RECONCILE_REPORT | (t->phase == PH_DEADLINE ? RECONCILE_AT_DEADLINE : 0);

	scope_of(e, t);
	engine_submitted(e, t->occ, before, e->mark);
	for (size_t u = 0; u < e->plan->nunits; u++)
		if (!e->excluded[u] && !e->mark[u] &&
		    reconcile(e, (int)u, t->occ, t->at, sub, why, flags) < 0)
			return -1;
	return 0;
}

static int fire_ranking(struct engine *e, int64_t at)
{
	const struct plan *p = e->plan;
	int64_t *vals = xmalloc((p->nunits + 1) * sizeof(*vals));
	bool *present = xmalloc(p->nunits + 1);
	int *rank = xmalloc((p->nunits + 1) * sizeof(*rank));
	int ret = 0;

	for (size_t ri = 0; ri < p->nrows && ret == 0; ri++) {
		const struct plan_row *r = &p->rows[ri];
		if (r->ranking == NULL)
			continue;
		for (size_t u = 0; u < p->nunits; u++) {
			int rc = store_metric_latest(e->st, (int)u,
						     p->metrics[r->ranking->metric].id, at, true,
						     &vals[u]);
			if (rc < 0) {
				ret = -1;
				break;
			}
			present[u] = rc == 1;
		}
		/* Rank 1 is the worst unit, which loses the first amount. */
		score_rank(vals, present, p->nunits, r->ranking->highest_worst, rank);
		for (size_t u = 0; u < p->nunits && ret == 0; u++) {
			if (rank[u] == 0 || (size_t)rank[u] > r->ranking->npoints ||
			    r->ranking->points[rank[u] - 1] == 0)
				continue;
			char key[160];
			auto_key(e, key, sizeof(key), "rk", (int)u, r->id, 0);
			int64_t pts = r->ranking->points[rank[u] - 1], id;
			struct entry en = { .unit = (int)u,
					    .type = ENTRY_RANKING,
					    .bucket = r->bucket,
					    .count = rank[u],
					    .points = -pts,
					    .at = at,
					    .recorded_at = at > e->run_now ? at : e->run_now,
					    .rule = r->scoring,
					    .auto_key = key };
			util_strlcpy(en.row, r->id, sizeof(en.row));
			util_strlcpy(en.kind, p->metrics[r->ranking->metric].id, sizeof(en.kind));
			snprintf(en.actor, sizeof(en.actor), "auto");
			int rc = store_auto_add(e->st, &en, &id);
			if (rc < 0) {
				ret = -1;
				break;
			}
			if (rc == 0)
				continue;
			util_reserve(&e->deds, &e->deds_cap, e->ndeds + 1, sizeof(*e->deds));
			e->deds[e->ndeds++] = (struct deduction){ .at = at,
								  .unit = (int)u,
								  .row = (int)ri,
								  .occ = -1,
								  .type = ENTRY_RANKING,
								  .points = -pts,
								  .entry = id };
		}
	}
	free(vals);
	free(present);
	free(rank);
	return ret;
}

const struct score_table *engine_current(struct engine *e)
{
	if (!e->current_valid) {
		if (engine_scores(e, INT64_MAX, &e->current) < 0)
			return NULL;
		e->current_valid = true;
	}
	return &e->current;
}

/* Something was written: forget the kept scores. */
static void touch(struct engine *e)
{
	if (e->current_valid)
		score_free(&e->current);
	e->current_valid = false;
}

int engine_scores(struct engine *e, int64_t as_of, struct score_table *out)
{
	const struct plan *p = e->plan;
	int64_t *acc = xcalloc(p->nunits * p->nbuckets + 1, sizeof(*acc));
	int rc = store_accumulate(e->st, as_of, acc);
	if (rc == 0)
		score_compute(p, acc, out);
	free(acc);
	return rc;
}

static int fire_snapshot(struct engine *e, const struct tl_entry *t, int64_t now)
{
	const struct quarter *q = &e->plan->quarters[t->occ];
	struct pending_snapshot *ps = &e->snaps[e->nsnaps];

	if (engine_scores(e, t->at, &ps->t) < 0)
		return -1;
	struct sbuf text;
	struct json_writer w;
	sbuf_init(&text);
	json_do_start(&w, &text);
	report_units_json(&w, NULL, e->plan, &ps->t);
	json_do_finish(&w);
	int rc = store_snapshot_put(e->st, q->period, t->at, now, text.buf);
	sbuf_free(&text);
	if (rc < 0) {
		score_free(&ps->t);
		return -1;
	}
	ps->at = t->at;
	ps->period = q->period;
	e->nsnaps++;
	return 0;
}

static struct digest *digest_for(struct engine *e, int unit, int dept, enum slot_kind kind)
{
	int *slot = unit >= 0 ? &e->dig_of[(size_t)unit * SLOT_NKINDS + kind] : &e->dept_dig[dept];
	if (*slot < 0) {
		size_t old = e->digs_cap;
		util_reserve(&e->digs, &e->digs_cap, e->ndigs + 1, sizeof(*e->digs));
		if (e->digs_cap > old)
			memset(e->digs + old, 0, (e->digs_cap - old) * sizeof(*e->digs));
		struct digest *d = &e->digs[e->ndigs];
		d->unit = unit;
		d->dept = dept;
		d->kind = kind;
		d->n = 0;
		*slot = (int)e->ndigs++;
	}
	return &e->digs[*slot];
}

static void digest_add(struct digest *d, int occ, const char *slot)
{
	if (d->n == d->cap) {
		d->cap = d->cap ? d->cap * 2 : 4;
		d->occs = xrealloc(d->occs, d->cap * sizeof(*d->occs));
		d->slots = xrealloc(d->slots, d->cap * sizeof(*d->slots));
	}
	d->occs[d->n] = occ;
	d->slots[d->n] = slot;
	d->n++;
}

static int fire_reminder(struct engine *e, const struct tl_entry *t, int64_t now)
{
	const struct plan_occ *o = &e->plan->occs[t->occ];
	const struct schedule *s = t->unit >= 0 ? engine_schedule(e, t->occ, t->unit)
						: &e->sched[t->occ];

	/* Catching up: only the latest missed slot, and none once closed (a
	 * record node closes with its quarter, as a deadline does). */
	if (t->at < now) {
		if (t->next_same >= 0 && e->tl[t->next_same].at <= now)
			return 0;
		if (s->close <= now)
			return 0;
	}
	if (o->type == OCC_RECORD) {
		digest_add(digest_for(e, -1, e->plan->rows[o->row].dept, SLOT_RECORD), t->occ,
			   t->key);
		return 0;
	}
	scope_of(e, t);
	engine_submitted(e, t->occ, t->at, e->mark);
	for (size_t u = 0; u < e->plan->nunits; u++)
		if (!e->excluded[u] && !e->mark[u] &&
		    !untracked(e, (int)u, t->occ, engine_first_submission(e, (int)u, t->occ)))
			digest_add(digest_for(e, (int)u, -1, (enum slot_kind)t->kind), t->occ,
				   t->key);
	return 0;
}

/*
 * Whether occurrence X comes after Y in a digest for UNIT (-1: a
 * department's): by due day on UNIT's own schedules, then in plan order.
 */
static bool digest_after(const struct engine *e, int unit, int x, int y)
{
	int32_t dx = engine_schedule(e, x, unit)->due_day;
	int32_t dy = engine_schedule(e, y, unit)->due_day;
	return dx != dy ? dx > dy : x > y;
}

/* Order D's occurrences, and their slot keys with them (a few: by insertion). */
static void digest_sort(const struct engine *e, struct digest *d)
{
	for (size_t a = 1; a < d->n; a++)
		for (size_t b = a; b > 0 && digest_after(e, d->unit, d->occs[b - 1], d->occs[b]);
		     b--) {
			int to = d->occs[b];
			const char *ts = d->slots[b];
			d->occs[b] = d->occs[b - 1];
			d->slots[b] = d->slots[b - 1];
			d->occs[b - 1] = to;
			d->slots[b - 1] = ts;
		}
}

static struct reminder reminder_of(const struct engine *e, const struct digest *d, int64_t at)
{
	return (struct reminder){ .at = at,
				  .kind = d->kind,
				  .unit = d->unit,
				  .dept = d->dept,
				  .occs = d->occs,
				  .slots = d->slots,
				  .nocc = d->n,
				  .escalate = d->kind == SLOT_OVERDUE &&
					      e->plan->cal.reminders.escalate };
}

/*
 * Inside the instant's transaction: order each digest's occurrences by
 * due day and hand the messages and snapshots to the outbox, so that
 * they commit (or roll back) with the step that made them due; then say
 * the instant is complete, for the messages that gather several digests.
 */
static int enqueue(struct engine *e, int64_t at)
{
	assert(store_in_transaction(e->st));
	for (size_t i = 0; i < e->ndigs; i++) {
		struct digest *d = &e->digs[i];
		digest_sort(e, d);
		struct reminder r = reminder_of(e, d, at);
		if (e->sink.enqueue && e->sink.enqueue(e->sink.arg, &r) < 0)
			return -1;
	}
	for (size_t i = 0; i < e->nsnaps && e->sink.enqueue_snapshot; i++)
		if (e->sink.enqueue_snapshot(e->sink.arg, e->snaps[i].at, e->snaps[i].period,
					     &e->snaps[i].t) < 0)
			return -1;
	if (e->sink.enqueue_end && e->sink.enqueue_end(e->sink.arg, at) < 0)
		return -1;
	return 0;
}

static void flush(struct engine *e, int64_t at)
{
	for (size_t i = 0; i < e->ndeds; i++) {
		const struct deduction *d = &e->deds[i];
		char pts[32];
		if (log_enabled(LOG_LEVEL_INFO))
			util_format_fixed(d->points, 2, pts, sizeof(pts));
		struct log_fields f = { .unit = e->plan->units[d->unit].id,
					.row = e->plan->rows[d->row].id,
					.occurrence = d->occ >= 0 ? e->plan->occs[d->occ].name
								  : NULL,
					.year = e->plan->year };
		if (log_enabled(LOG_LEVEL_INFO))
			log_with(LOG_LEVEL_INFO, &f, "deduction: %s row %s %s %s points (%s)",
				 f.unit, f.row, store_entry_type_name(d->type), pts,
				 f.occurrence ? f.occurrence : "final ranking");
		if (e->sink.deduction)
			e->sink.deduction(e->sink.arg, d);
	}
	e->ndeds = 0;
	for (size_t i = 0; i < e->nsnaps; i++) {
		log_info("snapshot: %s taken", e->snaps[i].period);
		if (e->sink.snapshot)
			e->sink.snapshot(e->sink.arg, e->snaps[i].at, e->snaps[i].period,
					 &e->snaps[i].t);
		score_free(&e->snaps[i].t);
	}
	e->nsnaps = 0;
	for (size_t i = 0; i < e->ndigs; i++) {
		struct digest *d = &e->digs[i];
		struct reminder r = reminder_of(e, d, at);
		if (e->sink.reminder)
			e->sink.reminder(e->sink.arg, &r);
		if (d->unit >= 0)
			e->dig_of[(size_t)d->unit * SLOT_NKINDS + d->kind] = -1;
		else
			e->dept_dig[d->dept] = -1;
	}
	e->ndigs = 0;
}

static void discard(struct engine *e)
{
	for (size_t i = 0; i < e->nsnaps; i++)
		score_free(&e->snaps[i].t);
	for (size_t i = 0; i < e->ndigs; i++) {
		if (e->digs[i].unit >= 0)
			e->dig_of[(size_t)e->digs[i].unit * SLOT_NKINDS + e->digs[i].kind] = -1;
		else
			e->dept_dig[e->digs[i].dept] = -1;
	}
	e->nsnaps = e->ndigs = e->ndeds = 0;
}

int engine_run(struct engine *e, int64_t now)
{
	size_t i = first_pending(e);
	int rc = 0;

	e->run_now = now;
	while (rc == 0 && i < e->ntl && e->tl[i].at <= now) {
		int64_t at = e->tl[i].at;
		rc = store_begin(e->st);
		for (; rc == 0 && i < e->ntl && e->tl[i].at == at; i++) {
			const struct tl_entry *t = &e->tl[i];
			switch (t->phase) {
			case PH_DEADLINE:
			case PH_CLOSE: rc = fire_deadline(e, t); break;
			case PH_RANKING: rc = fire_ranking(e, at); break;
			case PH_SNAPSHOT: rc = fire_snapshot(e, t, now); break;
			case PH_REMINDER: rc = fire_reminder(e, t, now); break;
			}
		}
		if (rc == 0)
			rc = enqueue(e, at);
		if (rc == 0)
			rc = store_set_hwm(e->st, at);
		if (rc == 0)
			rc = store_commit(e->st);
		else
			store_rollback(e->st);
		if (rc < 0) {
			discard(e);
			char when[40];
			calendar_format_instant(at, when, sizeof(when));
			log_warnx("engine: could not apply what is due at %s: %s", when,
				  store_errmsg(e->st));
			break;
		}
		e->hwm = at;
		touch(e);
		flush(e, at);
		if (e->sink.progress)
			e->sink.progress(e->sink.arg, at);
	}
	e->run_now = INT64_MIN;
	return rc < 0 ? -1 : 0;
}

/* ---- the writes ---------------------------------------------------------- */

const char *engine_errcode_name(enum engine_errcode code)
{
	switch (code) {
	case ENGINE_EINTERNAL: return "internal";
	case ENGINE_EBADTIME: return "bad-time";
	case ENGINE_EBADDATE: return "bad-date";
	case ENGINE_ENOTSUBMITTABLE: return "not-submittable";
	case ENGINE_ENOTFOUND: return "not-found";
	case ENGINE_ECONFLICT: return "conflict";
	}
	return "internal";
}

static int refuse(struct engine_error *err, enum engine_errcode code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Fill ERR with CODE and the message; -1. */
static int refuse(struct engine_error *err, enum engine_errcode code, const char *fmt, ...)
{
	va_list ap;

	err->code = code;
	va_start(ap, fmt);
	vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
	va_end(ap);
	return -1;
}

/* The database failed: "internal", with its message; -1. */
static int failed(struct engine *e, struct engine_error *err)
{
	return refuse(err, ENGINE_EINTERNAL, "database: %s", store_errmsg(e->st));
}

/*
 * An operation's own transaction: nested in the caller's when there is
 * one, none in batch (the caller's one transaction holds everything).
 * A write, even one rolled back, changes what is kept.
 */
static int op_begin(struct engine *e, struct engine_error *err)
{
	touch(e);
	if (e->batch) {
		assert(store_in_transaction(e->st));
		return 0;
	}
	return store_begin(e->st) < 0 ? failed(e, err) : 0;
}

/*
 * End the operation begun by op_begin() with RC: commit, or roll back
 * and re-read what the engine keeps (the failure's message in ERR
 * stays).  RC, or -1 when the commit fails.
 */
static int op_end(struct engine *e, int rc, struct engine_error *err)
{
	if (e->batch)
		return rc;
	if (rc == 0 && store_commit(e->st) < 0)
		rc = failed(e, err); /* store_commit() rolled back */
	else if (rc < 0)
		store_rollback(e->st);
	if (rc < 0 && resync(e) < 0)
		log_warnx("engine: cannot re-read the store: %s", store_errmsg(e->st));
	return rc;
}

int engine_begin(struct engine *e)
{
	e->txn_changes = store_changes(e->st);
	return store_begin(e->st);
}

int engine_commit(struct engine *e)
{
	return store_commit(e->st);
}

int engine_rollback(struct engine *e)
{
	/* store_commit() rolls back itself when it fails. */
	if (store_in_transaction(e->st))
		store_rollback(e->st);
	/* A refusal wrote nothing: nothing kept can have moved. */
	if (store_changes(e->st) == e->txn_changes)
		return 0;
	if (resync(e) < 0) {
		log_warnx("engine: cannot re-read the store: %s", store_errmsg(e->st));
		return -1;
	}
	return 1;
}

/* The entry of BY at NOW for UNIT and row R (the caller sets the rest). */
static struct entry entry_of(const struct plan_row *r, int unit, enum entry_type type,
			     const char *by, int64_t now)
{
	struct entry en = {
		.unit = unit, .type = type, .bucket = -1, .at = now, .recorded_at = now
	};
	util_strlcpy(en.row, r->id, sizeof(en.row));
	util_strlcpy(en.actor, by, sizeof(en.actor));
	return en;
}

int engine_submit(struct engine *e, int unit, int occ, int64_t at, const char *note, const char *by,
		  int64_t now, struct engine_submission *out, struct engine_error *err)
{
	const struct plan *p = e->plan;
	const struct plan_occ *o = &p->occs[occ];
	const struct plan_row *r = &p->rows[o->row];
	char when[40], then[40];

	if (o->type != OCC_DEADLINE)
		return refuse(err, ENGINE_ENOTSUBMITTABLE,
			      "row %s takes no submissions: its time node reminds %s to record "
			      "findings",
			      r->id, r->dept >= 0 ? p->depts[r->dept].name : "the department");
	if (at > now) {
		calendar_format_instant(at, when, sizeof(when));
		calendar_format_instant(now, then, sizeof(then));
		return refuse(err, ENGINE_EBADTIME, "--at %s is in the future (now is %s)", when,
			      then);
	}
	if (at < calendar_instant(p->cal.year_first, 0)) {
		calendar_format_instant(at, when, sizeof(when));
		return refuse(err, ENGINE_EBADTIME, "--at %s is before the plan year %d", when,
			      p->year);
	}

	int64_t before = engine_first_submission(e, unit, occ);
	int64_t first = at < before ? at : before;
	struct entry en = entry_of(r, unit, ENTRY_SUBMISSION, by, now);
	en.at = at; /* when it was submitted; recorded now */
	en.note = note;
	util_strlcpy(en.occ, o->name, sizeof(en.occ));
	if (op_begin(e, err) < 0)
		return -1;
	int rc = store_entry_add(e->st, &en, &out->id);
	if (rc == 0) {
		note_submission(e, unit, occ, at);
		rc = reconcile(e, unit, occ, now, first, "submission recorded", RECONCILE_QUICK);
	}
	if (op_end(e, rc < 0 ? failed(e, err) : 0, err) < 0)
		return -1;
	out->first = before == INT64_MAX || at < before;
	out->state = state_at(engine_schedule(e, occ, unit), first, now);
	return 0;
}

int engine_record(struct engine *e, int unit, int row, int kind, int64_t count, const char *note,
		  const char *by, int64_t now, int64_t *id, int64_t *points,
		  struct engine_error *err)
{
	const struct plan_row *r = &e->plan->rows[row];
	const struct plan_kind *kd = &r->kinds[kind];
	struct entry en = entry_of(r, unit, kd->award ? ENTRY_AWARD : ENTRY_FINDING, by, now);

	en.bucket = kd->bucket;
	en.count = count;
	en.points = (kd->award ? 1 : -1) * count * kd->per;
	en.note = note;
	en.rule = r->scoring;
	util_strlcpy(en.kind, kd->id, sizeof(en.kind));
	if (op_begin(e, err) < 0)
		return -1;
	if (op_end(e, store_entry_add(e->st, &en, id) < 0 ? failed(e, err) : 0, err) < 0)
		return -1;
	*points = en.points;
	return 0;
}

int engine_metric(struct engine *e, int unit, int row, int metric, int64_t value, const char *by,
		  int64_t now, int64_t *id, struct engine_error *err)
{
	struct entry en = entry_of(&e->plan->rows[row], unit, ENTRY_METRIC, by, now);

	en.value = value;
	util_strlcpy(en.kind, e->plan->metrics[metric].id, sizeof(en.kind));
	if (op_begin(e, err) < 0)
		return -1;
	int rc = store_entry_add(e->st, &en, id) < 0 || reconcile_thresholds(e, unit, now) < 0;
	return op_end(e, rc ? failed(e, err) : 0, err);
}

int engine_void_target(struct engine *e, int64_t id, struct engine_voided *out,
		       struct engine_error *err)
{
	struct entry en;
	int rc = store_entry_get(e->st, id, &en);

	if (rc < 0)
		return failed(e, err);
	if (rc == 0)
		return refuse(err, ENGINE_ENOTFOUND, "no entry %lld", (long long)id);
	if (en.unit < 0)
		return refuse(err, ENGINE_ECONFLICT,
			      "entry %lld belongs to a unit the plan no longer has", (long long)id);
	if (en.voided_at)
		return refuse(err, ENGINE_ECONFLICT, "entry %lld is already void (by %s)",
			      (long long)id, en.voided_by);
	int row = plan_row_find(e->plan, en.row);
	if (row < 0)
		return refuse(err, ENGINE_ECONFLICT,
			      "entry %lld belongs to row %s, which the plan no longer has",
			      (long long)id, en.row);
	*out = (struct engine_voided){ .id = id, .type = en.type, .unit = en.unit, .row = row };
	/* Only a submission's occurrence matters afterwards. */
	out->occ = en.type == ENTRY_SUBMISSION ? plan_occ_find(e->plan, en.occ) : -1;
	return 0;
}

int engine_void(struct engine *e, int64_t id, const char *by, const char *reason, int64_t now,
		struct engine_voided *out, struct engine_error *err)
{
	if (engine_void_target(e, id, out, err) < 0 || op_begin(e, err) < 0)
		return -1;
	int rc = store_entry_void(e->st, id, now, by, reason);
	if (rc == 0 && out->occ >= 0)
		rc = forget_submission(e, out->unit, out->occ) < 0 ||
		     reconcile(e, out->unit, out->occ, now, SUB_LOOKUP, "submission voided", 0) < 0;
	else if (rc == 0 && out->type == ENTRY_METRIC)
		rc = reconcile_thresholds(e, out->unit, now);
	return op_end(e, rc ? failed(e, err) : 0, err);
}

int engine_move(struct engine *e, int occ, int unit, const struct engine_due *due, const char *by,
		const char *reason, int64_t now, struct engine_error *err)
{
	const struct plan *p = e->plan;
	struct move m = { .unit = unit,
			  .due_day = due->day,
			  .timed = due->timed,
			  .due_at = due->timed ? due->at : 0,
			  .at = now,
			  .reason = reason };
	char when[40];

	if (!calendar_in_year(&p->cal, due->day)) {
		if (due->timed)
			calendar_format_instant(due->at, when, sizeof(when));
		else
			calendar_format_day(due->day, when, sizeof(when));
		return refuse(err, ENGINE_EBADDATE, "the new due %s is outside the plan year %d",
			      when, p->year);
	}
	util_strlcpy(m.occ, p->occs[occ].name, sizeof(m.occ));
	util_strlcpy(m.actor, by, sizeof(m.actor));
	if (op_begin(e, err) < 0)
		return -1;
	int rc = store_move_add(e->st, &m) < 0 || reschedule(e) < 0;
	for (size_t u = 0; rc == 0 && u < p->nunits; u++)
		if (unit < 0 || (int)u == unit)
			rc = reconcile(e, (int)u, occ, now, SUB_LOOKUP, "deadline moved", 0);
	return op_end(e, rc ? failed(e, err) : 0, err);
}

int engine_apply_missed(struct engine *e, int64_t now, int64_t *count, struct engine_error *err)
{
	const struct plan *p = e->plan;
	size_t before = e->ndeds;
	bool was = e->applied;
	int rc = 0;

	*count = 0;
	if (op_begin(e, err) < 0)
		return -1;
	/* Applied on purpose: from now on nothing of the year is untracked. */
	e->applied = true;
	if (store_meta_set(e->st, "applied", now) < 0)
		rc = failed(e, err);
	for (size_t o = 0; rc == 0 && !was && e->adopted != INT64_MIN && o < p->noccs; o++) {
		if (p->occs[o].type != OCC_DEADLINE)
			continue;
		for (size_t u = 0; rc == 0 && u < p->nunits; u++)
			if (engine_schedule(e, (int)o, (int)u)->deadline < e->adopted &&
			    now >= engine_schedule(e, (int)o, (int)u)->deadline &&
			    reconcile(e, (int)u, (int)o, now, SUB_LOOKUP,
				      "missed deductions applied", RECONCILE_REPORT) < 0)
				rc = failed(e, err);
	}
	*count = (int64_t)(e->ndeds - before);
	e->ndeds = before;
	if (op_end(e, rc, err) < 0) {
		e->applied = was;
		*count = 0;
		return -1;
	}
	return 0;
}
