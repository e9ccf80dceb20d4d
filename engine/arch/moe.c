#include "arch/moe.h"

#include <math.h>
#include <stddef.h>

/* Index of the largest of x[0..n) among those allowed (allowed[i] != 0;
 * NULL: all), the lower index on ties; -1 when none is left. */
static int best_index(const float *x, int n, const float *allowed)
{
    int best = -1;
    for (int i = 0; i < n; i++)
        if ((!allowed || allowed[i] != 0.0f) && (best < 0 || x[i] > x[best]))
            best = i;
    return best;
}

void sl_moe_route(const sl_moe_routing *r, const float *logits, const float *bias,
                  int32_t *experts, float *weights, float *scratch)
{
    int E = r->n_experts, G = r->n_group, per = E / G;
    float *choice = scratch, *allowed = scratch + E;
    float *group_score = allowed + E, *group_left = group_score + G;
    for (int e = 0; e < E; e++)
        choice[e] = 1.0f / (1.0f + expf(-logits[e])) + (bias ? bias[e] : 0.0f);

    /* group scores: the sum of each group's two best choices */
    for (int g = 0; g < G; g++) {
        const float *c = choice + g * per;
        int first = best_index(c, per, NULL);
        float second = -INFINITY;
        for (int i = 0; i < per; i++)
            if (i != first && c[i] > second)
                second = c[i];
        group_score[g] = c[first] + (per > 1 ? second : 0.0f);
        group_left[g] = 1.0f;
    }
    for (int e = 0; e < E; e++)
        allowed[e] = 0.0f;
    for (int i = 0; i < r->topk_group; i++) {
        int g = best_index(group_score, G, group_left);
        group_left[g] = 0.0f;
        for (int e = g * per; e < (g + 1) * per; e++)
            allowed[e] = 1.0f;
    }

    float sum = 0.0f;
    for (int i = 0; i < r->top_k; i++) {
        int e = best_index(choice, E, allowed);
        allowed[e] = 0.0f;
        experts[i] = e;
        weights[i] = 1.0f / (1.0f + expf(-logits[e])); /* s, without the bias */
        sum += weights[i];
    }
    for (int i = 0; i < r->top_k; i++)
        weights[i] = (r->normalise ? weights[i] / (sum + 1e-20f) : weights[i]) * r->scale;
}
