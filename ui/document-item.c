/* document-item.c: a library document as a GObject for list models and property bindings. */
#include "document-item.h"

#include <glib/gi18n.h>

struct _SlDocumentItem {
    GObject parent_instance;
    gint64 id;
    char *title, *kind, *status, *detail, *path, *language;
    int pages;
};

G_DEFINE_FINAL_TYPE(SlDocumentItem, sl_document_item, G_TYPE_OBJECT)

enum { PROP_0, PROP_TITLE, PROP_DETAIL, PROP_ICON_NAME, N_PROPS };
static GParamSpec *properties[N_PROPS];

static void sl_document_item_finalize(GObject *object)
{
    SlDocumentItem *self = SL_DOCUMENT_ITEM(object);
    g_free(self->title);
    g_free(self->kind);
    g_free(self->status);
    g_free(self->detail);
    g_free(self->path);
    g_free(self->language);
    G_OBJECT_CLASS(sl_document_item_parent_class)->finalize(object);
}

static void sl_document_item_get_property(GObject *object, guint id, GValue *value,
                                          GParamSpec *pspec)
{
    SlDocumentItem *self = SL_DOCUMENT_ITEM(object);
    switch (id) {
    case PROP_TITLE:
        g_value_set_string(value, self->title);
        break;
    case PROP_DETAIL:
        g_value_set_string(value, self->detail);
        break;
    case PROP_ICON_NAME:
        g_value_set_string(value, sl_document_item_get_icon_name(self));
        break;
    default:
        G_OBJECT_WARN_INVALID_PROPERTY_ID(object, id, pspec);
    }
}

static void sl_document_item_class_init(SlDocumentItemClass *klass)
{
    GObjectClass *object_class = G_OBJECT_CLASS(klass);
    object_class->finalize = sl_document_item_finalize;
    object_class->get_property = sl_document_item_get_property;
    properties[PROP_TITLE] = g_param_spec_string("title", NULL, NULL, NULL,
                                                 G_PARAM_READABLE | G_PARAM_STATIC_STRINGS);
    properties[PROP_DETAIL] = g_param_spec_string("detail", NULL, NULL, NULL,
                                                  G_PARAM_READABLE | G_PARAM_STATIC_STRINGS);
    properties[PROP_ICON_NAME] = g_param_spec_string("icon-name", NULL, NULL, NULL,
                                                     G_PARAM_READABLE | G_PARAM_STATIC_STRINGS);
    g_object_class_install_properties(object_class, N_PROPS, properties);
}

static void sl_document_item_init(SlDocumentItem *self)
{
}

/* What a person needs to know about the document at a glance. */
static char *describe(const SlDocument *d)
{
    if (!g_strcmp0(d->status, "needs_password"))
        return g_strdup(_("Needs a password"));
    if (!g_strcmp0(d->status, "no_text_layer"))
        return g_strdup(_("No text layer (a scan?)"));
    if (!g_strcmp0(d->status, "error"))
        return g_strdup_printf(_("Error: %s"), d->error ? d->error : "");
    g_autofree char *size = g_format_size((guint64)d->size);
    if (!g_strcmp0(d->kind, "pdf"))
        return g_strdup_printf(g_dngettext(GETTEXT_PACKAGE, "PDF · %d page · %s",
                                           "PDF · %d pages · %s", (gulong)d->pages),
                               d->pages, size);
    if (!g_strcmp0(d->kind, "code"))
        return g_strdup_printf(_("%s source · %s"), d->language ? d->language : _("Code"), size);
    return g_strdup_printf(_("%s · %s"), d->language ? _("Markdown") : _("Text"), size);
}

SlDocumentItem *sl_document_item_new(const SlDocument *doc)
{
    SlDocumentItem *self = g_object_new(SL_TYPE_DOCUMENT_ITEM, NULL);
    self->id = doc->id;
    self->title = g_strdup(doc->title ? doc->title : doc->path);
    self->kind = g_strdup(doc->kind);
    self->status = g_strdup(doc->status);
    self->detail = describe(doc);
    self->path = g_strdup(doc->path);
    self->language = g_strdup(doc->language);
    self->pages = doc->pages;
    return self;
}

gint64 sl_document_item_get_id(SlDocumentItem *self) { return self->id; }
const char *sl_document_item_get_title(SlDocumentItem *self) { return self->title; }
const char *sl_document_item_get_kind(SlDocumentItem *self) { return self->kind; }
const char *sl_document_item_get_status(SlDocumentItem *self) { return self->status; }
const char *sl_document_item_get_detail(SlDocumentItem *self) { return self->detail; }
const char *sl_document_item_get_path(SlDocumentItem *self) { return self->path; }
const char *sl_document_item_get_language(SlDocumentItem *self) { return self->language; }
int sl_document_item_get_pages(SlDocumentItem *self) { return self->pages; }

const char *sl_document_item_get_icon_name(SlDocumentItem *self)
{
    if (g_strcmp0(self->status, "ok") != 0)
        return "dialog-warning-symbolic";
    if (!g_strcmp0(self->kind, "pdf"))
        return "x-office-document-symbolic";
    if (!g_strcmp0(self->kind, "code"))
        return "text-x-script-symbolic";
    return "text-x-generic-symbolic";
}
