/*
 * access — peer credentials to an actor.  Group membership is what the
 * kernel says the peer had when it connected (SO_PEERGROUPS), so a user
 * added to an officers' group must reconnect, and nothing a client sends
 * can change who it is.
 */
#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "kaohe/access.h"
#include "kaohe/util.h"

static void add_group(struct peer *p, gid_t gid)
{
	struct group gr, *res = NULL;
	char buf[4096], name[32];

	if (getgrgid_r(gid, &gr, buf, sizeof(buf), &res) != 0 || res == NULL) {
		snprintf(name, sizeof(name), "gid:%u", (unsigned)gid);
		res = NULL;
	}
	const char *n = res ? res->gr_name : name;
	for (size_t i = 0; i < p->ngroups; i++)
		if (strcmp(p->groups[i], n) == 0)
			return;
	p->groups = xrealloc(p->groups, (p->ngroups + 1) * sizeof(*p->groups));
	p->groups[p->ngroups++] = xstrdup(n);
}

int access_peer(int fd, struct peer *p, char *err, size_t errlen)
{
	struct ucred cred;
	socklen_t len = sizeof(cred);
	struct passwd pw, *res = NULL;
	char buf[4096];

	memset(p, 0, sizeof(*p));
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0) {
		snprintf(err, errlen, "SO_PEERCRED: %s", strerror(errno));
		return -1;
	}
	p->pid = cred.pid;
	p->uid = cred.uid;
	p->gid = cred.gid;
	if (getpwuid_r(cred.uid, &pw, buf, sizeof(buf), &res) == 0 && res != NULL)
		util_strlcpy(p->user, res->pw_name, sizeof(p->user));
	else
		snprintf(p->user, sizeof(p->user), "uid:%u", (unsigned)cred.uid);
	add_group(p, cred.gid);

	/* The peer's supplementary groups as the kernel had them at connect(). */
	gid_t some[256], *groups = some;
	socklen_t glen = sizeof(some);
	int rc = getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, groups, &glen);
	if (rc < 0 && errno == ERANGE) {
		/* More groups than that (up to NGROUPS_MAX): GLEN says their size.
		 * Leaving any out could leave out the one that gives the rights. */
		groups = xmalloc(glen);
		rc = getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, groups, &glen);
	}
	if (rc == 0) {
		for (size_t i = 0; i < glen / sizeof(gid_t); i++)
			add_group(p, groups[i]);
	} else if (res != NULL) {
		/* Kernels before 4.13: the group database's view instead. */
		int n = 256;
		if (getgrouplist(res->pw_name, cred.gid, some, &n) >= 0)
			for (int i = 0; i < n; i++)
				add_group(p, some[i]);
	}
	if (groups != some)
		free(groups);
	return 0;
}

void access_peer_free(struct peer *p)
{
	for (size_t i = 0; i < p->ngroups; i++)
		free(p->groups[i]);
	free(p->groups);
	free(p->depts);
	free(p->units);
	p->groups = NULL;
	p->depts = p->units = NULL;
	p->ngroups = 0;
	p->gen = 0;
}

bool access_match(const struct access_rule *rule, const struct peer *peer)
{
	for (size_t i = 0; i < rule->nusers; i++)
		if (strcmp(rule->users[i], peer->user) == 0)
			return true;
	for (size_t i = 0; i < rule->ngroups; i++)
		for (size_t j = 0; j < peer->ngroups; j++)
			if (strcmp(rule->groups[i], peer->groups[j]) == 0)
				return true;
	return false;
}

void access_actor(const struct config *cfg, unsigned gen, struct peer *peer, struct actor *actor)
{
	const struct plan *p = cfg->plan;

	if (peer->gen != gen) {
		free(peer->depts);
		free(peer->units);
		peer->depts = xcalloc(p->ndepts + 1, 1);
		peer->units = xcalloc(p->nunits + 1, 1);
		peer->admin = access_match(&cfg->set.admins, peer);
		for (size_t i = 0; i < p->ndepts; i++)
			peer->depts[i] = access_match(&cfg->set.depts[i], peer);
		for (size_t i = 0; i < p->nunits; i++)
			peer->units[i] = access_match(&cfg->set.units[i], peer);
		peer->gen = gen;
	}
	memset(actor, 0, sizeof(*actor));
	util_strlcpy(actor->name, peer->user, sizeof(actor->name));
	actor->admin = peer->admin;
	actor->depts = peer->depts;
	actor->units = peer->units;
}
