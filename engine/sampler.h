/* sampler.h: choosing the next token from logits.
 *
 * Order, as Hugging Face's generate applies its processors: repetition
 * penalty, temperature, top-k, top-p, min-p, then a draw from the
 * renormalised distribution. Temperature 0 is greedy (ties: lowest id).
 * The draw uses a seeded xoshiro256** stream: same seed, same tokens. */
#ifndef SL_SAMPLER_H
#define SL_SAMPLER_H

#include "sightline-engine.h"

typedef struct sl_sampler sl_sampler;

sl_status sl_sampler_new(int n_vocab, uint64_t seed, sl_sampler **out, sl_error *err);
void sl_sampler_free(sl_sampler *sampler);
void sl_sampler_seed(sl_sampler *sampler, uint64_t seed);
/* history: the tokens the repetition penalty looks at (the last
 * params->repeat_last_n of them are used). */
int32_t sl_sampler_pick(sl_sampler *sampler, const sl_sampling *params, const float *logits,
                        const int32_t *history, size_t n_history);

#endif
