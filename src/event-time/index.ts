export { type Bucket, type BucketUnit, bucketOf } from './buckets.js';
export type { EventTimeExtractor, EventTimeOptions } from './options.js';
