#!/usr/bin/env bash
# What PackGuard costs while nothing happens, and how fast it starts safe: runs the release build
# of `packguard run --simulate` (the real daemon and control loop on the mocked chip, whose
# simulated BMS keeps both enables asserted) with temporary socket and state paths, under a
# systemd-like supervisor (NOTIFY_SOCKET, WATCHDOG_USEC=3000000 as hardware/pi/packguard.service's
# WatchdogSec=3s), and measures:
#   - exec -> "outputs requested off" log line (every output requested at its off level)
#   - exec -> READY=1 on NOTIFY_SOCKET (every input read), and -> the "ready:" log line
#   - CPU seconds (utime + stime from /proc/PID/stat) over IDLE_SECONDS (default 60) with no input
#     change, starting once both relays have closed, as a percentage of one core
#   - peak RSS (VmHWM from /proc/PID/status) at the end, and SIGTERM -> exit
#   - this machine's floor: the CPU of a C program that only wakes as often (22 times a second), over the
#     same window (a VM's timer wake-ups alone can cost more than the 0.1 % target)
# Daemon lines are timestamped as they arrive on its standard output (it writes each with one
# write(2), unbuffered). Prints a table; exit 1 if the daemon did not come up or stop cleanly.
#
# Usage: scripts/measure-idle.sh            (IDLE_SECONDS=N to change the window; ~2 min in all)
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh
ensure_swift
ensure_packages libgpiod-dev libmosquitto-dev pkg-config python3

echo "==> swift build -c release --static-swift-stdlib --product packguard, packguard-daemon (as hardware/pi/install.sh builds them)"
swift build -c release --static-swift-stdlib --product packguard 2>&1 | tail -1
swift build -c release --static-swift-stdlib --product packguard-daemon 2>&1 | tail -1
bin=$(swift build -c release --static-swift-stdlib --show-bin-path)/packguard
[ -x "$bin" ] || { echo "measure-idle: no $bin" >&2; exit 1; }

tmp=$(mktemp -d /tmp/packguard-idle.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
python3 - "$bin" "$tmp" "${IDLE_SECONDS:-60}" <<'PY'
import os, select, signal, socket, subprocess, sys, time

binary, tmp, idle_seconds = sys.argv[1], sys.argv[2], float(sys.argv[3])
ticks = os.sysconf("SC_CLK_TCK")
notify_path = os.path.join(tmp, "notify.sock")
notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
notify.bind(notify_path)
notify.setblocking(False)

def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / ticks  # utime, stime (fields 14 and 15)

def run_ns(pid):
    """Time on CPU of every thread, in ns (schedstat: exact, where /proc/PID/stat counts ticks)."""
    return sum(ns for ns, _ in thread_stats(pid).values())

def thread_stats(pid):
    """Each thread's (ns on CPU, times scheduled in) from schedstat, by 'tid name'."""
    stats = {}
    for task in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{task}/schedstat") as f:
                fields = f.read().split()
            with open(f"/proc/{pid}/task/{task}/comm") as f:
                name = f.read().strip()
            stats[f"{task} {name}"] = (int(fields[0]), int(fields[2]))
        except (FileNotFoundError, ProcessLookupError):
            pass
    return stats

def wakes(pid):
    return sum(count for _, count in thread_stats(pid).values())

def status_kib(pid, key):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    return None

env = dict(os.environ, NOTIFY_SOCKET=notify_path, WATCHDOG_USEC="3000000")
env.pop("WATCHDOG_PID", None)
command = [binary, "run", "--simulate", "--control-socket", os.path.join(tmp, "control.sock"),
           "--state-directory", os.path.join(tmp, "state")]
started = time.monotonic()
daemon = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env, bufsize=0)
out = daemon.stdout.fileno()
marks, log, buffer, ready_notify = {}, [], b"", None
closed = set()
def pump(timeout):
    """Reads daemon output and notify datagrams for up to `timeout` s; False at EOF."""
    global buffer, ready_notify
    readable, _, _ = select.select([out, notify], [], [], timeout)
    now = time.monotonic()
    if notify in readable:
        while True:
            try:
                message = notify.recv(4096).decode()
            except BlockingIOError:
                break
            if ready_notify is None and "READY=1" in message.split("\n"):
                ready_notify = now - started
    if out in readable:
        chunk = os.read(out, 65536)
        if not chunk:
            return False
        buffer += chunk
        while b"\n" in buffer:
            raw, buffer = buffer.split(b"\n", 1)
            line = raw.decode(errors="replace")
            log.append((now - started, line))
            for key, text in (("outputs", "outputs requested off"), ("ready", "ready:")):
                if key not in marks and text in line:
                    marks[key] = now - started
            for relay in ("charge relay closed", "discharge relay closed"):
                if relay in line:
                    closed.add(relay)
    return True

def fail(why):
    print(f"measure-idle: {why}", file=sys.stderr)
    for t, line in log[-15:]:
        print(f"  {t * 1000:9.1f} ms  {line}", file=sys.stderr)
    if daemon.poll() is None:
        daemon.kill()
    sys.exit(1)

deadline = started + 20
while len(closed) < 2 or ready_notify is None or len(marks) < 2:
    if time.monotonic() > deadline or not pump(0.05):
        fail("the daemon did not start and close both relays within 20 s")
relays_closed = time.monotonic() - started

# Idle: no input changes from here on.
cpu_before, ns_before, idle_start = cpu_seconds(daemon.pid), run_ns(daemon.pid), time.monotonic()
threads_before = thread_stats(daemon.pid)
lines_before = len(log)
while time.monotonic() - idle_start < idle_seconds:
    if not pump(min(1.0, idle_seconds - (time.monotonic() - idle_start))):
        fail("the daemon exited while idle")
    if daemon.poll() is not None:
        fail("the daemon exited while idle")
cpu_after, ns_after, idle_end = cpu_seconds(daemon.pid), run_ns(daemon.pid), time.monotonic()
threads_after = thread_stats(daemon.pid)
cpu_total = cpu_after
hwm, rss = status_kib(daemon.pid, "VmHWM"), status_kib(daemon.pid, "VmRSS")
threads = status_kib(daemon.pid, "Threads")
idle_lines = len(log) - lines_before

term = time.monotonic()
daemon.send_signal(signal.SIGTERM)
while pump(0.05):
    if time.monotonic() - term > 10:
        fail("no exit within 10 s of SIGTERM")
code = daemon.wait()
exit_ms = (time.monotonic() - term) * 1000

idle_cpu = cpu_after - cpu_before
window = idle_end - idle_start

# This machine's floor: a C program that does nothing but wake as often as the idle daemon does (every
# 45 ms, 22 times a second), measured the same way over the same window.
import shutil
compiler = shutil.which("cc") or shutil.which("clang") or shutil.which("gcc")
floor_percent = None
if compiler:
    source, floor_binary = os.path.join(tmp, "wake.c"), os.path.join(tmp, "wake")
    with open(source, "w") as f:
        f.write("#include <poll.h>\nint main(void) { for (;;) poll(0, 0, 45); }\n")
    subprocess.run([compiler, "-O2", source, "-o", floor_binary], check=True)
    floor = subprocess.Popen([floor_binary])
    time.sleep(1)
    floor_before, floor_wakes_before, floor_start = run_ns(floor.pid), wakes(floor.pid), time.monotonic()
    time.sleep(window)
    floor_after, floor_wakes_after, floor_end = run_ns(floor.pid), wakes(floor.pid), time.monotonic()
    floor_wakes = floor_wakes_after - floor_wakes_before
    floor.kill()
    floor.wait()
    floor_percent = 100 * (floor_after - floor_before) / 1e9 / (floor_end - floor_start)
    floor_per_wake_us = (floor_after - floor_before) / 1e3 / max(1, floor_wakes)
percent = 100 * idle_cpu / window
idle_run = (ns_after - ns_before) / 1e9
run_percent = 100 * idle_run / window
print()
print(f"packguard run --simulate ({binary}), idle window {window:.1f} s")
print(f"| Measure | Value |")
print(f"|---|---|")
print(f"| exec -> outputs requested off (log line) | {marks['outputs'] * 1000:.1f} ms |")
print(f"| exec -> READY=1 (NOTIFY_SOCKET) | {ready_notify * 1000:.1f} ms |")
print(f"| exec -> 'ready:' log line | {marks['ready'] * 1000:.1f} ms |")
print(f"| exec -> both relays closed (3 s hold + 0.5 s qualify) | {relays_closed * 1000:.0f} ms |")
print(f"| CPU while idle (utime+stime, /proc/PID/stat) | {idle_cpu:.2f} s in {window:.1f} s = {percent:.3f} % of one core (target < 0.1 %) |")
print(f"| CPU while idle (every thread's schedstat) | {idle_run * 1000:.1f} ms in {window:.1f} s = {run_percent:.3f} % of one core |")
if floor_percent is not None:
    print(f"| this machine's floor: a C program that only wakes 22 times a second (schedstat) | {floor_percent:.3f} % of one core, {floor_wakes / window:.1f} wakes/s, {floor_per_wake_us:.0f} µs per wake |")
for key in sorted(threads_after):
    ns0, n0 = threads_before.get(key, (0, 0))
    ns1, n1 = threads_after[key]
    if n1 > n0:
        print(f"| thread {key} while idle | {(ns1 - ns0) / 1e6:.1f} ms, {(n1 - n0) / window:.1f} wakes/s, {(ns1 - ns0) / 1e3 / (n1 - n0):.0f} µs per wake |")
print(f"| CPU from exec to end of idle window | {cpu_total:.2f} s |")
print(f"| peak RSS (VmHWM) | {hwm / 1024:.1f} MiB (VmRSS {rss / 1024:.1f} MiB, {threads} threads) |")
print(f"| log lines while idle | {idle_lines} |")
print(f"| SIGTERM -> exit | {exit_ms:.0f} ms, status {code} |")
print(f"(/proc/PID/stat counts CPU time in ticks of 1/{ticks} s; schedstat in ns)")

# Instructions per wake (callgrind): a count that does not move with the VM's timer and cache noise,
# so that a change to the idle path shows as a number. Valgrind 3.19 cannot read the Swift binary's
# DWARF, so it runs a copy without debug information. Not a pass/fail measure: it reports why when it cannot run.
def instructions_per_wake():
    tools = [shutil.which(name) for name in ("valgrind", "callgrind_control", "objcopy")]
    if None in tools:
        return "not measured: needs valgrind and objcopy (apt install valgrind binutils)"
    valgrind, control, objcopy = tools
    daemon_binary = os.path.join(os.path.dirname(binary), "packguard-daemon")
    stripped = os.path.join(tmp, "packguard-daemon-nodebug")
    subprocess.run([objcopy, "--strip-debug", daemon_binary, stripped], check=True)
    out_file = os.path.join(tmp, "callgrind.out")
    traced = subprocess.Popen([valgrind, "--tool=callgrind", f"--callgrind-out-file={out_file}",
                               "--log-file=" + os.path.join(tmp, "valgrind.log"), stripped, "run", "--simulate",
                               "--control-socket", os.path.join(tmp, "cg.sock"), "--state-directory", os.path.join(tmp, "cg-state")],
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env)
    try:
        seen, text, give_up = 0, b"", time.monotonic() + 90
        while seen < 2:
            if time.monotonic() > give_up or traced.poll() is not None:
                return "not measured: the daemon under callgrind did not close both relays within 90 s"
            readable, _, _ = select.select([traced.stdout], [], [], 1)
            while True:  # as systemd would, read what it sends
                try:
                    notify.recv(4096)
                except BlockingIOError:
                    break
            if readable:
                text += os.read(traced.stdout.fileno(), 65536)
                seen = sum(relay in text for relay in (b"charge relay closed", b"discharge relay closed"))
        subprocess.run([control, "-z", str(traced.pid)], check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        counted = time.monotonic() + 10
        while time.monotonic() < counted:  # systemd reads what the daemon sends: so does this
            readable, _, _ = select.select([notify, traced.stdout], [], [], 0.5)
            if notify in readable:
                while True:
                    try:
                        notify.recv(4096)
                    except BlockingIOError:
                        break
            if traced.stdout in readable and not os.read(traced.stdout.fileno(), 65536):
                return "not measured: the daemon under callgrind exited"
        subprocess.run([control, "-d", str(traced.pid)], check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    finally:
        traced.kill()
        traced.wait()
    dumps = sorted(f for f in os.listdir(tmp) if f.startswith("callgrind.out."))
    if not dumps:
        return "not measured: callgrind wrote no dump"
    total, waits, callee, names = 0, 0, None, {}
    with open(os.path.join(tmp, dumps[-1])) as f:
        for line in f:
            if line.startswith("summary:") or line.startswith("totals:"):
                total = int(line.split()[1])
            elif line.startswith("fn=") or line.startswith("cfn="):
                # Function names are compressed: "(id) name" the first time, "(id)" after (fn= and cfn= share ids).
                spec = line.split("=", 1)[1].strip()
                ident, _, name = spec.partition(" ")
                if name:
                    names[ident] = name
                if line.startswith("cfn="):
                    callee = names.get(ident, spec)
            elif line.startswith("calls=") and callee is not None and "pg_epoll_wait_events" in callee:
                waits += int(line.split("=")[1].split()[0])
    if waits == 0:
        return "not measured: no control-loop wait in the dump"
    return f"{total / waits:,.0f} instructions per control-loop wake, every thread ({total:,} in {waits} waits over 10 s)"

print(f"| instructions per wake (callgrind, 10 s idle) | {instructions_per_wake()} |")
if code != 0:
    sys.exit(1)
PY
