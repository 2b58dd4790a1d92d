import { killTracked } from './helpers/procs.js';
import { removeTempDirs } from './helpers/tmp.js';

/** Root hooks: end every process a test started (by PID), and clean up temp folders. */
export const mochaHooks = {
  afterEach(): void {
    killTracked();
  },
  afterAll(): void {
    killTracked();
    removeTempDirs();
  },
};
