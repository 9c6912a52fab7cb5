/*
 * Unit tests of the DingTalk robot: its body, its signed URL (checked
 * against HMAC() called here and against a value computed with Python's
 * hmac module), and the reading of its answers.
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

static void dingtalk_body(void **state)
{
	struct notify_message m = sample_message(NOTIFY_DUE);
	struct sbuf body;

	(void)state;
	sbuf_init(&body);
	assert_int_equal(provider_dingtalk_body(&m, "主题", "正文\n", &body), 0);
	assert_string_equal(body.buf,
			    "{\"msgtype\":\"text\","
			    "\"text\":{\"content\":\"主题\\n正文\\n@13800000000 @13900000001\"},"
			    "\"at\":{\"atMobiles\":[\"13800000000\",\"13900000001\"],"
			    "\"isAtAll\":false}}");
	sbuf_free(&body);

	char *text = long_text("x", 9000);
	sbuf_init(&body);
	assert_int_equal(provider_dingtalk_body(&m, "主题", text, &body), 0);
	json_t *j = parse_body(&body);
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
	assert_int_equal(provider_dingtalk_body(&m, "主题", "正文", &body), 0);
	assert_contains(body.buf, "\"content\":\"主题\\n正文\"},\"at\":{\"atMobiles\":[]");
	sbuf_free(&body);
}

static void dingtalk_url(void **state)
{
	const char *secret = "SECb3f0c5a1e2d94c7f8a6b5c4d3e2f1a0b";
	const int64_t ts = INT64_C(1607389200001);
	struct sbuf url;
	char msg[128], sign[45];

	(void)state;
	sbuf_init(&url);
	provider_dingtalk_url("https://oapi.dingtalk.com/robot/send?access_token=abc", secret, ts,
			      &url);
	/* Python: base64(hmac(secret, "1607389200001\n" + secret)) has '+', '/' and '='. */
	assert_string_equal(url.buf, "https://oapi.dingtalk.com/robot/send?access_token=abc"
				     "&timestamp=1607389200001"
				     "&sign=V8mm2Yi7lzeaeO838AF0Rh%2BM0oY%2FS%2BBlhYOnd9rT6nc%3D");
	snprintf(msg, sizeof(msg), "%lld\n%s", (long long)ts, secret);
	b64_hmac(secret, strlen(secret), msg, strlen(msg), sign);
	assert_string_equal(sign, "V8mm2Yi7lzeaeO838AF0Rh+M0oY/S+BlhYOnd9rT6nc=");
	sbuf_free(&url);

	sbuf_init(&url);
	provider_dingtalk_url("http://127.0.0.1:8080/hook", secret, ts, &url);
	assert_true(strncmp(url.buf,
			    "http://127.0.0.1:8080/hook?timestamp=1607389200001&sign=", 56) == 0);
	sbuf_free(&url);

	sbuf_init(&url);
	provider_dingtalk_url("http://h/send?", secret, 1, &url);
	assert_true(strncmp(url.buf, "http://h/send?timestamp=1&sign=", 31) == 0);
	sbuf_free(&url);

	/* No secret: the URL as it is. */
	sbuf_init(&url);
	provider_dingtalk_url("https://oapi.dingtalk.com/robot/send?access_token=abc", NULL, ts,
			      &url);
	assert_string_equal(url.buf, "https://oapi.dingtalk.com/robot/send?access_token=abc");
	sbuf_free(&url);
	sbuf_init(&url);
	provider_dingtalk_url("https://x/y", "", ts, &url);
	assert_string_equal(url.buf, "https://x/y");
	sbuf_free(&url);
}

static void classify_dingtalk(void **state)
{
	struct provider_outcome o;
	(void)state;
	expect_outcome(classify_answer("dingtalk", 200, "{\"errcode\":0,\"errmsg\":\"ok\"}", -1),
		       PROVIDER_OK, 0, -1);
	/* Past 20 a minute DingTalk blocks the robot for ten minutes. */
	o = classify_answer("dingtalk", 200,
			    "{\"errcode\":130101,\"errmsg\":\"send too fast, exceed 20 times per "
			    "minute\"}",
			    -1);
	expect_outcome(o, PROVIDER_RETRY, 130101, 600);
	assert_string_equal(o.error,
			    "dingtalk errcode 130101: send too fast, exceed 20 times per minute");
	expect_outcome(classify_answer("dingtalk", 200, "{\"errcode\":130101}", 900),
		       PROVIDER_RETRY, 130101, 900);
	o = classify_answer("dingtalk", 200,
			    "{\"errcode\":310000,\"errmsg\":\"keywords not in content\"}", -1);
	expect_outcome(o, PROVIDER_PERMANENT, 310000, -1);
	assert_string_equal(o.error, "dingtalk errcode 310000: keywords not in content");
	expect_outcome(classify_answer("dingtalk", 200,
				       "{\"errcode\":300001,\"errmsg\":\"token is "
				       "not exist\"}",
				       -1),
		       PROVIDER_PERMANENT, 300001, -1);
	expect_outcome(classify_answer("dingtalk", 200, "{\"errcode\":-1}", -1), PROVIDER_RETRY, -1,
		       -1);
	expect_outcome(classify_answer("dingtalk", 200, "not json", -1), PROVIDER_RETRY, 200, -1);
	expect_outcome(classify_answer("dingtalk", 503, NULL, 5), PROVIDER_RETRY, 503, 5);
	expect_outcome(classify_answer("dingtalk", 403, NULL, -1), PROVIDER_PERMANENT, 403, -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(dingtalk_body),
		cmocka_unit_test(dingtalk_url),
		cmocka_unit_test(classify_dingtalk),
	};
	return cmocka_run_group_tests(tests, shanghai_group_setup, NULL);
}
