#!/usr/bin/env bash
# End-to-end tests of `iotw console` in a real terminal: tmux (its own server socket per test), send-keys,
# capture-pane. Usage: console_tmux_test.sh CASE IOTW_EXE RIGS_DIR WORK_DIR
#   replay_seek   replay a finished smoke run and seek to height 10
#   terminal      `stty -a` in the pane is the same before the console and after q, SIGINT, SIGTERM, SIGSEGV and SIGKILL,
#                 and the shell still echoes what is typed after the SIGKILL
#   live_reset    start the console on rigs/smoke.toml, select the second device, press r: its reset count
#                 rises and events.jsonl has the reboot; c corrupts the third device's link: its frame errors
#                 (FERR) rise; p pauses and resumes the traffic; w writes the session; q s stops the held run;
#                 report.json and report.html list the four console actions with their keys; `iotw rig run` on
#                 the written rig repeats the reboot, the corruption and the pause
#   live_past_deadline  a copy of rigs/smoke.toml with deadline_s = 10, held past its deadline: r on the second
#                 device after 12 s, w; the written rig's deadline is raised, and `iotw rig run` on it reboots that
#                 device and passes (with the rig's 10 s it would end before the step)
#   live_dps      rigs/dps_brownout.toml: b browns dps-01 out; the rail/supply event and 3.50 V in its row; o cuts
#                 its power: off at 0.00 V, then its recovery passes
#   live_uart     rigs/esp_at.toml: esp8266-at-01's RSSI (-45 dBm); u AT+GMR on it; the module's version lines in
#                 its log
#   attach_fake   --attach to tests/console/fake_harness.py: the table fills from `events`, j r sends the reboot
#                 step for the second device, `:` shows a refused step's error in place, q d detaches (exit 0)
#   attach_two    `iotw rig run --hold` (no screen) and two consoles attached to it at once (two tmux windows): r
#                 in the first reboots esp8266-02 and the second sees its reset count rise; the second detaches
#                 (q d) and the run goes on; q s in the first stops it
#   attach_ends   --attach to a run that is not held: it ends under the console, which shows the verdict (from
#                 report.json once harness.sock is gone) and stays open until q
#   attach_none   --attach on a folder with no live run: the message, exit 2
# Waits poll the pane with a generous upper bound (a slow machine is not a failure); nothing is timed.
set -euo pipefail  # (no pipeline ends in `grep -q`: it quits at the first match, and a writer still writing gets
                  # SIGPIPE or EPIPE, which pipefail turns into a failure; has_line and variables instead)
CASE=$1 IOTW=$2 RIGS=$3 WORK=$4
SMOKE_RUN=$(dirname "$WORK")/smoke_run  # made by the console_smoke_run fixture
T="tmux -L iotw-console-$CASE-$$"
mkdir -p "$WORK"
HELD_RUN=""  # a held run the case started: stopped on the way out whatever happened
stop_held_run() {
  [ -n "$HELD_RUN" ] && [ -S "$HELD_RUN/harness.sock" ] || return 0
  python3 - "$HELD_RUN/harness.sock" <<'PY' || true
import socket, sys
s = socket.socket(socket.AF_UNIX)
s.connect(sys.argv[1])
s.sendall(b'{"cmd": "stop"}\n')
s.recv(4096)
PY
  for _ in $(seq 300); do [ -e "$HELD_RUN/harness.sock" ] || break; sleep 0.1; done
}
cleanup() {
  stop_held_run
  local sock; sock=$($T display-message -p '#{socket_path}' 2>/dev/null) || sock=""
  $T kill-server 2>/dev/null || true
  [ -z "$sock" ] || rm -f "$sock"  # tmux leaves its socket file behind
}
trap cleanup EXIT

fail() {
  echo "FAIL: $*"
  echo "--- pane:"; $T capture-pane -p -t c 2>/dev/null || true
  local tty; tty=$($T display-message -p -t c '#{pane_tty}' 2>/dev/null) &&
    { echo "--- processes on $tty:"; ps -t "$tty" -o pid,ppid,pgid,stat,wchan:24,cmd || true; }
  exit 1
}
start_pane() {  # a 120x40 pane running a plain bash
  $T -f /dev/null new-session -d -s c -x 120 -y 40 "env -i PATH=$PATH TERM=xterm-256color HOME=$WORK bash --norc --noprofile"
  $T set-option -t c remain-on-exit on >/dev/null
  wait_for 'bash|\$ $|# $' 20
}
pane() { $T capture-pane -p -t c; }
matches() {  # GREP-ARGS...: grep -q on all of stdin, read to its end first (a pipe's writer never sees it close)
  local text; text=$(cat)
  grep -q "$@" <<<"$text"
}
has_line() {  # FILE STRING...: some line of FILE holds every STRING (fixed strings; the whole file is read)
  local file=$1; shift
  awk -v want="$(printf '%s\n' "$@")" 'BEGIN { n = split(want, w, "\n") - 1 }
    { for (i = 1; i <= n && index($0, w[i]); i++); if (i > n) found = 1 } END { exit !found }' "$file"
}
wait_for() {  # PATTERN [SECONDS]: until the pane matches (extended regex)
  local pattern=$1 limit=${2:-30} i=0
  while ! pane | matches -E -- "$pattern"; do
    i=$((i + 1))
    [ $i -gt $((limit * 10)) ] && fail "no '$pattern' on the screen after ${limit}s"
    sleep 0.1
  done
}
wait_gone() {  # PATTERN [SECONDS]: until the pane no longer matches
  local pattern=$1 limit=${2:-30} i=0
  while pane | matches -E -- "$pattern"; do
    i=$((i + 1))
    [ $i -gt $((limit * 10)) ] && fail "'$pattern' still on the screen after ${limit}s"
    sleep 0.1
  done
}
wait_file() {  # FILE PATTERN [SECONDS]: until FILE exists and matches
  local file=$1 pattern=$2 limit=${3:-30} i=0
  while ! grep -Eq -- "$pattern" "$file" 2>/dev/null; do
    i=$((i + 1))
    [ $i -gt $((limit * 10)) ] && fail "no '$pattern' in $file after ${limit}s"
    sleep 0.1
  done
}
keys() { $T send-keys -t c "$@"; }
run_line() { keys -l "$1"; keys Enter; }

case "$CASE" in
replay_seek)
  [ -s "$SMOKE_RUN/events.jsonl" ] || fail "no finished smoke run in $SMOKE_RUN"
  start_pane
  run_line "$IOTW console --replay $SMOKE_RUN; echo console-exit=\$?"
  wait_for 'DEVICE +MODEL'
  wait_for 'esp32-04'
  keys g; keys -l 10; keys Enter
  wait_for 'at height 10 \(event [0-9]+ of [0-9]+\)'
  pane | matches -E 'height 10/20 ' || fail "status line does not show height 10 of the target 20"
  pane | matches -E '^ .*ledger' || fail "no ledger pane"
  pane | matches -E ' +10 [0-9a-f]{8} [a-z0-9-]+ ok' || fail "the ledger tail does not start at block 10"
  pane | matches -E 'paused' || fail "seeking should pause the replay"
  # Colours: the title bar is blue; the same screen under NO_COLOR has no colour at all (only bold/reverse).
  $T capture-pane -p -e -t c | matches -E $'\e\\[[0-9;]*3[0-7]m' || fail "no colour without NO_COLOR"
  # Resized to 80x24 (SIGWINCH / KEY_RESIZE): the header, the table and the status line are redrawn to fit.
  $T resize-window -t c -x 80 -y 24
  for _ in $(seq 100); do [ "$(pane | wc -l)" -le 24 ] && pane | sed -n 24p | matches 'height 10/' && break; sleep 0.1; done
  [ "$(pane | sed -n 2p | cut -c1-20)" = "DEVICE        MODEL " ] || fail "no table header on row 2 at 80x24"
  pane | sed -n 24p | matches '^ seed 1 | height 10/20 ' || fail "no status line on row 24 at 80x24"
  keys Z
  wait_for "unknown key 'Z'"
  keys F5
  wait_for 'unknown key KEY_F\(5\)'
  keys '?'  # the help overlay fits 80 columns: its last key of the replay line is whole
  wait_for 'Keys \(replay\)$'
  wait_for 'g seek to height  q quit'
  keys '?'
  wait_gone 'Keys \(replay\)$'
  keys j; keys Enter  # focus the second device's log
  wait_for ' log esp8266-02'
  keys q
  wait_for 'console-exit=0'
  keys C-l
  run_line "NO_COLOR=1 $IOTW console --replay $SMOKE_RUN; echo console-exit=\$?"
  wait_for 'DEVICE +MODEL'
  ! $T capture-pane -p -e -t c | matches -E $'\e\\[[0-9;]*3[0-7]m' || fail "colour under NO_COLOR"
  keys q
  wait_for 'console-exit=0'
  ;;

terminal)
  [ -s "$SMOKE_RUN/events.jsonl" ] || fail "no finished smoke run in $SMOKE_RUN"
  start_pane
  run_line "stty -a > $WORK/stty.before; echo saved"
  wait_for '^saved'
  for how in q INT TERM SEGV KILL; do
    keys C-l
    run_line "sh -c 'echo \$\$ > $WORK/console.pid; exec $IOTW console --replay $SMOKE_RUN'; echo exited-$how"
    wait_for 'DEVICE +MODEL'
    pid=$(cat "$WORK/console.pid")
    if [ "$how" = q ]; then keys q; else kill -s "$how" "$pid"; fi
    if [ "$how" = KILL ]; then
      # The shell and the console's terminal watchdog wake together: the shell's "Killed" line may land on the
      # alternate screen just before the watchdog leaves it, so wait for the process, not for that line.
      for _ in $(seq 300); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
      for _ in $(seq 300); do [ "$($T display-message -p -t c '#{alternate_on}')" = 0 ] && break; sleep 0.1; done
    else
      wait_for "^exited-$how$"
    fi
    [ "$($T display-message -p -t c '#{alternate_on} #{cursor_flag}')" = "0 1" ] ||
      fail "after $how the pane is still on the alternate screen or the cursor is hidden"
    run_line "stty -a > $WORK/stty.after-$how; echo checked-$how"
    wait_for "^checked-$how"
    diff "$WORK/stty.before" "$WORK/stty.after-$how" || fail "stty -a differs after $how"
  done
  run_line "echo typed-after-the-kill"
  wait_for '^typed-after-the-kill$'
  ;;

live_reset)
  RUN=$WORK/live_run
  rm -rf "$RUN" "$RUN.console.log" "$WORK/replayed_run"
  HELD_RUN=$RUN
  start_pane
  run_line "$IOTW console $RIGS/smoke.toml --seed 5 --out $RUN; echo console-exit=\$?"
  wait_for 'esp32-04' 60
  wait_for 'height [1-9][0-9]*/20' 60
  keys j
  wait_for '^esp8266-02 .*(idle|mining|witnessing)' 30
  keys r
  wait_for 'action 1: fault reboot device=esp8266-02'
  wait_for '^esp8266-02 +esp8266 +pty +[a-z]+ +1 ' 30
  keys j; keys c  # the third device: 2 % of its bytes corrupted for 10 s; the trust node sees bad frames
  wait_for 'action 2: fault corrupt device=esp8266-03 rate=0.02 for=10s'
  wait_for '^esp8266-03 .* [1-9][0-9]* +[0-9]+s *$' 30
  keys p  # pause and resume the traffic: actions 3 and 4, recorded with their key
  wait_for '^traffic paused'
  wait_for '\| traffic paused \|'
  keys p
  wait_for '^traffic resumed'
  keys w
  wait_for 'session written: .*session-1\.toml'
  session=$(pane | awk 'match($0, /session written: [^ ]+/) && s == "" { s = substr($0, RSTART + 17, RLENGTH - 17) }
                        END { print s }')
  [ -s "$session" ] || fail "no session rig at $session"
  grep -q 'esp8266-02' "$session" || fail "the session rig does not name esp8266-02"
  keys q
  wait_for 'quit: s stops the rig'
  keys s
  wait_for 'console-exit=0' 90
  # events.jsonl is merged when the run ends
  has_line "$RUN/events.jsonl" '"kind":"console_action"' '"device":"esp8266-02"' || fail "no console_action for esp8266-02 in events.jsonl"
  grep -q '"kind":"reset"' <(grep '"source":"emu:esp8266-02"' "$RUN/events.jsonl") || fail "no reset of esp8266-02 in events.jsonl"
  # Every key that changed the run is a console_action with its key (and device), listed in report.json and .html.
  python3 - "$RUN/report.json" <<'PY' || fail "report.json console_actions: see above"
import json, sys
acts = json.load(open(sys.argv[1]))["console_actions"]
got = [(a.get("key"), a.get("device"), a.get("step")) for a in acts]
want = [("r", "esp8266-02", "fault reboot device=esp8266-02"),
        ("c", "esp8266-03", "fault corrupt device=esp8266-03 rate=0.02 for=10s"),
        ("p", None, "traffic pause"), ("p", None, "traffic resume")]
if got != want:
    sys.exit("console_actions %s, expected %s" % (got, want))
PY
  grep -q '<h2 id="console-actions">Console actions</h2>' "$RUN/report.html" || fail "no Console actions table in report.html"
  grep -q 'fault corrupt device=esp8266-03 rate=0.02 for=10s' "$RUN/report.html" || fail "report.html does not list the c action"
  "$IOTW" rig check "$session" || fail "iotw rig check refuses the session rig"
  "$IOTW" rig run "$session" --seed 5 --out "$WORK/replayed_run" > "$WORK/replayed_run.log" 2>&1 || fail "the session rig failed: $(tail -5 "$WORK/replayed_run.log")"
  has_line "$WORK/replayed_run/events.jsonl" '"source":"emu:esp8266-02"' '"kind":"reset"' || fail "the written rig did not reboot esp8266-02"
  has_line "$WORK/replayed_run/events.jsonl" '"kind":"fault_started"' '"fault":"corrupt"' '"esp8266-03"' ||
    fail "the written rig did not corrupt esp8266-03's link"
  has_line "$WORK/replayed_run/events.jsonl" '"kind":"traffic_changed"' '"paused":true' || fail "the written rig did not pause the traffic"
  ;;

live_past_deadline)
  RUN=$WORK/live_run
  rm -rf "$RUN" "$RUN.console.log" "$WORK/replayed_run"
  HELD_RUN=$RUN
  sed 's/^deadline_s = 90 .*/deadline_s = 10/' "$RIGS/smoke.toml" > "$WORK/short.toml"
  grep -q '^deadline_s = 10$' "$WORK/short.toml" || fail "rigs/smoke.toml has no 'deadline_s = 90' line to shorten"
  start_pane
  run_line "$IOTW console $WORK/short.toml --seed 5 --out $RUN; echo console-exit=\$?"
  wait_for '\| holding \|' 60
  wait_for '\| (1[2-9]|[2-9][0-9]|[0-9]{3,}) s \|' 60  # past the rig's own deadline
  keys j; keys r
  wait_for 'action 1: fault reboot device=esp8266-02'
  keys w
  wait_for 'session written: .*session-1\.toml'
  keys q; keys s
  wait_for '^console-exit=0' 90
  session=$RUN/session-1.toml
  grep -Eq '^deadline_s = [0-9]+  # raised by write_rig from 10: ' "$session" || fail "the deadline was not raised: $(grep deadline_s "$session")"
  "$IOTW" rig check "$session" || fail "iotw rig check refuses the session rig"
  "$IOTW" rig run "$session" --seed 5 --out "$WORK/replayed_run" > "$WORK/replayed_run.log" 2>&1 || fail "the session rig failed: $(tail -8 "$WORK/replayed_run.log")"
  has_line "$WORK/replayed_run/events.jsonl" '"source":"emu:esp8266-02"' '"kind":"reset"' || fail "the written rig did not reboot esp8266-02"
  ;;

live_dps)
  RUN=$WORK/live_run
  rm -rf "$RUN" "$RUN.console.log"
  HELD_RUN=$RUN
  start_pane
  run_line "$IOTW console $RIGS/dps_brownout.toml --seed 5 --out $RUN; echo console-exit=\$?"
  wait_for '^dps-01 ' 60
  wait_for '^dps-01 +dps +pty +(idle|mining|witnessing) ' 60
  keys b
  wait_for 'action 1: fault brownout device=dps-01 vin=3.5 for=2s'
  wait_for '^dps-01 .* 3\.50 ' 30
  wait_for 'done +pass fault brownout device=dps-01' 60
  keys o  # power cut for 3 s: off at 0 V (whatever the trust node still asks of it), then back on
  wait_for 'action 2: fault power_loss device=dps-01 for=3s'
  wait_for '^dps-01 +dps +pty +off +[0-9]+ +[a-z-]+ +0\.00 ' 30
  wait_for 'done +pass fault power_loss device=dps-01' 60
  keys q; keys s
  wait_for '^console-exit=0' 90
  { has_line "$RUN/events.jsonl" '"source":"emu:dps-01"' '"kind":"rail"' ||
    has_line "$RUN/events.jsonl" '"source":"emu:dps-01"' '"kind":"supply"'; } || fail "no rail/supply event of dps-01"
  ;;

live_uart)
  RUN=$WORK/live_run
  rm -rf "$RUN" "$RUN.console.log"
  HELD_RUN=$RUN
  start_pane
  run_line "$IOTW console $RIGS/esp_at.toml --seed 5 --out $RUN; echo console-exit=\$?"
  wait_for '^esp8266-at-01 +esp8266 +at/udp +(idle|mining|witnessing) ' 60
  # RSSI (the column after RST and LAST RST): the rig's access point as the module sees it, from at_started
  wait_for '^esp8266-at-01 +esp8266 +at/udp +[a-z]+ +0 +- +-45 ' 30
  keys u
  wait_for 'uart esp8266-at-01>'
  keys -l 'AT+GMR'; keys Enter
  wait_for 'uart esp8266-at-01: [1-9][0-9]* line\(s\) of answer'
  wait_for 'uart< AT version:'
  keys q; keys s
  wait_for '^console-exit=0' 90
  ;;

attach_two)
  RUN=$WORK/run
  rm -rf "$RUN" "$RUN.log"
  HELD_RUN=$RUN
  "$IOTW" rig run --hold "$RIGS/smoke.toml" --seed 6 --out "$RUN" > "$RUN.log" 2>&1 &
  for _ in $(seq 300); do [ -S "$RUN/harness.sock" ] && break; sleep 0.1; done
  start_pane
  $T new-window -d -t c: -n second "env -i PATH=$PATH TERM=xterm-256color HOME=$WORK bash --norc --noprofile"
  second() { $T capture-pane -p -t c:second; }
  $T send-keys -t c:second -l "$IOTW console --attach $RUN; echo second-exit=\$?"; $T send-keys -t c:second Enter
  run_line "$IOTW console --attach $RUN; echo console-exit=\$?"
  wait_for '\| holding \|' 60
  for _ in $(seq 300); do second | matches '| holding |' && break; sleep 0.1; done
  second | matches '| holding |' || fail "the second console does not show the held run"
  keys j; keys r
  wait_for 'action 1: fault reboot device=esp8266-02'
  wait_for '^esp8266-02 +esp8266 +pty +[a-z]+ +1 ' 30
  for _ in $(seq 300); do second | matches -E '^esp8266-02 +esp8266 +pty +[a-z]+ +1 ' && break; sleep 0.1; done
  second | matches -E '^esp8266-02 +esp8266 +pty +[a-z]+ +1 ' || fail "the second console does not see the reboot: $(second)"
  second | matches -E 'active|recovering|done' || fail "the second console's fault pane does not list action 1"
  $T send-keys -t c:second q; $T send-keys -t c:second d
  for _ in $(seq 100); do second | matches '^second-exit=0' && break; sleep 0.1; done
  second | matches '^second-exit=0' || fail "the second console did not detach: $(second)"
  # The whole reply line into a variable, then matched: `python3 | grep -q` lost the race when grep quit at the
  # first match before python (PYTHONUNBUFFERED=1: print is two writes) wrote the newline (EPIPE, pipefail).
  status=$(python3 -c '
import socket, sys
s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]); s.sendall(b"{\"cmd\": \"status\"}\n")
reply = b""
while not reply.endswith(b"\n"):
    chunk = s.recv(65536)
    if not chunk: break
    reply += chunk
print(reply.decode())' "$RUN/harness.sock") || fail "no status from harness.sock after the second console detached"
  [[ $status == *'"state":"holding"'* ]] || fail "the run did not keep going after the second console detached: $status"
  keys q; keys s
  wait_for '^console-exit=0' 90
  wait
  grep -q '"pass": true' "$RUN/report.json" || grep -q '"pass":true' "$RUN/report.json" || fail "the stopped run did not pass"
  ;;

attach_ends)
  RUN=$WORK/run
  rm -rf "$RUN" "$RUN.log"
  "$IOTW" rig run "$RIGS/smoke.toml" --seed 3 --out "$RUN" > "$RUN.log" 2>&1 &  # not held: it ends by itself
  for _ in $(seq 300); do [ -S "$RUN/harness.sock" ] && break; sleep 0.1; done
  start_pane
  run_line "$IOTW console --attach $RUN; echo console-exit=\$?"
  wait_for 'the run has ended \(harness.sock is gone\); q quits' 90
  wait_for '\| finished .*\| PASS'
  sleep 1
  pane | matches -E 'DEVICE +MODEL' || fail "the screen did not stay open"
  keys q
  wait_for '^console-exit=0'
  pane | matches "the run has ended: PASS; run folder $RUN" || fail "no verdict after the screen"
  wait
  ;;

attach_fake)
  FAKE=$WORK/fake_run
  rm -rf "$FAKE"
  python3 "$(dirname "$0")/fake_harness.py" "$FAKE" &
  fake_pid=$!
  trap 'kill $fake_pid 2>/dev/null || true; cleanup' EXIT
  for _ in $(seq 100); do [ -S "$FAKE/harness.sock" ] && break; sleep 0.1; done
  start_pane
  run_line "$IOTW console --attach $FAKE; echo console-exit=\$?"
  wait_for '^esp32-02 +esp32 +pty +idle'
  wait_for 'height [1-9][0-9]*/1000'
  keys '?'
  wait_for 'Keys \(live\)$'
  wait_for 'w  write the session as a rig  q  quit: s stop the rig, d detach'
  keys '?'
  wait_gone 'Keys \(live\)$'
  keys j; keys r
  wait_for 'action 1: fault reboot device=esp32-02'
  grep -q '{"cmd": "step", "device": "esp32-02", "key": "r", "step": "fault reboot device=esp32-02"}' "$FAKE/requests.jsonl" ||
    fail "no reboot step for esp32-02 in the requests: $(grep step "$FAKE/requests.jsonl")"
  wait_for 'active +fault reboot device=esp32-02 +\(key r'
  keys :; keys -l 'fault serial_corupt device=esp32-01 rate=0.01 for=5s'; keys Enter
  wait_for "^:fault serial_corupt device=esp32-01 rate=0.01 for=5s +error: fault 'serial_corupt' is not a fault kind"
  keys Escape
  keys q
  wait_for 'quit: s stops the rig, d detaches'
  keys d
  wait_for '^console-exit=0'
  pane | matches "detached; the run keeps going: iotw console --attach $FAKE" || fail "no detach message"
  ! grep -q '"cmd": "stop"' "$FAKE/requests.jsonl" || fail "detaching sent a stop"
  ;;

attach_none)
  mkdir -p "$WORK/no_run"
  set +e
  msg=$("$IOTW" console --attach "$WORK/no_run" 2>&1)
  code=$?
  set -e
  [ $code -eq 2 ] || fail "exit $code, expected 2"
  [ "$msg" = "error: no live run in $WORK/no_run (no harness.sock answering)" ] || fail "message: $msg"
  ;;

*) echo "unknown case $CASE"; exit 2 ;;
esac
echo "PASS: $CASE"
