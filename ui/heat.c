/* heat.c: the heat ramp and scaling (heat.h). */
#include "heat.h"

#include <math.h>

GType sl_heat_scale_get_type(void)
{
    static gsize type = 0;
    static const GEnumValue values[] = {
        {SL_HEAT_SCALE_LINEAR, "SL_HEAT_SCALE_LINEAR", "linear"},
        {SL_HEAT_SCALE_LOG, "SL_HEAT_SCALE_LOG", "log"},
        {0, NULL, NULL},
    };
    if (g_once_init_enter(&type))
        g_once_init_leave(&type, g_enum_register_static("SlHeatScale", values));
    return (GType)type;
}

/* Stops of the ramp: roughly even steps in lightness (light yellow to deep red, like
 * ColorBrewer's YlOrRd), so that more weight always reads as darker on a white page and
 * stays distinct from the blue accent of highlights. */
static const float ramp[][3] = {
    {1.00f, 0.93f, 0.55f},
    {0.99f, 0.74f, 0.30f},
    {0.94f, 0.45f, 0.13f},
    {0.80f, 0.15f, 0.10f},
    {0.60f, 0.02f, 0.12f},
};

void sl_heat_color(double t, GdkRGBA *out)
{
    g_return_if_fail(out != NULL);
    if (!(t > 0))
        t = 0; /* also NaN */
    if (t > 1)
        t = 1;
    const int last = (int)G_N_ELEMENTS(ramp) - 1;
    double pos = t * last;
    int i = MIN((int)pos, last - 1);
    float f = (float)(pos - i);
    out->red = ramp[i][0] + f * (ramp[i + 1][0] - ramp[i][0]);
    out->green = ramp[i][1] + f * (ramp[i + 1][1] - ramp[i][1]);
    out->blue = ramp[i][2] + f * (ramp[i + 1][2] - ramp[i][2]);
    /* Light weights stay faint, heavy ones strong enough to see but never hide the text. */
    out->alpha = (float)(0.30 + 0.30 * t);
}

double sl_heat_normalise(double w, double max, gboolean log_scale)
{
    if (!(w > 0) || !(max > 0))
        return 0;
    double r = MIN(w / max, 1.0);
    /* log1p over a fixed range keeps the scale independent of the weights' unit (shares
     * or vote counts), which a plain log1p(w) / log1p(max) would not be. */
    return log_scale ? log1p(99.0 * r) / log(100.0) : r;
}
