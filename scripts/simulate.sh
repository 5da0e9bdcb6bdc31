#!/usr/bin/env bash
# Builds PackGuard and starts it on the built-in mocked GPIO chip. Usage: ./scripts/simulate.sh
cd "$(dirname "$0")/.."
source scripts/lib.sh

ensure_swift
ensure_packages libgpiod-dev pkg-config
swift build -c release
bin=$(swift build -c release --show-bin-path)/packguard
if "$bin" help run >/dev/null 2>&1; then
    exec "$bin" run --simulate "$@"
fi
# Until the daemon lands, the most complete honest thing: check the built-in configuration.
echo "packguard run is not built yet; checking the built-in configuration instead:"
exec "$bin" check-config --built-in
