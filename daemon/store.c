/*
 * store — SQLite.  One connection, one writer (the daemon's loop), so a
 * prepared-statement cache indexed by an enum is enough; statements are
 * prepared on first use and reset after each.
 */
#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/openat2.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "kaohe/calendar.h"
#include "kaohe/log.h"
#include "kaohe/store.h"
#include "kaohe/util.h"

/*
 * The persisted numbers of store.h's enums that the SQL below names.  A
 * partial index matches only literals (and a statement only uses one
 * when it repeats its WHERE literally), so the numbers are written into
 * the SQL text from these; the schema of a database already written
 * keeps them whatever the code says later, so the build stops if an
 * enum disagrees (and test_store pins them).
 */
#define SQL_SUBMISSION 1
#define SQL_METRIC     8 /* also the highest entry type */
#define SQL_PENDING    0
#define SQL_INFLIGHT   1
#define SQL_SENT       2
#define SQL_FAILED     3
#define SQL_DEAD       4
#define SQL_CANCELLED  5
_Static_assert(ENTRY_SUBMISSION == SQL_SUBMISSION && ENTRY_METRIC == SQL_METRIC,
	       "entries.type is persisted");
_Static_assert(OUTBOX_PENDING == SQL_PENDING && OUTBOX_INFLIGHT == SQL_INFLIGHT &&
		       OUTBOX_SENT == SQL_SENT && OUTBOX_FAILED == SQL_FAILED &&
		       OUTBOX_DEAD == SQL_DEAD && OUTBOX_CANCELLED == SQL_CANCELLED,
	       "outbox.state is persisted");
#define SQL_STR_(x) #x
#define SQL_STR(x)  SQL_STR_(x)
/* What may be taken for sending: pending and failed rows. */
#define SQL_SENDABLE "state IN (" SQL_STR(SQL_PENDING) ", " SQL_STR(SQL_FAILED) ")"

/*
 * 3: plan years.  Everything recorded belongs to one plan year: what a
 * database of schema 2 holds becomes the year it was recorded for
 * (legacy_year(), the %d below); its high-water mark becomes that year's,
 * and it adopted that year from the year's start (downtime is no
 * adoption).  The last %lld is 00:00 of that year's January 1.
 */
#define MIGRATE_3                                                                                   \
	"ALTER TABLE entries ADD COLUMN year INTEGER NOT NULL DEFAULT 0;"                           \
	"UPDATE entries SET year = %d;"                                                             \
	"DROP INDEX entries_auto_valid;"                                                            \
	"CREATE UNIQUE INDEX entries_auto_valid ON entries(year, auto_key)"                         \
	"  WHERE auto_key IS NOT NULL AND voided_at IS NULL;"                                       \
	"CREATE TABLE waivers3(year INTEGER NOT NULL, auto_key TEXT NOT NULL,"                      \
	"  type INTEGER NOT NULL, PRIMARY KEY(year, auto_key, type)) WITHOUT ROWID;"                \
	"INSERT INTO waivers3 SELECT %d, auto_key, type FROM waivers;"                              \
	"DROP TABLE waivers;"                                                                       \
	"ALTER TABLE waivers3 RENAME TO waivers;"                                                   \
	"ALTER TABLE moves ADD COLUMN year INTEGER NOT NULL DEFAULT 0;"                             \
	"UPDATE moves SET year = %d;"                                                               \
	"CREATE TABLE snapshots3(year INTEGER NOT NULL, period TEXT NOT NULL, at INTEGER NOT NULL," \
	"  taken_at INTEGER NOT NULL, data TEXT NOT NULL, PRIMARY KEY(year, period));"              \
	"INSERT INTO snapshots3 SELECT %d, period, at, taken_at, data FROM snapshots;"              \
	"DROP TABLE snapshots;"                                                                     \
	"ALTER TABLE snapshots3 RENAME TO snapshots;"                                               \
	"ALTER TABLE audit ADD COLUMN year INTEGER NOT NULL DEFAULT 0;"                             \
	"UPDATE audit SET year = %d;"                                                               \
	"ALTER TABLE outbox ADD COLUMN year INTEGER NOT NULL DEFAULT 0;"                            \
	"UPDATE outbox SET year = %d;"                                                              \
	"CREATE INDEX outbox_year ON outbox(year, state);" /* a year's list and counts */           \
	"CREATE TABLE reminded3(year INTEGER NOT NULL, unit TEXT NOT NULL, occ TEXT NOT NULL,"      \
	"  slot TEXT NOT NULL, recipient TEXT NOT NULL,"                                            \
	"  delivery INTEGER NOT NULL REFERENCES outbox(id),"                                        \
	"  PRIMARY KEY(year, unit, occ, slot, recipient)) WITHOUT ROWID;"                           \
	"INSERT INTO reminded3 SELECT %d, unit, occ, slot, recipient, delivery FROM reminded;"      \
	"DROP TABLE reminded;"                                                                      \
	"ALTER TABLE reminded3 RENAME TO reminded;"                                                 \
	"UPDATE meta SET key = 'hwm:%d' WHERE key = 'hwm';"                                         \
	"INSERT INTO meta(key, value) SELECT 'adopted:%d', %lld FROM meta WHERE key = 'hwm:%d';"

/*
 * The parameter that binds a handle's plan year in every statement that
 * reads or writes a year's records: numbered far above the others, so
 * that it never takes the number of one of theirs.
 */
#define YEAR_PARAM "?20"

/* Each element upgrades the schema from version i to i + 1. */
static const char *const migrations[] = {
	"CREATE TABLE meta(key TEXT PRIMARY KEY, value INTEGER NOT NULL);"
	"CREATE TABLE units(ref INTEGER PRIMARY KEY, id TEXT NOT NULL UNIQUE, name TEXT NOT NULL);"
	"CREATE TABLE buckets(ref INTEGER PRIMARY KEY, row_id TEXT NOT NULL, kind TEXT NOT NULL,"
	"  UNIQUE(row_id, kind));"
	"CREATE TABLE rules(ref INTEGER PRIMARY KEY, text TEXT NOT NULL UNIQUE);"
	"CREATE TABLE entries("
	"  id INTEGER PRIMARY KEY,"
	"  unit_ref INTEGER NOT NULL REFERENCES units(ref),"
	"  type INTEGER NOT NULL CHECK(type BETWEEN " SQL_STR(SQL_SUBMISSION) " AND " SQL_STR(
		SQL_METRIC) "),"
			    "  row_id TEXT NOT NULL,"
			    "  occ TEXT,"
			    "  kind TEXT,"
			    "  bucket_ref INTEGER REFERENCES buckets(ref),"
			    "  count INTEGER NOT NULL DEFAULT 0,"
			    "  points INTEGER NOT NULL DEFAULT 0,"
			    "  value INTEGER,"
			    "  at INTEGER NOT NULL,"
			    "  recorded_at INTEGER NOT NULL,"
			    "  actor TEXT NOT NULL,"
			    "  note TEXT,"
			    "  rule_ref INTEGER REFERENCES rules(ref),"
			    "  auto_key TEXT,"
			    "  voided_at INTEGER,"
			    "  voided_by TEXT,"
			    "  void_reason TEXT);"
			    /* Every lookup of one unit's facts goes through entries_unit: a unit
	 * has a few dozen entries a year.  Fewer indexes keep a busy year's
	 * millions of inserts cheap. */
			    "CREATE INDEX entries_unit ON entries(unit_ref, id);"
			    /* At most one valid automatic entry per natural key: applying the
	 * same due work twice cannot add a second one. */
			    "CREATE UNIQUE INDEX entries_auto_valid ON entries(auto_key)"
			    "  WHERE auto_key IS NOT NULL AND voided_at IS NULL;"
			    /* The latest value of a metric: read for every threshold and ranking. */
			    "CREATE INDEX entries_metric ON entries(unit_ref, kind, at)"
			    "  WHERE type = " SQL_STR(
				    SQL_METRIC) " AND voided_at IS NULL;"
						/* Automatic entries a person voided: never applied again. */
						"CREATE TABLE waivers(auto_key TEXT NOT NULL, type INTEGER NOT NULL,"
						"  PRIMARY KEY(auto_key, type)) WITHOUT ROWID;"
						"CREATE TABLE moves(id INTEGER PRIMARY KEY, occ TEXT NOT NULL,"
						"  unit_ref INTEGER REFERENCES units(ref), due_day INTEGER NOT NULL, due_at INTEGER,"
						"  at INTEGER NOT NULL, actor TEXT NOT NULL, reason TEXT NOT NULL);"
						"CREATE TABLE snapshots(period TEXT PRIMARY KEY, at INTEGER NOT NULL,"
						"  taken_at INTEGER NOT NULL, data TEXT NOT NULL);"
						"CREATE TABLE audit(id INTEGER PRIMARY KEY, at INTEGER NOT NULL, actor TEXT NOT NULL,"
						"  command TEXT NOT NULL, result TEXT NOT NULL);",
	/* 2: the outbox.  `reminded` holds the unique key (unit, occurrence,
	 * slot, recipient) that makes enqueueing idempotent. */
	"CREATE TABLE outbox(id INTEGER PRIMARY KEY, at INTEGER NOT NULL, kind TEXT NOT NULL,"
	"  unit TEXT NOT NULL, dept TEXT NOT NULL, subject TEXT NOT NULL, channel TEXT NOT NULL,"
	"  address TEXT NOT NULL, name TEXT NOT NULL, mentions TEXT NOT NULL,"
	"  state INTEGER NOT NULL DEFAULT " SQL_STR(
		SQL_PENDING) ", attempts INTEGER NOT NULL DEFAULT 0,"
			     "  next_ms INTEGER NOT NULL, since_ms INTEGER NOT NULL, updated_at INTEGER NOT NULL,"
			     "  sent_at INTEGER, code INTEGER NOT NULL DEFAULT 0, error TEXT NOT NULL DEFAULT '');"
			     "CREATE INDEX outbox_next ON outbox(channel, next_ms) WHERE " SQL_SENDABLE
			     ";"
			     "CREATE INDEX outbox_state ON outbox(state, id);"
			     "CREATE TABLE reminded(unit TEXT NOT NULL, occ TEXT NOT NULL, slot TEXT NOT NULL,"
			     "  recipient TEXT NOT NULL, delivery INTEGER NOT NULL REFERENCES outbox(id),"
			     "  PRIMARY KEY(unit, occ, slot, recipient)) WITHOUT ROWID;",
	MIGRATE_3,
	/* 4: each unit's first submission of each occurrence, read at every
	 * start, without a pass over the year's millions of deductions.  Only
	 * submissions are indexed, so an engine step's inserts stay cheap. */
	"CREATE INDEX entries_first_sub ON entries(year, occ, unit_ref, at)"
	"  WHERE type = " SQL_STR(SQL_SUBMISSION) " AND voided_at IS NULL;",
};

enum stmt_id {
	S_META_GET,
	S_META_SET,
	S_YEARS_HELD,
	S_UNIT_UPSERT,
	S_UNIT_REF,
	S_UNITS_ALL,
	S_BUCKET_INS,
	S_BUCKET_REF,
	S_RULE_INS,
	S_RULE_REF,
	S_ENTRY_ADD,
	S_ENTRY_VOID,
	S_WAIVE,
	S_AUTO_ADD,
	S_AUTO_VOID,
	S_ENTRY_GET,
	S_ENTRIES_UNIT,
	S_ENTRIES_UNIT_ROW,
	S_FIRST_SUB,
	S_FIRST_SUBS,
	S_METRIC_LATEST,
	S_METRIC_LATEST_STRICT,
	S_ACCUMULATE,
	S_MOVE_ADD,
	S_MOVES,
	S_SNAP_PUT,
	S_SNAPS,
	S_SNAPS_DATA,
	S_AUDIT_ADD,
	S_AUDIT,
	S_OB_ADD,
	S_OB_KEY_ADD,
	S_OB_DROP,
	S_OB_SUBJECT,
	S_OB_CLAIM,
	S_OB_SENT,
	S_OB_NEXT,
	S_OB_NEXT_ANY,
	S_OB_UPDATE,
	S_OB_REQUEUE,
	S_OB_RETRY,
	S_OB_GET,
	S_OB_LIST,
	S_OB_LIST_STATE,
	S_OB_LIST_UNIT,
	S_OB_LIST_UNIT_STATE,
	S_OB_COUNTS,
	S_BEGIN,
	S_COMMIT,
	S_ROLLBACK,
	S_SAVEPOINT,
	S_RELEASE,
	S_ROLLBACK_TO,
	S_COUNT
};

#define ENTRY_COLS                                                                     \
	"e.id, e.unit_ref, e.type, e.row_id, COALESCE(e.occ,''), COALESCE(e.kind,'')," \
	" e.bucket_ref, e.count, e.points, COALESCE(e.value,0), e.at, e.recorded_at,"  \
	" e.actor, e.note, r.text, e.auto_key, COALESCE(e.voided_at,0),"               \
	" COALESCE(e.voided_by,''), e.void_reason FROM entries e"                      \
	" LEFT JOIN rules r ON r.ref = e.rule_ref "

#define OUTBOX_RET                                                                    \
	"id, at, kind, unit, dept, subject, channel, address, name, mentions, state," \
	" attempts, next_ms, since_ms, updated_at, COALESCE(sent_at, 0), code, error, year"

#define OUTBOX_COLS OUTBOX_RET " FROM outbox"

static const char *const stmt_sql[S_COUNT] = {
	/* A value of the plan year, "NAME:YEAR" ("hwm:2026"). */
	[S_META_GET] = "SELECT value FROM meta WHERE key = ?1 || ':' || ?20",
	[S_META_SET] = "INSERT INTO meta(key, value) VALUES(?1 || ':' || ?20, ?2)"
		       " ON CONFLICT(key) DO UPDATE SET value = excluded.value",
	/* A year is held once adopted (every engine that ran has a mark). */
	[S_YEARS_HELD] = "SELECT DISTINCT CAST(substr(key, instr(key, ':') + 1) AS INTEGER) AS y"
			 " FROM meta WHERE key LIKE 'hwm:%' OR key LIKE 'adopted:%' ORDER BY y",
	[S_UNIT_UPSERT] = "INSERT INTO units(id, name) VALUES(?1, ?2)"
			  " ON CONFLICT(id) DO UPDATE SET name = excluded.name",
	[S_UNIT_REF] = "SELECT ref FROM units WHERE id = ?1",
	[S_UNITS_ALL] = "SELECT ref, id, name FROM units",
	[S_BUCKET_INS] = "INSERT OR IGNORE INTO buckets(row_id, kind) VALUES(?1, ?2)",
	[S_BUCKET_REF] = "SELECT ref FROM buckets WHERE row_id = ?1 AND kind = ?2",
	[S_RULE_INS] = "INSERT OR IGNORE INTO rules(text) VALUES(?1)",
	[S_RULE_REF] = "SELECT ref FROM rules WHERE text = ?1",
	[S_ENTRY_ADD] =
		"INSERT INTO entries(unit_ref, type, row_id, occ, kind, bucket_ref, count,"
		" points, value, at, recorded_at, actor, note, rule_ref, auto_key, year)"
		" VALUES(?1, ?2, ?3, NULLIF(?4,''), NULLIF(?5,''), ?6, ?7, ?8, ?9, ?10, ?11,"
		" ?12, ?13, ?14, ?15, ?20)",
	/* An automatic entry, unless one is valid under its key already or a
	 * person voided one of its type (a waiver is never re-applied).
	 * "+type": a bound type beside the partial index on type would make
	 * SQLite plan the statement again at every new binding. */
	[S_AUTO_ADD] = "INSERT INTO entries(unit_ref, type, row_id, occ, kind, bucket_ref, count,"
		       " points, value, at, recorded_at, actor, note, rule_ref, auto_key, year)"
		       " SELECT ?1, ?2, ?3, NULLIF(?4,''), NULLIF(?5,''), ?6, ?7, ?8, ?9, ?10, ?11,"
		       " ?12, ?13, ?14, ?15, ?20 WHERE NOT EXISTS (SELECT 1 FROM waivers"
		       " WHERE year = ?20 AND auto_key = ?15 AND type = ?2) ON CONFLICT DO NOTHING",
	[S_AUTO_VOID] = "UPDATE entries SET voided_at = ?2, voided_by = 'auto', void_reason = ?4"
			" WHERE year = ?20 AND auto_key = ?1 AND voided_at IS NULL AND +type <> ?3"
			" RETURNING id",
	[S_ENTRY_VOID] = "UPDATE entries SET voided_at = ?2, voided_by = ?3, void_reason = ?4"
			 " WHERE id = ?1 AND year = ?20 AND voided_at IS NULL",
	[S_WAIVE] = "INSERT OR IGNORE INTO waivers(year, auto_key, type)"
		    " SELECT year, auto_key, type FROM entries WHERE id = ?1 AND year = ?20"
		    " AND auto_key IS NOT NULL",
	[S_ENTRY_GET] = "SELECT " ENTRY_COLS "WHERE e.id = ?1 AND e.year = ?20",
	[S_ENTRIES_UNIT] = "SELECT " ENTRY_COLS "WHERE e.unit_ref = ?1 AND e.year = ?20"
			   " ORDER BY e.id",
	[S_ENTRIES_UNIT_ROW] = "SELECT " ENTRY_COLS "WHERE e.unit_ref = ?1 AND e.row_id = ?2"
			       " AND e.year = ?20 ORDER BY e.id",
	[S_FIRST_SUB] =
		"SELECT MIN(at) FROM entries WHERE unit_ref = ?2 AND year = ?20"
		" AND type = " SQL_STR(SQL_SUBMISSION) " AND voided_at IS NULL AND occ = ?1",
	[S_FIRST_SUBS] =
		"SELECT unit_ref, occ, MIN(at) FROM entries"
		" WHERE type = " SQL_STR(SQL_SUBMISSION) " AND voided_at IS NULL AND year = ?20"
							 " GROUP BY occ, unit_ref",
	[S_METRIC_LATEST] = "SELECT value FROM entries WHERE type = " SQL_STR(
		SQL_METRIC) " AND voided_at IS NULL AND unit_ref = ?1 AND kind = ?2 AND at <= ?3"
			    " AND year = ?20 ORDER BY at DESC, id DESC LIMIT 1",
	[S_METRIC_LATEST_STRICT] = "SELECT value FROM entries WHERE type = " SQL_STR(
		SQL_METRIC) " AND voided_at IS NULL"
			    " AND unit_ref = ?1 AND kind = ?2 AND at < ?3"
			    " AND year = ?20 ORDER BY at DESC, id DESC LIMIT 1",
	[S_ACCUMULATE] = "SELECT unit_ref, bucket_ref, points FROM entries"
			 " WHERE bucket_ref IS NOT NULL AND points <> 0 AND at <= ?1"
			 " AND (voided_at IS NULL OR voided_at > ?1) AND year = ?20",
	[S_MOVE_ADD] = "INSERT INTO moves(occ, unit_ref, due_day, due_at, at, actor, reason, year)"
		       " VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?20)",
	[S_MOVES] = "SELECT id, occ, unit_ref, due_day, due_at, at, actor, reason"
		    " FROM moves WHERE year = ?20 ORDER BY id",
	[S_SNAP_PUT] = "INSERT OR IGNORE INTO snapshots(year, period, at, taken_at, data)"
		       " VALUES(?20, ?1, ?2, ?3, ?4)",
	[S_SNAPS] = "SELECT period, at, taken_at, NULL FROM snapshots WHERE year = ?20"
		    " ORDER BY at",
	[S_SNAPS_DATA] = "SELECT period, at, taken_at, data FROM snapshots WHERE year = ?20"
			 " ORDER BY at",
	[S_AUDIT_ADD] = "INSERT INTO audit(at, actor, command, result, year)"
			" VALUES(?1, ?2, ?3, ?4, ?20)",
	[S_AUDIT] = "SELECT id, at, actor, command, result FROM"
		    " (SELECT * FROM audit WHERE year = ?20 ORDER BY id DESC LIMIT ?1) ORDER BY id",
	[S_OB_ADD] = "INSERT INTO outbox(at, kind, unit, dept, subject, channel, address, name,"
		     " mentions, next_ms, since_ms, updated_at, year)"
		     " VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?1 * 1000, ?1 * 1000, ?1, ?20)",
	[S_OB_KEY_ADD] =
		"INSERT OR IGNORE INTO reminded(year, unit, occ, slot, recipient, delivery)"
		" VALUES(?20, ?1, ?2, ?3, ?4, ?5)",
	[S_OB_DROP] = "DELETE FROM outbox WHERE id = ?1",
	[S_OB_SUBJECT] = "UPDATE outbox SET subject = ?2 WHERE id = ?1",
	/* Take rows for sending and mark them in flight in one statement. */
	/* A row's series of attempts (max_age) starts at its first attempt,
	 * not when it was enqueued: a catch-up enqueues in the past. */
	[S_OB_CLAIM] = "UPDATE outbox SET state = " SQL_STR(
		SQL_INFLIGHT) ", updated_at = ?4,"
			      " since_ms = CASE WHEN attempts = 0 THEN ?2 ELSE since_ms END"
			      " WHERE id IN (SELECT id FROM outbox"
			      " WHERE channel = ?1 AND " SQL_SENDABLE " AND next_ms <= ?2"
			      " ORDER BY next_ms, id LIMIT ?3) RETURNING " OUTBOX_RET,
	[S_OB_SENT] = "UPDATE outbox SET state = " SQL_STR(
		SQL_SENT) ", attempts = attempts + 1,"
			  " code = ?2, error = '', updated_at = ?3, sent_at = ?3"
			  " WHERE id IN (SELECT value FROM json_each(?1))",
	[S_OB_NEXT] = "SELECT MIN(next_ms) FROM outbox WHERE channel = ?1 AND " SQL_SENDABLE,
	[S_OB_NEXT_ANY] = "SELECT MIN(next_ms) FROM outbox WHERE " SQL_SENDABLE,
	[S_OB_UPDATE] = "UPDATE outbox SET state = ?2, attempts = ?3, next_ms = ?4, code = ?5,"
			" error = ?6, updated_at = ?7,"
			" sent_at = CASE WHEN ?2 = " SQL_STR(SQL_SENT) " THEN ?7 ELSE sent_at END"
								       " WHERE id = ?1",
	[S_OB_REQUEUE] = "UPDATE outbox SET state = " SQL_STR(
		SQL_PENDING) " WHERE state = " SQL_STR(SQL_INFLIGHT),
	[S_OB_RETRY] = "UPDATE outbox SET state = " SQL_STR(
		SQL_PENDING) ", attempts = 0,"
			     " next_ms = ?2 * 1000, since_ms = ?2 * 1000, updated_at = ?2"
			     " WHERE id = ?1 AND state IN (" SQL_STR(SQL_FAILED) ", " SQL_STR(
				     SQL_DEAD) ", " SQL_STR(SQL_CANCELLED) ")",
	[S_OB_GET] = "SELECT " OUTBOX_COLS " WHERE id = ?1 AND year = ?20",
	[S_OB_LIST] = "SELECT * FROM (SELECT " OUTBOX_COLS " WHERE year = ?20"
		      " ORDER BY id DESC LIMIT ?1) ORDER BY id",
	[S_OB_LIST_STATE] = "SELECT * FROM (SELECT " OUTBOX_COLS " WHERE year = ?20"
			    " AND state = ?2 ORDER BY id DESC LIMIT ?1) ORDER BY id",
	[S_OB_LIST_UNIT] = "SELECT * FROM (SELECT " OUTBOX_COLS " WHERE year = ?20"
			   " AND unit = ?3 ORDER BY id DESC LIMIT ?1) ORDER BY id",
	[S_OB_LIST_UNIT_STATE] = "SELECT * FROM (SELECT " OUTBOX_COLS " WHERE year = ?20"
				 " AND state = ?2 AND unit = ?3 ORDER BY id DESC LIMIT ?1)"
				 " ORDER BY id",
	[S_OB_COUNTS] = "SELECT state, COUNT(*) FROM outbox WHERE year = ?20 GROUP BY state",
	/* Savepoints of one name nest: RELEASE and ROLLBACK TO take the innermost. */
	[S_BEGIN] = "BEGIN IMMEDIATE",
	[S_COMMIT] = "COMMIT",
	[S_ROLLBACK] = "ROLLBACK",
	[S_SAVEPOINT] = "SAVEPOINT nested",
	[S_RELEASE] = "RELEASE nested",
	[S_ROLLBACK_TO] = "ROLLBACK TO nested",
};

#define RULE_CACHE 64

/*
 * The connection and what every plan year's handle shares: the prepared
 * statements, the transaction depth, the rules' cache and the error kept.
 */
struct store_conn {
	sqlite3 *db;
	sqlite3_stmt *stmt[S_COUNT];
	int year_param[S_COUNT]; /* the index of each statement's YEAR_PARAM, or 0 */
	int depth;
	struct {
		const char *text;
		int64_t ref;
	} rule_cache[RULE_CACHE];
	struct sbuf get_buf; /* the strings of store_entry_get()'s entry */
	/*
	 * The error that made a transaction roll back, kept until the next
	 * statement: the rollback's own outcome would replace it.
	 */
	char failed[512];
	bool failed_kept;
	struct store **years; /* every handle, the first store_open()'s */
	size_t nyears;
};

/*
 * A handle: the connection seen from one plan year.  Every statement
 * that reads or writes what belongs to a year binds the handle's.
 */
struct store {
	struct store_conn *c;
	int year;
	/* plan index <-> database ref */
	int64_t *unit_ref;
	int *unit_idx; /* by ref */
	size_t unit_idx_len;
	int64_t *bucket_ref;
	int *bucket_idx; /* by ref */
	size_t bucket_idx_len;
	size_t nunits, nbuckets;
};

const char *store_entry_type_name(enum entry_type type)
{
	static const char *const names[] = { "?",     "submission", "late",    "missing", "finding",
					     "award", "threshold",  "ranking", "metric" };
	return type >= ENTRY_SUBMISSION && type <= ENTRY_METRIC ? names[type] : "?";
}

const char *store_errmsg(struct store *st)
{
	return st->c->failed_kept ? st->c->failed : sqlite3_errmsg(st->c->db);
}

/* Statement ID, prepared on first use, with the handle's year bound. */
static sqlite3_stmt *stmt(struct store *st, enum stmt_id id)
{
	struct store_conn *c = st->c;
	sqlite3_stmt *s = c->stmt[id];
	c->failed_kept = false;
	if (s == NULL) {
		if (sqlite3_prepare_v3(c->db, stmt_sql[id], -1, SQLITE_PREPARE_PERSISTENT,
				       &c->stmt[id], NULL) != SQLITE_OK) {
			log_warnx("store: cannot prepare statement %d: %s", (int)id,
				  sqlite3_errmsg(c->db));
			return NULL;
		}
		s = c->stmt[id];
		c->year_param[id] = sqlite3_bind_parameter_index(s, YEAR_PARAM);
	}
	if (c->year_param[id])
		sqlite3_bind_int(s, c->year_param[id], st->year);
	return s;
}

/* Step a statement that returns no row, then reset it. */
static int run_done(struct store *st, sqlite3_stmt *s)
{
	int rc = sqlite3_step(s);
	sqlite3_reset(s);
	sqlite3_clear_bindings(s);
	if (rc != SQLITE_DONE) {
		log_warnx("store: %s", sqlite3_errmsg(st->c->db));
		return -1;
	}
	return 0;
}

static int exec(struct store *st, const char *sql)
{
	char *msg = NULL;
	st->c->failed_kept = false;
	if (sqlite3_exec(st->c->db, sql, NULL, NULL, &msg) != SQLITE_OK) {
		log_warnx("store: %s: %s", sql, msg ? msg : "?");
		sqlite3_free(msg);
		return -1;
	}
	return 0;
}

/* A new handle of CONN for YEAR, kept in its list. */
static struct store *handle_new(struct store_conn *conn, int year)
{
	struct store *st = xcalloc(1, sizeof(*st));
	st->c = conn;
	st->year = year;
	conn->years = xrealloc(conn->years, (conn->nyears + 1) * sizeof(*conn->years));
	conn->years[conn->nyears++] = st;
	return st;
}

struct store *store_year(struct store *st, int year)
{
	for (size_t i = 0; i < st->c->nyears; i++)
		if (st->c->years[i]->year == year)
			return st->c->years[i];
	return handle_new(st->c, year);
}

int store_year_of(const struct store *st)
{
	return st->year;
}

/* The text of column 0 of SQL's first row as a number, or -1 (also on an error). */
static int64_t first_number(struct store *st, const char *sql)
{
	sqlite3_stmt *s;
	int64_t v = -1;
	if (sqlite3_prepare_v2(st->c->db, sql, -1, &s, NULL) != SQLITE_OK)
		return -1;
	if (sqlite3_step(s) == SQLITE_ROW && sqlite3_column_type(s, 0) != SQLITE_NULL)
		v = sqlite3_column_int64(s, 0);
	sqlite3_finalize(s);
	return v;
}

/*
 * The plan year what a database of schema 1 or 2 holds was recorded for
 * (it held one): the year its snapshots name, else the local year of its
 * high-water mark (00:00 of January 1, the last close, is the year
 * before's), else DEFAULT_YEAR (its engine never ran).  Logged, with why.
 */
static int legacy_year(struct store *st, const char *path, int default_year)
{
	int64_t first = first_number(st, "SELECT MIN(CAST(substr(period, 1, 4) AS INTEGER))"
					 " FROM snapshots");
	int64_t last = first_number(st, "SELECT MAX(CAST(substr(period, 1, 4) AS INTEGER))"
					" FROM snapshots");
	int64_t hwm = first_number(st, "SELECT value FROM meta WHERE key = 'hwm'");
	int year = default_year, y, m, d, secs;
	const char *why = "its engine never ran: the earliest configured plan year";

	if (last > 1970 && last < 10000) {
		year = (int)last;
		why = "from its snapshots";
		if (first != last)
			log_warnx(
				"store: %s holds snapshots of %lld to %lld: every record of it is "
				"taken to be of %lld",
				path, (long long)first, (long long)last, (long long)last);
	} else if (first_number(st, "SELECT count(*) FROM meta WHERE key = 'hwm'") > 0) {
		int32_t day = calendar_day_of(hwm, &secs);
		calendar_civil_from_days(day, &y, &m, &d);
		year = m == 1 && d == 1 && secs == 0 ? y - 1 : y;
		why = "from its high-water mark";
	}
	log_info("store: schema %d database %s holds plan year %d (%s)",
		 (int)first_number(st, "PRAGMA user_version"), path, year, why);
	return year;
}

/*
 * The SQL of migration V (from V to V + 1) of database PATH (FRESH: made
 * by this open, its tables empty); free it.
 */
static char *migration_sql(struct store *st, int v, const char *path, int default_year, bool fresh)
{
	if (v != 2)
		return xstrdup(migrations[v]);
	int y = fresh ? default_year : legacy_year(st, path, default_year);
	int64_t adopted = calendar_instant(calendar_days_from_civil(y, 1, 1), 0);
	return xasprintf(MIGRATE_3, y, y, y, y, y, y, y, y, y, (long long)adopted, y);
}

struct store *store_open(const char *path, int year, char *err, size_t errlen)
{
	struct store_conn *conn = xcalloc(1, sizeof(*conn));
	struct store *st = handle_new(conn, year);
	bool mem = strcmp(path, ":memory:") == 0;

	sbuf_init(&conn->get_buf);
	int version = 0;
	sqlite3_stmt *s;

	/* One thread uses the connection (the loop), so it needs no mutex, and
	 * SQLite's global memory statistics only cost a lock per malloc. */
	static bool configured;
	if (!configured) {
		sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
		configured = true;
	}
	if (sqlite3_open_v2(path, &conn->db,
			    SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
			    NULL) != SQLITE_OK) {
		snprintf(err, errlen, "cannot open database %s: %s", path,
			 conn->db ? sqlite3_errmsg(conn->db) : "out of memory");
		store_close(st);
		return NULL;
	}
	sqlite3_busy_timeout(conn->db, 5000);
	sqlite3_extended_result_codes(conn->db, 1);
	if (exec(st, "PRAGMA foreign_keys = ON") < 0 ||
	    (!mem && (exec(st, "PRAGMA journal_mode = WAL") < 0 ||
		      exec(st, "PRAGMA synchronous = FULL") < 0))) {
		snprintf(err, errlen, "cannot set up database %s: %s", path,
			 sqlite3_errmsg(conn->db));
		store_close(st);
		return NULL;
	}
	if (sqlite3_prepare_v2(conn->db, "PRAGMA user_version", -1, &s, NULL) == SQLITE_OK) {
		if (sqlite3_step(s) == SQLITE_ROW)
			version = sqlite3_column_int(s, 0);
		sqlite3_finalize(s);
	}
	int latest = (int)(sizeof(migrations) / sizeof(migrations[0]));
	if (version > latest) {
		snprintf(err, errlen,
			 "database %s has schema version %d, newer than this kaohed knows (%d)",
			 path, version, latest);
		store_close(st);
		return NULL;
	}
	for (int v = version; v < latest; v++) {
		char sql[64];
		snprintf(sql, sizeof(sql), "PRAGMA user_version = %d", v + 1);
		char *m = exec(st, "BEGIN IMMEDIATE") < 0
				  ? NULL
				  : migration_sql(st, v, path, year, version == 0);
		if (m == NULL || exec(st, m) < 0 || exec(st, sql) < 0 || exec(st, "COMMIT") < 0) {
			snprintf(err, errlen, "cannot migrate database %s to version %d: %s", path,
				 v + 1, sqlite3_errmsg(conn->db));
			exec(st, "ROLLBACK");
			free(m);
			store_close(st);
			return NULL;
		}
		free(m);
		if (!mem)
			log_info("store: database %s migrated to schema version %d", path, v + 1);
	}
	return st;
}

int store_set_volatile(struct store *st)
{
	/*
	 * The writers are this program's own, checked code: in a database
	 * thrown away after the run, foreign-key probes only cost time.  A
	 * simulation inserts millions of entries in no order of unit and
	 * rarely reads one unit's (explain, a voided submission), so the
	 * per-unit index costs more than the scans it saves.
	 */
	return exec(st, "PRAGMA journal_mode = OFF") < 0 ||
			       exec(st, "PRAGMA foreign_keys = OFF") < 0 ||
			       exec(st, "DROP INDEX entries_unit") < 0
		       ? -1
		       : 0;
}

int store_set_durable(struct store *st, bool full)
{
	return exec(st, full ? "PRAGMA synchronous = FULL" : "PRAGMA synchronous = NORMAL");
}

void store_close(struct store *st)
{
	if (st == NULL)
		return;
	struct store_conn *c = st->c;
	for (int i = 0; i < S_COUNT; i++)
		sqlite3_finalize(c->stmt[i]);
	if (c->db && sqlite3_close(c->db) != SQLITE_OK)
		log_warnx("store: close: %s", sqlite3_errmsg(c->db));
	for (size_t i = 0; i < c->nyears; i++) {
		struct store *h = c->years[i];
		free(h->unit_ref);
		free(h->unit_idx);
		free(h->bucket_ref);
		free(h->bucket_idx);
		free(h);
	}
	free(c->years);
	sbuf_free(&c->get_buf);
	free(c);
}

static const char *col_text(sqlite3_stmt *s, int i)
{
	return (const char *)sqlite3_column_text(s, i);
}

static int64_t lookup_ref(struct store *st, enum stmt_id id, const char *a, const char *b)
{
	sqlite3_stmt *s = stmt(st, id);
	int64_t ref = -1;
	if (s == NULL)
		return -1;
	sqlite3_bind_text(s, 1, a, -1, SQLITE_STATIC);
	if (b)
		sqlite3_bind_text(s, 2, b, -1, SQLITE_STATIC);
	if (sqlite3_step(s) == SQLITE_ROW)
		ref = sqlite3_column_int64(s, 0);
	sqlite3_reset(s);
	sqlite3_clear_bindings(s);
	return ref;
}

static int *invert(const int64_t *refs, size_t n, size_t *len)
{
	int64_t max = 0;
	for (size_t i = 0; i < n; i++)
		if (refs[i] > max)
			max = refs[i];
	*len = (size_t)max + 1;
	int *idx = xmalloc(*len * sizeof(*idx));
	for (size_t i = 0; i < *len; i++)
		idx[i] = -1;
	for (size_t i = 0; i < n; i++)
		idx[refs[i]] = (int)i;
	return idx;
}

/*
 * The refs of P's units the table already holds under the same id and
 * name, in UREF (others stay 0): one pass over the table at a start,
 * where a statement per unit would rewrite every row of it.
 */
static int units_held(struct store *st, const struct plan *p, int64_t *uref)
{
	sqlite3_stmt *s = stmt(st, S_UNITS_ALL);
	int rc;
	if (s == NULL)
		return -1;
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		const char *id = col_text(s, 1);
		size_t pos;
		for (int v = strmap_get(&p->unit_map, id, &pos); v >= 0;
		     v = strmap_next(&p->unit_map, id, &pos)) {
			const struct plan_unit *u = &p->units[v >> 1];
			if (!(v & 1) && strcmp(u->name, col_text(s, 2)) == 0)
				uref[v >> 1] = sqlite3_column_int64(s, 0);
		}
	}
	sqlite3_reset(s);
	return rc == SQLITE_DONE ? 0 : -1;
}

int store_sync_plan(struct store *st, const struct plan *p)
{
	int64_t *uref, *bref;

	/* The units and buckets go in whole or not at all. */
	assert(st->c->depth > 0);
	uref = xcalloc(p->nunits + 1, sizeof(*uref));
	bref = xmalloc((p->nbuckets + 1) * sizeof(*bref));

	if (units_held(st, p, uref) < 0)
		goto fail;
	for (size_t i = 0; i < p->nunits; i++) {
		if (uref[i] > 0)
			continue;
		sqlite3_stmt *s = stmt(st, S_UNIT_UPSERT);
		if (s == NULL)
			goto fail;
		sqlite3_bind_text(s, 1, p->units[i].id, -1, SQLITE_STATIC);
		sqlite3_bind_text(s, 2, p->units[i].name, -1, SQLITE_STATIC);
		if (run_done(st, s) < 0 ||
		    (uref[i] = lookup_ref(st, S_UNIT_REF, p->units[i].id, NULL)) < 0)
			goto fail;
	}
	for (size_t r = 0; r < p->nrows; r++) {
		const struct plan_row *row = &p->rows[r];
		for (size_t k = 0; k <= row->nkinds; k++) {
			const char *kind = k == 0 ? "" : row->kinds[k - 1].id;
			int b = k == 0 ? row->bucket : row->kinds[k - 1].bucket;
			sqlite3_stmt *s = stmt(st, S_BUCKET_INS);
			if (s == NULL)
				goto fail;
			sqlite3_bind_text(s, 1, row->id, -1, SQLITE_STATIC);
			sqlite3_bind_text(s, 2, kind, -1, SQLITE_STATIC);
			if (run_done(st, s) < 0 ||
			    (bref[b] = lookup_ref(st, S_BUCKET_REF, row->id, kind)) < 0)
				goto fail;
		}
	}
	free(st->unit_ref);
	free(st->unit_idx);
	free(st->bucket_ref);
	free(st->bucket_idx);
	st->unit_ref = uref;
	st->bucket_ref = bref;
	st->nunits = p->nunits;
	st->nbuckets = p->nbuckets;
	st->unit_idx = invert(uref, p->nunits, &st->unit_idx_len);
	st->bucket_idx = invert(bref, p->nbuckets, &st->bucket_idx_len);
	memset(st->c->rule_cache, 0, sizeof(st->c->rule_cache));
	return 0;
fail:
	free(uref);
	free(bref);
	return -1;
}

static int run_stmt(struct store *st, enum stmt_id id)
{
	sqlite3_stmt *s = stmt(st, id);
	return s ? run_done(st, s) : -1;
}

int store_begin(struct store *st)
{
	if (run_stmt(st, st->c->depth == 0 ? S_BEGIN : S_SAVEPOINT) < 0)
		return -1;
	st->c->depth++;
	return 0;
}

int store_commit(struct store *st)
{
	if (run_stmt(st, st->c->depth == 1 ? S_COMMIT : S_RELEASE) < 0) {
		store_rollback(st);
		return -1;
	}
	st->c->depth--;
	return 0;
}

void store_rollback(struct store *st)
{
	if (st->c->depth == 0)
		return;
	/*
	 * The caller reports why it rolls back: keep that message, or the
	 * rollback's own would stand in its place ("not an error").
	 */
	if (!st->c->failed_kept)
		util_strlcpy(st->c->failed, sqlite3_errmsg(st->c->db), sizeof(st->c->failed));
	/* A rule inserted in what is rolled back is gone: forget them all. */
	memset(st->c->rule_cache, 0, sizeof(st->c->rule_cache));
	if (sqlite3_get_autocommit(st->c->db)) {
		/*
		 * SQLite rolled the whole transaction back itself (a full disk,
		 * an I/O error): a ROLLBACK now would only fail with "no
		 * transaction is active", and no level of it is left.
		 */
		st->c->depth = 0;
	} else {
		if (st->c->depth == 1)
			run_stmt(st, S_ROLLBACK);
		else if (run_stmt(st, S_ROLLBACK_TO) == 0)
			run_stmt(st, S_RELEASE);
		st->c->depth--;
	}
	st->c->failed_kept = true;
}

int64_t store_changes(struct store *st)
{
	return sqlite3_total_changes64(st->c->db);
}

int store_in_transaction(const struct store *st)
{
	return st->c->depth;
}

int store_meta_read(struct store *st, const char *name, int64_t *out)
{
	sqlite3_stmt *s = stmt(st, S_META_GET);
	int rc;
	if (s == NULL)
		return -1;
	sqlite3_bind_text(s, 1, name, -1, SQLITE_STATIC);
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW)
		*out = sqlite3_column_int64(s, 0);
	sqlite3_reset(s);
	sqlite3_clear_bindings(s);
	return rc == SQLITE_ROW ? 1 : rc == SQLITE_DONE ? 0 : -1;
}

int store_meta_set(struct store *st, const char *name, int64_t value)
{
	sqlite3_stmt *s = stmt(st, S_META_SET);
	if (s == NULL)
		return -1;
	sqlite3_bind_text(s, 1, name, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 2, value);
	return run_done(st, s);
}

int store_hwm_read(struct store *st, int64_t *out)
{
	*out = INT64_MIN;
	return store_meta_read(st, "hwm", out) < 0 ? -1 : 0;
}

int64_t store_hwm(struct store *st)
{
	int64_t v;
	store_hwm_read(st, &v);
	return v;
}

int store_set_hwm(struct store *st, int64_t t)
{
	return store_meta_set(st, "hwm", t);
}

int store_years_held(struct store *st, int *years, size_t max, size_t *n)
{
	sqlite3_stmt *s = stmt(st, S_YEARS_HELD);
	int rc;
	*n = 0;
	if (s == NULL)
		return -1;
	while ((rc = sqlite3_step(s)) == SQLITE_ROW)
		if (*n < max)
			years[(*n)++] = sqlite3_column_int(s, 0);
	sqlite3_reset(s);
	return rc == SQLITE_DONE ? 0 : -1;
}

static int64_t rule_ref(struct store *st, const char *text)
{
	size_t h = ((uintptr_t)text >> 4) % RULE_CACHE;
	if (st->c->rule_cache[h].text == text)
		return st->c->rule_cache[h].ref;
	sqlite3_stmt *s = stmt(st, S_RULE_INS);
	if (s == NULL)
		return -1;
	sqlite3_bind_text(s, 1, text, -1, SQLITE_STATIC);
	if (run_done(st, s) < 0)
		return -1;
	int64_t ref = lookup_ref(st, S_RULE_REF, text, NULL);
	st->c->rule_cache[h].text = text;
	st->c->rule_cache[h].ref = ref;
	return ref;
}

static void bind_text_or_null(sqlite3_stmt *s, int i, const char *v)
{
	if (v)
		sqlite3_bind_text(s, i, v, -1, SQLITE_STATIC);
	else
		sqlite3_bind_null(s, i);
}

/* Bind E's columns to S, an S_ENTRY_ADD or S_AUTO_ADD statement. */
static int bind_entry(struct store *st, sqlite3_stmt *s, const struct entry *e)
{
	int64_t rref = e->rule ? rule_ref(st, e->rule) : 0;

	if (rref < 0 || e->unit < 0 || (size_t)e->unit >= st->nunits)
		return -1;
	sqlite3_bind_int64(s, 1, st->unit_ref[e->unit]);
	sqlite3_bind_int(s, 2, (int)e->type);
	sqlite3_bind_text(s, 3, e->row, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 4, e->occ, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 5, e->kind, -1, SQLITE_STATIC);
	if (e->bucket >= 0)
		sqlite3_bind_int64(s, 6, st->bucket_ref[e->bucket]);
	sqlite3_bind_int64(s, 7, e->count);
	sqlite3_bind_int64(s, 8, e->points);
	if (e->type == ENTRY_METRIC)
		sqlite3_bind_int64(s, 9, e->value);
	sqlite3_bind_int64(s, 10, e->at);
	sqlite3_bind_int64(s, 11, e->recorded_at);
	sqlite3_bind_text(s, 12, e->actor, -1, SQLITE_STATIC);
	bind_text_or_null(s, 13, e->note);
	if (rref > 0)
		sqlite3_bind_int64(s, 14, rref);
	bind_text_or_null(s, 15, e->auto_key);
	return 0;
}

int store_entry_add(struct store *st, const struct entry *e, int64_t *id)
{
	sqlite3_stmt *s = stmt(st, S_ENTRY_ADD);

	if (s == NULL || bind_entry(st, s, e) < 0 || run_done(st, s) < 0)
		return -1;
	if (id)
		*id = sqlite3_last_insert_rowid(st->c->db);
	return 0;
}

int store_auto_add(struct store *st, const struct entry *e, int64_t *id)
{
	sqlite3_stmt *s = stmt(st, S_AUTO_ADD);

	if (s == NULL || e->auto_key == NULL || bind_entry(st, s, e) < 0 || run_done(st, s) < 0)
		return -1;
	if (sqlite3_changes(st->c->db) == 0)
		return 0;
	if (id)
		*id = sqlite3_last_insert_rowid(st->c->db);
	return 1;
}

int store_auto_void(struct store *st, const char *key, enum entry_type keep, int64_t at,
		    const char *reason, int64_t *id)
{
	sqlite3_stmt *s = stmt(st, S_AUTO_VOID);
	int rc, found = 0;

	if (s == NULL)
		return -1;
	sqlite3_bind_text(s, 1, key, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 2, at);
	sqlite3_bind_int(s, 3, (int)keep);
	sqlite3_bind_text(s, 4, reason, -1, SQLITE_STATIC);
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		if (id)
			*id = sqlite3_column_int64(s, 0);
		found = 1;
	}
	sqlite3_reset(s);
	sqlite3_clear_bindings(s);
	if (rc != SQLITE_DONE) {
		log_warnx("store: %s", sqlite3_errmsg(st->c->db));
		return -1;
	}
	return found;
}

int store_entry_void(struct store *st, int64_t id, int64_t at, const char *by, const char *reason)
{
	sqlite3_stmt *s = stmt(st, S_ENTRY_VOID);
	if (s == NULL)
		return -1;
	if (strcmp(by, "auto") != 0) {
		sqlite3_stmt *w = stmt(st, S_WAIVE);
		if (w == NULL)
			return -1;
		sqlite3_bind_int64(w, 1, id);
		if (run_done(st, w) < 0)
			return -1;
	}
	sqlite3_bind_int64(s, 1, id);
	sqlite3_bind_int64(s, 2, at);
	sqlite3_bind_text(s, 3, by, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 4, reason, -1, SQLITE_STATIC);
	if (run_done(st, s) < 0)
		return -1;
	return sqlite3_changes(st->c->db) == 1 ? 0 : -1;
}

static void copy_col(char *dst, size_t len, sqlite3_stmt *s, int i)
{
	const char *v = col_text(s, i);
	snprintf(dst, len, "%s", v ? v : "");
}

static void read_entry(struct store *st, sqlite3_stmt *s, struct entry *e)
{
	int64_t uref = sqlite3_column_int64(s, 1);
	memset(e, 0, sizeof(*e));
	e->id = sqlite3_column_int64(s, 0);
	e->unit = uref >= 0 && (size_t)uref < st->unit_idx_len ? st->unit_idx[uref] : -1;
	e->type = (enum entry_type)sqlite3_column_int(s, 2);
	copy_col(e->row, sizeof(e->row), s, 3);
	copy_col(e->occ, sizeof(e->occ), s, 4);
	copy_col(e->kind, sizeof(e->kind), s, 5);
	int64_t bref = sqlite3_column_type(s, 6) == SQLITE_NULL ? -1 : sqlite3_column_int64(s, 6);
	e->bucket = bref >= 0 && (size_t)bref < st->bucket_idx_len ? st->bucket_idx[bref] : -1;
	e->count = sqlite3_column_int64(s, 7);
	e->points = sqlite3_column_int64(s, 8);
	e->value = sqlite3_column_int64(s, 9);
	e->at = sqlite3_column_int64(s, 10);
	e->recorded_at = sqlite3_column_int64(s, 11);
	copy_col(e->actor, sizeof(e->actor), s, 12);
	e->note = col_text(s, 13);
	e->rule = col_text(s, 14);
	e->auto_key = col_text(s, 15);
	e->voided_at = sqlite3_column_int64(s, 16);
	copy_col(e->voided_by, sizeof(e->voided_by), s, 17);
	e->void_reason = col_text(s, 18);
}

/*
 * Move the (NULL or) strings *STRS[i] into the store's own buffer: a
 * statement left stepped holds a read transaction open, and then no
 * checkpoint can reset the WAL.  They stay valid until the next call.
 */
static void keep_strings(struct store *st, const char **strs[], size_t n)
{
	size_t off[16];
	assert(n <= 16);
	st->c->get_buf.len = 0;
	for (size_t i = 0; i < n; i++) {
		off[i] = st->c->get_buf.len;
		if (*strs[i])
			sbuf_add(&st->c->get_buf, *strs[i], strlen(*strs[i]) + 1);
	}
	for (size_t i = 0; i < n; i++)
		if (*strs[i])
			*strs[i] = st->c->get_buf.buf + off[i];
}

int store_entry_get(struct store *st, int64_t id, struct entry *e)
{
	sqlite3_stmt *s = stmt(st, S_ENTRY_GET);
	int rc;
	if (s == NULL)
		return -1;
	sqlite3_bind_int64(s, 1, id);
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW) {
		read_entry(st, s, e);
		const char **strs[] = { &e->note, &e->rule, &e->auto_key, &e->void_reason };
		keep_strings(st, strs, 4);
	}
	sqlite3_reset(s);
	sqlite3_clear_bindings(s);
	return rc == SQLITE_ROW ? 1 : rc == SQLITE_DONE ? 0 : -1;
}

static int each_entry(struct store *st, sqlite3_stmt *s,
		      int (*fn)(const struct entry *e, void *arg), void *arg)
{
	struct entry e;
	int rc, ret = 0;
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		read_entry(st, s, &e);
		if ((ret = fn(&e, arg)) != 0)
			break;
	}
	if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
		log_warnx("store: %s", sqlite3_errmsg(st->c->db));
		ret = -1;
	}
	sqlite3_reset(s);
	sqlite3_clear_bindings(s);
	return ret;
}

int store_entries_of(struct store *st, int unit, const char *row,
		     int (*fn)(const struct entry *e, void *arg), void *arg)
{
	sqlite3_stmt *s = stmt(st, row ? S_ENTRIES_UNIT_ROW : S_ENTRIES_UNIT);
	if (s == NULL)
		return -1;
	sqlite3_bind_int64(s, 1, st->unit_ref[unit]);
	if (row)
		sqlite3_bind_text(s, 2, row, -1, SQLITE_STATIC);
	return each_entry(st, s, fn, arg);
}

int64_t store_first_submission(struct store *st, int unit, const char *occ)
{
	sqlite3_stmt *s = stmt(st, S_FIRST_SUB);
	int64_t v = INT64_MAX;
	if (s == NULL)
		return INT64_MIN;
	sqlite3_bind_text(s, 1, occ, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 2, st->unit_ref[unit]);
	int rc = sqlite3_step(s);
	if (rc == SQLITE_ROW && sqlite3_column_type(s, 0) != SQLITE_NULL)
		v = sqlite3_column_int64(s, 0);
	else if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		v = INT64_MIN;
	sqlite3_reset(s);
	sqlite3_clear_bindings(s);
	return v;
}

int store_first_submissions(struct store *st,
			    int (*fn)(int unit, const char *occ, int64_t at, void *arg), void *arg)
{
	sqlite3_stmt *s = stmt(st, S_FIRST_SUBS);
	int rc, ret = 0;
	if (s == NULL)
		return -1;
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		int64_t ref = sqlite3_column_int64(s, 0);
		if (ref < 0 || (size_t)ref >= st->unit_idx_len || st->unit_idx[ref] < 0)
			continue;
		if ((ret = fn(st->unit_idx[ref], col_text(s, 1), sqlite3_column_int64(s, 2),
			      arg)) != 0)
			break;
	}
	sqlite3_reset(s);
	return rc == SQLITE_ROW || rc == SQLITE_DONE ? ret : -1;
}

int store_metric_latest(struct store *st, int unit, const char *metric, int64_t at, bool strict,
			int64_t *value)
{
	sqlite3_stmt *s = stmt(st, strict ? S_METRIC_LATEST_STRICT : S_METRIC_LATEST);
	int rc, found = 0;
	if (s == NULL)
		return -1;
	sqlite3_bind_int64(s, 1, st->unit_ref[unit]);
	sqlite3_bind_text(s, 2, metric, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 3, at);
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW) {
		*value = sqlite3_column_int64(s, 0);
		found = 1;
	}
	sqlite3_reset(s);
	sqlite3_clear_bindings(s);
	return rc == SQLITE_ROW || rc == SQLITE_DONE ? found : -1;
}

int store_accumulate(struct store *st, int64_t as_of, int64_t *acc)
{
	sqlite3_stmt *s = stmt(st, S_ACCUMULATE);
	int rc;
	if (s == NULL)
		return -1;
	sqlite3_bind_int64(s, 1, as_of);
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		int64_t u = sqlite3_column_int64(s, 0), b = sqlite3_column_int64(s, 1);
		if (u < 0 || (size_t)u >= st->unit_idx_len || b < 0 ||
		    (size_t)b >= st->bucket_idx_len)
			continue;
		int ui = st->unit_idx[u], bi = st->bucket_idx[b];
		/* Units and kinds a reload dropped keep their entries but score nothing. */
		if (ui < 0 || bi < 0)
			continue;
		acc[(size_t)ui * st->nbuckets + (size_t)bi] += sqlite3_column_int64(s, 2);
	}
	sqlite3_reset(s);
	sqlite3_clear_bindings(s);
	return rc == SQLITE_DONE ? 0 : -1;
}

int store_move_add(struct store *st, const struct move *m)
{
	sqlite3_stmt *s = stmt(st, S_MOVE_ADD);
	if (s == NULL)
		return -1;
	sqlite3_bind_text(s, 1, m->occ, -1, SQLITE_STATIC);
	if (m->unit >= 0)
		sqlite3_bind_int64(s, 2, st->unit_ref[m->unit]);
	sqlite3_bind_int64(s, 3, m->due_day);
	if (m->timed)
		sqlite3_bind_int64(s, 4, m->due_at);
	sqlite3_bind_int64(s, 5, m->at);
	sqlite3_bind_text(s, 6, m->actor, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 7, m->reason, -1, SQLITE_STATIC);
	return run_done(st, s);
}

int store_moves(struct store *st, int (*fn)(const struct move *m, void *arg), void *arg)
{
	sqlite3_stmt *s = stmt(st, S_MOVES);
	int rc, ret = 0;
	if (s == NULL)
		return -1;
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		struct move m = { 0 };
		m.id = sqlite3_column_int64(s, 0);
		copy_col(m.occ, sizeof(m.occ), s, 1);
		m.unit = -1;
		m.due_day = (int32_t)sqlite3_column_int64(s, 3);
		m.timed = sqlite3_column_type(s, 4) != SQLITE_NULL;
		m.due_at = sqlite3_column_int64(s, 4);
		m.at = sqlite3_column_int64(s, 5);
		copy_col(m.actor, sizeof(m.actor), s, 6);
		m.reason = col_text(s, 7);
		if (sqlite3_column_type(s, 2) != SQLITE_NULL) {
			/* -2: a unit the current plan no longer has. */
			int64_t ref = sqlite3_column_int64(s, 2);
			m.unit = (size_t)ref < st->unit_idx_len && st->unit_idx[ref] >= 0
					 ? st->unit_idx[ref]
					 : -2;
		}
		if ((ret = fn(&m, arg)) != 0)
			break;
	}
	sqlite3_reset(s);
	return rc == SQLITE_ROW || rc == SQLITE_DONE ? ret : -1;
}

int store_snapshot_put(struct store *st, const char *period, int64_t at, int64_t taken_at,
		       const char *json)
{
	sqlite3_stmt *s = stmt(st, S_SNAP_PUT);
	if (s == NULL)
		return -1;
	sqlite3_bind_text(s, 1, period, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 2, at);
	sqlite3_bind_int64(s, 3, taken_at);
	sqlite3_bind_text(s, 4, json, -1, SQLITE_STATIC);
	return run_done(st, s);
}

int store_snapshots(struct store *st, bool with_data,
		    int (*fn)(const char *period, int64_t at, int64_t taken_at, const char *data,
			      void *arg),
		    void *arg)
{
	sqlite3_stmt *s = stmt(st, with_data ? S_SNAPS_DATA : S_SNAPS);
	int rc, ret = 0;
	if (s == NULL)
		return -1;
	while ((rc = sqlite3_step(s)) == SQLITE_ROW)
		if ((ret = fn(col_text(s, 0), sqlite3_column_int64(s, 1),
			      sqlite3_column_int64(s, 2), col_text(s, 3), arg)) != 0)
			break;
	sqlite3_reset(s);
	return rc == SQLITE_ROW || rc == SQLITE_DONE ? ret : -1;
}

/* The database's file and its companions, which a backup must never become. */
static const char *const live_suffixes[] = { "", "-wal", "-shm", "-journal" };

/*
 * Whether BASE in the directory DFD is the live database or a companion
 * of it: by identity when a file is there, and by name in the database's
 * own directory (a -journal or a -wal that does not exist yet).
 */
static bool is_live(struct store *st, int dfd, const char *base)
{
	const char *db = sqlite3_db_filename(st->c->db, "main");
	struct stat t, dir, ddir, s;
	bool live = false;

	if (db == NULL || *db == '\0')
		return false; /* in memory */
	bool exists = fstatat(dfd, base, &t, AT_SYMLINK_NOFOLLOW) == 0;
	const char *slash = strrchr(db, '/'), *dbbase = slash ? slash + 1 : db;
	char *dbdir = slash ? xasprintf("%.*s", slash == db ? 1 : (int)(slash - db), db)
			    : xstrdup(".");
	bool same_dir = stat(dbdir, &ddir) == 0 && fstat(dfd, &dir) == 0 &&
			ddir.st_dev == dir.st_dev && ddir.st_ino == dir.st_ino;
	size_t n = strlen(dbbase);
	for (size_t i = 0; i < sizeof(live_suffixes) / sizeof(live_suffixes[0]) && !live; i++) {
		char *f = xasprintf("%s%s", db, live_suffixes[i]);
		live = exists && stat(f, &s) == 0 && s.st_dev == t.st_dev && s.st_ino == t.st_ino;
		free(f);
		live = live || (same_dir && strncmp(base, dbbase, n) == 0 &&
				strcmp(base + n, live_suffixes[i]) == 0);
	}
	free(dbdir);
	return live;
}

/*
 * Whether the absolute PATH lies under /proc: its links lead to the
 * daemon's own working directory, root and descriptors (/proc/self/cwd/x
 * is a relative path in disguise), never to where the caller meant.
 */
static bool under_proc(const char *path)
{
	const char *p = path;

	/* Leading "." and ".." components stay at the root. */
	for (;;) {
		while (*p == '/')
			p++;
		size_t dots = strspn(p, ".");
		if (dots == 0 || dots > 2 || (p[dots] != '/' && p[dots] != '\0'))
			break;
		p += dots;
	}
	return strncmp(p, "proc", 4) == 0 && (p[4] == '/' || p[4] == '\0');
}

/*
 * Open the directory DIR without passing through a magic link of /proc
 * (a link to an open file or directory rather than to a name), where
 * the kernel knows how to refuse them.
 */
static int open_dir(const char *dir)
{
	struct open_how how = { .flags = O_RDONLY | O_DIRECTORY | O_CLOEXEC,
				.resolve = RESOLVE_NO_MAGICLINKS };
	int fd = (int)syscall(SYS_openat2, AT_FDCWD, dir, &how, sizeof(how));

	if (fd < 0 && errno == ENOSYS)
		fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	return fd;
}

/*
 * Refuse a backup PATH that is not absolute and plain, or names no file,
 * or cannot fit DIRLEN for its directory; SLASH and BASE point into PATH
 * at its last '/' and its file name.
 */
static int check_backup_path(const char *path, size_t dirlen, const char **slash, const char **base,
			     char *err, size_t errlen)
{
	if (path[0] != '/') {
		snprintf(err, errlen, "\"%s\" is %s; backup takes the absolute path of a new file",
			 path, strncmp(path, "file:", 5) == 0 ? "a URI" : "not an absolute path");
		return -1;
	}
	if (under_proc(path)) {
		snprintf(err, errlen,
			 "\"%s\" is under /proc, whose links lead to the daemon's own "
			 "files; backup takes the path of a new file elsewhere",
			 path);
		return -1;
	}
	*slash = strrchr(path, '/');
	*base = *slash + 1;
	if (**base == '\0' || strcmp(*base, ".") == 0 || strcmp(*base, "..") == 0) {
		snprintf(err, errlen, "\"%s\" does not name a file", path);
		return -1;
	}
	if (strlen(path) >= PATH_MAX || (size_t)(*slash - path) + 2 > dirlen) {
		snprintf(err, errlen, "\"%s\" is too long (a path has at most %d bytes)", path,
			 PATH_MAX - 1);
		return -1;
	}
	return 0;
}

/*
 * Check PATH and open its directory; the descriptor, or -1 with the
 * reason in ERR.  PATH must be absolute and plain: SQLite would read
 * "file:…" as a URI with its own idea of the file, and a relative path
 * would be the daemon's, not the caller's.  Everything after this goes
 * through the descriptor: what was checked is what is written.
 */
static int backup_dir(struct store *st, const char *path, char *dir, size_t dirlen,
		      const char **base, char *err, size_t errlen)
{
	struct stat ds, t;
	const char *slash;

	if (check_backup_path(path, dirlen, &slash, base, err, errlen) < 0)
		return -1;
	snprintf(dir, dirlen, "%.*s", slash == path ? 1 : (int)(slash - path), path);
	int dfd = open_dir(dir);
	if (dfd < 0 || fstat(dfd, &ds) < 0) {
		if (errno == ELOOP)
			snprintf(err, errlen,
				 "%s: the directory %s goes through a link of /proc or a "
				 "loop of links",
				 path, dir);
		else
			snprintf(err, errlen, "%s: directory %s: %s", path, dir, strerror(errno));
		if (dfd >= 0)
			close(dfd);
		return -1;
	}
	/* A name the file system cannot hold is known now, not after the copy. */
	long name_max = fpathconf(dfd, _PC_NAME_MAX);
	if (name_max < 0)
		name_max = NAME_MAX;
	if (strlen(*base) > (size_t)name_max) {
		snprintf(err, errlen,
			 "%s: the file name is %zu bytes long; the file system of %s "
			 "takes at most %ld",
			 path, strlen(*base), dir, name_max);
		close(dfd);
		return -1;
	}
	/*
	 * Whoever else may rename or replace entries of the directory could
	 * swap what is being written for a file or link of theirs: a
	 * directory of root or this user, writable by others only when
	 * sticky (as /tmp), where nobody else may move what is ours.
	 */
	const char *why = NULL;
	if (ds.st_uid != 0 && ds.st_uid != geteuid())
		why = "belongs to another user";
	else if ((ds.st_mode & (S_IWGRP | S_IWOTH)) && !(ds.st_mode & S_ISVTX))
		why = "is writable by others and not sticky";
	if (why == NULL && is_live(st, dfd, *base)) {
		snprintf(err, errlen,
			 "%s is the live database or one of its files (-wal, -shm, "
			 "-journal); a backup goes to a new file",
			 path);
		close(dfd);
		return -1;
	}
	if (why == NULL && fstatat(dfd, *base, &t, AT_SYMLINK_NOFOLLOW) == 0) {
		const char *what = S_ISLNK(t.st_mode)   ? "a symbolic link"
				   : S_ISREG(t.st_mode) ? "a file"
							: "not a file";
		snprintf(err, errlen,
			 "%s exists (%s); a backup never replaces a file nor writes through a link",
			 path, what);
		close(dfd);
		return -1;
	}
	if (why) {
		snprintf(err, errlen,
			 "%s: the directory %s %s: someone could swap the file being "
			 "written",
			 path, dir, why);
		close(dfd);
		return -1;
	}
	return dfd;
}

/*
 * The copy is written through a descriptor, never through a name.
 * SQLite's own VFS opens by name and resolves every link of the name
 * itself (/proc/self/fd/N too, back to a directory's name of the
 * moment), so someone who may rename a directory above PATH could send
 * the copy elsewhere between the check and the open.  This VFS opens no
 * file: the one it knows is the descriptor N that the name "kaohe-fd:N"
 * gives, used without a journal (a copy that fails is thrown away whole),
 * without locks (nobody else knows of it) and without shared memory.
 */
#define FD_VFS "kaohe-fd"

struct fd_file {
	sqlite3_file base;
	int fd;
};

static int fd_close(sqlite3_file *f)
{
	(void)f; /* the descriptor is the caller's */
	return SQLITE_OK;
}

static int fd_read(sqlite3_file *f, void *buf, int amt, sqlite3_int64 off)
{
	int fd = ((struct fd_file *)f)->fd;

	for (size_t got = 0; got < (size_t)amt;) {
		ssize_t n = pread(fd, (char *)buf + got, (size_t)amt - got, (off_t)(off + got));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return SQLITE_IOERR_READ;
		if (n == 0) {
			/* SQLite wants the rest zeroed. */
			memset((char *)buf + got, 0, (size_t)amt - got);
			return SQLITE_IOERR_SHORT_READ;
		}
		got += (size_t)n;
	}
	return SQLITE_OK;
}

static int fd_write(sqlite3_file *f, const void *buf, int amt, sqlite3_int64 off)
{
	int fd = ((struct fd_file *)f)->fd;

	for (size_t done = 0; done < (size_t)amt;) {
		ssize_t n = pwrite(fd, (const char *)buf + done, (size_t)amt - done,
				   (off_t)(off + done));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n < 0 && (errno == ENOSPC || errno == EDQUOT) ? SQLITE_FULL
									     : SQLITE_IOERR_WRITE;
		done += (size_t)n;
	}
	return SQLITE_OK;
}

static int fd_truncate(sqlite3_file *f, sqlite3_int64 size)
{
	return ftruncate(((struct fd_file *)f)->fd, (off_t)size) == 0 ? SQLITE_OK
								      : SQLITE_IOERR_TRUNCATE;
}

static int fd_sync(sqlite3_file *f, int flags)
{
	(void)flags;
	return fdatasync(((struct fd_file *)f)->fd) == 0 ? SQLITE_OK : SQLITE_IOERR_FSYNC;
}

static int fd_size(sqlite3_file *f, sqlite3_int64 *size)
{
	struct stat sb;
	if (fstat(((struct fd_file *)f)->fd, &sb) < 0)
		return SQLITE_IOERR_FSTAT;
	*size = sb.st_size;
	return SQLITE_OK;
}

static int fd_lock(sqlite3_file *f, int level)
{
	(void)f;
	(void)level;
	return SQLITE_OK;
}

static int fd_reserved(sqlite3_file *f, int *out)
{
	(void)f;
	*out = 0;
	return SQLITE_OK;
}

static int fd_control(sqlite3_file *f, int op, void *arg)
{
	(void)f;
	(void)op;
	(void)arg;
	return SQLITE_NOTFOUND;
}

static int fd_sector_size(sqlite3_file *f)
{
	(void)f;
	return 4096;
}

static int fd_device(sqlite3_file *f)
{
	(void)f;
	return 0;
}

static const sqlite3_io_methods fd_io = {
	.iVersion = 1,
	.xClose = fd_close,
	.xRead = fd_read,
	.xWrite = fd_write,
	.xTruncate = fd_truncate,
	.xSync = fd_sync,
	.xFileSize = fd_size,
	.xLock = fd_lock,
	.xUnlock = fd_lock,
	.xCheckReservedLock = fd_reserved,
	.xFileControl = fd_control,
	.xSectorSize = fd_sector_size,
	.xDeviceCharacteristics = fd_device,
};

static int fd_open(sqlite3_vfs *vfs, const char *name, sqlite3_file *f, int flags, int *out)
{
	static const char prefix[] = FD_VFS ":";
	char *end;
	(void)vfs;

	f->pMethods = NULL;
	/* The main database only: a journal or a temporary file would need a name. */
	if (!(flags & SQLITE_OPEN_MAIN_DB) || name == NULL ||
	    strncmp(name, prefix, sizeof(prefix) - 1) != 0)
		return SQLITE_CANTOPEN;
	errno = 0;
	long fd = strtol(name + sizeof(prefix) - 1, &end, 10);
	if (errno || *end != '\0' || fd < 0 || fd > INT_MAX)
		return SQLITE_CANTOPEN;
	((struct fd_file *)f)->fd = (int)fd;
	f->pMethods = &fd_io;
	if (out)
		*out = flags;
	return SQLITE_OK;
}

static int fd_delete(sqlite3_vfs *vfs, const char *name, int sync)
{
	(void)vfs;
	(void)name;
	(void)sync;
	return SQLITE_OK; /* nothing was made by name */
}

static int fd_access(sqlite3_vfs *vfs, const char *name, int flags, int *out)
{
	(void)vfs;
	(void)name;
	(void)flags;
	*out = 0; /* no journal, no WAL */
	return SQLITE_OK;
}

static int fd_full_pathname(sqlite3_vfs *vfs, const char *name, int n, char *out)
{
	(void)vfs;
	return snprintf(out, (size_t)n, "%s", name) < n ? SQLITE_OK : SQLITE_CANTOPEN;
}

/* The VFS, registered on first use; time, randomness and sleep are the default one's. */
static const char *fd_vfs(void)
{
	static sqlite3_vfs v;

	if (v.zName == NULL) {
		v = *sqlite3_vfs_find(NULL);
		v.iVersion = v.iVersion < 2 ? v.iVersion : 2;
		v.szOsFile = sizeof(struct fd_file);
		v.pNext = NULL;
		v.zName = FD_VFS;
		v.pAppData = NULL;
		v.xOpen = fd_open;
		v.xDelete = fd_delete;
		v.xAccess = fd_access;
		v.xFullPathname = fd_full_pathname;
		sqlite3_vfs_register(&v, 0);
	}
	return FD_VFS;
}

/* Copy the whole database of ST into the empty file FD; SQLITE_OK or SQLite's code, ERR set. */
static int copy_into(struct store *st, int fd, const char *path, char *err, size_t errlen)
{
	char name[32];
	sqlite3 *dst = NULL;

	snprintf(name, sizeof(name), FD_VFS ":%d", fd);
	int rc = sqlite3_open_v2(name, &dst, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, fd_vfs());
	if (rc == SQLITE_OK)
		rc = sqlite3_exec(dst, "PRAGMA journal_mode = OFF", NULL, NULL, NULL);
	if (rc == SQLITE_OK) {
		sqlite3_backup *b = sqlite3_backup_init(dst, "main", st->c->db, "main");
		if (b == NULL) {
			rc = sqlite3_errcode(dst);
		} else {
			/* All pages in one step: the loop waits a moment, not a minute. */
			rc = sqlite3_backup_step(b, -1);
			sqlite3_backup_finish(b);
			rc = rc == SQLITE_DONE ? sqlite3_errcode(dst) : rc;
		}
	}
	if (rc != SQLITE_OK)
		snprintf(err, errlen, "backup to %s: %s", path,
			 dst ? sqlite3_errmsg(dst) : sqlite3_errstr(rc));
	if (sqlite3_close(dst) != SQLITE_OK && rc == SQLITE_OK) {
		snprintf(err, errlen, "backup to %s: cannot close the copy", path);
		rc = SQLITE_ERROR;
	}
	return rc;
}

/*
 * A new file (0600: the ledger names people) of a random name beside
 * PATH in its directory DFD, its name into NAME: the descriptor, or -1
 * with the reason in ERR.
 */
static int backup_file(int dfd, const char *path, const char *dir, char *name, size_t namelen,
		       char *err, size_t errlen)
{
	for (int tries = 0;; tries++) {
		unsigned char r[6];
		if (getrandom(r, sizeof(r), 0) != (ssize_t)sizeof(r)) {
			snprintf(err, errlen, "backup to %s: getrandom: %s", path, strerror(errno));
			return -1;
		}
		snprintf(name, namelen, ".kaohe-backup-%02x%02x%02x%02x%02x%02x", r[0], r[1], r[2],
			 r[3], r[4], r[5]);
		int fd =
			openat(dfd, name, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
		if (fd >= 0)
			return fd;
		if (errno != EEXIST || tries == 10) {
			snprintf(err, errlen, "backup to %s: cannot make a file in %s: %s", path,
				 dir, strerror(errno));
			return -1;
		}
	}
}

int store_backup(struct store *st, const char *path, bool *refused, char *err, size_t errlen)
{
	char dir[PATH_MAX], name[64];
	const char *base;

	*refused = true;
	int dfd = backup_dir(st, path, dir, sizeof(dir), &base, err, errlen);
	if (dfd < 0)
		return -1;
	*refused = false;
	/*
	 * The copy is made under a name of its own and then renamed to PATH
	 * by a rename that replaces nothing, so nobody sees half a copy and a
	 * file that appears at PATH meanwhile wins.  Both names are taken
	 * relative to the directory opened and checked, never looked up again.
	 */
	int fd = backup_file(dfd, path, dir, name, sizeof(name), err, errlen);
	if (fd < 0) {
		close(dfd);
		return -1;
	}
	if (copy_into(st, fd, path, err, errlen) != SQLITE_OK)
		goto fail;
	if (fsync(fd) < 0) {
		snprintf(err, errlen, "backup to %s: fsync: %s", path, strerror(errno));
		goto fail;
	}
	int rc = renameat2(dfd, name, dfd, base, RENAME_NOREPLACE);
	if (rc < 0 && errno == EINVAL) {
		/* A file system without RENAME_NOREPLACE: link() replaces nothing either. */
		rc = linkat(dfd, name, dfd, base, 0);
	}
	if (rc < 0) {
		*refused = errno == EEXIST;
		if (errno == EEXIST)
			snprintf(err, errlen,
				 "%s appeared meanwhile; a backup never replaces a file", path);
		else
			snprintf(err, errlen, "backup to %s: %s", path, strerror(errno));
		goto fail;
	}
	fsync(dfd);
	/* After a rename it is gone already; after a link, the copy is PATH too. */
	unlinkat(dfd, name, 0);
	close(fd);
	close(dfd);
	return 0;
fail:
	if (unlinkat(dfd, name, 0) < 0)
		log_warn("backup: cannot remove %s/%s", dir, name);
	close(fd);
	close(dfd);
	return -1;
}

int store_audit_add(struct store *st, int64_t at, const char *actor, const char *command,
		    const char *result)
{
	sqlite3_stmt *s = stmt(st, S_AUDIT_ADD);
	if (s == NULL)
		return -1;
	sqlite3_bind_int64(s, 1, at);
	sqlite3_bind_text(s, 2, actor, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 3, command, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 4, result, -1, SQLITE_STATIC);
	return run_done(st, s);
}

int store_audit(struct store *st, int n,
		int (*fn)(int64_t id, int64_t at, const char *actor, const char *command,
			  const char *result, void *arg),
		void *arg)
{
	sqlite3_stmt *s = stmt(st, S_AUDIT);
	int rc, ret = 0;
	if (s == NULL)
		return -1;
	sqlite3_bind_int(s, 1, n);
	while ((rc = sqlite3_step(s)) == SQLITE_ROW)
		if ((ret = fn(sqlite3_column_int64(s, 0), sqlite3_column_int64(s, 1),
			      col_text(s, 2), col_text(s, 3), col_text(s, 4), arg)) != 0)
			break;
	sqlite3_reset(s);
	sqlite3_clear_bindings(s);
	return rc == SQLITE_ROW || rc == SQLITE_DONE ? ret : -1;
}

/* --- the outbox ------------------------------------------------------ */

const char *store_outbox_state_name(enum outbox_state s)
{
	static const char *const names[OUTBOX_NSTATES] = { "pending", "inflight", "sent",
							   "failed",  "dead",     "cancelled" };
	return (unsigned)s < OUTBOX_NSTATES ? names[s] : "?";
}

int store_outbox_state_find(const char *s)
{
	for (int i = 0; i < OUTBOX_NSTATES; i++)
		if (strcmp(s, store_outbox_state_name((enum outbox_state)i)) == 0)
			return i;
	return -1;
}

/* A text column, "" for NULL. */
static const char *col_str(sqlite3_stmt *s, int i)
{
	const char *t = col_text(s, i);
	return t ? t : "";
}

static void outbox_read(sqlite3_stmt *s, struct outbox_row *r)
{
	r->id = sqlite3_column_int64(s, 0);
	r->at = sqlite3_column_int64(s, 1);
	r->kind = col_str(s, 2);
	r->unit = col_str(s, 3);
	r->dept = col_str(s, 4);
	r->subject = col_str(s, 5);
	r->channel = col_str(s, 6);
	r->address = col_str(s, 7);
	r->name = col_str(s, 8);
	r->mentions = col_str(s, 9);
	r->state = (enum outbox_state)sqlite3_column_int(s, 10);
	r->attempts = sqlite3_column_int(s, 11);
	r->next_ms = sqlite3_column_int64(s, 12);
	r->since_ms = sqlite3_column_int64(s, 13);
	r->updated_at = sqlite3_column_int64(s, 14);
	r->sent_at = sqlite3_column_int64(s, 15);
	r->code = (long)sqlite3_column_int64(s, 16);
	r->error = col_str(s, 17);
	r->year = sqlite3_column_int(s, 18);
}

/* Step S, calling FN for each row, then reset it.  0 or -1. */
static int outbox_each(struct store *st, sqlite3_stmt *s,
		       int (*fn)(const struct outbox_row *r, void *arg), void *arg)
{
	int rc, ret = 0;
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		struct outbox_row r;
		outbox_read(s, &r);
		if (fn(&r, arg) < 0) {
			ret = -1;
			break;
		}
	}
	if (ret == 0 && rc != SQLITE_DONE) {
		log_warnx("store: outbox: %s", sqlite3_errmsg(st->c->db));
		ret = -1;
	}
	sqlite3_reset(s);
	sqlite3_clear_bindings(s);
	return ret;
}

int store_outbox_add(struct store *st, const struct outbox_row *r, int64_t *id)
{
	sqlite3_stmt *s = stmt(st, S_OB_ADD);
	if (s == NULL)
		return -1;
	sqlite3_bind_int64(s, 1, r->at);
	sqlite3_bind_text(s, 2, r->kind, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 3, r->unit ? r->unit : "", -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 4, r->dept ? r->dept : "", -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 5, r->subject, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 6, r->channel, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 7, r->address ? r->address : "", -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 8, r->name ? r->name : "", -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 9, r->mentions ? r->mentions : "", -1, SQLITE_STATIC);
	if (run_done(st, s) < 0)
		return -1;
	*id = sqlite3_last_insert_rowid(st->c->db);
	return 0;
}

int store_outbox_key_add(struct store *st, const char *unit, const char *occ, const char *slot,
			 const char *recipient, int64_t id)
{
	sqlite3_stmt *s = stmt(st, S_OB_KEY_ADD);
	if (s == NULL)
		return -1;
	sqlite3_bind_text(s, 1, unit, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 2, occ, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 3, slot, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 4, recipient, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 5, id);
	if (run_done(st, s) < 0)
		return -1;
	return sqlite3_changes(st->c->db) > 0;
}

int store_outbox_drop(struct store *st, int64_t id)
{
	sqlite3_stmt *s = stmt(st, S_OB_DROP);
	assert(st->c->depth > 0); /* a row of this transaction's */
	if (s == NULL)
		return -1;
	sqlite3_bind_int64(s, 1, id);
	return run_done(st, s);
}

int store_outbox_set_subject(struct store *st, int64_t id, const char *subject)
{
	sqlite3_stmt *s = stmt(st, S_OB_SUBJECT);
	if (s == NULL)
		return -1;
	sqlite3_bind_int64(s, 1, id);
	sqlite3_bind_text(s, 2, subject, -1, SQLITE_STATIC);
	return run_done(st, s);
}

int store_outbox_claim(struct store *st, const char *channel, int64_t now_ms, int limit,
		       int (*fn)(const struct outbox_row *r, void *arg), void *arg)
{
	sqlite3_stmt *s = stmt(st, S_OB_CLAIM);
	if (s == NULL)
		return -1;
	sqlite3_bind_text(s, 1, channel, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 2, now_ms);
	sqlite3_bind_int(s, 3, limit);
	sqlite3_bind_int64(s, 4, now_ms / 1000);
	return outbox_each(st, s, fn, arg);
}

int store_outbox_sent(struct store *st, const int64_t *ids, size_t n, long code, int64_t now)
{
	sqlite3_stmt *s = stmt(st, S_OB_SENT);
	struct sbuf list;
	if (s == NULL)
		return -1;
	sbuf_init(&list);
	SBUF_LIT(&list, "[");
	for (size_t i = 0; i < n; i++)
		sbuf_printf(&list, "%s%lld", i ? "," : "", (long long)ids[i]);
	SBUF_LIT(&list, "]");
	sqlite3_bind_text(s, 1, list.buf, (int)list.len, SQLITE_STATIC);
	sqlite3_bind_int64(s, 2, code);
	sqlite3_bind_int64(s, 3, now);
	int rc = run_done(st, s);
	sbuf_free(&list);
	return rc;
}

int store_outbox_next(struct store *st, const char *channel, int64_t *next_ms)
{
	sqlite3_stmt *s = stmt(st, channel ? S_OB_NEXT : S_OB_NEXT_ANY);
	int ret = -1;
	if (s == NULL)
		return -1;
	if (channel)
		sqlite3_bind_text(s, 1, channel, -1, SQLITE_STATIC);
	if (sqlite3_step(s) == SQLITE_ROW) {
		ret = sqlite3_column_type(s, 0) != SQLITE_NULL;
		*next_ms = sqlite3_column_int64(s, 0);
	} else {
		log_warnx("store: outbox: %s", sqlite3_errmsg(st->c->db));
	}
	sqlite3_reset(s);
	sqlite3_clear_bindings(s);
	return ret;
}

int store_outbox_update(struct store *st, int64_t id, enum outbox_state state, int attempts,
			int64_t next_ms, long code, const char *error, int64_t now)
{
	sqlite3_stmt *s = stmt(st, S_OB_UPDATE);
	if (s == NULL)
		return -1;
	sqlite3_bind_int64(s, 1, id);
	sqlite3_bind_int(s, 2, (int)state);
	sqlite3_bind_int(s, 3, attempts);
	sqlite3_bind_int64(s, 4, next_ms);
	sqlite3_bind_int64(s, 5, code);
	sqlite3_bind_text(s, 6, error ? error : "", -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 7, now);
	return run_done(st, s);
}

int store_outbox_requeue(struct store *st)
{
	sqlite3_stmt *s = stmt(st, S_OB_REQUEUE);
	if (s == NULL || run_done(st, s) < 0)
		return -1;
	return sqlite3_changes(st->c->db);
}

int store_outbox_retry(struct store *st, int64_t id, int64_t now)
{
	sqlite3_stmt *s = stmt(st, S_OB_RETRY);
	if (s == NULL)
		return -1;
	sqlite3_bind_int64(s, 1, id);
	sqlite3_bind_int64(s, 2, now);
	if (run_done(st, s) < 0)
		return -1;
	return sqlite3_changes(st->c->db) > 0;
}

int store_outbox_get(struct store *st, int64_t id, struct outbox_row *r)
{
	sqlite3_stmt *s = stmt(st, S_OB_GET);
	if (s == NULL)
		return -1;
	sqlite3_bind_int64(s, 1, id);
	int rc = sqlite3_step(s);
	int ret = rc == SQLITE_ROW ? 1 : rc == SQLITE_DONE ? 0 : -1;
	if (ret == 1) {
		outbox_read(s, r);
		const char **strs[] = { &r->kind,    &r->unit,     &r->dept,
					&r->subject, &r->channel,  &r->address,
					&r->name,    &r->mentions, &r->error };
		keep_strings(st, strs, 9);
	} else if (ret < 0) {
		log_warnx("store: outbox: %s", sqlite3_errmsg(st->c->db));
	}
	sqlite3_reset(s);
	sqlite3_clear_bindings(s);
	return ret;
}

int store_outbox_list(struct store *st, int state, const char *unit, int limit,
		      int (*fn)(const struct outbox_row *r, void *arg), void *arg)
{
	enum stmt_id id = unit ? (state >= 0 ? S_OB_LIST_UNIT_STATE : S_OB_LIST_UNIT)
			       : (state >= 0 ? S_OB_LIST_STATE : S_OB_LIST);
	sqlite3_stmt *s = stmt(st, id);
	if (s == NULL)
		return -1;
	sqlite3_bind_int(s, 1, limit);
	if (state >= 0)
		sqlite3_bind_int(s, 2, state);
	if (unit)
		sqlite3_bind_text(s, 3, unit, -1, SQLITE_STATIC);
	return outbox_each(st, s, fn, arg);
}

int store_outbox_counts(struct store *st, int64_t counts[OUTBOX_NSTATES])
{
	sqlite3_stmt *s = stmt(st, S_OB_COUNTS);
	int rc;
	if (s == NULL)
		return -1;
	memset(counts, 0, OUTBOX_NSTATES * sizeof(*counts));
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		int state = sqlite3_column_int(s, 0);
		if (state >= 0 && state < OUTBOX_NSTATES)
			counts[state] = sqlite3_column_int64(s, 1);
	}
	sqlite3_reset(s);
	if (rc != SQLITE_DONE) {
		log_warnx("store: outbox: %s", sqlite3_errmsg(st->c->db));
		return -1;
	}
	return 0;
}

int store_schema_latest(void)
{
	return (int)(sizeof(migrations) / sizeof(migrations[0]));
}

/* Run SQL (no parameters) and hand each row to FN; 0, or -1 logged as WHAT. */
static int each_row(struct store *st, const char *what, const char *sql,
		    int (*fn)(sqlite3_stmt *s, void *arg), void *arg)
{
	sqlite3_stmt *s;
	int rc;

	if (sqlite3_prepare_v2(st->c->db, sql, -1, &s, NULL) != SQLITE_OK) {
		log_warnx("store: %s: %s", what, sqlite3_errmsg(st->c->db));
		return -1;
	}
	while ((rc = sqlite3_step(s)) == SQLITE_ROW)
		if (fn(s, arg) < 0)
			break;
	sqlite3_finalize(s);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
		log_warnx("store: %s: %s", what, sqlite3_errmsg(st->c->db));
		return -1;
	}
	return rc == SQLITE_DONE ? 0 : -1;
}

struct stats_call {
	int (*fn)(const char *channel, enum outbox_state state, int64_t count, int64_t oldest_at,
		  void *arg);
	void *arg;
};

static int outbox_stats_row(sqlite3_stmt *s, void *arg)
{
	struct stats_call *c = arg;
	return c->fn((const char *)sqlite3_column_text(s, 0), sqlite3_column_int(s, 1),
		     sqlite3_column_int64(s, 2), sqlite3_column_int64(s, 3), c->arg);
}

int store_outbox_stats(struct store *st,
		       int (*fn)(const char *channel, enum outbox_state state, int64_t count,
				 int64_t oldest_at, void *arg),
		       void *arg)
{
	struct stats_call c = { .fn = fn, .arg = arg };

	/* Through the index on state: the sent and cancelled rows, which
	 * only grow (millions in a large plan's year), are not read. */
	return each_row(
		st, "outbox statistics",
		"SELECT channel, state, count(*), min(at) FROM outbox WHERE state IN (" SQL_STR(SQL_PENDING) ", " SQL_STR(
			SQL_INFLIGHT) ", " SQL_STR(SQL_FAILED) ", " SQL_STR(SQL_DEAD) ") GROUP BY channel, state"
										      " ORDER BY channel, state",
		outbox_stats_row, &c);
}
