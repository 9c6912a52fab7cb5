/*
 * test_store — the SQLite store: opening (memory, file, WAL, schema
 * versions), plan sync, nested transactions, the ledger and its as-of
 * queries, moves, snapshots, audit, the high-water mark, and the outbox
 * (rows, their states, due and next attempts, retry, the reminded keys).
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <dirent.h>
#include <dlfcn.h>
#include <sqlite3.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "kaohe/log.h"
#include "kaohe/plan.h"
#include "kaohe/store.h"
#include "kaohe/util.h"
#include "support.h"

/* ---- fixtures -------------------------------------------------------- */

/* A plan of units UNITS (NULL-terminated) with rows "1" (no kinds) and
 * "6c" (pushback finding, resolved award). */
static struct plan *mini_plan(const char *const *units)
{
	struct plan *p = plan_new();
	size_t n = 0;

	calendar_init(&p->cal, 2020);
	p->year = 2020;
	while (units[n])
		n++;
	p->nunits = n;
	p->units = calloc(n + 1, sizeof(*p->units));
	for (size_t i = 0; i < n; i++) {
		p->units[i].id = strdup(units[i]);
		p->units[i].name = strdup(units[i]);
	}
	p->ncats = 1;
	p->cats = calloc(1, sizeof(*p->cats));
	p->cats[0].id = strdup("basic");
	p->cats[0].name = strdup("basic");
	p->cats[0].max = 800;
	p->nrows = 2;
	p->rows = calloc(2, sizeof(*p->rows));
	p->rows[0].id = strdup("1");
	p->rows[0].max = 300;
	p->rows[1].id = strdup("6c");
	p->rows[1].max = 500;
	p->rows[1].nkinds = 2;
	p->rows[1].kinds = calloc(2, sizeof(struct plan_kind));
	p->rows[1].kinds[0].id = strdup("pushback");
	p->rows[1].kinds[0].per = 20;
	p->rows[1].kinds[0].cap = 500;
	p->rows[1].kinds[1].id = strdup("resolved");
	p->rows[1].kinds[1].award = true;
	p->rows[1].kinds[1].per = 10;
	p->rows[1].kinds[1].cap = 500;
	plan_finish(p);
	return p;
}

static const char *const abc[] = { "a", "b", "c", NULL };

struct store_fx {
	struct plan *p;
	struct store *st;
	char dir[64];
	char path[128];
};

static int setup_mem(void **state)
{
	struct store_fx *f = calloc(1, sizeof(*f));
	f->p = mini_plan(abc);
	f->st = open_synced(":memory:", f->p);
	*state = f;
	return 0;
}

static int setup_file(void **state)
{
	struct store_fx *f = calloc(1, sizeof(*f));
	snprintf(f->dir, sizeof(f->dir), "/tmp/kaohe-test-store-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->path, sizeof(f->path), "%s/kaohe.db", f->dir);
	f->p = mini_plan(abc);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct store_fx *f = *state;
	store_close(f->st);
	plan_free(f->p);
	if (f->dir[0]) {
		char x[160];
		unlink(f->path);
		snprintf(x, sizeof(x), "%s-wal", f->path);
		unlink(x);
		snprintf(x, sizeof(x), "%s-shm", f->path);
		unlink(x);
		rmdir(f->dir);
	}
	free(f);
	return 0;
}

/* One integer from SQL run on a separate connection to PATH. */
static int64_t sql_int(const char *path, const char *sql)
{
	sqlite3 *db;
	sqlite3_stmt *s;
	int64_t v = -1;
	assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &s, NULL), SQLITE_OK);
	if (sqlite3_step(s) == SQLITE_ROW)
		v = sqlite3_column_int64(s, 0);
	sqlite3_finalize(s);
	sqlite3_close(db);
	return v;
}

static void sql_text(const char *path, const char *sql, char *out, size_t len)
{
	sqlite3 *db;
	sqlite3_stmt *s;
	out[0] = '\0';
	assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &s, NULL), SQLITE_OK);
	if (sqlite3_step(s) == SQLITE_ROW)
		snprintf(out, len, "%s", (const char *)sqlite3_column_text(s, 0));
	sqlite3_finalize(s);
	sqlite3_close(db);
}

/* Run SQL on a separate connection to PATH. */
static void sql_exec(const char *path, const char *sql)
{
	sqlite3 *db;
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
}

static int bucket_of(const struct plan *p, const char *row, const char *kind)
{
	int r = plan_row_find(p, row);
	assert_true(r >= 0);
	if (kind == NULL)
		return p->rows[r].bucket;
	int k = plan_kind_find(&p->rows[r], kind);
	assert_true(k >= 0);
	return p->rows[r].kinds[k].bucket;
}

static struct entry mk(enum entry_type type, int unit, const char *row, const char *occ,
		       const char *kind, int bucket, int64_t points, int64_t at)
{
	struct entry e = { .unit = unit,
			   .type = type,
			   .bucket = bucket,
			   .count = 1,
			   .points = points,
			   .at = at,
			   .recorded_at = at };
	snprintf(e.row, sizeof(e.row), "%s", row);
	snprintf(e.occ, sizeof(e.occ), "%s", occ ? occ : "");
	snprintf(e.kind, sizeof(e.kind), "%s", kind ? kind : "");
	snprintf(e.actor, sizeof(e.actor), "tester");
	return e;
}

/* Open a transaction (nested in any open one) and add E in it; its id. */
static int64_t begin_add(struct store *st, const struct entry *e)
{
	int64_t id = 0;
	assert_int_equal(store_begin(st), 0);
	assert_int_equal(store_entry_add(st, e, &id), 0);
	return id;
}

static int64_t add(struct store *st, const struct entry *e)
{
	int64_t id = begin_add(st, e);
	assert_int_equal(store_commit(st), 0);
	assert_true(id > 0);
	return id;
}

static int64_t submit(struct store *st, int unit, const char *occ, int64_t at)
{
	struct entry e = mk(ENTRY_SUBMISSION, unit, "1", occ, NULL, -1, 0, at);
	return add(st, &e);
}

static int64_t metric(struct store *st, int unit, const char *m, int64_t value, int64_t at)
{
	struct entry e = mk(ENTRY_METRIC, unit, "3", NULL, m, -1, 0, at);
	e.value = value;
	return add(st, &e);
}

static void void_entry(struct store *st, int64_t id, int64_t at)
{
	assert_int_equal(store_begin(st), 0);
	assert_int_equal(store_entry_void(st, id, at, "admin", "data-entry error"), 0);
	assert_int_equal(store_commit(st), 0);
}

/* ---- opening --------------------------------------------------------- */

static void test_open_memory(void **state)
{
	struct store_fx *f = *state;

	assert_non_null(f->st);
	assert_true(store_hwm(f->st) == INT64_MIN);
	/* usable at once: an entry goes in and comes back */
	struct entry e = mk(ENTRY_FINDING, 1, "6c", NULL, "pushback",
			    bucket_of(f->p, "6c", "pushback"), -40, 1000);
	int64_t id = add(f->st, &e);
	struct entry g;
	assert_int_equal(store_entry_get(f->st, id, &g), 1);
	assert_int_equal(g.unit, 1);
}

static void test_open_file_wal(void **state)
{
	struct store_fx *f = *state;
	char mode[32];

	f->st = open_synced(f->path, f->p);
	sql_text(f->path, "PRAGMA journal_mode", mode, sizeof(mode));
	assert_string_equal(mode, "wal");
	/* the schema is at a known version (>= 1) and has its tables */
	assert_true(sql_int(f->path, "PRAGMA user_version") >= 1);
	assert_int_equal(sql_int(f->path,
				 "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table'"
				 " AND name IN ('entries', 'moves', 'snapshots', 'audit')"),
			 4);
}

static void test_reopen_keeps_data(void **state)
{
	struct store_fx *f = *state;
	int b = bucket_of(f->p, "6c", "resolved");
	struct entry e = mk(ENTRY_AWARD, 2, "6c", NULL, "resolved", b, 120, 5000);
	int64_t id, version;

	f->st = open_synced(f->path, f->p);
	e.count = 12;
	e.note = "twelve complaints";
	id = add(f->st, &e);
	assert_int_equal(store_begin(f->st), 0);
	assert_int_equal(store_set_hwm(f->st, 7777), 0);
	assert_int_equal(store_commit(f->st), 0);
	store_close(f->st);
	f->st = NULL;
	version = sql_int(f->path, "PRAGMA user_version");

	f->st = open_synced(f->path, f->p);
	/* reopening neither migrates again nor loses anything */
	assert_int_equal(sql_int(f->path, "PRAGMA user_version"), version);
	assert_int_equal(store_hwm(f->st), 7777);
	struct entry g;
	assert_int_equal(store_entry_get(f->st, id, &g), 1);
	assert_int_equal(g.type, ENTRY_AWARD);
	assert_int_equal(g.unit, 2);
	assert_int_equal(g.bucket, b);
	assert_int_equal(g.count, 12);
	assert_int_equal(g.points, 120);
	assert_string_equal(g.kind, "resolved");
	assert_string_equal(g.note, "twelve complaints");
}

static void test_newer_schema_refused(void **state)
{
	struct store_fx *f = *state;
	char err[512] = "";

	/* a database written by a future kaohed */
	sql_exec(f->path, "PRAGMA user_version = 999");

	f->st = store_open(f->path, 2020, err, sizeof(err));
	assert_null(f->st);
	assert_non_null(strstr(err, "999"));
	/* and it was left alone */
	assert_int_equal(sql_int(f->path, "PRAGMA user_version"), 999);
}

static void test_old_schema_migrated(void **state)
{
	struct store_fx *f = *state;

	/* a fresh file starts at version 0 and is migrated to the latest */
	f->st = open_synced(f->path, f->p);
	int64_t latest = sql_int(f->path, "PRAGMA user_version");
	assert_true(latest >= 1);
	store_close(f->st);
	f->st = NULL;
	/* a version one past the latest is refused, the latest itself accepted */
	char sql[64], err[256];
	snprintf(sql, sizeof(sql), "PRAGMA user_version = %lld", (long long)latest + 1);
	sql_exec(f->path, sql);
	assert_null(store_open(f->path, 2020, err, sizeof(err)));
	snprintf(sql, sizeof(sql), "PRAGMA user_version = %lld", (long long)latest);
	sql_exec(f->path, sql);
	f->st = open_synced(f->path, f->p);
}

/* ---- plan sync ------------------------------------------------------- */

static void test_sync_plan_idempotent(void **state)
{
	struct store_fx *f = *state;
	int b = bucket_of(f->p, "6c", "pushback");
	struct entry e = mk(ENTRY_FINDING, 1, "6c", NULL, "pushback", b, -60, 100);

	f->st = open_synced(f->path, f->p);
	int64_t id = add(f->st, &e);
	for (int i = 0; i < 3; i++)
		sync_plan(f->st, f->p);
	/* 3 units, buckets: row 1 (1), row 6c (1 + 2 kinds) */
	assert_int_equal(sql_int(f->path, "SELECT COUNT(*) FROM units"), 3);
	assert_int_equal(sql_int(f->path, "SELECT COUNT(*) FROM buckets"), 4);
	struct entry g;
	assert_int_equal(store_entry_get(f->st, id, &g), 1);
	assert_int_equal(g.unit, 1);
	assert_int_equal(g.bucket, b);
	int64_t acc[3 * 4] = { 0 };
	assert_int_equal(store_accumulate(f->st, 100, acc), 0);
	assert_int_equal(acc[1 * 4 + b], -60);
}

/* A reload may reorder units: entries follow the unit's id, not its index. */
static void test_sync_plan_remaps(void **state)
{
	struct store_fx *f = *state;
	static const char *const cab[] = { "c", "b", "x", "a", NULL };
	struct plan *p2 = mini_plan(cab);
	int b = bucket_of(f->p, "6c", "resolved");
	struct entry e = mk(ENTRY_AWARD, 0 /* a */, "6c", NULL, "resolved", b, 30, 100);

	int64_t id = add(f->st, &e);
	sync_plan(f->st, p2);
	struct entry g;
	assert_int_equal(store_entry_get(f->st, id, &g), 1);
	assert_int_equal(g.unit, 3); /* "a" is now index 3 */
	assert_int_equal(g.bucket, bucket_of(p2, "6c", "resolved"));
	int64_t acc[4 * 4] = { 0 };
	assert_int_equal(store_accumulate(f->st, 100, acc), 0);
	assert_int_equal(acc[3 * p2->nbuckets + (size_t)bucket_of(p2, "6c", "resolved")], 30);
	assert_int_equal(acc[0 * p2->nbuckets + (size_t)bucket_of(p2, "6c", "resolved")], 0);
	/* the store keeps the new mapping for writes as well */
	struct entry e2 = mk(ENTRY_AWARD, 2 /* x */, "6c", NULL, "resolved",
			     bucket_of(p2, "6c", "resolved"), 10, 200);
	int64_t id2 = add(f->st, &e2);
	assert_int_equal(store_entry_get(f->st, id2, &g), 1);
	assert_int_equal(g.unit, 2);
	store_close(f->st);
	f->st = NULL;
	plan_free(p2);
}

/* ---- transactions ---------------------------------------------------- */

static void test_savepoint_rollback_keeps_outer(void **state)
{
	struct store_fx *f = *state;
	struct entry a = mk(ENTRY_SUBMISSION, 0, "1", "1", NULL, -1, 0, 100);
	struct entry b = mk(ENTRY_SUBMISSION, 1, "1", "1", NULL, -1, 0, 200);
	struct entry g;

	int64_t ida = begin_add(f->st, &a);
	int64_t idb = begin_add(f->st, &b);
	store_rollback(f->st);
	assert_int_equal(store_set_hwm(f->st, 42), 0);
	assert_int_equal(store_commit(f->st), 0);

	assert_int_equal(store_entry_get(f->st, ida, &g), 1);
	assert_int_equal(store_entry_get(f->st, idb, &g), 0);
	assert_int_equal(store_hwm(f->st), 42);
	assert_int_equal(store_first_submission(f->st, 0, "1"), 100);
	assert_true(store_first_submission(f->st, 1, "1") == INT64_MAX);
}

static void test_outer_rollback_discards_all(void **state)
{
	struct store_fx *f = *state;
	struct entry a = mk(ENTRY_SUBMISSION, 0, "1", "1", NULL, -1, 0, 100);
	struct entry b = mk(ENTRY_SUBMISSION, 1, "1", "1", NULL, -1, 0, 200);
	struct entry g;

	int64_t ida = begin_add(f->st, &a);
	int64_t idb = begin_add(f->st, &b);
	assert_int_equal(store_commit(f->st), 0); /* releases the savepoint only */
	assert_int_equal(store_set_hwm(f->st, 42), 0);
	store_rollback(f->st);

	assert_int_equal(store_entry_get(f->st, ida, &g), 0);
	assert_int_equal(store_entry_get(f->st, idb, &g), 0);
	assert_true(store_hwm(f->st) == INT64_MIN);
	/* and the store is usable afterwards */
	int64_t idc = submit(f->st, 2, "1", 300);
	assert_int_equal(store_entry_get(f->st, idc, &g), 1);
}

static void test_nested_three_levels(void **state)
{
	struct store_fx *f = *state;
	struct entry a = mk(ENTRY_SUBMISSION, 0, "1", "1", NULL, -1, 0, 100);
	struct entry b = mk(ENTRY_SUBMISSION, 1, "1", "1", NULL, -1, 0, 200);
	struct entry c = mk(ENTRY_SUBMISSION, 2, "1", "1", NULL, -1, 0, 300);
	struct entry g;

	int64_t ida = begin_add(f->st, &a);
	int64_t idb = begin_add(f->st, &b);
	int64_t idc = begin_add(f->st, &c);
	store_rollback(f->st);                    /* drops c */
	assert_int_equal(store_commit(f->st), 0); /* keeps b in a */
	assert_int_equal(store_commit(f->st), 0);
	assert_int_equal(store_entry_get(f->st, ida, &g), 1);
	assert_int_equal(store_entry_get(f->st, idb, &g), 1);
	assert_int_equal(store_entry_get(f->st, idc, &g), 0);
}

/*
 * Room for this many more pages in every connection opened while
 * limit_pages() is registered: SQLite then fails as on a full disk
 * (SQLITE_FULL), and rolls the whole transaction back itself.
 */
static int g_page_limit;

static int limit_pages(sqlite3 *db, const char **err, const void *api)
{
	(void)err;
	(void)api;
	char sql[64];
	snprintf(sql, sizeof(sql), "PRAGMA max_page_count = %d", g_page_limit);
	return sqlite3_exec(db, sql, NULL, NULL, NULL);
}

static void test_full_disk_reports_the_first_error(void **state)
{
	struct store_fx *f = *state;
	struct entry g;
	char *note = malloc(20001);
	memset(note, 'x', 20000);
	note[20000] = '\0';

	f->st = open_synced(f->path, f->p);
	store_close(f->st);
	g_page_limit = (int)sql_int(f->path, "PRAGMA page_count") + 30;
	sqlite3_auto_extension((void (*)(void))limit_pages);
	char err[256];
	f->st = store_open(f->path, 2020, err, sizeof(err));
	sqlite3_reset_auto_extension();
	assert_non_null(f->st);
	sync_plan(f->st, f->p);

	int committed = 0, failed = 0;
	int64_t id = 0;
	for (int i = 0; i < 200 && !failed; i++) {
		struct entry e = mk(ENTRY_SUBMISSION, i % 3, "1", "1", NULL, -1, 0, 100 + i);
		e.note = note;
		assert_int_equal(store_begin(f->st), 0);
		if (store_entry_add(f->st, &e, &id) < 0) {
			failed = 1;
			store_rollback(f->st);
		} else if (store_commit(f->st) < 0) {
			failed = 2;
		} else {
			committed++;
		}
	}
	free(note);
	if (!failed)
		fail_msg("200 entries of 20 kB went into a database of %d pages", g_page_limit);
	/* what the caller reports is why it failed, not what the rollback said */
	if (strstr(store_errmsg(f->st), "database or disk is full") == NULL)
		fail_msg("after a failed %s: \"%s\"", failed == 1 ? "insert" : "commit",
			 store_errmsg(f->st));
	assert_int_equal(store_in_transaction(f->st), 0);
	/* nothing of the failed transaction is kept, everything before it is */
	assert_i64(sql_int(f->path, "SELECT COUNT(*) FROM entries"), committed);
	assert_true(committed > 0);
	/* the store goes on: a read, and the next statement's own outcome */
	assert_int_equal(store_entry_get(f->st, 1, &g), 1);
	assert_null(strstr(store_errmsg(f->st), "full"));
}

/* ---- backup ---------------------------------------------------------- */

/* store_backup(PATH) refused: the message holds WANT; nothing is at PATH. */
static void backup_refused(struct store *st, const char *path, const char *want)
{
	char err[1024];
	bool refused = false;
	struct stat sb;
	bool was = lstat(path, &sb) == 0;

	if (store_backup(st, path, &refused, err, sizeof(err)) == 0)
		fail_msg("backup to %s was written", path);
	if (!refused || strstr(err, want) == NULL)
		fail_msg("backup to %s: %s \"%s\", expected a refusal naming \"%s\"", path,
			 refused ? "refused" : "failed", err, want);
	if (!was)
		assert_int_equal(lstat(path, &sb), -1);
}

/* The names in DIR that begin with PREFIX. */
static int count_named(const char *dir, const char *prefix)
{
	char cmd[512];
	snprintf(cmd, sizeof(cmd), "ls -A '%s' | grep -c '^%s'", dir, prefix);
	FILE *p = popen(cmd, "r");
	int n = -1;
	assert_non_null(p);
	assert_int_equal(fscanf(p, "%d", &n), 1);
	pclose(p);
	return n;
}

static void test_backup_paths(void **state)
{
	struct store_fx *f = *state;
	char path[512], target[512], other[512], shared[256];
	struct stat sb;
	bool refused = true;
	char err[1024];

	f->st = open_synced(f->path, f->p);
	submit(f->st, 0, "1", 100);

	/* a written copy: 0600, the data, and no directory of its own left */
	snprintf(path, sizeof(path), "%s/copy.db", f->dir);
	if (store_backup(f->st, path, &refused, err, sizeof(err)) < 0)
		fail_msg("backup to %s: %s", path, err);
	assert_int_equal(lstat(path, &sb), 0);
	assert_true(S_ISREG(sb.st_mode));
	assert_int_equal(sb.st_mode & 0777, 0600);
	assert_i64(sql_int(path, "SELECT COUNT(*) FROM entries"), 1);
	assert_int_equal(count_named(f->dir, ".kaohe-backup"), 0);
	/* written once, never again */
	backup_refused(f->st, path, "exists (a file)");
	assert_i64(sql_int(path, "SELECT COUNT(*) FROM entries"), 1);
	unlink(path);

	/* not an absolute plain path */
	backup_refused(f->st, "copy.db", "not an absolute path");
	snprintf(path, sizeof(path), "file:%s?mode=rwc", f->path);
	backup_refused(f->st, path, "is a URI");
	snprintf(path, sizeof(path), "file:%s/other.db", f->dir);
	snprintf(other, sizeof(other), "%s/other.db", f->dir);
	write_file(other, "precious");
	backup_refused(f->st, path, "is a URI");
	char text[64];
	FILE *o = fopen(other, "r");
	assert_non_null(fgets(text, sizeof(text), o));
	fclose(o);
	assert_string_equal(text, "precious");
	unlink(other);
	snprintf(path, sizeof(path), "%s/", f->dir);
	backup_refused(f->st, path, "does not name a file");

	/* the live database and its companions, existing or not */
	backup_refused(f->st, f->path, "live database");
	static const char *const sfx[] = { "-wal", "-shm", "-journal" };
	for (size_t i = 0; i < 3; i++) {
		snprintf(path, sizeof(path), "%s%s", f->path, sfx[i]);
		backup_refused(f->st, path, "live database");
	}
	snprintf(path, sizeof(path), "%s/./kaohe.db-journal", f->dir);
	backup_refused(f->st, path, "live database");
	assert_int_equal(lstat(path, &sb), -1);

	/* a link is never written through, dangling or not */
	snprintf(path, sizeof(path), "%s/link.db", f->dir);
	snprintf(target, sizeof(target), "%s/target.db", f->dir);
	assert_int_equal(symlink(target, path), 0);
	backup_refused(f->st, path, "a symbolic link");
	assert_int_equal(lstat(target, &sb), -1);
	unlink(path);

	/* a directory others may write: only when sticky */
	snprintf(shared, sizeof(shared), "%s/shared", f->dir);
	assert_int_equal(mkdir(shared, 0700), 0);
	assert_int_equal(chmod(shared, 0777), 0);
	snprintf(path, sizeof(path), "%s/copy.db", shared);
	backup_refused(f->st, path, "writable by others and not sticky");
	assert_int_equal(chmod(shared, 01777), 0);
	snprintf(target, sizeof(target), "%s/planted.db", shared);
	snprintf(other, sizeof(other), "%s/planted", shared);
	assert_int_equal(symlink(target, other), 0);
	backup_refused(f->st, other, "a symbolic link");
	assert_int_equal(lstat(target, &sb), -1);
	if (store_backup(f->st, path, &refused, err, sizeof(err)) < 0)
		fail_msg("backup to %s: %s", path, err);
	assert_i64(sql_int(path, "SELECT COUNT(*) FROM entries"), 1);
	/* a directory of someone else's */
	if (geteuid() == 0) {
		char theirs[200];
		snprintf(theirs, sizeof(theirs), "%s/theirs", f->dir);
		assert_int_equal(mkdir(theirs, 0755), 0);
		assert_int_equal(chown(theirs, 65534, 65534), 0);
		snprintf(target, sizeof(target), "%s/copy.db", theirs);
		backup_refused(f->st, target, "belongs to another user");
		rmdir(theirs);
	}
	/* a directory that is not there */
	snprintf(target, sizeof(target), "%s/nowhere/copy.db", f->dir);
	backup_refused(f->st, target, "nowhere");
	/* /proc's links are the daemon's own directories: by name, or through a link */
	backup_refused(f->st, "/proc/self/cwd/copy.db", "is under /proc");
	backup_refused(f->st, "//./../proc/self/cwd/copy.db", "is under /proc");
	char self[128];
	snprintf(self, sizeof(self), "%s/self", f->dir);
	assert_int_equal(symlink("/proc/self", self), 0);
	snprintf(target, sizeof(target), "%s/cwd/copy.db", self);
	backup_refused(f->st, target, "goes through a link of /proc");
	unlink(self);
	unlink(path);
	unlink(other);
	rmdir(shared);
}

/*
 * A directory swapped under a backup, as someone owning a directory above
 * it could do while the backup runs: the directory renamed away, a link
 * to a directory of theirs planted in its place, and the name of the
 * backup's private directory (which they can list) made there too.  The
 * swap is done by the first of realpath() and sqlite3_open_v2() that
 * store_backup() calls once it has checked the directory: both are
 * interposed here (this executable's definitions come first), each
 * passing on to the C library's or SQLite's own.
 */
static struct {
	bool armed;
	char dir[256], moved[256], evil[256];
	int opens; /* sqlite3_open_v2() calls while counting */
	bool counting;
} g_swap;

static void swap_now(void)
{
	if (!g_swap.armed)
		return;
	g_swap.armed = false;
	assert_int_equal(rename(g_swap.dir, g_swap.moved), 0);
	assert_int_equal(symlink(g_swap.evil, g_swap.dir), 0);
	DIR *d = opendir(g_swap.moved);
	struct dirent *e;
	assert_non_null(d);
	while ((e = readdir(d)) != NULL) {
		if (strncmp(e->d_name, ".kaohe-backup", 13) == 0) {
			char planted[512];
			snprintf(planted, sizeof(planted), "%s/%s", g_swap.evil, e->d_name);
			assert_int_equal(mkdir(planted, 0777), 0);
		}
	}
	closedir(d);
}

char *realpath(const char *path, char *resolved)
{
	char *(*real)(const char *, char *) =
		(char *(*)(const char *, char *))dlsym(RTLD_NEXT, "realpath");
	swap_now();
	return real(path, resolved);
}

int sqlite3_open_v2(const char *name, sqlite3 **db, int flags, const char *vfs)
{
	int (*real)(const char *, sqlite3 **, int, const char *) = (int (*)(
		const char *, sqlite3 **, int, const char *))dlsym(RTLD_NEXT, "sqlite3_open_v2");
	g_swap.opens += g_swap.counting;
	swap_now();
	return real(name, db, flags, vfs);
}

/* Every name in DIR and below it, one per line, sorted (the caller frees). */
static char *tree(const char *dir)
{
	char cmd[512];
	snprintf(cmd, sizeof(cmd), "cd '%s' && find . -mindepth 1 | sort", dir);
	FILE *p = popen(cmd, "r");
	assert_non_null(p);
	struct sbuf sb;
	sbuf_init(&sb);
	char line[512];
	while (fgets(line, sizeof(line), p))
		sbuf_puts(&sb, line);
	pclose(p);
	return sb.buf;
}

static void test_backup_swapped_directory(void **state)
{
	struct store_fx *f = *state;
	char up[128], path[512], copy[512];
	bool refused = true;
	char err[1024];

	f->st = open_synced(f->path, f->p);
	submit(f->st, 0, "1", 100);
	snprintf(up, sizeof(up), "%s/up", f->dir);
	snprintf(g_swap.dir, sizeof(g_swap.dir), "%s/backups", up);
	snprintf(g_swap.moved, sizeof(g_swap.moved), "%s/moved", up);
	snprintf(g_swap.evil, sizeof(g_swap.evil), "%s/evil", f->dir);
	assert_int_equal(mkdir(up, 0755), 0);
	assert_int_equal(mkdir(g_swap.dir, 0755), 0);
	assert_int_equal(mkdir(g_swap.evil, 0777), 0);
	snprintf(path, sizeof(path), "%s/copy.db", g_swap.dir);

	g_swap.armed = true;
	int rc = store_backup(f->st, path, &refused, err, sizeof(err));
	assert_false(g_swap.armed); /* the swap happened */
	/* Whatever came of it, nothing reached their directory... */
	char *theirs = tree(g_swap.evil);
	char *planted = tree(g_swap.moved);
	if (strstr(theirs, "kaohe.db") || strstr(theirs, "copy.db"))
		fail_msg("the backup went into the planted directory: %s", theirs);
	free(theirs);
	/* ...and it was written whole where it was checked, nothing of its own left. */
	if (rc < 0)
		fail_msg("backup to %s: %s", path, err);
	assert_string_equal(planted, "./copy.db\n");
	free(planted);
	snprintf(copy, sizeof(copy), "%s/copy.db", g_swap.moved);
	struct stat sb;
	assert_int_equal(lstat(copy, &sb), 0);
	assert_int_equal(sb.st_mode & 07777, 0600);
	assert_i64(sql_int(copy, "SELECT COUNT(*) FROM entries"), 1);
	remove_tree(up);
	remove_tree(g_swap.evil);
}

/* A file name the file system cannot hold is refused before anything is copied. */
static void test_backup_name_too_long(void **state)
{
	struct store_fx *f = *state;
	char path[512];

	f->st = open_synced(f->path, f->p);
	submit(f->st, 0, "1", 100);
	int n = snprintf(path, sizeof(path), "%s/", f->dir);
	memset(path + n, 'n', 300);
	path[n + 300] = '\0';
	g_swap.opens = 0;
	g_swap.counting = true;
	backup_refused(f->st, path, "the file name is 300 bytes long");
	g_swap.counting = false;
	assert_int_equal(g_swap.opens, 0);
	assert_int_equal(count_named(f->dir, ".kaohe-backup"), 0);
}

/* ---- entries --------------------------------------------------------- */

static void test_entry_add_get_void(void **state)
{
	struct store_fx *f = *state;
	static const char rule[] = "累计每件扣0.2分，最高扣5分";
	int b = bucket_of(f->p, "6c", "pushback");
	struct entry e = mk(ENTRY_FINDING, 2, "6c", NULL, "pushback", b, -600, 1000);
	struct entry g;
	int64_t id;

	e.count = 30;
	e.recorded_at = 1005;
	e.note = "thirty";
	e.rule = rule;
	e.auto_key = "k:c:6c:0";
	id = add(f->st, &e);
	assert_int_equal(store_entry_get(f->st, id, &g), 1);
	assert_int_equal(g.id, id);
	assert_int_equal(g.unit, 2);
	assert_int_equal(g.type, ENTRY_FINDING);
	assert_string_equal(g.row, "6c");
	assert_string_equal(g.occ, "");
	assert_string_equal(g.kind, "pushback");
	assert_int_equal(g.bucket, b);
	assert_int_equal(g.count, 30);
	assert_int_equal(g.points, -600);
	assert_int_equal(g.at, 1000);
	assert_int_equal(g.recorded_at, 1005);
	assert_string_equal(g.actor, "tester");
	assert_string_equal(g.note, "thirty");
	assert_string_equal(g.rule, rule);
	assert_string_equal(g.auto_key, "k:c:6c:0");
	assert_int_equal(g.voided_at, 0);

	assert_int_equal(store_begin(f->st), 0);
	assert_int_equal(store_entry_void(f->st, id, 2000, "admin", "appeal upheld"), 0);
	assert_int_equal(store_commit(f->st), 0);
	assert_int_equal(store_entry_get(f->st, id, &g), 1);
	assert_int_equal(g.voided_at, 2000);
	assert_string_equal(g.voided_by, "admin");
	assert_string_equal(g.void_reason, "appeal upheld");

	/* voiding twice fails and keeps the first void */
	assert_int_equal(store_begin(f->st), 0);
	assert_int_equal(store_entry_void(f->st, id, 3000, "other", "again"), -1);
	assert_int_equal(store_entry_void(f->st, id + 100, 3000, "other", "nothing"), -1);
	assert_int_equal(store_commit(f->st), 0);
	assert_int_equal(store_entry_get(f->st, id, &g), 1);
	assert_int_equal(g.voided_at, 2000);
	assert_string_equal(g.voided_by, "admin");
	assert_int_equal(store_entry_get(f->st, id + 100, &g), 0);
}

struct collect {
	int64_t ids[32];
	int n;
};

static int collect_entry(const struct entry *e, void *arg)
{
	struct collect *c = arg;
	c->ids[c->n++] = e->id;
	return 0;
}

static void test_entries_of_and_by_key(void **state)
{
	struct store_fx *f = *state;
	int b = bucket_of(f->p, "1", NULL);
	struct entry late = mk(ENTRY_LATE, 0, "1", "1", NULL, b, -200, 100);
	late.auto_key = "dl:a:1:0";
	int64_t i1 = add(f->st, &late);
	int64_t i2 = submit(f->st, 0, "1", 150);
	struct entry fnd = mk(ENTRY_FINDING, 0, "6c", NULL, "pushback",
			      bucket_of(f->p, "6c", "pushback"), -20, 160);
	int64_t i3 = add(f->st, &fnd);
	submit(f->st, 1, "1", 170);
	void_entry(f->st, i1, 200);
	struct entry miss = mk(ENTRY_MISSING, 0, "1", "1", NULL, b, -300, 200);
	miss.auto_key = "dl:a:1:0";
	int64_t i4 = add(f->st, &miss);

	struct collect c = { .n = 0 };
	assert_int_equal(store_entries_of(f->st, 0, NULL, collect_entry, &c), 0);
	assert_int_equal(c.n, 4);
	assert_int_equal(c.ids[0], i1);
	assert_int_equal(c.ids[1], i2);
	assert_int_equal(c.ids[2], i3);
	assert_int_equal(c.ids[3], i4);
	c.n = 0;
	assert_int_equal(store_entries_of(f->st, 0, "6c", collect_entry, &c), 0);
	assert_int_equal(c.n, 1);
	assert_int_equal(c.ids[0], i3);
}

/* ---- submissions ----------------------------------------------------- */

static void test_first_submission_ignores_voided(void **state)
{
	struct store_fx *f = *state;

	assert_true(store_first_submission(f->st, 0, "1") == INT64_MAX);
	int64_t late = submit(f->st, 0, "1", 2000);
	int64_t early = submit(f->st, 0, "1", 1000); /* backdated: recorded second */
	submit(f->st, 1, "1", 500);                  /* another unit */
	submit(f->st, 0, "2a", 100);                 /* another occurrence */
	assert_int_equal(store_first_submission(f->st, 0, "1"), 1000);
	void_entry(f->st, early, 3000);
	assert_int_equal(store_first_submission(f->st, 0, "1"), 2000);
	void_entry(f->st, late, 3000);
	assert_true(store_first_submission(f->st, 0, "1") == INT64_MAX);
	assert_int_equal(store_first_submission(f->st, 1, "1"), 500);
	assert_int_equal(store_first_submission(f->st, 0, "2a"), 100);
}

struct firsts {
	int n;
	int unit[8];
	char occ[8][16];
	int64_t at[8];
};

static int collect_first(int unit, const char *occ, int64_t at, void *arg)
{
	struct firsts *c = arg;
	if (c->n < 8) {
		c->unit[c->n] = unit;
		snprintf(c->occ[c->n], sizeof(c->occ[0]), "%s", occ);
		c->at[c->n] = at;
		c->n++;
	}
	return 0;
}

static int64_t first_of(const struct firsts *c, int unit, const char *occ)
{
	for (int i = 0; i < c->n; i++)
		if (c->unit[i] == unit && strcmp(c->occ[i], occ) == 0)
			return c->at[i];
	return -1;
}

static void test_submitted(void **state)
{
	struct store_fx *f = *state;
	struct firsts c = { 0 };

	submit(f->st, 0, "1", 100);
	submit(f->st, 0, "1", 90); /* an earlier one recorded later counts */
	int64_t vb = submit(f->st, 1, "1", 200);
	submit(f->st, 2, "1", 300);
	submit(f->st, 1, "2a", 50);
	void_entry(f->st, vb, 400);

	assert_int_equal(store_first_submissions(f->st, collect_first, &c), 0);
	assert_int_equal(c.n, 3);
	assert_int_equal(first_of(&c, 0, "1"), 90);
	assert_int_equal(first_of(&c, 1, "1"), -1); /* voided: none */
	assert_int_equal(first_of(&c, 2, "1"), 300);
	assert_int_equal(first_of(&c, 1, "2a"), 50);
	assert_int_equal(first_of(&c, 0, "2b"), -1);
}

/* ---- metrics --------------------------------------------------------- */

/* The latest value of metric M of UNIT as of AS_OF (STRICT: before it), which must exist. */
static int64_t latest(struct store *st, int unit, const char *m, int64_t as_of, bool strict)
{
	int64_t v = -1;
	assert_int_equal(store_metric_latest(st, unit, m, as_of, strict, &v), 1);
	return v;
}

static void test_metric_latest(void **state)
{
	struct store_fx *f = *state;
	int64_t v = -1;

	assert_int_equal(store_metric_latest(f->st, 0, "dissatisfaction", 1000, false, &v), 0);
	metric(f->st, 0, "dissatisfaction", 100000, 100); /* 10 */
	metric(f->st, 0, "dissatisfaction", 200000, 200); /* 20 */
	metric(f->st, 0, "dissatisfaction", 150000, 200); /* 15, same instant, recorded later */
	int64_t v30 = metric(f->st, 0, "dissatisfaction", 300000, 300);
	metric(f->st, 0, "satisfaction", 800000, 250);    /* another metric */
	metric(f->st, 1, "dissatisfaction", 990000, 250); /* another unit */
	void_entry(f->st, v30, 350);

	assert_int_equal(store_metric_latest(f->st, 0, "dissatisfaction", 99, false, &v), 0);
	assert_int_equal(latest(f->st, 0, "dissatisfaction", 100, false), 100000);
	assert_int_equal(latest(f->st, 0, "dissatisfaction", 150, false), 100000);
	/* latest wins; of two at one instant the one recorded last */
	assert_int_equal(latest(f->st, 0, "dissatisfaction", 250, false), 150000);
	assert_int_equal(latest(f->st, 0, "dissatisfaction", 200, false), 150000);
	/* strict: the instant itself is excluded */
	assert_int_equal(latest(f->st, 0, "dissatisfaction", 200, true), 100000);
	assert_int_equal(store_metric_latest(f->st, 0, "dissatisfaction", 100, true, &v), 0);
	/* the voided 30 never counts */
	assert_int_equal(latest(f->st, 0, "dissatisfaction", 1000, false), 150000);
	assert_int_equal(latest(f->st, 0, "satisfaction", 1000, false), 800000);
	assert_int_equal(latest(f->st, 1, "dissatisfaction", 1000, false), 990000);
	assert_int_equal(store_metric_latest(f->st, 2, "dissatisfaction", 1000, false, &v), 0);
}

/* ---- accumulate ------------------------------------------------------ */

static void test_accumulate_as_of(void **state)
{
	struct store_fx *f = *state;
	size_t nb = f->p->nbuckets;
	int b1 = bucket_of(f->p, "1", NULL), bp = bucket_of(f->p, "6c", "pushback"),
	    br = bucket_of(f->p, "6c", "resolved");
	int64_t acc[3 * 4];

	assert_int_equal(nb, 4);
	struct entry late = mk(ENTRY_LATE, 0, "1", "1", NULL, b1, -200, 100);
	int64_t il = add(f->st, &late);
	struct entry push = mk(ENTRY_FINDING, 0, "6c", NULL, "pushback", bp, -60, 150);
	add(f->st, &push);
	struct entry res = mk(ENTRY_AWARD, 1, "6c", NULL, "resolved", br, 30, 200);
	add(f->st, &res);
	submit(f->st, 0, "1", 120);                       /* no bucket: scores nothing */
	metric(f->st, 0, "dissatisfaction", 100000, 120); /* likewise */
	void_entry(f->st, il, 300);                       /* late replaced at 300 … */
	struct entry miss = mk(ENTRY_MISSING, 0, "1", "1", NULL, b1, -300, 300);
	add(f->st, &miss); /* … by missing */

#define ACC(t)                                                          \
	do {                                                            \
		memset(acc, 0, sizeof(acc));                            \
		assert_int_equal(store_accumulate(f->st, (t), acc), 0); \
	} while (0)
	ACC(99);
	for (size_t i = 0; i < 12; i++)
		assert_int_equal(acc[i], 0);
	ACC(100);
	assert_int_equal(acc[0 * nb + b1], -200);
	ACC(299); /* voided later: still counts before its void instant */
	assert_int_equal(acc[0 * nb + b1], -200);
	assert_int_equal(acc[0 * nb + bp], -60);
	assert_int_equal(acc[1 * nb + br], 30);
	assert_int_equal(acc[1 * nb + b1], 0);
	ACC(300); /* at the void instant the late no longer counts; missing does */
	assert_int_equal(acc[0 * nb + b1], -300);
	ACC(10000);
	assert_int_equal(acc[0 * nb + b1], -300);
	assert_int_equal(acc[0 * nb + bp], -60);
	assert_int_equal(acc[1 * nb + br], 30);
	assert_int_equal(acc[2 * nb + b1] + acc[2 * nb + bp] + acc[2 * nb + br], 0);
	/* it adds to what ACC holds */
	memset(acc, 0, sizeof(acc));
	acc[0 * nb + bp] = 5;
	assert_int_equal(store_accumulate(f->st, 10000, acc), 0);
	assert_int_equal(acc[0 * nb + bp], -55);
#undef ACC
}

/* ---- moves ----------------------------------------------------------- */

struct moves_seen {
	struct move m[8];
	char reason[8][64];
	int n;
};

static int collect_move(const struct move *m, void *arg)
{
	struct moves_seen *s = arg;
	s->m[s->n] = *m;
	snprintf(s->reason[s->n], sizeof(s->reason[0]), "%s", m->reason ? m->reason : "");
	s->n++;
	return 0;
}

static void test_moves(void **state)
{
	struct store_fx *f = *state;
	struct move all = { .unit = -1, .due_day = 18474, .at = 1000, .reason = "regulation late" };
	struct move one = { .unit = 2,
			    .due_day = 18450,
			    .timed = true,
			    .due_at = 1594000000,
			    .at = 1100,
			    .reason = "only c" };
	struct moves_seen s = { .n = 0 };

	snprintf(all.occ, sizeof(all.occ), "16a");
	snprintf(all.actor, sizeof(all.actor), "admin");
	snprintf(one.occ, sizeof(one.occ), "4@2020-06-20");
	snprintf(one.actor, sizeof(one.actor), "root");
	assert_int_equal(store_begin(f->st), 0);
	assert_int_equal(store_move_add(f->st, &all), 0);
	assert_int_equal(store_move_add(f->st, &one), 0);
	assert_int_equal(store_commit(f->st), 0);

	assert_int_equal(store_moves(f->st, collect_move, &s), 0);
	assert_int_equal(s.n, 2);
	assert_string_equal(s.m[0].occ, "16a");
	assert_int_equal(s.m[0].unit, -1);
	assert_int_equal(s.m[0].due_day, 18474);
	assert_false(s.m[0].timed);
	assert_int_equal(s.m[0].at, 1000);
	assert_string_equal(s.m[0].actor, "admin");
	assert_string_equal(s.reason[0], "regulation late");
	assert_string_equal(s.m[1].occ, "4@2020-06-20");
	assert_int_equal(s.m[1].unit, 2);
	assert_true(s.m[1].timed);
	assert_int_equal(s.m[1].due_at, 1594000000);
	assert_int_equal(s.m[1].due_day, 18450);
	assert_string_equal(s.reason[1], "only c");
	assert_true(s.m[0].id < s.m[1].id);

	/* after a reload without unit c its move names no unit of the plan */
	static const char *const ab[] = { "a", "b", NULL };
	struct plan *p2 = mini_plan(ab);
	assert_int_equal(store_begin(f->st), 0);
	assert_int_equal(store_sync_plan(f->st, p2), 0);
	assert_int_equal(store_commit(f->st), 0);
	s.n = 0;
	assert_int_equal(store_moves(f->st, collect_move, &s), 0);
	assert_int_equal(s.n, 2);
	assert_int_equal(s.m[0].unit, -1);
	assert_int_equal(s.m[1].unit, -2);
	store_close(f->st);
	f->st = NULL;
	plan_free(p2);
}

/* ---- snapshots ------------------------------------------------------- */

struct snaps_seen {
	char period[8][16];
	int64_t at[8], taken[8];
	char data[8][32];
	bool has_data[8];
	int n;
};

static int collect_snap(const char *period, int64_t at, int64_t taken_at, const char *data,
			void *arg)
{
	struct snaps_seen *s = arg;
	snprintf(s->period[s->n], sizeof(s->period[0]), "%s", period);
	s->at[s->n] = at;
	s->taken[s->n] = taken_at;
	s->has_data[s->n] = data != NULL;
	snprintf(s->data[s->n], sizeof(s->data[0]), "%s", data ? data : "");
	s->n++;
	return 0;
}

static void test_snapshots(void **state)
{
	struct store_fx *f = *state;
	struct snaps_seen s = { .n = 0 };

	assert_int_equal(store_begin(f->st), 0);
	assert_int_equal(store_snapshot_put(f->st, "2020-Q3", 2000, 2001, "[\"q3\"]"), 0);
	assert_int_equal(store_snapshot_put(f->st, "2020-Q2", 1000, 1001, "[\"q2\"]"), 0);
	/* a second put of a period keeps the first: a snapshot is immutable */
	assert_int_equal(store_snapshot_put(f->st, "2020-Q2", 1000, 5000, "[\"changed\"]"), 0);
	assert_int_equal(store_commit(f->st), 0);

	assert_int_equal(store_snapshots(f->st, true, collect_snap, &s), 0);
	assert_int_equal(s.n, 2);
	assert_string_equal(s.period[0], "2020-Q2"); /* time order */
	assert_int_equal(s.at[0], 1000);
	assert_int_equal(s.taken[0], 1001);
	assert_string_equal(s.data[0], "[\"q2\"]");
	assert_string_equal(s.period[1], "2020-Q3");
	assert_string_equal(s.data[1], "[\"q3\"]");
	s.n = 0;
	assert_int_equal(store_snapshots(f->st, false, collect_snap, &s), 0);
	assert_int_equal(s.n, 2);
	assert_false(s.has_data[0]);
	assert_false(s.has_data[1]);
}

/* ---- audit ----------------------------------------------------------- */

struct audit_seen {
	int64_t id[16], at[16];
	char cmd[16][32];
	int n;
};

static int collect_audit(int64_t id, int64_t at, const char *actor, const char *command,
			 const char *result, void *arg)
{
	struct audit_seen *s = arg;
	(void)actor;
	(void)result;
	s->id[s->n] = id;
	s->at[s->n] = at;
	snprintf(s->cmd[s->n], sizeof(s->cmd[0]), "%s", command);
	s->n++;
	return 0;
}

static void test_audit_last_n(void **state)
{
	struct store_fx *f = *state;
	struct audit_seen s = { .n = 0 };

	assert_int_equal(store_begin(f->st), 0);
	for (int i = 1; i <= 5; i++) {
		char cmd[32];
		snprintf(cmd, sizeof(cmd), "cmd %d", i);
		assert_int_equal(store_audit_add(f->st, 100 * i, "root", cmd, "{}"), 0);
	}
	assert_int_equal(store_commit(f->st), 0);

	assert_int_equal(store_audit(f->st, 3, collect_audit, &s), 0);
	assert_int_equal(s.n, 3);
	assert_string_equal(s.cmd[0], "cmd 3");
	assert_string_equal(s.cmd[1], "cmd 4");
	assert_string_equal(s.cmd[2], "cmd 5");
	assert_int_equal(s.at[0], 300);
	assert_true(s.id[0] < s.id[1] && s.id[1] < s.id[2]);
	s.n = 0;
	assert_int_equal(store_audit(f->st, 10, collect_audit, &s), 0);
	assert_int_equal(s.n, 5);
	assert_string_equal(s.cmd[0], "cmd 1");
	assert_string_equal(s.cmd[4], "cmd 5");
}

/* ---- high-water mark ------------------------------------------------- */

static void test_hwm(void **state)
{
	struct store_fx *f = *state;

	assert_true(store_hwm(f->st) == INT64_MIN);
	assert_int_equal(store_begin(f->st), 0);
	assert_int_equal(store_set_hwm(f->st, 1600185600), 0);
	assert_int_equal(store_commit(f->st), 0);
	assert_int_equal(store_hwm(f->st), 1600185600);
	assert_int_equal(store_begin(f->st), 0);
	assert_int_equal(store_set_hwm(f->st, 1601481600), 0);
	assert_int_equal(store_commit(f->st), 0);
	assert_int_equal(store_hwm(f->st), 1601481600);
	/* a rolled-back step leaves the mark where it was */
	assert_int_equal(store_begin(f->st), 0);
	assert_int_equal(store_set_hwm(f->st, 1609430400), 0);
	store_rollback(f->st);
	assert_int_equal(store_hwm(f->st), 1601481600);
}

/* ---- the outbox ------------------------------------------------------ */

struct obs {
	struct ob r[32];
	size_t n;
};

static int collect_ob(const struct outbox_row *r, void *arg)
{
	struct obs *s = arg;
	assert_true(s->n < 32);
	ob_copy(&s->r[s->n++], r);
	return 0;
}

/* Enqueue a row of CHANNEL about UNIT at AT (seconds); its id. */
static int64_t ob_add(struct store *st, const char *channel, const char *unit, int64_t at,
		      const char *subject)
{
	struct outbox_row r = { .at = at,
				.kind = "before",
				.unit = unit,
				.dept = "",
				.subject = subject,
				.channel = channel,
				.address = strcmp(channel, "email") == 0 ? "l@a.example.org" : "",
				.name = "联络员",
				.mentions = "13800000001 13800000002" };
	int64_t id = 0;
	assert_int_equal(store_begin(st), 0);
	assert_int_equal(store_outbox_add(st, &r, &id), 0);
	assert_int_equal(store_commit(st), 0);
	assert_true(id > 0);
	return id;
}

static void ob_set(struct store *st, int64_t id, enum outbox_state state, int attempts,
		   int64_t next_ms, int64_t now)
{
	assert_int_equal(store_begin(st), 0);
	assert_int_equal(store_outbox_update(st, id, state, attempts, next_ms, 0, "", now), 0);
	assert_int_equal(store_commit(st), 0);
}

static struct ob ob_get(struct store *st, int64_t id)
{
	struct outbox_row r;
	struct ob o;
	assert_int_equal(store_outbox_get(st, id, &r), 1);
	ob_copy(&o, &r);
	return o;
}

static void test_outbox_add_get(void **state)
{
	struct store_fx *f = *state;
	struct outbox_row r = { .at = 1592182800,
				.kind = "escalation",
				.unit = "a",
				.dept = "dep1",
				.subject = "r1 r3",
				.channel = "email",
				.address = "office@dep1.example.org",
				.name = "一局办公室",
				.mentions = "" };
	int64_t id = 0, id2 = 0;

	assert_int_equal(store_begin(f->st), 0);
	assert_int_equal(store_outbox_add(f->st, &r, &id), 0);
	/* NULL strings stand for "" */
	r.dept = NULL;
	r.address = NULL;
	r.mentions = NULL;
	r.unit = NULL;
	assert_int_equal(store_outbox_add(f->st, &r, &id2), 0);
	assert_int_equal(store_commit(f->st), 0);
	assert_true(id > 0 && id2 > id);

	struct ob o = ob_get(f->st, id);
	assert_i64(o.id, id);
	assert_i64(o.at, 1592182800);
	assert_string_equal(o.kind, "escalation");
	assert_string_equal(o.unit, "a");
	assert_string_equal(o.dept, "dep1");
	assert_string_equal(o.subject, "r1 r3");
	assert_string_equal(o.channel, "email");
	assert_string_equal(o.address, "office@dep1.example.org");
	assert_string_equal(o.name, "一局办公室");
	assert_string_equal(o.mentions, "");
	/* pending, first attempt at AT (in ms), nothing tried yet */
	assert_int_equal(o.state, OUTBOX_PENDING);
	assert_int_equal(o.attempts, 0);
	assert_i64(o.next_ms, INT64_C(1592182800000));
	assert_i64(o.since_ms, INT64_C(1592182800000));
	assert_i64(o.updated_at, 1592182800);
	assert_i64(o.sent_at, 0);
	assert_int_equal(o.code, 0);
	assert_string_equal(o.error, "");
	o = ob_get(f->st, id2);
	assert_string_equal(o.unit, "");
	assert_string_equal(o.dept, "");
	assert_string_equal(o.address, "");
	assert_string_equal(o.mentions, "");
	/* the strings of a get stay valid across other statements */
	struct outbox_row a;
	assert_int_equal(store_outbox_get(f->st, id, &a), 1);
	assert_int_equal(store_outbox_key_add(f->st, "a", "r1", "x", "email:y", id), 1);
	assert_int_equal(store_outbox_add(f->st, &r, &id2), 0);
	assert_string_equal(a.dept, "dep1");
	assert_string_equal(a.subject, "r1 r3");
	assert_string_equal(a.address, "office@dep1.example.org");
	/* unknown ids */
	assert_int_equal(store_outbox_get(f->st, id2 + 1, &a), 0);
	assert_int_equal(store_outbox_get(f->st, 0, &a), 0);
}

static void test_outbox_states_named(void **state)
{
	static const char *const names[] = { "pending", "inflight", "sent",
					     "failed",  "dead",     "cancelled" };
	(void)state;
	for (int i = 0; i < OUTBOX_NSTATES; i++) {
		assert_string_equal(store_outbox_state_name((enum outbox_state)i), names[i]);
		assert_int_equal(store_outbox_state_find(names[i]), i);
	}
	assert_int_equal(store_outbox_state_find("bogus"), -1);
	assert_int_equal(store_outbox_state_find(""), -1);
	assert_int_equal(store_outbox_state_find("Pending"), -1);
}

/* The last LIMIT rows, oldest first; by state, by unit, both. */
static void test_outbox_list(void **state)
{
	struct store_fx *f = *state;
	struct obs s = { .n = 0 };
	int64_t id[6];

	id[0] = ob_add(f->st, "email", "a", 1000, "s0");
	id[1] = ob_add(f->st, "hook", "b", 1001, "s1");
	id[2] = ob_add(f->st, "email", "a", 1002, "s2");
	id[3] = ob_add(f->st, "hook", "", 1003, "s3");
	id[4] = ob_add(f->st, "email", "a", 1004, "s4");
	id[5] = ob_add(f->st, "hook", "b", 1005, "s5");
	ob_set(f->st, id[1], OUTBOX_SENT, 1, 0, 2000);
	ob_set(f->st, id[2], OUTBOX_DEAD, 10, 0, 2000);
	ob_set(f->st, id[4], OUTBOX_SENT, 1, 0, 2000);

	assert_int_equal(store_outbox_list(f->st, -1, NULL, 100, collect_ob, &s), 0);
	assert_int_equal(s.n, 6);
	for (size_t i = 0; i < 6; i++)
		assert_i64(s.r[i].id, id[i]);
	/* the limit keeps the newest, still oldest first */
	s.n = 0;
	assert_int_equal(store_outbox_list(f->st, -1, NULL, 2, collect_ob, &s), 0);
	assert_int_equal(s.n, 2);
	assert_i64(s.r[0].id, id[4]);
	assert_i64(s.r[1].id, id[5]);
	/* by state */
	s.n = 0;
	assert_int_equal(store_outbox_list(f->st, OUTBOX_SENT, NULL, 100, collect_ob, &s), 0);
	assert_int_equal(s.n, 2);
	assert_i64(s.r[0].id, id[1]);
	assert_i64(s.r[1].id, id[4]);
	s.n = 0;
	assert_int_equal(store_outbox_list(f->st, OUTBOX_PENDING, NULL, 100, collect_ob, &s), 0);
	assert_int_equal(s.n, 3);
	assert_i64(s.r[0].id, id[0]);
	assert_i64(s.r[2].id, id[5]);
	s.n = 0;
	assert_int_equal(store_outbox_list(f->st, OUTBOX_PENDING, NULL, 1, collect_ob, &s), 0);
	assert_int_equal(s.n, 1);
	assert_i64(s.r[0].id, id[5]);
	s.n = 0;
	assert_int_equal(store_outbox_list(f->st, OUTBOX_FAILED, NULL, 100, collect_ob, &s), 0);
	assert_int_equal(s.n, 0);
	/* by unit */
	s.n = 0;
	assert_int_equal(store_outbox_list(f->st, -1, "a", 100, collect_ob, &s), 0);
	assert_int_equal(s.n, 3);
	assert_i64(s.r[0].id, id[0]);
	assert_i64(s.r[1].id, id[2]);
	assert_i64(s.r[2].id, id[4]);
	assert_string_equal(s.r[1].subject, "s2");
	s.n = 0;
	assert_int_equal(store_outbox_list(f->st, -1, "a", 2, collect_ob, &s), 0);
	assert_int_equal(s.n, 2);
	assert_i64(s.r[0].id, id[2]);
	assert_i64(s.r[1].id, id[4]);
	s.n = 0;
	assert_int_equal(store_outbox_list(f->st, OUTBOX_SENT, "b", 100, collect_ob, &s), 0);
	assert_int_equal(s.n, 1);
	assert_i64(s.r[0].id, id[1]);
	s.n = 0;
	assert_int_equal(store_outbox_list(f->st, -1, "c", 100, collect_ob, &s), 0);
	assert_int_equal(s.n, 0);
}

static int stop_at_two(const struct outbox_row *r, void *arg)
{
	int *n = arg;
	(void)r;
	return ++*n == 2 ? -1 : 0;
}

static void test_outbox_list_callback_stops(void **state)
{
	struct store_fx *f = *state;
	int n = 0;

	for (int i = 0; i < 4; i++)
		ob_add(f->st, "email", "a", 1000 + i, "s");
	assert_int_equal(store_outbox_list(f->st, -1, NULL, 100, stop_at_two, &n), -1);
	assert_int_equal(n, 2);
	/* and the statement is usable again */
	struct obs s = { .n = 0 };
	assert_int_equal(store_outbox_list(f->st, -1, NULL, 100, collect_ob, &s), 0);
	assert_int_equal(s.n, 4);
}

/* By next_ms, then id: the order in which rows fall due. */
static int ob_cmp_due(const void *a, const void *b)
{
	const struct ob *x = a, *y = b;
	if (x->next_ms != y->next_ms)
		return x->next_ms < y->next_ms ? -1 : 1;
	return x->id < y->id ? -1 : x->id > y->id;
}

/*
 * Claim up to LIMIT rows of CHANNEL due by NOW_MS into S, sorted by
 * next_ms then id (RETURNING gives them in no particular order).  Over
 * rows IDS (N of them): the claimed ones are now in flight, updated at
 * NOW_MS, and every other is as it was.
 */
static void ob_claim(struct store *st, const char *channel, int64_t now_ms, int limit,
		     const int64_t *ids, size_t n, struct obs *s)
{
	struct ob before[16];

	assert_true(n <= 16);
	for (size_t i = 0; i < n; i++)
		before[i] = ob_get(st, ids[i]);
	s->n = 0;
	assert_int_equal(store_begin(st), 0);
	assert_int_equal(store_outbox_claim(st, channel, now_ms, limit, collect_ob, s), 0);
	assert_int_equal(store_commit(st), 0);
	qsort(s->r, s->n, sizeof(s->r[0]), ob_cmp_due);
	for (size_t j = 0; j < s->n; j++)
		assert_int_equal(s->r[j].state, OUTBOX_INFLIGHT);
	for (size_t i = 0; i < n; i++) {
		struct ob o = ob_get(st, ids[i]);
		bool taken = false;
		for (size_t j = 0; j < s->n; j++)
			taken = taken || s->r[j].id == ids[i];
		if (taken) {
			assert_int_equal(o.state, OUTBOX_INFLIGHT);
			assert_i64(o.updated_at, now_ms / 1000);
		} else {
			assert_int_equal(o.state, before[i].state);
			assert_i64(o.updated_at, before[i].updated_at);
		}
		assert_int_equal(o.attempts, before[i].attempts);
		assert_i64(o.next_ms, before[i].next_ms);
		/* A first attempt starts the series max_age is counted from. */
		if (taken && before[i].attempts == 0)
			assert_i64(o.since_ms, now_ms);
		else
			assert_i64(o.since_ms, before[i].since_ms);
	}
}

/*
 * Claimed rows of one channel: pending or failed, next_ms <= now, the
 * limit taking the earliest by next_ms then id; taken once.
 */
static void test_outbox_claim_due(void **state)
{
	struct store_fx *f = *state;
	struct obs s = { .n = 0 };
	int64_t e1 = ob_add(f->st, "email", "a", 1000, "e1");
	int64_t e2 = ob_add(f->st, "email", "b", 1000, "e2");
	int64_t e3 = ob_add(f->st, "email", "a", 900, "e3");
	int64_t e4 = ob_add(f->st, "email", "c", 2000, "e4");
	int64_t h1 = ob_add(f->st, "hook", "a", 500, "h1");
	int64_t e5 = ob_add(f->st, "email", "a", 800, "e5");
	int64_t e6 = ob_add(f->st, "email", "a", 700, "e6");
	int64_t e7 = ob_add(f->st, "email", "a", 600, "e7");
	const int64_t all[] = { e1, e2, e3, e4, h1, e5, e6, e7 };
	const size_t n = sizeof(all) / sizeof(all[0]);

	/* e1 failed, next try at 950 s; e5 in flight, e6 sent, e7 dead */
	ob_set(f->st, e1, OUTBOX_FAILED, 1, 950000, 990);
	ob_set(f->st, e5, OUTBOX_INFLIGHT, 0, 800000, 990);
	ob_set(f->st, e6, OUTBOX_SENT, 1, 700000, 990);
	ob_set(f->st, e7, OUTBOX_DEAD, 3, 600000, 990);

	/* one millisecond before e2 is due: e3 and e1 (failed), not e5-e7 or h1 */
	ob_claim(f->st, "email", 999999, 100, all, n, &s);
	assert_int_equal(s.n, 2);
	assert_i64(s.r[0].id, e3); /* 900 000 */
	assert_i64(s.r[1].id, e1); /* 950 000, failed */
	assert_int_equal(s.r[1].attempts, 1);
	/* claimed rows are not claimed again */
	ob_claim(f->st, "email", 999999, 100, all, n, &s);
	assert_int_equal(s.n, 0);
	/* due exactly now */
	ob_claim(f->st, "email", 1000000, 100, all, n, &s);
	assert_int_equal(s.n, 1);
	assert_i64(s.r[0].id, e2); /* 1 000 000 */

	/* the limit takes the earliest */
	ob_set(f->st, e1, OUTBOX_FAILED, 1, 950000, 990);
	ob_set(f->st, e2, OUTBOX_PENDING, 0, 1000000, 990);
	ob_set(f->st, e3, OUTBOX_PENDING, 0, 900000, 990);
	ob_claim(f->st, "email", 1000000, 2, all, n, &s);
	assert_int_equal(s.n, 2);
	assert_i64(s.r[0].id, e3);
	assert_i64(s.r[1].id, e1);
	/* a tie on next_ms goes by id: e1 before e2, then e4 */
	ob_set(f->st, e1, OUTBOX_FAILED, 1, 1000000, 990);
	ob_set(f->st, e2, OUTBOX_PENDING, 0, 1000000, 990);
	ob_set(f->st, e3, OUTBOX_PENDING, 0, 900000, 990);
	ob_claim(f->st, "email", 2000000, 2, all, n, &s);
	assert_int_equal(s.n, 2);
	assert_i64(s.r[0].id, e3);
	assert_i64(s.r[1].id, e1);
	ob_claim(f->st, "email", 2000000, 100, all, n, &s);
	assert_int_equal(s.n, 2);
	assert_i64(s.r[0].id, e2);
	assert_i64(s.r[1].id, e4);
	/* other channels' rows are not this one's */
	ob_claim(f->st, "hook", 2000000, 100, all, n, &s);
	assert_int_equal(s.n, 1);
	assert_i64(s.r[0].id, h1);
	ob_claim(f->st, "nope", 2000000, 100, all, n, &s);
	assert_int_equal(s.n, 0);
	/* in flight, sent or dead before: never taken */
	assert_i64(ob_get(f->st, e5).updated_at, 990);
	assert_i64(ob_get(f->st, e6).updated_at, 990);
	assert_int_equal(ob_get(f->st, e6).state, OUTBOX_SENT);
	assert_i64(ob_get(f->st, e7).updated_at, 990);
	assert_int_equal(ob_get(f->st, e7).state, OUTBOX_DEAD);
}

static void test_outbox_next(void **state)
{
	struct store_fx *f = *state;
	int64_t next = -1;

	assert_int_equal(store_outbox_next(f->st, NULL, &next), 0);
	assert_int_equal(store_outbox_next(f->st, "email", &next), 0);
	int64_t e1 = ob_add(f->st, "email", "a", 1000, "e1");
	int64_t e2 = ob_add(f->st, "email", "a", 3000, "e2");
	int64_t h1 = ob_add(f->st, "hook", "a", 2000, "h1");
	assert_int_equal(store_outbox_next(f->st, "email", &next), 1);
	assert_i64(next, 1000000);
	assert_int_equal(store_outbox_next(f->st, "hook", &next), 1);
	assert_i64(next, 2000000);
	assert_int_equal(store_outbox_next(f->st, NULL, &next), 1);
	assert_i64(next, 1000000);
	/* in flight or sent: not waiting */
	ob_set(f->st, e1, OUTBOX_INFLIGHT, 0, 1000000, 1000);
	assert_int_equal(store_outbox_next(f->st, "email", &next), 1);
	assert_i64(next, 3000000);
	assert_int_equal(store_outbox_next(f->st, NULL, &next), 1);
	assert_i64(next, 2000000);
	/* failed: waiting for its next attempt */
	ob_set(f->st, e1, OUTBOX_FAILED, 1, 2500000, 1000);
	assert_int_equal(store_outbox_next(f->st, "email", &next), 1);
	assert_i64(next, 2500000);
	ob_set(f->st, e1, OUTBOX_SENT, 1, 0, 1000);
	ob_set(f->st, e2, OUTBOX_DEAD, 1, 0, 1000);
	ob_set(f->st, h1, OUTBOX_CANCELLED, 0, 0, 1000);
	assert_int_equal(store_outbox_next(f->st, "email", &next), 0);
	assert_int_equal(store_outbox_next(f->st, NULL, &next), 0);
	assert_int_equal(store_outbox_next(f->st, "unknown", &next), 0);
}

static void test_outbox_update(void **state)
{
	struct store_fx *f = *state;
	int64_t id = ob_add(f->st, "hook", "a", 1000, "x");

	assert_int_equal(store_begin(f->st), 0);
	assert_int_equal(store_outbox_update(f->st, id, OUTBOX_FAILED, 1, 1030000, 429,
					     "too many requests", 1001),
			 0);
	assert_int_equal(store_commit(f->st), 0);
	struct ob o = ob_get(f->st, id);
	assert_int_equal(o.state, OUTBOX_FAILED);
	assert_int_equal(o.attempts, 1);
	assert_i64(o.next_ms, 1030000);
	assert_int_equal(o.code, 429);
	assert_string_equal(o.error, "too many requests");
	assert_i64(o.updated_at, 1001);
	assert_i64(o.sent_at, 0);
	/* the series started at the first attempt: an update does not move it */
	assert_i64(o.since_ms, 1000000);
	/* sent: sent_at is the update's instant; NULL error is "" */
	assert_int_equal(store_begin(f->st), 0);
	assert_int_equal(store_outbox_update(f->st, id, OUTBOX_SENT, 2, 1031000, 200, NULL, 1031),
			 0);
	assert_int_equal(store_commit(f->st), 0);
	o = ob_get(f->st, id);
	assert_int_equal(o.state, OUTBOX_SENT);
	assert_int_equal(o.attempts, 2);
	assert_int_equal(o.code, 200);
	assert_string_equal(o.error, "");
	assert_i64(o.sent_at, 1031);
	assert_i64(o.updated_at, 1031);
	/* a later update that is not "sent" keeps when it was sent */
	ob_set(f->st, id, OUTBOX_DEAD, 2, 0, 5000);
	o = ob_get(f->st, id);
	assert_i64(o.sent_at, 1031);
	assert_i64(o.updated_at, 5000);
}

static void test_outbox_requeue(void **state)
{
	struct store_fx *f = *state;
	int64_t a = ob_add(f->st, "email", "a", 1000, "a");
	int64_t b = ob_add(f->st, "email", "a", 1000, "b");
	int64_t c = ob_add(f->st, "hook", "a", 1000, "c");
	int64_t d = ob_add(f->st, "hook", "a", 1000, "d");

	ob_set(f->st, a, OUTBOX_INFLIGHT, 2, 1100000, 1100);
	ob_set(f->st, c, OUTBOX_INFLIGHT, 0, 1000000, 1100);
	ob_set(f->st, d, OUTBOX_SENT, 1, 1000000, 1100);
	assert_int_equal(store_begin(f->st), 0);
	assert_int_equal(store_outbox_requeue(f->st), 2);
	assert_int_equal(store_commit(f->st), 0);
	struct ob o = ob_get(f->st, a);
	assert_int_equal(o.state, OUTBOX_PENDING);
	/* its attempts and next attempt stand */
	assert_int_equal(o.attempts, 2);
	assert_i64(o.next_ms, 1100000);
	assert_int_equal(ob_get(f->st, b).state, OUTBOX_PENDING);
	assert_int_equal(ob_get(f->st, c).state, OUTBOX_PENDING);
	assert_int_equal(ob_get(f->st, d).state, OUTBOX_SENT);
	assert_int_equal(store_outbox_requeue(f->st), 0);
}

/* retry: failed, dead and cancelled rows only, with a fresh series. */
static void test_outbox_retry(void **state)
{
	struct store_fx *f = *state;
	int64_t id[OUTBOX_NSTATES];

	for (int s = 0; s < OUTBOX_NSTATES; s++) {
		id[s] = ob_add(f->st, "email", "a", 1000, "x");
		assert_int_equal(store_begin(f->st), 0);
		assert_int_equal(store_outbox_update(f->st, id[s], (enum outbox_state)s, 7, 1234567,
						     550, "mailbox unavailable", 1500),
				 0);
		assert_int_equal(store_commit(f->st), 0);
	}
	for (int s = 0; s < OUTBOX_NSTATES; s++) {
		bool may = s == OUTBOX_FAILED || s == OUTBOX_DEAD || s == OUTBOX_CANCELLED;
		assert_int_equal(store_begin(f->st), 0);
		assert_int_equal(store_outbox_retry(f->st, id[s], 9000), may ? 1 : 0);
		assert_int_equal(store_commit(f->st), 0);
		struct ob o = ob_get(f->st, id[s]);
		if (!may) {
			/* untouched */
			assert_int_equal(o.state, s);
			assert_int_equal(o.attempts, 7);
			assert_i64(o.next_ms, 1234567);
			assert_i64(o.updated_at, 1500);
			continue;
		}
		assert_int_equal(o.state, OUTBOX_PENDING);
		assert_int_equal(o.attempts, 0);
		assert_i64(o.next_ms, 9000000);
		assert_i64(o.since_ms, 9000000);
		assert_i64(o.updated_at, 9000);
	}
	/* a retried row is pending: retrying it again does nothing */
	assert_int_equal(store_outbox_retry(f->st, id[OUTBOX_DEAD], 9001), 0);
	/* unknown */
	assert_int_equal(store_outbox_retry(f->st, id[OUTBOX_NSTATES - 1] + 100, 9001), 0);
}

static void test_outbox_counts(void **state)
{
	struct store_fx *f = *state;
	int64_t counts[OUTBOX_NSTATES];

	memset(counts, 0xff, sizeof(counts));
	assert_int_equal(store_outbox_counts(f->st, counts), 0);
	for (int s = 0; s < OUTBOX_NSTATES; s++)
		assert_i64(counts[s], 0);
	/* pending 3, inflight 1, sent 2, failed 0, dead 1, cancelled 1 */
	static const enum outbox_state states[] = { OUTBOX_PENDING, OUTBOX_PENDING,
						    OUTBOX_PENDING, OUTBOX_INFLIGHT,
						    OUTBOX_SENT,    OUTBOX_SENT,
						    OUTBOX_DEAD,    OUTBOX_CANCELLED };
	for (size_t i = 0; i < sizeof(states) / sizeof(states[0]); i++) {
		int64_t id = ob_add(f->st, "email", "a", 1000, "x");
		if (states[i] != OUTBOX_PENDING)
			ob_set(f->st, id, states[i], 1, 0, 1000);
	}
	assert_int_equal(store_outbox_counts(f->st, counts), 0);
	assert_i64(counts[OUTBOX_PENDING], 3);
	assert_i64(counts[OUTBOX_INFLIGHT], 1);
	assert_i64(counts[OUTBOX_SENT], 2);
	assert_i64(counts[OUTBOX_FAILED], 0);
	assert_i64(counts[OUTBOX_DEAD], 1);
	assert_i64(counts[OUTBOX_CANCELLED], 1);
}

/* The keys a row answers for: each (unit, occ, slot, recipient) once. */
static void test_outbox_keys(void **state)
{
	struct store_fx *f = *state;
	int64_t id = ob_add(f->st, "email", "a", 1000, "r1 r2");

	/* 1: the key was new; 0: held already */
	assert_int_equal(store_begin(f->st), 0);
	assert_int_equal(store_outbox_key_add(f->st, "a", "r1", "-1d@09:00", "email:x@y", id), 1);
	assert_int_equal(store_outbox_key_add(f->st, "a", "r2", "-1d@09:00", "email:x@y", id), 1);
	assert_int_equal(store_outbox_key_add(f->st, "a", "r1", "-1d@09:00", "email:x@y", id), 0);
	assert_int_equal(store_commit(f->st), 0);
	/* a key is unique: a second row cannot answer for it (0: held already) */
	int64_t id2 = ob_add(f->st, "email", "a", 1000, "r1");
	assert_int_equal(store_begin(f->st), 0);
	assert_int_equal(store_outbox_key_add(f->st, "a", "r1", "-1d@09:00", "email:x@y", id2), 0);
	assert_int_equal(store_outbox_key_add(f->st, "a", "r2", "-1d@09:00", "email:x@y", id2), 0);
	/* any part different: another key */
	assert_int_equal(store_outbox_key_add(f->st, "b", "r1", "-1d@09:00", "email:x@y", id2), 1);
	assert_int_equal(store_outbox_key_add(f->st, "a", "r3", "-1d@09:00", "email:x@y", id2), 1);
	assert_int_equal(store_outbox_key_add(f->st, "a", "r1", "0d@09:00", "email:x@y", id2), 1);
	assert_int_equal(store_outbox_key_add(f->st, "a", "r1", "-1d@09:00", "hook:", id2), 1);
	assert_int_equal(store_commit(f->st), 0);
	assert_int_equal(store_begin(f->st), 0);
	assert_int_equal(store_outbox_key_add(f->st, "a", "r1", "0d@09:00", "email:x@y", id), 0);
	assert_int_equal(store_commit(f->st), 0);
	/* nor may a key point at no row, and the failed attempt holds nothing */
	assert_int_equal(store_begin(f->st), 0);
	assert_int_equal(store_outbox_key_add(f->st, "a", "r9", "-1d@09:00", "email:x@y", id2 + 50),
			 -1);
	store_rollback(f->st);
	assert_int_equal(store_begin(f->st), 0);
	assert_int_equal(store_outbox_key_add(f->st, "a", "r9", "-1d@09:00", "email:x@y", id2), 1);
	assert_int_equal(store_commit(f->st), 0);
}

/*
 * claim: the due rows of a channel, earliest first up to LIMIT, marked in
 * flight as they are taken; sent: a batch marked sent in one statement.
 */
static void test_outbox_claim_and_sent(void **state)
{
	struct store_fx *f = *state;
	struct obs s = { .n = 0 };
	int64_t a = ob_add(f->st, "email", "a", 1000, "a");
	int64_t b = ob_add(f->st, "email", "a", 900, "b");
	int64_t c = ob_add(f->st, "email", "a", 1100, "c");
	int64_t h = ob_add(f->st, "hook", "a", 800, "h");
	int64_t d = ob_add(f->st, "email", "a", 950, "d");

	ob_set(f->st, d, OUTBOX_DEAD, 1, 950000, 960);
	assert_int_equal(store_begin(f->st), 0);
	assert_int_equal(store_outbox_claim(f->st, "email", 1000000, 1, collect_ob, &s), 0);
	assert_int_equal(store_commit(f->st), 0);
	assert_int_equal(s.n, 1);
	assert_i64(s.r[0].id, b);
	assert_int_equal(ob_get(f->st, b).state, OUTBOX_INFLIGHT);
	assert_i64(ob_get(f->st, b).updated_at, 1000);
	assert_int_equal(ob_get(f->st, a).state, OUTBOX_PENDING);
	/* what is left and due: a; not c (later), d (dead) or h (another channel) */
	s.n = 0;
	assert_int_equal(store_begin(f->st), 0);
	assert_int_equal(store_outbox_claim(f->st, "email", 1000000, 10, collect_ob, &s), 0);
	assert_int_equal(store_commit(f->st), 0);
	assert_int_equal(s.n, 1);
	assert_i64(s.r[0].id, a);
	assert_int_equal(ob_get(f->st, c).state, OUTBOX_PENDING);
	assert_int_equal(ob_get(f->st, h).state, OUTBOX_PENDING);
	assert_int_equal(ob_get(f->st, d).state, OUTBOX_DEAD);
	/* a and b sent together, answered 250 */
	int64_t ids[] = { a, b };
	assert_int_equal(store_begin(f->st), 0);
	assert_int_equal(store_outbox_sent(f->st, ids, 2, 250, 1002), 0);
	assert_int_equal(store_commit(f->st), 0);
	for (size_t i = 0; i < 2; i++) {
		struct ob o = ob_get(f->st, ids[i]);
		assert_int_equal(o.state, OUTBOX_SENT);
		assert_int_equal(o.attempts, 1);
		assert_int_equal(o.code, 250);
		assert_string_equal(o.error, "");
		assert_i64(o.sent_at, 1002);
	}
	assert_int_equal(ob_get(f->st, c).state, OUTBOX_PENDING);
	/* none at all is fine */
	assert_int_equal(store_outbox_sent(f->st, ids, 0, 250, 1003), 0);
	assert_i64(ob_get(f->st, a).sent_at, 1002);
}

/* A row enqueued in this step may be trimmed or dropped again. */
static void test_outbox_drop_and_subject(void **state)
{
	struct store_fx *f = *state;
	int64_t a = ob_add(f->st, "email", "a", 1000, "r1 r2 r3");
	int64_t b = ob_add(f->st, "email", "a", 1000, "r4");
	struct outbox_row r;

	assert_int_equal(store_begin(f->st), 0);
	assert_int_equal(store_outbox_set_subject(f->st, a, "r2"), 0);
	assert_int_equal(store_outbox_drop(f->st, b), 0);
	assert_int_equal(store_commit(f->st), 0);
	assert_string_equal(ob_get(f->st, a).subject, "r2");
	assert_int_equal(store_outbox_get(f->st, b, &r), 0);
}

/* Schema 2 has the outbox; a database of version 1 is migrated to it, keeping its data. */
struct count_ctx {
	size_t n;
	int64_t last;
};

static int count_entry(const struct entry *e, void *arg)
{
	struct count_ctx *c = arg;
	c->n++;
	c->last = e->id;
	return 0;
}

static int count_snap(const char *period, int64_t at, int64_t taken_at, const char *data, void *arg)
{
	(void)period;
	(void)at;
	(void)taken_at;
	(void)data;
	(*(size_t *)arg)++;
	return 0;
}

static int count_audit(int64_t id, int64_t at, const char *actor, const char *command,
		       const char *result, void *arg)
{
	(void)id;
	(void)at;
	(void)actor;
	(void)command;
	(void)result;
	(*(size_t *)arg)++;
	return 0;
}

static int count_move(const struct move *m, void *arg)
{
	(void)m;
	(*(size_t *)arg)++;
	return 0;
}

static int count_first(int unit, const char *occ, int64_t at, void *arg)
{
	(void)unit;
	(void)occ;
	(void)at;
	(*(size_t *)arg)++;
	return 0;
}

static int claimed_year(const struct outbox_row *r, void *arg)
{
	int *years = arg;
	years[r->id % 2] = r->year;
	return 0;
}

/*
 * Two plan years in one database: no read of one sees a record of the
 * other, an automatic entry's key and a waiver hold within their year,
 * an entry of one year cannot be read or voided through the other's
 * handle; the queue of deliveries is one, each row with its year.
 */
static void test_years_apart(void **state)
{
	struct store_fx *f = *state;
	struct store *a = f->st, *b = store_year(f->st, 2021);
	int bk = bucket_of(f->p, "6c", "pushback");

	assert_ptr_equal(store_year(f->st, 2020), a);
	assert_ptr_equal(store_year(b, 2021), b);
	assert_int_equal(store_year_of(b), 2021);
	sync_plan(b, f->p);
	struct entry sub = mk(ENTRY_SUBMISSION, 0, "1", "1", NULL, -1, 0, 1000);
	struct entry fin = mk(ENTRY_FINDING, 0, "6c", NULL, "pushback", bk, -40, 1000);
	struct entry met = mk(ENTRY_METRIC, 0, "6c", NULL, "sat", -1, 0, 1000);
	met.value = 800000;
	int64_t sa = add(a, &sub), fa = add(a, &fin);
	add(a, &met);
	fin.points = -20;
	add(b, &fin);
	struct count_ctx c = { 0 };
	assert_int_equal(store_entries_of(a, 0, NULL, count_entry, &c), 0);
	assert_int_equal(c.n, 3);
	c.n = 0;
	assert_int_equal(store_entries_of(b, 0, NULL, count_entry, &c), 0);
	assert_int_equal(c.n, 1);
	assert_int_equal(store_first_submission(a, 0, "1"), 1000);
	assert_true(store_first_submission(b, 0, "1") == INT64_MAX);
	size_t nf = 0;
	assert_int_equal(store_first_submissions(b, count_first, &nf), 0);
	assert_int_equal(nf, 0);
	int64_t v;
	assert_int_equal(store_metric_latest(a, 0, "sat", 2000, false, &v), 1);
	assert_int_equal(store_metric_latest(b, 0, "sat", 2000, false, &v), 0);
	int64_t *acc = calloc(f->p->nunits * f->p->nbuckets, sizeof(*acc));
	assert_int_equal(store_accumulate(b, 2000, acc), 0);
	assert_int_equal(acc[(size_t)bk], -20);
	free(acc);
	/* an entry of 2020 is no entry of 2021 */
	struct entry g;
	assert_int_equal(store_entry_get(b, sa, &g), 0);
	assert_int_equal(store_entry_get(a, sa, &g), 1);
	assert_int_equal(store_begin(b), 0);
	assert_int_equal(store_entry_void(b, fa, 2000, "tester", "x"), -1);
	store_rollback(b);
	/* one key per year; a waiver in 2020 does not hold in 2021 */
	struct entry late = mk(ENTRY_LATE, 1, "1", "1", NULL, f->p->rows[0].bucket, -100, 3000);
	late.auto_key = "dl:b:1:0";
	int64_t la, lb;
	assert_int_equal(store_begin(a), 0);
	assert_int_equal(store_auto_add(a, &late, &la), 1);
	assert_int_equal(store_auto_add(b, &late, &lb), 1);
	assert_int_equal(store_auto_add(b, &late, NULL), 0);
	assert_int_equal(store_entry_void(a, la, 4000, "tester", "申诉"), 0);
	assert_int_equal(store_auto_add(a, &late, NULL), 0);
	assert_int_equal(store_auto_void(b, "dl:b:1:0", 0, 5000, "x", NULL), 1);
	assert_int_equal(store_auto_add(b, &late, NULL), 1);
	assert_int_equal(store_commit(a), 0);
	/* moves, snapshots, the audit trail, the marks */
	struct move m = { .unit = -1, .due_day = 100, .at = 1000, .reason = "r" };
	snprintf(m.occ, sizeof(m.occ), "1");
	snprintf(m.actor, sizeof(m.actor), "tester");
	assert_int_equal(store_begin(a), 0);
	assert_int_equal(store_move_add(a, &m), 0);
	assert_int_equal(store_snapshot_put(a, "2020-Q3", 1, 2, "[]"), 0);
	assert_int_equal(store_snapshot_put(b, "2020-Q3", 3, 4, "[1]"), 0);
	assert_int_equal(store_audit_add(b, 1, "root", "reload", "{}"), 0);
	assert_int_equal(store_set_hwm(a, 111), 0);
	assert_int_equal(store_meta_set(b, "adopted", 222), 0);
	assert_int_equal(store_commit(a), 0);
	size_t n = 0;
	assert_int_equal(store_moves(b, count_move, &n), 0);
	assert_int_equal(n, 0);
	n = 0;
	assert_int_equal(store_moves(a, count_move, &n), 0);
	assert_int_equal(n, 1);
	n = 0;
	assert_int_equal(store_snapshots(b, true, count_snap, &n), 0);
	assert_int_equal(n, 1);
	n = 0;
	assert_int_equal(store_audit(a, 10, count_audit, &n), 0);
	assert_int_equal(n, 0);
	n = 0;
	assert_int_equal(store_audit(b, 10, count_audit, &n), 0);
	assert_int_equal(n, 1);
	assert_int_equal(store_hwm(a), 111);
	assert_true(store_hwm(b) == INT64_MIN);
	assert_int_equal(store_meta_read(a, "adopted", &v), 0);
	int years[4];
	assert_int_equal(store_years_held(a, years, 4, &n), 0);
	assert_int_equal(n, 2);
	assert_int_equal(years[0], 2020);
	assert_int_equal(years[1], 2021);
	/* the outbox: one queue, each year's own rows and keys */
	int64_t oa = ob_add(a, "email", "a", 1000, "1"), ob = ob_add(b, "email", "a", 1000, "1");
	struct outbox_row r;
	assert_int_equal(store_outbox_get(b, oa, &r), 0);
	assert_int_equal(store_outbox_get(b, ob, &r), 1);
	assert_int_equal(r.year, 2021);
	int64_t counts[OUTBOX_NSTATES];
	assert_int_equal(store_outbox_counts(a, counts), 0);
	assert_int_equal(counts[OUTBOX_PENDING], 1);
	assert_int_equal(store_begin(a), 0);
	assert_int_equal(store_outbox_key_add(a, "a", "1", "before", "email:x", oa), 1);
	assert_int_equal(store_outbox_key_add(b, "a", "1", "before", "email:x", ob), 1);
	assert_int_equal(store_outbox_key_add(b, "a", "1", "before", "email:x", ob), 0);
	int claimed[2] = { 0, 0 };
	assert_int_equal(store_outbox_claim(a, "email", 2000000, 10, claimed_year, claimed), 0);
	assert_int_equal(store_commit(a), 0);
	assert_int_equal(claimed[oa % 2], 2020);
	assert_int_equal(claimed[ob % 2], 2021);
}

#define SCHEMA2_FIXTURE KAOHE_SOURCE_DIR "/tests/unit/data/schema2-2026.db"

/* A copy of the schema 2 database (made by kaohed 0.1.0; see make-schema2.sh) at F's path. */
static void copy_fixture(struct store_fx *f)
{
	size_t len;
	char *db = read_whole(SCHEMA2_FIXTURE, &len);
	FILE *out = fopen(f->path, "wb");
	assert_non_null(out);
	assert_int_equal(fwrite(db, 1, len, out), len);
	assert_int_equal(fclose(out), 0);
	free(db);
	assert_int_equal(sql_int(f->path, "PRAGMA user_version"), 2);
}

static const char *const fixture_units[] = { "ua", "ub", NULL };

/*
 * Open F's copy for a default year of DEFAULT_YEAR in the plan's time
 * zone (the daemon's, set by its configuration), the log captured: the
 * year it says the data are of.
 */
static int open_logged(struct store_fx *f, int default_year, char *log, size_t len)
{
	struct capture cap;
	char err[512];
	assert_int_equal(calendar_set_timezone("Asia/Shanghai", err, sizeof(err)), 0);
	log_set_level(LOG_LEVEL_INFO);
	capture_begin(&cap);
	f->st = store_open(f->path, default_year, err, sizeof(err));
	char *text = capture_text(&cap);
	capture_end(&cap, 0);
	log_set_level(LOG_LEVEL_ERROR);
	assert_int_equal(calendar_set_timezone("UTC", err, sizeof(err)), 0);
	if (f->st == NULL)
		fail_msg("store_open: %s", err);
	snprintf(log, len, "%s", text);
	free(text);
	const char *at = strstr(log, "holds plan year ");
	return at ? atoi(at + strlen("holds plan year ")) : -1;
}

/*
 * A real database of schema 2 (one plan year, 2026, as kaohed 0.1.0 left
 * it) migrates in place: everything it holds becomes 2026's, found from
 * its snapshots whatever the default year; its high-water mark becomes
 * 2026's, and it adopted 2026 from its start.  2027 sees nothing of it.
 */
static void test_migrate_schema_2(void **state)
{
	struct store_fx *f = *state;
	char log[2048];

	copy_fixture(f);
	plan_free(f->p);
	f->p = mini_plan(fixture_units);
	int64_t entries = sql_int(f->path, "SELECT count(*) FROM entries");
	int64_t hwm = sql_int(f->path, "SELECT value FROM meta WHERE key = 'hwm'");
	assert_true(entries > 10);
	assert_int_equal(open_logged(f, 2027, log, sizeof(log)), 2026);
	assert_non_null(strstr(log, "(from its snapshots)"));
	assert_int_equal(sql_int(f->path, "PRAGMA user_version"), store_schema_latest());
	/* nothing lost, nothing of another year */
	assert_int_equal(sql_int(f->path, "SELECT count(*) FROM entries"), entries);
	static const char *const tables[] = { "entries", "moves",    "snapshots", "audit",
					      "outbox",  "reminded", "waivers" };
	for (size_t i = 0; i < sizeof(tables) / sizeof(tables[0]); i++) {
		char sql[128];
		snprintf(sql, sizeof(sql), "SELECT count(*) FROM %s WHERE year <> 2026", tables[i]);
		assert_int_equal(sql_int(f->path, sql), 0);
		snprintf(sql, sizeof(sql), "SELECT count(*) FROM %s", tables[i]);
		assert_true(sql_int(f->path, sql) > 0);
	}
	struct store *y26 = store_year(f->st, 2026), *y27 = store_year(f->st, 2027);
	sync_plan(y26, f->p);
	sync_plan(y27, f->p);
	assert_int_equal(store_hwm(y26), hwm);
	assert_true(store_hwm(y27) == INT64_MIN);
	int64_t adopted = 0;
	assert_int_equal(store_meta_read(y26, "adopted", &adopted), 1);
	assert_int_equal(adopted, T("2026-01-01T00:00:00+08:00"));
	assert_int_equal(store_meta_read(y27, "adopted", &adopted), 0);
	int years[4];
	size_t n;
	assert_int_equal(store_years_held(f->st, years, 4, &n), 0);
	assert_int_equal(n, 1);
	assert_int_equal(years[0], 2026);
	/* the ledger, snapshots, audit and outbox read through 2026's handle only */
	struct count_ctx c = { 0 };
	assert_int_equal(store_entries_of(y26, 0, NULL, count_entry, &c), 0);
	assert_true(c.n > 0);
	size_t ua = c.n;
	c.n = 0;
	assert_int_equal(store_entries_of(y27, 0, NULL, count_entry, &c), 0);
	assert_int_equal(c.n, 0);
	size_t snaps = 0;
	assert_int_equal(store_snapshots(y26, false, count_snap, &snaps), 0);
	assert_int_equal(snaps, 3);
	snaps = 0;
	assert_int_equal(store_snapshots(y27, false, count_snap, &snaps), 0);
	assert_int_equal(snaps, 0);
	int64_t counts[OUTBOX_NSTATES];
	int64_t in26 = 0, in27 = 0;
	assert_int_equal(store_outbox_counts(y26, counts), 0);
	for (int i = 0; i < OUTBOX_NSTATES; i++)
		in26 += counts[i];
	assert_int_equal(store_outbox_counts(y27, counts), 0);
	for (int i = 0; i < OUTBOX_NSTATES; i++)
		in27 += counts[i];
	assert_int_equal(in26, sql_int(f->path, "SELECT count(*) FROM outbox"));
	assert_true(in26 > 0);
	assert_int_equal(in27, 0);
	/* the waiver of ub's voided deduction holds in 2026, not in 2027 */
	struct entry w = mk(ENTRY_MISSING, 1, "1", "1", NULL, -1, -200, 1000);
	w.auto_key = "dl:ub:1:0";
	assert_int_equal(store_begin(f->st), 0);
	assert_int_equal(store_auto_add(y26, &w, NULL), 0);
	assert_int_equal(store_auto_add(y27, &w, NULL), 1);
	store_rollback(f->st);
	/* a reopening does not migrate again */
	store_close(f->st);
	f->st = NULL;
	assert_int_equal(open_logged(f, 2027, log, sizeof(log)), -1);
	y26 = store_year(f->st, 2026);
	sync_plan(y26, f->p);
	c.n = 0;
	assert_int_equal(store_entries_of(y26, 0, NULL, count_entry, &c), 0);
	assert_int_equal(c.n, ua);
}

/*
 * A schema 2 database without snapshots holds the year of its
 * high-water mark (00:00 of January 1 is the year before's last close);
 * without either, the default year.
 */
static void test_migrate_schema_2_year_from_the_mark(void **state)
{
	struct store_fx *f = *state;
	char log[2048];
	static const struct {
		const char *sql;
		int year;
		const char *why;
	} cases[] = {
		{ "DELETE FROM snapshots", 2026, "(from its high-water mark)" },
		{ "DELETE FROM snapshots; UPDATE meta SET value = 1798732800 WHERE key = 'hwm'",
		  2026, "(from its high-water mark)" }, /* 2027-01-01T00:00:00+08:00 */
		{ "DELETE FROM snapshots; UPDATE meta SET value = 1798732801 WHERE key = 'hwm'",
		  2027, "(from its high-water mark)" },
		{ "DELETE FROM snapshots; DELETE FROM meta", 2031, "never ran" },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		copy_fixture(f);
		sql_exec(f->path, cases[i].sql);
		assert_int_equal(open_logged(f, 2031, log, sizeof(log)), cases[i].year);
		assert_non_null(strstr(log, cases[i].why));
		assert_int_equal(sql_int(f->path, "SELECT count(DISTINCT year) FROM entries"), 1);
		char sql[96];
		snprintf(sql, sizeof(sql), "SELECT count(*) FROM entries WHERE year = %d",
			 cases[i].year);
		assert_true(sql_int(f->path, sql) > 10);
		store_close(f->st);
		f->st = NULL;
		unlink(f->path);
	}
}

/* A database of schema 1 (no outbox yet) migrates through 2 to 3. */
static void test_migrate_schema_1(void **state)
{
	struct store_fx *f = *state;
	char log[2048];

	copy_fixture(f);
	sql_exec(f->path, "DROP TABLE reminded; DROP TABLE outbox; PRAGMA user_version = 1;");
	assert_int_equal(open_logged(f, 2031, log, sizeof(log)), 2026);
	assert_int_equal(sql_int(f->path, "PRAGMA user_version"), store_schema_latest());
	assert_int_equal(sql_int(f->path, "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table'"
					  " AND name IN ('outbox', 'reminded')"),
			 2);
	plan_free(f->p);
	f->p = mini_plan(fixture_units);
	struct store *y26 = store_year(f->st, 2026);
	sync_plan(y26, f->p);
	int64_t id = ob_add(y26, "email", "ua", 1000, "x");
	assert_int_equal(ob_get(y26, id).state, OUTBOX_PENDING);
}

/*
 * The numbers the database holds for entry types and outbox states, and
 * that the schema's partial indexes and statements name: a reordered
 * enum would read every existing database wrong.
 */
static void test_persisted_numbers(void **state)
{
	struct store_fx *f = *state;
	static const struct {
		int value, want;
	} pins[] = {
		{ ENTRY_SUBMISSION, 1 }, { ENTRY_LATE, 2 },       { ENTRY_MISSING, 3 },
		{ ENTRY_FINDING, 4 },    { ENTRY_AWARD, 5 },      { ENTRY_THRESHOLD, 6 },
		{ ENTRY_RANKING, 7 },    { ENTRY_METRIC, 8 },     { OUTBOX_PENDING, 0 },
		{ OUTBOX_INFLIGHT, 1 },  { OUTBOX_SENT, 2 },      { OUTBOX_FAILED, 3 },
		{ OUTBOX_DEAD, 4 },      { OUTBOX_CANCELLED, 5 },
	};
	char sql[256], text[512];

	for (size_t i = 0; i < sizeof(pins) / sizeof(pins[0]); i++)
		assert_int_equal(pins[i].value, pins[i].want);
	assert_int_equal(OUTBOX_NSTATES, 6);

	f->st = open_synced(f->path, f->p);
	struct entry sub = mk(ENTRY_SUBMISSION, 0, "1", "1", NULL, -1, 0, 1000);
	int64_t s = add(f->st, &sub);
	int64_t m = metric(f->st, 0, "dissatisfaction", 800000, 1000);
	snprintf(sql, sizeof(sql), "SELECT type FROM entries WHERE id = %lld", (long long)s);
	assert_int_equal(sql_int(f->path, sql), 1);
	snprintf(sql, sizeof(sql), "SELECT type FROM entries WHERE id = %lld", (long long)m);
	assert_int_equal(sql_int(f->path, sql), 8);
	/* the partial index a metric's lookup uses names the metric's number */
	sql_text(f->path, "SELECT sql FROM sqlite_master WHERE name = 'entries_metric'", text,
		 sizeof(text));
	assert_non_null(strstr(text, "WHERE type = 8 AND voided_at IS NULL"));
	sql_text(f->path, "SELECT sql FROM sqlite_master WHERE name = 'outbox_next'", text,
		 sizeof(text));
	assert_non_null(strstr(text, "WHERE state IN (0, 3)"));

	int64_t id = ob_add(f->st, "email", "a", 1000, "x");
	for (int st = 0; st < OUTBOX_NSTATES; st++) {
		ob_set(f->st, id, (enum outbox_state)st, 1, 1000 * 1000, 2000);
		snprintf(sql, sizeof(sql), "SELECT state FROM outbox WHERE id = %lld",
			 (long long)id);
		assert_int_equal(sql_int(f->path, sql), st);
		assert_int_equal(ob_get(f->st, id).state, st);
	}
	/* a failed row waits for its next attempt, an in-flight one does not */
	ob_set(f->st, id, OUTBOX_FAILED, 1, 1000 * 1000, 2000);
	int64_t next = 0;
	assert_int_equal(store_outbox_next(f->st, "email", &next), 1);
	ob_set(f->st, id, OUTBOX_INFLIGHT, 1, 1000 * 1000, 2000);
	assert_int_equal(store_outbox_next(f->st, "email", &next), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_open_memory, setup_mem, teardown),
		cmocka_unit_test_setup_teardown(test_persisted_numbers, setup_file, teardown),
		cmocka_unit_test_setup_teardown(test_open_file_wal, setup_file, teardown),
		cmocka_unit_test_setup_teardown(test_reopen_keeps_data, setup_file, teardown),
		cmocka_unit_test_setup_teardown(test_newer_schema_refused, setup_file, teardown),
		cmocka_unit_test_setup_teardown(test_old_schema_migrated, setup_file, teardown),
		cmocka_unit_test_setup_teardown(test_sync_plan_idempotent, setup_file, teardown),
		cmocka_unit_test_setup_teardown(test_sync_plan_remaps, setup_mem, teardown),
		cmocka_unit_test_setup_teardown(test_savepoint_rollback_keeps_outer, setup_mem,
						teardown),
		cmocka_unit_test_setup_teardown(test_outer_rollback_discards_all, setup_mem,
						teardown),
		cmocka_unit_test_setup_teardown(test_nested_three_levels, setup_mem, teardown),
		cmocka_unit_test_setup_teardown(test_full_disk_reports_the_first_error, setup_file,
						teardown),
		cmocka_unit_test_setup_teardown(test_backup_paths, setup_file, teardown),
		cmocka_unit_test_setup_teardown(test_backup_swapped_directory, setup_file,
						teardown),
		cmocka_unit_test_setup_teardown(test_backup_name_too_long, setup_file, teardown),
		cmocka_unit_test_setup_teardown(test_entry_add_get_void, setup_mem, teardown),
		cmocka_unit_test_setup_teardown(test_entries_of_and_by_key, setup_mem, teardown),
		cmocka_unit_test_setup_teardown(test_first_submission_ignores_voided, setup_mem,
						teardown),
		cmocka_unit_test_setup_teardown(test_submitted, setup_mem, teardown),
		cmocka_unit_test_setup_teardown(test_metric_latest, setup_mem, teardown),
		cmocka_unit_test_setup_teardown(test_accumulate_as_of, setup_mem, teardown),
		cmocka_unit_test_setup_teardown(test_moves, setup_mem, teardown),
		cmocka_unit_test_setup_teardown(test_snapshots, setup_mem, teardown),
		cmocka_unit_test_setup_teardown(test_audit_last_n, setup_mem, teardown),
		cmocka_unit_test_setup_teardown(test_hwm, setup_mem, teardown),
		cmocka_unit_test_setup_teardown(test_outbox_add_get, setup_mem, teardown),
		cmocka_unit_test(test_outbox_states_named),
		cmocka_unit_test_setup_teardown(test_outbox_list, setup_mem, teardown),
		cmocka_unit_test_setup_teardown(test_outbox_list_callback_stops, setup_mem,
						teardown),
		cmocka_unit_test_setup_teardown(test_outbox_claim_due, setup_mem, teardown),
		cmocka_unit_test_setup_teardown(test_outbox_next, setup_mem, teardown),
		cmocka_unit_test_setup_teardown(test_outbox_update, setup_mem, teardown),
		cmocka_unit_test_setup_teardown(test_outbox_requeue, setup_mem, teardown),
		cmocka_unit_test_setup_teardown(test_outbox_retry, setup_mem, teardown),
		cmocka_unit_test_setup_teardown(test_outbox_counts, setup_mem, teardown),
		cmocka_unit_test_setup_teardown(test_outbox_keys, setup_mem, teardown),
		cmocka_unit_test_setup_teardown(test_outbox_claim_and_sent, setup_mem, teardown),
		cmocka_unit_test_setup_teardown(test_outbox_drop_and_subject, setup_mem, teardown),
		cmocka_unit_test_setup_teardown(test_migrate_schema_2, setup_file, teardown),
		cmocka_unit_test_setup_teardown(test_migrate_schema_2_year_from_the_mark,
						setup_file, teardown),
		cmocka_unit_test_setup_teardown(test_migrate_schema_1, setup_file, teardown),
		cmocka_unit_test_setup_teardown(test_years_apart, setup_mem, teardown),
	};
	log_set_level(LOG_LEVEL_ERROR);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
