/*
 * Unit tests of notify: the default and custom templates, template
 * checks, address parsing, the email (headers, RFC 2047 words, MIME
 * parts), the generic webhook's JSON and signature, the WeCom, DingTalk
 * and Feishu bodies and signatures, and the reading of answers.
 *
 * Signatures are checked twice: against HMAC() called here and against
 * values computed outside the project (Python's hmac module).
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "kaohe/notify.h"
#include "kaohe/util.h"

/* ------------------------------------------------------------------ */
/* a message to render */

#define AT_2020_12_08_0900 INT64_C(1607389200) /* 2020-12-08T09:00:00+08:00 */

static const struct notify_item items[] = {
	{ "2c@2020-12-10", "2c", "2", "年度工作总结", "区住建局", "2020-12-10",
	  "2020-12-11T00:00:00+08:00", "2020-12-26T00:00:00+08:00", "pending", 50, 100, NULL },
	{ "7d@2020-12-08", "7d", "7", "物业企业信用评价<script>alert('x')</script> & \"整改\"",
	  "区城管执法局", "2020-12-08", "2020-12-09T00:00:00+08:00", "2020-12-24T00:00:00+08:00",
	  "overdue", 20, 200, NULL },
	{ "7a@2020-12-15", "7a", NULL, "小区巡查台账", "区住建局", "2020-12-15",
	  "2020-12-16T00:00:00+08:00", "2020-12-31T00:00:00+08:00", "late", 0, 100, NULL },
};
#define NITEMS (sizeof(items) / sizeof(items[0]))

static const char *const mobiles[] = { "13800000000", "13900000001" };

static struct notify_message message(enum notify_kind kind)
{
	struct notify_message m = {
		.kind = kind,
		.id = 42,
		.at = AT_2020_12_08_0900,
		.at_text = "2020-12-08T09:00:00+08:00",
		.recipient = "八一路街道联络员",
		.unit_id = "bayilu",
		.unit_name = "八一路",
		.items = items,
		.nitems = NITEMS,
		.mobiles = mobiles,
		.nmobiles = 2,
	};
	if (kind == NOTIFY_RECORD || kind == NOTIFY_ESCALATION) {
		m.dept_id = "zjj";
		m.dept_name = "区住建局";
	}
	if (kind == NOTIFY_RECORD)
		m.unit_id = m.unit_name = NULL;
	if (kind == NOTIFY_SNAPSHOT || kind == NOTIFY_DEAD) {
		m.items = NULL;
		m.nitems = 0;
		m.unit_id = m.unit_name = NULL;
	}
	if (kind == NOTIFY_SNAPSHOT) {
		m.period = "2020-Q3";
		m.detail = "1. 八一路 96.5\n2. 白云 95";
	}
	if (kind == NOTIFY_DEAD)
		m.detail = "投递 #12（before，mail → 八一路街道联络员 liaison@example.org）"
			   "尝试 5 次后放弃：SMTP 550 mailbox unavailable";
	return m;
}

static void render(const struct notify_templates *t, const struct notify_message *m,
		   struct sbuf *subject, struct sbuf *text)
{
	sbuf_init(subject);
	sbuf_init(text);
	notify_render(t, m, subject, text);
}

#define assert_contains(hay, needle)                                                   \
	do {                                                                           \
		const char *h_ = (hay), *n_ = (needle);                                \
		if (!strstr(h_, n_))                                                   \
			fail_msg("\"%s\" not found in:\n%s", n_, h_);                   \
	} while (0)

static bool starts_with(const char *s, const char *prefix)
{
	return strncmp(s, prefix, strlen(prefix)) == 0;
}

#define assert_lacks(hay, needle)                                                      \
	do {                                                                           \
		const char *h_ = (hay), *n_ = (needle);                                \
		if (strstr(h_, n_))                                                    \
			fail_msg("\"%s\" unexpectedly in:\n%s", n_, h_);                 \
	} while (0)

/* ------------------------------------------------------------------ */
/* names */

static void kind_and_channel_names(void **state)
{
	(void)state;
	for (int k = 0; k < NOTIFY_NKINDS; k++)
		assert_int_equal(notify_kind_find(notify_kind_name((enum notify_kind)k)), k);
	assert_string_equal(notify_kind_name(NOTIFY_ESCALATION), "escalation");
	assert_int_equal(notify_kind_find("dead"), NOTIFY_DEAD);
	assert_int_equal(notify_kind_find("later"), -1);
	assert_int_equal(notify_kind_find(NULL), -1);
	for (int c = CHANNEL_EMAIL; c <= CHANNEL_FEISHU; c++)
		assert_int_equal(notify_channel_find(notify_channel_name((enum channel_type)c)), c);
	assert_string_equal(notify_channel_name(CHANNEL_DINGTALK), "dingtalk");
	assert_int_equal(notify_channel_find("slack"), -1);
}

/* ------------------------------------------------------------------ */
/* default templates */

static void default_before_reads_well(void **state)
{
	struct notify_message m = message(NOTIFY_BEFORE);
	struct sbuf s, t;

	(void)state;
	render(NULL, &m, &s, &t);
	/* The subject names the earliest due day of the digest. */
	assert_string_equal(s.buf, "【考核提醒】八一路：3项材料将于2020-12-08前到期");
	assert_contains(t.buf, "八一路街道联络员：");
	assert_contains(t.buf, "- 年度工作总结（第2c项，2020-12-10到期）：未报送；"
			       "逾期扣0.5分，未报送扣1分");
	assert_contains(t.buf, "已逾期未报送；逾期扣0.2分，未报送扣2分");
	assert_contains(t.buf, "逾期报送；逾期不扣分，未报送扣1分");
	assert_contains(t.buf, "2020-12-08T09:00:00+08:00");
	assert_contains(t.buf, "编号42");
	/* Items in the given order, one line each. */
	const char *a = strstr(t.buf, "年度工作总结"), *b = strstr(t.buf, "物业企业"),
		   *c = strstr(t.buf, "小区巡查台账");
	assert_true(a && b && c && a < b && b < c);
	assert_non_null(strstr(t.buf, "未报送扣1分\n- 物业企业"));
	sbuf_free(&s);
	sbuf_free(&t);
}

static void default_every_kind_names_rows(void **state)
{
	static const char *const states[] = { "未报送", "已逾期未报送", "逾期报送" };
	static const char *const stakes[] = {
		"逾期扣0.5分，未报送扣1分",
		"逾期扣0.2分，未报送扣2分",
		"逾期不扣分，未报送扣1分",
	};
	(void)state;
	for (int k = NOTIFY_BEFORE; k <= NOTIFY_RECORD; k++) {
		struct notify_message m = message((enum notify_kind)k);
		struct sbuf s, t;
		render(NULL, &m, &s, &t);
		assert_true(s.len > 0);
		assert_null(strchr(s.buf, '\n'));
		assert_contains(s.buf, "3项");
		for (size_t i = 0; i < NITEMS; i++) {
			assert_contains(t.buf, items[i].title);
			assert_contains(t.buf, items[i].due);
			assert_contains(t.buf, stakes[i]);
			if (k == NOTIFY_RECORD && i == 0)
				assert_contains(t.buf, "待录入");
			else
				assert_contains(t.buf, states[i]);
		}
		assert_true(util_utf8_valid(t.buf, t.len));
		sbuf_free(&s);
		sbuf_free(&t);
	}
}

static void default_kind_wording(void **state)
{
	struct sbuf s, t;
	struct notify_message m;

	(void)state;
	m = message(NOTIFY_DUE);
	render(NULL, &m, &s, &t);
	assert_string_equal(s.buf, "【考核提醒】八一路：3项材料今日到期");
	sbuf_free(&s);
	sbuf_free(&t);

	m = message(NOTIFY_OVERDUE);
	render(NULL, &m, &s, &t);
	assert_string_equal(s.buf, "【逾期提醒】八一路：3项材料已逾期未报送");
	assert_contains(t.buf, "已超过报送期限");
	sbuf_free(&s);
	sbuf_free(&t);

	m = message(NOTIFY_ESCALATION);
	m.recipient = "八一路街道分管副主任";
	render(NULL, &m, &s, &t);
	assert_string_equal(s.buf, "【逾期抄送】八一路：3项材料已逾期未报送");
	assert_contains(t.buf, "八一路街道分管副主任：");
	assert_contains(t.buf, "抄送");
	assert_contains(t.buf, "督促");
	sbuf_free(&s);
	sbuf_free(&t);

	m = message(NOTIFY_RECORD);
	m.recipient = "区住建局物业科";
	render(NULL, &m, &s, &t);
	assert_string_equal(s.buf, "【录入提醒】区住建局：3项考核事项请于2020-12-08录入");
	assert_contains(t.buf, "检查结果或指标数据");
	sbuf_free(&s);
	sbuf_free(&t);

	m = message(NOTIFY_SNAPSHOT);
	m.recipient = "考核办";
	render(NULL, &m, &s, &t);
	assert_string_equal(s.buf, "【考核排名】2020-Q3考核排名已生成");
	assert_contains(t.buf, "1. 八一路 96.5\n2. 白云 95");
	assert_contains(t.buf, "2020-12-08T09:00:00+08:00");
	sbuf_free(&s);
	sbuf_free(&t);

	m = message(NOTIFY_DEAD);
	m.recipient = "考核办";
	render(NULL, &m, &s, &t);
	assert_string_equal(s.buf, "【系统告警】考核通知投递失败");
	assert_contains(t.buf, "SMTP 550 mailbox unavailable");
	sbuf_free(&s);
	sbuf_free(&t);
}

static void state_words(void **state)
{
	static const struct {
		const char *state, *words;
	} cases[] = {
		{ "pending", "未报送" },     { "on-time", "已按时报送" },
		{ "late", "逾期报送" },      { "overdue", "已逾期未报送" },
		{ "missing", "未报送（已截止）" },
	};
	struct notify_templates t = { .item = "[{state}]" };

	(void)state;
	t.body[NOTIFY_DUE] = "{items}";
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct notify_item it = items[0];
		struct notify_message m = message(NOTIFY_DUE);
		struct sbuf s, x;
		char want[64];
		it.state = cases[i].state;
		m.items = &it;
		m.nitems = 1;
		render(&t, &m, &s, &x);
		snprintf(want, sizeof(want), "[%s]", cases[i].words);
		assert_string_equal(x.buf, want);
		sbuf_free(&s);
		sbuf_free(&x);
	}
}

static void stake_without_deductions(void **state)
{
	struct notify_templates t = { .item = "{stake}|{late}|{missing}" };
	struct notify_item it = items[0];
	struct notify_message m = message(NOTIFY_BEFORE);
	struct sbuf s, x;

	(void)state;
	t.body[NOTIFY_BEFORE] = "{items}";
	it.late = it.missing = 0;
	m.items = &it;
	m.nitems = 1;
	render(&t, &m, &s, &x);
	assert_string_equal(x.buf, "不扣分|0|0");
	sbuf_free(&s);
	sbuf_free(&x);
}

/* ------------------------------------------------------------------ */
/* custom templates */

static void custom_templates(void **state)
{
	struct notify_templates t = { .item = "{seq}/{row}/{occurrence}/{department}/{deadline}/"
					       "{close}/{late}/{missing}" };
	struct notify_message m = message(NOTIFY_ESCALATION);
	struct sbuf s, x;

	(void)state;
	t.subject[NOTIFY_ESCALATION] = "{{{unit_id}}} {count} {due}";
	t.body[NOTIFY_ESCALATION] = "{recipient}|{unit}|{department}|{at}|{delivery}|{mentions}|"
				    "{period}|{detail}\n{items}\n}}{{";
	render(&t, &m, &s, &x);
	assert_string_equal(s.buf, "{bayilu} 3 2020-12-08");
	assert_string_equal(x.buf,
			    "八一路街道联络员|八一路|区住建局|2020-12-08T09:00:00+08:00|42|"
			    "@13800000000 @13900000001||\n"
			    "2/2c/2c@2020-12-10/区住建局/2020-12-11T00:00:00+08:00/"
			    "2020-12-26T00:00:00+08:00/0.5/1\n"
			    "7/7d/7d@2020-12-08/区城管执法局/2020-12-09T00:00:00+08:00/"
			    "2020-12-24T00:00:00+08:00/0.2/2\n"
			    "/7a/7a@2020-12-15/区住建局/2020-12-16T00:00:00+08:00/"
			    "2020-12-31T00:00:00+08:00/0/1\n}{");
	sbuf_free(&s);
	sbuf_free(&x);

	/* Members left NULL keep their defaults; output is appended. */
	struct notify_templates only_item = { .item = "* {title}" };
	m = message(NOTIFY_BEFORE);
	sbuf_init(&s);
	sbuf_init(&x);
	SBUF_LIT(&s, "S:");
	SBUF_LIT(&x, "T:");
	notify_render(&only_item, &m, &s, &x);
	assert_string_equal(s.buf, "S:【考核提醒】八一路：3项材料将于2020-12-08前到期");
	assert_true(starts_with(x.buf, "T:八一路街道联络员："));
	assert_contains(x.buf, "* 年度工作总结\n* 物业企业");
	sbuf_free(&s);
	sbuf_free(&x);
}

static void subject_stays_one_line(void **state)
{
	struct notify_templates t = { .item = "{title}" };
	struct notify_message m = message(NOTIFY_BEFORE);
	struct sbuf s, x;

	(void)state;
	t.subject[NOTIFY_BEFORE] = "{items}";
	render(&t, &m, &s, &x);
	assert_null(strchr(s.buf, '\n'));
	assert_contains(s.buf, "年度工作总结 物业企业");
	sbuf_free(&s);
	sbuf_free(&x);
}

/* ------------------------------------------------------------------ */
/* template checks */

static void expect_check_error(const char *tmpl, bool item, const char *want)
{
	char err[256] = "";
	if (notify_template_check(tmpl, item, err, sizeof(err)) != -1)
		fail_msg("template \"%s\" passed", tmpl);
	if (!strstr(err, want))
		fail_msg("template \"%s\": error \"%s\" lacks \"%s\"", tmpl, err, want);
}

static void template_check_accepts(void **state)
{
	char err[256];
	(void)state;
	assert_int_equal(notify_template_check(NULL, false, err, sizeof(err)), 0);
	assert_int_equal(notify_template_check("", true, err, sizeof(err)), 0);
	assert_int_equal(notify_template_check("【提醒】{unit}{{字面}}{count}项{due}", false, err,
					       sizeof(err)),
			 0);
	assert_int_equal(notify_template_check("{recipient}{unit}{unit_id}{department}{count}"
					       "{items}{at}{period}{detail}{delivery}{mentions}",
					       false, err, sizeof(err)),
			 0);
	assert_int_equal(notify_template_check("{seq}{row}{occurrence}{title}{department}{due}"
					       "{deadline}{close}{late}{missing}{stake}{state}}}",
					       true, err, sizeof(err)),
			 0);
}

static void template_check_rejects(void **state)
{
	(void)state;
	expect_check_error("你好{foo}", false, "unknown placeholder {foo}");
	expect_check_error("{Unit}", false, "unknown placeholder {Unit}");
	expect_check_error("abc {unit", false, "unterminated placeholder at byte 4");
	expect_check_error("a}b", false, "unbalanced '}' at byte 1");
	expect_check_error("{un{it}", false, "unbalanced '{' at byte 0");
	expect_check_error("x{}", true, "empty placeholder {} at byte 1");
	/* Each kind of template has its own placeholders. */
	expect_check_error("{title}", false, "{title}");
	expect_check_error("{stake}", false, "item template");
	expect_check_error("- {items}", true, "{items}");
	expect_check_error("- {recipient}", true, "message template");
	expect_check_error("\xe4\xb8", false, "UTF-8");
}

/* ------------------------------------------------------------------ */
/* addresses */

static void address_parse(void **state)
{
	char name[64], addr[64];
	(void)state;

	assert_int_equal(notify_address_parse("西岗区考核办 <kaohe@example.org>", name,
					      sizeof(name), addr, sizeof(addr)),
			 0);
	assert_string_equal(name, "西岗区考核办");
	assert_string_equal(addr, "kaohe@example.org");

	assert_int_equal(notify_address_parse("  kaohe@example.org ", name, sizeof(name), addr,
					      sizeof(addr)),
			 0);
	assert_string_equal(name, "");
	assert_string_equal(addr, "kaohe@example.org");

	assert_int_equal(notify_address_parse("\"Kao, \\\"He\\\"\" <a@b.example>", name,
					      sizeof(name), addr, sizeof(addr)),
			 0);
	assert_string_equal(name, "Kao, \"He\"");
	assert_string_equal(addr, "a@b.example");

	assert_int_equal(notify_address_parse("<a@b.example>", name, sizeof(name), addr,
					      sizeof(addr)),
			 0);
	assert_string_equal(name, "");

	static const char *const bad[] = {
		"", "   ", "noat", "@example.org", "a@", "a@b@c", "a b@example.org",
		"x <a@example.org", "x <a@example.org> y", "x <>",
		"a@example.org\r\nBcc: victim@example.org", "x <a@example.org>\n",
		"\"unterminated <a@example.org>", "名 <地址@example.org>",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (notify_address_parse(bad[i], name, sizeof(name), addr, sizeof(addr)) != -1)
			fail_msg("\"%s\" parsed", bad[i]);
	/* Too long for the caller's buffers. */
	assert_int_equal(notify_address_parse("abc <abcdefgh@example.org>", name, sizeof(name),
					      addr, 8),
			 -1);
	assert_int_equal(notify_address_parse("abcdef <a@example.org>", name, 4, addr,
					      sizeof(addr)),
			 -1);
}

/* ------------------------------------------------------------------ */
/* base64 and MIME readers */

/* Decode base64 S (LEN chars, no line breaks) into a NUL-terminated heap string. */
static char *b64decode(const char *s, size_t len, size_t *outlen)
{
	char *out = malloc(len / 4 * 3 + 4);
	assert_non_null(out);
	assert_int_equal(len % 4, 0);
	int n = EVP_DecodeBlock((unsigned char *)out, (const unsigned char *)s, (int)len);
	assert_true(n >= 0);
	size_t pad = 0;
	while (pad < 2 && len > pad && s[len - 1 - pad] == '=')
		pad++;
	*outlen = (size_t)n - pad;
	out[*outlen] = '\0';
	return out;
}

/* The unfolded value of header NAME in the header block of MSG; heap, or NULL. */
static char *header(const char *msg, const char *name)
{
	size_t nl = strlen(name);
	const char *end = strstr(msg, "\r\n\r\n");
	for (const char *p = msg; p && p < end; p = strstr(p, "\r\n") + 2) {
		if (strncmp(p, name, nl) != 0 || p[nl] != ':')
			continue;
		const char *v = p + nl + 1;
		struct sbuf sb;
		sbuf_init(&sb);
		for (;;) {
			const char *e = strstr(v, "\r\n");
			sbuf_add(&sb, v, (size_t)(e - v));
			if (e[2] != ' ' && e[2] != '\t')
				break;
			v = e + 2;
		}
		char *r = xstrdup(sb.buf[0] == ' ' ? sb.buf + 1 : sb.buf);
		sbuf_free(&sb);
		return r;
	}
	return NULL;
}

/*
 * The encoded-words of VALUE decoded one by one: each at most 75
 * octets, each valid UTF-8 on its own; their concatenation appended to
 * OUT.  Returns how many there were.  Whitespace between words is
 * dropped, as RFC 2047 section 6.2 says.
 */
static int decode_words(const char *value, struct sbuf *out)
{
	int n = 0;
	const char *p = value;
	while (*p) {
		if (*p == ' ') {
			p++;
			continue;
		}
		if (strncmp(p, "=?UTF-8?B?", 10) != 0)
			fail_msg("not an encoded-word at \"%s\"", p);
		const char *b = p + 10, *e = strstr(b, "?=");
		assert_non_null(e);
		size_t wlen = (size_t)(e + 2 - p);
		if (wlen > 75)
			fail_msg("encoded-word of %zu octets", wlen);
		size_t dl;
		char *d = b64decode(b, (size_t)(e - b), &dl);
		if (!util_utf8_valid(d, dl))
			fail_msg("encoded-word %.*s is not UTF-8 by itself", (int)wlen, p);
		sbuf_add(out, d, dl);
		free(d);
		n++;
		p = e + 2;
	}
	return n;
}

/* Every line end of S is CRLF, and header lines keep to LIMIT characters. */
static void expect_crlf_only(const char *s, size_t header_limit)
{
	const char *body = strstr(s, "\r\n\r\n");
	assert_non_null(body);
	for (const char *p = s; *p; p++) {
		if (*p == '\n' && (p == s || p[-1] != '\r'))
			fail_msg("bare LF at offset %zu", (size_t)(p - s));
		if (*p == '\r' && p[1] != '\n')
			fail_msg("bare CR at offset %zu", (size_t)(p - s));
	}
	for (const char *p = s; p < body;) {
		const char *e = strstr(p, "\r\n");
		if ((size_t)(e - p) > header_limit)
			fail_msg("header line of %zu characters: %.*s", (size_t)(e - p),
				 (int)(e - p), p);
		p = e + 2;
	}
}

/* S with every LF as CRLF. */
static char *to_crlf(const char *s)
{
	struct sbuf sb;
	sbuf_init(&sb);
	for (; *s; s++) {
		if (*s == '\n')
			SBUF_LIT(&sb, "\r");
		sbuf_add(&sb, s, 1);
	}
	char *r = xstrdup(sb.buf);
	sbuf_free(&sb);
	return r;
}

/*
 * The part of MSG after boundary line number INDEX (0, 1): its headers
 * in *HEADERS (heap) and its base64 body decoded (heap).
 */
static char *mime_part(const char *msg, const char *boundary, int index, char **headers)
{
	char delim[128];
	snprintf(delim, sizeof(delim), "\r\n--%s\r\n", boundary);
	const char *p = strstr(msg, delim);
	for (int i = 0; i < index && p; i++)
		p = strstr(p + 1, delim);
	assert_non_null(p);
	p += strlen(delim);
	const char *hend = strstr(p, "\r\n\r\n");
	assert_non_null(hend);
	*headers = strndup(p, (size_t)(hend - p));
	const char *b = hend + 4, *bend = strstr(b, "\r\n--");
	assert_non_null(bend);
	struct sbuf b64;
	sbuf_init(&b64);
	for (const char *l = b; l < bend;) {
		const char *e = strstr(l, "\r\n");
		if (e > bend)
			e = bend;
		if (e - l > 76)
			fail_msg("base64 line of %zu characters", (size_t)(e - l));
		assert_null(memchr(l, '=', (size_t)(e - l) > 2 ? (size_t)(e - l) - 2 : 0));
		sbuf_add(&b64, l, (size_t)(e - l));
		l = e + 2;
	}
	size_t n;
	char *d = b64decode(b64.buf, b64.len, &n);
	sbuf_free(&b64);
	return d;
}

static struct notify_email envelope(void)
{
	struct notify_email e = {
		.from = "西岗区住建局考核办 <kaohe@example.org>",
		.to_name = "八一路街道联络员",
		.to_addr = "liaison@example.org",
		.hostname = "kaohe.example.org",
		.now = AT_2020_12_08_0900 + 7,
	};
	return e;
}

static int shanghai(void **state)
{
	(void)state;
	setenv("TZ", "Asia/Shanghai", 1);
	tzset();
	return 0;
}

/* ------------------------------------------------------------------ */
/* email */

static void email_headers_and_parts(void **state)
{
	struct notify_message m = message(NOTIFY_BEFORE);
	struct notify_email e = envelope();
	struct sbuf s, t, out;

	(void)state;
	render(NULL, &m, &s, &t);
	sbuf_init(&out);
	assert_int_equal(notify_email(&e, &m, s.buf, t.buf, &out), 0);
	expect_crlf_only(out.buf, 78);

	char *v = header(out.buf, "Date");
	assert_string_equal(v, "Tue, 08 Dec 2020 09:00:07 +0800");
	free(v);
	v = header(out.buf, "Message-ID");
	assert_string_equal(v, "<kaohe.42.1607389207@kaohe.example.org>");
	free(v);
	v = header(out.buf, "X-Kaohe-Delivery");
	assert_string_equal(v, "42");
	free(v);
	v = header(out.buf, "MIME-Version");
	assert_string_equal(v, "1.0");
	free(v);
	v = header(out.buf, "Content-Type");
	assert_string_equal(v, "multipart/alternative; boundary=\"=_kaohe_42_1607389207\"");
	free(v);

	/* From and To: the display names as encoded-words, the addresses as they are. */
	struct sbuf d;
	v = header(out.buf, "From");
	char *lt = strrchr(v, '<');
	assert_string_equal(lt, "<kaohe@example.org>");
	lt[-1] = '\0';
	sbuf_init(&d);
	assert_true(decode_words(v, &d) >= 1);
	assert_string_equal(d.buf, "西岗区住建局考核办");
	sbuf_free(&d);
	free(v);
	v = header(out.buf, "To");
	lt = strrchr(v, '<');
	assert_string_equal(lt, "<liaison@example.org>");
	lt[-1] = '\0';
	sbuf_init(&d);
	decode_words(v, &d);
	assert_string_equal(d.buf, "八一路街道联络员");
	sbuf_free(&d);
	free(v);
	v = header(out.buf, "Subject");
	sbuf_init(&d);
	decode_words(v, &d);
	assert_string_equal(d.buf, s.buf);
	sbuf_free(&d);
	free(v);

	/* The text part is the text in canonical CRLF form. */
	char *ph, *want = to_crlf(t.buf);
	char *plain = mime_part(out.buf, "=_kaohe_42_1607389207", 0, &ph);
	assert_contains(ph, "Content-Type: text/plain; charset=UTF-8");
	assert_contains(ph, "Content-Transfer-Encoding: base64");
	assert_string_equal(plain, want);
	free(ph);
	free(plain);
	free(want);

	/* The HTML part: a document with every value escaped and the items in a table. */
	char *html = mime_part(out.buf, "=_kaohe_42_1607389207", 1, &ph);
	assert_contains(ph, "Content-Type: text/html; charset=UTF-8");
	assert_contains(ph, "Content-Transfer-Encoding: base64");
	assert_true(starts_with(html, "<!DOCTYPE html>\r\n"));
	assert_contains(html, "<meta charset=\"UTF-8\">");
	assert_contains(html, "</html>\r\n");
	assert_lacks(html, "<script>");
	assert_contains(html, "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; "
			      "&quot;整改&quot;");
	assert_contains(html, "<table");
	assert_contains(html, "<td>年度工作总结</td><td>2c</td><td>2020-12-10</td>"
			      "<td>逾期扣0.5分，未报送扣1分</td><td>未报送</td>");
	assert_contains(html, "<title>【考核提醒】八一路：3项材料将于2020-12-08前到期</title>");
	free(ph);
	free(html);

	/* The closing delimiter ends the message. */
	const char *close = "\r\n--=_kaohe_42_1607389207--\r\n";
	assert_string_equal(out.buf + out.len - strlen(close), close);
	sbuf_free(&out);
	sbuf_free(&s);
	sbuf_free(&t);
}

static void email_long_subject_words(void **state)
{
	static const char *const subjects[] = {
		"【考核提醒】八一路街道办事处：关于居住小区管理工作考核方案中第七项"
		"物业服务企业信用评价及整改落实情况等十二项材料将于2020-12-10前到期，"
		"请相关负责同志及时组织报送，逾期将按规定扣分😀😀😀",
		/* ASCII among the Chinese moves every boundary by one byte. */
		"a【考核提醒】八一路街道办事处：关于居住小区管理工作考核方案中第七项物业服务",
		"ab【考核提醒】八一路街道办事处：关于居住小区管理工作考核方案中第七项物业服务",
		"𠀀𠀁𠀂𠀃𠀄𠀅𠀆𠀇𠀈𠀉𠀊𠀋𠀌𠀍𠀎𠀏𠀐𠀑𠀒𠀓𠀔𠀕𠀖𠀗𠀘𠀙 x",
	};
	struct notify_message m = message(NOTIFY_BEFORE);
	struct notify_email e = envelope();

	(void)state;
	e.from = "大连市西岗区人民政府办公室居住小区管理工作考核领导小组办公室（区住建局物业科）"
		 " <kaohe@example.org>";
	for (size_t i = 0; i < sizeof(subjects) / sizeof(subjects[0]); i++) {
		struct sbuf out, d;
		sbuf_init(&out);
		assert_int_equal(notify_email(&e, &m, subjects[i], "正文", &out), 0);
		/* RFC 2047: a line holding encoded-words is at most 76 characters. */
		expect_crlf_only(out.buf, 76);
		char *v = header(out.buf, "Subject");
		sbuf_init(&d);
		int n = decode_words(v, &d);
		assert_true(i == 0 ? n >= 4 : n >= 2);
		assert_string_equal(d.buf, subjects[i]);
		sbuf_free(&d);
		free(v);

		v = header(out.buf, "From");
		*strrchr(v, '<') = '\0';
		sbuf_init(&d);
		assert_true(decode_words(v, &d) >= 2);
		assert_string_equal(d.buf, "大连市西岗区人民政府办公室居住小区管理工作考核领导小组"
					   "办公室（区住建局物业科）");
		sbuf_free(&d);
		free(v);
		sbuf_free(&out);
	}
}

/* Every length and mix up to 150 characters splits into sound words. */
static void email_subject_lengths(void **state)
{
	static const char *const pieces[] = { "考", "a", "😀", "核", "é", " ", "材" };
	struct notify_message m = message(NOTIFY_DUE);
	struct notify_email e = envelope();

	(void)state;
	for (size_t n = 1; n <= 150; n++) {
		struct sbuf subj, out, d;
		sbuf_init(&subj);
		for (size_t i = 0; i < n; i++)
			sbuf_puts(&subj, pieces[(i * 5 + n) % 7]);
		sbuf_init(&out);
		assert_int_equal(notify_email(&e, &m, subj.buf, "t", &out), 0);
		expect_crlf_only(out.buf, 76);
		char *v = header(out.buf, "Subject");
		sbuf_init(&d);
		if (starts_with(v, "=?"))
			decode_words(v, &d);
		else
			sbuf_puts(&d, v); /* plain ASCII stays plain */
		assert_string_equal(d.buf, subj.buf);
		free(v);
		sbuf_free(&d);
		sbuf_free(&out);
		sbuf_free(&subj);
	}
}

static void email_ascii_headers(void **state)
{
	struct notify_message m = message(NOTIFY_DEAD);
	struct notify_email e = envelope();
	struct sbuf out;
	char *v;

	(void)state;
	e.from = "Kaohe Office <kaohe@example.org>";
	e.to_name = "Ops, Duty (on call) \"A\"";
	sbuf_init(&out);
	assert_int_equal(notify_email(&e, &m, "Delivery 12 failed", "text\n", &out), 0);
	v = header(out.buf, "From");
	assert_string_equal(v, "Kaohe Office <kaohe@example.org>");
	free(v);
	v = header(out.buf, "To");
	assert_string_equal(v, "\"Ops, Duty (on call) \\\"A\\\"\" <liaison@example.org>");
	free(v);
	v = header(out.buf, "Subject");
	assert_string_equal(v, "Delivery 12 failed");
	free(v);
	sbuf_free(&out);

	/* A long ASCII subject is folded at spaces and unfolds to itself. */
	const char *longsub = "Reminder: the assessment materials of several residential "
			      "communities are due on 2020-12-10, please submit  them in time";
	e.to_name = NULL;
	sbuf_init(&out);
	assert_int_equal(notify_email(&e, &m, longsub, "x", &out), 0);
	expect_crlf_only(out.buf, 78);
	v = header(out.buf, "Subject");
	assert_string_equal(v, longsub);
	free(v);
	v = header(out.buf, "To");
	assert_string_equal(v, "<liaison@example.org>");
	free(v);
	sbuf_free(&out);

	/* "=?" in plain text would read as an encoded-word: it is encoded itself. */
	sbuf_init(&out);
	assert_int_equal(notify_email(&e, &m, "a =?x?= b", "x", &out), 0);
	v = header(out.buf, "Subject");
	struct sbuf d;
	sbuf_init(&d);
	decode_words(v, &d);
	assert_string_equal(d.buf, "a =?x?= b");
	sbuf_free(&d);
	free(v);
	sbuf_free(&out);
}

static void email_refuses_bad_addresses(void **state)
{
	struct notify_message m = message(NOTIFY_DUE);
	struct notify_email e = envelope();
	struct sbuf out;

	(void)state;
	sbuf_init(&out);
	e.from = "not an address";
	assert_int_equal(notify_email(&e, &m, "s", "t", &out), -1);
	e = envelope();
	e.to_addr = "liaison@example.org\r\nBcc: x@example.org";
	assert_int_equal(notify_email(&e, &m, "s", "t", &out), -1);
	e = envelope();
	e.to_name = "x\r\nBcc: y@example.org";
	assert_int_equal(notify_email(&e, &m, "s", "t", &out), -1);
	sbuf_free(&out);

	/* A line break smuggled into the subject does not start a header. */
	e = envelope();
	sbuf_init(&out);
	assert_int_equal(notify_email(&e, &m, "hi\r\nBcc: x@example.org", "t", &out), 0);
	assert_null(strstr(out.buf, "\r\nBcc:"));
	sbuf_free(&out);
}

/* ------------------------------------------------------------------ */
/* generic webhook */

static void generic_json(void **state)
{
	struct notify_message m = message(NOTIFY_ESCALATION);
	struct notify_item its[NITEMS];
	struct sbuf s, t, body;
	json_error_t err;

	(void)state;
	memcpy(its, items, sizeof(its));
	its[2].late = 10; /* 0.1: binary noise must not show */
	m.items = its;
	render(NULL, &m, &s, &t);
	sbuf_init(&body);
	assert_int_equal(notify_generic(&m, s.buf, t.buf, &body), 0);
	assert_true(starts_with(body.buf, "{\"delivery\":42,\"kind\":\"escalation\",\"at\":"));
	assert_contains(body.buf, "\"late\":0.5,\"missing\":1}");
	assert_contains(body.buf, "\"late\":0.1,\"missing\":1}");
	assert_contains(body.buf, "\"late\":0.2,\"missing\":2}");
	assert_null(strchr(body.buf, '\n'));

	json_t *j = json_loads(body.buf, 0, &err);
	if (!j)
		fail_msg("not JSON: %s", err.text);
	assert_int_equal(json_integer_value(json_object_get(j, "delivery")), 42);
	assert_string_equal(json_string_value(json_object_get(j, "kind")), "escalation");
	assert_string_equal(json_string_value(json_object_get(j, "at")),
			    "2020-12-08T09:00:00+08:00");
	json_t *u = json_object_get(j, "unit");
	assert_string_equal(json_string_value(json_object_get(u, "id")), "bayilu");
	assert_string_equal(json_string_value(json_object_get(u, "name")), "八一路");
	json_t *dep = json_object_get(j, "department");
	assert_string_equal(json_string_value(json_object_get(dep, "id")), "zjj");
	assert_true(json_is_null(json_object_get(j, "period")));
	json_t *a = json_object_get(j, "items");
	assert_int_equal(json_array_size(a), NITEMS);
	json_t *i0 = json_array_get(a, 0);
	assert_string_equal(json_string_value(json_object_get(i0, "occurrence")), "2c@2020-12-10");
	/* a message about one unit: its items name none */
	assert_contains(body.buf, "{\"occurrence\":\"2c@2020-12-10\",\"unit\":null,\"row\":\"2c\"");
	assert_string_equal(json_string_value(json_object_get(i0, "row")), "2c");
	assert_string_equal(json_string_value(json_object_get(i0, "title")), "年度工作总结");
	assert_string_equal(json_string_value(json_object_get(i0, "department")), "区住建局");
	assert_string_equal(json_string_value(json_object_get(i0, "due")), "2020-12-10");
	assert_string_equal(json_string_value(json_object_get(i0, "deadline")),
			    "2020-12-11T00:00:00+08:00");
	assert_string_equal(json_string_value(json_object_get(i0, "close")),
			    "2020-12-26T00:00:00+08:00");
	assert_string_equal(json_string_value(json_object_get(i0, "state")), "pending");
	assert_true(json_number_value(json_object_get(i0, "late")) == 0.5);
	assert_true(json_is_null(json_object_get(json_array_get(a, 2), "seq")));
	assert_string_equal(json_string_value(json_object_get(j, "subject")), s.buf);
	assert_string_equal(json_string_value(json_object_get(j, "text")), t.buf);
	json_t *mm = json_object_get(j, "mentions");
	assert_int_equal(json_array_size(mm), 2);
	assert_string_equal(json_string_value(json_array_get(mm, 1)), "13900000001");
	json_decref(j);
	sbuf_free(&body);

	/* About no unit: null. */
	m = message(NOTIFY_SNAPSHOT);
	sbuf_init(&body);
	assert_int_equal(notify_generic(&m, "s", "t", &body), 0);
	assert_contains(body.buf, "\"unit\":null,\"department\":null,\"period\":\"2020-Q3\"");
	assert_contains(body.buf, "\"items\":[]");
	sbuf_free(&body);

	/* Text that is not UTF-8 cannot be sent as JSON. */
	sbuf_init(&body);
	assert_int_equal(notify_generic(&m, "s", "\xff", &body), -1);
	sbuf_free(&body);
	sbuf_free(&s);
	sbuf_free(&t);
}

static void generic_signature(void **state)
{
	const char *body = "{\"delivery\":42}";
	char sig[72], want[72];
	unsigned char mac[32];
	unsigned int n = 32;

	(void)state;
	notify_generic_signature("kaohe-secret", 1607389200, body, strlen(body), sig);
	/* Python: hmac.new(b"kaohe-secret", b'1607389200.{"delivery":42}', sha256).hexdigest() */
	assert_string_equal(sig, "sha256=126ba1036e2a63606e684d567175a3dc3c21a6abf6503b77b397c3a8"
				 "b696ca31");

	/* And as OpenSSL computes it here, for a body with a NUL inside its length. */
	const char raw[] = "ab\0cd";
	HMAC(EVP_sha256(), "k", 1, (const unsigned char *)"-5.ab\0cd", 8, mac, &n);
	strcpy(want, "sha256=");
	for (int i = 0; i < 32; i++)
		snprintf(want + 7 + 2 * i, 3, "%02x", mac[i]);
	notify_generic_signature("k", -5, raw, 5, sig);
	assert_string_equal(sig, want);
	assert_int_equal(strlen(sig), 71);
}

/* ------------------------------------------------------------------ */
/* chat robots */

/* A text of N Chinese characters after PREFIX. */
static char *long_text(const char *prefix, size_t n)
{
	static const char *const chars[] = { "考", "核", "材", "料", "报", "送" };
	struct sbuf sb;
	sbuf_init(&sb);
	sbuf_puts(&sb, prefix);
	for (size_t i = 0; i < n; i++)
		sbuf_puts(&sb, chars[i % 6]);
	char *r = xstrdup(sb.buf);
	sbuf_free(&sb);
	return r;
}

static json_t *parse(const struct sbuf *body)
{
	json_error_t err;
	json_t *j = json_loads(body->buf, 0, &err);
	if (!j)
		fail_msg("not JSON: %s in %s", err.text, body->buf);
	return j;
}

static const char marker[] = "\n……（内容过长，已截断）";

static bool ends_with(const char *s, const char *suffix)
{
	size_t a = strlen(s), b = strlen(suffix);
	return a >= b && strcmp(s + a - b, suffix) == 0;
}

static void wecom_text(void **state)
{
	struct notify_message m = message(NOTIFY_BEFORE);
	struct sbuf body;

	(void)state;
	sbuf_init(&body);
	assert_int_equal(notify_wecom(false, &m, "主题", "正文\n第二行\n\n", &body), 0);
	assert_string_equal(body.buf,
			    "{\"msgtype\":\"text\",\"text\":{\"content\":\"主题\\n正文\\n第二行\","
			    "\"mentioned_mobile_list\":[\"13800000000\",\"13900000001\"]}}");
	sbuf_free(&body);

	/* Cut to at most 2048 bytes wherever the character boundaries fall. */
	for (int shift = 0; shift < 3; shift++) {
		char *text = long_text(shift == 0 ? "" : shift == 1 ? "a" : "ab", 3000);
		sbuf_init(&body);
		assert_int_equal(notify_wecom(false, &m, "【考核提醒】八一路", text, &body), 0);
		json_t *j = parse(&body);
		const char *c = json_string_value(json_object_get(json_object_get(j, "text"),
								  "content"));
		size_t len = strlen(c);
		assert_true(len <= 2048);
		assert_true(len > 2048 - 3); /* nothing given away but a partial character */
		assert_true(util_utf8_valid(c, len));
		assert_true(ends_with(c, marker));
		assert_true(starts_with(c, "【考核提醒】八一路\n"));
		assert_int_equal(json_array_size(json_object_get(json_object_get(j, "text"),
								 "mentioned_mobile_list")),
				 2);
		json_decref(j);
		sbuf_free(&body);
		free(text);
	}
}

static void wecom_markdown(void **state)
{
	struct notify_message m = message(NOTIFY_OVERDUE);
	struct sbuf body;

	(void)state;
	sbuf_init(&body);
	const char *md = "# 不是标题\n> 不是引用\n[链接](x) `c` <font>a#b</font>";
	assert_int_equal(notify_wecom(true, &m, "标题*1*", md, &body), 0);
	json_t *j = parse(&body);
	assert_string_equal(json_string_value(json_object_get(j, "msgtype")), "markdown");
	assert_null(json_object_get(j, "text"));
	const char *c = json_string_value(json_object_get(json_object_get(j, "markdown"),
							  "content"));
	assert_string_equal(c, "**标题＊1＊**\n＃ 不是标题\n＞ 不是引用\n［链接］(x) ｀c｀ "
			       "＜font＞a#b＜/font＞\n@13800000000 @13900000001");
	assert_null(json_object_get(json_object_get(j, "markdown"), "mentioned_mobile_list"));
	json_decref(j);
	sbuf_free(&body);

	for (int shift = 0; shift < 3; shift++) {
		char *text = long_text(shift == 0 ? "" : shift == 1 ? "*" : "ab", 3000);
		sbuf_init(&body);
		assert_int_equal(notify_wecom(true, &m, "主题", text, &body), 0);
		j = parse(&body);
		c = json_string_value(json_object_get(json_object_get(j, "markdown"), "content"));
		size_t len = strlen(c);
		assert_true(len <= 4096 && len > 4096 - 3);
		assert_true(util_utf8_valid(c, len));
		/* The mentions survive the cut, after the marker. */
		assert_true(ends_with(c, "（内容过长，已截断）\n@13800000000 @13900000001"));
		json_decref(j);
		sbuf_free(&body);
		free(text);
	}
}

static void dingtalk_body(void **state)
{
	struct notify_message m = message(NOTIFY_DUE);
	struct sbuf body;

	(void)state;
	sbuf_init(&body);
	assert_int_equal(notify_dingtalk(&m, "主题", "正文\n", &body), 0);
	assert_string_equal(body.buf,
			    "{\"msgtype\":\"text\","
			    "\"text\":{\"content\":\"主题\\n正文\\n@13800000000 @13900000001\"},"
			    "\"at\":{\"atMobiles\":[\"13800000000\",\"13900000001\"],"
			    "\"isAtAll\":false}}");
	sbuf_free(&body);

	char *text = long_text("x", 9000);
	sbuf_init(&body);
	assert_int_equal(notify_dingtalk(&m, "主题", text, &body), 0);
	json_t *j = parse(&body);
	const char *c = json_string_value(json_object_get(json_object_get(j, "text"), "content"));
	assert_true(strlen(c) <= 20000 && strlen(c) > 20000 - 3);
	assert_true(util_utf8_valid(c, strlen(c)));
	assert_true(ends_with(c, "已截断）\n@13800000000 @13900000001"));
	json_decref(j);
	sbuf_free(&body);
	free(text);

	/* No one to mention: no trailing line. */
	m.nmobiles = 0;
	sbuf_init(&body);
	assert_int_equal(notify_dingtalk(&m, "主题", "正文", &body), 0);
	assert_contains(body.buf, "\"content\":\"主题\\n正文\"},\"at\":{\"atMobiles\":[]");
	sbuf_free(&body);
}

/* Base64 of HMAC-SHA256(KEY, MSG), computed here. */
static void b64_hmac(const char *key, size_t klen, const char *msg, size_t mlen, char out[45])
{
	unsigned char mac[32];
	unsigned int n = 32;
	assert_non_null(HMAC(EVP_sha256(), key, (int)klen, (const unsigned char *)msg, mlen, mac,
			     &n));
	EVP_EncodeBlock((unsigned char *)out, mac, 32);
}

static void dingtalk_url(void **state)
{
	const char *secret = "SECb3f0c5a1e2d94c7f8a6b5c4d3e2f1a0b";
	const int64_t ts = INT64_C(1607389200001);
	struct sbuf url;
	char msg[128], sign[45];

	(void)state;
	sbuf_init(&url);
	notify_dingtalk_url("https://oapi.dingtalk.com/robot/send?access_token=abc", secret, ts,
			    &url);
	/* Python: base64(hmac(secret, "1607389200001\n" + secret)) has '+', '/' and '='. */
	assert_string_equal(url.buf,
			    "https://oapi.dingtalk.com/robot/send?access_token=abc"
			    "&timestamp=1607389200001"
			    "&sign=V8mm2Yi7lzeaeO838AF0Rh%2BM0oY%2FS%2BBlhYOnd9rT6nc%3D");
	snprintf(msg, sizeof(msg), "%lld\n%s", (long long)ts, secret);
	b64_hmac(secret, strlen(secret), msg, strlen(msg), sign);
	assert_string_equal(sign, "V8mm2Yi7lzeaeO838AF0Rh+M0oY/S+BlhYOnd9rT6nc=");
	sbuf_free(&url);

	sbuf_init(&url);
	notify_dingtalk_url("http://127.0.0.1:8080/hook", secret, ts, &url);
	assert_true(strncmp(url.buf, "http://127.0.0.1:8080/hook?timestamp=1607389200001&sign=",
			    56) == 0);
	sbuf_free(&url);

	sbuf_init(&url);
	notify_dingtalk_url("http://h/send?", secret, 1, &url);
	assert_true(strncmp(url.buf, "http://h/send?timestamp=1&sign=", 31) == 0);
	sbuf_free(&url);

	/* No secret: the URL as it is. */
	sbuf_init(&url);
	notify_dingtalk_url("https://oapi.dingtalk.com/robot/send?access_token=abc", NULL, ts,
			    &url);
	assert_string_equal(url.buf, "https://oapi.dingtalk.com/robot/send?access_token=abc");
	sbuf_free(&url);
	sbuf_init(&url);
	notify_dingtalk_url("https://x/y", "", ts, &url);
	assert_string_equal(url.buf, "https://x/y");
	sbuf_free(&url);
}

static void feishu_body(void **state)
{
	struct notify_message m = message(NOTIFY_BEFORE);
	struct sbuf body;
	char key[64], sign[45];

	(void)state;
	sbuf_init(&body);
	assert_int_equal(notify_feishu(&m, "主题", "正文", "feishu-secret", 1607389200, &body), 0);
	/*
	 * Feishu's form: the HMAC keyed by "timestamp\nsecret" over an empty
	 * message.  Python: base64(hmac(b"1607389200\nfeishu-secret", b"")).
	 */
	assert_string_equal(body.buf, "{\"timestamp\":\"1607389200\","
				      "\"sign\":\"XPEzI5BOe0RU0b5a/s8y1/BE7BCxr52OmYxDCSLwQjg=\","
				      "\"msg_type\":\"text\",\"content\":{\"text\":\"主题\\n正文\\n"
				      "@13800000000 @13900000001\"}}");
	snprintf(key, sizeof(key), "1607389200\nfeishu-secret");
	b64_hmac(key, strlen(key), "", 0, sign);
	assert_contains(body.buf, sign);
	/* Not DingTalk's form (keyed by the secret over "timestamp\nsecret"). */
	assert_lacks(body.buf, "itI7bcU5Fgw7F/z9R8lhVsGT8Y+2zC96VsFi6oqGWwg=");
	sbuf_free(&body);

	/* Without a secret neither timestamp nor sign. */
	m.nmobiles = 0;
	sbuf_init(&body);
	assert_int_equal(notify_feishu(&m, "主题", "正文", NULL, 1607389200, &body), 0);
	assert_string_equal(body.buf,
			    "{\"msg_type\":\"text\",\"content\":{\"text\":\"主题\\n正文\"}}");
	sbuf_free(&body);

	/* The body keeps under Feishu's 20 KB, escapes included. */
	struct sbuf t;
	sbuf_init(&t);
	for (int i = 0; i < 4000; i++)
		sbuf_puts(&t, i % 2 ? "考核\"\n" : "材料\\");
	sbuf_init(&body);
	assert_int_equal(notify_feishu(&m, "主题", t.buf, "s", 1, &body), 0);
	assert_true(body.len <= 20000);
	json_t *j = parse(&body);
	const char *c = json_string_value(json_object_get(json_object_get(j, "content"), "text"));
	assert_true(util_utf8_valid(c, strlen(c)));
	assert_true(ends_with(c, marker));
	json_decref(j);
	sbuf_free(&body);
	sbuf_free(&t);
}

/* ------------------------------------------------------------------ */
/* answers */

static struct notify_outcome classify(enum channel_type type, long status, const char *body,
				      int64_t retry_after)
{
	struct notify_outcome o;
	memset(&o, 0x55, sizeof(o));
	notify_classify(type, status, body, body ? strlen(body) : 0, retry_after, &o);
	assert_true(memchr(o.error, '\0', sizeof(o.error)) != NULL);
	assert_true(util_utf8_valid(o.error, strlen(o.error)));
	return o;
}

#define expect_outcome(o, v, c, ra)                                                    \
	do {                                                                           \
		struct notify_outcome o_ = (o);                                        \
		if (o_.verdict != (v) || o_.code != (c) || o_.retry_after != (ra))      \
			fail_msg("%s: verdict %d code %ld retry_after %lld (%s)", #o,    \
				 (int)o_.verdict, o_.code, (long long)o_.retry_after,   \
				 o_.error);                                             \
	} while (0)

static void classify_generic(void **state)
{
	struct notify_outcome o;
	(void)state;
	o = classify(CHANNEL_GENERIC, 200, "ok", -1);
	expect_outcome(o, NOTIFY_OK, 200, -1);
	assert_string_equal(o.error, "");
	expect_outcome(classify(CHANNEL_GENERIC, 204, NULL, -1), NOTIFY_OK, 204, -1);
	expect_outcome(classify(CHANNEL_GENERIC, 408, NULL, -1), NOTIFY_RETRY, 408, -1);
	expect_outcome(classify(CHANNEL_GENERIC, 429, NULL, 30), NOTIFY_RETRY, 429, 30);
	expect_outcome(classify(CHANNEL_GENERIC, 500, NULL, -1), NOTIFY_RETRY, 500, -1);
	expect_outcome(classify(CHANNEL_GENERIC, 503, "busy", 120), NOTIFY_RETRY, 503, 120);
	expect_outcome(classify(CHANNEL_GENERIC, 302, NULL, -1), NOTIFY_RETRY, 302, -1);
	o = classify(CHANNEL_GENERIC, 0, NULL, -1);
	expect_outcome(o, NOTIFY_RETRY, 0, -1);
	assert_string_equal(o.error, "no HTTP answer");
	o = classify(CHANNEL_GENERIC, 404, "no such hook\n", -1);
	expect_outcome(o, NOTIFY_PERMANENT, 404, -1);
	assert_string_equal(o.error, "HTTP 404: no such hook ");
	/* a server's words are kept and shown: no control character in them */
	o = classify(CHANNEL_GENERIC, 500, "\033[2J\x7f" "down\xc2\x9b", -1);
	assert_string_equal(o.error, "HTTP 500:  [2J down  ");
	o = classify(CHANNEL_WECOM, 200,
		     "{\"errcode\":93000,\"errmsg\":\"bad\\u001b]0;x\\u0007\"}", -1);
	assert_null(strpbrk(o.error, "\033\a"));
	assert_non_null(strstr(o.error, "bad ]0;x "));
	o = classify(CHANNEL_GENERIC, 400, "\xff\xfe", -1);
	expect_outcome(o, NOTIFY_PERMANENT, 400, -1);
	assert_string_equal(o.error, "HTTP 400");
	expect_outcome(classify(CHANNEL_GENERIC, 401, NULL, 10), NOTIFY_PERMANENT, 401, -1);
}

static void classify_wecom(void **state)
{
	struct notify_outcome o;
	(void)state;
	o = classify(CHANNEL_WECOM, 200, "{\"errcode\":0,\"errmsg\":\"ok\"}", -1);
	expect_outcome(o, NOTIFY_OK, 0, -1);
	assert_string_equal(o.error, "");
	expect_outcome(classify(CHANNEL_WECOM, 200, "{\"errcode\":-1,\"errmsg\":\"system busy\"}",
				-1),
		       NOTIFY_RETRY, -1, -1);
	expect_outcome(classify(CHANNEL_WECOM, 200, "{\"errcode\":45009,\"errmsg\":\"api freq out "
						    "of limit\"}",
				-1),
		       NOTIFY_RETRY, 45009, 60);
	expect_outcome(classify(CHANNEL_WECOM, 200, "{\"errcode\":45009}", 300), NOTIFY_RETRY,
		       45009, 300);
	o = classify(CHANNEL_WECOM, 200, "{\"errcode\":93000,\"errmsg\":\"invalid webhook url\"}",
		     -1);
	expect_outcome(o, NOTIFY_PERMANENT, 93000, -1);
	assert_string_equal(o.error, "wecom errcode 93000: invalid webhook url");
	o = classify(CHANNEL_WECOM, 200, "{\"errcode\":93000}", -1);
	assert_string_equal(o.error, "wecom errcode 93000: invalid webhook url");
	o = classify(CHANNEL_WECOM, 200, "{\"errcode\":40008,\"errmsg\":\"invalid message type\"}",
		     -1);
	expect_outcome(o, NOTIFY_PERMANENT, 40008, -1);
	assert_string_equal(o.error, "wecom errcode 40008: invalid message type");
	o = classify(CHANNEL_WECOM, 200, "<html>gateway</html>", -1);
	expect_outcome(o, NOTIFY_RETRY, 200, -1);
	assert_contains(o.error, "unreadable");
	expect_outcome(classify(CHANNEL_WECOM, 200, "", -1), NOTIFY_RETRY, 200, -1);
	expect_outcome(classify(CHANNEL_WECOM, 502, "bad gateway", -1), NOTIFY_RETRY, 502, -1);
	expect_outcome(classify(CHANNEL_WECOM, 404, NULL, -1), NOTIFY_PERMANENT, 404, -1);
	expect_outcome(classify(CHANNEL_WECOM, 429, NULL, 7), NOTIFY_RETRY, 429, 7);
}

static void classify_dingtalk(void **state)
{
	struct notify_outcome o;
	(void)state;
	expect_outcome(classify(CHANNEL_DINGTALK, 200, "{\"errcode\":0,\"errmsg\":\"ok\"}", -1),
		       NOTIFY_OK, 0, -1);
	/* Past 20 a minute DingTalk blocks the robot for ten minutes. */
	o = classify(CHANNEL_DINGTALK, 200,
		     "{\"errcode\":130101,\"errmsg\":\"send too fast, exceed 20 times per "
		     "minute\"}",
		     -1);
	expect_outcome(o, NOTIFY_RETRY, 130101, 600);
	assert_string_equal(o.error,
			    "dingtalk errcode 130101: send too fast, exceed 20 times per minute");
	expect_outcome(classify(CHANNEL_DINGTALK, 200, "{\"errcode\":130101}", 900), NOTIFY_RETRY,
		       130101, 900);
	o = classify(CHANNEL_DINGTALK, 200,
		     "{\"errcode\":310000,\"errmsg\":\"keywords not in content\"}", -1);
	expect_outcome(o, NOTIFY_PERMANENT, 310000, -1);
	assert_string_equal(o.error, "dingtalk errcode 310000: keywords not in content");
	expect_outcome(classify(CHANNEL_DINGTALK, 200, "{\"errcode\":300001,\"errmsg\":\"token is "
						       "not exist\"}",
				-1),
		       NOTIFY_PERMANENT, 300001, -1);
	expect_outcome(classify(CHANNEL_DINGTALK, 200, "{\"errcode\":-1}", -1), NOTIFY_RETRY, -1,
		       -1);
	expect_outcome(classify(CHANNEL_DINGTALK, 200, "not json", -1), NOTIFY_RETRY, 200, -1);
	expect_outcome(classify(CHANNEL_DINGTALK, 503, NULL, 5), NOTIFY_RETRY, 503, 5);
	expect_outcome(classify(CHANNEL_DINGTALK, 403, NULL, -1), NOTIFY_PERMANENT, 403, -1);
}

static void classify_feishu(void **state)
{
	struct notify_outcome o;
	(void)state;
	expect_outcome(classify(CHANNEL_FEISHU, 200, "{\"code\":0,\"data\":{},\"msg\":\"success\"}",
				-1),
		       NOTIFY_OK, 0, -1);
	expect_outcome(classify(CHANNEL_FEISHU, 200, "{\"Extra\":null,\"StatusCode\":0,"
						     "\"StatusMessage\":\"success\"}",
				-1),
		       NOTIFY_OK, 0, -1);
	expect_outcome(classify(CHANNEL_FEISHU, 200, "{\"code\":9499,\"msg\":\"too many "
						     "request\"}",
				-1),
		       NOTIFY_RETRY, 9499, 60);
	expect_outcome(classify(CHANNEL_FEISHU, 200, "{\"code\":11232,\"msg\":\"frequency "
						     "limited\"}",
				90),
		       NOTIFY_RETRY, 11232, 90);
	o = classify(CHANNEL_FEISHU, 200,
		     "{\"code\":19021,\"data\":{},\"msg\":\"sign match fail or timestamp is not "
		     "within one hour from current time\"}",
		     -1);
	expect_outcome(o, NOTIFY_PERMANENT, 19021, -1);
	assert_string_equal(o.error, "feishu code 19021: sign match fail or timestamp is not "
				     "within one hour from current time");
	expect_outcome(classify(CHANNEL_FEISHU, 200, "{\"code\":19022,\"msg\":\"Ip Not Allowed\"}",
				-1),
		       NOTIFY_PERMANENT, 19022, -1);
	expect_outcome(classify(CHANNEL_FEISHU, 200, "{\"code\":19024,\"msg\":\"Key Words Not "
						     "Found\"}",
				-1),
		       NOTIFY_PERMANENT, 19024, -1);
	expect_outcome(classify(CHANNEL_FEISHU, 200, "{\"code\":9999}", -1), NOTIFY_PERMANENT,
		       9999, -1);
	expect_outcome(classify(CHANNEL_FEISHU, 200, "{\"StatusCode\":19021}", -1),
		       NOTIFY_PERMANENT, 19021, -1);
	expect_outcome(classify(CHANNEL_FEISHU, 200, "{}", -1), NOTIFY_RETRY, 200, -1);
	/* A rate limit is retried whatever status carries it. */
	o = classify(CHANNEL_FEISHU, 400, "{\"code\":9499,\"msg\":\"Bad Request\"}", -1);
	expect_outcome(o, NOTIFY_RETRY, 9499, 60);
	assert_string_equal(o.error, "HTTP 400; feishu code 9499: Bad Request");
	expect_outcome(classify(CHANNEL_FEISHU, 400, "{\"code\":19021}", -1), NOTIFY_PERMANENT,
		       19021, -1);
	expect_outcome(classify(CHANNEL_FEISHU, 500, NULL, -1), NOTIFY_RETRY, 500, -1);
}

static void classify_long_message_cut(void **state)
{
	struct sbuf b;
	(void)state;
	sbuf_init(&b);
	SBUF_LIT(&b, "{\"errcode\":40058,\"errmsg\":\"");
	for (int i = 0; i < 300; i++)
		sbuf_puts(&b, "内容");
	SBUF_LIT(&b, "\"}");
	struct notify_outcome o = classify(CHANNEL_WECOM, 200, b.buf, -1);
	expect_outcome(o, NOTIFY_PERMANENT, 40058, -1);
	assert_true(starts_with(o.error, "wecom errcode 40058: 内容"));
	assert_true(strlen(o.error) < sizeof(o.error));
	assert_true(strlen(o.error) > sizeof(o.error) - 8);
	sbuf_free(&b);
}

/* ------------------------------------------------------------------ */
/* an office's digest of several units */

/*
 * An office's escalation digest of several units: no {unit} to name, so
 * the built-in words name the department, and each item line starts with
 * its unit.
 */
static struct notify_message office_digest(struct notify_item its[NITEMS])
{
	static const char *const units[NITEMS] = { "八一路", "白云", "八一路" };
	struct notify_message m = message(NOTIFY_ESCALATION);

	memcpy(its, items, NITEMS * sizeof(*its));
	for (size_t i = 0; i < NITEMS; i++)
		its[i].unit = units[i];
	m.items = its;
	m.recipient = "住建局办公室";
	m.unit_id = m.unit_name = NULL;
	m.nmobiles = 0;
	return m;
}

static void default_office_digest_wording(void **state)
{
	struct notify_item its[NITEMS];
	struct notify_message m = office_digest(its);
	struct sbuf s, t;

	(void)state;
	render(NULL, &m, &s, &t);
	assert_string_equal(s.buf, "【逾期抄送】区住建局考核事项：3项材料已逾期未报送");
	assert_true(starts_with(t.buf, "住建局办公室：\n\n现将区住建局考核事项的逾期情况抄送如下。"));
	assert_contains(t.buf, "\n\n【八一路】- 年度工作总结（第2c项，2020-12-10到期）：未报送；"
			       "逾期扣0.5分，未报送扣1分\n【白云】- 物业企业");
	assert_contains(t.buf, "\n【八一路】- 小区巡查台账（第7a项");
	assert_contains(t.buf, "各单位");
	/* nothing reads as if one unit were meant */
	assert_lacks(t.buf, "该单位");
	assert_lacks(t.buf, "现将考核材料");
	sbuf_free(&s);
	sbuf_free(&t);

	/* The leader's copy is about one unit: the unit's words, no labels. */
	m = message(NOTIFY_ESCALATION);
	render(NULL, &m, &s, &t);
	assert_string_equal(s.buf, "【逾期抄送】八一路：3项材料已逾期未报送");
	assert_lacks(t.buf, "【八一路】");
	sbuf_free(&s);
	sbuf_free(&t);
}

/* A template of one's own still gets the labels, and is used as it stands. */
static void custom_office_digest(void **state)
{
	struct notify_templates t = { .item = "{title}" };
	struct notify_item its[NITEMS];
	struct notify_message m = office_digest(its);
	struct sbuf s, x;

	(void)state;
	t.subject[NOTIFY_ESCALATION] = "[{unit}] {department} {count}";
	t.body[NOTIFY_ESCALATION] = "{items}";
	render(&t, &m, &s, &x);
	assert_string_equal(s.buf, "[] 区住建局 3");
	assert_string_equal(x.buf, "【八一路】年度工作总结\n"
				   "【白云】物业企业信用评价<script>alert('x')</script> & \"整改\"\n"
				   "【八一路】小区巡查台账");
	sbuf_free(&s);
	sbuf_free(&x);
}

/* The email's table and the generic webhook's items name each row's unit. */
static void office_digest_payloads(void **state)
{
	struct notify_item its[NITEMS];
	struct notify_message m = office_digest(its);
	struct notify_email e = envelope();
	struct sbuf s, t, out;
	json_error_t err;
	char *ph;

	(void)state;
	its[1].unit = "<白云>";
	render(NULL, &m, &s, &t);
	sbuf_init(&out);
	assert_int_equal(notify_email(&e, &m, s.buf, t.buf, &out), 0);
	char *html = mime_part(out.buf, "=_kaohe_42_1607389207", 1, &ph);
	assert_contains(html, "<td>【八一路】年度工作总结</td><td>2c</td>");
	assert_contains(html, "<td>【&lt;白云&gt;】物业企业信用评价&lt;script&gt;");
	assert_contains(html, "<td>【八一路】小区巡查台账</td>");
	free(ph);
	free(html);
	sbuf_free(&out);

	sbuf_init(&out);
	assert_int_equal(notify_generic(&m, s.buf, t.buf, &out), 0);
	assert_contains(out.buf, "\"unit\":null,\"department\":{\"id\":\"zjj\"");
	assert_contains(out.buf, "{\"occurrence\":\"2c@2020-12-10\",\"unit\":\"八一路\",\"row\":\"2c\"");
	json_t *j = json_loads(out.buf, 0, &err);
	if (!j)
		fail_msg("not JSON: %s", err.text);
	assert_true(json_is_null(json_object_get(j, "unit")));
	json_t *a = json_object_get(j, "items");
	assert_int_equal(json_array_size(a), NITEMS);
	assert_string_equal(json_string_value(json_object_get(json_array_get(a, 1), "unit")),
			    "<白云>");
	assert_string_equal(json_string_value(json_object_get(json_array_get(a, 2), "unit")),
			    "八一路");
	json_decref(j);
	sbuf_free(&out);
	sbuf_free(&s);
	sbuf_free(&t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(kind_and_channel_names),
		cmocka_unit_test(default_before_reads_well),
		cmocka_unit_test(default_every_kind_names_rows),
		cmocka_unit_test(default_kind_wording),
		cmocka_unit_test(state_words),
		cmocka_unit_test(stake_without_deductions),
		cmocka_unit_test(custom_templates),
		cmocka_unit_test(subject_stays_one_line),
		cmocka_unit_test(template_check_accepts),
		cmocka_unit_test(template_check_rejects),
		cmocka_unit_test(address_parse),
		cmocka_unit_test(email_headers_and_parts),
		cmocka_unit_test(email_long_subject_words),
		cmocka_unit_test(email_subject_lengths),
		cmocka_unit_test(email_ascii_headers),
		cmocka_unit_test(email_refuses_bad_addresses),
		cmocka_unit_test(generic_json),
		cmocka_unit_test(generic_signature),
		cmocka_unit_test(default_office_digest_wording),
		cmocka_unit_test(custom_office_digest),
		cmocka_unit_test(office_digest_payloads),
		cmocka_unit_test(wecom_text),
		cmocka_unit_test(wecom_markdown),
		cmocka_unit_test(dingtalk_body),
		cmocka_unit_test(dingtalk_url),
		cmocka_unit_test(feishu_body),
		cmocka_unit_test(classify_generic),
		cmocka_unit_test(classify_wecom),
		cmocka_unit_test(classify_dingtalk),
		cmocka_unit_test(classify_feishu),
		cmocka_unit_test(classify_long_message_cut),
	};
	return cmocka_run_group_tests(tests, shanghai, NULL);
}
