/* fuzz-selections: sl_selections_decode on arbitrary bytes. What it accepts
 * must be self-consistent: bins as the header says, every record's query
 * position inside the context and its top positions at or before it.
 * Run: build-fuzz/fuzz/fuzz-selections CORPUS -max_total_time=600 */
#include "fuzz-util.h"
#include "sightline-engine.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    sl_selections *s = NULL;
    sl_error err;
    if (sl_selections_decode(data, size, &s, &err) != SL_OK) {
        REQUIRE(s == NULL);
        return 0;
    }
    REQUIRE(s->n_bins <= SL_SELECTION_BINS && s->bin_width >= 1);
    REQUIRE(s->n_bins == (s->n_positions + s->bin_width - 1) / s->bin_width);
    for (size_t i = 0; i < s->n_records; i++) {
        const sl_selection_record *r = &s->records[i];
        REQUIRE(r->query_pos >= 0 && (size_t)r->query_pos < s->n_positions);
        for (int t = 0; t < r->n_top; t++)
            REQUIRE(r->top_pos[t] >= 0 && r->top_pos[t] <= r->query_pos);
    }
    sl_selections_free(s);
    return 0;
}
