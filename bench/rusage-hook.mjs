// Preloaded into a benchmarked tool's own Node process (node --import): on exit, writes its
// resource usage (CPU, peak RSS) and, for launchguard, the phases it published on the
// `launchguard:phase` diagnostics channel, to $LG_BENCH_RUSAGE.<pid>. The keeper of `up -d`
// (which gets this hook through NODE_OPTIONS) writes its phases to
// $LG_BENCH_RUSAGE.keeper.<pid> once it keeps the stack, as it outlives the command. Any
// other process that inherits NODE_OPTIONS (the services) does nothing. Not used outside
// `npm run bench`.
import { subscribe } from 'node:diagnostics_channel';
import { writeFileSync } from 'node:fs';

const out = process.env.LG_BENCH_RUSAGE;
const tool = /launchguard(\.js)?$/.test(process.argv[1] ?? '');
const keeper = process.env.LAUNCHGUARD_KEEPER === '1';
if (out && tool && globalThis.lgBenchHook === undefined) {
  globalThis.lgBenchHook = true;
  // The services the keeper spawns inherit its environment: they must not load this hook.
  if (keeper && process.env.NODE_OPTIONS)
    process.env.NODE_OPTIONS = process.env.NODE_OPTIONS.replace(
      /--import=\S*rusage-hook\.mjs/,
      '',
    ).trim();
  const phases = [{ phase: 'node', at: performance.timeOrigin + performance.now() }];
  subscribe('launchguard:phase', (message) => {
    phases.push(message);
    if (keeper && message.phase === 'kept') {
      try {
        writeFileSync(`${out}.keeper.${process.pid}`, JSON.stringify({ phases }));
      } catch {
        // the bench's temp folder is gone: nothing to report
      }
    }
  });
  if (!keeper)
    process.on('exit', () => {
      phases.push({ phase: 'exit', at: performance.timeOrigin + performance.now() });
      try {
        writeFileSync(
          `${out}.${process.pid}`,
          JSON.stringify({ ...process.resourceUsage(), phases }),
        );
      } catch {
        // the bench's temp folder is gone: nothing to report
      }
    });
}
