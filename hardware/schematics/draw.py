#!/usr/bin/env python3
"""Draw PackGuard's interface-circuit schematics as SVG with schemdraw (pinned in wiring/requirements.txt).

Usage: draw.py OUTPUT_DIR
Values and designators match hardware/README.md and hardware/bom.csv; change all three together.
Run through wiring/render.sh, which pins the tool versions so the output is reproducible.
"""
import sys
from pathlib import Path

import schemdraw
import schemdraw.elements as elm

schemdraw.use("svg")  # schemdraw's own SVG backend: no matplotlib, no fonts embedded, deterministic

FONT = 11


def drawing():
    d = schemdraw.Drawing(show=False, margin=1.0)
    d.config(fontsize=FONT, unit=2.5, font="DejaVu Sans")
    return d


def note(d, xy, text, loc="right"):
    d.add(elm.Label().at(xy).label(text, loc=loc, halign="left", valign="top", fontsize=FONT - 1))


def bms_output(d, at):
    """The BMS's open-drain output: an N-MOSFET to BMS ground, drain up at `at`."""
    q = d.add(elm.NFet().right().anchor("drain").at(at).reverse().label("BMS output\n(open drain)", loc="right", ofst=(0.3, 0)))
    d.add(elm.Ground().at(q.source))
    return q


def bms_input_direct(path):
    """BMS open-drain output straight into a Pi input, pulled up to 3.3 V only."""
    d = drawing()
    q = bms_output(d, (0, 0))
    d.add(elm.Line().up(1).at(q.drain))
    d.add(elm.Line().right(1))
    d.add(elm.Label().at(d.here).label("Orion pin\n1 / 3 / 5", loc="top", ofst=0.2))
    d.add(elm.FuseIEC().right().label("F1/F3/F5\n160 mA F", loc="bottom", ofst=0.35))
    d.add(elm.Dot(open=True).label("J2.1/2/3", loc="top"))
    d.add(elm.Resistor().right().label("R1 1 kΩ"))
    node = d.add(elm.Dot())
    d.add(elm.Resistor().up().at(node.center).label("R2 10 kΩ", loc="bottom"))
    d.add(elm.Vdd().label("+3V3"))
    d.add(elm.Capacitor().down().at(node.center).label("C1 100 nF", loc="bottom"))
    d.add(elm.Ground())
    d.add(elm.Line().right(2.5).at(node.center))
    k = d.add(elm.Dot())
    d.add(elm.Schottky().up().at(k.center).label("D11a", loc="bottom"))
    d.add(elm.Vdd().label("+3V3"))
    low = (k.center[0], k.center[1] - 2.5)
    d.add(elm.Schottky().up().at(low).to(k.center).label("D11b", loc="bottom"))
    d.add(elm.Ground().at(low))
    d.add(elm.Line().right(2).at(k.center))
    d.add(elm.Dot(open=True).label("GPIO17 / 27 / 22", loc="right"))
    d.save(str(path))


def bms_input_opto(path):
    """BMS output drives its relay coil (hardware authority) and, in parallel, an optocoupler LED."""
    d = drawing()
    d.add(elm.Vdd().at((0, 0)).label("+12V_COIL"))
    d.add(elm.Dot().at((0, 0)))
    coil = d.add(elm.Inductor2(loops=3).down().at((0, 0)).label("K1 coil", loc="bottom"))
    y1 = coil.end[1]
    d.add(elm.Line().left(2).at((0, 0)))
    d.add(elm.Diode().down().toy(y1).reverse().label("D1\n1N4007", loc="top"))
    d.add(elm.Line().right(2))
    d.add(elm.Line().right(3).at((0, 0)))
    r3 = d.add(elm.Resistor().down().label("R3 2.2 kΩ", loc="bottom"))
    opto = d.add(elm.Optocoupler().right().anchor("anode").at(r3.end).label("U1 PC817", loc="top", ofst=(0, 0.3)))
    d.add(elm.Line().down(1).at(opto.cathode))
    yb = d.here[1]
    d.add(elm.Line().left().tox(0))
    d.add(elm.Line().up().toy(y1))
    d.add(elm.Dot().at(coil.end))
    d.add(elm.Dot().at((0, yb)))
    d.add(elm.Line().down(0.8).at((0, yb)))
    d.add(elm.Dot(open=True).label("J2.1", loc="left"))
    f = d.add(elm.FuseIEC().down().label("F1 160 mA F", loc="bottom"))
    d.add(elm.Line().down(0.8))
    d.add(elm.Label().at(f.end).label("Orion pin 1", loc="left", ofst=0.3))
    bms_output(d, d.here)
    # isolated side: phototransistor pulls the GPIO down
    d.add(elm.Line().right(2.5).at(opto.collector))
    gp = d.add(elm.Dot())
    d.add(elm.Line().right(2))
    d.add(elm.Dot(open=True).label("GPIO17", loc="right"))
    d.add(elm.Resistor().up().at(gp.center).label("R4 10 kΩ", loc="bottom"))
    d.add(elm.Vdd().label("+3V3"))
    d.add(elm.Line().right(1).at(opto.emitter))
    d.add(elm.Ground())
    d.save(str(path))


def relay_driver(path):
    """Logic-level low-side MOSFET relay driver, OFF whenever the GPIO is not actively driven high."""
    d = drawing()
    d.add(elm.Vdd().at((0, 0)).label("+12V_RLY (heartbeat pump, 2.4)"))
    d.add(elm.Dot().at((0, 0)))
    coil = d.add(elm.Inductor2(loops=3).down().at((0, 0)).label("K4 coil", loc="bottom"))
    d.add(elm.Line().right(2).at((0, 0)))
    d.add(elm.Diode().down().toy(coil.end[1]).reverse().label("D4\n1N4007", loc="bottom"))
    d.add(elm.Line().left().tox(0))
    d.add(elm.Dot().at(coil.end))
    d.add(elm.Line().down(0.8).at(coil.end))
    q = d.add(elm.NFet().right().anchor("drain").reverse().label("Q4\nAO3400A", loc="right", ofst=(0.3, 0)))
    d.add(elm.Ground().at(q.source))
    d.add(elm.Line().left(1).at(q.gate))
    g = d.add(elm.Dot())
    d.add(elm.Resistor().left().label("R5 220 Ω"))
    d.add(elm.Dot(open=True).label("GPIO16", loc="left"))
    d.add(elm.Resistor().down().at(g.center).label("R6 10 kΩ", loc="bottom"))
    d.add(elm.Ground())
    d.save(str(path))


def ads1115(path):
    """One analog channel (SOC) into the ADS1115; CCL and DCL are identical on AIN1 and AIN2."""
    d = drawing()
    d.add(elm.Dot(open=True).at((0, 0)).label("J2.4  Orion pin 11\nSOC 0–5 V", loc="left"))
    d.add(elm.Resistor().right().at((0, 0)).label("R7 15.0 kΩ 0.1 %"))
    a = d.add(elm.Dot())
    d.add(elm.Resistor().down().at(a.center).label("R8\n20.0 kΩ\n0.1 %", loc="bottom"))
    d.add(elm.Ground())
    d.add(elm.Line().right(3).at(a.center))
    k = d.add(elm.Dot())
    d.add(elm.Schottky().up().at(k.center).label("D17a", loc="bottom"))
    d.add(elm.Vdd().label("+3V3"))
    low = (k.center[0], k.center[1] - 2.5)
    d.add(elm.Schottky().up().at(low).to(k.center).label("D17b", loc="bottom"))
    d.add(elm.Ground().at(low))
    d.add(elm.Resistor().right().at(k.center).label("R9 1 kΩ"))
    b = d.add(elm.Dot())
    d.add(elm.Capacitor().down().at(b.center).label("C7\n100 nF", loc="bottom"))
    d.add(elm.Ground())
    d.add(elm.Line().right(5).at(b.center))
    ic = d.add(elm.Ic(pins=[
        elm.IcPin(name="AIN0", side="left", slot="4/4"),
        elm.IcPin(name="AIN1", side="left", slot="3/4"),
        elm.IcPin(name="AIN2", side="left", slot="2/4"),
        elm.IcPin(name="AIN3", side="left", slot="1/4"),
        elm.IcPin(name="VDD", side="right", slot="5/5"),
        elm.IcPin(name="SDA", side="right", slot="4/5"),
        elm.IcPin(name="SCL", side="right", slot="3/5"),
        elm.IcPin(name="ADDR", side="right", slot="2/5"),
        elm.IcPin(name="GND", side="right", slot="1/5"),
    ], edgepadW=1.5, edgepadH=0.6, pinspacing=1.0, leadlen=1.0,
        label="U10\nADS1115").right().anchor("AIN0"))
    d.add(elm.Line().left(1.2).at(ic.AIN1))
    d.add(elm.Label().label("J2.5 CCL via R10–R12, D18, C8", loc="left"))
    d.add(elm.Line().left(1.2).at(ic.AIN2))
    d.add(elm.Label().label("J2.6 DCL via R13–R15, D19, C9", loc="left"))
    d.add(elm.Line().left(1.2).at(ic.AIN3))
    d.add(elm.Label().label("J6.3 bus (precharge)", loc="left"))
    d.add(elm.Line().right(2.5).at(ic.VDD))
    d.add(elm.Dot(open=True).label("+3V3 (header 1), C10 100 nF at the pin", loc="right"))
    d.add(elm.Line().right(2.5).at(ic.SDA))
    d.add(elm.Dot(open=True).label("SDA GPIO2 (header 3)", loc="right"))
    d.add(elm.Line().right(2.5).at(ic.SCL))
    d.add(elm.Dot(open=True).label("SCL GPIO3 (header 5)", loc="right"))
    d.add(elm.Line().right(2.5).at(ic.ADDR))
    d.add(elm.Label().label("→ GND (address 0x48)", loc="right"))
    d.add(elm.Line().right(1).at(ic.GND))
    d.add(elm.Ground())
    d.save(str(path))


def heartbeat_pump(path):
    """Heartbeat charge pump: K4-K7's coil supply exists only while GPIO12 keeps toggling."""
    d = drawing()
    vdd = "+12V_COIL"
    # input: GPIO12 through R17 to Q8 (3.3 V -> coil-rail level, inverted: HBN)
    d.add(elm.Dot(open=True).at((0, 0)).label("GPIO12\nheartbeat", loc="left"))
    d.add(elm.Resistor().right().label("R17 1 kΩ"))
    hb = d.add(elm.Dot())
    d.add(elm.Line().up(1.5).at(hb.center))
    d.add(elm.Dot(open=True).label("J5.9 (external monitor)", loc="top"))
    d.add(elm.Resistor().down().at(hb.center).label("R18\n10 kΩ", loc="bottom"))
    d.add(elm.Ground())
    d.add(elm.Line().right(1.5).at(hb.center))
    q8 = d.add(elm.NFet().right().anchor("gate").reverse().label("Q8\nAO3400A", loc="right", ofst=(0.2, 0)))
    d.add(elm.Ground().at(q8.source))
    d.add(elm.Line().up(1).at(q8.drain))
    hbn = d.add(elm.Dot().label("HBN", loc="left"))
    d.add(elm.Resistor().up().at(hbn.center).label("R19 10 kΩ", loc="bottom"))
    top19 = d.add(elm.Dot())
    d.add(elm.Vdd().label(vdd))
    d.add(elm.Line().right(2.8).at(top19.center))
    d.add(elm.Capacitor().down().toy(hbn.center).label("C11\n1 nF", loc="bottom"))
    d.add(elm.Line().left().tox(hbn.center))
    # Q9/Q10: CMOS inverter at coil-rail level -> HBP, in phase with GPIO12 (low while the GPIO is low/floating)
    xg = hbn.center[0] + 5
    d.add(elm.Line().right().at(hbn.center).tox(xg))
    g = d.add(elm.Dot())
    ymid = g.center[1]
    d.add(elm.Line().up(2.6).at(g.center))
    q9 = d.add(elm.PFet().right().anchor("gate").reverse().label("Q9\nBSS84", loc="right", ofst=(0.2, 0)))
    d.add(elm.Vdd().at(q9.source).label(vdd))
    d.add(elm.Line().down(2.6).at(g.center))
    q10 = d.add(elm.NFet().right().anchor("gate").reverse().label("Q10\n2N7002", loc="right", ofst=(0.2, 0)))
    d.add(elm.Ground().at(q10.source))
    xd = q9.drain[0]
    d.add(elm.Resistor().at(q9.drain).to((xd, ymid)).label("R20\n470 Ω", loc="top"))
    d.add(elm.Resistor().at(q10.drain).to((xd, ymid)).label("R21\n470 Ω", loc="bottom"))
    hbp = d.add(elm.Dot().at((xd, ymid)))
    d.add(elm.Line().right(1.6).at(hbp.center))
    n25 = d.add(elm.Dot().label("HBP", loc="top"))
    d.add(elm.Resistor().down().at(n25.center).label("R25\n100 kΩ", loc="bottom"))
    d.add(elm.Ground())
    # pump: C12, D20a/b (one BAT54S), R26
    d.add(elm.Capacitor().right().at(n25.center).label("C12\n4.7 µF", loc="top"))
    pa = d.add(elm.Dot())
    ylow = ymid - 3
    d.add(elm.Schottky().at((pa.center[0], ylow)).to(pa.center).label("D20a", loc="bottom"))
    d.add(elm.Ground().at((pa.center[0], ylow)))
    d.add(elm.Line().right(1.8).at(pa.center))
    n26 = d.add(elm.Dot())
    d.add(elm.Resistor().down().at(n26.center).label("R26\n2.2 kΩ", loc="bottom"))
    d.add(elm.Ground())
    d.add(elm.Schottky().right().at(n26.center).label("D20b", loc="top"))
    res = d.add(elm.Dot())
    # reservoir C13, bleed R22, clamp D21
    x0 = res.center[0]
    d.add(elm.Capacitor().down().at(res.center).label("C13\n2.2 µF\nfilm", loc="bottom"))
    d.add(elm.Label().at((res.center[0], ymid + 0.3)).label("RES", loc="top"))
    d.add(elm.Ground())
    d.add(elm.Line().right(2).at(res.center))
    n1 = d.add(elm.Dot())
    d.add(elm.Resistor().down().at(n1.center).label("R22\n100 kΩ", loc="bottom"))
    d.add(elm.Ground())
    d.add(elm.Line().right(2).at(n1.center))
    n2 = d.add(elm.Dot())
    d.add(elm.Zener().up().at((n2.center[0], ymid - 3)).to(n2.center).label("D21\n6.2 V", loc="bottom"))
    d.add(elm.Ground().at((n2.center[0], ymid - 3)))
    # U11 TL431: REF = reservoir, sinks above 2.495 V
    d.add(elm.Line().right(2).at(n2.center))
    xu = n2.center[0] + 3.2
    d.add(elm.Line().right().tox(xu - 0.55))
    d.add(elm.Zener().up().at((xu, ymid - 1.5)).to((xu, ymid + 1.5)).label("U11\nTL431", loc="bottom", ofst=0.3))
    d.add(elm.Label().at((xu - 1.2, ymid)).label("REF", loc="top", fontsize=FONT - 2))
    d.add(elm.Line().down(0.5).at((xu, ymid - 1.5)))
    d.add(elm.Ground())
    # Q11: high-side switch of the relay supply, gate pulled to its source (off) by R24/C14
    d.add(elm.Line().up(0.5).at((xu, ymid + 1.5)))
    d.add(elm.Resistor().up().label("R23 4.7 kΩ", loc="bottom"))
    gq = d.add(elm.Dot())
    d.add(elm.Resistor().up().at(gq.center).label("R24 10 kΩ", loc="bottom"))
    rail = d.add(elm.Dot())
    d.add(elm.Vdd().label(vdd))
    d.add(elm.Line().left(2).at(rail.center))
    d.add(elm.Capacitor().down().toy(gq.center).label("C14\n100 nF", loc="top"))
    d.add(elm.Line().right().tox(gq.center))
    d.add(elm.Line().right(4).at(rail.center))
    d.add(elm.Line().down(0.5))
    src = d.here
    q11 = d.add(elm.PFet().right().anchor("source").at(src).reverse().label("Q11\nAO3401A", loc="right", ofst=(0.2, 0)))
    d.add(elm.Line().at(q11.gate).to((q11.gate[0], gq.center[1])))
    d.add(elm.Line().left().tox(gq.center))
    d.add(elm.Line().down(1.5).at(q11.drain))
    out = d.add(elm.Dot())
    d.add(elm.Capacitor().down().at(out.center).label("C15\n100 nF", loc="bottom"))
    d.add(elm.Ground())
    d.add(elm.Line().right(2).at(out.center))
    o2 = d.add(elm.Dot())
    d.add(elm.Resistor().down().at(o2.center).label("R27\n10 kΩ", loc="bottom"))
    d.add(elm.Ground())
    d.add(elm.Line().right(2).at(o2.center))
    d.add(elm.Dot(open=True).label("+12V_RLY → K4–K7 coils\n(and D4–D7 cathodes)", loc="right"))
    note(d, (0, -6.5), "A static GPIO12, high or low, moves no charge through C12: C13 decays through R22 and U11 "
         "turns Q11 off.\nDesign rate: a rising edge at least every 100 ms (heartbeat.minToggleHz >= 20). "
         "Verified by hardware/spice/check_pump.py.")
    d.save(str(path))


def contact_chain(d, contacts, coil_label):
    """V_CONT → contacts in series → contactor coil → BUS−, left to right along y = 0."""
    d.add(elm.Vdd().at((0, 0)).label("V_CONT\n(busbar, F9)"))
    d.add(elm.Line().right(2).at((0, 0)))
    xs = []
    for name in contacts:
        sw = d.add(elm.Switch().right().label(name, loc="top"))
        xs.append(sw.center[0])
        d.add(elm.Line().right(1.5))
    d.add(elm.Inductor2(loops=4).down().label(coil_label, loc="bottom"))
    d.add(elm.Ground().label("BUS−", loc="right"))
    return xs


def coil_column(d, x, coil, supply="+12V_COIL"):
    """A relay coil drawn 1.5 units left of its contact, with a dotted mechanical link to it."""
    xc = x - 1.5
    d.add(elm.Vdd().at((xc, -3)).label(supply))
    c = d.add(elm.Inductor2(loops=3).down().at((xc, -3)).label(coil, loc="top"))
    ymid = c.center[1]
    d.add(elm.Line().at((x, -0.2)).to((x, ymid)).linestyle(":"))
    d.add(elm.Line().at((x, ymid)).to((xc + 0.5, ymid)).linestyle(":"))
    return c


def relay_coil_by_bms(d, x, coil, fuse, pin_label):
    c = coil_column(d, x, coil)
    d.add(elm.FuseIEC().down().at(c.end).label(fuse, loc="bottom"))
    d.add(elm.Dot(open=True).label(pin_label, loc="left"))
    d.add(elm.Line().down(0.6))
    bms_output(d, d.here)


def relay_coil_by_pi(d, x, coil, q, gpio, supply):
    c = coil_column(d, x, coil, supply)
    d.add(elm.Line().down(0.8).at(c.end))
    fet = d.add(elm.NFet().right().anchor("drain").label(q, loc="left", ofst=(0.1, 0)))
    d.add(elm.Ground().at(fet.source))
    d.add(elm.Line().right(1).at(fet.gate))
    d.add(elm.Dot(open=True).label(gpio, loc="right"))


def topology_defence(path):
    """Recommended: each contactor coil passes through a BMS-driven contact AND a Pi-driven contact."""
    d = drawing()
    x1, x2 = contact_chain(d, ["K1 (BMS relay)", "K4 (PackGuard relay)"], "KM1 charge\ncontactor coil")
    relay_coil_by_bms(d, x1, "K1 coil", "F1", "Orion pin 1\nCharge Enable")
    relay_coil_by_pi(d, x2, "K4 coil", "Q4", "GPIO16\n(PackGuard)", "+12V_RLY: heartbeat\npump (recommended)")
    d.save(str(path))


def topology_pi_in_loop(path):
    """Simpler, riskier: the BMS output only informs the Pi; the Pi alone drives the contactor relay."""
    d = drawing()
    (x2,) = contact_chain(d, ["K4 (PackGuard relay)"], "KM1 charge\ncontactor coil")
    relay_coil_by_pi(d, x2, "K4 coil", "Q4", "GPIO16 ← PackGuard ← GPIO17", "+12V_RLY: heartbeat\npump (REQUIRED)")
    # the BMS output only reaches a 3.3 V input
    q = bms_output(d, (-10, -8.5))
    d.add(elm.Line().up(1).at(q.drain))
    d.add(elm.Dot(open=True).label("Orion pin 1", loc="left"))
    d.add(elm.Resistor().right().label("R1 1 kΩ"))
    n = d.add(elm.Dot())
    d.add(elm.Resistor().up().at(n.center).label("R2 10 kΩ", loc="bottom"))
    d.add(elm.Vdd().label("+3V3"))
    d.add(elm.Line().right(1.5).at(n.center))
    d.add(elm.Dot(open=True).label("GPIO17 (PackGuard)", loc="right"))
    d.save(str(path))


def precharge(path):
    """Precharge (hardware/precharge.md): K8 + TF1 + R33 around KM2, K8's coil through K2 pole B and Q12,
    and the load-bus voltage divided into ADS1115 AIN3."""
    d = drawing()
    # power path: battery-side busbar -> KM2 -> load busbar, with the precharge branch below KM2
    d.add(elm.Dot(open=True).at((0, 0)).label("BAT+\nbattery-side\nbusbar", loc="left"))
    d.add(elm.Line().right(1).at((0, 0)))
    a = d.add(elm.Dot())
    xb = 11
    d.add(elm.Switch().at(a.center).to((xb, 0)).label("KM2 discharge contactor (main contacts)", loc="top"))
    b = d.add(elm.Dot())
    d.add(elm.Line().down(2.5).at(a.center))
    d.add(elm.FuseIEC().right().label("F11 3 A", loc="bottom", ofst=0.35))
    k8 = d.add(elm.Switch().right().label("K8", loc="top"))
    d.add(elm.FuseIEC().right().label("TF1 thermal\ncut-off", loc="bottom", ofst=0.35))
    d.add(elm.Resistor().right().label("R33  10 / 22 / 47 Ω\n50 / 50 / 100 W", loc="top"))
    d.add(elm.Line().up().toy(0))
    # load: the inverter's input capacitance
    d.add(elm.Line().right(2.5).at(b.center))
    ld = d.add(elm.Dot().label("LOAD+ (inverter +)", loc="top"))
    d.add(elm.Capacitor(polar=True).down().at(ld.center).label("inverter\ninput C\n1–20 mF", loc="bottom"))
    d.add(elm.Ground().label("BUS−", loc="right"))
    # bus sense: LOAD+ -> F10 -> J6.3 -> R30/R31 divider -> clamp -> R32 -> C16 -> AIN3
    d.add(elm.Line().right(4).at(ld.center))
    d.add(elm.FuseIEC().down().label("F10 0.5 A", loc="bottom", ofst=0.35))
    d.add(elm.Dot(open=True).label("J6.3", loc="left"))
    d.add(elm.Resistor().down().label("R30\n100 kΩ\n0.1 %", loc="bottom"))
    n = d.add(elm.Dot())
    d.add(elm.Resistor().down().at(n.center).label("R31\n5.1 kΩ\n0.1 %", loc="bottom"))
    d.add(elm.Ground())
    d.add(elm.Line().right(2.5).at(n.center))
    k = d.add(elm.Dot())
    d.add(elm.Schottky().up().at(k.center).label("D23a", loc="bottom"))
    d.add(elm.Vdd().label("+3V3"))
    low = (k.center[0], k.center[1] - 2.5)
    d.add(elm.Schottky().up().at(low).to(k.center).label("D23b", loc="bottom"))
    d.add(elm.Ground().at(low))
    d.add(elm.Resistor().right().at(k.center).label("R32 1 kΩ"))
    c = d.add(elm.Dot())
    d.add(elm.Capacitor().down().at(c.center).label("C16\n100 nF", loc="bottom"))
    d.add(elm.Ground())
    d.add(elm.Line().right(1.5).at(c.center))
    d.add(elm.Dot(open=True).label("AIN3\n(U10 ADS1115)", loc="right"))
    # K8 coil: relay coil rail -> K2 pole B (BMS) -> J6.1 -> coil -> J6.2 -> Q12 (PackGuard, GPIO19)
    xc = 2
    d.add(elm.Vdd().at((xc, -5)).label("relay coil rail (K4–K7's)"))
    d.add(elm.Switch().down().at((xc, -5)).label("K2 pole B\n(BMS Discharge\nEnable)", loc="bottom"))
    j1 = d.add(elm.Dot(open=True).label("J6.1", loc="right"))
    coil = d.add(elm.Inductor2(loops=3).down().label("K8", loc="top"))
    j2 = d.add(elm.Dot(open=True).label("J6.2", loc="right"))
    d.add(elm.Line().left(2.2).at(j1.center))
    d.add(elm.Diode().down().toy(j2.center).reverse().label("D22\n1N4007", loc="top"))
    d.add(elm.Line().right().tox(xc))
    ym = coil.center[1]
    d.add(elm.Line().at((xc + 0.5, ym)).to((k8.center[0], ym)).linestyle(":"))
    d.add(elm.Line().at((k8.center[0], ym)).to((k8.center[0], -2.8)).linestyle(":"))
    d.add(elm.Line().down(0.8).at(j2.center))
    q = d.add(elm.NFet().right().anchor("drain").reverse().label("Q12\nAO3400A", loc="right", ofst=(0.3, 0)))
    d.add(elm.Ground().at(q.source))
    d.add(elm.Line().left(1).at(q.gate))
    g = d.add(elm.Dot())
    d.add(elm.Resistor().left().label("R28 220 Ω"))
    d.add(elm.Dot(open=True).label("GPIO19\n(header 35)", loc="left"))
    d.add(elm.Resistor().down().at(g.center).label("R29 10 kΩ", loc="bottom"))
    d.add(elm.Ground())
    note(d, (6, -8), "K8 closes only while the BMS enables discharge (K2 pole B)\nAND PackGuard drives GPIO19 high "
         "(R29 holds Q12 off otherwise).\nR33 per pack: 10 Ω (12 V), 22 Ω (24 V), 47 Ω (48 V);\n"
         "bus divider ratio 5.1 / 105.1: 60 V → 2.91 V. Sizing: hardware/precharge.md.")
    d.save(str(path))


DRAWINGS = {
    "bms-input-direct.svg": bms_input_direct,
    "bms-input-opto.svg": bms_input_opto,
    "relay-driver.svg": relay_driver,
    "heartbeat-pump.svg": heartbeat_pump,
    "ads1115-input.svg": ads1115,
    "topology-defence.svg": topology_defence,
    "topology-pi-in-loop.svg": topology_pi_in_loop,
    "precharge.svg": precharge,
}


def main(argv):
    if len(argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    out = Path(argv[1])
    out.mkdir(parents=True, exist_ok=True)
    for name, fn in DRAWINGS.items():
        fn(out / name)
        print(f"wrote {out / name}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
