import type { RegexDecoderSpec } from '../harness/core/decoders.ts';

/** Decoders for the panel firmware's free-form log lines (shared by the sim and lab rigs). */
export const PANEL_DECODERS: RegexDecoderSpec[] = [
  { kind: 'queued', pattern: /⚡ Queued: (?<btn>[A-Z_]+)/ },
  { kind: 'queue_full', pattern: /Event queue full(?:, dropping (?<btn>[A-Z_]+))?/ },
  { kind: 'pressure', pattern: /✓ Pressure: (?<bar>\d+(?:\.\d+)?) bar/ },
  { kind: 'not_started', pattern: /Reactor not started!/ },
  { kind: 'processed', pattern: /📊 Processed (?<count>\d+) events/ },
];
