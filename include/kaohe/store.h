/*
 * store — the SQLite database: every recorded fact (submissions, ledger
 * entries, metrics), deadline moves, snapshots, the audit trail and the
 * engine's high-water mark.  Schema versions migrate through
 * PRAGMA user_version; every statement is prepared once with bound
 * parameters; writes happen inside store_begin()/store_commit().
 */
#ifndef KAOHE_STORE_H
#define KAOHE_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kaohe/plan.h"

/*
 * What an entry records.  Persisted: entries.type and waivers.type hold
 * these numbers, and the schema's SQL names some of them (store.c), so
 * a number never changes meaning; a new type takes a new number.
 */
enum entry_type {
	ENTRY_SUBMISSION = 1,
	ENTRY_LATE = 2,
	ENTRY_MISSING = 3,
	ENTRY_FINDING = 4,
	ENTRY_AWARD = 5,
	ENTRY_THRESHOLD = 6,
	ENTRY_RANKING = 7,
	ENTRY_METRIC = 8,
};

/* The name of TYPE in output ("submission", "late", …). */
const char *store_entry_type_name(enum entry_type type);

struct entry {
	int64_t id;
	int unit; /* plan unit index */
	enum entry_type type;
	char row[32];  /* row id */
	char occ[40];  /* occurrence name, "" if none */
	char kind[72]; /* finding/award kind or metric id, "" if none */
	int bucket;    /* plan bucket index, -1 if none */
	int64_t count;
	int64_t points; /* hundredths, signed */
	int64_t value;  /* metric, ten-thousandths */
	int64_t at;     /* when it takes effect */
	int64_t recorded_at;
	char actor[64];       /* "auto" or a user name */
	const char *note;     /* may be NULL */
	const char *rule;     /* the plan text it applies; may be NULL */
	const char *auto_key; /* natural key of automatic entries, or NULL */
	int64_t voided_at;    /* 0 when valid */
	char voided_by[64];
	const char *void_reason;
};

/*
 * A handle on the database, bound to one plan year: everything recorded
 * (ledger entries, moves, snapshots, the audit trail, outbox rows and
 * their keys, the high-water mark) belongs to one plan year, and a
 * handle reads and writes only its year's.  The units, score buckets
 * and rule texts are shared.  The handles of one database share its
 * connection, statements and transactions.
 */
struct store;

/*
 * Open (creating or migrating) the database at PATH; ":memory:" for a
 * private in-memory one.  Its handle of plan year YEAR, or NULL with a
 * message in ERR.  A database of schema 2 (one plan year) migrates: what
 * it holds becomes the year its snapshots name, or its high-water mark
 * falls in, else YEAR (logged).
 */
struct store *store_open(const char *path, int year, char *err, size_t errlen);
/* The handle of plan year YEAR on ST's database (made on first use). */
struct store *store_year(struct store *st, int year);
/* The plan year of handle ST. */
int store_year_of(const struct store *st);
/*
 * The plan years the database holds (adopted), ascending, at most MAX
 * into YEARS, their count in *N.  0 or -1.
 */
int store_years_held(struct store *st, int *years, size_t max, size_t *n);
/*
 * A number of the plan year kept under NAME ("adopted", "applied"):
 * 1 found (in *OUT), 0 none, -1 error.
 */
int store_meta_read(struct store *st, const char *name, int64_t *out);
int store_meta_set(struct store *st, const char *name, int64_t value);
/*
 * Drop the rollback journal, the foreign-key checks and the per-unit
 * index of a private in-memory database: writes get cheaper, reads of one
 * unit's entries scan, and a failed transaction can no longer be rolled
 * back, so the caller must abandon the database on any failure (simulate
 * does).
 */
int store_set_volatile(struct store *st);
/*
 * Whether a commit waits for the disk (FULL, the default) or not
 * (NORMAL: a power cut may lose the last commits, a crash of the
 * process loses nothing).  The outbox's bookkeeping of deliveries uses
 * the latter: losing a "sent" mark only sends that message again.
 */
int store_set_durable(struct store *st, bool full);
/* Close the database and every handle of it (any of them may be given); NULL is fine. */
void store_close(struct store *st);
/*
 * The last SQLite error message; after store_rollback() (also the one
 * store_commit() does when it fails), the error that made the caller
 * roll back, until the next statement runs.
 */
const char *store_errmsg(struct store *st);

/*
 * Make the database know PLAN's units and score buckets, and map them to
 * the plan's indexes.  Must run (in a transaction) after every (re)load.
 */
int store_sync_plan(struct store *st, const struct plan *plan);

/*
 * Transactions nest: the outermost is BEGIN IMMEDIATE … COMMIT, inner
 * ones are savepoints, so a command inside a batch still applies whole
 * or not at all.  0 or -1.
 */
int store_begin(struct store *st);
int store_commit(struct store *st);
void store_rollback(struct store *st);
/* A count that grows with every row the connection changes. */
int64_t store_changes(struct store *st);
/* How deep the transactions nest now (0: none). */
int store_in_transaction(const struct store *st);

/* The instant up to which the engine has run; INT64_MIN if never (or unreadable). */
int64_t store_hwm(struct store *st);
/*
 * The same, telling a read error (-1) from a database where the engine
 * never ran (0, *OUT = INT64_MIN): a start must not take the one for the
 * other and replay a whole year.
 */
int store_hwm_read(struct store *st, int64_t *out);
int store_set_hwm(struct store *st, int64_t t);

/* Insert E (id ignored); its new id in *ID.  0 or -1. */
int store_entry_add(struct store *st, const struct entry *e, int64_t *id);
/*
 * Insert automatic entry E (auto_key set) unless a valid entry already
 * holds its key, or a person voided an entry of its type under that key.
 * 1 inserted (id in *ID), 0 skipped, -1 error.
 */
int store_auto_add(struct store *st, const struct entry *e, int64_t *id);
/*
 * Void the valid automatic entry under KEY unless its type is KEEP (0:
 * void whatever type).  1 voided (its id in *ID), 0 none, -1 error.
 */
int store_auto_void(struct store *st, const char *key, enum entry_type keep, int64_t at,
		    const char *reason, int64_t *id);
/*
 * Void entry ID at AT.  When BY is a person (not "auto") and the entry is
 * automatic, its key and type are waived: never applied again.  0, or -1
 * on error (also when ID is unknown or already void).
 */
int store_entry_void(struct store *st, int64_t id, int64_t at, const char *by, const char *reason);
/*
 * Read entry ID into *E; its strings stay valid until the next call.
 * 1 found, 0 not found, -1 error.
 */
int store_entry_get(struct store *st, int64_t id, struct entry *e);

/*
 * Call FN for each entry of UNIT (optionally only row ROW), oldest first.
 */
int store_entries_of(struct store *st, int unit, const char *row,
		     int (*fn)(const struct entry *e, void *arg), void *arg);
/* First valid submission of UNIT for OCC: its instant, INT64_MAX if none,
 * INT64_MIN on a database error. */
int64_t store_first_submission(struct store *st, int unit, const char *occ);
/*
 * Call FN with the first valid submission of every (unit, occurrence)
 * that has one.  OCC is the occurrence name.
 */
int store_first_submissions(struct store *st,
			    int (*fn)(int unit, const char *occ, int64_t at, void *arg), void *arg);

/*
 * The latest valid value of METRIC for UNIT recorded at or before AT
 * (strictly before when STRICT).  1 found, 0 none, -1 error.
 */
int store_metric_latest(struct store *st, int unit, const char *metric, int64_t at, bool strict,
			int64_t *value);

/*
 * Add to ACC[unit * nbuckets + bucket] the points of every entry valid
 * at instant AS_OF.
 */
int store_accumulate(struct store *st, int64_t as_of, int64_t *acc);

/* A deadline move: the occurrence's due becomes DUE_DAY (or DUE_AT when timed). */
struct move {
	int64_t id;
	char occ[40];
	int unit; /* -1: all units; -2 (read back): a unit the plan no longer has */
	int32_t due_day;
	bool timed;
	int64_t due_at;
	int64_t at;
	char actor[64];
	const char *reason;
};
int store_move_add(struct store *st, const struct move *m);
/* Call FN for each move, oldest first (a later move overrides). */
int store_moves(struct store *st, int (*fn)(const struct move *m, void *arg), void *arg);

/* Snapshots: the published standing of one period (JSON text). */
int store_snapshot_put(struct store *st, const char *period, int64_t at, int64_t taken_at,
		       const char *json);
/* Call FN for each snapshot in time order; DATA only when WITH_DATA. */
int store_snapshots(struct store *st, bool with_data,
		    int (*fn)(const char *period, int64_t at, int64_t taken_at, const char *data,
			      void *arg),
		    void *arg);

/*
 * Copy the whole database into a new file PATH (mode 0600) through
 * SQLite's online backup: a consistent copy while the daemon runs.
 * PATH must be an absolute plain path (no "file:" URI, nothing under
 * /proc, no link of /proc on the way) of a file that does not exist (a
 * link there counts as existing, dangling or not), other than the live
 * database and its -wal, -shm and -journal, with a name its file system
 * can hold, in a directory of root or this user that others may not
 * write unless it is sticky.  The directory is opened once and checked;
 * the copy is written through descriptors only, under a name of its own
 * in that directory, and renamed to PATH without replacing anything.  0,
 * or -1 with a message in ERR and *REFUSED telling whether PATH was
 * refused (or the copy failed).
 */
int store_backup(struct store *st, const char *path, bool *refused, char *err, size_t errlen);

/* Append to the audit trail. */
int store_audit_add(struct store *st, int64_t at, const char *actor, const char *command,
		    const char *result);
/* Call FN for the last N audit records, oldest first. */
int store_audit(struct store *st, int n,
		int (*fn)(int64_t id, int64_t at, const char *actor, const char *command,
			  const char *result, void *arg),
		void *arg);

/*
 * The outbox: one row per message to one recipient over one channel.
 * pending -> inflight -> sent, or -> failed (with a next attempt) -> …,
 * or -> dead; cancelled when everything it reminded of was submitted or
 * closed before it could go.  Times of attempts are in milliseconds:
 * backoff and rate limits work below the second.
 */
/*
 * Persisted: outbox.state holds these numbers, and the schema's SQL
 * names them (store.c), so a number never changes meaning.
 */
enum outbox_state {
	OUTBOX_PENDING = 0,
	OUTBOX_INFLIGHT = 1,
	OUTBOX_SENT = 2,
	OUTBOX_FAILED = 3,
	OUTBOX_DEAD = 4,
	OUTBOX_CANCELLED = 5,
};
#define OUTBOX_NSTATES 6
/* "pending", "inflight", … and back (-1: unknown). */
const char *store_outbox_state_name(enum outbox_state s);
int store_outbox_state_find(const char *s);

struct outbox_row {
	int64_t id;
	int64_t at;           /* the instant the engine made it due */
	const char *kind;     /* a notify kind name */
	const char *unit;     /* unit id, "" if none */
	const char *dept;     /* department id, "" if none */
	const char *subject;  /* occurrences (space-separated), a period, or "#ID" */
	const char *channel;  /* the configured channel's name */
	const char *address;  /* email address, "" for a robot */
	const char *name;     /* the recipient's display name */
	const char *mentions; /* mobiles (space-separated), "" if none */
	enum outbox_state state;
	int attempts;
	int64_t next_ms;  /* earliest next attempt */
	int64_t since_ms; /* start of the current series of attempts */
	int64_t updated_at;
	int64_t sent_at;   /* 0 unless sent */
	long code;         /* the last answer's code, 0 if none */
	const char *error; /* the last error, "" if none */
	int year; /* the plan year it belongs to (read back; a row is added to its handle's) */
};

/*
 * Enqueue R (id, state, attempts, times, code and error ignored): pending,
 * first attempt at R->at; its id in *ID.  The caller records the keys it
 * answers for with store_outbox_key_add(), in the same transaction.
 */
int store_outbox_add(struct store *st, const struct outbox_row *r, int64_t *id);
/*
 * Record that delivery ID answers for (UNIT, OCC, SLOT, RECIPIENT): 1,
 * or 0 when an earlier row answers for it already; -1 error.
 */
int store_outbox_key_add(struct store *st, const char *unit, const char *occ, const char *slot,
			 const char *recipient, int64_t id);
/* Remove row ID (enqueued in this transaction, and answering for nothing new). */
int store_outbox_drop(struct store *st, int64_t id);
/* Row ID answers for fewer occurrences than enqueued: its new SUBJECT. */
int store_outbox_set_subject(struct store *st, int64_t id, const char *subject);
/*
 * What follows works on the outbox of every plan year at once (one queue
 * per channel): claim, sent, next, update, requeue, retry, drop and
 * set_subject.  get, list and counts see the handle's year only.
 */
/*
 * Take up to LIMIT rows of CHANNEL that are pending or failed and due by
 * NOW_MS, the earliest first (by next attempt, then id), mark them in
 * flight and call FN for each: one statement for the batch, and the rows
 * come in no particular order.  Row strings live for the call.
 */
int store_outbox_claim(struct store *st, const char *channel, int64_t now_ms, int limit,
		       int (*fn)(const struct outbox_row *r, void *arg), void *arg);
/* Rows IDS (N of them) were sent, answered with CODE, at NOW: one statement. */
int store_outbox_sent(struct store *st, const int64_t *ids, size_t n, long code, int64_t now);
/*
 * The earliest next attempt of a pending or failed row (of CHANNEL, or
 * of any when NULL): 1 found (in *NEXT_MS), 0 none, -1 error.
 */
int store_outbox_next(struct store *st, const char *channel, int64_t *next_ms);
/* Update row ID's state, attempts, next attempt, code and error at NOW. */
int store_outbox_update(struct store *st, int64_t id, enum outbox_state state, int attempts,
			int64_t next_ms, long code, const char *error, int64_t now);
/* After a restart: every inflight row back to pending.  The count, or -1. */
int store_outbox_requeue(struct store *st);
/*
 * `retry ID`: a failed, dead or cancelled row becomes pending now with a
 * fresh series of attempts.  1 done, 0 no such row or not in such a
 * state, -1 error.
 */
int store_outbox_retry(struct store *st, int64_t id, int64_t now);
/* Read row ID: 1 found, 0 not, -1 error; strings live until the next call. */
int store_outbox_get(struct store *st, int64_t id, struct outbox_row *r);
/*
 * Call FN for the last LIMIT rows (newest last) in STATE (-1: any),
 * concerning UNIT only when UNIT is not NULL.
 */
int store_outbox_list(struct store *st, int state, const char *unit, int limit,
		      int (*fn)(const struct outbox_row *r, void *arg), void *arg);
/* How many rows are in each state. */
int store_outbox_counts(struct store *st, int64_t counts[OUTBOX_NSTATES]);

/* The schema version this build writes (PRAGMA user_version after store_open). */
int store_schema_latest(void);
/*
 * What the metrics read: FN once per channel and state still in play
 * (pending, inflight, failed) or dead, with the rows' count and the
 * earliest instant the engine made one of them due.  FN's -1 stops it;
 * 0 or -1.
 */
int store_outbox_stats(struct store *st,
		       int (*fn)(const char *channel, enum outbox_state state, int64_t count,
				 int64_t oldest_at, void *arg),
		       void *arg);

#endif
