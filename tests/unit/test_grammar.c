/*
 * test_grammar — the table of control commands: every command's usage as
 * the protocol documents it, the rules the parser relies on (one slot of
 * each type, optional positions last, a kind or metric after its row,
 * only a reason as a required option), lookups, and the assignment of a
 * request's words to the slots.
 */
#include <string.h>

#include "kaohe/grammar.h"
#include "support.h"

/* The usage of every command, as the README and the design list them. */
static void test_usages(void **state)
{
	static const char *const want[CMD_NCOMMANDS] = {
		[CMD_PING] = "ping",
		[CMD_STATUS] = "status [UNIT]",
		[CMD_UPCOMING] = "upcoming [DAYS]",
		[CMD_SCORES] = "scores [--as-of TIME]",
		[CMD_EXPLAIN] = "explain UNIT [ROW]",
		[CMD_SNAPSHOTS] = "snapshots",
		[CMD_AUDIT] = "audit [N]",
		[CMD_PLAN] = "plan",
		[CMD_OUTBOX] = "outbox [STATE]",
		[CMD_SUBMIT] = "submit UNIT OCC [--at TIME] [--note TEXT]",
		[CMD_RECORD] = "record UNIT ROW KIND [COUNT] [--note TEXT]",
		[CMD_METRIC] = "metric UNIT ROW NAME VALUE",
		[CMD_VOID] = "void ENTRY_ID --reason TEXT",
		[CMD_MOVE] = "move OCC DATE|DATETIME [--unit UNIT] --reason TEXT",
		[CMD_RETRY] = "retry DELIVERY_ID",
		[CMD_RELOAD] = "reload",
		[CMD_BACKUP] = "backup PATH",
		[CMD_REPORT] = "report PERIOD [--format html|csv|json]",
		[CMD_TEST_SEND] = "test-send CHANNEL [RECIPIENT]",
		[CMD_METRICS] = "metrics",
		[CMD_APPLY_MISSED] = "apply-missed --reason TEXT",
	};
	char u[160];
	(void)state;

	for (int i = 0; i < CMD_NCOMMANDS; i++) {
		const struct grammar_cmd *c = grammar_command((enum grammar_id)i);
		assert_non_null(c);
		assert_int_equal(c->id, i);
		grammar_usage(c, u, sizeof(u));
		assert_string_equal(u, want[i]);
		assert_non_null(c->does);
	}
	assert_null(grammar_command(CMD_NCOMMANDS));
}

/* What the parser takes for granted of every entry. */
static void test_table_rules(void **state)
{
	(void)state;
	for (int i = 0; i < CMD_NCOMMANDS; i++) {
		const struct grammar_cmd *c = grammar_command((enum grammar_id)i);
		bool seen[ARG_NTYPES] = { false }, optional = false, row = false;
		int n = 0;
		for (const struct grammar_slot *s = c->pos; s->name; s++, n++) {
			if (seen[s->type])
				fail_msg("%s: two slots of type %d", c->name, s->type);
			seen[s->type] = true;
			if (optional && !s->optional)
				fail_msg("%s: %s is required after an optional slot", c->name,
					 s->name);
			optional |= s->optional;
			if ((s->type == ARG_KIND || s->type == ARG_METRIC) && !row)
				fail_msg("%s: %s comes before its row", c->name, s->name);
			row |= s->type == ARG_ROW;
			assert_null(s->value);
			if (s->type == ARG_NUMBER)
				assert_true(s->min <= s->max);
		}
		assert_true(n <= GRAMMAR_MAX_POS);
		n = 0;
		for (const struct grammar_slot *s = c->opt; s->name; s++, n++) {
			if (seen[s->type])
				fail_msg("%s: two slots of type %d", c->name, s->type);
			seen[s->type] = true;
			assert_int_equal(strncmp(s->name, "--", 2), 0);
			assert_non_null(s->value);
			/* a reason alone must be given (and is refused empty) */
			assert_int_equal(!s->optional, s->type == ARG_REASON);
		}
		assert_true(n <= GRAMMAR_MAX_OPTS);
		for (int j = 0; j < i; j++)
			assert_string_not_equal(c->name, grammar_command((enum grammar_id)j)->name);
		assert_ptr_equal(grammar_find(c->name), c);
	}
	/* names match exactly */
	assert_null(grammar_find("SUBMIT"));
	assert_null(grammar_find("sub"));
	assert_null(grammar_find(""));
	/* who may run what */
	assert_int_equal(grammar_find("status")->access, CMD_READ);
	assert_int_equal(grammar_find("retry")->access, CMD_WRITE);
	assert_int_equal(grammar_find("backup")->access, CMD_ADMIN);
	assert_int_equal(grammar_find("report")->access, CMD_READ_ALL);
}

static int assign(const char *cmd, int n, char **argv, struct grammar_words *w, char *err)
{
	err[0] = '\0';
	int rc = grammar_assign(grammar_find(cmd), n, argv, w, err, 256);
	if (rc < 0)
		assert_true(err[0] != '\0');
	return rc;
}

static void test_assign(void **state)
{
	struct grammar_words w;
	char err[256];
	(void)state;

	char *submit[] = { "bayilu", "7d@2020-12-10", "--note", "a note", "--at=2020-12-09" };
	assert_int_equal(assign("submit", 5, submit, &w, err), 0);
	assert_int_equal(w.npos, 2);
	assert_ptr_equal(w.pos[0], submit[0]);
	assert_ptr_equal(w.pos[1], submit[1]);
	assert_ptr_equal(w.opt[1], submit[3]);
	assert_string_equal(w.opt[0], "2020-12-09");
	/* the words are left as they were */
	assert_string_equal(submit[4], "--at=2020-12-09");

	char *record[] = { "bayilu", "6c", "pushback" };
	assert_int_equal(assign("record", 3, record, &w, err), 0);
	assert_null(w.pos[3]);
	assert_null(w.opt[0]);

	/* "--" alone is a word, not an option */
	char *dash[] = { "--" };
	assert_int_equal(assign("status", 1, dash, &w, err), 0);
	assert_string_equal(w.pos[0], "--");

	char *unknown[] = { "16a", "2020-07-31", "--because=x" };
	assert_int_equal(assign("move", 3, unknown, &w, err), -1);
	assert_non_null(strstr(err, "move takes no option --because;"));
	assert_non_null(strstr(err, "usage: move OCC DATE|DATETIME"));
	char *other[] = { "bayilu", "--at", "2020-06-01" };
	assert_int_equal(assign("explain", 3, other, &w, err), -1);
	assert_non_null(strstr(err, "explain takes no option --at"));

	char *novalue[] = { "1", "--reason" };
	assert_int_equal(assign("void", 2, novalue, &w, err), -1);
	assert_non_null(strstr(err, "option --reason needs a value"));

	char *few[] = { "bayilu" };
	assert_int_equal(assign("submit", 1, few, &w, err), -1);
	assert_non_null(strstr(err, "submit: wrong number of arguments"));
	char *many[] = { "a", "b", "c", "d", "e", "f" };
	assert_int_equal(assign("record", 6, many, &w, err), -1);
	assert_int_equal(assign("ping", 1, many, &w, err), -1);
	assert_int_equal(assign("ping", 0, many, &w, err), 0);
	/* a required option's absence is the parser's to name (a reason) */
	char *noreason[] = { "1" };
	assert_int_equal(assign("void", 1, noreason, &w, err), 0);
	assert_null(w.opt[0]);

	/* --year, every command's; a value-taking option takes the next word, even "--year" */
	char *noted[] = { "bayilu", "1", "--note", "--year" };
	assert_int_equal(assign("submit", 4, noted, &w, err), 0);
	assert_string_equal(w.opt[1], "--year");
	assert_null(w.year);
	char *both[] = { "bayilu", "1", "--note", "--year", "--year", "2026" };
	assert_int_equal(assign("submit", 6, both, &w, err), 0);
	assert_string_equal(w.opt[1], "--year");
	assert_string_equal(w.year, "2026");
	assert_int_equal(w.npos, 2);
	char *year[] = { "--year=2025" };
	assert_int_equal(assign("scores", 1, year, &w, err), 0);
	assert_string_equal(w.year, "2025");
	char *twice[] = { "--year", "2025", "--year", "2026" };
	assert_int_equal(assign("scores", 4, twice, &w, err), -1);
	assert_non_null(strstr(err, "--year is given twice"));
	char *bare[] = { "--year" };
	assert_int_equal(assign("scores", 1, bare, &w, err), -1);
	assert_non_null(strstr(err, "option --year needs a value"));
	/* after a value-taking option that took it, "2026" is a word of its own */
	char *stray[] = { "bayilu", "1", "--note", "--year", "2026" };
	assert_int_equal(assign("submit", 5, stray, &w, err), -1);
	assert_non_null(strstr(err, "submit: wrong number of arguments"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_usages),
		cmocka_unit_test(test_table_rules),
		cmocka_unit_test(test_assign),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
