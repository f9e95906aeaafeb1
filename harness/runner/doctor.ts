import path from 'node:path';
import { ButtonPresser } from '../core/buttons.ts';
import { ConfigError } from '../core/errors.ts';
import { ObservationLog } from '../core/observation-log.ts';
import { readyExpectation } from '../core/ready.ts';
import type { LineSource, RelayBoard } from '../core/interfaces.ts';
import { describePortSpec } from '../hw/port-finder.ts';
import { buildBoards, buildConsole, checkBoard } from '../parts/assemble.ts';
import { serialConsole } from '../parts/registry.ts';
import type { PortSpec, RigDefinition } from '../rig/types.ts';
import { startSimulatedBench, type SimBenchHandle } from '../sim/provider.ts';
import { lastUnfinishedRun, takeoverWarnings } from './takeover.ts';

/** One row of the doctor's table. */
export interface DoctorRow {
  kind: 'device' | 'board' | 'click';
  name: string;
  /** How the rig names the port. */
  port: string;
  foundAt: string;
  handshakeMs?: number;
  firmware?: string;
  /** Lines read in the listening window (devices). */
  lines?: number;
  ok: boolean;
  /** What is wrong, in bench words, or what was seen. */
  note: string;
}

export interface DoctorOptions {
  /** How long to listen to each device console. Default 2000 ms. */
  listenMs?: number;
  /** Press this button once (a tap) and look for its edge on the device. Nothing is pressed otherwise. */
  click?: string;
  /** Called as each check finishes (for live output). */
  onRow?: (row: DoctorRow) => void;
  /** Reports root the rig's runs are recorded in: says how long relays found energised may have been held. Default `reports`. */
  out?: string;
  /** Called with each warning as it is found (relays left energised). */
  onWarning?: (warning: string) => void;
}

export interface DoctorResult {
  rows: DoctorRow[];
  ok: boolean;
  /** Relays a killed run left energised, released by the doctor's takeover: by channel, and for how long they may have been held. */
  warnings: string[];
}

/**
 * Open every port and board of a rig, in parallel, and say what answered: where each port was
 * found, the Firmata handshake time and firmware, how many lines each console printed in the
 * listening window. Exercises nothing unless asked (`click`). Always releases and closes
 * everything, whatever failed.
 */
export async function doctor(rig: RigDefinition, options: DoctorOptions = {}): Promise<DoctorResult> {
  const listenMs = options.listenMs ?? 2000;
  if (options.click !== undefined && !(options.click in rig.buttons)) {
    throw new ConfigError(`--click: no button ${JSON.stringify(options.click)} on rig ${rig.name}; buttons: ${Object.keys(rig.buttons).join(', ')}`);
  }
  const rows: DoctorRow[] = [];
  const warnings: string[] = [];
  const add = (row: DoctorRow): void => {
    rows.push(row);
    options.onRow?.(row);
  };
  const log = new ObservationLog();
  let sim: SimBenchHandle | undefined;
  const sources: LineSource[] = [];
  const boards = new Map<string, RelayBoard>();
  try {
    if (rig.simulated) sim = await startSimulatedBench(rig, { seed: 1 });
    const resolve = (spec: PortSpec): PortSpec => (spec.sim ? { path: sim?.description.ports[spec.sim] ?? `(the sim has no port ${spec.sim})` } : spec);

    // Every part is built as a run builds it (harness/parts), but one-shot: a lost port is not
    // waited for. The consoles first: a device that boots now prints its ready line only once.
    const deviceChecks = Object.entries(rig.devices).map(async ([name, spec]) => {
      const src = buildConsole(spec, { name, port: resolve(spec.port), log, oneShot: true });
      sources.push(src);
      add({ kind: 'device', name, port: describePortSpec(spec.port), ...(await serialConsole.doctor(src, spec, { listenMs })) });
    });

    const boardChecks = buildBoards(rig, { log, port: (_name, spec) => resolve(spec), oneShot: true }).map(async (b) => {
      boards.set(b.name, b.board);
      const check = await checkBoard(b);
      if (check.ok) {
        for (const w of takeoverWarnings([b.board], () => lastUnfinishedRun(path.resolve(options.out ?? 'reports'), rig.name))) {
          warnings.push(w);
          options.onWarning?.(w);
        }
      }
      add({ kind: 'board', name: b.name, port: describePortSpec(b.spec.port), ...check });
    });
    await Promise.all([...boardChecks, ...deviceChecks]);

    if (options.click !== undefined) await clickCheck(rig, options.click, boards, log, add);
  } finally {
    await Promise.allSettled([...boards.values()].map((b) => b.close()));
    await Promise.allSettled(sources.map((s) => s.close()));
    if (sim) await sim.stop();
  }
  return { rows, ok: rows.every((r) => r.ok), warnings };
}

async function clickCheck(rig: RigDefinition, button: string, boards: Map<string, RelayBoard>, log: ObservationLog, add: (row: DoctorRow) => void): Promise<void> {
  const spec = rig.buttons[button]!;
  const board = boards.get(spec.board);
  const row = { kind: 'click' as const, name: button, port: `${spec.board} pin ${spec.pin}`, foundAt: `${spec.device} GPIO ${spec.gpio}` };
  if (board?.state !== 'ready') {
    add({ ...row, ok: false, note: `board ${spec.board} is not ready; nothing pressed` });
    return;
  }
  const bootMs = rig.power[spec.device]?.bootMs ?? 10_000;
  try {
    await log.waitFor(readyExpectation(spec.device, rig.devices[spec.device]?.ready), { within: bootMs + 3000, from: 0 });
  } catch {
    add({ ...row, ok: false, note: `${spec.device} never said it was ready (within its bootMs ${bootMs} ms + 3 s); nothing pressed` });
    return;
  }
  const presser = new ButtonPresser(new Map([[button, board.output(spec.pin)]]), rig.limits, log);
  const from = log.nextIndex;
  const rec = await presser.tap(button);
  const pressAt = log.at(rec.pressIndex)!.t;
  try {
    const edge = await log.waitFor({ topic: `${spec.device}.edge`, where: (o) => Number(o.fields?.pin) === spec.gpio && Number(o.fields?.level) === 0 }, { within: 2000, from });
    add({ ...row, ok: true, note: `edge seen on ${spec.device} ${(Number(edge.t - pressAt) / 1e6).toFixed(1)} ms after the relay command` });
  } catch {
    add({ ...row, ok: false, note: `no edge on ${spec.device} GPIO ${spec.gpio} within 2 s of the press: check the relay's contact wiring to that button, or the rig's pin/gpio numbers` });
  }
}

/** The doctor's table as plain text (no control codes). */
export function formatDoctorTable(rows: readonly DoctorRow[]): string {
  const head = ['', 'part', 'port (rig)', 'found at', 'handshake', 'firmware', 'lines', 'note'];
  const body = rows.map((r) => [
    r.ok ? 'ok' : 'FAIL',
    `${r.kind} ${r.name}`,
    r.port,
    r.foundAt,
    r.handshakeMs !== undefined ? `${r.handshakeMs.toFixed(0)} ms` : '',
    r.firmware ?? '',
    r.lines !== undefined ? String(r.lines) : '',
    r.ok ? r.note : 'see below',
  ]);
  // The note is the last column and may be long: it is not padded.
  const widths = head.map((h, i) => (i === head.length - 1 ? 0 : Math.max(h.length, ...body.map((b) => b[i]!.length))));
  const line = (cells: string[]) => cells.map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]!))).join('  ').trimEnd();
  return [line(head), ...body.map(line)].join('\n');
}
