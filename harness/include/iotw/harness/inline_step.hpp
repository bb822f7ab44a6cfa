// Inline steps (docs/console.md "Inline steps"): one rig step on one line, e.g.
// `fault corrupt device=esp32-01 rate=0.01 for=5s`, turned into the [[steps]] table it stands for and checked
// by the rig loader against a running rig.
#pragma once
#include <filesystem>
#include <string>
#include <string_view>

#include "iotw/harness/rig_spec.hpp"

namespace iotw::harness {

/// A validated inline step.
struct InlineStep {
  std::string text;  ///< the inline step as given, trimmed
  /// The [[steps]] table it becomes, one key per line, without a trigger: "[[steps]]\nfault = \"reboot\"\n..."
  std::string toml;
  Step step;         ///< as the rig loader read it (index and line refer to the validation document)
  bool named = false;  ///< the line gave `name=` (step.label is then that name)
};

/// Parses `text`: a verb (fault, wait, expect, traffic, uart), then words. `fault KIND`, `wait COND`,
/// `expect COND` (COND as "height>=40" or "height >= 40"), `traffic pause|resume`; then `key=value` words:
/// `device=` a name or a comma-separated list (a fault's `devices`; a uart step's `device`), `for=` duration_s
/// and `deadline=` deadline_s (a number with an optional "s" or "ms" suffix), `data=` a uart step's text;
/// every other key is the rig file's key with its value typed as in TOML (integer, float, true/false, else a
/// string; double quotes make it a string and may hold spaces, \" and \\ inside).
/// The table is validated by parse_rig() on `rig_text` (the running rig's file text) with the table appended
/// and open-ended faults allowed (parse_rig's open_ended_faults), so the step is checked against the rig's
/// devices, links and models. Throws RigError with the loader's message minus its file:line:column prefix
/// and the synthetic step number, e.g. "unknown fault 'serial_corupt'; allowed: corrupt, ...", or a message
/// about the line's own syntax ("unknown verb 'x'; allowed: fault, wait, expect, traffic, uart").
InlineStep parse_inline_step(std::string_view text, std::string_view rig_text, const std::filesystem::path& rig_file);

/// A written session's rig text (docs/console.md "Events and the written rig"): `rig_text` unchanged when its
/// [rig] `deadline_s` (default 120) is at least `needed_s` seconds, else with `deadline_s` set to `needed_s`
/// rounded up to a whole second: the `deadline_s = ...` line is replaced (a comment says by what), or, when the
/// file has none, one is added under the `[rig]` header. A file whose [rig] is not a table with its header
/// and keys on lines of their own (e.g. an inline table) is returned unchanged. Throws RigError when `rig_text`
/// is not TOML.
std::string raise_deadline(std::string_view rig_text, double needed_s);

}  // namespace iotw::harness
