/*
 * test_feed — the calendar feeds of the shipped 2020 plan: RFC 5545 form
 * (CRLF only, lines of at most 75 octets of whole UTF-8 characters,
 * continuation lines), one VEVENT per occurrence with stable UIDs, the
 * DTSTAMP, titles and stakes, the description a liaison reads (until
 * when, what it costs, to whom, the work standard), escaping, a VALARM
 * per before and due slot and none for overdue or record slots, a unit's
 * own schedule after a move, and the feed of a unit without one equal to
 * the all-units feed.  The text is read back by hand and through
 * libical's parser.
 */
#include <libical/ical.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "support.h"

#include "kaohe/feed.h"
#include "kaohe/log.h"
#include "kaohe/util.h"

#define ALL (-1)

/* The feed of UNIT at NOW; the caller frees it. */
static char *render(struct fx *f, int unit, int64_t now)
{
	struct sbuf sb;
	sbuf_init(&sb);
	assert_int_equal(feed_calendar(f->p, f->eng, unit, now, &sb), 0);
	assert_non_null(sb.buf);
	return sb.buf;
}

/* CRLF only; lines of at most 75 octets, valid UTF-8 each; folds start with a space. */
static void expect_rfc_lines(const char *s)
{
	size_t n = 0;

	assert_true(strlen(s) > 2);
	for (const char *p = s; *p; n++) {
		const char *cr = strchr(p, '\r');
		if (cr == NULL)
			fail_msg("line %zu has no CRLF", n + 1);
		if (cr[1] != '\n')
			fail_msg("line %zu: bare CR", n + 1);
		size_t len = (size_t)(cr - p);
		if (memchr(p, '\n', len))
			fail_msg("line %zu: bare LF", n + 1);
		if (len > 75)
			fail_msg("line %zu is %zu octets: %.*s", n + 1, len, (int)len, p);
		if (!util_utf8_valid(p, len))
			fail_msg("line %zu is not UTF-8 on its own: %.*s", n + 1, (int)len, p);
		for (size_t i = 0; i < len; i++)
			if (((unsigned char)p[i] < 0x20 && p[i] != '\t') || p[i] == 0x7f)
				fail_msg("line %zu holds control character %#x", n + 1,
					 (unsigned)(unsigned char)p[i]);
		if (p[0] == ' ') {
			assert_true(n > 0);
		} else {
			/* a content line: NAME[;params]:value */
			size_t k = strspn(p, "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-");
			if (k == 0 || (p[k] != ':' && p[k] != ';'))
				fail_msg("line %zu is neither a content line nor a fold: %.*s",
					 n + 1, (int)len, p);
		}
		p = cr + 2;
	}
	assert_memory_equal(s, "BEGIN:VCALENDAR\r\n", 17);
	assert_string_equal(s + strlen(s) - 15, "END:VCALENDAR\r\n");
}

/* The logical lines of S (folds undone), without their CRLF; free with free_lines(). */
static char **unfold(const char *s, size_t *n)
{
	char *u = xmalloc(strlen(s) + 1), *w = u;
	for (const char *p = s; *p; p++) {
		if (p[0] == '\r' && p[1] == '\n' && (p[2] == ' ' || p[2] == '\t')) {
			p += 2;
			continue;
		}
		*w++ = *p;
	}
	*w = '\0';
	char **lines = NULL;
	size_t cap = 0;
	*n = 0;
	for (char *p = u, *e; (e = strstr(p, "\r\n")) != NULL; p = e + 2) {
		util_reserve(&lines, &cap, *n + 1, sizeof(*lines));
		lines[(*n)++] = strndup(p, (size_t)(e - p));
	}
	free(u);
	return lines;
}

static void free_lines(char **lines, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(lines[i]);
	free(lines);
}

static size_t count_lines(char **lines, size_t n, const char *exact)
{
	size_t c = 0;
	for (size_t i = 0; i < n; i++)
		c += strcmp(lines[i], exact) == 0;
	return c;
}

static bool has_line(char **lines, size_t n, const char *exact)
{
	return count_lines(lines, n, exact) > 0;
}

/* The UID the feeds give occurrence NAME: the same in every feed. */
static void uid_of(struct fx *f, const char *name, char *buf, size_t len)
{
	char occ[40];
	snprintf(occ, sizeof(occ), "%s", name);
	for (char *c = occ; *c; c++)
		if (*c == '@')
			*c = '.';
	snprintf(buf, len, "%s@%d.kaohe", occ, f->p->year);
}

/* The VEVENT of CAL whose UID is UID, or fail. */
static icalcomponent *event(icalcomponent *cal, const char *uid)
{
	for (icalcomponent *ev = icalcomponent_get_first_component(cal, ICAL_VEVENT_COMPONENT);
	     ev != NULL; ev = icalcomponent_get_next_component(cal, ICAL_VEVENT_COMPONENT))
		if (strcmp(icalcomponent_get_uid(ev), uid) == 0)
			return ev;
	fail_msg("no event %s", uid);
	return NULL;
}

static icalcomponent *parse(const char *s)
{
	icalcomponent *cal = icalparser_parse_string(s);
	assert_non_null(cal);
	assert_int_equal(icalcomponent_isa(cal), ICAL_VCALENDAR_COMPONENT);
	return cal;
}

/* Replace row ID's title with TEXT; the old one back to put back. */
static char *set_content(struct fx *f, const char *id, const char *text)
{
	struct plan_row *r = &g_cfg->plan->rows[ROW(f, id)];
	char *old = r->content;
	r->content = xstrdup(text);
	return old;
}

static void put_content(struct fx *f, const char *id, char *old)
{
	struct plan_row *r = &g_cfg->plan->rows[ROW(f, id)];
	free(r->content);
	r->content = old;
}

static void test_calendar_header(void **state)
{
	struct fx *f = *state;
	size_t n;
	char *s = render(f, U(f, "bayilu"), f->start);
	char **l = unfold(s, &n);

	expect_rfc_lines(s);
	assert_string_equal(l[0], "BEGIN:VCALENDAR");
	assert_true(has_line(l, n, "PRODID:-//kaohe//kaohe " KAOHE_VERSION "//ZH"));
	assert_true(has_line(l, n, "VERSION:2.0"));
	assert_true(has_line(l, n, "CALSCALE:GREGORIAN"));
	assert_true(has_line(l, n, "METHOD:PUBLISH"));
	assert_true(has_line(l, n, "X-WR-CALNAME:西岗区2020年街道办事处居住小区管理工作考核方案"));
	assert_true(has_line(l, n, "X-WR-TIMEZONE:Asia/Shanghai"));
	free_lines(l, n);

	/* nothing names the unit: without a move of its own, its feed is all.ics */
	char *all = render(f, ALL, f->start);
	expect_rfc_lines(all);
	assert_string_equal(s, all);
	assert_null(strstr(s, "八一路"));
	for (size_t u = 0; u < f->p->nunits; u++)
		assert_false(feed_own_schedule(f->p, f->eng, (int)u));
	free(all);
	free(s);
}

/* Each feed holds one VEVENT per occurrence, deadlines and records alike, UIDs unique. */
static void test_one_event_per_occurrence(void **state)
{
	struct fx *f = *state;

	for (int unit = ALL; unit < (int)f->p->nunits; unit++) {
		size_t n, uids = 0;
		char *s = render(f, unit, f->start);
		char **l = unfold(s, &n);
		expect_rfc_lines(s);
		assert_int_equal(count_lines(l, n, "BEGIN:VEVENT"), f->p->noccs);
		assert_int_equal(count_lines(l, n, "END:VEVENT"), f->p->noccs);
		for (size_t i = 0; i < n; i++) {
			if (strncmp(l[i], "UID:", 4) != 0)
				continue;
			uids++;
			for (size_t j = i + 1; j < n; j++)
				if (strcmp(l[i], l[j]) == 0)
					fail_msg("%s twice", l[i]);
		}
		assert_int_equal(uids, f->p->noccs);

		icalcomponent *cal = parse(s);
		assert_int_equal(icalcomponent_count_components(cal, ICAL_VEVENT_COMPONENT),
				 (int)f->p->noccs);
		for (size_t o = 0; o < f->p->noccs; o++) {
			char uid[128];
			uid_of(f, f->p->occs[o].name, uid, sizeof(uid));
			event(cal, uid);
		}
		icalcomponent_free(cal);
		free_lines(l, n);
		free(s);
	}
}

/* UIDs stay when the feed is made again later; DTSTAMP is the new now, in UTC. */
static void test_uids_stable_dtstamp_now(void **state)
{
	struct fx *f = *state;
	size_t n1, n2;
	char *a = render(f, U(f, "baiyun"), T("2020-05-01T08:00:00+08:00"));
	char *b = render(f, U(f, "baiyun"), T("2020-06-01T12:30:15+08:00"));
	char **l1 = unfold(a, &n1), **l2 = unfold(b, &n2);
	char **u1 = xcalloc(n1, sizeof(char *)), **u2 = xcalloc(n2, sizeof(char *));
	size_t k1 = 0, k2 = 0;

	for (size_t i = 0; i < n1; i++)
		if (strncmp(l1[i], "UID:", 4) == 0)
			u1[k1++] = l1[i];
	for (size_t i = 0; i < n2; i++)
		if (strncmp(l2[i], "UID:", 4) == 0)
			u2[k2++] = l2[i];
	assert_int_equal(k1, f->p->noccs);
	assert_int_equal(k1, k2);
	for (size_t i = 0; i < k1; i++)
		assert_string_equal(u1[i], u2[i]);
	assert_int_equal(count_lines(l1, n1, "DTSTAMP:20200501T000000Z"), f->p->noccs);
	assert_int_equal(count_lines(l2, n2, "DTSTAMP:20200601T043015Z"), f->p->noccs);
	/* the occurrence name's '@' does not reach the UID's local part */
	assert_true(has_line(l1, n1, "UID:7d.2020-12-10@2020.kaohe"));
	assert_true(has_line(l1, n1, "UID:1@2020.kaohe"));
	free(u1);
	free(u2);
	free_lines(l1, n1);
	free_lines(l2, n2);
	free(a);
	free(b);
}

/* Title and stake, an all-day event on the due day, the description's instants. */
static void test_event_text(void **state)
{
	struct fx *f = *state;
	char *s = render(f, ALL, f->start);
	icalcomponent *cal = parse(s);

	icalcomponent *ev = event(cal, "1@2020.kaohe");
	assert_string_equal(icalcomponent_get_summary(ev),
			    "【第1项】打造“红色物业”示范项目，推动党建引领业主委员会工作"
			    "（逾期扣2分，未报送扣3分）");
	struct icaltimetype st = icalcomponent_get_dtstart(ev), en = icalcomponent_get_dtend(ev);
	assert_true(st.is_date);
	assert_int_equal(st.year, 2020);
	assert_int_equal(st.month, 9);
	assert_int_equal(st.day, 15);
	assert_true(en.is_date);
	assert_int_equal(en.month, 9);
	assert_int_equal(en.day, 16);
	/* until when (the due day included), what it costs, to whom, what to submit */
	const char *d = icalcomponent_get_description(ev);
	assert_string_equal(d, "请于2020年9月15日（含）前报送\n"
			       "逾期报送扣2分；截至2020年9月30日24时仍未报送，扣3分\n"
			       "考核单位：区住建局\n"
			       "工作标准：开展“红色物业”组建工作，9月15日之前，每个街道办事处"
			       "打造一个“红色物业”示范项目；结合业主委员会换届及新成立工作，推动"
			       "党建引领业主委员会工作，每个街道打造一个党建引领业主委员会试点，"
			       "业主委会委员中党员比例不低于50%。报送工作落实情况及相关图片证明。"
			       "（满分3分）");
	icalproperty *c = icalcomponent_get_first_property(ev, ICAL_CATEGORIES_PROPERTY);
	assert_string_equal(icalproperty_get_categories(c), "基本工作");
	c = icalcomponent_get_next_property(ev, ICAL_CATEGORIES_PROPERTY);
	assert_string_equal(icalproperty_get_categories(c), "报送节点");

	/* 7a: lateness costs nothing, a missing plan 1; 7d's last occurrence */
	const char *sum = icalcomponent_get_summary(event(cal, "7a@2020.kaohe"));
	assert_non_null(strstr(sum, "（逾期不扣分，未报送扣1分）"));
	sum = icalcomponent_get_summary(event(cal, "7d.2020-12-10@2020.kaohe"));
	assert_non_null(
		strstr(sum, "【第7d项】推进居住小区垃圾分类工作（逾期扣1分，未报送扣1分）"));
	/* 16c: reminders only */
	sum = icalcomponent_get_summary(event(cal, "16c@2020.kaohe"));
	assert_non_null(strstr(sum, "（不扣分）"));

	/* row 18: a department's record node, marked so */
	ev = event(cal, "18.2020-06-30@2020.kaohe");
	assert_non_null(strstr(icalcomponent_get_summary(ev), "（区住建局记录，本项满分2分）"));
	c = icalcomponent_get_first_property(ev, ICAL_CATEGORIES_PROPERTY);
	assert_string_equal(icalproperty_get_categories(c), "重点工作");
	c = icalcomponent_get_next_property(ev, ICAL_CATEGORIES_PROPERTY);
	assert_string_equal(icalproperty_get_categories(c), "记录节点");
	d = icalcomponent_get_description(ev);
	assert_non_null(strstr(d, "记录日：2020年6月30日\n扣分项："));
	assert_non_null(strstr(d, "每次扣0.5分，最多2分\n考核单位：区住建局\n工作标准："));
	assert_null(strstr(d, "请于"));
	/* 7a: lateness free, missing 1 */
	d = icalcomponent_get_description(event(cal, "7a@2020.kaohe"));
	assert_non_null(strstr(d, "逾期报送不扣分；截至2020年6月30日24时仍未报送，扣1分\n"));
	/* 16c: reminders only, nothing at stake to say */
	d = icalcomponent_get_description(event(cal, "16c@2020.kaohe"));
	assert_null(strstr(d, "逾期报送"));
	icalcomponent_free(cal);
	free(s);
}

/* A title long enough to fold many times, at every alignment of its 3-octet characters. */
static void test_long_title_folds_whole_characters(void **state)
{
	struct fx *f = *state;
	static const char *const cjk[] = { "推", "进", "居", "住", "小", "区", "垃", "圾",
					   "分", "类", "工", "作", "，", "“",  "”",  "𝄞" };
	char title[2048];

	for (int shift = 0; shift < 4; shift++) {
		size_t len = 0;
		for (int i = 0; i < shift; i++)
			title[len++] = 'a';
		for (int i = 0; i < 160; i++) {
			const char *c = cjk[(i * 7) % 16];
			memcpy(title + len, c, strlen(c));
			len += strlen(c);
			if (i % 23 == 5)
				title[len++] = 'x';
		}
		title[len] = '\0';
		char *old = set_content(f, "1", title);
		char *s = render(f, U(f, "rixin"), f->start);
		put_content(f, "1", old);

		expect_rfc_lines(s);
		char want[2300];
		snprintf(want, sizeof(want), "SUMMARY:【第1项】%s（逾期扣2分，未报送扣3分）",
			 title);
		size_t n;
		char **l = unfold(s, &n);
		assert_true(has_line(l, n, want));
		icalcomponent *cal = parse(s);
		icalcomponent *ev = event(cal, "1@2020.kaohe");
		assert_string_equal(icalcomponent_get_summary(ev), want + strlen("SUMMARY:"));
		/* the alarms' descriptions carry the title too */
		icalcomponent *al = icalcomponent_get_first_component(ev, ICAL_VALARM_COMPONENT);
		assert_non_null(al);
		assert_non_null(strstr(icalcomponent_get_description(al), title));
		icalcomponent_free(cal);
		free_lines(l, n);
		free(s);
	}
}

/* libical escapes , ; \ and newlines and gives them back; control characters become spaces. */
static void test_escaping(void **state)
{
	struct fx *f = *state;
	char *old = set_content(f, "2a", "年度计划, 含;分号\\反斜杠\n第二行\x01尾");
	char *s = render(f, ALL, f->start);
	put_content(f, "2a", old);

	expect_rfc_lines(s);
	size_t n;
	char **l = unfold(s, &n);
	assert_true(has_line(l, n,
			     "SUMMARY:【第2a项】年度计划\\, 含\\;分号\\\\反斜杠\\n第二行 尾"
			     "（逾期扣1分，未报送扣2分）"));
	icalcomponent *cal = parse(s);
	assert_string_equal(icalcomponent_get_summary(event(cal, "2a@2020.kaohe")),
			    "【第2a项】年度计划, 含;分号\\反斜杠\n第二行 尾"
			    "（逾期扣1分，未报送扣2分）");
	icalcomponent_free(cal);
	free_lines(l, n);
	free(s);
}

/*
 * Every feed's alarms against calendar_slots(): one VALARM per before or
 * due slot of a deadline before its close, at the slot's instant, in UTC;
 * none for the overdue slots (a calendar cannot know the unit submitted)
 * nor for a record node's (the department's).  Adds to *TOTAL the alarms
 * and to *LEFT the slots that are no alarms.
 */
static void check_alarms(struct fx *f, size_t *total, size_t *left)
{
	for (int unit = ALL; unit < (int)f->p->nunits; unit += 3) {
		char *s = render(f, unit, f->start);
		icalcomponent *cal = parse(s);
		for (size_t o = 0; o < f->p->noccs; o++) {
			const struct plan_occ *po = &f->p->occs[o];
			const struct schedule *sc = engine_schedule(f->eng, (int)o, unit);
			struct slot *slots;
			size_t k = 0;
			size_t ns = calendar_slots(&f->p->cal, sc, po->type == OCC_RECORD, &slots);
			char uid[128];
			uid_of(f, po->name, uid, sizeof(uid));
			icalcomponent *ev = event(cal, uid);
			icalcomponent *al =
				icalcomponent_get_first_component(ev, ICAL_VALARM_COMPONENT);
			for (size_t i = 0; i < ns; i++) {
				if (po->type == OCC_RECORD || slots[i].at >= sc->close ||
				    (slots[i].kind != SLOT_BEFORE && slots[i].kind != SLOT_DUE)) {
					(*left)++;
					continue;
				}
				if (al == NULL)
					fail_msg("%s: %zu alarms, more slots", po->name, k);
				icalproperty *tp =
					icalcomponent_get_first_property(al, ICAL_TRIGGER_PROPERTY);
				struct icaltriggertype tr = icalproperty_get_trigger(tp);
				assert_true(icaltime_is_utc(tr.time));
				assert_i64(icaltime_as_timet(tr.time), slots[i].at);
				assert_true(tr.time.hour == 1 &&
					    tr.time.minute == 0); /* 09:00 +08 */
				icalproperty *ac =
					icalcomponent_get_first_property(al, ICAL_ACTION_PROPERTY);
				assert_int_equal(icalproperty_get_action(ac), ICAL_ACTION_DISPLAY);
				assert_non_null(strstr(icalcomponent_get_description(al),
						       slots[i].kind == SLOT_DUE ? "当日提醒："
										 : "提前提醒："));
				k++;
				al = icalcomponent_get_next_component(ev, ICAL_VALARM_COMPONENT);
			}
			if (al != NULL)
				fail_msg("%s: more alarms than the %zu slots up to the due",
					 po->name, k);
			*total += k;
			free(slots);
		}
		assert_non_null(strstr(s, "\r\nTRIGGER;VALUE=DATE-TIME:"));
		icalcomponent_free(cal);
		free(s);
	}
}

static void test_alarms_are_slots_up_to_the_due(void **state)
{
	struct fx *f = *state;
	size_t total = 0, left = 0;

	check_alarms(f, &total, &left);
	assert_true(total > 100);
	/* there were overdue and record slots, and they are no alarms */
	assert_true(left > 100);
	char *s = render(f, ALL, f->start);
	icalcomponent *cal = parse(s);
	assert_int_equal(icalcomponent_count_components(event(cal, "18.2020-06-30@2020.kaohe"),
							ICAL_VALARM_COMPONENT),
			 0);
	/* row 1 (due Tuesday 09-15): -7d 09-08, -3d Saturday -> Friday 09-11, -1d, due */
	icalcomponent *ev = event(cal, "1@2020.kaohe");
	assert_int_equal(icalcomponent_count_components(ev, ICAL_VALARM_COMPONENT), 4);
	assert_null(strstr(s, "逾期提醒"));
	assert_null(strstr(s, "记录提醒"));
	icalcomponent_free(cal);
	free(s);
}

/* A move for one unit shows in its feed only; UIDs stay. */
static void test_unit_feed_after_move(void **state)
{
	struct fx *f = *state;
	struct move day = {
		.unit = U(f, "bayilu"), .due_day = D(9, 25), .at = f->start, .reason = "test"
	};
	struct move timed = { .unit = U(f, "baiyun"),
			      .due_day = D(6, 15),
			      .timed = true,
			      .due_at = T("2020-06-15T15:30:00+08:00"),
			      .at = f->start,
			      .reason = "test" };

	snprintf(day.occ, sizeof(day.occ), "1");
	snprintf(day.actor, sizeof(day.actor), "tester");
	snprintf(timed.occ, sizeof(timed.occ), "2a");
	snprintf(timed.actor, sizeof(timed.actor), "tester");
	assert_int_equal(store_begin(f->st), 0);
	assert_int_equal(store_move_add(f->st, &day), 0);
	assert_int_equal(store_move_add(f->st, &timed), 0);
	assert_int_equal(store_commit(f->st), 0);
	/* an engine built with the moves in the store */
	engine_free(f->eng);
	f->eng = engine_new(f->p, f->st, &f->sink, f->start);
	assert_non_null(f->eng);

	char *s = render(f, U(f, "bayilu"), f->start);
	expect_rfc_lines(s);
	icalcomponent *cal = parse(s);
	icalcomponent *ev = event(cal, "1@2020.kaohe");
	struct icaltimetype st = icalcomponent_get_dtstart(ev);
	assert_true(st.is_date);
	assert_int_equal(st.month, 9);
	assert_int_equal(st.day, 25);
	const char *d = icalcomponent_get_description(ev);
	assert_non_null(strstr(d,
			       "请于2020年9月25日（含）前报送（已调整，原定2020年9月15日（含））\n"
			       "逾期报送扣2分；截至2020年9月30日24时仍未报送，扣3分\n"));
	/* its alarms follow: the due-day reminder on the 25th, 09:00 */
	size_t n;
	char **l = unfold(s, &n);
	assert_true(has_line(l, n, "TRIGGER;VALUE=DATE-TIME:20200925T010000Z"));
	free_lines(l, n);
	icalcomponent_free(cal);
	free(s);

	/* a timed due: an hour from it, in UTC */
	s = render(f, U(f, "baiyun"), f->start);
	expect_rfc_lines(s);
	l = unfold(s, &n);
	assert_true(has_line(l, n, "DTSTART:20200615T073000Z"));
	assert_true(has_line(l, n, "DTEND:20200615T083000Z"));
	free_lines(l, n);
	cal = parse(s);
	st = icalcomponent_get_dtstart(event(cal, "2a@2020.kaohe"));
	assert_non_null(
		strstr(icalcomponent_get_description(event(cal, "2a@2020.kaohe")),
		       "请于2020年6月15日 15:30前报送（已调整，原定2020年6月15日（含））\n"));
	assert_false(st.is_date);
	assert_true(icaltime_is_utc(st));
	assert_i64(icaltime_as_timet(st), T("2020-06-15T15:30:00+08:00"));
	icalcomponent_free(cal);
	free(s);

	/* the other units and the shared feed keep the plan's day */
	char *all = render(f, ALL, f->start);
	for (int unit = ALL; unit < (int)f->p->nunits; unit++) {
		bool own = unit == U(f, "bayilu") || unit == U(f, "baiyun");
		if (unit >= 0)
			assert_int_equal(feed_own_schedule(f->p, f->eng, unit), own);
		if (unit == U(f, "bayilu"))
			continue;
		char uid[128];
		uid_of(f, "1", uid, sizeof(uid));
		s = render(f, unit, f->start);
		/* only a unit with a move of its own has a feed of its own */
		if (own)
			assert_string_not_equal(s, all);
		else
			assert_string_equal(s, all);
		cal = parse(s);
		st = icalcomponent_get_dtstart(event(cal, uid));
		assert_int_equal(st.month, 9);
		assert_int_equal(st.day, 15);
		assert_null(strstr(icalcomponent_get_description(event(cal, uid)), "已调整"));
		icalcomponent_free(cal);
		free(s);
	}
	free(all);
}

static void test_bad_unit(void **state)
{
	struct fx *f = *state;
	struct sbuf sb;

	sbuf_init(&sb);
	log_set_level(LOG_LEVEL_ERROR);
	assert_int_equal(feed_calendar(f->p, f->eng, (int)f->p->nunits, f->start, &sb), -1);
	assert_int_equal(feed_calendar(f->p, f->eng, -2, f->start, &sb), -1);
	log_set_level(LOG_LEVEL_WARNING);
	assert_int_equal(sb.len, 0);
	sbuf_free(&sb);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
#define T_(fn) cmocka_unit_test_setup_teardown(fn, fx_setup, fx_teardown)
		T_(test_calendar_header),
		T_(test_one_event_per_occurrence),
		T_(test_uids_stable_dtstamp_now),
		T_(test_event_text),
		T_(test_long_title_folds_whole_characters),
		T_(test_escaping),
		T_(test_alarms_are_slots_up_to_the_due),
		T_(test_unit_feed_after_move),
		T_(test_bad_unit),
#undef T_
	};
	return cmocka_run_group_tests(tests, config_group_setup, config_group_teardown);
}
