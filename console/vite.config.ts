import react from '@vitejs/plugin-react';
import { defineConfig } from 'vite';

/**
 * The agent console (docs/console.md), built by `npm run build` (scripts/build.ts) into dist/console and
 * served by the service at /console. The manifest lets the build measure the first page's JavaScript.
 */
export default defineConfig({
  root: import.meta.dirname,
  base: '/console/',
  plugins: [react()],
  build: {
    outDir: '../dist/console',
    emptyOutDir: true,
    manifest: true,
    sourcemap: false,
    target: 'es2022',
    // No inline scripts or data: URLs for modules: the Content-Security-Policy allows only files from /console.
    assetsInlineLimit: 0,
    modulePreload: { polyfill: false },
  },
  server: {
    // `npx vite console` during development: the API (npm start) answers /graphql and the console's endpoints.
    proxy: {
      '/graphql': 'http://localhost:4000',
      '/console/config.json': 'http://localhost:4000',
      '/console/dev-token': 'http://localhost:4000',
    },
  },
});
