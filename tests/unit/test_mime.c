/*
 * Unit tests of mime: addresses as configured, header lines (folding,
 * RFC 2047 encoded-words, mailboxes), the Date: line and base64 bodies.
 * The whole email is tested in test_provider_email.c.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kaohe/calendar.h"
#include "kaohe/mime.h"
#include "kaohe/util.h"
#include "support.h"

static void address_parse(void **state)
{
	char name[64], addr[64];
	(void)state;

	assert_int_equal(mime_address_parse("西岗区考核办 <kaohe@example.org>", name, sizeof(name),
					    addr, sizeof(addr)),
			 0);
	assert_string_equal(name, "西岗区考核办");
	assert_string_equal(addr, "kaohe@example.org");

	assert_int_equal(mime_address_parse("  kaohe@example.org ", name, sizeof(name), addr,
					    sizeof(addr)),
			 0);
	assert_string_equal(name, "");
	assert_string_equal(addr, "kaohe@example.org");

	assert_int_equal(mime_address_parse("\"Kao, \\\"He\\\"\" <a@b.example>", name, sizeof(name),
					    addr, sizeof(addr)),
			 0);
	assert_string_equal(name, "Kao, \"He\"");
	assert_string_equal(addr, "a@b.example");

	assert_int_equal(
		mime_address_parse("<a@b.example>", name, sizeof(name), addr, sizeof(addr)), 0);
	assert_string_equal(name, "");

	static const char *const bad[] = {
		"",
		"   ",
		"noat",
		"@example.org",
		"a@",
		"a@b@c",
		"a b@example.org",
		"x <a@example.org",
		"x <a@example.org> y",
		"x <>",
		"a@example.org\r\nBcc: victim@example.org",
		"x <a@example.org>\n",
		"\"unterminated <a@example.org>",
		"名 <地址@example.org>",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (mime_address_parse(bad[i], name, sizeof(name), addr, sizeof(addr)) != -1)
			fail_msg("\"%s\" parsed", bad[i]);
	/* Too long for the caller's buffers. */
	assert_int_equal(
		mime_address_parse("abc <abcdefgh@example.org>", name, sizeof(name), addr, 8), -1);
	assert_int_equal(mime_address_parse("abcdef <a@example.org>", name, 4, addr, sizeof(addr)),
			 -1);
}

/* Header NAME with value S written by mime_header_text, then a blank line as a header block ends. */
static void text_header(struct sbuf *out, const char *name, const char *s)
{
	struct mime_header h;
	sbuf_init(out);
	mime_header_start(&h, out, name);
	mime_header_text(&h, s);
	mime_header_end(&h);
	SBUF_LIT(out, "\r\n");
}

/* Plain ASCII is folded at spaces and unfolds to itself, runs of spaces included. */
static void header_text_folds(void **state)
{
	const char *s = "Reminder: the assessment materials of several residential "
			"communities are due on 2020-12-10,   please submit them in time";
	struct sbuf out;
	(void)state;

	text_header(&out, "Subject", "short one");
	assert_string_equal(out.buf, "Subject: short one\r\n\r\n");
	sbuf_free(&out);

	text_header(&out, "Subject", s);
	expect_mime_lines(out.buf, 78);
	assert_non_null(strstr(out.buf, "\r\n "));
	char *v = mime_header_value(out.buf, "Subject");
	assert_string_equal(v, s);
	free(v);
	sbuf_free(&out);
}

/*
 * Text that is not plain ASCII, holds "=?" or has a word too long to
 * fold becomes encoded-words, each whole characters, the lines at most
 * 76.
 */
static void header_text_encodes(void **state)
{
	static const char *const values[] = {
		("考核考核考核考核考核考核考核考核考核考核考核考核考核考核考核考核考核考核考核考核"
		 "考核考核考核考核考核考核考核考核考核考核考核考核考核考核考核考核考核考核考核考核"),
		"a =?x?= b",
		"x-aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
		"😀 é 𠀀",
	};
	(void)state;
	for (size_t i = 0; i < sizeof(values) / sizeof(values[0]); i++) {
		struct sbuf out, d;
		text_header(&out, "Subject", values[i]);
		expect_mime_lines(out.buf, 76);
		assert_true(starts_with(out.buf, "Subject: =?UTF-8?B?"));
		char *v = mime_header_value(out.buf, "Subject");
		sbuf_init(&d);
		int n = decode_words(v, &d);
		assert_true(i == 0 ? n >= 3 : n >= 1);
		assert_string_equal(d.buf, values[i]);
		sbuf_free(&d);
		free(v);
		sbuf_free(&out);
	}
	/* The first word of 40 characters: 6ICD5qC4 is 考核 in base64. */
	struct sbuf out;
	text_header(&out, "Subject", values[0]);
	assert_true(starts_with(out.buf, "Subject: =?UTF-8?B?6ICD5qC46ICD5qC4"));
	sbuf_free(&out);
}

static void mailbox(struct sbuf *out, const char *name, const char *addr)
{
	struct mime_header h;
	sbuf_init(out);
	mime_header_start(&h, out, "To");
	mime_header_mailbox(&h, name, addr);
	mime_header_end(&h);
}

/* A display name as atoms, a quoted-string, or encoded-words; none: the address alone. */
static void header_mailbox(void **state)
{
	struct sbuf out;
	(void)state;

	mailbox(&out, "Kaohe Office", "kaohe@example.org");
	assert_string_equal(out.buf, "To: Kaohe Office <kaohe@example.org>\r\n");
	sbuf_free(&out);
	mailbox(&out, "Ops, \"A\\B\"", "a@example.org");
	assert_string_equal(out.buf, "To: \"Ops, \\\"A\\\\B\\\"\" <a@example.org>\r\n");
	sbuf_free(&out);
	mailbox(&out, "考核办", "kaohe@example.org");
	assert_string_equal(out.buf, "To: =?UTF-8?B?6ICD5qC45Yqe?= <kaohe@example.org>\r\n");
	sbuf_free(&out);
	mailbox(&out, NULL, "a@example.org");
	assert_string_equal(out.buf, "To: <a@example.org>\r\n");
	sbuf_free(&out);
	mailbox(&out, "", "a@example.org");
	assert_string_equal(out.buf, "To: <a@example.org>\r\n");
	sbuf_free(&out);
}

/* RFC 5322's date in the process's zone, the offset with its sign and minutes. */
static void date_line(void **state)
{
	char err[256];
	struct sbuf out;
	(void)state;

	sbuf_init(&out);
	assert_int_equal(mime_date(&out, AT_2020_12_08_0900 + 7), 0);
	assert_string_equal(out.buf, "Date: Tue, 08 Dec 2020 09:00:07 +0800\r\n");
	sbuf_free(&out);
	/* Newfoundland: three and a half hours behind UTC in December. */
	assert_int_equal(calendar_set_timezone("America/St_Johns", err, sizeof(err)), 0);
	sbuf_init(&out);
	assert_int_equal(mime_date(&out, AT_2020_12_08_0900), 0);
	assert_string_equal(out.buf, "Date: Mon, 07 Dec 2020 21:30:00 -0330\r\n");
	sbuf_free(&out);
	assert_int_equal(calendar_set_timezone("Asia/Shanghai", err, sizeof(err)), 0);
}

/* A text part: every line end as CRLF, then base64 in lines of 76. */
static void base64_body(void **state)
{
	struct sbuf out;
	(void)state;

	sbuf_init(&out);
	mime_base64_body(&out, "第一行\n第二行\r\n第三行\r末尾");
	/* Python: base64.b64encode("第一行\r\n第二行\r\n第三行\r\n末尾".encode()) */
	assert_string_equal(out.buf, "56ys5LiA6KGMDQrnrKzkuozooYwNCuesrOS4ieihjA0K5pyr5bC+\r\n");
	sbuf_free(&out);

	char *t = long_text("", 100);
	sbuf_init(&out);
	mime_base64_body(&out, t);
	size_t lines = 0;
	for (const char *p = out.buf; *p; lines++) {
		const char *e = strstr(p, "\r\n");
		assert_non_null(e);
		assert_true(e - p <= 76);
		if (e[2])
			assert_int_equal(e - p, 76);
		p = e + 2;
	}
	/* 300 bytes: 400 base64 characters. */
	assert_int_equal(lines, 6);
	sbuf_free(&out);
	free(t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(address_parse),       cmocka_unit_test(header_text_folds),
		cmocka_unit_test(header_text_encodes), cmocka_unit_test(header_mailbox),
		cmocka_unit_test(date_line),           cmocka_unit_test(base64_body),
	};
	return cmocka_run_group_tests(tests, shanghai_group_setup, NULL);
}
