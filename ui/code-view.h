/* code-view.h: read-only source code with syntax highlighting, the heat of where the model
 * looked drawn as a background per line (the ramp of heat.h), and highlighted lines for a
 * cited passage. Lines are 1-based in this API, as in citations ("lines 3-9"). */
#ifndef SL_CODE_VIEW_H
#define SL_CODE_VIEW_H

#include "heat.h"

#include <gtk/gtk.h>
#include <gtksourceview/gtksource.h>

G_BEGIN_DECLS

#define SL_TYPE_CODE_VIEW (sl_code_view_get_type())
G_DECLARE_FINAL_TYPE(SlCodeView, sl_code_view, SL, CODE_VIEW, GtkWidget)

GtkWidget *sl_code_view_new(void);

/* Replaces the text (len -1: NUL-terminated) and clears heat and highlight; language_id is
 * a GtkSourceView language id ("c", "python"...) or NULL for plain text. */
void sl_code_view_set_text(SlCodeView *self, const char *text, gssize len,
                           const char *language_id);
/* weights[i] for line i + 1 (>= 0); lines past n_lines have none. */
void sl_code_view_set_line_heat(SlCodeView *self, const float *weights, gsize n_lines);
void sl_code_view_clear_line_heat(SlCodeView *self);
void sl_code_view_set_heat_scale(SlCodeView *self, SlHeatScale scale);
SlHeatScale sl_code_view_get_heat_scale(SlCodeView *self);

/* Tags lines first..last (clamped to the text) "highlight" and scrolls them to the centre. */
void sl_code_view_highlight_lines(SlCodeView *self, int first, int last);
void sl_code_view_clear_highlight(SlCodeView *self);

/* The line (1-based) at widget point (x, y), or 0 outside the text. */
int sl_code_view_line_at(SlCodeView *self, double x, double y);

GtkSourceView *sl_code_view_get_source_view(SlCodeView *self);
GtkSourceBuffer *sl_code_view_get_buffer(SlCodeView *self);

G_END_DECLS

#endif
