#!/usr/bin/python3
"""Run the gpiozero panel controller as the Pi of the simulated bench (``--dut-cmd``).

The bench sends ``gpio <bcm> <level>`` on stdin whenever a wired input changes (docs/sim.md). This
adapter drives gpiozero ``MockFactory`` pins with those levels, so gpiozero's own Button, its
``bounce_time`` and its callback machinery run. gpiozero's MockPin ignores ``bounce_time`` (a real
pin driver does not), so the pins here debounce the way RPi.GPIO does: an edge within
``bounce_time`` of the last one reported is not reported.

Run with ``hil run --dut-edge-times``, the bench adds the contact's time to each line
(``gpio <bcm> <level> <monotonic ns>``) and the debounce uses it, as a Pi's kernel timestamps the
edge when it happens. Without it, the edge's time is when this program reads the line: on a loaded
host lines arrive late and bunched, a release read within ``bounce_time`` of its press is dropped,
gpiozero then takes the button as still held, and the next press of it is lost.

    /usr/bin/python3 -u hil_bench.py [--style racy|ids] [--bug NAME]
"""
import argparse
import json
import os
import sys
import time

from gpiozero import Device
from gpiozero.pins.mock import MockFactory, MockPin

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from panel_controller import BUTTONS, PLTNPanelController  # noqa: E402

BUGS = ["stopping-deadlock", "rod-typo", "stop-flushes-queue", "emergency-priority", "copy-paste-rod"]


class BenchPin(MockPin):
    """A mock input pin whose edge reports honour ``bounce_time`` (RPi.GPIO's bouncetime)."""

    def __init__(self, factory, number):
        super().__init__(factory, number)
        self._last_report = None

    def _drive(self, level, at=None):
        if not self._change_state(bool(level)):
            return
        if self._edges not in ("both", "rising" if level else "falling") or self._when_changed is None:
            return
        now = time.monotonic() if at is None else at
        if self._bounce and self._last_report is not None and now - self._last_report < self._bounce:
            return
        self._last_report = now
        self._call_when_changed()

    def drive_high(self, at=None):
        self._drive(1, at)

    def drive_low(self, at=None):
        self._drive(0, at)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--style", choices=["racy", "ids"], default=os.environ.get("HIL_PANEL_STYLE", "racy"))
    ap.add_argument("--bug", choices=BUGS, default=os.environ.get("HIL_PANEL_BUG") or None)
    args = ap.parse_args()
    gpio_map = json.loads(os.environ.get("HIL_GPIO_MAP") or "{}")
    unknown = sorted(set(gpio_map) - set(BUTTONS))
    if unknown:
        sys.exit(f"hil_bench: HIL_GPIO_MAP names buttons the panel does not have: {', '.join(unknown)}")
    Device.pin_factory = MockFactory(pin_class=BenchPin)
    panel = PLTNPanelController(gpio_map, style=args.style, bug=args.bug)
    panel.start()
    pins = {int(p): Device.pin_factory.pin(int(p)) for p in gpio_map.values()}
    pending = b""
    while True:  # ends when the bench goes away
        chunk = os.read(0, 4096)  # whatever has arrived: no read-ahead
        if not chunk:
            break
        *lines, pending = (pending + chunk).split(b"\n")
        for raw in lines:
            drive(pins, raw.decode("ascii", "replace"))


def drive(pins, raw):
    """One `gpio <bcm> <level> [<t_ns>]` line: drive the mock pin (its callbacks run here, as on the edge thread)."""
    parts = raw.split()
    if len(parts) not in (3, 4) or parts[0] != "gpio" or not parts[1].isdigit():
        return
    pin = pins.get(int(parts[1]))
    if pin is None:
        return
    # The contact's own time (CLOCK_MONOTONIC, the clock of time.monotonic()), when the bench sends it.
    at = int(parts[3]) / 1e9 if len(parts) == 4 and parts[3].isdigit() else None
    if parts[2] == "0":
        pin.drive_low(at)
    else:
        pin.drive_high(at)


if __name__ == "__main__":
    main()
