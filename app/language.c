/* language.c: the language of a source file, from its name or its shebang line.
 *
 * Names are GtkSourceView's language ids, so the window can highlight with them directly. */
#include "language.h"

#include <string.h>

typedef struct {
    const char *key;
    const char *language;
} Entry;

/* By extension (lowercase, without the dot). */
static const Entry by_extension[] = {
    {"c", "c"}, {"h", "chdr"}, {"cc", "cpp"}, {"cpp", "cpp"}, {"cxx", "cpp"}, {"c++", "cpp"},
    {"hh", "cpphdr"}, {"hpp", "cpphdr"}, {"hxx", "cpphdr"}, {"h++", "cpphdr"}, {"ipp", "cpphdr"},
    {"cu", "cuda"}, {"cuh", "cuda"}, {"m", "objc"}, {"mm", "objc"}, {"cs", "csharp"},
    {"d", "d"}, {"go", "go"}, {"rs", "rust"}, {"java", "java"}, {"kt", "kotlin"},
    {"kts", "kotlin"}, {"scala", "scala"}, {"swift", "swift"}, {"py", "python3"},
    {"pyi", "python3"}, {"pyx", "cython"}, {"rb", "ruby"}, {"pl", "perl"}, {"pm", "perl"},
    {"t", "perl"}, {"php", "php"}, {"lua", "lua"}, {"sh", "sh"}, {"bash", "sh"}, {"zsh", "sh"},
    {"ksh", "sh"}, {"fish", "fish"}, {"js", "js"}, {"mjs", "js"}, {"cjs", "js"}, {"jsx", "jsx"},
    {"ts", "typescript"}, {"tsx", "typescript-jsx"}, {"json", "json"}, {"html", "html"},
    {"htm", "html"}, {"css", "css"}, {"scss", "scss"}, {"less", "less"}, {"xml", "xml"},
    {"ui", "xml"}, {"svg", "xml"}, {"xsl", "xslt"}, {"yaml", "yaml"}, {"yml", "yaml"},
    {"toml", "toml"}, {"ini", "ini"}, {"cfg", "ini"}, {"desktop", "desktop"}, {"sql", "sql"},
    {"mk", "makefile"}, {"mak", "makefile"}, {"cmake", "cmake"}, {"tex", "latex"},
    {"sty", "latex"}, {"bib", "bibtex"}, {"diff", "diff"}, {"patch", "diff"}, {"hs", "haskell"},
    {"ml", "ocaml"}, {"mli", "ocaml"}, {"erl", "erlang"}, {"ex", "elixir"}, {"exs", "elixir"},
    {"f", "fortran"}, {"f90", "fortran"}, {"f95", "fortran"}, {"r", "r"}, {"jl", "julia"},
    {"vala", "vala"}, {"vapi", "vala"}, {"dart", "dart"}, {"groovy", "groovy"},
    {"gradle", "groovy"}, {"tcl", "tcl"}, {"awk", "awk"}, {"asm", "nasm"}, {"s", "gas"},
    {"proto", "proto"}, {"glsl", "glsl"}, {"vert", "glsl"}, {"frag", "glsl"}, {"vhd", "vhdl"},
    {"vhdl", "vhdl"}, {"v", "verilog"}, {"sv", "verilog"}, {"zig", "zig"}, {"nix", "nix"},
    {"scm", "scheme"}, {"clj", "clojure"}, {"lisp", "commonlisp"},
    {"pas", "pascal"}, {"ada", "ada"}, {"adb", "ada"}, {"ads", "ada"}, {"m4", "m4"},
    {"ac", "m4"}, {"am", "automake"}, {"po", "gettext-translation"}, {"pot", "gettext-translation"},
    {"gresource", "xml"}, {"meson", "meson"}, {"dockerfile", "dockerfile"},
};

/* By whole file name. */
static const Entry by_name[] = {
    {"Makefile", "makefile"}, {"makefile", "makefile"}, {"GNUmakefile", "makefile"},
    {"meson.build", "meson"}, {"meson_options.txt", "meson"}, {"meson.options", "meson"},
    {"CMakeLists.txt", "cmake"}, {"Dockerfile", "dockerfile"}, {"Containerfile", "dockerfile"},
    {"configure.ac", "m4"}, {"Kconfig", "kconfig"}, {"Rakefile", "ruby"}, {"Gemfile", "ruby"},
    {"SConstruct", "python3"}, {"SConscript", "python3"}, {"BUILD", "python3"},
    {"WORKSPACE", "python3"}, {"PKGBUILD", "sh"}, {"APKBUILD", "sh"},
};

/* By the interpreter a shebang names. */
static const Entry by_interpreter[] = {
    {"sh", "sh"}, {"bash", "sh"}, {"dash", "sh"}, {"zsh", "sh"}, {"ksh", "sh"},
    {"fish", "fish"}, {"python", "python3"}, {"python3", "python3"}, {"perl", "perl"},
    {"ruby", "ruby"}, {"node", "js"}, {"nodejs", "js"}, {"lua", "lua"}, {"php", "php"},
    {"tclsh", "tcl"}, {"wish", "tcl"}, {"awk", "awk"}, {"gawk", "awk"}, {"Rscript", "r"},
    {"julia", "julia"}, {"make", "makefile"},
};

static const char *lookup(const Entry *table, gsize n, const char *key, gsize key_len)
{
    for (gsize i = 0; i < n; i++)
        if (strlen(table[i].key) == key_len && memcmp(table[i].key, key, key_len) == 0)
            return table[i].language;
    return NULL;
}

/* "#!/usr/bin/env -S python3 -u" → python3; "#!/bin/bash -e" → sh. */
static const char *from_shebang(const char *head, gsize len)
{
    if (len < 3 || head[0] != '#' || head[1] != '!')
        return NULL;
    const char *nl = memchr(head, '\n', len);
    const char *end = nl ? nl : head + len;
    g_autofree char *line = g_strndup(head + 2, (gsize)(end - head - 2));
    g_auto(GStrv) words = g_strsplit_set(g_strstrip(line), " \t", -1);
    for (int i = 0; words[i]; i++) {
        if (!*words[i] || words[i][0] == '-')
            continue;
        const char *base = strrchr(words[i], '/');
        base = base ? base + 1 : words[i];
        if (strcmp(base, "env") == 0)
            continue;
        gsize n = strlen(base);
        while (n > 0 && (g_ascii_isdigit(base[n - 1]) || base[n - 1] == '.'))
            n--; /* python3.11 → python, perl5 → perl */
        const char *lang = lookup(by_interpreter, G_N_ELEMENTS(by_interpreter), base, strlen(base));
        return lang ? lang : lookup(by_interpreter, G_N_ELEMENTS(by_interpreter), base, n);
    }
    return NULL;
}

static gboolean has_extension(const char *name, const char *const *list, gsize n)
{
    const char *dot = strrchr(name, '.');
    if (!dot || dot == name)
        return FALSE;
    for (gsize i = 0; i < n; i++)
        if (g_ascii_strcasecmp(dot + 1, list[i]) == 0)
            return TRUE;
    return FALSE;
}

SlFileKind sl_file_kind(const char *path, const char *head, gsize head_len, const char **language)
{
    static const char *const markdown[] = {"md", "markdown"};
    static const char *const prose[] = {"txt", "text", "rst", "adoc", "org"};
    const char *name = strrchr(path, '/');
    name = name ? name + 1 : path;
    *language = lookup(by_name, G_N_ELEMENTS(by_name), name, strlen(name));
    if (*language)
        return SL_FILE_CODE; /* CMakeLists.txt before *.txt */
    if (has_extension(name, (const char *const[]){"pdf"}, 1))
        return SL_FILE_PDF;
    if (has_extension(name, markdown, G_N_ELEMENTS(markdown))) {
        *language = "markdown";
        return SL_FILE_MARKDOWN;
    }
    if (has_extension(name, prose, G_N_ELEMENTS(prose)))
        return SL_FILE_TEXT;
    const char *dot = strrchr(name, '.');
    if (dot && dot != name && dot[1]) {
        g_autofree char *ext = g_ascii_strdown(dot + 1, -1);
        *language = lookup(by_extension, G_N_ELEMENTS(by_extension), ext, strlen(ext));
    }
    if (!*language && head)
        *language = from_shebang(head, head_len);
    return *language ? SL_FILE_CODE : SL_FILE_TEXT;
}
