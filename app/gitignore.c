/* gitignore.c: .gitignore rules (gitignore(5)) and git's wildmatch, written from the manual. */
#include "gitignore.h"

#include <string.h>

typedef struct {
    char *pattern;     /* without '!', the leading '/' and the trailing '/' */
    gboolean negate;   /* "!pattern": re-include */
    gboolean dir_only; /* "pattern/": folders only */
    gboolean anchored; /* has a '/' before its end: matched against the path from base */
} Rule;

typedef struct {
    char *base; /* "" or "a/b" */
    GArray *rules; /* of Rule */
} RuleFile;

struct _SlGitignore {
    GPtrArray *files; /* of RuleFile, root first */
};

static void rule_file_free(gpointer data)
{
    RuleFile *f = data;
    for (guint i = 0; i < f->rules->len; i++)
        g_free(g_array_index(f->rules, Rule, i).pattern);
    g_array_unref(f->rules);
    g_free(f->base);
    g_free(f);
}

SlGitignore *sl_gitignore_new(void)
{
    SlGitignore *g = g_new0(SlGitignore, 1);
    g->files = g_ptr_array_new_with_free_func(rule_file_free);
    return g;
}

void sl_gitignore_free(SlGitignore *g)
{
    if (!g)
        return;
    g_ptr_array_unref(g->files);
    g_free(g);
}

/* Drops trailing spaces that are not escaped by a backslash. */
static gsize trim_trailing_spaces(const char *s, gsize n)
{
    gsize keep = n;
    while (keep > 0 && s[keep - 1] == ' ') {
        gsize backslashes = 0;
        while (backslashes < keep - 1 && s[keep - 2 - backslashes] == '\\')
            backslashes++;
        if (backslashes % 2 == 1)
            break; /* "\ " is a space that belongs to the pattern */
        keep--;
    }
    return keep;
}

static void add_rule(RuleFile *f, const char *line, gsize n)
{
    if (n > 0 && line[n - 1] == '\r')
        n--;
    n = trim_trailing_spaces(line, n);
    if (n == 0 || line[0] == '#')
        return;
    Rule r = {0};
    if (line[0] == '!') {
        r.negate = TRUE;
        line++;
        n--;
    }
    if (n > 0 && line[n - 1] == '/') {
        r.dir_only = TRUE;
        n--;
    }
    if (n == 0)
        return;
    r.anchored = memchr(line, '/', n) != NULL;
    if (line[0] == '/') {
        line++;
        n--;
    }
    if (n == 0)
        return;
    r.pattern = g_strndup(line, n);
    g_array_append_val(f->rules, r);
}

void sl_gitignore_push(SlGitignore *g, const char *base, const char *text, gsize len)
{
    RuleFile *f = g_new0(RuleFile, 1);
    f->base = g_strdup(base);
    f->rules = g_array_new(FALSE, FALSE, sizeof(Rule));
    if (len >= 3 && memcmp(text, "\xEF\xBB\xBF", 3) == 0) {
        text += 3; /* git skips a UTF-8 byte order mark */
        len -= 3;
    }
    gsize at = 0;
    while (at < len) {
        const char *nl = memchr(text + at, '\n', len - at);
        gsize end = nl ? (gsize)(nl - text) : len;
        add_rule(f, text + at, end - at);
        at = end + 1;
    }
    g_ptr_array_add(g->files, f);
}

void sl_gitignore_pop(SlGitignore *g)
{
    g_return_if_fail(g->files->len > 0);
    g_ptr_array_remove_index(g->files, g->files->len - 1);
}

guint sl_gitignore_depth(const SlGitignore *g)
{
    return g->files->len;
}

/* ---------------------------------------------------------------- wildmatch */

static gboolean name_is(const char *name, gsize n, const char *want)
{
    return strlen(want) == n && memcmp(name, want, n) == 0;
}

/* [:alpha:] and the other POSIX classes, over ASCII. */
static gboolean in_named_class(const char *name, gsize n, guchar c)
{
    gchar ch = (gchar)c;
    return (name_is(name, n, "alnum") && g_ascii_isalnum(ch)) ||
           (name_is(name, n, "alpha") && g_ascii_isalpha(ch)) ||
           (name_is(name, n, "blank") && (c == ' ' || c == '\t')) ||
           (name_is(name, n, "cntrl") && g_ascii_iscntrl(ch)) ||
           (name_is(name, n, "digit") && g_ascii_isdigit(ch)) ||
           (name_is(name, n, "graph") && g_ascii_isgraph(ch)) ||
           (name_is(name, n, "lower") && g_ascii_islower(ch)) ||
           (name_is(name, n, "print") && g_ascii_isprint(ch)) ||
           (name_is(name, n, "punct") && g_ascii_ispunct(ch)) ||
           (name_is(name, n, "space") && g_ascii_isspace(ch)) ||
           (name_is(name, n, "upper") && g_ascii_isupper(ch)) ||
           (name_is(name, n, "xdigit") && g_ascii_isxdigit(ch));
}

/* A bracket expression at p ('[' already passed) against c. Returns where the expression
 * ends (after ']'), or NULL when it is not closed (then '[' is taken literally). */
static const char *match_class(const char *p, guchar c, gboolean *matched)
{
    gboolean negate = *p == '!' || *p == '^';
    if (negate)
        p++;
    gboolean hit = FALSE, first = TRUE;
    while (*p && (*p != ']' || first)) {
        first = FALSE;
        if (p[0] == '[' && p[1] == ':') {
            const char *end = strstr(p + 2, ":]");
            if (end) {
                hit |= in_named_class(p + 2, (gsize)(end - p - 2), c);
                p = end + 2;
                continue;
            }
        }
        guchar lo = (guchar)*p;
        if (lo == '\\' && p[1])
            lo = (guchar)*++p;
        p++;
        guchar hi = lo;
        if (p[0] == '-' && p[1] && p[1] != ']') {
            hi = (guchar)p[1];
            if (hi == '\\' && p[2])
                hi = (guchar)*++p;
            p += 2;
        }
        hit |= c >= lo && c <= hi;
    }
    if (*p != ']')
        return NULL;
    *matched = (hit != negate) && c != '/';
    return p + 1;
}

static gboolean wild(const char *start, const char *p, const char *s)
{
    for (; *p; p++, s++) {
        switch (*p) {
        case '?':
            if (!*s || *s == '/')
                return FALSE;
            break;
        case '[': {
            gboolean matched = FALSE;
            const char *after = *s ? match_class(p + 1, (guchar)*s, &matched) : p + 1;
            if (!after) { /* an unclosed '[' is itself */
                if (*s != '[')
                    return FALSE;
                break;
            }
            if (!*s || !matched)
                return FALSE;
            p = after - 1;
            break;
        }
        case '*': {
            const char *q = p;
            while (*q == '*')
                q++;
            gboolean double_star = q - p >= 2 && (p == start || p[-1] == '/') &&
                                   (*q == '/' || *q == '\0');
            if (double_star) {
                if (*q == '\0')
                    return TRUE; /* "dir/" + "**", or "**" alone: everything below */
                for (const char *t = s;;) { /* "**" + "/": no folder or any number of them */
                    if (wild(start, q + 1, t))
                        return TRUE;
                    t = strchr(t, '/');
                    if (!t)
                        return FALSE;
                    t++;
                }
            }
            for (const char *t = s;; t++) { /* '*': any run without '/' */
                if (wild(start, q, t))
                    return TRUE;
                if (!*t || *t == '/')
                    return FALSE;
            }
        }
        case '\\':
            if (p[1])
                p++;
            /* fall through */
        default:
            if (*p != *s)
                return FALSE;
        }
    }
    return *s == '\0';
}

gboolean sl_gitignore_wildmatch(const char *pattern, const char *text)
{
    return wild(pattern, pattern, text);
}

/* ---------------------------------------------------------------- matching */

static gboolean rule_matches(const Rule *r, const char *sub, gboolean is_dir)
{
    if (r->dir_only && !is_dir)
        return FALSE;
    if (r->anchored)
        return wild(r->pattern, r->pattern, sub);
    const char *slash = strrchr(sub, '/');
    return wild(r->pattern, r->pattern, slash ? slash + 1 : sub);
}

gboolean sl_gitignore_ignored(const SlGitignore *g, const char *path, gboolean is_dir)
{
    for (guint i = g->files->len; i-- > 0;) {
        const RuleFile *f = g->files->pdata[i];
        const char *sub = path;
        gsize bl = strlen(f->base);
        if (bl) {
            if (strncmp(path, f->base, bl) != 0 || path[bl] != '/')
                continue;
            sub = path + bl + 1;
        }
        for (guint j = f->rules->len; j-- > 0;) {
            const Rule *r = &g_array_index(f->rules, Rule, j);
            if (rule_matches(r, sub, is_dir))
                return !r->negate;
        }
    }
    return FALSE;
}
