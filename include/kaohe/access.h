/*
 * access — who a control-socket peer is, and what the configuration's
 * access section lets it do.  Peers are identified by the kernel
 * (SO_PEERCRED and SO_PEERGROUPS), never by anything they send.
 */
#ifndef KAOHE_ACCESS_H
#define KAOHE_ACCESS_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "kaohe/command.h"
#include "kaohe/config.h"

/* A peer's identity, resolved to names once per connection. */
struct peer {
	pid_t pid;
	uid_t uid;
	gid_t gid;
	char user[64];    /* the user name, or "uid:N" */
	char **groups;    /* names of the primary and supplementary groups */
	size_t ngroups;
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
 * member of which units.  DEPTS and UNITS are the caller's buffers of
 * plan->ndepts and plan->nunits bytes.
 */
void access_actor(const struct config *cfg, const struct peer *peer, struct actor *actor,
		  uint8_t *depts, uint8_t *units);

/* True when RULE names PEER's user or one of its groups. */
bool access_match(const struct access_rule *rule, const struct peer *peer);

#endif
