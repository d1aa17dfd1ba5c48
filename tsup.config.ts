import { defineConfig } from 'tsup';

export default defineConfig({
  entry: {
    index: 'src/index.ts',
    'testing/index': 'src/testing/index.ts',
    'kafka/index': 'src/kafka/index.ts',
    's3/index': 'src/s3/index.ts',
    'postgres/index': 'src/postgres/index.ts',
    'snowflake/index': 'src/snowflake/index.ts',
    'otel/index': 'src/otel/index.ts',
    // The `microbatch` command; its `#!/usr/bin/env node` line comes from the source file.
    cli: 'src/cli/main.ts',
  },
  format: ['esm', 'cjs'],
  dts: true,
  // Without splitting, the CJS build copies shared modules (the error class) into every entry and
  // an error thrown from one subpath is not `instanceof` the class exported by another.
  splitting: true,
  sourcemap: true,
  // Maps point into src/ by line and column for stack traces; they do not carry the sources
  // themselves (which tripled the tarball): the TypeScript is in the repository.
  esbuildOptions(options) {
    options.sourcesContent = false;
  },
  clean: true,
  target: 'node20',
  platform: 'node',
  treeshake: true,
  // p-queue 9 is ESM-only; bundling it keeps the CJS build free of require(esm).
  noExternal: ['p-queue'],
});
