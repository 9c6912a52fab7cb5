/*
 * test_config — the configuration loader: the shipped 2020 configuration
 * (plan contents, its five warnings, the --year override), every error
 * path on small broken configurations written to a temporary directory
 * (each reported as "file:line: message" with the right line), and the
 * warnings of a small valid configuration.
 *
 * The broken configurations are built from one minimal valid template by
 * varying one thing; expected lines are computed from the varied text, so
 * that the tests do not depend on the template's exact layout.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kaohe/config.h"

#ifndef KAOHE_SOURCE_DIR
#error "KAOHE_SOURCE_DIR must be defined by the build"
#endif

#define SHIPPED_CONF KAOHE_SOURCE_DIR "/config/kaohe.conf"
#define SHIPPED_PLAN KAOHE_SOURCE_DIR "/config/plan-2020.conf"

/* ------------------------------------------------------------------ */
/* The minimal valid template                                          */

/* Daemon settings: everything but the plan. */
static const char TPL_HEAD[] =
	"# kaohe unit-test configuration\n"
	"kaohe: {\n"
	"  timezone = \"Asia/Shanghai\";\n"
	"  state_dir = \"/tmp/kaohe-test-state\";\n"
	"  log_level = \"info\";\n"
	"};\n"
	"access: {\n"
	"  admins = { users = [ \"root\" ]; groups = [ \"kaohe-admin\" ]; };\n"
	"  departments = {\n"
	"    dep = { users = [ ]; groups = [ \"kaohe-dep\" ]; };\n"
	"  };\n"
	"  units = {\n"
	"    ua = { users = [ ]; groups = [ \"kaohe-ua\" ]; };\n"
	"  };\n"
	"};\n"
	"channels: { };\n"
	"calendar: {\n"
	"  holidays = [ \"10-01\", \"10-02..10-04\" ];\n"
	"  workdays = [ \"10-10\" ];\n"
	"};\n"
	"reminders: {\n"
	"  before = [ \"-3d@09:00\", \"-1d@09:00\" ];\n"
	"  due = [ \"0d@09:00\" ];\n"
	"  overdue = {\n"
	"    first = \"+1d@09:00\";\n"
	"    every = \"3d\";\n"
	"  };\n"
	"  escalate = true;\n"
	"  record = [ \"0d@09:00\" ];\n"
	"};\n";

/* The plan up to (not including) its rows. */
static const char TPL_PLAN_HEAD[] =
	"plan: {\n"
	"  year = 2020;\n"
	"  title = \"测试方案\";\n"
	"  document = \"测试〔2020〕1号\";\n"
	"  in_force = { from = \"05-01\"; to = \"12-31\"; };\n"
	"  total = 10;\n"
	"  close = \"quarter-end\";\n"
	"  missing_default = \"late\";\n"
	"  categories = (\n"
	"    { id = \"basic\"; name = \"基本工作\"; max = 10; annex = [ \"常规工作\", \"亮点特点\" ]; }\n"
	"  );\n"
	"  units = (\n"
	"    { id = \"ua\"; name = \"甲街道\";\n"
	"      liaisons = ( { name = \"甲联络员\"; email = \"liaison@ua.example.org\"; } );\n"
	"      leader = { name = \"甲主任\"; email = \"leader@ua.example.org\"; }; },\n"
	"    { id = \"ub\"; name = \"乙街道\"; }\n"
	"  );\n"
	"  departments = (\n"
	"    { id = \"dep\"; name = \"区某局\"; office = { name = \"某局办公室\"; email = \"office@dep.example.org\"; }; }\n"
	"  );\n"
	"  metrics = (\n"
	"    { id = \"rate\"; name = \"满意率\"; unit = \"%\"; }\n"
	"  );\n";

/* Three rows: a deadline, a record with findings and awards, an earn row. */
static const char TPL_ROWS[] =
	"  rows = (\n"
	"    {\n"
	"      id = \"r1\";\n"
	"      seq = \"1\";\n"
	"      annex_category = \"常规工作\";\n"
	"      category = \"basic\";\n"
	"      department = \"dep\";\n"
	"      max = 4;\n"
	"      content = \"报送材料\";\n"
	"      time_node = \"6月15日\";\n"
	"      standard = \"按时报送材料。\";\n"
	"      scoring = \"6月15日前报送不扣分，6月15日后报送扣1分，未报送扣2分。\";\n"
	"      deadline = {\n"
	"        due = \"06-15\";\n"
	"        late = 1;\n"
	"        missing = 2;\n"
	"      };\n"
	"    },\n"
	"    {\n"
	"      id = \"r2\";\n"
	"      seq = \"2\";\n"
	"      annex_category = \"常规工作\";\n"
	"      category = \"basic\";\n"
	"      department = \"dep\";\n"
	"      max = 3;\n"
	"      content = \"日常检查\";\n"
	"      standard = \"做好日常工作。\";\n"
	"      scoring = \"发现一起扣0.5分，最多扣2分。\";\n"
	"      record = {\n"
	"        due = \"12-10\";\n"
	"      };\n"
	"      findings = (\n"
	"        { kind = \"lapse\"; name = \"工作疏漏\"; points = 0.5; cap = 2; }\n"
	"      );\n"
	"      awards = (\n"
	"        { kind = \"praise\"; name = \"表扬\"; points = 1; }\n"
	"      );\n"
	"    },\n"
	"    {\n"
	"      id = \"r3\";\n"
	"      seq = \"3\";\n"
	"      annex_category = \"亮点特点\";\n"
	"      category = \"basic\";\n"
	"      department = \"dep\";\n"
	"      max = 3;\n"
	"      earn = true;\n"
	"      content = \"创新和亮点\";\n"
	"      standard = \"满意率高。\";\n"
	"      scoring = \"满意率达到80%以上的加1分。\";\n"
	"      thresholds = (\n"
	"        { points = 1; any = ( { metric = \"rate\"; min = 80; } ); }\n"
	"      );\n"
	"      ranking = {\n"
	"        metric = \"rate\";\n"
	"        worst = \"lowest\";\n"
	"        points = [ 2, 1 ];\n"
	"      };\n"
	"    }\n"
	"  );\n";

static const char TPL_PLAN_TAIL[] = "};\n";

static const char *const R1 = "id = \"r1\"";
static const char *const R2 = "id = \"r2\"";

/* ------------------------------------------------------------------ */
/* Text helpers                                                        */

static char *concat(const char *a, const char *b, const char *c, const char *d)
{
	size_t la = strlen(a), lb = strlen(b), lc = strlen(c), ld = strlen(d);
	char *s = malloc(la + lb + lc + ld + 1);
	assert_non_null(s);
	memcpy(s, a, la);
	memcpy(s + la, b, lb);
	memcpy(s + la + lb, c, lc);
	memcpy(s + la + lb + lc, d, ld + 1);
	return s;
}

/* The whole valid template (caller frees). */
static char *template_text(void)
{
	return concat(TPL_HEAD, TPL_PLAN_HEAD, TPL_ROWS, TPL_PLAN_TAIL);
}

static size_t count_of(const char *text, const char *needle)
{
	size_t n = 0;
	for (const char *p = text; (p = strstr(p, needle)) != NULL; p += strlen(needle))
		n++;
	return n;
}

/* Where NEEDLE first occurs at or after the first ANCHOR (NULL: start). */
static const char *find_after(const char *text, const char *anchor, const char *needle)
{
	const char *from = text;
	if (anchor) {
		from = strstr(text, anchor);
		if (from == NULL)
			fail_msg("test setup: anchor \"%s\" not in the text", anchor);
	}
	const char *p = strstr(from, needle);
	if (p == NULL)
		fail_msg("test setup: \"%s\" not found after \"%s\"", needle, anchor ? anchor : "(start)");
	return p;
}

/* The 1-based line of P within TEXT. */
static int line_at(const char *text, const char *p)
{
	int line = 1;
	for (const char *q = text; q < p; q++)
		if (*q == '\n')
			line++;
	return line;
}

/* The line of NEEDLE, which must occur exactly once in TEXT. */
static int line_of(const char *text, const char *needle)
{
	if (count_of(text, needle) != 1)
		fail_msg("test setup: \"%s\" occurs %zu times, expected once", needle, count_of(text, needle));
	return line_at(text, strstr(text, needle));
}

/* The line of the first NEEDLE after ANCHOR. */
static int line_after(const char *text, const char *anchor, const char *needle)
{
	return line_at(text, find_after(text, anchor, needle));
}

/*
 * TEXT with the first OLD at or after ANCHOR (NULL: OLD must be unique)
 * replaced by NEW; TEXT is freed.
 */
static char *vary_in(char *text, const char *anchor, const char *old, const char *new)
{
	const char *p;
	if (anchor == NULL) {
		if (count_of(text, old) != 1)
			fail_msg("test setup: \"%s\" occurs %zu times, expected once", old, count_of(text, old));
		p = strstr(text, old);
	} else {
		p = find_after(text, anchor, old);
	}
	size_t pre = (size_t)(p - text), lo = strlen(old), ln = strlen(new), rest = strlen(p + lo);
	char *s = malloc(pre + ln + rest + 1);
	assert_non_null(s);
	memcpy(s, text, pre);
	memcpy(s + pre, new, ln);
	memcpy(s + pre + ln, p + lo, rest + 1);
	free(text);
	return s;
}

static char *vary(char *text, const char *old, const char *new)
{
	return vary_in(text, NULL, old, new);
}

/* ------------------------------------------------------------------ */
/* Loading                                                             */

static char tmpdir[] = "/tmp/kaohe-test-config-XXXXXX";

struct run {
	char path[512];
	struct config *cfg;
	struct sbuf err, warn;
};

static void write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");
	if (f == NULL)
		fail_msg("cannot write %s: %s", path, strerror(errno));
	assert_int_equal(fputs(text, f) >= 0, 1);
	assert_int_equal(fclose(f), 0);
}

static char *read_file(const char *path)
{
	FILE *f = fopen(path, "rb");
	char *buf = NULL;
	size_t len = 0, cap = 0, n;

	if (f == NULL)
		fail_msg("cannot read %s: %s", path, strerror(errno));
	do {
		if (cap - len < 4096) {
			cap = cap * 2 + 8192;
			buf = realloc(buf, cap);
			assert_non_null(buf);
		}
		n = fread(buf + len, 1, cap - len - 1, f);
		len += n;
	} while (n > 0);
	buf[len] = '\0';
	fclose(f);
	return buf;
}

/* Load an existing FILE. */
static void run_file(struct run *r, const char *file, int year)
{
	memset(r, 0, sizeof(*r));
	snprintf(r->path, sizeof(r->path), "%s", file);
	sbuf_init(&r->err);
	sbuf_init(&r->warn);
	r->cfg = config_load(r->path, year, &r->err, &r->warn);
}

/* Write TEXT to the temporary directory as NAME, load it, remove it. */
static void run_text(struct run *r, const char *name, const char *text)
{
	char path[512];
	snprintf(path, sizeof(path), "%s/%s", tmpdir, name);
	write_file(path, text);
	run_file(r, path, 0);
	assert_int_equal(unlink(path), 0);
}

static void run_free(struct run *r)
{
	config_free(r->cfg);
	sbuf_free(&r->err);
	sbuf_free(&r->warn);
}

static const char *text_of(const struct sbuf *sb)
{
	return sb->buf && sb->len ? sb->buf : "";
}

static size_t lines_in(const struct sbuf *sb)
{
	size_t n = 0;
	for (const char *p = text_of(sb); *p; p++)
		if (*p == '\n')
			n++;
	return n;
}

/* Whether BUF holds a line that starts with PREFIX and contains each of MSGS. */
static bool has_line(const char *buf, const char *prefix, const char *const *msgs)
{
	for (const char *line = buf; *line;) {
		const char *end = strchr(line, '\n');
		size_t len = end ? (size_t)(end - line) : strlen(line);
		char *copy = strndup(line, len);
		bool ok = copy != NULL && strncmp(copy, prefix, strlen(prefix)) == 0;
		for (const char *const *m = msgs; ok && *m; m++)
			ok = strstr(copy + strlen(prefix), *m) != NULL;
		free(copy);
		if (ok)
			return true;
		line += len + (end ? 1 : 0);
	}
	return false;
}

static void dump(const struct run *r)
{
	print_error("--- %s\n--- errors:\n%s--- warnings:\n%s---\n", r->path, text_of(&r->err),
		    text_of(&r->warn));
}

#define MSGS(...) ((const char *const[]){ __VA_ARGS__, NULL })

/* An error "FILE:LINE: …" naming every string of MSGS. */
static void expect_error_in(const struct run *r, const char *file, int line, const char *const *msgs)
{
	char prefix[600];
	snprintf(prefix, sizeof(prefix), "%s:%d: ", file, line);
	if (!has_line(text_of(&r->err), prefix, msgs)) {
		dump(r);
		fail_msg("no error \"%s%s…\"", prefix, msgs[0]);
	}
}

static void expect_error(const struct run *r, int line, const char *const *msgs)
{
	expect_error_in(r, r->path, line, msgs);
}

/* A warning "FILE:LINE: warning: …" naming every string of MSGS. */
static void expect_warning_in(const struct run *r, const char *file, int line, const char *const *msgs)
{
	char prefix[600];
	snprintf(prefix, sizeof(prefix), "%s:%d: warning: ", file, line);
	if (!has_line(text_of(&r->warn), prefix, msgs)) {
		dump(r);
		fail_msg("no warning \"%s%s…\"", prefix, msgs[0]);
	}
}

/* Load TEXT (freed), which must fail with an error at LINE naming MSGS. */
static void check_error(char *text, int line, const char *const *msgs)
{
	struct run r;
	run_text(&r, "broken.conf", text);
	if (r.cfg != NULL) {
		dump(&r);
		run_free(&r);
		free(text);
		fail_msg("config_load accepted a broken configuration");
	}
	expect_error(&r, line, msgs);
	run_free(&r);
	free(text);
}

/* Every error line has the form "FILE:N: message" with N > 0. */
static void expect_well_formed(const struct run *r)
{
	const char *buf = text_of(&r->err);
	for (const char *line = buf; *line;) {
		const char *end = strchr(line, '\n');
		assert_non_null(end);
		size_t pl = strlen(r->path);
		if (strncmp(line, r->path, pl) != 0 || line[pl] != ':') {
			dump(r);
			fail_msg("error line without the file: %.*s", (int)(end - line), line);
		}
		char *num_end;
		long n = strtol(line + pl + 1, &num_end, 10);
		if (n <= 0 || num_end[0] != ':' || num_end[1] != ' ') {
			dump(r);
			fail_msg("error line without a line number: %.*s", (int)(end - line), line);
		}
		line = end + 1;
	}
}

/* ------------------------------------------------------------------ */
/* Fixtures                                                            */

static int group_setup(void **state)
{
	(void)state;
	if (mkdtemp(tmpdir) == NULL)
		return -1;
	return 0;
}

static int group_teardown(void **state)
{
	/* what a test that failed half-way may have left behind */
	static const char *const names[] = { "broken.conf", "valid.conf", "warn.conf", "many.conf",
					     "main.conf", "included.conf", NULL };
	char path[600];
	(void)state;
	for (const char *const *n = names; *n; n++) {
		snprintf(path, sizeof(path), "%s/%s", tmpdir, *n);
		unlink(path);
	}
	return rmdir(tmpdir);
}

/* ------------------------------------------------------------------ */
/* The shipped configuration                                           */

static int row_of(const struct plan *p, const char *id)
{
	int i = plan_row_find(p, id);
	if (i < 0)
		fail_msg("row %s not in the plan", id);
	return i;
}

static void test_shipped_loads_without_error(void **state)
{
	struct run r;
	(void)state;
	run_file(&r, SHIPPED_CONF, 0);
	if (r.cfg == NULL || r.err.len != 0)
		dump(&r);
	assert_non_null(r.cfg);
	assert_string_equal(text_of(&r.err), "");
	run_free(&r);
}

static void test_shipped_has_exactly_five_warnings(void **state)
{
	struct run r;
	(void)state;
	run_file(&r, SHIPPED_CONF, 0);
	assert_non_null(r.cfg);
	if (lines_in(&r.warn) != 5)
		dump(&r);
	assert_int_equal(lines_in(&r.warn), 5);
	run_free(&r);
}

static void test_shipped_warning_repeated_seq_2c(void **state)
{
	struct run r;
	char *plan = read_file(SHIPPED_PLAN);
	(void)state;
	run_file(&r, SHIPPED_CONF, 0);
	expect_warning_in(&r, SHIPPED_PLAN, line_after(plan, "id = \"2c\";", "seq = "),
			  MSGS("row 2c", "序号 2"));
	run_free(&r);
	free(plan);
}

static void test_shipped_warning_full_marks_6b_16a_16b(void **state)
{
	struct run r;
	char *plan = read_file(SHIPPED_PLAN);
	(void)state;
	run_file(&r, SHIPPED_CONF, 0);
	expect_warning_in(&r, SHIPPED_PLAN, line_after(plan, "id = \"6b\";", "standard = "),
			  MSGS("row 6b", "满分3分", "is 2"));
	expect_warning_in(&r, SHIPPED_PLAN, line_after(plan, "id = \"16a\";", "standard = "),
			  MSGS("row 16a", "满分2分", "is 1"));
	expect_warning_in(&r, SHIPPED_PLAN, line_after(plan, "id = \"16b\";", "standard = "),
			  MSGS("row 16b", "满分2分", "is 1"));
	run_free(&r);
	free(plan);
}

static void test_shipped_warning_deduction_without_amount_12(void **state)
{
	struct run r;
	char *plan = read_file(SHIPPED_PLAN);
	(void)state;
	run_file(&r, SHIPPED_CONF, 0);
	expect_warning_in(&r, SHIPPED_PLAN, line_after(plan, "id = \"12\";", "scoring = "),
			  MSGS("row 12", "扣"));
	run_free(&r);
	free(plan);
}

static void test_shipped_frame(void **state)
{
	struct run r;
	static const char *const units[] = { "bayilu", "renminguangchang", "baiyun", "rixin",
					     "xianglujiao" };
	(void)state;
	run_file(&r, SHIPPED_CONF, 0);
	assert_non_null(r.cfg);
	const struct plan *p = r.cfg->plan;
	assert_int_equal(p->year, 2020);
	assert_int_equal(p->nrows, 28);
	assert_int_equal(p->nunits, 5);
	for (size_t i = 0; i < 5; i++)
		assert_string_equal(p->units[i].id, units[i]);
	assert_int_equal(p->ndepts, 2);
	assert_int_equal(p->ncats, 2);
	assert_int_equal(p->total, 10000);
	int basic = plan_category_find(p, "basic"), key = plan_category_find(p, "key");
	assert_true(basic >= 0);
	assert_true(key >= 0);
	assert_int_equal(p->cats[basic].max, 8500);
	assert_int_equal(p->cats[key].max, 1500);
	assert_string_equal(r.cfg->set.timezone, "Asia/Shanghai");
	run_free(&r);
}

static void test_shipped_row_16a_missing_defaults_to_late(void **state)
{
	struct run r;
	(void)state;
	run_file(&r, SHIPPED_CONF, 0);
	assert_non_null(r.cfg);
	const struct plan_row *row = &r.cfg->plan->rows[row_of(r.cfg->plan, "16a")];
	assert_true(row->has_deadline);
	assert_int_equal(row->late, 100);
	assert_int_equal(row->missing, row->late);
	assert_int_equal(row->max, 100);
	run_free(&r);
}

static void test_shipped_row_2c_missing_5(void **state)
{
	struct run r;
	(void)state;
	run_file(&r, SHIPPED_CONF, 0);
	assert_non_null(r.cfg);
	const struct plan_row *row = &r.cfg->plan->rows[row_of(r.cfg->plan, "2c")];
	assert_true(row->has_deadline);
	assert_int_equal(row->late, 100);
	assert_int_equal(row->missing, 500);
	assert_int_equal(row->max, 500);
	run_free(&r);
}

static void test_shipped_row_6c_kinds(void **state)
{
	struct run r;
	(void)state;
	run_file(&r, SHIPPED_CONF, 0);
	assert_non_null(r.cfg);
	const struct plan_row *row = &r.cfg->plan->rows[row_of(r.cfg->plan, "6c")];
	assert_false(row->has_deadline);
	assert_int_equal(row->nocc, 0);
	assert_int_equal(row->nkinds, 2);
	int k = plan_kind_find(row, "pushback");
	assert_true(k >= 0);
	assert_false(row->kinds[k].award);
	assert_int_equal(row->kinds[k].per, 20);
	assert_int_equal(row->kinds[k].cap, 500);
	k = plan_kind_find(row, "resolved");
	assert_true(k >= 0);
	assert_true(row->kinds[k].award);
	assert_int_equal(row->kinds[k].per, 10);
	assert_int_equal(row->kinds[k].cap, 500);
	run_free(&r);
}

static void test_shipped_row_13_earn_threshold(void **state)
{
	struct run r;
	(void)state;
	run_file(&r, SHIPPED_CONF, 0);
	assert_non_null(r.cfg);
	const struct plan *p = r.cfg->plan;
	const struct plan_row *row = &p->rows[row_of(p, "13")];
	assert_true(row->earn);
	assert_int_equal(row->nthresholds, 1);
	const struct plan_threshold *t = &row->thresholds[0];
	assert_int_equal(t->points, 200);
	assert_int_equal(t->nany, 2);
	assert_int_equal(t->any[0].metric, plan_metric_find(p, "satisfaction"));
	assert_int_equal(t->any[1].metric, plan_metric_find(p, "fee-rate"));
	assert_true(t->any[0].metric >= 0);
	assert_true(t->any[1].metric >= 0);
	assert_int_equal(t->any[0].min, 800000);
	assert_int_equal(t->any[1].min, 800000);
	int k = plan_kind_find(row, "commendation");
	assert_true(k >= 0);
	assert_true(row->kinds[k].award);
	assert_int_equal(row->kinds[k].per, 200);
	assert_int_equal(row->kinds[k].cap, -1);
	run_free(&r);
}

static void test_shipped_row_3_ranking(void **state)
{
	struct run r;
	(void)state;
	run_file(&r, SHIPPED_CONF, 0);
	assert_non_null(r.cfg);
	const struct plan *p = r.cfg->plan;
	const struct plan_row *row = &p->rows[row_of(p, "3")];
	assert_non_null(row->ranking);
	assert_true(plan_metric_find(p, "dissatisfaction") >= 0);
	assert_int_equal(row->ranking->metric, plan_metric_find(p, "dissatisfaction"));
	assert_true(row->ranking->highest_worst);
	assert_int_equal(row->ranking->npoints, 3);
	assert_int_equal(row->ranking->points[0], 300);
	assert_int_equal(row->ranking->points[1], 200);
	assert_int_equal(row->ranking->points[2], 100);
	run_free(&r);
}

/* Every occurrence of the loaded plan falls in YEAR; their count. */
static size_t occurrences_in_year(const struct plan *p, int year)
{
	for (size_t i = 0; i < p->noccs; i++) {
		int y, m, d;
		calendar_civil_from_days(p->occs[i].sched.due_day, &y, &m, &d);
		if (y != year)
			fail_msg("occurrence %s is due %04d-%02d-%02d, not in %d", p->occs[i].name, y, m, d,
				 year);
	}
	return p->noccs;
}

static void test_shipped_occurrences_in_2020(void **state)
{
	struct run r;
	(void)state;
	run_file(&r, SHIPPED_CONF, 0);
	assert_non_null(r.cfg);
	/* 1, 2a-2c, 3, 4 x3, 5 x3, 6a, 6b, 7a, 7b x2, 7c x3, 7d x3, 8-13, 14, 15,
	 * 16a-16c, 17a, 17b, 18 x3 (6c has none) */
	assert_int_equal(occurrences_in_year(r.cfg->plan, 2020), 38);
	run_free(&r);
}

static void test_shipped_year_override(void **state)
{
	struct run r;
	(void)state;
	run_file(&r, SHIPPED_CONF, 2026);
	if (r.cfg == NULL)
		dump(&r);
	assert_non_null(r.cfg);
	assert_int_equal(r.cfg->plan->year, 2026);
	assert_int_equal(r.cfg->plan->cal.year, 2026);
	assert_int_equal(occurrences_in_year(r.cfg->plan, 2026), 38);
	/* row 1 is due 09-15 of the overriding year */
	const struct plan_row *row = &r.cfg->plan->rows[row_of(r.cfg->plan, "1")];
	assert_int_equal(row->nocc, 1);
	assert_int_equal(r.cfg->plan->occs[row->occ_first].sched.due_day,
			 calendar_days_from_civil(2026, 9, 15));
	run_free(&r);
}

/* ------------------------------------------------------------------ */
/* The template itself                                                 */

static void test_template_is_valid(void **state)
{
	struct run r;
	char *t = template_text();
	(void)state;
	run_text(&r, "valid.conf", t);
	if (r.cfg == NULL || r.err.len || r.warn.len)
		dump(&r);
	assert_non_null(r.cfg);
	assert_string_equal(text_of(&r.err), "");
	assert_string_equal(text_of(&r.warn), "");
	const struct plan *p = r.cfg->plan;
	assert_int_equal(p->nrows, 3);
	assert_int_equal(p->nunits, 2);
	assert_int_equal(p->ndepts, 1);
	assert_int_equal(p->total, 1000);
	assert_int_equal(p->rows[0].missing, 200);
	assert_int_equal(p->rows[1].nkinds, 2);
	assert_int_equal(p->rows[1].kinds[0].per, 50);
	assert_int_equal(p->rows[1].kinds[0].cap, 200);
	assert_int_equal(p->rows[2].ranking->npoints, 2);
	assert_false(p->rows[2].ranking->highest_worst);
	run_free(&r);
	free(t);
}

static void test_missing_file(void **state)
{
	struct run r;
	char path[600];
	(void)state;
	snprintf(path, sizeof(path), "%s/does-not-exist.conf", tmpdir);
	run_file(&r, path, 0);
	assert_null(r.cfg);
	expect_error(&r, 0, MSGS("cannot read"));
	run_free(&r);
}

static void test_date_time_due_is_timed(void **state)
{
	struct run r;
	(void)state;
	char *t = vary(template_text(), "        due = \"06-15\";\n", "        due = \"2020-09-15T18:00:00+08:00\";\n");
	run_text(&r, "valid.conf", t);
	if (r.cfg == NULL)
		dump(&r);
	assert_non_null(r.cfg);
	assert_string_equal(text_of(&r.warn), "");
	const struct plan_row *row = &r.cfg->plan->rows[0];
	assert_int_equal(row->nocc, 1);
	const struct schedule *sc = &r.cfg->plan->occs[row->occ_first].sched;
	assert_true(sc->timed);
	assert_int_equal(sc->due_at, 1600164000); /* 2020-09-15T10:00:00Z */
	assert_int_equal(sc->due_day, calendar_days_from_civil(2020, 9, 15));
	run_free(&r);
	free(t);
}

static void test_overdue_false_is_valid(void **state)
{
	struct run r;
	(void)state;
	char *t = vary(template_text(), "  overdue = {\n    first = \"+1d@09:00\";\n    every = \"3d\";\n  };\n",
		       "  overdue = false;\n");
	run_text(&r, "valid.conf", t);
	if (r.cfg == NULL)
		dump(&r);
	assert_non_null(r.cfg);
	assert_false(r.cfg->plan->cal.reminders.has_overdue);
	run_free(&r);
	free(t);
}

/* ------------------------------------------------------------------ */
/* Syntax errors                                                       */

static void test_error_syntax(void **state)
{
	(void)state;
	char *t = vary(template_text(), "  document = \"测试〔2020〕1号\";\n", "  document = ;\n");
	check_error(t, line_of(t, "document = ;"), MSGS("syntax error"));
}

static void test_error_syntax_in_included_file(void **state)
{
	struct run r;
	char main_path[600], inc_path[600];
	(void)state;
	char *m = concat(TPL_HEAD, "@include \"included.conf\"\n", "", "");
	char *inc = concat(TPL_PLAN_HEAD, TPL_ROWS, TPL_PLAN_TAIL, "");
	inc = vary(inc, "  total = 10;\n", "  total = = 10;\n");
	snprintf(main_path, sizeof(main_path), "%s/main.conf", tmpdir);
	snprintf(inc_path, sizeof(inc_path), "%s/included.conf", tmpdir);
	write_file(main_path, m);
	write_file(inc_path, inc);
	run_file(&r, main_path, 0);
	assert_int_equal(unlink(main_path), 0);
	assert_int_equal(unlink(inc_path), 0);
	assert_null(r.cfg);
	expect_error_in(&r, inc_path, line_of(inc, "total = = 10;"), MSGS("syntax error"));
	run_free(&r);
	free(m);
	free(inc);
}

static void test_error_semantic_in_included_file(void **state)
{
	struct run r;
	char main_path[600], inc_path[600];
	(void)state;
	char *m = concat(TPL_HEAD, "@include \"included.conf\"\n", "", "");
	char *inc = concat(TPL_PLAN_HEAD, TPL_ROWS, TPL_PLAN_TAIL, "");
	inc = vary(inc, "  total = 10;\n", "  total = 12;\n");
	snprintf(main_path, sizeof(main_path), "%s/main.conf", tmpdir);
	snprintf(inc_path, sizeof(inc_path), "%s/included.conf", tmpdir);
	write_file(main_path, m);
	write_file(inc_path, inc);
	run_file(&r, main_path, 0);
	assert_int_equal(unlink(main_path), 0);
	assert_int_equal(unlink(inc_path), 0);
	assert_null(r.cfg);
	expect_error_in(&r, inc_path, line_of(inc, "total = 12;"), MSGS("total 12"));
	run_free(&r);
	free(m);
	free(inc);
}

/* ------------------------------------------------------------------ */
/* Unknown and missing settings                                        */

static void test_error_unknown_top_level_setting(void **state)
{
	(void)state;
	char *t = vary(template_text(), "channels: { };\n", "channels: { };\nbogus = 1;\n");
	check_error(t, line_of(t, "bogus = 1;"), MSGS("unknown setting \"bogus\"", "top level"));
}

static void test_error_unknown_setting_in_row(void **state)
{
	(void)state;
	char *t = vary_in(template_text(), R2, "      max = 3;\n", "      max = 3;\n      colour = \"red\";\n");
	check_error(t, line_of(t, "colour = "), MSGS("unknown setting \"colour\"", "row r2"));
}

static void test_error_unknown_setting_in_kaohe(void **state)
{
	(void)state;
	char *t = vary(template_text(), "  log_level = \"info\";\n", "  log_level = \"info\";\n  loglevel = \"debug\";\n");
	check_error(t, line_of(t, "loglevel = "), MSGS("unknown setting \"loglevel\"", "kaohe"));
}

static void test_error_unknown_setting_in_deadline(void **state)
{
	(void)state;
	char *t = vary(template_text(), "        missing = 2;\n", "        missing = 2;\n        grace = 1;\n");
	check_error(t, line_of(t, "grace = 1;"), MSGS("unknown setting \"grace\"", "row r1"));
}

static void test_error_missing_plan_rows(void **state)
{
	(void)state;
	char *t = concat(TPL_HEAD, TPL_PLAN_HEAD, TPL_PLAN_TAIL, "");
	check_error(t, line_of(t, "plan: {"), MSGS("missing setting \"rows\""));
}

static void test_error_missing_row_max(void **state)
{
	(void)state;
	char *t = vary_in(template_text(), R1, "      max = 4;\n", "");
	/* reported at the row's group, whose "{" is on the line before its id */
	check_error(t, line_of(t, R1) - 1, MSGS("row r1", "missing setting \"max\""));
}

static void test_error_missing_row_category(void **state)
{
	(void)state;
	char *t = vary_in(template_text(), R2, "      category = \"basic\";\n", "");
	check_error(t, line_of(t, R2) - 1, MSGS("row r2", "missing setting \"category\""));
}

static void test_error_missing_deadline_late(void **state)
{
	(void)state;
	char *t = vary(template_text(), "        late = 1;\n", "");
	check_error(t, line_after(t, R1, "deadline = {"), MSGS("row r1", "missing setting \"late\""));
}

static void test_error_missing_deadline_due(void **state)
{
	(void)state;
	char *t = vary(template_text(), "        due = \"06-15\";\n", "");
	check_error(t, line_after(t, R1, "deadline = {"), MSGS("row r1", "missing setting \"due\""));
}

static void test_error_missing_kind_points(void **state)
{
	(void)state;
	char *t = vary(template_text(), "name = \"表扬\"; points = 1; }", "name = \"表扬\"; }");
	check_error(t, line_of(t, "name = \"表扬\"; }"), MSGS("kind praise", "missing setting \"points\""));
}

static void test_error_empty_rows(void **state)
{
	(void)state;
	char *t = concat(TPL_HEAD, TPL_PLAN_HEAD, "  rows = ( );\n", TPL_PLAN_TAIL);
	check_error(t, line_of(t, "rows = ( );"), MSGS("no row"));
}

static void test_error_empty_units(void **state)
{
	char *t = template_text();
	(void)state;
	const char *from = strstr(t, "  units = (\n");
	const char *to = strstr(from, "  );\n") + strlen("  );\n");
	char *block = strndup(from, (size_t)(to - from));
	t = vary(t, block, "  units = ( );\n");
	free(block);
	/* the access section's unit ua is then unknown as well */
	check_error(t, line_of(t, "units = ( );"), MSGS("no unit"));
}

/* ------------------------------------------------------------------ */
/* Wrong types                                                         */

static void test_error_type_string_for_number(void **state)
{
	(void)state;
	char *t = vary_in(template_text(), R1, "      max = 4;\n", "      max = \"4\";\n");
	check_error(t, line_of(t, "max = \"4\";"), MSGS("row r1", "max", "number"));
}

static void test_error_type_number_for_string(void **state)
{
	(void)state;
	char *t = vary_in(template_text(), R1, "      department = \"dep\";\n", "      department = 7;\n");
	check_error(t, line_of(t, "department = 7;"), MSGS("row r1", "\"department\" must be a string"));
}

static void test_error_type_string_for_bool(void **state)
{
	(void)state;
	char *t = vary(template_text(), "      earn = true;\n", "      earn = \"yes\";\n");
	check_error(t, line_of(t, "earn = \"yes\";"), MSGS("row r3", "\"earn\" must be true or false"));
}

static void test_error_type_number_for_list(void **state)
{
	(void)state;
	char *t = vary(template_text(), "  metrics = (\n    { id = \"rate\"; name = \"满意率\"; unit = \"%\"; }\n  );\n",
		       "  metrics = 3;\n");
	/* the rows naming metric rate then report it unknown as well */
	check_error(t, line_of(t, "metrics = 3;"), MSGS("\"metrics\" must be a list"));
}

static void test_error_type_list_for_group(void **state)
{
	(void)state;
	char *t = vary(template_text(), "      record = {\n        due = \"12-10\";\n      };\n",
		       "      record = ( \"12-10\" );\n");
	check_error(t, line_of(t, "record = ( \"12-10\" );"), MSGS("row r2", "\"record\" must be a group"));
}

static void test_error_type_year_string(void **state)
{
	(void)state;
	char *t = vary(template_text(), "  year = 2020;\n", "  year = \"2020\";\n");
	check_error(t, line_of(t, "year = \"2020\";"), MSGS("year must be a number"));
}

/* A year of the wrong type is one problem, not also "year 0 is out of range". */
static void test_error_type_year_reported_once(void **state)
{
	struct run r;
	(void)state;
	char *t = vary(template_text(), "  year = 2020;\n", "  year = \"2020\";\n");
	run_text(&r, "broken.conf", t);
	bool refused = r.cfg == NULL;
	bool spurious = strstr(text_of(&r.err), "year 0") != NULL;
	size_t nerr = lines_in(&r.err);
	if (nerr != 1)
		dump(&r);
	run_free(&r);
	free(t);
	assert_true(refused);
	assert_false(spurious);
	assert_int_equal(nerr, 1);
}

static void test_error_type_threshold_min_string(void **state)
{
	(void)state;
	char *t = vary(template_text(), "min = 80;", "min = \"80%\";");
	check_error(t, line_of(t, "min = \"80%\";"), MSGS("row r3", "\"min\" must be a number"));
}

static void test_error_type_row_not_group(void **state)
{
	(void)state;
	char *t = vary(template_text(), "  rows = (\n", "  rows = (\n    \"r0\",\n");
	check_error(t, line_of(t, "\"r0\","), MSGS("rows: element 1 must be a group"));
}

static void test_error_type_due_number(void **state)
{
	(void)state;
	char *t = vary(template_text(), "        due = \"06-15\";\n", "        due = 615;\n");
	check_error(t, line_of(t, "due = 615;"), MSGS("row r1", "string or a list of strings"));
}

/* ------------------------------------------------------------------ */
/* Unknown references                                                  */

static void test_error_unknown_category(void **state)
{
	(void)state;
	char *t = vary_in(template_text(), R2, "      category = \"basic\";\n", "      category = \"extra\";\n");
	check_error(t, line_of(t, "category = \"extra\";"), MSGS("row r2", "unknown category \"extra\""));
}

static void test_error_unknown_department(void **state)
{
	(void)state;
	char *t = vary_in(template_text(), R1, "      department = \"dep\";\n", "      department = \"nodep\";\n");
	check_error(t, line_of(t, "department = \"nodep\";"), MSGS("row r1", "unknown department \"nodep\""));
}

static void test_error_threshold_unknown_metric(void **state)
{
	(void)state;
	char *t = vary(template_text(), "{ metric = \"rate\"; min = 80; }", "{ metric = \"ratio\"; min = 80; }");
	check_error(t, line_of(t, "metric = \"ratio\""), MSGS("row r3", "threshold", "unknown metric \"ratio\""));
}

static void test_error_ranking_unknown_metric(void **state)
{
	(void)state;
	char *t = vary(template_text(), "        metric = \"rate\";\n", "        metric = \"nope\";\n");
	check_error(t, line_of(t, "metric = \"nope\";"), MSGS("row r3", "ranking", "unknown metric \"nope\""));
}

static void test_error_ranking_bad_worst(void **state)
{
	(void)state;
	char *t = vary(template_text(), "        worst = \"lowest\";\n", "        worst = \"low\";\n");
	check_error(t, line_of(t, "worst = \"low\";"), MSGS("row r3", "worst must be"));
}

static void test_error_annex_category_not_in_category(void **state)
{
	struct run r;
	(void)state;
	char *t = vary_in(template_text(), R2, "      annex_category = \"常规工作\";\n",
			  "      annex_category = \"重点工作\";\n");
	run_text(&r, "broken.conf", t);
	assert_null(r.cfg);
	/* either the row's annex_category or the category's annex list is a fair place */
	const char *const *msg = MSGS("row r2", "重点工作");
	char prefix[600];
	snprintf(prefix, sizeof(prefix), "%s:%d: ", r.path, line_of(t, "annex_category = \"重点工作\";"));
	bool at_row = has_line(text_of(&r.err), prefix, msg);
	snprintf(prefix, sizeof(prefix), "%s:%d: ", r.path, line_of(t, "annex = ["));
	bool at_cat = has_line(text_of(&r.err), prefix, msg);
	if (!at_row && !at_cat)
		dump(&r);
	assert_true(at_row || at_cat);
	run_free(&r);
	free(t);
}

/* ------------------------------------------------------------------ */
/* Duplicates                                                          */

static void test_error_duplicate_unit_id(void **state)
{
	(void)state;
	char *t = vary(template_text(), "{ id = \"ub\"; name = \"乙街道\"; }", "{ id = \"ua\"; name = \"乙街道\"; }");
	check_error(t, line_of(t, "name = \"乙街道\""), MSGS("duplicate unit id \"ua\""));
}

static void test_error_duplicate_unit_name(void **state)
{
	(void)state;
	char *t = vary(template_text(), "{ id = \"ub\"; name = \"乙街道\"; }", "{ id = \"ub\"; name = \"甲街道\"; }");
	check_error(t, line_of(t, "{ id = \"ub\";"), MSGS("duplicate unit name \"甲街道\""));
}

static void test_error_duplicate_row_id(void **state)
{
	(void)state;
	char *t = vary(template_text(), "      id = \"r3\";\n", "      id = \"r2\";\n");
	/* the second r2 is the third row */
	const char *second = strstr(strstr(t, R2) + 1, R2);
	assert_non_null(second);
	check_error(t, line_at(t, second), MSGS("duplicate row id \"r2\""));
}

static void test_error_duplicate_kind(void **state)
{
	(void)state;
	char *t = vary(template_text(), "{ kind = \"praise\";", "{ kind = \"lapse\";");
	check_error(t, line_of(t, "name = \"表扬\""), MSGS("row r2", "duplicate kind \"lapse\""));
}

static void test_error_duplicate_department_id(void **state)
{
	(void)state;
	char *t = vary(template_text(), "  departments = (\n",
		       "  departments = (\n    { id = \"dep\"; name = \"区另一局\"; },\n");
	const char *second = strstr(strstr(t, "{ id = \"dep\";") + 1, "{ id = \"dep\";");
	assert_non_null(second);
	check_error(t, line_at(t, second), MSGS("duplicate department id \"dep\""));
}

static void test_error_duplicate_metric(void **state)
{
	(void)state;
	char *t = vary(template_text(), "    { id = \"rate\"; name = \"满意率\"; unit = \"%\"; }\n",
		       "    { id = \"rate\"; name = \"满意率\"; unit = \"%\"; },\n    { id = \"rate\"; name = \"收费率\"; }\n");
	check_error(t, line_of(t, "name = \"收费率\""), MSGS("duplicate metric id \"rate\""));
}

static void test_error_duplicate_category(void **state)
{
	(void)state;
	char *t = vary(template_text(), "  categories = (\n",
		       "  categories = (\n    { id = \"basic\"; name = \"重复\"; max = 0; },\n");
	const char *second = strstr(strstr(t, "{ id = \"basic\";") + 1, "{ id = \"basic\";");
	assert_non_null(second);
	check_error(t, line_at(t, second), MSGS("duplicate category id \"basic\""));
}

static void test_error_two_occurrences_same_day(void **state)
{
	(void)state;
	char *t = vary(template_text(), "        due = \"06-15\";\n", "        due = [ \"06-15\", \"06-15\" ];\n");
	check_error(t, line_of(t, "due = [ \"06-15\""), MSGS("row r1", "same day"));
}

/* ------------------------------------------------------------------ */
/* Ids                                                                 */

static void test_error_bad_row_id(void **state)
{
	(void)state;
	char *t = vary(template_text(), "      id = \"r2\";\n", "      id = \"r 2\";\n");
	check_error(t, line_of(t, "id = \"r 2\";"), MSGS("\"r 2\"", "letters, digits"));
}

static void test_error_bad_unit_id(void **state)
{
	(void)state;
	char *t = vary(template_text(), "{ id = \"ub\";", "{ id = \"u.b\";");
	check_error(t, line_of(t, "\"u.b\""), MSGS("\"u.b\"", "letters, digits"));
}

static void test_error_bad_kind_id(void **state)
{
	(void)state;
	char *t = vary(template_text(), "{ kind = \"lapse\";", "{ kind = \"工作\";");
	check_error(t, line_of(t, "kind = \"工作\""), MSGS("row r2", "\"工作\"", "letters, digits"));
}

/* ------------------------------------------------------------------ */
/* Dates and recurrences                                               */

static void test_error_bad_date_month_13(void **state)
{
	(void)state;
	char *t = vary(template_text(), "        due = \"06-15\";\n", "        due = \"13-45\";\n");
	check_error(t, line_of(t, "\"13-45\""), MSGS("row r1", "bad date \"13-45\""));
}

static void test_error_bad_date_february_30(void **state)
{
	(void)state;
	char *t = vary(template_text(), "        due = \"12-10\";\n", "        due = \"02-30\";\n");
	check_error(t, line_of(t, "\"02-30\""), MSGS("row r2", "bad date \"02-30\""));
}

static void test_error_bad_date_in_force(void **state)
{
	(void)state;
	char *t = vary(template_text(), "to = \"12-31\";", "to = \"12-32\";");
	check_error(t, line_of(t, "\"12-32\""), MSGS("in_force", "bad date \"12-32\""));
}

static void test_error_bad_date_in_calendar(void **state)
{
	(void)state;
	char *t = vary(template_text(), "  workdays = [ \"10-10\" ];\n", "  workdays = [ \"10-10\", \"11-31\" ];\n");
	check_error(t, line_of(t, "\"11-31\""), MSGS("calendar", "bad date \"11-31\""));
}

static void test_error_due_full_date_other_year(void **state)
{
	(void)state;
	char *t = vary(template_text(), "        due = \"06-15\";\n", "        due = \"2021-03-01\";\n");
	check_error(t, line_of(t, "\"2021-03-01\""), MSGS("row r1", "2021-03-01", "outside the plan year 2020"));
}

static void test_error_due_date_time_other_year(void **state)
{
	(void)state;
	char *t = vary(template_text(), "        due = \"06-15\";\n", "        due = \"2019-09-15T18:00:00+08:00\";\n");
	check_error(t, line_of(t, "\"2019-09-15T18"), MSGS("row r1", "2019-09-15T18:00:00+08:00", "outside the plan year 2020"));
}

static void test_error_due_date_time_without_offset(void **state)
{
	(void)state;
	char *t = vary(template_text(), "        due = \"06-15\";\n", "        due = \"2020-09-15T18:00:00\";\n");
	check_error(t, line_of(t, "\"2020-09-15T18"), MSGS("row r1", "bad date-time"));
}

static void test_error_bad_recurrence_quarterly_40(void **state)
{
	(void)state;
	char *t = vary(template_text(), "        due = \"06-15\";\n", "        due = \"quarterly:40\";\n");
	check_error(t, line_of(t, "\"quarterly:40\""), MSGS("row r1", "bad recurrence \"quarterly:40\""));
}

static void test_error_bad_recurrence_weekly(void **state)
{
	(void)state;
	char *t = vary(template_text(), "        due = \"06-15\";\n", "        due = \"weekly:3\";\n");
	check_error(t, line_of(t, "\"weekly:3\""), MSGS("row r1", "\"weekly:3\""));
}

static void test_error_recurrence_in_list(void **state)
{
	(void)state;
	char *t = vary(template_text(), "        due = \"06-15\";\n", "        due = [ \"06-15\", \"quarter-end\" ];\n");
	check_error(t, line_of(t, "\"quarter-end\" ]"), MSGS("row r1", "\"quarter-end\"", "cannot stand in a list"));
}

static void test_error_deadline_and_record(void **state)
{
	(void)state;
	char *t = vary_in(template_text(), R1, "      deadline = {\n",
			  "      record = { due = \"12-10\"; };\n      deadline = {\n");
	check_error(t, line_after(t, R1, "record = { due"), MSGS("row r1", "not both"));
}

/* ------------------------------------------------------------------ */
/* Points                                                              */

static void test_error_negative_points(void **state)
{
	(void)state;
	char *t = vary(template_text(), "        late = 1;\n", "        late = -1;\n");
	check_error(t, line_of(t, "late = -1;"), MSGS("row r1", "late", "negative"));
}

static void test_error_non_hundredth_points(void **state)
{
	(void)state;
	char *t = vary(template_text(), "points = 0.5; cap = 2;", "points = 0.123; cap = 2;");
	check_error(t, line_of(t, "points = 0.123;"), MSGS("row r2", "0.123", "hundredths"));
}

static void test_error_zero_points_for_kind(void **state)
{
	(void)state;
	char *t = vary(template_text(), "name = \"表扬\"; points = 1; }", "name = \"表扬\"; points = 0; }");
	check_error(t, line_of(t, "points = 0; }"), MSGS("row r2", "praise", "more than 0"));
}

static void test_error_zero_cap_for_kind(void **state)
{
	(void)state;
	char *t = vary(template_text(), "points = 0.5; cap = 2;", "points = 0.5; cap = 0;");
	check_error(t, line_of(t, "cap = 0;"), MSGS("row r2", "lapse", "cap must be more than 0"));
}

static void test_error_ranking_negative_points(void **state)
{
	(void)state;
	char *t = vary(template_text(), "points = [ 2, 1 ];", "points = [ 2, -1 ];");
	check_error(t, line_of(t, "points = [ 2, -1 ];"), MSGS("row r3", "ranking", "negative"));
}

static void test_error_category_sum(void **state)
{
	(void)state;
	char *t = vary_in(template_text(), R1, "      max = 4;\n", "      max = 5;\n");
	check_error(t, line_of(t, "{ id = \"basic\";"), MSGS("category basic", "11", "max 10"));
}

static void test_error_total_sum(void **state)
{
	(void)state;
	char *t = vary(template_text(), "  total = 10;\n", "  total = 12;\n");
	check_error(t, line_of(t, "total = 12;"), MSGS("add up to 10", "total 12"));
}

/* ------------------------------------------------------------------ */
/* Daemon settings and policies                                        */

static void test_error_unknown_timezone(void **state)
{
	(void)state;
	char *t = vary(template_text(), "\"Asia/Shanghai\"", "\"Mars/Olympus_Mons\"");
	check_error(t, line_of(t, "Mars/Olympus_Mons"), MSGS("unknown time zone \"Mars/Olympus_Mons\""));
}

/* A directory of the tz database is no zone (glibc would silently use UTC). */
static void test_error_timezone_directory(void **state)
{
	(void)state;
	char *t = vary(template_text(), "\"Asia/Shanghai\"", "\"Asia\"");
	check_error(t, line_of(t, "timezone = \"Asia\";"), MSGS("unknown time zone \"Asia\""));
}

static void test_error_bad_log_level(void **state)
{
	(void)state;
	char *t = vary(template_text(), "  log_level = \"info\";\n", "  log_level = \"loud\";\n");
	check_error(t, line_of(t, "\"loud\""), MSGS("log_level \"loud\""));
}

static void test_error_bad_close_policy(void **state)
{
	(void)state;
	char *t = vary(template_text(), "  close = \"quarter-end\";\n", "  close = \"month-end\";\n");
	check_error(t, line_of(t, "\"month-end\""), MSGS("close \"month-end\""));
}

static void test_error_bad_missing_default(void **state)
{
	(void)state;
	char *t = vary(template_text(), "  missing_default = \"late\";\n", "  missing_default = \"half\";\n");
	check_error(t, line_of(t, "\"half\""), MSGS("missing_default"));
}

static void test_error_bad_reminder_slot(void **state)
{
	(void)state;
	char *t = vary(template_text(), "  due = [ \"0d@09:00\" ];\n", "  due = [ \"0x@09:00\" ];\n");
	check_error(t, line_of(t, "\"0x@09:00\""), MSGS("reminders", "due", "0x@09:00"));
}

static void test_error_reminder_slot_partial_days(void **state)
{
	(void)state;
	char *t = vary(template_text(), "\"-3d@09:00\"", "\"-3h@09:00\"");
	check_error(t, line_of(t, "\"-3h@09:00\""), MSGS("reminders", "before", "whole days"));
}

static void test_error_reminder_slot_bad_time(void **state)
{
	(void)state;
	char *t = vary(template_text(), "  record = [ \"0d@09:00\" ];\n", "  record = [ \"0d@25:00\" ];\n");
	check_error(t, line_of(t, "\"0d@25:00\""), MSGS("reminders", "record", "0d@25:00"));
}

static void test_error_bad_overdue_first(void **state)
{
	(void)state;
	char *t = vary(template_text(), "    first = \"+1d@09:00\";\n", "    first = \"tomorrow\";\n");
	check_error(t, line_of(t, "\"tomorrow\""), MSGS("reminders.overdue", "tomorrow"));
}

static void test_error_bad_overdue_every(void **state)
{
	(void)state;
	char *t = vary(template_text(), "    every = \"3d\";\n", "    every = \"0d\";\n");
	check_error(t, line_of(t, "every = \"0d\";"), MSGS("reminders.overdue", "every \"0d\""));
}

static void test_error_bad_overdue_type(void **state)
{
	(void)state;
	char *t = vary(template_text(), "  overdue = {\n    first = \"+1d@09:00\";\n    every = \"3d\";\n  };\n",
		       "  overdue = \"3d\";\n");
	check_error(t, line_of(t, "overdue = \"3d\";"), MSGS("reminders", "overdue must be"));
}

static void test_error_access_unknown_unit(void **state)
{
	(void)state;
	char *t = vary(template_text(), "    ua = { users = [ ]; groups = [ \"kaohe-ua\" ]; };\n",
		       "    ua = { users = [ ]; groups = [ \"kaohe-ua\" ]; };\n    uz = { groups = [ \"kaohe-uz\" ]; };\n");
	check_error(t, line_of(t, "uz = {"), MSGS("access.units", "unknown unit \"uz\""));
}

static void test_error_access_unknown_department(void **state)
{
	(void)state;
	char *t = vary(template_text(), "    dep = { users = [ ]; groups = [ \"kaohe-dep\" ]; };\n",
		       "    dep = { users = [ ]; groups = [ \"kaohe-dep\" ]; };\n    ghost = { users = [ \"nobody\" ]; };\n");
	check_error(t, line_of(t, "ghost = {"), MSGS("access.departments", "unknown department \"ghost\""));
}

static void test_error_access_unknown_setting(void **state)
{
	(void)state;
	char *t = vary(template_text(), "groups = [ \"kaohe-admin\" ];", "groups = [ \"kaohe-admin\" ]; roles = [ ];");
	check_error(t, line_of(t, "roles = [ ];"), MSGS("unknown setting \"roles\"", "access.admins"));
}

static void test_error_access_group_not_string(void **state)
{
	(void)state;
	char *t = vary(template_text(), "groups = [ \"kaohe-dep\" ];", "groups = [ 42 ];");
	check_error(t, line_of(t, "groups = [ 42 ];"), MSGS("access.departments.dep", "must be a string"));
}

static void test_error_in_force_reversed(void **state)
{
	(void)state;
	char *t = vary(template_text(), "in_force = { from = \"05-01\"; to = \"12-31\"; };",
		       "in_force = { from = \"10-01\"; to = \"06-01\"; };");
	check_error(t, line_of(t, "in_force = {"), MSGS("in_force", "ends before it starts"));
}

static void test_error_calendar_range_reversed(void **state)
{
	(void)state;
	char *t = vary(template_text(), "\"10-02..10-04\"", "\"10-04..10-02\"");
	check_error(t, line_of(t, "\"10-04..10-02\""), MSGS("calendar", "10-04..10-02", "ends before it starts"));
}

static void test_error_year_out_of_range(void **state)
{
	(void)state;
	char *t = vary(template_text(), "  year = 2020;\n", "  year = 1900;\n");
	check_error(t, line_of(t, "year = 1900;"), MSGS("year 1900", "out of range"));
}

/* ------------------------------------------------------------------ */
/* Everything in one pass                                              */

static void test_errors_all_reported_in_one_pass(void **state)
{
	struct run r;
	(void)state;
	char *t = template_text();
	t = vary(t, "  log_level = \"info\";\n", "  log_level = \"loud\";\n");
	t = vary(t, "channels: { };\n", "channels: { };\nbogus = 1;\n");
	t = vary(t, "  total = 10;\n", "  total = 12;\n");
	t = vary(t, "{ id = \"ub\"; name = \"乙街道\"; }", "{ id = \"ua\"; name = \"乙街道\"; }");
	t = vary(t, "        due = \"06-15\";\n", "        due = \"13-45\";\n");
	t = vary(t, "{ kind = \"praise\";", "{ kind = \"lapse\";");
	run_text(&r, "many.conf", t);
	assert_null(r.cfg);
	expect_error(&r, line_of(t, "\"loud\""), MSGS("log_level"));
	expect_error(&r, line_of(t, "bogus = 1;"), MSGS("bogus"));
	expect_error(&r, line_of(t, "total = 12;"), MSGS("total 12"));
	expect_error(&r, line_of(t, "name = \"乙街道\""), MSGS("duplicate unit id"));
	expect_error(&r, line_of(t, "\"13-45\""), MSGS("bad date"));
	expect_error(&r, line_of(t, "name = \"表扬\""), MSGS("duplicate kind"));
	expect_well_formed(&r);
	if (lines_in(&r.err) != 6)
		dump(&r);
	assert_int_equal(lines_in(&r.err), 6);
	run_free(&r);
	free(t);
}

/* ------------------------------------------------------------------ */
/* Warnings on a small valid configuration                             */

static void check_one_warning(char *text, int line, const char *const *msgs)
{
	struct run r;
	run_text(&r, "warn.conf", text);
	if (r.cfg == NULL || lines_in(&r.warn) != 1)
		dump(&r);
	assert_non_null(r.cfg);
	assert_string_equal(text_of(&r.err), "");
	assert_int_equal(lines_in(&r.warn), 1);
	expect_warning_in(&r, r.path, line, msgs);
	run_free(&r);
	free(text);
}

static void test_warning_full_marks_mismatch(void **state)
{
	(void)state;
	char *t = vary(template_text(), "按时报送材料。", "按时报送材料。（满分5分）");
	check_one_warning(t, line_of(t, "（满分5分）"), MSGS("row r1", "满分5分", "is 4"));
}

static void test_warning_full_marks_match_is_silent(void **state)
{
	struct run r;
	(void)state;
	char *t = vary(template_text(), "按时报送材料。", "按时报送材料。（满分4分）");
	run_text(&r, "warn.conf", t);
	assert_non_null(r.cfg);
	assert_string_equal(text_of(&r.warn), "");
	run_free(&r);
	free(t);
}

static void test_warning_repeated_seq(void **state)
{
	(void)state;
	char *t = vary_in(template_text(), R2, "      seq = \"2\";\n", "      seq = \"1\";\n");
	check_one_warning(t, line_after(t, R2, "seq = \"1\";"), MSGS("row r2", "序号 1", "row r1"));
}

static void test_warning_due_outside_in_force(void **state)
{
	(void)state;
	char *t = vary(template_text(), "        due = \"06-15\";\n", "        due = \"04-15\";\n");
	check_one_warning(t, line_of(t, "\"04-15\""), MSGS("row r1", "04-15", "outside the period in force"));
}

static void test_warning_deduction_without_amount(void **state)
{
	(void)state;
	char *t = vary(template_text(), "发现一起扣0.5分，最多扣2分。", "发现一起扣、最多扣2分。");
	check_one_warning(t, line_of(t, "发现一起扣、"), MSGS("row r2", "扣"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_shipped_loads_without_error),
		cmocka_unit_test(test_shipped_has_exactly_five_warnings),
		cmocka_unit_test(test_shipped_warning_repeated_seq_2c),
		cmocka_unit_test(test_shipped_warning_full_marks_6b_16a_16b),
		cmocka_unit_test(test_shipped_warning_deduction_without_amount_12),
		cmocka_unit_test(test_shipped_frame),
		cmocka_unit_test(test_shipped_row_16a_missing_defaults_to_late),
		cmocka_unit_test(test_shipped_row_2c_missing_5),
		cmocka_unit_test(test_shipped_row_6c_kinds),
		cmocka_unit_test(test_shipped_row_13_earn_threshold),
		cmocka_unit_test(test_shipped_row_3_ranking),
		cmocka_unit_test(test_shipped_occurrences_in_2020),
		cmocka_unit_test(test_shipped_year_override),
		cmocka_unit_test(test_template_is_valid),
		cmocka_unit_test(test_date_time_due_is_timed),
		cmocka_unit_test(test_overdue_false_is_valid),
		cmocka_unit_test(test_missing_file),
		cmocka_unit_test(test_error_syntax),
		cmocka_unit_test(test_error_syntax_in_included_file),
		cmocka_unit_test(test_error_semantic_in_included_file),
		cmocka_unit_test(test_error_unknown_top_level_setting),
		cmocka_unit_test(test_error_unknown_setting_in_row),
		cmocka_unit_test(test_error_unknown_setting_in_kaohe),
		cmocka_unit_test(test_error_unknown_setting_in_deadline),
		cmocka_unit_test(test_error_missing_plan_rows),
		cmocka_unit_test(test_error_missing_row_max),
		cmocka_unit_test(test_error_missing_row_category),
		cmocka_unit_test(test_error_missing_deadline_late),
		cmocka_unit_test(test_error_missing_deadline_due),
		cmocka_unit_test(test_error_missing_kind_points),
		cmocka_unit_test(test_error_empty_rows),
		cmocka_unit_test(test_error_empty_units),
		cmocka_unit_test(test_error_type_string_for_number),
		cmocka_unit_test(test_error_type_number_for_string),
		cmocka_unit_test(test_error_type_string_for_bool),
		cmocka_unit_test(test_error_type_number_for_list),
		cmocka_unit_test(test_error_type_list_for_group),
		cmocka_unit_test(test_error_type_year_string),
		cmocka_unit_test(test_error_type_year_reported_once),
		cmocka_unit_test(test_error_type_threshold_min_string),
		cmocka_unit_test(test_error_type_row_not_group),
		cmocka_unit_test(test_error_type_due_number),
		cmocka_unit_test(test_error_unknown_category),
		cmocka_unit_test(test_error_unknown_department),
		cmocka_unit_test(test_error_threshold_unknown_metric),
		cmocka_unit_test(test_error_ranking_unknown_metric),
		cmocka_unit_test(test_error_ranking_bad_worst),
		cmocka_unit_test(test_error_annex_category_not_in_category),
		cmocka_unit_test(test_error_duplicate_unit_id),
		cmocka_unit_test(test_error_duplicate_unit_name),
		cmocka_unit_test(test_error_duplicate_row_id),
		cmocka_unit_test(test_error_duplicate_kind),
		cmocka_unit_test(test_error_duplicate_department_id),
		cmocka_unit_test(test_error_duplicate_metric),
		cmocka_unit_test(test_error_duplicate_category),
		cmocka_unit_test(test_error_two_occurrences_same_day),
		cmocka_unit_test(test_error_bad_row_id),
		cmocka_unit_test(test_error_bad_unit_id),
		cmocka_unit_test(test_error_bad_kind_id),
		cmocka_unit_test(test_error_bad_date_month_13),
		cmocka_unit_test(test_error_bad_date_february_30),
		cmocka_unit_test(test_error_bad_date_in_force),
		cmocka_unit_test(test_error_bad_date_in_calendar),
		cmocka_unit_test(test_error_due_full_date_other_year),
		cmocka_unit_test(test_error_due_date_time_other_year),
		cmocka_unit_test(test_error_due_date_time_without_offset),
		cmocka_unit_test(test_error_bad_recurrence_quarterly_40),
		cmocka_unit_test(test_error_bad_recurrence_weekly),
		cmocka_unit_test(test_error_recurrence_in_list),
		cmocka_unit_test(test_error_deadline_and_record),
		cmocka_unit_test(test_error_negative_points),
		cmocka_unit_test(test_error_non_hundredth_points),
		cmocka_unit_test(test_error_zero_points_for_kind),
		cmocka_unit_test(test_error_zero_cap_for_kind),
		cmocka_unit_test(test_error_ranking_negative_points),
		cmocka_unit_test(test_error_category_sum),
		cmocka_unit_test(test_error_total_sum),
		cmocka_unit_test(test_error_unknown_timezone),
		cmocka_unit_test(test_error_timezone_directory),
		cmocka_unit_test(test_error_bad_log_level),
		cmocka_unit_test(test_error_bad_close_policy),
		cmocka_unit_test(test_error_bad_missing_default),
		cmocka_unit_test(test_error_bad_reminder_slot),
		cmocka_unit_test(test_error_reminder_slot_partial_days),
		cmocka_unit_test(test_error_reminder_slot_bad_time),
		cmocka_unit_test(test_error_bad_overdue_first),
		cmocka_unit_test(test_error_bad_overdue_every),
		cmocka_unit_test(test_error_bad_overdue_type),
		cmocka_unit_test(test_error_access_unknown_unit),
		cmocka_unit_test(test_error_access_unknown_department),
		cmocka_unit_test(test_error_access_unknown_setting),
		cmocka_unit_test(test_error_access_group_not_string),
		cmocka_unit_test(test_error_in_force_reversed),
		cmocka_unit_test(test_error_calendar_range_reversed),
		cmocka_unit_test(test_error_year_out_of_range),
		cmocka_unit_test(test_errors_all_reported_in_one_pass),
		cmocka_unit_test(test_warning_full_marks_mismatch),
		cmocka_unit_test(test_warning_full_marks_match_is_silent),
		cmocka_unit_test(test_warning_repeated_seq),
		cmocka_unit_test(test_warning_due_outside_in_force),
		cmocka_unit_test(test_warning_deduction_without_amount),
	};
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
