// Escaping for the XML and HTML the harness writes (junit.xml, report.html, the batch's junit.xml).
#pragma once
#include <string>
#include <string_view>

namespace iotw::harness {

/// `s` reduced to characters XML 1.0 allows, for text handed to an XML writer (pugixml escapes markup but
/// writes control characters as character references, which XML 1.0 forbids): the control characters below
/// 0x20 other than tab, LF and CR, bytes that are not well-formed UTF-8, and U+FFFE / U+FFFF each become '?'.
/// Everything else is kept byte for byte. Never throws.
std::string xml_text(std::string_view s);

/// xml_text(s) made safe inside an XML/HTML element or a quoted attribute: & < > " ' become entities.
/// Never throws.
std::string xml_escape(std::string_view s);

}  // namespace iotw::harness
