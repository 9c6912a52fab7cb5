/*
 * feed — the calendar feeds; see feed.h.
 *
 * libical builds and serializes every component: it escapes TEXT values
 * (backslash, newline, and comma and semicolon outside list properties),
 * folds lines at 75 octets without cutting a UTF-8 sequence, and ends
 * them with CRLF.  What it leaves undone is done here: control
 * characters other than tab and newline are not TSAFE-CHAR and would be
 * passed through, and in list properties (CATEGORIES) and x-properties
 * it leaves commas and semicolons bare.  The result is checked against
 * feed.h's promise before it is handed out.
 *
 * Nothing in a feed names its unit: the UIDs are the plan's occurrences,
 * the calendar is named after the plan.  A unit whose schedule is the
 * shared one thus has the very text of all.ics, which publish writes
 * once and links (feed_own_schedule() tells which units differ).
 */
#include "kaohe/feed.h"

#include <libical/ical.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "kaohe/calendar.h"
#include "kaohe/log.h"
#include "kaohe/util.h"

/* RFC 5545 3.1: a content line is at most 75 octets, CRLF excluded. */
#define FEED_LINE_MAX 75
/* A timed due is shown as the hour that starts at it. */
#define FEED_TIMED_LENGTH 3600

struct feed {
	const struct plan *plan;
	const struct engine *eng;
	int unit;
	int64_t now;
	bool failed; /* a libical constructor returned NULL */
};

static const char *const slot_names[] = {
	[SLOT_BEFORE] = "提前提醒",
	[SLOT_DUE] = "当日提醒",
};

/*
 * Append S to SB as text libical can escape: control characters become
 * spaces (CRLF a newline).  LIST: S is one item of a list or x-property,
 * where libical does not escape the separators, so its own commas and
 * semicolons become their full-width forms, which read the same in
 * Chinese text.
 */
static void put_text(struct sbuf *sb, const char *s, bool list)
{
	const char *run = s;

	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		if ((c >= 0x20 && c != 0x7f && (!list || (c != ',' && c != ';'))) || c == '\t' ||
		    c == '\n')
			continue;
		sbuf_add(sb, run, (size_t)(s - run));
		run = s + 1;
		if (c == ',')
			sbuf_puts(sb, "，");
		else if (c == ';')
			sbuf_puts(sb, "；");
		else if (c != '\r' || s[1] != '\n')
			SBUF_LIT(sb, " ");
	}
	sbuf_add(sb, run, (size_t)(s - run));
}

static void put_points(struct sbuf *sb, int64_t h)
{
	char buf[32];
	util_format_fixed(h < 0 ? -h : h, 2, buf, sizeof(buf));
	sbuf_puts(sb, buf);
}

/* "2020年9月15日" */
static void put_day(struct sbuf *sb, int32_t day)
{
	int y, m, d;
	calendar_civil_from_days(day, &y, &m, &d);
	sbuf_printf(sb, "%d年%d月%d日", y, m, d);
}

/*
 * "2020年12月2日 20:48"; an instant at midnight ends the day before:
 * "2020年9月30日24时", as notices say.
 */
static void put_instant(struct sbuf *sb, int64_t t)
{
	int secs;
	int32_t day = calendar_day_of(t, &secs);
	if (secs == 0) {
		put_day(sb, day - 1);
		SBUF_LIT(sb, "24时");
		return;
	}
	put_day(sb, day);
	sbuf_printf(sb, " %02d:%02d", secs / 3600, secs / 60 % 60);
}

/* The due of S: "2020年9月15日（含）" or "2020年12月2日 20:48". */
static void put_due(struct sbuf *sb, const struct schedule *s)
{
	if (s->timed) {
		put_instant(sb, s->due_at);
	} else {
		put_day(sb, s->due_day);
		SBUF_LIT(sb, "（含）");
	}
}

static struct icaltimetype ical_utc(int64_t t)
{
	return icaltime_from_timet_with_zone((time_t)t, 0, icaltimezone_get_utc_timezone());
}

/* A floating DATE: all-day events are on the plan's civil day wherever they are read. */
static struct icaltimetype ical_day(int32_t day)
{
	struct icaltimetype d = icaltime_null_date();
	calendar_civil_from_days(day, &d.year, &d.month, &d.day);
	return d;
}

/* Add P to C; a NULL P (libical failed) marks the feed failed. */
static void add(struct feed *f, icalcomponent *c, icalproperty *p)
{
	if (p == NULL)
		f->failed = true;
	else
		icalcomponent_add_property(c, p);
}

/* An x-property of TEXT value V (put_text'ed as a list item). */
static icalproperty *x_text(const char *name, const char *v)
{
	struct sbuf sb;
	sbuf_init(&sb);
	put_text(&sb, v, true);
	icalproperty *p = icalproperty_new_x(sb.buf);
	if (p != NULL)
		icalproperty_set_x_name(p, name);
	sbuf_free(&sb);
	return p;
}

static void add_category(struct feed *f, icalcomponent *ev, const char *name)
{
	struct sbuf sb;

	if (name == NULL || name[0] == '\0')
		return;
	sbuf_init(&sb);
	put_text(&sb, name, true);
	add(f, ev, icalproperty_new_categories(sb.buf));
	sbuf_free(&sb);
}

/*
 * Stable across regenerations and moves, and the same in every feed:
 * the occurrence and the plan year, nothing of the unit or the
 * schedule.  An occurrence name's '@' (of "7d@2020-12-10") becomes '.',
 * which row ids may not hold.
 */
static void put_uid(const struct feed *f, const struct plan_occ *o, struct sbuf *sb)
{
	for (const char *s = o->name; *s; s++)
		sbuf_add(sb, *s == '@' ? "." : s, 1);
	sbuf_printf(sb, "@%d.kaohe", f->plan->year);
}

/* "【第2c项】监督指导…（逾期扣1分，未报送扣5分）" */
static void put_summary(const struct feed *f, const struct plan_occ *o, struct sbuf *sb)
{
	const struct plan *p = f->plan;
	const struct plan_row *r = &p->rows[o->row];

	SBUF_LIT(sb, "【第");
	put_text(sb, r->id, false);
	SBUF_LIT(sb, "项】");
	put_text(sb, r->content, false);
	if (o->type == OCC_RECORD) {
		SBUF_LIT(sb, "（");
		if (r->dept >= 0)
			put_text(sb, p->depts[r->dept].name, false);
		SBUF_LIT(sb, "记录，本项满分");
		put_points(sb, r->max);
		SBUF_LIT(sb, "分）");
		return;
	}
	if (r->late == 0 && r->missing == 0) {
		SBUF_LIT(sb, "（不扣分）");
		return;
	}
	if (r->late == 0) {
		SBUF_LIT(sb, "（逾期不扣分");
	} else {
		SBUF_LIT(sb, "（逾期扣");
		put_points(sb, r->late);
		SBUF_LIT(sb, "分");
	}
	if (r->missing == 0) {
		SBUF_LIT(sb, "，未报送不扣分）");
	} else {
		SBUF_LIT(sb, "，未报送扣");
		put_points(sb, r->missing);
		SBUF_LIT(sb, "分）");
	}
}

static void put_line(struct sbuf *sb, const char *label, const char *text)
{
	if (text == NULL || text[0] == '\0')
		return;
	sbuf_puts(sb, label);
	put_text(sb, text, false);
	SBUF_LIT(sb, "\n");
}

/* "扣2分" or "不扣分" */
static void put_stake(struct sbuf *sb, int64_t h)
{
	if (h == 0) {
		SBUF_LIT(sb, "不扣分");
		return;
	}
	SBUF_LIT(sb, "扣");
	put_points(sb, h);
	SBUF_LIT(sb, "分");
}

/*
 * What a liaison needs beside the title: until when to submit, what a
 * late or missing submission costs, to whom, and the work standard:
 *
 *	请于2020年9月15日（含）前报送
 *	逾期报送扣2分；截至2020年9月30日24时仍未报送，扣3分
 *	考核单位：区住建局
 *	工作标准：…
 *
 * A record node names the department, its day and the kinds it records.
 */
static void put_description(const struct feed *f, const struct plan_occ *o,
			    const struct schedule *s, struct sbuf *sb)
{
	const struct plan *p = f->plan;
	const struct plan_row *r = &p->rows[o->row];
	bool moved = s->timed != o->sched.timed || s->due_day != o->sched.due_day ||
		     (s->timed && s->due_at != o->sched.due_at);

	if (o->type == OCC_RECORD) {
		SBUF_LIT(sb, "记录日：");
		put_day(sb, s->timed ? calendar_day_of(s->due_at, NULL) : s->due_day);
	} else {
		SBUF_LIT(sb, "请于");
		put_due(sb, s);
		SBUF_LIT(sb, "前报送");
	}
	if (moved) {
		SBUF_LIT(sb, "（已调整，原定");
		put_due(sb, &o->sched);
		SBUF_LIT(sb, "）");
	}
	SBUF_LIT(sb, "\n");
	if (o->type == OCC_DEADLINE && (r->late || r->missing)) {
		SBUF_LIT(sb, "逾期报送");
		put_stake(sb, r->late);
		SBUF_LIT(sb, "；截至");
		put_instant(sb, s->close);
		SBUF_LIT(sb, "仍未报送，");
		put_stake(sb, r->missing);
		SBUF_LIT(sb, "\n");
	}
	for (size_t k = 0; o->type == OCC_RECORD && k < r->nkinds; k++) {
		const struct plan_kind *kd = &r->kinds[k];
		sbuf_puts(sb, kd->award ? "加分项：" : "扣分项：");
		put_text(sb, kd->name, false);
		sbuf_puts(sb, kd->award ? "，每次加" : "，每次扣");
		put_points(sb, kd->per);
		SBUF_LIT(sb, "分");
		if (kd->cap >= 0) {
			SBUF_LIT(sb, "，最多");
			put_points(sb, kd->cap);
			SBUF_LIT(sb, "分");
		}
		SBUF_LIT(sb, "\n");
	}
	if (r->dept >= 0)
		put_line(sb, "考核单位：", p->depts[r->dept].name);
	put_line(sb, "工作标准：", r->standard);
}

/*
 * A VALARM for each reminder slot up to the due: the before and due
 * slots of a deadline, working-day-shifted as the reminders are.  A
 * calendar cannot know whether the unit has submitted, so the overdue
 * notices, which only the units that have not are sent, are no alarms;
 * nor are a record node's, which are the department's to act on.
 */
static void add_alarms(struct feed *f, icalcomponent *ev, const struct plan_occ *o,
		       const struct schedule *s, const char *summary)
{
	struct slot *slots;
	size_t n;
	struct sbuf sb;

	if (o->type == OCC_RECORD)
		return;
	n = calendar_slots(&f->plan->cal, s, false, &slots);
	sbuf_init(&sb);
	for (size_t i = 0; i < n && !f->failed; i++) {
		if ((slots[i].kind != SLOT_BEFORE && slots[i].kind != SLOT_DUE) ||
		    slots[i].at >= s->close)
			continue;
		icalcomponent *al = icalcomponent_new_valarm();
		if (al == NULL) {
			f->failed = true;
			break;
		}
		/* TRIGGER;VALUE=DATE-TIME: an absolute UTC instant, as slots are. */
		struct icaltriggertype tr = { .time = ical_utc(slots[i].at),
					      .duration = icaldurationtype_null_duration() };
		add(f, al, icalproperty_new_action(ICAL_ACTION_DISPLAY));
		add(f, al, icalproperty_new_trigger(tr));
		sb.len = 0;
		sbuf_puts(&sb, slot_names[slots[i].kind]);
		SBUF_LIT(&sb, "：");
		sbuf_puts(&sb, summary);
		add(f, al, icalproperty_new_description(sb.buf));
		icalcomponent_add_component(ev, al);
	}
	sbuf_free(&sb);
	free(slots);
}

static icalcomponent *event_new(struct feed *f, size_t i)
{
	const struct plan *p = f->plan;
	const struct plan_occ *o = &p->occs[i];
	const struct plan_row *r = &p->rows[o->row];
	const struct schedule *s = engine_schedule(f->eng, (int)i, f->unit);
	struct sbuf sb, summary;

	icalcomponent *ev = icalcomponent_new_vevent();
	if (ev == NULL) {
		f->failed = true;
		return NULL;
	}
	sbuf_init(&sb);
	sbuf_init(&summary);
	put_uid(f, o, &sb);
	add(f, ev, icalproperty_new_uid(sb.buf));
	add(f, ev, icalproperty_new_dtstamp(ical_utc(f->now)));
	if (s->timed) {
		add(f, ev, icalproperty_new_dtstart(ical_utc(s->due_at)));
		add(f, ev, icalproperty_new_dtend(ical_utc(s->due_at + FEED_TIMED_LENGTH)));
	} else {
		add(f, ev, icalproperty_new_dtstart(ical_day(s->due_day)));
		add(f, ev, icalproperty_new_dtend(ical_day(s->due_day + 1)));
	}
	/* A node is a reminder, not an appointment: it keeps no time busy. */
	add(f, ev, icalproperty_new_transp(ICAL_TRANSP_TRANSPARENT));
	put_summary(f, o, &summary);
	add(f, ev, icalproperty_new_summary(summary.buf));
	sb.len = 0;
	put_description(f, o, s, &sb);
	while (sb.len > 0 && sb.buf[sb.len - 1] == '\n')
		sb.buf[--sb.len] = '\0';
	add(f, ev, icalproperty_new_description(sb.buf));
	if (r->category >= 0)
		add_category(f, ev, p->cats[r->category].name);
	add_category(f, ev, o->type == OCC_RECORD ? "记录节点" : "报送节点");
	add_alarms(f, ev, o, s, summary.buf);
	sbuf_free(&summary);
	sbuf_free(&sb);
	return ev;
}

/*
 * What feed.h promises of the text: CRLF line ends only, lines of at
 * most 75 octets each holding whole UTF-8 characters.  libical does
 * all of it; this keeps a libical that stopped doing so from serving a
 * feed that clients would misread.
 */
static bool lines_ok(const char *s)
{
	while (*s) {
		const char *cr = strchr(s, '\r');
		size_t len = cr ? (size_t)(cr - s) : strlen(s);
		if (cr == NULL || cr[1] != '\n' || memchr(s, '\n', len) != NULL ||
		    len > FEED_LINE_MAX || !util_utf8_valid(s, len))
			return false;
		s = cr + 2;
	}
	return true;
}

int feed_calendar(const struct plan *plan, const struct engine *eng, int unit, int64_t now,
		  struct sbuf *out)
{
	struct feed f = { .plan = plan, .eng = eng, .unit = unit, .now = now };
	int rc = -1;

	if (unit < -1 || unit >= (int)plan->nunits) {
		log_warnx("feed: no unit %d", unit);
		return -1;
	}
	icalcomponent *cal = icalcomponent_new_vcalendar();
	if (cal == NULL) {
		log_warnx("feed: libical: %s", icalerror_strerror(icalerrno));
		return -1;
	}
	add(&f, cal, icalproperty_new_prodid("-//kaohe//kaohe " KAOHE_VERSION "//ZH"));
	add(&f, cal, icalproperty_new_version("2.0"));
	add(&f, cal, icalproperty_new_calscale("GREGORIAN"));
	add(&f, cal, icalproperty_new_method(ICAL_METHOD_PUBLISH));
	add(&f, cal, x_text("X-WR-CALNAME", plan->title ? plan->title : "kaohe"));
	add(&f, cal, x_text("X-WR-TIMEZONE", plan->timezone ? plan->timezone : "UTC"));
	for (size_t i = 0; i < plan->noccs && !f.failed; i++) {
		icalcomponent *ev = event_new(&f, i);
		if (ev != NULL)
			icalcomponent_add_component(cal, ev);
	}
	if (f.failed) {
		log_warnx("feed: libical: %s", icalerror_strerror(icalerrno));
		goto done;
	}
	char *text = icalcomponent_as_ical_string_r(cal);
	if (text == NULL) {
		log_warnx("feed: libical: %s", icalerror_strerror(icalerrno));
		goto done;
	}
	if (lines_ok(text)) {
		sbuf_puts(out, text);
		rc = 0;
	} else {
		log_warnx("feed: libical wrote a line RFC 5545 forbids (bare CR or LF, over %d "
			  "octets, or a cut UTF-8 character)",
			  FEED_LINE_MAX);
	}
	icalmemory_free_buffer(text);
done:
	icalcomponent_free(cal);
	return rc;
}

bool feed_own_schedule(const struct plan *plan, const struct engine *eng, int unit)
{
	for (size_t i = 0; i < plan->noccs; i++) {
		const struct schedule *a = engine_schedule(eng, (int)i, unit);
		const struct schedule *b = engine_schedule(eng, (int)i, -1);
		if (a != b &&
		    (a->timed != b->timed || a->due_day != b->due_day || a->due_at != b->due_at ||
		     a->deadline != b->deadline || a->close != b->close))
			return true;
	}
	return false;
}
