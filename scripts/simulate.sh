#!/usr/bin/env bash
# Builds PackGuard and starts it on the built-in mocked GPIO chip. Usage: ./scripts/simulate.sh
cd "$(dirname "$0")/.."
source scripts/lib.sh

ensure_swift
ensure_packages libgpiod-dev libmosquitto-dev pkg-config
swift build -c release --static-swift-stdlib   # as hardware/pi/install.sh builds it
bin=$(swift build -c release --static-swift-stdlib --show-bin-path)/packguard
echo "==> packguard run --simulate (Ctrl-C to stop; in another terminal: $bin status --simulate)"
exec "$bin" run --simulate "$@"
