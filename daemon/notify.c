/*
 * notify — the words of every message kaohed sends.  Templates turn a
 * message into a subject and a text (and, for an email, an HTML
 * alternative); the providers wrap those into what goes on the wire.
 * Nothing here does I/O or reads a clock.
 */
#include <stdio.h>
#include <string.h>

#include "kaohe/calendar.h"
#include "kaohe/notify.h"
#include "kaohe/util.h"

/* ------------------------------------------------------------------ */
/* names */

static const char *const kind_names[NOTIFY_NKINDS] = {
	"before", "due", "overdue", "escalation", "record", "snapshot", "dead", "test", "ended",
};

const char *notify_kind_name(enum notify_kind k)
{
	return (unsigned)k < NOTIFY_NKINDS ? kind_names[k] : "?";
}

int notify_kind_find(const char *s)
{
	for (int i = 0; s && i < NOTIFY_NKINDS; i++)
		if (strcmp(s, kind_names[i]) == 0)
			return i;
	return -1;
}

/* ------------------------------------------------------------------ */
/* the built-in templates */

/*
 * The reminders read as a district office's notice: addressee, what is
 * due and what it costs, then a footer that lets a recipient who already
 * acted ignore it and quote the delivery number when asking about it.
 */
static const char *const default_subject[NOTIFY_NKINDS] = {
	[NOTIFY_BEFORE] = "【考核提醒】{unit}：{count}项材料请于{deadline}前报送",
	[NOTIFY_DUE] = "【考核提醒】{unit}：{count}项材料今日到期，请于{deadline}前报送",
	[NOTIFY_OVERDUE] = "【逾期提醒】{unit}：{count}项材料已逾期未报送",
	[NOTIFY_ESCALATION] = "【逾期抄送】{unit}：{count}项材料已逾期未报送",
	[NOTIFY_RECORD] = "【录入提醒】{department}：{count}项考核事项请于{deadline}前录入",
	[NOTIFY_SNAPSHOT] = "【考核排名】{period}考核排名已生成",
	[NOTIFY_DEAD] = "【系统告警】考核通知投递失败",
	[NOTIFY_TEST] = "【测试】考核系统通知渠道测试",
	[NOTIFY_ENDED] = "【考核系统】{period}年度考核已全部结束，请安装下一年度考核方案",
};

static const char *const default_body[NOTIFY_NKINDS] = {
	[NOTIFY_BEFORE] = "{recipient}：\n\n"
			  "{unit}以下{count}项考核材料目前尚未报送，请于所列截止时间前"
			  "向所列部门报送，逾期将按考核方案扣分：\n\n"
			  "{items}\n\n"
			  "（本通知由考核系统于{at}自动发送，编号{delivery}。如已报送，请忽略。）",
	[NOTIFY_DUE] = "{recipient}：\n\n"
		       "{unit}以下{count}项考核材料今日到期，目前尚未报送。"
		       "请于所列截止时间前向所列部门报送，逾期将按考核方案扣分：\n\n"
		       "{items}\n\n"
		       "（本通知由考核系统于{at}自动发送，编号{delivery}。如已报送，请忽略。）",
	[NOTIFY_OVERDUE] = "{recipient}：\n\n"
			   "{unit}以下{count}项考核材料已超过报送期限，至今仍未报送。"
			   "请尽快补报：在所列补报截止时间前补报的按逾期扣分，"
			   "此后仍未报送的按未报送扣分：\n\n"
			   "{items}\n\n"
			   "（本通知由考核系统于{at}自动发送，编号{delivery}。如已报送，请忽略。）",
	[NOTIFY_ESCALATION] = "{recipient}：\n\n"
			      "现将{unit}考核材料逾期情况抄送如下。"
			      "以下{count}项材料已超过报送期限，至今仍未报送，"
			      "已向该单位发出逾期提醒，请督促其在所列补报截止时间前补报：\n\n"
			      "{items}\n\n"
			      "（本抄送由考核系统于{at}自动发送，编号{delivery}。"
			      "如该单位已补报，请忽略。）",
	[NOTIFY_RECORD] =
		"{recipient}：\n\n"
		"请{department}于所列时间前录入以下{count}项考核事项的检查结果或指标数据，"
		"以便及时计分：\n\n"
		"{items}\n\n"
		"（本通知由考核系统于{at}自动发送，编号{delivery}。如已录入，请忽略。）",
	[NOTIFY_SNAPSHOT] = "{recipient}：\n\n"
			    "{period}考核排名已于{at}生成，各单位得分及排名如下：\n\n"
			    "{detail}\n\n"
			    "请核对无误后按考核方案予以公示。（编号{delivery}）",
	/* {detail} names the failed delivery; {delivery} is this alert's own number. */
	[NOTIFY_DEAD] = "{recipient}：\n\n"
			"考核系统有一条通知多次投递均未成功，已停止重试：\n\n"
			"{detail}\n\n"
			"请检查通知渠道的配置，并视情况人工补发。\n"
			"（本告警由考核系统于{at}自动发送，编号{delivery}。）",
	/* {detail} names the channel tried. */
	[NOTIFY_TEST] = "{recipient}：\n\n"
			"{detail}\n\n"
			"（本测试消息由管理员于{at}发送，无需回复。）",
	/* {period} is the latest configured plan year. */
	[NOTIFY_ENDED] = "{recipient}：\n\n"
			 "考核系统配置的各考核年度均已结束（最后一个年度：{period}年），"
			 "此后不再产生扣分、排名和提醒，查询照常。\n"
			 "请安装下一年度的考核方案（见 README“A new year”一节）。\n"
			 "（本通知由考核系统于{at}自动发送，编号{delivery}。）",
};

/*
 * A robot serving several units hears of all their rows of one instant
 * in one message: there is no one {unit} to name, so the built-in words
 * name the units ({units}) and each item line its unit.
 */
static const char *const default_subject_several[NOTIFY_NKINDS] = {
	[NOTIFY_BEFORE] = "【考核提醒】{units}：{count}项材料请于{deadline}前报送",
	[NOTIFY_DUE] = "【考核提醒】{units}：{count}项材料今日到期，请于{deadline}前报送",
	[NOTIFY_OVERDUE] = "【逾期提醒】{units}：{count}项材料已逾期未报送",
};

static const char *const default_body_several[NOTIFY_NKINDS] = {
	[NOTIFY_BEFORE] = "{recipient}：\n\n"
			  "以下{count}项考核材料目前尚未报送（【】内为报送单位），"
			  "请于所列截止时间前向所列部门报送，逾期将按考核方案扣分：\n\n"
			  "{items}\n\n"
			  "（本通知由考核系统于{at}自动发送，编号{delivery}。如已报送，请忽略。）",
	[NOTIFY_DUE] = "{recipient}：\n\n"
		       "以下{count}项考核材料今日到期，目前尚未报送（【】内为报送单位）。"
		       "请于所列截止时间前向所列部门报送，逾期将按考核方案扣分：\n\n"
		       "{items}\n\n"
		       "（本通知由考核系统于{at}自动发送，编号{delivery}。如已报送，请忽略。）",
	[NOTIFY_OVERDUE] = "{recipient}：\n\n"
			   "以下{count}项考核材料已超过报送期限，至今仍未报送（【】内为报送单位）。"
			   "请尽快补报：在所列补报截止时间前补报的按逾期扣分，"
			   "此后仍未报送的按未报送扣分：\n\n"
			   "{items}\n\n"
			   "（本通知由考核系统于{at}自动发送，编号{delivery}。如已报送，请忽略。）",
};

/*
 * An office's escalation copy lists the rows of every unit overdue at
 * that instant, each line labelled with its unit: there is no one {unit}
 * to name, so the built-in words name the department whose rows they are.
 */
static const char default_subject_office[] =
	"【逾期抄送】{department}考核事项：{count}项材料已逾期未报送";
static const char default_body_office[] =
	"{recipient}：\n\n"
	"现将{department}考核事项的逾期情况抄送如下。"
	"以下{count}项材料已超过报送期限，至今仍未报送（【】内为报送单位），"
	"已向各单位发出逾期提醒，请督促其在所列补报截止时间前补报：\n\n"
	"{items}\n\n"
	"（本抄送由考核系统于{at}自动发送，编号{delivery}。"
	"如相关单位已补报，请忽略。）";

/* What to submit, to whom and by when, in two lines under the row's title. */
static const char default_item[] = "- {title}（第{row}项）：{when}\n"
				   "  报送内容：{submit}；报送至：{department}";

/* ------------------------------------------------------------------ */
/* placeholders */

#define IN_MSG  1
#define IN_ITEM 2

enum ph {
	PH_RECIPIENT,
	PH_UNIT,
	PH_UNIT_ID,
	PH_DEPARTMENT,
	PH_COUNT,
	PH_ITEMS,
	PH_AT,
	PH_PERIOD,
	PH_DETAIL,
	PH_DELIVERY,
	PH_MENTIONS,
	PH_DUE,
	PH_SEQ,
	PH_ROW,
	PH_OCCURRENCE,
	PH_TITLE,
	PH_DEADLINE,
	PH_CLOSE,
	PH_LATE,
	PH_MISSING,
	PH_STAKE,
	PH_STATE,
	PH_UNITS,
	PH_AT_ISO,
	PH_DUE_ISO,
	PH_DEADLINE_ISO,
	PH_CLOSE_ISO,
	PH_SUBMIT,
	PH_WHEN,
};

static const struct {
	const char *name;
	int scope;
} placeholders[] = {
	[PH_RECIPIENT] = { "recipient", IN_MSG },
	[PH_UNIT] = { "unit", IN_MSG },
	[PH_UNIT_ID] = { "unit_id", IN_MSG },
	/* The message's department, or in an item the row's owner. */
	[PH_DEPARTMENT] = { "department", IN_MSG | IN_ITEM },
	[PH_COUNT] = { "count", IN_MSG },
	[PH_ITEMS] = { "items", IN_MSG },
	[PH_AT] = { "at", IN_MSG },
	[PH_PERIOD] = { "period", IN_MSG },
	[PH_DETAIL] = { "detail", IN_MSG },
	[PH_DELIVERY] = { "delivery", IN_MSG },
	[PH_MENTIONS] = { "mentions", IN_MSG },
	/* In a message, the earliest of its items': a subject names one day. */
	[PH_DUE] = { "due", IN_MSG | IN_ITEM },
	[PH_DEADLINE] = { "deadline", IN_MSG | IN_ITEM },
	[PH_SEQ] = { "seq", IN_ITEM },
	[PH_ROW] = { "row", IN_ITEM },
	[PH_OCCURRENCE] = { "occurrence", IN_ITEM },
	[PH_TITLE] = { "title", IN_ITEM },
	[PH_CLOSE] = { "close", IN_ITEM },
	[PH_LATE] = { "late", IN_ITEM },
	[PH_MISSING] = { "missing", IN_ITEM },
	[PH_STAKE] = { "stake", IN_ITEM },
	[PH_STATE] = { "state", IN_ITEM },
	[PH_UNITS] = { "units", IN_MSG },
	[PH_AT_ISO] = { "at_iso", IN_MSG },
	[PH_DUE_ISO] = { "due_iso", IN_MSG | IN_ITEM },
	[PH_DEADLINE_ISO] = { "deadline_iso", IN_MSG | IN_ITEM },
	[PH_CLOSE_ISO] = { "close_iso", IN_ITEM },
	[PH_SUBMIT] = { "submit", IN_ITEM },
	[PH_WHEN] = { "when", IN_ITEM },
};
#define NPLACEHOLDERS (sizeof(placeholders) / sizeof(placeholders[0]))

static int ph_find(const char *name, size_t len)
{
	for (size_t i = 0; i < NPLACEHOLDERS; i++)
		if (strlen(placeholders[i].name) == len &&
		    memcmp(placeholders[i].name, name, len) == 0)
			return (int)i;
	return -1;
}

int notify_template_check(const char *tmpl, bool item, char *err, size_t errlen)
{
	int scope = item ? IN_ITEM : IN_MSG;

	if (!tmpl)
		return 0;
	if (!util_utf8_valid(tmpl, strlen(tmpl))) {
		snprintf(err, errlen, "template is not valid UTF-8");
		return -1;
	}
	for (const char *p = tmpl; *p; p++) {
		size_t off = (size_t)(p - tmpl);
		if (*p == '}') {
			if (p[1] != '}') {
				snprintf(err, errlen,
					 "unbalanced '}' at byte %zu (write \"}}\" for a brace)",
					 off);
				return -1;
			}
			p++;
			continue;
		}
		if (*p != '{')
			continue;
		if (p[1] == '{') {
			p++;
			continue;
		}
		const char *end = strpbrk(p + 1, "{}");
		if (!end) {
			snprintf(err, errlen, "unterminated placeholder at byte %zu", off);
			return -1;
		}
		if (*end == '{') {
			snprintf(err, errlen,
				 "unbalanced '{' at byte %zu (write \"{{\" for a brace)", off);
			return -1;
		}
		size_t len = (size_t)(end - p - 1);
		if (len == 0) {
			snprintf(err, errlen, "empty placeholder {} at byte %zu", off);
			return -1;
		}
		int ph = ph_find(p + 1, len);
		/* Quote at most a line's worth of a runaway name. */
		int show = len > 40 ? 40 : (int)len;
		const char *more = len > 40 ? "…" : "";
		if (ph < 0) {
			snprintf(err, errlen, "unknown placeholder {%.*s%s} at byte %zu", show,
				 p + 1, more, off);
			return -1;
		}
		if (!(placeholders[ph].scope & scope)) {
			snprintf(err, errlen, "placeholder {%s} at byte %zu %s",
				 placeholders[ph].name, off,
				 item ? "belongs in a message template, not the item template"
				      : "belongs in the item template only");
			return -1;
		}
		p = end;
	}
	return 0;
}

/* ------------------------------------------------------------------ */
/* rendering */

/* The engine's state in words; a record reminder's pending row awaits entry, not a report. */
static const char *state_text(enum notify_kind kind, const char *state)
{
	static const struct {
		const char *state, *text;
	} words[] = {
		{ "pending", "未报送" },
		{ "on-time", "已按时报送" },
		{ "late", "逾期报送" },
		{ "overdue", "已逾期未报送" },
		{ "missing", "未报送（已截止）" },
	};

	if (!state)
		return "";
	if (kind == NOTIFY_RECORD && strcmp(state, "pending") == 0)
		return "待录入";
	for (size_t i = 0; i < sizeof(words) / sizeof(words[0]); i++)
		if (strcmp(state, words[i].state) == 0)
			return words[i].text;
	return state;
}

/*
 * "逾期扣0.5分，未报送扣1分": always both halves, so that a late day that
 * costs nothing is not read as a miss that costs nothing.
 */
static void stake_text(const struct notify_item *it, struct sbuf *sb)
{
	if (it->late <= 0 && it->missing <= 0) {
		SBUF_LIT(sb, "不扣分");
		return;
	}
	if (it->late > 0) {
		SBUF_LIT(sb, "逾期扣");
		sbuf_add_fixed(sb, it->late, 2);
		SBUF_LIT(sb, "分");
	} else {
		SBUF_LIT(sb, "逾期不扣分");
	}
	if (it->missing > 0) {
		SBUF_LIT(sb, "，未报送扣");
		sbuf_add_fixed(sb, it->missing, 2);
		SBUF_LIT(sb, "分");
	} else {
		SBUF_LIT(sb, "，未报送不扣分");
	}
}

static void puts0(struct sbuf *sb, const char *s)
{
	if (s)
		sbuf_puts(sb, s);
}

struct render {
	const struct notify_templates *t;
	const struct notify_message *m;
	const struct notify_item *it; /* while rendering an item */
};

static const char *item_template(const struct notify_templates *t)
{
	return t && t->item ? t->item : default_item;
}

static void expand(const struct render *r, const char *tmpl, int scope, struct sbuf *out);

/* The item of M that falls due first: a subject names one day. */
static const struct notify_item *first_item(const struct notify_message *m)
{
	const struct notify_item *first = NULL;
	for (size_t i = 0; i < m->nitems; i++)
		if (!first || m->items[i].deadline_at < first->deadline_at)
			first = &m->items[i];
	return first;
}

void notify_mentions(const struct notify_message *m, struct sbuf *out)
{
	for (size_t i = 0; i < m->nmobiles; i++) {
		if (i)
			SBUF_LIT(out, " ");
		SBUF_LIT(out, "@");
		puts0(out, m->mobiles[i]);
	}
}

void notify_at(const struct notify_message *m, struct sbuf *out)
{
	char buf[40];
	if (m->at_text) {
		sbuf_puts(out, m->at_text);
		return;
	}
	calendar_format_instant(m->at, buf, sizeof(buf));
	sbuf_puts(out, buf);
}

/* The year of instant T in the plan's zone. */
static int year_of(int64_t t)
{
	int y, mo, d, secs;
	calendar_civil_from_days(calendar_day_of(t, &secs), &y, &mo, &d);
	return y;
}

/* "12月10日", or "2027年1月5日" when its year is not YEAR (0: always the year). */
static void zh_day(struct sbuf *out, int32_t day, int year)
{
	int y, m, d;
	calendar_civil_from_days(day, &y, &m, &d);
	if (y != year)
		sbuf_printf(out, "%d年", y);
	sbuf_printf(out, "%d月%d日", m, d);
}

/* " 09:00", with the seconds only when there are any ("20:48:30"). */
static void zh_time(struct sbuf *out, int secs)
{
	sbuf_printf(out, " %02d:%02d", secs / 3600, secs / 60 % 60);
	if (secs % 60)
		sbuf_printf(out, ":%02d", secs % 60);
}

/*
 * Instant T as the last moment it allows: a midnight is the whole day
 * before it, "12月10日（含）", so that submitting on the due day plainly
 * counts; any other time is shown, "12月2日 20:48".
 */
static void zh_until(struct sbuf *out, int64_t t, int year)
{
	int secs;
	int32_t day = calendar_day_of(t, &secs);
	if (secs == 0) {
		zh_day(out, day - 1, year);
		SBUF_LIT(out, "（含）");
		return;
	}
	zh_day(out, day, year);
	zh_time(out, secs);
}

void notify_zh_instant(int64_t t, struct sbuf *out)
{
	int secs;
	int32_t day = calendar_day_of(t, &secs);
	zh_day(out, day, 0);
	zh_time(out, secs);
}

/*
 * The due day, with the time of day when the deadline is not the due
 * day's end (a due given as a date-time, even one at midnight).
 */
static void zh_due(struct sbuf *out, const struct notify_item *it, int year)
{
	int secs;
	int32_t day = calendar_day_of(it->deadline_at, &secs);
	if (secs == 0 && day == it->due_day + 1) {
		zh_day(out, it->due_day, year);
		return;
	}
	zh_day(out, day, year);
	zh_time(out, secs);
}

void notify_item_times(const struct notify_message *m, const struct notify_item *it,
		       struct sbuf *due, struct sbuf *deadline, struct sbuf *close)
{
	int year = year_of(m->at);
	zh_due(due, it, year);
	zh_until(deadline, it->deadline_at, year);
	zh_until(close, it->close_at, year);
}

/* The item's deadline and what is at stake, as the message's kind puts it. */
static void when_text(enum notify_kind kind, const struct notify_item *it, int year,
		      struct sbuf *out)
{
	switch (kind) {
	case NOTIFY_RECORD:
		SBUF_LIT(out, "请于");
		zh_until(out, it->deadline_at, year);
		SBUF_LIT(out, "前录入");
		return;
	case NOTIFY_OVERDUE:
	case NOTIFY_ESCALATION:
		SBUF_LIT(out, "报送期限");
		zh_until(out, it->deadline_at, year);
		SBUF_LIT(out, "已过，");
		sbuf_puts(out, state_text(kind, it->state));
		SBUF_LIT(out, "；补报截止时间");
		zh_until(out, it->close_at, year);
		SBUF_LIT(out, "，此前补报");
		if (it->late > 0) {
			SBUF_LIT(out, "扣");
			sbuf_add_fixed(out, it->late, 2);
			SBUF_LIT(out, "分");
		} else {
			SBUF_LIT(out, "不扣分");
		}
		SBUF_LIT(out, "，此后仍未报送");
		if (it->missing > 0) {
			SBUF_LIT(out, "扣");
			sbuf_add_fixed(out, it->missing, 2);
			SBUF_LIT(out, "分");
		} else {
			SBUF_LIT(out, "不扣分");
		}
		return;
	default:
		SBUF_LIT(out, "请于");
		zh_until(out, it->deadline_at, year);
		SBUF_LIT(out, "前报送（");
		stake_text(it, out);
		SBUF_LIT(out, "）");
		return;
	}
}

/* The names of the units M's items come from, "八一路、香炉礁", or M's unit. */
static void units_text(const struct notify_message *m, struct sbuf *out)
{
	size_t from = out->len;
	if (m->unit_name) {
		sbuf_puts(out, m->unit_name);
		return;
	}
	for (size_t i = 0; i < m->nitems; i++) {
		const char *u = m->items[i].unit;
		bool seen = false;
		if (!u)
			continue;
		for (size_t j = 0; j < i && !seen; j++)
			seen = m->items[j].unit && strcmp(m->items[j].unit, u) == 0;
		if (seen)
			continue;
		if (out->len > from)
			SBUF_LIT(out, "、");
		sbuf_puts(out, u);
	}
}

static void value(const struct render *r, enum ph ph, struct sbuf *out)
{
	const struct notify_message *m = r->m;
	const struct notify_item *it = r->it;
	int year = year_of(m->at);

	if (it) {
		switch (ph) {
		case PH_SEQ: puts0(out, it->seq); return;
		case PH_ROW: puts0(out, it->row); return;
		case PH_OCCURRENCE: puts0(out, it->occ); return;
		case PH_TITLE: puts0(out, it->title); return;
		case PH_DEPARTMENT: puts0(out, it->dept); return;
		case PH_DUE: zh_due(out, it, year); return;
		case PH_DEADLINE: zh_until(out, it->deadline_at, year); return;
		case PH_CLOSE: zh_until(out, it->close_at, year); return;
		case PH_DUE_ISO: puts0(out, it->due); return;
		case PH_DEADLINE_ISO: puts0(out, it->deadline); return;
		case PH_CLOSE_ISO: puts0(out, it->close); return;
		case PH_SUBMIT:
			puts0(out, it->submit && *it->submit ? it->submit : it->title);
			return;
		case PH_WHEN: when_text(m->kind, it, year, out); return;
		case PH_LATE: sbuf_add_fixed(out, it->late, 2); return;
		case PH_MISSING: sbuf_add_fixed(out, it->missing, 2); return;
		case PH_STAKE: stake_text(it, out); return;
		case PH_STATE: sbuf_puts(out, state_text(m->kind, it->state)); return;
		default: return;
		}
	}
	const struct notify_item *first = first_item(m);
	switch (ph) {
	case PH_RECIPIENT: puts0(out, m->recipient); return;
	case PH_UNIT: puts0(out, m->unit_name); return;
	case PH_UNITS: units_text(m, out); return;
	case PH_UNIT_ID: puts0(out, m->unit_id); return;
	case PH_DEPARTMENT: puts0(out, m->dept_name); return;
	case PH_COUNT: sbuf_printf(out, "%zu", m->nitems); return;
	case PH_AT: notify_zh_instant(m->at, out); return;
	case PH_AT_ISO: notify_at(m, out); return;
	case PH_PERIOD: puts0(out, m->period); return;
	case PH_DETAIL: puts0(out, m->detail); return;
	case PH_DELIVERY: sbuf_printf(out, "%lld", (long long)m->id); return;
	case PH_MENTIONS: notify_mentions(m, out); return;
	case PH_DUE:
		if (first)
			zh_due(out, first, year);
		return;
	case PH_DEADLINE:
		if (first)
			zh_until(out, first->deadline_at, year);
		return;
	case PH_DUE_ISO: puts0(out, first ? first->due : NULL); return;
	case PH_DEADLINE_ISO: puts0(out, first ? first->deadline : NULL); return;
	case PH_ITEMS: {
		struct render ri = *r;
		for (size_t i = 0; i < m->nitems; i++) {
			if (i)
				SBUF_LIT(out, "\n");
			ri.it = &m->items[i];
			/* Whose row it is, whatever the item template says. */
			if (ri.it->unit)
				sbuf_printf(out, "【%s】", ri.it->unit);
			expand(&ri, item_template(r->t), IN_ITEM, out);
		}
		return;
	}
	default: return;
	}
}

/*
 * Substitute TMPL's placeholders.  Templates are checked when the
 * configuration loads; anything malformed that still gets here is
 * copied as it stands rather than dropped, so the reader sees it.
 */
static void expand(const struct render *r, const char *tmpl, int scope, struct sbuf *out)
{
	const char *run = tmpl, *p = tmpl;

	while (*p) {
		if ((p[0] == '{' && p[1] == '{') || (p[0] == '}' && p[1] == '}')) {
			sbuf_add(out, run, (size_t)(p - run) + 1);
			p += 2;
			run = p;
			continue;
		}
		if (*p != '{') {
			p++;
			continue;
		}
		const char *end = strpbrk(p + 1, "{}");
		int ph = end && *end == '}' ? ph_find(p + 1, (size_t)(end - p - 1)) : -1;
		if (ph < 0 || !(placeholders[ph].scope & scope)) {
			p++;
			continue;
		}
		sbuf_add(out, run, (size_t)(p - run));
		value(r, (enum ph)ph, out);
		p = end + 1;
		run = p;
	}
	sbuf_add(out, run, (size_t)(p - run));
}

void notify_render(const struct notify_templates *t, const struct notify_message *m,
		   struct sbuf *subject, struct sbuf *text)
{
	struct render r = { t, m, NULL };
	unsigned k = (unsigned)m->kind < NOTIFY_NKINDS ? (unsigned)m->kind : NOTIFY_DEAD;
	bool office = k == NOTIFY_ESCALATION && m->unit_name == NULL;
	bool several = !office && m->unit_name == NULL && default_subject_several[k];
	const char *ds = office    ? default_subject_office
			 : several ? default_subject_several[k]
				   : default_subject[k];
	const char *db = office    ? default_body_office
			 : several ? default_body_several[k]
				   : default_body[k];
	const char *st = t && t->subject[k] ? t->subject[k] : ds;
	const char *bt = t && t->body[k] ? t->body[k] : db;
	size_t from = subject->len;

	expand(&r, st, IN_MSG, subject);
	/* A subject is one header line: a title with a line break must not split it. */
	for (size_t i = from; i < subject->len; i++)
		if (subject->buf[i] == '\r' || subject->buf[i] == '\n' || subject->buf[i] == '\t')
			subject->buf[i] = ' ';
	expand(&r, bt, IN_MSG, text);
}

/* ------------------------------------------------------------------ */
/* HTML */

/* S with the characters that could open markup as references; NULL appends nothing. */
static void html_escape(struct sbuf *out, const char *s)
{
	if (s)
		sbuf_add_html(out, s, strlen(s));
}

/* Mail clients strip <style>: the little layout there is sits in attributes. */
void notify_render_html(const struct notify_message *m, const char *subject, const char *text,
			struct sbuf *out)
{
	SBUF_LIT(out, "<!DOCTYPE html>\n<html lang=\"zh-CN\">\n<head>\n<meta charset=\"UTF-8\">\n"
		      "<title>");
	html_escape(out, subject);
	SBUF_LIT(out, "</title>\n</head>\n<body>\n<h3>");
	html_escape(out, subject);
	SBUF_LIT(out, "</h3>\n<p>");
	for (const char *p = text; *p;) {
		size_t n = strcspn(p, "\r\n");
		sbuf_add_html(out, p, n);
		p += n;
		if (!*p)
			break;
		p += (p[0] == '\r' && p[1] == '\n') ? 2 : 1;
		if (*p == '\n' || *p == '\r') {
			/* A blank line ends a paragraph. */
			while (*p == '\n' || *p == '\r')
				p++;
			SBUF_LIT(out, "</p>\n<p>");
		} else if (*p) {
			SBUF_LIT(out, "<br>\n");
		}
	}
	SBUF_LIT(out, "</p>\n");
	if (m->nitems > 0) {
		int year = year_of(m->at);
		SBUF_LIT(out,
			 "<table border=\"1\" cellpadding=\"4\" cellspacing=\"0\">\n"
			 "<thead><tr><th>考核事项</th><th>编号</th><th>报送内容</th>"
			 "<th>报送至</th><th>截止时间及扣分</th><th>当前状态</th></tr></thead>\n"
			 "<tbody>\n");
		for (size_t i = 0; i < m->nitems; i++) {
			const struct notify_item *it = &m->items[i];
			struct sbuf when;
			sbuf_init(&when);
			when_text(m->kind, it, year, &when);
			SBUF_LIT(out, "<tr><td>");
			if (it->unit) {
				SBUF_LIT(out, "【");
				html_escape(out, it->unit);
				SBUF_LIT(out, "】");
			}
			html_escape(out, it->title);
			SBUF_LIT(out, "</td><td>");
			html_escape(out, it->row);
			SBUF_LIT(out, "</td><td>");
			html_escape(out, it->submit && *it->submit ? it->submit : it->title);
			SBUF_LIT(out, "</td><td>");
			html_escape(out, it->dept);
			SBUF_LIT(out, "</td><td>");
			html_escape(out, when.buf);
			SBUF_LIT(out, "</td><td>");
			html_escape(out, state_text(m->kind, it->state));
			SBUF_LIT(out, "</td></tr>\n");
			sbuf_free(&when);
		}
		SBUF_LIT(out, "</tbody>\n</table>\n");
	}
	SBUF_LIT(out, "</body>\n</html>\n");
}
