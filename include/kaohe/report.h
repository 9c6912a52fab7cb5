/*
 * report — the published forms of a standing: the units array of
 * snapshots and scores (JSON), and points as JSON numbers.
 */
#ifndef KAOHE_REPORT_H
#define KAOHE_REPORT_H

#include <jansson.h>
#include <stdint.h>

#include "kaohe/plan.h"
#include "kaohe/score.h"
#include "kaohe/util.h"

/* Hundredths as a JSON number: an integer when whole, else a real. */
json_t *report_points(int64_t hundredths);
/* Ten-thousandths (metric values) as a JSON number. */
json_t *report_value(int64_t ten_thousandths);
/* An instant as an ISO-8601 string with offset. */
json_t *report_instant(int64_t t);

/*
 * The units array: [{"unit","name","total","basic","key",…,"rank",
 * "rows":{…}}], one member per category id, in plan order.  Written as
 * text straight into SB: a large plan's standing is 40,000 objects.
 */
void report_units_text(const struct plan *p, const struct score_table *t, struct sbuf *sb);
/* The same as a jansson value. */
json_t *report_units(const struct plan *p, const struct score_table *t);
/* One element of the units array, for unit U, appended to SB without its
 * closing brace (the caller adds members). */
void report_unit_text_open(const struct plan *p, const struct score_table *t, size_t u,
			   struct sbuf *sb);
/* Append ,"KEY":"ISO-8601 instant" to SB. */
void report_instant_member(struct sbuf *sb, const char *key, int64_t t);
/* Append S to SB as a JSON string literal. */
void report_json_string(struct sbuf *sb, const char *s);
/* Append hundredths to SB as a JSON number. */
void report_points_text(struct sbuf *sb, int64_t hundredths);

/* Serialise compactly with reals printed shortest-exact. */
char *report_dump(const json_t *j);

#endif
