/**
 * Replaying a model-based counterexample exactly: fast-check needs the command list's replayPath
 * besides seed and path, so the replay file keeps it and `commandsReplay()` hands it back.
 * A pure in-memory model (no rig): the logic of recording and replaying.
 */
import { expect } from 'chai';
import fc from 'fast-check';
import fs from 'node:fs';
import os from 'node:os';
import nodePath from 'node:path';
import { RunContext, withRun } from '../../harness/runner/context.ts';
import { commandsReplay, commandsReplayPathOf, PropertyFailure, runProperty, type ReplayRecord } from '../../harness/runner/property.ts';

interface Model {
  n: number;
}
interface Real {
  n: number;
}

class Inc implements fc.AsyncCommand<Model, Real> {
  constructor(readonly by: number) {}
  check = () => true;
  async run(m: Model, r: Real): Promise<void> {
    m.n += this.by;
    r.n += this.by;
    await Promise.resolve();
  }
  toString = () => `Inc(${this.by})`;
}

/** The property: the counter never goes above 20 (any few Incs break it). */
class Check implements fc.AsyncCommand<Model, Real> {
  check = () => true;
  async run(m: Model, r: Real): Promise<void> {
    await Promise.resolve();
    if (r.n > 20) throw new Error(`real ${r.n} above 20 (model ${m.n})`);
  }
  toString = () => 'Check';
}

const commands = () => fc.commands([fc.integer({ min: 1, max: 9 }).map((k) => new Inc(k)), fc.constant(new Check())], { maxCommands: 30, ...commandsReplay() });

async function failure(): Promise<PropertyFailure> {
  try {
    await runProperty('counter', commands(), (cmds) => fc.asyncModelRun(() => ({ model: { n: 0 }, real: { n: 0 } }), cmds), { defaultRuns: 200, defaultBudgetMs: 20_000 });
  } catch (e) {
    return e as PropertyFailure;
  }
  throw new Error('expected the property to fail');
}

describe('model-based replay', function () {
  it('records the command list\'s replayPath and replays exactly that list with it', async function () {
    const first = await failure();
    expect(first).to.be.instanceOf(PropertyFailure);
    const text = first.message;
    const cx = /counterexample: (.*)/.exec(text)![1]!;
    const seed = Number(/seed (-?\d+)/.exec(text)![1]);
    const path = /path "([^"]*)"/.exec(text)![1]!;
    const replayPath = commandsReplayPathOf(cx);
    expect(replayPath, cx).to.be.a('string').and.not.equal('');

    const again = await withRun(new RunContext({ replay: { seed, path, commandsReplayPath: replayPath! } }), async () => {
      expect(commandsReplay()).to.deep.equal({ replayPath });
      return failure();
    });
    // The same commands. fast-check's replayPath comment on the replayed list is its own record of
    // this run, and reads ":" when the counterexample needed no shrinking (10 of seeds 1–300).
    const commandsOnly = (c: string): string => c.replace(/\s*\/\*replayPath=.*\*\/$/, '');
    expect(commandsOnly(/counterexample: (.*)/.exec(again.message)![1]!)).to.equal(commandsOnly(cx));
    expect(again.message).to.match(/failed after 1 run\(s\)/);
  });

  it('reads the replayPath out of fast-check\'s text, and nothing from text without one', function () {
    expect(commandsReplayPathOf('Inc(3),Check /*replayPath="AAB:J"*/')).to.equal('AAB:J');
    expect(commandsReplayPathOf('[{"button":"A","atMs":0,"holdMs":30}]')).to.equal(undefined);
    expect(commandsReplay()).to.deep.equal({});
  });

  describe('the replay file says how shrinking ended', function () {
    let dir: string;
    beforeEach(() => (dir = fs.mkdtempSync(nodePath.join(os.tmpdir(), 'hil-replay-'))));
    afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

    /** An array property that fails on any element ≥ 5, each run taking `runMs`, in a run with a replay folder and a test scope. */
    async function replayRecord(runMs: number, budgetMs: number, confirmRuns?: number, fails: (xs: number[]) => boolean = (xs) => xs.some((x) => x >= 5)): Promise<ReplayRecord> {
      const ctx = new RunContext({ replayDir: dir, settings: { seed: 7 } });
      await withRun(ctx, () =>
        ctx.scopes.run({ title: 'suite shrinks', suite: 'suite', name: 'shrinks', scenario: 'x.spec.ts', specFile: 'x.spec.ts', ended: false }, async () => {
          try {
            await runProperty(
              'shrinks',
              fc.array(fc.integer({ min: 0, max: 100 }), { minLength: 1, maxLength: 40 }),
              async (xs) => {
                await new Promise((r) => setTimeout(r, runMs));
                return !fails(xs);
              },
              { defaultRuns: 50, defaultBudgetMs: budgetMs, ...(confirmRuns !== undefined ? { confirmRuns } : {}) },
            );
          } catch (e) {
            if (!(e instanceof PropertyFailure)) throw e;
          }
        }),
      );
      const files = fs.readdirSync(nodePath.join(dir, 'replay'));
      expect(files).to.have.length(1);
      return JSON.parse(fs.readFileSync(nodePath.join(dir, 'replay', files[0]!), 'utf8')) as ReplayRecord;
    }

    it('complete, when fast-check ran out of candidates: the counterexample is the smallest', async function () {
      const r = await replayRecord(0, 20_000);
      expect(r.shrinking).to.equal('complete');
      expect(r.value).to.deep.equal([5]);
    });

    it('whether the counterexample failed again on its reruns, when it was run again', async function () {
      expect((await replayRecord(0, 20_000)).confirmed, 'no confirmation asked for').to.equal(undefined);
      expect((await replayRecord(0, 20_000, 2)).confirmed).to.equal(true);
      // A failure that never comes back: only the very first run fails.
      let first = true;
      const once = (xs: number[]): boolean => {
        const f = first && xs.some((x) => x >= 5);
        if (f) first = false;
        return f;
      };
      expect((await replayRecord(0, 20_000, 2, once)).confirmed).to.equal(false);
    });

    it('budget, when the budget stopped it: the best counterexample so far', async function () {
      // 30 ms a run and a 300 ms budget: shrinking ends at 70 % of it, long before a 40-element
      // array of 0–100 is down to [5].
      const r = await replayRecord(30, 300);
      expect(r.shrinking).to.equal('budget');
    });
  });
});
