/* chat-view.c: the conversation pane (see chat-view.h). */
#include "chat-view.h"

#include "ask.h"
#include "history.h"
#include "looked.h"
#include "selection-inspector.h"
#include "selection-map.h"

#include <glib/gi18n.h>
#include <locale.h>
#include <string.h>

struct _SlChatView {
    GtkWidget parent_instance;
    GtkDropDown *scope;
    GtkLabel *budget_label;
    GtkListBox *history_list;
    GtkPopover *history_popover;
    GtkLabel *question_label;
    GtkTextView *answer_view;
    GtkLabel *status_label;
    GtkFlowBox *citations_box;
    GtkLabel *left_out_label;
    GtkLabel *looked_title;
    GtkListBox *looked_list;
    GtkEntry *question_entry;
    GtkButton *ask_button, *summarise_button, *stop_button;

    SlLibrary *lib;
    SlWorker *worker;
    GSettings *settings;
    GArray *scopes[4];      /* gint64 ids per SlScope */
    GCancellable *running;
    gint64 answer_id;
    gint64 conversation_id;
    GPtrArray *citation_targets; /* SlCitation copies, by button */
    GArray *token_offsets;       /* guint32 per answer token, or NULL while not known */
    GCancellable *reading_words; /* an earlier answer's token offsets being read */
    gssize pending_click;        /* byte of the answer clicked while they were read, or -1 */
    GtkTextTag *word_tag;
    GtkWidget *map_box;          /* the context map and the inspector button */
    SlSelectionMap *context_map;
    GHashTable *source_docs;     /* source number → document id, for the map's clicks */
    char *selector;              /* "oracle" or "indexer" */
};

G_DEFINE_FINAL_TYPE(SlChatView, sl_chat_view, GTK_TYPE_WIDGET)

enum { CITATION_ACTIVATED, PASSAGE_ACTIVATED, ANSWER_READY, PREPARE_SCOPE, TOKEN_ACTIVATED,
       N_SIGNALS };
static guint signals[N_SIGNALS];

/* ---------------------------------------------------------------- showing an answer */

static void clear_list(GtkListBox *list)
{
    GtkWidget *child;
    while ((child = gtk_widget_get_first_child(GTK_WIDGET(list))))
        gtk_list_box_remove(list, child);
}

static void clear_flow(GtkFlowBox *flow)
{
    GtkWidget *child;
    while ((child = gtk_widget_get_first_child(GTK_WIDGET(flow))))
        gtk_flow_box_remove(flow, child);
}

static char *citation_label(const SlCitation *c)
{
    if (c->first_line)
        return c->last_line > c->first_line ? g_strdup_printf("[%d, lines %d-%d]", c->source,
                                                              c->first_line, c->last_line)
                                            : g_strdup_printf("[%d, line %d]", c->source, c->first_line);
    if (c->first_page)
        return c->last_page > c->first_page ? g_strdup_printf("[%d, pp. %d-%d]", c->source,
                                                              c->first_page, c->last_page)
                                            : g_strdup_printf("[%d, p. %d]", c->source, c->first_page);
    return g_strdup_printf("[%d]", c->source);
}

static void on_citation_clicked(GtkButton *button, SlChatView *self)
{
    guint i = GPOINTER_TO_UINT(g_object_get_data(G_OBJECT(button), "citation"));
    const SlCitation *c = self->citation_targets->pdata[i];
    g_signal_emit(self, signals[CITATION_ACTIVATED], 0, c->document_id, c->first_page,
                  c->first_line, c->last_line);
}

static void show_citations(SlChatView *self, GArray *citations)
{
    clear_flow(self->citations_box);
    g_ptr_array_set_size(self->citation_targets, 0);
    for (guint i = 0; citations && i < citations->len; i++) {
        const SlCitation *c = &g_array_index(citations, SlCitation, i);
        g_autofree char *label = citation_label(c);
        GtkWidget *b = gtk_button_new_with_label(label);
        gtk_widget_add_css_class(b, "pill");
        gtk_widget_add_css_class(b, "small");
        if (c->status != SL_CITATION_OK) {
            gtk_widget_add_css_class(b, "error");
            gtk_widget_set_tooltip_text(b, c->problem);
            gtk_widget_set_sensitive(b, c->status == SL_CITATION_NOT_IN_CONTEXT);
        }
        SlCitation *copy = g_new(SlCitation, 1);
        *copy = *c;
        copy->problem = g_strdup(c->problem);
        g_object_set_data(G_OBJECT(b), "citation", GUINT_TO_POINTER(self->citation_targets->len));
        g_ptr_array_add(self->citation_targets, copy);
        g_signal_connect(b, "clicked", G_CALLBACK(on_citation_clicked), self);
        gtk_flow_box_append(self->citations_box, b);
    }
}

static GtkWidget *looked_row(const SlLookedPassage *p)
{
    g_autofree char *where = p->first_line
        ? g_strdup_printf(_("lines %d–%d"), p->first_line, p->last_line)
        : g_strdup_printf(_("p. %d"), p->page);
    g_autofree char *title = g_strdup_printf("%.0f%% · %s", 100 * p->weight, where);
    AdwActionRow *row = ADW_ACTION_ROW(adw_action_row_new());
    adw_preferences_row_set_title(ADW_PREFERENCES_ROW(row), title);
    adw_action_row_set_subtitle(row, p->title);
    gtk_list_box_row_set_activatable(GTK_LIST_BOX_ROW(row), TRUE);
    SlLookedPassage *copy = g_new(SlLookedPassage, 1);
    *copy = *p;
    copy->title = g_strdup(p->title);
    g_object_set_data_full(G_OBJECT(row), "passage", copy, (GDestroyNotify)sl_looked_passage_free);
    return GTK_WIDGET(row);
}

/* looked: the passages, or NULL to read them from the library. */
static void show_looked(SlChatView *self, GPtrArray *given, const char *dsa_mode)
{
    clear_list(self->looked_list);
    SlLookedQuery q = {FALSE, -1, -1, -1};
    g_autoptr(GPtrArray) looked = given ? g_ptr_array_ref(given)
                                  : self->answer_id ? sl_answer_looked(self->lib, self->answer_id, &q, 8, NULL)
                                                    : NULL;
    gboolean any = looked && looked->len;
    for (guint i = 0; any && i < looked->len; i++)
        gtk_list_box_append(self->looked_list, looked_row(looked->pdata[i]));
    g_autofree char *title = g_strdup_printf(_("Where the model looked (selected by the %s)"),
                                             !g_strcmp0(dsa_mode, "indexer") ? _("indexer")
                                                                            : _("oracle"));
    gtk_label_set_text(self->looked_title, title);
    gtk_widget_set_visible(GTK_WIDGET(self->looked_title), any);
    gtk_widget_set_visible(GTK_WIDGET(self->looked_list), any);
}

static void on_looked_activated(SlChatView *self, GtkListBoxRow *row)
{
    const SlLookedPassage *p = g_object_get_data(G_OBJECT(row), "passage");
    if (p)
        g_signal_emit(self, signals[PASSAGE_ACTIVATED], 0, p->document_id, p->page,
                      (gint64)p->start, (gint64)p->end, p->first_line, p->last_line);
}

/* 131072 → "131,072", with the locale's thousands separator (printf's ' flag is not C). */
static char *thousands(guint64 n)
{
    const char *sep = localeconv()->thousands_sep;
    g_autofree char *digits = g_strdup_printf("%" G_GUINT64_FORMAT, n);
    GString *out = g_string_new(NULL);
    gsize len = strlen(digits);
    for (gsize i = 0; i < len; i++) {
        if (i && (len - i) % 3 == 0)
            g_string_append(out, sep && *sep ? sep : ",");
        g_string_append_c(out, digits[i]);
    }
    return g_string_free(out, FALSE);
}

static void set_budget(SlChatView *self, gsize used, int budget)
{
    g_autofree char *u = thousands(used), *b = thousands((guint64)MAX(budget, 0));
    g_autofree char *text = g_strdup_printf(_("%s / %s tokens"), u, b);
    gtk_label_set_text(self->budget_label, text);
}

static void show_left_out(SlChatView *self, const char *left_out)
{
    g_autofree char *text = left_out ? g_strdup_printf(_("Left out to fit the budget: %s"), left_out)
                                     : NULL;
    gtk_label_set_text(self->left_out_label, text ? text : "");
    gtk_widget_set_visible(GTK_WIDGET(self->left_out_label), left_out != NULL);
}

/* ---------------------------------------------------------------- the context map */

typedef struct {
    GArray *bins;          /* SlContextBin */
    gsize n_positions;
    GPtrArray *sources;    /* SlAnswerSource */
} MapData;

static void map_data_free(gpointer data)
{
    MapData *m = data;
    if (m->bins)
        g_array_unref(m->bins);
    if (m->sources)
        g_ptr_array_unref(m->sources);
    g_free(m);
}

static void map_thread(GTask *task, gpointer source, gpointer data, GCancellable *cancellable)
{
    SlChatView *self = source;
    gint64 answer = GPOINTER_TO_SIZE(data);
    MapData *m = g_new0(MapData, 1);
    SlLookedQuery q = {FALSE, -1, -1, -1};
    m->bins = sl_answer_context_map(self->lib, answer, &q, 600, &m->n_positions, NULL);
    m->sources = sl_library_answer_sources(self->lib, answer, NULL);
    g_task_return_pointer(task, m, map_data_free);
}

static void on_map_read(GObject *source, GAsyncResult *res, gpointer data)
{
    SlChatView *self = SL_CHAT_VIEW(source);
    MapData *m = g_task_propagate_pointer(G_TASK(res), NULL);
    gint64 answer = GPOINTER_TO_SIZE(g_task_get_task_data(G_TASK(res)));
    if (m && m->bins && answer == self->answer_id) {
        g_hash_table_remove_all(self->source_docs);
        for (guint i = 0; m->sources && i < m->sources->len; i++) {
            const SlAnswerSource *src = m->sources->pdata[i];
            g_hash_table_insert(self->source_docs, GINT_TO_POINTER(src->number),
                                g_memdup2(&src->document_id, sizeof(gint64)));
        }
        sl_selection_map_set_bins(self->context_map, (const SlContextBin *)(void *)m->bins->data,
                                  m->bins->len, m->n_positions);
        gtk_widget_set_visible(self->map_box, TRUE);
    }
    if (m)
        map_data_free(m);
}

/* Reads the map of the answer's whole context off the main thread. */
static void show_map(SlChatView *self)
{
    gtk_widget_set_visible(self->map_box, FALSE);
    sl_selection_map_clear(self->context_map);
    if (!self->answer_id)
        return;
    g_autoptr(GTask) task = g_task_new(self, NULL, on_map_read, NULL);
    g_task_set_task_data(task, GSIZE_TO_POINTER((gsize)self->answer_id), NULL);
    g_task_run_in_thread(task, map_thread);
}

static void on_map_position(SlChatView *self, guint source, int page, guint64 position)
{
    const gint64 *doc = g_hash_table_lookup(self->source_docs, GUINT_TO_POINTER(source));
    if (doc && *doc)
        g_signal_emit(self, signals[CITATION_ACTIVATED], 0, *doc, page, 0, 0);
}

/* The inspector: layers × positions and distances, in its own window. */
static void inspect_thread(GTask *task, gpointer source, gpointer data, GCancellable *cancellable)
{
    SlChatView *self = source;
    SlInspection *in = sl_answer_inspect(self->lib, GPOINTER_TO_SIZE(data), FALSE, -1, 256, NULL);
    g_task_return_pointer(task, in, (GDestroyNotify)sl_inspection_free);
}

static void on_inspected(GObject *source, GAsyncResult *res, gpointer data)
{
    g_autoptr(GtkWidget) inspector = data;
    SlInspection *in = g_task_propagate_pointer(G_TASK(res), NULL);
    if (in)
        sl_selection_inspector_set(SL_SELECTION_INSPECTOR(inspector), in);
    sl_inspection_free(in);
}

static void inspect_action(GtkWidget *widget, const char *name, GVariant *param)
{
    SlChatView *self = SL_CHAT_VIEW(widget);
    if (!self->answer_id)
        return;
    GtkWidget *window = adw_window_new();
    gtk_window_set_title(GTK_WINDOW(window), _("Selections"));
    gtk_window_set_default_size(GTK_WINDOW(window), 760, 560);
    gtk_window_set_transient_for(GTK_WINDOW(window), GTK_WINDOW(gtk_widget_get_root(widget)));
    GtkWidget *box = gtk_box_new(GTK_ORIENTATION_VERTICAL, 0);
    gtk_box_append(GTK_BOX(box), adw_header_bar_new());
    GtkWidget *inspector = sl_selection_inspector_new();
    sl_selection_inspector_set_selector(SL_SELECTION_INSPECTOR(inspector), self->selector);
    gtk_widget_set_vexpand(inspector, TRUE);
    gtk_widget_set_margin_start(inspector, 12);
    gtk_widget_set_margin_end(inspector, 12);
    gtk_widget_set_margin_bottom(inspector, 12);
    gtk_box_append(GTK_BOX(box), inspector);
    adw_window_set_content(ADW_WINDOW(window), box);
    gtk_window_present(GTK_WINDOW(window));
    g_autoptr(GTask) task = g_task_new(self, NULL, on_inspected, g_object_ref(inspector));
    g_task_set_task_data(task, GSIZE_TO_POINTER((gsize)self->answer_id), NULL);
    g_task_run_in_thread(task, inspect_thread);
}

/* ---------------------------------------------------------------- asking */

static void set_busy(SlChatView *self, gboolean busy)
{
    gtk_widget_set_visible(GTK_WIDGET(self->stop_button), busy);
    gtk_widget_set_sensitive(GTK_WIDGET(self->ask_button), !busy);
    gtk_widget_set_sensitive(GTK_WIDGET(self->summarise_button), !busy);
}

static void on_stage(const char *stage, gsize done, gsize total, gpointer data)
{
    SlChatView *self = data;
    g_autofree char *text = NULL;
    if (!g_strcmp0(stage, "prefill")) {
        g_autofree char *d = thousands(done), *t = thousands(total);
        text = g_strdup_printf(_("Reading the context: %s of %s tokens"), d, t);
    }
    else if (!g_strcmp0(stage, "context"))
        text = g_strdup(_("Preparing the context…"));
    else if (!g_strcmp0(stage, "answer"))
        text = g_strdup(_("Answering…"));
    else
        text = g_strdup_printf(_("Summarising %s…"), stage);
    gtk_label_set_text(self->status_label, text);
}

static void on_text(const char *text, gpointer data)
{
    SlChatView *self = data;
    GtkTextBuffer *buf = gtk_text_view_get_buffer(self->answer_view);
    GtkTextIter end;
    gtk_text_buffer_get_end_iter(buf, &end);
    gtk_text_buffer_insert(buf, &end, text, -1);
}

static const char *dsa_mode_setting(SlChatView *self, sl_dsa_mode *mode)
{
    int v = g_settings_get_enum(self->settings, "dsa-mode");
    *mode = v == 1 ? SL_DSA_INDEXER : v == 2 ? SL_DSA_ORACLE : SL_DSA_DENSE;
    return v == 1 ? "indexer" : v == 2 ? "oracle" : "dense";
}

static void on_answered(GObject *source, GAsyncResult *res, gpointer data)
{
    g_autoptr(SlChatView) self = data;
    g_autoptr(GError) error = NULL;
    g_autoptr(SlAnswer) a = sl_ask_finish(self->worker, res, &error);
    g_clear_object(&self->running);
    set_busy(self, FALSE);
    if (!a) {
        gtk_label_set_text(self->status_label,
                           g_error_matches(error, G_IO_ERROR, G_IO_ERROR_CANCELLED)
                               ? _("Stopped; nothing was kept.") : error->message);
        return;
    }
    self->answer_id = a->answer_id;
    self->conversation_id = a->conversation_id;
    g_clear_pointer(&self->token_offsets, g_array_unref);
    self->token_offsets = g_array_ref(a->token_offsets);
    double decode_rate = a->decode_ms > 0 ? a->answer_tokens / (a->decode_ms / 1000.0) : 0;
    g_autofree char *status = g_strdup_printf(_("First word after %.1f s · %.1f tokens/s"),
                                              a->first_token_ms / 1000.0, decode_rate);
    gtk_label_set_text(self->status_label, status);
    set_budget(self, a->context_tokens, a->budget);
    show_citations(self, a->citations);
    show_left_out(self, a->left_out);
    sl_dsa_mode mode;
    g_free(self->selector);
    self->selector = g_strdup(dsa_mode_setting(self, &mode));
    show_looked(self, a->looked, self->selector);
    show_map(self);
    g_signal_emit(self, signals[ANSWER_READY], 0, a->answer_id);
}

static void fill_request(SlChatView *self, SlAskRequest *rq)
{
    sl_ask_request_init(rq);
    dsa_mode_setting(self, &rq->dsa.mode);
    rq->dsa.top_k = g_settings_get_int(self->settings, "top-k");
    rq->budget = g_settings_get_int(self->settings, "context-budget");
    rq->answer_tokens = g_settings_get_int(self->settings, "answer-tokens");
    rq->sampling.temperature = (float)g_settings_get_double(self->settings, "temperature");
    rq->sampling.top_k = g_settings_get_int(self->settings, "sample-top-k");
    rq->sampling.top_p = (float)g_settings_get_double(self->settings, "top-p");
}

static void stop_reading_words(SlChatView *self);

void sl_chat_view_ask(SlChatView *self, const char *question)
{
    if (self->running || !self->lib || !self->worker)
        return;
    guint scope = MIN(gtk_drop_down_get_selected(self->scope), 3u);
    g_signal_emit(self, signals[PREPARE_SCOPE], 0, (int)scope); /* the window fills it in */
    const GArray *ids = self->scopes[scope];
    if (!ids || ids->len == 0) {
        gtk_label_set_text(self->status_label, scope == SL_SCOPE_SELECTED
                                                   ? _("Select documents in the library first.")
                                                   : _("Open or add a document first."));
        return;
    }
    SlAskRequest rq;
    fill_request(self, &rq);
    rq.kind = question ? SL_CONTEXT_ASK : SL_CONTEXT_SUMMARY;
    rq.question = question;
    rq.documents = (const gint64 *)(const void *)ids->data;
    rq.n_documents = ids->len;
    gtk_label_set_text(self->question_label, question ? question : _("Summary"));
    gtk_text_buffer_set_text(gtk_text_view_get_buffer(self->answer_view), "", 0);
    show_citations(self, NULL);
    show_left_out(self, NULL);
    clear_list(self->looked_list);
    gtk_widget_set_visible(GTK_WIDGET(self->looked_list), FALSE);
    gtk_widget_set_visible(GTK_WIDGET(self->looked_title), FALSE);
    stop_reading_words(self); /* the new answer brings its own */
    self->running = g_cancellable_new();
    set_busy(self, TRUE);
    SlAskCallbacks cb = {on_stage, on_text, self};
    sl_ask_async(self->worker, self->lib, &rq, &cb, self->running, on_answered, g_object_ref(self));
}

void sl_chat_view_stop(SlChatView *self)
{
    if (self->running)
        g_cancellable_cancel(self->running);
}

gboolean sl_chat_view_is_busy(SlChatView *self)
{
    return self->running != NULL;
}

static void on_ask_clicked(SlChatView *self)
{
    g_autofree char *q = g_strstrip(g_strdup(gtk_editable_get_text(GTK_EDITABLE(self->question_entry))));
    if (*q)
        sl_chat_view_ask(self, q);
}

static void on_summarise_clicked(SlChatView *self)
{
    sl_chat_view_ask(self, NULL);
}

static void on_stop_clicked(SlChatView *self)
{
    sl_chat_view_stop(self);
}

/* ---------------------------------------------------------------- earlier answers */

static void stop_reading_words(SlChatView *self)
{
    if (self->reading_words)
        g_cancellable_cancel(self->reading_words);
    g_clear_object(&self->reading_words);
    self->pending_click = -1;
}

typedef struct {
    SlChatView *self; /* a reference */
    GCancellable *cancellable;
} WordsRequest;

typedef struct {
    SlLibrary *lib; /* thread-safe; lives as long as the application */
    gint64 answer_id;
} WordsJob;

static gpointer words_func(SlWorkerJob *job, sl_engine *engine, gpointer data,
                           GCancellable *cancellable, GError **error)
{
    const WordsJob *j = data;
    return sl_answer_token_offsets(j->lib, engine, j->answer_id, error);
}

static int token_at(SlChatView *self, gsize at);

static void words_read(GObject *source, GAsyncResult *res, gpointer data)
{
    WordsRequest *rq = data;
    SlChatView *self = rq->self;
    g_autoptr(GError) error = NULL;
    g_autoptr(GArray) offsets = sl_worker_run_finish(self->worker, res, &error);
    /* Only the latest request counts: another answer may be shown by now. */
    if (rq->cancellable == self->reading_words && !g_cancellable_is_cancelled(rq->cancellable)) {
        gssize click = self->pending_click;
        g_clear_object(&self->reading_words);
        self->pending_click = -1;
        if (offsets)
            self->token_offsets = g_steal_pointer(&offsets);
        if (click >= 0 && self->token_offsets)
            sl_chat_view_activate_token(self, token_at(self, (gsize)click));
        else if (click >= 0) {
            /* Translators: %s says why, e.g. "no model loaded". */
            g_autofree char *why = g_strdup_printf(_("No heat for single words: %s"), error->message);
            gtk_label_set_text(self->status_label, why);
        }
    }
    g_object_unref(rq->cancellable);
    g_object_unref(rq->self);
    g_free(rq);
}

/* Reads where each token of the stored answer shown starts, on the engine's thread (its
 * tokenizer turns the stored token ids back into text), so that a click on a word of an
 * earlier answer finds its token as for a fresh one. click >= 0: a click to answer then. */
static void read_words(SlChatView *self, gssize click)
{
    stop_reading_words(self);
    if (!self->worker || !self->lib || self->answer_id <= 0)
        return;
    self->reading_words = g_cancellable_new();
    self->pending_click = click;
    WordsJob *job = g_new0(WordsJob, 1);
    job->lib = self->lib;
    job->answer_id = self->answer_id;
    WordsRequest *rq = g_new0(WordsRequest, 1);
    rq->self = g_object_ref(self);
    rq->cancellable = g_object_ref(self->reading_words);
    sl_worker_run_async(self->worker, words_func, job, g_free, (GDestroyNotify)g_array_unref,
                        self->reading_words, words_read, rq);
}

/* The citations of a stored answer, checked against its sources as they are now. */
static GArray *stored_citations(SlChatView *self, const SlAnswerRow *row)
{
    g_autoptr(GPtrArray) sources = sl_library_answer_sources(self->lib, row->id, NULL);
    if (!sources)
        return NULL;
    g_autofree SlSource *src = g_new0(SlSource, sources->len + 1);
    g_autoptr(GPtrArray) docs = g_ptr_array_new_with_free_func((GDestroyNotify)sl_document_free);
    for (guint i = 0; i < sources->len; i++) {
        const SlAnswerSource *s = sources->pdata[i];
        g_autofree char *key = g_strdup_printf("%" G_GINT64_FORMAT, s->document_id);
        SlDocument *d = s->document_id ? sl_library_get(self->lib, key, NULL) : NULL;
        src[i].number = s->number;
        src[i].document_id = d ? d->id : 0;
        src[i].kind = d ? d->kind : "text";
        src[i].n_pages = d ? d->pages : 1;
        /* lines are not counted here: a line is trusted to be in the file */
        src[i].n_lines = d && g_strcmp0(d->kind, "pdf") != 0 ? G_MAXINT / 2 : 0;
        if (d)
            g_ptr_array_add(docs, d);
    }
    return sl_citations_parse(row->answer, src, sources->len);
}

void sl_chat_view_show_answer(SlChatView *self, gint64 answer_id)
{
    g_autoptr(SlAnswerRow) row = sl_library_answer(self->lib, answer_id, NULL);
    if (!row || self->running)
        return;
    self->answer_id = row->id;
    self->conversation_id = row->conversation_id;
    g_clear_pointer(&self->token_offsets, g_array_unref);
    read_words(self, -1);
    gtk_label_set_text(self->question_label, !g_strcmp0(row->kind, "summary") ? _("Summary")
                                                                              : row->question);
    gtk_text_buffer_set_text(gtk_text_view_get_buffer(self->answer_view), row->answer, -1);
    g_autoptr(GArray) citations = stored_citations(self, row);
    show_citations(self, citations);
    show_left_out(self, row->left_out);
    set_budget(self, (gsize)row->context_tokens, row->budget);
    gtk_label_set_text(self->status_label, "");
    g_free(self->selector);
    self->selector = g_strdup(row->dsa_mode);
    show_looked(self, NULL, row->dsa_mode);
    show_map(self);
    g_signal_emit(self, signals[ANSWER_READY], 0, row->id);
}

static void fill_history(SlChatView *self)
{
    clear_list(self->history_list);
    g_autoptr(GPtrArray) rows = self->lib ? sl_library_answers(self->lib, 0, 50, NULL) : NULL;
    for (guint i = 0; rows && i < rows->len; i++) {
        const SlAnswerRow *r = rows->pdata[i];
        AdwActionRow *row = ADW_ACTION_ROW(adw_action_row_new());
        adw_preferences_row_set_title(ADW_PREFERENCES_ROW(row),
                                      !g_strcmp0(r->kind, "summary") ? _("Summary") : r->question);
        adw_preferences_row_set_use_markup(ADW_PREFERENCES_ROW(row), FALSE);
        g_autoptr(GDateTime) t = g_date_time_new_from_unix_local(r->created_at / G_USEC_PER_SEC);
        g_autofree char *when = t ? g_date_time_format(t, "%x %H:%M") : g_strdup("");
        adw_action_row_set_subtitle(row, when);
        gtk_list_box_row_set_activatable(GTK_LIST_BOX_ROW(row), TRUE);
        g_object_set_data(G_OBJECT(row), "answer", GINT_TO_POINTER((int)r->id));
        gtk_list_box_append(self->history_list, GTK_WIDGET(row));
    }
}

static void on_history_activated(SlChatView *self, GtkListBoxRow *row)
{
    gtk_popover_popdown(self->history_popover);
    sl_chat_view_show_answer(self, GPOINTER_TO_INT(g_object_get_data(G_OBJECT(row), "answer")));
}

/* ---------------------------------------------------------------- clicking a word */

/* The answer token holding byte `at` of the answer, or -1. */
static int token_at(SlChatView *self, gsize at)
{
    if (!self->token_offsets || self->token_offsets->len == 0)
        return -1;
    guint lo = 0, hi = self->token_offsets->len;
    while (lo < hi) {
        guint mid = lo + (hi - lo) / 2;
        if (g_array_index(self->token_offsets, guint32, mid) <= at)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo ? (int)lo - 1 : -1;
}

void sl_chat_view_activate_token(SlChatView *self, int token)
{
    GtkTextBuffer *buf = gtk_text_view_get_buffer(self->answer_view);
    const char *text = sl_chat_view_get_text(self);
    GtkTextIter a, b;
    gtk_text_buffer_get_bounds(buf, &a, &b);
    gtk_text_buffer_remove_tag(buf, self->word_tag, &a, &b);
    if (!self->token_offsets || token < 0 || (guint)token >= self->token_offsets->len)
        return;
    gsize start = g_array_index(self->token_offsets, guint32, token);
    gsize end = (guint)token + 1 < self->token_offsets->len
                    ? g_array_index(self->token_offsets, guint32, token + 1) : strlen(text);
    glong cs = g_utf8_pointer_to_offset(text, text + start), ce = g_utf8_pointer_to_offset(text, text + end);
    gtk_text_buffer_get_iter_at_offset(buf, &a, (int)cs);
    gtk_text_buffer_get_iter_at_offset(buf, &b, (int)ce);
    gtk_text_buffer_apply_tag(buf, self->word_tag, &a, &b);
    g_autofree char *word = g_strstrip(g_strndup(text + start, end - start));
    g_signal_emit(self, signals[TOKEN_ACTIVATED], 0, token, word);
}

static void on_answer_clicked(GtkGestureClick *gesture, int n, double x, double y, gpointer data)
{
    SlChatView *self = data;
    int bx, by;
    gtk_text_view_window_to_buffer_coords(self->answer_view, GTK_TEXT_WINDOW_WIDGET, (int)x, (int)y,
                                          &bx, &by);
    GtkTextIter iter;
    if (!gtk_text_view_get_iter_at_location(self->answer_view, &iter, bx, by))
        return;
    const char *text = sl_chat_view_get_text(self);
    const char *at = g_utf8_offset_to_pointer(text, gtk_text_iter_get_offset(&iter));
    if (!self->token_offsets && !self->running && self->answer_id > 0) {
        /* An earlier answer whose words are still being read, or could not be when it was
         * opened (no model loaded yet): the click is answered once they are. */
        if (self->reading_words)
            self->pending_click = at - text;
        else
            read_words(self, at - text);
        return;
    }
    sl_chat_view_activate_token(self, token_at(self, (gsize)(at - text)));
}

/* ---------------------------------------------------------------- the class */

void sl_chat_view_setup(SlChatView *self, SlLibrary *lib, SlWorker *worker, GSettings *settings)
{
    self->lib = lib;
    self->worker = worker;
    g_set_object(&self->settings, settings);
    set_budget(self, 0, g_settings_get_int(settings, "context-budget"));
}

void sl_chat_view_set_scope_documents(SlChatView *self, SlScope scope, const GArray *ids)
{
    g_clear_pointer(&self->scopes[scope], g_array_unref);
    self->scopes[scope] = g_array_new(FALSE, FALSE, sizeof(gint64));
    if (ids)
        g_array_append_vals(self->scopes[scope], ids->data, ids->len);
}

gint64 sl_chat_view_get_answer(SlChatView *self) { return self->answer_id; }

guint sl_chat_view_get_n_words(SlChatView *self)
{
    return self->token_offsets ? self->token_offsets->len : 0;
}

gboolean sl_chat_view_words_pending(SlChatView *self) { return self->reading_words != NULL; }

void sl_chat_view_focus_question(SlChatView *self)
{
    gtk_widget_grab_focus(GTK_WIDGET(self->question_entry));
}

GPtrArray *sl_chat_view_get_citation_labels(SlChatView *self)
{
    GPtrArray *out = g_ptr_array_new_with_free_func(g_free);
    for (guint i = 0; i < self->citation_targets->len; i++)
        g_ptr_array_add(out, citation_label(self->citation_targets->pdata[i]));
    return out;
}

guint sl_chat_view_get_n_map_bins(SlChatView *self)
{
    return sl_selection_map_get_n_bins(self->context_map);
}

guint sl_chat_view_get_n_looked(SlChatView *self)
{
    guint n = 0;
    for (GtkWidget *c = gtk_widget_get_first_child(GTK_WIDGET(self->looked_list)); c;
         c = gtk_widget_get_next_sibling(c))
        n++;
    return n;
}

const char *sl_chat_view_get_text(SlChatView *self)
{
    GtkTextBuffer *buf = gtk_text_view_get_buffer(self->answer_view);
    GtkTextIter a, b;
    gtk_text_buffer_get_bounds(buf, &a, &b);
    char *text = gtk_text_buffer_get_text(buf, &a, &b, FALSE);
    g_object_set_data_full(G_OBJECT(self), "text", text, g_free);
    return text;
}

void sl_chat_view_activate_citation(SlChatView *self, guint n)
{
    guint i = 0;
    for (GtkWidget *c = gtk_widget_get_first_child(GTK_WIDGET(self->citations_box)); c;
         c = gtk_widget_get_next_sibling(c), i++)
        if (i == n)
            g_signal_emit_by_name(gtk_flow_box_child_get_child(GTK_FLOW_BOX_CHILD(c)), "clicked");
}

static void stop_action(GtkWidget *widget, const char *name, GVariant *param)
{
    sl_chat_view_stop(SL_CHAT_VIEW(widget));
}

static void citation_free(gpointer data)
{
    SlCitation *c = data;
    sl_citation_clear(c);
    g_free(c);
}

static void sl_chat_view_dispose(GObject *object)
{
    SlChatView *self = SL_CHAT_VIEW(object);
    sl_chat_view_stop(self);
    stop_reading_words(self);
    gtk_widget_dispose_template(GTK_WIDGET(self), SL_TYPE_CHAT_VIEW);
    for (int i = 0; i < 4; i++)
        g_clear_pointer(&self->scopes[i], g_array_unref);
    g_clear_pointer(&self->citation_targets, g_ptr_array_unref);
    g_clear_pointer(&self->token_offsets, g_array_unref);
    g_clear_pointer(&self->source_docs, g_hash_table_unref);
    g_clear_pointer(&self->selector, g_free);
    g_clear_object(&self->settings);
    G_OBJECT_CLASS(sl_chat_view_parent_class)->dispose(object);
}

static void sl_chat_view_init(SlChatView *self)
{
    gtk_widget_init_template(GTK_WIDGET(self));
    self->citation_targets = g_ptr_array_new_with_free_func(citation_free);
    self->pending_click = -1;
    self->word_tag = gtk_text_buffer_create_tag(gtk_text_view_get_buffer(self->answer_view), "word",
                                                "underline", PANGO_UNDERLINE_SINGLE, "weight", 700,
                                                NULL);
    /* The context map and the inspector, after where the model looked. */
    self->source_docs = g_hash_table_new_full(g_direct_hash, g_direct_equal, NULL, g_free);
    self->map_box = gtk_box_new(GTK_ORIENTATION_VERTICAL, 4);
    gtk_widget_set_visible(self->map_box, FALSE);
    GtkWidget *map_title = gtk_label_new(_("The whole context (click to go there)"));
    gtk_label_set_xalign(GTK_LABEL(map_title), 0);
    gtk_widget_add_css_class(map_title, "caption");
    gtk_widget_add_css_class(map_title, "dim-label");
    self->context_map = SL_SELECTION_MAP(sl_selection_map_new());
    g_signal_connect_swapped(self->context_map, "position-activated", G_CALLBACK(on_map_position), self);
    GtkWidget *inspect = gtk_button_new_with_mnemonic(_("_Inspect Selections…"));
    gtk_actionable_set_action_name(GTK_ACTIONABLE(inspect), "chat.inspect");
    gtk_widget_set_halign(inspect, GTK_ALIGN_START);
    gtk_widget_add_css_class(inspect, "flat");
    gtk_box_append(GTK_BOX(self->map_box), map_title);
    gtk_box_append(GTK_BOX(self->map_box), GTK_WIDGET(self->context_map));
    gtk_box_append(GTK_BOX(self->map_box), inspect);
    gtk_widget_insert_after(self->map_box, gtk_widget_get_parent(GTK_WIDGET(self->looked_list)),
                            GTK_WIDGET(self->looked_list));
    GtkGesture *click = gtk_gesture_click_new();
    g_signal_connect(click, "released", G_CALLBACK(on_answer_clicked), self);
    gtk_widget_add_controller(GTK_WIDGET(self->answer_view), GTK_EVENT_CONTROLLER(click));
    g_signal_connect_swapped(self->history_popover, "show", G_CALLBACK(fill_history), self);
}

static void sl_chat_view_class_init(SlChatViewClass *klass)
{
    GObjectClass *object_class = G_OBJECT_CLASS(klass);
    GtkWidgetClass *widget_class = GTK_WIDGET_CLASS(klass);
    object_class->dispose = sl_chat_view_dispose;
    gtk_widget_class_set_template_from_resource(widget_class, APP_RESOURCE_PATH "/chat-view.ui");
    gtk_widget_class_set_css_name(widget_class, "chatview");
#define CHILD(name) gtk_widget_class_bind_template_child(widget_class, SlChatView, name)
    CHILD(scope);
    CHILD(budget_label);
    CHILD(history_list);
    CHILD(history_popover);
    CHILD(question_label);
    CHILD(answer_view);
    CHILD(status_label);
    CHILD(citations_box);
    CHILD(left_out_label);
    CHILD(looked_title);
    CHILD(looked_list);
    CHILD(question_entry);
    CHILD(ask_button);
    CHILD(summarise_button);
    CHILD(stop_button);
#undef CHILD
    gtk_widget_class_bind_template_callback(widget_class, on_ask_clicked);
    gtk_widget_class_bind_template_callback(widget_class, on_summarise_clicked);
    gtk_widget_class_bind_template_callback(widget_class, on_stop_clicked);
    gtk_widget_class_bind_template_callback(widget_class, on_looked_activated);
    gtk_widget_class_bind_template_callback(widget_class, on_history_activated);
    /* (document id, page, first line, last line); page or lines 0 when not given */
    signals[CITATION_ACTIVATED] = g_signal_new("citation-activated", G_TYPE_FROM_CLASS(klass),
                                               G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL, G_TYPE_NONE,
                                               4, G_TYPE_INT64, G_TYPE_INT, G_TYPE_INT, G_TYPE_INT);
    /* (document id, page, byte start, byte end, first line, last line) */
    signals[PASSAGE_ACTIVATED] = g_signal_new("passage-activated", G_TYPE_FROM_CLASS(klass),
                                              G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL, G_TYPE_NONE,
                                              6, G_TYPE_INT64, G_TYPE_INT, G_TYPE_INT64,
                                              G_TYPE_INT64, G_TYPE_INT, G_TYPE_INT);
    /* (SlScope): the documents of this scope are wanted now (sl_chat_view_set_scope_documents) */
    signals[PREPARE_SCOPE] = g_signal_new("prepare-scope", G_TYPE_FROM_CLASS(klass),
                                          G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL, G_TYPE_NONE, 1,
                                          G_TYPE_INT);
    /* (token index, its text): the user clicked a word of the answer */
    signals[TOKEN_ACTIVATED] = g_signal_new("token-activated", G_TYPE_FROM_CLASS(klass),
                                            G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL, G_TYPE_NONE,
                                            2, G_TYPE_INT, G_TYPE_STRING);
    signals[ANSWER_READY] = g_signal_new("answer-ready", G_TYPE_FROM_CLASS(klass),
                                         G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL, G_TYPE_NONE, 1,
                                         G_TYPE_INT64);
    gtk_widget_class_add_binding_action(widget_class, GDK_KEY_Escape, 0, "chat.stop", NULL);
    gtk_widget_class_install_action(widget_class, "chat.stop", NULL, stop_action);
    gtk_widget_class_install_action(widget_class, "chat.inspect", NULL, inspect_action);
}
