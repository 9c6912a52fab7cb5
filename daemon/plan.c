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
	struct plan *p = xcalloc(1, sizeof(struct plan));
	p->track_from = INT64_MIN;
	return p;
}

void plan_contact_free(struct contact *c)
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
	free(p->file);
	calendar_free(&p->cal);
	for (size_t i = 0; i < p->nunits; i++) {
		struct plan_unit *u = &p->units[i];
		free(u->id);
		free(u->name);
		for (size_t j = 0; j < u->nliaisons; j++)
			plan_contact_free(&u->liaisons[j]);
		free(u->liaisons);
		plan_contact_free(&u->leader);
	}
	free(p->units);
	for (size_t i = 0; i < p->ndepts; i++) {
		free(p->depts[i].id);
		free(p->depts[i].name);
		plan_contact_free(&p->depts[i].office);
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
		free(r->submit);
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
	strmap_free(&p->unit_map);
	strmap_free(&p->row_map);
	strmap_free(&p->occ_map);
	free(p);
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
	strmap_free(&p->unit_map);
	strmap_free(&p->row_map);
	strmap_free(&p->occ_map);
	strmap_init(&p->unit_map, p->nunits * 2);
	for (size_t u = 0; u < p->nunits; u++) {
		strmap_put(&p->unit_map, p->units[u].id, (int)(u << 1));
		strmap_put(&p->unit_map, p->units[u].name, (int)(u << 1 | 1));
	}
	strmap_init(&p->row_map, p->nrows);
	for (size_t r = 0; r < p->nrows; r++)
		strmap_put(&p->row_map, p->rows[r].id, (int)r);
	strmap_init(&p->occ_map, p->noccs);
	for (size_t o = 0; o < p->noccs; o++)
		strmap_put(&p->occ_map, p->occs[o].name, (int)o);
}

int plan_unit_find(const struct plan *p, const char *s)
{
	size_t pos;
	int found = -1;

	/* An id wins over another unit's equal name. */
	for (int v = strmap_get(&p->unit_map, s, &pos); v >= 0;
	     v = strmap_next(&p->unit_map, s, &pos)) {
		if (!(v & 1))
			return v >> 1;
		if (found < 0)
			found = v >> 1;
	}
	return found;
}

#define LINEAR_FIND(arr, n, field, key)                          \
	do {                                                     \
		for (size_t i_ = 0; i_ < (n); i_++)              \
			if (strcmp((arr)[i_].field, (key)) == 0) \
				return (int)i_;                  \
		return -1;                                       \
	} while (0)

int plan_dept_find(const struct plan *p, const char *id)
{
	LINEAR_FIND(p->depts, p->ndepts, id, id);
}

int plan_row_find(const struct plan *p, const char *id)
{
	/* While config loads, rows are found before the map exists. */
	if (p->row_map.keys)
		return strmap_get(&p->row_map, id, NULL);
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
	if (p->occ_map.keys)
		return strmap_get(&p->occ_map, s, NULL);
	LINEAR_FIND(p->occs, p->noccs, name, s);
}

int64_t plan_final_at(const struct plan *p)
{
	return p->nquarters ? p->quarters[p->nquarters - 1].at : INT64_MAX;
}

bool plan_redated(const struct plan *p)
{
	return p->written_year != 0 && p->written_year != p->year;
}

void plan_redated_note(const struct plan *p, char *buf, size_t len)
{
	if (!plan_redated(p)) {
		snprintf(buf, len, "%s", "");
		return;
	}
	snprintf(buf, len, "本页按《%s》%s%s%s运行于%d年度", p->title ? p->title : "",
		 p->document && *p->document ? "（" : "", p->document ? p->document : "",
		 p->document && *p->document ? "）" : "", p->year);
}
