// Typed lint: the point is to catch floating promises (a forgotten await on a relay or a port
// is a safety bug on a bench), so the type-checked rule set is used.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

// The layering, enforced. Imports are matched as written (relative paths), so each regex climbs
// out with `../` and names the folder under harness/ it lands in. Tests and benchmarks may reach
// anything (they test the parts from the inside).
const HARNESS_TOP = '^(\\.\\./)+(harness/)?';
const layer = {
  hwLibs: {
    group: ['serialport', '@serialport/*', 'johnny-five', 'firmata-io', 'modbus-serial', 'modbus-serial/*'],
    message: 'only harness/hw imports the hardware libraries; everything else reaches hardware through the interfaces in harness/core/interfaces.ts',
  },
  simInside: {
    regex: `${HARNESS_TOP}sim/(?!provider\\.ts$)`,
    message: 'the simulated bench is reached only through harness/sim/provider.ts (its one entry point); the rest of harness/sim is its inside',
  },
  aboveCore: {
    regex: `${HARNESS_TOP}(devices|rig|parts|runner|report|hw|sim|cli)/`,
    message: 'harness/core imports nothing above it (devices, rig, parts, runner, report, hw, sim, cli): define what core needs in core, and let the layer above import it from there',
  },
  aboveRig: {
    regex: `${HARNESS_TOP}(runner|report|hw|sim|cli)/`,
    message: 'harness/rig describes and checks rigs and imports only core, devices and the part kinds\' schemas (parts): the runner reads rigs, not the other way round',
  },
  aboveDevices: {
    regex: `${HARNESS_TOP}(rig|parts|runner|report|hw|sim|cli)/`,
    message: 'harness/devices describes the devices under test and imports only core',
  },
  aboveParts: {
    regex: `${HARNESS_TOP}(runner|report|sim|cli)/`,
    message: 'harness/parts turns rig entries into parts and imports only core, rig types and harness/hw: the runner assembles through it, not the other way round',
  },
  rigStatic: {
    regex: `${HARNESS_TOP}rig/`,
    allowTypeImports: true,
    message: 'harness/parts may import only types from harness/rig (the rig schema is built from the parts, not the other way round)',
  },
};
const restrict = (...patterns) => ({ 'no-restricted-imports': ['error', { patterns }] });

export default tseslint.config(
  // test/fixtures and examples hold stand-alone programs the sim runs as device firmware
  // (--dut-cmd), not harness code.
  { ignores: ['node_modules/**', 'reports/**', '.ci/**', 'bin/**', 'eslint.config.js', 'test/fixtures/**', 'examples/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/restrict-template-expressions': ['error', { allowNumber: true, allowBoolean: true, allowNullish: true, allowAny: false, allowRegExp: true }],
    },
  },
  {
    files: ['harness/**/*.ts', 'rigs/**/*.ts', 'scenarios/**/*.ts'],
    ignores: ['harness/core/**', 'harness/devices/**', 'harness/rig/**', 'harness/parts/**', 'harness/hw/**', 'harness/sim/**'],
    rules: restrict(layer.hwLibs, layer.simInside),
  },
  { files: ['harness/core/**/*.ts'], rules: restrict(layer.hwLibs, layer.aboveCore) },
  { files: ['harness/devices/**/*.ts'], rules: restrict(layer.hwLibs, layer.aboveDevices) },
  { files: ['harness/rig/**/*.ts'], rules: restrict(layer.hwLibs, layer.aboveRig) },
  {
    files: ['harness/parts/**/*.ts'],
    rules: {
      ...restrict(layer.hwLibs, layer.aboveParts),
      '@typescript-eslint/no-restricted-imports': ['error', { patterns: [layer.rigStatic] }],
    },
  },
  { files: ['harness/hw/**/*.ts'], rules: restrict(layer.simInside) },
  { files: ['harness/sim/**/*.ts'], rules: restrict(layer.hwLibs) },
  {
    files: ['test/**/*.ts', 'scenarios/**/*.ts'],
    rules: {
      '@typescript-eslint/no-unused-expressions': 'off',
    },
  },
);
