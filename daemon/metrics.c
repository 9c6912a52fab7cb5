/*
 * metrics — the Prometheus text format (version 0.0.4): a # HELP and a
 * # TYPE line per family, then its samples.  Names follow Prometheus's
 * conventions: kaohe_ prefix, _total for counters, _seconds and _bytes
 * for units, timestamps as Unix seconds.  Label values are escaped as
 * the format says (backslash, double quote, line feed).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "kaohe/metrics.h"

struct delivery_count {
	char *channel;
	int64_t n[OUTBOX_NSTATES];
};

struct request_count {
	char *command;
	char *result;
	int64_t n;
};

static struct {
	struct delivery_count *deliveries;
	size_t ndeliveries, capdeliveries;
	struct request_count *requests;
	size_t nrequests, caprequests;
	int64_t reloads_ok, reloads_failed;
	int64_t deductions[ENTRY_METRIC + 1]; /* by entry type */
	int64_t last_run;                     /* 0: not yet */
} counters;

/* The states an attempt ends in: the others are on the way. */
static const enum outbox_state outcomes[] = { OUTBOX_SENT, OUTBOX_FAILED, OUTBOX_DEAD,
					      OUTBOX_CANCELLED };
#define NOUTCOMES (sizeof(outcomes) / sizeof(outcomes[0]))

static struct delivery_count *delivery_count(const char *channel)
{
	for (size_t i = 0; i < counters.ndeliveries; i++)
		if (strcmp(counters.deliveries[i].channel, channel) == 0)
			return &counters.deliveries[i];
	util_reserve(&counters.deliveries, &counters.capdeliveries, counters.ndeliveries + 1,
		     sizeof(*counters.deliveries));
	struct delivery_count *d = &counters.deliveries[counters.ndeliveries++];
	memset(d, 0, sizeof(*d));
	d->channel = xstrdup(channel);
	return d;
}

void metrics_delivery(const char *channel, enum outbox_state state)
{
	if ((unsigned)state < OUTBOX_NSTATES)
		delivery_count(channel)->n[state]++;
}

void metrics_deduction(enum entry_type type)
{
	if (type >= ENTRY_SUBMISSION && type <= ENTRY_METRIC)
		counters.deductions[type]++;
}

void metrics_reload(bool ok)
{
	if (ok)
		counters.reloads_ok++;
	else
		counters.reloads_failed++;
}

void metrics_request(const char *command, const char *result)
{
	/* A word that names no command is not a label value: unbounded. */
	command = command ? command : "unknown";
	for (size_t i = 0; i < counters.nrequests; i++) {
		struct request_count *r = &counters.requests[i];
		if (strcmp(r->command, command) == 0 && strcmp(r->result, result) == 0) {
			r->n++;
			return;
		}
	}
	util_reserve(&counters.requests, &counters.caprequests, counters.nrequests + 1,
		     sizeof(*counters.requests));
	counters.requests[counters.nrequests++] = (struct request_count){
		.command = xstrdup(command), .result = xstrdup(result), .n = 1
	};
}

void metrics_engine_run(int64_t at)
{
	counters.last_run = at;
}

void metrics_reset(void)
{
	for (size_t i = 0; i < counters.ndeliveries; i++)
		free(counters.deliveries[i].channel);
	for (size_t i = 0; i < counters.nrequests; i++) {
		free(counters.requests[i].command);
		free(counters.requests[i].result);
	}
	free(counters.deliveries);
	free(counters.requests);
	memset(&counters, 0, sizeof(counters));
}

/* VALUE as a label value: \, " and line feed escaped. */
static void label(struct sbuf *sb, const char *value)
{
	for (const char *p = value; *p; p++) {
		if (*p == '\\')
			SBUF_LIT(sb, "\\\\");
		else if (*p == '"')
			SBUF_LIT(sb, "\\\"");
		else if (*p == '\n')
			SBUF_LIT(sb, "\\n");
		else
			sbuf_add(sb, p, 1);
	}
}

static void family(struct sbuf *sb, const char *name, const char *type, const char *help)
{
	sbuf_printf(sb, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* What the database holds, gathered before anything is written. */
struct gathered {
	struct sbuf outbox; /* kaohe_outbox_deliveries samples */
	int64_t oldest;     /* earliest `at` of a row still to go; INT64_MAX none */
	int64_t dead;       /* dead rows */
};

static int gather_outbox(const char *channel, enum outbox_state state, int64_t count,
			 int64_t oldest_at, void *arg)
{
	struct gathered *g = arg;
	SBUF_LIT(&g->outbox, "kaohe_outbox_deliveries{channel=\"");
	label(&g->outbox, channel);
	sbuf_printf(&g->outbox, "\",state=\"%s\"} %lld\n", store_outbox_state_name(state),
		    (long long)count);
	if ((state == OUTBOX_PENDING || state == OUTBOX_INFLIGHT || state == OUTBOX_FAILED) &&
	    oldest_at < g->oldest)
		g->oldest = oldest_at;
	if (state == OUTBOX_DEAD)
		g->dead += count;
	return 0;
}

/* The size of PATH and of its -wal: what the database takes on disk. */
static int64_t db_bytes(const char *path)
{
	struct stat sb;
	int64_t n = 0;
	char wal[4096];

	if (stat(path, &sb) == 0)
		n += sb.st_size;
	snprintf(wal, sizeof(wal), "%s-wal", path);
	if (stat(wal, &sb) == 0)
		n += sb.st_size;
	return n;
}

static void render_deliveries(struct sbuf *sb, const struct metrics_state *s)
{
	family(sb, "kaohe_deliveries_total", "counter",
	       "Delivery attempts since the start, by channel and the state they ended in.");
	/* The configured channels from 0, so that a rate is there before the first event. */
	for (size_t i = 0; i < s->nchannels; i++)
		delivery_count(s->channels[i]);
	for (size_t i = 0; i < counters.ndeliveries; i++)
		for (size_t k = 0; k < NOUTCOMES; k++) {
			SBUF_LIT(sb, "kaohe_deliveries_total{channel=\"");
			label(sb, counters.deliveries[i].channel);
			sbuf_printf(sb, "\",state=\"%s\"} %lld\n",
				    store_outbox_state_name(outcomes[k]),
				    (long long)counters.deliveries[i].n[outcomes[k]]);
		}
}

static void render_control(struct sbuf *sb, const struct metrics_state *s)
{
	family(sb, "kaohe_reloads_total", "counter",
	       "Reloads of the configuration since the start: ok, or failed (the old one kept).");
	sbuf_printf(sb, "kaohe_reloads_total{result=\"ok\"} %lld\n",
		    (long long)counters.reloads_ok);
	sbuf_printf(sb, "kaohe_reloads_total{result=\"failed\"} %lld\n",
		    (long long)counters.reloads_failed);
	family(sb, "kaohe_control_requests_total", "counter",
	       "Control requests answered since the start, by command and result (ok or the "
	       "error code).");
	for (size_t i = 0; i < counters.nrequests; i++) {
		const struct request_count *r = &counters.requests[i];
		SBUF_LIT(sb, "kaohe_control_requests_total{command=\"");
		label(sb, r->command);
		SBUF_LIT(sb, "\",result=\"");
		label(sb, r->result);
		sbuf_printf(sb, "\"} %lld\n", (long long)r->n);
	}
	family(sb, "kaohe_control_clients", "gauge", "Control connections open.");
	sbuf_printf(sb, "kaohe_control_clients %zu\n", s->clients);
}

int metrics_render(struct store *st, const struct metrics_state *s, struct sbuf *out, char *err,
		   size_t errlen)
{
	struct gathered g = { .oldest = INT64_MAX };
	struct sbuf *sb = out;

	sbuf_init(&g.outbox);
	if (store_outbox_stats(st, gather_outbox, &g) < 0) {
		snprintf(err, errlen, "cannot read the database: %s", store_errmsg(st));
		sbuf_free(&g.outbox);
		return -1;
	}
	family(sb, "kaohe_build_info", "gauge", "The running kaohed's version.");
	sbuf_printf(sb, "kaohe_build_info{version=\"%s\"} 1\n", KAOHE_VERSION);
	family(sb, "kaohe_start_time_seconds", "gauge", "When kaohed started, in Unix seconds.");
	sbuf_printf(sb, "kaohe_start_time_seconds %lld\n", (long long)s->start_time);
	family(sb, "kaohe_plan_year_in_force", "gauge", "The plan years kaohed runs (1 each).");
	for (size_t i = 0; i < s->nyears; i++)
		sbuf_printf(sb, "kaohe_plan_year_in_force{year=\"%d\"} 1\n", s->years[i]);

	family(sb, "kaohe_engine_last_run_timestamp_seconds", "gauge",
	       "When the engine last applied everything due, in Unix seconds (0: not yet).");
	sbuf_printf(sb, "kaohe_engine_last_run_timestamp_seconds %lld\n",
		    (long long)counters.last_run);
	family(sb, "kaohe_engine_next_due_timestamp_seconds", "gauge",
	       "The next instant something falls due, in Unix seconds (absent: nothing left).");
	if (s->next_due != INT64_MAX)
		sbuf_printf(sb, "kaohe_engine_next_due_timestamp_seconds %lld\n",
			    (long long)s->next_due);
	family(sb, "kaohe_deductions_total", "counter",
	       "Automatic deductions the engine applied since the start, by kind (late, "
	       "missing, ranking).");
	static const enum entry_type kinds[] = { ENTRY_LATE, ENTRY_MISSING, ENTRY_RANKING };
	for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++)
		sbuf_printf(sb, "kaohe_deductions_total{kind=\"%s\"} %lld\n",
			    store_entry_type_name(kinds[i]),
			    (long long)counters.deductions[kinds[i]]);

	render_deliveries(sb, s);
	family(sb, "kaohe_outbox_deliveries", "gauge",
	       "Rows of the outbox now still to go (pending, inflight, failed) or dead, by "
	       "channel and state.");
	sbuf_add(sb, g.outbox.buf, g.outbox.len);
	family(sb, "kaohe_outbox_dead_deliveries", "gauge",
	       "Dead rows of the outbox now: out of tries or refused for good.");
	sbuf_printf(sb, "kaohe_outbox_dead_deliveries %lld\n", (long long)g.dead);
	family(sb, "kaohe_outbox_oldest_pending_age_seconds", "gauge",
	       "How long the oldest row still to be sent (pending, in flight or failed) has "
	       "waited since it fell due; 0 when none.");
	sbuf_printf(sb, "kaohe_outbox_oldest_pending_age_seconds %lld\n",
		    (long long)(g.oldest == INT64_MAX || g.oldest > s->now ? 0
									   : s->now - g.oldest));
	render_control(sb, s);
	family(sb, "kaohe_database_size_bytes", "gauge",
	       "The database file and its write-ahead log, in bytes.");
	sbuf_printf(sb, "kaohe_database_size_bytes %lld\n", (long long)db_bytes(s->db_path));
	sbuf_free(&g.outbox);
	return 0;
}

int metrics_write_file(const char *path, const char *text, char *err, size_t errlen)
{
	/* One name, not one per process: what a crash leaves is overwritten
	 * by the next write, never piled up.  The state directory's lock
	 * keeps a second kaohed from sharing it.  No fsync: the file is made
	 * anew every interval, and a lost one costs a scrape. */
	char *tmp = xasprintf("%s.tmp", path);
	size_t len = strlen(text);
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0644);

	if (fd < 0) {
		snprintf(err, errlen, "cannot create %s: %s", tmp, strerror(errno));
		free(tmp);
		return -1;
	}
	/* A collector reads it as another user, whatever our umask. */
	ssize_t n = write(fd, text, len);
	int e = n < 0 ? errno : 0;
	if (n == (ssize_t)len && fchmod(fd, 0644) < 0)
		e = errno;
	if (close(fd) < 0 && e == 0)
		e = errno;
	if (n != (ssize_t)len || e) {
		snprintf(err, errlen, "cannot write %s: %s", tmp, e ? strerror(e) : "short write");
		unlink(tmp);
		free(tmp);
		return -1;
	}
	if (rename(tmp, path) < 0) {
		snprintf(err, errlen, "cannot rename %s to %s: %s", tmp, path, strerror(errno));
		unlink(tmp);
		free(tmp);
		return -1;
	}
	free(tmp);
	return 0;
}
