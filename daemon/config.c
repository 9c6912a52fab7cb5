/*
 * config — libconfig file -> settings + plan.  The loader never stops at
 * the first semantic problem: each is appended to the caller's error
 * buffer with the file and line libconfig kept for the setting, so that
 * one --check run shows everything to fix.
 */
#include <assert.h>
#include <errno.h>
#include <libconfig.h>
#include <openssl/evp.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kaohe/config.h"
#include "kaohe/log.h"
#include "kaohe/mime.h"
#include "kaohe/planfile.h"
#include "kaohe/provider.h"

/* A channel's unit or department named by id, resolved in each plan. */
struct audience {
	size_t chan; /* index into set.channels */
	bool unit;   /* a unit's id, else a department's */
	const char *id;
};

struct loader {
	const char *file; /* the file being read: the main one, or a plan file */
	const char *dir;  /* its directory, or NULL */
	const char *main_dir;
	struct sbuf *err, *warn;
	int nerr;
	struct config *cfg;
	struct plan *p;               /* the plan being read */
	const struct planfile *units; /* its units list, when read in batches */
	bool units_unread;            /* libconfig cannot read a batch of them */
	struct config_opts opts;
	struct reminder_policy policy; /* read once, copied into each plan */
	struct plan **plans;           /* every plan read, by year */
	size_t nplans;
	char **files; /* every file read, for the fingerprint */
	size_t nfiles, files_cap;
	struct audience *aud;
	size_t naud, aud_cap;
	const char **rule_ids; /* the id of each of cfg->access_rules */
	bool *rule_unit;       /* a unit's rule, else a department's */
};

/* A message at FILE (as libconfig names it; NULL: the file being read) and LINE. */
static void vreport_line(struct loader *ld, struct sbuf *to, const char *file, int line,
			 const char *fmt, va_list ap)
{
	/* libconfig names an included file as written; show where it is. */
	if (file == NULL || strcmp(file, ld->file) == 0)
		sbuf_printf(to, "%s:%d: ", ld->file, line);
	else if (file[0] != '/' && ld->dir)
		sbuf_printf(to, "%s/%s:%d: ", ld->dir, file, line);
	else
		sbuf_printf(to, "%s:%d: ", file, line);
	if (to == ld->warn)
		sbuf_puts(to, "warning: ");
	char msg[1024];
	vsnprintf(msg, sizeof(msg), fmt, ap);
	sbuf_puts(to, msg);
	sbuf_puts(to, "\n");
}

static void vreport(struct loader *ld, struct sbuf *to, const config_setting_t *s, const char *fmt,
		    va_list ap)
{
	vreport_line(ld, to, s ? config_setting_source_file(s) : NULL,
		     s ? (int)config_setting_source_line(s) : 0, fmt, ap);
}

static void __attribute__((format(printf, 4, 5)))
error_line(struct loader *ld, const char *file, int line, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vreport_line(ld, ld->err, file, line, fmt, ap);
	va_end(ap);
	ld->nerr++;
}

static void __attribute__((format(printf, 3, 4)))
error_at(struct loader *ld, const config_setting_t *s, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vreport(ld, ld->err, s, fmt, ap);
	va_end(ap);
	ld->nerr++;
}

static void __attribute__((format(printf, 3, 4)))
warn_at(struct loader *ld, const config_setting_t *s, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vreport(ld, ld->warn, s, fmt, ap);
	va_end(ap);
}

/*
 * Report every member of GROUP whose name ALLOWED does not list.  The
 * message lists the known names too: a misspelt setting is then fixed
 * from the error alone, and the manual page's test reads the settings
 * from the loader itself.
 */
static void check_keys(struct loader *ld, const config_setting_t *group, const char *what,
		       const char *const *allowed)
{
	int n = config_setting_length(group);
	for (int i = 0; i < n; i++) {
		const config_setting_t *m = config_setting_get_elem(group, (unsigned)i);
		const char *name = config_setting_name(m);
		bool ok = false;
		if (name == NULL)
			continue;
		for (const char *const *a = allowed; *a && !ok; a++)
			ok = strcmp(*a, name) == 0;
		if (ok)
			continue;
		struct sbuf known;
		sbuf_init(&known);
		for (const char *const *a = allowed; *a; a++)
			sbuf_printf(&known, "%s%s", a == allowed ? "" : ", ", *a);
		error_at(ld, m, "unknown setting \"%s\" in %s; known: %s", name, what, known.buf);
		sbuf_free(&known);
	}
}

static const config_setting_t *member(const config_setting_t *g, const char *name)
{
	return g ? config_setting_get_member(g, name) : NULL;
}

/*
 * Names, contacts and plan texts reach terminals (kaohectl's tables),
 * mail headers and pages: a control character in one (an escape
 * sequence, a line break in a name) would act there instead of showing.
 * Only templates, which are read as multi-line text, may hold line
 * breaks.
 */
static bool control_free(struct loader *ld, const config_setting_t *s, const char *what,
			 const char *label, const char *v)
{
	unsigned cp;
	long at = util_control_char(v, strlen(v), &cp);
	if (at < 0)
		return true;
	error_at(ld, s,
		 "%s: %s holds the control character U+%04X (byte %ld); names, contacts and "
		 "texts may not hold control characters",
		 what, label, cp, at + 1);
	return false;
}

/* A string member; DEF when absent (NULL: required). */
static const char *get_string(struct loader *ld, const config_setting_t *g, const char *what,
			      const char *name, const char *def)
{
	const config_setting_t *s = member(g, name);
	if (s == NULL) {
		if (def == NULL)
			error_at(ld, g, "%s: missing setting \"%s\"", what, name);
		return def;
	}
	if (config_setting_type(s) != CONFIG_TYPE_STRING) {
		error_at(ld, s, "%s: \"%s\" must be a string", what, name);
		return def;
	}
	const char *v = config_setting_get_string(s);
	/* Every string may end up in a JSON answer: it must be text. */
	if (!util_utf8_valid(v, strlen(v))) {
		error_at(ld, s, "%s: \"%s\" is not valid UTF-8", what, name);
		return def;
	}
	char label[80];
	snprintf(label, sizeof(label), "\"%s\"", name);
	return control_free(ld, s, what, label, v) ? v : def;
}

static bool get_bool(struct loader *ld, const config_setting_t *g, const char *what,
		     const char *name, bool def)
{
	const config_setting_t *s = member(g, name);
	if (s == NULL)
		return def;
	if (config_setting_type(s) != CONFIG_TYPE_BOOL) {
		error_at(ld, s, "%s: \"%s\" must be true or false", what, name);
		return def;
	}
	return config_setting_get_bool(s);
}

/* A whole number member within [MIN, MAX]; DEF when absent. */
static int get_int(struct loader *ld, const config_setting_t *g, const char *what, const char *name,
		   int def, int min, int max)
{
	const config_setting_t *s = member(g, name);
	if (s == NULL)
		return def;
	if (config_setting_type(s) != CONFIG_TYPE_INT) {
		error_at(ld, s, "%s: \"%s\" must be a whole number", what, name);
		return def;
	}
	int v = config_setting_get_int(s);
	if (v < min || v > max) {
		error_at(ld, s, "%s: \"%s\" must be from %d to %d", what, name, min, max);
		return def;
	}
	return v;
}

static bool is_number(const config_setting_t *s)
{
	int t = config_setting_type(s);
	return t == CONFIG_TYPE_INT || t == CONFIG_TYPE_INT64 || t == CONFIG_TYPE_FLOAT;
}

static double number_of(const config_setting_t *s)
{
	switch (config_setting_type(s)) {
	case CONFIG_TYPE_INT: return config_setting_get_int(s);
	case CONFIG_TYPE_INT64: return (double)config_setting_get_int64(s);
	default: return config_setting_get_float(s);
	}
}

/* Points of S: a number >= 0 with at most two decimals, as hundredths. */
static int points_of(struct loader *ld, const config_setting_t *s, const char *what, int64_t *out)
{
	if (!is_number(s)) {
		error_at(ld, s, "%s must be a number of points", what);
		return -1;
	}
	double d = number_of(s);
	if (util_double_to_hundredths(d, out) < 0) {
		error_at(ld, s, "%s: %g is not a whole number of hundredths of a point", what, d);
		return -1;
	}
	if (*out < 0) {
		error_at(ld, s, "%s: points must not be negative (%g)", what, d);
		return -1;
	}
	return 0;
}

static int get_points(struct loader *ld, const config_setting_t *g, const char *what,
		      const char *name, bool required, int64_t *out)
{
	const config_setting_t *s = member(g, name);
	char w[256];
	if (s == NULL) {
		if (required)
			error_at(ld, g, "%s: missing setting \"%s\"", what, name);
		return -1;
	}
	snprintf(w, sizeof(w), "%s: %s", what, name);
	return points_of(ld, s, w, out);
}

static bool valid_id(const char *s)
{
	if (*s == '\0' || strlen(s) > 64)
		return false;
	for (; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
		      (*s >= '0' && *s <= '9') || *s == '-' || *s == '_'))
			return false;
	return true;
}

/* The "id" of list element E, checked for form. */
static const char *get_id(struct loader *ld, const config_setting_t *e, const char *what)
{
	const char *id = get_string(ld, e, what, "id", NULL);
	if (id && !valid_id(id)) {
		error_at(ld, member(e, "id"),
			 "%s: id \"%s\" may only hold letters, digits, '-' and '_'", what, id);
		return NULL;
	}
	return id;
}

static char *dup_or_null(const char *s)
{
	return s ? xstrdup(s) : NULL;
}

static void load_contact(struct loader *ld, const config_setting_t *g, const char *what,
			 struct contact *c)
{
	static const char *const keys[] = { "name", "email", "mobile", NULL };
	check_keys(ld, g, what, keys);
	c->name = xstrdup(get_string(ld, g, what, "name", "") ?: "");
	c->email = dup_or_null(get_string(ld, g, what, "email", ""));
	char nb[256], ab[256];
	if (c->email && *c->email &&
	    (mime_address_parse(c->email, nb, sizeof(nb), ab, sizeof(ab)) < 0 || *nb ||
	     strcmp(ab, c->email) != 0))
		error_at(ld, member(g, "email"),
			 "%s: email \"%s\" is not an address such as "
			 "\"liaison@example.org\"",
			 what, c->email);
	if (c->email && c->email[0] == '\0') {
		free(c->email);
		c->email = NULL;
	}
	const char *mobile = get_string(ld, g, what, "mobile", "");
	c->mobile = mobile && *mobile ? xstrdup(mobile) : NULL;
}

static const config_setting_t *get_list(struct loader *ld, const config_setting_t *g,
					const char *what, const char *name, bool required)
{
	const config_setting_t *s = member(g, name);
	if (s == NULL) {
		if (required)
			error_at(ld, g, "%s: missing setting \"%s\"", what, name);
		return NULL;
	}
	if (config_setting_type(s) != CONFIG_TYPE_LIST &&
	    config_setting_type(s) != CONFIG_TYPE_ARRAY) {
		error_at(ld, s, "%s: \"%s\" must be a list", what, name);
		return NULL;
	}
	return s;
}

static const config_setting_t *get_group(struct loader *ld, const config_setting_t *g,
					 const char *what, const char *name, bool required)
{
	const config_setting_t *s = member(g, name);
	if (s == NULL) {
		if (required)
			error_at(ld, g, "%s: missing group \"%s\"", what, name);
		return NULL;
	}
	if (config_setting_type(s) != CONFIG_TYPE_GROUP) {
		error_at(ld, s, "%s: \"%s\" must be a group { … }", what, name);
		return NULL;
	}
	return s;
}

static void load_strings(struct loader *ld, const config_setting_t *arr, const char *what,
			 char ***out, size_t *n)
{
	*out = NULL;
	*n = 0;
	if (arr == NULL)
		return;
	int len = config_setting_length(arr);
	*out = xcalloc((size_t)len + 1, sizeof(char *));
	for (int i = 0; i < len; i++) {
		const config_setting_t *e = config_setting_get_elem(arr, (unsigned)i);
		if (config_setting_type(e) != CONFIG_TYPE_STRING) {
			error_at(ld, e, "%s: element %d must be a string", what, i + 1);
			continue;
		}
		const char *v = config_setting_get_string(e);
		char el[32];
		snprintf(el, sizeof(el), "element %d", i + 1);
		if (!util_utf8_valid(v, strlen(v))) {
			error_at(ld, e, "%s: %s is not valid UTF-8", what, el);
			continue;
		}
		if (!control_free(ld, e, what, el, v))
			continue;
		(*out)[(*n)++] = xstrdup(v);
	}
}

static void load_access_rule(struct loader *ld, const config_setting_t *g, const char *what,
			     struct access_rule *r)
{
	static const char *const keys[] = { "users", "groups", NULL };
	if (g == NULL)
		return;
	check_keys(ld, g, what, keys);
	load_strings(ld, get_list(ld, g, what, "users", false), what, &r->users, &r->nusers);
	load_strings(ld, get_list(ld, g, what, "groups", false), what, &r->groups, &r->ngroups);
}

static void free_access_rule(struct access_rule *r)
{
	for (size_t i = 0; i < r->nusers; i++)
		free(r->users[i]);
	for (size_t i = 0; i < r->ngroups; i++)
		free(r->groups[i]);
	free(r->users);
	free(r->groups);
}

static void load_kaohe(struct loader *ld, const config_setting_t *root)
{
	static const char *const keys[] = { "timezone",
					    "calendar_dir",
					    "state_dir",
					    "control_socket",
					    "export_dir",
					    "log_level",
					    "control_max_clients",
					    "control_max_per_uid",
					    "control_idle_timeout",
					    "metrics_file",
					    "metrics_interval",
					    NULL };
	const config_setting_t *g = get_group(ld, root, "configuration", "kaohe", false);
	struct settings *st = &ld->cfg->set;
	char err[256];

	if (g)
		check_keys(ld, g, "kaohe", keys);
	st->timezone = xstrdup(get_string(ld, g, "kaohe", "timezone", "Asia/Shanghai"));
	const char *cdir = get_string(ld, g, "kaohe", "calendar_dir", "");
	st->calendar_dir = cdir && *cdir ? xstrdup(cdir) : NULL;
	st->state_dir = xstrdup(get_string(ld, g, "kaohe", "state_dir", "/var/lib/kaohe"));
	st->control_socket =
		xstrdup(get_string(ld, g, "kaohe", "control_socket", "/run/kaohe/control.sock"));
	st->export_dir = xstrdup(get_string(ld, g, "kaohe", "export_dir", "/var/lib/kaohe/export"));
	const char *lvl = get_string(ld, g, "kaohe", "log_level", "info");
	st->log_level = log_parse_level(lvl);
	if (st->log_level < 0) {
		error_at(ld, member(g, "log_level"),
			 "kaohe: log_level \"%s\" is not error, warning, info or debug", lvl);
		st->log_level = LOG_LEVEL_INFO;
	}
	st->control_max_clients = get_int(ld, g, "kaohe", "control_max_clients", 64, 1, 4096);
	st->control_max_per_uid = get_int(ld, g, "kaohe", "control_max_per_uid", 16, 1, 4096);
	st->control_idle_timeout = get_int(ld, g, "kaohe", "control_idle_timeout", 60, 1, 86400);
	st->metrics_file = xstrdup(get_string(ld, g, "kaohe", "metrics_file", ""));
	st->metrics_interval = get_int(ld, g, "kaohe", "metrics_interval", 15, 1, 3600);
	/* It is replaced whole every few seconds: a slip (the database's name, a
	 * path relative to wherever kaohed runs) must not replace something else. */
	size_t mlen = strlen(st->metrics_file);
	if (mlen && (*st->metrics_file != '/' || mlen < 6 ||
		     strcmp(st->metrics_file + mlen - 5, ".prom") != 0))
		error_at(ld, member(g, "metrics_file"),
			 "kaohe: metrics_file \"%s\" must be an absolute path ending in .prom "
			 "(node_exporter's textfile collector reads only *.prom)",
			 st->metrics_file);
	if (calendar_set_timezone(st->timezone, err, sizeof(err)) < 0)
		error_at(ld, member(g, "timezone") ?: g, "kaohe: %s", err);
}

/* A day "MM-DD" of the plan year; -1 after reporting. */
static int day_of(struct loader *ld, const config_setting_t *s, const char *what, const char *text,
		  int32_t *out)
{
	if (calendar_parse_day(text, ld->p->year, out) < 0) {
		error_at(ld, s, "%s: bad date \"%s\" (expected MM-DD)", what, text);
		return -1;
	}
	if (*out < ld->p->cal.year_first ||
	    *out >= calendar_days_from_civil(ld->p->year + 1, 1, 1)) {
		error_at(ld, s, "%s: date \"%s\" is outside the plan year %d", what, text,
			 ld->p->year);
		return -1;
	}
	return 0;
}

/* --- working-day calendars ------------------------------------------- */

/* Remember FILE as read, once: the fingerprint covers it. */
static void note_file(struct loader *ld, const char *file)
{
	for (size_t i = 0; i < ld->nfiles; i++)
		if (strcmp(ld->files[i], file) == 0)
			return;
	util_reserve(&ld->files, &ld->files_cap, ld->nfiles + 1, sizeof(*ld->files));
	ld->files[ld->nfiles++] = xstrdup(file);
}

/*
 * The file of YEAR's official calendar: in CALENDAR_DIR (relative to
 * CONF_DIR) when it is set, else in calendars/ beside the configuration
 * (CONF_DIR), then among the shipped ones.  Its path, or NULL; each
 * path looked at is appended to SEARCHED (when not NULL), ", " between.
 */
static char *find_calendar(const char *conf_dir, const char *calendar_dir, int year,
			   struct sbuf *searched)
{
	char *dirs[2], *found = NULL;
	size_t n = 0;

	if (calendar_dir)
		dirs[n++] = calendar_dir[0] == '/' || conf_dir == NULL
				    ? xstrdup(calendar_dir)
				    : xasprintf("%s/%s", conf_dir, calendar_dir);
	else {
		dirs[n++] = xasprintf("%s/calendars", conf_dir ? conf_dir : ".");
		dirs[n++] = xstrdup(KAOHE_CALENDAR_DIR);
	}
	for (size_t i = 0; i < n; i++) {
		char *path = xasprintf("%s/%d.conf", dirs[i], year);
		if (found == NULL && searched)
			sbuf_printf(searched, "%s%s", searched->len ? ", " : "", path);
		if (found == NULL && access(path, F_OK) == 0)
			found = path;
		else
			free(path);
		free(dirs[i]);
	}
	return found;
}

char *config_calendar_path(const struct config *cfg, int year, struct sbuf *searched)
{
	char *dir = xstrdup(cfg->file), *slash = strrchr(dir, '/');
	if (slash)
		*(slash == dir ? slash + 1 : slash) = '\0';
	char *path = find_calendar(slash ? dir : NULL, cfg->set.calendar_dir, year, searched);
	free(dir);
	return path;
}

/* Which element set each day of a calendar being read: overlaps are errors. */
struct day_marks {
	const config_setting_t *by[CALENDAR_DAYS];
	uint8_t worked[CALENDAR_DAYS];
};

/*
 * A date of a calendar: "YYYY-MM-DD" in years LO to HI, or "MM-DD" of
 * year MMDD when it is not 0 (kaohe.conf's calendar group).  0, or -1
 * after reporting.
 */
static int cal_date(struct loader *ld, const config_setting_t *e, const char *what,
		    const char *text, int mmdd, int lo, int hi, int32_t *out)
{
	int y, m, d;

	if ((strlen(text) != 10 && mmdd == 0) || calendar_parse_day(text, mmdd, out) < 0) {
		error_at(ld, e, "%s: bad date \"%s\" (expected %s)", what, text,
			 mmdd ? "MM-DD or YYYY-MM-DD" : "YYYY-MM-DD");
		return -1;
	}
	calendar_civil_from_days(*out, &y, &m, &d);
	if (y < lo || y > hi) {
		if (lo == hi)
			error_at(ld, e, "%s: date \"%s\" is outside %d", what, text, lo);
		else
			error_at(ld, e, "%s: date \"%s\" is outside %d and %d", what, text, lo, hi);
		return -1;
	}
	return 0;
}

/* The day "A" or range "A..B" of element E: 0, or -1 after reporting. */
static int cal_range(struct loader *ld, const config_setting_t *e, const char *what, int mmdd,
		     int lo, int hi, int32_t *d1, int32_t *d2)
{
	const char *txt = config_setting_get_string(e);
	char a[16] = "", b[16] = "";

	if (txt == NULL) {
		error_at(ld, e, "%s must hold strings", what);
		return -1;
	}
	const char *dots = strstr(txt, "..");
	if (dots && (size_t)(dots - txt) < sizeof(a)) {
		memcpy(a, txt, (size_t)(dots - txt));
		snprintf(b, sizeof(b), "%s", dots + 2);
	} else {
		snprintf(a, sizeof(a), "%s", txt);
		snprintf(b, sizeof(b), "%s", txt);
	}
	if (cal_date(ld, e, what, a, mmdd, lo, hi, d1) < 0 ||
	    cal_date(ld, e, what, b, mmdd, lo, hi, d2) < 0)
		return -1;
	if (*d2 < *d1) {
		error_at(ld, e, "%s: range \"%s\" ends before it starts", what, txt);
		return -1;
	}
	return 0;
}

/*
 * The holidays and workdays of calendar group G (WHAT names it) into C:
 * days and ranges of years LO to HI, and "MM-DD" of MMDD when it is not
 * 0.  A reversed range, two elements over one day and (WEEKEND_ONLY) a
 * workday that is not a Saturday or a Sunday are errors.
 */
static void load_days(struct loader *ld, const config_setting_t *g, const char *what,
		      struct calendar *c, int mmdd, int lo, int hi, bool weekend_only)
{
	struct day_marks *mk = xcalloc(1, sizeof(*mk));
	char w[96];

	for (int pass = 0; pass < 2; pass++) {
		const char *name = pass ? "workdays" : "holidays";
		const config_setting_t *arr = get_list(ld, g, what, name, false);
		snprintf(w, sizeof(w), "%s: %s", what, name);
		for (int i = 0; arr && i < config_setting_length(arr); i++) {
			const config_setting_t *e = config_setting_get_elem(arr, (unsigned)i);
			const config_setting_t *clash = NULL;
			int32_t d1, d2, d;
			if (cal_range(ld, e, w, mmdd, lo, hi, &d1, &d2) < 0)
				continue;
			for (d = d1; d <= d2 && clash == NULL; d++)
				clash = mk->by[d - c->year_first];
			if (clash) {
				bool both = mk->worked[d - 1 - c->year_first] != pass;
				error_at(ld, e, "%s: \"%s\" %s \"%s\" (line %d)", w,
					 config_setting_get_string(e),
					 both ? "is a holiday and a workday at once: see"
					      : "overlaps",
					 config_setting_get_string(clash),
					 (int)config_setting_source_line(clash));
				continue;
			}
			for (d = d1; weekend_only && pass == 1 && d <= d2; d++)
				if (calendar_weekday(d) != 0 && calendar_weekday(d) != 6)
					break;
			if (weekend_only && pass == 1 && d <= d2) {
				error_at(ld, e,
					 "%s: \"%s\" is no Saturday or Sunday: only a weekend day "
					 "is worked in place of a day off",
					 w, config_setting_get_string(e));
				continue;
			}
			for (d = d1; d <= d2; d++) {
				mk->by[d - c->year_first] = e;
				mk->worked[d - c->year_first] = (uint8_t)pass;
				calendar_set_workday(c, d, pass == 1);
			}
		}
	}
	free(mk);
}

/*
 * Year YEAR's official calendar file into C (its days only).  1 read,
 * 0 none installed (the paths looked at appended to SEARCHED), -1 a bad
 * file (reported as FILE:LINE).  Its first notice goes into NOTICE.
 */
static int load_official(struct loader *ld, int year, struct calendar *c, char *notice, size_t len,
			 struct sbuf *searched)
{
	static const char *const top[] = { "calendar", NULL };
	static const char *const keys[] = { "year",     "source",   "notices",
					    "holidays", "workdays", NULL };
	char *path = find_calendar(ld->main_dir, ld->cfg->set.calendar_dir, year, searched);
	const char *file = ld->file, *dir = ld->dir;
	int nerr = ld->nerr;
	config_t lc;

	if (path == NULL)
		return 0;
	config_init(&lc);
	note_file(ld, path);
	ld->file = path;
	ld->dir = NULL;
	if (config_read_file(&lc, path) != CONFIG_TRUE) {
		if (config_error_type(&lc) == CONFIG_ERR_FILE_IO)
			sbuf_printf(ld->err, "%s:0: cannot read the calendar of %d\n", path, year);
		else
			sbuf_printf(ld->err, "%s:%d: %s\n", path, config_error_line(&lc),
				    config_error_text(&lc));
		ld->nerr++;
	} else {
		const config_setting_t *root = config_root_setting(&lc);
		check_keys(ld, root, "a calendar file", top);
		const config_setting_t *g =
			get_group(ld, root, "a calendar file", "calendar", true);
		if (g) {
			check_keys(ld, g, "calendar", keys);
			const config_setting_t *y = member(g, "year");
			if (y == NULL || config_setting_type(y) != CONFIG_TYPE_INT ||
			    config_setting_get_int(y) != year)
				error_at(ld, y ? y : g,
					 "calendar: year must be %d, the file's year", year);
			get_string(ld, g, "calendar", "source", NULL);
			const config_setting_t *ns = get_list(ld, g, "calendar", "notices", true);
			const char *first = ns ? config_setting_get_string_elem(ns, 0) : NULL;
			snprintf(notice, len, "%s", first ? first : "");
			load_days(ld, g, "calendar", c, 0, year, year, true);
		}
	}
	config_destroy(&lc);
	ld->file = file;
	ld->dir = dir;
	free(path);
	return ld->nerr > nerr ? -1 : 1;
}

/*
 * The working days of the plan being read (PLAN its group): its own
 * calendar (plan.calendar a group, over the plan year and the next),
 * kaohe.conf's calendar group LEGACY ("MM-DD" of the plan year), or the
 * official calendars of the plan year (needed) and the next (when
 * installed).  kaohed --calendar weekdays, and --year (the official
 * calendar of that year), decide first.
 */
static void load_plan_calendar(struct loader *ld, const config_setting_t *plan,
			       const config_setting_t *legacy)
{
	static const char *const keys[] = { "holidays", "workdays", NULL };
	struct plan *p = ld->p;
	struct calendar *c = &p->cal;
	const config_setting_t *own = member(plan, "calendar"), *at = member(plan, "year") ?: plan;
	bool group = own && config_setting_type(own) == CONFIG_TYPE_GROUP;

	if (own && !group &&
	    (config_setting_type(own) != CONFIG_TYPE_STRING ||
	     strcmp(config_setting_get_string(own), "official") != 0)) {
		error_at(ld, own,
			 "plan: calendar must be \"official\" or a group "
			 "{ holidays = [ … ]; workdays = [ … ]; }");
		return;
	}
	if (group && legacy) {
		error_at(ld, legacy,
			 "calendar: the plan has a calendar of its own (plan.calendar): give it in "
			 "one place");
		return;
	}
	if (own && legacy)
		warn_at(ld, legacy,
			"calendar: this group is the plan's calendar, not the official one its "
			"calendar setting names; remove one of the two");
	if (ld->opts.weekdays) {
		c->next_known = true;
		snprintf(c->source, sizeof(c->source), "Monday to Friday (--calendar weekdays)");
		warn_at(ld, at,
			"plan %d: --calendar weekdays: Monday to Friday are the working days, "
			"without the holidays and make-up days of an official calendar",
			p->year);
		return;
	}
	if (plan_redated(p) && (group || legacy)) {
		warn_at(ld, group ? own : legacy,
			"the plan of %d is run for %d (--year): %s of %d is not used; the official "
			"calendar of %d is",
			p->written_year, p->year, group ? "its calendar" : "the calendar group",
			p->written_year, p->year);
		group = false;
		legacy = NULL;
	}
	if (group) {
		check_keys(ld, own, "plan.calendar", keys);
		load_days(ld, own, "plan.calendar", c, 0, p->year, p->year + 1, false);
		c->next_known = true;
		snprintf(c->source, sizeof(c->source), "the plan's own (plan.calendar)");
		return;
	}
	if (legacy) {
		check_keys(ld, legacy, "calendar", keys);
		load_days(ld, legacy, "calendar", c, p->year, p->year, p->year + 1, false);
		snprintf(c->source, sizeof(c->source), "kaohe.conf's calendar group");
		return;
	}
	struct sbuf searched;
	char notice[160] = "", next[160] = "";
	sbuf_init(&searched);
	int rc = load_official(ld, p->year, c, notice, sizeof(notice), &searched);
	if (rc == 0 && plan_redated(p))
		error_at(ld, at,
			 "--year %d: no working-day calendar of %d is installed (looked for %s); "
			 "add it (README: A new year's calendar), or run with --calendar weekdays",
			 p->year, p->year, searched.buf);
	else if (rc == 0)
		error_at(ld, at,
			 "plan: no working-day calendar of %d is installed (looked for %s); add it "
			 "(README: A new year's calendar), or give the plan its own (plan.calendar "
			 "= { holidays = [ … ]; workdays = [ … ]; })",
			 p->year, searched.buf);
	sbuf_free(&searched);
	if (rc <= 0)
		return;
	c->next_known = load_official(ld, p->year + 1, c, next, sizeof(next), NULL) > 0;
	snprintf(c->source, sizeof(c->source), "the official calendar of %d (%s)%s", p->year,
		 notice, c->next_known ? " and of the next year" : "");
}

/*
 * A plan whose next year has no calendar yet counts Monday to Friday
 * there: say so when a reminder of the plan falls there, since a day off
 * may then be taken for a working day (at: the plan's year setting).
 */
static void check_next_year(struct loader *ld, const config_setting_t *at)
{
	const struct plan *p = ld->p;
	const struct calendar *c = &p->cal;
	int32_t next = calendar_days_from_civil(p->year + 1, 1, 1);

	if (c->next_known || !c->reminders.shift_to_workdays)
		return;
	for (size_t i = 0; i < p->noccs; i++) {
		struct slot *slots;
		size_t n =
			calendar_slots(c, &p->occs[i].sched, p->occs[i].type == OCC_RECORD, &slots);
		bool late = n > 0 && calendar_day_of(slots[n - 1].at, NULL) >= next;
		free(slots);
		if (late) {
			warn_at(ld, at,
				"plan %d: reminders of %s fall in %d, which has no working-day "
				"calendar yet: Monday to Friday count as working days there until "
				"it is installed (README: A new year's calendar)",
				p->year, p->occs[i].name, p->year + 1);
			return;
		}
	}
}

static void load_slots(struct loader *ld, const config_setting_t *g, const char *name,
		       struct slot_spec **out, size_t *n, const char *const *def, size_t ndef)
{
	const config_setting_t *arr = get_list(ld, g, "reminders", name, false);
	char err[256];

	if (arr == NULL) {
		*out = xcalloc(ndef, sizeof(**out));
		for (size_t i = 0; i < ndef; i++)
			calendar_parse_slot(def[i], &(*out)[i], err, sizeof(err));
		*n = ndef;
		return;
	}
	*n = 0;
	*out = xcalloc((size_t)config_setting_length(arr), sizeof(**out));
	for (int i = 0; i < config_setting_length(arr); i++) {
		const config_setting_t *e = config_setting_get_elem(arr, (unsigned)i);
		const char *txt = config_setting_get_string(e);
		if (txt == NULL) {
			error_at(ld, e, "reminders: %s must hold strings", name);
		} else if (calendar_parse_slot(txt, &(*out)[*n], err, sizeof(err)) < 0) {
			error_at(ld, e, "reminders: %s: %s", name, err);
		} else {
			(*n)++;
		}
	}
}

static void load_reminders(struct loader *ld, const config_setting_t *root)
{
	static const char *const keys[] = { "before",
					    "due",
					    "overdue",
					    "escalate",
					    "record",
					    "shift_to_workdays",
					    "not_before_in_force",
					    "admins",
					    "templates",
					    NULL };
	static const char *const def_before[] = { "-7d@09:00", "-3d@09:00", "-1d@09:00" };
	static const char *const def_due[] = { "0d@09:00" };
	const config_setting_t *g = get_group(ld, root, "configuration", "reminders", false);
	struct reminder_policy *r = &ld->policy;
	char err[256];

	if (g)
		check_keys(ld, g, "reminders", keys);
	load_slots(ld, g, "before", &r->before, &r->nbefore, def_before, 3);
	load_slots(ld, g, "due", &r->due, &r->ndue, def_due, 1);
	load_slots(ld, g, "record", &r->record, &r->nrecord, def_due, 1);
	r->escalate = get_bool(ld, g, "reminders", "escalate", true);
	r->shift_to_workdays = get_bool(ld, g, "reminders", "shift_to_workdays", true);
	r->not_before_in_force = get_bool(ld, g, "reminders", "not_before_in_force", true);

	const config_setting_t *o = member(g, "overdue");
	const char *first = "+1d@09:00", *every = "3d";
	r->has_overdue = true;
	if (o && config_setting_type(o) == CONFIG_TYPE_GROUP) {
		static const char *const okeys[] = { "first", "every", NULL };
		check_keys(ld, o, "reminders.overdue", okeys);
		first = get_string(ld, o, "reminders.overdue", "first", first);
		every = get_string(ld, o, "reminders.overdue", "every", every);
	} else if (o && config_setting_type(o) == CONFIG_TYPE_BOOL && !config_setting_get_bool(o)) {
		r->has_overdue = false;
	} else if (o) {
		error_at(ld, o,
			 "reminders: overdue must be a group { first = …; every = …; } or false");
	}
	if (calendar_parse_slot(first, &r->overdue_first, err, sizeof(err)) < 0)
		error_at(ld, member(o, "first") ?: g, "reminders.overdue: %s", err);
	if (calendar_parse_duration(every, &r->overdue_every) < 0)
		error_at(ld, member(o, "every") ?: g,
			 "reminders.overdue: every \"%s\" is not a duration such as \"3d\"", every);
}

static struct slot_spec *dup_slots(const struct slot_spec *v, size_t n)
{
	struct slot_spec *d = xcalloc(n + 1, sizeof(*d));
	memcpy(d, v, n * sizeof(*d));
	return d;
}

/* The reminder policy, read once, into each plan's calendar. */
static void copy_policy(struct reminder_policy *dst, const struct reminder_policy *src)
{
	*dst = *src;
	dst->before = dup_slots(src->before, src->nbefore);
	dst->due = dup_slots(src->due, src->ndue);
	dst->record = dup_slots(src->record, src->nrecord);
}

/* The dues a row's setting lists, in its order. */
struct dues {
	int32_t *days;
	int64_t *ats; /* the instant of a date-time due, else INT64_MIN */
	size_t n, days_cap, ats_cap;
};

static void dues_add(struct dues *d, int32_t day, int64_t at)
{
	util_reserve(&d->days, &d->days_cap, d->n + 1, sizeof(*d->days));
	util_reserve(&d->ats, &d->ats_cap, d->n + 1, sizeof(*d->ats));
	d->days[d->n] = day;
	d->ats[d->n] = at;
	d->n++;
}

/*
 * One element E of a row's due into D: a recurrence's days (ALONE: the
 * only element), a date-time, or a day of the plan year.
 */
static void load_due_one(struct loader *ld, const config_setting_t *e, const char *what, bool alone,
			 struct dues *d)
{
	struct plan *p = ld->p;
	const char *txt = config_setting_get_string(e);
	int32_t *exp = NULL, day;
	int64_t at = INT64_MIN;

	if (txt == NULL) {
		error_at(ld, e, "%s must hold strings", what);
		return;
	}
	int k = calendar_expand(&p->cal, txt, &exp);
	if (k >= 0) {
		if (!alone) {
			error_at(ld, e, "%s: \"%s\" cannot stand in a list", what, txt);
			free(exp);
			return;
		}
		for (int j = 0; j < k; j++)
			dues_add(d, exp[j], INT64_MIN);
		free(exp);
		if (k == 0)
			warn_at(ld, e, "%s: \"%s\" has no occurrence while the plan is in force",
				what, txt);
		return;
	}
	if (strchr(txt, 'T')) {
		if (calendar_parse_instant(txt, true, &at) < 0) {
			error_at(ld, e,
				 "%s: bad date-time \"%s\" (expected e.g. "
				 "2020-09-15T18:00:00+08:00)",
				 what, txt);
			return;
		}
		day = calendar_day_of(at, NULL);
		if (!calendar_in_year(&p->cal, day)) {
			error_at(ld, e, "%s: \"%s\" is outside the plan year %d", what, txt,
				 p->year);
			return;
		}
	} else if (strncmp(txt, "quarterly", 9) == 0 || strncmp(txt, "monthly", 7) == 0) {
		error_at(ld, e, "%s: bad recurrence \"%s\" (expected quarterly:DD or monthly:DD)",
			 what, txt);
		return;
	} else if (day_of(ld, e, what, txt, &day) < 0) {
		return;
	}
	if (day < p->cal.first_day || day > p->cal.last_day)
		warn_at(ld, e, "%s: \"%s\" falls outside the period in force", what, txt);
	dues_add(d, day, at);
}

/* Append the occurrences of DUE (a setting of row R) to the plan. */
static void load_due(struct loader *ld, const config_setting_t *due, int row, enum occ_type type)
{
	struct plan *p = ld->p;
	struct dues d = { 0 };
	char what[128];
	int t = config_setting_type(due);

	snprintf(what, sizeof(what), "row %s: due", p->rows[row].id);
	if (t != CONFIG_TYPE_STRING && t != CONFIG_TYPE_ARRAY && t != CONFIG_TYPE_LIST) {
		error_at(ld, due, "%s must be a string or a list of strings", what);
		return;
	}
	int n = t == CONFIG_TYPE_STRING ? 1 : config_setting_length(due);
	for (int i = 0; i < n; i++) {
		const config_setting_t *e =
			t == CONFIG_TYPE_STRING ? due : config_setting_get_elem(due, (unsigned)i);
		load_due_one(ld, e, what, n == 1, &d);
	}
	for (size_t i = 0; i < d.n; i++) {
		struct plan_occ o = { .row = row, .type = type };
		o.sched.due_day = d.days[i];
		o.sched.timed = d.ats[i] != INT64_MIN;
		o.sched.due_at = o.sched.timed ? d.ats[i] : 0;
		for (size_t j = 0; j < i; j++)
			if (d.days[j] == d.days[i]) {
				error_at(ld, due, "%s: two occurrences on the same day", what);
				break;
			}
		size_t ocap = p->noccs;
		util_reserve(&p->occs, &ocap, p->noccs + 1, sizeof(*p->occs));
		calendar_schedule(&p->cal, &o.sched);
		p->occs[p->noccs++] = o;
	}
	free(d.days);
	free(d.ats);
}

static void load_kinds(struct loader *ld, const config_setting_t *g, struct plan_row *r, bool award)
{
	const char *name = award ? "awards" : "findings";
	const config_setting_t *l = get_list(ld, g, r->id, name, false);
	static const char *const keys[] = { "kind", "name", "points", "cap", NULL };
	char what[160];

	for (int i = 0; l && i < config_setting_length(l); i++) {
		const config_setting_t *e = config_setting_get_elem(l, (unsigned)i);
		snprintf(what, sizeof(what), "row %s: %s", r->id, name);
		if (config_setting_type(e) != CONFIG_TYPE_GROUP) {
			error_at(ld, e,
				 "%s: each element must be a group { kind = …; points = …; }",
				 what);
			continue;
		}
		check_keys(ld, e, what, keys);
		const char *kind = get_string(ld, e, what, "kind", NULL);
		struct plan_kind k = { .award = award, .cap = -1 };
		if (kind == NULL)
			continue;
		if (!valid_id(kind)) {
			error_at(ld, member(e, "kind"),
				 "%s: kind \"%s\" may only hold letters, digits, '-' and '_'", what,
				 kind);
			continue;
		}
		if (plan_kind_find(r, kind) >= 0) {
			error_at(ld, member(e, "kind"), "row %s: duplicate kind \"%s\"", r->id,
				 kind);
			continue;
		}
		snprintf(what, sizeof(what), "row %s: kind %s", r->id, kind);
		if (get_points(ld, e, what, "points", true, &k.per) < 0)
			continue;
		if (k.per == 0)
			error_at(ld, member(e, "points"), "%s: points must be more than 0", what);
		if (member(e, "cap") && get_points(ld, e, what, "cap", false, &k.cap) == 0 &&
		    k.cap == 0)
			error_at(ld, member(e, "cap"), "%s: cap must be more than 0", what);
		k.id = xstrdup(kind);
		k.name = xstrdup(get_string(ld, e, what, "name", kind));
		r->kinds = xrealloc(r->kinds, (r->nkinds + 1) * sizeof(*r->kinds));
		r->kinds[r->nkinds++] = k;
	}
}

static int metric_ref(struct loader *ld, const config_setting_t *e, const char *what)
{
	const char *m = get_string(ld, e, what, "metric", NULL);
	if (m == NULL)
		return -1;
	int i = plan_metric_find(ld->p, m);
	if (i < 0)
		error_at(ld, member(e, "metric"), "%s: unknown metric \"%s\"", what, m);
	return i;
}

static void load_thresholds(struct loader *ld, const config_setting_t *g, struct plan_row *r)
{
	const config_setting_t *l = get_list(ld, g, r->id, "thresholds", false);
	static const char *const keys[] = { "points", "any", NULL };
	static const char *const ckeys[] = { "metric", "min", NULL };
	char what[128];

	snprintf(what, sizeof(what), "row %s: threshold", r->id);
	for (int i = 0; l && i < config_setting_length(l); i++) {
		const config_setting_t *e = config_setting_get_elem(l, (unsigned)i);
		struct plan_threshold t = { 0 };
		if (config_setting_type(e) != CONFIG_TYPE_GROUP) {
			error_at(ld, e, "%s: each element must be a group", what);
			continue;
		}
		check_keys(ld, e, what, keys);
		get_points(ld, e, what, "points", true, &t.points);
		const config_setting_t *any = get_list(ld, e, what, "any", true);
		int n = any ? config_setting_length(any) : 0;
		if (any && n == 0)
			error_at(ld, any, "%s: \"any\" lists no condition", what);
		t.any = xcalloc((size_t)n + 1, sizeof(*t.any));
		for (int j = 0; j < n; j++) {
			const config_setting_t *c = config_setting_get_elem(any, (unsigned)j);
			if (config_setting_type(c) != CONFIG_TYPE_GROUP) {
				error_at(ld, c,
					 "%s: a condition must be a group { metric = …; min = …; }",
					 what);
				continue;
			}
			check_keys(ld, c, what, ckeys);
			int m = metric_ref(ld, c, what);
			const config_setting_t *min = member(c, "min");
			int64_t v = 0;
			if (min == NULL || !is_number(min)) {
				error_at(ld, min ? min : c, "%s: \"min\" must be a number", what);
				continue;
			}
			v = llround(number_of(min) * 10000.0);
			if (m >= 0)
				t.any[t.nany++] = (struct plan_condition){ .metric = m, .min = v };
		}
		r->thresholds =
			xrealloc(r->thresholds, (r->nthresholds + 1) * sizeof(*r->thresholds));
		r->thresholds[r->nthresholds++] = t;
	}
}

static void load_ranking(struct loader *ld, const config_setting_t *g, struct plan_row *r)
{
	const config_setting_t *s = get_group(ld, g, r->id, "ranking", false);
	static const char *const keys[] = { "metric", "worst", "points", NULL };
	char what[128];

	if (s == NULL)
		return;
	snprintf(what, sizeof(what), "row %s: ranking", r->id);
	check_keys(ld, s, what, keys);
	struct plan_ranking *rk = xcalloc(1, sizeof(*rk));
	rk->metric = metric_ref(ld, s, what);
	const char *worst = get_string(ld, s, what, "worst", "highest");
	rk->highest_worst = strcmp(worst, "highest") == 0;
	if (!rk->highest_worst && strcmp(worst, "lowest") != 0)
		error_at(ld, member(s, "worst"), "%s: worst must be \"highest\" or \"lowest\"",
			 what);
	const config_setting_t *pts = get_list(ld, s, what, "points", true);
	int n = pts ? config_setting_length(pts) : 0;
	rk->points = xcalloc((size_t)n + 1, sizeof(*rk->points));
	for (int i = 0; i < n; i++)
		if (points_of(ld, config_setting_get_elem(pts, (unsigned)i), what,
			      &rk->points[rk->npoints]) == 0)
			rk->npoints++;
	r->ranking = rk;
}

/* The "（满分N分）" a row's standard text states, in hundredths; -1 if none. */
static int64_t stated_max(const char *text)
{
	const char *m = text ? strstr(text, "满分") : NULL;
	char num[32];
	size_t n = 0;
	int64_t v;

	if (m == NULL)
		return -1;
	m += strlen("满分");
	while ((m[n] >= '0' && m[n] <= '9') || m[n] == '.') {
		if (n + 1 >= sizeof(num))
			return -1;
		num[n] = m[n];
		n++;
	}
	num[n] = '\0';
	if (n == 0 || strncmp(m + n, "分", strlen("分")) != 0 || util_parse_fixed(num, 2, &v) < 0)
		return -1;
	return v;
}

/* True when the scoring text has a 扣 followed by no amount ("扣、"). */
static bool deduction_without_amount(const char *text)
{
	static const char *const stops[] = { "、", "，", "。", "；", "\n", NULL };
	const char *k = text;
	while (text && (k = strstr(k, "扣")) != NULL) {
		k += strlen("扣");
		if (*k == '\0')
			return true;
		for (const char *const *s = stops; *s; s++)
			if (strncmp(k, *s, strlen(*s)) == 0)
				return true;
	}
	return false;
}

/* Row R's columns from E: 序号, category, department, 分值, the texts. */
static void load_row_columns(struct loader *ld, const config_setting_t *e, struct plan_row *r,
			     const char *what)
{
	struct plan *p = ld->p;
	const config_setting_t *seq = member(e, "seq");

	if (seq && config_setting_type(seq) == CONFIG_TYPE_INT)
		r->seq = xasprintf("%d", config_setting_get_int(seq));
	else
		r->seq = dup_or_null(get_string(ld, e, what, "seq", ""));
	if (r->seq && r->seq[0] == '\0') {
		free(r->seq);
		r->seq = NULL;
	}
	r->annex_category = xstrdup(get_string(ld, e, what, "annex_category", "") ?: "");
	const char *cat = get_string(ld, e, what, "category", NULL);
	if (cat && (r->category = plan_category_find(p, cat)) < 0)
		error_at(ld, member(e, "category"), "%s: unknown category \"%s\"", what, cat);
	const char *dept = get_string(ld, e, what, "department", NULL);
	if (dept && (r->dept = plan_dept_find(p, dept)) < 0)
		error_at(ld, member(e, "department"), "%s: unknown department \"%s\"", what, dept);
	get_points(ld, e, what, "max", true, &r->max);
	r->content = xstrdup(get_string(ld, e, what, "content", NULL) ?: "");
	r->time_node = xstrdup(get_string(ld, e, what, "time_node", "") ?: "");
	r->standard = xstrdup(get_string(ld, e, what, "standard", NULL) ?: "");
	r->scoring = xstrdup(get_string(ld, e, what, "scoring", NULL) ?: "");
	r->submit = xstrdup(get_string(ld, e, what, "submit", "") ?: "");
	r->earn = get_bool(ld, e, what, "earn", false);
}

/*
 * Row IDX's time node from E: a deadline (its due, late and missing
 * points) or a record node (its due), and their occurrences.
 */
static void load_row_node(struct loader *ld, const config_setting_t *e, int idx, const char *what)
{
	struct plan *p = ld->p;
	struct plan_row *r = &p->rows[idx];
	const config_setting_t *dl = get_group(ld, e, what, "deadline", false);
	const config_setting_t *rec = get_group(ld, e, what, "record", false);

	r->occ_first = p->noccs;
	if (dl && rec)
		error_at(ld, rec, "%s: a row has either a deadline or a record node, not both",
			 what);
	if (dl) {
		static const char *const dkeys[] = { "due", "late", "missing", NULL };
		char dwhat[128];
		snprintf(dwhat, sizeof(dwhat), "row %s: deadline", r->id);
		check_keys(ld, dl, dwhat, dkeys);
		r->has_deadline = true;
		get_points(ld, dl, dwhat, "late", true, &r->late);
		if (get_points(ld, dl, dwhat, "missing", false, &r->missing) < 0 &&
		    member(dl, "missing") == NULL)
			r->missing = -1; /* filled from missing_default */
		const config_setting_t *due = member(dl, "due");
		if (due == NULL)
			error_at(ld, dl, "%s: missing setting \"due\"", dwhat);
		else
			load_due(ld, due, idx, OCC_DEADLINE);
	} else if (rec) {
		static const char *const rkeys[] = { "due", NULL };
		check_keys(ld, rec, what, rkeys);
		const config_setting_t *due = member(rec, "due");
		if (due == NULL)
			error_at(ld, rec, "%s: record: missing setting \"due\"", what);
		else
			load_due(ld, due, idx, OCC_RECORD);
	}
	r->nocc = p->noccs - r->occ_first;
}

/* The seed's own inconsistencies in row R's texts (E), as warnings. */
static void check_row_texts(struct loader *ld, const config_setting_t *e, const struct plan_row *r)
{
	int64_t stated = stated_max(r->standard);
	if (stated >= 0 && stated != r->max) {
		char a[32], b[32];
		util_format_fixed(stated, 2, a, sizeof(a));
		util_format_fixed(r->max, 2, b, sizeof(b));
		warn_at(ld, member(e, "standard"),
			"row %s: the text says 满分%s分 but the 分值 column (max) is %s; %s is used",
			r->id, a, b, b);
	}
	if (deduction_without_amount(r->scoring))
		warn_at(ld, member(e, "scoring"),
			"row %s: the scoring text names a deduction (扣) without its amount",
			r->id);
}

static void load_row(struct loader *ld, const config_setting_t *e, int idx)
{
	static const char *const keys[] = {
		"id",         "seq",      "annex_category", "category", "department",
		"max",        "content",  "time_node",      "standard", "scoring",
		"earn",       "deadline", "record",         "findings", "awards",
		"thresholds", "ranking",  "submit",         NULL
	};
	struct plan *p = ld->p;
	struct plan_row *r = &p->rows[idx];
	char what[96];
	const char *id = get_id(ld, e, "row");

	r->line = (int)config_setting_source_line(e);
	/* An occurrence is named ROW@YYYY-MM-DD in 39 bytes. */
	if (id && strlen(id) > 28) {
		error_at(ld, member(e, "id"), "row id \"%s\" is longer than 28 characters", id);
		id = NULL;
	}
	r->id = xstrdup(id ? id : "?");
	r->category = r->dept = -1;
	snprintf(what, sizeof(what), "row %s", r->id);
	check_keys(ld, e, what, keys);
	if (id && plan_row_find(p, id) != idx)
		error_at(ld, member(e, "id"), "duplicate row id \"%s\"", id);
	load_row_columns(ld, e, r, what);
	load_row_node(ld, e, idx, what);
	load_kinds(ld, e, r, false);
	load_kinds(ld, e, r, true);
	load_thresholds(ld, e, r);
	load_ranking(ld, e, r);
	check_row_texts(ld, e, r);
}

static void load_rows(struct loader *ld, const config_setting_t *plan, const char *missing_default)
{
	struct plan *p = ld->p;
	const config_setting_t *rows = get_list(ld, plan, "plan", "rows", true);
	int n = rows ? config_setting_length(rows) : 0;

	p->rows = xcalloc((size_t)n + 1, sizeof(*p->rows));
	for (int i = 0; i < n; i++) {
		const config_setting_t *e = config_setting_get_elem(rows, (unsigned)i);
		if (config_setting_type(e) != CONFIG_TYPE_GROUP) {
			error_at(ld, e, "plan: rows: element %d must be a group { … }", i + 1);
			continue;
		}
		p->nrows++;
		load_row(ld, e, (int)p->nrows - 1);
		struct plan_row *r = &p->rows[p->nrows - 1];
		if (r->has_deadline && r->missing < 0)
			r->missing = strcmp(missing_default, "zero") == 0 ? 0 : r->late;
		for (size_t j = 0; j + 1 < p->nrows; j++)
			if (r->seq && p->rows[j].seq && strcmp(r->seq, p->rows[j].seq) == 0)
				warn_at(ld, member(e, "seq"),
					"row %s: 序号 %s is printed again (already on row %s)",
					r->id, r->seq, p->rows[j].id);
	}
	if (rows && n == 0)
		error_at(ld, rows, "plan: rows: the plan has no row");
}

struct unit_key {
	const char *key;
	size_t idx;
};

/* By key, then by position, so the later duplicate is the one reported. */
static int cmp_unit_key(const void *a, const void *b)
{
	const struct unit_key *x = a, *y = b;
	int c = strcmp(x->key, y->key);
	return c ? c : (x->idx > y->idx) - (x->idx < y->idx);
}

/* Where a unit's id and name were written, for the duplicates found later. */
struct unit_where {
	const char *file; /* as libconfig names it; NULL: the plan file */
	int line[2];      /* of its id, and of its name */
};

static void note_where(struct unit_where *w, const config_setting_t *e)
{
	const config_setting_t *m[2] = { member(e, "id"), member(e, "name") };
	w->file = config_setting_source_file(e);
	for (int k = 0; k < 2; k++)
		w->line[k] = (int)config_setting_source_line(m[k] ? m[k] : e);
}

/* The unit of element E (the Ith of the list), added to the plan. */
static void load_unit(struct loader *ld, const config_setting_t *e, int i, struct unit_where *w)
{
	static const char *const keys[] = { "id", "name", "liaisons", "leader", NULL };
	struct plan *p = ld->p;
	struct plan_unit *u = &p->units[p->nunits];
	char what[96];

	if (config_setting_type(e) != CONFIG_TYPE_GROUP) {
		error_at(ld, e, "plan: units: element %d must be a group", i + 1);
		return;
	}
	const char *id = get_id(ld, e, "unit");
	/* all.ics is every unit's feed: no unit may take that name. */
	if (id && strcmp(id, "all") == 0) {
		error_at(ld, member(e, "id"),
			 "unit: id \"all\" is reserved (the feed all.ics "
			 "holds every unit)");
		id = NULL;
	}
	snprintf(what, sizeof(what), "unit %s", id ? id : "?");
	check_keys(ld, e, what, keys);
	u->id = xstrdup(id ? id : "?");
	u->name = xstrdup(get_string(ld, e, what, "name", NULL) ?: u->id);
	note_where(&w[p->nunits], e);
	const config_setting_t *li = get_list(ld, e, what, "liaisons", false);
	int nl = li ? config_setting_length(li) : 0;
	u->liaisons = xcalloc((size_t)nl + 1, sizeof(*u->liaisons));
	for (int j = 0; j < nl; j++) {
		const config_setting_t *c = config_setting_get_elem(li, (unsigned)j);
		if (config_setting_type(c) != CONFIG_TYPE_GROUP) {
			error_at(ld, c, "%s: a liaison must be a group { name = …; email = …; }",
				 what);
			continue;
		}
		load_contact(ld, c, what, &u->liaisons[u->nliaisons++]);
	}
	const config_setting_t *leader = get_group(ld, e, what, "leader", false);
	if (leader)
		load_contact(ld, leader, what, &u->leader);
	else
		u->leader.name = xstrdup("");
	p->nunits++;
}

/*
 * The units of a list read in batches (ld->units): each batch is a tree
 * of its own, gone before the next is read.  False at a batch libconfig
 * cannot read: the file is then read whole (see read_plan_file()).
 */
static bool load_unit_batches(struct loader *ld, struct unit_where *w)
{
	const struct planfile *pf = ld->units;

	for (size_t first = 0; first < pf->nel; first += PLANFILE_BATCH) {
		size_t n = pf->nel - first < PLANFILE_BATCH ? pf->nel - first : PLANFILE_BATCH;
		char *text = planfile_batch(pf, first, n);
		config_t bc;
		config_init(&bc);
		bool ok = config_read_string(&bc, text) == CONFIG_TRUE;
		if (ok) {
			const config_setting_t *l = config_lookup(&bc, "units");
			for (size_t i = 0; i < n; i++)
				load_unit(ld, config_setting_get_elem(l, (unsigned)i),
					  (int)(first + i), w);
		}
		config_destroy(&bc);
		free(text);
		if (!ok)
			return false;
	}
	return true;
}

static void load_units(struct loader *ld, const config_setting_t *plan)
{
	struct plan *p = ld->p;
	const config_setting_t *l = get_list(ld, plan, "plan", "units", true);
	size_t n = ld->units ? ld->units->nel : l ? (size_t)config_setting_length(l) : 0;

	struct unit_where *w = xcalloc(n + 1, sizeof(*w));
	p->units = xcalloc(n + 1, sizeof(*p->units));
	if (ld->units)
		ld->units_unread = !load_unit_batches(ld, w);
	else
		for (size_t i = 0; i < n; i++)
			load_unit(ld, config_setting_get_elem(l, (unsigned)i), (int)i, w);
	if (l && n == 0)
		error_at(ld, l, "plan: units: the plan assesses no unit");
	/* Duplicates by sorting: a plan may have tens of thousands of units. */
	for (int pass = 0; pass < 2; pass++) {
		struct unit_key *k = xmalloc((p->nunits + 1) * sizeof(*k));
		for (size_t i = 0; i < p->nunits; i++)
			k[i] = (struct unit_key){ pass ? p->units[i].name : p->units[i].id, i };
		qsort(k, p->nunits, sizeof(*k), cmp_unit_key);
		for (size_t i = 1; i < p->nunits; i++)
			if (strcmp(k[i].key, k[i - 1].key) == 0)
				error_line(ld, w[k[i].idx].file, w[k[i].idx].line[pass],
					   "duplicate unit %s \"%s\"", pass ? "name" : "id",
					   k[i].key);
		free(k);
	}
	free(w);
}

static void load_small_lists(struct loader *ld, const config_setting_t *plan)
{
	struct plan *p = ld->p;
	const config_setting_t *l;

	l = get_list(ld, plan, "plan", "departments", true);
	p->depts = xcalloc((size_t)(l ? config_setting_length(l) : 0) + 1, sizeof(*p->depts));
	for (int i = 0; l && i < config_setting_length(l); i++) {
		static const char *const keys[] = { "id", "name", "office", NULL };
		const config_setting_t *e = config_setting_get_elem(l, (unsigned)i);
		const char *id = get_id(ld, e, "department");
		if (id == NULL)
			continue;
		check_keys(ld, e, "department", keys);
		if (plan_dept_find(p, id) >= 0)
			error_at(ld, member(e, "id"), "duplicate department id \"%s\"", id);
		struct plan_dept *d = &p->depts[p->ndepts++];
		d->id = xstrdup(id);
		d->name = xstrdup(get_string(ld, e, "department", "name", id));
		const config_setting_t *o = get_group(ld, e, "department", "office", false);
		if (o)
			load_contact(ld, o, "department office", &d->office);
		else
			d->office.name = xstrdup("");
	}

	l = get_list(ld, plan, "plan", "categories", true);
	p->cats = xcalloc((size_t)(l ? config_setting_length(l) : 0) + 1, sizeof(*p->cats));
	for (int i = 0; l && i < config_setting_length(l); i++) {
		static const char *const keys[] = { "id", "name", "max", "annex", NULL };
		const config_setting_t *e = config_setting_get_elem(l, (unsigned)i);
		const char *id = get_id(ld, e, "category");
		if (id == NULL)
			continue;
		check_keys(ld, e, "category", keys);
		if (plan_category_find(p, id) >= 0)
			error_at(ld, member(e, "id"), "duplicate category id \"%s\"", id);
		struct plan_category *c = &p->cats[p->ncats++];
		c->id = xstrdup(id);
		c->name = xstrdup(get_string(ld, e, "category", "name", id));
		get_points(ld, e, "category", "max", true, &c->max);
	}

	l = get_list(ld, plan, "plan", "metrics", false);
	p->metrics = xcalloc((size_t)(l ? config_setting_length(l) : 0) + 1, sizeof(*p->metrics));
	for (int i = 0; l && i < config_setting_length(l); i++) {
		static const char *const keys[] = { "id", "name", "unit", NULL };
		const config_setting_t *e = config_setting_get_elem(l, (unsigned)i);
		const char *id = get_id(ld, e, "metric");
		if (id == NULL)
			continue;
		check_keys(ld, e, "metric", keys);
		if (plan_metric_find(p, id) >= 0)
			error_at(ld, member(e, "id"), "duplicate metric id \"%s\"", id);
		struct plan_metric *m = &p->metrics[p->nmetrics++];
		m->id = xstrdup(id);
		m->name = xstrdup(get_string(ld, e, "metric", "name", id));
		m->unit = xstrdup(get_string(ld, e, "metric", "unit", ""));
	}
}

/* Each category's rows add up to its max, and the categories to the total. */
static void check_sums(struct loader *ld, const config_setting_t *plan)
{
	struct plan *p = ld->p;
	const config_setting_t *cats = member(plan, "categories");
	int64_t sum_cats = 0;

	for (size_t c = 0; c < p->ncats; c++) {
		int64_t sum = 0;
		for (size_t i = 0; i < p->nrows; i++)
			if (p->rows[i].category == (int)c)
				sum += p->rows[i].max;
		sum_cats += p->cats[c].max;
		if (sum != p->cats[c].max) {
			char a[32], b[32];
			util_format_fixed(sum, 2, a, sizeof(a));
			util_format_fixed(p->cats[c].max, 2, b, sizeof(b));
			error_at(ld, config_setting_get_elem(cats, (unsigned)c),
				 "category %s: its rows' maxima add up to %s, not its max %s",
				 p->cats[c].id, a, b);
		}
	}
	if (sum_cats != p->total) {
		char a[32], b[32];
		util_format_fixed(sum_cats, 2, a, sizeof(a));
		util_format_fixed(p->total, 2, b, sizeof(b));
		error_at(ld, member(plan, "total") ?: cats,
			 "plan: the categories' maxima add up to %s, not the total %s", a, b);
	}
}

/* plan.track_from: the adoption instant of a fresh database (00:00 of that day). */
static void load_track_from(struct loader *ld, const config_setting_t *plan)
{
	struct plan *p = ld->p;
	const config_setting_t *t = member(plan, "track_from");
	const char *txt = get_string(ld, plan, "plan", "track_from", "");
	int32_t day;

	if (t == NULL || txt == NULL || *txt == '\0')
		return;
	if (calendar_parse_day(txt, p->year, &day) < 0) {
		error_at(ld, t, "plan: bad track_from \"%s\" (expected MM-DD or YYYY-MM-DD)", txt);
		return;
	}
	if (!calendar_in_year(&p->cal, day)) {
		error_at(ld, t, "plan: track_from \"%s\" is outside the plan year %d", txt,
			 p->year);
		return;
	}
	p->track_from = calendar_instant(day, 0);
}

/* plan.in_force: the days of the year the plan applies to, into calendar C. */
static void load_in_force(struct loader *ld, const config_setting_t *plan, struct calendar *c)
{
	const config_setting_t *inf = get_group(ld, plan, "plan", "in_force", false);
	if (inf) {
		static const char *const ikeys[] = { "from", "to", NULL };
		check_keys(ld, inf, "plan.in_force", ikeys);
		const char *from = get_string(ld, inf, "plan.in_force", "from", "01-01");
		const char *to = get_string(ld, inf, "plan.in_force", "to", "12-31");
		day_of(ld, member(inf, "from") ?: inf, "plan.in_force", from, &c->first_day);
		day_of(ld, member(inf, "to") ?: inf, "plan.in_force", to, &c->last_day);
		if (c->last_day < c->first_day)
			error_at(ld, inf, "plan.in_force: ends before it starts");
		c->in_force_start = calendar_instant(c->first_day, 0);
	}
}

/* Every row's annex category is one its category lists under annex. */
static void check_annexes(struct loader *ld, const config_setting_t *plan)
{
	const struct plan *p = ld->p;

	for (size_t i = 0; i < p->ncats; i++) {
		const config_setting_t *annex = member(
			config_setting_get_elem(member(plan, "categories"), (unsigned)i), "annex");
		for (size_t r = 0; annex && r < p->nrows; r++) {
			if (p->rows[r].category != (int)i || p->rows[r].annex_category[0] == '\0')
				continue;
			bool found = false;
			for (int k = 0; k < config_setting_length(annex) && !found; k++) {
				const char *a = config_setting_get_string_elem(annex, k);
				found = a && strcmp(a, p->rows[r].annex_category) == 0;
			}
			if (!found)
				error_at(
					ld, annex,
					"row %s: annex category \"%s\" is not one of category %s's",
					p->rows[r].id, p->rows[r].annex_category, p->cats[i].id);
		}
	}
}

/*
 * The plan group PLAN into the plan being read (ld->p); LEGACY is
 * kaohe.conf's calendar group, or NULL.
 */
static void load_plan(struct loader *ld, const config_setting_t *plan,
		      const config_setting_t *legacy)
{
	static const char *const keys[] = {
		"year",  "title",       "document",        "in_force", "track_from",
		"total", "close",       "missing_default", "calendar", "categories",
		"units", "departments", "metrics",         "rows",     NULL
	};
	struct plan *p = ld->p;
	int year = ld->opts.year;

	check_keys(ld, plan, "plan", keys);
	const char *src = config_setting_source_file(plan) ?: ld->file;
	if (strcmp(src, ld->file) != 0 && src[0] != '/' && ld->dir)
		p->file = xasprintf("%s/%s", ld->dir, src);
	else
		p->file = xstrdup(src);
	const config_setting_t *y = member(plan, "year");
	if (y && config_setting_type(y) == CONFIG_TYPE_INT)
		p->written_year = config_setting_get_int(y);
	p->year = year;
	if (year == 0) {
		if (y == NULL || config_setting_type(y) != CONFIG_TYPE_INT) {
			error_at(ld, y ? y : plan, "plan: year must be a number such as 2020");
			p->year = 2020; /* go on checking the rest against some year */
		} else {
			p->year = config_setting_get_int(y);
		}
	}
	if (p->year < 1971 || p->year > 9998) {
		error_at(ld, y ? y : plan, "plan: year %d is out of range", p->year);
		p->year = 2020;
	}
	if (p->written_year == 0)
		p->written_year = p->year;
	p->title = xstrdup(get_string(ld, plan, "plan", "title", ""));
	p->document = xstrdup(get_string(ld, plan, "plan", "document", ""));
	get_points(ld, plan, "plan", "total", true, &p->total);

	/* The calendar comes first: due dates are checked against it. */
	struct calendar *c = &p->cal;
	calendar_init(c, p->year);
	load_in_force(ld, plan, c);
	const char *close = get_string(ld, plan, "plan", "close", "quarter-end");
	if (strcmp(close, "quarter-end") == 0)
		c->close = CLOSE_QUARTER_END;
	else if (strcmp(close, "year-end") == 0)
		c->close = CLOSE_YEAR_END;
	else if (calendar_parse_duration(close, &c->close_after) == 0)
		c->close = CLOSE_AFTER;
	else
		error_at(
			ld, member(plan, "close"),
			"plan: close \"%s\" is not quarter-end, year-end or a duration such as \"30d\"",
			close);
	const char *md = get_string(ld, plan, "plan", "missing_default", "late");
	if (strcmp(md, "late") != 0 && strcmp(md, "zero") != 0)
		error_at(ld, member(plan, "missing_default"),
			 "plan: missing_default must be \"late\" or \"zero\"");
	load_plan_calendar(ld, plan, legacy);
	copy_policy(&c->reminders, &ld->policy);
	load_track_from(ld, plan);
	load_small_lists(ld, plan);
	load_units(ld, plan);
	load_rows(ld, plan, md);
	check_sums(ld, plan);
	check_annexes(ld, plan);
	plan_finish(p);
	check_next_year(ld, y ? y : plan);
	for (size_t i = 0; i < ld->nplans; i++)
		if (ld->plans[i]->year == p->year)
			error_at(ld, y ? y : plan, "plan: a second plan for %d (%s has one)",
				 p->year, ld->plans[i]->file);
}

/* Add the plan just read (ld->p) to the plans, by year. */
static void keep_plan(struct loader *ld)
{
	size_t i = ld->nplans;
	ld->plans = xrealloc(ld->plans, (ld->nplans + 1) * sizeof(*ld->plans));
	while (i > 0 && ld->plans[i - 1]->year > ld->p->year) {
		ld->plans[i] = ld->plans[i - 1];
		i--;
	}
	ld->plans[i] = ld->p;
	ld->nplans++;
}

/* Every source file of S and its children, for the fingerprint. */
static void note_sources(struct loader *ld, const config_setting_t *s)
{
	const char *f = config_setting_source_file(s);
	if (f) {
		if (f[0] != '/' && ld->dir && strcmp(f, ld->file) != 0) {
			char *path = xasprintf("%s/%s", ld->dir, f);
			note_file(ld, path);
			free(path);
		} else {
			note_file(ld, f);
		}
	}
	for (int i = 0; i < config_setting_length(s); i++)
		note_sources(ld, config_setting_get_elem(s, (unsigned)i));
}

/* Take back what was written to SB after its first LEN bytes. */
static void take_back(struct sbuf *sb, size_t len)
{
	if (sb->len > len) {
		sb->len = len;
		sb->buf[len] = '\0';
	}
}

/*
 * Read the plan file PATH (of element E; PDIR its directory, or NULL) and
 * keep its plan, its units in batches when PF is not NULL.  False when
 * libconfig cannot read a part so, with nothing kept and nothing said:
 * the file is then to be read whole, for libconfig to name its first
 * fault as it finds it there, the only message.
 */
static bool read_plan_file(struct loader *ld, const config_setting_t *e, const char *path,
			   const char *pdir, const struct planfile *pf)
{
	static const char *const top[] = { "plan", NULL };
	const char *file = ld->file, *dir = ld->dir;
	size_t err_len = ld->err->len, warn_len = ld->warn->len;
	int nerr = ld->nerr;
	bool ok = true;
	config_t lc;

	config_init(&lc);
	if (pdir)
		config_set_include_dir(&lc, pdir);
	if ((pf ? config_read_string(&lc, pf->rest) : config_read_file(&lc, path)) != CONFIG_TRUE) {
		if (pf)
			ok = false;
		else if (config_error_type(&lc) == CONFIG_ERR_FILE_IO &&
			 config_error_file(&lc) == NULL)
			error_at(ld, e, "plans: cannot read the plan file %s", path);
		else {
			/* an @included file as libconfig names it, beside the plan file */
			ld->file = path;
			ld->dir = pdir;
			error_line(ld, config_error_file(&lc), config_error_line(&lc), "%s",
				   config_error_text(&lc));
			ld->file = file;
			ld->dir = dir;
		}
	} else {
		ld->file = path;
		ld->dir = pdir;
		const config_setting_t *root = config_root_setting(&lc);
		check_keys(ld, root, "a plan file", top);
		const config_setting_t *g = get_group(ld, root, "a plan file", "plan", true);
		note_sources(ld, root);
		if (g) {
			ld->p = plan_new();
			ld->p->timezone = xstrdup(ld->cfg->set.timezone);
			ld->units = pf;
			load_plan(ld, g, NULL);
			ld->units = NULL;
			ok = !ld->units_unread;
			if (ok)
				keep_plan(ld);
			else
				plan_free(ld->p);
			ld->p = NULL;
			ld->units_unread = false;
		}
		ld->file = file;
		ld->dir = dir;
	}
	if (!ok) {
		take_back(ld->err, err_len);
		take_back(ld->warn, warn_len);
		ld->nerr = nerr;
	}
	config_destroy(&lc);
	return ok;
}

/* One file of plans = [ … ] (element E names it), read on its own. */
static void load_plan_file(struct loader *ld, const config_setting_t *e)
{
	const char *name = config_setting_get_string(e);

	if (name == NULL || *name == '\0') {
		error_at(ld, e, "plans: each element must name a plan file");
		return;
	}
	char *path = name[0] == '/' || ld->main_dir == NULL
			     ? xstrdup(name)
			     : xasprintf("%s/%s", ld->main_dir, name);
	char *pdir = xstrdup(path), *slash = strrchr(pdir, '/');
	if (slash)
		*(slash == pdir ? slash + 1 : slash) = '\0';
	/* Its units in batches when they can be found; else the file whole. */
	struct planfile pf;
	if (!ld->opts.plans_whole && planfile_read(path, &pf) == 0) {
		note_file(ld, path);
		if (!read_plan_file(ld, e, path, slash ? pdir : NULL, &pf))
			read_plan_file(ld, e, path, slash ? pdir : NULL, NULL);
		planfile_free(&pf);
	} else {
		read_plan_file(ld, e, path, slash ? pdir : NULL, NULL);
	}
	free(path);
	free(pdir);
}

/*
 * The plans: the plan group (one plan, with kaohe.conf's calendar group
 * if any), or plans = [ FILE, … ] (one file per plan year).
 */
static void load_plans(struct loader *ld, const config_setting_t *root)
{
	const config_setting_t *one = member(root, "plan"), *many = member(root, "plans");
	const config_setting_t *legacy = get_group(ld, root, "configuration", "calendar", false);

	if (one && many) {
		error_at(ld, many, "plans: give either the plan group or plans = [ … ], not both");
		return;
	}
	if (many == NULL) {
		const config_setting_t *g = get_group(ld, root, "configuration", "plan", true);
		if (g == NULL)
			return;
		ld->p = plan_new();
		ld->p->timezone = xstrdup(ld->cfg->set.timezone);
		load_plan(ld, g, legacy);
		keep_plan(ld);
		return;
	}
	const config_setting_t *arr = get_list(ld, root, "configuration", "plans", true);
	int n = arr ? config_setting_length(arr) : 0;
	if (arr && n == 0)
		error_at(ld, arr, "plans: the list names no plan file");
	if (legacy)
		error_at(ld, legacy,
			 "calendar: with plans = [ … ], each plan file gives its calendar "
			 "(plan.calendar, \"official\" by default)");
	if (n > 1 && ld->opts.year)
		error_at(ld, arr,
			 "--year %d runs one plan for another year, and plans names %d: run "
			 "without --year",
			 ld->opts.year, n);
	for (int i = 0; i < n && !(n > 1 && ld->opts.year); i++)
		load_plan_file(ld, config_setting_get_elem(arr, (unsigned)i));
}

/* Whether any plan read has the unit (UNIT) or the department ID. */
static bool any_plan_has(const struct loader *ld, bool unit, const char *id)
{
	for (size_t i = 0; i < ld->nplans; i++)
		if ((unit ? plan_unit_find(ld->plans[i], id) : plan_dept_find(ld->plans[i], id)) >=
		    0)
			return true;
	return false;
}

/*
 * The access section: the admins, and the rules of the departments and
 * units named by id (of any plan read), kept in cfg->access_rules and
 * given to each plan year by its own indexes (resolve_year()).
 */
static void load_access(struct loader *ld, const config_setting_t *root)
{
	static const char *const keys[] = { "admins", "departments", "units", NULL };
	const config_setting_t *g = get_group(ld, root, "configuration", "access", false);
	struct config *cfg = ld->cfg;

	if (g == NULL)
		return;
	check_keys(ld, g, "access", keys);
	load_access_rule(ld, get_group(ld, g, "access", "admins", false), "access.admins",
			 &cfg->set.admins);
	const config_setting_t *subs[2] = { get_group(ld, g, "access", "departments", false),
					    get_group(ld, g, "access", "units", false) };
	size_t n = 0;
	for (int pass = 0; pass < 2; pass++)
		n += subs[pass] ? (size_t)config_setting_length(subs[pass]) : 0;
	cfg->access_rules = xcalloc(n + 1, sizeof(*cfg->access_rules));
	ld->rule_ids = xcalloc(n + 1, sizeof(*ld->rule_ids));
	ld->rule_unit = xcalloc(n + 1, sizeof(*ld->rule_unit));
	for (int pass = 0; pass < 2; pass++) {
		const char *name = pass ? "units" : "departments";
		const config_setting_t *sub = subs[pass];
		for (int i = 0; sub && i < config_setting_length(sub); i++) {
			const config_setting_t *e = config_setting_get_elem(sub, (unsigned)i);
			const char *id = config_setting_name(e);
			char what[128];
			snprintf(what, sizeof(what), "access.%s.%s", name, id);
			if (!any_plan_has(ld, pass == 1, id)) {
				error_at(ld, e, "access.%s: unknown %s \"%s\"%s", name,
					 pass ? "unit" : "department", id,
					 ld->nplans > 1 ? " (no configured plan has it)" : "");
				continue;
			}
			if (config_setting_type(e) != CONFIG_TYPE_GROUP) {
				error_at(ld, e, "%s must be a group { users = …; groups = …; }",
					 what);
				continue;
			}
			size_t k = cfg->naccess_rules++;
			load_access_rule(ld, e, what, &cfg->access_rules[k]);
			ld->rule_ids[k] = id;
			ld->rule_unit[k] = pass == 1;
		}
	}
}

/* --- channels and delivery ------------------------------------------- */

/* Parse "N(ms|s|m|h|d)" (N > 0) into milliseconds; 0 or -1. */
static int parse_ms(const char *s, int64_t *out)
{
	char *end;
	errno = 0;
	long long n = strtoll(s, &end, 10);
	if (end == s || errno || n <= 0 || n > 100000000)
		return -1;
	int64_t mul;
	if (strcmp(end, "ms") == 0)
		mul = 1;
	else if (strcmp(end, "s") == 0)
		mul = 1000;
	else if (strcmp(end, "m") == 0)
		mul = 60000;
	else if (strcmp(end, "h") == 0)
		mul = 3600000;
	else if (strcmp(end, "d") == 0)
		mul = 86400000;
	else
		return -1;
	*out = (int64_t)n * mul;
	return 0;
}

static int64_t get_ms(struct loader *ld, const config_setting_t *g, const char *what,
		      const char *name, int64_t def)
{
	const char *v = get_string(ld, g, what, name, "");
	int64_t ms;
	if (v == NULL || *v == '\0')
		return def;
	if (parse_ms(v, &ms) < 0) {
		error_at(ld, member(g, name), "%s: %s \"%s\" is not a duration such as \"30s\"",
			 what, name, v);
		return def;
	}
	return ms;
}

static double get_real(struct loader *ld, const config_setting_t *g, const char *what,
		       const char *name, double def, double min, double max)
{
	const config_setting_t *s = member(g, name);
	if (s == NULL)
		return def;
	if (!is_number(s)) {
		error_at(ld, s, "%s: \"%s\" must be a number", what, name);
		return def;
	}
	double v = number_of(s);
	if (v < min || v > max) {
		error_at(ld, s, "%s: \"%s\" must be from %g to %g", what, name, min, max);
		return def;
	}
	return v;
}

/*
 * Read a secret (or a URL that holds one) from the file NAME: a bare
 * name is looked up in $CREDENTIALS_DIRECTORY first (systemd's
 * LoadCredential=), then next to the configuration.  Trailing line ends
 * are dropped.  NULL after reporting.
 */
static char *read_secret(struct loader *ld, const config_setting_t *s, const char *what,
			 const char *name)
{
	const char *creds = getenv("CREDENTIALS_DIRECTORY");
	char *path = NULL;
	if (strchr(name, '/') == NULL && creds && *creds) {
		path = xasprintf("%s/%s", creds, name);
		if (access(path, F_OK) < 0) {
			free(path);
			path = NULL;
		}
	}
	if (path == NULL)
		path = name[0] == '/' || ld->dir == NULL ? xstrdup(name)
							 : xasprintf("%s/%s", ld->dir, name);
	FILE *f = fopen(path, "re");
	if (f == NULL) {
		error_at(ld, s, "%s: cannot read %s: %s", what, path, strerror(errno));
		free(path);
		return NULL;
	}
	char buf[4096];
	size_t n = fread(buf, 1, sizeof(buf) - 1, f);
	bool more = fgetc(f) != EOF;
	int rerr = ferror(f) ? errno : 0; /* a directory opens, then reads EISDIR */
	fclose(f);
	buf[n] = '\0';
	while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
		buf[--n] = '\0';
	char *ret = NULL;
	if (rerr)
		error_at(ld, s, "%s: cannot read %s: %s", what, path, strerror(rerr));
	else if (more)
		error_at(ld, s, "%s: %s is longer than %zu bytes", what, path, sizeof(buf) - 1);
	else if (n == 0 || strlen(buf) != n || !util_utf8_valid(buf, n))
		error_at(ld, s, "%s: %s is empty or not text", what, path);
	else
		ret = xstrdup(buf);
	free(path);
	return ret;
}

/* VALUE inline, or read from the file NAME_file; NULL if neither. */
static char *get_inline_or_file(struct loader *ld, const config_setting_t *g, const char *what,
				const char *name, bool inline_ok)
{
	char fname[64];
	snprintf(fname, sizeof(fname), "%s_file", name);
	const char *v = inline_ok ? get_string(ld, g, what, name, "") : NULL;
	const char *f = get_string(ld, g, what, fname, "");
	if (v && *v && f && *f) {
		error_at(ld, member(g, fname), "%s: give either %s or %s, not both", what, name,
			 fname);
		return NULL;
	}
	if (f && *f)
		return read_secret(ld, member(g, fname), what, f);
	/* Given but empty: an error here, not a channel without a URL later. */
	if ((v && !*v && member(g, name) &&
	     config_setting_type(member(g, name)) == CONFIG_TYPE_STRING) ||
	    (f && !*f && member(g, fname) &&
	     config_setting_type(member(g, fname)) == CONFIG_TYPE_STRING))
		error_at(ld, member(g, name) ?: member(g, fname), "%s: %s is empty", what,
			 v && !*v && member(g, name) ? name : fname);
	return v && *v ? xstrdup(v) : NULL;
}

/* Parse "N/s", "N/min", "N/h" into R; 0 or -1. */
static int parse_rate(const char *s, struct rate_limit *r)
{
	char *end;
	errno = 0;
	long n = strtol(s, &end, 10);
	if (end == s || errno || n <= 0 || n > 10000 || *end != '/')
		return -1;
	end++;
	if (strcmp(end, "s") == 0)
		r->per_ms = 1000;
	else if (strcmp(end, "min") == 0)
		r->per_ms = 60000;
	else if (strcmp(end, "h") == 0)
		r->per_ms = 3600000;
	else
		return -1;
	r->count = (int)n;
	return 0;
}

static void load_rates(struct loader *ld, const config_setting_t *g, const char *what,
		       struct channel *c)
{
	const config_setting_t *arr = get_list(ld, g, what, "rate", false);
	c->nrates = 0;
	/* The provider's documented limits unless the config says otherwise. */
	if (arr == NULL) {
		memcpy(c->rates, c->provider->rates, sizeof(c->rates));
		c->nrates = c->provider->nrates;
		return;
	}
	for (int i = 0; i < config_setting_length(arr); i++) {
		const config_setting_t *e = config_setting_get_elem(arr, (unsigned)i);
		const char *t = config_setting_get_string(e);
		if (c->nrates == CHANNEL_MAX_RATES) {
			error_at(ld, e, "%s: at most %d rate limits", what, CHANNEL_MAX_RATES);
			break;
		}
		if (t == NULL || parse_rate(t, &c->rates[c->nrates]) < 0)
			error_at(
				ld, e,
				"%s: rate \"%s\" is not a limit such as \"20/min\" or \"5/s\" (at most 10000)",
				what, t ? t : "?");
		else
			c->nrates++;
	}
}

/*
 * Whether the host of URL (after "http://") is this machine: localhost,
 * 127.x.y.z or [::1] as the whole host, not the start of a longer name
 * (http://localhost.example.org goes over the network).
 */
static bool loopback_host(const char *h)
{
	size_t n = strcspn(h, ":/?#");
	if (strncmp(h, "[::1]", 5) == 0)
		return strchr(":/?#", h[5]) != NULL; /* the NUL that ends the URL matches too */
	if (n == 9 && strncmp(h, "localhost", 9) == 0)
		return true;
	return n > 4 && strncmp(h, "127.", 4) == 0 && strspn(h, "0123456789.") == n;
}

/* The URL of channel C: its provider's schemes are the accepted prefixes. */
static void check_url(struct loader *ld, const config_setting_t *g, const char *what,
		      struct channel *c)
{
	const char *const *schemes = c->provider->schemes;
	const config_setting_t *at = member(g, "url") ?: member(g, "url_file") ?: g;
	if (c->url == NULL) {
		/* Given but unusable: that was reported where it was read. */
		if (at == g)
			error_at(ld, g, "%s: missing setting \"url\" (or \"url_file\")", what);
		return;
	}
	for (const char *const *s = schemes; *s; s++)
		if (strncmp(c->url, *s, strlen(*s)) == 0 && c->url[strlen(*s)] != '\0') {
			if (strcmp(*s, "http://") == 0 && !loopback_host(c->url + 7))
				warn_at(ld, at, "%s: %s is sent in clear text", what, c->name);
			return;
		}
	error_at(ld, at, "%s: url must begin with %s%s", what, schemes[0],
		 schemes[1] ? " or another accepted scheme" : "");
}

struct config_reader {
	struct loader *ld;
	const config_setting_t *g;
	const char *what;
};

const char *config_reader_string(struct config_reader *r, const char *name, const char *def)
{
	return get_string(r->ld, r->g, r->what, name, def);
}

char *config_reader_secret(struct config_reader *r, const char *name, bool inline_ok)
{
	return get_inline_or_file(r->ld, r->g, r->what, name, inline_ok);
}

void config_reader_error(struct config_reader *r, const char *name, const char *fmt, ...)
{
	char msg[768];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	error_at(r->ld, member(r->g, name) ?: r->g, "%s: %s", r->what, msg);
}

int config_reader_nerrors(const struct config_reader *r)
{
	return r->ld->nerr;
}

/* Report the members of G that neither COMMON nor the provider's own keys list. */
static void check_channel_keys(struct loader *ld, const config_setting_t *g, const char *what,
			       const char *const *common, const struct provider *p)
{
	const char *keys[32];
	size_t n = 0;
	for (const char *const *k = common; *k; k++)
		keys[n++] = *k;
	for (const char *const *k = p->keys; k && *k; k++) {
		assert(n + 1 < sizeof(keys) / sizeof(keys[0]));
		keys[n++] = *k;
	}
	keys[n] = NULL;
	check_keys(ld, g, what, keys);
}

/* The provider's own settings, read by its load hook. */
static void load_provider(struct loader *ld, const config_setting_t *g, const char *what,
			  struct channel *c)
{
	struct config_reader r = { .ld = ld, .g = g, .what = what };
	c->provider->load(&r, c);
}

static void load_email(struct loader *ld, const config_setting_t *g, struct channel *c)
{
	static const char *const keys[] = { "url", "ca_file", "rate", NULL };
	const char *what = "channels.email";

	c->provider = provider_find("email");
	assert(c->provider && c->provider->mail);
	check_channel_keys(ld, g, what, keys, c->provider);
	c->name = xstrdup("email");
	c->line = (int)config_setting_source_line(g);
	c->url = dup_or_null(get_string(ld, g, what, "url", NULL));
	if (c->url)
		check_url(ld, g, what, c);
	load_provider(ld, g, what, c);
	const char *ca = get_string(ld, g, what, "ca_file", "");
	c->ca_file = ca && *ca ? xstrdup(ca) : NULL;
	load_rates(ld, g, what, c);
}

/*
 * A list of unit or department ids ("*": all) of channel CHAN: *ALL, or
 * each id (of any plan read) kept for resolve_year().
 */
static void load_audience(struct loader *ld, const config_setting_t *g, const char *what,
			  const char *name, bool units, bool *all, size_t chan)
{
	const config_setting_t *arr = get_list(ld, g, what, name, false);
	if (arr == NULL)
		return;
	for (int i = 0; i < config_setting_length(arr); i++) {
		const config_setting_t *e = config_setting_get_elem(arr, (unsigned)i);
		const char *id = config_setting_get_string(e);
		if (id == NULL) {
			error_at(ld, e, "%s: %s must hold strings", what, name);
			continue;
		}
		if (strcmp(id, "*") == 0) {
			*all = true;
			continue;
		}
		if (!any_plan_has(ld, units, id)) {
			error_at(ld, e, "%s: unknown %s \"%s\"%s", what,
				 units ? "unit" : "department", id,
				 ld->nplans > 1 ? " (no configured plan has it)" : "");
			continue;
		}
		util_reserve(&ld->aud, &ld->aud_cap, ld->naud + 1, sizeof(*ld->aud));
		ld->aud[ld->naud++] = (struct audience){ .chan = chan, .unit = units, .id = id };
	}
}

/* The webhook provider named TYPE; NULL if there is none (the email server is none). */
static const struct provider *webhook_provider(const char *type)
{
	const struct provider *p = type ? provider_find(type) : NULL;
	return p && !p->mail ? p : NULL;
}

/* The type setting of webhook G, reported if it names no webhook provider (then generic). */
static const struct provider *load_type(struct loader *ld, const config_setting_t *g,
					const char *what)
{
	const char *type = get_string(ld, g, what, "type", "generic");
	const struct provider *p = webhook_provider(type);
	if (p == NULL) {
		struct sbuf names;
		sbuf_init(&names);
		provider_webhook_names(&names);
		error_at(ld, member(g, "type"), "%s: type \"%s\" is not one of %s", what,
			 type ? type : "?", names.buf);
		sbuf_free(&names);
		p = webhook_provider("generic");
	}
	return p;
}

static void load_webhook(struct loader *ld, const config_setting_t *g, struct channel *c, int idx)
{
	static const char *const keys[] = { "name",        "type",   "url",  "url_file", "units",
					    "departments", "admins", "rate", "ca_file",  NULL };
	char what[128];

	snprintf(what, sizeof(what), "channels.webhooks[%d]", idx + 1);
	if (config_setting_type(g) != CONFIG_TYPE_GROUP) {
		error_at(ld, g, "%s must be a group { name = …; type = …; url = …; }", what);
		c->name = xstrdup("?");
		return;
	}
	/* Which settings are known depends on the type; a bad one is reported below. */
	const config_setting_t *t = member(g, "type");
	const struct provider *p = webhook_provider(t ? config_setting_get_string(t) : "generic");
	check_channel_keys(ld, g, what, keys, p ? p : webhook_provider("generic"));
	const char *name = get_string(ld, g, what, "name", NULL);
	if (name && (!valid_id(name) || strcmp(name, "email") == 0)) {
		error_at(ld, member(g, "name"),
			 "%s: name \"%s\" must be an id other than \"email\"", what, name);
		name = NULL;
	}
	c->name = xstrdup(name ? name : "?");
	if (name)
		snprintf(what, sizeof(what), "channels.webhooks \"%s\"", name);
	c->line = (int)config_setting_source_line(g);
	c->provider = load_type(ld, g, what);
	c->url = get_inline_or_file(ld, g, what, "url", true);
	check_url(ld, g, what, c);
	load_provider(ld, g, what, c);
	size_t chan = (size_t)(c - ld->cfg->set.channels), named = ld->naud;
	load_audience(ld, g, what, "units", true, &c->all_units, chan);
	load_audience(ld, g, what, "departments", false, &c->all_depts, chan);
	c->admins = get_bool(ld, g, what, "admins", false);
	if (!c->all_units && !c->all_depts && ld->naud == named && !c->admins)
		warn_at(ld, g, "%s serves nobody: give units, departments or admins", what);
	const char *ca = get_string(ld, g, what, "ca_file", "");
	c->ca_file = ca && *ca ? xstrdup(ca) : NULL;
	load_rates(ld, g, what, c);
}

static void load_channels(struct loader *ld, const config_setting_t *root)
{
	static const char *const keys[] = { "email",   "webhooks", "concurrency", "connect_timeout",
					    "timeout", "retry",    NULL };
	static const char *const rkeys[] = { "first",   "factor", "cap", "max_attempts",
					     "max_age", "jitter", NULL };
	const config_setting_t *g = get_group(ld, root, "configuration", "channels", false);
	struct settings *set = &ld->cfg->set;
	struct delivery_settings *d = &set->delivery;

	if (g)
		check_keys(ld, g, "channels", keys);
	const config_setting_t *email = get_group(ld, g, "channels", "email", false);
	const config_setting_t *hooks = get_list(ld, g, "channels", "webhooks", false);
	size_t n = (email ? 1 : 0) + (hooks ? (size_t)config_setting_length(hooks) : 0);
	set->channels = xcalloc(n ? n : 1, sizeof(*set->channels));
	if (email)
		load_email(ld, email, &set->channels[set->nchannels++]);
	for (int i = 0; hooks && i < config_setting_length(hooks); i++) {
		struct channel *c = &set->channels[set->nchannels++];
		load_webhook(ld, config_setting_get_elem(hooks, (unsigned)i), c, i);
		for (size_t j = 0; j + 1 < set->nchannels; j++)
			if (strcmp(set->channels[j].name, c->name) == 0 &&
			    strcmp(c->name, "?") != 0)
				error_at(ld, config_setting_get_elem(hooks, (unsigned)i),
					 "channels.webhooks: a second webhook named \"%s\"",
					 c->name);
	}

	d->concurrency = get_int(ld, g, "channels", "concurrency", 64, 1, 4096);
	d->connect_timeout_ms = get_ms(ld, g, "channels", "connect_timeout", 10000);
	d->timeout_ms = get_ms(ld, g, "channels", "timeout", 30000);
	const config_setting_t *r = get_group(ld, g, "channels", "retry", false);
	if (r)
		check_keys(ld, r, "channels.retry", rkeys);
	d->retry_first_ms = get_ms(ld, r, "channels.retry", "first", 30000);
	d->retry_factor = get_real(ld, r, "channels.retry", "factor", 2.0, 1.0, 100.0);
	d->retry_cap_ms = get_ms(ld, r, "channels.retry", "cap", 3600000);
	d->retry_jitter = get_real(ld, r, "channels.retry", "jitter", 0.2, 0.0, 1.0);
	d->retry_max_attempts = get_int(ld, r, "channels.retry", "max_attempts", 10, 1, 1000);
	d->retry_max_age_ms = get_ms(ld, r, "channels.retry", "max_age", 2 * 86400000LL);
	if (d->retry_cap_ms < d->retry_first_ms)
		error_at(ld, member(r, "cap") ?: r ?: g,
			 "channels.retry: cap must not be shorter than first");
}

static const char *const template_keys[] = { "before", "due",      "overdue", "escalation",
					     "record", "snapshot", "dead",    "test",
					     "ended",  "item",     NULL };

static char *load_template(struct loader *ld, const config_setting_t *s, const char *what,
			   bool item)
{
	char err[256];
	const char *t = config_setting_get_string(s);
	if (t == NULL || !util_utf8_valid(t, strlen(t))) {
		error_at(ld, s, "%s must be a UTF-8 string", what);
		return NULL;
	}
	/*
	 * A template becomes mail and messages read in terminals and clients:
	 * a line break is its own, any other control character (an escape
	 * sequence, a CR ending a header early) would act there.
	 */
	size_t len = strlen(t), line = 1;
	const char *from = t;
	unsigned cp;
	long at;
	while ((at = util_control_char(from, len - (size_t)(from - t), &cp)) >= 0) {
		const char *c = from + at;
		if (cp != '\n') {
			const char *bol = t;
			for (const char *q = t; q < c; q++)
				if (*q == '\n')
					bol = q + 1;
			error_at(
				ld, s,
				"%s holds the control character U+%04X at byte %zu (line %zu of the "
				"template, byte %zu of it); a template may hold line breaks (LF) but "
				"no other control character",
				what, cp, (size_t)(c - t) + 1, line, (size_t)(c - bol) + 1);
			return NULL;
		}
		line++;
		from = c + 1;
	}
	if (notify_template_check(t, item, err, sizeof(err)) < 0) {
		error_at(ld, s, "%s: %s", what, err);
		return NULL;
	}
	return xstrdup(t);
}

/* reminders.admins and reminders.templates: who is told, and in what words. */
static void load_notices(struct loader *ld, const config_setting_t *root)
{
	const config_setting_t *g = member(root, "reminders");
	struct settings *set = &ld->cfg->set;
	if (g == NULL || config_setting_type(g) != CONFIG_TYPE_GROUP)
		return;
	const config_setting_t *adm = get_list(ld, g, "reminders", "admins", false);
	if (adm) {
		set->admins_contacts = xcalloc((size_t)config_setting_length(adm) + 1,
					       sizeof(*set->admins_contacts));
		for (int i = 0; i < config_setting_length(adm); i++) {
			const config_setting_t *e = config_setting_get_elem(adm, (unsigned)i);
			if (config_setting_type(e) != CONFIG_TYPE_GROUP) {
				error_at(ld, e,
					 "reminders.admins: element %d must be a group "
					 "{ name = …; email = …; }",
					 i + 1);
				continue;
			}
			load_contact(ld, e, "reminders.admins",
				     &set->admins_contacts[set->nadmins_contacts++]);
		}
	}
	const config_setting_t *t = get_group(ld, g, "reminders", "templates", false);
	if (t == NULL)
		return;
	check_keys(ld, t, "reminders.templates", template_keys);
	for (int k = 0; k < NOTIFY_NKINDS; k++) {
		const char *kind = notify_kind_name((enum notify_kind)k);
		const config_setting_t *e = get_group(ld, t, "reminders.templates", kind, false);
		char what[96];
		if (e == NULL)
			continue;
		static const char *const ekeys[] = { "subject", "body", NULL };
		snprintf(what, sizeof(what), "reminders.templates.%s", kind);
		check_keys(ld, e, what, ekeys);
		const config_setting_t *sub = member(e, "subject"), *body = member(e, "body");
		snprintf(what, sizeof(what), "reminders.templates.%s.subject", kind);
		if (sub)
			set->templates.subject[k] = load_template(ld, sub, what, false);
		snprintf(what, sizeof(what), "reminders.templates.%s.body", kind);
		if (body)
			set->templates.body[k] = load_template(ld, body, what, false);
	}
	const config_setting_t *item = member(t, "item");
	if (item)
		set->templates.item = load_template(ld, item, "reminders.templates.item", true);
}

/* The SHA-256 of every file read (its name, then its bytes), in the order read. */
static void fingerprint(const struct loader *ld, char out[65])
{
	static const char hex[] = "0123456789abcdef";
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();

	EVP_DigestInit_ex(ctx, EVP_sha256(), NULL);
	for (size_t i = 0; i < ld->nfiles; i++) {
		char buf[8192];
		size_t got;
		FILE *fp = fopen(ld->files[i], "re");
		EVP_DigestUpdate(ctx, ld->files[i], strlen(ld->files[i]) + 1);
		while (fp && (got = fread(buf, 1, sizeof(buf), fp)) > 0)
			EVP_DigestUpdate(ctx, buf, got);
		if (fp)
			fclose(fp);
	}
	EVP_DigestFinal_ex(ctx, md, &mdlen);
	EVP_MD_CTX_free(ctx);
	for (unsigned i = 0; i < 32 && i < mdlen; i++) {
		out[2 * i] = hex[md[i] >> 4];
		out[2 * i + 1] = hex[md[i] & 15];
	}
	out[64] = '\0';
}

/*
 * V, the configuration of plan year P: the access rules and the
 * channels' audiences by P's own unit and department indexes.
 */
static void resolve_year(struct loader *ld, struct config *v, struct plan *p)
{
	struct config *cfg = ld->cfg;

	v->plan = p;
	v->set.depts = xcalloc(p->ndepts + 1, sizeof(*v->set.depts));
	v->set.units = xcalloc(p->nunits + 1, sizeof(*v->set.units));
	for (size_t i = 0; i < cfg->naccess_rules; i++) {
		int idx = ld->rule_unit[i] ? plan_unit_find(p, ld->rule_ids[i])
					   : plan_dept_find(p, ld->rule_ids[i]);
		if (idx >= 0)
			(ld->rule_unit[i] ? v->set.units : v->set.depts)[idx] =
				cfg->access_rules[i];
	}
	for (size_t i = 0; i < ld->naud; i++) {
		const struct audience *a = &ld->aud[i];
		struct channel *c = &v->set.channels[a->chan];
		int idx = a->unit ? plan_unit_find(p, a->id) : plan_dept_find(p, a->id);
		size_t n = a->unit ? p->nunits : p->ndepts;
		uint8_t **flags = a->unit ? &c->units : &c->depts;
		if (idx < 0)
			continue;
		if (*flags == NULL)
			*flags = xcalloc(n ? n : 1, 1);
		(*flags)[idx] = 1;
	}
}

/*
 * The configuration of each plan year read: the last (latest) year's is
 * CFG itself, the others copies of it with their own plan, access rules
 * and channel audiences.
 */
static void build_years(struct loader *ld)
{
	struct config *cfg = ld->cfg;
	size_t nch = cfg->set.nchannels;

	cfg->root = cfg;
	cfg->years = xcalloc(ld->nplans + 1, sizeof(*cfg->years));
	cfg->nyears = ld->nplans;
	for (size_t i = 0; i < ld->nplans; i++) {
		struct config *v = cfg;
		if (i + 1 < ld->nplans) {
			/* Before the last year's audiences go into CFG's channels. */
			v = xmalloc(sizeof(*v));
			*v = *cfg;
			v->access_rules = NULL;
			v->naccess_rules = 0;
			v->set.channels = xcalloc(nch + 1, sizeof(*v->set.channels));
			memcpy(v->set.channels, cfg->set.channels, nch * sizeof(*v->set.channels));
		}
		resolve_year(ld, v, ld->plans[i]);
		cfg->years[i] = v;
	}
}

struct config *config_year(const struct config *cfg, int year)
{
	for (size_t i = 0; i < cfg->nyears; i++)
		if (cfg->years[i]->plan->year == year)
			return cfg->years[i];
	return NULL;
}

size_t config_in_force(const struct config *cfg, int64_t now)
{
	for (size_t i = cfg->nyears; i > 0; i--)
		if (cfg->years[i - 1]->plan->cal.in_force_start <= now)
			return i - 1;
	return 0;
}

const struct channel *config_channel(const struct config *cfg, const char *name)
{
	for (size_t i = 0; i < cfg->set.nchannels; i++)
		if (strcmp(cfg->set.channels[i].name, name) == 0)
			return &cfg->set.channels[i];
	return NULL;
}

static void free_notices(struct settings *st)
{
	for (size_t i = 0; i < st->nchannels; i++) {
		struct channel *c = &st->channels[i];
		free(c->name);
		free(c->url);
		free(c->ca_file);
		free(c->units);
		free(c->depts);
		/* No provider: the channel was refused before its type was read. */
		if (c->provider)
			c->provider->free(c->priv);
	}
	free(st->channels);
	for (size_t i = 0; i < st->nadmins_contacts; i++)
		plan_contact_free(&st->admins_contacts[i]);
	free(st->admins_contacts);
	for (int k = 0; k < NOTIFY_NKINDS; k++) {
		free(st->templates.subject[k]);
		free(st->templates.body[k]);
	}
	free(st->templates.item);
}

struct config *config_load(const char *file, int year, struct sbuf *errors, struct sbuf *warnings)
{
	struct config_opts o = { .year = year };
	return config_load_opts(file, &o, errors, warnings);
}

struct config *config_load_opts(const char *file, const struct config_opts *o, struct sbuf *errors,
				struct sbuf *warnings)
{
	static const char *const keys[] = { "kaohe",     "access", "channels", "calendar",
					    "reminders", "plan",   "plans",    NULL };
	struct loader ld = { .file = file, .err = errors, .warn = warnings, .opts = *o };
	config_t lc;
	char *dir = xstrdup(file), *slash;

	config_init(&lc);
	slash = strrchr(dir, '/');
	if (slash) {
		*slash = '\0';
		if (dir[0] == '\0')
			strcpy(dir, "/");
		config_set_include_dir(&lc, dir);
		ld.dir = ld.main_dir = dir;
	}
	if (config_read_file(&lc, file) != CONFIG_TRUE) {
		if (config_error_type(&lc) == CONFIG_ERR_FILE_IO && config_error_file(&lc) == NULL)
			sbuf_printf(errors, "%s:0: cannot read the file\n", file);
		else if (config_error_file(&lc) && strcmp(config_error_file(&lc), file) != 0 &&
			 config_error_file(&lc)[0] != '/' && slash)
			sbuf_printf(errors, "%s/%s:%d: %s\n", dir, config_error_file(&lc),
				    config_error_line(&lc), config_error_text(&lc));
		else
			sbuf_printf(errors, "%s:%d: %s\n", config_error_file(&lc) ?: file,
				    config_error_line(&lc), config_error_text(&lc));
		config_destroy(&lc);
		free(dir);
		return NULL;
	}
	ld.cfg = xcalloc(1, sizeof(*ld.cfg));
	ld.cfg->file = xstrdup(file);
	const config_setting_t *root = config_root_setting(&lc);
	note_sources(&ld, root);
	check_keys(&ld, root, "the top level", keys);
	load_kaohe(&ld, root);
	load_reminders(&ld, root);
	load_plans(&ld, root);
	if (ld.nplans == 0) {
		/* Reported: go on checking the rest against an empty plan. */
		ld.p = plan_new();
		ld.p->timezone = xstrdup(ld.cfg->set.timezone);
		calendar_init(&ld.p->cal, 2020);
		plan_finish(ld.p);
		keep_plan(&ld);
	}
	load_access(&ld, root);
	load_channels(&ld, root);
	load_notices(&ld, root);
	if (ld.nerr == 0)
		fingerprint(&ld, ld.cfg->fingerprint);
	build_years(&ld);
	config_destroy(&lc);
	free(dir);
	for (size_t i = 0; i < ld.nfiles; i++)
		free(ld.files[i]);
	free(ld.files);
	free(ld.plans);
	free(ld.aud);
	free(ld.rule_ids);
	free(ld.rule_unit);
	free(ld.policy.before);
	free(ld.policy.due);
	free(ld.policy.record);
	if (ld.nerr) {
		config_free(ld.cfg);
		return NULL;
	}
	return ld.cfg;
}

/* What the configuration of one plan year has of its own. */
static void free_year(struct config *v)
{
	free(v->set.depts);
	free(v->set.units);
	for (size_t i = 0; i < v->set.nchannels; i++) {
		free(v->set.channels[i].units);
		free(v->set.channels[i].depts);
	}
	plan_free(v->plan);
}

void config_free(struct config *cfg)
{
	if (cfg == NULL)
		return;
	assert(cfg->root == NULL || cfg->root == cfg);
	struct settings *st = &cfg->set;
	for (size_t i = 0; i < cfg->nyears; i++) {
		struct config *v = cfg->years[i];
		if (v == cfg)
			continue;
		free_year(v);
		free(v->set.channels);
		free(v);
	}
	free(cfg->years);
	free(st->timezone);
	free(st->calendar_dir);
	free(st->state_dir);
	free(st->control_socket);
	free(st->export_dir);
	free(st->metrics_file);
	free_access_rule(&st->admins);
	for (size_t i = 0; i < cfg->naccess_rules; i++)
		free_access_rule(&cfg->access_rules[i]);
	free(cfg->access_rules);
	free(st->depts);
	free(st->units);
	free_notices(st);
	plan_free(cfg->plan);
	free(cfg->file);
	free(cfg);
}
