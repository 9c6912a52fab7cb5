/*
 * provider_generic — the generic webhook: the message as one JSON
 * object, POSTed with X-Kaohe-Timestamp and, when the channel has a
 * secret, X-Kaohe-Signature: sha256=HEX, the HMAC-SHA256 keyed by the
 * secret of "<timestamp>.<body>".  Any HTTP server can take it; only the
 * HTTP status is read.
 *
 * The body (one JSON object, compact, keys in this order):
 *
 *   {
 *     "delivery": 42,                  the delivery id: the idempotency key
 *     "kind": "before",                before, due, overdue, escalation,
 *                                      record, snapshot or dead
 *     "at": "2020-12-03T09:00:00+08:00",  when the message became due
 *     "recipient": "八一路街道联络员",  the display name it is addressed to
 *     "unit": {"id": "bayilu", "name": "八一路"},        or null (an
 *                                      office's escalation digest of
 *                                      several units: each item names its)
 *     "department": {"id": "zjj", "name": "区住建局"},   or null
 *     "period": "2020-Q3",             snapshot only, else null
 *     "detail": "…",                   snapshot: the ranking; dead: what
 *                                      failed; else null
 *     "items": [                       the occurrences, in digest order
 *       {
 *         "occurrence": "7d@2020-12-10",
 *         "unit": "八一路",            the unit's name when the message
 *                                      lists several units' rows, else null
 *         "row": "7d",
 *         "seq": "7",                  the seed's 序号, or null
 *         "title": "…",                the row's 考核内容
 *         "department": "区住建局",    the owning department
 *         "due": "2020-12-10",
 *         "deadline": "2020-12-11T00:00:00+08:00",
 *         "close": "2020-12-26T00:00:00+08:00",
 *         "state": "pending",          pending, on-time, late, overdue, missing
 *         "late": 0.5,                 points deducted if late
 *         "missing": 1,                points deducted if never submitted
 *         "submit": "…",               what to submit (the 工作标准 in short)
 *         "due_text": "12月10日",      due, deadline and close as the text
 *         "deadline_text": "12月10日（含）",  reads them (the time of day
 *         "close_text": "12月25日（含）"      shown unless a whole day)
 *       }
 *     ],
 *     "subject": "…", "text": "…",     the rendered message
 *     "mentions": ["13800000000"],     mobiles to notify
 *     "at_text": "2020年12月3日 09:00"  AT as the text reads it
 *   }
 *
 * Members are only ever added, after those already there.
 *
 * Points are JSON numbers printed exactly (an integer when whole, else
 * at most two decimals); strings are UTF-8; absent strings are null.
 */
#include <stdio.h>
#include <string.h>

#include "kaohe/provider.h"
#include "kaohe/report.h"

/* ,"KEY":"S" (or null), S escaped as JSON. */
static void json_member(struct sbuf *b, const char *key, const char *s)
{
	sbuf_printf(b, ",\"%s\":", key);
	if (s)
		report_json_string(b, s);
	else
		SBUF_LIT(b, "null");
}

static void json_ref(struct sbuf *b, const char *key, const char *id, const char *name)
{
	sbuf_printf(b, ",\"%s\":", key);
	if (!id && !name) {
		SBUF_LIT(b, "null");
		return;
	}
	SBUF_LIT(b, "{\"id\":");
	id ? report_json_string(b, id) : SBUF_LIT(b, "null");
	SBUF_LIT(b, ",\"name\":");
	name ? report_json_string(b, name) : SBUF_LIT(b, "null");
	SBUF_LIT(b, "}");
}

/* Item IT's due_text, deadline_text and close_text, as the templates read them. */
static void item_texts(const struct notify_message *m, const struct notify_item *it, struct sbuf *b)
{
	static const char *const keys[] = { "due_text", "deadline_text", "close_text" };
	struct sbuf t[3];

	for (size_t k = 0; k < 3; k++)
		sbuf_init(&t[k]);
	notify_item_times(m, it, &t[0], &t[1], &t[2]);
	for (size_t k = 0; k < 3; k++) {
		json_member(b, keys[k], t[k].buf);
		sbuf_free(&t[k]);
	}
}

/*
 * Written as text rather than through a JSON tree: a burst of reminders
 * builds one of these per delivery, and the tree costs more than the
 * sending.  Every string goes through the JSON escaper.
 */
int provider_generic_body(const struct notify_message *m, const char *subject, const char *text,
			  struct sbuf *body)
{
	struct sbuf at;
	size_t start = body->len;

	sbuf_init(&at);
	notify_at(m, &at);
	sbuf_printf(body, "{\"delivery\":%lld", (long long)m->id);
	json_member(body, "kind", notify_kind_name(m->kind));
	json_member(body, "at", at.buf);
	json_member(body, "recipient", m->recipient);
	json_ref(body, "unit", m->unit_id, m->unit_name);
	json_ref(body, "department", m->dept_id, m->dept_name);
	json_member(body, "period", m->period);
	json_member(body, "detail", m->detail);
	SBUF_LIT(body, ",\"items\":[");
	for (size_t i = 0; i < m->nitems; i++) {
		const struct notify_item *it = &m->items[i];
		SBUF_LIT(body, "{\"occurrence\":");
		it->occ ? report_json_string(body, it->occ) : SBUF_LIT(body, "null");
		json_member(body, "unit", it->unit);
		json_member(body, "row", it->row);
		json_member(body, "seq", it->seq);
		json_member(body, "title", it->title);
		json_member(body, "department", it->dept);
		json_member(body, "due", it->due);
		json_member(body, "deadline", it->deadline);
		json_member(body, "close", it->close);
		json_member(body, "state", it->state);
		SBUF_LIT(body, ",\"late\":");
		report_points_text(body, it->late);
		SBUF_LIT(body, ",\"missing\":");
		report_points_text(body, it->missing);
		json_member(body, "submit", it->submit && *it->submit ? it->submit : it->title);
		item_texts(m, it, body);
		SBUF_LIT(body, "}");
		if (i + 1 < m->nitems)
			SBUF_LIT(body, ",");
	}
	SBUF_LIT(body, "]");
	json_member(body, "subject", subject);
	json_member(body, "text", text);
	SBUF_LIT(body, ",\"mentions\":[");
	for (size_t i = 0; i < m->nmobiles; i++) {
		if (i)
			SBUF_LIT(body, ",");
		report_json_string(body, m->mobiles[i] ? m->mobiles[i] : "");
	}
	SBUF_LIT(body, "]");
	sbuf_reset(&at);
	notify_zh_instant(m->at, &at);
	json_member(body, "at_text", at.buf);
	SBUF_LIT(body, "}");
	sbuf_free(&at);
	/* JSON is text: a string that is not UTF-8 cannot be sent.  The
	 * plan's strings were checked when the configuration was read; what
	 * the templates made is checked here. */
	if (!util_utf8_valid(subject, strlen(subject)) || !util_utf8_valid(text, strlen(text)) ||
	    (m->detail && !util_utf8_valid(m->detail, strlen(m->detail)))) {
		body->len = start;
		body->buf[start] = '\0';
		return -1;
	}
	return 0;
}

void provider_generic_signature(const char *secret, int64_t timestamp, const char *body, size_t len,
				char out[72])
{
	static const char hex[] = "0123456789abcdef";
	unsigned char mac[32];
	struct sbuf msg;

	sbuf_init(&msg);
	sbuf_printf(&msg, "%lld.", (long long)timestamp);
	if (len)
		sbuf_add(&msg, body, len);
	provider_hmac_sha256(secret ? secret : "", secret ? strlen(secret) : 0, msg.buf, msg.len,
			     mac);
	sbuf_free(&msg);
	memcpy(out, "sha256=", 7);
	for (int i = 0; i < 32; i++) {
		out[7 + 2 * i] = hex[mac[i] >> 4];
		out[8 + 2 * i] = hex[mac[i] & 15];
	}
	out[71] = '\0';
}

static int generic_request(const struct channel *c, const struct provider_message *pm,
			   struct provider_request *req)
{
	const char *secret = provider_secret(c);
	int64_t now = pm->now_ms / 1000;
	int rc = provider_generic_body(pm->m, pm->subject, pm->text, req->body);

	provider_header(req, "X-Kaohe-Timestamp: %lld", (long long)now);
	if (secret) {
		char sig[72];
		provider_generic_signature(secret, now, req->body->buf, req->body->len, sig);
		provider_header(req, "X-Kaohe-Signature: %s", sig);
	}
	provider_json_headers(req, pm->m->id);
	return rc;
}

static void generic_classify(const struct transfer_result *r, struct provider_outcome *out)
{
	provider_classify_http("generic", NULL, r, out);
}

static const char *const generic_schemes[] = { "https://", "http://", NULL };
static const char *const generic_keys[] = { "secret_file", "format", NULL };

const struct provider provider_generic = {
	.name = "generic",
	.schemes = generic_schemes,
	.keys = generic_keys,
	.nrates = 0,
	.load = provider_secret_load,
	.free = provider_secret_free,
	.request = generic_request,
	.classify = generic_classify,
};
