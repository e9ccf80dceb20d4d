/* selections-json.c: a session's DSA selection records as JSON (--selections). */
#include "options.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

/* Length of the valid UTF-8 sequence at p (n bytes left), 0 if invalid. */
static size_t utf8_len(const unsigned char *p, size_t n)
{
    size_t len = p[0] < 0x80 ? 1 : (p[0] >> 5) == 6 ? 2 : (p[0] >> 4) == 14 ? 3 : (p[0] >> 3) == 30 ? 4 : 0;
    if (len == 0 || len > n || (len == 2 && p[0] < 0xC2))
        return 0;
    for (size_t i = 1; i < len; i++)
        if ((p[i] & 0xC0) != 0x80)
            return 0;
    return len;
}

/* A JSON string of the piece's bytes; bytes that are not valid UTF-8 (a
 * token may hold part of a character) become U+FFFD. */
static void write_string(FILE *f, const char *s, size_t n)
{
    const unsigned char *p = (const unsigned char *)s;
    fputc('"', f);
    for (size_t i = 0; i < n;) {
        size_t len = utf8_len(p + i, n - i);
        if (len == 0) {
            fputs("\\ufffd", f);
            i++;
        } else if (len > 1) {
            fwrite(p + i, 1, len, f);
            i += len;
        } else {
            unsigned char c = p[i++];
            if (c == '"' || c == '\\')
                fprintf(f, "\\%c", c);
            else if (c == '\n')
                fputs("\\n", f);
            else if (c < 0x20 || c == 0x7f)
                fprintf(f, "\\u%04x", c);
            else
                fputc(c, f);
        }
    }
    fputc('"', f);
}

static const char *mode_name(sl_dsa_mode m)
{
    return m == SL_DSA_ORACLE ? "oracle" : m == SL_DSA_INDEXER ? "indexer" : "dense";
}

bool cli_write_selections(sl_engine *e, const sl_session *s, sl_dsa_mode mode, const char *path)
{
    sl_selection_view v;
    sl_error err = {0};
    if (sl_session_selections(s, &v, &err) != SL_OK) {
        cli_print_error(&err);
        return false;
    }
    FILE *f = fopen(path, "w");
    if (!f) {
        fprintf(stderr, "sightline-cli: %s: %s\n", path, strerror(errno));
        return false;
    }
    fprintf(f, "{\"mode\": \"%s\", \"top_k\": %d, \"layers\": %d, \"positions\": %zu,\n \"tokens\": [",
            mode_name(mode), v.top_k, v.n_layers, v.n_positions);
    const int32_t *ids = sl_session_tokens(s);
    for (size_t p = 0; p < v.n_positions; p++) {
        size_t len;
        const char *piece = sl_token_piece(e, ids[p], &len);
        fprintf(f, "%s\n  {\"pos\": %zu, \"id\": %d, \"text\": ", p ? "," : "", p, ids[p]);
        write_string(f, piece ? piece : "", len);
        fputc('}', f);
    }
    fputs("],\n \"layer_counts\": [", f);
    for (int l = 0; l < v.n_layers; l++) {
        fprintf(f, "%s\n  [", l ? "," : "");
        const uint32_t *c = v.counts + (size_t)l * v.stride;
        bool first = true;
        for (size_t p = 0; p < v.n_positions; p++)
            if (c[p]) {
                fprintf(f, "%s[%zu, %u]", first ? "" : ", ", p, c[p]);
                first = false;
            }
        fputc(']', f);
    }
    fputs("],\n \"records\": [", f);
    for (size_t i = 0; i < v.n_records; i++) {
        const sl_selection_record *r = &v.records[i];
        fprintf(f, "%s\n  {\"query_pos\": %d, \"answer\": %s, \"top\": [", i ? "," : "", r->query_pos,
                r->answer ? "true" : "false");
        for (int t = 0; t < r->n_top; t++)
            fprintf(f, "%s[%d, %u]", t ? ", " : "", r->top_pos[t], r->top_votes[t]);
        fputs("]", f);
        if (r->top_layers) { /* for each top position, the layers that selected it */
            size_t lb = ((size_t)v.n_layers + 7) / 8;
            fputs(", \"top_layers\": [", f);
            for (int t = 0; t < r->n_top; t++) {
                fputs(t ? ", [" : "[", f);
                bool first = true;
                for (int l = 0; l < v.n_layers; l++)
                    if ((r->top_layers[(size_t)t * lb + (size_t)l / 8] >> (l % 8)) & 1) {
                        fprintf(f, "%s%d", first ? "" : ", ", l);
                        first = false;
                    }
                fputc(']', f);
            }
            fputc(']', f);
        }
        fputc('}', f);
    }
    fputs("]", f);
    if (v.mass_kept) {
        fputs(",\n \"mass_kept\": [", f);
        for (int l = 0; l < v.n_layers; l++)
            fprintf(f, "%s%.5f", l ? ", " : "", v.mass_kept[l]);
        fputs("]", f);
    }
    fputs("}\n", f);
    if (fclose(f) != 0) {
        fprintf(stderr, "sightline-cli: %s: could not write: %s\n", path, strerror(errno));
        return false;
    }
    return true;
}
