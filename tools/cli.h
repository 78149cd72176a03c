// SPDX-License-Identifier: Apache-2.0
// Subcommands of the fdeploy program.
#ifndef FD_TOOLS_CLI_H
#define FD_TOOLS_CLI_H

int fd_cmd_info(int argc, char **argv);
int fd_cmd_selftest(int argc, char **argv);
int fd_cmd_run(int argc, char **argv);
int fd_cmd_bench(int argc, char **argv);
int fd_cmd_serve(int argc, char **argv);
int fd_cmd_bench_ops(int argc, char **argv);
// $FDEPLOY_MODEL, else the model scripts/setup.sh installs.
const char *fd_cli_default_model(void);
// Streaming read bandwidth of this host with `threads` threads (0 = all), GB/s.
double fd_cli_read_gbs(int threads);

#endif
