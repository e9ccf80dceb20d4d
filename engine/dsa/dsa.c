#include "dsa/dsa.h"

#include "cpu/matmul.h"
#include "cpu/ops.h"
#include "dsa/topk.h"
#include "error.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    int32_t query_pos;
    bool answer;
    int n_top;
    size_t top_at; /* offset into top_pos / top_votes */
    size_t raw_at; /* offset into raw, or SIZE_MAX */
} record;

struct sl_dsa {
    sl_dsa_options opt;
    sl_dsa_shape shape;
    size_t k;          /* top_k */
    int n_threads;
    sl_topk **topk;    /* one per thread */
    float *scratch;    /* per thread: mass, scores, logits, gathered keys */
    size_t scratch_floats;
    int32_t *sel;      /* per thread: k positions */

    /* the current forward call */
    size_t pos, n, record_from;
    bool answer;
    size_t rec_cap;    /* recorded rows one call may have */
    int32_t *rec_sel;  /* rec_cap × k: this layer's selection of each recorded row */
    size_t *rec_n;     /* rec_cap: its size */
    uint16_t *votes;   /* rec_cap × max_tokens */
    int32_t *rec_raw;  /* rec_cap × n_layers × k: each layer's selection of each recorded row
                          (-1 padded; -1 for layers without DSA), kept until the chunk ends to
                          find which layers chose each top position, and copied into raw
                          with record_raw */
    int32_t *slot;     /* max_tokens: a position's rank among a row's top M, or -1 */

    /* what was recorded */
    uint32_t *counts;  /* n_layers × max_tokens */
    record *records;
    size_t n_records, cap_records;
    int32_t *top_pos;
    uint16_t *top_votes;
    uint8_t *top_layers; /* layer_bytes per top entry: bit l, the layers that chose it */
    size_t n_top, cap_top;
    size_t layer_bytes;  /* (n_layers + 7) / 8 */
    int32_t *raw;
    size_t n_raw, cap_raw;
    sl_selection_record *view; /* built by sl_dsa_view */
    double *kept;      /* per thread × n_layers: Σ over rows of the dense mass kept */
    double *kept_rows; /* the same: rows counted */
    double *kept_mean; /* n_layers, built by sl_dsa_view */

    /* a model that selects itself */
    int32_t *rows_sel; /* max_chunk × k */
    size_t *rows_n;    /* max_chunk */

    /* replay (sl_dsa_set_replay) */
    int32_t *replay;       /* n_replay × n_layers × k positions, -1 padded */
    uint8_t *replay_have;  /* n_replay: whether the view recorded that position */
    size_t n_replay;
    int32_t *replay_sel;   /* per thread: k positions */
    int32_t *replay_rows;  /* max_chunk × k: a model that selects, the rows it attends with */
    size_t *replay_n;      /* max_chunk */

    /* indexer mode */
    float **ikeys;     /* n_layers: max_tokens × D indexer keys, NULL for dense layers */
    float *iq, *iw;    /* max_chunk × H × D, max_chunk × H */
    sl_matmul_scratch *imm;
};

enum { SCORE_TILE = 1024 }; /* indexer scores are made and pushed this many at a time */

sl_dsa_options sl_dsa_default(void)
{
    return (sl_dsa_options){.mode = SL_DSA_DENSE, .top_k = 2048, .record_top_m = 64,
                            .record_question = 64, .record_raw = false, .sparse_always = false,
                            .indexer_fp8 = false};
}

static size_t round16(size_t n) { return (n + 15) / 16 * 16; }

static sl_status setup_indexer(sl_dsa *d, const sl_indexer *ix, const sl_pool *pool, sl_error *err)
{
    size_t H = (size_t)sl_indexer_heads(ix), D = (size_t)sl_indexer_head_dim(ix);
    d->ikeys = calloc((size_t)d->shape.n_layers, sizeof *d->ikeys);
    d->iq = malloc(d->shape.max_chunk * H * D * sizeof(float));
    d->iw = malloc(d->shape.max_chunk * H * sizeof(float));
    if (!d->ikeys || !d->iq || !d->iw)
        return SL_ERR_NO_MEMORY;
    for (int l = 0; l < d->shape.n_layers; l++)
        if (sl_indexer_layer_at(ix, l) && !(d->ikeys[l] = malloc(d->shape.max_tokens * D * sizeof(float))))
            return SL_ERR_NO_MEMORY;
    return sl_matmul_scratch_new(pool, d->shape.n_embd, false, &d->imm, err);
}

bool sl_dsa_layer_active(const sl_dsa *d, int layer)
{
    return d->opt.mode == SL_DSA_ORACLE ||
           (d->opt.mode == SL_DSA_INDEXER && sl_indexer_layer_at(d->shape.indexer, layer));
}

sl_status sl_dsa_new(const sl_dsa_options *opt, const sl_dsa_shape *shape, const sl_pool *pool,
                     sl_dsa **out, sl_error *err)
{
    if (opt->top_k < 1 || opt->record_top_m < 1 || opt->record_top_m > 65535 ||
        opt->record_question < 0)
        return sl_fail(err, SL_ERR_INVALID_ARGUMENT,
                       "dsa: top-k %d, top-M %d and question tokens %d must be positive",
                       opt->top_k, opt->record_top_m, opt->record_question);
    sl_dsa *d = calloc(1, sizeof *d);
    if (!d)
        return sl_fail(err, SL_ERR_NO_MEMORY, "dsa: out of memory");
    d->opt = *opt;
    d->shape = *shape;
    d->k = (size_t)opt->top_k < shape->max_tokens ? (size_t)opt->top_k : shape->max_tokens;
    d->n_threads = sl_pool_size(pool);
    size_t T = (size_t)d->n_threads, L = round16(shape->max_tokens), k = d->k;
    d->scratch_floats = 2 * L + k + k * (size_t)shape->head_dim;
    size_t q = (size_t)opt->record_question;
    d->rec_cap = shape->max_chunk < (q > 1 ? q : 1) ? shape->max_chunk : (q > 1 ? q : 1);
    d->topk = calloc(T, sizeof *d->topk);
    d->scratch = malloc(T * d->scratch_floats * sizeof(float));
    d->sel = malloc(T * k * sizeof(int32_t));
    d->rec_sel = malloc(d->rec_cap * k * sizeof(int32_t));
    d->rec_n = calloc(d->rec_cap, sizeof(size_t));
    d->votes = calloc(d->rec_cap * shape->max_tokens, sizeof(uint16_t));
    d->counts = calloc((size_t)shape->n_layers * shape->max_tokens, sizeof(uint32_t));
    d->kept = calloc(T * (size_t)shape->n_layers, sizeof(double));
    d->kept_rows = calloc(T * (size_t)shape->n_layers, sizeof(double));
    d->kept_mean = calloc((size_t)shape->n_layers, sizeof(double));
    if (shape->model_selects) {
        d->rows_sel = malloc(shape->max_chunk * k * sizeof(int32_t));
        d->rows_n = malloc(shape->max_chunk * sizeof(size_t));
    }
    d->layer_bytes = ((size_t)shape->n_layers + 7) / 8;
    d->rec_raw = malloc(d->rec_cap * (size_t)shape->n_layers * k * sizeof(int32_t));
    d->slot = malloc(shape->max_tokens * sizeof(int32_t));
    for (size_t p = 0; d->slot && p < shape->max_tokens; p++)
        d->slot[p] = -1;
    const sl_indexer *ix = opt->mode == SL_DSA_INDEXER ? shape->indexer : NULL;
    bool ok = !ix || setup_indexer(d, ix, pool, err) == SL_OK;
    ok = ok && d->kept && d->kept_rows && d->kept_mean && d->topk && d->scratch && d->sel &&
         d->rec_sel && d->rec_n && d->votes && d->counts && d->rec_raw && d->slot &&
         (!shape->model_selects || (d->rows_sel && d->rows_n));
    for (size_t t = 0; ok && t < T; t++) {
        size_t kt = k > (size_t)opt->record_top_m ? k : (size_t)opt->record_top_m;
        ok = sl_topk_new(kt, &d->topk[t], err) == SL_OK;
    }
    if (!ok) {
        sl_dsa_free(d);
        return sl_fail(err, SL_ERR_NO_MEMORY, "dsa: out of memory for %zu positions",
                       shape->max_tokens);
    }
    *out = d;
    return SL_OK;
}

void sl_dsa_free(sl_dsa *d)
{
    if (!d)
        return;
    for (int t = 0; d->topk && t < d->n_threads; t++)
        sl_topk_free(d->topk[t]);
    free(d->topk);
    free(d->scratch);
    free(d->sel);
    free(d->rec_sel);
    free(d->rec_n);
    free(d->votes);
    free(d->rec_raw);
    free(d->rows_sel);
    free(d->rows_n);
    free(d->slot);
    free(d->counts);
    free(d->records);
    free(d->top_pos);
    free(d->top_votes);
    free(d->top_layers);
    free(d->raw);
    free(d->view);
    free(d->kept);
    free(d->kept_rows);
    free(d->kept_mean);
    free(d->replay);
    free(d->replay_have);
    free(d->replay_sel);
    free(d->replay_rows);
    free(d->replay_n);
    for (int l = 0; d->ikeys && l < d->shape.n_layers; l++)
        free(d->ikeys[l]);
    free(d->ikeys);
    free(d->iq);
    free(d->iw);
    sl_matmul_scratch_free(d->imm);
    free(d);
}

void sl_dsa_begin_chunk(sl_dsa *d, size_t pos, size_t n, size_t record_from, bool answer)
{
    d->pos = pos;
    d->n = n;
    d->record_from = record_from < n ? record_from : n;
    if (n - d->record_from > d->rec_cap) /* never more than the votes buffer holds */
        d->record_from = n - d->rec_cap;
    d->answer = answer;
    /* Layers without DSA select nothing here: their rows stay -1. */
    size_t per_row = (size_t)d->shape.n_layers * d->k;
    for (size_t i = 0; i < (n - d->record_from) * per_row; i++)
        d->rec_raw[i] = -1;
}

/* ---- one row: select, then attend to the selection ------------------------ */

/* The oracle: top-k of Σ_h softmax_h(q_h·K) over the row's n_keys positions. */
static size_t oracle_select(const sl_dsa *d, const sl_attention_args *a, size_t row, float *mass,
                            float *scores, sl_topk *topk, int32_t *sel)
{
    size_t n_keys = a->first_pos + row + 1;
    memset(mass, 0, n_keys * sizeof *mass);
    for (int h = 0; h < a->n_heads; h++) {
        sl_attention_row_scores(a, h, row, scores);
        sl_softmax(scores, n_keys);
        for (size_t s = 0; s < n_keys; s++)
            mass[s] += scores[s];
    }
    return sl_topk_row(topk, mass, n_keys, d->k, sel);
}

/* Every head of the row attends to the positions sel[0..k) only. */
static void attend_selected(const sl_attention_args *a, size_t row, const int32_t *sel, size_t k,
                            float *logits, float *keys)
{
    size_t hd = (size_t)a->head_dim, kv_dim = (size_t)a->n_kv_heads * hd;
    size_t q_stride = (size_t)a->n_heads * hd;
    int group = a->n_heads / a->n_kv_heads;
    float scale = 1.0f / sqrtf((float)hd);
    for (int g = 0; g < a->n_kv_heads; g++) {
        for (size_t j = 0; j < k; j++) /* gathered once for the group's query heads */
            sl_key_cache_get(a->k, (size_t)sel[j], a->n_kv_heads, a->head_dim, g, keys + j * hd);
        for (int h = g * group; h < (g + 1) * group; h++) {
            const float *q = a->q + row * q_stride + (size_t)h * hd;
            for (size_t j = 0; j < k; j++)
                logits[j] = sl_dot_f32(q, keys + j * hd, hd) * scale;
            sl_softmax(logits, k);
            float *out = a->out + row * q_stride + (size_t)h * hd;
            memset(out, 0, hd * sizeof *out);
            for (size_t j = 0; j < k; j++) {
                const float *v = a->v + (size_t)sel[j] * kv_dim + (size_t)g * hd;
                for (size_t dd = 0; dd < hd; dd++)
                    out[dd] += logits[j] * v[dd];
            }
        }
    }
}

/* The indexer: top-k of I[row, 0..n_keys), scored tile by tile into the selector. */
static size_t indexer_select(const sl_dsa *d, int layer, size_t row, size_t n_keys, float *tile,
                             sl_topk *topk, int32_t *sel)
{
    const sl_indexer *ix = d->shape.indexer;
    size_t H = (size_t)sl_indexer_heads(ix), D = (size_t)sl_indexer_head_dim(ix);
    sl_topk_begin(topk, d->k);
    for (size_t s0 = 0; s0 < n_keys; s0 += SCORE_TILE) {
        size_t n = n_keys - s0 < SCORE_TILE ? n_keys - s0 : SCORE_TILE;
        sl_indexer_scores(ix, d->iq + row * H * D, d->iw + row * H, d->ikeys[layer], s0, n, tile);
        sl_topk_push(topk, tile, n, (int32_t)s0);
    }
    return sl_topk_end(topk, sel, NULL);
}

/* The replayed selection of the row at position pos in a layer, its valid
 * entries copied into out; SIZE_MAX where nothing is replayed there. */
static size_t replayed(const sl_dsa *d, int layer, size_t pos, int32_t *out)
{
    if (!d->replay || pos >= d->n_replay || !d->replay_have[pos])
        return SIZE_MAX;
    const int32_t *row = d->replay + (pos * (size_t)d->shape.n_layers + (size_t)layer) * d->k;
    size_t n = 0;
    for (size_t j = 0; j < d->k; j++)
        if (row[j] >= 0)
            out[n++] = row[j];
    return n > 0 ? n : SIZE_MAX; /* a layer that selected nothing there */
}

typedef struct {
    sl_dsa *d;
    const sl_attention_args *a;
    size_t first_row; /* rows before it went through the dense kernel */
    int layer;
} sparse_job;

static void sparse_row_task(void *p, size_t i, int thread)
{
    sparse_job *job = p;
    sl_dsa *d = job->d;
    size_t row = job->first_row + i;
    float *mass = d->scratch + (size_t)thread * d->scratch_floats;
    float *scores = mass + round16(d->shape.max_tokens);
    float *logits = scores + round16(d->shape.max_tokens);
    float *keys = logits + d->k;
    int32_t *sel = d->sel + (size_t)thread * d->k;
    size_t k;
    if (d->opt.mode == SL_DSA_INDEXER) {
        k = indexer_select(d, job->layer, row, job->a->first_pos + row + 1, scores, d->topk[thread], sel);
    } else {
        k = oracle_select(d, job->a, row, mass, scores, d->topk[thread], sel);
        double kept = 0;
        for (size_t j = 0; j < k; j++)
            kept += mass[sel[j]];
        size_t slot = (size_t)thread * (size_t)d->shape.n_layers + (size_t)job->layer;
        d->kept[slot] += kept / job->a->n_heads;
        d->kept_rows[slot] += 1;
    }
    int32_t *replayed_sel = d->replay_sel + (size_t)thread * d->k;
    size_t replayed_k = replayed(d, job->layer, job->a->first_pos + row, replayed_sel);
    if (replayed_k != SIZE_MAX) /* attend as the table says; the row's own choice is recorded */
        attend_selected(job->a, row, replayed_sel, replayed_k, logits, keys);
    else
        attend_selected(job->a, row, sel, k, logits, keys);
    if (row >= d->record_from) {
        size_t r = row - d->record_from;
        memcpy(d->rec_sel + r * d->k, sel, k * sizeof *sel);
        d->rec_n[r] = k;
    }
}

/* Votes and counts of this layer's selections of the recorded rows. */
static void record_layer(sl_dsa *d, int layer, size_t dense_rows)
{
    uint32_t *counts = d->counts + (size_t)layer * d->shape.max_tokens;
    for (size_t row = d->record_from; row < d->n; row++) {
        size_t r = row - d->record_from, n_keys = d->pos + row + 1;
        uint16_t *votes = d->votes + r * d->shape.max_tokens;
        int32_t *raw = d->rec_raw + (r * (size_t)d->shape.n_layers + (size_t)layer) * d->k;
        if (row < dense_rows) { /* everything was selected */
            for (size_t s = 0; s < n_keys; s++) {
                votes[s]++;
                counts[s]++;
                if (raw && s < d->k)
                    raw[s] = (int32_t)s;
            }
            for (size_t j = n_keys; raw && j < d->k; j++)
                raw[j] = -1;
            continue;
        }
        const int32_t *sel = d->rec_sel + r * d->k;
        for (size_t j = 0; j < d->rec_n[r]; j++) {
            votes[sel[j]]++;
            counts[sel[j]]++;
        }
        for (size_t j = 0; raw && j < d->k; j++)
            raw[j] = j < d->rec_n[r] ? sel[j] : -1;
    }
}

void sl_dsa_attention(sl_dsa *d, sl_pool *pool, int layer, const sl_attention_args *a,
                      const float *x, float *dense_scratch, size_t dense_scratch_per_thread)
{
    if (d->opt.mode == SL_DSA_INDEXER) { /* every row's keys are cached, whatever path it takes */
        const sl_indexer *ix = d->shape.indexer;
        size_t D = (size_t)sl_indexer_head_dim(ix);
        sl_indexer_project(ix, sl_indexer_layer_at(ix, layer), pool, d->imm, x, a->n_rows,
                           a->first_pos, d->iq, d->iw, d->ikeys[layer] + a->first_pos * D);
    }
    /* rows that see at most k positions select everything: dense attention */
    size_t dense_rows = sl_dsa_dense_rows(d, a->n_rows, a->first_pos);
    if (dense_rows > 0) {
        sl_attention_args dense = *a;
        dense.n_rows = dense_rows;
        sl_attention(pool, &dense, dense_scratch, dense_scratch_per_thread);
    }
    d->kept[layer] += (double)dense_rows; /* rows that kept everything, in thread 0's slot */
    d->kept_rows[layer] += (double)dense_rows;
    sparse_job job = {d, a, dense_rows, layer};
    sl_pool_for(pool, a->n_rows - dense_rows, sparse_row_task, &job);
    record_layer(d, layer, dense_rows);
}

/* ---- a model that selects itself ------------------------------------------ */

sl_dsa_mode sl_dsa_mode_of(const sl_dsa *d) { return d->opt.mode; }
const sl_indexer *sl_dsa_indexer(const sl_dsa *d)
{
    return d->opt.mode == SL_DSA_INDEXER ? d->shape.indexer : NULL;
}
size_t sl_dsa_k(const sl_dsa *d) { return d->k; }
size_t sl_dsa_first_recorded(const sl_dsa *d) { return d->record_from; }
bool sl_dsa_sparse_always(const sl_dsa *d) { return d->opt.sparse_always; }

size_t sl_dsa_dense_rows(const sl_dsa *d, size_t n, size_t pos)
{
    if (d->opt.sparse_always || d->k <= pos)
        return 0;
    return d->k - pos < n ? d->k - pos : n;
}
bool sl_dsa_indexer_fp8(const sl_dsa *d) { return d->opt.indexer_fp8; }
sl_topk *sl_dsa_topk(sl_dsa *d, int thread) { return d->topk[thread]; }

int32_t *sl_dsa_rows(sl_dsa *d, size_t *stride, size_t **count)
{
    *stride = d->k;
    *count = d->rows_n;
    return d->rows_sel;
}

void sl_dsa_rows_done(sl_dsa *d, int layer, size_t dense_rows)
{
    for (size_t row = d->record_from > dense_rows ? d->record_from : dense_rows; row < d->n; row++) {
        size_t r = row - d->record_from;
        memcpy(d->rec_sel + r * d->k, d->rows_sel + row * d->k, d->rows_n[row] * sizeof(int32_t));
        d->rec_n[r] = d->rows_n[row];
    }
    d->kept[layer] += (double)dense_rows;
    d->kept_rows[layer] += (double)dense_rows;
    record_layer(d, layer, dense_rows);
}

int32_t *sl_dsa_attend_rows(sl_dsa *d, int layer, size_t dense_rows, size_t *stride,
                           size_t **count)
{
    *stride = d->k;
    if (!d->replay) {
        *count = d->rows_n;
        return d->rows_sel;
    }
    for (size_t row = 0; row < d->n; row++) {
        int32_t *out = d->replay_rows + row * d->k;
        size_t n = row < dense_rows ? SIZE_MAX : replayed(d, layer, d->pos + row, out);
        if (n == SIZE_MAX) { /* its own selection */
            n = d->rows_n[row];
            memcpy(out, d->rows_sel + row * d->k, n * sizeof *out);
        }
        d->replay_n[row] = n;
    }
    *count = d->replay_n;
    return d->replay_rows;
}

/* One record's raw rows into table (n_layers × k a position), each entry
 * checked: -1, or a position the record's query could see. */
static sl_status replay_record(const sl_dsa *d, const sl_selection_record *r, int32_t *table,
                               uint8_t *have, sl_error *err)
{
    size_t L = (size_t)d->shape.n_layers, pos = (size_t)r->query_pos;
    if (!r->raw)
        return sl_fail(err, SL_ERR_INVALID_ARGUMENT, "replay: the record of position %zu has no "
                       "raw selections (record_raw)", pos);
    for (size_t i = 0; i < L * d->k; i++)
        if (r->raw[i] < -1 || (r->raw[i] >= 0 && (size_t)r->raw[i] > pos))
            return sl_fail(err, SL_ERR_INVALID_ARGUMENT, "replay: the record of position %zu "
                           "selects position %d in layer %zu", pos, (int)r->raw[i], i / d->k);
    memcpy(table + pos * L * d->k, r->raw, L * d->k * sizeof(int32_t));
    have[pos] = 1;
    return SL_OK;
}

sl_status sl_dsa_set_replay(sl_dsa *d, const sl_selection_view *from, sl_error *err)
{
    size_t L = (size_t)d->shape.n_layers, max = d->shape.max_tokens, T = (size_t)d->n_threads;
    if (from->n_layers != d->shape.n_layers || (size_t)from->top_k != d->k)
        return sl_fail(err, SL_ERR_INVALID_ARGUMENT, "replay: the selections have %d layers and "
                       "top-k %d; the session %d and %zu", from->n_layers, from->top_k,
                       d->shape.n_layers, d->k);
    size_t n = 0; /* positions up to the last record's */
    for (size_t i = 0; i < from->n_records; i++) {
        size_t pos = (size_t)from->records[i].query_pos; /* a negative one is past max */
        if (pos >= max)
            return sl_fail(err, SL_ERR_INVALID_ARGUMENT, "replay: a record of position %d is past "
                           "the session's %zu", (int)from->records[i].query_pos, max);
        n = pos + 1 > n ? pos + 1 : n;
    }
    int32_t *table = malloc((n ? n : 1) * L * d->k * sizeof(int32_t));
    uint8_t *have = calloc(n ? n : 1, 1);
    int32_t *per_thread = d->replay_sel ? d->replay_sel : malloc(T * d->k * sizeof(int32_t));
    int32_t *rows = d->replay_rows ? d->replay_rows : malloc(d->shape.max_chunk * d->k * sizeof(int32_t));
    size_t *rows_n = d->replay_n ? d->replay_n : malloc(d->shape.max_chunk * sizeof(size_t));
    d->replay_sel = per_thread, d->replay_rows = rows, d->replay_n = rows_n; /* freed with d */
    sl_status st = table && have && per_thread && rows && rows_n
                       ? SL_OK : sl_fail(err, SL_ERR_NO_MEMORY, "replay: out of memory");
    for (size_t i = 0; !st && i < from->n_records; i++)
        st = replay_record(d, &from->records[i], table, have, err);
    if (st) { /* nothing changes: the session keeps its replay, or its own choice */
        free(table), free(have);
        return st;
    }
    free(d->replay), free(d->replay_have);
    d->replay = table, d->replay_have = have, d->n_replay = n;
    return SL_OK;
}

void sl_dsa_note_kept(sl_dsa *d, int thread, int layer, double kept)
{
    size_t slot = (size_t)thread * (size_t)d->shape.n_layers + (size_t)layer;
    d->kept[slot] += kept;
    d->kept_rows[slot] += 1;
}

/* ---- records ---------------------------------------------------------------- */

static bool grow(void **p, size_t *cap, size_t need, size_t elem)
{
    if (need <= *cap)
        return true;
    size_t cap2 = *cap ? *cap : 64;
    while (cap2 < need)
        cap2 *= 2;
    void *q = realloc(*p, cap2 * elem);
    if (!q)
        return false;
    *p = q;
    *cap = cap2;
    return true;
}

typedef struct {
    int32_t pos;
    uint16_t votes;
} voted;

static int by_votes(const void *x, const void *y)
{
    const voted *a = x, *b = y;
    if (a->votes != b->votes)
        return a->votes > b->votes ? -1 : 1;
    return (a->pos > b->pos) - (a->pos < b->pos);
}

/* The top M positions of one recorded row's votes, most voted first. */
static size_t top_voted(sl_dsa *d, const uint16_t *votes, size_t n_keys, voted *out, float *tmp,
                        int32_t *pos)
{
    size_t m = (size_t)d->opt.record_top_m;
    for (size_t s = 0; s < n_keys; s++)
        tmp[s] = votes[s];
    size_t n = sl_topk_row(d->topk[0], tmp, n_keys, m, pos);
    for (size_t i = 0; i < n; i++)
        out[i] = (voted){pos[i], votes[pos[i]]};
    qsort(out, n, sizeof *out, by_votes);
    return n;
}

sl_status sl_dsa_end_chunk(sl_dsa *d, sl_error *err)
{
    size_t m = (size_t)d->opt.record_top_m, rows = d->n - d->record_from;
    size_t per_row = (size_t)d->shape.n_layers * d->k, lb = d->layer_bytes;
    size_t raw_per = d->opt.record_raw ? per_row : 0;
    voted *best = malloc(m * sizeof *best);
    int32_t *pos = malloc(m * sizeof *pos);
    bool ok = best && pos && grow((void **)&d->records, &d->cap_records, d->n_records + rows, sizeof(record));
    size_t cap_votes = d->cap_top, cap_layers = d->cap_top;
    ok = ok && grow((void **)&d->top_votes, &cap_votes, d->n_top + rows * m, sizeof(uint16_t)) &&
         grow((void **)&d->top_layers, &cap_layers, d->n_top + rows * m, lb) &&
         grow((void **)&d->top_pos, &d->cap_top, d->n_top + rows * m, sizeof(int32_t)) &&
         grow((void **)&d->raw, &d->cap_raw, d->n_raw + rows * raw_per, sizeof(int32_t));
    for (size_t r = 0; ok && r < rows; r++) {
        size_t row = d->record_from + r, n_keys = d->pos + row + 1;
        uint16_t *votes = d->votes + r * d->shape.max_tokens;
        size_t n = top_voted(d, votes, n_keys, best, d->scratch, pos);
        record *rec = &d->records[d->n_records++];
        *rec = (record){(int32_t)(d->pos + row), d->answer, (int)n, d->n_top, SIZE_MAX};
        for (size_t i = 0; i < n; i++) {
            d->top_pos[d->n_top + i] = best[i].pos;
            d->top_votes[d->n_top + i] = best[i].votes;
            d->slot[best[i].pos] = (int32_t)i;
        }
        /* Which layers chose each top position: its votes, layer by layer. */
        uint8_t *mask = d->top_layers + d->n_top * lb;
        memset(mask, 0, n * lb);
        const int32_t *sel = d->rec_raw + r * per_row;
        for (size_t l = 0; l < (size_t)d->shape.n_layers; l++)
            for (size_t j = 0; j < d->k; j++) {
                int32_t p = sel[l * d->k + j];
                if (p >= 0 && d->slot[p] >= 0)
                    mask[(size_t)d->slot[p] * lb + l / 8] |= (uint8_t)(1u << (l % 8));
            }
        for (size_t i = 0; i < n; i++)
            d->slot[best[i].pos] = -1;
        d->n_top += n;
        if (raw_per) {
            memcpy(d->raw + d->n_raw, d->rec_raw + r * raw_per, raw_per * sizeof(int32_t));
            rec->raw_at = d->n_raw;
            d->n_raw += raw_per;
        }
        memset(votes, 0, n_keys * sizeof *votes);
    }
    free(best);
    free(pos);
    if (!ok)
        return sl_fail(err, SL_ERR_NO_MEMORY, "dsa: out of memory for selection records");
    return SL_OK;
}

void sl_dsa_truncate(sl_dsa *d, size_t n)
{
    while (d->n_records > 0 && (size_t)d->records[d->n_records - 1].query_pos >= n) {
        record *rec = &d->records[--d->n_records];
        d->n_top = rec->top_at;
        if (rec->raw_at != SIZE_MAX)
            d->n_raw = rec->raw_at;
    }
    if (n == 0) {
        size_t L = (size_t)d->shape.n_layers;
        memset(d->counts, 0, L * d->shape.max_tokens * sizeof *d->counts);
        memset(d->kept, 0, (size_t)d->n_threads * L * sizeof *d->kept);
        memset(d->kept_rows, 0, (size_t)d->n_threads * L * sizeof *d->kept_rows);
    }
}

void sl_dsa_view(sl_dsa *d, size_t n_positions, sl_selection_view *out)
{
    sl_selection_record *view = realloc(d->view, (d->n_records ? d->n_records : 1) * sizeof *view);
    if (view) {
        d->view = view;
        for (size_t i = 0; i < d->n_records; i++) {
            const record *r = &d->records[i];
            view[i] = (sl_selection_record){r->query_pos, r->answer, r->n_top,
                                            d->top_pos + r->top_at, d->top_votes + r->top_at,
                                            r->raw_at == SIZE_MAX ? NULL : d->raw + r->raw_at,
                                            d->top_layers + r->top_at * d->layer_bytes};
        }
    }
    for (int l = 0; l < d->shape.n_layers; l++) {
        double kept = 0, rows = 0;
        for (int t = 0; t < d->n_threads; t++) {
            kept += d->kept[(size_t)t * (size_t)d->shape.n_layers + (size_t)l];
            rows += d->kept_rows[(size_t)t * (size_t)d->shape.n_layers + (size_t)l];
        }
        d->kept_mean[l] = rows > 0 ? kept / rows : 1.0;
    }
    *out = (sl_selection_view){d->shape.n_layers, (int)d->k, n_positions, d->shape.max_tokens,
                               d->counts, view ? d->n_records : 0, view ? d->view : NULL,
                               d->opt.mode == SL_DSA_ORACLE ? d->kept_mean : NULL};
}
