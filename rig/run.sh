#!/usr/bin/env bash
# PackGuard's real-kernel rig: runs the libgpiod backend, the Linux I2C code and the watchdog code against
# a real Linux kernel (gpio-sim, i2c-stub, softdog) booted under qemu, with the host's root file system
# shared read-only over virtio-9p. Installs what it needs, builds the kernel once (cached outside the
# clone, rig/build-kernel.sh), builds packguard twice, and boots the guest once per build, running every
# test in it (rig/guest-init.sh, rig/guest-tests.sh, rig/guest-gpio-versions.sh):
#   v1: against Debian's libgpiod-dev (1.6.3, as on Raspberry Pi OS bookworm), in .build;
#   v2: against libgpiod 2.x (as on Raspberry Pi OS trixie) from rig/build-libgpiod2.sh's prefix (cached
#       outside the clone), in .build-gpiod2, with an rpath to the prefix's libgpiod.so.3.
# Prints one line per test, `rig v1: N passed, M failed`, `rig v2: N passed, M failed` and the total
# `rig: N passed, M failed (both builds)`; exits non-zero on any failure in either. The guests' console
# logs are kept in rig/out/console-v1.log and console-v2.log.
#
# --perf (or RIG_PERF=1), opt-in: also builds Benchmarks/reflex and a release packguard of each build, and each
# guest measures edge -> output latency (Benchmarks/reflex/measure-in-guest.sh: the C reflex baseline, then
# `packguard run` of that build, RIG_PERF_EDGES edges each, default 1000) before the watchdog test; two more
# tests per build, failing on a RIG-PERF-FAILED line or a missing result. About 30 s more per guest, plus the
# release builds.
#
# Usage: rig/run.sh [--perf]
# Environment: PACKGUARD_RIG_CACHE (kernel cache, default /var/cache/packguard-rig),
#              RIG_QEMU_TIMEOUT (seconds, default 600), RIG_ACCEL (default tcg: software emulation; nested KVM hung here),
#              RIG_PERF (1: as --perf), RIG_PERF_EDGES (timed edges per program in perf mode, default 1000).
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$(pwd -P)
source scripts/lib.sh
started=$(date +%s)
perf=${RIG_PERF:-0}
[ "$perf" = 0 ] || [ "$perf" = 1 ] || { echo "rig: RIG_PERF must be 0 or 1" >&2; exit 2; }
for arg in "$@"; do
    case "$arg" in
        --perf) perf=1 ;;
        *) echo "usage: rig/run.sh [--perf]" >&2; exit 2 ;;
    esac
done
perf_edges=${RIG_PERF_EDGES:-1000}
[ "$perf" = 0 ] || [[ $perf_edges =~ ^[1-9][0-9]*$ ]] || { echo "rig: RIG_PERF_EDGES must be a positive integer" >&2; exit 2; }

ensure_swift
ensure_packages libgpiod-dev libmosquitto-dev pkg-config
# The rig's own packages, without recommends (qemu's pull in much that a headless boot never uses).
rig_packages=(qemu-system-x86 linux-source-6.1 bc flex bison libelf-dev libssl-dev cpio xz-utils make gcc kmod can-utils iproute2)
missing=()
for package in "${rig_packages[@]}"; do
    dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
done
if [ "${#missing[@]}" -gt 0 ]; then
    echo "==> rig: installing ${missing[*]}"
    as_root apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

echo "==> rig: kernel"
kernel_started=$(date +%s)
kernel_dir=$(rig/build-kernel.sh)
kernel_s=$(( $(date +%s) - kernel_started ))

out=$repo/rig/out
mkdir -p "$out"
# Two builds, each booted in its own guest (the watchdog test ends a guest with a reset):
#   v1: Debian's libgpiod-dev (1.6.3, Raspberry Pi OS bookworm), .build
#   v2: libgpiod 2.x (Raspberry Pi OS trixie), the prefix rig/build-libgpiod2.sh makes, .build-gpiod2
# build_packguard NAME SWIFT-ARGS...: sets BIN (and PERF_BIN in perf mode).
build_packguard() {
    local name=$1; shift
    local log="$out/build-$name.log"
    echo "==> rig: build packguard ($name)"
    if ! swift build "$@" --product packguard >"$log" 2>&1; then
        tail -30 "$log" >&2; echo "rig: swift build ($name) failed" >&2; exit 1
    fi
    tail -1 "$log"
    BIN=$(swift build "$@" --show-bin-path)/packguard
    [ -x "$BIN" ] || { echo "rig: no $BIN" >&2; exit 1; }
    PERF_BIN=
    if [ "$perf" = 1 ]; then
        # The guest's root file system is read-only: the release build is made here.
        if ! swift build -c release "$@" --product packguard >>"$log" 2>&1; then
            tail -30 "$log" >&2; echo "rig: swift build -c release ($name) failed" >&2; exit 1
        fi
        tail -1 "$log"
        PERF_BIN=$(swift build -c release "$@" --show-bin-path)/packguard
        [ -x "$PERF_BIN" ] || { echo "rig: no $PERF_BIN" >&2; exit 1; }
    fi
}

build_started=$(date +%s)
build_packguard v1
bin_v1=$BIN perf_bin_v1=$PERF_BIN
if [ "$perf" = 1 ]; then
    # The C reflex baseline (libgpiod v1 API), built against Debian's library.
    echo "==> rig: perf mode: build Benchmarks/reflex"
    if ! make -C Benchmarks/reflex >"$out/perf-build.log" 2>&1; then
        tail -30 "$out/perf-build.log" >&2; echo "rig: make -C Benchmarks/reflex failed" >&2; exit 1
    fi
fi
# Write faults for the guest's "every line attempted" tests (rig/guest-gpio-versions.sh), LD_PRELOADed.
fault_so=$out/fault-set-values.so
gcc -O2 -Wall -Wextra -Werror -fPIC -shared -o "$fault_so" rig/fault-set-values.c -ldl \
    || { echo "rig: cannot compile rig/fault-set-values.c" >&2; exit 1; }
echo "==> rig: libgpiod 2.x"
use_libgpiod2   # exports PKG_CONFIG_PATH: every build below is v2
build_packguard v2 "${GPIOD2_SWIFT_ARGS[@]}"
bin_v2=$BIN perf_bin_v2=$PERF_BIN
build_s=$(( $(date +%s) - build_started ))

accel=${RIG_ACCEL:-tcg}
total_passed=0 total_failed=0 timings=

# run_guest NAME BIN PERF-BIN: boots the guest on this build, prints its tests and
# `rig NAME: N passed, M failed`, and adds to the totals.
run_guest() {
    local name=$1 bin=$2 perf_bin=$3
    local perf_append=
    [ -z "$perf_bin" ] || perf_append=" PACKGUARD_PERF_BIN=$perf_bin RIG_PERF_EDGES=$perf_edges"
    # The guest mounts a tmpfs at its scratch directory: never over the clone or the binaries.
    local scratch=/tmp
    case " $repo/ $bin $perf_bin $kernel_dir/ $GPIOD2_PREFIX/" in *" /tmp/"*) scratch=/mnt ;; esac
    local console=$out/console-$name.log
    : >"$console"
    echo "==> rig $name: boot qemu ($accel, 2 CPUs, 512 MiB) with $kernel_dir/bzImage; console in $console"
    local boot_started; boot_started=$(date +%s)
    set +e
    timeout -k 10 "${RIG_QEMU_TIMEOUT:-600}" qemu-system-x86_64 \
        -nodefaults -machine "accel=$accel" -cpu max -smp 2 -m 512 -no-reboot \
        -display none -monitor none -serial "file:$console" \
        -kernel "$kernel_dir/bzImage" \
        -fsdev "local,id=root,path=/,security_model=none,readonly=on,multidevs=remap" \
        -device virtio-9p-pci,fsdev=root,mount_tag=hostroot \
        -append "console=ttyS0 loglevel=3 panic=-1 root=hostroot rootfstype=9p rootflags=trans=virtio,version=9p2000.L,msize=262144,cache=loose ro init=$repo/rig/guest-init.sh PACKGUARD_BIN=$bin RIG_KERNEL_DIR=$kernel_dir RIG_SCRATCH=$scratch RIG_BUILD=$name RIG_FAULT_SO=$fault_so$perf_append" \
        >"$out/qemu-$name.log" 2>&1 &
    local qemu_pid=$!
    # Show the results as the guest prints them.
    tail -n +1 -F --pid=$qemu_pid "$console" 2>/dev/null | tr -d '\r' | while IFS= read -r line; do
        case "$line" in
            "RIG-TEST ok "*) echo "  ok    ${line#RIG-TEST ok }" ;;
            "RIG-TEST FAIL "*) echo "  FAIL  ${line#RIG-TEST FAIL }" ;;
            "RIG-NOTE daemon log"*|"daemon| "*) ;;
            "RIG-NOTE "*) echo "        ${line#RIG-NOTE }" ;;
            "RIG-BOOTED "*|"RIG-SETUP "*|"RIG-SETUP-FAILED "*|"RIG-WATCHDOG "*|"RIG-PERF "*|"RIG-PERF-FAILED "*) echo "  ${line}" ;;
        esac
    done
    wait $qemu_pid
    local qemu_status=$?
    set -e
    local guest_s=$(( $(date +%s) - boot_started ))

    local log; log=$(tr -d '\r' <"$console")
    local passed failed
    passed=$(grep -c '^RIG-TEST ok ' <<<"$log" || true)
    failed=$(grep -c '^RIG-TEST FAIL ' <<<"$log" || true)
    fail() { echo "  FAIL  $1 | $2"; failed=$((failed + 1)); }

    if [ "$qemu_status" = 124 ] || [ "$qemu_status" = 137 ]; then
        fail "guest finished in time" "qemu killed after ${RIG_QEMU_TIMEOUT:-600} s"
    elif [ "$qemu_status" != 0 ]; then
        fail "qemu ran" "exit status $qemu_status: $(tail -5 "$out/qemu-$name.log")"
    fi
    grep -q '^RIG-SETUP-FAILED' <<<"$log" && fail "guest setup" "$(grep '^RIG-SETUP-FAILED' <<<"$log")"
    grep -q '^RIG-GUEST-DONE' <<<"$log" || fail "guest ran every test" "no RIG-GUEST-DONE: the guest crashed or hung (see $console)"

    # The watchdog test ends the guest: positively assert that softdog reset it after the daemon froze.
    local frozen; frozen=$(grep -m1 '^RIG-WATCHDOG frozen' <<<"$log" || true)
    if [ -n "$frozen" ]; then
        local after reset frozen_at reset_at after_s
        after=$(sed -n '/^RIG-WATCHDOG frozen/,$p' <<<"$log")
        if grep -q '^RIG-WATCHDOG survived' <<<"$after"; then
            fail "watchdog: daemon frozen (SIGSTOP) -> guest reset" "the guest was still running 15 s later"
        elif reset=$(grep -m1 'softdog: Initiating system reboot' <<<"$after") && [ "$qemu_status" = 0 ]; then
            kernel_time() { sed -n 's/^\[ *\([0-9.]*\)\].*/\1/p' <<<"$1"; }
            frozen_at=$(kernel_time "$(grep -m1 'rig: daemon pid .* frozen with SIGSTOP' <<<"$after")")
            reset_at=$(kernel_time "$reset")
            after_s=$(awk -v a="$frozen_at" -v b="$reset_at" 'BEGIN { printf (a == "" ? "?" : "%.2f"), b - a }')
            # timeoutS 3 runs from the last pet, and the daemon pets at most once a second: 2 to 3 s.
            if awk -v t="$after_s" 'BEGIN { exit !(t >= 1.5 && t <= 5) }'; then
                echo "  ok    watchdog: daemon frozen (SIGSTOP) -> guest reset by softdog | ${after_s} s after the freeze (timeoutS 3, pets at most 1/s), qemu exited on the reset"
                passed=$((passed + 1))
            else
                fail "watchdog: daemon frozen (SIGSTOP) -> guest reset by softdog" "reset ${after_s} s after the freeze, expected 2-3 s (timeoutS 3)"
            fi
        else
            fail "watchdog: daemon frozen (SIGSTOP) -> guest reset" "no 'softdog: Initiating system reboot' after the freeze"
        fi
    else
        fail "watchdog: daemon frozen (SIGSTOP) -> guest reset" "the watchdog test did not start"
    fi

    # Perf mode: both results, from the same guest, or a failure.
    if [ -n "$perf_bin" ]; then
        field() { sed -n "s/.* $1=\([^ ]*\).*/\1/p" <<<"$2"; }
        local perf_failed program result pname
        perf_failed=$(grep '^RIG-PERF-FAILED' <<<"$log" || true)
        for program in reflex packguard; do
            pname="perf: edge -> output latency, $( [ $program = reflex ] && echo "C libgpiod v1 reflex baseline" || echo "packguard run (release, libgpiod $name)")"
            result=$(grep -m1 "^RIG-PERF $program n=" <<<"$log" || true)
            if [ -z "$result" ]; then
                fail "$pname" "no result${perf_failed:+: $perf_failed}"
            elif [ "$(field n "$result")" != "$perf_edges" ] || { [ $program = packguard ] && [ "$(field build "$result")" != release ]; }; then
                fail "$pname" "unexpected result: $result"
            else
                echo "  ok    $pname | p50 $(field p50_us "$result") us, p99 $(field p99_us "$result") us, max $(field max_us "$result") us (n = $(field n "$result"))"
                passed=$((passed + 1))
            fi
        done
        if [ -n "$perf_failed" ] && grep -q '^RIG-PERF packguard n=' <<<"$log"; then
            fail "perf: Benchmarks/reflex/measure-in-guest.sh" "$perf_failed"
        fi
    fi

    local booted; booted=$(sed -n 's/^RIG-BOOTED uptime=\([0-9.]*\).*/\1/p' <<<"$log")
    timings="$timings, $name guest ${guest_s} s (up at ${booted:-?} s)"
    if [ "$failed" -gt 0 ]; then echo "rig $name: console log kept in $console"; fi
    [ "$passed" -gt 0 ] || { echo "rig $name: no test passed"; failed=$((failed + 1)); }
    echo "rig $name: $passed passed, $failed failed"
    total_passed=$((total_passed + passed)) total_failed=$((total_failed + failed))
    summaries="${summaries:-}rig $name: $passed passed, $failed failed"$'\n'
}

run_guest v1 "$bin_v1" "$perf_bin_v1"
run_guest v2 "$bin_v2" "$perf_bin_v2"

echo "rig: kernel ${kernel_s} s ($( [ "$kernel_s" -lt 5 ] && echo reused || echo built)), builds ${build_s} s${timings}, total $(( $(date +%s) - started )) s"
printf '%s' "$summaries"
echo "rig: $total_passed passed, $total_failed failed (both builds)"
[ "$total_failed" = 0 ] && [ "$total_passed" -gt 0 ]
