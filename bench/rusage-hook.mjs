// Preloaded into a benchmarked tool's own Node process (node --import): on exit, writes its
// resource usage (CPU, peak RSS) to $LG_BENCH_RUSAGE.<pid>. Not used outside `npm run bench`.
import { writeFileSync } from 'node:fs';

const out = process.env.LG_BENCH_RUSAGE;
if (out) {
  process.on('exit', () => {
    try {
      writeFileSync(`${out}.${process.pid}`, JSON.stringify(process.resourceUsage()));
    } catch {
      // the bench's temp folder is gone: nothing to report
    }
  });
}
