#!/usr/bin/env python3
"""Verify the heartbeat charge pump (hardware/spice/heartbeat-pump.lib) in ngspice, and draw its waveforms.

Usage:
  check_pump.py              run every case at every corner; print the measured times; exit 1 on any miss
  check_pump.py --plot FILE  also (or with --plot-only: only) render the nominal waveforms to FILE (SVG;
                             needs matplotlib, which wiring/render.sh provides in its pinned venv)
Needs ngspice (Debian package `ngspice`) and Python 3; the checks use the standard library only.

Cases, each at every corner (coil rail 10.0 / 12.0 / 14.6 V, C12 and C13 at +-20 % and C12 at 50 %, D21
5.8-6.6 V, U11 VREF +-1 % and I_REF 1-4 uA):
  slow-high / slow-low    heartbeat at the design minimum rate, then stuck high / low: while toggling the
                          relay supply must stay above must-hold; after the last toggle every coil must
                          release within 300 ms
  flood-high / flood-low  the same after toggling at 1 kHz (an edge flood): holds, then releases in time
  power-up                coil rail switched on (10 us hot plug, and a 20 ms ramp) with the GPIO floating,
                          then driven low: the relay supply never reaches must-operate
"""
import argparse
import math
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
LIB = HERE / "heartbeat-pump.lib"

# The Pi-driven relays K4-K7 (hardware/bom.csv): TE RT314012, datasheet coil table for the 012 coil:
# rated 12 VDC, operate (must-operate) 8.4 VDC, release (must-release) 1.2 VDC, 360 Ohm +-10 %, release
# time max. 6 ms. The datasheet gives no hold voltage, so must-hold is taken as the operate voltage: a
# supply that stays above must-operate also lets a relay commanded on later pull in.
V_OPERATE = 8.4
V_RELEASE = 1.2
V_HOLD = V_OPERATE
R_COIL = 360.0
L_COIL = 2.0           # H; not in the datasheet: an upper estimate (L/R = 5.6 ms), slower release = worse
T_RELEASE_MECH = 6e-3  # datasheet: release time max., DC coil
I_RELEASE = V_RELEASE / R_COIL
DROP_LIMIT = 0.300     # s from the last toggle to every relay released (issue #20)
HOLD_MARGIN = 1.25     # the longest hold must exceed the slowest healthy rising-edge period by this factor
FLOOD_TOGGLE_HZ = 1000.0
VREF = 2.495

# The hold-time worst case is a short tau (C13 low), a low clamp (D21 5.8 V), a high threshold (U11 +1 %),
# a large I_REF and a weak pump (C12 low, 10 V rail); the drop-out worst case is the opposite.
LOW, HIGH = (5.8, 2.52, 4e-6), (6.6, 2.47, 1e-6)   # D21 clamp, U11 threshold, U11 I_REF
CORNERS = [  # name, coil rail V, C12 factor, C13 factor, (D21 V, U11 VREF, I_REF)
    ("nominal", 12.0, 1.0, 1.0, (6.2, 2.495, 2e-6)),
    ("weak pump, short tau", 10.0, 0.8, 0.8, LOW),
    ("strong pump, long tau", 14.6, 1.2, 1.2, HIGH),
    ("C12-20% C13+20% @10V", 10.0, 0.8, 1.2, HIGH),
    ("C12-20% C13+20% @14.6V", 14.6, 0.8, 1.2, HIGH),
    ("C12+20% C13-20% @10V", 10.0, 1.2, 0.8, LOW),
    ("C12+20% C13-20% @14.6V", 14.6, 1.2, 0.8, LOW),
    ("C12 DC-bias derated to 50%", 10.0, 0.5, 0.8, LOW),   # a stress corner beyond the tolerances: must
]                                                         # hold, but without HOLD_MARGIN
STRESS = {"C12 DC-bias derated to 50%"}


def design_rate():
    m = re.search(r"design_min_toggle_hz\s*=\s*([\d.]+)", LIB.read_text())
    if not m:
        sys.exit(f"check_pump: no 'design_min_toggle_hz = N' line in {LIB}")
    return float(m.group(1))


def heartbeat_pwl(toggle_hz, t_start, n_toggles, end_high):
    """GPIO levels as PWL points: low until t_start, then n_toggles level changes 1/toggle_hz apart.
    n_toggles is adjusted so the last level is high (stuck high) or low (stuck low). Returns (pwl, t_last)."""
    if (n_toggles % 2 == 1) != end_high:
        n_toggles += 1
    dt = 1.0 / toggle_hz
    edge = min(1e-6, dt / 20)
    pts = [(0.0, 0.0)]
    level = 0.0
    t = t_start
    for _ in range(n_toggles):
        pts.append((t, level))
        level = 3.3 - level
        pts.append((t + edge, level))
        t += dt
    t_last = t - dt
    return " ".join(f"{a:.9g} {b:.4g}" for a, b in pts), t_last


RELAYS = """
* K4 (measured) and K5-K7 lumped; each coil with its 1N4007 flyback diode, its low-side MOSFET on
RK4  rly  k4a  {r}
LK4  k4a  k4d  {l}
D4   k4d  rly  d1n4007
RQ4  k4d  0    0.05
RK57 rly  k5a  {r3}
LK57 k5a  k5d  {l3}
D57  k5d  rly  d1n4007
RQ57 k5d  0    0.02
"""


def deck(out, rail, c12, c13, parts, gpio, tstop, maxstep, rail_src=None):
    rail_src = rail_src or f"DC {rail}"
    return f"""* heartbeat pump test bench (written by check_pump.py)
.include {LIB}
VCOIL vcoil 0 {rail_src}
{gpio}
R17  gpio hb 1k
X1   hb vcoil rly hbpump params: c12={c12} c13={c13} vz={parts[0]} vref={parts[1]} iref={parts[2]}
{RELAYS.format(r=R_COIL, l=L_COIL, r3=R_COIL / 3, l3=L_COIL / 3)}
.options reltol=1e-4
.control
set wr_singlescale
set wr_vecnames
tran {maxstep} {tstop} 0 {maxstep}
wrdata {out} v(gpio) v(x1.hbp) v(x1.res) v(rly) v(rly,k4d) i(lk4)
quit
.endc
.end
"""


def run(tmp, name, text):
    cir = tmp / f"{name}.cir"
    dat = tmp / f"{name}.dat"
    cir.write_text(text.replace("OUTFILE", str(dat)))
    r = subprocess.run(["ngspice", "-b", str(cir)], capture_output=True, text=True)
    if r.returncode != 0 or not dat.exists():
        sys.exit(f"check_pump: ngspice failed on {name}:\n{r.stdout[-2000:]}\n{r.stderr[-2000:]}")
    cols = None
    rows = []
    for line in dat.read_text().splitlines():
        f = line.split()
        if not f:
            continue
        if cols is None:
            cols = ["t", "gpio", "hbp", "res", "rly", "vk4", "ik4"]
            if not re.match(r"^[-+\d.]", f[0]):
                continue
        rows.append([float(x) for x in f])
    return {c: [r[i] for r in rows] for i, c in enumerate(cols)}


def first_after(d, t0, pred):
    """First time >= t0 from which pred holds for every later sample (a settled crossing)."""
    t = d["t"]
    idx = None
    for i in range(len(t) - 1, -1, -1):
        if t[i] < t0:
            break
        if pred(i):
            idx = i
        else:
            break
    return None if idx is None else t[idx]


def stuck_case(tmp, label, corner, toggle_hz, end_high, t_run):
    name, rail, c12, c13, parts = corner
    t_start = 0.02
    n = int(t_run * toggle_hz)
    pwl, t_last = heartbeat_pwl(toggle_hz, t_start, n, end_high)
    gpio = f"Vgpio gpio_src 0 PWL({pwl})\nRgpio gpio_src gpio 40"
    tstop = t_last + 0.45
    maxstep = "20u" if toggle_hz > 100 else "50u"
    slug = re.sub(r"\W+", "_", f"{label}_{name}")
    d = run(tmp, slug, deck("OUTFILE", rail, c12, c13, parts, gpio, tstop, maxstep))
    t = d["t"]
    settle = t_start + 3.0 / toggle_hz + 0.02
    hold = [d["vk4"][i] for i in range(len(t)) if settle <= t[i] <= t_last]
    res_min = min(d["res"][i] for i in range(len(t)) if settle <= t[i] <= t_last)
    released = first_after(d, t_last, lambda i: d["ik4"][i] < I_RELEASE and d["rly"][i] < V_RELEASE)
    below_hold = first_after(d, t_last, lambda i: d["vk4"][i] < V_HOLD)
    # the last rising edge: t_last when stuck high, one toggle earlier when stuck low
    t_rise = t_last if end_high else t_last - 1.0 / toggle_hz
    return {
        "hold_min": min(hold), "res_min": res_min,
        "drop": None if released is None else released - t_last,
        "hold_after_rise": None if below_hold is None else below_hold - t_rise,
        "data": d, "t_last": t_last,
    }


def power_up_case(tmp, corner, ramp, slug):
    name, rail, c12, c13, parts = corner
    # GPIO12 floating until 1.0 s (reset state: input with the SoC's ~50 kOhm pull-down; model the weak
    # end, 100 kOhm, plus 5 pF), then driven low by the firmware's gpio=12=op,dl
    gpio = ("Rpd gpio 0 100k\nCpin gpio 0 5p\n"
            "Vdrv drv 0 DC 0\nSdrv drv gpio en 0 swdrv\nVen en 0 PWL(0 0 1.0 0 1.001 1)\n"
            ".model swdrv sw (vt=0.5 vh=0.1 ron=40 roff=1e12)")
    src = f"PWL(0 0 1m 0 {1e-3 + ramp:.6g} {rail})"
    d = run(tmp, slug, deck("OUTFILE", rail, c12, c13, parts, gpio, 1.5, "20u", rail_src=src))
    return {"rly_max": max(d["rly"]), "ik4_max": max(d["ik4"]), "res_max": max(d["res"])}


def fmt_ms(x):
    return "never" if x is None else f"{x * 1e3:6.1f} ms"


def check():
    if shutil.which("ngspice") is None:
        sys.exit("check_pump: ngspice is not installed (Debian: apt-get install ngspice)")
    rate = design_rate()
    rise_period = 2.0 / rate
    failures = []
    worst = {"drop": 0.0, "hold": math.inf, "res_margin": math.inf, "pwr": 0.0, "stress_hold": None}
    print(f"heartbeat pump: design rate {rate:g} toggles/s (a rising edge every {rise_period * 1e3:.0f} ms); "
          f"relay RT314012: must-operate/hold {V_OPERATE} V, must-release {V_RELEASE} V, {R_COIL:.0f} Ohm")
    print(f"requirements: supply >= {V_HOLD} V while toggling; every coil below {I_RELEASE * 1e3:.1f} mA "
          f"within {DROP_LIMIT * 1e3:.0f} ms - {T_RELEASE_MECH * 1e3:.0f} ms (datasheet release time) of the "
          f"last toggle; hold >= {HOLD_MARGIN} x {rise_period * 1e3:.0f} ms after a rising edge (stress corner: 1 x); power-up "
          f"supply < {V_OPERATE} V")
    with tempfile.TemporaryDirectory() as td:
        tmp = Path(td)
        hdr = f"{'corner':28} {'case':11} {'min supply':>10} {'min V(C13)':>10} {'hold':>9} {'drop-out':>9}  result"
        print(hdr)
        for corner in CORNERS:
            for label, hz, high, t_run in (("slow-high", rate, True, 0.8), ("slow-low", rate, False, 0.8),
                                           ("flood-high", FLOOD_TOGGLE_HZ, True, 0.25),
                                           ("flood-low", FLOOD_TOGGLE_HZ, False, 0.25)):
                r = stuck_case(tmp, label, corner, hz, high, t_run)
                miss = []
                if r["hold_min"] < V_HOLD:
                    miss.append(f"supply fell to {r['hold_min']:.2f} V while toggling")
                if r["drop"] is None or r["drop"] + T_RELEASE_MECH > DROP_LIMIT:
                    miss.append(f"drop-out {fmt_ms(r['drop'])} + {T_RELEASE_MECH * 1e3:.0f} ms > 300 ms")
                if label == "slow-high":
                    need = (1.0 if corner[0] in STRESS else HOLD_MARGIN) * rise_period
                    if r["hold_after_rise"] is None or r["hold_after_rise"] < need:
                        miss.append(f"holds only {fmt_ms(r['hold_after_rise'])} after a rising edge, "
                                    f"needs {need * 1e3:.0f} ms")
                    elif corner[0] not in STRESS:
                        worst["hold"] = min(worst["hold"], r["hold_after_rise"])
                    else:
                        worst["stress_hold"] = r["hold_after_rise"]
                if r["drop"] is not None:
                    worst["drop"] = max(worst["drop"], r["drop"])
                if label.startswith("slow") and corner[0] not in STRESS:
                    worst["res_margin"] = min(worst["res_margin"], r["res_min"] - corner[4][1])
                hold_s = fmt_ms(r["hold_after_rise"]) if label == "slow-high" else ""
                print(f"{corner[0]:28} {label:11} {r['hold_min']:8.2f} V {r['res_min']:8.2f} V {hold_s:>9} "
                      f"{fmt_ms(r['drop']):>9}  {'ok' if not miss else 'FAIL: ' + '; '.join(miss)}")
                failures += [f"{corner[0]} {label}: {m}" for m in miss]
        for corner in (CORNERS[0], CORNERS[2], CORNERS[1]):
            for ramp, rname in ((10e-6, "10 us"), (20e-3, "20 ms")):
                r = power_up_case(tmp, corner, ramp, re.sub(r"\W+", "_", f"pwr_{corner[0]}_{rname}"))
                ok = r["rly_max"] < V_OPERATE
                worst["pwr"] = max(worst["pwr"], r["rly_max"])
                print(f"{corner[0]:28} power-up, rail ramp {rname:>5}, GPIO floating then low: max supply "
                      f"{r['rly_max']:.3f} V, max coil current {r['ik4_max'] * 1e3:.3f} mA, max V(C13) "
                      f"{r['res_max']:.3f} V  {'ok' if ok else 'FAIL'}")
                if not ok:
                    failures.append(f"{corner[0]} power-up {rname}: supply reached {r['rly_max']:.2f} V")
    hold = "none" if math.isinf(worst["hold"]) else f"{worst['hold'] * 1e3:.1f} ms"
    print(f"worst drop-out after the last toggle {worst['drop'] * 1e3:.1f} ms (+{T_RELEASE_MECH * 1e3:.0f} ms "
          f"release time, limit {DROP_LIMIT * 1e3:.0f} ms)")
    print(f"shortest hold after a rising edge {hold} at the tolerance corners (needed {HOLD_MARGIN} x "
          f"{rise_period * 1e3:.0f} ms), {fmt_ms(worst['stress_hold']).strip()} with C12 at 50 % (needed "
          f"{rise_period * 1e3:.0f} ms); lowest C13 voltage while toggling {worst['res_margin']:+.2f} V above its "
          f"corner's threshold; power-up supply at most {worst['pwr']:.3f} V")
    if failures:
        print(f"check_pump: {len(failures)} requirement(s) missed")
        return 1
    print("check_pump: every case passes at every corner")
    return 0


def plot(path):
    import matplotlib
    matplotlib.use("svg")
    import matplotlib.pyplot as plt
    import numpy as np
    matplotlib.rcParams.update({"svg.hashsalt": "packguard-heartbeat-pump", "svg.fonttype": "path",
                                "font.family": "DejaVu Sans", "font.size": 9, "path.simplify": True})
    rate = design_rate()
    with tempfile.TemporaryDirectory() as td:
        tmp = Path(td)
        runs = [stuck_case(tmp, lab, CORNERS[0], rate, high, 0.8) for lab, high in (("plot-high", True),
                                                                                   ("plot-low", False))]
    fig, axes = plt.subplots(3, 2, figsize=(10, 7), sharex="col", sharey="row")
    for col, (r, title) in enumerate(zip(runs, ("heartbeat stuck HIGH at 0 ms", "heartbeat stuck LOW at 0 ms"))):
        d = r["data"]
        t0 = r["t_last"]
        grid = np.arange(t0 - 0.35, t0 + 0.40, 5e-4)
        t = np.array(d["t"]) - 0.0
        s = {k: np.interp(grid, t, np.array(v)) for k, v in d.items() if k != "t"}
        x = (grid - t0) * 1e3
        ax = axes[0][col]
        ax.plot(x, s["hbp"], color="tab:gray", lw=0.8, ls="--", label="HBP (pump drive, coil-rail level)")
        ax.plot(x, s["gpio"], color="tab:blue", lw=1.2, label="GPIO12 heartbeat")
        ax.set_ylabel("V")
        ax.set_title(f"{title}\n({rate:g} toggles/s, nominal parts, 12 V rail)", fontsize=9)
        ax.legend(loc="upper left", fontsize=7)
        ax = axes[1][col]
        ax.plot(x, s["res"], color="tab:orange", lw=1, label="C13 reservoir")
        ax.axhline(VREF, color="k", ls="--", lw=0.7, label=f"U11 threshold {VREF} V")
        ax.set_ylabel("V")
        ax.legend(loc="upper right", fontsize=7)
        ax = axes[2][col]
        ax.plot(x, s["vk4"], color="tab:red", lw=1, label="K4 coil voltage")
        ax.axhline(V_OPERATE, color="tab:green", ls="--", lw=0.7, label=f"must-operate/hold {V_OPERATE} V")
        ax.axhline(V_RELEASE, color="tab:purple", ls="--", lw=0.7, label=f"must-release {V_RELEASE} V")
        if r["drop"] is not None:
            ax.axvline(r["drop"] * 1e3, color="k", lw=0.7)
            ax.text(r["drop"] * 1e3 + 5, 6, f"released\n{r['drop'] * 1e3:.0f} ms", fontsize=7)
        ax.axvline(0, color="gray", lw=0.5)
        ax.set_ylabel("V")
        ax.set_xlabel("ms after the last toggle")
        ax.legend(loc="center left", fontsize=7)
    fig.tight_layout()
    fig.savefig(path, format="svg", metadata={"Date": None, "Creator": None})
    print(f"wrote {path}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--plot", type=Path, help="render the nominal waveforms to this SVG file")
    ap.add_argument("--plot-only", action="store_true", help="with --plot: skip the checks")
    args = ap.parse_args()
    rc = 0 if args.plot_only else check()
    if args.plot:
        plot(args.plot)
    return rc


if __name__ == "__main__":
    sys.exit(main())
