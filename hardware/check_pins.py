#!/usr/bin/env python3
"""Fail when the default config, the wiring harnesses and the hardware pin tables disagree about a pin.

Sources compared (paths relative to the repository root):
  hardware/pi/packguard.yaml   default config: line names, polarity, bias, and the header/BMS pin comments
  hardware/pins.csv            the hardware pin table (one row per signal)
  hardware/pi/config.txt       the firmware lines that hold the relay outputs low from early boot
  hardware/spice/heartbeat-pump.lib   the heartbeat charge pump's design rate (design_min_toggle_hz)
  wiring/*.yml                 WireViz harnesses: the Pi header, the Orion main I/O, the Wifi Connect module
  wiring/README.md, hardware/README.md   every markdown table with GPIO and Header columns
  wiring/precharge.yml, hardware/precharge.md   the precharge relay, resistor and bus sense; its pin table
  wiring/can-tap.yml           the CAN HAT's stub on the Orion-Wifi Connect pair: same pins, pair not crossed

Usage:
  check_pins.py [--root DIR]   check; exit 0 when everything agrees, 1 listing each disagreement
  check_pins.py --self-test    mutate copies of the sources one way at a time and prove each is caught
Needs Python 3 and PyYAML only.
"""
import argparse
import csv
import re
import shutil
import sys
import tempfile
from collections import defaultdict
from pathlib import Path

import yaml

# Raspberry Pi 40-pin header (all models with a 40-pin header): physical pin -> BCM GPIO or power.
HEADER = {
    1: "3V3", 2: "5V", 3: "GPIO2", 4: "5V", 5: "GPIO3", 6: "GND", 7: "GPIO4", 8: "GPIO14",
    9: "GND", 10: "GPIO15", 11: "GPIO17", 12: "GPIO18", 13: "GPIO27", 14: "GND", 15: "GPIO22",
    16: "GPIO23", 17: "3V3", 18: "GPIO24", 19: "GPIO10", 20: "GND", 21: "GPIO9", 22: "GPIO25",
    23: "GPIO11", 24: "GPIO8", 25: "GND", 26: "GPIO7", 27: "GPIO0", 28: "GPIO1", 29: "GPIO5",
    30: "GND", 31: "GPIO6", 32: "GPIO12", 33: "GPIO13", 34: "GND", 35: "GPIO19", 36: "GPIO16",
    37: "GPIO26", 38: "GPIO20", 39: "GND", 40: "GPIO21",
}
GPIO_TO_HEADER = {v: k for k, v in HEADER.items() if v.startswith("GPIO")}
# BCM2711 reset pulls: GPIO0-8 pull up, GPIO9-27 pull down. Relay outputs must be pulled down.
RESET_PULL_DOWN = {f"GPIO{n}" for n in range(9, 28)}
# What the board itself fixes: ADS1115 ADDR tied to GND, on the Pi's I2C1 (GPIO2/3).
ADC_ADDRESS = 0x48
ADC_BUS = "/dev/i2c-1"
BOARD_CONNECTORS = {"J1": "A1_J1", "J2": "A1_J2", "J4": "A1_J4", "J5": "A1_J5"}
REQUIRED_CONFIG_TXT = ["dtparam=i2c_arm=on", "dtparam=watchdog=on", "dtparam=strict_gpiod"]
# heartbeat.minToggleHz when packguard.yaml leaves it out: must equal the configuration loader's default.
# The charge pump needs a rising edge every 100 ms, i.e. 20 level changes per second (hardware/README.md 2.4).
DEFAULT_MIN_TOGGLE_HZ = 20
PUMP_LIB = "hardware/spice/heartbeat-pump.lib"

GPIO_RE = re.compile(r"\bGPIO(\d+)\b")


class Checker:
    def __init__(self, root: Path):
        self.root = root
        self.errors = []
        self.notes = []

    def err(self, where, msg):
        self.errors.append(f"{where}: {msg}")

    # ---------------------------------------------------------------- sources
    def load_config(self):
        path = self.root / "hardware/pi/packguard.yaml"
        text = path.read_text()
        data = yaml.safe_load(text)
        lines = {}  # "inputs.key" -> dict(line, activeLow, bias, header, bms, active)
        for section in ("inputs", "outputs"):
            for key, val in (data.get(section) or {}).items():
                lines[f"{section}.{key}"] = {
                    "line": val.get("line"), "activeLow": val.get("activeLow"),
                    "bias": val.get("bias"), "active": True}
        # Comments carry the header pin ("# Pi header pin 11") and the BMS pin ("main I/O pin 1");
        # commented-out optional entries are read from the comments as well.
        section = None
        key = None
        for raw in text.splitlines():
            m = re.match(r"^(inputs|outputs|\w+):", raw)
            if m:
                section = m.group(1) if m.group(1) in ("inputs", "outputs") else None
                key = None
                continue
            if section is None:
                continue
            m = re.match(r"^\s{2}#?\s?(\w+):\s*(#.*)?$", raw)
            if m and not raw.strip().startswith(("# Optional", "# All", "#   ")):
                candidate = m.group(1)
                if candidate not in ("line", "activeLow", "bias"):
                    key = f"{section}.{candidate}"
                    entry = lines.setdefault(key, {"active": False})
                    bms = re.search(r"main I/O pin (\d+)", m.group(2) or "")
                    if bms:
                        entry["bms"] = int(bms.group(1))
                    continue
            if key is None:
                continue
            entry = lines[key]
            m = re.match(r"^\s*#?\s*line:\s*(GPIO\d+)\s*(?:#\s*Pi header pin (\d+))?", raw)
            if m:
                if not entry["active"]:
                    entry["line"] = m.group(1)
                if m.group(2):
                    entry["header"] = int(m.group(2))
                continue
            m = re.match(r"^\s*#?\s*activeLow:\s*(\w+)", raw)
            if m and not entry["active"]:
                entry["activeLow"] = m.group(1) == "true"
            m = re.match(r"^\s*#?\s*bias:\s*(\w+)", raw)
            if m and not entry["active"]:
                entry["bias"] = m.group(1)
        self.config = lines
        self.config_adc = data.get("adc") or {}
        self.config_heartbeat = data.get("heartbeat") or {}

    def load_csv(self):
        path = self.root / "hardware/pins.csv"
        with path.open(newline="") as f:
            self.rows = list(csv.DictReader(f))

    def load_harness(self, name):
        path = self.root / "wiring" / name
        data = yaml.safe_load(path.read_text())
        conns = data.get("connectors") or {}
        cables = set((data.get("cables") or {}).keys())
        labels = {}
        simple = set()
        for cname, c in conns.items():
            pins = c.get("pins") or list(range(1, len(c.get("pinlabels") or [None]) + 1))
            labels[cname] = dict(zip(pins, c.get("pinlabels") or []))
            if c.get("style") == "simple":
                simple.add(cname)
        # adjacency between (connector, pin) ends through one cable wire
        adj = defaultdict(set)
        for cset in data.get("connections") or []:
            n = None
            cols = []
            for item in cset:
                if isinstance(item, dict):
                    (des, pins), = item.items()
                    pins = expand(pins)
                    n = len(pins)
                    cols.append((des, pins))
                else:
                    cols.append((item, None))
            n = n or 1
            rows = []
            for i in range(n):
                row = []
                for des, pins in cols:
                    if des in cables:
                        continue
                    row.append((des, 1 if pins is None else pins[i]))
                rows.append(row)
            for row in rows:
                for a, b in zip(row, row[1:]):
                    adj[a].add(b)
                    adj[b].add(a)
        return {"labels": labels, "simple": simple, "adj": adj, "path": f"wiring/{name}"}

    @staticmethod
    def reach(h, start):
        """Endpoints reachable from start, passing through simple connectors (fuses, splices)."""
        seen, stack, ends = {start}, [start], set()
        while stack:
            node = stack.pop()
            for nxt in h["adj"].get(node, ()):
                if nxt in seen:
                    continue
                seen.add(nxt)
                if nxt[0] in h["simple"]:
                    stack.append(nxt)
                else:
                    ends.add(nxt)
        return ends

    # ---------------------------------------------------------------- checks
    def check_config_vs_csv(self):
        rows = {r["config_key"]: r for r in self.rows if r["kind"] in ("input", "output")}
        for key, c in sorted(self.config.items()):
            where = f"hardware/pi/packguard.yaml {key}"
            line = c.get("line")
            if not line:
                self.err(where, "no line found")
                continue
            if line not in GPIO_TO_HEADER:
                self.err(where, f"{line} is not on the 40-pin header")
            elif c.get("header") is not None and GPIO_TO_HEADER[line] != c["header"]:
                self.err(where, f"comment says header pin {c['header']} but {line} is header pin {GPIO_TO_HEADER[line]}")
            elif c.get("header") is None:
                self.err(where, "no '# Pi header pin N' comment on its line")
            r = rows.get(key)
            if r is None:
                self.err(where, "has no row in hardware/pins.csv")
                continue
            if r["gpio"] != line:
                self.err(where, f"line {line} but hardware/pins.csv says {r['gpio']}")
            if c.get("header") is not None and str(c["header"]) != r["header_pin"]:
                self.err(where, f"header pin {c['header']} but hardware/pins.csv says {r['header_pin']}")
            want_al = r["active_low"] == "true"
            if c.get("activeLow") is not None and bool(c["activeLow"]) != want_al:
                self.err(where, f"activeLow {c['activeLow']} but hardware/pins.csv says {r['active_low']}")
            if (c.get("bias") or "") != r["bias"]:
                self.err(where, f"bias {c.get('bias')} but hardware/pins.csv says {r['bias'] or 'none'}")
            if "bms" in c and str(c["bms"]) != r["bms_pin"]:
                self.err(where, f"comment says Orion pin {c['bms']} but hardware/pins.csv says {r['bms_pin']}")
            if key.startswith("outputs.") and line not in RESET_PULL_DOWN:
                self.err(where, f"output on {line}, which the SoC does not pull down at reset (use GPIO9-27)")
        for key, r in rows.items():
            if key not in self.config:
                self.err("hardware/pins.csv", f"{r['signal']} ({key}) is not in hardware/pi/packguard.yaml "
                                              f"(an optional one as a commented example: '  # {key.split('.')[1]}:' "
                                              f"then '  #   line: {r['gpio']}  # Pi header pin {r['header_pin']}')")
        if self.config_adc.get("address") != ADC_ADDRESS:
            self.err("hardware/pi/packguard.yaml adc.address",
                     f"{self.config_adc.get('address')!r} but the board ties ADDR to GND: 0x{ADC_ADDRESS:02x}")
        if self.config_adc.get("bus") != ADC_BUS:
            self.err("hardware/pi/packguard.yaml adc.bus", f"{self.config_adc.get('bus')!r} but the ADS1115 is on {ADC_BUS}")

    def check_csv_self(self):
        for r in self.rows:
            where = f"hardware/pins.csv {r['signal']}"
            if r["gpio"]:
                if GPIO_TO_HEADER.get(r["gpio"]) != int(r["header_pin"] or 0):
                    self.err(where, f"{r['gpio']} is header pin {GPIO_TO_HEADER.get(r['gpio'])}, not {r['header_pin']}")
                want = "down" if r["gpio"] in RESET_PULL_DOWN else "up"
                if r["reset_pull"] != want:
                    self.err(where, f"reset_pull {r['reset_pull']} but {r['gpio']} is pulled {want} at reset")
                if r["kind"] == "output" and r["gpio"] not in RESET_PULL_DOWN:
                    self.err(where, f"output on {r['gpio']}, pulled up at reset")
            elif r["header_pin"] and r["kind"] == "power":
                if HEADER.get(int(r["header_pin"])) != r["net"].lstrip("+"):
                    self.err(where, f"header pin {r['header_pin']} is {HEADER.get(int(r['header_pin']))}, not {r['net']}")

    def check_config_txt(self):
        path = self.root / "hardware/pi/config.txt"
        text = path.read_text()
        active = [ln.strip() for ln in text.splitlines() if ln.strip() and not ln.strip().startswith("#")]
        for req in REQUIRED_CONFIG_TXT:
            if req not in active:
                self.err("hardware/pi/config.txt", f"missing '{req}'")
        # Commented-out optional outputs count too: enabling one must not need a firmware change.
        outs = {c["line"] for k, c in self.config.items() if k.startswith("outputs.") and c.get("line")}
        held_low = set()
        for ln in active:
            m = re.match(r"^gpio=([\d,\-]+)=(.*)$", ln)
            if m and "op" in m.group(2).split(",") and "dl" in m.group(2).split(","):
                held_low |= {f"GPIO{n}" for n in expand_ranges(m.group(1))}
        for g in sorted(outs - held_low):
            self.err("hardware/pi/config.txt", f"output {g} is not set 'op,dl' (driven low from boot)")
        for g in sorted(held_low - outs):
            self.err("hardware/pi/config.txt", f"{g} is driven low at boot but is not an output in packguard.yaml")

    def check_pi_header(self):
        h = self.load_harness("pi-header.yml")
        where = h["path"]
        pi, j1 = h["labels"].get("PI", {}), h["labels"].get("A1_J1", {})
        for pin, std in HEADER.items():
            lab = pi.get(pin, "")
            m = GPIO_RE.search(lab)
            got = f"GPIO{m.group(1)}" if m else lab.split()[0] if lab else ""
            if got != std:
                self.err(where, f"PI pin {pin} is labelled '{lab}' but header pin {pin} is {std}")
        for r in self.rows:
            if not r["header_pin"]:
                continue
            p = int(r["header_pin"])
            ends = self.reach(h, ("PI", p))
            if ("A1_J1", p) not in ends:
                self.err(where, f"PI pin {p} ({r['signal']}) is not wired to A1_J1 pin {p}")
            lab = j1.get(p, "")
            if not lab.startswith(r["net"]):
                self.err(where, f"A1_J1 pin {p} is '{lab}' but hardware/pins.csv says {r['net']} ({r['signal']})")

    def check_board_labels(self, h, connector, r):
        """Board connector label: starts with the net; any GPIO or AIN it names must match."""
        pin = int(r["board_pin"].split(".")[1])
        lab = h["labels"].get(connector, {}).get(pin)
        if lab is None:
            return False
        where = h["path"]
        if not lab.startswith(r["net"]):
            self.err(where, f"{connector} pin {pin} is '{lab}' but hardware/pins.csv says {r['net']} ({r['signal']})")
        m = GPIO_RE.search(lab)
        if m and f"GPIO{m.group(1)}" != r["gpio"]:
            self.err(where, f"{connector} pin {pin} names GPIO{m.group(1)} but {r['signal']} is on {r['gpio']}")
        m = re.search(r"\bAIN(\d)\b", lab)
        if m and f"AIN{m.group(1)}" != r["adc_channel"]:
            self.err(where, f"{connector} pin {pin} names AIN{m.group(1)} but {r['signal']} is on {r['adc_channel']}")
        return True

    def check_bms_harness(self):
        h = self.load_harness("orion-main-io.yml")
        f = self.load_harness("interface-field.yml")
        w = self.load_harness("wifi-connect.yml")
        p = self.load_harness("precharge.yml")
        self.check_precharge_harness(p)
        self.check_can_tap_harness(h)
        for r in self.rows:
            bp = r["board_pin"]
            if not bp or "." not in bp or bp.split(".")[0] not in ("J2", "J5", "J6"):
                continue
            conn = "A1_" + bp.split(".")[0]
            found = [x for x in (h, f, p) if self.check_board_labels(x, conn, r)]
            if not found:
                self.err("wiring/", f"no harness labels {conn} pin {bp.split('.')[1]} ({r['signal']})")
            if r["bms_pin"] and r["kind"] != "ground":
                ends = self.reach(h, ("BMS", int(r["bms_pin"])))
                if (conn, int(bp.split(".")[1])) not in ends:
                    self.err(h["path"], f"Orion pin {r['bms_pin']} ({r['signal']}) does not reach {conn} pin "
                                        f"{bp.split('.')[1]}; it reaches {sorted(ends) or 'nothing'}")
            if r["kind"] == "ground" and r["bms_pin"]:
                a = {e[0] for e in self.reach(h, ("BMS", int(r["bms_pin"])))}
                b = {e[0] for e in self.reach(h, (conn, int(bp.split(".")[1])))}
                if not a & b:
                    self.err(h["path"], f"Orion pin {r['bms_pin']} and {conn} pin {bp.split('.')[1]} do not land on the same busbar")
        # the same physical wires drawn in two harnesses must agree
        for pin in (19, 20):
            a = {e for e in self.reach(h, ("BMS", pin)) if e[0] == "WIFI"}
            b = {e for e in self.reach(w, ("BMS", pin)) if e[0] == "WIFI"}
            if a != b or not a:
                self.err("wiring/wifi-connect.yml", f"Orion pin {pin} goes to {sorted(b)} here but {sorted(a)} in orion-main-io.yml")
            for (des, p) in a | b:
                lh, lw = h["labels"]["WIFI"].get(p), w["labels"]["WIFI"].get(p, "")
                if not lw.startswith(lh or "?") or h["labels"]["BMS"].get(pin, "") != lh:
                    self.err("wiring/", f"Orion pin {pin} ({h['labels']['BMS'].get(pin)}) lands on Wifi Connect pin {p} ({lw})")
        a = self.reach(h, ("BMS", 4))
        b = self.reach(f, ("BMS", 4))
        if a != b or not a:
            self.err("wiring/interface-field.yml", f"Orion pin 4 goes to {sorted(b)} here but {sorted(a)} in orion-main-io.yml")

    def check_can_tap_harness(self, h):
        """The CAN HAT's tap draws the Orion-Wifi Connect pair again: it must agree with orion-main-io.yml."""
        t = self.load_harness("can-tap.yml")
        t["simple"] = t["simple"] | {"TAP"}   # the splice passes each wire straight through
        hat = t["labels"].get("HAT", {})
        for pin in (19, 20):
            label = h["labels"]["BMS"].get(pin)
            if t["labels"].get("BMS", {}).get(pin) != label:
                self.err(t["path"], f"Orion pin {pin} is labelled {t['labels'].get('BMS', {}).get(pin)!r} here "
                                    f"but {label!r} in orion-main-io.yml")
            ends = self.reach(t, ("BMS", pin))
            a = {e for e in self.reach(h, ("BMS", pin)) if e[0] == "WIFI"}
            b = {e for e in ends if e[0] == "WIFI"}
            if a != b or not a:
                self.err(t["path"], f"Orion pin {pin} goes to {sorted(b)} here but {sorted(a)} in orion-main-io.yml")
            to_hat = {e for e in ends if e[0] == "HAT"}
            if len(to_hat) != 1 or hat.get(next(iter(to_hat))[1]) != label:
                self.err(t["path"], f"Orion pin {pin} ({label}) reaches HAT {sorted(to_hat) or 'nothing'} "
                                    f"({[hat.get(p) for _, p in sorted(to_hat)]}), not the HAT's {label} terminal")
        gnd = [p for p, lab in hat.items() if lab == "GND"]
        if not gnd or not any(e[0] == "BUSN" for e in self.reach(t, ("HAT", gnd[0]))):
            self.err(t["path"], "the HAT's GND terminal does not reach the negative busbar (BUSN)")

    def check_precharge_harness(self, h):
        """The precharge path must run battery busbar -> F11 -> K8 -> TF1 -> R33 -> load busbar (in parallel
        with KM2), K8's coil must land on J6.1/J6.2, and the bus sense must come from the load side via F10."""
        where = h["path"]

        def path(a, b, via):
            """b is reachable from a, but not once the fuse `via` is taken out."""
            ends = self.reach(h, a)
            if b not in ends:
                self.err(where, f"{a[0]} pin {a[1]} does not reach {b[0]} pin {b[1]} (reaches {sorted(ends) or 'nothing'})")
            elif via is not None and b in self.reach({**h, "simple": h["simple"] - {via}}, a):
                self.err(where, f"{a[0]} pin {a[1]} reaches {b[0]} pin {b[1]} without passing {via}")

        path(("BATBUS", 2), ("K8", 1), "F11")
        path(("K8", 2), ("R33", 1), "TF1")
        path(("R33", 2), ("LOADBUS", 2), None)
        path(("LOADBUS", 3), ("A1_J6", 3), "F10")
        path(("A1_J6", 1), ("K8", 3), None)
        path(("A1_J6", 2), ("K8", 4), None)
        path(("BATBUS", 1), ("KM2", 1), None)
        path(("KM2", 2), ("LOADBUS", 1), None)

    def check_bus_divider(self):
        """The bus divider (pins.csv) against the config's AIN3 dividerRatio (active or commented example)
        and the software's busDividerRatio constant, when either exists."""
        hw = None
        for r in self.rows:
            d = re.search(r"([\d.]+)k / ([\d.]+)k divider", r["circuit"]) if r["signal"] == "busVoltage" else None
            if d:
                top, bottom = float(d.group(1)), float(d.group(2))
                hw = bottom / (top + bottom)
                channel = r["adc_channel"]
        if hw is None:
            return
        text = (self.root / "hardware/pi/packguard.yaml").read_text()
        block = re.search(rf"^[ \t]*#?[ \t]*{channel}:.*\n((?:[ \t]*#?[ \t]+(?!AIN\d:)\w+:.*\n)*)", text, re.M)
        if block and re.search(r"signal:\s*busVoltage\b", block.group(1)):
            m = re.search(r"dividerRatio:\s*([\d.]+)(?:\s*/\s*([\d.]+))?", block.group(1))
            sw = None if not m else float(m.group(1)) / (float(m.group(2)) if m.group(2) else 1.0)
            if sw is None:
                self.err(f"hardware/pi/packguard.yaml adc.channels.{channel}", "busVoltage without a dividerRatio")
            elif abs(sw / hw - 1) > 5e-4:
                self.err(f"hardware/pi/packguard.yaml adc.channels.{channel}",
                         f"dividerRatio {sw:.5f} but the board's bus divider (hardware/pins.csv) is {hw:.5f}: "
                         f"bus readings would be off by {(hw / sw - 1) * 100:+.2f} %")
        for src in sorted((self.root / "Sources").glob("**/*.swift")) if (self.root / "Sources").exists() else []:
            m = re.search(r"busDividerRatio\s*(?::\s*\w+\s*)?=\s*([\d.]+)\s*/\s*([\d.]+)", src.read_text())
            if m:
                sw = float(m.group(1)) / float(m.group(2))
                if abs(sw / hw - 1) > 1e-6:
                    self.err(str(src.relative_to(self.root)),
                             f"busDividerRatio = {m.group(1)} / {m.group(2)} = {sw:.5f}, but the board's bus divider "
                             f"(hardware/pins.csv) is {hw:.5f}")

    def check_markdown(self):
        csv_by_gpio = {r["gpio"]: r for r in self.rows if r["gpio"]}
        for rel in ("wiring/README.md", "hardware/README.md", "hardware/precharge.md"):
            path = self.root / rel
            if not path.exists():
                self.err(rel, "missing")
                continue
            for hdr, rows in md_tables(path.read_text()):
                cols = [c.lower() for c in hdr]
                gi = next((i for i, c in enumerate(cols) if c.startswith("gpio")), None)
                hi = next((i for i, c in enumerate(cols) if c.startswith("header")), None)
                bi = next((i for i, c in enumerate(cols) if c.startswith("orion pin") or c == "bms pin"), None)
                if gi is None or hi is None:
                    continue
                for row in rows:
                    m = GPIO_RE.search(row[gi]) if gi < len(row) else None
                    if not m:
                        continue
                    g = f"GPIO{m.group(1)}"
                    hp = re.search(r"\d+", row[hi] or "")
                    if not hp or GPIO_TO_HEADER.get(g) != int(hp.group()):
                        self.err(rel, f"table row '{' | '.join(row)}': {g} is header pin {GPIO_TO_HEADER.get(g)}")
                    r = csv_by_gpio.get(g)
                    if r is None:
                        self.err(rel, f"table row '{' | '.join(row)}': {g} is not in hardware/pins.csv")
                    elif bi is not None and bi < len(row):
                        bp = re.search(r"\d+", row[bi])
                        if (bp.group() if bp else "") != r["bms_pin"]:
                            self.err(rel, f"table row '{' | '.join(row)}': {g} is Orion pin {r['bms_pin'] or '(none)'}")

    def check_software_divider(self):
        """The ADC divider is hardware, but the software converts with its ratio: a mismatch is a disagreement."""
        self.check_bus_divider()
        src = self.root / "Sources/PackGuardADC/ADCConfiguration.swift"
        if not src.exists():
            return
        m = re.search(r"orionDividerRatio\s*=\s*([\d.]+)\s*/\s*([\d.]+)", src.read_text())
        ratios = set()
        for r in self.rows:
            # the Orion's 0-5 V outputs only (they have a BMS pin); the bus divider is checked below
            d = re.search(r"([\d.]+)k / ([\d.]+)k divider", r["circuit"]) if r["kind"] == "adc" and r["bms_pin"] else None
            if d:
                top, bottom = float(d.group(1)), float(d.group(2))
                ratios.add(round(bottom / (top + bottom), 6))
        if not m or len(ratios) != 1:
            return
        hw = ratios.pop()
        sw = round(float(m.group(1)) / float(m.group(2)), 6)
        if abs(hw - sw) > 1e-6:
            self.err(
                str(src.relative_to(self.root)),
                f"orionDividerRatio = {m.group(1)} / {m.group(2)} = {sw:.4f}, "
                f"but the board's divider (hardware/pins.csv) is {hw:.4f}: readings would be off by "
                f"{(hw / sw - 1) * 100:+.1f} %")

    def check_heartbeat_rate(self):
        """The software's guaranteed heartbeat rate must be at least the rate the charge pump is designed for,
        or the pump drops every relay between two healthy toggles."""
        lib = self.root / PUMP_LIB
        m = re.search(r"design_min_toggle_hz\s*=\s*([\d.]+)", lib.read_text()) if lib.exists() else None
        if not m:
            self.err(PUMP_LIB, "no 'design_min_toggle_hz = N' line (the charge pump's design rate)")
            return
        design = float(m.group(1))
        rate = self.config_heartbeat.get("minToggleHz", DEFAULT_MIN_TOGGLE_HZ)
        source = "" if "minToggleHz" in self.config_heartbeat else " (the default, key absent)"
        if not isinstance(rate, (int, float)) or isinstance(rate, bool) or rate < design:
            self.err("hardware/pi/packguard.yaml heartbeat.minToggleHz",
                     f"{rate!r}{source} is below the heartbeat charge pump's design rate of {design:g} toggles/s "
                     f"({PUMP_LIB}): the pump would drop every relay between two healthy toggles")
        if not self.config.get("outputs.heartbeat", {}).get("active"):
            self.err("hardware/pi/packguard.yaml outputs.heartbeat",
                     "missing: the charge pump that powers K4-K7 is fed by it (hardware/README.md 2.4)")
        readme = self.root / "hardware/README.md"
        for rm in re.finditer(r"minToggleHz` ≥ (\d+)", readme.read_text() if readme.exists() else ""):
            if float(rm.group(1)) != design:
                self.err("hardware/README.md", f"says minToggleHz ≥ {rm.group(1)} but {PUMP_LIB} is designed "
                                               f"for {design:g} toggles/s")

    def run(self):
        for step in (self.load_config, self.load_csv):
            try:
                step()
            except Exception as e:  # a source that does not parse is itself a disagreement
                self.err(step.__name__, f"cannot read: {e}")
                return self.errors
        for step in (self.check_config_vs_csv, self.check_csv_self, self.check_config_txt,
                     self.check_pi_header, self.check_bms_harness, self.check_markdown,
                     self.check_software_divider, self.check_heartbeat_rate):
            try:
                step()
            except Exception as e:
                self.err(step.__name__, f"failed: {type(e).__name__}: {e}")
        return self.errors


def expand(pins):
    out = []
    for p in pins if isinstance(pins, list) else [pins]:
        if isinstance(p, str) and re.fullmatch(r"\d+-\d+", p):
            a, b = map(int, p.split("-"))
            out.extend(range(a, b + 1))
        else:
            out.append(p)
    return out


def expand_ranges(spec):
    out = []
    for part in spec.split(","):
        if "-" in part:
            a, b = map(int, part.split("-"))
            out.extend(range(a, b + 1))
        elif part:
            out.append(int(part))
    return out


def md_tables(text):
    """Yield (header cells, row cells) for every pipe table in a markdown text."""
    lines = text.splitlines()
    i = 0
    while i < len(lines) - 1:
        if lines[i].lstrip().startswith("|") and re.match(r"^\s*\|?\s*:?-{3,}", lines[i + 1]):
            hdr = split_row(lines[i])
            rows = []
            i += 2
            while i < len(lines) and lines[i].lstrip().startswith("|"):
                rows.append(split_row(lines[i]))
                i += 1
            yield hdr, rows
        else:
            i += 1


def split_row(line):
    cells = line.strip().strip("|").split("|")
    return [re.sub(r"[`*]", "", c).strip() for c in cells]


def check(root):
    return Checker(root).run()


def check_with_notes(root):
    c = Checker(root)
    return c.run(), c.notes


# ------------------------------------------------------------------------ self-test
FILES = ["hardware/pi/packguard.yaml", "hardware/pins.csv", "hardware/pi/config.txt",
         "wiring/pi-header.yml", "wiring/orion-main-io.yml", "wiring/wifi-connect.yml",
         "wiring/interface-field.yml", "wiring/README.md", "hardware/README.md", PUMP_LIB]

# (description, file, old, new, text expected in at least one error)
MUTATIONS = [
    ("config moves chargeEnable to GPIO18", "hardware/pi/packguard.yaml",
     "line: GPIO17           # Pi header pin 11", "line: GPIO18           # Pi header pin 11", "GPIO18"),
    ("config header comment wrong", "hardware/pi/packguard.yaml",
     "# Pi header pin 36", "# Pi header pin 35", "header pin 35"),
    ("relay output on a pulled-up GPIO", "hardware/pi/packguard.yaml",
     "line: GPIO16           # Pi header pin 36", "line: GPIO5           # Pi header pin 29",
     "does not pull down"),
    ("polarity flipped in config", "hardware/pi/packguard.yaml",
     "line: GPIO27           # Pi header pin 13\n    activeLow: true",
     "line: GPIO27           # Pi header pin 13\n    activeLow: false", "activeLow"),
    ("commented optional input moved", "hardware/pi/packguard.yaml",
     "#   line: GPIO25         # Pi header pin 22", "#   line: GPIO19         # Pi header pin 35", "GPIO19"),
    ("pin table disagrees", "hardware/pins.csv",
     "dischargeEnable,input,inputs.dischargeEnable,GPIO27,13,", "dischargeEnable,input,inputs.dischargeEnable,GPIO27,12,", "12"),
    ("Pi harness label swapped", "wiring/pi-header.yml",
     "- RLY_CHG (Q4 → K4 charge relay)", "- RLY_DSG (Q4 → K4 charge relay)", "A1_J1 pin 36"),
    ("Pi harness wire moved", "wiring/pi-header.yml",
     "- PI: [1, 17, 3, 5, 6, 9, 14, 20, 25, 30, 34, 39, 11, 13,", "- PI: [1, 17, 3, 5, 6, 9, 14, 20, 25, 30, 34, 39, 12, 13,", "PI pin 11"),
    ("BMS harness: discharge enable on the wrong terminal", "wiring/orion-main-io.yml",
     "  - - BMS: [3]\n    - W1: [3]\n    - F3\n    - W2: [3]\n    - A1_J2: [2]",
     "  - - BMS: [3]\n    - W1: [3]\n    - F3\n    - W2: [3]\n    - A1_J2: [3]", "Orion pin 3"),
    ("BMS harness: analog channel label", "wiring/orion-main-io.yml",
     "- SOC → divider → ADS1115 AIN0", "- SOC → divider → ADS1115 AIN1", "AIN1"),
    ("CAN pair crossed in one harness", "wiring/wifi-connect.yml",
     "    - WIFI: [10, 9]", "    - WIFI: [9, 10]", "Orion pin 19"),
    ("panel label names another GPIO", "wiring/interface-field.yml",
     "- CHG_FB → GPIO24", "- CHG_FB → GPIO25", "GPIO25"),
    ("output not held low at boot", "hardware/pi/config.txt",
     "gpio=12,13,16,19,20,21,26=op,dl,pd", "gpio=12,13,16,19,20,21=op,dl,pd", "GPIO26"),
    ("strict_gpiod missing", "hardware/pi/config.txt", "dtparam=strict_gpiod", "#dtparam=strict_gpiod", "strict_gpiod"),
    ("README table wrong", "wiring/README.md", "| GPIO17 | 11 |", "| GPIO17 | 12 |", "GPIO17"),
    ("ADC address changed", "hardware/pi/packguard.yaml", "address: 0x48", "address: 0x49", "0x48"),
    ("heartbeat rate below the charge pump's design rate", "hardware/pi/packguard.yaml",
     "\npaths:\n", "\nheartbeat:\n  minToggleHz: 10\n\npaths:\n", "design rate of 20"),
    ("charge pump redesigned for a faster heartbeat than configured", PUMP_LIB,
     "design_min_toggle_hz = 20", "design_min_toggle_hz = 50", "design rate of 50"),
    ("heartbeat output removed while the pump needs it", "hardware/pi/packguard.yaml",
     "  heartbeat:               #", "  heartbeatLed:            #", "outputs.heartbeat"),
]

# Precharge (hardware/precharge.md): the relay's commented example in the config, its firmware line, the
# precharge harness and the bus divider.
FILES += ["wiring/precharge.yml", "hardware/precharge.md"]
MUTATIONS += [
    ("precharge relay example moved to another GPIO", "hardware/pi/packguard.yaml",
     "#   line: GPIO19         # Pi header pin 35", "#   line: GPIO18         # Pi header pin 12", "GPIO18"),
    ("precharge relay not held low at boot", "hardware/pi/config.txt",
     "gpio=12,13,16,19,20,21,26=op,dl,pd", "gpio=12,13,16,20,21,26=op,dl,pd", "GPIO19"),
    ("bus divider in the config disagrees with the board", "hardware/pi/packguard.yaml",
     "dividerRatio: 0.04853", "dividerRatio: 0.04762", "bus readings would be off"),
    ("bus-sense terminal names another ADC channel", "wiring/precharge.yml",
     "- BUS_SENSE → 100k/5.1k divider → ADS1115 AIN3", "- BUS_SENSE → 100k/5.1k divider → ADS1115 AIN2", "AIN2"),
    ("precharge path bypasses its thermal cut-off", "wiring/precharge.yml",
     "    - TF1\n    - W15: [1]", "    - W15: [1]", "R33 pin 1"),
    ("bus sense taken from the battery side", "wiring/precharge.yml",
     "    - W19: [1]\n    - LOADBUS: [3]", "    - W19: [1]\n    - BATBUS: [2]", "LOADBUS pin 3"),
    ("precharge relay coil on the wrong board terminal", "wiring/precharge.yml",
     "  - - A1_J6: [1, 2]", "  - - A1_J6: [2, 1]", "A1_J6 pin"),
    ("precharge pin table row wrong", "hardware/precharge.md", "| GPIO19 | 35 |", "| GPIO19 | 36 |", "GPIO19"),
]

# CAN (hardware/can.md): the HAT's stub on the Orion-Wifi Connect pair.
FILES += ["wiring/can-tap.yml"]
MUTATIONS += [
    ("CAN stub crossed at the HAT", "wiring/can-tap.yml",
     "    - HAT: [1, 2]", "    - HAT: [2, 1]", "not the HAT's CAN_H terminal"),
    ("CAN tap harness crosses the pair to the Wifi module", "wiring/can-tap.yml",
     "    - WIFI: [9, 10]", "    - WIFI: [10, 9]", "can-tap.yml"),
    ("CAN tap harness relabels an Orion pin", "wiring/can-tap.yml",
     "    pinlabels: [CAN_L, CAN_H]\n    notes: BUS END 1", "    pinlabels: [CAN_H, CAN_L]\n    notes: BUS END 1",
     "labelled 'CAN_H' here"),
    ("CAN HAT ground left floating", "wiring/can-tap.yml",
     "  - - BUSN: [1]\n    - W_GND: [1]\n    - HAT: [3]\n", "", "GND terminal"),
]


def self_test(root):
    failures = 0
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp) / "base"
        for rel in FILES:
            (base / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(root / rel, base / rel)
        errs = check(base)
        if errs:
            print("self-test: the unmodified sources already disagree:")
            for e in errs:
                print("  " + e)
            return 1
        for i, (desc, rel, old, new, expect) in enumerate(MUTATIONS):
            case = Path(tmp) / f"case{i}"
            shutil.copytree(base, case)
            text = (case / rel).read_text()
            if old not in text:
                print(f"self-test FAIL [{desc}]: mutation target not found in {rel}: {old!r}")
                failures += 1
                continue
            (case / rel).write_text(text.replace(old, new, 1))
            errs = check(case)
            if not errs or not any(expect in e for e in errs):
                print(f"self-test FAIL [{desc}]: not caught (errors: {errs})")
                failures += 1
            else:
                print(f"self-test ok   [{desc}]: {errs[0]}")
    print(f"{len(MUTATIONS) - failures} passed, {failures} failed")
    return 1 if failures else 0


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--root", type=Path, default=Path(__file__).resolve().parent.parent)
    ap.add_argument("--self-test", action="store_true")
    args = ap.parse_args()
    if args.self_test:
        return self_test(args.root)
    errs, notes = check_with_notes(args.root)
    for n in notes:
        print("NOTE: " + n)
    for e in errs:
        print("DISAGREE: " + e)
    if errs:
        print(f"check_pins: {len(errs)} disagreement(s)")
        return 1
    print("check_pins: config, harnesses and pin tables agree")
    return 0


if __name__ == "__main__":
    sys.exit(main())
