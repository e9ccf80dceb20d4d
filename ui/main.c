/* main.c: the sightline application. */
#include "application.h"

#include <glib/gi18n.h>
#include <locale.h>

int main(int argc, char **argv)
{
    setlocale(LC_ALL, "");
    bindtextdomain(GETTEXT_PACKAGE, LOCALEDIR);
    bind_textdomain_codeset(GETTEXT_PACKAGE, "UTF-8");
    textdomain(GETTEXT_PACKAGE);
    /* SIGHTLINE_LIBRARY: another library file, for tests and for trying things out. */
    g_autoptr(SlApplication) app = sl_application_new(g_getenv("SIGHTLINE_LIBRARY"));
    return g_application_run(G_APPLICATION(app), argc, argv);
}
