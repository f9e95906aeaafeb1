#!/usr/bin/env python3
"""A minimal external DUT for the simulated bench (see docs/sim.md, "External DUT").

Run by the sim as the Pi:  --dut-cmd "python3 -u examples/dut/echo-panel.py"

- reads the wiring from HIL_GPIO_MAP (JSON: button name -> BCM pin),
- prints a boot banner, a `HIL ... boot` line and, once it reads its input, the rig's ready line,
- for every change of an input level (`gpio <bcm> <level>` on stdin, contact bounce included)
  prints an `edge` line; a press (level 0) after the line has been released for the debounce time
  runs the "callback": the event goes into a bounded queue (`q_put`, or `q_drop` when full) and
  the callback reports itself (`cb`); the same thread then takes it (`q_get`), handles it
  (`done`) and prints a `state` line,
- prints a heartbeat (`hb thread=main`) at least every 200 ms,
- exits when stdin closes (the sim went away).

Every event goes through the queue with its telemetry, so the harness can follow each press:
press -> edge(s) -> q_put -> q_get -> done. A press whose callback printed `cb` but neither
`q_put` nor `q_drop` would be an event that vanished.

Everything goes to stdout, which the sim forwards byte for byte to the Pi's console PTY.
"""
import json
import os
import queue
import select
import sys
import time

seq = 0
DEBOUNCE_S = 0.020  # wider than contact bounce, shorter than the relays' fastest repeat
HB_S = 0.2


def hil(kind, **fields):
    """One telemetry line (docs/telemetry.md): HIL <seq> <t_us> <kind> key=value ..."""
    global seq
    seq += 1
    t_us = time.monotonic_ns() // 1000
    tail = " ".join(f"{k}={v}" for k, v in fields.items())
    sys.stdout.write(f"HIL {seq} {t_us} {kind} {tail}".rstrip() + "\n")
    sys.stdout.flush()


def say(text):
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


def main():
    gpio_map = json.loads(os.environ.get("HIL_GPIO_MAP", "{}"))
    pin_to_button = {int(pin): name for name, pin in gpio_map.items()}
    level = {pin: 1 for pin in pin_to_button}  # inputs are pulled up: 1 = released
    changed_at = {pin: -1.0 for pin in pin_to_button}
    events = queue.Queue(maxsize=100)
    tag = " ".join(sys.argv[1:])
    say(f"echo-panel starting (pid {os.getpid()}{', ' + tag if tag else ''}), {len(pin_to_button)} buttons")
    hil("boot", fw="echo-panel", ver="1.1")
    say("🚀 Control panel ready")
    processed = 0
    last_hb = 0.0
    fd = sys.stdin.fileno()
    buf = b""
    while True:
        now = time.monotonic()
        if now - last_hb >= HB_S:
            last_hb = now
            hil("hb", thread="main", depth=events.qsize(), processed=processed)
        ready, _, _ = select.select([fd], [], [], HB_S / 2)
        if not ready:
            continue
        chunk = os.read(fd, 4096)
        if not chunk:
            return
        buf += chunk
        while b"\n" in buf:
            raw, buf = buf.split(b"\n", 1)
            parts = raw.decode("ascii", "replace").split()
            if len(parts) != 3 or parts[0] != "gpio":
                say(f"echo-panel: ignoring {raw!r}")
                continue
            pin, lvl = int(parts[1]), int(parts[2])
            if pin not in level or level[pin] == lvl:
                continue
            t = time.monotonic()
            stable = t - changed_at[pin] >= DEBOUNCE_S
            level[pin] = lvl
            changed_at[pin] = t
            hil("edge", pin=pin, level=lvl)
            if lvl != 0 or not stable:
                continue  # a release, or contact bounce
            btn = pin_to_button[pin]
            # The callback: enqueue and report.
            t0 = time.monotonic_ns()
            try:
                events.put_nowait((btn, t0))
                hil("q_put", btn=btn, depth=events.qsize(), cap=events.maxsize)
            except queue.Full:
                hil("q_drop", btn=btn, depth=events.qsize(), cap=events.maxsize)
            hil("cb", btn=btn, dur_us=(time.monotonic_ns() - t0) // 1000)
            # The "processor", on the same thread: take it and handle it.
            while not events.empty():
                name, t_put = events.get_nowait()
                hil("q_get", btn=name, depth=events.qsize(), wait_us=(time.monotonic_ns() - t_put) // 1000)
                t1 = time.monotonic_ns()
                say(f"pressed {name}")
                processed += 1
                hil("done", btn=name, dur_us=(time.monotonic_ns() - t1) // 1000)
                hil("state", processed=processed)


if __name__ == "__main__":
    try:
        main()
    except (KeyboardInterrupt, BrokenPipeError):
        pass
