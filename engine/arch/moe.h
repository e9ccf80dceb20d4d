/* moe.h: DeepSeek-V3's expert routing (sigmoid scores, a correction bias,
 * group-limited choice), on the CPU. */
#ifndef SL_MOE_H
#define SL_MOE_H

#include <stdbool.h>
#include <stdint.h>

typedef struct {
    int n_experts, n_group, topk_group, top_k;
    bool normalise; /* weights divided by their sum (norm_topk_prob) */
    float scale;    /* routed_scaling_factor */
} sl_moe_routing;

/* Chooses top_k experts for one token from its router logits (float32):
 *   s = sigmoid(logits), c = s + bias (bias steers the choice only);
 *   each group's score is the sum of its two best c; the topk_group best
 *   groups stay; the top_k experts by c among them are chosen;
 *   weight = s, divided by Σ s + 1e-20 when normalise, times scale.
 * Ties go to the lower group or expert index. experts and weights get top_k
 * entries; scratch: 2·(n_experts + n_group) floats. */
void sl_moe_route(const sl_moe_routing *r, const float *logits, const float *bias,
                  int32_t *experts, float *weights, float *scratch);

#endif
