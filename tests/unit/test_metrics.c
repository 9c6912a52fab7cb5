/*
 * test_metrics — the Prometheus text: every family with its HELP and TYPE,
 * the counters as they were counted, the gauges from a real SQLite
 * database (the outbox by channel and state, the oldest row's age),
 * label values escaped, and the file written whole
 * (mode 0644, no temporary left, a directory it cannot write refused).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "kaohe/metrics.h"
#include "kaohe/store.h"
#include "support.h"

static int64_t outbox_row(struct store *st, const char *channel, int64_t at)
{
	struct outbox_row r = { .at = at,
				.kind = "before",
				.unit = "bayilu",
				.dept = "",
				.subject = "1",
				.channel = channel,
				.address = "",
				.name = "联络员",
				.mentions = "" };
	int64_t id = 0;
	assert_int_equal(store_begin(st), 0);
	assert_int_equal(store_outbox_add(st, &r, &id), 0);
	assert_int_equal(store_commit(st), 0);
	return id;
}

static char *render(struct store *st, const struct metrics_state *s)
{
	struct sbuf sb;
	char err[256];
	sbuf_init(&sb);
	assert_int_equal(metrics_render(st, s, &sb, err, sizeof(err)), 0);
	return sb.buf;
}

/* Every sample line of TEXT names a family that its # TYPE line announced before. */
static void expect_families_typed(const char *text)
{
	char *copy = strdup(text), *save = NULL;
	char typed[64][80];
	int ntyped = 0;
	for (char *l = strtok_r(copy, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
		char name[80], type[16];
		if (sscanf(l, "# TYPE %79s %15s", name, type) == 2) {
			assert_true(strcmp(type, "counter") == 0 || strcmp(type, "gauge") == 0);
			assert_true(ntyped < 64);
			strcpy(typed[ntyped++], name);
			continue;
		}
		if (l[0] == '#')
			continue;
		size_t n = strcspn(l, "{ ");
		bool found = false;
		for (int i = 0; i < ntyped; i++)
			found |= strlen(typed[i]) == n && strncmp(typed[i], l, n) == 0;
		assert_true(found);
	}
	free(copy);
}

static void test_render(void **state)
{
	struct config *cfg = load_shipped_config();
	struct store *st = open_synced(":memory:", cfg->plan);
	const char *channels[] = { "email", "wecom \"streets\"\\" };
	int year = 2020;
	(void)state;

	metrics_reset();
	outbox_row(st, "email", 1000);
	outbox_row(st, "email", 1500);
	int64_t dead = outbox_row(st, "email", 900);
	assert_int_equal(store_outbox_update(st, dead, OUTBOX_DEAD, 3, 0, 550, "refused", 2000), 0);
	int64_t sent = outbox_row(st, "email", 800);
	assert_int_equal(store_begin(st), 0);
	assert_int_equal(store_outbox_sent(st, &sent, 1, 250, 2000), 0);
	assert_int_equal(store_commit(st), 0);
	metrics_delivery("email", OUTBOX_SENT);
	metrics_delivery("email", OUTBOX_SENT);
	metrics_delivery("email", OUTBOX_DEAD);
	metrics_reload(true);
	metrics_reload(false);
	metrics_reload(false);
	metrics_request("submit", "ok");
	metrics_request("submit", "ok");
	metrics_request("submit", "unknown-unit");
	metrics_request(NULL, "unknown-command");
	metrics_engine_run(1990);
	metrics_deduction(ENTRY_LATE);
	metrics_deduction(ENTRY_MISSING);
	metrics_deduction(ENTRY_MISSING);

	struct metrics_state s = { .now = 2000,
				   .start_time = 10,
				   .next_due = 3600,
				   .years = &year,
				   .nyears = 1,
				   .channels = channels,
				   .nchannels = 2,
				   .clients = 3,
				   .db_path = "/nonexistent/kaohe.db" };
	char *text = render(st, &s);
	expect_families_typed(text);
	assert_non_null(strstr(text, "kaohe_plan_year_in_force{year=\"2020\"} 1\n"));
	assert_non_null(
		strstr(text, "kaohe_deliveries_total{channel=\"email\",state=\"sent\"} 2\n"));
	assert_non_null(
		strstr(text, "kaohe_deliveries_total{channel=\"email\",state=\"dead\"} 1\n"));
	/* a configured channel from 0; its name escaped */
	assert_non_null(strstr(text, "kaohe_deliveries_total{channel=\"wecom \\\"streets\\\"\\\\\","
				     "state=\"failed\"} 0\n"));
	assert_non_null(
		strstr(text, "kaohe_outbox_deliveries{channel=\"email\",state=\"pending\"} 2\n"));
	assert_non_null(
		strstr(text, "kaohe_outbox_deliveries{channel=\"email\",state=\"dead\"} 1\n"));
	assert_non_null(strstr(text, "kaohe_outbox_dead_deliveries 1\n"));
	/* sent rows only grow: their rate is the counter's, not read from the table */
	assert_null(strstr(text, "kaohe_outbox_deliveries{channel=\"email\",state=\"sent\"}"));
	/* the oldest row still to go fell due at 1000 (the dead one, at 900, does not count) */
	assert_non_null(strstr(text, "kaohe_outbox_oldest_pending_age_seconds 1000\n"));
	assert_non_null(strstr(text, "kaohe_reloads_total{result=\"ok\"} 1\n"));
	assert_non_null(strstr(text, "kaohe_reloads_total{result=\"failed\"} 2\n"));
	assert_non_null(strstr(text, "kaohe_control_requests_total{command=\"submit\","
				     "result=\"ok\"} 2\n"));
	assert_non_null(strstr(text, "kaohe_control_requests_total{command=\"submit\","
				     "result=\"unknown-unit\"} 1\n"));
	assert_non_null(strstr(text, "kaohe_control_requests_total{command=\"unknown\","
				     "result=\"unknown-command\"} 1\n"));
	assert_non_null(strstr(text, "kaohe_control_clients 3\n"));
	assert_non_null(strstr(text, "kaohe_engine_last_run_timestamp_seconds 1990\n"));
	assert_non_null(strstr(text, "kaohe_engine_next_due_timestamp_seconds 3600\n"));
	assert_non_null(strstr(text, "kaohe_deductions_total{kind=\"late\"} 1\n"));
	assert_non_null(strstr(text, "kaohe_deductions_total{kind=\"missing\"} 2\n"));
	assert_non_null(strstr(text, "kaohe_deductions_total{kind=\"ranking\"} 0\n"));
	assert_non_null(strstr(text, "kaohe_database_size_bytes 0\n"));
	free(text);

	/* nothing left to fall due: no sample, the family still announced */
	s.next_due = INT64_MAX;
	text = render(st, &s);
	assert_null(strstr(text, "kaohe_engine_next_due_timestamp_seconds 9"));
	assert_non_null(strstr(text, "# TYPE kaohe_engine_next_due_timestamp_seconds gauge\n"));
	free(text);

	metrics_reset();
	text = render(st, &s);
	assert_non_null(strstr(text, "kaohe_reloads_total{result=\"failed\"} 0\n"));
	assert_non_null(strstr(text, "kaohe_deductions_total{kind=\"missing\"} 0\n"));
	assert_null(strstr(text, "command=\"submit\""));
	free(text);
	store_close(st);
	config_free(cfg);
}

static void test_write_file(void **state)
{
	char dir[256], path[300];
	char err[512];
	struct stat sb;
	size_t len;
	(void)state;

	temp_dir(dir, sizeof(dir), "metrics");
	snprintf(path, sizeof(path), "%s/kaohe.prom", dir);
	mode_t old = umask(077);
	/* what a crash left half written is overwritten, not piled beside */
	char ls[400];
	snprintf(ls, sizeof(ls), "%s/kaohe.prom.tmp", dir);
	FILE *left = fopen(ls, "w");
	assert_non_null(left);
	fputs("half a fil", left);
	fclose(left);
	assert_int_equal(metrics_write_file(path, "a 1\n", err, sizeof(err)), 0);
	assert_int_equal(metrics_write_file(path, "a 2\n", err, sizeof(err)), 0);
	umask(old);
	char *text = read_whole(path, &len);
	assert_string_equal(text, "a 2\n");
	free(text);
	assert_int_equal(stat(path, &sb), 0);
	assert_int_equal(sb.st_mode & 0777, 0644);
	/* only the file: the temporary was renamed */
	assert_int_not_equal(access(ls, F_OK), 0);

	snprintf(path, sizeof(path), "%s/missing/kaohe.prom", dir);
	assert_int_equal(metrics_write_file(path, "a 1\n", err, sizeof(err)), -1);
	assert_non_null(strstr(err, "cannot create"));
	assert_non_null(strstr(err, "/missing/kaohe.prom.tmp"));
	remove_tree(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_render),
		cmocka_unit_test(test_write_file),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
