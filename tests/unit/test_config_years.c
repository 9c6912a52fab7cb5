/*
 * test_config_years — the configuration's plan years: the working-day
 * calendars (official files looked up beside the configuration, in
 * kaohe.calendar_dir and among the shipped ones; a plan's own; kaohe.conf's
 * calendar group of earlier versions), kaohed --year and --calendar
 * weekdays, several plans (plans = [ … ]) with their access rules and
 * channel audiences per year, plan.track_from, and every bad input of
 * these as "file:line: message".
 *
 * Each test writes its files into a fresh temporary directory.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "kaohe/config.h"
#include "kaohe/log.h"
#include "support.h"

#define SHIPPED_CALENDARS KAOHE_SOURCE_DIR "/config/calendars"

/* The daemon's settings, without a plan: access names units of 2026 and 2027. */
static const char HEAD[] =
	"kaohe: { timezone = \"Asia/Shanghai\"; };\n"
	"access: {\n"
	"  admins = { users = [ \"root\" ]; };\n"
	"  units = {\n"
	"    ua = { groups = [ \"g-ua\" ]; };\n"
	"    uc = { groups = [ \"g-uc\" ]; };\n"
	"  };\n"
	"};\n"
	"channels: {\n"
	"  webhooks = (\n"
	"    { name = \"hook\"; type = \"generic\"; url = \"https://example.org/h\";\n"
	"      units = [ \"uc\", \"ub\" ]; }\n"
	"  );\n"
	"};\n"
	"reminders: { shift_to_workdays = true; };\n";

/*
 * A plan file of YEAR: units ua, ub (and uc when WITH_UC), one deadline
 * row due DUE ("MM-DD"), and EXTRA inside the plan group.
 */
static char *plan_text(int year, bool with_uc, const char *due, const char *extra)
{
	return xasprintf(
		"plan: {\n"
		"  year = %d;\n"
		"  title = \"测试%d年考核方案\";\n"
		"  document = \"测试〔%d〕1号\";\n"
		"  total = 10;\n"
		"%s"
		"  categories = ( { id = \"basic\"; name = \"基本\"; max = 10; annex = [ \"常规\" ]; } );\n"
		"  units = ( { id = \"ua\"; name = \"甲\"; }, { id = \"ub\"; name = \"乙\"; }%s );\n"
		"  departments = ( { id = \"d\"; name = \"部门\"; } );\n"
		"  rows = ( { id = \"1\"; annex_category = \"常规\"; category = \"basic\"; department = "
		"\"d\"; max = 10;\n"
		"    content = \"材料\"; standard = \"按时\"; scoring = \"逾期扣1分\";\n"
		"    deadline = { due = \"%s\"; late = 1; }; } );\n"
		"};\n",
		year, year, year, extra, with_uc ? ", { id = \"uc\"; name = \"丙\"; }" : "", due);
}

struct fix {
	char dir[64];
	char path[128]; /* kaohe.conf */
	struct config *cfg;
	struct sbuf err, warn;
};

static int setup(void **state)
{
	struct fix *x = xcalloc(1, sizeof(*x));
	temp_dir(x->dir, sizeof(x->dir), "years");
	snprintf(x->path, sizeof(x->path), "%s/kaohe.conf", x->dir);
	sbuf_init(&x->err);
	sbuf_init(&x->warn);
	log_set_level(LOG_LEVEL_WARNING);
	*state = x;
	return 0;
}

static int teardown(void **state)
{
	struct fix *x = *state;
	config_free(x->cfg);
	sbuf_free(&x->err);
	sbuf_free(&x->warn);
	remove_tree(x->dir);
	free(x);
	return 0;
}

/* Write TEXT (freed when OWNED) as NAME in the fixture's directory. */
static void put(struct fix *x, const char *name, const char *text)
{
	char path[256];
	snprintf(path, sizeof(path), "%s/%s", x->dir, name);
	write_file(path, text);
}

/* HEAD then PLAN, PLAN freed. */
static char *headed(const char *head, char *plan)
{
	char *text = xasprintf("%s%s", head, plan);
	free(plan);
	return text;
}

static void put_owned(struct fix *x, const char *name, char *text)
{
	put(x, name, text);
	free(text);
}

/* The shipped calendars, as calendars/ beside kaohe.conf. */
static void link_calendars(struct fix *x)
{
	char path[256];
	snprintf(path, sizeof(path), "%s/calendars", x->dir);
	assert_int_equal(symlink(SHIPPED_CALENDARS, path), 0);
}

static struct config *load(struct fix *x, int year, bool weekdays)
{
	struct config_opts o = { .year = year, .weekdays = weekdays };
	config_free(x->cfg);
	sbuf_reset(&x->err);
	sbuf_reset(&x->warn);
	x->cfg = config_load_opts(x->path, &o, &x->err, &x->warn);
	return x->cfg;
}

/* The line number of the first line of file NAME holding NEEDLE. */
static int line_in(struct fix *x, const char *name, const char *needle)
{
	char path[256];
	snprintf(path, sizeof(path), "%s/%s", x->dir, name);
	char *text = read_whole(path, NULL);
	const char *at = strstr(text, needle);
	if (at == NULL)
		fail_msg("%s holds no \"%s\"", name, needle);
	int line = 1;
	for (const char *p = text; p < at; p++)
		line += *p == '\n';
	free(text);
	return line;
}

/* BUF holds a line "DIR/NAME:LINE: " (and "warning: " when WARNING) naming each of MSGS. */
static void expect_line(struct fix *x, const struct sbuf *buf, const char *name, int line,
			bool warning, const char *const *msgs)
{
	char prefix[300];
	snprintf(prefix, sizeof(prefix), "%s/%s:%d: %s", x->dir, name, line,
		 warning ? "warning: " : "");
	const char *text = buf->len ? buf->buf : "";
	for (const char *l = text; *l;) {
		const char *end = strchr(l, '\n');
		size_t len = end ? (size_t)(end - l) : strlen(l);
		bool ok = strncmp(l, prefix, strlen(prefix)) == 0;
		for (const char *const *m = msgs; ok && *m; m++) {
			char *copy = strndup(l, len);
			ok = strstr(copy, *m) != NULL;
			free(copy);
		}
		if (ok)
			return;
		l += len + (end ? 1 : 0);
	}
	fail_msg("no line \"%s%s…\" in:\n%s", prefix, msgs[0], text);
}

#define MSGS(...) ((const char *const[]){ __VA_ARGS__, NULL })

static void expect_error(struct fix *x, const char *name, int line, const char *const *msgs)
{
	if (x->cfg != NULL)
		fail_msg("the configuration loaded: warnings:\n%s", x->warn.len ? x->warn.buf : "");
	expect_line(x, &x->err, name, line, false, msgs);
}

/* ---- official calendars ---------------------------------------------------- */

/*
 * The issue's Sunday: with --year 2026, 2026-09-27 is a day off of 2026's
 * 中秋节 (2020's calendar made it a make-up workday), so an overdue notice
 * that would fall on it moves to Monday 09-28.
 */
static void year_2026_takes_2026s_calendar(void **state)
{
	struct sbuf err, warn;
	(void)state;
	sbuf_init(&err);
	sbuf_init(&warn);
	struct config *cfg = config_load(SHIPPED_CONF, 2026, &err, &warn);
	if (cfg == NULL)
		fail_msg("%s", err.buf);
	const struct calendar *c = &cfg->plan->cal;
	assert_int_equal(c->year, 2026);
	assert_true(plan_redated(cfg->plan));
	assert_int_equal(cfg->plan->written_year, 2020);
	assert_false(calendar_is_workday(c, calendar_days_from_civil(2026, 9, 27)));
	assert_false(calendar_is_workday(c, calendar_days_from_civil(2026, 9, 25))); /* Friday */
	assert_true(calendar_is_workday(c, calendar_days_from_civil(2026, 9, 20)));  /* Sunday */
	assert_true(calendar_is_workday(c, calendar_days_from_civil(2026, 10, 10))); /* Saturday */
	assert_non_null(strstr(c->source, "2026"));
	assert_non_null(strstr(c->source, "国办发明电〔2025〕7号"));
	/* due Saturday 09-26: its first overdue notice (+1d@09:00) is Sunday 09-27 */
	struct schedule s = { .due_day = calendar_days_from_civil(2026, 9, 26) };
	calendar_schedule(c, &s);
	struct slot *slots;
	size_t n = calendar_slots(c, &s, false, &slots);
	bool seen = false;
	for (size_t i = 0; i < n; i++) {
		int32_t day = calendar_day_of(slots[i].at, NULL);
		assert_int_not_equal(day, calendar_days_from_civil(2026, 9, 27));
		if (slots[i].kind == SLOT_OVERDUE && !seen) {
			seen = true;
			assert_i64(slots[i].at, T("2026-09-28T09:00:00+08:00"));
		}
	}
	assert_true(seen);
	free(slots);
	config_free(cfg);
	sbuf_free(&err);
	sbuf_free(&warn);
}

/* kaohe.conf's calendar group is 2020's: run for 2026, it is left out, said so. */
static void redated_plan_leaves_the_calendar_group_out(void **state)
{
	struct fix *x = *state;
	char *head = xasprintf("%scalendar: { holidays = [ \"09-28\" ]; workdays = [ ]; };\n"
			       "plan: {\n",
			       HEAD);
	char *plan = plan_text(2020, true, "06-15", "");
	put_owned(x, "kaohe.conf", xasprintf("%s%s", head, strstr(plan, "plan: {\n") + 8));
	free(head);
	free(plan);
	link_calendars(x);
	assert_non_null(load(x, 0, false));
	/* its own year: the group is the plan's calendar */
	assert_false(
		calendar_is_workday(&x->cfg->plan->cal, calendar_days_from_civil(2020, 9, 28)));
	assert_non_null(load(x, 2026, false));
	assert_true(calendar_is_workday(&x->cfg->plan->cal, calendar_days_from_civil(2026, 9, 28)));
	assert_false(
		calendar_is_workday(&x->cfg->plan->cal, calendar_days_from_civil(2026, 9, 27)));
	expect_line(x, &x->warn, "kaohe.conf", line_in(x, "kaohe.conf", "calendar: {"), true,
		    MSGS("run for 2026", "not used", "official calendar of 2026"));
}

/* --year of a year with no calendar installed: refused, naming where it looked. */
static void year_without_a_calendar_is_refused(void **state)
{
	struct fix *x = *state;
	put_owned(x, "kaohe.conf", headed(HEAD, plan_text(2026, true, "06-15", "")));
	link_calendars(x);
	assert_non_null(load(x, 0, false));
	assert_null(load(x, 2031, false));
	char looked[200];
	snprintf(looked, sizeof(looked), "%s/calendars/2031.conf", x->dir);
	expect_error(x, "kaohe.conf", line_in(x, "kaohe.conf", "year = 2026"),
		     MSGS("--year 2031", "no working-day calendar of 2031", looked,
			  KAOHE_CALENDAR_DIR "/2031.conf", "--calendar weekdays"));
	/* --calendar weekdays instead: said, never silent */
	assert_non_null(load(x, 2031, true));
	assert_true(calendar_is_workday(&x->cfg->plan->cal, calendar_days_from_civil(2031, 1, 1)));
	expect_line(x, &x->warn, "kaohe.conf", line_in(x, "kaohe.conf", "year = 2026"), true,
		    MSGS("--calendar weekdays", "Monday to Friday"));
}

/* A plan year with no calendar, in its own year: an error at its year line. */
static void plan_year_without_a_calendar_is_an_error(void **state)
{
	struct fix *x = *state;
	put_owned(x, "kaohe.conf", headed(HEAD, plan_text(2031, true, "06-15", "")));
	link_calendars(x);
	assert_null(load(x, 0, false));
	expect_error(x, "kaohe.conf", line_in(x, "kaohe.conf", "year = 2031"),
		     MSGS("no working-day calendar of 2031", "A new year's calendar",
			  "plan.calendar"));
}

/*
 * Where an official calendar is found: calendars/ beside the
 * configuration comes before the shipped ones; kaohe.calendar_dir
 * (relative to the configuration) replaces both.  The fingerprint
 * covers the calendar files read.
 */
static void calendar_lookup_and_fingerprint(void **state)
{
	struct fix *x = *state;
	char dir[200];
	snprintf(dir, sizeof(dir), "%s/calendars", x->dir);
	assert_int_equal(mkdir(dir, 0755), 0);
	char *shipped = read_whole(SHIPPED_CALENDARS "/2026.conf", NULL);
	put(x, "calendars/2026.conf", shipped);
	put_owned(x, "kaohe.conf", headed(HEAD, plan_text(2026, true, "06-15", "")));
	assert_non_null(load(x, 0, false));
	char fp[65];
	memcpy(fp, x->cfg->fingerprint, sizeof(fp));
	/* an administrator's own 2026 that makes 06-15 a day off */
	char *own = xasprintf("%.*s\"2026-06-15\", %s",
			      (int)(strstr(shipped, "\"2026-01-01..") - shipped), shipped,
			      strstr(shipped, "\"2026-01-01.."));
	put(x, "calendars/2026.conf", own);
	assert_non_null(load(x, 0, false));
	assert_false(
		calendar_is_workday(&x->cfg->plan->cal, calendar_days_from_civil(2026, 6, 15)));
	assert_string_not_equal(fp, x->cfg->fingerprint);
	/* kaohe.calendar_dir names another directory: only it */
	snprintf(dir, sizeof(dir), "%s/mine", x->dir);
	assert_int_equal(mkdir(dir, 0755), 0);
	put(x, "mine/2026.conf", shipped);
	char *head =
		xasprintf("kaohe: { timezone = \"Asia/Shanghai\"; calendar_dir = \"mine\"; };%s",
			  strchr(HEAD, '\n'));
	put_owned(x, "kaohe.conf", headed(head, plan_text(2026, true, "06-15", "")));
	assert_non_null(load(x, 0, false));
	assert_true(calendar_is_workday(&x->cfg->plan->cal, calendar_days_from_civil(2026, 6, 15)));
	snprintf(dir, sizeof(dir), "%s/mine/2026.conf", x->dir);
	assert_int_equal(unlink(dir), 0);
	assert_null(load(x, 0, false));
	expect_error(x, "kaohe.conf", line_in(x, "kaohe.conf", "year = 2026"),
		     MSGS("no working-day calendar of 2026", "mine/2026.conf"));
	assert_null(strstr(x->err.buf, KAOHE_CALENDAR_DIR));
	free(head);
	free(own);
	free(shipped);
}

/* A calendar file's own faults, each at its line. */
static void official_file_faults(void **state)
{
	struct fix *x = *state;
	char dir[200];
	snprintf(dir, sizeof(dir), "%s/calendars", x->dir);
	assert_int_equal(mkdir(dir, 0755), 0);
	put(x, "calendars/2030.conf",
	    "calendar: {\n"
	    "  year = 2030;\n"
	    "  source = \"hand\";\n"
	    "  notices = [ \"国办发明电〔2029〕1号\" ];\n"
	    "  holidays = [\n"
	    "    \"2031-01-01\",\n"
	    "    \"2030-10-08..2030-10-01\",\n"
	    "    \"2030-05-01..2030-05-05\",\n"
	    "    \"2030-05-03\",\n"
	    "    \"2030-12-25\"\n"
	    "  ];\n"
	    "  workdays = [ \"2030-05-05\", \"2030-05-08\" ];\n"
	    "};\n");
	put_owned(x, "kaohe.conf", headed(HEAD, plan_text(2030, true, "06-15", "")));
	assert_null(load(x, 0, false));
	expect_error(x, "calendars/2030.conf", 6, MSGS("\"2031-01-01\"", "outside 2030"));
	expect_error(x, "calendars/2030.conf", 7,
		     MSGS("\"2030-10-08..2030-10-01\"", "ends before it starts"));
	expect_error(x, "calendars/2030.conf", 9,
		     MSGS("\"2030-05-03\"", "overlaps", "\"2030-05-01..2030-05-05\"", "line 8"));
	expect_error(x, "calendars/2030.conf", 12,
		     MSGS("\"2030-05-05\"", "a holiday and a workday", "line 8"));
	expect_error(x, "calendars/2030.conf", 12, MSGS("\"2030-05-08\"", "no Saturday or Sunday"));
	/* a file of another year */
	put(x, "calendars/2030.conf",
	    "calendar: { year = 2029; source = \"x\"; notices = [ ];\n"
	    "  holidays = [ ]; workdays = [ ]; };\n");
	assert_null(load(x, 0, false));
	expect_error(x, "calendars/2030.conf", 1, MSGS("year must be 2030"));
}

/* ---- a plan's own calendar and kaohe.conf's group ------------------------- */

static void own_calendar_faults(void **state)
{
	struct fix *x = *state;
	put_owned(x, "kaohe.conf",
		  headed(HEAD, plan_text(2027, true, "06-15",
					 "  calendar = {\n"
					 "    holidays = [\n"
					 "      \"2027-01-01..2027-01-03\",\n"
					 "      \"2029-01-01\",\n"
					 "      \"2027-02-10..2027-02-06\",\n"
					 "      \"2027-01-03..2027-01-04\",\n"
					 "      \"2027-12-31\"\n"
					 "    ];\n"
					 "    workdays = [ \"2027-01-02\", \"2028-02-12\" ];\n"
					 "  };\n")));
	assert_null(load(x, 0, false));
	int at = line_in(x, "kaohe.conf", "\"2027-01-01..");
	expect_error(x, "kaohe.conf", at + 1, MSGS("\"2029-01-01\"", "outside 2027 and 2028"));
	expect_error(x, "kaohe.conf", at + 2, MSGS("ends before it starts"));
	expect_error(x, "kaohe.conf", at + 3, MSGS("overlaps", "\"2027-01-01..2027-01-03\""));
	expect_error(x, "kaohe.conf", at + 6, MSGS("\"2027-01-02\"", "a holiday and a workday"));
	/* fixed: it holds 2027 and 2028, with no official calendar of either */
	put_owned(x, "kaohe.conf",
		  headed(HEAD,
			 plan_text(2027, true, "06-15",
				   "  calendar = { holidays = [ \"2027-06-14\", \"2028-01-03\" ];"
				   " workdays = [ \"2028-02-12\" ]; };\n")));
	assert_non_null(load(x, 0, false));
	const struct calendar *c = &x->cfg->plan->cal;
	assert_true(c->next_known);
	assert_false(calendar_is_workday(c, calendar_days_from_civil(2027, 6, 14)));
	assert_false(calendar_is_workday(c, calendar_days_from_civil(2028, 1, 3)));
	assert_true(calendar_is_workday(c, calendar_days_from_civil(2028, 2, 12)));
	/* a calendar neither official nor a group */
	put_owned(x, "kaohe.conf",
		  headed(HEAD, plan_text(2027, true, "06-15", "  calendar = \"cn\";\n")));
	assert_null(load(x, 0, false));
	expect_error(x, "kaohe.conf", line_in(x, "kaohe.conf", "calendar = \"cn\""),
		     MSGS("\"official\" or a group"));
}

/* kaohe.conf's calendar group beside a plan's own: one place only. */
static void calendar_given_twice(void **state)
{
	struct fix *x = *state;
	char *plan =
		plan_text(2027, true, "06-15",
			  "  calendar = { holidays = [ \"2027-06-14\" ]; workdays = [ ]; };\n");
	put_owned(x, "kaohe.conf",
		  xasprintf("%scalendar: { holidays = [ \"06-14\" ]; };\n%s", HEAD, plan));
	free(plan);
	assert_null(load(x, 0, false));
	expect_error(x, "kaohe.conf", line_in(x, "kaohe.conf", "calendar: {"),
		     MSGS("calendar of its own", "one place"));
}

/* A plan whose reminders reach into a next year without calendar: said. */
static void next_year_without_calendar_warns(void **state)
{
	struct fix *x = *state;
	put_owned(x, "kaohe.conf",
		  headed(HEAD, plan_text(2026, true, "12-20", "  close = \"30d\";\n")));
	link_calendars(x);
	assert_non_null(load(x, 0, false));
	assert_false(x->cfg->plan->cal.next_known);
	expect_line(x, &x->warn, "kaohe.conf", line_in(x, "kaohe.conf", "year = 2026"), true,
		    MSGS("reminders of 1 fall in 2027", "no working-day calendar yet"));
	/* 2025's next year, 2026, is shipped: nothing to say */
	put_owned(x, "kaohe.conf",
		  headed(HEAD, plan_text(2025, true, "12-20", "  close = \"30d\";\n")));
	assert_non_null(load(x, 0, false));
	assert_true(x->cfg->plan->cal.next_known);
	assert_null(strstr(x->warn.len ? x->warn.buf : "", "fall in"));
}

/* ---- track_from ----------------------------------------------------------- */

static void track_from(void **state)
{
	struct fix *x = *state;
	link_calendars(x);
	put_owned(x, "kaohe.conf",
		  headed(HEAD, plan_text(2026, true, "06-15", "  track_from = \"12-02\";\n")));
	assert_non_null(load(x, 0, false));
	assert_i64(x->cfg->plan->track_from, T("2026-12-02T00:00:00+08:00"));
	put_owned(x, "kaohe.conf",
		  headed(HEAD, plan_text(2026, true, "06-15", "  track_from = \"2026-03-01\";\n")));
	assert_non_null(load(x, 0, false));
	assert_i64(x->cfg->plan->track_from, T("2026-03-01T00:00:00+08:00"));
	put_owned(x, "kaohe.conf",
		  headed(HEAD, plan_text(2026, true, "06-15", "  track_from = \"2025-12-31\";\n")));
	assert_null(load(x, 0, false));
	expect_error(x, "kaohe.conf", line_in(x, "kaohe.conf", "track_from"),
		     MSGS("track_from \"2025-12-31\" is outside the plan year 2026"));
	put_owned(x, "kaohe.conf",
		  headed(HEAD, plan_text(2026, true, "06-15", "  track_from = \"02-30\";\n")));
	assert_null(load(x, 0, false));
	expect_error(x, "kaohe.conf", line_in(x, "kaohe.conf", "track_from"),
		     MSGS("bad track_from \"02-30\""));
	/* not given */
	put_owned(x, "kaohe.conf", headed(HEAD, plan_text(2026, true, "06-15", "")));
	assert_non_null(load(x, 0, false));
	assert_i64(x->cfg->plan->track_from, INT64_MIN);
}

/* ---- several plans -------------------------------------------------------- */

/* kaohe.conf naming plan-2026.conf and plan-2027.conf (given in that order or not). */
static void two_plans(struct fix *x, const char *order)
{
	put_owned(x, "plan-2026.conf", plan_text(2026, false, "06-15", ""));
	put_owned(x, "plan-2027.conf",
		  plan_text(2027, true, "03-15",
			    "  calendar = { holidays = [ \"2027-03-15\" ]; workdays = [ ]; };\n"));
	put_owned(x, "kaohe.conf", xasprintf("%splans = [ %s ];\n", HEAD, order));
	link_calendars(x);
}

static void plans_one_configuration_per_year(void **state)
{
	struct fix *x = *state;
	two_plans(x, "\"plan-2027.conf\", \"plan-2026.conf\"");
	if (load(x, 0, false) == NULL)
		fail_msg("%s", x->err.buf);
	struct config *cfg = x->cfg;
	assert_int_equal(cfg->nyears, 2);
	/* by year; the configuration returned is the latest year's */
	assert_int_equal(cfg->years[0]->plan->year, 2026);
	assert_int_equal(cfg->years[1]->plan->year, 2027);
	assert_ptr_equal(cfg->years[1], cfg);
	assert_int_equal(cfg->plan->year, 2027);
	struct config *y26 = config_year(cfg, 2026), *y27 = config_year(cfg, 2027);
	assert_non_null(y26);
	assert_ptr_equal(y27, cfg);
	assert_null(config_year(cfg, 2028));
	assert_non_null(strstr(y26->plan->file, "plan-2026.conf"));
	assert_non_null(strstr(y26->plan->cal.source, "official calendar of 2026"));
	assert_string_equal(y27->plan->cal.source, "the plan's own (plan.calendar)");
	assert_false(calendar_is_workday(&y27->plan->cal, calendar_days_from_civil(2027, 3, 15)));
	/* what is shared, shared */
	assert_ptr_equal(y26->set.channels[0].url, y27->set.channels[0].url);
	assert_string_equal(y26->fingerprint, y27->fingerprint);
	/* access and audiences by each year's own indexes: uc only in 2027 */
	int uc = plan_unit_find(y27->plan, "uc"), ub27 = plan_unit_find(y27->plan, "ub");
	int ub26 = plan_unit_find(y26->plan, "ub");
	assert_true(uc >= 0);
	assert_int_equal(plan_unit_find(y26->plan, "uc"), -1);
	assert_int_equal(y27->set.units[uc].ngroups, 1);
	assert_string_equal(y27->set.units[uc].groups[0], "g-uc");
	assert_int_equal(y26->set.units[plan_unit_find(y26->plan, "ua")].ngroups, 1);
	assert_int_equal(y26->set.units[ub26].ngroups, 0);
	assert_non_null(y27->set.channels[0].units);
	assert_true(y27->set.channels[0].units[uc]);
	assert_true(y27->set.channels[0].units[ub27]);
	assert_non_null(y26->set.channels[0].units);
	assert_true(y26->set.channels[0].units[ub26]);
	assert_false(y26->set.channels[0].units[plan_unit_find(y26->plan, "ua")]);
	/* the plan files are in the fingerprint */
	char fp[65];
	memcpy(fp, cfg->fingerprint, sizeof(fp));
	put_owned(x, "plan-2026.conf", plan_text(2026, false, "06-16", ""));
	assert_non_null(load(x, 0, false));
	assert_string_not_equal(fp, x->cfg->fingerprint);
}

static void plans_same_year_is_an_error(void **state)
{
	struct fix *x = *state;
	two_plans(x, "\"plan-2026.conf\", \"again.conf\"");
	put_owned(x, "again.conf", plan_text(2026, false, "07-15", ""));
	assert_null(load(x, 0, false));
	char first[200];
	snprintf(first, sizeof(first), "%s/plan-2026.conf has one", x->dir);
	expect_error(x, "again.conf", line_in(x, "again.conf", "year = 2026"),
		     MSGS("a second plan for 2026", first));
}

static void plans_faults(void **state)
{
	struct fix *x = *state;
	/* --year re-dates one plan only */
	two_plans(x, "\"plan-2026.conf\", \"plan-2027.conf\"");
	assert_null(load(x, 2028, false));
	expect_error(x, "kaohe.conf", line_in(x, "kaohe.conf", "plans ="),
		     MSGS("--year 2028", "plans names 2"));
	/* plan and plans */
	char *plan = plan_text(2026, true, "06-15", "");
	put_owned(x, "kaohe.conf", xasprintf("%splans = [ \"plan-2027.conf\" ];\n%s", HEAD, plan));
	free(plan);
	assert_null(load(x, 0, false));
	expect_error(x, "kaohe.conf", line_in(x, "kaohe.conf", "plans ="),
		     MSGS("either the plan group or plans"));
	/* a plan file that is not there, one that holds more than a plan */
	put_owned(x, "kaohe.conf",
		  xasprintf("%splans = [ \"plan-2026.conf\", \"none.conf\" ];\n", HEAD));
	assert_null(load(x, 0, false));
	expect_error(x, "kaohe.conf", line_in(x, "kaohe.conf", "plans ="),
		     MSGS("cannot read the plan file", "none.conf"));
	put_owned(x, "extra.conf", headed("kaohe: { };\n", plan_text(2028, true, "06-15", "")));
	put_owned(x, "kaohe.conf",
		  xasprintf("%splans = [ \"plan-2027.conf\", \"extra.conf\" ];\n", HEAD));
	assert_null(load(x, 0, false));
	expect_error(x, "extra.conf", 1, MSGS("unknown setting \"kaohe\" in a plan file"));
	/* kaohe.conf's calendar group with several plans */
	put_owned(x, "kaohe.conf",
		  xasprintf("%scalendar: { holidays = [ ]; };\nplans = [ \"plan-2027.conf\" ];\n",
			    HEAD));
	assert_null(load(x, 0, false));
	expect_error(x, "kaohe.conf", line_in(x, "kaohe.conf", "calendar: {"),
		     MSGS("each plan file gives its calendar"));
}

/* An access rule or an audience naming a unit no plan has. */
static void ids_of_no_plan(void **state)
{
	struct fix *x = *state;
	two_plans(x, "\"plan-2026.conf\", \"plan-2027.conf\"");
	char *head = xasprintf("%s", HEAD);
	char *u = strstr(head, "    uc = {");
	memcpy(u, "    ux", 6);
	put_owned(x, "kaohe.conf",
		  xasprintf("%splans = [ \"plan-2026.conf\", \"plan-2027.conf\" ];\n", head));
	free(head);
	assert_null(load(x, 0, false));
	expect_error(x, "kaohe.conf", line_in(x, "kaohe.conf", "ux = {"),
		     MSGS("unknown unit \"ux\"", "no configured plan has it"));
}

/* ---- a long units list, read in batches ------------------------------------ */

/*
 * A units list of N units, two lines each (a comment with brackets and a
 * comma on the first), INSTEAD in place of unit AT (AT < 0: none).
 */
static char *units_list(int n, int at, const char *instead)
{
	struct sbuf sb;
	sbuf_init(&sb);
	sbuf_puts(&sb, "  units = ( # the units (a, b)\n");
	for (int i = 0; i < n; i++) {
		if (i == at)
			sbuf_printf(&sb, "    %s", instead);
		else
			sbuf_printf(&sb,
				    "    { id = \"u%04d\"; name = \"单位%04d\"; # ( {, \"\n"
				    "      liaisons = ( { name = \"联络员\"; email = "
				    "\"l@u%04d.example.org\"; } ); }",
				    i, i, i);
		sbuf_puts(&sb, i + 1 < n ? ",\n" : "\n");
	}
	sbuf_puts(&sb, "  );\n");
	char *text = xstrdup(sb.buf);
	sbuf_free(&sb);
	return text;
}

/* The plan file NAME of 2026 with UNITS (freed) as its units list; HEAD before it. */
static void put_units_plan(struct fix *x, const char *name, const char *head, char *units)
{
	char *plan = plan_text(2026, false, "06-15", "");
	char *a = strstr(plan, "  units = ("), *b = strstr(a, ");\n") + 3;
	put_owned(x, name, xasprintf("%s%.*s%s%s", head, (int)(a - plan), plan, units, b));
	free(units);
	free(plan);
}

/*
 * plans = [ NAME ], and empty.conf for the plan file to @include: a plan
 * file with an @include is read whole, as before batches.
 */
static void units_conf(struct fix *x, const char *name)
{
	put(x, "empty.conf", "# nothing\n");
	put_owned(x, "kaohe.conf",
		  xasprintf("kaohe: { timezone = \"Asia/Shanghai\"; };\nplans = [ \"%s\" ];\n",
			    name));
}

static void many_units_read_in_batches(void **state)
{
	struct fix *x = *state;
	link_calendars(x);
	for (int whole = 0; whole < 2; whole++) {
		put_units_plan(x, "plan-2026.conf", whole ? "@include \"empty.conf\"\n" : "",
			       units_list(2500, -1, NULL));
		units_conf(x, "plan-2026.conf");
		if (load(x, 0, false) == NULL)
			fail_msg("%s", x->err.buf);
		const struct plan *p = x->cfg->plan;
		assert_int_equal(p->nunits, 2500);
		for (int i = 0; i < 2500; i += 333) {
			char id[16], name[32], email[64];
			snprintf(id, sizeof(id), "u%04d", i);
			snprintf(name, sizeof(name), "单位%04d", i);
			snprintf(email, sizeof(email), "l@u%04d.example.org", i);
			assert_string_equal(p->units[i].id, id);
			assert_string_equal(p->units[i].name, name);
			assert_int_equal(p->units[i].nliaisons, 1);
			assert_string_equal(p->units[i].liaisons[0].email, email);
			assert_int_equal(plan_unit_find(p, id), i);
		}
		assert_string_equal(p->units[2499].id, "u2499");
		/* the plan file is in the fingerprint, read either way */
		char fp[65];
		memcpy(fp, x->cfg->fingerprint, sizeof(fp));
		put_units_plan(x, "plan-2026.conf", whole ? "@include \"empty.conf\"\n" : "",
			       units_list(2500, 2400, "{ id = \"u2400\"; name = \"改名\"; }"));
		assert_non_null(load(x, 0, false));
		assert_string_not_equal(fp, x->cfg->fingerprint);
		assert_string_equal(x->cfg->plan->units[2400].name, "改名");
	}
}

/*
 * Faults in a unit of a later batch name its own line, whether the list
 * is read in batches or whole.
 */
static void many_units_faults(void **state)
{
	static const struct {
		const char *unit, *needle;
		const char *msg[3];
	} cases[] = {
		{ "{ id = \"u0100\"; name = \"重复\"; }",
		  "重复",
		  { "duplicate unit id \"u0100\"", NULL } },
		{ "{ id = \"u1700\";\n    name = \"单位0100\"; }",
		  "name = \"单位0100\"; }",
		  { "duplicate unit name \"单位0100\"", NULL } },
		{ "\"not-a-group\"",
		  "not-a-group",
		  { "plan: units: element 1701 must be a group", NULL } },
		{ "{ id = \"u1700\"; name = ; }", "name = ; }", { "syntax error", NULL } },
		{ "{ id = \"u1700\"; nmae = \"x\"; }", "nmae", { "unit u1700", "nmae", NULL } },
		{ "{ id = \"all\"; }", "\"all\"", { "id \"all\" is reserved", NULL } },
	};
	struct fix *x = *state;
	link_calendars(x);
	for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++)
		for (int whole = 0; whole < 2; whole++) {
			put_units_plan(x, "plan-2026.conf",
				       whole ? "@include \"empty.conf\"\n" : "",
				       units_list(2500, 1700, cases[c].unit));
			units_conf(x, "plan-2026.conf");
			assert_null(load(x, 0, false));
			expect_error(x, "plan-2026.conf",
				     line_in(x, "plan-2026.conf", cases[c].needle), cases[c].msg);
		}
}

/* TEXT with FROM replaced by TO (each a NULL-terminated list of pairs), TEXT freed. */
static char *replaced(char *text, const char *const *pairs)
{
	for (; pairs[0]; pairs += 2) {
		char *at = strstr(text, pairs[0]);
		if (at == NULL)
			fail_msg("no \"%s\" to replace", pairs[0]);
		char *t = xasprintf("%.*s%s%s", (int)(at - text), text, pairs[1],
				    at + strlen(pairs[0]));
		free(text);
		text = t;
	}
	return text;
}

/*
 * A plan file read in batches gives what it gives read whole (an
 * @include at its end makes it so, its lines unmoved): the same verdict,
 * the same errors and warnings, and nothing more.
 */
static void units_batched_as_whole(void **state)
{
	static const char *const cases[][7] = {
		/* an array of groups, which libconfig refuses */
		{ "units = ( #", "units = [ #", "\n  );\n  departments", "\n  ];\n  departments",
		  NULL },
		/* a unit libconfig cannot read, and a fault of the plan before it */
		{ "name = \"单位1700\";", "name = ;", "total = 10;", "total = \"x\";", NULL },
		/* a unit libconfig cannot read, and another fault after the list */
		{ "name = \"单位1700\";", "name = ;", "departments = (", "departments = = (",
		  NULL },
	};
	struct fix *x = *state;
	link_calendars(x);
	units_conf(x, "plan-2026.conf");
	for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
		char *msgs[2][2];
		bool loaded[2];
		for (int whole = 0; whole < 2; whole++) {
			char *plan = plan_text(2026, false, "06-15", "");
			char *a = strstr(plan, "  units = ("), *b = strstr(a, ");\n") + 3;
			char *units = units_list(2500, -1, NULL);
			char *text = xasprintf("%.*s%s%s%s", (int)(a - plan), plan, units, b,
					       whole ? "@include \"empty.conf\"\n" : "");
			free(units);
			free(plan);
			put_owned(x, "plan-2026.conf", replaced(text, cases[c]));
			loaded[whole] = load(x, 0, false) != NULL;
			msgs[whole][0] = xstrdup(x->err.len ? x->err.buf : "");
			msgs[whole][1] = xstrdup(x->warn.len ? x->warn.buf : "");
		}
		if (loaded[0] != loaded[1] || strcmp(msgs[0][0], msgs[1][0]) != 0 ||
		    strcmp(msgs[0][1], msgs[1][1]) != 0)
			fail_msg("case %zu: in batches %s:\n%s%s\nwhole %s:\n%s%s", c,
				 loaded[0] ? "loaded" : "refused", msgs[0][0], msgs[0][1],
				 loaded[1] ? "loaded" : "refused", msgs[1][0], msgs[1][1]);
		assert_false(loaded[0]);
		for (int k = 0; k < 4; k++)
			free(msgs[k / 2][k % 2]);
	}
}

/* A syntax error in a file a plan file @includes names that file beside it. */
static void plan_file_include_fault(void **state)
{
	struct fix *x = *state;
	link_calendars(x);
	put(x, "part.conf", "# a part\nx = = 1;\n");
	put_owned(x, "plan-2026.conf",
		  headed("@include \"part.conf\"\n", plan_text(2026, false, "06-15", "")));
	units_conf(x, "plan-2026.conf");
	assert_null(load(x, 0, false));
	expect_error(x, "part.conf", 2, MSGS("syntax error"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(year_2026_takes_2026s_calendar),
		cmocka_unit_test_setup_teardown(redated_plan_leaves_the_calendar_group_out, setup,
						teardown),
		cmocka_unit_test_setup_teardown(year_without_a_calendar_is_refused, setup,
						teardown),
		cmocka_unit_test_setup_teardown(plan_year_without_a_calendar_is_an_error, setup,
						teardown),
		cmocka_unit_test_setup_teardown(calendar_lookup_and_fingerprint, setup, teardown),
		cmocka_unit_test_setup_teardown(official_file_faults, setup, teardown),
		cmocka_unit_test_setup_teardown(own_calendar_faults, setup, teardown),
		cmocka_unit_test_setup_teardown(calendar_given_twice, setup, teardown),
		cmocka_unit_test_setup_teardown(next_year_without_calendar_warns, setup, teardown),
		cmocka_unit_test_setup_teardown(track_from, setup, teardown),
		cmocka_unit_test_setup_teardown(plans_one_configuration_per_year, setup, teardown),
		cmocka_unit_test_setup_teardown(plans_same_year_is_an_error, setup, teardown),
		cmocka_unit_test_setup_teardown(plans_faults, setup, teardown),
		cmocka_unit_test_setup_teardown(ids_of_no_plan, setup, teardown),
		cmocka_unit_test_setup_teardown(many_units_read_in_batches, setup, teardown),
		cmocka_unit_test_setup_teardown(many_units_faults, setup, teardown),
		cmocka_unit_test_setup_teardown(plan_file_include_fault, setup, teardown),
		cmocka_unit_test_setup_teardown(units_batched_as_whole, setup, teardown),
	};
	return cmocka_run_group_tests(tests, shanghai_group_setup, NULL);
}
