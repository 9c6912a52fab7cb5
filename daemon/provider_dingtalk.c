/*
 * provider_dingtalk — the DingTalk (钉钉) robot: a "text" message with
 * at.atMobiles, the mobiles also written as "@mobile" in the text (only
 * there does DingTalk highlight them).  With a secret the URL is signed.
 * Its answer carries errcode and errmsg.
 */
#include <ctype.h>
#include <string.h>

#include "kaohe/provider.h"

/* DingTalk's documented limit on a text message's content. */
#define DINGTALK_TEXT_MAX 20000

int provider_dingtalk_body(const struct notify_message *m, const char *subject, const char *text,
			   struct sbuf *body)
{
	struct sbuf head, tail, content;
	json_t *o = json_object(), *t = json_object(), *at = json_object();
	int bad = 0;

	sbuf_init(&head);
	sbuf_init(&tail);
	sbuf_init(&content);
	provider_add_subject_text(&head, subject, text);
	/* DingTalk highlights a mention only where "@mobile" stands in the text. */
	provider_add_mentions_line(m, &tail);
	provider_fit(&content, &head, &tail, DINGTALK_TEXT_MAX);
	bad |= json_object_set_new(o, "msgtype", json_string("text"));
	bad |= json_object_set_new(t, "content", json_string(content.buf));
	bad |= json_object_set_new(o, "text", t);
	bad |= json_object_set_new(at, "atMobiles", provider_json_mobiles(m, &bad));
	bad |= json_object_set_new(at, "isAtAll", json_false());
	bad |= json_object_set_new(o, "at", at);
	sbuf_free(&head);
	sbuf_free(&tail);
	sbuf_free(&content);
	return provider_json_dump(o, bad, body);
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

void provider_dingtalk_url(const char *url, const char *secret, int64_t now_ms, struct sbuf *out)
{
	unsigned char mac[32];
	struct sbuf msg, sign;

	sbuf_puts(out, url);
	if (!secret || !*secret)
		return;
	sbuf_init(&msg);
	sbuf_init(&sign);
	sbuf_printf(&msg, "%lld\n%s", (long long)now_ms, secret);
	provider_hmac_sha256(secret, strlen(secret), msg.buf, msg.len, mac);
	provider_add_base64(&sign, mac, sizeof(mac));
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

static int dingtalk_request(const struct channel *c, const struct provider_message *pm,
			    struct provider_request *req)
{
	int rc = provider_dingtalk_body(pm->m, pm->subject, pm->text, req->body);
	provider_dingtalk_url(c->url, provider_secret(c), pm->now_ms, req->url);
	req->xfer.url = req->url->buf;
	provider_json_headers(req, pm->m->id);
	return rc;
}

/* The codes DingTalk documents; see wecom_codes for what is retried. */
static const struct provider_code dingtalk_codes[] = {
	{ -1, PROVIDER_RETRY, -1, "system busy" },
	/* Past 20 messages a minute DingTalk blocks the robot for 10 minutes. */
	{ 130101, PROVIDER_RETRY, 600, "send too fast" },
	{ 310000, PROVIDER_PERMANENT, -1, "sign, keyword or ip check failed" },
	{ 0, 0, 0, NULL },
};

static const struct provider_answer dingtalk_answer = {
	.label = "errcode",
	.code_key = { "errcode" },
	.msg_key = { "errmsg" },
	.codes = dingtalk_codes,
};

static void dingtalk_classify(const struct transfer_result *r, struct provider_outcome *out)
{
	provider_classify_http("dingtalk", &dingtalk_answer, r, out);
}

static size_t dingtalk_text_max(const struct channel *c)
{
	(void)c;
	return DINGTALK_TEXT_MAX;
}

static const char *const dingtalk_schemes[] = { "https://", "http://", NULL };
static const char *const dingtalk_keys[] = { "secret_file", "format", NULL };

const struct provider provider_dingtalk = {
	.name = "dingtalk",
	.schemes = dingtalk_schemes,
	.keys = dingtalk_keys,
	/* 20 messages a minute per robot. */
	.rates = { { 20, 60000 } },
	.nrates = 1,
	.load = provider_secret_load,
	.free = provider_secret_free,
	.request = dingtalk_request,
	.classify = dingtalk_classify,
	.text_max = dingtalk_text_max,
};
