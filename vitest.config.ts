import { defineConfig } from 'vitest/config';

// One globalSetup starts (or reuses) the real Kafka, Redis and MongoDB once per run and hands the
// connection info to test files through provide/inject (test/support/services.ts reads it).
// METERING_TEST_SERVICES=none|kafka,redis,mongo limits what it starts (default: all three).
export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    globalSetup: ['test/support/global-setup.ts'],
    // a test talking to a real broker or database may wait on I/O; setup hooks may create topics/indexes
    testTimeout: 30_000,
    hookTimeout: 60_000,
    teardownTimeout: 60_000,
  },
});
