# Included by firmware_stub/CMakeLists.txt: the firmware cross build (cross/CMakeLists.txt) as one ExternalProject
# per target, into build/cross/<target>/, built with everything else (target iotw_cross). A target whose
# toolchain, C library or source packages are missing is skipped with a message naming the Debian package; the
# build never breaks for it (docs/firmware.md "Cross builds"). Off in the sanitizer and fuzz builds.
option(IOTW_CROSS "Cross-build the firmware for Cortex-M3, Cortex-M4 and ESP8266 (docs/firmware.md)" ON)
set(IOTW_SRC_CACHE /var/cache/iotw/src CACHE PATH "Where scripts/setup.sh unpacked Debian's source packages")
add_custom_target(iotw_cross)
if(NOT IOTW_CROSS OR IOTW_SANITIZE OR IOTW_FUZZ)
  return()
endif()
include(ExternalProject)
# target  compiler  packages  a file of its C library
set(_cross_targets
  "cortex-m3|arm-none-eabi-gcc|gcc-arm-none-eabi picolibc-arm-none-eabi|/usr/lib/picolibc/arm-none-eabi/picolibc.specs"
  "cortex-m4|arm-none-eabi-gcc|gcc-arm-none-eabi picolibc-arm-none-eabi|/usr/lib/picolibc/arm-none-eabi/picolibc.specs"
  "lx106|xtensa-lx106-elf-gcc|gcc-xtensa-lx106 picolibc-xtensa-lx106-elf|/usr/lib/xtensa-lx106-elf/picolibc.specs")
set(_built "")
foreach(entry IN LISTS _cross_targets)
  string(REPLACE "|" ";" f "${entry}")
  list(GET f 0 target)
  list(GET f 1 compiler)
  list(GET f 2 packages)
  list(GET f 3 libc_file)
  string(MAKE_C_IDENTIFIER "${compiler}" compiler_var)
  find_program(IOTW_${compiler_var} ${compiler})
  if(NOT IOTW_${compiler_var} OR NOT EXISTS ${libc_file})
    message(STATUS "firmware cross build ${target}: skipped, ${compiler} or its C library is missing "
                   "(Debian packages: ${packages}; scripts/setup.sh installs them)")
    continue()
  endif()
  if(NOT EXISTS ${IOTW_SRC_CACHE}/libsodium-1.0.18 OR NOT EXISTS ${IOTW_SRC_CACHE}/nanopb-0.4.7)
    message(STATUS "firmware cross build ${target}: skipped, Debian's libsodium and nanopb sources are not in "
                   "${IOTW_SRC_CACHE} (scripts/setup.sh fetches them with apt-get source)")
    continue()
  endif()
  # No ccache here: ccache 4.7 caches the objects and .su files but not GCC's -fcallgraph-info .ci files, which
  # the size report needs; the three targets compile in ~25 s on 2 cores.
  ExternalProject_Add(iotw_cross_${target}
    SOURCE_DIR ${CMAKE_CURRENT_SOURCE_DIR}/cross
    BINARY_DIR ${CMAKE_BINARY_DIR}/cross/${target}
    CMAKE_GENERATOR Ninja
    CMAKE_ARGS -DCMAKE_TOOLCHAIN_FILE=${CMAKE_CURRENT_SOURCE_DIR}/cross/toolchains/${target}.cmake
               -DIOTW_CROSS_TARGET=${target} -DCMAKE_BUILD_TYPE=MinSizeRel -DIOTW_SRC_CACHE=${IOTW_SRC_CACHE}
    BUILD_ALWAYS ON
    INSTALL_COMMAND ""
    USES_TERMINAL_BUILD OFF)
  add_dependencies(iotw_cross iotw_cross_${target})
  list(APPEND _built ${target})
endforeach()
set(IOTW_CROSS_BUILT "${_built}" CACHE INTERNAL "cross targets configured in this build")
# Built by default: a cross build that breaks fails the build, as any other code does.
set_target_properties(iotw_cross PROPERTIES EXCLUDE_FROM_ALL OFF)
add_custom_target(iotw_cross_all ALL DEPENDS iotw_cross)
