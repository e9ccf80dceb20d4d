/* cmd-ask.h: asking, summarising and reading back the answers (built with the app core). */
#ifndef SL_CLI_CMD_ASK_H
#define SL_CLI_CMD_ASK_H

/* argv[0] is the command's name. */
int cmd_ask(int argc, char **argv);
int cmd_summarize(int argc, char **argv);
int cmd_explain(int argc, char **argv);
int cmd_history(int argc, char **argv);

#endif
