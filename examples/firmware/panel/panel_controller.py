"""Reactor control panel (PLTN) on a Raspberry Pi: the event-queue design, on gpiozero.

17 buttons on gpiozero ``Button``s (pulled up, ``bounce_time``). Their callbacks are lightweight:
they only enqueue the event and log. A processor thread takes events off a ``Queue(maxsize=100)``
and applies each under the state lock; a control thread runs the pump sequencing every 100 ms.

HIL telemetry (docs/telemetry.md) in one of two styles, chosen at start:

- ``racy`` (the common style): each line is printed right after its queue operation, so the
  processor can print ``q_get`` before the callback prints its ``q_put``;
- ``ids``: every event carries the id it was given when it was created (``id=`` on
  ``q_put``/``q_drop``/``q_get``/``done``), so lines match whatever order they print in.

Seeded bugs (``bug=``), each the kind a team really ships; none announces itself:

- ``stopping-deadlock``: EMERGENCY while a pump is STOPPING calls the control thread's helper that
  takes the state lock again (``threading.Lock`` is not reentrant): the processor and control
  threads block for good. Only the sequence REACTOR_START, PUMP_x_ON, PUMP_x_OFF, EMERGENCY
  (within the 1 s stop) reaches it.
- ``rod-typo``: the rod table spells REGULATING_ROD_DOWN wrong; pressing it with the reactor
  running raises KeyError in the processor thread, which dies.
- ``stop-flushes-queue``: REACTOR_STOP "discards stale commands" by emptying the queue: events
  queued behind it are dropped without a word.
- ``emergency-priority``: a PriorityQueue lets EMERGENCY overtake events queued before it.
- ``copy-paste-rod``: SHIM_ROD_DOWN moves the safety rod.
"""
import itertools
import queue
import sys
import threading
import time

from gpiozero import Button

# A GPIO callback must finish within a millisecond, and in CPython it holds the GIL to run at all:
# with the default 5 ms switch interval, a callback that wakes while the processor or the control
# thread runs (or is preempted mid-way) waits up to 5 ms for the GIL (measured: healthy callbacks of
# 1.4-1.7 ms now and then). A panel on this design asks the interpreter to switch every 0.2 ms.
sys.setswitchinterval(0.0002)

BUTTONS = [
    "REACTOR_START", "REACTOR_STOP", "EMERGENCY", "PRESSURE_UP", "PRESSURE_DOWN",
    "PUMP_PRIMARY_ON", "PUMP_PRIMARY_OFF", "PUMP_SECONDARY_ON", "PUMP_SECONDARY_OFF",
    "PUMP_TERTIARY_ON", "PUMP_TERTIARY_OFF", "SAFETY_ROD_UP", "SAFETY_ROD_DOWN",
    "SHIM_ROD_UP", "SHIM_ROD_DOWN", "REGULATING_ROD_UP", "REGULATING_ROD_DOWN",
]
QUEUE_MAXSIZE = 100
BOUNCE_TIME = 0.010
PRESSURE_START, PRESSURE_MIN, PRESSURE_MAX, PRESSURE_STEP = 100, 0, 200, 5
ROD_START, ROD_STEP = 50, 5
PUMPS = ["primary", "secondary", "tertiary"]
RODS = ["safety", "shim", "regulating"]
PUMP_START_S, PUMP_STOP_S = 2.0, 1.0
CONTROL_PERIOD_S = 0.1
HB_PERIOD_S = 0.25
DISPLAY_REFRESH_S = 0.008
STATS_EVERY = 50

ROD_BUTTONS = {
    "SAFETY_ROD_UP": ("safety", +1), "SAFETY_ROD_DOWN": ("safety", -1),
    "SHIM_ROD_UP": ("shim", +1), "SHIM_ROD_DOWN": ("shim", -1),
    "REGULATING_ROD_UP": ("regulating", +1), "REGULATING_ROD_DOWN": ("regulating", -1),
}


class Console:
    """Whole lines on stdout, HIL lines numbered in the order they are written.

    A GPIO callback must not wait for the console: writing and flushing a pipe or a UART can
    block, and a lock shared with the other threads' logging makes it wait for theirs too. So the
    callers only stamp the line (t_us is taken when the thing happened, not when it is printed) and
    hand it over; one printer thread numbers and writes them, in the order they were handed over.
    """

    def __init__(self, out=sys.stdout):
        self._out = out
        self._q = queue.SimpleQueue()
        self._seq = 0
        threading.Thread(target=self._printer, name="console", daemon=True).start()

    def line(self, text):
        self._q.put((None, text))

    def hil(self, kind, **fields):
        t_us = time.monotonic_ns() // 1000
        parts = []
        for k, v in fields.items():
            v = str(v)
            if " " in v or '"' in v:
                v = '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'
            parts.append(f"{k}={v}")
        self._q.put((t_us, f"{kind} {' '.join(parts)}".rstrip()))

    def _printer(self):
        while True:
            t_us, text = self._q.get()
            if t_us is None:
                self._out.write(text + "\n")
            else:
                self._seq += 1
                self._out.write(f"HIL {self._seq} {t_us} {text}\n")
            if self._q.empty():
                self._out.flush()


class PLTNPanelController:
    def __init__(self, pins, style="racy", bug=None, console=None):
        if style not in ("racy", "ids"):
            raise ValueError(f"style must be 'racy' or 'ids', got {style!r}")
        self.pins = dict(pins)
        self.style = style
        self.bug = bug
        self.out = console or Console()
        self.state_lock = threading.Lock()
        if bug == "emergency-priority":
            self.event_queue = queue.PriorityQueue(maxsize=QUEUE_MAXSIZE)
        else:
            self.event_queue = queue.Queue(maxsize=QUEUE_MAXSIZE)
        self._ids = itertools.count(1)
        self.processed = 0
        self.running = True
        self.reactor = 0
        self.pressure = PRESSURE_START
        self.pumps = {p: "OFF" for p in PUMPS}
        self.pump_since = {p: 0.0 for p in PUMPS}
        self.rods = {r: ROD_START for r in RODS}
        self.power = 0
        self.buttons = []
        self.rod_buttons = dict(ROD_BUTTONS)
        if bug == "rod-typo":
            del self.rod_buttons["REGULATING_ROD_DOWN"]
            self.rod_buttons["REGULATING_ROD_DWN"] = ("regulating", -1)
        if bug == "copy-paste-rod":
            self.rod_buttons["SHIM_ROD_DOWN"] = ("safety", -1)

    # ---- boot ------------------------------------------------------------------------------
    def start(self):
        o = self.out
        o.line("========================================")
        o.line("  Reactor Control Panel v3.3")
        o.line("========================================")
        o.line(f"GPIO: BCM mode, {len(self.pins)} buttons, pull-up, bouncetime={int(BOUNCE_TIME * 1000)}ms")
        o.line(f"Event queue: maxsize={QUEUE_MAXSIZE}")
        o.hil("boot", fw="panel-gpiozero", ver="3.3", style=self.style)
        for name in BUTTONS:
            pin = self.pins.get(name)
            if pin is None:
                continue
            b = Button(pin, pull_up=True, bounce_time=BOUNCE_TIME)
            # 17 lightweight callbacks, one per button: only enqueue and log.
            b.when_pressed = self._make_callback(name, pin)
            b.when_released = self._make_release(pin)
            self.buttons.append(b)
        threading.Thread(target=self._processor, name="EventProcessor", daemon=True).start()
        o.line("✓ Event processor thread started")
        threading.Thread(target=self._control, name="ControlLogic", daemon=True).start()
        o.line("✓ Control logic thread started")
        o.line("🚀 Control panel ready")

    # ---- GPIO callbacks --------------------------------------------------------------------
    def _make_release(self, pin):
        def on_release():
            self.out.hil("edge", pin=pin, level=1)
        return on_release

    def _make_callback(self, name, pin):
        def on_press():
            t0 = time.monotonic_ns()
            self.out.hil("edge", pin=pin, level=0)
            ev_id = next(self._ids)
            item = (0 if name == "EMERGENCY" else 1, ev_id, name, t0) if self.bug == "emergency-priority" else (ev_id, name, t0)
            ids = {"id": ev_id} if self.style == "ids" else {}
            try:
                self.event_queue.put_nowait(item)
                self.out.hil("q_put", btn=name, **ids, depth=self.event_queue.qsize(), cap=QUEUE_MAXSIZE)
                self.out.line(f"⚡ Queued: {name}")
            except queue.Full:
                self.out.hil("q_drop", btn=name, **ids, depth=self.event_queue.qsize(), cap=QUEUE_MAXSIZE)
                self.out.line(f"⚠️  Event queue full, dropping {name}")
            self.out.hil("cb", btn=name, dur_us=(time.monotonic_ns() - t0) // 1000)
        return on_press

    # ---- processor thread ------------------------------------------------------------------
    def _processor(self):
        last_hb = time.monotonic()
        while self.running:
            if time.monotonic() - last_hb >= HB_PERIOD_S:
                last_hb = time.monotonic()
                self.out.hil("hb", thread="processor", depth=self.event_queue.qsize(), processed=self.processed)
            try:
                item = self.event_queue.get(timeout=HB_PERIOD_S / 2)
            except queue.Empty:
                continue
            ev_id, name, put_ns = item[-3], item[-2], item[-1]
            ids = {"id": ev_id} if self.style == "ids" else {}
            self.out.hil("q_get", btn=name, **ids, depth=self.event_queue.qsize(),
                         wait_us=(time.monotonic_ns() - put_ns) // 1000)
            t0 = time.monotonic_ns()
            with self.state_lock:
                lines, warn, changed = self._apply(name)
                time.sleep(0.001)  # the plant I/O for the event
                for text in lines:
                    self.out.line(text)
                if warn:
                    self.out.hil("warn", msg=warn)
                self.out.hil("done", btn=name, **ids, dur_us=(time.monotonic_ns() - t0) // 1000)
                if changed:
                    self.out.hil("state", **self._fields())
            self.processed += 1
            if self.processed % STATS_EVERY == 0:
                self.out.line(f"📊 Processed {self.processed} events")
            time.sleep(DISPLAY_REFRESH_S)  # display refresh (SPI), outside the lock

    def _apply(self, name):
        """Apply one button under the state lock: (lines, warning, changed)."""
        if name == "REACTOR_START":
            if self.reactor == 1:
                return ["ℹ️  Reactor already running"], None, False
            self.reactor = 1
            return ["✓ Reactor started"], None, True
        if self.reactor != 1:
            return ["⚠️  Reactor not started!"], "reactor not started", False
        if name == "REACTOR_STOP":
            self.reactor = 0
            if self.bug == "stop-flushes-queue":
                # Commands queued before the stop are stale now.
                while True:
                    try:
                        self.event_queue.get_nowait()
                    except queue.Empty:
                        break
            return ["✓ Reactor stopped"], None, True
        if name == "EMERGENCY":
            if self.bug == "stopping-deadlock":
                for p in PUMPS:
                    if self.pumps[p] == "STOPPING":
                        self._finish_pump_stop(p)
            for r in RODS:
                self.rods[r] = 0
            self.reactor = 0
            return ["🚨 EMERGENCY SHUTDOWN: all rods inserted, reactor stopped"], None, True
        if name in ("PRESSURE_UP", "PRESSURE_DOWN"):
            before = self.pressure
            want = before + (PRESSURE_STEP if name == "PRESSURE_UP" else -PRESSURE_STEP)
            p = min(PRESSURE_MAX, max(PRESSURE_MIN, want))
            self.pressure = p
            return [f"✓ Pressure: {p:.1f} bar{' (limit)' if p != want else ''}"], None, p != before
        if name.startswith("PUMP_"):
            _, which, cmd = name.split("_")
            pump = which.lower()
            label = f"{pump.capitalize()} pump"
            s = self.pumps[pump]
            if cmd == "ON":
                if s in ("STARTING", "ON"):
                    return [f"ℹ️  {label} already {s}"], None, False
                self.pumps[pump] = "STARTING"
                self.pump_since[pump] = time.monotonic()
                return [f"✓ {label} starting"], None, True
            if s in ("STOPPING", "OFF"):
                return [f"ℹ️  {label} already {s}"], None, False
            self.pumps[pump] = "STOPPING"
            self.pump_since[pump] = time.monotonic()
            return [f"✓ {label} stopping"], None, True
        if name.endswith(("_ROD_UP", "_ROD_DOWN")):
            rod, sign = self.rod_buttons[name]
            before = self.rods[rod]
            self.rods[rod] = min(100, max(0, before + sign * ROD_STEP))
            return [f"✓ {rod.capitalize()} rod: {self.rods[rod]}%"], None, self.rods[rod] != before
        return [f"⚠️  Unknown button {name}"], f"unknown button {name}", False

    # ---- control thread --------------------------------------------------------------------
    def _finish_pump_stop(self, pump):
        with self.state_lock:
            self.pumps[pump] = "OFF"
            return f"✓ {pump.capitalize()} pump OFF"

    def _derive_power(self):
        if self.reactor != 1:
            return 0
        rods = 0.2 * self.rods["safety"] + 0.3 * self.rods["shim"] + 0.5 * self.rods["regulating"]
        on = sum(1 for p in PUMPS if self.pumps[p] == "ON")
        return int(rods * (0.4 + 0.2 * on) + 0.5)

    def _control(self):
        next_t = time.monotonic()
        last_hb = next_t
        while self.running:
            now = time.monotonic()
            if now - last_hb >= HB_PERIOD_S:
                last_hb = now
                self.out.hil("hb", thread="control", depth=self.event_queue.qsize(), processed=self.processed)
            lines = []
            with self.state_lock:
                for p in PUMPS:
                    since = now - self.pump_since[p]
                    if self.pumps[p] == "STARTING" and since >= PUMP_START_S:
                        self.pumps[p] = "ON"
                        lines.append(f"✓ {p.capitalize()} pump ON")
                    elif self.pumps[p] == "STOPPING" and since >= PUMP_STOP_S:
                        self.pumps[p] = "OFF"
                        lines.append(f"✓ {p.capitalize()} pump OFF")
                power = self._derive_power()
                if power != self.power:
                    self.power = power
                    lines.append(f"✓ Power output: {power}%")
                if lines:
                    for text in lines:
                        self.out.line(text)
                    self.out.hil("state", **self._fields())
            next_t += CONTROL_PERIOD_S
            now = time.monotonic()
            if next_t < now:
                next_t = now
            time.sleep(next_t - now)

    def _fields(self):
        f = {"reactor": self.reactor, "pressure": self.pressure}
        for p in PUMPS:
            f[f"pump_{p}"] = self.pumps[p]
        for r in RODS:
            f[f"{r}_rod"] = self.rods[r]
        f["power"] = self.power
        return f
