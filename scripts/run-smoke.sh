#!/usr/bin/env bash
# The main job: set up, build, and run rigs/smoke.toml (8 emulated ESP devices against a real trust node
# over PTYs). Exit codes (docs/cli.md): 0 the rig passed, 1 its criteria failed, 2 usage or configuration error,
# 3 it could not run, 130 interrupted.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
bash scripts/build.sh
exec build/bin/iotw rig run rigs/smoke.toml "$@"
