/*
 * loop — kaohed as a service: the libev loop with one absolute timer at
 * the engine's next due instant, the control socket, signals, and the
 * systemd protocol (readiness, status, reload, watchdog).
 */
#ifndef KAOHE_LOOP_H
#define KAOHE_LOOP_H

#include <stdbool.h>

#include "kaohe/config.h"

struct loop_opts {
	const char *config;      /* the configuration file */
	struct config_opts load; /* --year, --calendar */
	const char *state_dir;   /* overrides kaohe.state_dir, or NULL */
	const char *socket;      /* overrides kaohe.control_socket, or NULL */
	const char *export_dir;  /* overrides kaohe.export_dir, or NULL */
	bool foreground;
};

/* Run until SIGTERM or SIGINT; returns the exit status. */
int loop_run(const struct loop_opts *o);

#endif
