// The thin ncurses layer over a Controller (docs/console.md "The screen"): draws its panes, feeds it keys, at
// most 10 redraws a second, redraws on SIGWINCH, honours NO_COLOR, and always gives the terminal back: on the
// way out, on SIGINT/SIGTERM (they end the screen like `d`), on a crash (SIGSEGV, SIGABRT, SIGBUS, SIGFPE:
// endwin, then the signal is raised again) and, through a watchdog process, when the console is SIGKILLed.
#pragma once
#include <string>

#include "iotw/console/controller.hpp"

namespace iotw::console {

/// How the screen ended.
enum class ScreenEnd {
  detach,   ///< `q` `d` (live) or `q` (replay): leave the run as it is
  stopped,  ///< `q` `s`: a `stop` request was accepted
  signal,   ///< SIGINT or SIGTERM
};

/// Runs the screen until the user quits or a signal comes. `source`: shown in the title (run folder).
/// Needs a terminal on stdin/stdout; throws std::runtime_error when there is none.
ScreenEnd run_screen(Controller& controller, const std::string& source);

}  // namespace iotw::console
