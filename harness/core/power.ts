import { sleepOn, type Clock } from './clock.ts';
import { LimitError } from './buttons.ts';
import type { DigitalOutput, PowerControl } from './interfaces.ts';
import type { ObservationLog } from './observation-log.ts';
import { HARNESS_KIND, SOURCE } from './topics.ts';

/** How a relay contact carries a device's supply (a rig's `power` entry adds where the relay is). */
export interface PowerContact {
  /**
   * Which contact carries the supply. `NC`: the device is powered while the relay is released
   * (the safe state keeps the bench running); `NO`: powered while energised.
   */
  contact: 'NO' | 'NC';
  /** Minimum time off in a power cycle, ms (capacitors must discharge). */
  minOffMs: number;
}

/**
 * A device's supply switched by a relay. The contact wiring is resolved here, once: with `NC`
 * the device is powered while the relay is released (the bench's safe state keeps it running),
 * with `NO` while it is energised. A cycle keeps the device off for at least the rig's
 * `minOffMs` (supply capacitors must discharge, or the device browns out instead of resetting).
 */
export class RelayPower implements PowerControl {
  private on_: boolean;

  constructor(
    readonly device: string,
    private readonly output: DigitalOutput,
    private readonly spec: PowerContact,
    private readonly log: ObservationLog,
    private readonly clock: Clock = log.clock,
  ) {
    // What the relay's current state means for the supply.
    this.on_ = spec.contact === 'NC' ? !output.active : output.active;
  }

  get isOn(): boolean {
    return this.on_;
  }

  private async apply(on: boolean, reason: string): Promise<void> {
    const t = this.log.clock.now(); // dated when commanded, as presses are (buttons.ts)
    await this.output.set(this.spec.contact === 'NC' ? !on : on);
    this.on_ = on;
    this.log.append({ t, source: SOURCE.power, kind: on ? HARNESS_KIND.powerOn : HARNESS_KIND.powerOff, fields: { device: this.device, reason } });
  }

  on(): Promise<void> {
    return this.apply(true, 'on');
  }

  off(): Promise<void> {
    return this.apply(false, 'off');
  }

  /** Off, wait `offMs` (default and minimum: the rig's minOffMs), on again. */
  async cycle(offMs: number = this.spec.minOffMs): Promise<void> {
    if (offMs < this.spec.minOffMs) {
      throw new LimitError(`${this.device}: a power cycle with ${offMs} ms off is shorter than the rig's minOffMs ${this.spec.minOffMs} ms (the supply would not discharge)`, 'minOffMs');
    }
    await this.apply(false, 'cycle');
    try {
      await sleepOn(this.clock, offMs);
    } finally {
      await this.apply(true, 'cycle');
    }
  }
}
