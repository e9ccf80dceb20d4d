/* bench-topk.c: nanoseconds per score of the streaming exact top-k
 * (engine/dsa/topk.h), by row kind. Not a test; run by hand:
 *   build/tests/bench/bench-topk [L [k [rows]]]     (default 131072 2048 64) */
#include "dsa/topk.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static uint64_t state = 42;

static uint64_t next_u64(void) /* splitmix64 */
{
    uint64_t z = (state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static void fill(float *row, size_t n, int kind)
{
    for (size_t i = 0; i < n; i++) {
        uint64_t h = next_u64();
        switch (kind) {
        case 0: row[i] = (float)((h >> 40) * (1.0 / 16777216.0)) * 8.0f - 4.0f; break;
        case 1: row[i] = (h & 0xff) < 230 ? 0.0f : (float)((h >> 8) % 512) * 0.0625f; break;
        case 2: row[i] = 0.0f; break;
        default: row[i] = (float)i; break;
        }
    }
}

int main(int argc, char **argv)
{
    size_t L = argc > 1 ? strtoull(argv[1], NULL, 10) : 131072;
    size_t k = argc > 2 ? strtoull(argv[2], NULL, 10) : 2048;
    size_t rows = argc > 3 ? strtoull(argv[3], NULL, 10) : 64;
    const size_t tile = 4096;
    static const char *const kinds[] = {"uniform", "relu (90% zeros)", "all zero", "increasing"};
    const int n_kinds = 4;

    sl_topk *t = NULL;
    sl_error err = {0};
    if (L == 0 || L > 0x7fffffff || rows == 0 || sl_topk_new(k, &t, &err) != SL_OK) {
        fprintf(stderr, "bench-topk: bad arguments %s\n", err.message);
        return 1;
    }
    float *rowbuf = malloc(L * sizeof *rowbuf);
    int32_t *pos = malloc((k ? k : 1) * sizeof *pos);
    if (!rowbuf || !pos)
        return 1;
    printf("L=%zu k=%zu rows=%zu selector %zu B\n", L, k, rows, sl_topk_bytes(k));
    for (int kind = 0; kind < n_kinds; kind++) {
        fill(rowbuf, L, kind);
        for (int tiled = 0; tiled < 2; tiled++) {
            double best = 1e30;
            for (int rep = 0; rep < 3; rep++) {
                double t0 = now_s();
                size_t sink = 0;
                for (size_t r = 0; r < rows; r++) {
                    sl_topk_begin(t, k);
                    size_t step = tiled ? tile : L;
                    for (size_t at = 0; at < L; at += step)
                        sl_topk_push(t, rowbuf + at, L - at < step ? L - at : step, (int32_t)at);
                    sink += sl_topk_end(t, pos, NULL);
                }
                double dt = now_s() - t0;
                if (sink != rows * (k < L ? k : L))
                    return 1;
                if (dt < best)
                    best = dt;
            }
            printf("%-18s %-10s %7.3f ns/score  %8.1f us/row\n", kinds[kind],
                   tiled ? "tiles 4096" : "one push", 1e9 * best / (double)(rows * L),
                   1e6 * best / (double)rows);
        }
    }
    sl_topk_free(t);
    free(rowbuf);
    free(pos);
    return 0;
}
