/* pdf-page.h: one PDF page at a zoom, with the heat of where the model looked drawn over its
 * characters and an outline around a cited passage or a find match.
 *
 * Boxes are 4 floats per character (x1, y1, x2, y2) in PDF points from the page's top-left,
 * as sl_boxes_decode gives them (app/boxes.h). The widget copies what it is given. */
#ifndef SL_PDF_PAGE_H
#define SL_PDF_PAGE_H

#include "heat.h"

#include <gtk/gtk.h>
#include <poppler.h>

G_BEGIN_DECLS

#define SL_TYPE_PDF_PAGE (sl_pdf_page_get_type())
G_DECLARE_FINAL_TYPE(SlPdfPage, sl_pdf_page, SL, PDF_PAGE, GtkWidget)

GtkWidget *sl_pdf_page_new(PopplerPage *page);

void sl_pdf_page_set_page(SlPdfPage *self, PopplerPage *page);
PopplerPage *sl_pdf_page_get_page(SlPdfPage *self);
/* Widget pixels per PDF point, 0.1 to 8. */
void sl_pdf_page_set_zoom(SlPdfPage *self, double zoom);
double sl_pdf_page_get_zoom(SlPdfPage *self);
void sl_pdf_page_set_heat_scale(SlPdfPage *self, SlHeatScale scale);
SlHeatScale sl_pdf_page_get_heat_scale(SlPdfPage *self);

/* Heat over the characters with a weight > 0, coloured by weight over the page's largest. */
void sl_pdf_page_set_heat(SlPdfPage *self, const float *boxes, const float *weights,
                          gsize n_chars);
void sl_pdf_page_clear_heat(SlPdfPage *self);
/* An accent outline around the given characters, one per line they span. */
void sl_pdf_page_set_highlight(SlPdfPage *self, const float *boxes, gsize n);
void sl_pdf_page_clear_highlight(SlPdfPage *self);

/* The character of boxes under widget point (x, y): TRUE and its index, or FALSE. */
gboolean sl_pdf_page_char_at(SlPdfPage *self, double x, double y, const float *boxes, gsize n,
                             gsize *index);

G_END_DECLS

#endif
