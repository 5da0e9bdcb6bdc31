#!/bin/bash
# PID 1 of the rig's qemu guest (started by rig/run.sh through `init=`). The root file system is the
# host's, read-only over virtio-9p. This script mounts the kernel file systems, makes a scratch tmpfs,
# creates a gpio-sim chip with lines named like a Raspberry Pi (GPIO0..GPIO27), loads i2c-stub as an
# ADS1115 at 0x48, runs rig/guest-tests.sh and powers the guest off (qemu runs with -no-reboot, so a
# reset, including the watchdog's, ends qemu).
#
# Environment, from the kernel command line: PACKGUARD_BIN (the packguard binary), RIG_KERNEL_DIR
# (holds i2c-stub.ko), RIG_SCRATCH (where the tmpfs goes; never over the clone or the binary); in perf mode
# (rig/run.sh's default) also PACKGUARD_PERF_BIN (a release build) and RIG_PERF_EDGES, passed on to
# guest-tests.sh, and RIG_PERF_ONLY (1: rig/run.sh --perf-only, only the latency measurements run).
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
export HOME=/root LANG=C.UTF-8
rig=$(cd "$(dirname "$0")" && pwd)
scratch=${RIG_SCRATCH:-/tmp}

finish() {
    sync
    reboot -f >/dev/null 2>&1
    # Should reboot(2) have failed, PID 1 exiting panics the kernel; panic=-1 resets and qemu exits.
    exit 1
}

setup_failed() {
    echo "RIG-SETUP-FAILED $*"
    finish
}

mount -t proc proc /proc || setup_failed "mount /proc"
mount -t sysfs sysfs /sys || setup_failed "mount /sys"
mount -t devtmpfs devtmpfs /dev || setup_failed "mount /dev"
mount -t configfs configfs /sys/kernel/config || setup_failed "mount configfs"
mount -t tmpfs -o mode=1777 tmpfs "$scratch" || setup_failed "mount tmpfs on $scratch"
# A writable /run for reboot(8) (systemctl's, which writes there), unless the clone lives under it.
case " $rig/ ${PACKGUARD_BIN:-} ${PACKGUARD_PERF_BIN:-} " in *" /run/"*) ;; *) mount -t tmpfs -o mode=0755 tmpfs /run ;; esac
echo "RIG-BOOTED uptime=$(cut -d' ' -f1 /proc/uptime) kernel=$(uname -r)"

# The control socket is chowned to group "packguard" (as on the Pi); rig/guest-control.sh needs group
# packguard-admin and two real users: pg-operator (in packguard) and pg-admin (in packguard and
# packguard-admin). The guest gets scratch copies of /etc/group and /etc/passwd with them, bind-mounted
# over the host's files, which stay untouched.
awk -F: -v OFS=: '
    $1 == "packguard" { pg = 1; $4 = $4 ($4 == "" ? "" : ",") "pg-operator,pg-admin" }
    $1 == "packguard-admin" { admin = 1; $4 = $4 ($4 == "" ? "" : ",") "pg-admin" }
    { print }
    END {
        if (!pg) print "packguard:x:61990:pg-operator,pg-admin"
        if (!admin) print "packguard-admin:x:61991:pg-admin"
        print "pg-operator:x:61992:"
        print "pg-admin:x:61993:"
    }' /etc/group >"$scratch/group" \
    && { cat /etc/passwd; echo "pg-operator:x:61992:61992:rig operator:/nonexistent:/usr/sbin/nologin"
         echo "pg-admin:x:61993:61993:rig admin:/nonexistent:/usr/sbin/nologin"; } >"$scratch/passwd" \
    && mount --bind "$scratch/group" /etc/group && mount --bind "$scratch/passwd" /etc/passwd \
    || setup_failed "rig users and groups (packguard, packguard-admin, pg-operator, pg-admin)"

# gpio-sim: one chip, 28 lines named GPIO0..GPIO27 at offsets 0..27, like the Pi's pinctrl chip.
sim_config=/sys/kernel/config/gpio-sim/rig
mkdir "$sim_config" "$sim_config/gpio-bank0" || setup_failed "gpio-sim configfs (CONFIG_GPIO_SIM?)"
echo "pinctrl-rig (gpio-sim)" >"$sim_config/gpio-bank0/label"
echo 28 >"$sim_config/gpio-bank0/num_lines"
for i in $(seq 0 27); do
    mkdir "$sim_config/gpio-bank0/line$i" && echo "GPIO$i" >"$sim_config/gpio-bank0/line$i/name" \
        || setup_failed "gpio-sim line $i"
done
echo 1 >"$sim_config/live" || setup_failed "gpio-sim live"
export SIM_CHIP SIM
SIM_CHIP=$(cat "$sim_config/gpio-bank0/chip_name")
SIM=/sys/bus/gpio/devices/$SIM_CHIP
[ -d "$SIM/sim_gpio0" ] || setup_failed "no $SIM/sim_gpio0"

# i2c-stub answers at 0x48 like the ADS1115; it is the only I2C adapter, find its /dev/i2c-N.
insmod "$RIG_KERNEL_DIR/i2c-stub.ko" chip_addr=0x48 || setup_failed "insmod i2c-stub"
export I2C_BUS=
for adapter in /sys/bus/i2c/devices/i2c-*; do
    [ "$(cat "$adapter/name" 2>/dev/null)" = "SMBus stub driver" ] && I2C_BUS=/dev/$(basename "$adapter")
done
[ -n "$I2C_BUS" ] && [ -c "$I2C_BUS" ] || setup_failed "no /dev/i2c-N for i2c-stub"
[ -c /dev/watchdog ] || setup_failed "no /dev/watchdog (softdog)"
echo "RIG-SETUP gpio=/dev/$SIM_CHIP ($SIM) i2c=$I2C_BUS watchdog=/dev/watchdog uptime=$(cut -d' ' -f1 /proc/uptime)"

export PACKGUARD_BIN SCRATCH=$scratch RIG_DIR=$rig
if [ "${RIG_PERF_ONLY:-0}" = 1 ]; then
    bash "$rig/../Benchmarks/reflex/measure-in-guest.sh" --packguard "$PACKGUARD_PERF_BIN" --sim "$SIM" --scratch "$scratch"
    echo "RIG-GUEST-DONE perf only"
    finish
fi
bash "$rig/guest-tests.sh"
finish
