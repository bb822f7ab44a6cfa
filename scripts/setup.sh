#!/usr/bin/env bash
# Installs everything IOTW Rig needs on Debian 12 (run as root, or with sudo available). Idempotent:
# apt is only called when a package is missing.
set -euo pipefail
# Every package is used by the build or a test: python3-serial and python3-serial-asyncio are imported by
# pymodbus's serial client (Debian only recommends them; tests/interop/dps_pymodbus_client.py rtu), prometheus
# gives promtool (tests/trust_node/http_api_test.cpp), iputils-ping and iproute2 the TAP tests, libxml2-utils
# xmllint (the junit.xml schema test), clang the fuzz targets, qemu-system-arm the qemu-cortex-m3 devices.
PACKAGES=(
  build-essential cmake ninja-build pkg-config ccache git
  libboost-dev libboost-filesystem-dev libserialport-dev libmodbus-dev libsodium-dev
  nanopb libnanopb-dev protobuf-compiler python3-protobuf liblwip-dev libsqlite3-dev
  libcpp-httplib-dev libtomlplusplus-dev nlohmann-json3-dev libspdlog-dev libfmt-dev libcli11-dev
  libgtest-dev libgmock-dev libbenchmark-dev clang prometheus
  python3 python3-nacl socat tshark mbpoll python3-pymodbus python3-serial python3-serial-asyncio
  iproute2 iputils-ping libpugixml-dev libxml2-utils libncurses-dev tmux
  qemu-system-arm
)
missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "setup: all ${#PACKAGES[@]} packages present"
  exit 0
fi
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
echo "setup: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
# tshark's package asks whether non-root users may capture; answer "no" (the tests only read files).
echo "wireshark-common wireshark-common/install-setuid boolean false" | $SUDO debconf-set-selections
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
