/*
 * test_outbox — who receives what: reminders, escalations, the offices'
 * record reminders and the admins' notices, written as outbox rows on an
 * in-memory store under a small configuration (an email channel and
 * webhooks serving one unit, every unit, a department, a unit and a
 * department, and the admins).  Every row is read back and checked: its
 * kind, recipient, channel, mentions, subject and what it concerns; that
 * an office's escalation copies of one instant are one digest of every
 * unit's rows; and that nothing is enqueued twice for one (unit,
 * occurrence, slot, recipient).
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
#include "kaohe/log.h"
#include "kaohe/outbox.h"
#include "kaohe/store.h"
#include "support.h"

/* ------------------------------------------------------------------ */
/* The configuration                                                   */

/*
 * ua: three liaisons (two with an email, all with a mobile) and a leader
 * with both; ub: one liaison with an email only and a leader with a
 * mobile only; uc: nobody.  dep1's office has an email and a mobile,
 * dep2's an email only.  r1, r3 and r5 belong to dep1, r2 and r4 to dep2.
 */
#define CONF_CHANNELS                                                                                 \
	"channels: {\n"                                                                               \
	"  email = { url = \"smtp://127.0.0.1:2525\"; from = \"考核办 <kaohe@example.org>\"; };\n" \
	"  webhooks = (\n"                                                                            \
	"    { name = \"ua-robot\"; type = \"wecom\"; url = \"https://qyapi.example.org/ua\";"        \
	" units = [ \"ua\" ]; },\n"                                                                   \
	"    { name = \"streets\"; type = \"generic\"; url = \"https://hooks.example.org/s\";"        \
	" units = [ \"*\" ]; },\n"                                                                    \
	"    { name = \"dep1-robot\"; type = \"dingtalk\"; url = \"https://oapi.example.org/d\";"     \
	" departments = [ \"dep1\" ]; },\n"                                                           \
	"    { name = \"ua-dep2\"; type = \"feishu\"; url = \"https://open.example.org/f\";"          \
	" units = [ \"ua\" ]; departments = [ \"dep2\" ]; },\n"                                       \
	"    { name = \"admins-robot\"; type = \"generic\"; url = \"https://hooks.example.org/a\";"   \
	" admins = true; }\n"                                                                         \
	"  );\n"                                                                                      \
	"};\n"

static const char CONF_HEAD[] =
	"kaohe: { timezone = \"Asia/Shanghai\"; state_dir = \"/tmp/kaohe-test-outbox\";"
	" calendar_dir = \"" KAOHE_SOURCE_DIR "/config/calendars\"; };\n";

static const char CONF_REMINDERS[] =
	"reminders: {\n"
	"  admins = (\n"
	"    { name = \"考核办\"; email = \"kaohe-admin@example.org\"; mobile = \"13900000000\"; },\n"
	"    { name = \"值班室\"; mobile = \"13900000001\"; },\n"
	"    { name = \"主任\"; email = \"boss@example.org\"; }\n"
	"  );\n"
	"};\n";

#define ROW(id, dept, max, rule)                                               \
	"    { id = \"" id "\"; seq = \"" id                                   \
	"\"; annex_category = \"常规工作\"; category = \"basic\";"         \
	" department = \"" dept "\"; max = " max "; content = \"内容" id "\";" \
	" standard = \"按时完成。\"; scoring = \"逾期扣1分，未报送扣2分。\"; " rule " }"

static const char CONF_PLAN[] =
	"plan: {\n"
	"  year = 2020;\n"
	"  title = \"测试方案\";\n"
	"  document = \"测试〔2020〕1号\";\n"
	"  in_force = { from = \"05-01\"; to = \"12-31\"; };\n"
	"  total = 10;\n"
	"  close = \"quarter-end\";\n"
	"  missing_default = \"late\";\n"
	"  categories = (\n"
	"    { id = \"basic\"; name = \"基本工作\"; max = 10; annex = [ \"常规工作\" ]; }\n"
	"  );\n"
	"  units = (\n"
	"    { id = \"ua\"; name = \"甲街道\";\n"
	"      liaisons = (\n"
	"        { name = \"甲一\"; email = \"l1@ua.example.org\"; mobile = \"13800000001\"; },\n"
	"        { name = \"甲二\"; email = \"l2@ua.example.org\"; mobile = \"13800000002\"; },\n"
	"        { name = \"甲三\"; mobile = \"13800000003\"; }\n"
	"      );\n"
	"      leader = { name = \"甲主任\"; email = \"leader@ua.example.org\"; mobile = \"13800000009\"; }; },\n"
	"    { id = \"ub\"; name = \"乙街道\";\n"
	"      liaisons = ( { name = \"乙一\"; email = \"l1@ub.example.org\"; } );\n"
	"      leader = { name = \"乙主任\"; mobile = \"13700000009\"; }; },\n"
	"    { id = \"uc\"; name = \"丙街道\"; }\n"
	"  );\n"
	"  departments = (\n"
	"    { id = \"dep1\"; name = \"区一局\";"
	" office = { name = \"一局办公室\"; email = \"office@dep1.example.org\"; mobile = \"13600000001\"; }; },\n"
	"    { id = \"dep2\"; name = \"区二局\";"
	" office = { name = \"二局办公室\"; email = \"office@dep2.example.org\"; }; }\n"
	"  );\n"
	"  rows = (\n" ROW("r1", "dep1", "3", "deadline = { due = \"06-15\"; late = 1; missing = 2; };") ",\n" ROW("r2", "dep2", "3", "deadline = { due = \"06-20\"; late = 1; missing = 2; };") ",\n" ROW(
		"r3", "dep1", "2",
		"deadline = { due = \"06-25\"; late = 1; missing = 2; };") ",\n" ROW("r4", "dep2",
										     "1",
										     "record = { due = \"12-10\"; };"
										     " findings = ( { kind = \"lapse\"; name = \"疏漏\"; points = 0.5; cap = 1; } );") ",\n" ROW("r5",
																						 "dep1",
																						 "1",
																						 "record = { due = \"12-11\"; };"
																						 " findings = ( { kind = \"lapse\"; name = \"疏漏\"; points = 0.5; cap = 1; } );") "\n"
																																   "  );\n"
																																   "};\n";

/* ------------------------------------------------------------------ */
/* Fixture                                                             */

#define AT INT64_C(1592182800) /* 2020-06-15T09:00:00+08:00 */

struct fix {
	char dir[64];
	struct config *cfg;
	struct store *st;
	struct outbox_copies *copies; /* the offices' copies of the instant */
	int64_t at;                   /* the instant reminded of */
};

/* Load TEXT as a configuration file in a fresh temporary directory. */
static struct config *load_text(struct fix *x, const char *text)
{
	char path[128];
	struct sbuf err, warn;

	snprintf(x->dir, sizeof(x->dir), "/tmp/kaohe-test-outbox-XXXXXX");
	if (mkdtemp(x->dir) == NULL)
		fail_msg("mkdtemp: %s", strerror(errno));
	snprintf(path, sizeof(path), "%s/kaohe.conf", x->dir);
	write_file(path, text);
	sbuf_init(&err);
	sbuf_init(&warn);
	struct config *cfg = config_load(path, 0, &err, &warn);
	if (cfg == NULL)
		print_error("%s", err.buf);
	sbuf_free(&err);
	sbuf_free(&warn);
	assert_int_equal(unlink(path), 0);
	assert_int_equal(rmdir(x->dir), 0);
	return cfg;
}

static int setup_with(void **state, const char *channels)
{
	struct fix *x = calloc(1, sizeof(*x));
	size_t len = strlen(CONF_HEAD) + strlen(channels) + strlen(CONF_REMINDERS) +
		     strlen(CONF_PLAN) + 1;
	char *text = malloc(len);

	assert_non_null(x);
	assert_non_null(text);
	snprintf(text, len, "%s%s%s%s", CONF_HEAD, channels, CONF_REMINDERS, CONF_PLAN);
	x->cfg = load_text(x, text);
	free(text);
	assert_non_null(x->cfg);
	x->st = open_synced(":memory:", x->cfg->plan);
	x->copies = outbox_copies_new();
	x->at = AT;
	*state = x;
	return 0;
}

static int setup(void **state)
{
	return setup_with(state, CONF_CHANNELS);
}

static int setup_no_channels(void **state)
{
	return setup_with(state, "channels: { };\n");
}

static int setup_email_only(void **state)
{
	return setup_with(state, "channels: {\n  email = { url = \"smtps://mail.example.org\";"
				 " from = \"kaohe@example.org\"; };\n};\n");
}

static int teardown(void **state)
{
	struct fix *x = *state;
	store_close(x->st);
	config_free(x->cfg);
	outbox_copies_free(x->copies);
	free(x);
	return 0;
}

static int group_setup(void **state)
{
	(void)state;
	log_set_level(LOG_LEVEL_ERROR);
	return 0;
}

/* ------------------------------------------------------------------ */
/* Rows read back                                                      */

struct rows {
	struct ob r[64];
	size_t n;
};

static int collect(const struct outbox_row *r, void *arg)
{
	struct rows *rs = arg;
	assert_true(rs->n < 64);
	ob_copy(&rs->r[rs->n++], r);
	return 0;
}

/* Every row of the outbox, oldest first. */
static void read_all(struct fix *x, struct rows *rs)
{
	memset(rs, 0, sizeof(*rs));
	assert_int_equal(store_outbox_list(x->st, -1, NULL, 1000, collect, rs), 0);
}

/* The one row of KIND to CHANNEL / ADDRESS ("" for a webhook), or fail. */
static const struct ob *the(const struct rows *rs, const char *kind, const char *channel,
			    const char *address)
{
	const struct ob *found = NULL;
	for (size_t i = 0; i < rs->n; i++) {
		const struct ob *o = &rs->r[i];
		if (strcmp(o->kind, kind) || strcmp(o->channel, channel) ||
		    strcmp(o->address, address))
			continue;
		if (found)
			fail_msg("two %s rows to %s %s", kind, channel, address);
		found = o;
	}
	if (found == NULL)
		fail_msg("no %s row to %s %s (of %zu rows)", kind, channel, address, rs->n);
	return found;
}

/* How many rows go over CHANNEL (any kind). */
static size_t on_channel(const struct rows *rs, const char *channel)
{
	size_t n = 0;
	for (size_t i = 0; i < rs->n; i++)
		n += strcmp(rs->r[i].channel, channel) == 0;
	return n;
}

static void expect_row(const struct ob *o, const char *unit, const char *dept, const char *subject,
		       const char *name, const char *mentions, int64_t at)
{
	assert_string_equal(o->unit, unit);
	assert_string_equal(o->dept, dept);
	assert_string_equal(o->subject, subject);
	assert_string_equal(o->name, name);
	assert_string_equal(o->mentions, mentions);
	assert_i64(o->at, at);
	assert_int_equal(o->state, OUTBOX_PENDING);
}

/* ------------------------------------------------------------------ */
/* Reminders                                                           */

static int unit_of(struct fix *x, const char *id)
{
	int u = plan_unit_find(x->cfg->plan, id);
	if (u < 0)
		fail_msg("no unit %s", id);
	return u;
}

static int dept_of(struct fix *x, const char *id)
{
	int d = plan_dept_find(x->cfg->plan, id);
	if (d < 0)
		fail_msg("no department %s", id);
	return d;
}

/*
 * Enqueue a reminder of KIND about the occurrences named in the
 * space-separated OCCS, all in slot SLOT, for UNIT (NULL: to department
 * DEPT), at x->at, the offices' copies gathered in COPIES (NULL: written
 * at once); the count of rows added.
 */
static size_t remind_to(struct fix *x, struct outbox_copies *copies, enum slot_kind kind,
			const char *unit, const char *dept, const char *occs, const char *slot,
			bool escalate)
{
	int idx[8];
	const char *slots[8];
	char buf[128], *save = NULL;
	size_t n = 0, added = 0;

	snprintf(buf, sizeof(buf), "%s", occs);
	for (char *t = strtok_r(buf, " ", &save); t; t = strtok_r(NULL, " ", &save)) {
		assert_true(n < 8);
		idx[n] = plan_occ_find(x->cfg->plan, t);
		if (idx[n] < 0)
			fail_msg("no occurrence %s", t);
		slots[n++] = slot;
	}
	struct reminder r = { .at = x->at,
			      .kind = kind,
			      .unit = unit ? unit_of(x, unit) : -1,
			      .dept = dept ? dept_of(x, dept) : -1,
			      .occs = idx,
			      .slots = slots,
			      .nocc = n,
			      .escalate = escalate };
	assert_int_equal(store_begin(x->st), 0);
	assert_int_equal(outbox_reminder(x->st, x->cfg, &r, copies, &added), 0);
	assert_int_equal(store_commit(x->st), 0);
	return added;
}

/* The end of the instant: the offices' digests; the count of rows added. */
static size_t flush(struct fix *x)
{
	size_t added = 0;
	assert_int_equal(store_begin(x->st), 0);
	assert_int_equal(outbox_copies_flush(x->st, x->cfg, x->copies, x->at, &added), 0);
	assert_int_equal(store_commit(x->st), 0);
	return added;
}

/* One reminder making an instant of its own, as remind_to() and flush(). */
static size_t remind(struct fix *x, enum slot_kind kind, const char *unit, const char *dept,
		     const char *occs, const char *slot, bool escalate)
{
	size_t added = remind_to(x, x->copies, kind, unit, dept, occs, slot, escalate);
	return added + flush(x);
}

#define UA_MOBILES "13800000001 13800000002 13800000003"
#define UA_NAMES   "甲一、甲二、甲三"

/* Before the due day: each liaison's email, and each webhook serving the unit. */
static void test_before_goes_to_liaisons_and_unit_webhooks(void **state)
{
	struct fix *x = *state;
	struct rows rs;

	assert_int_equal(remind(x, SLOT_BEFORE, "ua", NULL, "r1 r2", "-3d@09:00", false), 5);
	read_all(x, &rs);
	assert_int_equal(rs.n, 5);
	expect_row(the(&rs, "before", "email", "l1@ua.example.org"), "ua", "", "r1 r2", "甲一", "",
		   AT);
	expect_row(the(&rs, "before", "email", "l2@ua.example.org"), "ua", "", "r1 r2", "甲二", "",
		   AT);
	/* the webhooks mention every liaison's mobile, the leader's not */
	expect_row(the(&rs, "before", "ua-robot", ""), "ua", "", "r1 r2", UA_NAMES, UA_MOBILES, AT);
	expect_row(the(&rs, "before", "streets", ""), "ua", "", "r1 r2", UA_NAMES, UA_MOBILES, AT);
	expect_row(the(&rs, "before", "ua-dep2", ""), "ua", "", "r1 r2", UA_NAMES, UA_MOBILES, AT);
	/* neither the department's robot nor the admins' */
	assert_int_equal(on_channel(&rs, "dep1-robot"), 0);
	assert_int_equal(on_channel(&rs, "admins-robot"), 0);
}

/* A unit whose liaison has no mobile; a unit with no liaison at all. */
static void test_due_to_units_without_mobiles_or_liaisons(void **state)
{
	struct fix *x = *state;
	struct rows rs;

	assert_int_equal(remind(x, SLOT_DUE, "ub", NULL, "r2", "0d@09:00", false), 2);
	assert_int_equal(remind(x, SLOT_DUE, "uc", NULL, "r2", "0d@09:00", false), 1);
	read_all(x, &rs);
	assert_int_equal(rs.n, 3);
	expect_row(the(&rs, "due", "email", "l1@ub.example.org"), "ub", "", "r2", "乙一", "", AT);
	/* ub's leader has a mobile, but no escalation: not mentioned */
	expect_row(&rs.r[1], "ub", "", "r2", "乙一", "", AT);
	assert_string_equal(rs.r[1].channel, "streets");
	/* nobody to name: the unit's own name */
	expect_row(&rs.r[2], "uc", "", "r2", "丙街道", "", AT);
	assert_string_equal(rs.r[2].channel, "streets");
	assert_string_equal(rs.r[2].kind, "due");
}

/* An overdue notice without escalation reaches the liaisons only. */
static void test_overdue_without_escalation(void **state)
{
	struct fix *x = *state;
	struct rows rs;

	assert_int_equal(remind(x, SLOT_OVERDUE, "ua", NULL, "r1 r2 r3", "+1d@09:00", false), 5);
	read_all(x, &rs);
	assert_int_equal(rs.n, 5);
	for (size_t i = 0; i < rs.n; i++) {
		assert_string_equal(rs.r[i].kind, "overdue");
		assert_string_equal(rs.r[i].subject, "r1 r2 r3");
		assert_string_equal(rs.r[i].dept, "");
		assert_null(strstr(rs.r[i].mentions, "13800000009"));
	}
	assert_int_equal(on_channel(&rs, "dep1-robot"), 0);
}

/*
 * ua escalated about r1, r2 (dep2) and r3: the liaisons as before (the
 * webhooks also mention the leader), the leader by email about all
 * three, dep1's office by email and its robot about r1 and r3 only,
 * dep2's office by email about r2 only; ua-dep2 serves ua already, so it
 * gets no second, department copy.  An office's copy is its digest of
 * the instant: it names no unit, its words do ("ua:r1").
 */
static void test_overdue_escalation(void **state)
{
	struct fix *x = *state;
	struct rows rs;

	assert_int_equal(remind(x, SLOT_OVERDUE, "ua", NULL, "r1 r2 r3", "+1d@09:00", true), 9);
	read_all(x, &rs);
	assert_int_equal(rs.n, 9);
	expect_row(the(&rs, "overdue", "email", "l1@ua.example.org"), "ua", "", "r1 r2 r3", "甲一",
		   "", AT);
	expect_row(the(&rs, "overdue", "email", "l2@ua.example.org"), "ua", "", "r1 r2 r3", "甲二",
		   "", AT);
	const char *m = UA_MOBILES " 13800000009";
	expect_row(the(&rs, "overdue", "ua-robot", ""), "ua", "", "r1 r2 r3", UA_NAMES, m, AT);
	expect_row(the(&rs, "overdue", "streets", ""), "ua", "", "r1 r2 r3", UA_NAMES, m, AT);
	expect_row(the(&rs, "overdue", "ua-dep2", ""), "ua", "", "r1 r2 r3", UA_NAMES, m, AT);
	expect_row(the(&rs, "escalation", "email", "leader@ua.example.org"), "ua", "", "r1 r2 r3",
		   "甲主任", "", AT);
	expect_row(the(&rs, "escalation", "email", "office@dep1.example.org"), "", "dep1",
		   "ua:r1 ua:r3", "一局办公室", "", AT);
	expect_row(the(&rs, "escalation", "dep1-robot", ""), "", "dep1", "ua:r1 ua:r3",
		   "一局办公室", "13600000001", AT);
	expect_row(the(&rs, "escalation", "email", "office@dep2.example.org"), "", "dep2", "ua:r2",
		   "二局办公室", "", AT);
	assert_int_equal(on_channel(&rs, "ua-dep2"), 1);
	assert_int_equal(on_channel(&rs, "admins-robot"), 0);
}

/*
 * ub escalated about r2: its leader has no email (no copy) but a mobile
 * (mentioned on the unit's webhooks); dep2's office by email and, since
 * ua-dep2 does not serve ub, through that robot too.
 */
static void test_overdue_escalation_other_unit(void **state)
{
	struct fix *x = *state;
	struct rows rs;

	assert_int_equal(remind(x, SLOT_OVERDUE, "ub", NULL, "r2", "+1d@09:00", true), 4);
	read_all(x, &rs);
	assert_int_equal(rs.n, 4);
	expect_row(the(&rs, "overdue", "email", "l1@ub.example.org"), "ub", "", "r2", "乙一", "",
		   AT);
	expect_row(the(&rs, "overdue", "streets", ""), "ub", "", "r2", "乙一", "13700000009", AT);
	expect_row(the(&rs, "escalation", "email", "office@dep2.example.org"), "", "dep2", "ub:r2",
		   "二局办公室", "", AT);
	expect_row(the(&rs, "escalation", "ua-dep2", ""), "", "dep2", "ub:r2", "二局办公室", "",
		   AT);
	assert_int_equal(on_channel(&rs, "ua-robot"), 0);
	assert_int_equal(on_channel(&rs, "dep1-robot"), 0);
}

/* A department's record reminder: its office and the webhooks serving it. */
static void test_record_to_department(void **state)
{
	struct fix *x = *state;
	struct rows rs;

	assert_int_equal(remind(x, SLOT_RECORD, NULL, "dep2", "r4", "0d@09:00", false), 2);
	assert_int_equal(remind(x, SLOT_RECORD, NULL, "dep1", "r5", "0d@09:00", false), 2);
	read_all(x, &rs);
	assert_int_equal(rs.n, 4);
	expect_row(the(&rs, "record", "email", "office@dep2.example.org"), "", "dep2", "r4",
		   "二局办公室", "", AT);
	expect_row(the(&rs, "record", "ua-dep2", ""), "", "dep2", "r4", "二局办公室", "", AT);
	expect_row(the(&rs, "record", "email", "office@dep1.example.org"), "", "dep1", "r5",
		   "一局办公室", "", AT);
	expect_row(the(&rs, "record", "dep1-robot", ""), "", "dep1", "r5", "一局办公室",
		   "13600000001", AT);
	/* webhooks serving units only are not the offices' */
	assert_int_equal(on_channel(&rs, "streets"), 0);
	assert_int_equal(on_channel(&rs, "ua-robot"), 0);
}

/* The unique key (unit, occurrence, slot, recipient): never twice. */
static void test_same_reminder_twice_adds_nothing(void **state)
{
	struct fix *x = *state;
	struct rows rs;

	assert_int_equal(remind(x, SLOT_OVERDUE, "ua", NULL, "r1 r2 r3", "+1d@09:00", true), 9);
	assert_int_equal(remind(x, SLOT_OVERDUE, "ua", NULL, "r1 r2 r3", "+1d@09:00", true), 0);
	assert_int_equal(remind(x, SLOT_RECORD, NULL, "dep2", "r4", "0d@09:00", false), 2);
	assert_int_equal(remind(x, SLOT_RECORD, NULL, "dep2", "r4", "0d@09:00", false), 0);
	read_all(x, &rs);
	assert_int_equal(rs.n, 11);
	/* another slot of the same occurrences is another reminder */
	assert_int_equal(remind(x, SLOT_OVERDUE, "ua", NULL, "r1 r2 r3", "+4d@09:00", true), 9);
	assert_int_equal(remind(x, SLOT_RECORD, NULL, "dep2", "r4", "1d@09:00", false), 2);
	read_all(x, &rs);
	assert_int_equal(rs.n, 22);
	/* the same slot for another unit is another key as well */
	assert_int_equal(remind(x, SLOT_OVERDUE, "ub", NULL, "r1 r2 r3", "+1d@09:00", false), 2);
}

/* A digest repeated with more occurrences adds rows about the new ones only. */
static void test_partly_reminded_digest(void **state)
{
	struct fix *x = *state;
	struct rows rs;

	assert_int_equal(remind(x, SLOT_BEFORE, "ub", NULL, "r1", "-1d@09:00", false), 2);
	assert_int_equal(remind(x, SLOT_BEFORE, "ub", NULL, "r1 r2 r3", "-1d@09:00", false), 2);
	read_all(x, &rs);
	assert_int_equal(rs.n, 4);
	assert_string_equal(rs.r[0].subject, "r1");
	assert_string_equal(rs.r[1].subject, "r1");
	assert_string_equal(rs.r[2].subject, "r2 r3");
	assert_string_equal(rs.r[3].subject, "r2 r3");
	assert_true(rs.r[2].id > rs.r[1].id);
}

/* A digest's subject lists its occurrences in the order given. */
static void test_digest_subject_keeps_order(void **state)
{
	struct fix *x = *state;
	struct rows rs;

	assert_int_equal(remind(x, SLOT_OVERDUE, "ua", NULL, "r3 r1 r2", "+1d@09:00", true), 9);
	read_all(x, &rs);
	assert_string_equal(the(&rs, "overdue", "email", "l1@ua.example.org")->subject, "r3 r1 r2");
	assert_string_equal(the(&rs, "overdue", "streets", "")->subject, "r3 r1 r2");
	assert_string_equal(the(&rs, "escalation", "email", "leader@ua.example.org")->subject,
			    "r3 r1 r2");
	assert_string_equal(the(&rs, "escalation", "email", "office@dep1.example.org")->subject,
			    "ua:r3 ua:r1");
	/* and read back one by one, a row is what the list said */
	struct outbox_row r;
	const struct ob *o = the(&rs, "escalation", "dep1-robot", "");
	assert_int_equal(store_outbox_get(x->st, o->id, &r), 1);
	assert_string_equal(r.subject, "ua:r3 ua:r1");
	assert_string_equal(r.kind, "escalation");
	assert_string_equal(r.unit, "");
	assert_string_equal(r.dept, "dep1");
	assert_string_equal(r.mentions, "13600000001");
	assert_int_equal(r.state, OUTBOX_PENDING);
	assert_int_equal(r.attempts, 0);
	assert_i64(r.next_ms, AT * 1000);
	assert_i64(r.since_ms, AT * 1000);
}

/* Whether the outbox holds key (UNIT, OCC, SLOT, RECIPIENT) already. */
static bool held(struct fix *x, const char *unit, const char *occ, const char *slot,
		 const char *recipient, int64_t id)
{
	assert_int_equal(store_begin(x->st), 0);
	int rc = store_outbox_key_add(x->st, unit, occ, slot, recipient, id);
	store_rollback(x->st);
	assert_true(rc >= 0);
	return rc == 0;
}

/*
 * ub (r1, r2) and ua (r1, r2, r3) overdue at one instant, in that
 * order: each office gets one message listing both units' rows, units in
 * plan order, each unit's rows as its digest had them.  dep1's robot
 * serves neither unit: all of dep1's.  ua-dep2 serves ua, which heard of
 * r2 in its own overdue notice: only ub's.  The unit's own messages are
 * as before, the leaders' copies too (ub's leader has no email).
 */
static void test_office_digest_of_several_units(void **state)
{
	struct fix *x = *state;
	struct rows rs;

	assert_int_equal(
		remind_to(x, x->copies, SLOT_OVERDUE, "ub", NULL, "r1 r2", "+1d@09:00", true), 2);
	/* ua's robots (ua-robot, ua-dep2) hear of it in the instant's digest */
	assert_int_equal(remind_to(x, x->copies, SLOT_OVERDUE, "ua", NULL, "r3 r1 r2", "+1d@09:00",
				   true),
			 4);
	read_all(x, &rs);
	assert_int_equal(rs.n, 6);
	for (size_t i = 0; i < rs.n; i++)
		assert_string_equal(rs.r[i].dept, "");
	assert_int_equal(flush(x), 6);
	read_all(x, &rs);
	assert_int_equal(rs.n, 12);
	const struct ob *d1 = the(&rs, "escalation", "email", "office@dep1.example.org");
	expect_row(d1, "", "dep1", "ua:r3 ua:r1 ub:r1", "一局办公室", "", AT);
	expect_row(the(&rs, "escalation", "dep1-robot", ""), "", "dep1", "ua:r3 ua:r1 ub:r1",
		   "一局办公室", "13600000001", AT);
	expect_row(the(&rs, "escalation", "email", "office@dep2.example.org"), "", "dep2",
		   "ua:r2 ub:r2", "二局办公室", "", AT);
	expect_row(the(&rs, "escalation", "ua-dep2", ""), "", "dep2", "ub:r2", "二局办公室", "",
		   AT);
	expect_row(the(&rs, "escalation", "email", "leader@ua.example.org"), "ua", "", "r3 r1 r2",
		   "甲主任", "", AT);
	assert_int_equal(on_channel(&rs, "ua-dep2"), 2); /* ua's overdue notice, ub's copy */

	/* Each row of the digest answers for its own unit's key. */
	const char *office1 = "email:office@dep1.example.org";
	assert_true(held(x, "ua", "r3", "+1d@09:00", office1, d1->id));
	assert_true(held(x, "ub", "r1", "+1d@09:00", office1, d1->id));
	assert_true(held(x, "ub", "r2", "+1d@09:00", "email:office@dep2.example.org", d1->id));
	assert_true(held(x, "ub", "r2", "+1d@09:00", "ua-dep2:", d1->id));
	/* (ua's own overdue notice holds ua's key on ua-dep2: why it gets no copy) */
	assert_true(held(x, "ua", "r2", "+1d@09:00", "ua-dep2:", d1->id));
	assert_false(held(x, "ua", "r2", "+1d@09:00", "dep1-robot:", d1->id));
	assert_false(held(x, "ub", "r3", "+1d@09:00", office1, d1->id));
	assert_false(held(x, "", "ua:r3", "+1d@09:00", office1, d1->id));

	/* A flush of nothing adds nothing; the same instant again neither. */
	assert_int_equal(flush(x), 0);
	assert_int_equal(remind(x, SLOT_OVERDUE, "ub", NULL, "r1 r2", "+1d@09:00", true), 0);
	assert_int_equal(remind_to(x, x->copies, SLOT_OVERDUE, "ua", NULL, "r3 r1 r2", "+1d@09:00",
				   true),
			 0);
	assert_int_equal(
		remind_to(x, x->copies, SLOT_OVERDUE, "ub", NULL, "r1 r2", "+1d@09:00", true), 0);
	assert_int_equal(flush(x), 0);
	read_all(x, &rs);
	assert_int_equal(rs.n, 12);

	/* With a unit not yet reminded, the digest names it alone. */
	assert_int_equal(
		remind_to(x, x->copies, SLOT_OVERDUE, "ua", NULL, "r3 r1", "+1d@09:00", true), 0);
	assert_int_equal(remind_to(x, x->copies, SLOT_OVERDUE, "uc", NULL, "r1", "+1d@09:00", true),
			 1); /* streets */
	assert_int_equal(flush(x), 2);
	read_all(x, &rs);
	assert_int_equal(rs.n, 15);
	expect_row(&rs.r[13], "", "dep1", "uc:r1", "一局办公室", "", AT);
	assert_string_equal(rs.r[13].address, "office@dep1.example.org");
	expect_row(&rs.r[14], "", "dep1", "uc:r1", "一局办公室", "13600000001", AT);
	assert_string_equal(rs.r[14].channel, "dep1-robot");
}

/*
 * A webhook serving the department and one of the units: that unit's
 * rows reach it in the unit's own overdue notice, never again in the
 * office's digest.
 */
static void test_office_digest_webhook_serving_a_unit(void **state)
{
	struct fix *x = *state;
	struct rows rs;

	assert_int_equal(remind_to(x, x->copies, SLOT_OVERDUE, "ua", NULL, "r2", "+1d@09:00", true),
			 4);
	assert_int_equal(remind_to(x, x->copies, SLOT_OVERDUE, "ub", NULL, "r2", "+1d@09:00", true),
			 2);
	/* ua-dep2 serves ua: only ub's row; the email lists both (and ua's robots' own) */
	assert_int_equal(flush(x), 4);
	read_all(x, &rs);
	expect_row(the(&rs, "escalation", "email", "office@dep2.example.org"), "", "dep2",
		   "ua:r2 ub:r2", "二局办公室", "", AT);
	expect_row(the(&rs, "escalation", "ua-dep2", ""), "", "dep2", "ub:r2", "二局办公室", "",
		   AT);
	/* ua alone at the next instant: ua-dep2 gets no copy at all */
	x->at = AT + 86400;
	assert_int_equal(remind_to(x, x->copies, SLOT_OVERDUE, "ua", NULL, "r2", "+2d@09:00", true),
			 4);
	assert_int_equal(flush(x), 3);
	read_all(x, &rs);
	assert_string_equal(rs.r[rs.n - 1].address, "office@dep2.example.org");
	assert_string_equal(rs.r[rs.n - 1].subject, "ua:r2");
	assert_i64(rs.r[rs.n - 1].at, AT + 86400);
}

/*
 * An instant rolled back before its end leaves nothing behind: cleared
 * by hand, or dropped when the next instant's reminders come in.
 */
static void test_office_copies_of_a_failed_instant(void **state)
{
	struct fix *x = *state;
	struct rows rs;

	assert_int_equal(remind_to(x, x->copies, SLOT_OVERDUE, "ub", NULL, "r1", "+1d@09:00", true),
			 2);
	outbox_copies_clear(x->copies);
	assert_int_equal(flush(x), 0);
	read_all(x, &rs);
	assert_int_equal(rs.n, 2);

	/* never flushed, then another instant: its copies only */
	assert_int_equal(remind_to(x, x->copies, SLOT_OVERDUE, "ub", NULL, "r2", "+1d@09:00", true),
			 2);
	x->at = AT + 3600;
	assert_int_equal(remind_to(x, x->copies, SLOT_OVERDUE, "ub", NULL, "r3", "+1d@10:00", true),
			 2);
	assert_int_equal(flush(x), 2);
	read_all(x, &rs);
	assert_int_equal(rs.n, 8);
	expect_row(the(&rs, "escalation", "email", "office@dep1.example.org"), "", "dep1", "ub:r3",
		   "一局办公室", "", AT + 3600);
	assert_int_equal(on_channel(&rs, "ua-dep2"), 0);

	/* a flush whose transaction failed empties the gatherer all the same */
	size_t added = 0;
	assert_int_equal(remind_to(x, x->copies, SLOT_OVERDUE, "ub", NULL, "r1", "+2d@10:00", true),
			 2);
	assert_int_equal(store_begin(x->st), 0);
	assert_int_equal(outbox_copies_flush(x->st, x->cfg, x->copies, x->at, &added), 0);
	assert_int_equal(added, 2);
	store_rollback(x->st);
	assert_int_equal(flush(x), 0);
}

/* Without a gatherer, a reminder's office copies are written at once. */
static void test_office_copies_without_gatherer(void **state)
{
	struct fix *x = *state;
	struct rows rs;

	assert_int_equal(remind_to(x, NULL, SLOT_OVERDUE, "ub", NULL, "r1 r2", "+1d@09:00", true),
			 6);
	assert_int_equal(remind_to(x, NULL, SLOT_OVERDUE, "ua", NULL, "r1", "+1d@09:00", true), 8);
	read_all(x, &rs);
	assert_int_equal(rs.n, 14);
	expect_row(&rs.r[2], "", "dep1", "ub:r1", "一局办公室", "", AT);
	expect_row(&rs.r[4], "", "dep2", "ub:r2", "二局办公室", "", AT);
	assert_int_equal(flush(x), 0);
}

/* ------------------------------------------------------------------ */
/* The admins' notices                                                 */

/* The admins' notices go in inside a transaction, as the engine's and the deliverer's do. */
static int snapshot_txn(struct fix *x, int64_t at, const char *period, size_t *added)
{
	assert_int_equal(store_begin(x->st), 0);
	int rc = outbox_snapshot(x->st, x->cfg, at, period, added);
	assert_int_equal(store_commit(x->st), 0);
	return rc;
}

static int dead_txn(struct fix *x, const struct outbox_row *dead, int64_t now,
		    bool (*waiting)(void *arg, const char *channel), void *arg, size_t *added,
		    size_t *left)
{
	assert_int_equal(store_begin(x->st), 0);
	int rc = outbox_dead(x->st, x->cfg, dead, now, waiting, arg, added, left);
	assert_int_equal(store_commit(x->st), 0);
	return rc;
}

static void test_snapshot_to_admins(void **state)
{
	struct fix *x = *state;
	struct rows rs;
	size_t added = 0;
	int64_t at = INT64_C(1593532800); /* 2020-07-01T00:00:00+08:00 */

	assert_int_equal(snapshot_txn(x, at, "2020-Q2", &added), 0);
	assert_int_equal(added, 3);
	read_all(x, &rs);
	assert_int_equal(rs.n, 3);
	/* the admin without an email gets nothing by email */
	expect_row(the(&rs, "snapshot", "email", "kaohe-admin@example.org"), "", "", "2020-Q2",
		   "考核办", "", at);
	expect_row(the(&rs, "snapshot", "email", "boss@example.org"), "", "", "2020-Q2", "主任", "",
		   at);
	expect_row(the(&rs, "snapshot", "admins-robot", ""), "", "", "2020-Q2", "考核管理员", "",
		   at);
	/* once per period */
	added = 0;
	assert_int_equal(snapshot_txn(x, at, "2020-Q2", &added), 0);
	assert_int_equal(added, 0);
	assert_int_equal(snapshot_txn(x, at + 1, "2020-Q3", &added), 0);
	assert_int_equal(added, 3);
}

static void test_dead_notice_to_admins(void **state)
{
	struct fix *x = *state;
	struct rows rs;
	size_t added = 0, left = 0;
	struct outbox_row dead = { .id = 42,
				   .kind = "overdue",
				   .since_ms = INT64_C(1592182800000) };

	assert_int_equal(dead_txn(x, &dead, AT + 60, NULL, NULL, &added, &left), 0);
	assert_int_equal(added, 3);
	assert_int_equal(left, 0);
	read_all(x, &rs);
	assert_int_equal(rs.n, 3);
	expect_row(the(&rs, "dead", "email", "kaohe-admin@example.org"), "", "", "#42", "考核办",
		   "", AT + 60);
	expect_row(the(&rs, "dead", "email", "boss@example.org"), "", "", "#42", "主任", "",
		   AT + 60);
	expect_row(the(&rs, "dead", "admins-robot", ""), "", "", "#42", "考核管理员", "", AT + 60);
	/* the same series dead twice (a restart) is told once */
	added = 0;
	assert_int_equal(dead_txn(x, &dead, AT + 120, NULL, NULL, &added, &left), 0);
	assert_int_equal(added, 0);
	/* retried by hand and dead again: news again */
	dead.since_ms += 3600000;
	assert_int_equal(dead_txn(x, &dead, AT + 7200, NULL, NULL, &added, &left), 0);
	assert_int_equal(added, 3);
	/* another delivery is another notice */
	added = 0;
	struct outbox_row other = { .id = 43, .kind = "escalation", .since_ms = dead.since_ms };
	assert_int_equal(dead_txn(x, &other, AT + 7200, NULL, NULL, &added, &left), 0);
	assert_int_equal(added, 3);
}

/* The channels a test says are waiting as their providers asked. */
static bool waits(void *arg, const char *channel)
{
	for (const char *const *w = arg; *w; w++)
		if (strcmp(*w, channel) == 0)
			return true;
	return false;
}

/*
 * A dead notice never queues behind a provider's wait: a channel that
 * waits is left out (and counted), the others carry it; when every one
 * waits, nothing is written and the caller's log is all there is.
 */
static void test_dead_notice_leaves_out_waiting_channels(void **state)
{
	struct fix *x = *state;
	struct rows rs;
	size_t added = 0, left = 0;
	struct outbox_row dead = { .id = 42, .kind = "overdue", .since_ms = 1 };
	const char *robot[] = { "admins-robot", NULL }, *both[] = { "email", "admins-robot", NULL },
		   *others[] = { "streets", "ua-robot", NULL };

	assert_int_equal(dead_txn(x, &dead, AT, waits, robot, &added, &left), 0);
	assert_int_equal(added, 2);
	assert_int_equal(left, 1);
	read_all(x, &rs);
	assert_int_equal(rs.n, 2);
	assert_int_equal(on_channel(&rs, "admins-robot"), 0);
	expect_row(the(&rs, "dead", "email", "kaohe-admin@example.org"), "", "", "#42", "考核办",
		   "", AT);
	expect_row(the(&rs, "dead", "email", "boss@example.org"), "", "", "#42", "主任", "", AT);

	/* every channel of the admins waits: nothing is written */
	added = left = 0;
	dead.id = 43;
	assert_int_equal(dead_txn(x, &dead, AT, waits, both, &added, &left), 0);
	assert_int_equal(added, 0);
	assert_int_equal(left, 2);
	read_all(x, &rs);
	assert_int_equal(rs.n, 2);

	/* channels that carry nothing of the admins' change nothing */
	added = left = 0;
	dead.id = 44;
	assert_int_equal(dead_txn(x, &dead, AT, waits, others, &added, &left), 0);
	assert_int_equal(added, 3);
	assert_int_equal(left, 0);
}

/* A notice of a dead notice would feed itself: only the log hears of it. */
static void test_dead_notice_of_dead_notice_is_not_enqueued(void **state)
{
	struct fix *x = *state;
	struct rows rs;
	size_t added = 0, left = 0;
	struct outbox_row dead = { .id = 7, .kind = "dead", .since_ms = 1 };

	assert_int_equal(dead_txn(x, &dead, AT, NULL, NULL, &added, &left), 0);
	assert_int_equal(added, 0);
	read_all(x, &rs);
	assert_int_equal(rs.n, 0);
	/* a dead snapshot notice is news, though */
	dead.kind = "snapshot";
	assert_int_equal(dead_txn(x, &dead, AT, NULL, NULL, &added, &left), 0);
	assert_int_equal(added, 3);
}

/* ------------------------------------------------------------------ */
/* Fewer channels                                                      */

/* No channel: everything goes to the log only, nothing to the outbox. */
static void test_no_channels_enqueue_nothing(void **state)
{
	struct fix *x = *state;
	struct rows rs;
	size_t added = 0, left = 0;
	struct outbox_row dead = { .id = 1, .kind = "before", .since_ms = 1 };

	assert_int_equal(x->cfg->set.nchannels, 0);
	assert_int_equal(remind(x, SLOT_BEFORE, "ua", NULL, "r1", "-1d@09:00", false), 0);
	assert_int_equal(remind(x, SLOT_OVERDUE, "ua", NULL, "r1 r2", "+1d@09:00", true), 0);
	assert_int_equal(remind(x, SLOT_RECORD, NULL, "dep1", "r5", "0d@09:00", false), 0);
	assert_int_equal(snapshot_txn(x, AT, "2020-Q2", &added), 0);
	assert_int_equal(dead_txn(x, &dead, AT, NULL, NULL, &added, &left), 0);
	assert_int_equal(added, 0);
	read_all(x, &rs);
	assert_int_equal(rs.n, 0);
}

/* Email only: every contact with an address, nobody by mobile. */
static void test_email_only(void **state)
{
	struct fix *x = *state;
	struct rows rs;
	size_t added = 0;

	assert_int_equal(remind(x, SLOT_OVERDUE, "ua", NULL, "r1 r2", "+1d@09:00", true), 5);
	assert_int_equal(remind(x, SLOT_BEFORE, "uc", NULL, "r1", "-1d@09:00", false), 0);
	assert_int_equal(snapshot_txn(x, AT, "2020-Q2", &added), 0);
	assert_int_equal(added, 2);
	read_all(x, &rs);
	assert_int_equal(rs.n, 7);
	for (size_t i = 0; i < rs.n; i++) {
		assert_string_equal(rs.r[i].channel, "email");
		assert_true(rs.r[i].address[0] != '\0');
		assert_string_equal(rs.r[i].mentions, "");
	}
	expect_row(the(&rs, "escalation", "email", "office@dep1.example.org"), "", "dep1", "ua:r1",
		   "一局办公室", "", AT);
	expect_row(the(&rs, "escalation", "email", "office@dep2.example.org"), "", "dep2", "ua:r2",
		   "二局办公室", "", AT);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
#define T_(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
		T_(test_before_goes_to_liaisons_and_unit_webhooks),
		T_(test_due_to_units_without_mobiles_or_liaisons),
		T_(test_overdue_without_escalation),
		T_(test_overdue_escalation),
		T_(test_overdue_escalation_other_unit),
		T_(test_record_to_department),
		T_(test_same_reminder_twice_adds_nothing),
		T_(test_partly_reminded_digest),
		T_(test_digest_subject_keeps_order),
		T_(test_office_digest_of_several_units),
		T_(test_office_digest_webhook_serving_a_unit),
		T_(test_office_copies_of_a_failed_instant),
		T_(test_office_copies_without_gatherer),
		T_(test_snapshot_to_admins),
		T_(test_dead_notice_to_admins),
		T_(test_dead_notice_leaves_out_waiting_channels),
		T_(test_dead_notice_of_dead_notice_is_not_enqueued),
#undef T_
		cmocka_unit_test_setup_teardown(test_no_channels_enqueue_nothing, setup_no_channels,
						teardown),
		cmocka_unit_test_setup_teardown(test_email_only, setup_email_only, teardown),
	};
	return cmocka_run_group_tests(tests, group_setup, NULL);
}
