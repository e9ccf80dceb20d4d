/* heat.h: the colour ramp and scaling shared by the PDF page and the code view, so that a
 * weight looks the same on a page and on a source line. */
#ifndef SL_HEAT_H
#define SL_HEAT_H

#include <gtk/gtk.h>

G_BEGIN_DECLS

typedef enum {
    SL_HEAT_SCALE_LINEAR,
    SL_HEAT_SCALE_LOG,
} SlHeatScale;

#define SL_TYPE_HEAT_SCALE (sl_heat_scale_get_type())
GType sl_heat_scale_get_type(void);

/* The heat colour of t in 0..1 (clamped): light yellow, orange, deep red, with an alpha that
 * grows with t; translucent, to be drawn over text. */
void sl_heat_color(double t, GdkRGBA *out);
/* w over max as 0..1: linear, or logarithmic over two decades (w / max = 0.01 gives about
 * 0.15), which lifts the many light weights of a skewed distribution into view. 0 for
 * w <= 0 or max <= 0. */
double sl_heat_normalise(double w, double max, gboolean log_scale);

G_END_DECLS

#endif
