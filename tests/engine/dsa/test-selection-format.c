/* The compact serialised form of selection records: a real session's records
 * survive encode → decode exactly (per-layer counts as bin sums, and the
 * layers that chose each top position, version 2); a view without layers is
 * written and read back as version 1; the worst case the issue sets (500
 * answer tokens, 64 question tokens, 128K positions, 61 layers, top 64, with
 * their layers) stays under 2 MB; truncated or damaged blobs, and layer bits
 * past the model's layers, are refused or decoded without a bad read (the
 * suite runs under ASan). */
#include "../test-util.h"

#include <stdint.h>

static void check_round_trip(const sl_selection_view *v)
{
    uint8_t *blob = NULL;
    size_t len = 0;
    sl_error err = {0};
    CHECK(sl_selections_encode(v, &blob, &len, &err) == SL_OK);
    sl_selections *d = NULL;
    CHECKF(sl_selections_decode(blob, len, &d, &err) == SL_OK, "%s", err.message);
    if (!d) {
        free(blob);
        return;
    }
    CHECK(d->n_layers == v->n_layers && d->top_k == v->top_k && d->n_positions == v->n_positions);
    CHECK(d->n_records == v->n_records);
    int wrong = 0;
    for (size_t i = 0; i < d->n_records && i < v->n_records; i++) {
        const sl_selection_record *a = &d->records[i], *b = &v->records[i];
        wrong += a->query_pos != b->query_pos || a->answer != b->answer || a->n_top != b->n_top;
        for (int t = 0; t < a->n_top && t < b->n_top; t++)
            wrong += a->top_pos[t] != b->top_pos[t] || a->top_votes[t] != b->top_votes[t];
        size_t lb = ((size_t)v->n_layers + 7) / 8;
        if (b->top_layers)
            wrong += !a->top_layers ||
                     memcmp(a->top_layers, b->top_layers, (size_t)b->n_top * lb) != 0;
        else
            wrong += a->top_layers != NULL;
    }
    CHECK(d->version == (v->n_records && !v->records[0].top_layers ? 1 : 2));
    for (int l = 0; l < v->n_layers; l++)
        for (size_t bin = 0; bin < d->n_bins; bin++) {
            uint64_t sum = 0;
            for (size_t p = bin * d->bin_width; p < (bin + 1) * d->bin_width && p < v->n_positions; p++)
                sum += v->counts[(size_t)l * v->stride + p];
            wrong += d->bins[(size_t)l * d->n_bins + bin] != sum;
        }
    CHECKF(wrong == 0, "%d fields differ after a round trip", wrong);
    sl_selections_free(d);

    /* every truncation is refused; single-byte damage never reads out of bounds */
    int accepted = 0;
    for (size_t n = 0; n < len; n++) {
        sl_selections *t = NULL;
        accepted += sl_selections_decode(blob, n, &t, &err) == SL_OK;
        sl_selections_free(t);
    }
    CHECKF(accepted == 0, "%d truncated blobs were accepted", accepted);
    for (size_t i = 0; i < len; i += 1 + len / 3000) {
        uint8_t saved = blob[i];
        blob[i] ^= 0xA5;
        sl_selections *t = NULL;
        if (sl_selections_decode(blob, len, &t, &err) == SL_OK)
            CHECK(t->n_records <= len && t->n_bins <= SL_SELECTION_BINS);
        sl_selections_free(t);
        blob[i] = saved;
    }
    free(blob);
}

static void check_real_session(const char *model)
{
    sl_engine_options opt = {.model_path = model, .n_threads = 2};
    sl_engine *e = NULL;
    sl_error err = {0};
    CHECKF(sl_engine_open(&opt, &e, &err) == SL_OK, "%s", err.message);
    if (!e)
        return;
    sl_session *s = NULL;
    sl_dsa_options o = sl_dsa_default();
    o.mode = SL_DSA_ORACLE;
    o.top_k = 6;
    o.record_top_m = 7;
    o.record_question = 10;
    CHECK(sl_session_new(e, 64, &s, &err) == SL_OK);
    CHECK(sl_session_set_dsa(s, &o, &err) == SL_OK);
    int32_t ids[40];
    for (int i = 0; i < 40; i++)
        ids[i] = (i * 37 + 11) % 256;
    CHECK(sl_session_prefill(s, ids, 40, NULL, &err) == SL_OK);
    sl_sampling greedy = sl_sampling_default();
    greedy.temperature = 0;
    int32_t tok;
    for (int i = 0; i < 5; i++)
        CHECK(sl_session_next(s, &greedy, &tok, &err) == SL_OK);
    sl_selection_view v;
    CHECK(sl_session_selections(s, &v, &err) == SL_OK);
    CHECK(v.n_records == 15);
    for (size_t i = 0; i < v.n_records; i++)
        CHECK(v.records[i].top_layers != NULL);
    check_round_trip(&v);
    /* The same records without their layers, as version 1 has them: written and read back
     * as version 1, votes kept. */
    sl_selection_record *old = malloc(v.n_records * sizeof *old);
    for (size_t i = 0; i < v.n_records; i++) {
        old[i] = v.records[i];
        old[i].top_layers = NULL;
    }
    sl_selection_view v1 = v;
    v1.records = old;
    check_round_trip(&v1);
    free(old);
    sl_session_free(s);
    sl_engine_close(e);
}

/* The bound: 61 layers, 131072 positions, 564 records of the top 64. */
static void check_size_bound(void)
{
    enum { LAYERS = 61, POSITIONS = 131072, RECORDS = 564, TOP = 64 };
    uint32_t *counts = malloc((size_t)LAYERS * POSITIONS * sizeof *counts);
    sl_selection_record *records = malloc(RECORDS * sizeof *records);
    int32_t *pos = malloc((size_t)RECORDS * TOP * sizeof *pos);
    uint16_t *votes = malloc((size_t)RECORDS * TOP * sizeof *votes);
    enum { LB = (LAYERS + 7) / 8 };
    uint8_t *masks = calloc((size_t)RECORDS * TOP * LB, 1);
    uint64_t x = 1;
    for (size_t i = 0; i < (size_t)LAYERS * POSITIONS; i++) {
        x = x * 6364136223846793005ull + 1442695040888963407ull;
        counts[i] = (uint32_t)(x >> 40) % 565; /* every position selected, often */
    }
    for (int r = 0; r < RECORDS; r++) {
        int32_t q = POSITIONS - RECORDS + r;
        for (int t = 0; t < TOP; t++) {
            x = x * 6364136223846793005ull + 1442695040888963407ull;
            pos[r * TOP + t] = (int32_t)((x >> 33) % (uint64_t)(q + 1));
            votes[r * TOP + t] = (uint16_t)(LAYERS - t % LAYERS);
            /* that many layers, scattered */
            uint8_t *m = masks + ((size_t)r * TOP + (size_t)t) * LB;
            for (int set = 0; set < votes[r * TOP + t];) {
                x = x * 6364136223846793005ull + 1442695040888963407ull;
                int l = (int)((x >> 33) % LAYERS);
                if (!(m[l / 8] & (1u << (l % 8)))) {
                    m[l / 8] |= (uint8_t)(1u << (l % 8));
                    set++;
                }
            }
        }
        records[r] = (sl_selection_record){q, r >= 64, TOP, pos + r * TOP, votes + r * TOP, NULL,
                                           masks + (size_t)r * TOP * LB};
    }
    sl_selection_view v = {LAYERS, 2048, POSITIONS, POSITIONS, counts, RECORDS, records, NULL};
    uint8_t *blob = NULL;
    size_t len = 0;
    sl_error err = {0};
    CHECK(sl_selections_encode(&v, &blob, &len, &err) == SL_OK);
    fprintf(stderr, "  500 answer + 64 question tokens, 128K positions, 61 layers: %zu bytes\n", len);
    CHECKF(len <= 2u << 20, "%zu bytes is over 2 MB", len);
    sl_selections *d = NULL;
    CHECK(sl_selections_decode(blob, len, &d, &err) == SL_OK);
    CHECK(d && d->n_records == RECORDS && d->n_bins == SL_SELECTION_BINS && d->version == 2);
    int wrong = 0;
    for (int r = 0; d && r < RECORDS; r++)
        for (int t = 0; t < TOP; t++)
            wrong += d->records[r].top_votes[t] != votes[r * TOP + t] ||
                     memcmp(d->records[r].top_layers + (size_t)t * LB,
                            masks + ((size_t)r * TOP + (size_t)t) * LB, LB) != 0;
    CHECKF(wrong == 0, "%d entries differ", wrong);
    sl_selections_free(d);
    free(blob);
    free(counts);
    free(records);
    free(pos);
    free(votes);
    free(masks);
}

/* Layer bits past the model's layers, and a version from the future, are refused. */
static void check_bad_layers(void)
{
    int32_t pos[2] = {0, 1};
    uint16_t votes[2] = {1, 1};
    uint8_t masks[2] = {0x01, 0x08}; /* layer 3 of a model of 3 */
    uint32_t counts[3 * 2] = {0};
    sl_selection_record rec = {1, true, 2, pos, votes, NULL, masks};
    sl_selection_view v = {3, 2, 2, 2, counts, 1, &rec, NULL};
    uint8_t *blob = NULL;
    size_t len = 0;
    sl_error err = {0};
    CHECK(sl_selections_encode(&v, &blob, &len, &err) == SL_OK);
    sl_selections *d = NULL;
    CHECK(sl_selections_decode(blob, len, &d, &err) == SL_ERR_FORMAT && d == NULL);
    CHECKF(strstr(err.message, "entry 1") != NULL, "%s", err.message);
    free(blob);
    masks[1] = 0x06; /* layers 1 and 2: two votes */
    CHECK(sl_selections_encode(&v, &blob, &len, &err) == SL_OK);
    CHECK(sl_selections_decode(blob, len, &d, &err) == SL_OK);
    CHECK(d && d->records[0].top_votes[0] == 1 && d->records[0].top_votes[1] == 2);
    sl_selections_free(d);
    d = NULL;
    blob[4] = 3;
    CHECK(sl_selections_decode(blob, len, &d, &err) == SL_ERR_UNSUPPORTED && d == NULL);
    free(blob);
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: %s TINY-MODEL.gguf\n", argv[0]);
        return 2;
    }
    check_real_session(argv[1]);
    check_size_bound();
    check_bad_layers();
    uint8_t junk[16] = "SLSL\1\0\0\0\377\377\377\377\377\377\377\377";
    sl_selections *d = NULL;
    sl_error err = {0};
    CHECK(sl_selections_decode(junk, sizeof junk, &d, &err) == SL_ERR_FORMAT && d == NULL);
    return sl_test_finish();
}
