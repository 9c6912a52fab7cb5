/*
 * log — the one logging API of kaohe.  Messages go to stderr when the
 * program runs in the foreground, to the journal with structured fields
 * under systemd, and to syslog otherwise.
 */
#ifndef KAOHE_LOG_H
#define KAOHE_LOG_H

#include <stdbool.h>
#include <stdint.h>

enum log_level { LOG_LEVEL_ERROR, LOG_LEVEL_WARNING, LOG_LEVEL_INFO, LOG_LEVEL_DEBUG };

/*
 * Start logging as PROGNAME; FOREGROUND sends messages to stderr.
 * Otherwise, when systemd started us (JOURNAL_STREAM or INVOCATION_ID in
 * the environment), they go to the journal through sd_journal_send, with
 * PRIORITY and the fields of log_with; else to syslog.
 */
void log_init(const char *progname, bool foreground);
/* Start each stderr line with the local time in ISO 8601 (the daemon in the foreground). */
void log_set_timestamps(bool on);
/* Only messages at LEVEL or more severe are written. */
void log_set_level(enum log_level level);
/* Whether a message at LEVEL would be written. */
bool log_enabled(enum log_level level);
/* Parse "error", "warning", "info", "debug"; -1 if unknown. */
int log_parse_level(const char *name);
/* Finish: close syslog. */
void log_finalise(void);

/* log_warn appends ": strerror(errno)"; the x variants do not. */
void log_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_warnx(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Error level, going on: what an operator must act on (a dead delivery, a refused reload). */
void log_errorx(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/*
 * What a message is about, for the journal's fields KAOHE_UNIT,
 * KAOHE_ROW, KAOHE_OCCURRENCE, KAOHE_DELIVERY, KAOHE_CHANNEL and
 * KAOHE_YEAR (`journalctl KAOHE_UNIT=bayilu`).  NULL or 0 where unknown.
 */
struct log_fields {
	const char *unit; /* a unit's id */
	const char *row;
	const char *occurrence;
	int64_t delivery; /* an outbox row's id */
	const char *channel;
	int year; /* the plan year */
};
/* Log at LEVEL with the fields F (NULL: none); elsewhere than the journal, as the others. */
void log_with(enum log_level level, const struct log_fields *f, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Log at error level and exit(1); only for the mains. */
void fatal(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
void fatalx(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

#endif
