import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    exclude: ['test/pack/.consumer/**', 'node_modules/**'],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    pool: 'forks',
    // Starts a Kafka broker only when a test/integration/kafka file runs (docs/testing-with-kafka.md).
    globalSetup: ['test/integration/kafka/setup.ts'],
  },
});
