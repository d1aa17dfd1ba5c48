/**
 * The package version, for the Parquet footer's `created_by` (`microbatch version 0.1.0 (build
 * …)`, the form parquet-java's `VersionParser` reads). A constant rather than a read of
 * package.json at run time (the bundle has no package.json next to it); `test/core/version.test.ts`
 * fails when the two differ.
 */
export const VERSION = '0.1.0';

/** The Parquet `created_by` string: `<application> version <semver> (build <id>)`. */
export const CREATED_BY = `microbatch version ${VERSION} (build microbatch-${VERSION})`;
