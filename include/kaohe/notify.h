/*
 * notify — renders what the outbox sends: a message's subject and text
 * from templates (Chinese by default, overridable in the config's
 * reminders.templates), and each channel's payload: an email (MIME,
 * RFC 2047), the generic webhook's JSON and its HMAC signature, and the
 * WeCom, DingTalk and Feishu robot bodies; and reads each provider's
 * answer into a verdict.  Pure: no I/O, no clock (the caller passes now).
 */
#ifndef KAOHE_NOTIFY_H
#define KAOHE_NOTIFY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kaohe/util.h"

/* What a message is about; the template set has one of each. */
enum notify_kind {
	NOTIFY_BEFORE,     /* a deadline is coming (to the liaisons) */
	NOTIFY_DUE,        /* due today (to the liaisons) */
	NOTIFY_OVERDUE,    /* past the deadline, not submitted (to the liaisons) */
	NOTIFY_ESCALATION, /* the overdue notice's copy to the leader / the office */
	NOTIFY_RECORD,     /* to a department office: record findings or metrics */
	NOTIFY_SNAPSHOT,   /* to the admins: a quarter's ranking was taken */
	NOTIFY_DEAD,       /* to the admins: a delivery ran out of tries */
};
#define NOTIFY_NKINDS 7

/* "before", "due", "overdue", "escalation", "record", "snapshot", "dead". */
const char *notify_kind_name(enum notify_kind k);
/* The kind named S, or -1. */
int notify_kind_find(const char *s);

/* Where a message goes. */
enum channel_type { CHANNEL_EMAIL, CHANNEL_GENERIC, CHANNEL_WECOM, CHANNEL_DINGTALK, CHANNEL_FEISHU };
/* "email", "generic", "wecom", "dingtalk", "feishu"; and back (-1 unknown). */
const char *notify_channel_name(enum channel_type t);
int notify_channel_find(const char *s);

/*
 * Templates; a NULL member means the built-in Chinese default.  A
 * message template may use {recipient} {unit} {unit_id} {department}
 * {count} {items} {at} {period} {detail} {delivery} {mentions} {due}
 * (the earliest due day of the items); the item
 * template (one line per occurrence, joined into {items}) may use {seq}
 * {row} {occurrence} {title} {department} {due} {deadline} {close}
 * {late} {missing} {stake} {state}.  "{{" and "}}" are literal braces.
 */
struct notify_templates {
	char *subject[NOTIFY_NKINDS];
	char *body[NOTIFY_NKINDS];
	char *item;
};

/*
 * Check template TMPL (ITEM: the item template) for unknown placeholders
 * and unbalanced braces.  0, or -1 with a message naming the culprit in ERR.
 */
int notify_template_check(const char *tmpl, bool item, char *err, size_t errlen);

/* One occurrence of a digest, as it stands when the message is rendered. */
struct notify_item {
	const char *occ;      /* "7d@2020-12-10" */
	const char *row;      /* "7d" */
	const char *seq;      /* the seed's 序号, may be NULL */
	const char *title;    /* the row's content (考核内容) from the seed */
	const char *dept;     /* the owning department's name */
	const char *due;      /* "2020-12-10" */
	const char *deadline; /* ISO-8601 with offset */
	const char *close;    /* ISO-8601 with offset */
	const char *state;    /* the engine's state: pending, on-time, late, overdue, missing */
	int64_t late;         /* hundredths at stake if late (>= 0) */
	int64_t missing;      /* hundredths at stake if missing (>= 0) */
	/*
	 * The unit's name when the message lists several units' rows (an
	 * office's escalation digest): each item line then starts "【NAME】".
	 * NULL otherwise.
	 */
	const char *unit;
};

/* One message: what the templates and the payload builders see. */
struct notify_message {
	enum notify_kind kind;
	int64_t id;             /* the delivery id (the idempotency key) */
	int64_t at;             /* the instant it became due */
	const char *at_text;    /* AT as ISO-8601 with offset */
	const char *recipient;  /* the display name of whom it goes to */
	const char *unit_id, *unit_name; /* NULL unless about one unit (the items name theirs) */
	const char *dept_id, *dept_name; /* NULL unless to/about one department */
	const struct notify_item *items;
	size_t nitems;
	const char *period;     /* NOTIFY_SNAPSHOT: "2020-Q3"; else NULL */
	const char *detail;     /* snapshot: the ranking, one unit per line; dead: what failed and why */
	const char *const *mobiles; /* to mention (liaisons', and the leader's on escalation) */
	size_t nmobiles;
};

/*
 * Render M's subject (one line) and plain text with templates T (NULL:
 * all defaults) into SUBJECT and TEXT (appended).
 */
void notify_render(const struct notify_templates *t, const struct notify_message *m,
		   struct sbuf *subject, struct sbuf *text);

/* An email's envelope and header data. */
struct notify_email {
	const char *from;     /* as configured: "显示名 <addr@example.org>" or "addr@example.org" */
	const char *to_name;  /* may be NULL */
	const char *to_addr;
	const char *hostname; /* the right-hand side of Message-ID */
	int64_t now;          /* Date: (local time of the process's zone) */
};

/*
 * Split an address as configured ("Name <a@b>" or "a@b") into its
 * display name (may come out "") and address.  0, or -1 if malformed.
 */
int notify_address_parse(const char *s, char *name, size_t namelen, char *addr, size_t addrlen);

/*
 * A whole RFC 5322 message with CRLF line ends: From, To, Subject and
 * display names as RFC 2047 encoded-words (UTF-8, base64, split on
 * character boundaries, each word at most 75 octets), Date, Message-ID,
 * X-Kaohe-Delivery, MIME-Version and a multipart/alternative body with a
 * text/plain and a text/html part (UTF-8, base64).  0 or -1.
 */
int notify_email(const struct notify_email *e, const struct notify_message *m, const char *subject,
		 const char *text, struct sbuf *out);

/* The generic webhook's JSON body (documented in the README). */
int notify_generic(const struct notify_message *m, const char *subject, const char *text,
		   struct sbuf *body);
/*
 * X-Kaohe-Signature's value: "sha256=" and the lower-case hex
 * HMAC-SHA256, keyed by SECRET, of TIMESTAMP (decimal), "." and BODY.
 */
void notify_generic_signature(const char *secret, int64_t timestamp, const char *body, size_t len,
			      char out[72]);

/*
 * WeCom group robot: a "text" message (content at most 2048 bytes, with
 * mentioned_mobile_list) or a "markdown" one (at most 4096 bytes; mobiles
 * written in the text).  Cut on a UTF-8 boundary, marked as cut.
 */
int notify_wecom(bool markdown, const struct notify_message *m, const char *subject,
		 const char *text, struct sbuf *body);
/*
 * DingTalk robot: the body (text, with at.atMobiles and "@mobile" written
 * in the text) and the URL to post it to: URL plus, when SECRET is set,
 * &timestamp=NOW_MS&sign=urlencode(base64(HMAC-SHA256(key SECRET,
 * "NOW_MS\nSECRET"))).
 */
int notify_dingtalk(const struct notify_message *m, const char *subject, const char *text,
		    struct sbuf *body);
void notify_dingtalk_url(const char *url, const char *secret, int64_t now_ms, struct sbuf *out);
/*
 * Feishu robot: a text message; with SECRET, "timestamp" (seconds, NOW)
 * and "sign" in the body, as Feishu's own documentation defines them
 * (README says which form).
 */
int notify_feishu(const struct notify_message *m, const char *subject, const char *text,
		  const char *secret, int64_t now, struct sbuf *body);

/* What an answer means for the delivery. */
enum notify_verdict { NOTIFY_OK, NOTIFY_RETRY, NOTIFY_PERMANENT };

struct notify_outcome {
	enum notify_verdict verdict;
	int64_t retry_after; /* seconds to wait at least before the next try; -1: none */
	long code;           /* the provider's errcode when it gave one, else the HTTP status */
	char error[256];     /* what went wrong, for the outbox's last_error; "" when OK */
};

/*
 * Judge an HTTP answer of channel TYPE (not CHANNEL_EMAIL): STATUS, the
 * response BODY and RETRY_AFTER (seconds from a Retry-After header, or
 * -1).  2xx is OK unless the provider's body says otherwise (WeCom and
 * DingTalk errcode, Feishu code); a 4xx other than 408 and 429 is
 * permanent, unless it carries the robot's own rate-limit code; the rest
 * is retried.
 */
void notify_classify(enum channel_type type, long status, const char *body, size_t len,
		     int64_t retry_after, struct notify_outcome *out);

#endif
