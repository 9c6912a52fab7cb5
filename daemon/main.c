/*
 * kaohed — the kaohe daemon: check a configuration, simulate a plan on
 * virtual time, or run.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "kaohe/config.h"
#include "kaohe/engine.h"
#include "kaohe/log.h"
#include "kaohe/loop.h"
#include "kaohe/newyear.h"
#include "kaohe/publish.h"
#include "kaohe/restore.h"
#include "kaohe/simulate.h"
#include "kaohe/store.h"

#define DEFAULT_CONFIG "/etc/kaohe/kaohe.conf"

static void usage(FILE *f)
{
	fprintf(f,
		"usage: kaohed [-c FILE] [-f] [--year YYYY] [--calendar weekdays] [--state-dir DIR]\n"
		"              [--socket PATH] [--export-dir DIR]\n"
		"       kaohed [-c FILE] [--year YYYY] [--calendar weekdays] --check\n"
		"       kaohed [-c FILE] [--year YYYY] [--calendar weekdays] simulate --from DATE\n"
		"              --to DATE [--events FILE] [--export DIR] [--count-reminders]\n"
		"       kaohed [-c FILE] [--year YYYY] [--calendar weekdays] [--state-dir DIR]\n"
		"              [--export-dir DIR] publish [--pages]\n"
		"              [--feeds [--unit UNIT [--unit-year YYYY]]]\n"
		"       kaohed [-c FILE] new-year [--year YYYY] [--out FILE]\n"
		"       kaohed [-c FILE] [--year YYYY] [--state-dir DIR] restore BACKUP\n"
		"\n"
		"  -c, --config FILE  configuration file (default " DEFAULT_CONFIG ")\n"
		"  -f, --foreground   stay in the foreground, log to stderr\n"
		"      --year YYYY    run the configured plan for another year, with the\n"
		"                     official working-day calendar of that year\n"
		"      --calendar weekdays  Monday to Friday are the working days (when no\n"
		"                     calendar of the year is installed yet); said in the log\n"
		"      --state-dir DIR  keep the database in DIR (instead of kaohe.state_dir)\n"
		"      --socket PATH  listen on PATH (instead of kaohe.control_socket)\n"
		"      --export-dir DIR  publish into DIR (instead of kaohe.export_dir;\n"
		"                     \"\" publishes nothing)\n"
		"      --check        load and verify the configuration, print warnings,\n"
		"                     then \"configuration OK\" (exit 0) or every error\n"
		"                     as file:line: message (exit 1)\n"
		"  -h, --help         this help\n"
		"  -V, --version      the version\n"
		"\n"
		"simulate runs every configured plan year on one virtual clock from 00:00\n"
		"of --from to 00:00 of --to (plan time zone) on a fresh in-memory database\n"
		"and writes JSON Lines, each with its \"year\": reminders, deductions,\n"
		"quarterly snapshots, and each year's scores as of --to.\n"
		"--count-reminders counts reminders instead of printing them; --export DIR\n"
		"writes the publication files there as the daemon would (in YYYY/ each\n"
		"snapshot's PERIOD.html, .csv and .json, index.html, all.ics and UNIT.ics;\n"
		"index.html across the years).\n"
		"publish writes kaohe.export_dir from the database, each plan year in YYYY/:\n"
		"the snapshots' pages (--pages, with index.html across the years) and the\n"
		"calendar feeds (--feeds; --unit: that unit's only, of the year --unit-year\n"
		"or of every year), both by default; the daemon runs it itself after each\n"
		"snapshot, move and reload.\n"
		"restore installs BACKUP (kaohectl backup) as the database, kaohed stopped:\n"
		"checked first (integrity, schema, plan year); the current one is kept as\n"
		"kaohe.db.before-restore-TIME.\n"
		"An events file holds lines \"TIMESTAMP COMMAND ARGS...\", e.g.\n"
		"  2020-09-15T10:00:00+08:00 submit bayilu 1 --note \"红色物业\"\n"
		"\n"
		"A year's official working-day calendar, YYYY.conf, is looked for in\n"
		"kaohe.calendar_dir when set, else in calendars/ beside the configuration file,\n"
		"then in the shipped ones:\n"
		"  " KAOHE_CALENDAR_DIR "\n"
		"\n"
		"Without -f, and not under systemd, kaohed detaches once its control socket\n"
		"listens and logs to syslog.\n"
		"\n"
		"examples:\n"
		"  kaohed -c config/kaohe.conf --check\n"
		"  kaohed -c config/kaohe.conf -f --year 2026 --state-dir state --socket state/control.sock\n"
		"  kaohed -c config/kaohe.conf simulate --from 2020-05-01 --to 2021-01-01\n");
}

static int parse_year(const char *s)
{
	char *end;
	long y = strtol(s, &end, 10);
	return *end == '\0' && y >= 1971 && y <= 9998 ? (int)y : -1;
}

static struct config *load(const char *file, const struct config_opts *year, bool show_warnings)
{
	struct sbuf err, warn;
	sbuf_init(&err);
	sbuf_init(&warn);
	struct config *cfg = config_load_opts(file, year, &err, &warn);
	if (show_warnings || cfg == NULL)
		fputs(warn.buf, stderr);
	fputs(err.buf, stderr);
	sbuf_free(&err);
	sbuf_free(&warn);
	return cfg;
}

/* The configuration, or NULL; nothing printed. */
static struct config *load_quietly(const char *file, const struct config_opts *year)
{
	struct sbuf err, warn;
	sbuf_init(&err);
	sbuf_init(&warn);
	struct config *cfg = config_load_opts(file, year, &err, &warn);
	sbuf_free(&err);
	sbuf_free(&warn);
	return cfg;
}

static int run_simulate(const char *file, const struct config_opts *year, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "from", required_argument, NULL, 'F' },
		{ "to", required_argument, NULL, 'T' },
		{ "events", required_argument, NULL, 'e' },
		{ "export", required_argument, NULL, 'x' },
		{ "count-reminders", no_argument, NULL, 'n' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct simulate_opts o = { 0 };
	int c;

	optind = 1;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'F': o.from = optarg; break;
		case 'T': o.to = optarg; break;
		case 'e': o.events = optarg; break;
		case 'x': o.export_dir = optarg; break;
		case 'n': o.count_reminders = 1; break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (optind < argc || o.from == NULL || o.to == NULL) {
		fprintf(stderr, "kaohed: simulate needs --from DATE and --to DATE\n");
		usage(stderr);
		return 2;
	}
	struct config *cfg = load(file, year, false);
	if (cfg == NULL)
		return 1;
	/* The output is the record; the log keeps to what went wrong. */
	log_set_level(LOG_LEVEL_WARNING);
	static char buf[1 << 20];
	setvbuf(stdout, buf, _IOFBF, sizeof(buf));
	int rc = simulate_run(cfg, &o, stdout);
	config_free(cfg);
	return rc;
}

/* What `kaohed publish` is asked for. */
struct publish_args {
	bool pages, feeds;
	const char *fingerprint; /* of the configuration the daemon runs, or NULL */
	const char *unit;        /* --unit: that unit's feed only, or NULL */
	int unit_year;           /* --unit-year: of that plan year only, or 0: every year's */
};

/* Read publish's options into A: 0, 1 after --help, -1 after a usage error. */
static int publish_options(int argc, char **argv, struct publish_args *a)
{
	static const struct option opts[] = {
		{ "pages", no_argument, NULL, 'p' },
		{ "feeds", no_argument, NULL, 'e' },
		{ "fingerprint", required_argument, NULL, 'F' },
		{ "unit", required_argument, NULL, 'u' },
		{ "unit-year", required_argument, NULL, 'Y' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	optind = 1;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'p': a->pages = true; break;
		case 'e': a->feeds = true; break;
		case 'F': a->fingerprint = optarg; break;
		case 'u': a->unit = optarg; break;
		case 'Y':
			if ((a->unit_year = parse_year(optarg)) <= 0) {
				fprintf(stderr,
					"kaohed: publish: --unit-year \"%s\" is not a year\n",
					optarg);
				return -1;
			}
			break;
		case 'h': usage(stdout); return 1;
		default: usage(stderr); return -1;
		}
	}
	if (optind < argc) {
		usage(stderr);
		return -1;
	}
	if (a->unit_year && a->unit == NULL) {
		fprintf(stderr, "kaohed: publish: --unit-year goes with --unit\n");
		return -1;
	}
	if (!a->pages && !a->feeds)
		a->pages = a->feeds = true;
	return 0;
}

/*
 * Write plan year YC's files into DIR/YEAR from the database ST (any
 * handle of it): the plan recorded, an engine over its year.  FEED_UNIT:
 * the unit (of YC's plan) whose feed alone is wanted, or -1.  0, or -1
 * after a message.
 */
static int publish_year(const char *dir, struct store *st, const struct config *yc,
			const struct publish_args *a, int feed_unit)
{
	const struct plan *p = yc->plan;
	struct store *ys = store_year(st, p->year);
	struct engine *eng = NULL;
	char err[512];
	char *ydir = publish_year_dir(dir, p->year, err, sizeof(err));
	int rc = -1;

	if (ydir == NULL) {
		fprintf(stderr, "kaohed: publish: %s\n", err);
	} else if (store_begin(ys) < 0 || store_sync_plan(ys, p) < 0 || store_commit(ys) < 0 ||
		   (eng = engine_new(p, ys, &(struct engine_sink){ 0 }, p->cal.in_force_start)) ==
			   NULL) {
		store_rollback(ys);
		fprintf(stderr, "kaohed: publish: %d: %s\n", p->year, store_errmsg(ys));
	} else if (publish_write(ydir, ys, p, eng, (int64_t)time(NULL), a->pages, a->feeds,
				 feed_unit, err, sizeof(err)) < 0) {
		fprintf(stderr, "kaohed: publish: %s\n", err);
	} else {
		rc = 0;
	}
	engine_free(eng);
	free(ydir);
	return rc;
}

/*
 * Publish every plan year of CFG from the database DB, which must exist,
 * into DIR, then the index across the years.  With --unit, only that
 * unit's feed (and all.ics) of its year, --unit-year or every year's.
 * 0, or 1 after a message.
 */
static int publish_years(const struct config *cfg, const char *db, const char *dir,
			 const struct publish_args *a)
{
	const struct plan **plans = xcalloc(cfg->nyears + 1, sizeof(*plans));
	struct store *st = NULL;
	char err[512];
	int rc = 0;

	if (access(db, F_OK) < 0) {
		fprintf(stderr, "kaohed: publish: no database at %s\n", db);
		free(plans);
		return 1;
	}
	if ((st = store_open(db, cfg->years[0]->plan->year, err, sizeof(err))) == NULL) {
		fprintf(stderr, "kaohed: publish: %s\n", err);
		free(plans);
		return 1;
	}
	for (size_t i = 0; i < cfg->nyears && rc == 0; i++) {
		const struct config *yc = cfg->years[i];
		plans[i] = yc->plan;
		if (a->unit_year && a->unit_year != yc->plan->year)
			continue;
		int unit = a->unit ? plan_unit_find(yc->plan, a->unit) : -1;
		if (a->unit && unit < 0)
			continue; /* a unit this year's plan does not have */
		if (publish_year(dir, st, yc, a, unit) < 0)
			rc = 1;
	}
	if (rc == 0 && a->pages && publish_index(dir, plans, cfg->nyears, err, sizeof(err)) < 0) {
		fprintf(stderr, "kaohed: publish: %s\n", err);
		rc = 1;
	}
	store_close(st);
	free(plans);
	return rc;
}

/*
 * publish: write export_dir from the database (the daemon runs this in a
 * process of its own after each snapshot, move and reload; an operator
 * may run it by hand).
 */
static int run_publish(const char *file, const struct config_opts *year, const char *state_dir,
		       const char *export_dir, int argc, char **argv)
{
	struct publish_args a = { 0 };
	int rc = publish_options(argc, argv, &a);

	if (rc != 0)
		return rc > 0 ? 0 : 2;
	/* The daemon asks for what it runs: files edited since its last
	 * reload are not what it runs, and are not published.  Files that
	 * no longer load have changed too: their errors are the reload's to
	 * tell, not repeated here. */
	struct config *cfg = a.fingerprint ? load_quietly(file, year) : load(file, year, false);
	if (cfg == NULL && !a.fingerprint)
		return 1;
	if (a.fingerprint && (cfg == NULL || strcmp(a.fingerprint, cfg->fingerprint) != 0)) {
		fprintf(stderr,
			"kaohed: publish: the configuration files changed since kaohed last "
			"loaded them; not published until a reload (kaohectl reload) takes them\n");
		config_free(cfg);
		return PUBLISH_EXIT_STALE;
	}
	const char *dir = export_dir ? export_dir : cfg->set.export_dir;
	if (a.unit_year && config_year(cfg, a.unit_year) == NULL) {
		fprintf(stderr, "kaohed: publish: --unit-year: %d is not a configured plan year\n",
			a.unit_year);
		config_free(cfg);
		return 2;
	}
	bool known = false;
	for (size_t i = 0; a.unit && i < cfg->nyears; i++)
		if ((!a.unit_year || cfg->years[i]->plan->year == a.unit_year) &&
		    plan_unit_find(cfg->years[i]->plan, a.unit) >= 0)
			known = true;
	if (a.unit && !known) {
		fprintf(stderr, "kaohed: publish: --unit: unknown unit \"%s\"\n", a.unit);
		config_free(cfg);
		return 2;
	}
	char *db = xasprintf("%s/kaohe.db", state_dir ? state_dir : cfg->set.state_dir);
	rc = 1;
	if (dir == NULL || *dir == '\0')
		fprintf(stderr, "kaohed: publish: kaohe.export_dir is empty: nothing to write\n");
	else
		rc = publish_years(cfg, db, dir, &a);
	free(db);
	config_free(cfg);
	return rc;
}

/*
 * new-year: next year's plan file from the latest plan's, to stdout or
 * --out FILE (a new file).  TARGET: the year given before the command
 * (kaohed --year Y new-year), or 0.
 */
static int run_new_year(const char *file, int target, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "year", required_argument, NULL, 'y' },
		{ "out", required_argument, NULL, 'o' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *out = NULL;
	char err[1024];
	int c, reviews;

	optind = 1;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'y':
			if ((target = parse_year(optarg)) < 0) {
				fprintf(stderr, "kaohed: new-year: --year \"%s\" is not a year\n",
					optarg);
				return 2;
			}
			break;
		case 'o': out = optarg; break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	struct config *cfg = load(file, &(struct config_opts){ 0 }, false);
	if (cfg == NULL)
		return 1;
	if (target == 0)
		target = cfg->plan->year + 1;
	struct sbuf text;
	sbuf_init(&text);
	int rc = newyear_text(cfg, target, &text, &reviews, err, sizeof(err));
	if (rc < 0) {
		fprintf(stderr, "kaohed: new-year: %s\n", err);
	} else if (out == NULL) {
		fwrite(text.buf, 1, text.len, stdout);
	} else {
		/* A new file only: the plan files already there are the administrator's. */
		FILE *f = NULL;
		int fd = open(out, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
		if (fd < 0 || (f = fdopen(fd, "w")) == NULL ||
		    fwrite(text.buf, 1, text.len, f) != text.len || fclose(f) != 0) {
			fprintf(stderr, "kaohed: new-year: cannot write %s: %s\n", out,
				strerror(errno));
			if (fd >= 0 && f == NULL)
				close(fd);
			rc = -1;
		}
	}
	if (rc == 0)
		fprintf(stderr,
			"kaohed: new-year: the plan of %d written%s%s; %d line%s marked REVIEW\n",
			target, out ? " to " : "", out ? out : "", reviews,
			reviews == 1 ? "" : "s");
	sbuf_free(&text);
	config_free(cfg);
	return rc < 0 ? 1 : 0;
}

/* restore BACKUP: the backup checked and installed, the daemon stopped. */
static int run_restore(const char *file, const struct config_opts *year, const char *state_dir,
		       int argc, char **argv)
{
	char err[1024];

	if (argc == 2 && (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0)) {
		usage(stdout);
		return 0;
	}
	if (argc != 2) {
		fprintf(stderr, "kaohed: restore needs one BACKUP file\n");
		usage(stderr);
		return 2;
	}
	struct config *cfg = load(file, year, false);
	if (cfg == NULL)
		return 1;
	int *years = xcalloc(cfg->nyears + 1, sizeof(*years));
	for (size_t i = 0; i < cfg->nyears; i++)
		years[i] = cfg->years[i]->plan->year;
	int rc = restore_run(years, cfg->nyears, state_dir ? state_dir : cfg->set.state_dir,
			     argv[1], (int64_t)time(NULL), stdout, err, sizeof(err));
	free(years);
	if (rc < 0)
		fprintf(stderr, "kaohed: restore: %s; nothing changed\n", err);
	config_free(cfg);
	return rc < 0 ? 1 : 0;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "foreground", no_argument, NULL, 'f' },
		{ "year", required_argument, NULL, 'y' },
		{ "calendar", required_argument, NULL, 'C' },
		{ "check", no_argument, NULL, 'k' },
		{ "state-dir", required_argument, NULL, 'S' },
		{ "socket", required_argument, NULL, 's' },
		{ "export-dir", required_argument, NULL, 'E' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	const char *file = DEFAULT_CONFIG, *state_dir = NULL, *socket = NULL, *export_dir = NULL;
	bool check = false, foreground = false;
	struct config_opts year = { 0 };
	int c;

	log_init("kaohed", true);
	/* "+": stop at the first word that is no option (the subcommand). */
	while ((c = getopt_long(argc, argv, "+c:fhV", opts, NULL)) != -1) {
		switch (c) {
		case 'c': file = optarg; break;
		case 'f': foreground = true; break;
		case 'y':
			if ((year.year = parse_year(optarg)) < 0) {
				fprintf(stderr, "kaohed: --year \"%s\" is not a year\n", optarg);
				return 2;
			}
			break;
		case 'C':
			if (strcmp(optarg, "weekdays") != 0) {
				fprintf(stderr,
					"kaohed: --calendar \"%s\": the only calendar to choose is "
					"\"weekdays\" (Monday to Friday); the official ones are found by "
					"year\n",
					optarg);
				return 2;
			}
			year.weekdays = true;
			break;
		case 'k': check = true; break;
		case 'S': state_dir = optarg; break;
		case 's': socket = optarg; break;
		case 'E': export_dir = optarg; break;
		case 'h': usage(stdout); return 0;
		case 'V': printf("kaohed %s\n", KAOHE_VERSION); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (optind < argc && strcmp(argv[optind], "simulate") == 0)
		return run_simulate(file, &year, argc - optind, argv + optind);
	if (optind < argc && strcmp(argv[optind], "new-year") == 0)
		return run_new_year(file, year.year, argc - optind, argv + optind);
	if (optind < argc && strcmp(argv[optind], "restore") == 0)
		return run_restore(file, &year, state_dir, argc - optind, argv + optind);
	if (optind < argc && strcmp(argv[optind], "publish") == 0)
		return run_publish(file, &year, state_dir, export_dir, argc - optind,
				   argv + optind);
	if (optind < argc) {
		fprintf(stderr, "kaohed: unknown command \"%s\"\n", argv[optind]);
		usage(stderr);
		return 2;
	}
	if (check) {
		struct config *cfg = load(file, &year, true);
		if (cfg == NULL)
			return 1;
		printf("configuration OK\n");
		config_free(cfg);
		return 0;
	}
	struct loop_opts lo = { .config = file,
				.load = year,
				.state_dir = state_dir,
				.socket = socket,
				.export_dir = export_dir,
				.foreground = foreground };
	return loop_run(&lo);
}
