/**
 * Fetches the S3Proxy jar into .cache/s3proxy (a no-op when it is there), so that a fresh machine
 * downloads it in a step of its own: `npm run s3:fetch`, `.ci/run`.
 */
import { fetchS3Proxy } from './server.js';

const jar = await fetchS3Proxy();
console.log(`S3Proxy jar ready: ${jar}`);
