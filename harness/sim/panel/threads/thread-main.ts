// Worker entry for every firmware thread; the role comes in workerData.
import { ThreadContext, type ThreadInit } from './context.ts';
import { runControl } from './control.ts';
import { runEspLink } from './esplink.ts';
import { runIrq } from './irq.ts';
import { runProcessor } from './processor.ts';

/** Called by threads/bootstrap.mjs once the TypeScript loader is registered. Never returns. */
export function runThread(init: ThreadInit): never {
  const ctx = new ThreadContext(init);
  switch (ctx.init.role) {
    case 'irq':
      return runIrq(ctx);
    case 'processor':
      return runProcessor(ctx);
    case 'control':
      return runControl(ctx);
    case 'esplink':
      return runEspLink(ctx);
  }
}
