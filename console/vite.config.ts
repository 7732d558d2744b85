import { defineConfig } from "vitest/config";
import react from "@vitejs/plugin-react";

// The build goes into the Python package, so `agentdeck serve` serves it without Node.
// CONSOLE_OUT_DIR lets check-build.sh build elsewhere and compare with what is committed.
const outDir = process.env.CONSOLE_OUT_DIR ?? "../src/agentdeck/console/static";
const api = process.env.AGENTDECK_URL ?? "http://127.0.0.1:8000";

export default defineConfig({
  plugins: [react()],
  base: "/",
  build: {
    outDir,
    emptyOutDir: true,
    sourcemap: false,
    chunkSizeWarningLimit: 1200,
    modulePreload: { polyfill: false },
  },
  // The graph worker (src/lib/graph.worker.ts) is an ES module worker.
  worker: { format: "es" },
  server: {
    proxy: { "/api": { target: api, changeOrigin: false, ws: true } },
  },
  test: { include: ["src/**/*.test.ts"], environment: "node" },
});
