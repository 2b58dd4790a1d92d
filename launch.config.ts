// The demo stack: the setup launchguard was born from, a backend API on port
// 8001 and a frontend on port 3000 that needs the backend. Run `npm run launch`.
import { defineConfig } from 'launchguard';

export default defineConfig({
  services: {
    backend: {
      command: 'node examples/backend.mjs',
      port: 8001,
      env: { NODE_ENV: 'development' },
      ready: { http: '/health' },
      readyTimeout: 15_000,
      stopTimeout: 5_000,
    },
    frontend: {
      command: 'node examples/frontend.mjs',
      port: 3000,
      dependsOn: ['backend'],
    },
  },
});
