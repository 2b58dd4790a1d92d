// Preloaded into a benchmarked tool's own Node process (node --import): on exit, writes its
// resource usage (CPU, peak RSS) and, for launchguard, the phases it published on the
// `launchguard:phase` diagnostics channel, to $LG_BENCH_RUSAGE.<pid>. Not used outside
// `npm run bench`.
import { subscribe } from 'node:diagnostics_channel';
import { writeFileSync } from 'node:fs';

const out = process.env.LG_BENCH_RUSAGE;
if (out) {
  const phases = [{ phase: 'node', at: performance.timeOrigin + performance.now() }];
  subscribe('launchguard:phase', (message) => phases.push(message));
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
