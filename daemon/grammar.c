/*
 * grammar — the table of control commands.  Adding a command is one
 * entry here and its handler in command.c; the parser, the checks of an
 * events file, the errors' codes and kaohectl's help follow.
 */
#include <stdio.h>
#include <string.h>

#include "kaohe/grammar.h"

#define POS(n, t)                        \
	{                                \
		.name = (n), .type = (t) \
	}
#define POS_OPT(n, t)                                      \
	{                                                  \
		.name = (n), .type = (t), .optional = true \
	}
#define OPT(n, t, v)                                                     \
	{                                                                \
		.name = (n), .type = (t), .value = (v), .optional = true \
	}
#define OPT_NEEDED(n, t, v)                            \
	{                                              \
		.name = (n), .type = (t), .value = (v) \
	}

static const struct grammar_cmd commands[CMD_NCOMMANDS] = {
	[CMD_PING] = { .id = CMD_PING,
		       .name = "ping",
		       .access = CMD_READ,
		       .does = "whether the daemon answers, and its time" },
	[CMD_STATUS] = { .id = CMD_STATUS,
			 .name = "status",
			 .access = CMD_READ,
			 .pos = { POS_OPT("UNIT", ARG_UNIT) },
			 .does = "the standing and who owes what; a unit's occurrences",
			 .example = "status 八一路" },
	[CMD_UPCOMING] = { .id = CMD_UPCOMING,
			   .name = "upcoming",
			   .access = CMD_READ,
			   .pos = { { .name = "DAYS",
				      .type = ARG_NUMBER,
				      .optional = true,
				      .min = 1,
				      .max = 3660 } },
			   .does = "what falls due in the next DAYS days (14)" },
	[CMD_SCORES] = { .id = CMD_SCORES,
			 .name = "scores",
			 .access = CMD_READ,
			 .opt = { OPT("--as-of", ARG_TIME, "TIME") },
			 .does = "every unit's scores, now or as they stood at TIME",
			 .example = "--json scores --as-of 2020-10-01" },
	[CMD_EXPLAIN] = { .id = CMD_EXPLAIN,
			  .name = "explain",
			  .access = CMD_READ,
			  .pos = { POS("UNIT", ARG_UNIT), POS_OPT("ROW", ARG_ROW) },
			  .does = "every ledger entry behind a unit's score" },
	[CMD_SNAPSHOTS] = { .id = CMD_SNAPSHOTS,
			    .name = "snapshots",
			    .access = CMD_READ,
			    .does = "the quarterly snapshots taken" },
	[CMD_AUDIT] = { .id = CMD_AUDIT,
			.name = "audit",
			.access = CMD_READ,
			.pos = { { .name = "N",
				   .type = ARG_NUMBER,
				   .optional = true,
				   .min = 1,
				   .max = 100000 } },
			.does = "the last N writes and admins' actions (20)" },
	[CMD_PLAN] = { .id = CMD_PLAN,
		       .name = "plan",
		       .access = CMD_READ,
		       .does = "the plan: rows, occurrences and their schedules, kinds" },
	[CMD_OUTBOX] = { .id = CMD_OUTBOX,
			 .name = "outbox",
			 .access = CMD_READ,
			 .pos = { POS_OPT("STATE", ARG_STATE) },
			 .does = "the latest deliveries (pending, inflight, sent, failed, "
				 "dead or cancelled) and the count in each state",
			 .example = "outbox dead" },
	[CMD_SUBMIT] = { .id = CMD_SUBMIT,
			 .name = "submit",
			 .access = CMD_WRITE,
			 .pos = { POS("UNIT", ARG_UNIT), POS("OCC", ARG_OCC) },
			 .opt = { OPT("--at", ARG_TIME, "TIME"), OPT("--note", ARG_TEXT, "TEXT") },
			 .does = "records a submission; OCC is ROW or ROW@YYYY-MM-DD",
			 .example = "submit bayilu 7d@2020-12-10 --note "
				    "\"年度工作总结\"" },
	[CMD_RECORD] = { .id = CMD_RECORD,
			 .name = "record",
			 .access = CMD_WRITE,
			 .pos = { POS("UNIT", ARG_UNIT), POS("ROW", ARG_ROW), POS("KIND", ARG_KIND),
				  POS_OPT("COUNT", ARG_COUNT) },
			 .opt = { OPT("--note", ARG_TEXT, "TEXT") },
			 .does = "adds COUNT (1) of a finding or award kind",
			 .example = "record baiyun 6c pushback 2" },
	[CMD_METRIC] = { .id = CMD_METRIC,
			 .name = "metric",
			 .access = CMD_WRITE,
			 .pos = { POS("UNIT", ARG_UNIT), POS("ROW", ARG_ROW),
				  POS("NAME", ARG_METRIC), POS("VALUE", ARG_VALUE) },
			 .does = "records a metric value (at most four decimals)" },
	[CMD_VOID] = { .id = CMD_VOID,
		       .name = "void",
		       .access = CMD_WRITE,
		       .pos = { POS("ENTRY_ID", ARG_ENTRY) },
		       .opt = { OPT_NEEDED("--reason", ARG_REASON, "TEXT") },
		       .does = "voids a ledger entry or a submission" },
	[CMD_MOVE] = { .id = CMD_MOVE,
		       .name = "move",
		       .access = CMD_WRITE,
		       .pos = { POS("OCC", ARG_OCC), POS("DATE|DATETIME", ARG_DUE) },
		       .opt = { OPT("--unit", ARG_UNIT, "UNIT"),
				OPT_NEEDED("--reason", ARG_REASON, "TEXT") },
		       .does = "moves a due, for every unit or one",
		       .example = "move 16a 2020-07-31 --reason \"办法尚未出台\"" },
	[CMD_RETRY] = { .id = CMD_RETRY,
			.name = "retry",
			.access = CMD_WRITE,
			.pos = { POS("DELIVERY_ID", ARG_DELIVERY) },
			.does = "sends a failed, dead or cancelled delivery again now",
			.example = "retry 42" },
	[CMD_RELOAD] = { .id = CMD_RELOAD,
			 .name = "reload",
			 .access = CMD_ADMIN,
			 .does = "admins: reads the configuration again (as SIGHUP)" },
	[CMD_BACKUP] = { .id = CMD_BACKUP,
			 .name = "backup",
			 .access = CMD_ADMIN,
			 .pos = { POS("PATH", ARG_PATH) },
			 .does = "admins: a consistent copy of the database, in a new file" },
	[CMD_REPORT] = { .id = CMD_REPORT,
			 .name = "report",
			 .access = CMD_READ_ALL,
			 .pos = { POS("PERIOD", ARG_PERIOD) },
			 .opt = { OPT("--format", ARG_FORMAT, "html|csv|json") },
			 .does = "officers and admins: a period's publication (provisional "
				 "without a snapshot)",
			 .example = "report 2020-Q3 --format csv > 2020-Q3.csv" },
	[CMD_TEST_SEND] = { .id = CMD_TEST_SEND,
			    .name = "test-send",
			    .access = CMD_ADMIN,
			    .pos = { POS("CHANNEL", ARG_CHANNEL), POS_OPT("RECIPIENT", ARG_TEXT) },
			    .does = "admins: sends a test message now, prints what the server "
				    "answered",
			    .example = "test-send email liaison@example.org" },
	[CMD_METRICS] = { .id = CMD_METRICS,
			  .name = "metrics",
			  .access = CMD_READ_ALL,
			  .does = "officers and admins: the daemon's metrics in the Prometheus text format" },
	[CMD_APPLY_MISSED] = { .id = CMD_APPLY_MISSED,
			       .name = "apply-missed",
			       .access = CMD_ADMIN,
			       .opt = { OPT_NEEDED("--reason", ARG_REASON, "TEXT") },
			       .does = "admins: applies the deductions of what fell due before "
				       "the plan year was adopted (untracked)",
			       .example = "--year 2026 apply-missed --reason \"按原计划扣分\"" },
};

bool grammar_usage_code(const char *code)
{
	return strcmp(code, "usage") == 0 || strcmp(code, "unknown-command") == 0;
}

const struct grammar_cmd *grammar_command(enum grammar_id id)
{
	return (unsigned)id < CMD_NCOMMANDS ? &commands[id] : NULL;
}

const struct grammar_cmd *grammar_find(const char *name)
{
	for (size_t i = 0; i < CMD_NCOMMANDS; i++)
		if (strcmp(commands[i].name, name) == 0)
			return &commands[i];
	return NULL;
}

void grammar_usage(const struct grammar_cmd *c, char *buf, size_t len)
{
	size_t o = (size_t)snprintf(buf, len, "%s", c->name);

	for (const struct grammar_slot *s = c->pos; s->name && o < len; s++)
		o += (size_t)snprintf(buf + o, len - o, s->optional ? " [%s]" : " %s", s->name);
	for (const struct grammar_slot *s = c->opt; s->name && o < len; s++)
		o += (size_t)snprintf(buf + o, len - o, s->optional ? " [%s %s]" : " %s %s",
				      s->name, s->value);
}

/* The option of C that WORD names (up to an "="), or NULL. */
static const struct grammar_slot *option(const struct grammar_cmd *c, const char *word,
					 size_t namelen)
{
	for (const struct grammar_slot *s = c->opt; s->name; s++)
		if (strlen(s->name) == namelen && strncmp(s->name, word, namelen) == 0)
			return s;
	return NULL;
}

int grammar_assign(const struct grammar_cmd *c, int n, char *const *argv, struct grammar_words *w,
		   char *err, size_t errlen)
{
	char usage[160];
	int min = 0, max = 0;

	memset(w, 0, sizeof(*w));
	for (const struct grammar_slot *s = c->pos; s->name; s++, max++)
		min += !s->optional;
	for (int i = 0; i < n; i++) {
		const char *word = argv[i];
		if (strncmp(word, "--", 2) != 0 || word[2] == '\0') {
			if (w->npos < GRAMMAR_MAX_POS)
				w->pos[w->npos] = word;
			w->npos++;
			continue;
		}
		const char *eq = strchr(word, '=');
		size_t namelen = eq ? (size_t)(eq - word) : strlen(word);
		const struct grammar_slot *s = option(c, word, namelen);
		/* --year, an option of every command (a value of another is not). */
		if (s == NULL && namelen == 6 && strncmp(word, "--year", 6) == 0) {
			if (w->year) {
				snprintf(err, errlen, "--year is given twice");
				return -1;
			}
			if (eq) {
				w->year = eq + 1;
			} else if (i + 1 < n) {
				w->year = argv[++i];
			} else {
				snprintf(err, errlen, "option --year needs a value, as 2026");
				return -1;
			}
			continue;
		}
		if (s == NULL) {
			grammar_usage(c, usage, sizeof(usage));
			snprintf(err, errlen, "%s takes no option %.*s; usage: %s", c->name,
				 (int)namelen, word, usage);
			return -1;
		}
		const char **value = &w->opt[s - c->opt];
		if (eq) {
			*value = eq + 1;
		} else if (i + 1 < n) {
			*value = argv[++i];
		} else {
			grammar_usage(c, usage, sizeof(usage));
			snprintf(err, errlen, "option %s needs a value; usage: %s", word, usage);
			return -1;
		}
	}
	if (w->npos < min || w->npos > max) {
		grammar_usage(c, usage, sizeof(usage));
		snprintf(err, errlen, "%s: wrong number of arguments; usage: %s", c->name, usage);
		return -1;
	}
	return 0;
}
