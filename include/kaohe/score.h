/*
 * score — ledger sums -> row scores (caps and clamps) -> category and
 * total -> ranking.  Pure integer arithmetic in hundredths.
 */
#ifndef KAOHE_SCORE_H
#define KAOHE_SCORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kaohe/plan.h"

struct score_table {
	size_t nunits, nrows, ncats;
	int64_t *rows;  /* [unit * nrows + row] */
	int64_t *cats;  /* [unit * ncats + cat] */
	int64_t *total; /* [unit] */
	int *rank;      /* [unit], 1 = best */
};

/*
 * The score of row R for one unit whose bucket sums are ACC (indexed by
 * plan bucket): starting points (max, or 0 for an earn row), plus the
 * uncounted bucket, plus each kind's sum bounded by its cap, clamped to
 * [0, max].
 */
int64_t score_row(const struct plan_row *r, const int64_t *acc);

/* How much kind K's sum SUM counts after its cap. */
int64_t score_kind(const struct plan_kind *k, int64_t sum);

/*
 * Standard competition ranking ("1224") of N values: rank[i] = 1 + the
 * number of values strictly better than values[i], where better is
 * higher when HIGHER_BETTER.  Entries with present[i] false get rank 0
 * (PRESENT may be NULL: all present).
 */
void score_rank(const int64_t *values, const bool *present, size_t n, bool higher_better,
		int *rank);

/* Fill OUT (allocated here) from ACC[unit * nbuckets + bucket]. */
void score_compute(const struct plan *p, const int64_t *acc, struct score_table *out);
/* Free what score_compute allocated. */
void score_free(struct score_table *t);

#endif
