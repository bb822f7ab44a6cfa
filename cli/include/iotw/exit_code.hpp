// Process exit codes of iotw, iotw-trust-node and iotw-emu: one table for all three (docs/cli.md "Exit codes").
#pragma once

namespace iotw {

/// What a process exit code means. CI retries only kExitCouldNotRun: the same input gives the same 0, 1 or 2.
enum ExitCode : int {
  kExitPass = 0,          ///< done: every criterion passed; a daemon stopped by SIGTERM/SIGINT; --help, --version
  kExitFail = 1,          ///< done: a criterion failed (a run, a check, `iotw vrf verify` rejecting a proof)
  kExitUsage = 2,         ///< usage or configuration error: bad command line, config or rig file; nothing ran
  kExitCouldNotRun = 3,   ///< infrastructure: a missing capability or binary, a port in use, a child that would
                          ///< not start or died, an unwritable file
  kExitInterrupted = 130  ///< `iotw` stopped by SIGINT/SIGTERM: children stopped, partial report written
};

}  // namespace iotw
