/*
 * sdnotify — sd_notify(3) without the wait.  libsystemd's sd_notify()
 * sends on a blocking datagram socket: when the receiver's queue is full
 * (net.unix.max_dgram_qlen datagrams, 10 on a fresh Debian) it waits until
 * someone reads, forever if nobody does, and the whole loop with it.  The
 * protocol is small and documented as stable, so it is spoken here on a
 * non-blocking socket.  systemd as PID 1 reads its socket all the time
 * (and raises the queue to 512 at boot), so a message is only ever dropped
 * under a supervisor or a test that stopped reading.
 */
#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "kaohe/log.h"
#include "kaohe/sdnotify.h"

/* How long a change of state waits for room, and how often it tries. */
#define STATE_WAIT_MS  2000
#define STATE_RETRY_MS 10
/* Drops are reported at most this often. */
#define WARN_EVERY_MS 60000

static int notify_fd = -1;
static struct sockaddr_un notify_addr;
static socklen_t notify_addrlen;
static bool notify_unread;      /* a wait went unanswered: do not wait again */
static unsigned notify_dropped; /* since the last warning */
static int64_t notify_warned_ms = INT64_MIN;
static char notify_last[1024]; /* the first line of the last message dropped */
static int notify_errnum;      /* why it was */

static int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int sdnotify_init(char *err, size_t errlen)
{
	const char *name = getenv("NOTIFY_SOCKET");
	size_t len;

	sdnotify_finalise();
	notify_unread = false;
	notify_dropped = 0;
	notify_warned_ms = INT64_MIN;
	if (name == NULL || *name == '\0')
		return 0;
	len = strlen(name);
	if ((name[0] != '/' && name[0] != '@') || len < 2 || len >= sizeof(notify_addr.sun_path)) {
		snprintf(err, errlen, "NOTIFY_SOCKET=%s is no AF_UNIX socket path: not notifying",
			 name);
		return -1;
	}
	notify_addr = (struct sockaddr_un){ .sun_family = AF_UNIX };
	memcpy(notify_addr.sun_path, name, len);
	if (name[0] == '@') {
		/* The abstract namespace: its name has no terminating NUL. */
		notify_addr.sun_path[0] = '\0';
		notify_addrlen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len);
	} else {
		notify_addrlen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len + 1);
	}
	notify_fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (notify_fd < 0) {
		snprintf(err, errlen, "NOTIFY_SOCKET: socket: %s", strerror(errno));
		return -1;
	}
	return 0;
}

/* The drops counted since the last warning, and the last of them. */
static void warn_dropped(void)
{
	log_warnx("notify: %u message%s to NOTIFY_SOCKET dropped (the last: \"%s\"): %s%s",
		  notify_dropped, notify_dropped == 1 ? "" : "s", notify_last,
		  notify_errnum == EAGAIN ? "its queue is full, nobody reads it"
					  : strerror(notify_errnum),
		  notify_warned_ms == INT64_MIN ? "; further drops are counted once a minute" : "");
	notify_warned_ms = now_ms();
	notify_dropped = 0;
}

/* Count a drop; warn for the first, then once a minute for the rest. */
static void dropped(const char *msg, int errnum)
{
	notify_dropped++;
	snprintf(notify_last, sizeof(notify_last), "%.*s", (int)strcspn(msg, "\n"), msg);
	notify_errnum = errnum;
	if (notify_warned_ms != INT64_MIN && now_ms() - notify_warned_ms < WARN_EVERY_MS)
		return;
	warn_dropped();
}

int sdnotify_send(unsigned flags, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;

	if (notify_fd < 0)
		return 0;
	va_start(ap, fmt);
	int n = vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(msg))
		n = (int)strlen(msg);
	int64_t deadline = now_ms() + STATE_WAIT_MS;
	int e;
	for (;;) {
		if (sendto(notify_fd, msg, (size_t)n, MSG_DONTWAIT | MSG_NOSIGNAL,
			   (struct sockaddr *)&notify_addr, notify_addrlen) >= 0) {
			notify_unread = false;
			return 0;
		}
		if ((e = errno) == EINTR)
			continue;
		/* A full queue drains while PID 1 works: a change of state
		 * waits a moment for it.  A socket nobody reads is waited
		 * for once, not at every message. */
		if (e != EAGAIN || !(flags & SDNOTIFY_STATE) || notify_unread)
			break;
		if (now_ms() >= deadline) {
			notify_unread = true;
			break;
		}
		poll(NULL, 0, STATE_RETRY_MS);
	}
	dropped(msg, e);
	return -1;
}

void sdnotify_finalise(void)
{
	/* Drops since the last warning would otherwise go unreported when
	 * no later drop comes to report them, as at a stop. */
	if (notify_dropped)
		warn_dropped();
	if (notify_fd >= 0)
		close(notify_fd);
	notify_fd = -1;
}
