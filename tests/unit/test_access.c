/*
 * test_access — who a peer is and what the access section lets it do.
 *
 * access_actor and access_match are pure given a struct peer: admins by
 * user and by group, department officers, unit members, someone with no
 * rights, names matched whole, uid 0 no different from any other, and the
 * answer kept until the configuration's generation changes.  access_peer
 * reads real credentials from real sockets: a socketpair in this process,
 * and (as root) a child that connects with a made-up uid and gid, one in
 * 301 groups, and one that changes its groups after connecting, which the
 * daemon must not see.
 *
 * The configuration is the shipped one with its access section replaced.
 */
#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "kaohe/access.h"
#include "kaohe/config.h"
#include "kaohe/util.h"
#include "support.h"

#define TEST_ACCESS                                                                   \
	"access: {\n"                                                                 \
	"  admins = { users = [ \"alice\" ]; groups = [ \"kt-admin\", \"%s\" ]; };\n" \
	"  departments = {\n"                                                         \
	"    zhujian = { users = [ \"zoe\" ]; groups = [ \"kt-zhujian\" ]; };\n"      \
	"    chengguan = { groups = [ \"kt-chengguan\", \"kt-shared\" ]; };\n"        \
	"  };\n"                                                                      \
	"  units = {\n"                                                               \
	"    bayilu = { users = [ \"bob\" ]; groups = [ \"kt-bayilu\" ]; };\n"        \
	"    baiyun = { users = [ \"bob\" ]; groups = [ \"kt-shared\" ]; };\n"        \
	"  };\n"                                                                      \
	"};"

/* A made-up uid and gids that no database names. */
#define GHOST_UID  4000000
#define GHOST_GID  4000001
#define GHOST_GID2 4000002

/* The group the shipped system has at gid 4 (Debian's "adm"): an admin group here. */
static char g_adm[64];
static struct config *g_acfg;
static int g_zhujian, g_chengguan, g_bayilu, g_baiyun;

/*
 * The shipped configuration with ACCESS (a whole "access: { … };") in
 * place of its own, loaded from a temporary directory beside a link to
 * the shipped plan.
 */
static struct config *load_with_access(const char *access)
{
	char dir[64], path[128], plan[128];
	char *text = read_whole(SHIPPED_CONF, NULL);
	char *from = strstr(text, "\naccess: {");
	char *to = from ? strstr(from, "\n};") : NULL;
	if (to == NULL)
		fail_msg("no access section in %s", SHIPPED_CONF);
	char *conf = xasprintf("%.*s\n%s%s", (int)(from - text), text, access, to + 3);

	temp_dir(dir, sizeof(dir), "access");
	snprintf(path, sizeof(path), "%s/kaohe.conf", dir);
	snprintf(plan, sizeof(plan), "%s/plan-2020.conf", dir);
	write_file(path, conf);
	assert_int_equal(symlink(KAOHE_SOURCE_DIR "/config/plan-2020.conf", plan), 0);
	snprintf(plan, sizeof(plan), "%s/calendars", dir);
	assert_int_equal(symlink(KAOHE_SOURCE_DIR "/config/calendars", plan), 0);
	struct sbuf errs, warns;
	sbuf_init(&errs);
	sbuf_init(&warns);
	struct config *cfg = config_load(path, 0, &errs, &warns);
	if (cfg == NULL)
		fail_msg("config_load: %s", errs.buf);
	sbuf_free(&errs);
	sbuf_free(&warns);
	remove_tree(dir);
	free(conf);
	free(text);
	return cfg;
}

static int group_setup(void **state)
{
	(void)state;
	struct group *gr = getgrgid(4);
	snprintf(g_adm, sizeof(g_adm), "%s", gr ? gr->gr_name : "gid:4");
	char *access = xasprintf(TEST_ACCESS, g_adm);
	g_acfg = load_with_access(access);
	free(access);
	const struct plan *p = g_acfg->plan;
	g_zhujian = plan_dept_find(p, "zhujian");
	g_chengguan = plan_dept_find(p, "chengguan");
	g_bayilu = plan_unit_find(p, "bayilu");
	g_baiyun = plan_unit_find(p, "baiyun");
	if (p->ndepts != 2 || p->nunits != 5 || g_zhujian < 0 || g_chengguan < 0 || g_bayilu < 0 ||
	    g_baiyun < 0)
		return -1;
	return config_group_setup(state);
}

static int group_teardown(void **state)
{
	config_free(g_acfg);
	return config_group_teardown(state);
}

/* A peer as access_peer leaves it: USER and the NULL-terminated group names. */
static struct peer mkpeer(uid_t uid, const char *user, ...)
{
	struct peer p = { .uid = uid, .gid = uid, .pid = 1 };
	va_list ap;
	const char *g;

	snprintf(p.user, sizeof(p.user), "%s", user);
	va_start(ap, user);
	while ((g = va_arg(ap, const char *)) != NULL) {
		p.groups = xrealloc(p.groups, (p.ngroups + 1) * sizeof(*p.groups));
		p.groups[p.ngroups++] = xstrdup(g);
	}
	va_end(ap);
	return p;
}

/* The departments and units ACTOR has, as "d:zhujian u:bayilu …" for one comparison. */
static char *rights_of(const struct config *cfg, const struct actor *a)
{
	const struct plan *p = cfg->plan;
	struct sbuf sb;

	sbuf_init(&sb);
	sbuf_printf(&sb, "%s", a->admin ? "admin" : "-");
	for (size_t i = 0; i < p->ndepts; i++)
		if (a->depts[i])
			sbuf_printf(&sb, " d:%s", p->depts[i].id);
	for (size_t i = 0; i < p->nunits; i++)
		if (a->units[i])
			sbuf_printf(&sb, " u:%s", p->units[i].id);
	return sb.buf;
}

/* What PEER may do under the test configuration, as rights_of() writes it. */
static void expect_rights(struct peer *peer, const char *want)
{
	struct actor a;
	access_actor(g_acfg, 1, peer, &a);
	assert_string_equal(a.name, peer->user);
	char *got = rights_of(g_acfg, &a);
	assert_string_equal(got, want);
	free(got);
	access_peer_free(peer);
}

static void test_match(void **state)
{
	(void)state;
	const struct access_rule *admins = &g_acfg->set.admins;
	const struct access_rule none = { 0 };
	struct peer alice = mkpeer(1001, "alice", "alice", NULL);
	struct peer in_group = mkpeer(1002, "carol", "staff", "users", "kt-admin", NULL);
	struct peer others = mkpeer(1003, "dave", "staff", "kt-admins", "kt-admi", NULL);

	assert_true(access_match(admins, &alice));
	assert_true(access_match(admins, &in_group));
	assert_false(access_match(admins, &others));
	/* An empty rule names nobody, not everybody. */
	assert_false(access_match(&none, &alice));
	assert_false(access_match(&none, &in_group));
	access_peer_free(&alice);
	access_peer_free(&in_group);
	access_peer_free(&others);
}

/* Users are users and groups are groups; names match whole and by case. */
static void test_names_match_whole(void **state)
{
	(void)state;
	struct peer p;

	p = mkpeer(1, "mallory", "alice", NULL); /* a group named like the admin user */
	expect_rights(&p, "-");
	p = mkpeer(1, "kt-admin", "mallory", NULL); /* a user named like the admin group */
	expect_rights(&p, "-");
	p = mkpeer(1, "Alice", "Alice", NULL);
	expect_rights(&p, "-");
	p = mkpeer(1, "alic", "kt-admi", NULL);
	expect_rights(&p, "-");
	p = mkpeer(1, "alice2", "kt-admin2", NULL);
	expect_rights(&p, "-");
	p = mkpeer(1, "bo", "kt-bayil", "kt-zhujian ", NULL);
	expect_rights(&p, "-");
}

static void test_admins(void **state)
{
	(void)state;
	struct peer p;

	p = mkpeer(1001, "alice", "alice", NULL);
	expect_rights(&p, "admin");
	/* By any of the peer's groups, the primary one or a supplementary one. */
	p = mkpeer(1002, "carol", "kt-admin", NULL);
	expect_rights(&p, "admin");
	p = mkpeer(1002, "carol", "carol", "users", "kt-admin", NULL);
	expect_rights(&p, "admin");
	/* Admin and the other rights are worked out apart: this admin is an officer too. */
	p = mkpeer(1003, "alice", "kt-zhujian", NULL);
	expect_rights(&p, "admin d:zhujian");
}

static void test_officers(void **state)
{
	(void)state;
	struct peer p;

	p = mkpeer(1101, "zoe", "zoe", NULL);
	expect_rights(&p, "- d:zhujian");
	p = mkpeer(1102, "yan", "yan", "kt-chengguan", NULL);
	expect_rights(&p, "- d:chengguan");
	p = mkpeer(1103, "zoe", "kt-chengguan", NULL);
	expect_rights(&p, "- d:zhujian d:chengguan");
}

static void test_members(void **state)
{
	(void)state;
	struct peer p;

	p = mkpeer(1201, "bob", "bob", NULL);
	expect_rights(&p, "- u:bayilu u:baiyun");
	p = mkpeer(1202, "wu", "kt-bayilu", NULL);
	expect_rights(&p, "- u:bayilu");
	/* One group can make an officer of one department and a member of a unit. */
	p = mkpeer(1203, "xu", "xu", "kt-shared", NULL);
	expect_rights(&p, "- d:chengguan u:baiyun");
}

static void test_no_rights(void **state)
{
	(void)state;
	struct peer p;

	p = mkpeer(1301, "eve", "eve", "users", NULL);
	expect_rights(&p, "-");
	p = mkpeer(1302, "nogroups", NULL);
	expect_rights(&p, "-");
	/* As the resolved names of an uid and gid no database knows. */
	p = mkpeer(GHOST_UID, "uid:4000000", "gid:4000001", NULL);
	expect_rights(&p, "-");
}

/* uid 0 is no one special: root is an admin because the shipped file names it. */
static void test_root_by_name_only(void **state)
{
	(void)state;
	struct peer p = mkpeer(0, "root", "root", NULL);
	expect_rights(&p, "-");
	p = mkpeer(0, "toor", "root", NULL);
	expect_rights(&p, "-");

	struct actor a;
	p = mkpeer(0, "root", "root", NULL);
	access_actor(g_cfg, 1, &p, &a);
	assert_true(a.admin);
	access_peer_free(&p);
	p = mkpeer(0, "toor", "root", NULL);
	access_actor(g_cfg, 1, &p, &a);
	assert_false(a.admin);
	access_peer_free(&p);
}

/*
 * The answer is kept in the peer for one generation: another
 * configuration under the same generation is not looked at, a new
 * generation is; the actor's tables are the peer's.
 */
static void test_generation_cache(void **state)
{
	(void)state;
	struct config *other = load_with_access("access: {\n"
						"  admins = { users = [ \"zoe\" ]; };\n"
						"  units = { rixin = { users = [ \"zoe\" ]; }; };\n"
						"};");
	struct peer zoe = mkpeer(1101, "zoe", "zoe", NULL);
	struct actor a;
	char *got;

	assert_int_equal(zoe.gen, 0);
	access_actor(g_acfg, 7, &zoe, &a);
	assert_int_equal(zoe.gen, 7);
	assert_ptr_equal(a.depts, zoe.depts);
	assert_ptr_equal(a.units, zoe.units);
	got = rights_of(g_acfg, &a);
	assert_string_equal(got, "- d:zhujian");
	free(got);

	/* The same generation: what was worked out stands. */
	access_actor(other, 7, &zoe, &a);
	got = rights_of(other, &a);
	assert_string_equal(got, "- d:zhujian");
	free(got);

	/* A reload: the new configuration's answer. */
	access_actor(other, 8, &zoe, &a);
	assert_int_equal(zoe.gen, 8);
	got = rights_of(other, &a);
	assert_string_equal(got, "admin u:rixin");
	free(got);

	/* And back, as a second reload may go. */
	access_actor(g_acfg, 9, &zoe, &a);
	got = rights_of(g_acfg, &a);
	assert_string_equal(got, "- d:zhujian");
	free(got);

	access_peer_free(&zoe);
	assert_null(zoe.groups);
	assert_null(zoe.depts);
	assert_int_equal(zoe.gen, 0);
	/* Freeing twice is harmless (the daemon frees on every close path). */
	access_peer_free(&zoe);
	config_free(other);
}

/* ---- real credentials ---------------------------------------------------- */

static void test_peer_socketpair(void **state)
{
	(void)state;
	int sv[2];
	struct peer p;
	char err[128] = "";

	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	assert_int_equal(access_peer(sv[0], &p, err, sizeof(err)), 0);
	assert_int_equal(p.pid, getpid());
	assert_int_equal(p.uid, getuid());
	assert_int_equal(p.gid, getgid());
	struct passwd *pw = getpwuid(getuid());
	if (pw)
		assert_string_equal(p.user, pw->pw_name);
	else
		assert_true(strncmp(p.user, "uid:", 4) == 0);
	struct group *gr = getgrgid(getgid());
	assert_true(p.ngroups >= 1);
	/* The primary group first. */
	if (gr)
		assert_string_equal(p.groups[0], gr->gr_name);
	/* Each group once. */
	for (size_t i = 0; i < p.ngroups; i++)
		for (size_t j = i + 1; j < p.ngroups; j++)
			assert_string_not_equal(p.groups[i], p.groups[j]);
	assert_int_equal(p.gen, 0);
	access_peer_free(&p);
	close(sv[0]);
	close(sv[1]);
}

static void test_peer_not_a_socket(void **state)
{
	(void)state;
	int fds[2];
	struct peer p;
	char err[128] = "";

	assert_int_equal(pipe(fds), 0);
	assert_int_equal(access_peer(fds[0], &p, err, sizeof(err)), -1);
	assert_string_equal(err, "SO_PEERCRED: Socket operation on non-socket");
	assert_int_equal(p.ngroups, 0);
	assert_null(p.groups);
	access_peer_free(&p);
	close(fds[0]);
	close(fds[1]);
}

/* An abstract socket named for this process: no file, no permissions. */
static socklen_t abstract_addr(struct sockaddr_un *sun)
{
	*sun = (struct sockaddr_un){ .sun_family = AF_UNIX };
	int n = snprintf(sun->sun_path + 1, sizeof(sun->sun_path) - 1, "kaohe-test-access-%d",
			 (int)getpid());
	return (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + (size_t)n);
}

/*
 * In a child: take GROUPS[NGROUPS] and gid GID (when not -1), connect to SUN,
 * then take AFTER_GROUPS[NAFTER] and uid AFTER_UID (when not -1) — none
 * of which the peer's credentials may show — tell the parent through
 * READY, and wait for it to close DONE.  Only _exit: the child shares
 * the test's state.
 */
struct as {
	const gid_t *groups;
	int ngroups;
	gid_t gid;
	uid_t uid;
	const gid_t *after_groups;
	int nafter;
	uid_t after_uid;
};

static void child_connect(const struct as *as, const struct sockaddr_un *sun, socklen_t len,
			  int ready, int done)
{
	int s;

	if (setgroups((size_t)as->ngroups, as->groups) < 0 ||
	    (as->gid != (gid_t)-1 && setresgid(as->gid, as->gid, as->gid) < 0) ||
	    (as->uid != (uid_t)-1 && setresuid(as->uid, as->uid, as->uid) < 0))
		_exit(2);
	s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (s < 0 || connect(s, (const struct sockaddr *)sun, len) < 0)
		_exit(3);
	if (as->after_groups && setgroups((size_t)as->nafter, as->after_groups) < 0)
		_exit(4);
	uid_t u = as->after_uid;
	if (u != (uid_t)-1 && setresuid(u, u, u) < 0)
		_exit(5);
	if (write(ready, "r", 1) != 1)
		_exit(6);
	char c;
	(void)!read(done, &c, 1);
	_exit(0);
}

/* Accept the connection of a child run as AS; the peer as access_peer reads it; its pid. */
static pid_t peer_of_child(const struct as *as, struct peer *p)
{
	struct sockaddr_un sun;
	socklen_t len = abstract_addr(&sun);
	int ready[2], done[2];
	char err[128] = "", c;

	int l = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(l >= 0);
	assert_int_equal(bind(l, (struct sockaddr *)&sun, len), 0);
	assert_int_equal(listen(l, 4), 0);
	assert_int_equal(pipe(ready), 0);
	assert_int_equal(pipe(done), 0);
	fflush(stderr);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		close(ready[0]);
		close(done[1]);
		child_connect(as, &sun, len, ready[1], done[0]);
	}
	close(ready[1]);
	close(done[0]);
	/* The child is done changing who it is before the daemon looks. */
	ssize_t n = read(ready[0], &c, 1);
	int fd = accept4(l, NULL, NULL, SOCK_CLOEXEC);
	int rc = fd >= 0 ? access_peer(fd, p, err, sizeof(err)) : -1;
	close(done[1]);
	int status;
	assert_int_equal(waitpid(pid, &status, 0), pid);
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
		fail_msg("the child failed (status %d)", status);
	assert_int_equal(n, 1);
	if (rc < 0)
		fail_msg("access_peer: %s", err);
	close(fd);
	close(l);
	close(ready[0]);
	close(done[1]);
	return pid;
}

/* Group names in the order access_peer lists them, as one string. */
static char *groups_of(const struct peer *p)
{
	struct sbuf sb;
	sbuf_init(&sb);
	for (size_t i = 0; i < p->ngroups; i++)
		sbuf_printf(&sb, "%s%s", i ? " " : "", p->groups[i]);
	return sb.buf;
}

/* An uid and gids nobody named: numbers for names, and no rights. */
static void test_peer_unresolvable(void **state)
{
	(void)state;
	if (geteuid() != 0)
		skip();
	/* adm twice and the primary gid again: each group once, the primary first. */
	static const gid_t groups[] = { 4, GHOST_GID2, 4, GHOST_GID };
	struct as as = { .groups = groups,
			 .ngroups = 4,
			 .gid = GHOST_GID,
			 .uid = GHOST_UID,
			 .after_uid = (uid_t)-1 };
	struct peer p;
	pid_t pid = peer_of_child(&as, &p);

	assert_int_equal(p.pid, pid);
	assert_int_equal(p.uid, GHOST_UID);
	assert_int_equal(p.gid, GHOST_GID);
	assert_string_equal(p.user, "uid:4000000");
	char *g = groups_of(&p);
	char *want = xasprintf("gid:4000001 %s gid:4000002", g_adm);
	assert_string_equal(g, want);
	free(g);
	free(want);
	/* The adm group makes it an admin here, whatever its uid. */
	struct actor a;
	access_actor(g_acfg, 1, &p, &a);
	assert_string_equal(a.name, "uid:4000000");
	assert_true(a.admin);
	access_peer_free(&p);
}

/*
 * Credentials are the kernel's record of connect(): the groups and uid
 * the peer takes afterwards change nothing, so a user added to (or
 * removed from) a group must reconnect.
 */
static void test_peer_as_connected(void **state)
{
	(void)state;
	if (geteuid() != 0)
		skip();
	static const gid_t before[] = { 4 }, after[] = { 5, 6 };
	struct as as = { .groups = before,
			 .ngroups = 1,
			 .gid = 0,
			 .uid = (uid_t)-1,
			 .after_groups = after,
			 .nafter = 2,
			 .after_uid = 1 };
	struct peer p;
	peer_of_child(&as, &p);

	assert_int_equal(p.uid, 0);
	struct passwd *pw = getpwuid(0);
	assert_string_equal(p.user, pw ? pw->pw_name : "uid:0");
	char *g = groups_of(&p);
	struct group *gr = getgrgid(0);
	char *want = xasprintf("%s %s", gr ? gr->gr_name : "gid:0", g_adm);
	assert_string_equal(g, want);
	free(g);
	free(want);
	access_peer_free(&p);
}

/*
 * A peer in more groups than a first guess of the buffer holds (256):
 * all of them, as the kernel recorded them.
 */
static void test_peer_many_groups(void **state)
{
	(void)state;
	if (geteuid() != 0)
		skip();
	enum { N = 300 };
	gid_t groups[N + 1];
	for (int i = 0; i < N; i++)
		groups[i] = GHOST_GID2 + 1 + (gid_t)i;
	groups[N] = 4;
	struct as as = { .groups = groups,
			 .ngroups = N + 1,
			 .gid = GHOST_GID,
			 .uid = GHOST_UID,
			 .after_uid = (uid_t)-1 };
	struct peer p;
	peer_of_child(&as, &p);

	/* The primary group first; the others as the kernel keeps them, sorted. */
	assert_int_equal(p.ngroups, 1 + N + 1);
	assert_string_equal(p.groups[0], "gid:4000001");
	assert_string_equal(p.groups[1], g_adm);
	assert_string_equal(p.groups[2], "gid:4000003");
	assert_string_equal(p.groups[N + 1], "gid:4000302");
	struct actor a;
	access_actor(g_acfg, 1, &p, &a);
	assert_true(a.admin);
	access_peer_free(&p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_match),
		cmocka_unit_test(test_names_match_whole),
		cmocka_unit_test(test_admins),
		cmocka_unit_test(test_officers),
		cmocka_unit_test(test_members),
		cmocka_unit_test(test_no_rights),
		cmocka_unit_test(test_root_by_name_only),
		cmocka_unit_test(test_generation_cache),
		cmocka_unit_test(test_peer_socketpair),
		cmocka_unit_test(test_peer_not_a_socket),
		cmocka_unit_test(test_peer_unresolvable),
		cmocka_unit_test(test_peer_as_connected),
		cmocka_unit_test(test_peer_many_groups),
	};
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
