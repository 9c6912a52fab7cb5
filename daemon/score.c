/*
 * score — derived scores.  Nothing here is stored: every figure comes
 * again from the ledger sums, so a voided entry or a reload of the rules
 * can never leave a stale counter behind.
 */
#include <stdlib.h>
#include <string.h>

#include "kaohe/score.h"
#include "kaohe/util.h"

int64_t score_kind(const struct plan_kind *k, int64_t sum)
{
	if (k->cap < 0)
		return sum;
	if (k->award)
		return sum > k->cap ? k->cap : sum;
	return sum < -k->cap ? -k->cap : sum;
}

int64_t score_row(const struct plan_row *r, const int64_t *acc)
{
	int64_t v = (r->earn ? 0 : r->max) + acc[r->bucket];
	for (size_t k = 0; k < r->nkinds; k++)
		v += score_kind(&r->kinds[k], acc[r->kinds[k].bucket]);
	if (v < 0)
		return 0;
	return v > r->max ? r->max : v;
}

struct ranked {
	int64_t v;
	size_t i;
};

static int cmp_ranked_desc(const void *a, const void *b)
{
	const struct ranked *x = a, *y = b;
	if (x->v != y->v)
		return x->v > y->v ? -1 : 1;
	return x->i < y->i ? -1 : x->i > y->i;
}

void score_rank(const int64_t *values, const bool *present, size_t n, bool higher_better, int *rank)
{
	struct ranked *r = xmalloc((n + 1) * sizeof(*r));
	size_t m = 0;

	for (size_t i = 0; i < n; i++) {
		rank[i] = 0;
		if (present && !present[i])
			continue;
		r[m].v = higher_better ? values[i] : -values[i];
		r[m].i = i;
		m++;
	}
	qsort(r, m, sizeof(*r), cmp_ranked_desc);
	for (size_t j = 0; j < m; j++)
		rank[r[j].i] = j > 0 && r[j].v == r[j - 1].v ? rank[r[j - 1].i] : (int)j + 1;
	free(r);
}

void score_compute(const struct plan *p, const int64_t *acc, struct score_table *out)
{
	out->nunits = p->nunits;
	out->nrows = p->nrows;
	out->ncats = p->ncats;
	out->rows = xcalloc(p->nunits * p->nrows + 1, sizeof(int64_t));
	out->cats = xcalloc(p->nunits * p->ncats + 1, sizeof(int64_t));
	out->total = xcalloc(p->nunits + 1, sizeof(int64_t));
	out->rank = xcalloc(p->nunits + 1, sizeof(int));
	for (size_t u = 0; u < p->nunits; u++) {
		const int64_t *a = acc + u * p->nbuckets;
		for (size_t r = 0; r < p->nrows; r++) {
			int64_t v = score_row(&p->rows[r], a);
			out->rows[u * p->nrows + r] = v;
			if (p->rows[r].category >= 0)
				out->cats[u * p->ncats + (size_t)p->rows[r].category] += v;
			out->total[u] += v;
		}
	}
	score_rank(out->total, NULL, p->nunits, true, out->rank);
}

void score_free(struct score_table *t)
{
	free(t->rows);
	free(t->cats);
	free(t->total);
	free(t->rank);
	memset(t, 0, sizeof(*t));
}
