/* preferences.h: the preferences window, every row bound to a GSettings key. */
#ifndef SL_PREFERENCES_H
#define SL_PREFERENCES_H

#include <adwaita.h>

G_BEGIN_DECLS

GtkWidget *sl_preferences_new(GSettings *settings);

G_END_DECLS

#endif
