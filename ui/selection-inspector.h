/* selection-inspector.h: what the sparse attention selected, in two panels: a heat map of
 * layers (rows, 0 at the top) over the context (columns: the SlInspection's bins, equal runs
 * of positions), and a histogram of how far the selected positions lay from the token that
 * selected them (power-of-two buckets: "0", "1–2", "3–6", …), under a title naming the
 * selector and the token. */
#ifndef SL_SELECTION_INSPECTOR_H
#define SL_SELECTION_INSPECTOR_H

#include "looked.h"

#include <gtk/gtk.h>

G_BEGIN_DECLS

#define SL_TYPE_SELECTION_INSPECTOR (sl_selection_inspector_get_type())
G_DECLARE_FINAL_TYPE(SlSelectionInspector, sl_selection_inspector, SL, SELECTION_INSPECTOR,
                     GtkWidget)

GtkWidget *sl_selection_inspector_new(void);

/* Shows in (copied; the caller keeps it). */
void sl_selection_inspector_set(SlSelectionInspector *self, const SlInspection *in);
void sl_selection_inspector_clear(SlSelectionInspector *self);

void sl_selection_inspector_set_log_scale(SlSelectionInspector *self, gboolean log_scale);
gboolean sl_selection_inspector_get_log_scale(SlSelectionInspector *self);
/* "indexer" (the default) or "oracle": who selected, for the title. */
void sl_selection_inspector_set_selector(SlSelectionInspector *self, const char *selector);
const char *sl_selection_inspector_get_selector(SlSelectionInspector *self);
/* The token inspected, shown in the title as given; -1: none (every token). */
void sl_selection_inspector_set_token(SlSelectionInspector *self, int token);
int sl_selection_inspector_get_token(SlSelectionInspector *self);

/* Where a heat map cell or a histogram bar is drawn, in widget coordinates (for hit tests
 * and tests); FALSE when there is none such. */
gboolean sl_selection_inspector_get_cell_rect(SlSelectionInspector *self, int layer, guint bin,
                                              graphene_rect_t *out);
gboolean sl_selection_inspector_get_bar_rect(SlSelectionInspector *self, guint bucket,
                                             graphene_rect_t *out);
/* What the tooltip says at widget (x, y) (g_free), or NULL off the heat map. */
char *sl_selection_inspector_describe_at(SlSelectionInspector *self, double x, double y);

G_END_DECLS

#endif
