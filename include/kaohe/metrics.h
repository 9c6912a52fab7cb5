/*
 * metrics — what kaohed counts, in the Prometheus text format, for
 * `kaohectl metrics` and the textfile collector's file.  The counters
 * live in the process (from its start, as Prometheus expects of a
 * counter) and are kept by the loop's thread only; the gauges are read
 * from the database and the daemon when the text is made.
 */
#ifndef KAOHE_METRICS_H
#define KAOHE_METRICS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kaohe/store.h"
#include "kaohe/util.h"

/* A delivery attempt over CHANNEL ended in STATE (sent, failed, dead, cancelled). */
void metrics_delivery(const char *channel, enum outbox_state state);
/* The engine applied an automatic deduction of TYPE (late, missing, ranking). */
void metrics_deduction(enum entry_type type);
/* A reload (SIGHUP or `kaohectl reload`) took the configuration, or was refused. */
void metrics_reload(bool ok);
/* The control socket answered COMMAND (NULL: no known command) with RESULT ("ok" or a code). */
void metrics_request(const char *command, const char *result);
/* The engine applied everything due up to AT (wall-clock seconds). */
void metrics_engine_run(int64_t at);
/* Forget every counter (tests). */
void metrics_reset(void);

/* What the daemon knows when the text is made. */
struct metrics_state {
	int64_t now;
	int64_t start_time; /* when the process started */
	int64_t next_due;   /* the engine's next instant; INT64_MAX none */
	const int *years;   /* the plan years in force */
	size_t nyears;
	const char *const *channels; /* the configured channels: their counters start at 0 */
	size_t nchannels;
	size_t clients;      /* control connections open */
	const char *db_path; /* the database, whose size (with its WAL) is told */
};

/*
 * Append the metrics to OUT in the Prometheus text format (version
 * 0.0.4): the counters, S, and what ST holds.  0, or -1 with a message
 * in ERR (nothing appended).
 */
int metrics_render(struct store *st, const struct metrics_state *s, struct sbuf *out, char *err,
		   size_t errlen);

/*
 * Write TEXT to PATH atomically: a new file beside it (mode 0644), then
 * renamed over it, so a collector never reads half of it.  0, or -1
 * with a message in ERR (nothing left behind).
 */
int metrics_write_file(const char *path, const char *text, char *err, size_t errlen);

#endif
