#include "sampler.h"

#include "cpu/ops.h"
#include "dsa/topk.h"
#include "error.h"

#include <math.h>
#include <stdlib.h>

typedef struct {
    float logit;
    int32_t id;
} candidate;

struct sl_sampler {
    int n_vocab;
    uint64_t rng[4];
    candidate *cand;
    float *logits;
    uint8_t *seen; /* repetition penalty: ids already penalised */
    sl_topk *topk; /* top-k filter: exact selection without sorting the vocabulary */
    size_t topk_max;
    int32_t *picked;
};

sl_sampling sl_sampling_default(void)
{
    return (sl_sampling){.temperature = 0.7f, .top_k = 40, .top_p = 0.95f, .min_p = 0.05f,
                         .repeat_penalty = 1.1f, .repeat_last_n = 64, .seed = 0};
}

static uint64_t splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

static uint64_t next_u64(uint64_t s[4]) /* xoshiro256** */
{
    uint64_t result = rotl(s[1] * 5, 7) * 9, t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
}

void sl_sampler_seed(sl_sampler *s, uint64_t seed)
{
    for (int i = 0; i < 4; i++)
        s->rng[i] = splitmix64(&seed);
}

sl_status sl_sampler_new(int n_vocab, uint64_t seed, sl_sampler **out, sl_error *err)
{
    sl_sampler *s = calloc(1, sizeof *s);
    if (s) {
        s->n_vocab = n_vocab;
        s->cand = malloc((size_t)n_vocab * sizeof *s->cand);
        s->logits = malloc((size_t)n_vocab * sizeof *s->logits);
        s->seen = calloc((size_t)n_vocab, 1);
    }
    if (!s || !s->cand || !s->logits || !s->seen) {
        sl_sampler_free(s);
        return sl_fail(err, SL_ERR_NO_MEMORY, "sampler: out of memory");
    }
    sl_sampler_seed(s, seed);
    *out = s;
    return SL_OK;
}

void sl_sampler_free(sl_sampler *s)
{
    if (!s)
        return;
    free(s->cand);
    free(s->logits);
    free(s->seen);
    sl_topk_free(s->topk);
    free(s->picked);
    free(s);
}

static int by_logit_desc(const void *a, const void *b)
{
    const candidate *x = a, *y = b;
    if (x->logit != y->logit)
        return x->logit < y->logit ? 1 : -1;
    return x->id < y->id ? -1 : x->id > y->id;
}

static void apply_repetition_penalty(sl_sampler *s, const sl_sampling *p, const int32_t *history,
                                     size_t n_history)
{
    if (p->repeat_penalty == 1.0f || p->repeat_last_n <= 0)
        return;
    size_t n = (size_t)p->repeat_last_n < n_history ? (size_t)p->repeat_last_n : n_history;
    const int32_t *h = history + (n_history - n);
    for (size_t i = 0; i < n; i++) {
        int32_t id = h[i];
        if (id < 0 || id >= s->n_vocab || s->seen[id])
            continue;
        s->seen[id] = 1;
        float *l = &s->logits[id];
        *l = *l > 0.0f ? *l / p->repeat_penalty : *l * p->repeat_penalty;
    }
    for (size_t i = 0; i < n; i++)
        if (h[i] >= 0 && h[i] < s->n_vocab)
            s->seen[h[i]] = 0;
}

/* The candidates (non-NaN logits over temperature), best first, ties to the
 * lower id; with a top-k filter only its k, found by exact selection so the
 * vocabulary is never sorted. */
static size_t candidates(sl_sampler *s, const sl_sampling *p)
{
    size_t n = 0, k = p->top_k > 0 ? (size_t)p->top_k : 0;
    if (k > 0 && k < (size_t)s->n_vocab) {
        if (k > s->topk_max) {
            sl_topk *t = NULL;
            int32_t *picked = malloc(k * sizeof *picked);
            if (!picked || sl_topk_new(k, &t, NULL) != SL_OK) {
                free(picked);
                k = 0; /* no memory for the selector: sort everything, then cut */
            } else {
                sl_topk_free(s->topk);
                free(s->picked);
                s->topk = t;
                s->picked = picked;
                s->topk_max = k;
            }
        }
    }
    if (k > 0 && k < (size_t)s->n_vocab) {
        size_t m = sl_topk_row(s->topk, s->logits, (size_t)s->n_vocab, k, s->picked);
        for (size_t i = 0; i < m; i++)
            if (!isnan(s->logits[s->picked[i]]))
                s->cand[n++] = (candidate){s->logits[s->picked[i]] / p->temperature, s->picked[i]};
    } else {
        for (int32_t i = 0; i < s->n_vocab; i++)
            if (!isnan(s->logits[i]))
                s->cand[n++] = (candidate){s->logits[i] / p->temperature, i};
    }
    qsort(s->cand, n, sizeof *s->cand, by_logit_desc);
    return p->top_k > 0 && n > (size_t)p->top_k ? (size_t)p->top_k : n;
}

int32_t sl_sampler_pick(sl_sampler *s, const sl_sampling *p, const float *logits,
                        const int32_t *history, size_t n_history)
{
    memcpy(s->logits, logits, (size_t)s->n_vocab * sizeof(float));
    apply_repetition_penalty(s, p, history, n_history);

    if (!(p->temperature > 0.0f)) { /* greedy; NaN logits never win */
        int32_t best = 0;
        for (int32_t i = 1; i < s->n_vocab; i++)
            if (s->logits[i] > s->logits[best] || isnan(s->logits[best]))
                best = i;
        return best;
    }
    size_t n = candidates(s, p);
    if (n == 0)
        return 0;

    /* probabilities (stored in .logit from here on) */
    float max = s->cand[0].logit, sum = 0.0f;
    for (size_t i = 0; i < n; i++) {
        s->cand[i].logit = sl_expf(s->cand[i].logit - max);
        sum += s->cand[i].logit;
    }
    for (size_t i = 0; i < n; i++)
        s->cand[i].logit /= sum;
    if (p->top_p < 1.0f) {
        float cum = 0.0f;
        for (size_t i = 0; i < n; i++) {
            cum += s->cand[i].logit;
            if (cum >= p->top_p) {
                n = i + 1;
                break;
            }
        }
    }
    if (p->min_p > 0.0f) {
        float floor = s->cand[0].logit * p->min_p;
        size_t keep = 1;
        while (keep < n && s->cand[keep].logit >= floor)
            keep++;
        n = keep;
    }
    sum = 0.0f;
    for (size_t i = 0; i < n; i++)
        sum += s->cand[i].logit;
    double r = (double)(next_u64(s->rng) >> 11) * 0x1.0p-53 * (double)sum;
    double acc = 0.0;
    for (size_t i = 0; i < n; i++) {
        acc += s->cand[i].logit;
        if (r < acc)
            return s->cand[i].id;
    }
    return s->cand[n - 1].id;
}
