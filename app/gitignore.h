/* gitignore.h: the rules of .gitignore files, as git reads them (gitignore(5)).
 *
 * A stack of rule files, one per folder that has a .gitignore, from the tree's root down to
 * the folder being walked. The deepest file with a matching rule decides; within one file the
 * last matching rule wins, and a rule starting with '!' re-includes. A path under an ignored
 * folder is never asked about: the walker does not enter ignored folders, as git does not. */
#ifndef SL_GITIGNORE_H
#define SL_GITIGNORE_H

#include <glib.h>

G_BEGIN_DECLS

typedef struct _SlGitignore SlGitignore;

SlGitignore *sl_gitignore_new(void);
void sl_gitignore_free(SlGitignore *g);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(SlGitignore, sl_gitignore_free)

/* Pushes the rules of one file found in folder base ("" for the root; relative, '/'-separated,
 * no trailing '/'); text need not be NUL-terminated. */
void sl_gitignore_push(SlGitignore *g, const char *base, const char *text, gsize len);
/* Pops the rules pushed last. */
void sl_gitignore_pop(SlGitignore *g);
/* Number of rule files pushed. */
guint sl_gitignore_depth(const SlGitignore *g);

/* Whether path (relative to the root, '/'-separated) is ignored; is_dir: it is a folder. */
gboolean sl_gitignore_ignored(const SlGitignore *g, const char *path, gboolean is_dir);

/* git's wildmatch with the path flag: '*' and '?' and [classes] never match '/', '**' between
 * slashes (or at either end) matches any number of folders, '\' escapes. Exposed for tests. */
gboolean sl_gitignore_wildmatch(const char *pattern, const char *text);

G_END_DECLS

#endif
