// GoogleMock of iotw::tn::CoreSink (trust_node/core/include/iotw/trust_node/core.hpp): envelopes per link and
// events. event_serialized() keeps the interface's default (parse, then event()), so an expectation on event()
// sees every event however the core emits it.
#pragma once
#include <gmock/gmock.h>

#include <string_view>

#include <nlohmann/json.hpp>

#include "iotw/trust_node/core.hpp"

namespace iotw::tn::mocks {

class MockCoreSink : public CoreSink {
 public:
  MOCK_METHOD(void, send, (uint32_t link, const iotw_v1_Envelope &env), (override));
  MOCK_METHOD(void, event, (std::string_view kind, nlohmann::json fields), (override));
};

}  // namespace iotw::tn::mocks
