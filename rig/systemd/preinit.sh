#!/bin/bash
# First process of the systemd rig guest (rig/run-systemd.sh boots the kernel with init= this script). The
# kernel mounted the host's root file system read-only over virtio-9p. This script gives the guest a
# writable root without touching the host: overlayfs, the 9p root as the lower layer and a tmpfs as the
# upper one, so that hardware/pi/install.sh can create users, groups, udev rules and units for real and
# every change vanishes with the guest. It writes the guest's own units into that overlay (rig.target
# and rig-tests.service, which runs rig/systemd/guest-tests.sh), pivots into it and execs systemd as PID 1.
#
# Environment, from the kernel command line: PACKGUARD_BIN, RIG_KERNEL_DIR, RIG_DIR (the clone's rig/).
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
fail() {
    echo "RIG-SETUP-FAILED $*"
    echo b >/proc/sysrq-trigger 2>/dev/null
    exit 1  # PID 1 exits: the kernel panics, panic=-1 resets, qemu (-no-reboot) exits
}
mount -t proc proc /proc || fail "mount /proc"
# A mount point on the read-only root: /mnt unless the clone or the binary lives under it.
base=/mnt
case " $RIG_DIR/ $PACKGUARD_BIN $RIG_KERNEL_DIR/" in *" /mnt/"*) base=/media ;; esac
[ -d "$base" ] || fail "no $base directory on the host to mount the overlay's tmpfs on"
mount -t tmpfs -o mode=0755,size=75% rig-upper "$base" || fail "tmpfs on $base"
mkdir -p "$base/upper" "$base/work" "$base/root"
mount -t overlay -o "lowerdir=/,upperdir=$base/upper,workdir=$base/work" rig-root "$base/root" \
    || fail "overlayfs over the 9p root (CONFIG_OVERLAY_FS?)"
root=$base/root
# Fresh /tmp and /var/tmp: systemd-tmpfiles would otherwise empty the host's copies at boot, one whiteout
# per file (tens of seconds under emulation). Unless the clone, the binary or the kernel lives there (a CI
# clone under /tmp, say): then that directory stays the host's, seen through the overlay, and tmpfiles is told
# not to empty /tmp and /var/tmp at all (an empty tmp.conf in /etc overrides the package's).
for dir in /tmp /var/tmp; do
    case " $RIG_DIR/ $PACKGUARD_BIN $RIG_KERNEL_DIR/" in
        *" $dir/"*)
            mkdir -p "$root/etc/tmpfiles.d" && : >"$root/etc/tmpfiles.d/tmp.conf" || fail "tmpfiles override for $dir"
            ;;
        *) mount -t tmpfs -o mode=1777 "rig${dir//\//-}" "$root$dir" || fail "tmpfs on $dir" ;;
    esac
done

# The guest is a minimal system, not a copy of the host's: none of the host's enabled units, mounts or
# gettys. The packages' own static units (journald, udevd, ...) stay.
rm -rf "$root"/etc/systemd/system/*.wants "$root"/etc/systemd/system/default.target
# A host that is itself a container leaves markers that would make systemd believe the guest is one too
# (and then ignore the kernel command line): the guest is a virtual machine.
rm -f "$root/.dockerenv" "$root/run/.containerenv" "$root/run/systemd/container"
: >"$root/etc/fstab"
echo packguard-rig >"$root/etc/hostname"
rm -f "$root/etc/machine-id"; : >"$root/etc/machine-id"  # empty: systemd makes a transient one
for unit in getty@.service serial-getty@.service systemd-logind.service getty.target console-getty.service \
    systemd-timesyncd.service apt-daily.timer apt-daily-upgrade.timer e2scrub_all.timer fstrim.timer \
    man-db.timer dpkg-db-backup.timer systemd-tmpfiles-clean.timer systemd-networkd.service \
    systemd-resolved.service cron.service ssh.service rsyslog.service postgresql.service \
    systemd-pcrphase.service systemd-pcrphase-sysinit.service systemd-firstboot.service; do
    ln -sf /dev/null "$root/etc/systemd/system/$unit"
done
mkdir -p "$root/etc/systemd/journald.conf.d" "$root/etc/packguard-rig"
printf '[Journal]\nStorage=volatile\nForwardToConsole=no\nRateLimitBurst=0\n' >"$root/etc/systemd/journald.conf.d/rig.conf"
printf 'PACKGUARD_BIN=%s\nRIG_KERNEL_DIR=%s\nRIG_DIR=%s\n' "$PACKGUARD_BIN" "$RIG_KERNEL_DIR" "$RIG_DIR" \
    >"$root/etc/packguard-rig/env"
cat >"$root/etc/systemd/system/rig.target" <<'EOF'
[Unit]
Description=PackGuard rig: multi-user, then the tests
Requires=multi-user.target
After=multi-user.target
Wants=rig-tests.service
AllowIsolate=yes
# A guest that cannot boot resets (qemu exits) instead of waiting for rig/run-systemd.sh's timeout.
JobTimeoutSec=180
JobTimeoutAction=reboot-force
EOF
cat >"$root/etc/systemd/system/rig-tests.service" <<EOF
[Unit]
Description=PackGuard rig tests (rig/systemd/guest-tests.sh)
After=multi-user.target
# The last test ends in a watchdog reset; should the guest survive it, or a test hang, it resets (qemu runs
# with -no-reboot and exits; this kernel has no ACPI to power off with).
SuccessAction=reboot-force
FailureAction=reboot-force

[Service]
Type=exec
RuntimeMaxSec=800
EnvironmentFile=/etc/packguard-rig/env
ExecStart=/bin/bash $RIG_DIR/systemd/guest-tests.sh
StandardInput=null
StandardOutput=tty
StandardError=inherit
TTYPath=/dev/ttyS0
TTYReset=no
TTYVHangup=no
EOF
# The upper layer stays visible at /.rig-upper: exactly what the guest changed, for the uninstall tests (the
# 9p lower layer is the live host, where other work may install packages meanwhile).
mkdir -p "$root/.rig-upper" "$root/.rig-old-root"
mount --bind "$base/upper" "$root/.rig-upper" || fail "bind mount of the upper layer"
umount /proc
cd "$root" || fail "cd $root"
pivot_root . .rig-old-root || fail "pivot_root"
# The overlay holds its own references to both layers: the old root can go from the guest's view.
umount -l /.rig-old-root 2>/dev/null
rmdir /.rig-old-root 2>/dev/null
echo "RIG-PREINIT overlay root ready, starting systemd"
exec chroot . /lib/systemd/systemd
