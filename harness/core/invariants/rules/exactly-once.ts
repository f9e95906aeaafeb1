/**
 * Every press that reached the device is one event, queued (`q_put`) or refused (`q_drop`), taken
 * once and done once; a taken event is finished in time. Press-level and queue-level findings come
 * from the correlator; this rule words them.
 */
import { eventName } from '../records.ts';
import type { RuleDefinition } from '../rule.ts';

export const exactlyOnce: RuleDefinition = {
  name: 'exactly-once',
  create(ctx) {
    const c = ctx.correlator;
    return {
      on: {
        noEdge({ p, deadline, hung }) {
          if (p.benchShort && !hung) {
            // Not the firmware's to answer for: the bench did not perform the press it was sent.
            ctx.report({
              invariant: 'exactly-once',
              device: p.device,
              t: deadline,
              at: p.benchShort.i,
              kind: 'rig',
              pressId: p.pressId,
              key: `no-edge:${p.pressId}`,
              detail: `press #${p.pressId} (${p.button}): ${p.device} printed no edge on GPIO ${p.gpio}, but the press was not performed as commanded (#${p.benchShort.i}: ${p.benchShort.reason}); the firmware is not judged on it`,
            });
            return;
          }
          ctx.report({
            invariant: 'exactly-once',
            device: p.device,
            t: deadline,
            at: p.press.i,
            kind: hung ? 'hung' : 'firmware',
            pressId: p.pressId,
            key: `no-edge:${p.pressId}`,
            detail: `press #${p.pressId} (${p.button}): relay energised at #${p.press.i} but ${p.device} printed no edge on GPIO ${p.gpio} within ${ctx.config.pressToEdgeMs} ms${hung ? ' (the device has stopped)' : ' (input ignored by the firmware, or check the relay and wiring)'}`,
          });
        },
        duplicate({ d, o, p, e, first }) {
          const a = first.put ?? first.drop;
          const b = e.put ?? e.drop;
          const dtMs = a && b ? ` ${((b.tDev - a.tDev) / 1000).toFixed(1)} ms after the first` : '';
          const bounce = p.edges > 1 ? `; its contact bounced (${p.edges} edges so far)` : '';
          ctx.report({ invariant: 'exactly-once', device: d.name, t: o.t, at: o.i, kind: 'firmware', pressId: p.pressId, key: `dup-press:${p.pressId}`, detail: `press #${p.pressId} (${p.button}) made ${d.name} queue or refuse a second event (#${o.i},${dtMs}${bounce}): one press must be one event (contact bounce not debounced?)` });
        },
        unpressed({ d, o, e }) {
          ctx.report({ invariant: 'exactly-once', device: d.name, t: o.t, at: o.i, kind: 'firmware', key: `no-edge-event:${o.i}`, detail: `${d.name} ${e.put || o.kind === 'q_put' ? 'queued' : 'refused'} ${e.key} at #${o.i} with no edge before it (an event nobody pressed, or one press handled twice)` });
        },
        queuedTwice({ d, o, e, prev }) {
          const what = e.requestId !== undefined ? `request ${e.requestId}` : `event id=${e.eventId ?? '?'} (${e.key})`;
          ctx.report({ invariant: 'exactly-once', device: d.name, t: o.t, at: o.i, kind: 'firmware', requestId: e.requestId, key: `req-twice:${d.name}:${e.key}:${o.i}`, detail: `${what} was ${o.kind === 'q_put' ? 'queued' : 'refused'} again at #${o.i} (already ${prev.put ? 'queued' : 'refused'} at #${(prev.put ?? prev.drop)!.i}): one ${e.requestId !== undefined ? 'request' : 'id'} must be one event` });
        },
        vanished({ d, e, t, at }) {
          if (c.recentGap(d, t)) return;
          const seen = e.cb ? `its callback ran (cb at #${e.cb.i})` : `its edge came (#${e.edge?.i ?? at})`;
          ctx.report({ invariant: 'exactly-once', device: d.name, t, at, kind: 'firmware', pressId: e.pressId, key: `vanish:${e.id}`, detail: `${eventName(e)}: ${d.name}'s ${seen} but the event was neither queued (q_put) nor refused (q_drop): it vanished (no such line within ${ctx.config.reorderToleranceMs} ms)` });
        },
        orphanTake({ d, take, t }) {
          const id = take.eventId !== undefined ? ` id=${take.eventId}` : '';
          ctx.report({ invariant: 'exactly-once', device: d.name, t, at: take.get.i, kind: 'firmware', requestId: take.requestId, key: `get-none:${take.get.i}`, detail: `${d.name} took ${take.key}${id} from its queue at #${take.get.i} but no ${take.key}${id} event was queued within ${ctx.config.reorderToleranceMs} ms (taken twice, or queued without a q_put line)` });
        },
        takenTwice({ d, e, take, t }) {
          const at = take.get.i;
          ctx.report({ invariant: 'exactly-once', device: d.name, t, at, kind: 'firmware', pressId: e.pressId, requestId: e.requestId, key: `get-twice:${at}`, detail: `${d.name} took ${eventName(e)} (id=${e.eventId ?? '?'}) from its queue again at #${at} (taken at #${e.get!.i}): an event processed twice` });
        },
        orphanDone({ d, o, key, req }) {
          ctx.report({ invariant: 'exactly-once', device: d.name, t: o.t, at: o.i, kind: 'firmware', requestId: req, key: `done-none:${o.i}`, detail: `${d.name} finished ${key} at #${o.i} with no q_get of ${key} before it (an event processed twice?)` });
        },
      },
      tick(at) {
        for (const d of c.devices.values()) {
          // Queued, then passed over: later events were taken and this one never was. Judged lost,
          // it leaves the queue, so a later event of the same button is not matched to it.
          let lost = 0;
          for (const e of d.queue) {
            // A take of its key still waiting for its own q_put may yet turn out to be this one's.
            if ((!e.overtaken && !e.gone) || !e.put || d.parked.some((t) => t.key === e.key)) continue;
            const allowUs = d.takeAllowanceUs(e);
            const deadline = e.put.t + BigInt(Math.round(allowUs * 1000));
            if (deadline >= at) continue;
            e.outcome = 'lost';
            lost++;
            const why = e.overtaken
              ? `${d.name} went on to take ${eventName(e.overtaken.by)} (#${e.overtaken.i}), queued after it`
              : `${d.name} reported its queue at depth ${e.gone!.depth} (#${e.gone!.i}) while the harness still counted it queued`;
            ctx.report({ invariant: 'exactly-once', device: d.name, t: deadline, at: e.put.i, kind: 'firmware', pressId: e.pressId, requestId: e.requestId, key: `skipped:${e.id}`, detail: `${eventName(e)} was queued (#${e.put.i}) and never taken: ${why}, and had not taken it ${(allowUs / 1000).toFixed(0)} ms after its q_put (depth ${e.put.depth} × ${(d.serviceUs() / 1000).toFixed(1)} ms per event × ${d.limits.drain.factor} + ${d.limits.drain.slackMs} ms): lost from the queue (discarded without a line?)` });
          }
          if (lost > 0) d.queue = d.queue.filter((e) => e.outcome !== 'lost');
          if (d.inProgress.length === 0) continue;
          const limit = BigInt(Math.round(d.limits.takenTimeoutMs * 1e6));
          for (const take of d.inProgress) {
            const deadline = take.get.t + limit;
            if (deadline >= at) break; // in take order: the rest are later
            const e = take.event;
            const what = e ? eventName(e) : `${take.key}${take.eventId !== undefined ? ` id=${take.eventId}` : ''}`;
            ctx.report({ invariant: 'exactly-once', device: d.name, t: deadline, at: take.get.i, kind: 'hung', pressId: e?.pressId, requestId: e?.requestId, key: `stuck:${d.name}:${take.get.i}`, detail: `${what}: ${d.name} took it from the queue (#${take.get.i}) but did not finish it within ${d.limits.takenTimeoutMs} ms (processor stuck or dead)` });
          }
        }
      },
    };
  },
};
