export { filter, map } from './basic.js';
export type { Rejection, Transform, TransformInput, TransformOutput } from './types.js';
