/*
 * notify — renders what the outbox sends: a message's subject and text
 * from templates (Chinese by default, overridable in the config's
 * reminders.templates), and an email's HTML alternative.  The providers
 * (provider.h) wrap them into each channel's payload.  Pure: no I/O, no
 * clock.
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
	NOTIFY_TEST,       /* kaohectl test-send: a channel tried by hand */
	NOTIFY_ENDED,      /* to the admins: every configured plan year has ended */
};
#define NOTIFY_NKINDS 9

/* "before", "due", "overdue", "escalation", "record", "snapshot", "dead", "test", "ended". */
const char *notify_kind_name(enum notify_kind k);
/* The kind named S, or -1. */
int notify_kind_find(const char *s);

/*
 * Templates; a NULL member means the built-in Chinese default.  A
 * message template may use {recipient} {unit} {units} {unit_id}
 * {department} {count} {items} {at} {at_iso} {period} {detail}
 * {delivery} {mentions} {due} {due_iso} {deadline} {deadline_iso} (of
 * the item due first); the item template (one per occurrence, joined
 * into {items}) may use {seq} {row} {occurrence} {title} {submit}
 * {department} {due} {due_iso} {deadline} {deadline_iso} {close}
 * {close_iso} {when} {late} {missing} {stake} {state}.  Dates and times
 * read in Chinese ("12月10日（含）", "2026年12月2日 20:46"); the _iso
 * forms are ISO-8601.  "{{" and "}}" are literal braces.
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
	const char *submit;  /* what to submit (the 工作标准 in short); NULL or "": the title */
	int32_t due_day;     /* DUE, DEADLINE and CLOSE as days and instants */
	int64_t deadline_at; /* for the Chinese forms */
	int64_t close_at;
};

/* One message: what the templates and the providers' builders see. */
struct notify_message {
	enum notify_kind kind;
	int64_t id;                      /* the delivery id (the idempotency key) */
	int64_t at;                      /* the instant it became due */
	const char *at_text;             /* AT as ISO-8601 with offset */
	const char *recipient;           /* the display name of whom it goes to */
	const char *unit_id, *unit_name; /* NULL unless about one unit (the items name theirs) */
	const char *dept_id, *dept_name; /* NULL unless to/about one department */
	const struct notify_item *items;
	size_t nitems;
	const char *period; /* NOTIFY_SNAPSHOT: "2020-Q3"; NOTIFY_ENDED: "2026"; else NULL */
	const char *detail; /* snapshot: the ranking, one unit per line; dead: what failed and why */
	const char *const *mobiles; /* to mention (liaisons', and the leader's on escalation) */
	size_t nmobiles;
};

/*
 * Render M's subject (one line) and plain text with templates T (NULL:
 * all defaults) into SUBJECT and TEXT (appended).
 */
void notify_render(const struct notify_templates *t, const struct notify_message *m,
		   struct sbuf *subject, struct sbuf *text);

/*
 * M as an HTML document with SUBJECT as its title and heading: TEXT's
 * paragraphs, then the items as a table, every value escaped.  Appended
 * to OUT.
 */
void notify_render_html(const struct notify_message *m, const char *subject, const char *text,
			struct sbuf *out);

/* M's mobiles as "@13800000000 @13900000001" ({mentions}), appended to OUT. */
void notify_mentions(const struct notify_message *m, struct sbuf *out);
/* M's instant as ISO-8601 with offset ({at_iso}), appended to OUT. */
void notify_at(const struct notify_message *m, struct sbuf *out);
/*
 * IT's {due}, {deadline} and {close} in message M ("12月10日",
 * "12月10日（含）", "12月25日 18:00"), appended to DUE, DEADLINE, CLOSE.
 */
void notify_item_times(const struct notify_message *m, const struct notify_item *it,
		       struct sbuf *due, struct sbuf *deadline, struct sbuf *close);
/* Instant T as "2026年12月2日 20:46" in the plan's zone ({at}), appended to OUT. */
void notify_zh_instant(int64_t t, struct sbuf *out);

#endif
