/*
 * outbox — decides who receives what the engine made due and writes one
 * delivery row per recipient and channel, inside the caller's (the
 * engine's) transaction: reminders to a unit's liaisons, from the first
 * overdue notice on copies to its leader and the owning departments'
 * offices, the offices' reminders to record findings, and notices to
 * the admins of snapshots and of dead deliveries.  Each row answers for
 * keys (unit, occurrence, slot, recipient) that are never enqueued
 * twice, whatever restarts happen.
 */
#ifndef KAOHE_OUTBOX_H
#define KAOHE_OUTBOX_H

#include <stddef.h>
#include <stdint.h>

#include "kaohe/config.h"
#include "kaohe/engine.h"
#include "kaohe/store.h"

/* Enqueue reminder R's messages; *ADDED counts the rows.  0 or -1. */
int outbox_reminder(struct store *st, const struct config *cfg, const struct reminder *r,
		    size_t *added);
/* Tell the admins that PERIOD's snapshot was taken at AT. */
int outbox_snapshot(struct store *st, const struct config *cfg, int64_t at, const char *period,
		    size_t *added);
/*
 * Tell the admins that delivery DEAD ran out of tries (not for a notice
 * of a dead delivery itself: those only go to the log).
 */
int outbox_dead(struct store *st, const struct config *cfg, const struct outbox_row *dead,
		int64_t now, size_t *added);

#endif
