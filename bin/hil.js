#!/usr/bin/env node
// The harness is TypeScript run through tsx (a runtime dependency): no build step between a
// rig or scenario edit and the bench.
import { register } from 'tsx/esm/api';

register();
await import('../harness/cli/main.ts');
