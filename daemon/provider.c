/*
 * provider — the table of delivery providers and what they share: the
 * request's storage, the robots' text cutting and JSON, signing, and the
 * reading of an HTTP answer.  A provider itself is a file
 * provider_NAME.c holding one `const struct provider provider_NAME`.
 */
#include <assert.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "kaohe/provider.h"
#include "kaohe/report.h"

/* ------------------------------------------------------------------ */
/* the table */

/* Each defined in its own provider_NAME.c. */
extern const struct provider provider_email;
extern const struct provider provider_generic;
extern const struct provider provider_wecom;
extern const struct provider provider_dingtalk;
extern const struct provider provider_feishu;

/* The order errors list them in. */
static const struct provider *const providers[] = {
	&provider_email, &provider_generic, &provider_wecom, &provider_dingtalk, &provider_feishu,
};
#define NPROVIDERS (sizeof(providers) / sizeof(providers[0]))

size_t provider_count(void)
{
	return NPROVIDERS;
}

const struct provider *provider_at(size_t i)
{
	return i < NPROVIDERS ? providers[i] : NULL;
}

const struct provider *provider_find(const char *name)
{
	for (size_t i = 0; name && i < NPROVIDERS; i++)
		if (strcmp(providers[i]->name, name) == 0)
			return providers[i];
	return NULL;
}

void provider_webhook_names(struct sbuf *out)
{
	bool first = true;
	for (size_t i = 0; i < NPROVIDERS; i++) {
		if (providers[i]->mail)
			continue;
		if (!first)
			SBUF_LIT(out, ", ");
		sbuf_puts(out, providers[i]->name);
		first = false;
	}
}

/* ------------------------------------------------------------------ */
/* requests */

void provider_request_init(struct provider_request *req, const struct channel *c,
			   const struct delivery_settings *s, struct sbuf *body, struct sbuf *url)
{
	/* Not the header texts: a kilobyte written per message for nothing. */
	req->xfer = (struct transfer_request){ .url = c->url,
					       .ca_file = c->ca_file,
					       .connect_timeout_ms = s->connect_timeout_ms,
					       .timeout_ms = s->timeout_ms };
	req->body = body;
	req->url = url;
	req->nheaders = 0;
	sbuf_reset(body);
	sbuf_reset(url);
}

int provider_request(const struct channel *c, const struct provider_message *pm,
		     struct provider_request *req)
{
	int rc = c->provider->request(c, pm, req);
	req->xfer.body = req->body->buf;
	req->xfer.body_len = req->body->len;
	if (req->nheaders) {
		req->xfer.headers = req->headers;
		req->xfer.nheaders = req->nheaders;
	}
	return rc;
}

void provider_header(struct provider_request *req, const char *fmt, ...)
{
	va_list ap;
	assert(req->nheaders < PROVIDER_MAX_HEADERS);
	char *h = req->header_text[req->nheaders];
	va_start(ap, fmt);
	int n = vsnprintf(h, PROVIDER_HEADER_MAX, fmt, ap);
	va_end(ap);
	assert(n >= 0 && n < PROVIDER_HEADER_MAX);
	(void)n;
	req->headers[req->nheaders++] = h;
}

void provider_json_headers(struct provider_request *req, int64_t id)
{
	/* A constant line needs no copy: one formatting less per message. */
	assert(req->nheaders < PROVIDER_MAX_HEADERS);
	req->headers[req->nheaders++] = "Content-Type: application/json; charset=utf-8";
	provider_header(req, "X-Kaohe-Delivery: %lld", (long long)id);
}

/* ------------------------------------------------------------------ */
/* a signing secret */

struct secret_settings {
	char *secret;
};

void provider_secret_load(struct config_reader *r, struct channel *c)
{
	struct secret_settings *s = xcalloc(1, sizeof(*s));
	s->secret = config_reader_secret(r, "secret", false);
	c->priv = s;
	const char *format = config_reader_string(r, "format", "text");
	if (format && strcmp(format, "text") != 0)
		config_reader_error(r, "format", "format \"%s\" is not text", format);
}

void provider_secret_free(void *priv)
{
	struct secret_settings *s = priv;
	if (s == NULL)
		return;
	if (s->secret)
		explicit_bzero(s->secret, strlen(s->secret));
	free(s->secret);
	free(s);
}

const char *provider_secret(const struct channel *c)
{
	const struct secret_settings *s = c->priv;
	return s ? s->secret : NULL;
}

/* ------------------------------------------------------------------ */
/* chat robots */

static const char cut_marker[] = "\n……（内容过长，已截断）";

void provider_add_trimmed(struct sbuf *out, const char *text)
{
	size_t n = strlen(text);
	while (n > 0 && (text[n - 1] == '\n' || text[n - 1] == '\r'))
		n--;
	sbuf_add(out, text, n);
}

void provider_add_subject_text(struct sbuf *out, const char *subject, const char *text)
{
	sbuf_puts(out, subject);
	SBUF_LIT(out, "\n");
	provider_add_trimmed(out, text);
}

void provider_add_mentions_line(const struct notify_message *m, struct sbuf *out)
{
	if (m->nmobiles) {
		SBUF_LIT(out, "\n");
		notify_mentions(m, out);
	}
}

void provider_fit(struct sbuf *out, const struct sbuf *head, const struct sbuf *tail, size_t limit)
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

json_t *provider_json_mobiles(const struct notify_message *m, int *bad)
{
	json_t *a = json_array();
	/* json_string() is NULL for a string that is not UTF-8: then BAD. */
	for (size_t i = 0; i < m->nmobiles; i++)
		*bad |= json_array_append_new(a, json_string(m->mobiles[i] ? m->mobiles[i] : ""));
	return a;
}

int provider_json_dump(json_t *j, int bad, struct sbuf *body)
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

/* ------------------------------------------------------------------ */
/* signing */

void provider_hmac_sha256(const void *key, size_t klen, const void *msg, size_t mlen,
			  unsigned char out[32])
{
	unsigned int n = 32;
	/* Only without SHA-256 in libcrypto: a signature that fails, not stack garbage. */
	if (!HMAC(EVP_sha256(), key, (int)klen, msg, mlen, out, &n))
		memset(out, 0, 32);
}

void provider_add_base64(struct sbuf *sb, const void *s, size_t len)
{
	size_t need = 4 * ((len + 2) / 3);
	sbuf_grow(sb, need + 1);
	EVP_EncodeBlock((unsigned char *)sb->buf + sb->len, s, (int)len);
	sb->len += need;
	sb->buf[sb->len] = '\0';
}

/* ------------------------------------------------------------------ */
/* answers */

/* Set OUT->error, cut on a character boundary. */
__attribute__((format(printf, 2, 3))) static void set_error(struct provider_outcome *out,
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

/* The robot's code and message, if BODY is its JSON answer as A says; false otherwise. */
static bool read_answer(const struct provider_answer *a, const char *body, size_t len, long *code,
			char *msg, size_t msglen)
{
	json_t *j = body && len ? json_loadb(body, len, 0, NULL) : NULL;
	json_t *c = NULL, *s = NULL;

	msg[0] = '\0';
	if (!json_is_object(j)) {
		json_decref(j);
		return false;
	}
	for (int i = 0; i < 2 && a->code_key[i] && !json_is_integer(c); i++) {
		c = json_object_get(j, a->code_key[i]);
		s = json_object_get(j, a->msg_key[i]);
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

/* The entry of CODES for CODE, or NULL. */
static const struct provider_code *code_entry(const struct provider_code *codes, long code)
{
	for (const struct provider_code *pc = codes; pc->what; pc++)
		if (pc->code == code)
			return pc;
	return NULL;
}

/*
 * A status other than 2xx.  HTTP's verdict first, except that a robot's
 * own "slow down" code is honoured whatever the status it came with:
 * dropping a reminder for a rate limit would lose it for nothing.
 */
static void judge_status(const char *who, const struct provider_answer *a, long status,
			 const char *snip, bool answered, long code, const char *msg,
			 const struct provider_code *pc, int64_t retry_after,
			 struct provider_outcome *out)
{
	bool retry = status < 400 || status > 499 || status == 408 || status == 429;
	if (pc && pc->verdict == PROVIDER_RETRY)
		retry = true;
	out->verdict = retry ? PROVIDER_RETRY : PROVIDER_PERMANENT;
	if (retry)
		out->retry_after = pc && pc->min_wait > 0 ? wait_at_least(retry_after, pc->min_wait)
							  : retry_after;
	if (status <= 0)
		set_error(out, "no HTTP answer");
	else if (answered)
		set_error(out, "HTTP %ld; %s %s %ld: %s", status, who, a->label, code,
			  msg[0] ? msg
			  : pc   ? pc->what
				 : "error");
	else if (snip[0])
		set_error(out, "HTTP %ld: %s", status, snip);
	else
		set_error(out, "HTTP %ld", status);
}

void provider_classify_http(const char *who, const struct provider_answer *a,
			    const struct transfer_result *r, struct provider_outcome *out)
{
	char msg[sizeof(out->error)], snip[120];
	long code = 0;

	out->error[0] = '\0';
	out->code = r->status;
	out->retry_after = -1;
	if (r->curl_code != 0) {
		/* No answer to judge: the connection failed or timed out. */
		out->code = 0;
		out->verdict = PROVIDER_RETRY;
		snprintf(out->error, sizeof(out->error), "%s", r->error);
		return;
	}
	bool answered = a && read_answer(a, r->body, r->body_len, &code, msg, sizeof(msg));
	const struct provider_code *pc = answered ? code_entry(a->codes, code) : NULL;
	if (answered)
		out->code = code;

	snippet(r->body, r->body_len, snip, sizeof(snip));
	if (r->status < 200 || r->status > 299) {
		judge_status(who, a, r->status, snip, answered, code, msg, pc, r->retry_after, out);
		return;
	}
	if (!a) {
		out->verdict = PROVIDER_OK;
		return;
	}
	if (!answered) {
		/* A 200 the robot did not write (a proxy's page, a cut answer): try again. */
		out->verdict = PROVIDER_RETRY;
		out->retry_after = r->retry_after;
		set_error(out, "%s: unreadable answer (HTTP %ld)%s%s", who, r->status,
			  snip[0] ? ": " : "", snip);
		return;
	}
	if (code == 0) {
		out->verdict = PROVIDER_OK;
		return;
	}
	out->verdict = pc ? pc->verdict : PROVIDER_PERMANENT;
	if (out->verdict == PROVIDER_RETRY)
		out->retry_after = pc->min_wait > 0 ? wait_at_least(r->retry_after, pc->min_wait)
						    : r->retry_after;
	set_error(out, "%s %s %ld: %s", who, a->label, code,
		  msg[0] ? msg
		  : pc   ? pc->what
			 : "unknown error");
}
