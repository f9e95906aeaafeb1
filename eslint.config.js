// Typed lint: the point is to catch floating promises (a forgotten await on a relay or a port
// is a safety bug on a bench), so the type-checked rule set is used.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

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
    files: ['test/**/*.ts', 'scenarios/**/*.ts'],
    rules: {
      '@typescript-eslint/no-unused-expressions': 'off',
    },
  },
);
