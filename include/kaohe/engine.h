/*
 * engine — given the plan, the store and `now`, applies everything due up
 * to now: deadlines (late), closes (missing replaces late), the final
 * ranking, quarterly snapshots, then reminders; tells the next instant
 * anything becomes due; and makes the writes (submissions, findings and
 * awards, metrics, voids, moves) with the plan's rules, keeping the
 * automatic entries and what it keeps of the store in line.  The same
 * engine serves the daemon and simulate.  It reads no clock, only the
 * `now` it is given; it drives the store (SQLite), so it is not free of
 * I/O.
 */
#ifndef KAOHE_ENGINE_H
#define KAOHE_ENGINE_H

#include <stdbool.h>
#include <stdint.h>

#include "kaohe/calendar.h"
#include "kaohe/json.h"
#include "kaohe/plan.h"
#include "kaohe/score.h"
#include "kaohe/store.h"

/* One message's worth of reminding: a unit's liaisons or a department office. */
struct reminder {
	int64_t at;
	enum slot_kind kind;
	int unit;                 /* -1 when addressed to a department */
	int dept;                 /* the department for SLOT_RECORD, else -1 */
	const int *occs;          /* occurrences, by due day */
	const char *const *slots; /* the slot key of each occurrence */
	size_t nocc;
	bool escalate; /* copy the unit's leader and the owning offices */
};

/* An automatic deduction the engine applied (late, missing, ranking). */
struct deduction {
	int64_t at;
	int unit;
	int row;
	int occ; /* -1 for a ranking deduction */
	enum entry_type type;
	int64_t points;   /* hundredths, negative */
	int64_t entry;    /* ledger entry id */
	int64_t replaces; /* the entry it replaced, or 0 */
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
/*
 * The START of PLAN's engine when its year is new to the database at
 * NOW (the daemon's first start or reload that sees it; simulate's
 * --from): 00:00 of plan.track_from when given, else NOW, and never
 * before the plan's in-force period.
 */
int64_t engine_start_of(const struct plan *plan, int64_t now);
void engine_free(struct engine *e);

/*
 * simulate's engine: every operation below runs inside the caller's one
 * transaction, which the caller abandons with the database on any
 * failure, so the operations open no transaction (no savepoint) of their
 * own and put nothing back when they fail.
 */
void engine_set_batch(struct engine *e);

/*
 * The engine keeps each unit's first valid submission per occurrence
 * (INT64_MAX: none), so that a deadline's fan-out needs no query; its
 * own operations keep it true.
 */
int64_t engine_first_submission(const struct engine *e, int unit, int occ);
/* Mark in SUBMITTED[unit] the units with a valid submission for OCC before BEFORE. */
void engine_submitted(const struct engine *e, int occ, int64_t before, uint8_t *submitted);

/* The next instant (> high-water mark) anything is due; INT64_MAX if none. */
int64_t engine_next(const struct engine *e);
/* Describe the work due at engine_next() ("deadline of 2c", …) into BUF. */
void engine_next_describe(const struct engine *e, char *buf, size_t len);
/* The high-water mark: everything at or before it has been applied. */
int64_t engine_hwm(const struct engine *e);
/*
 * A plan year new to the database is adopted at the START given to
 * engine_new(): record that instant and the high-water mark just before
 * it, so that a restart keeps them.  1 adopted now, 0 adopted before, -1
 * on a database error.
 */
int engine_adopt(struct engine *e);
/*
 * The instant before which what fell due is untracked, or INT64_MIN when
 * nothing is (tracked from the start, or the missed deductions applied).
 */
int64_t engine_adopted(const struct engine *e);
/* The instant the plan year was adopted, or INT64_MIN (a database from before plan years). */
int64_t engine_adoption(const struct engine *e);

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
 * The same as the members "due" (a date-time, or a day when the due is
 * a day), "deadline" and "close" of the object open in W.  The shared
 * schedules' members are kept as text until the next reschedule: the
 * status of a unit lists every occurrence.
 */
void engine_schedule_json(struct engine *e, int occ, int unit, struct json_writer *w);

/*
 * OCC_UNTRACKED: the occurrence fell due before the plan year was adopted
 * (engine_adopted()), the unit has not submitted it, and nothing of it is
 * applied automatically.
 */
enum occ_state { OCC_PENDING, OCC_ON_TIME, OCC_LATE, OCC_OVERDUE, OCC_MISSING, OCC_UNTRACKED };
const char *engine_state_name(enum occ_state s);
/* The state of UNIT's deadline occurrence OCC at NOW. */
enum occ_state engine_occ_state(struct engine *e, int unit, int occ, int64_t now, int64_t *first);

/*
 * After a reload: reconcile every unit's deadline entries of each
 * occurrence whose shared schedule differs from what OLD (the engine of
 * the previous configuration) had under the same name, inside one
 * transaction.  0 or -1.
 */
int engine_reconcile_changed(struct engine *e, const struct engine *old, int64_t now);

/* Scores of every unit as of instant AS_OF; free with score_free(). */
int engine_scores(struct engine *e, int64_t as_of, struct score_table *out);
/*
 * The scores of every valid entry, which are the scores as of now (no
 * entry takes effect in the future): computed once and kept until the
 * next write.  NULL on a database error.
 */
const struct score_table *engine_current(struct engine *e);

/*
 * The writes.  Each one checks the plan's rules, writes the ledger (or
 * the moves) and brings the automatic entries and what the engine keeps
 * in line, whole in a transaction of its own, nested in the caller's
 * when there is one (a command and its audit row).  BY is who writes
 * (an actor's name), NOW the instant it happens.  Each returns 0, or -1
 * with ERR saying why, in the code and words a control command answers
 * with; a refusal writes nothing, and after a failure what was written
 * is rolled back (except in batch: engine_set_batch()).
 */
enum engine_errcode {
	ENGINE_EINTERNAL = 1,   /* "internal": the database failed */
	ENGINE_EBADTIME,        /* "bad-time" */
	ENGINE_EBADDATE,        /* "bad-date" */
	ENGINE_ENOTSUBMITTABLE, /* "not-submittable" */
	ENGINE_ENOTFOUND,       /* "not-found" */
	ENGINE_ECONFLICT,       /* "conflict" */
};
struct engine_error {
	enum engine_errcode code;
	char msg[512];
};
/* The control protocol's name of CODE: "internal", "bad-time", … */
const char *engine_errcode_name(enum engine_errcode code);

/* What engine_submit() recorded. */
struct engine_submission {
	int64_t id;           /* the ledger entry */
	bool first;           /* the unit's first valid submission of the occurrence */
	enum occ_state state; /* the occurrence's state for the unit, now */
};
/*
 * UNIT submitted deadline occurrence OCC at AT (at most NOW, and in the
 * plan year: earlier than NOW for a backdated submission), with NOTE
 * (may be NULL); the late or missing deduction follows.  Refused: a
 * record node (not-submittable), AT in the future or before the plan
 * year (bad-time).
 */
int engine_submit(struct engine *e, int unit, int occ, int64_t at, const char *note, const char *by,
		  int64_t now, struct engine_submission *out, struct engine_error *err);
/*
 * COUNT (> 0) of row ROW's finding or award kind KIND for UNIT at NOW,
 * with NOTE (may be NULL); the entry's id and points in *ID and *POINTS.
 */
int engine_record(struct engine *e, int unit, int row, int kind, int64_t count, const char *note,
		  const char *by, int64_t now, int64_t *id, int64_t *points,
		  struct engine_error *err);
/*
 * Metric METRIC of UNIT is VALUE (ten-thousandths) from NOW, recorded
 * under row ROW; the threshold awards follow.  The entry's id in *ID.
 */
int engine_metric(struct engine *e, int unit, int row, int metric, int64_t value, const char *by,
		  int64_t now, int64_t *id, struct engine_error *err);

/*
 * Apply on purpose, at NOW, the deductions of every untracked occurrence
 * (late or missing, as its schedule and NOW give), and record that the
 * year's missed deductions are applied: nothing of it is untracked
 * afterwards.  Their count in *COUNT (0 the second time).
 */
int engine_apply_missed(struct engine *e, int64_t now, int64_t *count, struct engine_error *err);

/* The entry a void takes away. */
struct engine_voided {
	int64_t id;
	enum entry_type type;
	int unit, row;
	int occ; /* a submission's occurrence, else -1 */
};
/*
 * Look entry ID up as engine_void() would void it: not-found, or a
 * conflict (already void; a unit or row the plan no longer has).  For a
 * caller that authorizes by the entry's row before voiding it.
 */
int engine_void_target(struct engine *e, int64_t id, struct engine_voided *out,
		       struct engine_error *err);
/*
 * Void entry ID at NOW for REASON; the deduction or threshold award that
 * depended on it follows.  A person's void of an automatic entry waives
 * it (store_entry_void()).  What was voided in *OUT.
 */
int engine_void(struct engine *e, int64_t id, const char *by, const char *reason, int64_t now,
		struct engine_voided *out, struct engine_error *err);

/* A new due: a day, or the instant AT of that day when TIMED. */
struct engine_due {
	int32_t day;
	bool timed;
	int64_t at;
};
/*
 * Move occurrence OCC's due to DUE, for UNIT only or (-1) every unit, at
 * NOW for REASON; the units concerned are reconciled at once (a deadline
 * moved past NOW lifts the late deduction).  Refused: a due outside the
 * plan year (bad-date).
 */
int engine_move(struct engine *e, int occ, int unit, const struct engine_due *due, const char *by,
		const char *reason, int64_t now, struct engine_error *err);

/*
 * A caller's transaction around operations and writes of its own (a
 * command and its audit row): begin, then commit or roll back.  The
 * rollback puts back what the engine keeps of the store: 1 when it was
 * re-read (the timeline may have changed), 0 when nothing had been
 * written, -1 when it cannot be re-read (logged).
 */
int engine_begin(struct engine *e);
int engine_commit(struct engine *e);
int engine_rollback(struct engine *e);

#endif
