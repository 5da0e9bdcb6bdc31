#!/usr/bin/python3
"""Runs inside packguard.service's sandbox (rig/systemd/guest-tests.sh starts it with `systemd-run` and every
sandbox and identity setting of the installed unit) and tries what the sandbox must refuse.
Prints `PROBE ok <name> | <detail>` or `PROBE FAIL <name> | <detail>` per check.
Usage: sandbox-probe.py SECRET_FILE_UNDER_HOME GPIO_CHIP_DEVICE"""
import errno
import mmap
import os
import socket
import sys

secret, gpiochip = sys.argv[1], sys.argv[2]


def report(good, name, detail):
    print(f"PROBE {'ok' if good else 'FAIL'} {name} | {detail}", flush=True)


def refused(name, action, errnos):
    try:
        result = action()
    except OSError as error:
        report(error.errno in errnos, name, f"refused: {errno.errorcode.get(error.errno, error.errno)} ({error.strerror})")
        return
    report(False, name, f"allowed: {result!r}")


def inet():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM):
        return "an AF_INET socket"


refused("no AF_INET socket", inet, {errno.EAFNOSUPPORT, errno.EPERM, errno.EACCES})
try:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM):
        report(True, "AF_UNIX sockets still work (the control socket)", "socket(AF_UNIX) succeeded")
except OSError as error:
    report(False, "AF_UNIX sockets still work (the control socket)", str(error))


def read_secret():
    with open(secret) as file:
        return file.read()


refused(f"cannot read {secret}", read_secret, {errno.EACCES, errno.EPERM, errno.ENOENT})
refused("cannot list /home", lambda: os.listdir("/home"), {errno.EACCES, errno.EPERM})


def write_etc():
    with open("/etc/packguard-sandbox-probe", "w") as file:
        return file.write("x")


refused("cannot write /etc", write_etc, {errno.EROFS, errno.EACCES, errno.EPERM})
refused("cannot write /usr/local/bin", lambda: os.mkdir("/usr/local/bin/packguard-probe"), {errno.EROFS, errno.EACCES, errno.EPERM})

me = os.getuid()
pids = [entry for entry in os.listdir("/proc") if entry.isdigit()]
foreign = [pid for pid in pids if os.stat(f"/proc/{pid}").st_uid != me]
report(not foreign and "1" not in pids and len(pids) > 0, "/proc shows only its own user's processes",
       f"{len(pids)} visible, all uid {me}, PID 1 hidden" if not foreign and "1" not in pids
       else f"foreign: {foreign[:10]}, PID 1 visible: {'1' in pids}")
report(not os.path.exists("/proc/sys/kernel"), "/proc has only process directories (ProcSubset=pid)",
       "/proc/sys absent" if not os.path.exists("/proc/sys/kernel") else "/proc/sys/kernel visible")


def write_execute_mapping():
    region = mmap.mmap(-1, mmap.PAGESIZE, prot=mmap.PROT_READ | mmap.PROT_WRITE | mmap.PROT_EXEC)
    region.close()
    return "a writable and executable mapping"


refused("W+X memory refused (mmap PROT_WRITE|PROT_EXEC)", write_execute_mapping, {errno.EPERM, errno.EACCES})
refused("/dev/kmsg closed to the service", lambda: os.close(os.open("/dev/kmsg", os.O_RDONLY)),
        {errno.EPERM, errno.EACCES, errno.ENOENT})
try:
    os.close(os.open(gpiochip, os.O_RDWR))
    report(True, f"{gpiochip} opens (DeviceAllow, group gpio)", "open O_RDWR succeeded")
except OSError as error:
    report(False, f"{gpiochip} opens (DeviceAllow, group gpio)", str(error))
