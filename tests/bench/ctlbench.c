/*
 * ctlbench — load for the control socket: CONNS connections, each sending
 * one request and waiting for its answer before the next, for SECONDS.
 * A request is "status uNNNNN" for a random unit of UNITS (the benchmark
 * plan's ids), or FIXED when given.  Prints requests/s and latency
 * percentiles in milliseconds.
 *
 *   ctlbench SOCKET CONNS SECONDS UNITS [FIXED]
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

struct conn {
	int fd;
	double sent;
	char req[128];
	size_t reqlen;
	int begun; /* the answer's first bytes have arrived */
};

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

static void send_request(struct conn *c, int units, const char *fixed)
{
	if (fixed)
		c->reqlen = (size_t)snprintf(c->req, sizeof(c->req), "%s\n", fixed);
	else
		c->reqlen = (size_t)snprintf(c->req, sizeof(c->req), "status u%05d\n",
					     1 + rand() % units);
	c->sent = now();
	c->begun = 0;
	if (send(c->fd, c->req, c->reqlen, MSG_NOSIGNAL) != (ssize_t)c->reqlen) {
		perror("ctlbench: send");
		exit(1);
	}
}

int main(int argc, char **argv)
{
	if (argc < 5) {
		fprintf(stderr, "usage: ctlbench SOCKET CONNS SECONDS UNITS [FIXED]\n");
		return 2;
	}
	int nconn = atoi(argv[2]), units = atoi(argv[4]);
	double secs = atof(argv[3]);
	const char *fixed = argc > 5 ? argv[5] : NULL;
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", argv[1]);
	int ep = epoll_create1(0);
	struct conn *conns = calloc((size_t)nconn, sizeof(*conns));
	size_t cap = 1 << 20, n = 0, errors = 0;
	double *lat = malloc(cap * sizeof(*lat));
	char buf[1 << 16];

	srand(42);
	for (int i = 0; i < nconn; i++) {
		conns[i].fd = socket(AF_UNIX, SOCK_STREAM, 0);
		if (connect(conns[i].fd, (struct sockaddr *)&sun, sizeof(sun)) < 0) {
			perror("ctlbench: connect");
			return 1;
		}
		struct epoll_event ev = { .events = EPOLLIN, .data.ptr = &conns[i] };
		epoll_ctl(ep, EPOLL_CTL_ADD, conns[i].fd, &ev);
	}
	double start = now(), end = start + secs;
	for (int i = 0; i < nconn; i++)
		send_request(&conns[i], units, fixed);
	int active = nconn;
	while (active > 0) {
		struct epoll_event evs[64];
		int k = epoll_wait(ep, evs, 64, 5000);
		if (k <= 0) {
			fprintf(stderr, "ctlbench: no answer for 5 s\n");
			return 1;
		}
		for (int i = 0; i < k; i++) {
			struct conn *c = evs[i].data.ptr;
			ssize_t r = recv(c->fd, buf, sizeof(buf), 0);
			if (r <= 0) {
				fprintf(stderr, "ctlbench: connection closed\n");
				return 1;
			}
			/* One answer per request; it may arrive in pieces. */
			if (!c->begun && (r < 10 || memcmp(buf, "{\"ok\":true", 10) != 0))
				errors++;
			c->begun = 1;
			if (buf[r - 1] != '\n')
				continue;
			double t = now();
			if (n == cap)
				lat = realloc(lat, (cap *= 2) * sizeof(*lat));
			lat[n++] = (t - c->sent) * 1000.0;
			if (t < end) {
				send_request(c, units, fixed);
			} else {
				epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
				close(c->fd);
				active--;
			}
		}
	}
	double elapsed = now() - start;
	qsort(lat, n, sizeof(*lat), cmp_double);
	printf("requests=%zu errors=%zu seconds=%.2f rps=%.0f p50_ms=%.3f p99_ms=%.3f max_ms=%.3f\n",
	       n, errors, elapsed, (double)n / elapsed, lat[n / 2], lat[(size_t)((double)n * 0.99)],
	       lat[n - 1]);
	return errors ? 1 : 0;
}
