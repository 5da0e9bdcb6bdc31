#!/usr/bin/env python3
"""Drives `packguard simulate` through a pseudo-terminal: key presses must change the simulated
lines and the panel, and quitting must leave the terminal clean. Usage: test-simulate-pty.py BIN"""
import sys
import pexpect

binary = sys.argv[1]
results = []


def check(name, condition, detail=""):
    results.append((name, condition))
    print(f"{'ok  ' if condition else 'FAIL'} {name}{(': ' + detail) if detail and not condition else ''}")


child = pexpect.spawn(binary, ["simulate"], dimensions=(50, 120), timeout=15, encoding="utf-8")
try:
    child.expect("PackGuard simulator")
    child.expect(r"chargeEnable\s+INACTIVE\s+GPIO17\s+high")
    check("panel shows the BMS inputs released at start", True)
    child.expect(r"chargeRelay\s+open")
    check("panel shows the relays open at start", True)

    child.send("c")
    child.expect(r"chargeEnable\s+ACTIVE\s+GPIO17\s+low")
    check("'c' asserts Charge Enable (GPIO17 pulled low)", True)
    child.send("d")
    child.expect(r"dischargeEnable\s+ACTIVE\s+GPIO27\s+low")
    check("'d' asserts Discharge Enable (GPIO27 pulled low)", True)
    child.expect(r"chargeRelay\s+CLOSED\s+GPIO16\s+high", timeout=15)
    child.expect(r"dischargeRelay\s+CLOSED\s+GPIO20\s+high", timeout=5)
    check("both relays close after the start-up hold and qualification", True)

    child.send("d")
    child.expect(r"dischargeRelay\s+open\s+GPIO20\s+low")
    child.expect("discharge relay opened: Discharge Enable \\(BMS pin 3\\) released")
    check("'d' again releases Discharge Enable: relay open with its reason", True)

    child.send("?")
    child.expect("toggle the balancing switch")
    check("'?' shows the keys", True)

    child.send("o")
    child.expect(r"state: FORCEDOFF")
    child.expect(r"chargeRelay\s+open")
    check("'o' forces every relay off", True)

    child.send("q")
    child.expect(pexpect.EOF, timeout=10)
    tail = child.before or ""
    check("quitting restores the cursor and the main screen", "\x1b[?25h\x1b[?1049l" in tail, repr(tail[-80:]))
    child.close()
    check("quit exits with status 0", child.exitstatus == 0, f"status {child.exitstatus}")
except (pexpect.TIMEOUT, pexpect.EOF) as error:
    check("panel interaction", False, f"{type(error).__name__}; last screen: {child.before[-600:] if child.before else ''!r}")
    child.close(force=True)

passed = sum(1 for _, ok in results if ok)
failed = len(results) - passed
print(f"simulate pty: {passed} passed, {failed} failed")
sys.exit(1 if failed else 0)
