/*
 * grammar — the table of control commands: each command's name, who may
 * run it, and its argument slots, each with a type (a unit, an
 * occurrence, a count, a date or date-time, …), as bgpctl's parser types
 * its tokens.  The daemon's parser checks a request against it and
 * resolves each slot by its type (command.c); kaohectl prints its help
 * from it.  It needs nothing but the C library, so kaohectl links it
 * alone.
 */
#ifndef KAOHE_GRAMMAR_H
#define KAOHE_GRAMMAR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * The longest answer the daemon sends (a longer one is refused with
 * answer-too-large, naming a narrower request) and kaohectl takes.
 */
#define GRAMMAR_MAX_ANSWER (16 << 20)
/*
 * The longest free text an argument may hold (a note, a reason), in
 * characters: what is stored is shown again in every answer that lists
 * it, so its length bounds theirs.
 */
#define GRAMMAR_MAX_TEXT 2000

/*
 * How a command may touch the database: a read; a write (officers and
 * admins, one transaction, audited when it applies); an administrative
 * action (admins, audited whether it succeeds or fails); a read of
 * everything (officers and admins, who read every unit).
 */
enum grammar_access { CMD_READ, CMD_WRITE, CMD_ADMIN, CMD_READ_ALL };

/* The commands, in the order the table (and kaohectl's help) lists them. */
enum grammar_id {
	CMD_PING,
	CMD_STATUS,
	CMD_UPCOMING,
	CMD_SCORES,
	CMD_EXPLAIN,
	CMD_SNAPSHOTS,
	CMD_AUDIT,
	CMD_PLAN,
	CMD_OUTBOX,
	CMD_SUBMIT,
	CMD_RECORD,
	CMD_METRIC,
	CMD_VOID,
	CMD_MOVE,
	CMD_RETRY,
	CMD_RELOAD,
	CMD_BACKUP,
	CMD_REPORT,
	CMD_TEST_SEND,
	CMD_METRICS,
	CMD_APPLY_MISSED,
	CMD_NCOMMANDS
};

/*
 * What an argument slot takes.  A command has at most one slot of each
 * type, so a parsed request's values are found by type.
 */
enum grammar_type {
	ARG_UNIT,     /* a unit's id or name */
	ARG_OCC,      /* an occurrence: ROW, or ROW@YYYY-MM-DD */
	ARG_ROW,      /* a row's id */
	ARG_KIND,     /* a finding or award kind of the command's row */
	ARG_COUNT,    /* a whole number from 1 to 1000000 */
	ARG_METRIC,   /* a metric the command's row uses */
	ARG_VALUE,    /* a number with at most four decimals */
	ARG_TIME,     /* an instant, or a day (its 00:00) */
	ARG_DUE,      /* a date, or a date-time */
	ARG_ENTRY,    /* a ledger entry's id */
	ARG_DELIVERY, /* an outbox row's id */
	ARG_NUMBER,   /* a whole number from the slot's MIN to its MAX */
	ARG_STATE,    /* an outbox state's name */
	ARG_PERIOD,   /* a period of the plan, "2020-Q3" */
	ARG_FORMAT,   /* a publication format: html, csv or json */
	ARG_PATH,     /* a file to write (kaohectl makes it absolute) */
	ARG_TEXT,     /* free text (a note) */
	ARG_REASON,   /* free text, not empty: why a write is made, for the audit */
	ARG_CHANNEL,  /* a channel's name ("email", a webhook's name); the daemon checks it */
	ARG_NTYPES
};

struct grammar_slot {
	const char *name; /* as usage shows it: "UNIT", "DATE|DATETIME"; "--at" */
	enum grammar_type type;
	const char *value; /* an option's value as usage shows it ("TIME"); NULL otherwise */
	bool optional;
	int64_t min, max; /* ARG_NUMBER */
};

#define GRAMMAR_MAX_POS  4 /* positional slots of a command */
#define GRAMMAR_MAX_OPTS 2 /* options of a command */

struct grammar_cmd {
	enum grammar_id id;
	const char *name;
	enum grammar_access access;
	/* Positional slots in order (the optional ones last), then options;
	 * a slot with a NULL name ends each list. */
	struct grammar_slot pos[GRAMMAR_MAX_POS + 1];
	struct grammar_slot opt[GRAMMAR_MAX_OPTS + 1];
	const char *does;    /* one line for help */
	const char *example; /* kaohectl's words for one example, or NULL */
};

/*
 * Whether an error answer's CODE says the request itself was malformed:
 * an unknown command, a missing or extra argument, an option the command
 * does not take, a value of the wrong form.  kaohectl exits 2 (usage) on
 * those, as on the ones it finds itself.
 */
bool grammar_usage_code(const char *code);

/* The command ID. */
const struct grammar_cmd *grammar_command(enum grammar_id id);
/* The command named NAME (exactly), or NULL. */
const struct grammar_cmd *grammar_find(const char *name);
/* C's usage, "submit UNIT OCC [--at TIME] [--note TEXT]", into BUF. */
void grammar_usage(const struct grammar_cmd *c, char *buf, size_t len);

/* The words of a request assigned to a command's slots. */
struct grammar_words {
	const char *pos[GRAMMAR_MAX_POS];  /* by positional slot; NULL when absent */
	const char *opt[GRAMMAR_MAX_OPTS]; /* by option; NULL when absent */
	const char *year;                  /* --year's, which every command takes; or NULL */
	int npos;
};
/*
 * Assign the N words ARGV (those after the command's name) to C's slots
 * in *W: an option takes the next word as its value, or its own after
 * "=" ("--note=text"), whatever that word is ("--note --year" notes
 * "--year"); --year, which every command takes, likewise fills W->year;
 * every other word is positional.  The words are not
 * changed.  0, or -1 with the reason (a usage error) in ERR: an option C
 * does not take, an option without its value, --year twice, too few or
 * too many positional words.
 */
int grammar_assign(const struct grammar_cmd *c, int n, char *const *argv, struct grammar_words *w,
		   char *err, size_t errlen);

#endif
