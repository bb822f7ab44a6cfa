// Absolute paths the tests need (this build's binaries, source folders they read, third-party tools),
// defined once per build folder in the generated test_paths.cpp (tests/CMakeLists.txt). Every test
// compile line is then the same in any clone, so ccache hits across folders (docs/ci.md). Force-included
// into every test translation unit; each macro names a NUL-terminated absolute path (const char *).
#pragma once

namespace iotw::test_paths {
extern const char *const iotw_exe;          // build/bin/iotw
extern const char *const emu_exe;           // build/bin/iotw-emu
extern const char *const trust_node_exe;    // build/bin/iotw-trust-node
extern const char *const rigs_dir;          // <source>/rigs
extern const char *const test_data_dir;     // <source>/tests/data
extern const char *const harness_data_dir;  // <source>/tests/harness/data
extern const char *const docs_dir;          // <source>/docs
extern const char *const interop_dir;       // <source>/tests/interop
extern const char *const verify_ledger_py;  // <source>/tools/verify_ledger.py
extern const char *const wireshark_lua;     // <source>/tools/wireshark/iotw.lua
extern const char *const tshark;            // tshark found at configure time
extern const char *const proto_dir;         // <source>/protocol/proto (iotw.proto)
extern const char *const nanopb_proto_dir;  // folder of nanopb.proto, imported by iotw.proto
}  // namespace iotw::test_paths

#define IOTW_EXE ::iotw::test_paths::iotw_exe
#define IOTW_EMU_EXE ::iotw::test_paths::emu_exe
#define IOTW_TRUST_NODE_BIN ::iotw::test_paths::trust_node_exe
#define IOTW_RIGS_DIR ::iotw::test_paths::rigs_dir
#define IOTW_TEST_DATA_DIR ::iotw::test_paths::test_data_dir
#define IOTW_HARNESS_DATA_DIR ::iotw::test_paths::harness_data_dir
#define IOTW_DOCS_DIR ::iotw::test_paths::docs_dir
#define IOTW_INTEROP_DIR ::iotw::test_paths::interop_dir
#define IOTW_VERIFY_LEDGER_PY ::iotw::test_paths::verify_ledger_py
#define IOTW_WIRESHARK_LUA ::iotw::test_paths::wireshark_lua
#define IOTW_TSHARK ::iotw::test_paths::tshark
#define IOTW_PROTO_DIR ::iotw::test_paths::proto_dir
#define IOTW_NANOPB_PROTO_DIR ::iotw::test_paths::nanopb_proto_dir
