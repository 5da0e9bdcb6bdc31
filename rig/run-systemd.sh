#!/usr/bin/env bash
# PackGuard's systemd rig: the boot-time service for real. Boots a qemu guest whose PID 1 is systemd (the host's
# Debian 12 systemd 252) on a writable overlay of the host's root (rig/systemd/preinit.sh), with a kernel built
# from rig/kernel.fragment plus rig/systemd/kernel.fragment (cached like the plain rig's). In the guest,
# rig/systemd/guest-tests.sh installs PackGuard with hardware/pi/install.sh, runs packguard.service under its
# sandbox against gpio-sim, i2c-stub and softdog, and removes it with hardware/pi/uninstall.sh.
# Prints one line per test and `rig systemd: N passed, M failed`; exits non-zero on any failure.
# The guest's console log is kept in rig/out/systemd-console.log.
#
# Usage: rig/run-systemd.sh
# Environment: PACKGUARD_RIG_CACHE (kernel cache, default /var/cache/packguard-rig),
#              RIG_QEMU_TIMEOUT (seconds, default 900), RIG_ACCEL (default tcg).
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$(pwd -P)
source scripts/lib.sh
started=$(date +%s)
[ $# = 0 ] || { echo "usage: rig/run-systemd.sh" >&2; exit 2; }

ensure_swift
ensure_packages libgpiod-dev libmosquitto-dev pkg-config
# The plain rig's packages, and what the guest runs: systemd, udev and dbus as on a Pi (systemd-run needs the
# bus), python3 for the sandbox probe.
rig_packages=(qemu-system-x86 linux-source-6.1 bc flex bison libelf-dev libssl-dev cpio xz-utils make gcc kmod
    systemd udev dbus python3 util-linux passwd)
missing=()
for package in "${rig_packages[@]}"; do
    dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
done
if [ "${#missing[@]}" -gt 0 ]; then
    echo "==> rig systemd: installing ${missing[*]}"
    as_root apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

echo "==> rig systemd: kernel"
kernel_started=$(date +%s)
kernel_dir=$(rig/build-kernel.sh rig/systemd/kernel.fragment)
kernel_s=$(( $(date +%s) - kernel_started ))

echo "==> rig systemd: build packguard"
out=$repo/rig/out
mkdir -p "$out"
if ! swift build >"$out/systemd-build.log" 2>&1; then  # every product: install.sh installs the siblings too
    tail -30 "$out/systemd-build.log" >&2; echo "rig systemd: swift build failed" >&2; exit 1
fi
tail -1 "$out/systemd-build.log"
bin=$(swift build --show-bin-path)/packguard
[ -x "$bin" ] || { echo "rig systemd: no $bin" >&2; exit 1; }

console=$out/systemd-console.log
: >"$console"
accel=${RIG_ACCEL:-tcg}
echo "==> rig systemd: boot qemu ($accel, 2 CPUs, 1 GiB) with $kernel_dir/bzImage; console in $console"
boot_started=$(date +%s)
set +e
timeout -k 10 "${RIG_QEMU_TIMEOUT:-900}" qemu-system-x86_64 \
    -nodefaults -machine "accel=$accel" -cpu max -smp 2 -m 1024 -no-reboot \
    -display none -monitor none -serial "file:$console" \
    -kernel "$kernel_dir/bzImage" \
    -fsdev "local,id=root,path=/,security_model=none,readonly=on,multidevs=remap" \
    -device virtio-9p-pci,fsdev=root,mount_tag=hostroot \
    -append "console=ttyS0 loglevel=3 panic=-1 root=hostroot rootfstype=9p rootflags=trans=virtio,version=9p2000.L,msize=262144,cache=loose ro init=$repo/rig/systemd/preinit.sh systemd.unit=rig.target systemd.show_status=error fstab=no PACKGUARD_BIN=$bin RIG_KERNEL_DIR=$kernel_dir RIG_DIR=$repo/rig" \
    >"$out/systemd-qemu.log" 2>&1 &
qemu_pid=$!
tail -n +1 -F --pid=$qemu_pid "$console" 2>/dev/null | tr -d '\r' | while IFS= read -r line; do
    case "$line" in
        "RIG-TEST ok "*) echo "  ok    ${line#RIG-TEST ok }" ;;
        "RIG-TEST FAIL "*) echo "  FAIL  ${line#RIG-TEST FAIL }" ;;
        "RIG-NOTE "*) echo "        ${line#RIG-NOTE }" ;;
        "RIG-BOOTED "*|"RIG-SETUP "*|"RIG-SETUP-FAILED "*|"RIG-WATCHDOG "*|"RIG-PREINIT "*) echo "  ${line}" ;;
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
    fail "guest finished in time" "qemu killed after ${RIG_QEMU_TIMEOUT:-900} s"
elif [ "$qemu_status" != 0 ]; then
    fail "qemu ran" "exit status $qemu_status: $(tail -5 "$out/systemd-qemu.log")"
fi
grep -q '^RIG-SETUP-FAILED' <<<"$log" && fail "guest setup" "$(grep '^RIG-SETUP-FAILED' <<<"$log")"
grep -q '^RIG-GUEST-DONE' <<<"$log" || fail "guest ran every test" "no RIG-GUEST-DONE: the guest crashed or hung (see $console)"

# The last test ends the guest: with --hw-watchdog packguard the service owns softdog; frozen, the guest resets.
name="hardware watchdog owned by packguard.service: SIGSTOP of the service -> guest reset by softdog"
if grep -q '^RIG-WATCHDOG frozen' <<<"$log"; then
    after=$(sed -n '/^RIG-WATCHDOG frozen/,$p' <<<"$log")
    timeout_s=$(sed -n 's/^RIG-WATCHDOG frozen.* timeoutS=\([0-9]*\).*/\1/p' <<<"$log" | head -1)
    if grep -q '^RIG-WATCHDOG survived' <<<"$after"; then
        fail "$name" "the guest was still running 20 s later"
    elif reset=$(grep -m1 'softdog: Initiating system reboot' <<<"$after") && [ "$qemu_status" = 0 ]; then
        kernel_time() { sed -n 's/^\[ *\([0-9.]*\)\].*/\1/p' <<<"$1"; }
        frozen_at=$(kernel_time "$(grep -m1 'rig: packguard.service main pid .* frozen with SIGSTOP' <<<"$after")")
        reset_at=$(kernel_time "$reset")
        after_s=$(awk -v a="$frozen_at" -v b="$reset_at" 'BEGIN { printf (a == "" ? "?" : "%.2f"), b - a }')
        # timeoutS runs from the last pet, and the daemon pets at most once a second.
        if awk -v t="$after_s" -v w="$timeout_s" 'BEGIN { exit !(t >= w - 1.5 && t <= w + 2) }'; then
            echo "  ok    $name | ${after_s} s after the freeze (timeoutS ${timeout_s}), qemu exited on the reset"
            passed=$((passed + 1))
        else
            fail "$name" "reset ${after_s} s after the freeze, expected about ${timeout_s} s (timeoutS)"
        fi
    else
        fail "$name" "no 'softdog: Initiating system reboot' after the freeze"
    fi
else
    fail "$name" "the test did not start"
fi

multi_user=$(sed -n 's/^RIG-BOOTED multi-user=\([0-9.]*\).*/\1/p' <<<"$log" | head -1)
echo "rig systemd: kernel ${kernel_s} s ($( [ "$kernel_s" -lt 5 ] && echo reused || echo built)), multi-user.target at ${multi_user:-?} s of guest uptime, guest run ${guest_s} s, total $(( $(date +%s) - started )) s"
if [ "$failed" -gt 0 ]; then echo "rig systemd: console log kept in $console"; fi
echo "rig systemd: $passed passed, $failed failed"
[ "$failed" = 0 ] && [ "$passed" -gt 0 ]
