/*
 * notify — the words and the wire formats of every message kaohed sends.
 * Templates turn a message into a subject and a text; the channel
 * builders wrap those into an email or a webhook body; notify_classify
 * reads the answer.  Nothing here does I/O or reads a clock.
 *
 * The generic webhook's body (one JSON object, compact, keys in this
 * order; POSTed with X-Kaohe-Signature: sha256=HEX, the HMAC-SHA256 keyed
 * by the channel's secret of "<timestamp>.<body>"):
 *
 *   {
 *     "delivery": 42,                  the delivery id: the idempotency key
 *     "kind": "before",                before, due, overdue, escalation,
 *                                      record, snapshot or dead
 *     "at": "2020-12-03T09:00:00+08:00",  when the message became due
 *     "recipient": "八一路街道联络员",  the display name it is addressed to
 *     "unit": {"id": "bayilu", "name": "八一路"},        or null (an
 *                                      office's escalation digest of
 *                                      several units: each item names its)
 *     "department": {"id": "zjj", "name": "区住建局"},   or null
 *     "period": "2020-Q3",             snapshot only, else null
 *     "detail": "…",                   snapshot: the ranking; dead: what
 *                                      failed; else null
 *     "items": [                       the occurrences, in digest order
 *       {
 *         "occurrence": "7d@2020-12-10",
 *         "unit": "八一路",            the unit's name when the message
 *                                      lists several units' rows, else null
 *         "row": "7d",
 *         "seq": "7",                  the seed's 序号, or null
 *         "title": "…",                the row's 考核内容
 *         "department": "区住建局",    the owning department
 *         "due": "2020-12-10",
 *         "deadline": "2020-12-11T00:00:00+08:00",
 *         "close": "2020-12-26T00:00:00+08:00",
 *         "state": "pending",          pending, on-time, late, overdue, missing
 *         "late": 0.5,                 points deducted if late
 *         "missing": 1                 points deducted if never submitted
 *       }
 *     ],
 *     "subject": "…", "text": "…",     the rendered message
 *     "mentions": ["13800000000"]      mobiles to notify
 *   }
 *
 * Points are JSON numbers printed exactly (an integer when whole, else
 * at most two decimals); strings are UTF-8; absent strings are null.
 */
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "kaohe/calendar.h"
#include "kaohe/notify.h"
#include "kaohe/report.h"

/* ------------------------------------------------------------------ */
/* names */

static const char *const kind_names[NOTIFY_NKINDS] = {
	"before", "due", "overdue", "escalation", "record", "snapshot", "dead",
};

static const char *const channel_names[] = {
	"email", "generic", "wecom", "dingtalk", "feishu",
};
#define NCHANNELS (sizeof(channel_names) / sizeof(channel_names[0]))

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

const char *notify_channel_name(enum channel_type t)
{
	return (unsigned)t < NCHANNELS ? channel_names[t] : "?";
}

int notify_channel_find(const char *s)
{
	for (size_t i = 0; s && i < NCHANNELS; i++)
		if (strcmp(s, channel_names[i]) == 0)
			return (int)i;
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

#define IN_MSG 1
#define IN_ITEM 2

enum ph {
	PH_RECIPIENT, PH_UNIT, PH_UNIT_ID, PH_DEPARTMENT, PH_COUNT, PH_ITEMS, PH_AT,
	PH_PERIOD, PH_DETAIL, PH_DELIVERY, PH_MENTIONS, PH_DUE,
	PH_SEQ, PH_ROW, PH_OCCURRENCE, PH_TITLE, PH_DEADLINE, PH_CLOSE, PH_LATE,
	PH_MISSING, PH_STAKE, PH_STATE,
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

static void add_mentions(const struct notify_message *m, struct sbuf *out)
{
	for (size_t i = 0; i < m->nmobiles; i++) {
		if (i)
			SBUF_LIT(out, " ");
		SBUF_LIT(out, "@");
		puts0(out, m->mobiles[i]);
	}
}

static void add_at(const struct notify_message *m, struct sbuf *out)
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
	case PH_AT: add_at(m, out); return;
	case PH_PERIOD: puts0(out, m->period); return;
	case PH_DETAIL: puts0(out, m->detail); return;
	case PH_DELIVERY: sbuf_printf(out, "%lld", (long long)m->id); return;
	case PH_MENTIONS: add_mentions(m, out); return;
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
/* crypto helpers */

static void hmac_sha256(const void *key, size_t klen, const void *msg, size_t mlen,
			unsigned char out[32])
{
	unsigned int n = 32;
	/* Only without SHA-256 in libcrypto: a signature that fails, not stack garbage. */
	if (!HMAC(EVP_sha256(), key, (int)klen, msg, mlen, out, &n))
		memset(out, 0, 32);
}

/* Append the base64 of LEN bytes of S, on one line. */
static void add_base64(struct sbuf *sb, const void *s, size_t len)
{
	size_t need = 4 * ((len + 2) / 3);
	sbuf_grow(sb, need + 1);
	EVP_EncodeBlock((unsigned char *)sb->buf + sb->len, s, (int)len);
	sb->len += need;
	sb->buf[sb->len] = '\0';
}

/* ------------------------------------------------------------------ */
/* email */

int notify_address_parse(const char *s, char *name, size_t namelen, char *addr, size_t addrlen)
{
	const char *lt, *gt, *a, *ae, *n = s, *ne;

	if (!s || !namelen || !addrlen)
		return -1;
	/* A line break would let the value write headers of its own. */
	for (const char *p = s; *p; p++)
		if ((unsigned char)*p < 0x20 && *p != '\t')
			return -1;
	while (*n == ' ' || *n == '\t')
		n++;
	lt = strrchr(n, '<');
	if (lt) {
		gt = strchr(lt, '>');
		if (!gt)
			return -1;
		for (const char *p = gt + 1; *p; p++)
			if (*p != ' ' && *p != '\t')
				return -1;
		a = lt + 1, ae = gt;
		ne = lt;
	} else {
		a = n, ae = n + strlen(n);
		while (ae > a && (ae[-1] == ' ' || ae[-1] == '\t'))
			ae--;
		ne = n;
	}
	while (ne > n && (ne[-1] == ' ' || ne[-1] == '\t'))
		ne--;

	/* The address: local@domain, printable ASCII without what would break <…>. */
	const char *at = NULL;
	if (ae == a)
		return -1;
	for (const char *p = a; p < ae; p++) {
		unsigned char c = (unsigned char)*p;
		if (c <= ' ' || c >= 0x7f || strchr("<>\"(),;:\\[]", c))
			return -1;
		if (c == '@')
			at = p;
	}
	if (!at || at == a || at + 1 == ae || memchr(a, '@', (size_t)(at - a)))
		return -1;
	if ((size_t)(ae - a) >= addrlen)
		return -1;
	memcpy(addr, a, (size_t)(ae - a));
	addr[ae - a] = '\0';

	/* The display name, unquoted if it was a quoted-string. */
	size_t o = 0;
	if (ne - n >= 2 && *n == '"' && ne[-1] == '"') {
		for (const char *p = n + 1; p < ne - 1; p++) {
			if (*p == '\\' && p + 1 < ne - 1)
				p++;
			else if (*p == '"')
				return -1;
			if (o + 1 >= namelen)
				return -1;
			name[o++] = *p;
		}
	} else {
		/* A stray quote is a quoted-string gone wrong: better refused than guessed. */
		if ((size_t)(ne - n) >= namelen || memchr(n, '<', (size_t)(ne - n)) ||
		    memchr(n, '>', (size_t)(ne - n)) || memchr(n, '"', (size_t)(ne - n)))
			return -1;
		memcpy(name, n, (size_t)(ne - n));
		o = (size_t)(ne - n);
	}
	name[o] = '\0';
	return util_utf8_valid(name, o) ? 0 : -1;
}

/*
 * Header lines that carry encoded-words may not exceed 76 characters
 * (RFC 2047 section 2); the plain ones keep to RFC 5322's 78.
 */
#define HDR_EW_LINE 76
#define HDR_LINE 78
/* "=?UTF-8?B?" and "?=" around the base64 of one encoded-word. */
#define EW_OVERHEAD 12
#define EW_MAX 75

struct hdr {
	struct sbuf *out;
	size_t col; /* characters on the current line */
};

static void hdr_start(struct hdr *h, struct sbuf *out, const char *name)
{
	h->out = out;
	sbuf_puts(out, name);
	SBUF_LIT(out, ":");
	h->col = strlen(name) + 1;
}

/* One token, after a space or, when the line would grow past LIMIT, a fold. */
static void hdr_token(struct hdr *h, const char *tok, size_t len, size_t limit)
{
	if (h->col + 1 + len > limit && h->col > 1) {
		SBUF_LIT(h->out, "\r\n ");
		h->col = 1;
	} else {
		SBUF_LIT(h->out, " ");
		h->col++;
	}
	sbuf_add(h->out, tok, len);
	h->col += len;
}

static void hdr_end(struct hdr *h)
{
	SBUF_LIT(h->out, "\r\n");
}

/*
 * S as UTF-8 "B" encoded-words.  Each word holds whole characters, so
 * that it decodes to valid UTF-8 on its own (RFC 2047 section 5: a
 * character may not be split between words), and fits in what is left
 * of the line, else starts a new one.
 */
static void hdr_encoded(struct hdr *h, const char *s, size_t len)
{
	char word[EW_MAX + 1];

	while (len > 0) {
		size_t room = h->col + 1 < HDR_EW_LINE ? HDR_EW_LINE - h->col - 1 : 0;
		if (room > EW_MAX)
			room = EW_MAX;
		size_t raw = room > EW_OVERHEAD ? (room - EW_OVERHEAD) / 4 * 3 : 0;
		size_t take = util_utf8_trim(s, raw < len ? raw : len);
		if (take == 0 && h->col > 1) {
			/* Not one character fits on this line: fold and retry. */
			SBUF_LIT(h->out, "\r\n");
			h->col = 0;
			continue;
		}
		if (take == 0) /* not UTF-8 after all: split bytes rather than loop */
			take = raw < len ? raw : len;
		size_t n = 10;
		memcpy(word, "=?UTF-8?B?", 10);
		n += (size_t)EVP_EncodeBlock((unsigned char *)word + n, (const unsigned char *)s,
					     (int)take);
		memcpy(word + n, "?=", 2);
		n += 2;
		hdr_token(h, word, n, HDR_EW_LINE);
		s += take;
		len -= take;
	}
}

/* Printable ASCII only. */
static bool printable(const char *s)
{
	for (const char *p = s; *p; p++)
		if ((unsigned char)*p < 0x20 || (unsigned char)*p >= 0x7f)
			return false;
	return true;
}

/* An unstructured header value (Subject): words folded at spaces, or encoded-words. */
static void hdr_unstructured(struct hdr *h, const char *s)
{
	/* "=?" in plain text would be taken for the start of an encoded-word. */
	bool plain = printable(s) && !strstr(s, "=?");
	/* A word too long to fold would overrun the line: encode it instead. */
	for (const char *p = s; plain && *p;) {
		size_t w = strcspn(p, " ");
		if (w > HDR_LINE - 12)
			plain = false;
		p += w;
		p += strspn(p, " ");
	}
	if (!plain) {
		hdr_encoded(h, s, strlen(s));
		return;
	}
	/*
	 * hdr_token() puts one space (or a fold and a space) before each
	 * word; a run of spaces keeps the rest in front of its word, so that
	 * unfolding gives back the subject exactly.
	 */
	for (const char *p = s; *p;) {
		const char *w = p + strspn(p, " ");
		if (!*w)
			break;
		const char *start = p == s ? p : p + 1;
		const char *we = w + strcspn(w, " ");
		hdr_token(h, start, (size_t)(we - start), HDR_LINE);
		p = we;
	}
}

/* RFC 5322 atext, plus single spaces between the atoms of a phrase. */
static bool phrase_atoms(const char *s)
{
	if (!*s || *s == ' ' || s[strlen(s) - 1] == ' ' || strstr(s, "  ") || strstr(s, "=?"))
		return false;
	for (const char *p = s; *p; p++)
		if (!isalnum((unsigned char)*p) && !strchr("!#$%&'*+-/=?^_`{|}~ ", *p))
			return false;
	return true;
}

/* "Name <addr>": the name as atoms, a quoted-string or encoded-words. */
static void hdr_mailbox(struct hdr *h, const char *name, const char *addr)
{
	struct sbuf q;

	sbuf_init(&q);
	if (name && *name && !printable(name)) {
		hdr_encoded(h, name, strlen(name));
	} else if (name && *name) {
		if (phrase_atoms(name)) {
			sbuf_puts(&q, name);
		} else {
			SBUF_LIT(&q, "\"");
			for (const char *p = name; *p; p++) {
				if (*p == '"' || *p == '\\')
					SBUF_LIT(&q, "\\");
				sbuf_add(&q, p, 1);
			}
			SBUF_LIT(&q, "\"");
		}
		hdr_token(h, q.buf, q.len, HDR_LINE);
	}
	sbuf_free(&q);
	sbuf_init(&q);
	sbuf_printf(&q, "<%s>", addr);
	hdr_token(h, q.buf, q.len, HDR_EW_LINE);
	sbuf_free(&q);
}

/* Text with every line end as CRLF, the canonical form of a MIME text part. */
static void crlf(struct sbuf *out, const char *s)
{
	const char *run = s;
	for (; *s; s++) {
		if (*s != '\n' && *s != '\r')
			continue;
		sbuf_add(out, run, (size_t)(s - run));
		SBUF_LIT(out, "\r\n");
		if (*s == '\r' && s[1] == '\n')
			s++;
		run = s + 1;
	}
	sbuf_add(out, run, (size_t)(s - run));
}

/* The base64 of S's canonical form in lines of 76 (RFC 2045 section 6.8). */
static void add_body_base64(struct sbuf *out, const char *s)
{
	struct sbuf c, b;

	sbuf_init(&c);
	sbuf_init(&b);
	crlf(&c, s);
	add_base64(&b, c.buf, c.len);
	for (size_t i = 0; i < b.len; i += 76) {
		sbuf_add(out, b.buf + i, b.len - i < 76 ? b.len - i : 76);
		SBUF_LIT(out, "\r\n");
	}
	sbuf_free(&c);
	sbuf_free(&b);
}

/* S with the characters that could open markup as references; NULL appends nothing. */
static void html_escape(struct sbuf *out, const char *s)
{
	if (s)
		sbuf_add_html(out, s, strlen(s));
}

/*
 * The HTML alternative: the text's paragraphs, then the items as a
 * table, every value escaped.  Mail clients strip <style>, so the little
 * layout there is sits in attributes.
 */
static void html_doc(const struct notify_message *m, const char *subject, const char *text,
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

/* A Message-ID's right-hand side must be a dot-atom; anything else becomes "localhost". */
static const char *msgid_host(const char *host)
{
	if (!host || !*host)
		return "localhost";
	for (const char *p = host; *p; p++)
		if (!isalnum((unsigned char)*p) && *p != '.' && *p != '-' && *p != '_')
			return "localhost";
	return host;
}

int notify_email(const struct notify_email *e, const struct notify_message *m, const char *subject,
		 const char *text, struct sbuf *out)
{
	static const char *const wday[] = { "Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat" };
	static const char *const mon[] = { "Jan", "Feb", "Mar", "Apr", "May", "Jun",
					   "Jul", "Aug", "Sep", "Oct", "Nov", "Dec" };
	char fname[256], faddr[256], tname[256], taddr[256];
	struct hdr h;
	struct tm tm;
	time_t now = (time_t)e->now;

	if (!e->from || !e->to_addr || !subject || !text)
		return -1;
	if (notify_address_parse(e->from, fname, sizeof(fname), faddr, sizeof(faddr)) < 0)
		return -1;
	/* The recipient's address as configured must be a bare address. */
	if (notify_address_parse(e->to_addr, tname, sizeof(tname), taddr, sizeof(taddr)) < 0 ||
	    tname[0] || strchr(e->to_addr, '<'))
		return -1;
	if (e->to_name &&
	    (strpbrk(e->to_name, "\r\n") || !util_utf8_valid(e->to_name, strlen(e->to_name))))
		return -1;
	if (!util_utf8_valid(subject, strlen(subject)) || !util_utf8_valid(text, strlen(text)))
		return -1;
	if (!localtime_r(&now, &tm))
		return -1;

	hdr_start(&h, out, "From");
	hdr_mailbox(&h, fname, faddr);
	hdr_end(&h);
	hdr_start(&h, out, "To");
	hdr_mailbox(&h, e->to_name, taddr);
	hdr_end(&h);

	/* The subject as one line, whatever the caller handed in. */
	char *subj = xstrdup(subject);
	for (char *p = subj; *p; p++)
		if (*p == '\r' || *p == '\n' || *p == '\t')
			*p = ' ';
	hdr_start(&h, out, "Subject");
	hdr_unstructured(&h, subj);
	hdr_end(&h);
	free(subj);

	long off = tm.tm_gmtoff;
	sbuf_printf(out, "Date: %s, %02d %s %04d %02d:%02d:%02d %c%02ld%02ld\r\n", wday[tm.tm_wday],
		    tm.tm_mday, mon[tm.tm_mon], tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec,
		    off < 0 ? '-' : '+', labs(off) / 3600, labs(off) / 60 % 60);
	sbuf_printf(out, "Message-ID: <kaohe.%lld.%lld@%s>\r\n", (long long)m->id,
		    (long long)e->now, msgid_host(e->hostname));
	sbuf_printf(out, "X-Kaohe-Delivery: %lld\r\n", (long long)m->id);
	/* RFC 3834: no vacation replies to a robot. */
	SBUF_LIT(out, "Auto-Submitted: auto-generated\r\n");
	SBUF_LIT(out, "MIME-Version: 1.0\r\n");

	/*
	 * "=_" never occurs in base64 ('=' only pads the very end), so the
	 * boundary cannot collide with the encoded parts; it is derived from
	 * the delivery so that a retry sends byte-identical mail.
	 */
	char boundary[80];
	snprintf(boundary, sizeof(boundary), "=_kaohe_%lld_%lld", (long long)m->id,
		 (long long)e->now);
	sbuf_printf(out, "Content-Type: multipart/alternative;\r\n boundary=\"%s\"\r\n\r\n",
		    boundary);
	SBUF_LIT(out, "This is a MIME message.\r\n\r\n");

	sbuf_printf(out, "--%s\r\n", boundary);
	SBUF_LIT(out, "Content-Type: text/plain; charset=UTF-8\r\n"
		      "Content-Transfer-Encoding: base64\r\n\r\n");
	add_body_base64(out, text);

	struct sbuf html;
	sbuf_init(&html);
	html_doc(m, subject, text, &html);
	sbuf_printf(out, "\r\n--%s\r\n", boundary);
	SBUF_LIT(out, "Content-Type: text/html; charset=UTF-8\r\n"
		      "Content-Transfer-Encoding: base64\r\n\r\n");
	add_body_base64(out, html.buf);
	sbuf_free(&html);
	sbuf_printf(out, "\r\n--%s--\r\n", boundary);
	return 0;
}

/* ------------------------------------------------------------------ */
/* JSON bodies */

/* S as a JSON string, null when absent; NULL (an error) when not UTF-8. */
static json_t *jstr(const char *s)
{
	return s ? json_string(s) : json_null();
}

/*
 * Append J to BODY, compact and in insertion order, and drop it.  BAD
 * says a member could not be set (a string not UTF-8): then J is only
 * dropped, and the answer is -1.
 */
static int dump(json_t *j, int bad, struct sbuf *body)
{
	if (bad) {
		json_decref(j);
		return -1;
	}
	char *s = report_dump(j);
	json_decref(j);
	if (!s)
		return -1;
	sbuf_puts(body, s);
	free(s);
	return 0;
}

static json_t *mobiles_array(const struct notify_message *m, int *bad)
{
	json_t *a = json_array();
	for (size_t i = 0; i < m->nmobiles; i++)
		*bad |= json_array_append_new(a, jstr(m->mobiles[i] ? m->mobiles[i] : ""));
	return a;
}

/* ,"KEY":"S" (or null), S escaped as JSON. */
static void json_member(struct sbuf *b, const char *key, const char *s)
{
	sbuf_printf(b, ",\"%s\":", key);
	if (s)
		report_json_string(b, s);
	else
		SBUF_LIT(b, "null");
}

static void json_ref(struct sbuf *b, const char *key, const char *id, const char *name)
{
	sbuf_printf(b, ",\"%s\":", key);
	if (!id && !name) {
		SBUF_LIT(b, "null");
		return;
	}
	SBUF_LIT(b, "{\"id\":");
	id ? report_json_string(b, id) : SBUF_LIT(b, "null");
	SBUF_LIT(b, ",\"name\":");
	name ? report_json_string(b, name) : SBUF_LIT(b, "null");
	SBUF_LIT(b, "}");
}

/*
 * Written as text rather than through a JSON tree: a burst of reminders
 * builds one of these per delivery, and the tree costs more than the
 * sending.  Every string goes through the JSON escaper.
 */
int notify_generic(const struct notify_message *m, const char *subject, const char *text,
		   struct sbuf *body)
{
	struct sbuf at;
	size_t start = body->len;

	sbuf_init(&at);
	add_at(m, &at);
	sbuf_printf(body, "{\"delivery\":%lld", (long long)m->id);
	json_member(body, "kind", notify_kind_name(m->kind));
	json_member(body, "at", at.buf);
	json_member(body, "recipient", m->recipient);
	json_ref(body, "unit", m->unit_id, m->unit_name);
	json_ref(body, "department", m->dept_id, m->dept_name);
	json_member(body, "period", m->period);
	json_member(body, "detail", m->detail);
	SBUF_LIT(body, ",\"items\":[");
	for (size_t i = 0; i < m->nitems; i++) {
		const struct notify_item *it = &m->items[i];
		SBUF_LIT(body, "{\"occurrence\":");
		it->occ ? report_json_string(body, it->occ) : SBUF_LIT(body, "null");
		json_member(body, "unit", it->unit);
		json_member(body, "row", it->row);
		json_member(body, "seq", it->seq);
		json_member(body, "title", it->title);
		json_member(body, "department", it->dept);
		json_member(body, "due", it->due);
		json_member(body, "deadline", it->deadline);
		json_member(body, "close", it->close);
		json_member(body, "state", it->state);
		SBUF_LIT(body, ",\"late\":");
		report_points_text(body, it->late);
		SBUF_LIT(body, ",\"missing\":");
		report_points_text(body, it->missing);
		SBUF_LIT(body, "}");
		if (i + 1 < m->nitems)
			SBUF_LIT(body, ",");
	}
	SBUF_LIT(body, "]");
	json_member(body, "subject", subject);
	json_member(body, "text", text);
	SBUF_LIT(body, ",\"mentions\":[");
	for (size_t i = 0; i < m->nmobiles; i++) {
		if (i)
			SBUF_LIT(body, ",");
		report_json_string(body, m->mobiles[i] ? m->mobiles[i] : "");
	}
	SBUF_LIT(body, "]}");
	sbuf_free(&at);
	/* JSON is text: a string that is not UTF-8 cannot be sent.  The
	 * plan's strings were checked when the configuration was read; what
	 * the templates made is checked here. */
	if (!util_utf8_valid(subject, strlen(subject)) || !util_utf8_valid(text, strlen(text)) ||
	    (m->detail && !util_utf8_valid(m->detail, strlen(m->detail)))) {
		body->len = start;
		body->buf[start] = '\0';
		return -1;
	}
	return 0;
}

void notify_generic_signature(const char *secret, int64_t timestamp, const char *body, size_t len,
			      char out[72])
{
	static const char hex[] = "0123456789abcdef";
	unsigned char mac[32];
	struct sbuf msg;

	sbuf_init(&msg);
	sbuf_printf(&msg, "%lld.", (long long)timestamp);
	if (len)
		sbuf_add(&msg, body, len);
	hmac_sha256(secret ? secret : "", secret ? strlen(secret) : 0, msg.buf, msg.len, mac);
	sbuf_free(&msg);
	memcpy(out, "sha256=", 7);
	for (int i = 0; i < 32; i++) {
		out[7 + 2 * i] = hex[mac[i] >> 4];
		out[8 + 2 * i] = hex[mac[i] & 15];
	}
	out[71] = '\0';
}

/* ------------------------------------------------------------------ */
/* chat robots */

static const char cut_marker[] = "\n……（内容过长，已截断）";

/* Append TEXT without its trailing line ends: the robots add their own lines after it. */
static void add_trimmed(struct sbuf *out, const char *text)
{
	size_t n = strlen(text);
	while (n > 0 && (text[n - 1] == '\n' || text[n - 1] == '\r'))
		n--;
	sbuf_add(out, text, n);
}

/* A robot's plain text: SUBJECT on a line of its own, then TEXT. */
static void add_subject_text(struct sbuf *out, const char *subject, const char *text)
{
	sbuf_puts(out, subject);
	SBUF_LIT(out, "\n");
	add_trimmed(out, text);
}

/* A line of "@mobile" mentions after the text, when there is anyone to mention. */
static void add_mentions_line(const struct notify_message *m, struct sbuf *out)
{
	if (m->nmobiles) {
		SBUF_LIT(out, "\n");
		add_mentions(m, out);
	}
}

/*
 * HEAD then TAIL in at most LIMIT bytes.  The tail (who is mentioned)
 * always survives; when the head is too long it is cut on a character
 * boundary and the cut is marked, the marker counted in the limit.
 */
static void fit(struct sbuf *out, const struct sbuf *head, const struct sbuf *tail, size_t limit)
{
	size_t mark = sizeof(cut_marker) - 1;

	if (head->len + tail->len <= limit) {
		sbuf_add(out, head->buf, head->len);
		sbuf_add(out, tail->buf, tail->len);
		return;
	}
	if (mark + tail->len > limit) {
		/* Only mentions so many that nothing else fits: keep what fits of them. */
		sbuf_add(out, tail->buf, util_utf8_trim(tail->buf, limit));
		return;
	}
	size_t keep = util_utf8_trim(head->buf, limit - mark - tail->len);
	sbuf_add(out, head->buf, keep);
	sbuf_add(out, cut_marker, mark);
	sbuf_add(out, tail->buf, tail->len);
}

/*
 * WeCom's markdown documents no escape syntax, so characters that would
 * start markup (*bold*, `code`, [links], <font>/<@mention> tags, "> "
 * quotes, "# " headings at a line start) become their full-width forms,
 * which Chinese text uses anyway and which read the same.
 */
static void md_escape(struct sbuf *out, const char *s)
{
	bool bol = true;
	for (; *s; s++) {
		switch (*s) {
		case '*': SBUF_LIT(out, "＊"); break;
		case '`': SBUF_LIT(out, "｀"); break;
		case '[': SBUF_LIT(out, "［"); break;
		case ']': SBUF_LIT(out, "］"); break;
		case '<': SBUF_LIT(out, "＜"); break;
		case '>': SBUF_LIT(out, "＞"); break;
		case '#':
			if (bol)
				SBUF_LIT(out, "＃");
			else
				SBUF_LIT(out, "#");
			break;
		default: sbuf_add(out, s, 1);
		}
		if (*s == '\n')
			bol = true;
		else if (*s != ' ' && *s != '\t')
			bol = false;
	}
}

#define WECOM_TEXT_MAX 2048
#define WECOM_MARKDOWN_MAX 4096

int notify_wecom(bool markdown, const struct notify_message *m, const char *subject,
		 const char *text, struct sbuf *body)
{
	struct sbuf head, tail, content;
	json_t *o = json_object(), *inner = json_object();
	int bad = 0;

	sbuf_init(&head);
	sbuf_init(&tail);
	sbuf_init(&content);
	if (markdown) {
		struct sbuf t;
		sbuf_init(&t);
		add_trimmed(&t, text);
		SBUF_LIT(&head, "**");
		md_escape(&head, subject);
		SBUF_LIT(&head, "**\n");
		md_escape(&head, t.buf);
		sbuf_free(&t);
		/* Markdown cannot mention by mobile: the numbers are at least shown. */
		add_mentions_line(m, &tail);
		fit(&content, &head, &tail, WECOM_MARKDOWN_MAX);
	} else {
		add_subject_text(&head, subject, text);
		fit(&content, &head, &tail, WECOM_TEXT_MAX);
	}
	bad |= json_object_set_new(o, "msgtype", json_string(markdown ? "markdown" : "text"));
	bad |= json_object_set_new(inner, "content", json_string(content.buf));
	if (!markdown)
		bad |= json_object_set_new(inner, "mentioned_mobile_list", mobiles_array(m, &bad));
	bad |= json_object_set_new(o, markdown ? "markdown" : "text", inner);
	sbuf_free(&head);
	sbuf_free(&tail);
	sbuf_free(&content);
	return dump(o, bad, body);
}

/* DingTalk's documented limit on a text message's content. */
#define DINGTALK_TEXT_MAX 20000

int notify_dingtalk(const struct notify_message *m, const char *subject, const char *text,
		    struct sbuf *body)
{
	struct sbuf head, tail, content;
	json_t *o = json_object(), *t = json_object(), *at = json_object();
	int bad = 0;

	sbuf_init(&head);
	sbuf_init(&tail);
	sbuf_init(&content);
	add_subject_text(&head, subject, text);
	/* DingTalk highlights a mention only where "@mobile" stands in the text. */
	add_mentions_line(m, &tail);
	fit(&content, &head, &tail, DINGTALK_TEXT_MAX);
	bad |= json_object_set_new(o, "msgtype", json_string("text"));
	bad |= json_object_set_new(t, "content", json_string(content.buf));
	bad |= json_object_set_new(o, "text", t);
	bad |= json_object_set_new(at, "atMobiles", mobiles_array(m, &bad));
	bad |= json_object_set_new(at, "isAtAll", json_false());
	bad |= json_object_set_new(o, "at", at);
	sbuf_free(&head);
	sbuf_free(&tail);
	sbuf_free(&content);
	return dump(o, bad, body);
}

static void url_encode(struct sbuf *out, const char *s)
{
	static const char hex[] = "0123456789ABCDEF";
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		if (isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
			sbuf_add(out, s, 1);
		} else {
			char e[3] = { '%', hex[c >> 4], hex[c & 15] };
			sbuf_add(out, e, 3);
		}
	}
}

void notify_dingtalk_url(const char *url, const char *secret, int64_t now_ms, struct sbuf *out)
{
	unsigned char mac[32];
	struct sbuf msg, sign;

	sbuf_puts(out, url);
	if (!secret || !*secret)
		return;
	sbuf_init(&msg);
	sbuf_init(&sign);
	sbuf_printf(&msg, "%lld\n%s", (long long)now_ms, secret);
	hmac_sha256(secret, strlen(secret), msg.buf, msg.len, mac);
	add_base64(&sign, mac, sizeof(mac));
	size_t n = strlen(url);
	if (!strchr(url, '?'))
		SBUF_LIT(out, "?");
	else if (n && url[n - 1] != '?' && url[n - 1] != '&')
		SBUF_LIT(out, "&");
	sbuf_printf(out, "timestamp=%lld&sign=", (long long)now_ms);
	url_encode(out, sign.buf);
	sbuf_free(&msg);
	sbuf_free(&sign);
}

/*
 * Feishu refuses a request body over 20 KB (its custom bot guide,
 * "注意事项").  The content is cut so that the body, JSON escapes and
 * signature included, stays under that.
 */
#define FEISHU_BODY_MAX 20000

/*
 * Feishu's signature.  Its own guide (open.feishu.cn, 自定义机器人使用指南,
 * also served as open.larkoffice.com/document/ukTMukTMukTM/ucTM5YjL3ETO24yNxkjN,
 * section 签名校验) says: take timestamp + "\n" + secret as the string to
 * sign, compute HmacSHA256, then Base64; its Go and Python samples make
 * that string the HMAC *key* and sign an empty message.  Gitea's fix
 * (PR #34788, "based on Feishu's official Go sample code") and the bot
 * libraries that cite the guide do the same; posts that key the HMAC by
 * the secret, as DingTalk does, report error 19021 (sign match fail).
 */
static void feishu_sign(const char *secret, int64_t now, struct sbuf *out)
{
	unsigned char mac[32];
	struct sbuf key;

	sbuf_init(&key);
	sbuf_printf(&key, "%lld\n%s", (long long)now, secret);
	hmac_sha256(key.buf, key.len, "", 0, mac);
	add_base64(out, mac, sizeof(mac));
	sbuf_free(&key);
}

static int feishu_body(const struct sbuf *head, const struct sbuf *tail, size_t limit,
		       const char *secret, int64_t now, struct sbuf *body)
{
	struct sbuf content;
	json_t *o = json_object(), *c = json_object();
	int bad = 0;

	sbuf_init(&content);
	fit(&content, head, tail, limit);
	if (secret && *secret) {
		struct sbuf sign;
		sbuf_init(&sign);
		feishu_sign(secret, now, &sign);
		/* A string: the guide's samples send the seconds quoted. */
		char ts[24];
		snprintf(ts, sizeof(ts), "%lld", (long long)now);
		bad |= json_object_set_new(o, "timestamp", json_string(ts));
		bad |= json_object_set_new(o, "sign", json_string(sign.buf));
		sbuf_free(&sign);
	}
	bad |= json_object_set_new(o, "msg_type", json_string("text"));
	bad |= json_object_set_new(c, "text", json_string(content.buf));
	bad |= json_object_set_new(o, "content", c);
	sbuf_free(&content);
	return dump(o, bad, body);
}

int notify_feishu(const struct notify_message *m, const char *subject, const char *text,
		  const char *secret, int64_t now, struct sbuf *body)
{
	struct sbuf head, tail, try;
	size_t limit = FEISHU_BODY_MAX - 200;
	int rc = -1;

	sbuf_init(&head);
	sbuf_init(&tail);
	add_subject_text(&head, subject, text);
	/* A text message mentions by user id only; the mobiles at least name who is meant. */
	add_mentions_line(m, &tail);
	/* Escapes can only grow the body: shrink the content by the excess until it fits. */
	for (int tries = 0; tries < 8; tries++) {
		sbuf_init(&try);
		rc = feishu_body(&head, &tail, limit, secret, now, &try);
		if (rc < 0 || try.len <= FEISHU_BODY_MAX || limit < 64) {
			if (rc == 0)
				sbuf_add(body, try.buf, try.len);
			sbuf_free(&try);
			break;
		}
		size_t over = try.len - FEISHU_BODY_MAX;
		limit = limit > over + 80 ? limit - over - 16 : 64;
		sbuf_free(&try);
	}
	sbuf_free(&head);
	sbuf_free(&tail);
	return rc;
}

/* ------------------------------------------------------------------ */
/* answers */

struct provider_code {
	long code;
	enum notify_verdict verdict;
	int64_t min_wait; /* seconds; -1: whatever Retry-After says */
	const char *what; /* when the answer carries no message */
};

/*
 * The codes each robot API documents as passing (rate limits, a busy
 * system) are retried; the ones that say the robot is set up wrongly
 * (URL, signature, keywords, IP list) cannot succeed by retrying.  An
 * unlisted non-zero code is permanent: retrying an unknown refusal would
 * only repeat it until the tries run out.
 */
static const struct provider_code wecom_codes[] = {
	{ -1, NOTIFY_RETRY, -1, "system busy" },
	/* The robot's limit is 20 messages a minute. */
	{ 45009, NOTIFY_RETRY, 60, "api freq out of limit" },
	{ 93000, NOTIFY_PERMANENT, -1, "invalid webhook url" },
	{ 0, 0, 0, NULL },
};
static const struct provider_code dingtalk_codes[] = {
	{ -1, NOTIFY_RETRY, -1, "system busy" },
	/* Past 20 messages a minute DingTalk blocks the robot for 10 minutes. */
	{ 130101, NOTIFY_RETRY, 600, "send too fast" },
	{ 310000, NOTIFY_PERMANENT, -1, "sign, keyword or ip check failed" },
	{ 0, 0, 0, NULL },
};
static const struct provider_code feishu_codes[] = {
	/* 100 a minute per robot: a minute's wait clears either limit. */
	{ 9499, NOTIFY_RETRY, 60, "too many requests" },
	{ 11232, NOTIFY_RETRY, 60, "rate limited" },
	{ 19021, NOTIFY_PERMANENT, -1, "sign match fail or timestamp out of range" },
	{ 19022, NOTIFY_PERMANENT, -1, "ip not allowed" },
	{ 19024, NOTIFY_PERMANENT, -1, "key words not found" },
	{ 0, 0, 0, NULL },
};

/* Set OUT->error, cut on a character boundary. */
__attribute__((format(printf, 2, 3))) static void set_error(struct notify_outcome *out,
							     const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(out->error, sizeof(out->error), fmt, ap);
	va_end(ap);
	if (n >= (int)sizeof(out->error))
		out->error[util_utf8_trim(out->error, sizeof(out->error) - 1)] = '\0';
	/* A server's words, kept in the outbox and shown in terminals. */
	util_control_scrub(out->error);
}

/* A short single line of a body for an error message; "" unless it is UTF-8 text. */
static void snippet(const char *body, size_t len, char *buf, size_t buflen)
{
	size_t n = 0;
	buf[0] = '\0';
	if (!body || !len || !util_utf8_valid(body, len))
		return;
	for (size_t i = 0; i < len && n + 1 < buflen; i++) {
		unsigned char c = (unsigned char)body[i];
		buf[n++] = c < 0x20 ? ' ' : (char)c;
	}
	n = util_utf8_trim(buf, n);
	buf[n] = '\0';
}

static int64_t wait_at_least(int64_t retry_after, int64_t min)
{
	return retry_after > min ? retry_after : min;
}

/* The robot's code and message, if BODY is its JSON answer; false otherwise. */
static bool provider_answer(enum channel_type type, const char *body, size_t len, long *code,
			    char *msg, size_t msglen)
{
	json_t *j = body && len ? json_loadb(body, len, 0, NULL) : NULL;
	json_t *c = NULL, *s = NULL;

	msg[0] = '\0';
	if (!json_is_object(j)) {
		json_decref(j);
		return false;
	}
	if (type == CHANNEL_FEISHU) {
		/* The v2 hook answers {"code","msg"}; older ones {"StatusCode","StatusMessage"}. */
		c = json_object_get(j, "code");
		s = json_object_get(j, "msg");
		if (!json_is_integer(c)) {
			c = json_object_get(j, "StatusCode");
			s = json_object_get(j, "StatusMessage");
		}
	} else {
		c = json_object_get(j, "errcode");
		s = json_object_get(j, "errmsg");
	}
	bool ok = json_is_integer(c);
	if (ok) {
		*code = (long)json_integer_value(c);
		if (json_is_string(s))
			util_strlcpy(msg, json_string_value(s), msglen);
		msg[util_utf8_trim(msg, strlen(msg))] = '\0';
	}
	json_decref(j);
	return ok;
}

void notify_classify(enum channel_type type, long status, const char *body, size_t len,
		     int64_t retry_after, struct notify_outcome *out)
{
	const struct provider_code *codes = type == CHANNEL_WECOM      ? wecom_codes
					    : type == CHANNEL_DINGTALK ? dingtalk_codes
					    : type == CHANNEL_FEISHU   ? feishu_codes
								       : NULL;
	const char *who = notify_channel_name(type);
	const char *label = type == CHANNEL_FEISHU ? "code" : "errcode";
	char msg[sizeof(out->error)], snip[120];
	long code = 0;
	bool answered = codes && provider_answer(type, body, len, &code, msg, sizeof(msg));
	const struct provider_code *pc = NULL;

	out->error[0] = '\0';
	out->code = status;
	out->retry_after = -1;
	if (answered) {
		out->code = code;
		for (pc = codes; pc->what && pc->code != code; pc++)
			;
		if (!pc->what)
			pc = NULL;
	}

	snippet(body, len, snip, sizeof(snip));
	if (status < 200 || status > 299) {
		/*
		 * HTTP's verdict first, except that a robot's own "slow down"
		 * code is honoured whatever the status it came with: dropping a
		 * reminder for a rate limit would lose it for nothing.
		 */
		bool retry = status < 400 || status > 499 || status == 408 || status == 429;
		if (pc && pc->verdict == NOTIFY_RETRY)
			retry = true;
		out->verdict = retry ? NOTIFY_RETRY : NOTIFY_PERMANENT;
		if (retry)
			out->retry_after =
				pc && pc->min_wait > 0 ? wait_at_least(retry_after, pc->min_wait)
						       : retry_after;
		if (status <= 0)
			set_error(out, "no HTTP answer");
		else if (answered)
			set_error(out, "HTTP %ld; %s %s %ld: %s", status, who, label, code,
				  msg[0] ? msg : pc ? pc->what : "error");
		else if (snip[0])
			set_error(out, "HTTP %ld: %s", status, snip);
		else
			set_error(out, "HTTP %ld", status);
		return;
	}

	if (!codes) {
		out->verdict = NOTIFY_OK;
		return;
	}
	if (!answered) {
		/* A 200 the robot did not write (a proxy's page, a cut answer): try again. */
		out->verdict = NOTIFY_RETRY;
		out->retry_after = retry_after;
		set_error(out, "%s: unreadable answer (HTTP %ld)%s%s", who, status,
			  snip[0] ? ": " : "", snip);
		return;
	}
	if (code == 0) {
		out->verdict = NOTIFY_OK;
		return;
	}
	out->verdict = pc ? pc->verdict : NOTIFY_PERMANENT;
	if (out->verdict == NOTIFY_RETRY)
		out->retry_after =
			pc->min_wait > 0 ? wait_at_least(retry_after, pc->min_wait) : retry_after;
	set_error(out, "%s %s %ld: %s", who, label, code,
		  msg[0] ? msg : pc ? pc->what : "unknown error");
}
