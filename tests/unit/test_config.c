/*
 * test_config — the configuration loader: the shipped 2020 configuration
 * (plan contents, its five warnings, the --year override), every error
 * path on small broken configurations written to a temporary directory
 * (each reported as "file:line: message" with the right line), and the
 * warnings of a small valid configuration; the same for the delivery
 * settings (channels, their secrets, rates and retries, the admins'
 * contacts and the templates), with their defaults.
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
#include <sys/stat.h>
#include <unistd.h>

#include "kaohe/config.h"
#include "kaohe/provider.h"
#include "support.h"

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

#define R1 "id = \"r1\""
#define R2 "id = \"r2\""

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
		fail_msg("test setup: \"%s\" not found after \"%s\"", needle,
			 anchor ? anchor : "(start)");
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
		fail_msg("test setup: \"%s\" occurs %zu times, expected once", needle,
			 count_of(text, needle));
	return line_at(text, strstr(text, needle));
}

/* The line of the second NEEDLE in TEXT. */
static int line_of_second(const char *text, const char *needle)
{
	const char *second = strstr(strstr(text, needle) + 1, needle);
	assert_non_null(second);
	return line_at(text, second);
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
			fail_msg("test setup: \"%s\" occurs %zu times, expected once", old,
				 count_of(text, old));
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
static void expect_error_in(const struct run *r, const char *file, int line,
			    const char *const *msgs)
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
static void expect_warning_in(const struct run *r, const char *file, int line,
			      const char *const *msgs)
{
	char prefix[600];
	snprintf(prefix, sizeof(prefix), "%s:%d: warning: ", file, line);
	if (!has_line(text_of(&r->warn), prefix, msgs)) {
		dump(r);
		fail_msg("no warning \"%s%s…\"", prefix, msgs[0]);
	}
}

/*
 * Load TEXT (freed), which must fail with an error at LINE naming MSGS
 * (and, when SOLE, with no other error: no follow-on of the first).
 */
static void check_error_of(char *text, int line, const char *const *msgs, bool sole)
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
	size_t n = lines_in(&r.err);
	if (sole && n != 1)
		dump(&r);
	run_free(&r);
	free(text);
	if (sole && n != 1)
		fail_msg("%zu errors, expected only one", n);
}

static void check_error(char *text, int line, const char *const *msgs)
{
	check_error_of(text, line, msgs, false);
}

/* The same, and no other error. */
static void check_sole_error(char *text, int line, const char *const *msgs)
{
	check_error_of(text, line, msgs, true);
}

/* Load TEXT (freed), which must give exactly one warning, at LINE naming MSGS. */
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

/*
 * A variation of the template that is a test of its own: the template
 * with the first OLD after ANCHOR (NULL: OLD occurs once) replaced by NEW
 * must fail with an error (ERROR_CASE) or load with exactly one warning
 * (WARNING_CASE) naming every string of MSGS at the line of AT in the
 * varied text (the first AT after AT_AFTER; NULL: AT occurs once), plus
 * LINE_DELTA.
 */
struct variation {
	const char *anchor, *old, *new;
	const char *at_after, *at;
	int line_delta;
	const char *const *msgs;
	bool sole; /* an error case: no other error either */
};

/* The varied text of V (the caller frees) and, in *LINE, the line it names. */
static char *varied(const struct variation *v, int *line)
{
	char *t = vary_in(template_text(), v->anchor, v->old, v->new);
	*line = (v->at_after ? line_after(t, v->at_after, v->at) : line_of(t, v->at)) +
		v->line_delta;
	return t;
}

static void check_error_case(void **state)
{
	const struct variation *v = *state;
	int line;
	char *t = varied(v, &line);
	check_error_of(t, line, v->msgs, v->sole);
}

static void check_warning_case(void **state)
{
	const struct variation *v = *state;
	int line;
	char *t = varied(v, &line);
	check_one_warning(t, line, v->msgs);
}

/* The cmocka test named V (the group fixture must leave the state alone). */
#define ERROR_CASE(v)                                                            \
	{                                                                        \
		.name = #v, .test_func = check_error_case, .initial_state = &(v) \
	}
#define WARNING_CASE(v)                                                            \
	{                                                                          \
		.name = #v, .test_func = check_warning_case, .initial_state = &(v) \
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
	static const char *const names[] = { "broken.conf",
					     "valid.conf",
					     "warn.conf",
					     "many.conf",
					     "main.conf",
					     "included.conf",
					     "empty-password",
					     "locked-password",
					     "long.secret",
					     "w.url",
					     "wecom.secret",
					     "smtp-password",
					     "hook.secret",
					     "only-here.secret",
					     "wecom.url",
					     "creds/hook.secret",
					     NULL };
	char path[600];
	(void)state;
	for (const char *const *n = names; *n; n++) {
		snprintf(path, sizeof(path), "%s/%s", tmpdir, *n);
		unlink(path);
	}
	snprintf(path, sizeof(path), "%s/creds", tmpdir);
	rmdir(path);
	snprintf(path, sizeof(path), "%s/password-dir", tmpdir);
	rmdir(path);
	return rmdir(tmpdir);
}

/* ------------------------------------------------------------------ */
/* The shipped configuration                                           */

/* Load the shipped configuration, which must load. */
static void run_shipped(struct run *r)
{
	run_file(r, SHIPPED_CONF, 0);
	assert_non_null(r->cfg);
}

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
	run_shipped(&r);
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
	(void)state;
	run_shipped(&r);
	const struct plan *p = r.cfg->plan;
	assert_int_equal(p->year, 2020);
	assert_int_equal(p->nrows, 28);
	assert_int_equal(p->nunits, 5);
	for (size_t i = 0; i < 5; i++)
		assert_string_equal(p->units[i].id, shipped_unit_ids[i]);
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
	run_shipped(&r);
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
	run_shipped(&r);
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
	run_shipped(&r);
	const struct plan_row *row = &r.cfg->plan->rows[row_of(r.cfg->plan, "6c")];
	assert_false(row->has_deadline);
	assert_int_equal(row->nocc, 0);
	assert_int_equal(row->nkinds, 2);
	expect_shipped_row_6c_kinds(row);
	run_free(&r);
}

static void test_shipped_row_13_earn_threshold(void **state)
{
	struct run r;
	(void)state;
	run_shipped(&r);
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
	run_shipped(&r);
	const struct plan *p = r.cfg->plan;
	assert_true(plan_metric_find(p, "dissatisfaction") >= 0);
	expect_shipped_row_3_ranking(p, &p->rows[row_of(p, "3")]);
	run_free(&r);
}

/* Every occurrence of the loaded plan falls in YEAR; their count. */
static size_t occurrences_in_year(const struct plan *p, int year)
{
	for (size_t i = 0; i < p->noccs; i++) {
		int y, m, d;
		calendar_civil_from_days(p->occs[i].sched.due_day, &y, &m, &d);
		if (y != year)
			fail_msg("occurrence %s is due %04d-%02d-%02d, not in %d", p->occs[i].name,
				 y, m, d, year);
	}
	return p->noccs;
}

static void test_shipped_occurrences_in_2020(void **state)
{
	struct run r;
	(void)state;
	run_shipped(&r);
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
	char *t = vary(template_text(), "        due = \"06-15\";\n",
		       "        due = \"2020-09-15T18:00:00+08:00\";\n");
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
	char *t = vary(template_text(),
		       "  overdue = {\n    first = \"+1d@09:00\";\n    every = \"3d\";\n  };\n",
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

static struct variation test_error_syntax = {
	.old = "  document = \"测试〔2020〕1号\";\n",
	.new = "  document = ;\n",
	.at = "document = ;",
	.msgs = MSGS("syntax error"),
};

/* ------------------------------------------------------------------ */
/* Control characters in names, contacts and texts                     */

static struct variation test_error_unit_name_line_break = {
	.old = "name = \"甲街道\";",
	.new = "name = \"甲\\r\\n街道\";",
	.at = "name = \"甲\\r\\n街道\";",
	.msgs = MSGS("\"name\" holds the control character U+000D (byte 4)"),
	.sole = true,
};

static struct variation test_error_liaison_name_escape = {
	.old = "name = \"甲联络员\";",
	.new = "name = \"甲联络员\\x1b[2J\";",
	.at = "name = \"甲联络员\\x1b[2J\";",
	.msgs = MSGS("\"name\"", "U+001B"),
	.sole = true,
};

static struct variation test_error_office_email_tab = {
	.old = "email = \"office@dep.example.org\";",
	.new = "email = \"office@dep.example.org\\t\";",
	.at = "email = \"office@dep.example.org\\t\";",
	.msgs = MSGS("\"email\"", "U+0009"),
};

static struct variation test_error_row_content_c1 = {
	.old = "content = \"报送材料\";",
	.new = "content = \"报送\\xc2\\x9b材料\";",
	.at = "content = \"报送\\xc2\\x9b材料\";",
	.msgs = MSGS("\"content\"", "U+009B"),
	.sole = true,
};

static struct variation test_error_access_user_del = {
	.old = "users = [ \"root\" ];",
	.new = "users = [ \"root\", \"x\\x7f\" ];",
	.at = "users = [ \"root\", \"x\\x7f\" ];",
	.msgs = MSGS("element 2", "U+007F"),
	.sole = true,
};

/*
 * The plan, with the template's "  total = 10;\n" replaced by NEW, in a
 * file included by the daemon settings: the error is reported in the
 * included file, at the line of AT, naming MSGS.
 */
static void check_included_error(const char *new, const char *at, const char *const *msgs)
{
	struct run r;
	char main_path[600], inc_path[600];
	char *m = concat(TPL_HEAD, "@include \"included.conf\"\n", "", "");
	char *inc = concat(TPL_PLAN_HEAD, TPL_ROWS, TPL_PLAN_TAIL, "");
	inc = vary(inc, "  total = 10;\n", new);
	snprintf(main_path, sizeof(main_path), "%s/main.conf", tmpdir);
	snprintf(inc_path, sizeof(inc_path), "%s/included.conf", tmpdir);
	write_file(main_path, m);
	write_file(inc_path, inc);
	run_file(&r, main_path, 0);
	assert_int_equal(unlink(main_path), 0);
	assert_int_equal(unlink(inc_path), 0);
	assert_null(r.cfg);
	expect_error_in(&r, inc_path, line_of(inc, at), msgs);
	run_free(&r);
	free(m);
	free(inc);
}

static void test_error_syntax_in_included_file(void **state)
{
	(void)state;
	check_included_error("  total = = 10;\n", "total = = 10;", MSGS("syntax error"));
}

static void test_error_semantic_in_included_file(void **state)
{
	(void)state;
	check_included_error("  total = 12;\n", "total = 12;", MSGS("total 12"));
}

/* ------------------------------------------------------------------ */
/* Unknown and missing settings                                        */

static struct variation test_error_unknown_top_level_setting = {
	.old = "channels: { };\n",
	.new = "channels: { };\nbogus = 1;\n",
	.at = "bogus = 1;",
	.msgs = MSGS("unknown setting \"bogus\" in the top level; known: kaohe, access, channels, "
		     "calendar, reminders, plan"),
};

static struct variation test_error_unknown_setting_in_row = {
	.anchor = R2,
	.old = "      max = 3;\n",
	.new = "      max = 3;\n      colour = \"red\";\n",
	.at = "colour = ",
	.msgs = MSGS("unknown setting \"colour\"", "row r2"),
};

static struct variation test_error_unknown_setting_in_kaohe = {
	.old = "  log_level = \"info\";\n",
	.new = "  log_level = \"info\";\n  loglevel = \"debug\";\n",
	.at = "loglevel = ",
	.msgs = MSGS("unknown setting \"loglevel\" in kaohe; known: timezone, calendar_dir, "
		     "state_dir, control_socket, export_dir, log_level, control_max_clients, "
		     "control_max_per_uid, control_idle_timeout"),
};

static struct variation test_error_metrics_file_not_prom = {
	.old = "  log_level = \"info\";\n",
	.new = "  log_level = \"info\";\n  metrics_file = \"/tmp/kaohe-test-state/kaohe.db\";\n",
	.at = "metrics_file = ",
	.msgs = MSGS("metrics_file \"/tmp/kaohe-test-state/kaohe.db\" must be an absolute path "
		     "ending in .prom"),
};

static struct variation test_error_metrics_file_relative = {
	.old = "  log_level = \"info\";\n",
	.new = "  log_level = \"info\";\n  metrics_file = \"kaohe.prom\";\n",
	.at = "metrics_file = ",
	.msgs = MSGS("metrics_file \"kaohe.prom\" must be an absolute path"),
};

static struct variation test_error_unknown_setting_in_deadline = {
	.old = "        missing = 2;\n",
	.new = "        missing = 2;\n        grace = 1;\n",
	.at = "grace = 1;",
	.msgs = MSGS("unknown setting \"grace\"", "row r1"),
};

static void test_error_missing_plan_rows(void **state)
{
	(void)state;
	char *t = concat(TPL_HEAD, TPL_PLAN_HEAD, TPL_PLAN_TAIL, "");
	check_error(t, line_of(t, "plan: {"), MSGS("missing setting \"rows\""));
}

static struct variation test_error_missing_row_max = {
	/* reported at the row's group, whose "{" is on the line before its id */
	.anchor = R1, .old = "      max = 4;\n", .new = "",
	.at = R1,     .line_delta = -1,          .msgs = MSGS("row r1", "missing setting \"max\""),
};

static struct variation test_error_missing_row_category = {
	.anchor = R2,
	.old = "      category = \"basic\";\n",
	.new = "",
	.at = R2,
	.line_delta = -1,
	.msgs = MSGS("row r2", "missing setting \"category\""),
};

static struct variation test_error_missing_deadline_late = {
	.old = "        late = 1;\n",
	.new = "",
	.at_after = R1,
	.at = "deadline = {",
	.msgs = MSGS("row r1", "missing setting \"late\""),
};

static struct variation test_error_missing_deadline_due = {
	.old = "        due = \"06-15\";\n",
	.new = "",
	.at_after = R1,
	.at = "deadline = {",
	.msgs = MSGS("row r1", "missing setting \"due\""),
};

static struct variation test_error_missing_kind_points = {
	.old = "name = \"表扬\"; points = 1; }",
	.new = "name = \"表扬\"; }",
	.at = "name = \"表扬\"; }",
	.msgs = MSGS("kind praise", "missing setting \"points\""),
};

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

static struct variation test_error_type_string_for_number = {
	.anchor = R1,
	.old = "      max = 4;\n",
	.new = "      max = \"4\";\n",
	.at = "max = \"4\";",
	.msgs = MSGS("row r1", "max", "number"),
};

static struct variation test_error_type_number_for_string = {
	.anchor = R1,
	.old = "      department = \"dep\";\n",
	.new = "      department = 7;\n",
	.at = "department = 7;",
	.msgs = MSGS("row r1", "\"department\" must be a string"),
};

static struct variation test_error_type_string_for_bool = {
	.old = "      earn = true;\n",
	.new = "      earn = \"yes\";\n",
	.at = "earn = \"yes\";",
	.msgs = MSGS("row r3", "\"earn\" must be true or false"),
};

static struct variation test_error_type_number_for_list = {
	/* the rows naming metric rate then report it unknown as well */
	.old = "  metrics = (\n    { id = \"rate\"; name = \"满意率\"; unit = \"%\"; }\n  );\n",
	.new = "  metrics = 3;\n",
	.at = "metrics = 3;",
	.msgs = MSGS("\"metrics\" must be a list"),
};

static struct variation test_error_type_list_for_group = {
	.old = "      record = {\n        due = \"12-10\";\n      };\n",
	.new = "      record = ( \"12-10\" );\n",
	.at = "record = ( \"12-10\" );",
	.msgs = MSGS("row r2", "\"record\" must be a group"),
};

static struct variation test_error_type_year_string = {
	.old = "  year = 2020;\n",
	.new = "  year = \"2020\";\n",
	.at = "year = \"2020\";",
	.msgs = MSGS("year must be a number"),
};

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

static struct variation test_error_type_threshold_min_string = {
	.old = "min = 80;",
	.new = "min = \"80%\";",
	.at = "min = \"80%\";",
	.msgs = MSGS("row r3", "\"min\" must be a number"),
};

static struct variation test_error_type_row_not_group = {
	.old = "  rows = (\n",
	.new = "  rows = (\n    \"r0\",\n",
	.at = "\"r0\",",
	.msgs = MSGS("rows: element 1 must be a group"),
};

static struct variation test_error_type_due_number = {
	.old = "        due = \"06-15\";\n",
	.new = "        due = 615;\n",
	.at = "due = 615;",
	.msgs = MSGS("row r1", "string or a list of strings"),
};

/* ------------------------------------------------------------------ */
/* Unknown references                                                  */

static struct variation test_error_unknown_category = {
	.anchor = R2,
	.old = "      category = \"basic\";\n",
	.new = "      category = \"extra\";\n",
	.at = "category = \"extra\";",
	.msgs = MSGS("row r2", "unknown category \"extra\""),
};

static struct variation test_error_unknown_department = {
	.anchor = R1,
	.old = "      department = \"dep\";\n",
	.new = "      department = \"nodep\";\n",
	.at = "department = \"nodep\";",
	.msgs = MSGS("row r1", "unknown department \"nodep\""),
};

static struct variation test_error_threshold_unknown_metric = {
	.old = "{ metric = \"rate\"; min = 80; }",
	.new = "{ metric = \"ratio\"; min = 80; }",
	.at = "metric = \"ratio\"",
	.msgs = MSGS("row r3", "threshold", "unknown metric \"ratio\""),
};

static struct variation test_error_ranking_unknown_metric = {
	.old = "        metric = \"rate\";\n",
	.new = "        metric = \"nope\";\n",
	.at = "metric = \"nope\";",
	.msgs = MSGS("row r3", "ranking", "unknown metric \"nope\""),
};

static struct variation test_error_ranking_bad_worst = {
	.old = "        worst = \"lowest\";\n",
	.new = "        worst = \"low\";\n",
	.at = "worst = \"low\";",
	.msgs = MSGS("row r3", "worst must be"),
};

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
	snprintf(prefix, sizeof(prefix), "%s:%d: ", r.path,
		 line_of(t, "annex_category = \"重点工作\";"));
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

static struct variation test_error_duplicate_unit_id = {
	.old = "{ id = \"ub\"; name = \"乙街道\"; }",
	.new = "{ id = \"ua\"; name = \"乙街道\"; }",
	.at = "name = \"乙街道\"",
	.msgs = MSGS("duplicate unit id \"ua\""),
};

static struct variation test_error_duplicate_unit_name = {
	.old = "{ id = \"ub\"; name = \"乙街道\"; }",
	.new = "{ id = \"ub\"; name = \"甲街道\"; }",
	.at = "{ id = \"ub\";",
	.msgs = MSGS("duplicate unit name \"甲街道\""),
};

static void test_error_duplicate_row_id(void **state)
{
	(void)state;
	char *t = vary(template_text(), "      id = \"r3\";\n", "      id = \"r2\";\n");
	/* the second r2 is the third row */
	check_error(t, line_of_second(t, R2), MSGS("duplicate row id \"r2\""));
}

static struct variation test_error_duplicate_kind = {
	.old = "{ kind = \"praise\";",
	.new = "{ kind = \"lapse\";",
	.at = "name = \"表扬\"",
	.msgs = MSGS("row r2", "duplicate kind \"lapse\""),
};

static void test_error_duplicate_department_id(void **state)
{
	(void)state;
	char *t = vary(template_text(), "  departments = (\n",
		       "  departments = (\n    { id = \"dep\"; name = \"区另一局\"; },\n");
	check_error(t, line_of_second(t, "{ id = \"dep\";"),
		    MSGS("duplicate department id \"dep\""));
}

static struct variation test_error_duplicate_metric = {
	.old = "    { id = \"rate\"; name = \"满意率\"; unit = \"%\"; }\n",
	.new = "    { id = \"rate\"; name = \"满意率\"; unit = \"%\"; },\n    { id = \"rate\"; name = \"收费率\"; }\n",
	.at = "name = \"收费率\"",
	.msgs = MSGS("duplicate metric id \"rate\""),
};

static void test_error_duplicate_category(void **state)
{
	(void)state;
	char *t = vary(template_text(), "  categories = (\n",
		       "  categories = (\n    { id = \"basic\"; name = \"重复\"; max = 0; },\n");
	check_error(t, line_of_second(t, "{ id = \"basic\";"),
		    MSGS("duplicate category id \"basic\""));
}

static struct variation test_error_two_occurrences_same_day = {
	.old = "        due = \"06-15\";\n",
	.new = "        due = [ \"06-15\", \"06-15\" ];\n",
	.at = "due = [ \"06-15\"",
	.msgs = MSGS("row r1", "same day"),
};

/* ------------------------------------------------------------------ */
/* Ids                                                                 */

static struct variation test_error_bad_row_id = {
	.old = "      id = \"r2\";\n",
	.new = "      id = \"r 2\";\n",
	.at = "id = \"r 2\";",
	.msgs = MSGS("\"r 2\"", "letters, digits"),
};

static struct variation test_error_bad_unit_id = {
	.old = "{ id = \"ub\";",
	.new = "{ id = \"u.b\";",
	.at = "\"u.b\"",
	.msgs = MSGS("\"u.b\"", "letters, digits"),
};

static struct variation test_error_bad_kind_id = {
	.old = "{ kind = \"lapse\";",
	.new = "{ kind = \"工作\";",
	.at = "kind = \"工作\"",
	.msgs = MSGS("row r2", "\"工作\"", "letters, digits"),
};

/* ------------------------------------------------------------------ */
/* Dates and recurrences                                               */

static struct variation test_error_bad_date_month_13 = {
	.old = "        due = \"06-15\";\n",
	.new = "        due = \"13-45\";\n",
	.at = "\"13-45\"",
	.msgs = MSGS("row r1", "bad date \"13-45\""),
};

static struct variation test_error_bad_date_february_30 = {
	.old = "        due = \"12-10\";\n",
	.new = "        due = \"02-30\";\n",
	.at = "\"02-30\"",
	.msgs = MSGS("row r2", "bad date \"02-30\""),
};

static struct variation test_error_bad_date_in_force = {
	.old = "to = \"12-31\";",
	.new = "to = \"12-32\";",
	.at = "\"12-32\"",
	.msgs = MSGS("in_force", "bad date \"12-32\""),
};

static struct variation test_error_bad_date_in_calendar = {
	.old = "  workdays = [ \"10-10\" ];\n",
	.new = "  workdays = [ \"10-10\", \"11-31\" ];\n",
	.at = "\"11-31\"",
	.msgs = MSGS("calendar", "bad date \"11-31\""),
};

static struct variation test_error_due_full_date_other_year = {
	.old = "        due = \"06-15\";\n",
	.new = "        due = \"2021-03-01\";\n",
	.at = "\"2021-03-01\"",
	.msgs = MSGS("row r1", "2021-03-01", "outside the plan year 2020"),
};

static struct variation test_error_due_date_time_other_year = {
	.old = "        due = \"06-15\";\n",
	.new = "        due = \"2019-09-15T18:00:00+08:00\";\n",
	.at = "\"2019-09-15T18",
	.msgs = MSGS("row r1", "2019-09-15T18:00:00+08:00", "outside the plan year 2020"),
};

static struct variation test_error_due_date_time_without_offset = {
	.old = "        due = \"06-15\";\n",
	.new = "        due = \"2020-09-15T18:00:00\";\n",
	.at = "\"2020-09-15T18",
	.msgs = MSGS("row r1", "bad date-time"),
};

static struct variation test_error_bad_recurrence_quarterly_40 = {
	.old = "        due = \"06-15\";\n",
	.new = "        due = \"quarterly:40\";\n",
	.at = "\"quarterly:40\"",
	.msgs = MSGS("row r1", "bad recurrence \"quarterly:40\""),
};

static struct variation test_error_bad_recurrence_weekly = {
	.old = "        due = \"06-15\";\n",
	.new = "        due = \"weekly:3\";\n",
	.at = "\"weekly:3\"",
	.msgs = MSGS("row r1", "\"weekly:3\""),
};

static struct variation test_error_recurrence_in_list = {
	.old = "        due = \"06-15\";\n",
	.new = "        due = [ \"06-15\", \"quarter-end\" ];\n",
	.at = "\"quarter-end\" ]",
	.msgs = MSGS("row r1", "\"quarter-end\"", "cannot stand in a list"),
};

static struct variation test_error_deadline_and_record = {
	.anchor = R1,
	.old = "      deadline = {\n",
	.new = "      record = { due = \"12-10\"; };\n      deadline = {\n",
	.at_after = R1,
	.at = "record = { due",
	.msgs = MSGS("row r1", "not both"),
};

/* ------------------------------------------------------------------ */
/* Points                                                              */

static struct variation test_error_negative_points = {
	.old = "        late = 1;\n",
	.new = "        late = -1;\n",
	.at = "late = -1;",
	.msgs = MSGS("row r1", "late", "negative"),
};

static struct variation test_error_non_hundredth_points = {
	.old = "points = 0.5; cap = 2;",
	.new = "points = 0.123; cap = 2;",
	.at = "points = 0.123;",
	.msgs = MSGS("row r2", "0.123", "hundredths"),
};

static struct variation test_error_zero_points_for_kind = {
	.old = "name = \"表扬\"; points = 1; }",
	.new = "name = \"表扬\"; points = 0; }",
	.at = "points = 0; }",
	.msgs = MSGS("row r2", "praise", "more than 0"),
};

static struct variation test_error_zero_cap_for_kind = {
	.old = "points = 0.5; cap = 2;",
	.new = "points = 0.5; cap = 0;",
	.at = "cap = 0;",
	.msgs = MSGS("row r2", "lapse", "cap must be more than 0"),
};

static struct variation test_error_ranking_negative_points = {
	.old = "points = [ 2, 1 ];",
	.new = "points = [ 2, -1 ];",
	.at = "points = [ 2, -1 ];",
	.msgs = MSGS("row r3", "ranking", "negative"),
};

static struct variation test_error_category_sum = {
	.anchor = R1,
	.old = "      max = 4;\n",
	.new = "      max = 5;\n",
	.at = "{ id = \"basic\";",
	.msgs = MSGS("category basic", "11", "max 10"),
};

static struct variation test_error_total_sum = {
	.old = "  total = 10;\n",
	.new = "  total = 12;\n",
	.at = "total = 12;",
	.msgs = MSGS("add up to 10", "total 12"),
};

/* ------------------------------------------------------------------ */
/* Daemon settings and policies                                        */

static struct variation test_error_unknown_timezone = {
	.old = "\"Asia/Shanghai\"",
	.new = "\"Mars/Olympus_Mons\"",
	.at = "Mars/Olympus_Mons",
	.msgs = MSGS("unknown time zone \"Mars/Olympus_Mons\""),
};

/* A directory of the tz database is no zone (glibc would silently use UTC). */
static struct variation test_error_timezone_directory = {
	.old = "\"Asia/Shanghai\"",
	.new = "\"Asia\"",
	.at = "timezone = \"Asia\";",
	.msgs = MSGS("unknown time zone \"Asia\""),
};

static struct variation test_error_bad_log_level = {
	.old = "  log_level = \"info\";\n",
	.new = "  log_level = \"loud\";\n",
	.at = "\"loud\"",
	.msgs = MSGS("log_level \"loud\""),
};

static struct variation test_error_bad_close_policy = {
	.old = "  close = \"quarter-end\";\n",
	.new = "  close = \"month-end\";\n",
	.at = "\"month-end\"",
	.msgs = MSGS("close \"month-end\""),
};

static struct variation test_error_bad_missing_default = {
	.old = "  missing_default = \"late\";\n",
	.new = "  missing_default = \"half\";\n",
	.at = "\"half\"",
	.msgs = MSGS("missing_default"),
};

static struct variation test_error_bad_reminder_slot = {
	.old = "  due = [ \"0d@09:00\" ];\n",
	.new = "  due = [ \"0x@09:00\" ];\n",
	.at = "\"0x@09:00\"",
	.msgs = MSGS("reminders", "due", "0x@09:00"),
};

static struct variation test_error_reminder_slot_partial_days = {
	.old = "\"-3d@09:00\"",
	.new = "\"-3h@09:00\"",
	.at = "\"-3h@09:00\"",
	.msgs = MSGS("reminders", "before", "whole days"),
};

static struct variation test_error_reminder_slot_bad_time = {
	.old = "  record = [ \"0d@09:00\" ];\n",
	.new = "  record = [ \"0d@25:00\" ];\n",
	.at = "\"0d@25:00\"",
	.msgs = MSGS("reminders", "record", "0d@25:00"),
};

static struct variation test_error_bad_overdue_first = {
	.old = "    first = \"+1d@09:00\";\n",
	.new = "    first = \"tomorrow\";\n",
	.at = "\"tomorrow\"",
	.msgs = MSGS("reminders.overdue", "tomorrow"),
};

static struct variation test_error_bad_overdue_every = {
	.old = "    every = \"3d\";\n",
	.new = "    every = \"0d\";\n",
	.at = "every = \"0d\";",
	.msgs = MSGS("reminders.overdue", "every \"0d\""),
};

static struct variation test_error_bad_overdue_type = {
	.old = "  overdue = {\n    first = \"+1d@09:00\";\n    every = \"3d\";\n  };\n",
	.new = "  overdue = \"3d\";\n",
	.at = "overdue = \"3d\";",
	.msgs = MSGS("reminders", "overdue must be"),
};

static struct variation test_error_access_unknown_unit = {
	.old = "    ua = { users = [ ]; groups = [ \"kaohe-ua\" ]; };\n",
	.new = "    ua = { users = [ ]; groups = [ \"kaohe-ua\" ]; };\n    uz = { groups = [ \"kaohe-uz\" ]; };\n",
	.at = "uz = {",
	.msgs = MSGS("access.units", "unknown unit \"uz\""),
};

static struct variation test_error_access_unknown_department = {
	.old = "    dep = { users = [ ]; groups = [ \"kaohe-dep\" ]; };\n",
	.new = "    dep = { users = [ ]; groups = [ \"kaohe-dep\" ]; };\n    ghost = { users = [ \"nobody\" ]; };\n",
	.at = "ghost = {",
	.msgs = MSGS("access.departments", "unknown department \"ghost\""),
};

static struct variation test_error_access_unknown_setting = {
	.old = "groups = [ \"kaohe-admin\" ];",
	.new = "groups = [ \"kaohe-admin\" ]; roles = [ ];",
	.at = "roles = [ ];",
	.msgs = MSGS("unknown setting \"roles\"", "access.admins"),
};

static struct variation test_error_access_group_not_string = {
	.old = "groups = [ \"kaohe-dep\" ];",
	.new = "groups = [ 42 ];",
	.at = "groups = [ 42 ];",
	.msgs = MSGS("access.departments.dep", "must be a string"),
};

static struct variation test_error_in_force_reversed = {
	.old = "in_force = { from = \"05-01\"; to = \"12-31\"; };",
	.new = "in_force = { from = \"10-01\"; to = \"06-01\"; };",
	.at = "in_force = {",
	.msgs = MSGS("in_force", "ends before it starts"),
};

static struct variation test_error_calendar_range_reversed = {
	.old = "\"10-02..10-04\"",
	.new = "\"10-04..10-02\"",
	.at = "\"10-04..10-02\"",
	.msgs = MSGS("calendar", "10-04..10-02", "ends before it starts"),
};

static struct variation test_error_year_out_of_range = {
	.old = "  year = 2020;\n",
	.new = "  year = 1900;\n",
	.at = "year = 1900;",
	.msgs = MSGS("year 1900", "out of range"),
};

/* ------------------------------------------------------------------ */
/* Channels and delivery                                               */

/* The template's empty channels replaced by BODY. */
#define NO_CHANNELS "channels: { };\n"
#define CH(body)    "channels: {\n" body "};\n"
#define EMAIL_URL   "    url = \"smtp://mail.example.org:587\";\n"
#define EMAIL_FROM  "    from = \"考核办 <kaohe@example.org>\";\n"
#define EMAIL(more) "  email = {\n" EMAIL_URL EMAIL_FROM more "  };\n"
#define HOOKS(list) "  webhooks = (\n" list "  );\n"
/* One webhook on one line, serving unit ua, with MORE settings. */
#define HOOK(name, more)                                                           \
	"    { name = \"" name "\"; url = \"https://hooks.example.org/" name "\";" \
	" units = [ \"ua\" ];" more " }"

/*
 * A channels variation: the error (or warning) names MSGS at the line of
 * AT, and is the only one.
 */
#define CHANNELS_CASE(body, at_, ...)                                                        \
	{                                                                                    \
		.old = NO_CHANNELS, .new = CH(body), .at = (at_), .msgs = MSGS(__VA_ARGS__), \
		.sole = true                                                                 \
	}

static struct variation test_error_email_url_scheme =
	CHANNELS_CASE("  email = {\n    url = \"http://mail.example.org\";\n" EMAIL_FROM "  };\n",
		      "url = \"http://mail", "channels.email", "url must begin with smtp://");

static struct variation test_error_email_missing_url =
	CHANNELS_CASE("  email = {\n" EMAIL_FROM "  };\n", "email = {", "channels.email",
		      "missing setting \"url\"");

static struct variation test_error_email_bad_from = CHANNELS_CASE(
	"  email = {\n" EMAIL_URL "    from = \"考核办 kaohe at example.org\";\n  };\n",
	"from = \"考核办 kaohe", "channels.email", "from \"考核办 kaohe at example.org\"",
	"not an address");

static struct variation test_error_email_missing_from =
	CHANNELS_CASE("  email = {\n" EMAIL_URL "  };\n", "email = {", "channels.email",
		      "missing setting \"from\"");

static struct variation test_error_email_password_file_missing =
	CHANNELS_CASE(EMAIL("    user = \"kaohe\";\n    password_file = \"no-such-password\";\n"),
		      "password_file = ", "channels.email", "cannot read", "no-such-password");

static struct variation test_error_email_user_without_password_file =
	CHANNELS_CASE(EMAIL("    user = \"kaohe\";\n"), "user = \"kaohe\"", "channels.email",
		      "user is set but password_file is not");

static struct variation test_error_email_user_empty_password_file =
	CHANNELS_CASE(EMAIL("    user = \"kaohe\";\n    password_file = \"\";\n"),
		      "password_file = \"\"", "channels.email", "password_file is empty");

static struct variation test_error_webhook_url_empty =
	CHANNELS_CASE(HOOKS("    { name = \"w\"; units = [ \"ua\" ];\n      url = \"\"; }\n"),
		      "url = \"\"", "channels.webhooks \"w\"", "url is empty");

static struct variation test_error_contact_email = {
	.old = "email = \"liaison@ua.example.org\";",
	.new = "email = \"liaison at ua\";",
	.at = "liaison at ua",
	.msgs = MSGS("email \"liaison at ua\" is not an address"),
	.sole = true,
};

static struct variation test_error_unit_id_all = {
	.old = "{ id = \"ub\"; name = \"乙街道\"; }",
	.new = "{ id = \"all\"; name = \"乙街道\"; }",
	.at = "id = \"all\"",
	.msgs = MSGS("id \"all\" is reserved"),
};

static struct variation test_error_webhook_url_file_missing = CHANNELS_CASE(
	HOOKS("    { name = \"w\"; units = [ \"ua\" ];\n      url_file = \"no-such.url\"; }\n"),
	"url_file = ", "channels.webhooks \"w\"", "cannot read", "no-such.url");

static struct variation test_error_webhook_url_not_string =
	CHANNELS_CASE(HOOKS("    { name = \"w\"; units = [ \"ua\" ];\n      url = 443; }\n"),
		      "url = 443;", "channels.webhooks \"w\"", "\"url\" must be a string");

static struct variation test_error_email_inline_password =
	CHANNELS_CASE(EMAIL("    password = \"hunter2\";\n"), "password = \"hunter2\"",
		      "unknown setting \"password\"", "channels.email");

static struct variation test_error_email_unknown_setting = CHANNELS_CASE(
	EMAIL("    port = 25;\n"), "port = 25;", "unknown setting \"port\"", "channels.email");

static struct variation test_error_channels_unknown_setting = CHANNELS_CASE(
	EMAIL("") "  retries = 3;\n", "retries = 3;", "unknown setting \"retries\"", "channels");

static struct variation test_error_retry_unknown_setting =
	CHANNELS_CASE("  retry = {\n    first = \"1s\";\n    backoff = \"exp\";\n  };\n",
		      "backoff = ", "unknown setting \"backoff\"", "channels.retry");

static struct variation test_error_webhook_unknown_setting =
	CHANNELS_CASE(HOOKS("    { name = \"w\"; units = [ \"ua\" ];\n"
			    "      url = \"https://hooks.example.org/w\";\n"
			    "      colour = \"red\"; }\n"),
		      "colour = ", "unknown setting \"colour\"", "channels.webhooks[1]");

static struct variation test_error_webhook_bad_name =
	CHANNELS_CASE(HOOKS("    { url = \"https://hooks.example.org/w\"; units = [ \"ua\" ];\n"
			    "      name = \"two words\"; }\n"),
		      "name = \"two words\"", "channels.webhooks[1]", "name \"two words\"",
		      "an id other than \"email\"");

static struct variation test_error_webhook_named_email = CHANNELS_CASE(
	EMAIL("") HOOKS("    { url = \"https://hooks.example.org/w\"; units = [ \"ua\" ];\n"
			"      name = \"email\"; }\n"),
	"name = \"email\"", "channels.webhooks[1]", "name \"email\"");

static struct variation test_error_webhook_missing_name =
	CHANNELS_CASE(HOOKS("    { url = \"https://hooks.example.org/w\"; units = [ \"ua\" ]; }\n"),
		      "{ url = ", "channels.webhooks[1]", "missing setting \"name\"");

static struct variation test_error_webhook_duplicate_name = CHANNELS_CASE(
	HOOKS(HOOK("w", "") ",\n" HOOK(
		"x",
		"") ",\n"
		    "    { name = \"w\"; url = \"https://other.example.org/\"; units = [ \"ub\" ]; }\n"),
	"https://other.example.org/", "a second webhook named \"w\"");

static struct variation test_error_webhook_unknown_type = CHANNELS_CASE(
	HOOKS("    { name = \"w\"; url = \"https://hooks.example.org/w\"; units = [ \"ua\" ];\n"
	      "      type = \"slack\"; }\n"),
	"type = \"slack\"", "channels.webhooks \"w\"", "type \"slack\"",
	"generic, wecom, dingtalk, feishu");

static struct variation test_error_webhook_type_email = CHANNELS_CASE(
	HOOKS("    { name = \"w\"; url = \"https://hooks.example.org/w\"; units = [ \"ua\" ];\n"
	      "      type = \"email\"; }\n"),
	"type = \"email\"", "channels.webhooks \"w\"", "type \"email\"");

static struct variation test_error_webhook_missing_url =
	CHANNELS_CASE(HOOKS("    { name = \"w\"; units = [ \"ua\" ]; }\n"), "{ name = \"w\"",
		      "channels.webhooks \"w\"", "missing setting \"url\" (or \"url_file\")");

static struct variation test_error_webhook_url_scheme =
	CHANNELS_CASE(HOOKS("    { name = \"w\"; units = [ \"ua\" ];\n"
			    "      url = \"ftp://hooks.example.org/w\"; }\n"),
		      "url = \"ftp:", "channels.webhooks \"w\"", "url must begin with https://");

static struct variation test_error_webhook_url_scheme_only = CHANNELS_CASE(
	HOOKS("    { name = \"w\"; units = [ \"ua\" ];\n      url = \"https://\"; }\n"),
	"url = \"https://\"", "channels.webhooks \"w\"", "url must begin with");

static struct variation test_error_webhook_bad_format = CHANNELS_CASE(
	HOOKS("    { name = \"w\"; url = \"https://hooks.example.org/w\"; units = [ \"ua\" ];\n"
	      "      format = \"html\"; }\n"),
	"format = \"html\"", "channels.webhooks \"w\"", "format \"html\" is not text");

static struct variation test_error_webhook_markdown_not_wecom = CHANNELS_CASE(
	HOOKS("    { name = \"w\"; type = \"dingtalk\"; url = \"https://oapi.example.org/w\";\n"
	      "      units = [ \"ua\" ];\n"
	      "      format = \"markdown\"; }\n"),
	"format = \"markdown\"", "channels.webhooks \"w\"", "format \"markdown\" is not text");

static struct variation test_error_webhook_wecom_bad_format = CHANNELS_CASE(
	HOOKS("    { name = \"w\"; type = \"wecom\"; url = \"https://qyapi.example.org/w\";\n"
	      "      units = [ \"ua\" ];\n"
	      "      format = \"html\"; }\n"),
	"format = \"html\"", "format \"html\" is not text or markdown");

static struct variation test_error_webhook_unknown_unit =
	CHANNELS_CASE(HOOKS("    { name = \"w\"; url = \"https://hooks.example.org/w\";\n"
			    "      units = [ \"ua\", \"uz\" ]; }\n"),
		      "\"uz\"", "channels.webhooks \"w\"", "unknown unit \"uz\"");

static struct variation test_error_webhook_unknown_department =
	CHANNELS_CASE(HOOKS("    { name = \"w\"; url = \"https://hooks.example.org/w\";\n"
			    "      departments = [ \"ghost\" ]; }\n"),
		      "\"ghost\"", "channels.webhooks \"w\"", "unknown department \"ghost\"");

static struct variation test_error_webhook_units_not_strings =
	CHANNELS_CASE(HOOKS("    { name = \"w\"; url = \"https://hooks.example.org/w\";\n"
			    "      units = [ 1 ]; }\n"),
		      "units = [ 1 ]", "channels.webhooks \"w\"", "units must hold strings");

static struct variation test_error_webhook_admins_not_bool = CHANNELS_CASE(
	HOOKS("    { name = \"w\"; url = \"https://hooks.example.org/w\";\n"
	      "      admins = \"yes\"; }\n"),
	"admins = \"yes\"", "channels.webhooks \"w\"", "\"admins\" must be true or false");

/* A list element that is no group is reported, not read as one. */
static struct variation test_error_webhook_not_group = CHANNELS_CASE(
	"  webhooks = (\n" HOOK("w", "") ",\n    \"https://hooks.example.org/x\" );\n",
	"\"https://hooks.example.org/x\"", "channels.webhooks[2] must be a group");

static struct variation test_error_webhooks_not_list =
	CHANNELS_CASE("  webhooks = \"https://hooks.example.org/w\";\n",
		      "webhooks = ", "\"webhooks\" must be a list");

#define RATE_CASE(rate, ...)                                                             \
	CHANNELS_CASE(HOOKS("    { name = \"w\"; url = \"https://hooks.example.org/w\";" \
			    " units = [ \"ua\" ];\n      rate = [ " rate " ]; }\n"),     \
		      "rate = [", __VA_ARGS__)

static struct variation test_error_rate_zero = RATE_CASE("\"0/s\"", "rate \"0/s\"", "20/min");
static struct variation test_error_rate_per_day = RATE_CASE("\"20/day\"", "rate \"20/day\"");
static struct variation test_error_rate_words = RATE_CASE("\"abc\"", "rate \"abc\"");
static struct variation test_error_rate_no_unit = RATE_CASE("\"20\"", "rate \"20\"");
static struct variation test_error_rate_too_many =
	RATE_CASE("\"10001/s\"", "rate \"10001/s\"", "at most 10000");
static struct variation test_error_rate_negative = RATE_CASE("\"-5/s\"", "rate \"-5/s\"");
static struct variation test_error_rate_five_limits =
	RATE_CASE("\"1/s\", \"2/s\", \"3/s\", \"4/s\", \"5/s\"", "at most 4 rate limits");
static struct variation test_error_rate_not_string = RATE_CASE("5", "rate \"?\"");

static struct variation test_error_duration_words =
	CHANNELS_CASE("  connect_timeout = \"soon\";\n", "connect_timeout = ", "channels",
		      "connect_timeout \"soon\" is not a duration");

static struct variation test_error_duration_negative = CHANNELS_CASE(
	"  timeout = \"-1s\";\n", "timeout = ", "channels", "timeout \"-1s\" is not a duration");

static struct variation test_error_duration_zero =
	CHANNELS_CASE("  retry = {\n    first = \"0s\";\n  };\n", "first = \"0s\"",
		      "channels.retry", "first \"0s\" is not a duration");

static struct variation test_error_duration_unit =
	CHANNELS_CASE("  retry = {\n    max_age = \"2 days\";\n  };\n",
		      "max_age = ", "channels.retry", "max_age \"2 days\"");

static struct variation test_error_duration_fraction =
	CHANNELS_CASE("  timeout = \"1.5s\";\n", "timeout = ", "timeout \"1.5s\"");

static struct variation test_error_duration_number = CHANNELS_CASE(
	"  timeout = 30;\n", "timeout = 30;", "channels", "\"timeout\" must be a string");

static struct variation test_error_factor_below_one =
	CHANNELS_CASE("  retry = {\n    factor = 0.5;\n  };\n", "factor = 0.5;", "channels.retry",
		      "\"factor\" must be from 1 to 100");

static struct variation test_error_factor_above_100 = CHANNELS_CASE(
	"  retry = {\n    factor = 101;\n  };\n", "factor = 101;", "channels.retry", "\"factor\"");

static struct variation test_error_factor_string =
	CHANNELS_CASE("  retry = {\n    factor = \"2\";\n  };\n", "factor = \"2\";",
		      "channels.retry", "\"factor\" must be a number");

static struct variation test_error_jitter_above_one =
	CHANNELS_CASE("  retry = {\n    jitter = 1.5;\n  };\n", "jitter = 1.5;", "channels.retry",
		      "\"jitter\" must be from 0 to 1");

static struct variation test_error_cap_below_first =
	CHANNELS_CASE("  retry = {\n    first = \"10m\";\n    cap = \"5m\";\n  };\n",
		      "cap = \"5m\"", "channels.retry", "cap must not be shorter than first");

/* Without a cap, the default (1 h) is shorter than a first of 2 h: the group says so. */
static struct variation test_error_default_cap_below_first =
	CHANNELS_CASE("  retry = {\n    first = \"2h\";\n  };\n", "retry = {", "channels.retry",
		      "cap must not be shorter than first");

static struct variation test_error_max_attempts_zero =
	CHANNELS_CASE("  retry = {\n    max_attempts = 0;\n  };\n", "max_attempts = 0;",
		      "channels.retry", "\"max_attempts\" must be from 1 to 1000");

static struct variation test_error_max_attempts_too_many =
	CHANNELS_CASE("  retry = {\n    max_attempts = 1001;\n  };\n", "max_attempts = 1001;",
		      "\"max_attempts\" must be from 1 to 1000");

static struct variation test_error_concurrency_zero =
	CHANNELS_CASE("  concurrency = 0;\n", "concurrency = 0;", "channels",
		      "\"concurrency\" must be from 1 to 4096");

static struct variation test_error_concurrency_too_many = CHANNELS_CASE(
	"  concurrency = 5000;\n", "concurrency = 5000;", "\"concurrency\" must be from 1 to 4096");

static struct variation test_error_retry_not_group =
	CHANNELS_CASE("  retry = 3;\n", "retry = 3;", "\"retry\" must be a group");

/* reminders.admins and reminders.templates go after the template's record slots. */
#define RECORD_SLOTS "  record = [ \"0d@09:00\" ];\n"
#define REMINDERS_CASE(more, at_, ...)                                      \
	{                                                                   \
		.old = RECORD_SLOTS, .new = RECORD_SLOTS more, .at = (at_), \
		.msgs = MSGS(__VA_ARGS__), .sole = true                     \
	}

static struct variation test_error_template_unknown_placeholder = REMINDERS_CASE(
	"  templates = {\n    before = {\n      subject = \"{unit}：{nope}\";\n    };\n  };\n",
	"subject = \"{unit}", "reminders.templates.before.subject", "unknown placeholder {nope}");

static struct variation test_error_template_item_placeholder_in_message = REMINDERS_CASE(
	"  templates = {\n    overdue = {\n      body = \"{recipient}：{seq}\";\n    };\n  };\n",
	"body = \"{recipient}", "reminders.templates.overdue.body", "{seq}",
	"belongs in the item template only");

static struct variation test_error_template_message_placeholder_in_item = REMINDERS_CASE(
	"  templates = {\n    item = \"{seq} {recipient}\";\n  };\n", "item = \"{seq}",
	"reminders.templates.item", "{recipient}", "belongs in a message template");

static struct variation test_error_template_unbalanced = REMINDERS_CASE(
	"  templates = {\n    dead = {\n      subject = \"{delivery\";\n    };\n  };\n",
	"subject = \"{delivery\"", "reminders.templates.dead.subject", "unterminated");

static struct variation test_error_template_not_string =
	REMINDERS_CASE("  templates = {\n    due = {\n      subject = 5;\n    };\n  };\n",
		       "subject = 5;", "reminders.templates.due.subject", "must be a UTF-8 string");

static struct variation test_error_template_item_not_string =
	REMINDERS_CASE("  templates = {\n    item = [ \"{seq}\" ];\n  };\n", "item = [",
		       "reminders.templates.item", "must be a UTF-8 string");

static struct variation test_error_template_kind_not_group =
	REMINDERS_CASE("  templates = {\n    before = \"{unit}\";\n  };\n", "before = \"{unit}\"",
		       "reminders.templates", "\"before\" must be a group");

/* Templates may hold line breaks; any other control character is named with its place. */
static struct variation test_error_template_escape = REMINDERS_CASE(
	"  templates = {\n    due = {\n      body = \"line 1\\nline 2 \\x1b[2J\";\n    };\n  };\n",
	"body = \"line 1", "reminders.templates.due.body", "control character U+001B",
	"byte 15 (line 2 of the template, byte 8 of it)", "line breaks (LF)");

static struct variation test_error_template_cr = REMINDERS_CASE(
	"  templates = {\n    record = {\n      subject = \"{unit}\\r\\nBcc: x@example.org\";\n"
	"    };\n  };\n",
	"subject = \"{unit}", "reminders.templates.record.subject", "U+000D",
	"byte 7 (line 1 of the template, byte 7 of it)");

static struct variation test_error_template_tab_in_item =
	REMINDERS_CASE("  templates = {\n    item = \"{seq}\\t{row}\";\n  };\n", "item = \"{seq}",
		       "reminders.templates.item", "U+0009", "byte 6");

static struct variation test_error_template_c1 =
	REMINDERS_CASE("  templates = {\n    dead = {\n      body = \"\\n\\n\xc2\x9b"
		       "2J\";\n    };\n  };\n",
		       "body = \"\\n", "reminders.templates.dead.body", "U+009B",
		       "byte 3 (line 3 of the template, byte 1 of it)");

static struct variation test_error_templates_unknown_kind =
	REMINDERS_CASE("  templates = {\n    reminder = { subject = \"x\"; };\n  };\n",
		       "reminder = {", "unknown setting \"reminder\"", "reminders.templates");

static struct variation test_error_template_unknown_setting =
	REMINDERS_CASE("  templates = {\n    snapshot = {\n      subject = \"{period}\";\n"
		       "      footer = \"x\";\n    };\n  };\n",
		       "footer = ", "unknown setting \"footer\"", "reminders.templates.snapshot");

static struct variation test_error_admins_element_not_group =
	REMINDERS_CASE("  admins = (\n    { name = \"考核办\"; email = \"a@example.org\"; },\n"
		       "    \"b@example.org\" );\n",
		       "\"b@example.org\"", "reminders.admins", "element 2 must be a group");

static struct variation test_error_admins_unknown_setting =
	REMINDERS_CASE("  admins = (\n    { name = \"考核办\"; wechat = \"kaohe\"; }\n  );\n",
		       "wechat = ", "unknown setting \"wechat\"", "reminders.admins");

static struct variation test_error_admins_not_list =
	REMINDERS_CASE("  admins = \"a@example.org\";\n", "admins = \"a@", "reminders",
		       "\"admins\" must be a list");

/* Secret files beside the configuration (the temporary directory). */
static void secret_file(const char *name, const char *text)
{
	char path[600];
	snprintf(path, sizeof(path), "%s/%s", tmpdir, name);
	write_file(path, text);
}

static void secret_remove(const char *name)
{
	char path[600];
	snprintf(path, sizeof(path), "%s/%s", tmpdir, name);
	assert_int_equal(unlink(path), 0);
}

/* The template with its empty channels replaced by CHANNELS. */
static char *with_channels(const char *channels)
{
	return vary(template_text(), NO_CHANNELS, channels);
}

static void test_error_email_password_file_empty(void **state)
{
	(void)state;
	secret_file("empty-password", "");
	char *t = with_channels(CH(EMAIL("    user = \"kaohe\";\n"
					 "    password_file = \"empty-password\";\n")));
	check_sole_error(t, line_of(t, "password_file = "),
			 MSGS("channels.email", "empty-password", "empty or not text"));
	/* a file of line ends only is as empty */
	secret_file("empty-password", "\n\r\n");
	t = with_channels(CH(EMAIL("    user = \"kaohe\";\n"
				   "    password_file = \"empty-password\";\n")));
	check_sole_error(t, line_of(t, "password_file = "),
			 MSGS("channels.email", "empty or not text"));
	/* not text */
	secret_file("empty-password", "\xff\xfe\n");
	t = with_channels(CH(EMAIL("    user = \"kaohe\";\n"
				   "    password_file = \"empty-password\";\n")));
	check_sole_error(t, line_of(t, "password_file = "),
			 MSGS("channels.email", "empty or not text"));
	secret_remove("empty-password");
}

/* A directory, or a file this user may not read, is no secret. */
static void test_error_email_password_file_unreadable(void **state)
{
	char path[600];
	(void)state;
	snprintf(path, sizeof(path), "%s/password-dir", tmpdir);
	assert_int_equal(mkdir(path, 0700), 0);
	char *t = with_channels(CH(EMAIL("    user = \"kaohe\";\n"
					 "    password_file = \"password-dir\";\n")));
	check_sole_error(t, line_of(t, "password_file = "),
			 MSGS("channels.email", "cannot read", "password-dir"));
	assert_int_equal(rmdir(path), 0);
	if (geteuid() == 0)
		return; /* root reads a file of mode 000 all the same */
	secret_file("locked-password", "secret\n");
	snprintf(path, sizeof(path), "%s/locked-password", tmpdir);
	assert_int_equal(chmod(path, 0), 0);
	t = with_channels(CH(EMAIL("    user = \"kaohe\";\n"
				   "    password_file = \"locked-password\";\n")));
	check_sole_error(t, line_of(t, "password_file = "),
			 MSGS("channels.email", "cannot read", "Permission denied"));
	secret_remove("locked-password");
}

static void test_error_secret_too_long(void **state)
{
	(void)state;
	char *big = malloc(5000);
	assert_non_null(big);
	memset(big, 'x', 4999);
	big[4999] = '\0';
	secret_file("long.secret", big);
	free(big);
	char *t = with_channels(CH(HOOKS("    { name = \"w\"; url = \"https://h.example.org/\";"
					 " units = [ \"ua\" ];\n"
					 "      secret_file = \"long.secret\"; }\n")));
	check_sole_error(t, line_of(t, "secret_file = "),
			 MSGS("channels.webhooks \"w\"", "long.secret", "longer than 4095 bytes"));
	secret_remove("long.secret");
}

/* url and url_file: one error, at url_file, and no other. */
static void test_error_webhook_url_and_url_file(void **state)
{
	struct run r;
	(void)state;
	secret_file("w.url", "https://hooks.example.org/from-file\n");
	char *t = with_channels(CH(HOOKS("    { name = \"w\"; units = [ \"ua\" ];\n"
					 "      url = \"https://hooks.example.org/w\";\n"
					 "      url_file = \"w.url\"; }\n")));
	run_text(&r, "broken.conf", t);
	assert_null(r.cfg);
	expect_error(&r, line_of(t, "url_file = "),
		     MSGS("channels.webhooks \"w\"", "either url or url_file, not both"));
	if (lines_in(&r.err) != 1)
		dump(&r);
	assert_int_equal(lines_in(&r.err), 1);
	run_free(&r);
	free(t);
	secret_remove("w.url");
}

static void test_error_wecom_with_secret_file(void **state)
{
	(void)state;
	secret_file("wecom.secret", "SECabc\n");
	char *t = with_channels(CH(HOOKS("    { name = \"w\"; type = \"wecom\";"
					 " url = \"https://qyapi.example.org/w?key=k\";\n"
					 "      units = [ \"ua\" ];\n"
					 "      secret_file = \"wecom.secret\"; }\n")));
	check_sole_error(t, line_of(t, "secret_file = "),
			 MSGS("channels.webhooks \"w\"", "WeCom robot has no secret"));
	secret_remove("wecom.secret");
}

/* Loads with no error; the caller frees. */
static void load_ok(struct run *r, const char *text)
{
	run_text(r, "valid.conf", text);
	if (r->cfg == NULL || r->err.len)
		dump(r);
	assert_non_null(r->cfg);
	assert_string_equal(text_of(&r->err), "");
}

static void test_channels_defaults(void **state)
{
	struct run r;
	(void)state;
	char *t = template_text();
	load_ok(&r, t);
	const struct settings *s = &r.cfg->set;
	assert_int_equal(s->nchannels, 0);
	assert_null(config_channel(r.cfg, "email"));
	assert_int_equal(s->nadmins_contacts, 0);
	assert_int_equal(s->delivery.concurrency, 64);
	assert_i64(s->delivery.connect_timeout_ms, 10000);
	assert_i64(s->delivery.timeout_ms, 30000);
	assert_i64(s->delivery.retry_first_ms, 30000);
	assert_true(s->delivery.retry_factor == 2.0);
	assert_i64(s->delivery.retry_cap_ms, 3600000);
	assert_true(s->delivery.retry_jitter == 0.2);
	assert_int_equal(s->delivery.retry_max_attempts, 10);
	assert_i64(s->delivery.retry_max_age_ms, 2 * INT64_C(86400000));
	for (int k = 0; k < NOTIFY_NKINDS; k++) {
		assert_null(s->templates.subject[k]);
		assert_null(s->templates.body[k]);
	}
	assert_null(s->templates.item);
	run_free(&r);
	free(t);
	/* no channels group at all: the same */
	t = vary(template_text(), NO_CHANNELS, "");
	load_ok(&r, t);
	assert_int_equal(r.cfg->set.nchannels, 0);
	assert_int_equal(r.cfg->set.delivery.concurrency, 64);
	assert_i64(r.cfg->set.delivery.retry_first_ms, 30000);
	run_free(&r);
	free(t);
}

static void test_channels_settings(void **state)
{
	struct run r;
	(void)state;
	char *t = with_channels(CH("  concurrency = 8;\n  connect_timeout = \"500ms\";\n"
				   "  timeout = \"2m\";\n"
				   "  retry = {\n    first = \"10s\";\n    factor = 1.5;\n"
				   "    cap = \"1d\";\n    jitter = 0;\n    max_attempts = 3;\n"
				   "    max_age = \"6h\";\n  };\n"));
	load_ok(&r, t);
	const struct delivery_settings *d = &r.cfg->set.delivery;
	assert_int_equal(d->concurrency, 8);
	assert_i64(d->connect_timeout_ms, 500);
	assert_i64(d->timeout_ms, 120000);
	assert_i64(d->retry_first_ms, 10000);
	assert_true(d->retry_factor == 1.5);
	assert_i64(d->retry_cap_ms, 86400000);
	assert_true(d->retry_jitter == 0.0);
	assert_int_equal(d->retry_max_attempts, 3);
	assert_i64(d->retry_max_age_ms, 6 * INT64_C(3600000));
	run_free(&r);
	free(t);
}

/*
 * What channel C sends for a notice at NOW_MS: the request in REQ, its
 * body in BODY and a URL it signs in URL (both freed by the caller).  A
 * channel's provider-private settings show only there.
 */
static void request_of(const struct channel *c, int64_t now_ms, struct sbuf *body, struct sbuf *url,
		       struct provider_request *req)
{
	static const struct delivery_settings ds = { .connect_timeout_ms = 1, .timeout_ms = 1 };
	struct notify_message m = { .kind = NOTIFY_DEAD,
				    .id = 7,
				    .at = 0,
				    .at_text = "-",
				    .recipient = "值班员",
				    .detail = "d" };
	struct provider_message pm = { .m = &m,
				       .subject = "s",
				       .text = "t",
				       .address = c->provider->mail ? "duty@example.org" : "",
				       .now_ms = now_ms };
	sbuf_init(body);
	sbuf_init(url);
	provider_request_init(req, c, &ds, body, url);
	assert_int_equal(provider_request(c, &pm, req), 0);
}

/* Whether REQ carries a header line starting with PREFIX. */
static bool has_header(const struct provider_request *req, const char *prefix)
{
	for (size_t i = 0; i < req->xfer.nheaders; i++)
		if (strncmp(req->xfer.headers[i], prefix, strlen(prefix)) == 0)
			return true;
	return false;
}

static void expect_rates(const struct channel *c, size_t n, const struct rate_limit *want)
{
	assert_non_null(c);
	if (c->nrates != n)
		fail_msg("channel %s has %zu rate limits, expected %zu", c->name, c->nrates, n);
	for (size_t i = 0; i < n; i++) {
		assert_int_equal(c->rates[i].count, want[i].count);
		assert_i64(c->rates[i].per_ms, want[i].per_ms);
	}
}

/* Each provider's documented limit unless the config says otherwise. */
static void test_channels_default_rates(void **state)
{
	struct run r;
	(void)state;
	char *t = with_channels(CH(EMAIL("") HOOKS(
		"    { name = \"wc\"; type = \"wecom\"; url = \"https://q.example.org/\";"
		" units = [ \"*\" ]; },\n"
		"    { name = \"dt\"; type = \"dingtalk\"; url = \"https://d.example.org/\";"
		" departments = [ \"*\" ]; },\n"
		"    { name = \"fs\"; type = \"feishu\"; url = \"https://f.example.org/\";"
		" admins = true; },\n"
		"    { name = \"gen\"; url = \"https://g.example.org/\"; units = [ \"ua\" ]; },\n"
		"    { name = \"gen2\"; type = \"generic\"; url = \"https://g.example.org/2\";"
		" units = [ \"ua\" ]; rate = [ \"3/s\", \"100/h\" ]; },\n"
		"    { name = \"wc2\"; type = \"wecom\"; url = \"https://q.example.org/2\";"
		" units = [ \"ua\" ]; rate = [ ]; },\n"
		"    { name = \"fs2\"; type = \"feishu\"; url = \"https://f.example.org/2\";"
		" units = [ \"ua\" ]; rate = [ \"1/min\" ]; }\n")));
	load_ok(&r, t);
	assert_string_equal(text_of(&r.warn), "");
	assert_int_equal(r.cfg->set.nchannels, 8);
	/* the email channel comes first */
	assert_string_equal(r.cfg->set.channels[0].name, "email");
	assert_ptr_equal(r.cfg->set.channels[0].provider, provider_find("email"));
	expect_rates(config_channel(r.cfg, "email"), 0, NULL);
	expect_rates(config_channel(r.cfg, "wc"), 1, (struct rate_limit[]){ { 20, 60000 } });
	expect_rates(config_channel(r.cfg, "dt"), 1, (struct rate_limit[]){ { 20, 60000 } });
	expect_rates(config_channel(r.cfg, "fs"), 2,
		     (struct rate_limit[]){ { 5, 1000 }, { 100, 60000 } });
	expect_rates(config_channel(r.cfg, "gen"), 0, NULL);
	expect_rates(config_channel(r.cfg, "gen2"), 2,
		     (struct rate_limit[]){ { 3, 1000 }, { 100, 3600000 } });
	expect_rates(config_channel(r.cfg, "wc2"), 0, NULL);
	expect_rates(config_channel(r.cfg, "fs2"), 1, (struct rate_limit[]){ { 1, 60000 } });
	assert_ptr_equal(config_channel(r.cfg, "gen")->provider, provider_find("generic"));
	assert_ptr_equal(config_channel(r.cfg, "dt")->provider, provider_find("dingtalk"));
	assert_null(config_channel(r.cfg, "nope"));
	run_free(&r);
	free(t);
}

/* Whom a webhook serves. */
static void test_channels_audience(void **state)
{
	struct run r;
	(void)state;
	char *t = with_channels(CH(HOOKS(
		"    { name = \"all\"; url = \"https://a.example.org/\"; units = [ \"*\" ]; },\n"
		"    { name = \"one\"; type = \"wecom\"; url = \"https://q.example.org/\";"
		" units = [ \"ub\" ]; format = \"markdown\"; },\n"
		"    { name = \"dep\"; url = \"https://d.example.org/\"; departments = [ \"dep\" ];"
		" admins = true; },\n"
		"    { name = \"alldeps\"; url = \"https://d.example.org/2\"; departments = [ \"*\" ];"
		" ca_file = \"/etc/ssl/ca.pem\"; }\n")));
	load_ok(&r, t);
	const struct plan *p = r.cfg->plan;
	int ua = plan_unit_find(p, "ua"), ub = plan_unit_find(p, "ub");
	struct provider_request req;
	struct sbuf body, url;
	const struct channel *c = config_channel(r.cfg, "all");
	assert_true(c->all_units);
	assert_false(c->all_depts);
	assert_null(c->depts);
	assert_false(c->admins);
	/* a generic webhook: no markdown to it */
	assert_ptr_equal(c->provider, provider_find("generic"));
	c = config_channel(r.cfg, "one");
	assert_false(c->all_units);
	assert_non_null(c->units);
	assert_int_equal(c->units[ua], 0);
	assert_int_equal(c->units[ub], 1);
	/* format = "markdown": it sends markdown messages */
	request_of(c, 0, &body, &url, &req);
	assert_ptr_equal(strstr(body.buf, "{\"msgtype\":\"markdown\","), body.buf);
	sbuf_free(&body);
	sbuf_free(&url);
	assert_null(c->ca_file);
	c = config_channel(r.cfg, "dep");
	assert_null(c->units);
	assert_false(c->all_units);
	assert_non_null(c->depts);
	assert_int_equal(c->depts[plan_dept_find(p, "dep")], 1);
	assert_true(c->admins);
	c = config_channel(r.cfg, "alldeps");
	assert_true(c->all_depts);
	assert_string_equal(c->ca_file, "/etc/ssl/ca.pem");
	assert_string_equal(c->url, "https://d.example.org/2");
	assert_null(provider_secret(c));
	/* so its requests are not signed */
	request_of(c, 0, &body, &url, &req);
	assert_true(has_header(&req, "X-Kaohe-Timestamp: "));
	assert_false(has_header(&req, "X-Kaohe-Signature: "));
	sbuf_free(&body);
	sbuf_free(&url);
	run_free(&r);
	free(t);
}

/* The email channel as written; a password's trailing line end dropped. */
static void test_channels_email(void **state)
{
	struct run r;
	(void)state;
	secret_file("smtp-password", "pa ss\r\n");
	char *t =
		with_channels(CH("  email = {\n    url = \"smtps://mail.example.org\";\n" EMAIL_FROM
				 "    user = \"kaohe\";\n"
				 "    password_file = \"smtp-password\";\n"
				 "    ca_file = \"/etc/kaohe/ca.pem\";\n  };\n"));
	load_ok(&r, t);
	assert_string_equal(text_of(&r.warn), "");
	const struct channel *c = config_channel(r.cfg, "email");
	assert_non_null(c);
	assert_ptr_equal(c->provider, provider_find("email"));
	assert_string_equal(c->url, "smtps://mail.example.org");
	assert_string_equal(c->ca_file, "/etc/kaohe/ca.pem");
	/* the sender, user and password as the mail is sent */
	struct provider_request req;
	struct sbuf body, url;
	request_of(c, 0, &body, &url, &req);
	assert_string_equal(req.xfer.mail_from, "kaohe@example.org");
	assert_ptr_equal(strstr(body.buf, "From: =?UTF-8?B?6ICD5qC45Yqe?= <kaohe@example.org>\r\n"),
			 body.buf);
	assert_string_equal(req.xfer.user, "kaohe");
	assert_string_equal(req.xfer.password, "pa ss");
	assert_false(req.xfer.require_tls); /* smtps: TLS from the start */
	sbuf_free(&body);
	sbuf_free(&url);
	assert_int_equal(c->line, line_of(t, "email = {"));
	run_free(&r);
	free(t);
	secret_remove("smtp-password");
}

/*
 * A bare file name is looked up in $CREDENTIALS_DIRECTORY first, then
 * next to the configuration; a name with a slash never in the former.
 */
static void test_channels_credentials_directory(void **state)
{
	struct run r;
	char creds[600], path[700];
	(void)state;
	snprintf(creds, sizeof(creds), "%s/creds", tmpdir);
	assert_int_equal(mkdir(creds, 0700), 0);
	snprintf(path, sizeof(path), "%s/hook.secret", creds);
	write_file(path, "from-credentials\n");
	secret_file("hook.secret", "from-config-dir\n");
	secret_file("only-here.secret", "only-beside\n\n");
	char *t = with_channels(
		CH(HOOKS("    { name = \"a\"; url = \"https://a.example.org/\"; units = [ \"ua\" ];"
			 " secret_file = \"hook.secret\"; },\n"
			 "    { name = \"b\"; url = \"https://b.example.org/\"; units = [ \"ua\" ];"
			 " secret_file = \"./hook.secret\"; },\n"
			 "    { name = \"c\"; url = \"https://c.example.org/\"; units = [ \"ua\" ];"
			 " secret_file = \"only-here.secret\"; }\n")));
	assert_int_equal(setenv("CREDENTIALS_DIRECTORY", creds, 1), 0);
	load_ok(&r, t);
	assert_string_equal(provider_secret(config_channel(r.cfg, "a")), "from-credentials");
	assert_string_equal(provider_secret(config_channel(r.cfg, "b")), "from-config-dir");
	assert_string_equal(provider_secret(config_channel(r.cfg, "c")), "only-beside");
	run_free(&r);
	/* without it: next to the configuration */
	assert_int_equal(unsetenv("CREDENTIALS_DIRECTORY"), 0);
	load_ok(&r, t);
	assert_string_equal(provider_secret(config_channel(r.cfg, "a")), "from-config-dir");
	run_free(&r);
	/* an empty one is no directory */
	assert_int_equal(setenv("CREDENTIALS_DIRECTORY", "", 1), 0);
	load_ok(&r, t);
	assert_string_equal(provider_secret(config_channel(r.cfg, "a")), "from-config-dir");
	run_free(&r);
	assert_int_equal(unsetenv("CREDENTIALS_DIRECTORY"), 0);
	free(t);
	assert_int_equal(unlink(path), 0);
	assert_int_equal(rmdir(creds), 0);
	secret_remove("hook.secret");
	secret_remove("only-here.secret");
}

/* A URL that holds the robot's key comes from a file. */
static void test_channels_url_file(void **state)
{
	struct run r;
	(void)state;
	secret_file("wecom.url", "https://qyapi.example.org/send?key=abc\n");
	char *t = with_channels(CH(HOOKS("    { name = \"w\"; type = \"wecom\";"
					 " url_file = \"wecom.url\"; units = [ \"ua\" ]; }\n")));
	load_ok(&r, t);
	assert_string_equal(config_channel(r.cfg, "w")->url,
			    "https://qyapi.example.org/send?key=abc");
	run_free(&r);
	free(t);
	/* and its scheme is checked, reported at url_file */
	secret_file("wecom.url", "gopher://qyapi.example.org/\n");
	t = with_channels(CH(HOOKS("    { name = \"w\"; type = \"wecom\"; units = [ \"ua\" ];\n"
				   "      url_file = \"wecom.url\"; }\n")));
	check_sole_error(t, line_of(t, "url_file = "),
			 MSGS("channels.webhooks \"w\"", "url must begin"));
	secret_remove("wecom.url");
}

static void test_channels_admins_and_templates(void **state)
{
	struct run r;
	(void)state;
	char *t = vary(
		template_text(), RECORD_SLOTS,
		RECORD_SLOTS
		"  admins = (\n"
		"    { name = \"考核办\"; email = \"kaohe@example.org\"; mobile = \"13900000000\"; },\n"
		"    { name = \"值班室\"; mobile = \"13900000001\"; }\n"
		"  );\n"
		"  templates = {\n"
		"    before = { subject = \"【提醒】{unit}：{count}项\"; };\n"
		"    dead = { body = \"{detail} {{原样}}\"; };\n"
		"    item = \"{seq} {title}（{due}）\";\n"
		"  };\n");
	load_ok(&r, t);
	const struct settings *s = &r.cfg->set;
	assert_int_equal(s->nadmins_contacts, 2);
	assert_string_equal(s->admins_contacts[0].name, "考核办");
	assert_string_equal(s->admins_contacts[0].email, "kaohe@example.org");
	assert_string_equal(s->admins_contacts[0].mobile, "13900000000");
	assert_null(s->admins_contacts[1].email);
	assert_string_equal(s->admins_contacts[1].mobile, "13900000001");
	assert_string_equal(s->templates.subject[NOTIFY_BEFORE], "【提醒】{unit}：{count}项");
	assert_null(s->templates.body[NOTIFY_BEFORE]);
	assert_string_equal(s->templates.body[NOTIFY_DEAD], "{detail} {{原样}}");
	assert_null(s->templates.subject[NOTIFY_DEAD]);
	assert_null(s->templates.subject[NOTIFY_OVERDUE]);
	assert_string_equal(s->templates.item, "{seq} {title}（{due}）");
	run_free(&r);
	free(t);
}

/* Clear text to a host other than this one is allowed, with a warning. */
static struct variation test_warning_http_url =
	CHANNELS_CASE(HOOKS("    { name = \"w\"; units = [ \"ua\" ];\n"
			    "      url = \"http://hooks.example.org/w\"; }\n"),
		      "url = \"http://hooks", "channels.webhooks \"w\"", "clear text");

static void test_http_loopback_is_silent(void **state)
{
	struct run r;
	(void)state;
	char *t = with_channels(CH(HOOKS(
		"    { name = \"a\"; url = \"http://127.0.0.1:8080/a\"; units = [ \"ua\" ]; },\n"
		"    { name = \"b\"; url = \"http://localhost:8080/b\"; units = [ \"ua\" ]; },\n"
		"    { name = \"c\"; url = \"http://[::1]:8080/c\"; units = [ \"ua\" ]; }\n")));
	load_ok(&r, t);
	assert_string_equal(text_of(&r.warn), "");
	assert_int_equal(r.cfg->set.nchannels, 3);
	run_free(&r);
	free(t);
}

/* A host name that only begins like this machine's is another machine. */
static void test_http_lookalike_hosts_warn(void **state)
{
	struct run r;
	(void)state;
	char *t = with_channels(CH(HOOKS(
		"    { name = \"a\"; url = \"http://localhost.example.org/a\"; units = [ \"ua\" ]; },\n"
		"    { name = \"b\"; url = \"http://127.example.org/b\"; units = [ \"ua\" ]; },\n"
		"    { name = \"c\"; url = \"http://localhostess/c\"; units = [ \"ua\" ]; },\n"
		"    { name = \"d\"; url = \"http://127.0.0.1.nip.example/d\"; units = [ \"ua\" ]; },\n"
		"    { name = \"e\"; url = \"http://127.0.0.1/e\"; units = [ \"ua\" ]; },\n"
		"    { name = \"f\"; url = \"http://localhost\"; units = [ \"ua\" ]; }\n")));
	load_ok(&r, t);
	expect_warning_in(&r, r.path, line_of(t, "localhost.example.org"), MSGS("a", "clear text"));
	expect_warning_in(&r, r.path, line_of(t, "127.example.org"), MSGS("b", "clear text"));
	expect_warning_in(&r, r.path, line_of(t, "localhostess"), MSGS("c", "clear text"));
	expect_warning_in(&r, r.path, line_of(t, "127.0.0.1.nip"), MSGS("d", "clear text"));
	assert_int_equal(lines_in(&r.warn), 4);
	run_free(&r);
	free(t);
}

static struct variation test_warning_webhook_serves_nobody =
	CHANNELS_CASE(HOOKS("    { name = \"w\"; url = \"https://hooks.example.org/w\"; }\n"),
		      "{ name = \"w\"", "channels.webhooks \"w\"", "serves nobody");

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

static struct variation test_warning_full_marks_mismatch = {
	.old = "按时报送材料。",
	.new = "按时报送材料。（满分5分）",
	.at = "（满分5分）",
	.msgs = MSGS("row r1", "满分5分", "is 4"),
};

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

static struct variation test_warning_repeated_seq = {
	.anchor = R2,
	.old = "      seq = \"2\";\n",
	.new = "      seq = \"1\";\n",
	.at_after = R2,
	.at = "seq = \"1\";",
	.msgs = MSGS("row r2", "序号 1", "row r1"),
};

static struct variation test_warning_due_outside_in_force = {
	.old = "        due = \"06-15\";\n",
	.new = "        due = \"04-15\";\n",
	.at = "\"04-15\"",
	.msgs = MSGS("row r1", "04-15", "outside the period in force"),
};

static struct variation test_warning_deduction_without_amount = {
	.old = "发现一起扣0.5分，最多扣2分。",
	.new = "发现一起扣、最多扣2分。",
	.at = "发现一起扣、",
	.msgs = MSGS("row r2", "扣"),
};

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
		ERROR_CASE(test_error_syntax),
		ERROR_CASE(test_error_unit_name_line_break),
		ERROR_CASE(test_error_liaison_name_escape),
		ERROR_CASE(test_error_office_email_tab),
		ERROR_CASE(test_error_row_content_c1),
		ERROR_CASE(test_error_access_user_del),
		cmocka_unit_test(test_error_syntax_in_included_file),
		cmocka_unit_test(test_error_semantic_in_included_file),
		ERROR_CASE(test_error_unknown_top_level_setting),
		ERROR_CASE(test_error_unknown_setting_in_row),
		ERROR_CASE(test_error_unknown_setting_in_kaohe),
		ERROR_CASE(test_error_metrics_file_not_prom),
		ERROR_CASE(test_error_metrics_file_relative),
		ERROR_CASE(test_error_unknown_setting_in_deadline),
		cmocka_unit_test(test_error_missing_plan_rows),
		ERROR_CASE(test_error_missing_row_max),
		ERROR_CASE(test_error_missing_row_category),
		ERROR_CASE(test_error_missing_deadline_late),
		ERROR_CASE(test_error_missing_deadline_due),
		ERROR_CASE(test_error_missing_kind_points),
		cmocka_unit_test(test_error_empty_rows),
		cmocka_unit_test(test_error_empty_units),
		ERROR_CASE(test_error_type_string_for_number),
		ERROR_CASE(test_error_type_number_for_string),
		ERROR_CASE(test_error_type_string_for_bool),
		ERROR_CASE(test_error_type_number_for_list),
		ERROR_CASE(test_error_type_list_for_group),
		ERROR_CASE(test_error_type_year_string),
		cmocka_unit_test(test_error_type_year_reported_once),
		ERROR_CASE(test_error_type_threshold_min_string),
		ERROR_CASE(test_error_type_row_not_group),
		ERROR_CASE(test_error_type_due_number),
		ERROR_CASE(test_error_unknown_category),
		ERROR_CASE(test_error_unknown_department),
		ERROR_CASE(test_error_threshold_unknown_metric),
		ERROR_CASE(test_error_ranking_unknown_metric),
		ERROR_CASE(test_error_ranking_bad_worst),
		cmocka_unit_test(test_error_annex_category_not_in_category),
		ERROR_CASE(test_error_duplicate_unit_id),
		ERROR_CASE(test_error_duplicate_unit_name),
		cmocka_unit_test(test_error_duplicate_row_id),
		ERROR_CASE(test_error_duplicate_kind),
		cmocka_unit_test(test_error_duplicate_department_id),
		ERROR_CASE(test_error_duplicate_metric),
		cmocka_unit_test(test_error_duplicate_category),
		ERROR_CASE(test_error_two_occurrences_same_day),
		ERROR_CASE(test_error_bad_row_id),
		ERROR_CASE(test_error_bad_unit_id),
		ERROR_CASE(test_error_bad_kind_id),
		ERROR_CASE(test_error_bad_date_month_13),
		ERROR_CASE(test_error_bad_date_february_30),
		ERROR_CASE(test_error_bad_date_in_force),
		ERROR_CASE(test_error_bad_date_in_calendar),
		ERROR_CASE(test_error_due_full_date_other_year),
		ERROR_CASE(test_error_due_date_time_other_year),
		ERROR_CASE(test_error_due_date_time_without_offset),
		ERROR_CASE(test_error_bad_recurrence_quarterly_40),
		ERROR_CASE(test_error_bad_recurrence_weekly),
		ERROR_CASE(test_error_recurrence_in_list),
		ERROR_CASE(test_error_deadline_and_record),
		ERROR_CASE(test_error_negative_points),
		ERROR_CASE(test_error_non_hundredth_points),
		ERROR_CASE(test_error_zero_points_for_kind),
		ERROR_CASE(test_error_zero_cap_for_kind),
		ERROR_CASE(test_error_ranking_negative_points),
		ERROR_CASE(test_error_category_sum),
		ERROR_CASE(test_error_total_sum),
		ERROR_CASE(test_error_unknown_timezone),
		ERROR_CASE(test_error_timezone_directory),
		ERROR_CASE(test_error_bad_log_level),
		ERROR_CASE(test_error_bad_close_policy),
		ERROR_CASE(test_error_bad_missing_default),
		ERROR_CASE(test_error_bad_reminder_slot),
		ERROR_CASE(test_error_reminder_slot_partial_days),
		ERROR_CASE(test_error_reminder_slot_bad_time),
		ERROR_CASE(test_error_bad_overdue_first),
		ERROR_CASE(test_error_bad_overdue_every),
		ERROR_CASE(test_error_bad_overdue_type),
		ERROR_CASE(test_error_access_unknown_unit),
		ERROR_CASE(test_error_access_unknown_department),
		ERROR_CASE(test_error_access_unknown_setting),
		ERROR_CASE(test_error_access_group_not_string),
		ERROR_CASE(test_error_in_force_reversed),
		ERROR_CASE(test_error_calendar_range_reversed),
		ERROR_CASE(test_error_year_out_of_range),
		ERROR_CASE(test_error_email_url_scheme),
		ERROR_CASE(test_error_email_missing_url),
		ERROR_CASE(test_error_email_bad_from),
		ERROR_CASE(test_error_email_missing_from),
		ERROR_CASE(test_error_email_password_file_missing),
		ERROR_CASE(test_error_email_user_without_password_file),
		ERROR_CASE(test_error_email_user_empty_password_file),
		ERROR_CASE(test_error_webhook_url_empty),
		ERROR_CASE(test_error_contact_email),
		ERROR_CASE(test_error_unit_id_all),
		ERROR_CASE(test_error_webhook_url_file_missing),
		ERROR_CASE(test_error_webhook_url_not_string),
		ERROR_CASE(test_error_email_inline_password),
		ERROR_CASE(test_error_email_unknown_setting),
		ERROR_CASE(test_error_channels_unknown_setting),
		ERROR_CASE(test_error_retry_unknown_setting),
		ERROR_CASE(test_error_webhook_unknown_setting),
		ERROR_CASE(test_error_webhook_bad_name),
		ERROR_CASE(test_error_webhook_named_email),
		ERROR_CASE(test_error_webhook_missing_name),
		ERROR_CASE(test_error_webhook_duplicate_name),
		ERROR_CASE(test_error_webhook_unknown_type),
		ERROR_CASE(test_error_webhook_type_email),
		ERROR_CASE(test_error_webhook_missing_url),
		ERROR_CASE(test_error_webhook_url_scheme),
		ERROR_CASE(test_error_webhook_url_scheme_only),
		ERROR_CASE(test_error_webhook_bad_format),
		ERROR_CASE(test_error_webhook_markdown_not_wecom),
		ERROR_CASE(test_error_webhook_wecom_bad_format),
		ERROR_CASE(test_error_webhook_unknown_unit),
		ERROR_CASE(test_error_webhook_unknown_department),
		ERROR_CASE(test_error_webhook_units_not_strings),
		ERROR_CASE(test_error_webhook_admins_not_bool),
		ERROR_CASE(test_error_webhook_not_group),
		ERROR_CASE(test_error_webhooks_not_list),
		ERROR_CASE(test_error_rate_zero),
		ERROR_CASE(test_error_rate_per_day),
		ERROR_CASE(test_error_rate_words),
		ERROR_CASE(test_error_rate_no_unit),
		ERROR_CASE(test_error_rate_too_many),
		ERROR_CASE(test_error_rate_negative),
		ERROR_CASE(test_error_rate_five_limits),
		ERROR_CASE(test_error_rate_not_string),
		ERROR_CASE(test_error_duration_words),
		ERROR_CASE(test_error_duration_negative),
		ERROR_CASE(test_error_duration_zero),
		ERROR_CASE(test_error_duration_unit),
		ERROR_CASE(test_error_duration_fraction),
		ERROR_CASE(test_error_duration_number),
		ERROR_CASE(test_error_factor_below_one),
		ERROR_CASE(test_error_factor_above_100),
		ERROR_CASE(test_error_factor_string),
		ERROR_CASE(test_error_jitter_above_one),
		ERROR_CASE(test_error_cap_below_first),
		ERROR_CASE(test_error_default_cap_below_first),
		ERROR_CASE(test_error_max_attempts_zero),
		ERROR_CASE(test_error_max_attempts_too_many),
		ERROR_CASE(test_error_concurrency_zero),
		ERROR_CASE(test_error_concurrency_too_many),
		ERROR_CASE(test_error_retry_not_group),
		ERROR_CASE(test_error_template_unknown_placeholder),
		ERROR_CASE(test_error_template_item_placeholder_in_message),
		ERROR_CASE(test_error_template_message_placeholder_in_item),
		ERROR_CASE(test_error_template_unbalanced),
		ERROR_CASE(test_error_template_not_string),
		ERROR_CASE(test_error_template_item_not_string),
		ERROR_CASE(test_error_template_kind_not_group),
		ERROR_CASE(test_error_templates_unknown_kind),
		ERROR_CASE(test_error_template_escape),
		ERROR_CASE(test_error_template_cr),
		ERROR_CASE(test_error_template_tab_in_item),
		ERROR_CASE(test_error_template_c1),
		ERROR_CASE(test_error_template_unknown_setting),
		ERROR_CASE(test_error_admins_element_not_group),
		ERROR_CASE(test_error_admins_unknown_setting),
		ERROR_CASE(test_error_admins_not_list),
		cmocka_unit_test(test_error_email_password_file_empty),
		cmocka_unit_test(test_error_email_password_file_unreadable),
		cmocka_unit_test(test_error_secret_too_long),
		cmocka_unit_test(test_error_webhook_url_and_url_file),
		cmocka_unit_test(test_error_wecom_with_secret_file),
		cmocka_unit_test(test_channels_defaults),
		cmocka_unit_test(test_channels_settings),
		cmocka_unit_test(test_channels_default_rates),
		cmocka_unit_test(test_channels_audience),
		cmocka_unit_test(test_channels_email),
		cmocka_unit_test(test_channels_credentials_directory),
		cmocka_unit_test(test_channels_url_file),
		cmocka_unit_test(test_channels_admins_and_templates),
		WARNING_CASE(test_warning_http_url),
		cmocka_unit_test(test_http_loopback_is_silent),
		cmocka_unit_test(test_http_lookalike_hosts_warn),
		WARNING_CASE(test_warning_webhook_serves_nobody),
		cmocka_unit_test(test_errors_all_reported_in_one_pass),
		WARNING_CASE(test_warning_full_marks_mismatch),
		cmocka_unit_test(test_warning_full_marks_match_is_silent),
		WARNING_CASE(test_warning_repeated_seq),
		WARNING_CASE(test_warning_due_outside_in_force),
		WARNING_CASE(test_warning_deduction_without_amount),
	};
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
