#include "iotw/console/screen.hpp"

#include <curses.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <stdexcept>

#include <fmt/format.h>

namespace iotw::console {

namespace {

std::atomic<int> g_signal{0};
std::atomic<int> g_watchdog_pipe{-1};  // write end of the terminal watchdog's pipe
static_assert(std::atomic<int>::is_always_lock_free);

void on_stop_signal(int sig) { g_signal = sig; }

// Tells the terminal watchdog that the terminal is given back already (async-signal-safe).
void tell_watchdog_clean() {
  const int fd = g_watchdog_pipe.exchange(-1);
  if (fd < 0) return;
  const char clean = 'k';
  [[maybe_unused]] ssize_t w = write(fd, &clean, 1);
}

// A crash: give the terminal back, then die of the same signal (SA_RESETHAND restored the default).
void on_crash(int sig) {
  endwin();
  tell_watchdog_clean();  // it must not restore the terminal again later, under the shell's feet
  raise(sig);
}

std::int64_t wall_ms() {
  using namespace std::chrono;
  return duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
}

// A process that outlives a SIGKILLed console only to give the terminal back: it waits on a pipe; EOF without
// the "clean exit" byte means the console died, so it restores the terminal modes saved before ncurses
// started, leaves the alternate screen and shows the cursor.
class TerminalWatchdog {
 public:
  TerminalWatchdog() {
    termios saved{};
    if (tcgetattr(STDIN_FILENO, &saved) != 0) return;
    int fds[2];
    if (pipe(fds) != 0) return;
    const pid_t pid = fork();
    if (pid < 0) {
      close(fds[0]);
      close(fds[1]);
      return;
    }
    if (pid == 0) {
      signal(SIGINT, SIG_IGN);  // the terminal's Ctrl-C is the console's to handle
      signal(SIGTERM, SIG_IGN);
      signal(SIGTTOU, SIG_IGN);  // the shell may have the terminal back already: restore it anyway
      signal(SIGHUP, SIG_IGN);
      for (int fd = 3; fd < 1024; ++fd)
        if (fd != fds[0]) close(fd);
      char byte = 0;
      const ssize_t n = read(fds[0], &byte, 1);
      if (n != 1) {
        tcsetattr(STDIN_FILENO, TCSANOW, &saved);  // not TCSAFLUSH: what is typed meanwhile is the shell's
        static const char kRestore[] = "\033[0m\033[?1049l\033[?25h\r\n";  // attributes off, main screen, cursor on
        [[maybe_unused]] ssize_t w = write(STDOUT_FILENO, kRestore, sizeof kRestore - 1);
      }
      _exit(0);
    }
    close(fds[0]);
    fcntl(fds[1], F_SETFD, FD_CLOEXEC);  // children the console starts later must not hold it open
    pipe_ = fds[1];
    g_watchdog_pipe = fds[1];
    pid_ = pid;
  }
  ~TerminalWatchdog() {
    if (pipe_ < 0) return;
    tell_watchdog_clean();
    close(pipe_);
    waitpid(pid_, nullptr, 0);
  }
  TerminalWatchdog(const TerminalWatchdog&) = delete;
  TerminalWatchdog& operator=(const TerminalWatchdog&) = delete;

 private:
  int pipe_ = -1;
  pid_t pid_ = -1;
};

enum Pair : short { kGood = 1, kBad, kWarn, kInfo, kDim, kTitle };

class Painter {
 public:
  explicit Painter(bool color) : color_(color) {}

  void text(int y, int x, int width, const std::string& s, attr_t attr = A_NORMAL) const {
    if (width <= 0 || y < 0 || y >= LINES) return;
    attron(attr);
    mvaddnstr(y, x, s.c_str(), width);
    attroff(attr);
  }
  attr_t pair(Pair p) const { return color_ ? COLOR_PAIR(p) : A_NORMAL; }
  attr_t state_attr(const std::string& state) const {
    if (state == "blacklisted") return pair(kBad) | A_BOLD;
    if (state == "off") return color_ ? pair(kDim) : A_DIM;
    if (state == "mining") return pair(kGood);
    if (state == "witnessing") return pair(kInfo);
    if (state == "booting" || state == "registering") return pair(kWarn);
    return A_NORMAL;
  }

 private:
  bool color_;
};

std::string fixed(std::string s, std::size_t width) {
  if (s.size() > width) s.resize(width);
  s.append(width - s.size(), ' ');
  return s;
}

void draw_help(const Painter& p, bool live) {
  static const char* const kLines[] = {
      "Up/Down j/k  select a device          Enter  focus its log (Esc back)",
      "PgUp/PgDn Home/End  scroll the log    /  search it, n  next older match",
      "t  timestamps on/off                  l  log level filter (debug..error)",
      "live:  r reboot   h hang (watchdog)   b brownout    o power off/on (DPS)",
      "       c corrupt the link 10 s        s stall it 10 s",
      "       x partition until x again      u type into its UART (AT modules)",
      "       :  any inline rig step         p  pause/resume traffic",
      "       w  write the session as a rig  q  quit: s stop the rig, d detach",
      "replay: space play/pause  . one event  +/- speed  g seek to height  q quit",
      "? closes this help",
  };
  const int w = std::min(COLS - 2, 76), h = static_cast<int>(std::size(kLines)) + 2;
  const int y0 = std::max(0, (LINES - h) / 2), x0 = std::max(0, (COLS - w) / 2);
  for (int y = 0; y < h && y0 + y < LINES; ++y) mvhline(y0 + y, x0, ' ', w);
  p.text(y0, x0, w, fixed(live ? " Keys (live) " : " Keys (replay) ", static_cast<std::size_t>(w)), A_REVERSE);
  for (int i = 0; i < static_cast<int>(std::size(kLines)); ++i) p.text(y0 + 1 + i, x0 + 1, w - 2, kLines[i]);
}

void draw(const Controller& c, const Painter& p, const std::string& source) {
  erase();
  const ViewModel& m = c.model();
  const StatusInfo& st = m.status();
  const std::int64_t now = c.now_ms();
  const bool live = c.mode() == Controller::Mode::live;

  // Title.
  std::string title = fmt::format(" iotw console  {}  {}", st.rig, source);
  if (!live)
    title += fmt::format("  [replay {}/{} {} {}x]", c.position(), c.event_count(), c.playing() ? "playing" : "paused", c.speed());
  p.text(0, 0, COLS, fixed(title, static_cast<std::size_t>(std::max(COLS, 0))), p.pair(kTitle) | A_REVERSE);

  // Device table: RSSI and VIN only when some device has them (80 columns are tight).
  const auto& ds = m.devices();
  const bool any_rssi = std::any_of(ds.begin(), ds.end(), [](const DeviceRow& d) { return d.rssi.has_value() || d.link.rfind("at", 0) == 0 || d.link == "tap"; });
  const bool any_vin = std::any_of(ds.begin(), ds.end(), [](const DeviceRow& d) { return d.powered; });
  auto row_text = [&](const std::string& name, const std::string& model, const std::string& link, const std::string& state,
                      const std::string& resets, const std::string& reason, const std::string& rssi, const std::string& vin,
                      const std::string& rep, const std::string& mined, const std::string& wit, const std::string& ferr,
                      const std::string& age) {
    std::string s = fixed(name, 13) + ' ' + fixed(model, 7) + ' ' + fixed(link, 6) + ' ' + fixed(state, 11) + ' ' +
                    fixed(resets, 3) + ' ' + fixed(reason, 8) + ' ';
    if (any_rssi) s += fixed(rssi, 4) + ' ';
    if (any_vin) s += fixed(vin, 5) + ' ';
    return s + fixed(rep, 4) + ' ' + fixed(mined, 4) + ' ' + fixed(wit, 4) + ' ' + fixed(ferr, 4) + ' ' + age;
  };
  const int table_rows = std::max(3, std::min(static_cast<int>(ds.size()), (LINES - 6) / 3));
  p.text(1, 0, COLS, row_text("DEVICE", "MODEL", "LINK", "STATE", "RST", "LAST RST", "RSSI", "VIN", "REP", "BLK", "WIT", "FERR", "AGE"), A_BOLD | A_UNDERLINE);
  const int first = std::clamp(static_cast<int>(c.selected()) - table_rows + 1, 0, std::max(0, static_cast<int>(ds.size()) - table_rows));
  for (int i = 0; i < table_rows && first + i < static_cast<int>(ds.size()); ++i) {
    const DeviceRow& d = ds[static_cast<std::size_t>(first + i)];
    const auto rep = d.reputation();
    const std::string line =
        row_text(d.name, d.model, d.link, d.state, std::to_string(d.resets), d.last_reset.empty() ? "-" : d.last_reset,
                 d.rssi ? std::to_string(*d.rssi) : "-", d.vin ? fmt::format("{:.2f}", *d.vin) : "-",
                 rep ? fmt::format("{}%", *rep) : "-", std::to_string(d.blocks_mined), std::to_string(d.rounds_witnessed),
                 std::to_string(d.frame_errors), ViewModel::age_text(d, now));
    const bool sel = static_cast<std::size_t>(first + i) == c.selected();
    p.text(2 + i, 0, COLS, fixed(line, static_cast<std::size_t>(std::max(COLS, 0))), sel ? A_REVERSE : A_NORMAL);
    p.text(2 + i, 14 + 7 + 1 + 6 + 1, 11, d.state, p.state_attr(d.state) | (sel ? A_REVERSE : A_NORMAL));
  }

  // Body: the log on the left (all of it when focused), ledger tail and fault schedule on the right.
  const int body_top = 2 + table_rows, body_bottom = LINES - 3;  // inclusive
  const int body_h = body_bottom - body_top + 1;
  // The log gets 3/5 of a narrow screen; from 100 columns 9/20, so that at 120 a ledger row (miner and three
  // witnesses with their verdicts, up to 63 columns) fits beside it. Enter gives the log the whole width.
  const int log_w = c.log_focused() ? COLS : COLS >= 100 ? COLS * 9 / 20 : COLS * 3 / 5;
  const DeviceRow* sel = c.selected_device();
  if (body_h >= 2) {
    const LogView& v = c.log_view();
    const int rows = body_h - 1;
    const auto lines = visible_log_tail(sel ? m.log(sel->name) : std::deque<LogLine>{}, v, c.log_scroll(),
                                        static_cast<std::size_t>(std::max(rows, 0)));
    std::string head = fmt::format(" log {}  [{}+] {}{}", sel ? sel->name : "-", level_name(v.min_level), v.timestamps ? "[ts] " : "",
                                   v.search.empty() ? "" : "[/" + v.search + "] ");
    if (c.log_scroll() > 0) head += fmt::format("-{} ", c.log_scroll());
    p.text(body_top, 0, log_w, fixed(head, static_cast<std::size_t>(log_w)), A_REVERSE);
    const std::size_t begin = 0, end = lines.size();
    for (std::size_t i = begin; i < end; ++i) {
      const bool hit = !v.search.empty() && lines[i].find(v.search) != std::string::npos;
      const bool err = lines[i].find(" E ") != std::string::npos || lines[i].rfind("E ", 0) == 0;
      p.text(body_top + 1 + static_cast<int>(i - begin), 0, log_w - 1, lines[i],
             hit ? (A_BOLD | A_REVERSE) : err ? p.pair(kBad) : A_NORMAL);
    }
    if (!c.log_focused()) {
      const int rx = log_w + 1, rw = COLS - rx;
      const int ledger_h = std::max(2, body_h / 2);
      p.text(body_top, rx, rw, fixed(" ledger", static_cast<std::size_t>(std::max(rw, 0))), A_REVERSE);
      int y = body_top + 1;
      for (const auto& b : m.ledger_tail(static_cast<std::size_t>(ledger_h - 1))) {
        std::string s = fmt::format("{:>4} {} {} {}", b.height, b.hash.substr(0, 8), b.miner,
                                    !b.coherent ? "?" : *b.coherent ? "ok" : "INCOHERENT");
        for (const auto& [w, verdict] : b.verdicts) s += ' ' + w + (verdict == "valid" ? "+" : "-");
        p.text(y++, rx, rw, s, b.coherent && !*b.coherent ? p.pair(kBad) : A_NORMAL);
      }
      const int sy = body_top + ledger_h;
      p.text(sy, rx, rw, fixed(" faults", static_cast<std::size_t>(std::max(rw, 0))), A_REVERSE);
      y = sy + 1;
      const auto& sched = m.schedule();
      // The newest entries that fit, in order.
      const int fit = std::max(0, body_bottom - sy);
      const std::size_t from = sched.size() > static_cast<std::size_t>(fit) ? sched.size() - static_cast<std::size_t>(fit) : 0;
      for (std::size_t i = from; i < sched.size() && y <= body_bottom; ++i) {
        const ScheduleRow& r = sched[i];
        std::string s = fixed(r.state, 10) + ' ';
        if (const auto left = ViewModel::countdown(r, now)) s += fmt::format("{:.0f}s ", *left);
        if (r.pass) s += *r.pass ? "pass " : "FAIL ";
        s += r.label;
        if (!r.detail.empty()) s += "  (" + r.detail + ")";
        attr_t a = r.pass ? (*r.pass ? p.pair(kGood) : p.pair(kBad)) : r.state == "active" ? p.pair(kWarn) : A_NORMAL;
        p.text(y++, rx, rw, s, a);
      }
    }
  }

  // Message / prompt line and status line.
  if (!c.prompt().empty())
    p.text(LINES - 2, 0, COLS, c.prompt() + c.input() + (c.message().empty() ? "" : "   " + c.message()), A_BOLD);
  else
    p.text(LINES - 2, 0, COLS, c.message());
  std::string status = fmt::format(" seed {} | height {}{} | {:.1f} tx/s | {:.0f} s | {}",
                                   st.seed ? std::to_string(*st.seed) : "?", st.height,
                                   st.target ? "/" + std::to_string(*st.target) : "", st.tx_per_s, st.elapsed_s,
                                   st.state.empty() ? (live ? "?" : "replay") : st.state);
  if (st.traffic_paused) status += " | traffic paused";
  status += fmt::format(" | checks {} ok {} failed", st.checks_passed, st.checks_failed);
  attr_t status_attr = A_REVERSE;
  if (st.verdict_pass) {
    status += *st.verdict_pass ? " | PASS" : " | FAIL";
    for (const auto& f : st.failed_criteria) status += ' ' + f;
    status_attr |= *st.verdict_pass ? p.pair(kGood) : p.pair(kBad);
  } else if (st.checks_failed > 0) {
    status += " | failing so far";
  }
  p.text(LINES - 1, 0, COLS, fixed(status, static_cast<std::size_t>(std::max(COLS, 0))), status_attr);

  if (c.help_shown()) draw_help(p, live);
  if (!c.prompt().empty()) {
    move(LINES - 2, std::min(COLS - 1, static_cast<int>(c.prompt().size() + c.input().size())));
    curs_set(1);
  } else {
    curs_set(0);
  }
}

int map_key(int ch) {
  switch (ch) {
    case KEY_UP: return kKeyUp;
    case KEY_DOWN: return kKeyDown;
    case KEY_PPAGE: return kKeyPageUp;
    case KEY_NPAGE: return kKeyPageDown;
    case KEY_HOME: return kKeyHome;
    case KEY_END: return kKeyEnd;
    case KEY_ENTER: case '\n': case '\r': return kKeyEnter;
    case 27: return kKeyEscape;
    case KEY_BACKSPACE: case 127: case 8: return kKeyBackspace;
    default: return ch;
  }
}

}  // namespace

ScreenEnd run_screen(Controller& c, const std::string& source) {
  if (!isatty(STDIN_FILENO) || !isatty(STDOUT_FILENO)) throw std::runtime_error("iotw console needs a terminal");
  TerminalWatchdog watchdog;

  struct sigaction stop {};
  stop.sa_handler = on_stop_signal;
  sigemptyset(&stop.sa_mask);
  sigaction(SIGINT, &stop, nullptr);
  sigaction(SIGTERM, &stop, nullptr);
  sigaction(SIGHUP, &stop, nullptr);  // the terminal went away: end as with SIGTERM (the run keeps going)
  struct sigaction crash {};
  crash.sa_handler = on_crash;
  crash.sa_flags = SA_RESETHAND;
  sigemptyset(&crash.sa_mask);
  for (int sig : {SIGSEGV, SIGABRT, SIGBUS, SIGFPE, SIGILL}) sigaction(sig, &crash, nullptr);

  initscr();
  cbreak();
  noecho();
  keypad(stdscr, TRUE);
  set_escdelay(25);
  timeout(100);  // getch waits at most 100 ms: the loop wakes 10 times a second when idle
  const char* no_color = std::getenv("NO_COLOR");
  const bool color = has_colors() && !(no_color && *no_color);
  if (color) {
    start_color();
    use_default_colors();
    init_pair(kGood, COLOR_GREEN, -1);
    init_pair(kBad, COLOR_RED, -1);
    init_pair(kWarn, COLOR_YELLOW, -1);
    init_pair(kInfo, COLOR_CYAN, -1);
    init_pair(kDim, COLOR_BLUE, -1);
    init_pair(kTitle, COLOR_BLUE, -1);
  }
  Painter painter(color);

  ScreenEnd end = ScreenEnd::detach;
  RedrawPacer pacer;
  for (;;) {
    if (g_signal) {
      end = ScreenEnd::signal;
      break;
    }
    const std::int64_t now = wall_ms();
    if (c.tick(now)) pacer.changed();
    if (pacer.due(now)) {  // at most 10 redraws a second
      draw(c, painter, source);
      refresh();
    }
    const int ch = getch();
    if (ch == ERR) continue;
    pacer.changed();
    if (ch == KEY_RESIZE) continue;  // ncurses has resized stdscr; the next draw fits the new size
    const char* name = keyname(ch);
    const Controller::Exit ex = c.key(map_key(ch), name ? name : "");
    if (ex == Controller::Exit::detach) { end = ScreenEnd::detach; break; }
    if (ex == Controller::Exit::stopped) { end = ScreenEnd::stopped; break; }
  }
  endwin();
  struct sigaction dfl {};
  dfl.sa_handler = SIG_DFL;
  sigaction(SIGINT, &dfl, nullptr);
  sigaction(SIGTERM, &dfl, nullptr);
  sigaction(SIGHUP, &dfl, nullptr);
  return end;
}

}  // namespace iotw::console
