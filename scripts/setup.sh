#!/usr/bin/env bash
# Installs everything IOTW Rig needs on Debian 12 (run as root, or with sudo available). Idempotent:
# apt is only called when a package or a source tree is missing.
set -euo pipefail
# Every package is used by the build or a test: python3-serial and python3-serial-asyncio are imported by
# pymodbus's serial client (Debian only recommends them; tests/interop/dps_pymodbus_client.py rtu), prometheus
# gives promtool (tests/trust_node/http_api_test.cpp), iputils-ping and iproute2 the TAP tests, libxml2-utils
# xmllint (the junit.xml schema test), clang the fuzz targets. The cross build of the firmware (docs/firmware.md):
# gcc-arm-none-eabi and gcc-xtensa-lx106 with picolibc, qemu-system-arm for the Cortex-M3 image in rigs, and
# dpkg-dev for `apt-get source` of libsodium and nanopb, whose C sources are compiled for the targets.
# libssl-dev: OpenSSL's libcrypto computes the trust node's SHA-256 (it uses the CPU's SHA extensions, libsodium does
# not; bench/RESULTS.md "A million transactions a second").
# etcd-server (the etcd binary: the replicated ledger of a trust-node mesh, docs/trust-node.md "Mesh"; the harness and the
# tests start their own members in their own folders) and etcd-client (etcdctl, the tests read the store with it).
PACKAGES=(
  build-essential cmake ninja-build pkg-config ccache git
  libboost-dev libboost-filesystem-dev libserialport-dev libmodbus-dev libsodium-dev
  nanopb libnanopb-dev protobuf-compiler python3-protobuf liblwip-dev libsqlite3-dev
  libcpp-httplib-dev libtomlplusplus-dev nlohmann-json3-dev libspdlog-dev libfmt-dev libcli11-dev
  libgtest-dev libgmock-dev libbenchmark-dev clang prometheus
  python3 python3-nacl socat tshark mbpoll python3-pymodbus python3-serial python3-serial-asyncio
  iproute2 iputils-ping libpugixml-dev libxml2-utils libncurses-dev tmux
  gcc-arm-none-eabi picolibc-arm-none-eabi gcc-xtensa-lx106 binutils-xtensa-lx106 picolibc-xtensa-lx106-elf
  qemu-system-arm dpkg-dev
  etcd-server etcd-client
  libssl-dev
)
missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
if [ ${#missing[@]} -eq 0 ]; then
  echo "setup: all ${#PACKAGES[@]} packages present"
else
  echo "setup: installing ${missing[*]}"
  # tshark's package asks whether non-root users may capture; answer "no" (the tests only read files).
  echo "wireshark-common wireshark-common/install-setuid boolean false" | $SUDO debconf-set-selections
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# Debian's source packages of libsodium and nanopb, the same versions as the host's -dev packages: the firmware's
# cross build compiles their C sources for the microcontroller targets (docs/firmware.md "Cross builds"). Unpacked
# once under IOTW_SRC_CACHE (default /var/cache/iotw/src), outside any clone, so every clone's build finds them.
SRC_CACHE=${IOTW_SRC_CACHE:-/var/cache/iotw/src}
need_src=()
for src in libsodium nanopb; do
  ver=$(dpkg-query -W -f='${source:Upstream-Version}' "$([ $src = libsodium ] && echo libsodium-dev || echo libnanopb-dev)")
  [ -d "$SRC_CACHE/$src-$ver" ] || need_src+=("$src")
done
if [ ${#need_src[@]} -gt 0 ]; then
  if ! apt-get source --print-uris -qq "${need_src[@]}" >/dev/null 2>&1; then
    # apt needs a deb-src line for Debian 12 main; add one next to the image's deb lines.
    echo "setup: adding /etc/apt/sources.list.d/iotw-deb-src.sources (deb-src for bookworm main)"
    printf '%s\n' "Types: deb-src" "URIs: http://deb.debian.org/debian" "Suites: bookworm bookworm-updates" \
      "Components: main" "Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg" |
      $SUDO tee /etc/apt/sources.list.d/iotw-deb-src.sources >/dev/null
    $SUDO apt-get update -qq
  fi
  echo "setup: fetching Debian sources of ${need_src[*]} into $SRC_CACHE"
  $SUDO mkdir -p "$SRC_CACHE"
  tmp=$(mktemp -d)
  (cd "$tmp" && apt-get source -qq "${need_src[@]}" >/dev/null 2>&1)
  for src in "${need_src[@]}"; do
    dir=$(find "$tmp" -maxdepth 1 -type d -name "$src-*" | head -1)
    [ -n "$dir" ] || { echo "setup: apt-get source $src failed"; exit 1; }
    $SUDO rm -rf "$SRC_CACHE/$(basename "$dir")"
    $SUDO mv "$dir" "$SRC_CACHE/"
  done
  rm -rf "$tmp"
fi
