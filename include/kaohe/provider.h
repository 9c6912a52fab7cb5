/*
 * provider — one descriptor per delivery provider, as chrony has one
 * RefclockDriver per kind of reference clock: the email server, the
 * generic webhook, and the WeCom, DingTalk and Feishu robots.  A
 * descriptor gives the provider's name, its default rate limits and
 * URL schemes, the settings of its own, and four hooks: read and check
 * those settings, free them, build the request for one message, and
 * judge the answer.  Each provider lives in daemon/provider_NAME.c; the
 * table of them and what they share are in provider.c.  No socket and
 * no clock here (the caller passes now); only a load hook reads files
 * (a secret's).
 *
 * provider_NAME.c shares this header rather than having one each: a
 * provider exports nothing but its descriptor (listed in provider.c's
 * table) and the builders its unit test pins byte for byte, and one
 * header says in one place what a provider is made of.
 */
#ifndef KAOHE_PROVIDER_H
#define KAOHE_PROVIDER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "kaohe/config.h"
#include "kaohe/notify.h"
#include "kaohe/transfer.h"
#include "kaohe/util.h"

/* What an answer means for the delivery. */
enum provider_verdict { PROVIDER_OK, PROVIDER_RETRY, PROVIDER_PERMANENT };

struct provider_outcome {
	enum provider_verdict verdict;
	int64_t retry_after; /* seconds to wait at least before the next try; -1: none */
	long code;           /* the provider's errcode when it gave one, else the HTTP status */
	char error[256];     /* what went wrong, for the outbox's last_error; "" when OK */
};

/* One message to send, as the request hooks see it. */
struct provider_message {
	const struct notify_message *m;
	const char *subject, *text; /* what notify_render made of M */
	const char *address;        /* the recipient's email address; "" for a webhook */
	int64_t now_ms;             /* when it is sent (signatures, Date:) */
};

#define PROVIDER_MAX_HEADERS 6
#define PROVIDER_HEADER_MAX  128

/*
 * What a request hook fills: XFER (its url, ca_file and timeouts set by
 * provider_request_init(), the body and headers by provider_request()),
 * BODY with the body or the whole message, and for a URL it signs, URL.
 * The other members are storage that XFER points into.
 */
struct provider_request {
	struct transfer_request xfer;
	struct sbuf *body;
	struct sbuf *url;
	const char *headers[PROVIDER_MAX_HEADERS];
	size_t nheaders;
	char header_text[PROVIDER_MAX_HEADERS][PROVIDER_HEADER_MAX];
	char mail_from[256];
	const char *rcpt[1];
};

struct provider {
	/* The config's type = "…" (for the email server, "email"); in logs and errors. */
	const char *name;
	/*
	 * Configured as channels.email and sending to each contact's own
	 * address; otherwise a webhook in channels.webhooks that serves
	 * units, departments or the admins.
	 */
	bool mail;
	/* The URL prefixes it accepts, NULL-terminated; errors name the first. */
	const char *const *schemes;
	/* The settings of its own, NULL-terminated: beside every channel's. */
	const char *const *keys;
	/* Its documented limits, used when the channel gives no rate. */
	struct rate_limit rates[CHANNEL_MAX_RATES];
	size_t nrates;
	/*
	 * Read and check its settings through R into C->priv, reporting each
	 * problem through R.  Called after C's URL is read, before its
	 * audience, CA file and rates.
	 */
	void (*load)(struct config_reader *r, struct channel *c);
	/* Free what load put in a channel's priv (NULL is fine). */
	void (*free)(void *priv);
	/*
	 * Build the request for PM over C into REQ: the body (or the whole
	 * message) into REQ->body, headers with provider_header(), and
	 * what else the transfer needs.  0, or -1 when the message cannot
	 * be carried (an address or a text it cannot hold): that is final.
	 */
	int (*request)(const struct channel *c, const struct provider_message *pm,
		       struct provider_request *req);
	/* Judge what the server answered (R) into OUT: every member set. */
	void (*classify)(const struct transfer_result *r, struct provider_outcome *out);
	/*
	 * The most bytes a message's text may hold over C, as the provider
	 * documents it: a robot's digest of several units is split to fit.
	 * NULL: no limit.
	 */
	size_t (*text_max)(const struct channel *c);
};

/* ---- the table -------------------------------------------------------- */

/* How many providers there are; provider_at(0 … n-1) lists them, email first. */
size_t provider_count(void);
const struct provider *provider_at(size_t i);
/* The provider named NAME, or NULL. */
const struct provider *provider_find(const char *name);
/* The webhook providers' names, "generic, wecom, dingtalk, feishu", for errors. */
void provider_webhook_names(struct sbuf *out);

/* ---- building a request ----------------------------------------------- */

/*
 * Start REQ for a message over C: its URL, CA file and timeouts, BODY
 * and URL (the caller's buffers, emptied) to build into.
 */
void provider_request_init(struct provider_request *req, const struct channel *c,
			   const struct delivery_settings *s, struct sbuf *body, struct sbuf *url);
/* Run C's request hook for PM, then point REQ->xfer at the body and headers.  0 or -1. */
int provider_request(const struct channel *c, const struct provider_message *pm,
		     struct provider_request *req);
/* Add the header line FMT… ("Name: value") to REQ. */
__attribute__((format(printf, 2, 3))) void provider_header(struct provider_request *req,
							   const char *fmt, ...);
/* The headers of every JSON webhook: Content-Type and X-Kaohe-Delivery: ID. */
void provider_json_headers(struct provider_request *req, int64_t id);

/* ---- settings a provider may share ------------------------------------ */

/*
 * A load hook for a webhook whose only setting of its own is an
 * optional signing secret (secret_file) and whose format is "text";
 * provider_secret_free frees it, provider_secret() reads it back (NULL:
 * none).
 */
void provider_secret_load(struct config_reader *r, struct channel *c);
void provider_secret_free(void *priv);
const char *provider_secret(const struct channel *c);

/* ---- what the chat robots share --------------------------------------- */

/* TEXT without its trailing line ends: a robot adds its own lines after it. */
void provider_add_trimmed(struct sbuf *out, const char *text);
/* A robot's plain text: SUBJECT on a line of its own, then TEXT trimmed. */
void provider_add_subject_text(struct sbuf *out, const char *subject, const char *text);
/* A line of "@mobile" mentions after the text, when M mentions anyone. */
void provider_add_mentions_line(const struct notify_message *m, struct sbuf *out);
/*
 * HEAD then TAIL into OUT in at most LIMIT bytes.  The tail (who is
 * mentioned) always survives; a head too long is cut on a character
 * boundary and the cut marked, the marker counted in the limit.
 */
void provider_fit(struct sbuf *out, const struct sbuf *head, const struct sbuf *tail, size_t limit);
/* M's mobiles as a JSON array; *BAD set when one is not UTF-8. */
json_t *provider_json_mobiles(const struct notify_message *m, int *bad);
/*
 * Append J to BODY, compact and in insertion order, and drop it.  With
 * BAD set (a member could not be set) J is only dropped: -1.
 */
int provider_json_dump(json_t *j, int bad, struct sbuf *body);

/* HMAC-SHA256 of MSG keyed by KEY. */
void provider_hmac_sha256(const void *key, size_t klen, const void *msg, size_t mlen,
			  unsigned char out[32]);
/* Append the base64 of LEN bytes of S, on one line. */
void provider_add_base64(struct sbuf *sb, const void *s, size_t len);

/* ---- reading answers -------------------------------------------------- */

/* A code a robot's answer may carry, and what it means. */
struct provider_code {
	long code;
	enum provider_verdict verdict;
	int64_t min_wait; /* seconds; -1: whatever Retry-After says */
	const char *what; /* when the answer carries no message */
};

/* How a robot writes its verdict into the JSON body of its answer. */
struct provider_answer {
	const char *label; /* how errors name the code: "errcode" */
	/* The members holding the code and the message; a second pair is tried
	 * when the first has no integer code (NULL: none). */
	const char *code_key[2];
	const char *msg_key[2];
	/* The codes it documents, ended by one whose WHAT is NULL. */
	const struct provider_code *codes;
};

/*
 * Judge the HTTP answer R of provider WHO into OUT: a transfer that
 * failed is retried; 2xx is OK unless the body, read as ANSWER says
 * (NULL: the body is not read), carries a non-zero code; a 4xx other
 * than 408 and 429 is permanent unless it carries a code whose verdict
 * is to retry (a robot's own rate limit); the rest is retried.
 */
void provider_classify_http(const char *who, const struct provider_answer *answer,
			    const struct transfer_result *r, struct provider_outcome *out);

/* ---- what each provider exports for its tests ------------------------- */

/* An email's envelope and header data. */
struct provider_email_envelope {
	const char *from; /* as configured: "显示名 <addr@example.org>" or "addr@example.org" */
	const char *to_name; /* may be NULL */
	const char *to_addr;
	const char *hostname; /* the right-hand side of Message-ID */
	int64_t now;          /* Date: (local time of the process's zone) */
};
/*
 * A whole RFC 5322 message with CRLF line ends: From, To, Subject and
 * display names as RFC 2047 encoded-words, Date, Message-ID,
 * X-Kaohe-Delivery, Auto-Submitted, MIME-Version and a
 * multipart/alternative body with a text/plain and a text/html part
 * (UTF-8, base64).  0 or -1.
 */
int provider_email_message(const struct provider_email_envelope *e, const struct notify_message *m,
			   const char *subject, const char *text, struct sbuf *out);

/* The generic webhook's JSON body (documented in provider_generic.c and the README). */
int provider_generic_body(const struct notify_message *m, const char *subject, const char *text,
			  struct sbuf *body);
/*
 * X-Kaohe-Signature's value: "sha256=" and the lower-case hex
 * HMAC-SHA256, keyed by SECRET, of TIMESTAMP (decimal), "." and BODY.
 */
void provider_generic_signature(const char *secret, int64_t timestamp, const char *body, size_t len,
				char out[72]);

/*
 * WeCom group robot: a "text" message (content at most 2048 bytes, with
 * mentioned_mobile_list) or a "markdown" one (at most 4096 bytes; mobiles
 * written in the text).  Cut on a UTF-8 boundary, marked as cut.
 */
int provider_wecom_body(bool markdown, const struct notify_message *m, const char *subject,
			const char *text, struct sbuf *body);

/*
 * DingTalk robot: the body (text, with at.atMobiles and "@mobile" written
 * in the text) and the URL to post it to: URL plus, when SECRET is set,
 * &timestamp=NOW_MS&sign=urlencode(base64(HMAC-SHA256(key SECRET,
 * "NOW_MS\nSECRET"))).
 */
int provider_dingtalk_body(const struct notify_message *m, const char *subject, const char *text,
			   struct sbuf *body);
void provider_dingtalk_url(const char *url, const char *secret, int64_t now_ms, struct sbuf *out);

/*
 * Feishu robot: a text message; with SECRET, "timestamp" (seconds, NOW)
 * and "sign" in the body, as Feishu's own documentation defines them
 * (the README says which form).
 */
int provider_feishu_body(const struct notify_message *m, const char *subject, const char *text,
			 const char *secret, int64_t now, struct sbuf *body);

#endif
