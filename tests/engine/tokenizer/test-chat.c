/* Chat templates: renderings against the Jinja templates rendered by jinja2
 * (chat-golden.txt, from tests/reference/make-chat-golden.py: the default
 * model's own ChatML template, and the published Llama 3 and DeepSeek V3
 * templates), detection from tokenizer.chat_template (on the default model
 * and on small GGUF files written here), and errors.
 *
 * Usage: test-chat DATA_DIR */
#include "golden-util.h"

#include "tokenizer/tokenizer.h"

#include <unistd.h>

static bool template_from_name(const char *name, sl_chat_template *t)
{
    if (strcmp(name, "chatml") == 0)
        *t = SL_CHAT_CHATML;
    else if (strcmp(name, "llama3") == 0)
        *t = SL_CHAT_LLAMA3;
    else if (strcmp(name, "deepseek3") == 0)
        *t = SL_CHAT_DEEPSEEK_V3;
    else
        return false;
    return true;
}

static void test_golden(const char *dir)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/chat-golden.txt", dir);
    size_t len;
    char *data = sl_test_read_file(path, &len);
    CHECKF(data != NULL, "cannot read %s", path);
    if (!data)
        return;
    char *cursor = data, *f[4];
    int lines = 0, bad = 0, per_template[3] = {0};
    while (golden_next_line(&cursor, f, 4) == 4) {
        sl_chat_template tmpl;
        if (!template_from_name(f[0], &tmpl)) {
            CHECKF(false, "unknown template %s", f[0]);
            continue;
        }
        sl_chat_message msgs[16];
        char *owned[16];
        size_t n = 0;
        for (char *p = f[2]; *p && n < 16;) {
            char *colon = strchr(p, ':');
            char *comma = strchr(p, ',');
            size_t hl = comma ? (size_t)(comma - colon - 1) : strlen(colon + 1);
            *colon = 0;
            size_t cl;
            owned[n] = golden_unhex(colon + 1, hl, &cl);
            msgs[n] = (sl_chat_message){p, owned[n]};
            n++;
            p = comma ? comma + 1 : colon + 1 + hl;
        }
        size_t want_len;
        char *want = golden_unhex(f[3], strlen(f[3]), &want_len);
        char *got = NULL;
        sl_error err = {0};
        sl_status st = sl_chat_render_template(tmpl, msgs, n, f[1][0] == '1', &got, &err);
        CHECKF(st == SL_OK, "%s", err.message);
        if (st == SL_OK && (strlen(got) != want_len || memcmp(got, want, want_len) != 0)) {
            if (++bad <= 5)
                fprintf(stderr, "%s (add %s) on %s:\n  want '%s'\n  got  '%s'\n", f[0], f[1],
                        f[2], want, got);
        }
        free(got);
        free(want);
        for (size_t i = 0; i < n; i++)
            free(owned[i]);
        per_template[tmpl]++;
        lines++;
    }
    CHECKF(bad == 0, "%d of %d renderings differ from jinja2", bad, lines);
    CHECK(per_template[SL_CHAT_CHATML] >= 20 && per_template[SL_CHAT_LLAMA3] >= 20 &&
          per_template[SL_CHAT_DEEPSEEK_V3] >= 20);
    fprintf(stderr, "chat golden: %d renderings, %d identical\n", lines, lines - bad);
    free(data);
}

/* ---- small GGUF files with just a chat template ---------------------------- */

static void put_u32(FILE *f, uint32_t v) { fwrite(&v, 4, 1, f); }
static void put_u64(FILE *f, uint64_t v) { fwrite(&v, 8, 1, f); }
static void put_str(FILE *f, const char *s, size_t n)
{
    put_u64(f, n);
    fwrite(s, 1, n, f);
}

/* Writes a GGUF v3 file with no tensors and, when value is not NULL, the key
 * tokenizer.chat_template (as a string, or as a u32 when as_u32). */
static void write_gguf(const char *path, const char *value, size_t len, bool as_u32)
{
    FILE *f = fopen(path, "wb");
    if (!f)
        return;
    fwrite("GGUF", 1, 4, f);
    put_u32(f, 3);
    put_u64(f, 0);
    put_u64(f, value ? 2 : 1);
    put_str(f, "general.architecture", 20);
    put_u32(f, 8);
    put_str(f, "llama", 5);
    if (value) {
        put_str(f, "tokenizer.chat_template", 23);
        if (as_u32) {
            put_u32(f, 4);
            put_u32(f, 7);
        } else {
            put_u32(f, 8);
            put_str(f, value, len);
        }
    }
    fclose(f);
}

static sl_status detect_file(const char *path, sl_chat_template *t, sl_error *err)
{
    sl_gguf *g = NULL;
    sl_status st = sl_gguf_open(path, &g, err);
    CHECKF(st == SL_OK, "%s", err->message);
    if (st != SL_OK)
        return st;
    st = sl_chat_detect(g, t, err);
    sl_gguf_close(g);
    return st;
}

static void test_detect(const char *dir)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/chat-templates.txt", dir);
    size_t len;
    char *data = sl_test_read_file(path, &len);
    CHECKF(data != NULL, "cannot read %s", path);
    if (!data)
        return;
    char tmp[] = "/tmp/sl-test-chat-XXXXXX";
    int fd = mkstemp(tmp);
    CHECK(fd >= 0);
    if (fd < 0) {
        free(data);
        return;
    }
    close(fd);

    char *cursor = data, *f[2];
    int seen = 0;
    while (golden_next_line(&cursor, f, 2) == 2) {
        sl_chat_template want = SL_CHAT_NONE, got = SL_CHAT_NONE;
        CHECK(template_from_name(f[0], &want));
        size_t n;
        char *tmpl = golden_unhex(f[1], strlen(f[1]), &n);
        write_gguf(tmp, tmpl, n, false);
        sl_error err = {0};
        CHECKF(detect_file(tmp, &got, &err) == SL_OK && got == want, "%s: %s", f[0], err.message);
        free(tmpl);
        seen++;
    }
    CHECK(seen == 3);

    sl_chat_template got;
    sl_error err = {0};
    const char *unknown = "{% for m in messages %}\n[INST] {{ m['content'] }} [/INST]{% endfor %}"
                          " and more text after the first sixty bytes";
    write_gguf(tmp, unknown, strlen(unknown), false);
    CHECK(detect_file(tmp, &got, &err) == SL_ERR_UNSUPPORTED);
    CHECKF(strstr(err.message, tmp) && strstr(err.message, "{% for m in messages %}\\n[INST]") &&
               !strstr(err.message, "sixty"),
           "%s", err.message);

    write_gguf(tmp, NULL, 0, false);
    CHECK(detect_file(tmp, &got, &err) == SL_ERR_UNSUPPORTED);
    CHECKF(strstr(err.message, "no chat template") && strstr(err.message, tmp), "%s",
           err.message);

    write_gguf(tmp, "x", 1, true);
    CHECK(detect_file(tmp, &got, &err) == SL_ERR_FORMAT);

    const char *llama31 = "{{- bos_token }}{%- set date_string = \"26 Jul 2024\" %}"
                          "{{- \"Cutting Knowledge Date: December 2023\\n\" }}"
                          "{{- '<|start_header_id|>' + message['role'] }}";
    write_gguf(tmp, llama31, strlen(llama31), false);
    CHECK(detect_file(tmp, &got, &err) == SL_ERR_UNSUPPORTED);
    CHECKF(strstr(err.message, "3.1") != NULL, "%s", err.message);

    write_gguf(tmp, "", 0, false);
    CHECK(detect_file(tmp, &got, &err) == SL_ERR_UNSUPPORTED);

    unlink(tmp);
    free(data);
}

/* The default model: ChatML, and its rendering tokenizes into the expected
 * special tokens. Fails when the model is absent. */
static void test_default_model(void)
{
    sl_gguf *g = NULL;
    sl_error err = {0};
    sl_status st = sl_gguf_open(sl_test_model_path(), &g, &err);
    CHECKF(st == SL_OK, "cannot open the default model: %s", err.message);
    if (st != SL_OK)
        return;
    sl_chat_template t = SL_CHAT_NONE;
    CHECK(sl_chat_detect(g, &t, &err) == SL_OK && t == SL_CHAT_CHATML);
    sl_tokenizer *tok = NULL;
    CHECK(sl_tokenizer_from_gguf(g, &tok, &err) == SL_OK);
    if (tok) {
        int32_t eot = sl_tokenizer_find(tok, sl_chat_end_of_turn(t));
        CHECK(eot == 2 && sl_tokenizer_is_special(tok, eot));
        sl_chat_message m[] = {{"user", "Hi there"}};
        char *text = NULL;
        CHECK(sl_chat_render_template(t, m, 1, true, &text, &err) == SL_OK);
        sl_tokens ids = {0};
        CHECK(sl_tokenizer_encode(tok, text, strlen(text), true, &ids, &err) == SL_OK);
        /* <|im_start|>system ... <|im_end|> \n <|im_start|>user ... <|im_end|> \n
         * <|im_start|>assistant \n */
        int starts = 0, ends = 0;
        for (size_t i = 0; i < ids.n; i++) {
            starts += ids.ids[i] == 1;
            ends += ids.ids[i] == 2;
        }
        CHECK(ids.n > 10 && ids.ids[0] == 1 && starts == 3 && ends == 2);
        sl_tokens_free(&ids);
        free(text);
    }
    sl_tokenizer_free(tok);
    sl_gguf_close(g);
}

static void test_errors(void)
{
    char *out = (char *)1;
    sl_error err = {0};
    sl_chat_message bad_role[] = {{NULL, "x"}};
    CHECK(sl_chat_render_template(SL_CHAT_CHATML, bad_role, 1, true, &out, &err) ==
          SL_ERR_INVALID_ARGUMENT);
    sl_chat_message bad_content[] = {{"user", NULL}};
    CHECK(sl_chat_render_template(SL_CHAT_LLAMA3, bad_content, 1, true, &out, &err) ==
          SL_ERR_INVALID_ARGUMENT);
    CHECK(sl_chat_render_template(SL_CHAT_CHATML, NULL, 1, true, &out, &err) ==
          SL_ERR_INVALID_ARGUMENT);
    CHECK(sl_chat_render_template(SL_CHAT_CHATML, NULL, 0, true, NULL, &err) ==
          SL_ERR_INVALID_ARGUMENT);
    sl_chat_message tool[] = {{"user", "q"}, {"tool", "{}"}};
    CHECK(sl_chat_render_template(SL_CHAT_DEEPSEEK_V3, tool, 2, true, &out, &err) ==
          SL_ERR_INVALID_ARGUMENT);
    CHECK(strstr(err.message, "'tool'") != NULL);
    CHECK(sl_chat_render_template(SL_CHAT_NONE, tool, 1, true, &out, &err) == SL_ERR_UNSUPPORTED);
    CHECK(out == (char *)1); /* untouched on failure */
    /* Roles the ChatML and Llama 3 templates pass through as they are. */
    CHECK(sl_chat_render_template(SL_CHAT_CHATML, tool, 2, false, &out, &err) == SL_OK);
    CHECK(strstr(out, "<|im_start|>tool\n{}<|im_end|>\n") != NULL);
    free(out);

    CHECK(strcmp(sl_chat_end_of_turn(SL_CHAT_CHATML), "<|im_end|>") == 0);
    CHECK(strcmp(sl_chat_end_of_turn(SL_CHAT_LLAMA3), "<|eot_id|>") == 0);
    CHECK(strcmp(sl_chat_end_of_turn(SL_CHAT_DEEPSEEK_V3),
                 "<\xef\xbd\x9c" "end\xe2\x96\x81of\xe2\x96\x81sentence\xef\xbd\x9c>") == 0);
    CHECK(strcmp(sl_chat_end_of_turn(SL_CHAT_NONE), "") == 0);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: %s DATA_DIR\n", argv[0]);
        return 2;
    }
    test_golden(argv[1]);
    test_detect(argv[1]);
    test_errors();
    test_default_model();
    return sl_test_finish();
}
