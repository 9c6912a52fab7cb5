/*
 * calendar — civil dates in the plan's time zone: day numbers, instants,
 * occurrence expansion, deadline and close instants, working days and
 * reminder slots with their working-day shifts.  Pure computation; the
 * only outside state is the process time zone set by
 * calendar_set_timezone(), read through the system tz database.
 */
#ifndef KAOHE_CALENDAR_H
#define KAOHE_CALENDAR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define DAY_SECONDS 86400

/* Days since 1970-01-01 of a proleptic Gregorian date; no range check. */
int32_t calendar_days_from_civil(int y, int m, int d);
/* The inverse of calendar_days_from_civil. */
void calendar_civil_from_days(int32_t days, int *y, int *m, int *d);
/* 0 = Sunday … 6 = Saturday. */
int calendar_weekday(int32_t day);
/* Days in month M of year Y. */
int calendar_month_days(int y, int m);

/*
 * Make TZ the zone of every later conversion.  -1 with a message in ERR
 * when the tz database has no such zone (glibc would silently use UTC).
 */
int calendar_set_timezone(const char *tz, char *err, size_t errlen);
/* The instant of local time SECS seconds after 00:00 of DAY. */
int64_t calendar_instant(int32_t day, int secs);
/* The local day containing instant T; its second of the day in *SECS. */
int32_t calendar_day_of(int64_t t, int *secs);

/*
 * Parse an instant: "YYYY-MM-DDTHH:MM[:SS](Z|±HH:MM)", the same without
 * an offset (local time), or "YYYY-MM-DD" (local 00:00).  0 or -1.
 * STRICT requires the offset (the events file).
 */
int calendar_parse_instant(const char *s, bool strict, int64_t *out);
/* Parse "MM-DD" in YEAR or "YYYY-MM-DD"; 0 or -1 for an impossible date. */
int calendar_parse_day(const char *s, int year, int32_t *out);
/* "2020-09-16T00:00:00+08:00". */
void calendar_format_instant(int64_t t, char *buf, size_t len);
/* "2020-09-15". */
void calendar_format_day(int32_t day, char *buf, size_t len);

enum close_policy { CLOSE_QUARTER_END, CLOSE_YEAR_END, CLOSE_AFTER };

/*
 * The kinds of reminder slot: ahead of a due, on it, after its deadline,
 * and a department's day to record.  SLOT_NKINDS of them; a per-unit
 * table of kinds has SLOT_NKINDS entries per unit.
 */
enum slot_kind { SLOT_BEFORE, SLOT_DUE, SLOT_OVERDUE, SLOT_RECORD };
#define SLOT_NKINDS 4
/* The name of kind K in messages, logs and the outbox: "before", "due", "overdue", "record". */
const char *calendar_slot_kind_name(enum slot_kind k);

/* One configured reminder slot: "-7d@09:00", "-30s", "+1d@09:00". */
struct slot_spec {
	int64_t offset; /* seconds; whole days when tod >= 0 */
	int tod;        /* local second of the day, or -1 */
	char text[24];
};

struct reminder_policy {
	struct slot_spec *before;
	size_t nbefore;
	struct slot_spec *due;
	size_t ndue;
	struct slot_spec overdue_first;
	bool has_overdue;
	int64_t overdue_every; /* seconds, > 0 */
	struct slot_spec *record;
	size_t nrecord;
	bool escalate;
	bool shift_to_workdays;
	bool not_before_in_force;
};

/*
 * A calendar holds the working days of two years: the plan year's, and
 * the next one's, into which the closes and overdue reminders of the
 * year's last quarter reach.
 */
#define CALENDAR_DAYS 732

struct calendar {
	int year;
	int32_t year_first;             /* 01-01 of the plan year */
	int32_t first_day, last_day;    /* the plan is in force on these days */
	int64_t in_force_start;         /* 00:00 of first_day */
	uint8_t workday[CALENDAR_DAYS]; /* per day of the plan year and the next */
	bool next_known;                /* the next year's days come from a calendar */
	char source[400];               /* where the working days come from, for the log */
	enum close_policy close;
	int64_t close_after; /* CLOSE_AFTER: seconds after the deadline */
	struct reminder_policy reminders;
};

/*
 * Parse a slot "[+-]N(s|m|h|d)[@HH:MM]" into SPEC; -1 with a message.
 */
int calendar_parse_slot(const char *s, struct slot_spec *spec, char *err, size_t errlen);
/* Parse a duration "N(s|m|h|d)" (> 0) into seconds; 0 or -1. */
int calendar_parse_duration(const char *s, int64_t *out);

/*
 * Reset C for YEAR: weekdays work, weekends do not, in the year and the
 * next (whose days are not known until a calendar says so); in force all
 * year.
 */
void calendar_init(struct calendar *c, int year);
/* Free what the reminder policy holds. */
void calendar_free(struct calendar *c);
/* Mark DAY a holiday (false) or a working day (true). */
void calendar_set_workday(struct calendar *c, int32_t day, bool working);
/* Whether DAY is a working day (outside the two years: Monday–Friday). */
bool calendar_is_workday(const struct calendar *c, int32_t day);
/*
 * Whether C knows DAY's working days from a calendar: a day of the plan
 * year, or of the next when its calendar was given (next_known).
 */
bool calendar_covers(const struct calendar *c, int32_t day);
/* Whether DAY lies in C's year (a due must: a plan is one year's). */
bool calendar_in_year(const struct calendar *c, int32_t day);

/*
 * Expand a recurring due: "quarterly:DD", "monthly:DD", "quarter-end" into
 * the days in force, sorted.  Returns the count (>= 0) with *DAYS
 * allocated, or -1 when SPEC is none of these.
 */
int calendar_expand(const struct calendar *c, const char *spec, int32_t **days);

/* Quarter-end instants in force: 00:00 of each following quarter's day 1. */
struct quarter {
	int64_t at;
	char period[16]; /* "2020-Q3" */
};
/* The quarters that overlap the period in force, in order; count. */
size_t calendar_quarters(const struct calendar *c, struct quarter out[4]);
/* 00:00 of the first day of the quarter after the one containing DAY. */
int64_t calendar_quarter_end(int32_t day);

/* When an occurrence is due, its deadline and its close. */
struct schedule {
	int32_t due_day;
	bool timed;       /* due given as a date-time */
	int64_t due_at;   /* when timed */
	int64_t deadline; /* first instant that is late */
	int64_t close;    /* first instant that is missing */
};

/* Fill S->deadline and S->close from the due and C's close policy. */
void calendar_schedule(const struct calendar *c, struct schedule *s);

struct slot {
	int64_t at;
	enum slot_kind kind;
	char key[24]; /* stable name of the slot within its occurrence */
};

/*
 * The reminder slots of one occurrence, after working-day shifts and
 * de-duplication, sorted by time.  RECORD selects the department's
 * record slots instead of the unit's before/due/overdue ones.  Returns
 * the count with *OUT allocated (NULL when 0).
 */
size_t calendar_slots(const struct calendar *c, const struct schedule *s, bool record,
		      struct slot **out);

#endif
