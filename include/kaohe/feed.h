/*
 * feed — the calendar feeds (RFC 5545, built with libical): one VEVENT
 * per occurrence on its due day, with a UID stable across regenerations
 * and moves, the row's title and the deduction at stake, and a VALARM
 * for each reminder slot up to the due.  One feed per unit (its own
 * schedules, after moves) and one for all units (the shared schedules);
 * a unit's feed names nothing of the unit, so that of a unit without a
 * move of its own is the all-units feed, byte for byte.
 */
#ifndef KAOHE_FEED_H
#define KAOHE_FEED_H

#include <stdbool.h>
#include <stdint.h>

#include "kaohe/engine.h"
#include "kaohe/plan.h"
#include "kaohe/util.h"

/*
 * The VCALENDAR of UNIT (or of all units when UNIT is -1) for the
 * occurrences of PLAN as ENG schedules them now; DTSTAMP is NOW.
 * Appended to OUT as RFC 5545 text: CRLF line ends, lines folded at 75
 * octets without splitting a UTF-8 character, text escaped.  0 or -1.
 */
int feed_calendar(const struct plan *plan, const struct engine *eng, int unit, int64_t now,
		  struct sbuf *out);

/*
 * Whether some occurrence of UNIT is scheduled otherwise than the
 * shared schedule (a move of its own): only then does its feed differ
 * from the all-units feed.
 */
bool feed_own_schedule(const struct plan *plan, const struct engine *eng, int unit);

#endif
