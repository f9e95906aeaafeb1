import { CMD, MAX_DATA_BYTES, SYSEX } from './protocol.ts';

/** What the parser calls when a message is complete (the firmware's attached callbacks). */
export interface FirmataHandlers {
  analogWrite(pin: number, value: number): void;
  digitalWrite(port: number, value: number): void;
  reportAnalog(analogPin: number, value: number): void;
  reportDigital(port: number, value: number): void;
  setPinMode(pin: number, mode: number): void;
  setPinValue(pin: number, value: number): void;
  sysex(command: number, argv: number[]): void;
  reportFirmware(): void;
  reportVersion(): void;
  systemReset(): void;
}

/**
 * Byte-for-byte port of Firmata 2.5's `FirmataParser::parse`, including its quirks: a status byte
 * while data bytes are awaited starts a new command; every byte except END_SYSEX is sysex payload
 * (even 0xFF); data bytes are stored back to front; sysex payload past MAX_DATA_BYTES is dropped.
 * STRING_DATA from the host is swallowed (StandardFirmata attaches no string callback).
 */
export class FirmataParser {
  private readonly data = new Array<number>(MAX_DATA_BYTES).fill(0);
  private waitForData = 0;
  private executeMultiByteCommand = 0;
  private multiByteChannel = 0;
  private parsingSysex = false;
  private sysexBytesRead = 0;

  constructor(private readonly h: FirmataHandlers) {}

  /** Feed one byte. Returns true when the byte completed a message (a handler may have run). */
  parse(input: number): boolean {
    if (this.parsingSysex) {
      if (input === CMD.END_SYSEX) {
        this.parsingSysex = false;
        this.processSysex();
        return true;
      }
      this.store(input, this.sysexBytesRead);
      this.sysexBytesRead++;
      return false;
    }
    if (this.waitForData > 0 && input < 128) {
      this.waitForData--;
      this.store(input, this.waitForData);
      if (this.waitForData === 0 && this.executeMultiByteCommand !== 0) {
        this.dispatchMultiByte();
        this.executeMultiByteCommand = 0;
        return true;
      }
      return false;
    }
    let command: number;
    if (input < 0xf0) {
      command = input & 0xf0;
      this.multiByteChannel = input & 0x0f;
    } else {
      command = input;
    }
    switch (command) {
      case CMD.ANALOG_MESSAGE:
      case CMD.DIGITAL_MESSAGE:
      case CMD.SET_PIN_MODE:
      case CMD.SET_DIGITAL_PIN_VALUE:
        this.waitForData = 2;
        this.executeMultiByteCommand = command;
        return false;
      case CMD.REPORT_ANALOG:
      case CMD.REPORT_DIGITAL:
        this.waitForData = 1;
        this.executeMultiByteCommand = command;
        return false;
      case CMD.START_SYSEX:
        this.parsingSysex = true;
        this.sysexBytesRead = 0;
        return false;
      case CMD.SYSTEM_RESET:
        this.reset();
        this.h.systemReset();
        return true;
      case CMD.REPORT_VERSION:
        this.h.reportVersion();
        return true;
      default:
        return false;
    }
  }

  /** `FirmataParser::systemReset` minus the callback: forget any half-parsed message. */
  reset(): void {
    this.waitForData = 0;
    this.executeMultiByteCommand = 0;
    this.multiByteChannel = 0;
    this.data.fill(0);
    this.parsingSysex = false;
    this.sysexBytesRead = 0;
  }

  private store(b: number, pos: number): void {
    if (pos < MAX_DATA_BYTES) this.data[pos] = b;
  }

  private d(i: number): number {
    return this.data[i] ?? 0;
  }

  private dispatchMultiByte(): void {
    const ch = this.multiByteChannel;
    switch (this.executeMultiByteCommand) {
      case CMD.ANALOG_MESSAGE:
        this.h.analogWrite(ch, (this.d(0) << 7) + this.d(1));
        break;
      case CMD.DIGITAL_MESSAGE:
        this.h.digitalWrite(ch, (this.d(0) << 7) + this.d(1));
        break;
      case CMD.SET_PIN_MODE:
        this.h.setPinMode(this.d(1), this.d(0));
        break;
      case CMD.SET_DIGITAL_PIN_VALUE:
        this.h.setPinValue(this.d(1), this.d(0));
        break;
      case CMD.REPORT_ANALOG:
        this.h.reportAnalog(ch, this.d(0));
        break;
      case CMD.REPORT_DIGITAL:
        this.h.reportDigital(ch, this.d(0));
        break;
    }
  }

  private processSysex(): void {
    if (this.sysexBytesRead === 0) {
      // An empty F0 F7: the firmware dispatches on a stale buffer[0]; nothing sensible to do.
      return;
    }
    const command = this.d(0);
    if (command === SYSEX.REPORT_FIRMWARE) {
      this.h.reportFirmware();
      return;
    }
    if (command === SYSEX.STRING_DATA) return;
    const stored = Math.min(this.sysexBytesRead, MAX_DATA_BYTES);
    this.h.sysex(command, this.data.slice(1, stored));
  }
}
