/*
 * config — reads the libconfig file into the daemon's settings and the
 * plan.  Every problem is reported as "file:line: message", all of them
 * in one pass; the seed's known inconsistencies come out as warnings.
 */
#ifndef KAOHE_CONFIG_H
#define KAOHE_CONFIG_H

#include "kaohe/notify.h"
#include "kaohe/plan.h"
#include "kaohe/util.h"

/* Who a group of the access section names. */
struct access_rule {
	char **users;
	size_t nusers;
	char **groups;
	size_t ngroups;
};

/* A rate limit: at most COUNT messages in any PER_MS window. */
struct rate_limit {
	int count;
	int64_t per_ms;
};
#define CHANNEL_MAX_RATES 4

/* Where messages go: the email server, or one webhook / group robot. */
struct channel {
	char *name;            /* "email", or the webhook's name */
	enum channel_type type;
	char *url;
	char *secret;          /* generic, DingTalk, Feishu signing secret; NULL if none */
	char *ca_file;         /* NULL: the system's trust store */
	bool markdown;         /* WeCom: markdown messages instead of text */
	char *from;            /* email: the From address as written */
	char *user, *password; /* email: SMTP authentication; NULL if none */
	/* Whom a webhook serves (the email channel serves every address). */
	bool all_units, all_depts, admins;
	uint8_t *units;        /* [plan unit] served, or NULL */
	uint8_t *depts;        /* [plan dept] served, or NULL */
	struct rate_limit rates[CHANNEL_MAX_RATES];
	size_t nrates;
	int line;              /* where the config defines it */
};

/* How the outbox is worked off. */
struct delivery_settings {
	int concurrency;            /* transfers at once */
	int64_t connect_timeout_ms, timeout_ms;
	int64_t retry_first_ms;     /* the first retry's delay */
	double retry_factor;        /* each next delay is this much longer */
	int64_t retry_cap_ms;       /* no delay longer than this */
	double retry_jitter;        /* up to this fraction is taken off a delay at random */
	int retry_max_attempts;     /* then dead */
	int64_t retry_max_age_ms;   /* or dead once this old */
};

struct settings {
	char *timezone;
	char *state_dir;
	char *control_socket;
	char *export_dir;
	int log_level;
	int control_max_clients;   /* connections at once */
	int control_max_per_uid;   /* connections of one user at once */
	int control_idle_timeout;  /* seconds before an idle connection closes */
	struct access_rule admins;
	struct access_rule *depts; /* per plan department */
	struct access_rule *units; /* per plan unit */
	struct channel *channels;  /* the email channel first, if any */
	size_t nchannels;
	struct delivery_settings delivery;
	struct contact *admins_contacts; /* told of snapshots and dead deliveries */
	size_t nadmins_contacts;
	struct notify_templates templates;
};

struct config {
	char *file;
	/*
	 * SHA-256 (hex) of every file the configuration was read from, in
	 * the order read: a process that loads the same files again can tell
	 * whether they are still what the daemon runs.
	 */
	char fingerprint[65];
	struct settings set;
	struct plan *plan;
};

/*
 * Load FILE.  YEAR, when non-zero, replaces plan.year.  Errors go to
 * ERRORS and warnings to WARNINGS, one "file:line: message" per line.
 * Returns NULL when there was any error.  Sets the process time zone to
 * the plan's.
 */
struct config *config_load(const char *file, int year, struct sbuf *errors, struct sbuf *warnings);
/* The channel named NAME, or NULL. */
const struct channel *config_channel(const struct config *cfg, const char *name);
/* Free a configuration; NULL is fine. */
void config_free(struct config *cfg);

#endif
