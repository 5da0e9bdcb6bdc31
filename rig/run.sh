#!/usr/bin/env bash
# PackGuard's real-kernel rig: runs the libgpiod backend, the Linux I2C code and the watchdog code against
# a real Linux kernel (gpio-sim, i2c-stub, softdog) booted under qemu, with the host's root file system
# shared read-only over virtio-9p. Installs what it needs, builds the kernel once (cached outside the
# clone, rig/build-kernel.sh), builds packguard, boots the guest and runs every test in it
# (rig/guest-init.sh, rig/guest-tests.sh). Prints one line per test and `rig: N passed, M failed`;
# exits non-zero on any failure. The guest's console log is kept in rig/out/console.log.
#
# --perf (or RIG_PERF=1), opt-in: also builds Benchmarks/reflex and a release packguard, and the guest measures
# edge -> output latency (Benchmarks/reflex/measure-in-guest.sh: the C reflex baseline, then `packguard run`,
# RIG_PERF_EDGES edges each, default 1000) before the watchdog test; two more tests, failing on a
# RIG-PERF-FAILED line or a missing result. About 30 s more in the guest, plus the release build.
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
ensure_packages libgpiod-dev pkg-config
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

echo "==> rig: build packguard"
out=$repo/rig/out
mkdir -p "$out"
if ! swift build --product packguard >"$out/build.log" 2>&1; then
    tail -30 "$out/build.log" >&2; echo "rig: swift build failed" >&2; exit 1
fi
tail -1 "$out/build.log"
bin=$(swift build --show-bin-path)/packguard
[ -x "$bin" ] || { echo "rig: no $bin" >&2; exit 1; }

perf_append= perf_bin=
if [ "$perf" = 1 ]; then
    # The guest's root file system is read-only: the C programs and the release build are made here.
    echo "==> rig: perf mode: build Benchmarks/reflex and a release packguard"
    if ! make -C Benchmarks/reflex >"$out/perf-build.log" 2>&1; then
        tail -30 "$out/perf-build.log" >&2; echo "rig: make -C Benchmarks/reflex failed" >&2; exit 1
    fi
    if ! swift build -c release --product packguard >>"$out/perf-build.log" 2>&1; then
        tail -30 "$out/perf-build.log" >&2; echo "rig: swift build -c release failed" >&2; exit 1
    fi
    tail -1 "$out/perf-build.log"
    perf_bin=$(swift build -c release --show-bin-path)/packguard
    [ -x "$perf_bin" ] || { echo "rig: no $perf_bin" >&2; exit 1; }
    perf_append=" PACKGUARD_PERF_BIN=$perf_bin RIG_PERF_EDGES=$perf_edges"
fi

# The guest mounts a tmpfs at its scratch directory: never over the clone or the binaries.
scratch=/tmp
case " $repo/ $bin $perf_bin $kernel_dir/" in *" /tmp/"*) scratch=/mnt ;; esac

console=$out/console.log
: >"$console"
accel=${RIG_ACCEL:-tcg}

echo "==> rig: boot qemu ($accel, 2 CPUs, 512 MiB) with $kernel_dir/bzImage; console in $console"
boot_started=$(date +%s)
set +e
timeout -k 10 "${RIG_QEMU_TIMEOUT:-600}" qemu-system-x86_64 \
    -nodefaults -machine "accel=$accel" -cpu max -smp 2 -m 512 -no-reboot \
    -display none -monitor none -serial "file:$console" \
    -kernel "$kernel_dir/bzImage" \
    -fsdev "local,id=root,path=/,security_model=none,readonly=on,multidevs=remap" \
    -device virtio-9p-pci,fsdev=root,mount_tag=hostroot \
    -append "console=ttyS0 loglevel=3 panic=-1 root=hostroot rootfstype=9p rootflags=trans=virtio,version=9p2000.L,msize=262144,cache=loose ro init=$repo/rig/guest-init.sh PACKGUARD_BIN=$bin RIG_KERNEL_DIR=$kernel_dir RIG_SCRATCH=$scratch$perf_append" \
    >"$out/qemu.log" 2>&1 &
qemu_pid=$!
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
qemu_status=$?
set -e
guest_s=$(( $(date +%s) - boot_started ))

log=$(tr -d '\r' <"$console")
passed=$(grep -c '^RIG-TEST ok ' <<<"$log" || true)
failed=$(grep -c '^RIG-TEST FAIL ' <<<"$log" || true)
fail() { echo "  FAIL  $1 | $2"; failed=$((failed + 1)); }

if [ "$qemu_status" = 124 ] || [ "$qemu_status" = 137 ]; then
    fail "guest finished in time" "qemu killed after ${RIG_QEMU_TIMEOUT:-600} s"
elif [ "$qemu_status" != 0 ]; then
    fail "qemu ran" "exit status $qemu_status: $(tail -5 "$out/qemu.log")"
fi
grep -q '^RIG-SETUP-FAILED' <<<"$log" && fail "guest setup" "$(grep '^RIG-SETUP-FAILED' <<<"$log")"
grep -q '^RIG-GUEST-DONE' <<<"$log" || fail "guest ran every test" "no RIG-GUEST-DONE: the guest crashed or hung (see $console)"

# The watchdog test ends the guest: positively assert that softdog reset it after the daemon froze.
frozen=$(grep -m1 '^RIG-WATCHDOG frozen' <<<"$log" || true)
if [ -n "$frozen" ]; then
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
if [ "$perf" = 1 ]; then
    field() { sed -n "s/.* $1=\([^ ]*\).*/\1/p" <<<"$2"; }
    perf_failed=$(grep '^RIG-PERF-FAILED' <<<"$log" || true)
    for program in reflex packguard; do
        name="perf: edge -> output latency, $( [ $program = reflex ] && echo "C libgpiod reflex baseline" || echo "packguard run (release)")"
        result=$(grep -m1 "^RIG-PERF $program n=" <<<"$log" || true)
        if [ -z "$result" ]; then
            fail "$name" "no result${perf_failed:+: $perf_failed}"
        elif [ "$(field n "$result")" != "$perf_edges" ] || { [ $program = packguard ] && [ "$(field build "$result")" != release ]; }; then
            fail "$name" "unexpected result: $result"
        else
            echo "  ok    $name | p50 $(field p50_us "$result") us, p99 $(field p99_us "$result") us, max $(field max_us "$result") us (n = $(field n "$result"))"
            passed=$((passed + 1))
        fi
    done
    if [ -n "$perf_failed" ] && grep -q '^RIG-PERF packguard n=' <<<"$log"; then
        fail "perf: Benchmarks/reflex/measure-in-guest.sh" "$perf_failed"
    fi
fi

booted=$(sed -n 's/^RIG-BOOTED uptime=\([0-9.]*\).*/\1/p' <<<"$log")
echo "rig: kernel ${kernel_s} s ($( [ "$kernel_s" -lt 5 ] && echo reused || echo built)), guest up at ${booted:-?} s, guest run ${guest_s} s, total $(( $(date +%s) - started )) s"
if [ "$failed" -gt 0 ]; then echo "rig: console log kept in $console"; fi
echo "rig: $passed passed, $failed failed"
[ "$failed" = 0 ] && [ "$passed" -gt 0 ]
