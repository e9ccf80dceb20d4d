/* The sampler against its definition: greedy is the argmax, filters keep
 * exactly the sets they promise, draws follow the softmax distribution
 * (chi-square), a seed fixes the stream, and the repetition penalty moves
 * the logits it should. Plus determinism of a whole generation on the tiny
 * model. */
#include "../test-util.h"
#include "sampler.h"

#include <math.h>

enum { V = 8 };

static sl_sampling plain(float temperature)
{
    return (sl_sampling){.temperature = temperature, .top_k = 0, .top_p = 1.0f, .min_p = 0.0f,
                         .repeat_penalty = 1.0f, .repeat_last_n = 0, .seed = 1};
}

static void test_greedy(sl_sampler *s)
{
    float logits[V] = {0.1f, 3.0f, -1.0f, 3.0f, NAN, 2.9f, -INFINITY, 0.0f};
    sl_sampling p = plain(0.0f);
    CHECK(sl_sampler_pick(s, &p, logits, NULL, 0) == 1); /* tie: lowest id */
    float nan_first[V] = {NAN, -5.0f, -4.0f, -6.0f, -7.0f, -8.0f, -9.0f, -10.0f};
    CHECK(sl_sampler_pick(s, &p, nan_first, NULL, 0) == 2);
    p = plain(5.0f);
    p.top_k = 1; /* top-k 1 is greedy at any temperature */
    for (int i = 0; i < 50; i++)
        CHECK(sl_sampler_pick(s, &p, logits, NULL, 0) == 1);
}

/* Draws n tokens and counts them. */
static void draw(sl_sampler *s, const sl_sampling *p, const float *logits, int n, int counts[V])
{
    memset(counts, 0, V * sizeof *counts);
    for (int i = 0; i < n; i++) {
        int32_t id = sl_sampler_pick(s, p, logits, NULL, 0);
        if (id >= 0 && id < V)
            counts[id]++;
    }
}

static void test_distribution(sl_sampler *s)
{
    float logits[V] = {1.0f, 2.0f, 0.5f, -1.0f, 1.5f, 0.0f, 2.5f, -0.5f};
    sl_sampling p = plain(0.8f);
    int counts[V], n = 200000;
    draw(s, &p, logits, n, counts);
    double z = 0, chi2 = 0;
    for (int i = 0; i < V; i++)
        z += exp(logits[i] / 0.8);
    for (int i = 0; i < V; i++) {
        double expect = n * exp(logits[i] / 0.8) / z;
        chi2 += (counts[i] - expect) * (counts[i] - expect) / expect;
    }
    /* 7 degrees of freedom: P(chi2 > 24.3) = 0.001 */
    CHECKF(chi2 < 24.3, "chi-square %.1f", chi2);
}

static void test_filters(sl_sampler *s)
{
    /* probabilities at temperature 1: about .47 .26 .14 .06 .03 .02 .01 .005 */
    float logits[V] = {4.0f, 3.4f, 2.8f, 2.0f, 1.3f, 0.9f, 0.2f, -0.5f};
    int counts[V];
    sl_sampling p = plain(1.0f);
    p.top_k = 3;
    draw(s, &p, logits, 20000, counts);
    CHECK(counts[0] > 0 && counts[1] > 0 && counts[2] > 0);
    CHECK(counts[3] + counts[4] + counts[5] + counts[6] + counts[7] == 0);

    p = plain(1.0f);
    p.top_p = 0.7f; /* .47 + .26 = .73 ≥ .7: two tokens */
    draw(s, &p, logits, 20000, counts);
    CHECK(counts[0] > 0 && counts[1] > 0);
    CHECK(counts[2] + counts[3] + counts[4] + counts[5] + counts[6] + counts[7] == 0);

    p = plain(1.0f);
    p.min_p = 0.2f; /* keeps p ≥ .2·.47 = .094: three tokens */
    draw(s, &p, logits, 20000, counts);
    CHECK(counts[2] > 0);
    CHECK(counts[3] + counts[4] + counts[5] + counts[6] + counts[7] == 0);
}

static void test_seed_and_penalty(sl_sampler *s)
{
    float logits[V] = {1.0f, 1.1f, 0.9f, 1.05f, 0.95f, 1.0f, 1.02f, 0.98f};
    sl_sampling p = plain(1.0f);
    int32_t a[64], b[64];
    sl_sampler_seed(s, 42);
    for (int i = 0; i < 64; i++)
        a[i] = sl_sampler_pick(s, &p, logits, NULL, 0);
    sl_sampler_seed(s, 42);
    for (int i = 0; i < 64; i++)
        b[i] = sl_sampler_pick(s, &p, logits, NULL, 0);
    CHECK(memcmp(a, b, sizeof a) == 0);
    sl_sampler_seed(s, 43);
    int same = 0;
    for (int i = 0; i < 64; i++)
        same += sl_sampler_pick(s, &p, logits, NULL, 0) == a[i];
    CHECK(same < 64);

    /* penalty: positive logits divided, negative multiplied; each id once */
    float pen[V] = {2.0f, 1.9f, -3.0f, -3.5f, -9.0f, -9.0f, -9.0f, -9.0f};
    int32_t history[4] = {0, 0, 0, 2};
    p = plain(0.0f);
    p.repeat_penalty = 1.5f;
    p.repeat_last_n = 4;
    CHECK(sl_sampler_pick(s, &p, pen, history, 4) == 1); /* 2/1.5 < 1.9 */
    p.repeat_last_n = 1; /* only the last token (2) is penalised */
    CHECK(sl_sampler_pick(s, &p, pen, history, 4) == 0);
    float neg[V] = {-1.0f, -1.2f, -9.0f, -9.0f, -9.0f, -9.0f, -9.0f, -9.0f};
    int32_t h0[1] = {0};
    p.repeat_last_n = 1;
    CHECK(sl_sampler_pick(s, &p, neg, h0, 1) == 1); /* -1·1.5 < -1.2 */
}

/* The same seed gives the same text through the whole engine. */
static void test_generation_determinism(const char *model)
{
    sl_engine_options opt = {.model_path = model, .n_threads = 2};
    sl_engine *e = NULL;
    sl_error err = {0};
    CHECKF(sl_engine_open(&opt, &e, &err) == SL_OK, "%s", err.message);
    if (!e)
        return;
    int32_t out[2][24];
    for (int run = 0; run < 2; run++) {
        sl_session *s = NULL;
        CHECK(sl_session_new(e, 64, &s, &err) == SL_OK);
        int32_t prompt[3] = {258, 72, 101};
        CHECK(sl_session_prefill(s, prompt, 3, NULL, &err) == SL_OK);
        sl_sampling p = sl_sampling_default();
        p.seed = 7;
        for (int i = 0; i < 24; i++)
            CHECK(sl_session_next(s, &p, &out[run][i], &err) == SL_OK);
        sl_session_free(s);
    }
    CHECK(memcmp(out[0], out[1], sizeof out[0]) == 0);
    sl_engine_close(e);
}

int main(int argc, char **argv)
{
    sl_sampler *s = NULL;
    sl_error err = {0};
    CHECK(sl_sampler_new(V, 1, &s, &err) == SL_OK);
    if (!s)
        return sl_test_finish();
    test_greedy(s);
    test_distribution(s);
    test_filters(s);
    test_seed_and_penalty(s);
    sl_sampler_free(s);
    if (argc > 1)
        test_generation_determinism(argv[1]);
    return sl_test_finish();
}
