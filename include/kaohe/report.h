/*
 * report — a standing as it is published: the units array of snapshots,
 * the publication, simulate's lines and the answers,
 * [{"unit","name","total",<category>…,"rank","rows":{<row>…}}], one
 * element per unit and one member per category and row, in plan order.
 */
#ifndef KAOHE_REPORT_H
#define KAOHE_REPORT_H

#include <jansson.h>

#include "kaohe/json.h"
#include "kaohe/plan.h"
#include "kaohe/score.h"

/*
 * The units array of T through W, as member NAME of the object open in
 * W (NULL: an element, or the document).  Written as text: a large
 * plan's standing is 40,000 objects.
 */
void report_units_json(struct json_writer *w, const char *name, const struct plan *p,
		       const struct score_table *t);
/*
 * Unit U's element of the units array as member NAME, left open: the
 * caller adds members and ends it.
 */
void report_unit_open(struct json_writer *w, const char *name, const struct plan *p,
		      const struct score_table *t, size_t u);
/* The units array as a jansson value, for the answers built as trees. */
json_t *report_units(const struct plan *p, const struct score_table *t);

#endif
