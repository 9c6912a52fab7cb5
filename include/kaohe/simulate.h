/*
 * simulate — runs the engines of every configured plan year on one
 * virtual clock over a fresh in-memory database, executing an events
 * file's commands at their instants in the plan year each addresses, and
 * writes what happened as JSON Lines, each line naming its plan year.
 */
#ifndef KAOHE_SIMULATE_H
#define KAOHE_SIMULATE_H

#include <stdio.h>

#include "kaohe/config.h"

struct simulate_opts {
	const char *from, *to;  /* "YYYY-MM-DD" */
	const char *events;     /* file, or NULL */
	const char *export_dir; /* or NULL */
	int count_reminders;    /* count instead of printing them */
};

/*
 * Run the simulation described by O over every plan year of CFG, writing
 * to OUT: the lines in time order, then each year's final scores, the
 * oldest year first.  Returns the exit status: 0, 1 (bad events file or a
 * failing event, reported on stderr as FILE:LINE: message), 2 (bad
 * options).
 */
int simulate_run(const struct config *cfg, const struct simulate_opts *o, FILE *out);

#endif
