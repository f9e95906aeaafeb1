// Local declarations for the parts of firmata-io 2.3.0 and johnny-five 2.1.0 this project uses.
// firmata-io ships no types; @types/johnny-five disagrees with the 2.1.0 runtime (no `sigint`,
// declares `isOn`), so both are described here from their lib/ sources.

declare module 'firmata-io' {
  import { EventEmitter } from 'node:events';

  interface FirmataOptions {
    /** ms to wait for the boot version report before asking for it. Default 5000. */
    reportVersionTimeout?: number;
    /** Sent as SAMPLING_INTERVAL after the handshake, only if given. Firmware default 19 ms. */
    samplingInterval?: number;
    skipCapabilities?: boolean;
  }

  interface FirmataPin {
    supportedModes: number[];
    mode?: number;
    value: number;
    report: number;
    analogChannel: number;
    state?: number;
  }

  /** The transport: a serialport or any Duplex that emits `open`. */
  interface FirmataTransport {
    on(event: string, listener: (...args: unknown[]) => void): unknown;
    write(data: Buffer, cb?: (err?: Error | null) => void): unknown;
  }

  export interface Firmata extends EventEmitter {
    readonly MODES: {
      INPUT: 0;
      OUTPUT: 1;
      ANALOG: 2;
      PWM: 3;
      SERVO: 4;
      SHIFT: 5;
      I2C: 6;
      ONEWIRE: 7;
      STEPPER: 8;
      SERIAL: 10;
      PULLUP: 11;
      IGNORE: 127;
    };
    readonly HIGH: 1;
    readonly LOW: 0;
    isReady: boolean;
    versionReceived: boolean;
    pins: FirmataPin[];
    analogPins: number[];
    version: { major?: number; minor?: number };
    firmware: { name?: string; version?: { major: number; minor: number } };
    RESOLUTION: { ADC: number | null; DAC: number | null; PWM: number | null };
    transport: FirmataTransport;
    reportVersion(cb: () => void): void;
    queryFirmware(cb: () => void): void;
    queryCapabilities(cb: () => void): void;
    queryAnalogMapping(cb: () => void): void;
    queryPinState(pin: number, cb: () => void): void;
    pinMode(pin: number, mode: number): void;
    digitalWrite(pin: number, value: number, enqueue?: boolean): void;
    /** Local image of each 8-pin port's output bits (what the next DIGITAL_MESSAGE sends). */
    ports: number[];
    /** Update the local image only; returns the port number. */
    updateDigitalPort(pin: number, value: number): number;
    digitalRead(pin: number, cb: (value: number) => void): void;
    analogRead(pin: number, cb: (value: number) => void): void;
    reportDigitalPin(pin: number, value: 0 | 1): void;
    reportAnalogPin(pin: number, value: 0 | 1): void;
    setSamplingInterval(ms: number): void;
    sysexCommand(message: number[]): void;
    reset(): void;
  }

  export interface FirmataConstructor {
    new (transport: FirmataTransport, options?: FirmataOptions, callback?: (err?: Error) => void): Firmata;
  }

  /** `module.exports` is bindTransport(Transport) with the class attached as `.Firmata`. */
  interface BindTransport {
    (transport: unknown): FirmataConstructor;
    Firmata: FirmataConstructor;
  }

  const bindTransport: BindTransport;
  export default bindTransport;
}

declare module 'johnny-five' {
  import { EventEmitter } from 'node:events';

  interface BoardOptions {
    io?: unknown;
    id?: string;
    /** Default true. Always pass false: with stdin at /dev/null the REPL exits the process. */
    repl?: boolean;
    debug?: boolean;
    /** Default true: installs a SIGINT handler that calls process.reallyExit(). */
    sigint?: boolean;
    /** ms from `connect` to `ready` before an error. Default 10000. */
    timeout?: number;
  }

  export interface Board extends EventEmitter {
    readonly isReady: boolean;
    readonly isConnected: boolean;
    readonly io: unknown;
    pinMode(pin: number, mode: number): this;
    digitalWrite(pin: number, value: number): this;
    digitalRead(pin: number, cb: (value: number) => void): this;
  }

  interface PinModes {
    readonly INPUT: 0;
    readonly OUTPUT: 1;
    readonly ANALOG: 2;
    readonly PWM: 3;
    readonly SERVO: 4;
  }

  interface RelayOptions {
    pin: number | string;
    /** `NC` inverts: close() writes LOW. Default `NO`. */
    type?: 'NO' | 'NC';
    board?: Board;
  }

  export interface Relay {
    readonly pin: number;
    readonly type: 'NO' | 'NC';
    readonly isClosed: boolean;
    readonly value: 0 | 1;
    open(): this;
    close(): this;
    toggle(): this;
  }

  const five: {
    Board: new (options?: BoardOptions) => Board;
    Pin: PinModes;
    Relay: new (options: RelayOptions | number) => Relay;
  };
  export default five;
}
