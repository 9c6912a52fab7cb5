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

struct provider;

/*
 * Where messages go: the email server, or one webhook / group robot.
 * What every channel has is here; what only its provider reads (a
 * secret, a sender, a format) is the provider's, in PRIV.
 */
struct channel {
	char *name; /* "email", or the webhook's name */
	const struct provider *provider;
	char *url;
	char *ca_file; /* NULL: the system's trust store */
	/* Whom a webhook serves (the email channel serves every address). */
	bool all_units, all_depts, admins;
	uint8_t *units; /* [plan unit] served, or NULL */
	uint8_t *depts; /* [plan dept] served, or NULL */
	struct rate_limit rates[CHANNEL_MAX_RATES];
	size_t nrates;
	int line;   /* where the config defines it */
	void *priv; /* the provider's own settings, freed by its free hook */
};

/* How the outbox is worked off. */
struct delivery_settings {
	int concurrency; /* transfers at once */
	int64_t connect_timeout_ms, timeout_ms;
	int64_t retry_first_ms;   /* the first retry's delay */
	double retry_factor;      /* each next delay is this much longer */
	int64_t retry_cap_ms;     /* no delay longer than this */
	double retry_jitter;      /* up to this fraction is taken off a delay at random */
	int retry_max_attempts;   /* then dead */
	int64_t retry_max_age_ms; /* or dead once this old */
};

struct settings {
	char *timezone;
	char *calendar_dir; /* kaohe.calendar_dir, or NULL: beside the file, then the shipped */
	char *state_dir;
	char *control_socket;
	char *export_dir;
	int log_level;
	int control_max_clients;  /* connections at once */
	int control_max_per_uid;  /* connections of one user at once */
	int control_idle_timeout; /* seconds before an idle connection closes */
	char *metrics_file;       /* the textfile collector's file; "" none */
	int metrics_interval;     /* seconds between two writes of it */
	struct access_rule admins;
	struct access_rule *depts; /* per plan department (the plan of the configuration) */
	struct access_rule *units; /* per plan unit */
	struct channel *channels;  /* the email channel first, if any; audiences per plan */
	size_t nchannels;
	struct delivery_settings delivery;
	struct contact *admins_contacts; /* told of snapshots and dead deliveries */
	size_t nadmins_contacts;
	struct notify_templates templates;
};

/*
 * A configuration names one plan (the plan group) or several, one per
 * plan year (plans = [ FILE, … ]).  What config_load() returns is the
 * configuration of the latest plan year, and each plan year has one of
 * its own (config_year()), all alike but for the plan and what is
 * indexed by its units and departments: the access rules and the
 * channels' audiences, which name ids of any configured plan.
 */
struct config {
	char *file;
	/*
	 * SHA-256 (hex) of every file the configuration was read from (its
	 * plan files and the calendars too), in the order read: a process
	 * that loads the same files again can tell whether they are still
	 * what the daemon runs.
	 */
	char fingerprint[65];
	struct settings set;
	struct plan *plan;
	struct config **years; /* every plan year's configuration, by year; shared */
	size_t nyears;
	struct config *root;              /* the one config_load() returned */
	struct access_rule *access_rules; /* the root's: what set.depts and set.units copy */
	size_t naccess_rules;
};

/* How the configuration is loaded besides its files. */
struct config_opts {
	int year;      /* non-zero: run the (one) plan for this year: kaohed --year */
	bool weekdays; /* Monday to Friday, no calendar: kaohed --calendar weekdays */
	/* Read each plan file whole, its units list too (by default the list
	 * is read in batches, see planfile.h): what the batches are checked
	 * against. */
	bool plans_whole;
};

/*
 * Load FILE.  YEAR, when non-zero, replaces plan.year.  Errors go to
 * ERRORS and warnings to WARNINGS, one "file:line: message" per line.
 * Returns NULL when there was any error.  Sets the process time zone to
 * the plan's.
 */
struct config *config_load(const char *file, int year, struct sbuf *errors, struct sbuf *warnings);
/* The same with the options O. */
struct config *config_load_opts(const char *file, const struct config_opts *o, struct sbuf *errors,
				struct sbuf *warnings);
/* The configuration of plan year YEAR among CFG's, or NULL. */
struct config *config_year(const struct config *cfg, int year);
/*
 * The plan year a command addresses when it names none, at NOW: the
 * latest configured whose in-force period has begun, else the earliest.
 * Its index in CFG's years.
 */
size_t config_in_force(const struct config *cfg, int64_t now);
/*
 * The file of year YEAR's official calendar for CFG (kaohe.calendar_dir,
 * or calendars/ beside the configuration, then the shipped ones): its
 * path (free it), or NULL; the paths looked at, comma-separated, are
 * appended to SEARCHED when it is not NULL.
 */
char *config_calendar_path(const struct config *cfg, int year, struct sbuf *searched);
/* The channel named NAME, or NULL. */
const struct channel *config_channel(const struct config *cfg, const char *name);

/*
 * What a provider's load hook reads its own settings through: one
 * channel's group of the file being loaded.  Problems are reported as
 * "file:line: WHAT: message", WHAT naming the channel.
 */
struct config_reader;
/*
 * The string setting NAME, checked as every string is (UTF-8, no
 * control character); DEF when absent (DEF NULL: reported missing).  DEF
 * again after reporting a bad one.
 */
const char *config_reader_string(struct config_reader *r, const char *name, const char *def);
/*
 * A secret: NAME inline (only if INLINE_OK) or read from the file named
 * by NAME_file (see doc/configuration.md); a copy, or NULL when neither
 * is given or after reporting why it cannot be had.
 */
char *config_reader_secret(struct config_reader *r, const char *name, bool inline_ok);
/* Report the error FMT… at setting NAME (at the channel when absent). */
__attribute__((format(printf, 3, 4))) void config_reader_error(struct config_reader *r,
							       const char *name, const char *fmt,
							       ...);
/* How many errors the load has reported so far: a hook tells whether a read failed. */
int config_reader_nerrors(const struct config_reader *r);
/* Free a configuration; NULL is fine. */
void config_free(struct config *cfg);

#endif
