/*
 * outbox — decides who receives what the engine made due and writes one
 * delivery row per recipient and channel, inside the caller's (the
 * engine's) transaction: reminders to a unit's liaisons, from the first
 * overdue notice on copies to its leader and the owning departments'
 * offices (one digest per office and instant), the offices' reminders
 * to record findings, and notices to the admins of snapshots and of
 * dead deliveries.  Each row answers for keys (unit, occurrence, slot,
 * recipient) that are never enqueued twice, whatever restarts happen.
 */
#ifndef KAOHE_OUTBOX_H
#define KAOHE_OUTBOX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kaohe/config.h"
#include "kaohe/engine.h"
#include "kaohe/store.h"

/*
 * The offices' escalation copies of one instant, and the chat robots'
 * reminders.  Everything due for one recipient at one instant is one
 * message, so an office hears of every unit overdue at that instant in
 * one digest, and a robot serving several units of every unit reminded
 * then (one message per kind, split only as its provider's size limit
 * requires): they are gathered while the instant's reminders are
 * enqueued, and written when it is complete.
 */
struct outbox_copies;
struct outbox_copies *outbox_copies_new(void);
/* NULL is fine. */
void outbox_copies_free(struct outbox_copies *c);
/* Forget what C holds: its instant was rolled back before the flush. */
void outbox_copies_clear(struct outbox_copies *c);

/*
 * Enqueue reminder R's messages; *ADDED counts the rows.  The offices'
 * copies of an escalation and what goes to chat robots go into COPIES,
 * to be written by outbox_copies_flush() at the end of R's instant (R's
 * slot keys must live until then, as the engine's do); with COPIES NULL
 * they are written at once, naming R's unit only.  0 or -1.
 */
int outbox_reminder(struct store *st, const struct config *cfg, const struct reminder *r,
		    struct outbox_copies *copies, size_t *added);
/*
 * Write what C gathered as of instant AT.  Per chat robot and kind, one
 * message listing each unit's rows (its row names no unit; the subject's
 * words are "UNIT:OCC"), or several where the provider's size limit
 * requires, each unit's rows whole in one; a message about one unit is
 * that unit's own.  Then per department, one
 * message to its office by email, and one through each webhook serving
 * it that lists the units the webhook does not serve (those it serves
 * heard of it in their own overdue notice).  Each row answers for its
 * entries' own keys (unit, occurrence, slot, recipient); entries already
 * answered for are left out, and a row left with none is not written.
 * C is empty afterwards, whatever the outcome.  0 or -1.
 */
int outbox_copies_flush(struct store *st, const struct config *cfg, struct outbox_copies *c,
			int64_t at, size_t *added);
/* Tell the admins that PERIOD's snapshot was taken at AT. */
int outbox_snapshot(struct store *st, const struct config *cfg, int64_t at, const char *period,
		    size_t *added);
/*
 * Tell the admins that every configured plan year has ended, YEAR the
 * latest: once (a second call for YEAR adds nothing), inside the caller's
 * transaction.
 */
int outbox_ended(struct store *st, const struct config *cfg, int64_t at, int year, size_t *added);
/*
 * Tell the admins that delivery DEAD ran out of tries (not for a notice
 * of a dead delivery itself: those only go to the log).  A channel for
 * which WAITING(ARG, its name) is true (a provider asked it to wait) is
 * left out and counted in *LEFT: the notice would only queue behind the
 * wait it may well be reporting, and asking a provider again during its
 * wait can lengthen it.  WAITING may be NULL.
 */
int outbox_dead(struct store *st, const struct config *cfg, const struct outbox_row *dead,
		int64_t now, bool (*waiting)(void *arg, const char *channel), void *arg,
		size_t *added, size_t *left);

#endif
