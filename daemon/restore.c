/*
 * restore — the order of the steps is what makes it safe:
 *
 *   1. the state directory's lock, so that no kaohed runs (or starts)
 *      while the database changes under it;
 *   2. a copy of the backup (and of its write-ahead log, if any) inside
 *      the state directory, so that what is checked is what is installed,
 *      and the rename is atomic;
 *   3. the checks, on the copy;
 *   4. the current database made whole (its write-ahead log checkpointed)
 *      and linked aside under a name with the time: it stays in place
 *      until the rename, so no moment is without a database;
 *   5. the copy renamed over kaohe.db, and the directory synced.
 */
#include <errno.h>
#include <fcntl.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "kaohe/calendar.h"
#include "kaohe/restore.h"
#include "kaohe/store.h"
#include "kaohe/util.h"

static int fail(char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int fail(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	return -1;
}

/* The lock kaohed holds on DIR/kaohe.lock: its descriptor, or -1 (ERR says who holds it). */
static int lock_dir(const char *dir, char *err, size_t errlen)
{
	char *path = xasprintf("%s/kaohe.lock", dir);
	char pid[32];
	int fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0640);
	struct stat sb;

	/* Made here: kaohed (the directory's owner) refuses a lock file of another user's. */
	if (fd >= 0 && stat(dir, &sb) == 0)
		(void)!fchown(fd, sb.st_uid, sb.st_gid);
	else if (fd < 0 && errno == EEXIST)
		fd = open(path, O_RDWR | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
	if (fd < 0) {
		fail(err, errlen, "cannot open %s: %s", path, strerror(errno));
	} else if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
		ssize_t n = pread(fd, pid, sizeof(pid) - 1, 0);
		pid[n > 0 ? n : 0] = '\0';
		pid[strspn(pid, "0123456789")] = '\0';
		if (errno == EWOULDBLOCK)
			fail(err, errlen,
			     "kaohed (pid %s) runs on the state directory %s (it holds %s): stop "
			     "it first (systemctl stop kaohed)",
			     *pid ? pid : "unknown", dir, path);
		else
			fail(err, errlen, "cannot lock %s: %s", path, strerror(errno));
		close(fd);
		fd = -1;
	}
	free(path);
	return fd;
}

/* Copy FROM to the new file TO (mode 0600), synced; 0 or -1. */
static int copy_file(const char *from, const char *to, char *err, size_t errlen)
{
	char buf[65536];
	struct stat sb;
	/* O_NONBLOCK: a FIFO named by mistake is refused below, not waited on. */
	int in = open(from, O_RDONLY | O_CLOEXEC | O_NONBLOCK), out = -1, rc = -1;
	ssize_t n = 0;

	if (in < 0)
		return fail(err, errlen, "cannot open %s: %s", from, strerror(errno));
	if (fstat(in, &sb) < 0 || !S_ISREG(sb.st_mode)) {
		fail(err, errlen, "%s is not a file", from);
		goto out;
	}
	unlink(to); /* a copy a failed restore left behind */
	out = open(to, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (out < 0) {
		fail(err, errlen, "cannot create %s: %s", to, strerror(errno));
		goto out;
	}
	while ((n = read(in, buf, sizeof(buf))) > 0)
		if (write(out, buf, (size_t)n) != n) {
			n = -1;
			break;
		}
	if (n < 0 || fsync(out) < 0) {
		fail(err, errlen, "cannot copy %s to %s: %s", from, to, strerror(errno));
		goto out;
	}
	rc = 0;
out:
	if (out >= 0 && close(out) < 0 && rc == 0)
		rc = fail(err, errlen, "cannot write %s: %s", to, strerror(errno));
	close(in);
	if (rc < 0 && out >= 0)
		unlink(to);
	return rc;
}

/* The first column of the first row of SQL on DB as an integer; -1 (ERR) on error. */
static int scalar(sqlite3 *db, const char *sql, int64_t *out, char *err, size_t errlen)
{
	sqlite3_stmt *s;
	if (sqlite3_prepare_v2(db, sql, -1, &s, NULL) != SQLITE_OK)
		return fail(err, errlen, "%s", sqlite3_errmsg(db));
	int rc = sqlite3_step(s);
	*out = rc == SQLITE_ROW ? sqlite3_column_int64(s, 0) : 0;
	sqlite3_finalize(s);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		return fail(err, errlen, "%s", sqlite3_errmsg(db));
	return 0;
}

/* What a checked backup holds of one plan year, or in all. */
struct held_year {
	int year;
	int64_t hwm;     /* the high-water mark, or 0: never run */
	int64_t adopted; /* the adoption instant, or 0: none recorded */
	int64_t entries, snapshots, deliveries;
};

/* What a checked backup holds, for the report. */
struct held {
	int version;
	struct held_year all; /* in all: the latest high-water mark, every row counted */
	struct held_year *y;  /* from schema 3 on, each plan year it holds, ascending */
	size_t ny, ycap;
};

/* PRAGMA integrity_check: "ok", or its first complaints in ERR. */
static int integrity(sqlite3 *db, const char *name, char *err, size_t errlen)
{
	sqlite3_stmt *s;
	struct sbuf why;
	int rc, lines = 0;

	if (sqlite3_prepare_v2(db, "PRAGMA integrity_check", -1, &s, NULL) != SQLITE_OK)
		return fail(err, errlen, "%s is not a SQLite database: %s", name,
			    sqlite3_errmsg(db));
	sbuf_init(&why);
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		const char *t = (const char *)sqlite3_column_text(s, 0);
		if (t && strcmp(t, "ok") != 0 && lines++ < 3)
			sbuf_printf(&why, "%s%s", why.len ? "; " : "", t);
	}
	sqlite3_finalize(s);
	if (rc != SQLITE_DONE)
		fail(err, errlen, "%s is not a sound SQLite database: %s", name,
		     sqlite3_errmsg(db));
	else if (lines)
		fail(err, errlen, "%s fails PRAGMA integrity_check: %s", name, why.buf);
	sbuf_free(&why);
	return rc == SQLITE_DONE && lines == 0 ? 0 : -1;
}

/* Whether YEAR is one of the N configured YEARS. */
static bool configured(const int *years, size_t n, int year)
{
	for (size_t i = 0; i < n; i++)
		if (years[i] == year)
			return true;
	return false;
}

/*
 * The plan years BACKUP (schema version V) holds: those its snapshots
 * name, and from schema 3 on those its records and high-water marks
 * belong to, each with what it holds of it (in H).  Each must be one of
 * the N configured YEARS: a year not configured is refused, with the list.
 */
static int held_years(sqlite3 *db, int v, const int *years, size_t n, const char *name,
		      struct held *h, char *err, size_t errlen)
{
	static const char snapshots[] =
		"SELECT DISTINCT CAST(substr(period, 1, 4) AS INTEGER) FROM snapshots ORDER BY 1";
	static const char records[] =
		"SELECT y, (SELECT value FROM meta WHERE key = 'hwm:' || y),"
		"  (SELECT value FROM meta WHERE key = 'adopted:' || y),"
		"  (SELECT count(*) FROM entries WHERE year = y),"
		"  (SELECT count(*) FROM snapshots WHERE year = y),"
		"  (SELECT count(*) FROM outbox WHERE year = y)"
		" FROM (SELECT CAST(substr(period, 1, 4) AS INTEGER) AS y FROM snapshots"
		"  UNION SELECT year FROM snapshots UNION SELECT year FROM entries"
		"  UNION SELECT year FROM outbox"
		"  UNION SELECT CAST(substr(key, instr(key, ':') + 1) AS INTEGER) FROM meta"
		"   WHERE key LIKE 'hwm:%' OR key LIKE 'adopted:%') ORDER BY y";
	sqlite3_stmt *s;
	struct sbuf other, runs;
	int rc;

	if (sqlite3_prepare_v2(db, v >= 3 ? records : snapshots, -1, &s, NULL) != SQLITE_OK)
		return fail(err, errlen, "%s: %s", name, sqlite3_errmsg(db));
	sbuf_init(&other);
	sbuf_init(&runs);
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		int year = sqlite3_column_int(s, 0);
		if (!configured(years, n, year))
			sbuf_printf(&other, "%s%d", other.len ? ", " : "", year);
		if (v < 3)
			continue;
		util_reserve(&h->y, &h->ycap, h->ny + 1, sizeof(*h->y));
		h->y[h->ny++] = (struct held_year){ .year = year,
						    .hwm = sqlite3_column_int64(s, 1),
						    .adopted = sqlite3_column_int64(s, 2),
						    .entries = sqlite3_column_int64(s, 3),
						    .snapshots = sqlite3_column_int64(s, 4),
						    .deliveries = sqlite3_column_int64(s, 5) };
	}
	sqlite3_finalize(s);
	for (size_t i = 0; i < n; i++)
		sbuf_printf(&runs, "%s%d", i ? ", " : "", years[i]);
	if (rc != SQLITE_DONE)
		fail(err, errlen, "%s: %s", name, sqlite3_errmsg(db));
	else if (other.len)
		fail(err, errlen,
		     "%s holds the plan year %s, and the configuration runs %s: restore it with "
		     "a configuration that names each of its years (-c FILE, --year)",
		     name, other.buf, runs.buf);
	int ret = rc == SQLITE_DONE && other.len == 0 ? 0 : -1;
	sbuf_free(&other);
	sbuf_free(&runs);
	return ret;
}

/*
 * Check the copy COPY of BACKUP: sound, a kaohe schema this build knows,
 * of configured years only (YEARS, N); then made a database of one file
 * (no write-ahead log to carry).  0 with what it holds in H, or -1.
 */
static int check(const char *copy, const char *backup, const int *years, size_t n, struct held *h,
		 char *err, size_t errlen)
{
	sqlite3 *db = NULL;
	int64_t v, tables;
	int rc = -1;

	if (sqlite3_open_v2(copy, &db, SQLITE_OPEN_READWRITE, NULL) != SQLITE_OK) {
		fail(err, errlen, "cannot open %s: %s", backup,
		     db ? sqlite3_errmsg(db) : "no memory");
		goto out;
	}
	if (integrity(db, backup, err, errlen) < 0 ||
	    scalar(db, "PRAGMA user_version", &v, err, errlen) < 0)
		goto out;
	h->version = (int)v;
	if (scalar(db,
		   "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name IN "
		   "('meta', 'units', 'entries', 'snapshots', 'audit')",
		   &tables, err, errlen) < 0)
		goto out;
	if (v < 1 || tables != 5) {
		fail(err, errlen,
		     "%s is not a kaohe database (schema version %lld, %lld of its 5 "
		     "first tables)",
		     backup, (long long)v, (long long)tables);
		goto out;
	}
	if (v > store_schema_latest()) {
		fail(err, errlen,
		     "%s has schema version %lld, newer than this kaohed knows (%d): restore it "
		     "with the kaohed that wrote it",
		     backup, (long long)v, store_schema_latest());
		goto out;
	}
	if (held_years(db, (int)v, years, n, backup, h, err, errlen) < 0 ||
	    scalar(db,
		   "SELECT coalesce(max(value), 0) FROM meta WHERE key = 'hwm' OR key LIKE 'hwm:%'",
		   &h->all.hwm, err, errlen) < 0 ||
	    scalar(db, "SELECT count(*) FROM entries", &h->all.entries, err, errlen) < 0 ||
	    scalar(db, "SELECT count(*) FROM snapshots", &h->all.snapshots, err, errlen) < 0)
		goto out;
	if (v >= 2 &&
	    scalar(db, "SELECT count(*) FROM outbox", &h->all.deliveries, err, errlen) < 0)
		goto out;
	if (sqlite3_exec(db, "PRAGMA journal_mode = DELETE", NULL, NULL, NULL) != SQLITE_OK) {
		fail(err, errlen, "%s: %s", backup, sqlite3_errmsg(db));
		goto out;
	}
	rc = 0;
out:
	sqlite3_close(db);
	return rc;
}

/*
 * Make DB (the current database) one whole file: what its write-ahead log
 * holds is checkpointed into it.  A database that cannot be opened is
 * kept as it is, log and all.
 */
static void settle_current(const char *db)
{
	sqlite3 *h = NULL;
	if (sqlite3_open_v2(db, &h, SQLITE_OPEN_READWRITE, NULL) == SQLITE_OK)
		sqlite3_exec(h, "PRAGMA journal_mode = DELETE", NULL, NULL, NULL);
	sqlite3_close(h);
}

/* DB and whatever -wal and -shm remain to ASIDE (DB itself linked: it stays until the rename). */
static int keep_aside(const char *db, char **asidep, char *err, size_t errlen)
{
	static const char *const side[] = { "-wal", "-shm", "-journal" };
	char *base = xstrdup(*asidep), *aside = *asidep;
	int n = 1, made;

	/* Two restores within one second: the second name takes a number. */
	while ((made = link(db, aside)) < 0 && errno == EEXIST && n < 100) {
		free(aside);
		aside = *asidep = xasprintf("%s.%d", base, ++n);
	}
	int link_errno = errno;
	free(base);
	if (made < 0)
		return fail(err, errlen, "cannot keep %s as %s: %s", db, aside,
			    strerror(link_errno));
	for (size_t i = 0; i < sizeof(side) / sizeof(side[0]); i++) {
		char *from = xasprintf("%s%s", db, side[i]),
		     *to = xasprintf("%s%s", aside, side[i]);
		int rc = rename(from, to);
		int e = errno;
		free(from);
		free(to);
		if (rc < 0 && e != ENOENT)
			return fail(err, errlen, "cannot keep %s%s aside: %s", db, side[i],
				    strerror(e));
	}
	return 0;
}

/* The new file takes the current database's owner and mode, else the directory's owner. */
static void take_owner(const char *copy, const char *db, const char *dir)
{
	struct stat sb;
	if (stat(db, &sb) == 0) {
		(void)!chown(copy, sb.st_uid, sb.st_gid);
		chmod(copy, sb.st_mode & 0777);
	} else if (stat(dir, &sb) == 0) {
		(void)!chown(copy, sb.st_uid, sb.st_gid);
		chmod(copy, 0640);
	}
}

/* "applied up to INSTANT (adopted at INSTANT); N entries, …" of H, a line. */
static void report_year(FILE *out, const struct held_year *h)
{
	char when[40];

	if (h->hwm) {
		calendar_format_instant(h->hwm, when, sizeof(when));
		fprintf(out, "applied up to %s", when);
	} else {
		fprintf(out, "applied up to (never run)");
	}
	if (h->adopted) {
		calendar_format_instant(h->adopted, when, sizeof(when));
		fprintf(out, " (adopted at %s)", when);
	}
	fprintf(out, "; %lld entries, %lld snapshots, %lld deliveries\n", (long long)h->entries,
		(long long)h->snapshots, (long long)h->deliveries);
}

/*
 * What BACKUP installed as DB holds, on OUT: on one line for one plan
 * year (or a database from before plan years: then as a whole, for the
 * configured YEARS), else a line per year it holds.
 */
static void report(FILE *out, const char *backup, const char *db, const struct held *h,
		   const int *years, size_t nyears)
{
	size_t n = h->ny ? h->ny : nyears;

	fprintf(out, "restored %s as %s: schema version %d, plan year%s ", backup, db, h->version,
		n > 1 ? "s" : "");
	for (size_t i = 0; i < n; i++)
		fprintf(out, "%s%d", i ? ", " : "", h->ny ? h->y[i].year : years[i]);
	if (h->ny < 2) {
		fprintf(out, ", ");
		report_year(out, h->ny ? &h->y[0] : &h->all);
		return;
	}
	fprintf(out, ":\n");
	for (size_t i = 0; i < h->ny; i++) {
		fprintf(out, "  %d: ", h->y[i].year);
		report_year(out, &h->y[i]);
	}
}

int restore_run(const int *years, size_t nyears, const char *state_dir, const char *backup,
		int64_t now, FILE *out, char *err, size_t errlen)
{
	char stamp[32];
	struct held h = { 0 };
	struct tm tm;
	time_t t = (time_t)now;
	int lock = lock_dir(state_dir, err, errlen);

	if (lock < 0)
		return -1;
	char *db = xasprintf("%s/kaohe.db", state_dir);
	char *copy = xasprintf("%s/kaohe.db.restoring", state_dir);
	gmtime_r(&t, &tm);
	strftime(stamp, sizeof(stamp), "%Y%m%dT%H%M%SZ", &tm);
	char *aside = xasprintf("%s.before-restore-%s", db, stamp);
	bool had = access(db, F_OK) == 0;
	int rc = -1;

	if (copy_file(backup, copy, err, errlen) < 0)
		goto out;
	/* What a backup in WAL mode's log holds is part of it: the log goes along, and
	 * the check below writes it into the copy. */
	char *wal = xasprintf("%s-wal", backup), *copy_wal = xasprintf("%s-wal", copy);
	unlink(copy_wal);
	int walrc = access(wal, F_OK) == 0 ? copy_file(wal, copy_wal, err, errlen) : 0;
	free(wal);
	if (walrc < 0 || check(copy, backup, years, nyears, &h, err, errlen) < 0) {
		unlink(copy_wal);
		free(copy_wal);
		unlink(copy);
		goto out;
	}
	free(copy_wal);
	take_owner(copy, db, state_dir);
	if (had) {
		settle_current(db);
		if (keep_aside(db, &aside, err, errlen) < 0) {
			unlink(copy);
			goto out;
		}
	}
	if (rename(copy, db) < 0) {
		fail(err, errlen, "cannot rename %s to %s: %s", copy, db, strerror(errno));
		unlink(copy);
		goto out;
	}
	int dfd = open(state_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd >= 0) {
		fsync(dfd);
		close(dfd);
	}
	report(out, backup, db, &h, years, nyears);
	if (had)
		fprintf(out, "the database it replaces is kept as %s\n", aside);
	fprintf(out, "start kaohed: what fell due since then is applied once, as after any "
		     "stop\n");
	rc = 0;
out:
	free(db);
	free(copy);
	free(aside);
	free(h.y);
	close(lock);
	return rc;
}
