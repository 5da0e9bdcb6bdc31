#!/usr/bin/env bash
# PackGuard's real-kernel rig: runs the libgpiod backend, the Linux I2C code and the watchdog code against
# a real Linux kernel (gpio-sim, i2c-stub, softdog) booted under qemu, with the host's root file system
# shared read-only over virtio-9p. Installs what it needs, builds the kernel once (cached outside the
# clone, rig/build-kernel.sh), builds packguard twice (release, with the static Swift runtime: what users
# install), and boots the guest once per build, running every test in it (rig/guest-init.sh, rig/guest-tests.sh, rig/guest-gpio-versions.sh):
#   v1: against Debian's libgpiod-dev (1.6.3, as on Raspberry Pi OS bookworm), in .build/release;
#   v2: against libgpiod 2.x (as on Raspberry Pi OS trixie) from rig/build-libgpiod2.sh's prefix (cached
#       outside the clone), in .build-gpiod2/release, with an rpath to the prefix's libgpiod.so.3.
# Prints one line per test, `rig v1: N passed, M failed`, `rig v2: N passed, M failed` and the total
# `rig: N passed, M failed (both builds)`; exits non-zero on any failure in either. The guests' console
# logs are kept in rig/out/console-v1.log and console-v2.log.
#
# Perf mode, on by default (every CI run): also builds Benchmarks/reflex, and each guest measures edge -> output latency before the watchdog test
# (Benchmarks/reflex/measure-in-guest.sh, RIG_PERF_EDGES edges each, default 1000): the C reflex baseline,
# a 10-line Python gpiod script (Benchmarks/reflex/mirror.py, python3-libgpiod) and `packguard run` of
# that build, idle and with two CPU hogs. Prints one line per program and condition with p50/p99/max and
# the ratios to the reflex of the same condition in the same boot, and keeps them in rig/out/perf-NAME.txt.
# A program that does not run or gives no result fails; a timing never does. About 2-3 min more per guest
# under TCG, plus the release builds.
#
# Usage: rig/run.sh [--no-perf | --perf-only]
#   --no-perf    the tests only (RIG_PERF=0)
#   --perf-only  only the latency measurements, in both guests (release builds only; no other test)
# Environment: PACKGUARD_RIG_CACHE (kernel cache, default /var/cache/packguard-rig),
#              RIG_QEMU_TIMEOUT (seconds, default 600), RIG_ACCEL (default tcg: software emulation; nested KVM hung here),
#              RIG_PERF (0: as --no-perf; default 1), RIG_PERF_EDGES (timed edges per program and condition, default 1000),
#              RIG_PERF_SYSCALL_CYCLES (cycles counted under strace per program, default 200),
#              RIG_PERF_TRACE (1: also keep a timed strace of 3 cycles per program in rig/out/trace-NAME.txt),
#              RIG_PERF_KTRACE (1: also the kernel's scheduler, interrupt and GPIO tracepoints over 5 releases of the
#              reflex and of packguard, as RIG-KTRACE lines; load: the same with the two CPU hogs; with
#              RIG_KERNEL_FRAGMENT=rig/trace.fragment),
#              RIG_PERF_SETTLE_MS (hold the input asserted this long after the output closed, before each timed
#              release; default 0, the release right after the close; a diagnostic, see latency.c's --settle-ms),
#              RIG_PERF_BIN_V1, RIG_PERF_BIN_V2 (a release packguard to measure instead of this clone's, e.g. an
#              older build for a before/after comparison; its path must contain /release/), RIG_PERF_CONFIG (the
#              shipped configuration of that build, which the measured one is made from), RIG_PERF_SCHEDULING and
#              RIG_PERF_LOCK_MEMORY (override realtime.scheduling / realtime.lockMemory of the measured daemon),
#              RIG_BUILDS (v1: only the libgpiod v1 build and guest, for a quick look; CI runs both, the default),
#              RIG_PERF_PROFILE (1: also profile packguard with perf(1) in the guest over the timed edges and print its
#              hottest functions as RIG-PROFILE lines; boots a kernel with perf events, rig/perf.fragment, built once
#              and cached like the other; needs linux-perf on the host, which rig/run.sh then installs),
#              RIG_KERNEL_FRAGMENT (one more kernel fragment over rig/kernel.fragment, e.g. CONFIG_PREEMPT=y to compare
#              a preemptible kernel; built once and cached by its hash).
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$(pwd -P)
source scripts/lib.sh
started=$(date +%s)
perf=${RIG_PERF:-1}
perf_only=0
[ "$perf" = 0 ] || [ "$perf" = 1 ] || { echo "rig: RIG_PERF must be 0 or 1" >&2; exit 2; }
for arg in "$@"; do
    case "$arg" in
        --perf) perf=1 ;;  # the default; kept for old command lines
        --no-perf) perf=0 ;;
        --perf-only) perf=1 perf_only=1 ;;
        *) echo "usage: rig/run.sh [--no-perf | --perf-only]" >&2; exit 2 ;;
    esac
done
perf_edges=${RIG_PERF_EDGES:-1000}
builds=${RIG_BUILDS:-both}
[ "$builds" = both ] || [ "$builds" = v1 ] || { echo "rig: RIG_BUILDS must be both or v1" >&2; exit 2; }
[ "$perf" = 0 ] || [[ $perf_edges =~ ^[1-9][0-9]*$ ]] || { echo "rig: RIG_PERF_EDGES must be a positive integer" >&2; exit 2; }

ensure_swift
ensure_packages libgpiod-dev libmosquitto-dev pkg-config
# The rig's own packages, without recommends (qemu's pull in much that a headless boot never uses).
rig_packages=(qemu-system-x86 linux-source-6.1 bc flex bison libelf-dev libssl-dev cpio xz-utils make gcc kmod can-utils iproute2)
# Perf mode: the Python baseline's gpiod bindings (the guest runs the host's /usr/bin/python3),
# and strace, which counts each program's system calls per cycle.
[ "$perf" = 0 ] || rig_packages+=(python3-libgpiod strace)
[ "${RIG_PERF_PROFILE:-0}" = 0 ] || rig_packages+=(linux-perf)
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
kernel_fragments=()
[ "${RIG_PERF_PROFILE:-0}" = 0 ] || kernel_fragments+=(rig/perf.fragment)
[ -z "${RIG_KERNEL_FRAGMENT:-}" ] || kernel_fragments+=("$RIG_KERNEL_FRAGMENT")
kernel_dir=$(rig/build-kernel.sh ${kernel_fragments[@]+"${kernel_fragments[@]}"})
kernel_s=$(( $(date +%s) - kernel_started ))

out=$repo/rig/out
mkdir -p "$out"
rm -f "$out"/perf-v*.txt
# Two builds, each booted in its own guest (the watchdog test ends a guest with a reset):
#   v1: Debian's libgpiod-dev (1.6.3, Raspberry Pi OS bookworm), .build
#   v2: libgpiod 2.x (Raspberry Pi OS trixie), the prefix rig/build-libgpiod2.sh makes, .build-gpiod2
# build_packguard NAME SWIFT-ARGS...: sets BIN, the release build that every test and the perf mode run.
# The release build, as hardware/pi/install.sh builds it (static Swift runtime), is what users run: a debug
# build steps at about 10 ms p50 and 100 ms p99 in this TCG guest, half the 200 ms loop deadline, so that the
# guest's own process starts could trip the internal watchdog of a daemon that would never trip on a Pi.
build_packguard() {
    local name=$1; shift
    local log="$out/build-$name.log"
    : >"$log"
    # The guest's root file system is read-only: the build is made here.
    echo "==> rig: build packguard -c release --static-swift-stdlib ($name)"
    # packguard and packguard-daemon, which `packguard run` becomes.
    local product
    for product in packguard packguard-daemon; do
        if ! swift build -c release --static-swift-stdlib "$@" --product $product >>"$log" 2>&1; then
            tail -30 "$log" >&2; echo "rig: swift build -c release --product $product ($name) failed" >&2; exit 1
        fi
    done
    tail -1 "$log"
    BIN=$(swift build -c release --static-swift-stdlib "$@" --show-bin-path)/packguard
    [ -x "$BIN" ] && [ -x "${BIN}-daemon" ] || { echo "rig: no $BIN or ${BIN}-daemon" >&2; exit 1; }
    PERF_BIN=
    [ "$perf" = 0 ] || PERF_BIN=$BIN
}

build_started=$(date +%s)
build_packguard v1
bin_v1=$BIN perf_bin_v1=${RIG_PERF_BIN_V1:-$PERF_BIN}
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
bin_v2= perf_bin_v2=
if [ "$builds" != v1 ]; then
    build_packguard v2 "${GPIOD2_SWIFT_ARGS[@]}"
    bin_v2=$BIN perf_bin_v2=${RIG_PERF_BIN_V2:-$PERF_BIN}
fi
build_s=$(( $(date +%s) - build_started ))

accel=${RIG_ACCEL:-tcg}
total_passed=0 total_failed=0 timings=

# run_guest NAME BIN PERF-BIN: boots the guest on this build, prints its tests and
# `rig NAME: N passed, M failed`, and adds to the totals.
run_guest() {
    local name=$1 bin=$2 perf_bin=$3
    local perf_append=
    [ -z "$perf_bin" ] || perf_append=" PACKGUARD_PERF_BIN=$perf_bin RIG_PERF_EDGES=$perf_edges RIG_PERF_ONLY=$perf_only RIG_PERF_SYSCALL_CYCLES=${RIG_PERF_SYSCALL_CYCLES:-200} RIG_PERF_TRACE=${RIG_PERF_TRACE:-0} RIG_PERF_PROFILE=${RIG_PERF_PROFILE:-0} RIG_PERF_SETTLE_MS=${RIG_PERF_SETTLE_MS:-0} RIG_PERF_KTRACE=${RIG_PERF_KTRACE:-0}${RIG_PERF_CONFIG:+ RIG_PERF_CONFIG=$RIG_PERF_CONFIG}${RIG_PERF_SCHEDULING:+ RIG_PERF_SCHEDULING=$RIG_PERF_SCHEDULING}${RIG_PERF_LOCK_MEMORY:+ RIG_PERF_LOCK_MEMORY=$RIG_PERF_LOCK_MEMORY}"
    # The guest mounts a tmpfs at its scratch directory: never over the clone or the binaries.
    local scratch=/tmp
    case " $repo/ $bin $perf_bin $kernel_dir/ $GPIOD2_PREFIX/" in *" /tmp/"*) scratch=/mnt ;; esac
    local console=$out/console-$name.log
    : >"$console"
    echo "==> rig $name: boot qemu ($accel, 2 CPUs, 512 MiB) with $kernel_dir/bzImage; console in $console"
    local boot_started; boot_started=$(date +%s)
    local tsc_khz; tsc_khz=$(awk -F: '/^cpu MHz/ { printf "%d", $2 * 1000; exit }' /proc/cpuinfo)
    # -smp 2,sockets=2: the kernel has no ACPI, and SeaBIOS's MP table lists one processor per socket
    # (with -smp 2 alone the guest ran on one CPU).
    # clocksource=tsc tsc=reliable tsc_early_khz=: the kernel has no HPET or ACPI PM timer to calibrate the TSC
    # against, and its PIT calibration fails under TCG now and then ("could not calculate TSC khz"): it then runs on
    # jiffies, a 4 ms clock that ruins every timing in the guest. TCG's TSC counts at the host's rate, so the host's
    # frequency is given (/proc/cpuinfo).
    set +e
    timeout -k 10 "${RIG_QEMU_TIMEOUT:-600}" qemu-system-x86_64 \
        -nodefaults -machine "accel=$accel" -cpu max -smp 2,sockets=2,cores=1 -m 512 -no-reboot \
        -display none -monitor none -serial "file:$console" \
        -kernel "$kernel_dir/bzImage" \
        -fsdev "local,id=root,path=/,security_model=none,readonly=on,multidevs=remap" \
        -device virtio-9p-pci,fsdev=root,mount_tag=hostroot \
        -append "console=ttyS0 loglevel=3 panic=-1 clocksource=tsc tsc=reliable${tsc_khz:+ tsc_early_khz=$tsc_khz} root=hostroot rootfstype=9p rootflags=trans=virtio,version=9p2000.L,msize=262144,cache=loose ro init=$repo/rig/guest-init.sh PACKGUARD_BIN=$bin RIG_KERNEL_DIR=$kernel_dir RIG_SCRATCH=$scratch RIG_BUILD=$name RIG_FAULT_SO=$fault_so$perf_append" \
        >"$out/qemu-$name.log" 2>&1 &
    local qemu_pid=$!
    # Show the results as the guest prints them.
    tail -n +1 -F --pid=$qemu_pid "$console" 2>/dev/null | tr -d '\r' | while IFS= read -r line; do
        case "$line" in
            "RIG-TEST ok "*) echo "  ok    ${line#RIG-TEST ok }" ;;
            "RIG-TEST FAIL "*) echo "  FAIL  ${line#RIG-TEST FAIL }" ;;
            "RIG-NOTE daemon log"*|"daemon| "*) ;;
            "RIG-NOTE "*) echo "        ${line#RIG-NOTE }" ;;
            "RIG-BOOTED "*|"RIG-SETUP "*|"RIG-SETUP-FAILED "*|"RIG-WATCHDOG "*|"RIG-PERF-FAILED "*) echo "  ${line}" ;;
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
    if [ "$perf_only" = 1 ]; then
        :  # no watchdog test in a perf-only boot
    elif [ -n "$frozen" ]; then
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

    # Perf mode: every program in both conditions, from the same guest, or a failure; ratios to the
    # reflex of the same condition. Timings never fail.
    if [ -n "$perf_bin" ]; then
        field() { sed -n "s/.* $1=\([^ ]*\).*/\1/p" <<<"$2"; }
        ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else printf "?" }'; }
        local condition program result pname reflex perf_file=$out/perf-$name.txt
        : >"$perf_file"
        for condition in idle load; do
            reflex=$(grep -m1 "^RIG-PERF reflex condition=$condition n=" <<<"$log" || true)
            for program in reflex python packguard; do
                case $program in
                    reflex) pname="C libgpiod v1 reflex" ;;
                    python) pname="Python gpiod 1.6 script" ;;
                    packguard) pname="packguard run (release, libgpiod $name)" ;;
                esac
                if [ $condition = load ]; then pname="perf load (two CPU hogs): $pname"; else pname="perf idle: $pname"; fi
                result=$(grep -m1 "^RIG-PERF $program condition=$condition n=" <<<"$log" || true)
                if [ -z "$result" ]; then
                    fail "$pname" "no result: $(grep -m1 "^RIG-PERF-FAILED $program condition=$condition" <<<"$log" || echo "the measurement did not reach it")"
                elif [ "$(field n "$result")" != "$perf_edges" ] || { [ $program = packguard ] && [ "$(field build "$result")" != release ]; }; then
                    fail "$pname" "unexpected result: $result"
                else
                    local line="p50 $(field p50_us "$result") us, p99 $(field p99_us "$result") us, max $(field max_us "$result") us (n = $(field n "$result")), VmHWM $(field hwm_kib "$result") KiB"
                    if [ -n "$reflex" ] && [ $program != reflex ]; then
                        line="$line; x reflex: p50 $(ratio "$(field p50_us "$result")" "$(field p50_us "$reflex")"), p99 $(ratio "$(field p99_us "$result")" "$(field p99_us "$reflex")")"
                    fi
                    echo "  ok    $pname | $line"
                    echo "$name $condition $program $line" >>"$perf_file"
                    passed=$((passed + 1))
                fi
            done
        done
        # System calls per assert/release cycle (not a timing: reported, never judged).
        local counted
        for program in reflex python packguard; do
            counted=$(grep -m1 "^RIG-PERF-SYSCALLS $program " <<<"$log" || true)
            if [ -z "$counted" ]; then
                fail "perf syscalls: $program" "no count: $(grep -m1 "^RIG-PERF-FAILED $program syscalls" <<<"$log" || echo "the count did not run")"
            else
                echo "  ok    perf syscalls: $program | $(field per_cycle "$counted") per assert/release cycle, all threads ($(field top "$counted"))"
                echo "$name syscalls $program $(field per_cycle "$counted") per cycle ($(field top "$counted"))" >>"$perf_file"
                passed=$((passed + 1))
            fi
        done
        grep '^RIG-TRACE ' <<<"$log" | sed 's/^RIG-TRACE //' >"$out/trace-$name.txt" || true
        grep '^RIG-PROFILE ' <<<"$log" | sed 's/^RIG-PROFILE //' >"$out/profile-$name.txt" || true
        grep '^RIG-KTRACE ' <<<"$log" | sed 's/^RIG-KTRACE //' >"$out/ktrace-$name.txt" || true
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
[ "$builds" = v1 ] || run_guest v2 "$bin_v2" "$perf_bin_v2"

echo "rig: kernel ${kernel_s} s ($( [ "$kernel_s" -lt 5 ] && echo reused || echo built)), builds ${build_s} s${timings}, total $(( $(date +%s) - started )) s"
if [ "$perf" = 1 ] && compgen -G "$out/perf-v*.txt" >/dev/null; then
    echo "rig: perf, release -> relay 0 in us (TCG guest, 2 CPUs; ratios to the C reflex of the same boot and condition):"
    sed 's/^/  /' "$out"/perf-v*.txt
fi
printf '%s' "$summaries"
echo "rig: $total_passed passed, $total_failed failed ($( [ "$builds" = v1 ] && echo "v1 build only" || echo "both builds"))"
[ "$total_failed" = 0 ] && [ "$total_passed" -gt 0 ]
