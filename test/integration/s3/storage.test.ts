/** s3Storage on a real S3 server (S3Proxy) against the ObjectStorage contract of test/lake/storage-conformance.ts. */
import { CreateMultipartUploadCommand, UploadPartCommand } from '@aws-sdk/client-s3';
import { s3Storage } from '../../../src/s3/index.js';
import { storageConformance } from '../../lake/storage-conformance.js';
import { dropBucket, newBucket, openUploads, s3Client } from './helpers.js';

const client = s3Client();

storageConformance(
  's3Storage (S3Proxy)',
  async () => {
    const bucket = await newBucket(client);
    const prefix = 'lake/';
    return {
      storage: s3Storage({ client, bucket, prefix, multipartThreshold: '6MiB', partSize: '5MiB' }),
      async leaveIncomplete(key) {
        // What a process killed in the middle of a multipart upload leaves: the upload and a part.
        const { UploadId } = await client.send(
          new CreateMultipartUploadCommand({ Bucket: bucket, Key: `${prefix}${key}` }),
        );
        await client.send(
          new UploadPartCommand({
            Bucket: bucket,
            Key: `${prefix}${key}`,
            UploadId,
            PartNumber: 1,
            Body: 'x',
          }),
        );
      },
      countIncomplete: async (under) => (await openUploads(client, bucket, `${prefix}${under}`)).length,
      cleanup: () => dropBucket(client, bucket),
    };
  },
  { propertyRuns: 10 },
);
