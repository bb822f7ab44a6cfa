// The terminal summary of one rig run: what `iotw rig run` prints on stdout once the run is judged.
#pragma once
#include <cstddef>
#include <string>
#include <string_view>

#include "iotw/harness/report_writer.hpp"

namespace iotw::harness {

/// Human summary, one "label       value" row each: rig, seed, why the run stopped (`stop_reason` is
/// rig_finished's reason: "target_reached", "deadline", "interrupted" or "error", in words), blocks, rounds,
/// coherence, blacklist, ledger verdict, the collusion record (when a colluder witnessed), one line per
/// [pass] criterion (true/false scores as true/false, others as numbers) and per step check, and the result
/// (PASS / FAIL). Rows longer than `width` columns wrap at spaces onto lines indented under the value (a
/// single word longer than that is not split). Every line ends with '\n'.
std::string summary_table(const RunReport& r, std::string_view stop_reason, std::size_t width = 100);

/// Why a run stopped, in words, as the summary table's "stopped" row and report.html's "ended" row say it:
/// "target_reached" -> "target reached (20 blocks)", "deadline" -> "deadline (90 s)", "stopped" (a held run's stop
/// request), "interrupted", "error"; any other reason is returned as it is.
std::string stop_reason_text(const RunReport& r, std::string_view reason);

}  // namespace iotw::harness
