# Writes OUT from version.cpp.in with IOTW_VERSION and the git revision of SOURCE_DIR (`git describe --always
# --dirty`, "unknown" outside a git checkout). Run at every build (cli/CMakeLists.txt); OUT is replaced only when
# its text changes, so an unchanged revision recompiles and relinks nothing.
# Usage: cmake -DSOURCE_DIR=... -DTEMPLATE=... -DOUT=... -DIOTW_VERSION=... -P write_version.cmake
set(IOTW_GIT_REVISION unknown)
find_program(GIT_EXECUTABLE git)
if(GIT_EXECUTABLE)
  execute_process(COMMAND ${GIT_EXECUTABLE} -C ${SOURCE_DIR} describe --always --dirty
                  OUTPUT_VARIABLE rev RESULT_VARIABLE rc OUTPUT_STRIP_TRAILING_WHITESPACE ERROR_QUIET)
  if(rc EQUAL 0 AND NOT rev STREQUAL "")
    set(IOTW_GIT_REVISION ${rev})
  endif()
endif()
configure_file(${TEMPLATE} ${OUT}.tmp @ONLY)
file(COPY_FILE ${OUT}.tmp ${OUT} ONLY_IF_DIFFERENT)
file(REMOVE ${OUT}.tmp)
