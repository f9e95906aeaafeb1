/**
 * The layering rules in eslint.config.js fire: each forbidden import, linted as if it were in the
 * file named, gives a no-restricted-imports error; each allowed one gives none. The project's own
 * config is used (the ESLint Node API, typed lint and all), on the text given, so nothing is written.
 */
import { expect } from 'chai';
import path from 'node:path';
import { ESLint } from 'eslint';

const eslint = new ESLint({ cwd: path.resolve('.') });

/** The no-restricted-imports messages `code` gets as the content of `file`. */
async function restricted(file: string, code: string): Promise<string[]> {
  const [result] = await eslint.lintText(code, { filePath: path.resolve(file) });
  return result!.messages.filter((m) => m.ruleId === 'no-restricted-imports' || m.ruleId === '@typescript-eslint/no-restricted-imports').map((m) => m.message);
}

describe('layering in lint (no-restricted-imports)', function () {
  this.timeout(120_000);

  const cases: Array<{ file: string; code: string; fires: RegExp | null; why: string }> = [
    { why: 'core imports a rig type', file: 'harness/core/buttons.ts', code: "import type { RigDefinition } from '../rig/types.ts';\nexport type R = RigDefinition;\n", fires: /harness\/core imports nothing above it/ },
    { why: 'core, two folders deep, imports the runner', file: 'harness/core/invariants/rules/order.ts', code: "import { runScenarios } from '../../../runner/run.ts';\nexport const r = runScenarios;\n", fires: /harness\/core imports nothing above it/ },
    { why: 'core imports the device descriptions', file: 'harness/core/power.ts', code: "import { BUTTONS } from '../devices/panel.ts';\nexport const b = BUTTONS;\n", fires: /harness\/core imports nothing above it/ },
    { why: 'core imports serialport', file: 'harness/core/power.ts', code: "import { SerialPort } from 'serialport';\nexport const p = SerialPort;\n", fires: /only harness\/hw imports the hardware libraries/ },
    { why: 'the report imports johnny-five', file: 'harness/report/junit.ts', code: "import five from 'johnny-five';\nexport const f = five;\n", fires: /only harness\/hw imports the hardware libraries/ },
    { why: 'the runner imports firmata-io', file: 'harness/runner/session.ts', code: "import firmata from 'firmata-io';\nexport const f = firmata;\n", fires: /only harness\/hw imports the hardware libraries/ },
    { why: 'the runner imports the Modbus client', file: 'harness/runner/session.ts', code: "import modbus from 'modbus-serial';\nexport const m = modbus;\n", fires: /only harness\/hw imports the hardware libraries/ },
    { why: 'the sim imports the Modbus client (its slave is its own)', file: 'harness/sim/bench.ts', code: "import crc16 from 'modbus-serial/utils/crc16.js';\nexport const c = crc16;\n", fires: /only harness\/hw imports the hardware libraries/ },
    { why: 'the runner imports the inside of the sim', file: 'harness/runner/session.ts', code: "import { SIM_FAULTS } from '../sim/bench.ts';\nexport const f = SIM_FAULTS;\n", fires: /only through harness\/sim\/provider\.ts/ },
    { why: 'a rig imports the simulated panel', file: 'rigs/sim-bench.ts', code: "import { PANEL_FAULTS } from '../harness/sim/panel/index.ts';\nexport const f = PANEL_FAULTS;\n", fires: /only through harness\/sim\/provider\.ts/ },
    { why: 'devices imports a rig type', file: 'harness/devices/panel.ts', code: "import type { RigDefinition } from '../rig/types.ts';\nexport type R = RigDefinition;\n", fires: /harness\/devices describes the devices under test/ },
    { why: 'a rig module imports the runner', file: 'harness/rig/load.ts', code: "import { runSetupSteps } from '../runner/setup-steps.ts';\nexport const r = runSetupSteps;\n", fires: /harness\/rig describes and checks rigs/ },
    { why: 'core imports a part kind', file: 'harness/core/power.ts', code: "import { BOARD_KINDS } from '../parts/registry.ts';\nexport const k = BOARD_KINDS;\n", fires: /harness\/core imports nothing above it/ },
    { why: 'a part kind imports the rig schema', file: 'harness/parts/registry.ts', code: "import { rigSchema } from '../rig/schema.ts';\nexport const r = rigSchema;\n", fires: /may import only types from harness\/rig/ },
    { why: 'the parts import the runner', file: 'harness/parts/registry.ts', code: "import { RigSession } from '../runner/session.ts';\nexport const r = RigSession;\n", fires: /harness\/parts turns rig entries into parts/ },
    { why: 'a part kind imports serialport', file: 'harness/parts/kinds/serial-console.ts', code: "import { SerialPort } from 'serialport';\nexport const p = SerialPort;\n", fires: /only harness\/hw imports the hardware libraries/ },
    // Allowed:
    { why: 'a part kind imports its driver', file: 'harness/parts/kinds/firmata-board.ts', code: "import { FirmataBoard } from '../../hw/firmata-board.ts';\nexport const B = FirmataBoard;\n", fires: null },
    { why: 'the rig schema imports the part kinds', file: 'harness/rig/schema.ts', code: "import { boardSchema } from '../parts/registry.ts';\nexport const b = boardSchema;\n", fires: null },
    { why: 'the runner imports the parts', file: 'harness/runner/session.ts', code: "import { BOARD_KINDS } from '../parts/registry.ts';\nexport const k = BOARD_KINDS;\n", fires: null },
    { why: 'the runner imports the sim provider', file: 'harness/runner/session.ts', code: "import { SIM_FAULTS } from '../sim/provider.ts';\nexport const f = SIM_FAULTS;\n", fires: null },
    { why: 'hw imports serialport', file: 'harness/hw/serial-line-source.ts', code: "import { SerialPort } from 'serialport';\nexport const p = SerialPort;\n", fires: null },
    { why: 'hw imports the Modbus client', file: 'harness/hw/modbus-relay-board.ts', code: "import modbus from 'modbus-serial';\nexport const m = modbus;\n", fires: null },
    { why: 'the sim imports its own parts', file: 'harness/sim/bench.ts', code: "import { PANEL_FAULTS } from './panel/index.ts';\nexport const f = PANEL_FAULTS;\n", fires: null },
    { why: 'a rig module imports core and devices', file: 'harness/rig/types.ts', code: "import { ConfigError } from '../core/errors.ts';\nimport { BUTTONS } from '../devices/panel.ts';\nexport const c = [ConfigError, BUTTONS];\n", fires: null },
    { why: 'core imports core', file: 'harness/core/power.ts', code: "import { sleepOn } from './clock.ts';\nexport const s = sleepOn;\n", fires: null },
    { why: 'a test reaches inside the sim', file: 'test/sim/bench.test.ts', code: "import { SIM_FAULTS } from '../../harness/sim/bench.ts';\nexport const f = SIM_FAULTS;\n", fires: null },
  ];

  for (const c of cases) {
    it(`${c.fires ? 'refuses' : 'allows'}: ${c.why} (${c.file})`, async function () {
      const messages = await restricted(c.file, c.code);
      if (c.fires) {
        expect(messages, 'no-restricted-imports errors').to.have.length(1);
        expect(messages[0]).to.match(c.fires);
      } else {
        expect(messages).to.deep.equal([]);
      }
    });
  }
});
