// Escaping for the XML and HTML the harness writes (junit.xml, report.html, the batch's junit.xml).
#pragma once
#include <string>
#include <string_view>

namespace iotw::harness {

/// `s` made safe inside an XML/HTML element or a quoted attribute: & < > " ' become entities, and the
/// control characters XML 1.0 forbids (below 0x20 except tab, LF, CR) become '?'. Never throws.
std::string xml_escape(std::string_view s);

}  // namespace iotw::harness
