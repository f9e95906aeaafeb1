/**
 * The rig schema as JSON Schema (draft 2020-12), for editors and tools that read rig
 * descriptions: `npm run rig-schema` writes it to rigs/rig.schema.json, and a test fails when the
 * committed file is stale. Fields a JSON document cannot hold (RegExps) are described in words.
 *
 *   node --import=tsx harness/rig/json-schema.ts [out-file]
 * @module
 */
import fs from 'node:fs';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';
import { rigSchema } from './schema.ts';

/** Where the committed schema lives. */
export const RIG_JSON_SCHEMA_FILE = fileURLToPath(new URL('../../rigs/rig.schema.json', import.meta.url));

/** The rig schema as JSON Schema text, as committed (2-space indent, final newline). */
export function rigJsonSchemaText(): string {
  const schema = z.toJSONSchema(rigSchema, { io: 'input', unrepresentable: 'any', target: 'draft-2020-12' });
  return `${JSON.stringify({ ...schema, title: 'hil rig definition' }, null, 2)}\n`;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === fs.realpathSync(process.argv[1])) {
  const out = process.argv[2] ?? RIG_JSON_SCHEMA_FILE;
  fs.writeFileSync(out, rigJsonSchemaText());
  console.log(`wrote ${out}`);
}
