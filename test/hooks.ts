import { removeTempDirs } from './helpers/tmp.js';

/** Root hooks: clean up temp folders once the whole run is over. */
export const mochaHooks = {
  afterAll(): void {
    removeTempDirs();
  },
};
