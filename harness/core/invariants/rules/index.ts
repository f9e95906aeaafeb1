/**
 * Every invariant, registered in one place. Adding one = a new file in this folder + a line here.
 * Order matters only for the order violations found by one observation are reported in.
 */
import type { RuleDefinition } from '../rule.ts';
import { callbackLatency } from './callback-latency.ts';
import { causality } from './causality.ts';
import { deathPattern } from './death-pattern.ts';
import { drain } from './drain.ts';
import { exactlyOnce } from './exactly-once.ts';
import { heartbeat } from './heartbeat.ts';
import { httpRequests } from './http-requests.ts';
import { order } from './order.ts';
import { phantomEdge } from './phantom-edge.ts';
import { processingLatency } from './processing-latency.ts';
import { queueBound } from './queue-bound.ts';
import { reboot } from './reboot.ts';
import { serialLink } from './serial-link.ts';
import { serialSeq } from './serial-seq.ts';

export const RULES: readonly RuleDefinition[] = [
  serialLink,
  deathPattern,
  serialSeq,
  reboot,
  exactlyOnce,
  phantomEdge,
  queueBound,
  order,
  callbackLatency,
  processingLatency,
  heartbeat,
  drain,
  httpRequests,
  causality,
];
