/*
 * log — the one logging API of kaohe.  Messages go to stderr when the
 * program runs in the foreground and to syslog (the journal) otherwise.
 */
#ifndef KAOHE_LOG_H
#define KAOHE_LOG_H

#include <stdbool.h>

enum log_level { LOG_LEVEL_ERROR, LOG_LEVEL_WARNING, LOG_LEVEL_INFO, LOG_LEVEL_DEBUG };

/* Start logging as PROGNAME; FOREGROUND sends messages to stderr. */
void log_init(const char *progname, bool foreground);
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
/* Log at error level and exit(1); only for the mains. */
void fatal(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
void fatalx(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

#endif
