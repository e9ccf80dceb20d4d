/* document-item.h: SlDocumentItem, one document of the library as an item of list models. */
#ifndef SL_DOCUMENT_ITEM_H
#define SL_DOCUMENT_ITEM_H

#include "library.h"

#include <gio/gio.h>

G_BEGIN_DECLS

#define SL_TYPE_DOCUMENT_ITEM (sl_document_item_get_type())
G_DECLARE_FINAL_TYPE(SlDocumentItem, sl_document_item, SL, DOCUMENT_ITEM, GObject)

SlDocumentItem *sl_document_item_new(const SlDocument *doc);
gint64 sl_document_item_get_id(SlDocumentItem *item);
const char *sl_document_item_get_title(SlDocumentItem *item);
const char *sl_document_item_get_kind(SlDocumentItem *item);
const char *sl_document_item_get_status(SlDocumentItem *item);
/* "PDF · 113 pages", "needs a password", "C source · 12 KB"… for people. */
const char *sl_document_item_get_detail(SlDocumentItem *item);
const char *sl_document_item_get_icon_name(SlDocumentItem *item);
const char *sl_document_item_get_path(SlDocumentItem *item);
const char *sl_document_item_get_language(SlDocumentItem *item);
int sl_document_item_get_pages(SlDocumentItem *item);

G_END_DECLS

#endif
