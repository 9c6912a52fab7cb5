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
#include "kaohe/report.h"

/* ------------------------------------------------------------------ */
/* names */

static const char *const kind_names[NOTIFY_NKINDS] = {
	"before", "due", "overdue", "escalation", "record", "snapshot", "dead",
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
	[NOTIFY_BEFORE] = "【考核提醒】{unit}：{count}项材料将于{due}前到期",
	[NOTIFY_DUE] = "【考核提醒】{unit}：{count}项材料今日到期",
	[NOTIFY_OVERDUE] = "【逾期提醒】{unit}：{count}项材料已逾期未报送",
	[NOTIFY_ESCALATION] = "【逾期抄送】{unit}：{count}项材料已逾期未报送",
	[NOTIFY_RECORD] = "【录入提醒】{department}：{count}项考核事项请于{due}录入",
	[NOTIFY_SNAPSHOT] = "【考核排名】{period}考核排名已生成",
	[NOTIFY_DEAD] = "【系统告警】考核通知投递失败",
};

static const char *const default_body[NOTIFY_NKINDS] = {
	[NOTIFY_BEFORE] = "{recipient}：\n\n"
			  "{unit}以下{count}项考核材料将于{due}前到期，目前尚未报送。"
			  "请按时报送，逾期将按考核方案扣分：\n\n"
			  "{items}\n\n"
			  "（本通知由考核系统于{at}自动发送，编号{delivery}。如已报送，请忽略。）",
	[NOTIFY_DUE] = "{recipient}：\n\n"
		       "{unit}以下{count}项考核材料今日（{due}）到期，目前尚未报送。"
		       "请于今日内完成报送，逾期将按考核方案扣分：\n\n"
		       "{items}\n\n"
		       "（本通知由考核系统于{at}自动发送，编号{delivery}。如已报送，请忽略。）",
	[NOTIFY_OVERDUE] = "{recipient}：\n\n"
			   "{unit}以下{count}项考核材料已超过报送期限，至今仍未报送。"
			   "请尽快补报；截止关闭时仍未报送的，将按未报送扣分：\n\n"
			   "{items}\n\n"
			   "（本通知由考核系统于{at}自动发送，编号{delivery}。如已报送，请忽略。）",
	[NOTIFY_ESCALATION] = "{recipient}：\n\n"
			      "现将{unit}考核材料逾期情况抄送如下。"
			      "以下{count}项材料已超过报送期限，至今仍未报送，"
			      "已向该单位发出逾期提醒，请督促其尽快补报：\n\n"
			      "{items}\n\n"
			      "（本抄送由考核系统于{at}自动发送，编号{delivery}。"
			      "如该单位已补报，请忽略。）",
	[NOTIFY_RECORD] = "{recipient}：\n\n"
			  "请{department}于{due}录入以下{count}项考核事项的检查结果或指标数据，"
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
	"已向各单位发出逾期提醒，请督促其尽快补报：\n\n"
	"{items}\n\n"
	"（本抄送由考核系统于{at}自动发送，编号{delivery}。"
	"如相关单位已补报，请忽略。）";

static const char default_item[] = "- {title}（第{row}项，{due}到期）：{state}；{stake}";

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
	/* In a message, the earliest due day of its items: a subject names one day. */
	[PH_DUE] = { "due", IN_MSG | IN_ITEM },
	[PH_SEQ] = { "seq", IN_ITEM },
	[PH_ROW] = { "row", IN_ITEM },
	[PH_OCCURRENCE] = { "occurrence", IN_ITEM },
	[PH_TITLE] = { "title", IN_ITEM },
	[PH_DEADLINE] = { "deadline", IN_ITEM },
	[PH_CLOSE] = { "close", IN_ITEM },
	[PH_LATE] = { "late", IN_ITEM },
	[PH_MISSING] = { "missing", IN_ITEM },
	[PH_STAKE] = { "stake", IN_ITEM },
	[PH_STATE] = { "state", IN_ITEM },
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
		report_points_text(sb, it->late);
		SBUF_LIT(sb, "分");
	} else {
		SBUF_LIT(sb, "逾期不扣分");
	}
	if (it->missing > 0) {
		SBUF_LIT(sb, "，未报送扣");
		report_points_text(sb, it->missing);
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

/* The earliest due day of M's items ("YYYY-MM-DD" sorts as text). */
static const char *first_due(const struct notify_message *m)
{
	const char *d = NULL;
	for (size_t i = 0; i < m->nitems; i++)
		if (m->items[i].due && (!d || strcmp(m->items[i].due, d) < 0))
			d = m->items[i].due;
	return d;
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

static void value(const struct render *r, enum ph ph, struct sbuf *out)
{
	const struct notify_message *m = r->m;
	const struct notify_item *it = r->it;

	if (it) {
		switch (ph) {
		case PH_SEQ: puts0(out, it->seq); return;
		case PH_ROW: puts0(out, it->row); return;
		case PH_OCCURRENCE: puts0(out, it->occ); return;
		case PH_TITLE: puts0(out, it->title); return;
		case PH_DEPARTMENT: puts0(out, it->dept); return;
		case PH_DUE: puts0(out, it->due); return;
		case PH_DEADLINE: puts0(out, it->deadline); return;
		case PH_CLOSE: puts0(out, it->close); return;
		case PH_LATE: report_points_text(out, it->late); return;
		case PH_MISSING: report_points_text(out, it->missing); return;
		case PH_STAKE: stake_text(it, out); return;
		case PH_STATE: sbuf_puts(out, state_text(m->kind, it->state)); return;
		default: return;
		}
	}
	switch (ph) {
	case PH_RECIPIENT: puts0(out, m->recipient); return;
	case PH_UNIT: puts0(out, m->unit_name); return;
	case PH_UNIT_ID: puts0(out, m->unit_id); return;
	case PH_DEPARTMENT: puts0(out, m->dept_name); return;
	case PH_COUNT: sbuf_printf(out, "%zu", m->nitems); return;
	case PH_AT: notify_at(m, out); return;
	case PH_PERIOD: puts0(out, m->period); return;
	case PH_DETAIL: puts0(out, m->detail); return;
	case PH_DELIVERY: sbuf_printf(out, "%lld", (long long)m->id); return;
	case PH_MENTIONS: notify_mentions(m, out); return;
	case PH_DUE: puts0(out, first_due(m)); return;
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
	const char *ds = office ? default_subject_office : default_subject[k];
	const char *db = office ? default_body_office : default_body[k];
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
		SBUF_LIT(out, "<table border=\"1\" cellpadding=\"4\" cellspacing=\"0\">\n"
			      "<thead><tr><th>考核事项</th><th>编号</th><th>到期日</th>"
			      "<th>扣分标准</th><th>当前状态</th></tr></thead>\n<tbody>\n");
		for (size_t i = 0; i < m->nitems; i++) {
			const struct notify_item *it = &m->items[i];
			struct sbuf stake;
			sbuf_init(&stake);
			stake_text(it, &stake);
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
			html_escape(out, it->due);
			SBUF_LIT(out, "</td><td>");
			html_escape(out, stake.buf);
			SBUF_LIT(out, "</td><td>");
			html_escape(out, state_text(m->kind, it->state));
			SBUF_LIT(out, "</td></tr>\n");
			sbuf_free(&stake);
		}
		SBUF_LIT(out, "</tbody>\n</table>\n");
	}
	SBUF_LIT(out, "</body>\n</html>\n");
}
