// Entry of the ESP firmware worker thread (started by EspFirmware; see esp-firmware.ts).
import { workerData } from 'node:worker_threads';
import { PanelLinkFirmware } from './firmware.ts';
import { CPU_EMITTING, CPU_RUN, SharedCore, type FirmwareBootData, type FirmwareMessage, type HostMessage } from './shared.ts';

const data = workerData as FirmwareBootData;
const { ctl } = new SharedCore(data.shared);

// Print only while the CPU runs: once the main thread has halted it (panic, power loss) the
// line is lost, exactly like bytes a stopped chip never sent.
const emit = (m: FirmwareMessage): void => {
  if (Atomics.compareExchange(ctl, 0, CPU_RUN, CPU_EMITTING) !== CPU_RUN) return;
  try {
    data.port.postMessage(m);
  } finally {
    Atomics.store(ctl, 0, CPU_RUN);
  }
};

const firmware = new PanelLinkFirmware(data, emit);
data.port.on('message', (m: HostMessage) => firmware.onHostMessage(m));
await firmware.start();
