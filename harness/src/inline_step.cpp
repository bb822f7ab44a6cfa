// Inline steps -> [[steps]] tables, validated by the rig loader (docs/console.md "Inline steps").
#include "iotw/harness/inline_step.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdint>
#include <regex>
#include <set>
#include <sstream>
#include <vector>

#include <toml++/toml.h>

#include "iotw/harness/rig_loader.hpp"

namespace iotw::harness {
namespace {

struct Word {
  std::string text;
  bool quoted = false;  // some part was in double quotes: the value is a string
};

[[noreturn]] void fail(const std::string& msg) { throw RigError(msg); }

/// Splits on blanks; double quotes group (and may hold \" and \\), anywhere in a word.
std::vector<Word> split_words(std::string_view text) {
  std::vector<Word> words;
  std::size_t i = 0;
  while (i < text.size()) {
    if (std::isspace(static_cast<unsigned char>(text[i]))) {
      ++i;
      continue;
    }
    Word w;
    while (i < text.size() && !std::isspace(static_cast<unsigned char>(text[i]))) {
      if (text[i] != '"') {
        w.text += text[i++];
        continue;
      }
      w.quoted = true;
      ++i;
      for (;;) {
        if (i >= text.size()) fail("unterminated string: a '\"' is not closed");
        if (text[i] == '"') {
          ++i;
          break;
        }
        if (text[i] == '\\' && i + 1 < text.size() && (text[i + 1] == '"' || text[i + 1] == '\\')) ++i;
        w.text += text[i++];
      }
    }
    words.push_back(std::move(w));
  }
  return words;
}

/// "key=value" with a key of [a-z0-9_] and a first '=' not part of >=, <= or ==.
bool is_key_value(const Word& w) {
  const auto eq = w.text.find('=');
  if (eq == std::string::npos || eq == 0 || (eq + 1 < w.text.size() && w.text[eq + 1] == '=')) return false;
  return std::all_of(w.text.begin(), w.text.begin() + static_cast<std::ptrdiff_t>(eq), [](unsigned char c) {
    return std::islower(c) || std::isdigit(c) || c == '_';
  });
}

template <class T>
std::string toml_value(T v) {
  std::ostringstream os;
  os << toml::value<T>(std::move(v));
  return os.str();
}

/// "5", "5s", "2.5s", "500ms" -> seconds.
double duration_s(const std::string& key, const std::string& text) {
  std::string number = text;
  double scale = 1;
  if (number.size() > 2 && number.ends_with("ms")) {
    number.resize(number.size() - 2);
    scale = 0.001;
  } else if (number.size() > 1 && number.ends_with("s")) {
    number.pop_back();
  }
  std::size_t used = 0;
  double v = 0;
  try {
    v = std::stod(number, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  if (used == 0 || used != number.size() || !std::isfinite(v) || v < 0)
    fail(fmt::format("'{}={}' must be a duration: a number of seconds, optionally with an 's' or 'ms' suffix "
                     "(5s, 500ms)", key, text));
  return v * scale;
}

/// A value typed as in TOML: integer, float, true/false, else a string (always a string when quoted).
std::string typed_value(const Word& value) {
  const std::string& t = value.text;
  if (value.quoted) return toml_value(t);
  if (t == "true" || t == "false") return toml_value(t == "true");
  static const std::regex integer(R"([+-]?[0-9]+)"), floating(R"([+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?)");
  if (std::regex_match(t, integer)) {
    try {
      return toml_value(static_cast<std::int64_t>(std::stoll(t)));
    } catch (const std::exception&) {
      return toml_value(t);
    }
  }
  if (std::regex_match(t, floating)) return toml_value(std::stod(t));
  return toml_value(t);
}

/// "height>=40" or "height >= 40" -> "height >= 40" (the loader's "<name> <op> <value>").
std::string condition(const std::vector<std::string>& parts) {
  std::string joined;
  for (const auto& p : parts) joined += p;
  for (const char* op : {">=", "<=", "=="}) {
    const auto at = joined.find(op);
    if (at != std::string::npos) return joined.substr(0, at) + " " + op + " " + joined.substr(at + 2);
  }
  std::string spaced;
  for (const auto& p : parts) spaced += (spaced.empty() ? "" : " ") + p;
  return spaced;
}

/// The loader's "FILE:LINE:COL: message" minus the location and the synthetic step number.
std::string without_location(const std::string& what, const std::string& file) {
  std::string msg = what;
  static const std::regex location(R"(^:[0-9]+:[0-9]+: )");
  if (msg.rfind(file, 0) == 0) {
    const std::string rest = msg.substr(file.size());
    std::smatch m;
    if (std::regex_search(rest, m, location)) msg = m.suffix();
  }
  static const std::regex in_step(R"( in \[\[steps\]\] #[0-9]+)"), bare_step(R"( ?\[\[steps\]\] #[0-9]+)");
  msg = std::regex_replace(msg, in_step, "");
  return std::regex_replace(msg, bare_step, "");
}

}  // namespace

InlineStep parse_inline_step(std::string_view text, std::string_view rig_text, const std::filesystem::path& rig_file) {
  InlineStep out;
  const auto first = text.find_first_not_of(" \t\r\n");
  const auto last = text.find_last_not_of(" \t\r\n");
  out.text = first == std::string_view::npos ? "" : std::string(text.substr(first, last - first + 1));
  const std::vector<Word> words = split_words(out.text);
  if (words.empty()) fail("empty step; a step is a verb (fault, wait, expect, traffic, uart) and key=value words");
  const std::string verb = words[0].text;
  static const std::set<std::string> verbs{"fault", "wait", "expect", "traffic", "uart"};
  if (!verbs.count(verb)) fail(fmt::format("unknown verb '{}'; allowed: fault, wait, expect, traffic, uart", verb));

  std::vector<std::pair<std::string, std::string>> keys;  // rig key -> TOML value text, in order
  std::size_t i = 1;
  std::vector<std::string> positional;
  while (i < words.size() && !is_key_value(words[i])) positional.push_back(words[i++].text);
  if (verb == "fault") {
    if (positional.size() != 1)
      fail("'fault' takes one fault kind, then key=value words: fault reboot device=esp32-02");
    keys.emplace_back("fault", toml_value(positional[0]));
  } else if (verb == "wait" || verb == "expect") {
    if (positional.empty())
      fail(fmt::format("'{0}' takes a condition: {0} {1}", verb, verb == "wait" ? "height>=40" : "false_blacklist==0"));
    keys.emplace_back(verb, toml_value(condition(positional)));
  } else if (verb == "traffic") {
    if (positional.size() != 1) fail("'traffic' takes 'pause' or 'resume'");
    keys.emplace_back("traffic", toml_value(positional[0]));
  } else if (!positional.empty()) {
    fail(fmt::format("'uart' takes only key=value words (device=..., data=\"...\"), got '{}'", positional[0]));
  }

  static const std::set<std::string> triggers{"at_s", "after_block", "when_device", "reaches", "on_incoherent"};
  std::set<std::string> seen;
  for (; i < words.size(); ++i) {
    if (!is_key_value(words[i]))
      fail(fmt::format("'{}' is not a key=value word (after the {} come only key=value words)", words[i].text,
                       verb == "uart" ? "verb" : "verb and its argument"));
    const auto eq = words[i].text.find('=');
    const std::string key = words[i].text.substr(0, eq);
    Word value{words[i].text.substr(eq + 1), words[i].quoted};
    if (!seen.insert(key).second) fail(fmt::format("'{}' is given twice", key));
    if (triggers.count(key))
      fail(fmt::format("'{}' is a trigger; an inline step starts at once and takes none", key));
    if (key == "device") {
      if (verb == "uart") {
        keys.emplace_back("device", toml_value(value.text));
        continue;
      }
      std::string list = "[";
      std::stringstream names(value.text);
      for (std::string name; std::getline(names, name, ',');)
        list += (list.size() > 1 ? ", " : "") + toml_value(name);
      keys.emplace_back("devices", list + "]");
    } else if (key == "for") {
      keys.emplace_back("duration_s", toml_value(duration_s(key, value.text)));
    } else if (key == "deadline") {
      keys.emplace_back("deadline_s", toml_value(duration_s(key, value.text)));
    } else if (key == "data" && verb == "uart") {
      keys.emplace_back("uart", toml_value(value.text));
    } else {
      if (key == "name") out.named = true;
      keys.emplace_back(key, typed_value(value));
    }
  }
  if (verb == "uart" && !seen.count("data")) fail("'uart' needs data=\"...\" (the text typed into the module's UART)");

  out.toml = "[[steps]]\n";
  for (const auto& [k, v] : keys) out.toml += k + " = " + v + "\n";
  std::string document(rig_text);
  if (!document.empty() && document.back() != '\n') document += '\n';
  document += "\n" + out.toml;
  RigSpec spec;
  try {
    spec = parse_rig(document, rig_file, /*open_ended_faults=*/true);
  } catch (const RigError& e) {
    throw RigError(without_location(e.what(), rig_file.string()));
  }
  if (spec.steps.empty()) fail("internal: the step was not read back");
  out.step = spec.steps.back();
  return out;
}

std::string raise_deadline(std::string_view rig_text, double needed_s) {
  toml::table root;
  try {
    root = toml::parse(rig_text);
  } catch (const toml::parse_error& e) {
    fail(std::string(e.description()));
  }
  const toml::table* rig = root["rig"].as_table();
  const toml::node* current = rig ? rig->get("deadline_s") : nullptr;
  const double deadline = current ? current->value<double>().value_or(120.0) : 120.0;  // the loader's default
  if (!rig || needed_s <= deadline) return std::string(rig_text);
  const double raised = std::ceil(needed_s);

  std::vector<std::string> lines;
  std::istringstream in{std::string(rig_text)};
  for (std::string l; std::getline(in, l);) lines.push_back(std::move(l));
  auto starts_with = [&](std::size_t line, std::string_view prefix) {  // 1-based line, leading blanks skipped
    if (line == 0 || line > lines.size()) return false;
    const std::string& l = lines[line - 1];
    const auto first = l.find_first_not_of(" \t");
    return first != std::string::npos && std::string_view(l).substr(first).rfind(prefix, 0) == 0;
  };
  const std::string comment = fmt::format("  # raised by write_rig from {}: the session's last action ends at {:.1f} s",
                                          current ? fmt::format("{}", deadline) : "the default 120", needed_s);
  if (current) {
    const std::size_t at = current->source().begin.line;
    if (!starts_with(at, "deadline_s")) return std::string(rig_text);
    lines[at - 1] = fmt::format("deadline_s = {}{}", raised, comment);
  } else {
    const std::size_t at = rig->source().begin.line;
    if (!starts_with(at, "[rig]")) return std::string(rig_text);
    lines.insert(lines.begin() + static_cast<std::ptrdiff_t>(at), fmt::format("deadline_s = {}{}", raised, comment));
  }
  std::string out;
  for (const auto& l : lines) out += l + '\n';
  return out;
}

}  // namespace iotw::harness
