/*
 * Unit tests of the Feishu robot: its body and signature (Feishu's own
 * form, checked against a value computed with Python's hmac module), its
 * size limit, and the reading of its answers.
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

static void feishu_body(void **state)
{
	struct notify_message m = sample_message(NOTIFY_BEFORE);
	struct sbuf body;
	char key[64], sign[45];

	(void)state;
	sbuf_init(&body);
	assert_int_equal(
		provider_feishu_body(&m, "主题", "正文", "feishu-secret", 1607389200, &body), 0);
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
	assert_int_equal(provider_feishu_body(&m, "主题", "正文", NULL, 1607389200, &body), 0);
	assert_string_equal(body.buf,
			    "{\"msg_type\":\"text\",\"content\":{\"text\":\"主题\\n正文\"}}");
	sbuf_free(&body);

	/* The body keeps under Feishu's 20 KB, escapes included. */
	struct sbuf t;
	sbuf_init(&t);
	for (int i = 0; i < 4000; i++)
		sbuf_puts(&t, i % 2 ? "考核\"\n" : "材料\\");
	sbuf_init(&body);
	assert_int_equal(provider_feishu_body(&m, "主题", t.buf, "s", 1, &body), 0);
	assert_true(body.len <= 20000);
	json_t *j = parse_body(&body);
	const char *c = json_string_value(json_object_get(json_object_get(j, "content"), "text"));
	assert_true(util_utf8_valid(c, strlen(c)));
	assert_true(ends_with(c, CUT_MARKER));
	json_decref(j);
	sbuf_free(&body);
	sbuf_free(&t);
}

static void classify_feishu(void **state)
{
	struct provider_outcome o;
	(void)state;
	expect_outcome(classify_answer("feishu", 200,
				       "{\"code\":0,\"data\":{},\"msg\":\"success\"}", -1),
		       PROVIDER_OK, 0, -1);
	expect_outcome(classify_answer("feishu", 200,
				       "{\"Extra\":null,\"StatusCode\":0,"
				       "\"StatusMessage\":\"success\"}",
				       -1),
		       PROVIDER_OK, 0, -1);
	expect_outcome(classify_answer("feishu", 200,
				       "{\"code\":9499,\"msg\":\"too many "
				       "request\"}",
				       -1),
		       PROVIDER_RETRY, 9499, 60);
	expect_outcome(classify_answer("feishu", 200,
				       "{\"code\":11232,\"msg\":\"frequency "
				       "limited\"}",
				       90),
		       PROVIDER_RETRY, 11232, 90);
	o = classify_answer(
		"feishu", 200,
		"{\"code\":19021,\"data\":{},\"msg\":\"sign match fail or timestamp is not "
		"within one hour from current time\"}",
		-1);
	expect_outcome(o, PROVIDER_PERMANENT, 19021, -1);
	assert_string_equal(o.error, "feishu code 19021: sign match fail or timestamp is not "
				     "within one hour from current time");
	expect_outcome(classify_answer("feishu", 200, "{\"code\":19022,\"msg\":\"Ip Not Allowed\"}",
				       -1),
		       PROVIDER_PERMANENT, 19022, -1);
	expect_outcome(classify_answer("feishu", 200,
				       "{\"code\":19024,\"msg\":\"Key Words Not "
				       "Found\"}",
				       -1),
		       PROVIDER_PERMANENT, 19024, -1);
	expect_outcome(classify_answer("feishu", 200, "{\"code\":9999}", -1), PROVIDER_PERMANENT,
		       9999, -1);
	expect_outcome(classify_answer("feishu", 200, "{\"StatusCode\":19021}", -1),
		       PROVIDER_PERMANENT, 19021, -1);
	expect_outcome(classify_answer("feishu", 200, "{}", -1), PROVIDER_RETRY, 200, -1);
	/* A rate limit is retried whatever status carries it. */
	o = classify_answer("feishu", 400, "{\"code\":9499,\"msg\":\"Bad Request\"}", -1);
	expect_outcome(o, PROVIDER_RETRY, 9499, 60);
	assert_string_equal(o.error, "HTTP 400; feishu code 9499: Bad Request");
	expect_outcome(classify_answer("feishu", 400, "{\"code\":19021}", -1), PROVIDER_PERMANENT,
		       19021, -1);
	expect_outcome(classify_answer("feishu", 500, NULL, -1), PROVIDER_RETRY, 500, -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(feishu_body),
		cmocka_unit_test(classify_feishu),
	};
	return cmocka_run_group_tests(tests, shanghai_group_setup, NULL);
}
