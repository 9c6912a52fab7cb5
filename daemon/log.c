/*
 * log — stderr in the foreground; under systemd the journal, natively
 * (sd_journal_sendv), so that a message carries its priority and the
 * fields an operator filters on (KAOHE_UNIT=…); syslog otherwise.
 *
 * Safe from any thread (transfer's worker logs): a message is formatted
 * in a local buffer and written by one fprintf, sd_journal_sendv (one
 * datagram) or syslog call, each of which takes the stream's or syslog's
 * own lock or needs none, so lines never interleave; the level, changed
 * on reload while others log, is atomic.  log_init and log_finalise are
 * for before and after the other threads.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <syslog.h>
#include <systemd/sd-journal.h>
#include <time.h>

#include "kaohe/log.h"
#include "kaohe/util.h"

static const char *log_progname = "kaohe";
static bool log_foreground = true;
static bool log_journal;    /* not in the foreground, under systemd */
static bool log_timestamps; /* stderr lines start with the time */
static _Atomic enum log_level log_level_max = LOG_LEVEL_INFO;

void log_init(const char *progname, bool foreground)
{
	log_progname = progname;
	log_foreground = foreground;
	log_journal = !foreground && (getenv("JOURNAL_STREAM") || getenv("INVOCATION_ID"));
	if (!foreground && !log_journal)
		openlog(progname, LOG_PID | LOG_NDELAY, LOG_DAEMON);
}

void log_set_timestamps(bool on)
{
	log_timestamps = on;
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
	if (!log_foreground && !log_journal)
		closelog();
}

/* Add "NAME=VALUE" to the journal message's fields (each in BUF, of LEN bytes). */
static void field(struct iovec *iov, int *n, char *buf, size_t len, const char *name,
		  const char *value)
{
	int k = snprintf(buf, len, "%s=%s", name, value);
	iov[*n].iov_base = buf;
	iov[*n].iov_len = k < 0 ? 0 : (size_t)k < len ? (size_t)k : len - 1;
	(*n)++;
}

static void journal_write(int prio, const struct log_fields *f, const char *msg)
{
	struct iovec iov[10];
	char b[8][160], m[2100];
	int n = 0;
	char num[32];

	field(iov, &n, m, sizeof(m), "MESSAGE", msg);
	snprintf(num, sizeof(num), "%d", prio);
	field(iov, &n, b[0], sizeof(b[0]), "PRIORITY", num);
	field(iov, &n, b[1], sizeof(b[1]), "SYSLOG_IDENTIFIER", log_progname);
	if (f && f->unit && *f->unit)
		field(iov, &n, b[2], sizeof(b[2]), "KAOHE_UNIT", f->unit);
	if (f && f->row && *f->row)
		field(iov, &n, b[3], sizeof(b[3]), "KAOHE_ROW", f->row);
	if (f && f->occurrence && *f->occurrence)
		field(iov, &n, b[4], sizeof(b[4]), "KAOHE_OCCURRENCE", f->occurrence);
	if (f && f->delivery) {
		snprintf(num, sizeof(num), "%lld", (long long)f->delivery);
		field(iov, &n, b[5], sizeof(b[5]), "KAOHE_DELIVERY", num);
	}
	if (f && f->channel && *f->channel)
		field(iov, &n, b[6], sizeof(b[6]), "KAOHE_CHANNEL", f->channel);
	if (f && f->year) {
		snprintf(num, sizeof(num), "%d", f->year);
		field(iov, &n, b[7], sizeof(b[7]), "KAOHE_YEAR", num);
	}
	sd_journal_sendv(iov, n);
}

/* The local time with its offset, as ISO 8601: 2020-12-10T09:00:00.123+08:00. */
struct stamp {
	char text[64];
};

static struct stamp timestamp(void)
{
	struct timespec ts;
	struct tm tm;
	struct stamp st;
	char date[32];

	clock_gettime(CLOCK_REALTIME, &ts);
	localtime_r(&ts.tv_sec, &tm);
	strftime(date, sizeof(date), "%Y-%m-%dT%H:%M:%S", &tm);
	long off = tm.tm_gmtoff / 60;
	snprintf(st.text, sizeof(st.text), "%.20s.%03d%c%02ld:%02ld", date,
		 (int)(ts.tv_nsec / 1000000), off < 0 ? '-' : '+', labs(off) / 60 % 100,
		 labs(off) % 60);
	return st;
}

static void log_vwrite(enum log_level level, const struct log_fields *f, int errnum,
		       const char *fmt, va_list ap)
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
	/* A message cut short stays UTF-8: the journal shows one that is not as a blob. */
	msg[util_utf8_trim(msg, strlen(msg))] = '\0';
	if (log_foreground && log_timestamps) {
		fprintf(stderr, "%s %s: %s: %s\n", timestamp().text, log_progname, tag[level], msg);
	} else if (log_foreground) {
		fprintf(stderr, "%s: %s: %s\n", log_progname, tag[level], msg);
	} else if (log_journal) {
		journal_write(prio[level], f, msg);
	} else {
		syslog(prio[level], "%s", msg);
	}
}

#define LOG_BODY(level, errnum)                           \
	do {                                              \
		va_list ap;                               \
		va_start(ap, fmt);                        \
		log_vwrite(level, NULL, errnum, fmt, ap); \
		va_end(ap);                               \
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

void log_errorx(const char *fmt, ...)
{
	LOG_BODY(LOG_LEVEL_ERROR, 0);
}

void log_with(enum log_level level, const struct log_fields *f, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	log_vwrite(level, f, 0, fmt, ap);
	va_end(ap);
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
