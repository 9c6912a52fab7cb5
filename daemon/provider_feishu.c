/*
 * provider_feishu — the Feishu (飞书) robot: a "text" message; with a
 * secret, "timestamp" and "sign" in the body.  Its answer carries code
 * and msg (older hooks: StatusCode and StatusMessage).
 */
#include <stdio.h>
#include <string.h>

#include "kaohe/provider.h"

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
	provider_hmac_sha256(key.buf, key.len, "", 0, mac);
	provider_add_base64(out, mac, sizeof(mac));
	sbuf_free(&key);
}

static int feishu_body(const struct sbuf *head, const struct sbuf *tail, size_t limit,
		       const char *secret, int64_t now, struct sbuf *body)
{
	struct sbuf content;
	json_t *o = json_object(), *c = json_object();
	int bad = 0;

	sbuf_init(&content);
	provider_fit(&content, head, tail, limit);
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
	return provider_json_dump(o, bad, body);
}

int provider_feishu_body(const struct notify_message *m, const char *subject, const char *text,
			 const char *secret, int64_t now, struct sbuf *body)
{
	struct sbuf head, tail, try;
	size_t limit = FEISHU_BODY_MAX - 200;
	int rc = -1;

	sbuf_init(&head);
	sbuf_init(&tail);
	provider_add_subject_text(&head, subject, text);
	/* A text message mentions by user id only; the mobiles at least name who is meant. */
	provider_add_mentions_line(m, &tail);
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

static int feishu_request(const struct channel *c, const struct provider_message *pm,
			  struct provider_request *req)
{
	int rc = provider_feishu_body(pm->m, pm->subject, pm->text, provider_secret(c),
				      pm->now_ms / 1000, req->body);
	provider_json_headers(req, pm->m->id);
	return rc;
}

/* The codes Feishu documents; see wecom_codes for what is retried. */
static const struct provider_code feishu_codes[] = {
	/* 100 a minute per robot: a minute's wait clears either limit. */
	{ 9499, PROVIDER_RETRY, 60, "too many requests" },
	{ 11232, PROVIDER_RETRY, 60, "rate limited" },
	{ 19021, PROVIDER_PERMANENT, -1, "sign match fail or timestamp out of range" },
	{ 19022, PROVIDER_PERMANENT, -1, "ip not allowed" },
	{ 19024, PROVIDER_PERMANENT, -1, "key words not found" },
	{ 0, 0, 0, NULL },
};

static const struct provider_answer feishu_answer = {
	.label = "code",
	/* The v2 hook answers {"code","msg"}; older ones {"StatusCode","StatusMessage"}. */
	.code_key = { "code", "StatusCode" },
	.msg_key = { "msg", "StatusMessage" },
	.codes = feishu_codes,
};

static void feishu_classify(const struct transfer_result *r, struct provider_outcome *out)
{
	provider_classify_http("feishu", &feishu_answer, r, out);
}

/* The limit is on the whole body: what its JSON and signature leave of it. */
static size_t feishu_text_max(const struct channel *c)
{
	(void)c;
	return FEISHU_BODY_MAX - 200;
}

static const char *const feishu_schemes[] = { "https://", "http://", NULL };
static const char *const feishu_keys[] = { "secret_file", "format", NULL };

const struct provider provider_feishu = {
	.name = "feishu",
	.schemes = feishu_schemes,
	.keys = feishu_keys,
	/* 5 a second and 100 a minute per robot. */
	.rates = { { 5, 1000 }, { 100, 60000 } },
	.nrates = 2,
	.load = provider_secret_load,
	.free = provider_secret_free,
	.request = feishu_request,
	.classify = feishu_classify,
	.text_max = feishu_text_max,
};
