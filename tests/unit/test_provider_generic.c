/*
 * Unit tests of the generic webhook: its JSON body, its signature
 * (checked against HMAC() called here and against a value computed
 * outside the project, with Python's hmac module), and the reading of
 * HTTP answers.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "kaohe/provider.h"
#include "kaohe/util.h"
#include "support.h"

static void generic_json(void **state)
{
	struct notify_message m = sample_message(NOTIFY_ESCALATION);
	struct notify_item its[SAMPLE_NITEMS];
	struct sbuf s, t, body;
	json_error_t err;

	(void)state;
	memcpy(its, sample_items, sizeof(its));
	its[2].late = 10; /* 0.1: binary noise must not show */
	m.items = its;
	sample_render(NULL, &m, &s, &t);
	sbuf_init(&body);
	assert_int_equal(provider_generic_body(&m, s.buf, t.buf, &body), 0);
	assert_true(starts_with(body.buf, "{\"delivery\":42,\"kind\":\"escalation\",\"at\":"));
	assert_contains(body.buf, "\"late\":0.5,\"missing\":1,");
	assert_contains(body.buf, "\"late\":0.1,\"missing\":1,");
	assert_contains(body.buf, "\"late\":0.2,\"missing\":2,");
	/* Fields are added after those already there: the readable forms last. */
	assert_contains(body.buf, "\"missing\":1,\"submit\":\"报送年度业主委员会工作总结\","
				  "\"due_text\":\"12月10日\",\"deadline_text\":\"12月10日（含）\","
				  "\"close_text\":\"12月25日（含）\"}");
	assert_true(ends_with(body.buf, ",\"at_text\":\"2020年12月8日 09:00\"}"));
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
	assert_int_equal(json_array_size(a), SAMPLE_NITEMS);
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
	m = sample_message(NOTIFY_SNAPSHOT);
	sbuf_init(&body);
	assert_int_equal(provider_generic_body(&m, "s", "t", &body), 0);
	assert_contains(body.buf, "\"unit\":null,\"department\":null,\"period\":\"2020-Q3\"");
	assert_contains(body.buf, "\"items\":[]");
	sbuf_free(&body);

	/* Text that is not UTF-8 cannot be sent as JSON. */
	sbuf_init(&body);
	assert_int_equal(provider_generic_body(&m, "s", "\xff", &body), -1);
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
	provider_generic_signature("kaohe-secret", 1607389200, body, strlen(body), sig);
	/* Python: hmac.new(b"kaohe-secret", b'1607389200.{"delivery":42}', sha256).hexdigest() */
	assert_string_equal(sig, "sha256=126ba1036e2a63606e684d567175a3dc3c21a6abf6503b77b397c3a8"
				 "b696ca31");

	/* And as OpenSSL computes it here, for a body with a NUL inside its length. */
	const char raw[] = "ab\0cd";
	HMAC(EVP_sha256(), "k", 1, (const unsigned char *)"-5.ab\0cd", 8, mac, &n);
	strcpy(want, "sha256=");
	for (int i = 0; i < 32; i++)
		snprintf(want + 7 + 2 * i, 3, "%02x", mac[i]);
	provider_generic_signature("k", -5, raw, 5, sig);
	assert_string_equal(sig, want);
	assert_int_equal(strlen(sig), 71);
}

/* An office's digest: the items name each row's unit. */
static void office_digest_items(void **state)
{
	struct notify_item its[SAMPLE_NITEMS];
	struct notify_message m = sample_office_digest(its);
	struct sbuf s, t, out;
	json_error_t err;

	(void)state;
	its[1].unit = "<白云>";
	sample_render(NULL, &m, &s, &t);
	sbuf_init(&out);
	assert_int_equal(provider_generic_body(&m, s.buf, t.buf, &out), 0);
	assert_contains(out.buf, "\"unit\":null,\"department\":{\"id\":\"zjj\"");
	assert_contains(out.buf,
			"{\"occurrence\":\"2c@2020-12-10\",\"unit\":\"八一路\",\"row\":\"2c\"");
	json_t *j = json_loads(out.buf, 0, &err);
	if (!j)
		fail_msg("not JSON: %s", err.text);
	assert_true(json_is_null(json_object_get(j, "unit")));
	json_t *a = json_object_get(j, "items");
	assert_int_equal(json_array_size(a), SAMPLE_NITEMS);
	assert_string_equal(json_string_value(json_object_get(json_array_get(a, 1), "unit")),
			    "<白云>");
	assert_string_equal(json_string_value(json_object_get(json_array_get(a, 2), "unit")),
			    "八一路");
	json_decref(j);
	sbuf_free(&out);
	sbuf_free(&s);
	sbuf_free(&t);
}

static void classify_generic(void **state)
{
	struct provider_outcome o;
	(void)state;
	o = classify_answer("generic", 200, "ok", -1);
	expect_outcome(o, PROVIDER_OK, 200, -1);
	assert_string_equal(o.error, "");
	expect_outcome(classify_answer("generic", 204, NULL, -1), PROVIDER_OK, 204, -1);
	expect_outcome(classify_answer("generic", 408, NULL, -1), PROVIDER_RETRY, 408, -1);
	expect_outcome(classify_answer("generic", 429, NULL, 30), PROVIDER_RETRY, 429, 30);
	expect_outcome(classify_answer("generic", 500, NULL, -1), PROVIDER_RETRY, 500, -1);
	expect_outcome(classify_answer("generic", 503, "busy", 120), PROVIDER_RETRY, 503, 120);
	expect_outcome(classify_answer("generic", 302, NULL, -1), PROVIDER_RETRY, 302, -1);
	o = classify_answer("generic", 0, NULL, -1);
	expect_outcome(o, PROVIDER_RETRY, 0, -1);
	assert_string_equal(o.error, "no HTTP answer");
	o = classify_answer("generic", 404, "no such hook\n", -1);
	expect_outcome(o, PROVIDER_PERMANENT, 404, -1);
	assert_string_equal(o.error, "HTTP 404: no such hook ");
	/* a server's words are kept and shown: no control character in them */
	o = classify_answer("generic", 500,
			    "\033[2J\x7f"
			    "down\xc2\x9b",
			    -1);
	assert_string_equal(o.error, "HTTP 500:  [2J down  ");
	o = classify_answer("wecom", 200,
			    "{\"errcode\":93000,\"errmsg\":\"bad\\u001b]0;x\\u0007\"}", -1);
	assert_null(strpbrk(o.error, "\033\a"));
	assert_non_null(strstr(o.error, "bad ]0;x "));
	o = classify_answer("generic", 400, "\xff\xfe", -1);
	expect_outcome(o, PROVIDER_PERMANENT, 400, -1);
	assert_string_equal(o.error, "HTTP 400");
	expect_outcome(classify_answer("generic", 401, NULL, 10), PROVIDER_PERMANENT, 401, -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(generic_json),
		cmocka_unit_test(generic_signature),
		cmocka_unit_test(office_digest_items),
		cmocka_unit_test(classify_generic),
	};
	return cmocka_run_group_tests(tests, shanghai_group_setup, NULL);
}
