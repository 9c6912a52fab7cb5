/*
 * outbox — who receives what.  The email channel reaches every contact
 * with an address; a webhook (a group robot) reaches the units, the
 * departments and the admins it is configured to serve, and mentions the
 * liaisons' mobiles.  A department office's escalation copies of one
 * instant are one message for all the units overdue then, and so are a
 * chat robot's reminders of one instant and kind for the units it
 * serves: such a row names no unit, and its subject's words are
 * "UNIT:OCC".
 */
#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kaohe/log.h"
#include "kaohe/notify.h"
#include "kaohe/outbox.h"
#include "kaohe/provider.h"
#include "kaohe/util.h"

/* One message about some occurrences, before its keys are checked. */
struct draft {
	const char *kind;
	const char *unit; /* the key's unit: "" for offices' and admins' own */
	const char *dept;
	const char *channel;
	const char *address; /* "" for a webhook */
	const char *name;
	const char *mentions;
	const char *const *occs; /* occurrence names, or a period, or "#ID" */
	const char *const *slots;
	/*
	 * Each occurrence's unit when the message lists several units' (an
	 * office's escalation digest): the keys' units, and the subject's
	 * words are "UNIT:OCC".  NULL: UNIT for all.
	 */
	const char *const *units;
	size_t n;
	int64_t at;
};

/* Append occurrence I of D to a subject: its name, or "UNIT:OCC". */
static void subject_word(struct sbuf *sb, const struct draft *d, size_t i)
{
	if (sb->len)
		sbuf_puts(sb, " ");
	if (d->units)
		sbuf_printf(sb, "%s:", d->units[i]);
	sbuf_puts(sb, d->occs[i]);
}

/*
 * Enqueue D for those of its occurrences not yet answered for by this
 * recipient: one row, and the keys it answers for.  The row goes in
 * first and the keys are inserted unless held: the keys are new in all
 * but a repeated step, which then trims or drops the row.  0 or -1.
 */
static int add(struct store *st, const struct draft *d, size_t *added)
{
	char recipient[512];
	struct sbuf subject;
	size_t nnew = 0;
	int64_t id;
	int ret = -1;

	/* A row and its keys go in together, inside the caller's transaction. */
	assert(store_in_transaction(st));
	snprintf(recipient, sizeof(recipient), "%s:%s", d->channel, d->address);
	sbuf_init(&subject);
	for (size_t i = 0; i < d->n; i++)
		subject_word(&subject, d, i);
	struct outbox_row row = { .at = d->at,
				  .kind = d->kind,
				  .unit = d->unit,
				  .dept = d->dept,
				  .subject = subject.buf,
				  .channel = d->channel,
				  .address = d->address,
				  .name = d->name,
				  .mentions = d->mentions };
	if (store_outbox_add(st, &row, &id) < 0)
		goto out;
	bool *fresh = xcalloc(d->n ? d->n : 1, sizeof(*fresh));
	for (size_t i = 0; i < d->n; i++) {
		int rc = store_outbox_key_add(st, d->units ? d->units[i] : d->unit, d->occs[i],
					      d->slots[i], recipient, id);
		if (rc < 0) {
			free(fresh);
			goto out;
		}
		fresh[i] = rc;
		nnew += (size_t)rc;
	}
	if (nnew == d->n) {
		ret = 0;
	} else if (nnew == 0) {
		ret = store_outbox_drop(st, id);
	} else {
		sbuf_reset(&subject);
		for (size_t i = 0; i < d->n; i++)
			if (fresh[i])
				subject_word(&subject, d, i);
		ret = store_outbox_set_subject(st, id, subject.buf);
	}
	free(fresh);
	if (ret == 0 && nnew)
		(*added)++;
out:
	sbuf_free(&subject);
	return ret;
}

static bool serves_unit(const struct channel *c, int unit)
{
	return !c->provider->mail && (c->all_units || (c->units && c->units[unit]));
}

static bool serves_dept(const struct channel *c, int dept)
{
	return !c->provider->mail && (c->all_depts || (c->depts && c->depts[dept]));
}

static const struct channel *email_channel(const struct config *cfg)
{
	return config_channel(cfg, "email");
}

/* Mobiles of the unit's liaisons (and its leader on escalation), space-separated. */
static void mobiles_of(const struct plan_unit *u, bool leader, struct sbuf *out)
{
	for (size_t i = 0; i < u->nliaisons; i++)
		if (u->liaisons[i].mobile)
			sbuf_printf(out, "%s%s", out->len ? " " : "", u->liaisons[i].mobile);
	if (leader && u->leader.mobile)
		sbuf_printf(out, "%s%s", out->len ? " " : "", u->leader.mobile);
}

/*
 * Send D to the office of DEPT by email and through the webhooks serving
 * it.  UNITS (NULL: none) gives each occurrence's unit (D's units are
 * their ids): a webhook is sent only the occurrences of units it does
 * not serve, as those heard of them in their own overdue notice.
 */
static int to_office(struct store *st, const struct config *cfg, struct draft *d, int dept,
		     const int *units, size_t *added)
{
	const struct plan_dept *pd = &cfg->plan->depts[dept];
	const struct channel *email = email_channel(cfg);
	const struct draft all = *d;
	const char **occs = NULL, **slots = NULL, **uids = NULL;
	int ret = -1;

	d->dept = pd->id;
	d->name = pd->office.name && *pd->office.name ? pd->office.name : pd->name;
	if (email && pd->office.email) {
		d->channel = email->name;
		d->address = pd->office.email;
		d->mentions = "";
		if (add(st, d, added) < 0)
			return -1;
	}
	if (units) {
		occs = xcalloc(all.n ? all.n : 1, sizeof(*occs));
		slots = xcalloc(all.n ? all.n : 1, sizeof(*slots));
		uids = xcalloc(all.n ? all.n : 1, sizeof(*uids));
	}
	for (size_t i = 0; i < cfg->set.nchannels; i++) {
		const struct channel *c = &cfg->set.channels[i];
		if (!serves_dept(c, dept))
			continue;
		if (units) {
			d->n = 0;
			for (size_t j = 0; j < all.n; j++)
				if (!serves_unit(c, units[j])) {
					occs[d->n] = all.occs[j];
					slots[d->n] = all.slots[j];
					uids[d->n++] = all.units[j];
				}
			if (d->n == 0)
				continue;
			d->occs = occs;
			d->slots = slots;
			d->units = uids;
		}
		d->channel = c->name;
		d->address = "";
		d->mentions = pd->office.mobile ? pd->office.mobile : "";
		if (add(st, d, added) < 0)
			goto out;
	}
	ret = 0;
out:
	free(occs);
	free(slots);
	free(uids);
	return ret;
}

/* One unit's overdue occurrence, waiting for the office's digest. */
struct copy {
	int unit;
	int occ;
	int dept; /* the row's owner: whose office hears of it */
	const char *slot;
	size_t seq; /* the order it came in: each unit's is by due day */
};

/* One unit's occurrence for a chat robot, waiting for the robot's digest. */
struct robot_entry {
	int chan; /* the channel's index in the configuration */
	int kind; /* enum slot_kind */
	int unit;
	int occ;
	bool leader; /* the unit's leader is mentioned too */
	const char *slot;
	size_t seq; /* the order it came in */
};

struct outbox_copies {
	struct copy *v;
	size_t n, cap;
	struct robot_entry *r;
	size_t rn, rcap;
	int64_t at; /* the instant of what it holds */
};

struct outbox_copies *outbox_copies_new(void)
{
	return xcalloc(1, sizeof(struct outbox_copies));
}

void outbox_copies_free(struct outbox_copies *c)
{
	if (c == NULL)
		return;
	free(c->v);
	free(c->r);
	free(c);
}

void outbox_copies_clear(struct outbox_copies *c)
{
	if (c)
		c->n = c->rn = 0;
}

/* Start gathering for instant AT: what another instant left was never flushed (rolled back). */
static void copies_at(struct outbox_copies *c, int64_t at)
{
	if ((c->n || c->rn) && c->at != at)
		c->n = c->rn = 0;
	c->at = at;
}

static void robots_push(struct outbox_copies *c, int chan, int kind, int unit, bool leader, int occ,
			const char *slot, int64_t at)
{
	copies_at(c, at);
	if (c->rn == c->rcap) {
		c->rcap = c->rcap ? 2 * c->rcap : 64;
		c->r = xrealloc(c->r, c->rcap * sizeof(*c->r));
	}
	c->r[c->rn] = (struct robot_entry){ .chan = chan,
					    .kind = kind,
					    .unit = unit,
					    .occ = occ,
					    .leader = leader,
					    .slot = slot,
					    .seq = c->rn };
	c->rn++;
}

static void copies_push(struct outbox_copies *c, int unit, int occ, int dept, const char *slot,
			int64_t at)
{
	copies_at(c, at);
	if (c->n == c->cap) {
		c->cap = c->cap ? 2 * c->cap : 64;
		c->v = xrealloc(c->v, c->cap * sizeof(*c->v));
	}
	c->v[c->n] =
		(struct copy){ .unit = unit, .occ = occ, .dept = dept, .slot = slot, .seq = c->n };
	c->n++;
}

/* By department, then units in plan order, each in its digest's order. */
static int cmp_copy(const void *a, const void *b)
{
	const struct copy *x = a, *y = b;
	if (x->dept != y->dept)
		return x->dept < y->dept ? -1 : 1;
	if (x->unit != y->unit)
		return x->unit < y->unit ? -1 : 1;
	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/* By robot, kind and unit (plan order), each unit's in its reminder's order. */
static int cmp_robot(const void *a, const void *b)
{
	const struct robot_entry *x = a, *y = b;
	if (x->chan != y->chan)
		return x->chan < y->chan ? -1 : 1;
	if (x->kind != y->kind)
		return x->kind < y->kind ? -1 : 1;
	if (x->unit != y->unit)
		return x->unit < y->unit ? -1 : 1;
	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/*
 * What E[0..N) would read as, in bytes, as the robot's text: rendered
 * with the plan's own schedules (a move shifts a date by a few bytes at
 * most; the caller leaves room for that).
 */
static size_t robot_size(const struct config *cfg, const struct robot_entry *e, size_t n,
			 const char *mentions, int64_t at)
{
	const struct plan *p = cfg->plan;
	struct notify_item *items = xcalloc(n, sizeof(*items));
	struct sbuf subject, text;
	bool several = e[0].unit != e[n - 1].unit;

	for (size_t i = 0; i < n; i++) {
		const struct plan_occ *po = &p->occs[e[i].occ];
		const struct plan_row *pr = &p->rows[po->row];
		items[i] = (struct notify_item){
			.occ = po->name,
			.row = pr->id,
			.seq = pr->seq,
			.title = pr->content,
			.dept = p->depts[pr->dept].name,
			.state = e[i].kind == SLOT_OVERDUE ? "overdue" : "pending",
			/* ISO forms as long as the real ones */
			.due = "2020-12-10",
			.deadline = "2020-12-11T00:00:00+08:00",
			.close = "2020-12-26T00:00:00+08:00",
			.late = pr->late < 0 ? -pr->late : pr->late,
			.missing = pr->missing < 0 ? -pr->missing : pr->missing,
			.unit = several ? p->units[e[i].unit].name : NULL,
			.submit = pr->submit,
			.due_day = po->sched.due_day,
			.deadline_at = po->sched.deadline,
			.close_at = po->sched.close,
		};
	}
	struct notify_message m = {
		.kind = (enum notify_kind)notify_kind_find(
			calendar_slot_kind_name((enum slot_kind)e[0].kind)),
		.at = at,
		.recipient = "各单位考核联络员",
		.unit_id = several ? NULL : p->units[e[0].unit].id,
		.unit_name = several ? NULL : p->units[e[0].unit].name,
		.items = items,
		.nitems = n,
	};
	sbuf_init(&subject);
	sbuf_init(&text);
	notify_render(&cfg->set.templates, &m, &subject, &text);
	/* The subject's line, and a line of "@mobile" mentions. */
	size_t size = subject.len + 1 + text.len + 1 + strlen(mentions) + 1;
	sbuf_free(&subject);
	sbuf_free(&text);
	free(items);
	return size;
}

/* The mobiles E[0..N) mention, each once, into OUT. */
static void robot_mentions(const struct config *cfg, const struct robot_entry *e, size_t n,
			   struct sbuf *out)
{
	const struct plan *p = cfg->plan;
	for (size_t i = 0, j; i < n; i = j) {
		bool leader = false;
		for (j = i; j < n && e[j].unit == e[i].unit; j++)
			leader |= e[j].leader;
		mobiles_of(&p->units[e[i].unit], leader, out);
	}
}

/*
 * Write E[0..N) (one robot's, one kind, sorted by unit) as one message:
 * about its unit when it has one, else listing each unit's rows.
 */
static int robot_add(struct store *st, const struct config *cfg, const struct robot_entry *e,
		     size_t n, int64_t at, size_t *added)
{
	const struct plan *p = cfg->plan;
	const struct plan_unit *u = &p->units[e[0].unit];
	bool several = e[0].unit != e[n - 1].unit;
	const char **units = xcalloc(n, sizeof(*units));
	const char **occs = xcalloc(n, sizeof(*occs));
	const char **slots = xcalloc(n, sizeof(*slots));
	struct sbuf mobiles, names;

	sbuf_init(&mobiles);
	sbuf_init(&names);
	for (size_t i = 0; i < n; i++) {
		units[i] = p->units[e[i].unit].id;
		occs[i] = p->occs[e[i].occ].name;
		slots[i] = e[i].slot;
	}
	robot_mentions(cfg, e, n, &mobiles);
	for (size_t i = 0; !several && i < u->nliaisons; i++)
		sbuf_printf(&names, "%s%s", i ? "、" : "", u->liaisons[i].name);
	struct draft d = { .kind = calendar_slot_kind_name((enum slot_kind)e[0].kind),
			   .unit = several ? "" : u->id,
			   .dept = "",
			   .channel = cfg->set.channels[e[0].chan].name,
			   .address = "",
			   .name = several     ? "各单位考核联络员"
				   : names.len ? names.buf
					       : u->name,
			   .mentions = mobiles.buf,
			   .occs = occs,
			   .slots = slots,
			   .units = several ? units : NULL,
			   .n = n,
			   .at = at };
	int ret = add(st, &d, added);
	sbuf_free(&mobiles);
	sbuf_free(&names);
	free(units);
	free(occs);
	free(slots);
	return ret;
}

/*
 * One robot's entries of one kind, E[0..N) sorted by unit: one message,
 * or as few as its provider's size limit allows, each unit's rows whole
 * in one of them (a unit too long alone is cut by the provider, marked).
 */
static int robot_flush(struct store *st, const struct config *cfg, const struct robot_entry *e,
		       size_t n, int64_t at, size_t *added)
{
	const struct channel *ch = &cfg->set.channels[e[0].chan];
	/* A tenth spare: moved dates, markup escapes, a JSON wrapper. */
	size_t max = ch->provider->text_max ? ch->provider->text_max(ch) / 10 * 9 : 0;
	size_t from = 0;
	struct sbuf mobiles;

	sbuf_init(&mobiles);
	for (size_t i = 0, j; i < n; i = j) {
		for (j = i; j < n && e[j].unit == e[i].unit; j++)
			;
		if (max == 0 || i == from)
			continue;
		sbuf_reset(&mobiles);
		robot_mentions(cfg, e + from, j - from, &mobiles);
		if (robot_size(cfg, e + from, j - from, mobiles.buf, at) <= max)
			continue;
		if (robot_add(st, cfg, e + from, i - from, at, added) < 0) {
			sbuf_free(&mobiles);
			return -1;
		}
		from = i;
	}
	sbuf_free(&mobiles);
	return robot_add(st, cfg, e + from, n - from, at, added);
}

static int robots_flush(struct store *st, const struct config *cfg, struct outbox_copies *c,
			int64_t at, size_t *added)
{
	size_t n = c->rn;
	int ret = 0;

	/* Emptied first: whatever happens below, nothing is written twice. */
	c->rn = 0;
	qsort(c->r, n, sizeof(*c->r), cmp_robot);
	for (size_t i = 0, j; i < n && ret == 0; i = j) {
		for (j = i; j < n && c->r[j].chan == c->r[i].chan && c->r[j].kind == c->r[i].kind;
		     j++)
			;
		ret = robot_flush(st, cfg, &c->r[i], j - i, at, added);
	}
	return ret;
}

int outbox_copies_flush(struct store *st, const struct config *cfg, struct outbox_copies *c,
			int64_t at, size_t *added)
{
	const struct plan *p = cfg->plan;
	size_t n = c->n;
	int ret = 0;

	if (c->rn && robots_flush(st, cfg, c, at, added) < 0) {
		c->n = 0;
		return -1;
	}
	if (n == 0)
		return 0;
	/* Emptied first: whatever happens below, nothing is written twice. */
	c->n = 0;
	qsort(c->v, n, sizeof(*c->v), cmp_copy);
	const char **units = xcalloc(n, sizeof(*units));
	const char **occs = xcalloc(n, sizeof(*occs));
	const char **slots = xcalloc(n, sizeof(*slots));
	int *uidx = xcalloc(n, sizeof(*uidx));
	for (size_t i = 0, j; i < n && ret == 0; i = j) {
		size_t m = 0;
		for (j = i; j < n && c->v[j].dept == c->v[i].dept; j++, m++) {
			units[m] = p->units[c->v[j].unit].id;
			occs[m] = p->occs[c->v[j].occ].name;
			slots[m] = c->v[j].slot;
			uidx[m] = c->v[j].unit;
		}
		struct draft d = { .kind = "escalation",
				   .unit = "",
				   .dept = "",
				   .occs = occs,
				   .slots = slots,
				   .units = units,
				   .n = m,
				   .at = at };
		ret = to_office(st, cfg, &d, c->v[i].dept, uidx, added);
	}
	free(units);
	free(occs);
	free(slots);
	free(uidx);
	return ret;
}

/*
 * The escalation's copies: the leader's now (a leader belongs to one
 * unit), the owning offices' gathered in COPIES for the instant's digest.
 */
static int escalate(struct store *st, const struct config *cfg, const struct reminder *r,
		    const char **occs, struct outbox_copies *copies, size_t *added)
{
	const struct plan *p = cfg->plan;
	const struct plan_unit *u = &p->units[r->unit];
	const struct channel *email = email_channel(cfg);
	struct draft d = { .kind = "escalation",
			   .unit = u->id,
			   .dept = "",
			   .occs = occs,
			   .slots = r->slots,
			   .n = r->nocc,
			   .at = r->at };

	if (email && u->leader.email) {
		d.channel = email->name;
		d.address = u->leader.email;
		d.name = u->leader.name;
		d.mentions = "";
		if (add(st, &d, added) < 0)
			return -1;
	}
	for (size_t i = 0; i < r->nocc; i++)
		copies_push(copies, r->unit, r->occs[i], p->rows[p->occs[r->occs[i]].row].dept,
			    r->slots[i], r->at);
	return 0;
}

int outbox_reminder(struct store *st, const struct config *cfg, const struct reminder *r,
		    struct outbox_copies *copies, size_t *added)
{
	const struct plan *p = cfg->plan;
	const struct channel *email = email_channel(cfg);
	const char **occs = xcalloc(r->nocc ? r->nocc : 1, sizeof(*occs));
	struct outbox_copies *own = NULL;
	struct sbuf mobiles, names;
	int ret = -1;

	sbuf_init(&mobiles);
	sbuf_init(&names);
	for (size_t i = 0; i < r->nocc; i++)
		occs[i] = p->occs[r->occs[i]].name;
	struct draft d = { .kind = calendar_slot_kind_name(r->kind),
			   .dept = "",
			   .occs = occs,
			   .slots = r->slots,
			   .n = r->nocc,
			   .at = r->at };
	if (r->unit < 0) {
		d.unit = "";
		ret = to_office(st, cfg, &d, r->dept, NULL, added);
		goto out;
	}
	const struct plan_unit *u = &p->units[r->unit];
	d.unit = u->id;
	for (size_t i = 0; email && i < u->nliaisons; i++) {
		if (u->liaisons[i].email == NULL)
			continue;
		d.channel = email->name;
		d.address = u->liaisons[i].email;
		d.name = u->liaisons[i].name;
		d.mentions = "";
		if (add(st, &d, added) < 0)
			goto out;
	}
	mobiles_of(u, r->escalate, &mobiles);
	for (size_t i = 0; i < u->nliaisons; i++)
		sbuf_printf(&names, "%s%s", i ? "、" : "", u->liaisons[i].name);
	for (size_t i = 0; i < cfg->set.nchannels; i++) {
		const struct channel *c = &cfg->set.channels[i];
		if (!serves_unit(c, r->unit))
			continue;
		/* A chat robot hears of the instant's units in one digest. */
		if (copies && c->provider->text_max) {
			for (size_t k = 0; k < r->nocc; k++)
				robots_push(copies, (int)i, (int)r->kind, r->unit, r->escalate,
					    r->occs[k], r->slots[k], r->at);
			continue;
		}
		d.channel = c->name;
		d.address = "";
		d.name = names.len ? names.buf : u->name;
		d.mentions = mobiles.buf;
		if (add(st, &d, added) < 0)
			goto out;
	}
	if (!r->escalate) {
		ret = 0;
		goto out;
	}
	/* Without the instant's gatherer, the copies are this unit's alone. */
	if (copies == NULL)
		copies = own = outbox_copies_new();
	ret = escalate(st, cfg, r, occs, copies, added);
	if (ret == 0 && own && outbox_copies_flush(st, cfg, own, r->at, added) < 0)
		ret = -1;
out:
	outbox_copies_free(own);
	sbuf_free(&mobiles);
	sbuf_free(&names);
	free(occs);
	return ret;
}

/*
 * A notice to the admins about SUBJECT (a period, or "#ID") over every
 * channel that carries theirs, but for those SKIP(ARG, name) leaves out
 * (counted in *LEFT).
 */
static int to_admins(struct store *st, const struct config *cfg, const char *kind, int64_t at,
		     const char *subject, const char *slot,
		     bool (*skip)(void *arg, const char *channel), void *arg, size_t *added,
		     size_t *left)
{
	const struct channel *email = email_channel(cfg);
	const struct settings *set = &cfg->set;
	const char *occs[1] = { subject }, *slots[1] = { slot };
	struct draft d = { .kind = kind,
			   .unit = "",
			   .dept = "",
			   .occs = occs,
			   .slots = slots,
			   .n = 1,
			   .at = at,
			   .mentions = "" };

	bool held = email && skip && skip(arg, email->name);
	for (size_t i = 0; email && i < set->nadmins_contacts; i++) {
		if (set->admins_contacts[i].email == NULL)
			continue;
		if (held) {
			(*left)++;
			break;
		}
		d.channel = email->name;
		d.address = set->admins_contacts[i].email;
		d.name = set->admins_contacts[i].name;
		if (add(st, &d, added) < 0)
			return -1;
	}
	for (size_t i = 0; i < set->nchannels; i++) {
		const struct channel *c = &set->channels[i];
		if (c->provider->mail || !c->admins)
			continue;
		if (skip && skip(arg, c->name)) {
			(*left)++;
			continue;
		}
		d.channel = c->name;
		d.address = "";
		d.name = "考核管理员";
		if (add(st, &d, added) < 0)
			return -1;
	}
	return 0;
}

int outbox_snapshot(struct store *st, const struct config *cfg, int64_t at, const char *period,
		    size_t *added)
{
	size_t left = 0;
	return to_admins(st, cfg, "snapshot", at, period, "snapshot", NULL, NULL, added, &left);
}

int outbox_ended(struct store *st, const struct config *cfg, int64_t at, int year, size_t *added)
{
	char subject[16];
	size_t left = 0;
	snprintf(subject, sizeof(subject), "%d", year);
	return to_admins(st, cfg, "ended", at, subject, "ended", NULL, NULL, added, &left);
}

int outbox_dead(struct store *st, const struct config *cfg, const struct outbox_row *dead,
		int64_t now, bool (*waiting)(void *arg, const char *channel), void *arg,
		size_t *added, size_t *left)
{
	char subject[32], series[32];
	if (strcmp(dead->kind, notify_kind_name(NOTIFY_DEAD)) == 0)
		return 0;
	snprintf(subject, sizeof(subject), "#%lld", (long long)dead->id);
	/* A row retried by hand and dead again is news again. */
	snprintf(series, sizeof(series), "dead@%lld", (long long)dead->since_ms);
	return to_admins(st, cfg, "dead", now, subject, series, waiting, arg, added, left);
}
