import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    exclude: ['test/pack/.consumer/**', 'node_modules/**'],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    pool: 'forks',
    // Starts a Kafka broker only when a test/integration/kafka file runs (docs/testing-with-kafka.md),
    // and S3Proxy only when a test/integration/s3 file runs (docs/s3.md, "Testing").
    globalSetup: ['test/integration/kafka/setup.ts', 'test/integration/s3/setup.ts'],
  },
});
