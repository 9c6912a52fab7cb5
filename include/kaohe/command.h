/*
 * command — the one parser and dispatcher of control commands (the table
 * of them is grammar.h's), shared by the control socket and simulate's
 * events file.  A request is one line
 * of UTF-8 (at most COMMAND_MAX_LINE bytes); the answer is one JSON
 * object {"ok":true,"data":…} or {"ok":false,"error":{"code","message"}}.
 * Every write applies whole in one transaction, or not at all, and is
 * audited with the caller's name.
 */
#ifndef KAOHE_COMMAND_H
#define KAOHE_COMMAND_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "kaohe/engine.h"
#include "kaohe/plan.h"
#include "kaohe/store.h"

#define COMMAND_MAX_LINE 65536
#define COMMAND_MAX_ARGS 64

/* Who is asking, as the control socket's peer credentials resolved it. */
struct actor {
	char name[64];
	bool admin;
	const uint8_t *depts; /* [plan dept] officer of it; may be NULL */
	const uint8_t *units; /* [plan unit] member of it; may be NULL */
};

/* What a command runs against. */
struct command_ctx {
	const struct plan *plan;
	struct store *st;
	struct engine *eng;
	int64_t now;
	const struct actor *actor;
	/*
	 * simulate: commands run inside the caller's work, with no transaction
	 * or audit of their own, and writes answer only {"ok":true}; the caller
	 * abandons everything on a failure.
	 */
	bool batch;
	/* Optional hooks (HOOK_ARG their argument); NULL where unavailable (simulate). */
	void *hook_arg;
	json_t *(*reload)(void *arg);
	/*
	 * A move (of UNIT's schedule, UNIT of plan year YEAR's plan, or -1:
	 * every unit's) or a rollback changed the timeline.
	 */
	void (*timeline_changed)(void *arg, int year, int unit);
	/*
	 * A delivery over CHANNEL was put back in the queue by hand (retry):
	 * it goes now, whatever wait CHANNEL's provider asked for.
	 */
	void (*outbox_changed)(void *arg, const char *channel);
	/*
	 * Start a test message over CHANNEL to RECIPIENT (NULL: the
	 * channel's default), asked by ACTOR in REQUEST (its audited text):
	 * NULL when it started, its answer to come through TOKEN, audited
	 * by the hook then; or the answer that refuses it.
	 */
	json_t *(*test_send)(void *arg, const char *channel, const char *recipient,
			     const char *actor, const char *request, uint64_t token);
	/* `metrics`: append the text to OUT; 0, or -1 with a message in ERR. */
	int (*metrics)(void *arg, struct sbuf *out, char *err, size_t errlen);
	/*
	 * The control socket's token for this request, for an answer that
	 * comes later (0: none may); the request's audited text while an
	 * administrative command runs; and, set by command_execute_text,
	 * whether the answer comes later (nothing was appended to OUT).
	 */
	uint64_t token;
	const char *request;
	bool deferred;
	/*
	 * Set by command_execute_text for the metrics: the command answered
	 * (NULL when the request named none) and "ok" or the error's code.
	 */
	const char *answered;
	char result[32];
	/*
	 * Point PLAN, ST, ENG and ACTOR at plan year YEAR (0: the latest in
	 * force), which --year names: NULL, or the answer that refuses it
	 * ("unknown-year").  NULL: only the context's own year.
	 */
	json_t *(*select_year)(void *arg, int year, struct command_ctx *c);
	/*
	 * Set by select_year for a plan year the database holds but no
	 * configured plan names: ST is that year's, PLAN, ENG and ACTOR the
	 * latest year's in force, and only what needs no plan of its own
	 * (snapshots, audit, outbox) reads it; 0 otherwise.
	 */
	int unconfigured;
	/* For status: the plan years configured, and whether every one has ended. */
	const int *years;
	size_t nyears;
	bool ended;
	const char *ended_message;
};

/*
 * Split LINE into at most COMMAND_MAX_ARGS words: spaces separate, a word
 * in double quotes may hold spaces, with \" and \\ as escapes.  Returns
 * the count, or -1 with a message in ERR.  ARGV points into BUF (a copy).
 */
int command_split(const char *line, char *buf, size_t buflen, char **argv, char *err,
		  size_t errlen);

/*
 * Check LINE for form (length, UTF-8, words, a known command and its
 * slots, no control characters) and each argument by its slot's type
 * (the units, rows, occurrences, kinds and metrics it names in the plan,
 * counts, values, times, dates, ids…), without running it; 0, or -1
 * with the error code an admin's request would be answered in CODE and
 * its message in MSG.  What only the database knows (an entry, a
 * delivery, an earlier plan's period) is left to the run.  Used to vet
 * an events file before a simulation starts.
 */
int command_check(const struct plan *plan, const char *line, size_t len, char *code, size_t codelen,
		  char *msg, size_t msglen);

/*
 * The plan year LINE's --year names: 0 when it names none, -1 when LINE
 * is not a well-formed command (command_check() says why).  For a caller
 * that checks a line against the plan of the year it addresses.
 */
int command_year(const char *line, size_t len);

/*
 * The answer that refuses plan year YEAR ("unknown-year"): neither one
 * of the CONFIGURED years (N) nor one the database holds (HELD, NHELD).
 */
json_t *command_unknown_year(int year, const int *configured, size_t n, const int *held,
			     size_t nheld);

/* Run one request, with no TOKEN in CTX; returns the answer object (never NULL). */
json_t *command_execute(struct command_ctx *ctx, const char *line, size_t len);
/*
 * The same, appending the answer as one line of JSON text (without the
 * newline) to OUT: the control socket's path, where the busiest reads
 * write their answers without building JSON objects.  With a TOKEN, a
 * command may leave OUT as it was and set DEFERRED: its answer comes later.
 */
void command_execute_text(struct command_ctx *ctx, const char *line, size_t len, struct sbuf *out);

/*
 * Append REQUEST by ACTOR at NOW to the audit trail, with what ANSWER
 * says: its data, or its error (code and message).  0 or -1.
 */
int command_audit(struct store *st, int64_t now, const char *actor, const char *request,
		  const json_t *answer);

/* Every error code the daemon may answer, NULL-terminated (the README lists them). */
extern const char *const command_codes[];
/* Whether CODE is in command_codes. */
bool command_code_known(const char *code);

/* Build an error answer; CODE is one of command_codes. */
json_t *command_error(const char *code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
