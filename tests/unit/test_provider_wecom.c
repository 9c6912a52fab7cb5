/*
 * Unit tests of the WeCom robot: text and markdown bodies, cut to the
 * robot's limits, and the reading of its answers.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kaohe/provider.h"
#include "kaohe/util.h"
#include "support.h"

static void wecom_text(void **state)
{
	struct notify_message m = sample_message(NOTIFY_BEFORE);
	struct sbuf body;

	(void)state;
	sbuf_init(&body);
	assert_int_equal(provider_wecom_body(false, &m, "主题", "正文\n第二行\n\n", &body), 0);
	assert_string_equal(body.buf,
			    "{\"msgtype\":\"text\",\"text\":{\"content\":\"主题\\n正文\\n第二行\","
			    "\"mentioned_mobile_list\":[\"13800000000\",\"13900000001\"]}}");
	sbuf_free(&body);

	/* Cut to at most 2048 bytes wherever the character boundaries fall. */
	for (int shift = 0; shift < 3; shift++) {
		char *text = long_text(shift == 0 ? "" : shift == 1 ? "a" : "ab", 3000);
		sbuf_init(&body);
		assert_int_equal(provider_wecom_body(false, &m, "【考核提醒】八一路", text, &body),
				 0);
		json_t *j = parse_body(&body);
		const char *c =
			json_string_value(json_object_get(json_object_get(j, "text"), "content"));
		size_t len = strlen(c);
		assert_true(len <= 2048);
		assert_true(len > 2048 - 3); /* nothing given away but a partial character */
		assert_true(util_utf8_valid(c, len));
		assert_true(ends_with(c, CUT_MARKER));
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
	struct notify_message m = sample_message(NOTIFY_OVERDUE);
	struct sbuf body;

	(void)state;
	sbuf_init(&body);
	const char *md = "# 不是标题\n> 不是引用\n[链接](x) `c` <font>a#b</font>";
	assert_int_equal(provider_wecom_body(true, &m, "标题*1*", md, &body), 0);
	json_t *j = parse_body(&body);
	assert_string_equal(json_string_value(json_object_get(j, "msgtype")), "markdown");
	assert_null(json_object_get(j, "text"));
	const char *c =
		json_string_value(json_object_get(json_object_get(j, "markdown"), "content"));
	assert_string_equal(c, "**标题＊1＊**\n＃ 不是标题\n＞ 不是引用\n［链接］(x) ｀c｀ "
			       "＜font＞a#b＜/font＞\n@13800000000 @13900000001");
	assert_null(json_object_get(json_object_get(j, "markdown"), "mentioned_mobile_list"));
	json_decref(j);
	sbuf_free(&body);

	for (int shift = 0; shift < 3; shift++) {
		char *text = long_text(shift == 0 ? "" : shift == 1 ? "*" : "ab", 3000);
		sbuf_init(&body);
		assert_int_equal(provider_wecom_body(true, &m, "主题", text, &body), 0);
		j = parse_body(&body);
		c = json_string_value(json_object_get(json_object_get(j, "markdown"), "content"));
		size_t len = strlen(c);
		assert_true(len <= 4096 && len > 4096 - 3);
		assert_true(util_utf8_valid(c, len));
		/* The mentions survive the cut, after the CUT_MARKER. */
		assert_true(ends_with(c, "（内容过长，已截断）\n@13800000000 @13900000001"));
		json_decref(j);
		sbuf_free(&body);
		free(text);
	}
}

static void classify_wecom(void **state)
{
	struct provider_outcome o;
	(void)state;
	o = classify_answer("wecom", 200, "{\"errcode\":0,\"errmsg\":\"ok\"}", -1);
	expect_outcome(o, PROVIDER_OK, 0, -1);
	assert_string_equal(o.error, "");
	expect_outcome(classify_answer("wecom", 200, "{\"errcode\":-1,\"errmsg\":\"system busy\"}",
				       -1),
		       PROVIDER_RETRY, -1, -1);
	expect_outcome(classify_answer("wecom", 200,
				       "{\"errcode\":45009,\"errmsg\":\"api freq out "
				       "of limit\"}",
				       -1),
		       PROVIDER_RETRY, 45009, 60);
	expect_outcome(classify_answer("wecom", 200, "{\"errcode\":45009}", 300), PROVIDER_RETRY,
		       45009, 300);
	o = classify_answer("wecom", 200, "{\"errcode\":93000,\"errmsg\":\"invalid webhook url\"}",
			    -1);
	expect_outcome(o, PROVIDER_PERMANENT, 93000, -1);
	assert_string_equal(o.error, "wecom errcode 93000: invalid webhook url");
	o = classify_answer("wecom", 200, "{\"errcode\":93000}", -1);
	assert_string_equal(o.error, "wecom errcode 93000: invalid webhook url");
	o = classify_answer("wecom", 200, "{\"errcode\":40008,\"errmsg\":\"invalid message type\"}",
			    -1);
	expect_outcome(o, PROVIDER_PERMANENT, 40008, -1);
	assert_string_equal(o.error, "wecom errcode 40008: invalid message type");
	o = classify_answer("wecom", 200, "<html>gateway</html>", -1);
	expect_outcome(o, PROVIDER_RETRY, 200, -1);
	assert_contains(o.error, "unreadable");
	expect_outcome(classify_answer("wecom", 200, "", -1), PROVIDER_RETRY, 200, -1);
	expect_outcome(classify_answer("wecom", 502, "bad gateway", -1), PROVIDER_RETRY, 502, -1);
	expect_outcome(classify_answer("wecom", 404, NULL, -1), PROVIDER_PERMANENT, 404, -1);
	expect_outcome(classify_answer("wecom", 429, NULL, 7), PROVIDER_RETRY, 429, 7);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(wecom_text),
		cmocka_unit_test(wecom_markdown),
		cmocka_unit_test(classify_wecom),
	};
	return cmocka_run_group_tests(tests, shanghai_group_setup, NULL);
}
