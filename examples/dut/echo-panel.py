#!/usr/bin/env python3
"""A minimal external DUT for the simulated bench (see docs/sim.md, "External DUT").

Run by the sim as the Pi:  --dut-cmd "python3 examples/dut/echo-panel.py"

- reads the wiring from HIL_GPIO_MAP (JSON: button name -> BCM pin),
- prints a boot banner and a `HIL ... boot` line,
- for every `gpio <bcm> <level>` line on stdin prints an `edge` line, and for a press (level 0)
  a `cb`, `done` and `state` line plus a human-readable one,
- exits when stdin closes (the sim went away).

Everything goes to stdout, which the sim forwards byte for byte to the Pi's console PTY.
"""
import json
import os
import sys
import time

seq = 0


def hil(kind, **fields):
    """One telemetry line (docs/telemetry.md): HIL <seq> <t_us> <kind> key=value ..."""
    global seq
    seq += 1
    t_us = time.monotonic_ns() // 1000
    tail = " ".join(f"{k}={v}" for k, v in fields.items())
    sys.stdout.write(f"HIL {seq} {t_us} {kind} {tail}".rstrip() + "\n")


def main():
    gpio_map = json.loads(os.environ.get("HIL_GPIO_MAP", "{}"))
    pin_to_button = {int(pin): name for name, pin in gpio_map.items()}
    level = {pin: 1 for pin in pin_to_button}  # inputs are pulled up: 1 = released
    tag = " ".join(sys.argv[1:])
    sys.stdout.write(f"echo-panel starting (pid {os.getpid()}{', ' + tag if tag else ''}), {len(pin_to_button)} buttons\n")
    hil("boot", fw="echo-panel", ver="1.0")
    sys.stdout.flush()
    processed = 0
    for raw in sys.stdin:
        parts = raw.split()
        if len(parts) != 3 or parts[0] != "gpio":
            sys.stdout.write(f"echo-panel: ignoring {raw.strip()!r}\n")
            sys.stdout.flush()
            continue
        t0 = time.monotonic_ns()
        pin, lvl = int(parts[1]), int(parts[2])
        if level.get(pin) == lvl:
            continue
        level[pin] = lvl
        hil("edge", pin=pin, level=lvl)
        btn = pin_to_button.get(pin)
        if lvl == 0 and btn is not None:
            hil("cb", btn=btn, dur_us=(time.monotonic_ns() - t0) // 1000)
            sys.stdout.write(f"pressed {btn}\n")
            processed += 1
            hil("done", btn=btn, dur_us=(time.monotonic_ns() - t0) // 1000)
            hil("state", processed=processed)
        sys.stdout.flush()


if __name__ == "__main__":
    try:
        main()
    except (KeyboardInterrupt, BrokenPipeError):
        pass
