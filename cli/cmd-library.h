/* cmd-library.h: the library commands (built with the app core). */
#ifndef SL_CLI_CMD_LIBRARY_H
#define SL_CLI_CMD_LIBRARY_H

/* argv[0] is the command's name. */
int cmd_add(int argc, char **argv);
int cmd_list(int argc, char **argv);
int cmd_show(int argc, char **argv);
int cmd_rm(int argc, char **argv);
int cmd_search(int argc, char **argv);
int cmd_collections(int argc, char **argv);

#endif
