// The version of the IOTW Rig tools (CMake's PROJECT_VERSION), for reports and --version.
#pragma once

namespace iotw::harness {

/// "MAJOR.MINOR.PATCH" of this build, e.g. "0.1.0"; defined in a file CMake generates in the build folder.
const char* tool_version();

}  // namespace iotw::harness
