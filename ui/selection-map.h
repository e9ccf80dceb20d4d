/* selection-map.h: the whole context at a glance, as a strip: one column per SlContextBin
 * (app/looked.h) coloured by the source it comes from, the selection weight that fell on it
 * as a heat bar, a line where one source ends and the next begins, and an optional marker.
 *
 * Columns span their positions: bin i covers x from first_position[i] to first_position[i+1]
 * (the last to n_positions) scaled to the width, snapped to whole pixels. Clicking a column
 * emits "position-activated" (guint source, int page, guint64 position: the bin's first). */
#ifndef SL_SELECTION_MAP_H
#define SL_SELECTION_MAP_H

#include "looked.h"

#include <gtk/gtk.h>

G_BEGIN_DECLS

#define SL_TYPE_SELECTION_MAP (sl_selection_map_get_type())
G_DECLARE_FINAL_TYPE(SlSelectionMap, sl_selection_map, SL, SELECTION_MAP, GtkWidget)

GtkWidget *sl_selection_map_new(void);

/* Bins in context order (copied); n may be 0. n_positions: the context's length. */
void sl_selection_map_set_bins(SlSelectionMap *self, const SlContextBin *bins, guint n,
                               gsize n_positions);
void sl_selection_map_clear(SlSelectionMap *self);
guint sl_selection_map_get_n_bins(SlSelectionMap *self);

void sl_selection_map_set_log_scale(SlSelectionMap *self, gboolean log_scale);
gboolean sl_selection_map_get_log_scale(SlSelectionMap *self);

/* A marker at a context position; -1: none. */
void sl_selection_map_set_marker(SlSelectionMap *self, gssize position);
gssize sl_selection_map_get_marker(SlSelectionMap *self);

/* The bin under widget x: its index, or -1 outside the bins. */
int sl_selection_map_bin_at(SlSelectionMap *self, double x);
/* What the tooltip says at widget x (g_free), or NULL outside the bins. */
char *sl_selection_map_describe_at(SlSelectionMap *self, double x);

G_END_DECLS

#endif
