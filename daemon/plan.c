/*
 * plan — construction helpers and lookups of the immutable plan model.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kaohe/plan.h"
#include "kaohe/util.h"

struct plan *plan_new(void)
{
	return xcalloc(1, sizeof(struct plan));
}

static void contact_free(struct contact *c)
{
	free(c->name);
	free(c->email);
	free(c->mobile);
}

void plan_free(struct plan *p)
{
	if (p == NULL)
		return;
	free(p->title);
	free(p->document);
	free(p->timezone);
	calendar_free(&p->cal);
	for (size_t i = 0; i < p->nunits; i++) {
		struct plan_unit *u = &p->units[i];
		free(u->id);
		free(u->name);
		for (size_t j = 0; j < u->nliaisons; j++)
			contact_free(&u->liaisons[j]);
		free(u->liaisons);
		contact_free(&u->leader);
	}
	free(p->units);
	for (size_t i = 0; i < p->ndepts; i++) {
		free(p->depts[i].id);
		free(p->depts[i].name);
		contact_free(&p->depts[i].office);
	}
	free(p->depts);
	for (size_t i = 0; i < p->ncats; i++) {
		free(p->cats[i].id);
		free(p->cats[i].name);
	}
	free(p->cats);
	for (size_t i = 0; i < p->nmetrics; i++) {
		free(p->metrics[i].id);
		free(p->metrics[i].name);
		free(p->metrics[i].unit);
	}
	free(p->metrics);
	for (size_t i = 0; i < p->nrows; i++) {
		struct plan_row *r = &p->rows[i];
		free(r->id);
		free(r->seq);
		free(r->annex_category);
		free(r->content);
		free(r->time_node);
		free(r->standard);
		free(r->scoring);
		for (size_t j = 0; j < r->nkinds; j++) {
			free(r->kinds[j].id);
			free(r->kinds[j].name);
		}
		free(r->kinds);
		for (size_t j = 0; j < r->nthresholds; j++)
			free(r->thresholds[j].any);
		free(r->thresholds);
		if (r->ranking)
			free(r->ranking->points);
		free(r->ranking);
	}
	free(p->rows);
	free(p->occs);
	free(p->unit_by_id);
	free(p->unit_by_name);
	free(p);
}

struct keyed {
	const char *key;
	int idx;
};

static int cmp_keyed(const void *a, const void *b)
{
	return strcmp(((const struct keyed *)a)->key, ((const struct keyed *)b)->key);
}

static int *sorted_index(const struct plan *p, bool by_name)
{
	struct keyed *k = xmalloc(p->nunits * sizeof(*k));
	int *idx = xmalloc(p->nunits * sizeof(*idx));

	for (size_t i = 0; i < p->nunits; i++) {
		k[i].key = by_name ? p->units[i].name : p->units[i].id;
		k[i].idx = (int)i;
	}
	qsort(k, p->nunits, sizeof(*k), cmp_keyed);
	for (size_t i = 0; i < p->nunits; i++)
		idx[i] = k[i].idx;
	free(k);
	return idx;
}

void plan_finish(struct plan *p)
{
	int bucket = 0;

	for (size_t i = 0; i < p->nrows; i++) {
		struct plan_row *r = &p->rows[i];
		r->bucket = bucket++;
		for (size_t j = 0; j < r->nkinds; j++)
			r->kinds[j].bucket = bucket++;
	}
	p->nbuckets = (size_t)bucket;
	for (size_t i = 0; i < p->noccs; i++) {
		struct plan_occ *o = &p->occs[i];
		const struct plan_row *r = &p->rows[o->row];
		if (r->nocc == 1) {
			strncpy(o->name, r->id, sizeof(o->name) - 1);
		} else {
			char day[16];
			calendar_format_day(o->sched.due_day, day, sizeof(day));
			snprintf(o->name, sizeof(o->name), "%s@%s", r->id, day);
		}
	}
	p->nquarters = calendar_quarters(&p->cal, p->quarters);
	free(p->unit_by_id);
	free(p->unit_by_name);
	p->unit_by_id = sorted_index(p, false);
	p->unit_by_name = sorted_index(p, true);
}

static int find_sorted(const struct plan *p, const int *idx, bool by_name, const char *s)
{
	size_t lo = 0, hi = p->nunits;
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		const struct plan_unit *u = &p->units[idx[mid]];
		int c = strcmp(s, by_name ? u->name : u->id);
		if (c == 0)
			return idx[mid];
		if (c < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	return -1;
}

int plan_unit_find(const struct plan *p, const char *s)
{
	int i = find_sorted(p, p->unit_by_id, false, s);
	return i >= 0 ? i : find_sorted(p, p->unit_by_name, true, s);
}

#define LINEAR_FIND(arr, n, field, key)                        \
	do {                                                   \
		for (size_t i_ = 0; i_ < (n); i_++)            \
			if (strcmp((arr)[i_].field, (key)) == 0) \
				return (int)i_;                \
		return -1;                                     \
	} while (0)

int plan_dept_find(const struct plan *p, const char *id)
{
	LINEAR_FIND(p->depts, p->ndepts, id, id);
}

int plan_row_find(const struct plan *p, const char *id)
{
	LINEAR_FIND(p->rows, p->nrows, id, id);
}

int plan_metric_find(const struct plan *p, const char *id)
{
	LINEAR_FIND(p->metrics, p->nmetrics, id, id);
}

int plan_category_find(const struct plan *p, const char *id)
{
	LINEAR_FIND(p->cats, p->ncats, id, id);
}

int plan_kind_find(const struct plan_row *r, const char *id)
{
	LINEAR_FIND(r->kinds, r->nkinds, id, id);
}

int plan_occ_find(const struct plan *p, const char *s)
{
	LINEAR_FIND(p->occs, p->noccs, name, s);
}

int64_t plan_final_at(const struct plan *p)
{
	return p->nquarters ? p->quarters[p->nquarters - 1].at : INT64_MAX;
}
