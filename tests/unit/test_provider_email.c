/*
 * Unit tests of the email provider: the whole message (headers, RFC 2047
 * words, MIME parts) and the reading of SMTP's answers.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kaohe/provider.h"
#include "kaohe/util.h"
#include "support.h"

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

/* Header NAME of MSG is VALUE. */
static void expect_header(const char *msg, const char *name, const char *value)
{
	char *v = mime_header_value(msg, name);
	assert_non_null(v);
	assert_string_equal(v, value);
	free(v);
}

/*
 * Header NAME of MSG is TEXT in at least MIN_WORDS encoded-words (RFC
 * 2047), then the address ADDR ("<…>") when ADDR is not NULL.
 */
static void expect_decoded(const char *msg, const char *name, const char *text, const char *addr,
			   int min_words)
{
	char *v = mime_header_value(msg, name);
	struct sbuf d;
	assert_non_null(v);
	if (addr) {
		char *lt = strrchr(v, '<');
		assert_non_null(lt);
		assert_string_equal(lt, addr);
		lt[-1] = '\0';
	}
	sbuf_init(&d);
	assert_true(decode_words(v, &d) >= min_words);
	assert_string_equal(d.buf, text);
	sbuf_free(&d);
	free(v);
}

static struct provider_email_envelope envelope(void)
{
	struct provider_email_envelope e = {
		.from = "西岗区住建局考核办 <kaohe@example.org>",
		.to_name = "八一路街道联络员",
		.to_addr = "liaison@example.org",
		.hostname = "kaohe.example.org",
		.now = AT_2020_12_08_0900 + 7,
	};
	return e;
}

static void email_headers_and_parts(void **state)
{
	struct notify_message m = sample_message(NOTIFY_BEFORE);
	struct provider_email_envelope e = envelope();
	struct sbuf s, t, out;

	(void)state;
	sample_render(NULL, &m, &s, &t);
	sbuf_init(&out);
	assert_int_equal(provider_email_message(&e, &m, s.buf, t.buf, &out), 0);
	expect_mime_lines(out.buf, 78);

	expect_header(out.buf, "Date", "Tue, 08 Dec 2020 09:00:07 +0800");
	expect_header(out.buf, "Message-ID", "<kaohe.42.1607389207@kaohe.example.org>");
	expect_header(out.buf, "X-Kaohe-Delivery", "42");
	expect_header(out.buf, "MIME-Version", "1.0");
	expect_header(out.buf, "Content-Type",
		      "multipart/alternative; boundary=\"=_kaohe_42_1607389207\"");

	/* From and To: the display names as encoded-words, the addresses as they are. */
	expect_decoded(out.buf, "From", "西岗区住建局考核办", "<kaohe@example.org>", 1);
	expect_decoded(out.buf, "To", "八一路街道联络员", "<liaison@example.org>", 1);
	expect_decoded(out.buf, "Subject", s.buf, NULL, 1);

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
	assert_contains(html,
			"<td>年度工作总结</td><td>2c</td><td>报送年度业主委员会工作总结</td>"
			"<td>区住建局</td><td>请于12月10日（含）前报送（逾期扣0.5分，未报送扣1分）"
			"</td><td>未报送</td>");
	assert_contains(html, "<title>【考核提醒】八一路：3项材料请于12月8日（含）前报送</title>");
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
	struct notify_message m = sample_message(NOTIFY_BEFORE);
	struct provider_email_envelope e = envelope();

	(void)state;
	e.from = "大连市西岗区人民政府办公室居住小区管理工作考核领导小组办公室（区住建局物业科）"
		 " <kaohe@example.org>";
	for (size_t i = 0; i < sizeof(subjects) / sizeof(subjects[0]); i++) {
		struct sbuf out;
		sbuf_init(&out);
		assert_int_equal(provider_email_message(&e, &m, subjects[i], "正文", &out), 0);
		/* RFC 2047: a line holding encoded-words is at most 76 characters. */
		expect_mime_lines(out.buf, 76);
		expect_decoded(out.buf, "Subject", subjects[i], NULL, i == 0 ? 4 : 2);
		expect_decoded(out.buf, "From",
			       "大连市西岗区人民政府办公室居住小区管理工作考核领导小组"
			       "办公室（区住建局物业科）",
			       "<kaohe@example.org>", 2);
		sbuf_free(&out);
	}
}

/* Every length and mix up to 150 characters splits into sound words. */
static void email_subject_lengths(void **state)
{
	static const char *const pieces[] = { "考", "a", "😀", "核", "é", " ", "材" };
	struct notify_message m = sample_message(NOTIFY_DUE);
	struct provider_email_envelope e = envelope();

	(void)state;
	for (size_t n = 1; n <= 150; n++) {
		struct sbuf subj, out, d;
		sbuf_init(&subj);
		for (size_t i = 0; i < n; i++)
			sbuf_puts(&subj, pieces[(i * 5 + n) % 7]);
		sbuf_init(&out);
		assert_int_equal(provider_email_message(&e, &m, subj.buf, "t", &out), 0);
		expect_mime_lines(out.buf, 76);
		char *v = mime_header_value(out.buf, "Subject");
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
	struct notify_message m = sample_message(NOTIFY_DEAD);
	struct provider_email_envelope e = envelope();
	struct sbuf out;

	(void)state;
	e.from = "Kaohe Office <kaohe@example.org>";
	e.to_name = "Ops, Duty (on call) \"A\"";
	sbuf_init(&out);
	assert_int_equal(provider_email_message(&e, &m, "Delivery 12 failed", "text\n", &out), 0);
	expect_header(out.buf, "From", "Kaohe Office <kaohe@example.org>");
	expect_header(out.buf, "To", "\"Ops, Duty (on call) \\\"A\\\"\" <liaison@example.org>");
	expect_header(out.buf, "Subject", "Delivery 12 failed");
	sbuf_free(&out);

	/* A long ASCII subject is folded at spaces and unfolds to itself. */
	const char *longsub = "Reminder: the assessment materials of several residential "
			      "communities are due on 2020-12-10, please submit  them in time";
	e.to_name = NULL;
	sbuf_init(&out);
	assert_int_equal(provider_email_message(&e, &m, longsub, "x", &out), 0);
	expect_mime_lines(out.buf, 78);
	expect_header(out.buf, "Subject", longsub);
	expect_header(out.buf, "To", "<liaison@example.org>");
	sbuf_free(&out);

	/* "=?" in plain text would read as an encoded-word: it is encoded itself. */
	sbuf_init(&out);
	assert_int_equal(provider_email_message(&e, &m, "a =?x?= b", "x", &out), 0);
	expect_decoded(out.buf, "Subject", "a =?x?= b", NULL, 1);
	sbuf_free(&out);
}

static void email_refuses_bad_addresses(void **state)
{
	struct notify_message m = sample_message(NOTIFY_DUE);
	struct provider_email_envelope e = envelope();
	struct sbuf out;

	(void)state;
	sbuf_init(&out);
	e.from = "not an address";
	assert_int_equal(provider_email_message(&e, &m, "s", "t", &out), -1);
	e = envelope();
	e.to_addr = "liaison@example.org\r\nBcc: x@example.org";
	assert_int_equal(provider_email_message(&e, &m, "s", "t", &out), -1);
	e = envelope();
	e.to_name = "x\r\nBcc: y@example.org";
	assert_int_equal(provider_email_message(&e, &m, "s", "t", &out), -1);
	sbuf_free(&out);

	/* A line break smuggled into the subject does not start a header. */
	e = envelope();
	sbuf_init(&out);
	assert_int_equal(provider_email_message(&e, &m, "hi\r\nBcc: x@example.org", "t", &out), 0);
	assert_null(strstr(out.buf, "\r\nBcc:"));
	sbuf_free(&out);
}

/* An office's digest: the email's table names each row's unit. */
static void office_digest_table(void **state)
{
	struct notify_item its[SAMPLE_NITEMS];
	struct notify_message m = sample_office_digest(its);
	struct provider_email_envelope e = envelope();
	struct sbuf s, t, out;
	char *ph;

	(void)state;
	its[1].unit = "<白云>";
	sample_render(NULL, &m, &s, &t);
	sbuf_init(&out);
	assert_int_equal(provider_email_message(&e, &m, s.buf, t.buf, &out), 0);
	char *html = mime_part(out.buf, "=_kaohe_42_1607389207", 1, &ph);
	assert_contains(html, "<td>【八一路】年度工作总结</td><td>2c</td>");
	assert_contains(html, "<td>【&lt;白云&gt;】物业企业信用评价&lt;script&gt;");
	assert_contains(html, "<td>【八一路】小区巡查台账</td>");
	free(ph);
	free(html);
	sbuf_free(&out);

	sbuf_free(&s);
	sbuf_free(&t);
}

/* SMTP's answers: a 5xx reply or refused credentials are final, the rest is retried. */
static void classify_smtp(void **state)
{
	const struct provider *p = provider_find("email");
	struct provider_outcome o;

	(void)state;
	memset(&o, 0x55, sizeof(o));
	p->classify(&(struct transfer_result){ .status = 250, .error = "" }, &o);
	expect_outcome(o, PROVIDER_OK, 250, -1);
	assert_string_equal(o.error, "");
	p->classify(&(struct transfer_result){ .curl_code = CURLE_SEND_ERROR,
					       .status = 550,
					       .error = "Failed sending data to the peer" },
		    &o);
	expect_outcome(o, PROVIDER_PERMANENT, 550, -1);
	assert_string_equal(o.error, "smtp 550: Failed sending data to the peer");
	p->classify(&(struct transfer_result){ .curl_code = CURLE_LOGIN_DENIED,
					       .status = 535,
					       .error = "Login denied" },
		    &o);
	expect_outcome(o, PROVIDER_PERMANENT, 535, -1);
	p->classify(&(struct transfer_result){ .curl_code = CURLE_SEND_ERROR,
					       .status = 451,
					       .error = "try later" },
		    &o);
	expect_outcome(o, PROVIDER_RETRY, 451, -1);
	assert_string_equal(o.error, "smtp 451: try later");
	p->classify(&(struct transfer_result){ .curl_code = CURLE_COULDNT_CONNECT,
					       .error = "Couldn't connect to server" },
		    &o);
	expect_outcome(o, PROVIDER_RETRY, 0, -1);
	assert_string_equal(o.error, "smtp: Couldn't connect to server");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(email_headers_and_parts),
		cmocka_unit_test(email_long_subject_words),
		cmocka_unit_test(email_subject_lengths),
		cmocka_unit_test(email_ascii_headers),
		cmocka_unit_test(email_refuses_bad_addresses),
		cmocka_unit_test(office_digest_table),
		cmocka_unit_test(classify_smtp),
	};
	return cmocka_run_group_tests(tests, shanghai_group_setup, NULL);
}
