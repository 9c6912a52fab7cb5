/*
 * test_publish — the files the district publishes, written from a real
 * store (a SQLite file) where the engine ran the shipped plan from its
 * issue date to 2020-12-01 (snapshots of 2020-Q2 and 2020-Q3; 2020-Q4
 * not yet taken), with two findings recorded by hand, one of them voided
 * later.
 *
 * What is written (exactly the expected files, mode 0644 whatever the
 * umask, the directory 0755), each file the same as publish_render gives,
 * why each unit lost points as of each snapshot, the provisional page of
 * a quarter without a snapshot, an unknown period, a publication that
 * changed nothing writing nothing (a feed's DTSTAMP aside), a changed
 * file replaced by a rename (a reader of the old one keeps it whole),
 * what a failure leaves (the files written stay whole, no temporary
 * file), an export directory that cannot be made or written, an
 * unreadable snapshot, and the feeds: a unit without a schedule of its
 * own linked to all.ics, one with a move its own file, and back.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "kaohe/feed.h"
#include "kaohe/publish.h"
#include "kaohe/util.h"
#include "support.h"

static char g_dir[64];
static struct store *g_st;
static struct engine *g_eng;
static int64_t g_now;
static const struct plan *g_p;
/* What the fixture recorded by hand. */
static char g_kind_name[128];

/* ---- the fixture --------------------------------------------------------- */

/* A finding of "pushback" on row 6c of bayilu; its entry id. */
static int64_t add_finding(const char *at, int64_t count, const char *note)
{
	int row = plan_row_find(g_p, "6c");
	int kind = plan_kind_find(&g_p->rows[row], "pushback");
	struct entry e = { .unit = plan_unit_find(g_p, "bayilu"),
			   .type = ENTRY_FINDING,
			   .bucket = g_p->rows[row].kinds[kind].bucket,
			   .count = count,
			   .points = -g_p->rows[row].kinds[kind].per * count,
			   .at = T(at),
			   .recorded_at = T(at),
			   .note = note };
	int64_t id;
	snprintf(e.row, sizeof(e.row), "6c");
	snprintf(e.kind, sizeof(e.kind), "pushback");
	snprintf(e.actor, sizeof(e.actor), "tester");
	assert_int_equal(store_entry_add(g_st, &e, &id), 0);
	return id;
}

static int group_setup(void **state)
{
	char path[128];

	if (config_group_setup(state) < 0 || shanghai_group_setup(state) < 0)
		return -1;
	g_p = g_cfg->plan;
	temp_dir(g_dir, sizeof(g_dir), "publish");
	snprintf(path, sizeof(path), "%s/kaohe.db", g_dir);
	g_st = open_synced(path, g_p);

	int row = plan_row_find(g_p, "6c");
	snprintf(g_kind_name, sizeof(g_kind_name), "%s",
		 g_p->rows[row].kinds[plan_kind_find(&g_p->rows[row], "pushback")].name);
	assert_int_equal(store_begin(g_st), 0);
	add_finding("2020-08-10T10:00:00+08:00", 3, "楼道堆物");
	int64_t voided = add_finding("2020-09-01T10:00:00+08:00", 1, NULL);
	assert_int_equal(store_entry_void(g_st, voided, T("2020-11-02T09:00:00+08:00"), "tester",
					  "recorded twice"),
			 0);
	assert_int_equal(store_commit(g_st), 0);

	g_eng = engine_new(g_p, g_st, &(struct engine_sink){ 0 }, T("2020-05-01T00:00:00+08:00"));
	assert_non_null(g_eng);
	g_now = T("2020-12-01T12:00:00+08:00");
	int64_t next;
	while ((next = engine_next(g_eng)) <= g_now)
		assert_int_equal(engine_run(g_eng, next), 0);
	return 0;
}

static int group_teardown(void **state)
{
	engine_free(g_eng);
	store_close(g_st);
	remove_tree(g_dir);
	return config_group_teardown(state);
}

/* ---- helpers ------------------------------------------------------------- */

/* A fresh export directory's path (not created), in the fixture's directory. */
static char *export_dir(const char *name)
{
	return xasprintf("%s/%s", g_dir, name);
}

/* The names in DIR, sorted, space-separated. */
static char *names_in(const char *dir)
{
	struct dirent **list;
	struct sbuf sb;
	int n = scandir(dir, &list, NULL, alphasort);
	if (n < 0)
		fail_msg("scandir %s: %s", dir, strerror(errno));
	sbuf_init(&sb);
	for (int i = 0; i < n; i++) {
		if (strcmp(list[i]->d_name, ".") != 0 && strcmp(list[i]->d_name, "..") != 0)
			sbuf_printf(&sb, "%s%s", sb.len ? " " : "", list[i]->d_name);
		free(list[i]);
	}
	free(list);
	return sb.buf;
}

static char *file_in(const char *dir, const char *name)
{
	char *path = xasprintf("%s/%s", dir, name);
	char *text = read_whole(path, NULL);
	free(path);
	return text;
}

static int write_dir(const char *dir, int64_t now, bool pages, bool feeds, int unit, char *err,
		     size_t errlen)
{
	return publish_write(dir, g_st, g_p, g_eng, now, pages, feeds, unit, err, errlen);
}

static char *render(const char *period, enum publish_format f, int64_t now, int *rc)
{
	struct sbuf sb;
	char err[256] = "";
	sbuf_init(&sb);
	*rc = publish_render(g_st, g_p, g_eng, period, f, now, &sb, err, sizeof(err));
	if (*rc < 0)
		fail_msg("publish_render %s: %s", period, err);
	return sb.buf;
}

#define PAGES  "2020-Q2.csv 2020-Q2.html 2020-Q2.json 2020-Q3.csv 2020-Q3.html 2020-Q3.json"
#define FEEDS  "all.ics baiyun.ics bayilu.ics"
#define FEEDS2 "renminguangchang.ics rixin.ics xianglujiao.ics"

/* ---- tests --------------------------------------------------------------- */

static void test_format_names(void **state)
{
	(void)state;
	assert_string_equal(publish_format_name(PUBLISH_HTML), "html");
	assert_string_equal(publish_format_name(PUBLISH_CSV), "csv");
	assert_string_equal(publish_format_name(PUBLISH_JSON), "json");
	assert_string_equal(publish_format_name((enum publish_format)3), "?");
	assert_int_equal(publish_format_find("html"), PUBLISH_HTML);
	assert_int_equal(publish_format_find("csv"), PUBLISH_CSV);
	assert_int_equal(publish_format_find("json"), PUBLISH_JSON);
	assert_int_equal(publish_format_find("HTML"), -1);
	assert_int_equal(publish_format_find("xml"), -1);
	assert_int_equal(publish_format_find(""), -1);
}

/*
 * Everything, into a directory that does not exist yet, under a umask
 * that would hide it from every reader: the files are 0644 and the
 * directory 0755 all the same, and each page is what publish_render says.
 */
static void test_write_all(void **state)
{
	(void)state;
	char *dir = export_dir("all");
	char err[256] = "";
	struct stat sb;

	mode_t old = umask(077);
	int rc = write_dir(dir, g_now, true, true, -1, err, sizeof(err));
	umask(old);
	if (rc < 0)
		fail_msg("publish_write: %s", err);

	char *names = names_in(dir);
	assert_string_equal(names, PAGES " " FEEDS " index.html " FEEDS2);
	free(names);
	assert_int_equal(stat(dir, &sb), 0);
	assert_int_equal(sb.st_mode & 07777, 0755);
	static const char *const files[] = { "2020-Q2.csv", "2020-Q3.html", "2020-Q3.json",
					     "index.html",  "all.ics",      "rixin.ics" };
	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		char *path = xasprintf("%s/%s", dir, files[i]);
		assert_int_equal(stat(path, &sb), 0);
		if ((sb.st_mode & 07777) != 0644)
			fail_msg("%s has mode %o", files[i], (unsigned)(sb.st_mode & 07777));
		assert_true(S_ISREG(sb.st_mode));
		free(path);
	}

	/* Each page is what publish_render gives for it, from its snapshot. */
	static const char *const periods[] = { "2020-Q2", "2020-Q3" };
	for (size_t i = 0; i < 2; i++)
		for (int f = 0; f < 3; f++) {
			char name[32];
			int from;
			snprintf(name, sizeof(name), "%s.%s", periods[i],
				 publish_format_name((enum publish_format)f));
			char *want = render(periods[i], (enum publish_format)f, g_now, &from);
			char *got = file_in(dir, name);
			assert_int_equal(from, 1);
			assert_string_equal(got, want);
			free(want);
			free(got);
		}

	/* The index links every period; the feeds are the calendars. */
	char *index = file_in(dir, "index.html");
	assert_non_null(strstr(index, "href=\"2020-Q2.html\""));
	assert_non_null(strstr(index, "href=\"2020-Q3.html\""));
	assert_null(strstr(index, "2020-Q4"));
	free(index);
	struct sbuf want;
	sbuf_init(&want);
	assert_int_equal(feed_calendar(g_p, g_eng, plan_unit_find(g_p, "rixin"), g_now, &want), 0);
	char *got = file_in(dir, "rixin.ics");
	assert_string_equal(got, want.buf);
	assert_int_equal(strncmp(got, "BEGIN:VCALENDAR\r\n", 17), 0);
	free(got);
	sbuf_free(&want);
	remove_tree(dir);
	free(dir);
}

/*
 * The standing as of each snapshot, and why points were lost as of then:
 * the finding of 08-10 is on the 2020-Q3 page and not on 2020-Q2's; the
 * finding voided on 11-02 still counted on 10-01.
 */
static void test_snapshot_pages(void **state)
{
	(void)state;
	int from;
	char *q3 = render("2020-Q3", PUBLISH_JSON, g_now, &from);
	json_error_t jerr;
	json_t *j = json_loads(q3, 0, &jerr);
	if (j == NULL)
		fail_msg("2020-Q3.json: %s", jerr.text);
	assert_string_equal(str(j, "period"), "2020-Q3");
	assert_true(json_is_false(json_object_get(j, "provisional")));
	assert_string_equal(str(j, "as_of"), "2020-10-01T00:00:00+08:00");
	assert_string_equal(str(j, "taken_at"), "2020-10-01T00:00:00+08:00");
	assert_int_equal(json_integer_value(json_object_get(json_object_get(j, "plan"), "year")),
			 2020);
	json_t *units = json_object_get(j, "units");
	assert_int_equal(json_array_size(units), 5);
	json_decref(j);
	free(q3);

	char *line = xasprintf("2020年8月10日 %s×3 -0.6分：楼道堆物", g_kind_name);
	char *voided = xasprintf("2020年9月1日 %s -0.2分", g_kind_name);
	char *html3 = render("2020-Q3", PUBLISH_HTML, g_now, &from);
	char *html2 = render("2020-Q2", PUBLISH_HTML, g_now, &from);
	/* In the title and the footnote of bayilu's 6c. */
	assert_int_equal(count_in(html3, line), 2);
	assert_non_null(strstr(html3, voided));
	assert_null(strstr(html2, "2020年8月10日"));
	assert_null(strstr(html2, g_kind_name));
	/* The engine's own entries: missing submissions, with their node where a row has several. */
	assert_non_null(strstr(html3, "2020年7月1日 未报送 -2分（6月20日节点）"));
	/* The snapshot is of the period's end. */
	assert_non_null(strstr(html3, "<dt>快照时间</dt><dd>2020年9月30日24时</dd>"));
	/* The five streets missed row 2a alike: one note for the five cells. */
	assert_non_null(strstr(html3, "] 第2a项 八一路、人民广场、白云等5个单位：2020年7月1日 "
				      "未报送 -2分</li>"));
	free(line);
	free(voided);
	free(html3);
	free(html2);
}

/* A quarter of the plan with no snapshot yet: the standing now, marked provisional. */
static void test_provisional(void **state)
{
	(void)state;
	int from;
	char *q4 = render("2020-Q4", PUBLISH_JSON, g_now, &from);
	assert_int_equal(from, 0);
	json_t *j = json_loads(q4, 0, NULL);
	assert_non_null(j);
	assert_true(json_is_true(json_object_get(j, "provisional")));
	assert_string_equal(str(j, "as_of"), "2020-12-01T12:00:00+08:00");
	assert_null(json_object_get(j, "taken_at"));
	json_decref(j);
	free(q4);

	/* The finding voided on 11-02 no longer counts now. */
	char *html = render("2020-Q4", PUBLISH_HTML, g_now, &from);
	assert_non_null(strstr(html, "2020年8月10日"));
	assert_null(strstr(html, "2020年9月1日"));
	assert_non_null(strstr(html, "临时"));
	assert_non_null(strstr(html, "<dt>数据截至</dt><dd>2020年12月1日 12:00</dd>"));
	free(html);
}

static void test_unknown_period(void **state)
{
	(void)state;
	struct sbuf sb;
	char err[256] = "";
	sbuf_init(&sb);

	assert_int_equal(publish_render(g_st, g_p, g_eng, "2021-Q1", PUBLISH_HTML, g_now, &sb, err,
					sizeof(err)),
			 -1);
	assert_string_equal(err, "unknown period \"2021-Q1\"; the plan's periods: 2020-Q2, "
				 "2020-Q3, 2020-Q4");
	assert_int_equal(sb.len, 0);
	/* A name too long to repeat in full is cut. */
	char *name = xmalloc(301);
	memset(name, 'q', 300);
	name[300] = '\0';
	assert_int_equal(publish_render(g_st, g_p, g_eng, name, PUBLISH_CSV, g_now, &sb, err,
					sizeof(err)),
			 -1);
	assert_int_equal(strncmp(err, "unknown period \"", 16), 0);
	assert_int_equal(strspn(err + 16, "q"), 40);
	assert_int_equal(sb.len, 0);
	free(name);
	sbuf_free(&sb);
}

/* The identity of each file of DIR ("NAME INODE MTIME" lines). */
static char *identities(const char *dir)
{
	struct dirent **list;
	struct sbuf sb;
	int n = scandir(dir, &list, NULL, alphasort);
	if (n < 0)
		fail_msg("scandir %s: %s", dir, strerror(errno));
	sbuf_init(&sb);
	for (int i = 0; i < n; i++) {
		struct stat st;
		char *path = xasprintf("%s/%s", dir, list[i]->d_name);
		if (list[i]->d_name[0] != '.' && stat(path, &st) == 0)
			sbuf_printf(&sb, "%s %llu %lld.%09ld\n", list[i]->d_name,
				    (unsigned long long)st.st_ino, (long long)st.st_mtim.tv_sec,
				    st.st_mtim.tv_nsec);
		free(path);
		free(list[i]);
	}
	free(list);
	return sb.buf;
}

/*
 * A second publication that changes nothing writes nothing: every file
 * keeps its inode and time, the feeds too although their DTSTAMP would
 * be the new now.  A change replaces the file it changes by a rename: a
 * reader that opened the old one reads it whole to its end, the path
 * gives the new, and the others stay.
 */
static void test_unchanged_kept_changed_renamed(void **state)
{
	(void)state;
	char *dir = export_dir("replace");
	char err[256] = "";
	struct stat before, after;

	assert_int_equal(write_dir(dir, g_now, true, true, -1, err, sizeof(err)), 0);
	char *ids = identities(dir);
	assert_int_equal(write_dir(dir, g_now + 86400, true, true, -1, err, sizeof(err)), 0);
	char *again = identities(dir);
	assert_string_equal(again, ids);
	free(again);
	free(ids);

	char *path = xasprintf("%s/2020-Q3.html", dir);
	char *q2 = xasprintf("%s/2020-Q2.html", dir);
	char *old = read_whole(path, NULL);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	assert_true(fd >= 0);
	assert_int_equal(fstat(fd, &before), 0);
	struct stat q2_before, q2_after;
	assert_int_equal(stat(q2, &q2_before), 0);

	/* A finding recorded late, dated within 2020-Q3 (rolled back after). */
	assert_int_equal(store_begin(g_st), 0);
	add_finding("2020-08-20T10:00:00+08:00", 1, "补记");
	assert_int_equal(write_dir(dir, g_now + 86400, true, false, -1, err, sizeof(err)), 0);
	store_rollback(g_st);
	char *fresh = read_whole(path, NULL);
	assert_string_not_equal(fresh, old);
	assert_non_null(strstr(fresh, "补记"));
	assert_int_equal(stat(path, &after), 0);
	assert_true(after.st_ino != before.st_ino);
	assert_int_equal(stat(q2, &q2_after), 0);
	assert_true(q2_after.st_ino == q2_before.st_ino);

	size_t len = strlen(old);
	char *seen = xcalloc(1, len + 2);
	assert_int_equal(pread(fd, seen, len + 1, 0), (ssize_t)len);
	assert_string_equal(seen, old);
	close(fd);

	/* No temporary file is left beside them. */
	char *names = names_in(dir);
	assert_string_equal(names, PAGES " " FEEDS " index.html " FEEDS2);
	free(names);
	free(seen);
	free(fresh);
	free(old);
	free(q2);
	free(path);
	remove_tree(dir);
	free(dir);
}

/*
 * A file that cannot be put in place (a directory holds its name): an
 * error naming it; what was written before is there and whole, what
 * comes after is not touched, and no temporary file stays.
 */
static void test_failure_leaves_whole_files(void **state)
{
	(void)state;
	char *dir = export_dir("fail");
	char err[256] = "";

	assert_int_equal(write_dir(dir, g_now, true, false, -1, err, sizeof(err)), 0);
	char *q3json = file_in(dir, "2020-Q3.json");
	char *index = file_in(dir, "index.html");
	char *csv = xasprintf("%s/2020-Q3.csv", dir);
	char *inside = xasprintf("%s/2020-Q3.csv/x", dir);
	assert_int_equal(unlink(csv), 0);
	assert_int_equal(mkdir(csv, 0755), 0);
	write_file(inside, "x");

	int64_t later = g_now + 86400;
	assert_int_equal(write_dir(dir, later, true, false, -1, err, sizeof(err)), -1);
	char *want = xasprintf("cannot put %s in place: Is a directory", csv);
	assert_string_equal(err, want);
	free(want);

	/* Written before the failure: the new pages, whole. */
	int from;
	char *q2 = render("2020-Q2", PUBLISH_HTML, later, &from);
	char *got = file_in(dir, "2020-Q2.html");
	assert_string_equal(got, q2);
	free(got);
	free(q2);
	char *q3 = render("2020-Q3", PUBLISH_HTML, later, &from);
	got = file_in(dir, "2020-Q3.html");
	assert_string_equal(got, q3);
	free(got);
	free(q3);
	/* After it: the old ones, whole. */
	got = file_in(dir, "2020-Q3.json");
	assert_string_equal(got, q3json);
	free(got);
	got = file_in(dir, "index.html");
	assert_string_equal(got, index);
	free(got);
	char *names = names_in(dir);
	assert_string_equal(names, PAGES " index.html");
	free(names);

	free(q3json);
	free(index);
	free(csv);
	free(inside);
	remove_tree(dir);
	free(dir);
}

/* The export directory cannot be made: its parent is missing, or is a file. */
static void test_export_dir_cannot_be_made(void **state)
{
	(void)state;
	char err[256] = "";
	char *dir = export_dir("missing/export");

	assert_int_equal(write_dir(dir, g_now, true, true, -1, err, sizeof(err)), -1);
	char *want = xasprintf("cannot create %s: No such file or directory", dir);
	assert_string_equal(err, want);
	free(want);
	free(dir);

	char *file = export_dir("a-file");
	write_file(file, "not a directory\n");
	assert_int_equal(write_dir(file, g_now, true, true, -1, err, sizeof(err)), -1);
	want = xasprintf("cannot write %s/.2020-Q2.html.%ld.tmp: Not a directory", file,
			 (long)getpid());
	assert_string_equal(err, want);
	free(want);
	char *text = read_whole(file, NULL);
	assert_string_equal(text, "not a directory\n");
	free(text);
	unlink(file);
	free(file);
}

/*
 * An export directory the writer may not write in: the error names the
 * file and the cause, and nothing appears.  As root (which permissions
 * do not stop) the writer is a child that became nobody; the child only
 * writes feeds, which need the engine and not the database connection it
 * must not share.
 */
static void test_export_dir_not_writable(void **state)
{
	(void)state;
	char *dir = export_dir("readonly");
	int out[2];

	assert_int_equal(mkdir(dir, 0555), 0);
	assert_int_equal(chmod(dir, 0555), 0);
	/* Nobody may reach it, and write in it no more than anyone. */
	assert_int_equal(chmod(g_dir, 0711), 0);
	assert_int_equal(pipe(out), 0);
	fflush(stderr);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		char err[256] = "";
		close(out[0]);
		uid_t nobody = 65534;
		if (geteuid() == 0 &&
		    (setgroups(0, NULL) < 0 || setresgid(nobody, nobody, nobody) < 0 ||
		     setresuid(nobody, nobody, nobody) < 0))
			_exit(2);
		int rc = write_dir(dir, g_now, false, true, -1, err, sizeof(err));
		(void)!write(out[1], err, strlen(err));
		_exit(rc == -1 ? 0 : 1);
	}
	close(out[1]);
	char err[256];
	ssize_t n = read(out[0], err, sizeof(err) - 1);
	close(out[0]);
	int status;
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_int_equal(chmod(g_dir, 0700), 0);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	assert_true(n > 0);
	err[n] = '\0';
	char *want =
		xasprintf("cannot write %s/.all.ics.%ld.tmp: Permission denied", dir, (long)pid);
	assert_string_equal(err, want);
	free(want);
	char *names = names_in(dir);
	assert_string_equal(names, "");
	free(names);
	remove_tree(dir);
	free(dir);
}

/* A snapshot whose data cannot be read: an error naming its period. */
static void test_unreadable_snapshot(void **state)
{
	(void)state;
	char *dir = export_dir("badsnap");
	char err[256] = "";
	struct sbuf sb;

	sbuf_init(&sb);
	/* Inside a transaction rolled back at the end: the fixture's store stays as it was. */
	assert_int_equal(store_begin(g_st), 0);
	assert_int_equal(store_snapshot_put(g_st, "2020-Q4", T("2020-11-15T00:00:00+08:00"),
					    T("2020-11-15T00:00:00+08:00"), "{\"not\":\"units\""),
			 0);
	assert_int_equal(publish_render(g_st, g_p, g_eng, "2020-Q4", PUBLISH_JSON, g_now, &sb, err,
					sizeof(err)),
			 -1);
	assert_string_equal(err, "the snapshot of 2020-Q4 cannot be read");
	assert_int_equal(sb.len, 0);
	err[0] = '\0';
	assert_int_equal(write_dir(dir, g_now, true, false, -1, err, sizeof(err)), -1);
	assert_string_equal(err, "the snapshot of 2020-Q4 cannot be read");
	store_rollback(g_st);
	/* The periods before it were written, whole; no index without every period. */
	char *names = names_in(dir);
	assert_string_equal(names, PAGES);
	free(names);
	sbuf_free(&sb);
	remove_tree(dir);
	free(dir);
}

/* The number of links of DIR/NAME and whether it is DIR/all.ics. */
static nlink_t links_of(const char *dir, const char *name, bool *is_all)
{
	struct stat a, b;
	char *path = xasprintf("%s/%s", dir, name), *all = xasprintf("%s/all.ics", dir);
	assert_int_equal(stat(path, &a), 0);
	assert_int_equal(stat(all, &b), 0);
	*is_all = a.st_ino == b.st_ino && a.st_dev == b.st_dev;
	free(path);
	free(all);
	return a.st_nlink;
}

/*
 * The feeds: a unit on the shared schedule has all.ics itself (a hard
 * link, the same text feed_calendar gives for it); after a move of its
 * own it gets a file of its own, and after the move is gone the link
 * again.  --unit writes that unit's feed (and all.ics, which it may be).
 */
static void test_feeds_linked_unless_own(void **state)
{
	(void)state;
	char *dir = export_dir("feeds");
	char err[256] = "";
	int unit = plan_unit_find(g_p, "baiyun");
	bool is_all;

	assert_int_equal(write_dir(dir, g_now, false, true, unit, err, sizeof(err)), 0);
	char *names = names_in(dir);
	assert_string_equal(names, "all.ics baiyun.ics");
	free(names);
	assert_int_equal(links_of(dir, "baiyun.ics", &is_all), 2);
	assert_true(is_all);
	struct sbuf want;
	sbuf_init(&want);
	assert_int_equal(feed_calendar(g_p, g_eng, unit, g_now, &want), 0);
	char *got = file_in(dir, "baiyun.ics");
	assert_string_equal(got, want.buf);
	free(got);
	sbuf_free(&want);

	/* Pages alone write no feed; feeds alone no page. */
	assert_int_equal(write_dir(dir, g_now, true, false, -1, err, sizeof(err)), 0);
	names = names_in(dir);
	assert_string_equal(names, PAGES " all.ics baiyun.ics index.html");
	free(names);
	remove_tree(dir);
	assert_int_equal(write_dir(dir, g_now, false, true, -1, err, sizeof(err)), 0);
	names = names_in(dir);
	assert_string_equal(names, FEEDS " " FEEDS2);
	free(names);
	assert_int_equal(links_of(dir, "rixin.ics", &is_all), 1 + g_p->nunits);
	assert_true(is_all);

	/* rixin's own move (rolled back after): its own file, the others still linked. */
	int rixin = plan_unit_find(g_p, "rixin");
	struct move m = { .unit = rixin,
			  .due_day = calendar_days_from_civil(2020, 6, 30),
			  .at = T("2020-06-01T09:00:00+08:00"),
			  .reason = "test" };
	snprintf(m.occ, sizeof(m.occ), "4@2020-06-20");
	snprintf(m.actor, sizeof(m.actor), "tester");
	assert_int_equal(store_begin(g_st), 0);
	assert_int_equal(store_move_add(g_st, &m), 0);
	struct engine *eng =
		engine_new(g_p, g_st, &(struct engine_sink){ 0 }, T("2020-05-01T00:00:00+08:00"));
	assert_non_null(eng);
	assert_int_equal(
		publish_write(dir, g_st, g_p, eng, g_now, false, true, rixin, err, sizeof(err)), 0);
	sbuf_init(&want);
	assert_int_equal(feed_calendar(g_p, eng, rixin, g_now, &want), 0);
	engine_free(eng);
	store_rollback(g_st);
	assert_int_equal(links_of(dir, "rixin.ics", &is_all), 1);
	assert_false(is_all);
	got = file_in(dir, "rixin.ics");
	assert_string_equal(got, want.buf);
	assert_non_null(strstr(got, "DTSTART;VALUE=DATE:20200630"));
	free(got);
	sbuf_free(&want);
	assert_int_equal(links_of(dir, "bayilu.ics", &is_all), g_p->nunits);
	assert_true(is_all);

	/* The move gone: rixin's feed is all.ics again. */
	assert_int_equal(write_dir(dir, g_now, false, true, -1, err, sizeof(err)), 0);
	assert_int_equal(links_of(dir, "rixin.ics", &is_all), 1 + g_p->nunits);
	assert_true(is_all);
	names = names_in(dir);
	assert_string_equal(names, FEEDS " " FEEDS2);
	free(names);
	remove_tree(dir);
	free(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_format_names),
		cmocka_unit_test(test_write_all),
		cmocka_unit_test(test_snapshot_pages),
		cmocka_unit_test(test_provisional),
		cmocka_unit_test(test_unknown_period),
		cmocka_unit_test(test_unchanged_kept_changed_renamed),
		cmocka_unit_test(test_failure_leaves_whole_files),
		cmocka_unit_test(test_export_dir_cannot_be_made),
		cmocka_unit_test(test_export_dir_not_writable),
		cmocka_unit_test(test_unreadable_snapshot),
		cmocka_unit_test(test_feeds_linked_unless_own),
	};
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
