/*
 * access — who a control-socket peer is, and what the configuration's
 * access section lets it do.  Peers are identified by the kernel
 * (SO_PEERCRED and SO_PEERGROUPS), never by anything they send.
 */
#ifndef KAOHE_ACCESS_H
#define KAOHE_ACCESS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "kaohe/command.h"
#include "kaohe/config.h"

/* A peer's identity, resolved to names once per connection. */
struct peer {
	pid_t pid;
	uid_t uid;
	gid_t gid;
	char user[64]; /* the user name, or "uid:N" */
	char **groups; /* names of the primary and supplementary groups */
	size_t ngroups;
	/* What the peer may do, worked out once per configuration generation. */
	unsigned gen;
	bool admin;
	uint8_t *depts, *units;
};

/*
 * Identify the peer of connected UNIX socket FD.  0, or -1 with a message
 * in ERR.
 */
int access_peer(int fd, struct peer *p, char *err, size_t errlen);
/* Free what access_peer() allocated. */
void access_peer_free(struct peer *p);

/*
 * Fill ACTOR for PEER under CFG: admin, officer of which departments,
 * member of which units.  The answer is kept in PEER and worked out again
 * only when GEN (the configuration's generation, never 0) changes: a plan
 * may have tens of thousands of units.
 */
void access_actor(const struct config *cfg, unsigned gen, struct peer *peer, struct actor *actor);

/* True when RULE names PEER's user or one of its groups. */
bool access_match(const struct access_rule *rule, const struct peer *peer);

#endif
