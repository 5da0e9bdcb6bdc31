#!/usr/bin/env bash
# Runs PackGuard's whole test suite, installing what it needs. Usage: ./scripts/test.sh
cd "$(dirname "$0")/.."
source scripts/lib.sh

ensure_swift
ensure_packages libgpiod-dev pkg-config ngspice libmosquitto-dev
# Telemetry's tests: a real broker and its clients, headless Chromium for the status page, curl.
ensure_packages mosquitto mosquitto-clients chromium curl

# Python tools of the checks (PyYAML for check_pins.py, pexpect for the pseudo-terminal test).
python3 -c "import yaml, pexpect" 2>/dev/null || python3 -m pip install --quiet pyyaml pexpect

echo "==> build (no warnings allowed in PackGuard's code)"
build_without_warnings --build-tests

echo "==> unit, property and contract tests (libgpiod v1, Debian's libgpiod-dev)"
PACKGUARD_EXPECT_LIBGPIOD="libgpiod v1 $(pkg-config --modversion libgpiod)" swift test --skip-build

echo "==> ThreadSanitizer: the daemon, GPIO and telemetry tests (control thread, watchdog monitor, reload, control socket, libmosquitto's thread)"
# A build of its own (about a minute); any race report fails the run (halt_on_error, exit 66).
swift build --build-tests --sanitize=thread --scratch-path .build-tsan 2>&1 | tail -1
TSAN_OPTIONS=halt_on_error=1 swift test --skip-build --sanitize=thread --scratch-path .build-tsan \
    --filter 'PackGuardDaemonTests|PackGuardGPIOTests|PackGuardTelemetryTests'

echo "==> command-line checks"
bin=$(swift build --show-bin-path)/packguard
"$bin" check-config hardware/pi/packguard.yaml >/dev/null
"$bin" check-config --built-in >/dev/null
[ "$("$bin" check-config --quiet hardware/pi/packguard.yaml)" = "hardware/pi/packguard.yaml: valid" ]
bad=$(mktemp --suffix=.yaml)
printf 'inputs:\n  chargeEnable: { line: GPIO17\n' >"$bad"
if "$bin" check-config "$bad" 2>/dev/null; then
    echo "error: check-config accepted a malformed file" >&2; exit 1
fi
rm -f "$bad"
"$bin" adc --simulate --count 2 >/dev/null   # every simulated channel converts and reads VALID (exit 0)
# Neither the command line nor the daemon maps Foundation with ICU or libmosquitto: their JSON is PackGuardJSON, and
# bench, simulate and telemetry live in packguard-bench and packguard-telemetry, to which packguard forwards them.
# (FoundationEssentials, without ICU, comes with ArgumentParser, which packguard-daemon does not link: its symbols
# must not be in the daemon at all.)
if ldd "$bin" | grep -E 'lib(Foundation|FoundationInternationalization|_FoundationICU|mosquitto)\.so'; then
    echo "error: $bin links the libraries above; only its siblings may" >&2; exit 1
fi
if ldd "$bin-daemon" | grep -E 'lib(Foundation|FoundationEssentials|FoundationInternationalization|_FoundationICU|mosquitto)\.so'; then
    echo "error: $bin-daemon links the libraries above" >&2; exit 1
fi
if nm "$bin-daemon" | grep -q -E ' [TtDdRr] \$s(20FoundationEssentials|14ArgumentParser)'; then
    echo "error: $bin-daemon holds ArgumentParser or FoundationEssentials code" >&2; exit 1
fi
# `packguard run` is packguard-daemon under the same PID, told the same options.
ran=$("$bin" run --config /nonexistent/packguard.yaml 2>&1) && { echo "error: run accepted a missing file" >&2; exit 1; }
grep -q "/nonexistent/packguard.yaml" <<<"$ran" || { echo "error: packguard run did not reach the daemon: $ran" >&2; exit 1; }
set +e; usage=$("$bin-daemon" --config x 2>&1); usage_rc=$?; set -e
[ "$usage_rc" = 64 ] && grep -q "packguard run --help" <<<"$usage" \
    || { echo "error: packguard-daemon without \`run\` gave exit $usage_rc: $usage" >&2; exit 1; }
alone=$(mktemp -d)
cp "$bin" "$alone/packguard"
set +e
missing=$("$alone/packguard" telemetry --help 2>&1); missing_rc=$?
no_daemon=$("$alone/packguard" run --simulate 2>&1); no_daemon_rc=$?
set -e
rm -rf "$alone"
if [ "$missing_rc" != 127 ] || ! grep -q "packguard-telemetry is missing" <<<"$missing"; then
    echo "error: a missing packguard-telemetry gave exit $missing_rc: $missing" >&2; exit 1
fi
if [ "$no_daemon_rc" != 127 ] || ! grep -q "packguard-daemon is missing" <<<"$no_daemon"; then
    echo "error: a missing packguard-daemon gave exit $no_daemon_rc: $no_daemon" >&2; exit 1
fi
echo "command-line checks passed"

echo "==> hardware and wiring: pins agree, renderings current, unit sandboxed"
python3 hardware/check_pins.py
python3 hardware/check_pins.py --self-test
python3 hardware/spice/check_pump.py   # heartbeat charge pump in ngspice: hold, drop-out, power-up, corners
wiring/check-rendered.sh
hardware/pi/check-unit-security.sh
hardware/pi/check-unit-security.sh 1.5 hardware/pi/packguard-telemetry.service
python3 hardware/precharge_sizing.py --check   # precharge.md's sizing tables match their formulas

echo "==> bench: the scenario library on the mocked chip (virtual time)"
"$bin" bench --quiet --junit "$(swift build --show-bin-path)/bench-junit.xml"

echo "==> simulate: the interactive panel through a pseudo-terminal"
python3 scripts/test-simulate-pty.py "$bin"

echo "==> end to end: the daemon on the mocked chip"
scripts/e2e-simulate.sh "$bin"

echo "==> end to end: telemetry to a real mosquitto (discovery within 5 s, relay topic within 1 s, Last Will)"
scripts/e2e-telemetry.sh "$bin"

echo "==> control socket flood: 200 silent clients + 100 status/s for 30 s (bench-socket)"
"$bin" bench-socket

echo "==> telemetry follower: step latency with no, a live, a hung (SIGSTOP) and a killed follower (bench-telemetry)"
"$bin" bench-telemetry --seconds 5

# Raspberry Pi OS trixie ships libgpiod 2.x: the whole build and every test again against v2, in its own
# scratch path (.build-gpiod2), with the prefix rig/build-libgpiod2.sh makes (cached outside the clone).
# In a subshell: PKG_CONFIG_PATH must not reach anything above.
(
    echo "==> libgpiod v2: build (no warnings) and every test against libgpiod 2.x (rig/build-libgpiod2.sh)"
    use_libgpiod2
    build_without_warnings --build-tests "${GPIOD2_SWIFT_ARGS[@]}"
    PACKGUARD_EXPECT_LIBGPIOD="libgpiod v2 $(pkg-config --modversion libgpiod)" swift test --skip-build "${GPIOD2_SWIFT_ARGS[@]}"
)
