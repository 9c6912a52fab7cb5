/*
 * engine — given the plan, the store and `now`, applies everything due up
 * to now: deadlines (late), closes (missing replaces late), the final
 * ranking, quarterly snapshots, then reminders; and tells the next
 * instant anything becomes due.  The same engine serves the daemon and
 * simulate: it reads no clock, only the `now` it is given.
 */
#ifndef KAOHE_ENGINE_H
#define KAOHE_ENGINE_H

#include <stdbool.h>
#include <stdint.h>

#include "kaohe/calendar.h"
#include "kaohe/plan.h"
#include "kaohe/score.h"
#include "kaohe/store.h"

/* One message's worth of reminding: a unit's liaisons or a department office. */
struct reminder {
	int64_t at;
	enum slot_kind kind;
	int unit;            /* -1 when addressed to a department */
	int dept;            /* the department for SLOT_RECORD, else -1 */
	const int *occs;     /* occurrences, by due day */
	const char *const *slots; /* the slot key of each occurrence */
	size_t nocc;
	bool escalate;       /* copy the unit's leader and the owning offices */
};

/* An automatic deduction the engine applied (late, missing, ranking). */
struct deduction {
	int64_t at;
	int unit;
	int row;
	int occ;             /* -1 for a ranking deduction */
	enum entry_type type;
	int64_t points;      /* hundredths, negative */
	int64_t entry;       /* ledger entry id */
	int64_t replaces;    /* the entry it replaced, or 0 */
};

/* Where the engine reports what it did; called after each commit. */
struct engine_sink {
	void *arg;
	void (*deduction)(void *arg, const struct deduction *d);
	void (*snapshot)(void *arg, int64_t at, const char *period, const struct score_table *t);
	void (*reminder)(void *arg, const struct reminder *r);
	/*
	 * Inside each instant's transaction, before it commits (may be
	 * NULL): put a reminder's and a snapshot's messages in the outbox.
	 * -1 rolls the instant back.
	 */
	int (*enqueue)(void *arg, const struct reminder *r);
	int (*enqueue_snapshot)(void *arg, int64_t at, const char *period,
				const struct score_table *t);
	/*
	 * Then, still inside the transaction (may be NULL): everything of
	 * instant AT was handed over, so what gathers several units' rows
	 * for one recipient (the offices' escalation copies) can go in as
	 * one message.  -1 rolls the instant back.
	 */
	int (*enqueue_end)(void *arg, int64_t at);
	/* After each instant is applied (may be NULL): a long catch-up's pulse. */
	void (*progress)(void *arg, int64_t at);
};

struct engine;

/*
 * An engine over PLAN and ST (already synced with the plan).  A fresh
 * database starts just before START (the first instant that counts).
 */
struct engine *engine_new(const struct plan *plan, struct store *st, const struct engine_sink *sink,
			  int64_t start);
void engine_free(struct engine *e);

/* Re-read the moves from the store and rebuild the timeline. */
int engine_reschedule(struct engine *e);
/*
 * Re-read everything the engine keeps of the store (moves, first
 * submissions): after a transaction was rolled back.
 */
int engine_resync(struct engine *e);

/*
 * The engine keeps each unit's first valid submission per occurrence, so
 * that a deadline's fan-out needs no query.  The commands keep it true:
 * engine_note_submission() after recording one, engine_forget_submission()
 * after voiding one (it asks the store again; -1 when the store fails).
 */
int64_t engine_first_submission(const struct engine *e, int unit, int occ);
void engine_note_submission(struct engine *e, int unit, int occ, int64_t at);
int engine_forget_submission(struct engine *e, int unit, int occ);
/* Mark in SUBMITTED[unit] the units with a valid submission for OCC before BEFORE. */
void engine_submitted(const struct engine *e, int occ, int64_t before, uint8_t *submitted);

/* The next instant (> high-water mark) anything is due; INT64_MAX if none. */
int64_t engine_next(const struct engine *e);
/* Describe the work due at engine_next() ("deadline of 2c", …) into BUF. */
void engine_next_describe(const struct engine *e, char *buf, size_t len);
/* The high-water mark: everything at or before it has been applied. */
int64_t engine_hwm(const struct engine *e);

/*
 * Apply everything due at or before NOW, one transaction per instant.
 * Reminders whose slot is followed by another of the same occurrence at
 * or before NOW, or whose occurrence closed by NOW, are skipped (catch-up
 * after downtime).  0, or -1 if a transaction failed.
 */
int engine_run(struct engine *e, int64_t now);

/* The effective schedule of occurrence OCC for UNIT, after moves. */
const struct schedule *engine_schedule(const struct engine *e, int occ, int unit);
/*
 * The same as JSON members: ,"due":…,"deadline":…,"close":… — kept for
 * the shared schedules until the next reschedule, written into BUF (of
 * at least 128 bytes) for a unit's own.
 */
const char *engine_schedule_text(struct engine *e, int occ, int unit, char *buf, size_t len);

enum occ_state { OCC_PENDING, OCC_ON_TIME, OCC_LATE, OCC_OVERDUE, OCC_MISSING };
const char *engine_state_name(enum occ_state s);
/* The state of UNIT's deadline occurrence OCC at NOW. */
enum occ_state engine_occ_state(struct engine *e, int unit, int occ, int64_t now, int64_t *first);

/*
 * Bring UNIT's automatic deadline entry for OCC in line with its
 * submissions, schedule and NOW (after a submission, a void or a move).
 * WHY explains a replaced entry.  Inside the caller's transaction.
 */
int engine_reconcile_deadline(struct engine *e, int unit, int occ, int64_t now, const char *why);
/*
 * The same after a submission, when the caller knows the first one FIRST
 * (INT64_MAX: none) and no schedule changed since the last reconcile.
 */
int engine_reconcile_known(struct engine *e, int unit, int occ, int64_t now, int64_t first,
			   const char *why);
/* The state at NOW of an occurrence scheduled S whose first submission is FIRST. */
enum occ_state engine_state_at(const struct schedule *s, int64_t first, int64_t now);
/*
 * After a reload: reconcile every unit's deadline entries of each
 * occurrence whose shared schedule differs from what OLD (the engine of
 * the previous configuration) had under the same name, inside one
 * transaction.  0 or -1.
 */
int engine_reconcile_changed(struct engine *e, const struct engine *old, int64_t now);
/* Bring UNIT's threshold entries in line with its latest metrics at NOW. */
int engine_reconcile_thresholds(struct engine *e, int unit, int64_t now);

/* Scores of every unit as of instant AS_OF; free with score_free(). */
int engine_scores(struct engine *e, int64_t as_of, struct score_table *out);
/*
 * The scores of every valid entry, which are the scores as of now (no
 * entry takes effect in the future): computed once and kept until
 * engine_touch().  NULL on a database error.
 */
const struct score_table *engine_current(struct engine *e);
/* Something was written: forget the kept scores. */
void engine_touch(struct engine *e);


#endif
