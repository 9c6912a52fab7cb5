/*
 * log — stderr in the foreground, syslog otherwise (journald picks syslog
 * up under systemd, with the priority kept).
 *
 * Safe from any thread (transfer's worker logs): a message is formatted
 * in a local buffer and written by one fprintf or syslog call, each of
 * which takes the stream's or syslog's own lock, so lines never
 * interleave; the level, changed on reload while others log, is atomic.
 * log_init and log_finalise are for before and after the other threads.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>

#include "kaohe/log.h"

static const char *log_progname = "kaohe";
static bool log_foreground = true;
static _Atomic enum log_level log_level_max = LOG_LEVEL_INFO;

void log_init(const char *progname, bool foreground)
{
	log_progname = progname;
	log_foreground = foreground;
	if (!foreground)
		openlog(progname, LOG_PID | LOG_NDELAY, LOG_DAEMON);
}

void log_set_level(enum log_level level)
{
	log_level_max = level;
}

bool log_enabled(enum log_level level)
{
	return level <= log_level_max;
}

int log_parse_level(const char *name)
{
	static const char *const names[] = { "error", "warning", "info", "debug" };
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (strcmp(name, names[i]) == 0)
			return (int)i;
	return -1;
}

void log_finalise(void)
{
	if (!log_foreground)
		closelog();
}

static void log_vwrite(enum log_level level, int errnum, const char *fmt, va_list ap)
{
	static const int prio[] = { LOG_ERR, LOG_WARNING, LOG_INFO, LOG_DEBUG };
	static const char *const tag[] = { "error", "warning", "info", "debug" };
	char msg[2048];

	if (level > log_level_max)
		return;
	vsnprintf(msg, sizeof(msg), fmt, ap);
	if (errnum) {
		size_t len = strlen(msg);
		snprintf(msg + len, sizeof(msg) - len, ": %s", strerror(errnum));
	}
	if (log_foreground)
		fprintf(stderr, "%s: %s: %s\n", log_progname, tag[level], msg);
	else
		syslog(prio[level], "%s", msg);
}

#define LOG_BODY(level, errnum)                     \
	do {                                        \
		va_list ap;                         \
		va_start(ap, fmt);                  \
		log_vwrite(level, errnum, fmt, ap); \
		va_end(ap);                         \
	} while (0)

void log_warn(const char *fmt, ...)
{
	int e = errno;
	LOG_BODY(LOG_LEVEL_WARNING, e);
}

void log_warnx(const char *fmt, ...)
{
	LOG_BODY(LOG_LEVEL_WARNING, 0);
}

void log_info(const char *fmt, ...)
{
	LOG_BODY(LOG_LEVEL_INFO, 0);
}

void log_debug(const char *fmt, ...)
{
	LOG_BODY(LOG_LEVEL_DEBUG, 0);
}

void fatal(const char *fmt, ...)
{
	int e = errno;
	LOG_BODY(LOG_LEVEL_ERROR, e);
	exit(1);
}

void fatalx(const char *fmt, ...)
{
	LOG_BODY(LOG_LEVEL_ERROR, 0);
	exit(1);
}
