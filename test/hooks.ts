import { killTracked } from './helpers/procs.js';
import { removeTempDirs } from './helpers/tmp.js';
import { writeScorecard } from './reliability/scorecard.js';

/** Root hooks: end every process a test started (by PID), and clean up temp folders. */
export const mochaHooks = {
  afterEach(): void {
    killTracked();
  },
  afterAll(): void {
    killTracked();
    removeTempDirs();
    writeScorecard();
  },
};
