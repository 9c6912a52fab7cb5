/*
 * config — reads the libconfig file into the daemon's settings and the
 * plan.  Every problem is reported as "file:line: message", all of them
 * in one pass; the seed's known inconsistencies come out as warnings.
 */
#ifndef KAOHE_CONFIG_H
#define KAOHE_CONFIG_H

#include "kaohe/plan.h"
#include "kaohe/util.h"

/* Who a group of the access section names. */
struct access_rule {
	char **users;
	size_t nusers;
	char **groups;
	size_t ngroups;
};

struct settings {
	char *timezone;
	char *state_dir;
	char *control_socket;
	char *export_dir;
	int log_level;
	int control_max_clients;   /* connections at once */
	int control_max_per_uid;   /* connections of one user at once */
	int control_idle_timeout;  /* seconds before an idle connection closes */
	struct access_rule admins;
	struct access_rule *depts; /* per plan department */
	struct access_rule *units; /* per plan unit */
};

struct config {
	char *file;
	struct settings set;
	struct plan *plan;
};

/*
 * Load FILE.  YEAR, when non-zero, replaces plan.year.  Errors go to
 * ERRORS and warnings to WARNINGS, one "file:line: message" per line.
 * Returns NULL when there was any error.  Sets the process time zone to
 * the plan's.
 */
struct config *config_load(const char *file, int year, struct sbuf *errors, struct sbuf *warnings);
/* Free a configuration; NULL is fine. */
void config_free(struct config *cfg);

#endif
