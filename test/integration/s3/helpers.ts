/**
 * Helpers for the S3 integration tests: clients for the server of the run (S3Proxy started by
 * setup.ts, or MICROBATCH_S3_ENDPOINT), fresh buckets, and reading a lake back with hyparquet.
 */
import { randomBytes } from 'node:crypto';
import {
  CreateBucketCommand,
  DeleteBucketCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  ListMultipartUploadsCommand,
  ListObjectsV2Command,
  type S3Client,
  type S3ClientConfig,
} from '@aws-sdk/client-s3';
import { parquetReadObjects } from 'hyparquet';
import { compressors } from 'hyparquet-compressors';
import { inject } from 'vitest';
import { s3ClientFor } from '../../infra/s3proxy/client.js';
import type { S3Endpoint } from '../../infra/s3proxy/server.js';

/** The S3 server of this run. */
export function s3Endpoint(): S3Endpoint {
  const s3 = inject('s3');
  if (s3 === undefined) {
    throw new Error(
      'no S3 server was provided to this test: test/integration/s3/setup.ts starts one when a file under ' +
        'test/integration/s3/ is part of the run (check vitest.config.ts globalSetup)',
    );
  }
  return s3;
}

/** A client for `server` with path-style addressing (S3Proxy serves no virtual hosts). */
export function s3Client(server: S3Endpoint = s3Endpoint(), config: S3ClientConfig = {}): S3Client {
  return s3ClientFor(server, config);
}

/** Creates a bucket with a unique name. */
export async function newBucket(client: S3Client): Promise<string> {
  const bucket = `mb-${randomBytes(6).toString('hex')}`;
  await client.send(new CreateBucketCommand({ Bucket: bucket }));
  return bucket;
}

/** Every key of the bucket under `prefix` (all pages). */
export async function listKeys(client: S3Client, bucket: string, prefix = ''): Promise<string[]> {
  const keys: string[] = [];
  let token: string | undefined;
  do {
    const page = await client.send(
      new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix, ContinuationToken: token }),
    );
    for (const object of page.Contents ?? []) keys.push(object.Key!);
    token = page.IsTruncated ? page.NextContinuationToken : undefined;
  } while (token !== undefined);
  return keys.sort();
}

/** Multipart uploads started and neither completed nor aborted, under `prefix`. */
export async function openUploads(client: S3Client, bucket: string, prefix = ''): Promise<string[]> {
  const out = await client.send(new ListMultipartUploadsCommand({ Bucket: bucket, Prefix: prefix }));
  return (out.Uploads ?? []).map((upload) => upload.Key!);
}

export async function download(client: S3Client, bucket: string, key: string): Promise<Uint8Array> {
  const out = await client.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
  return out.Body!.transformToByteArray();
}

/**
 * Every row of the Parquet objects of `table` under `prefix`, read with hyparquet (a reader we did
 * not write), with the Hive partition values of its key added.
 */
export async function readLake(
  client: S3Client,
  bucket: string,
  table: string,
  prefix = '',
): Promise<Record<string, unknown>[]> {
  const rows: Record<string, unknown>[] = [];
  for (const key of await listKeys(client, bucket, `${prefix}${table}/`)) {
    const name = key.split('/').pop()!;
    if (!name.endsWith('.parquet') || name.startsWith('_') || name.startsWith('.')) continue;
    const bytes = await download(client, bucket, key);
    const file = bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer;
    const hive = Object.fromEntries(
      key
        .slice(`${prefix}${table}/`.length)
        .split('/')
        .slice(0, -1)
        .map((segment) => segment.split('=') as [string, string]),
    );
    for (const row of (await parquetReadObjects({ file, compressors })) as Record<string, unknown>[]) {
      rows.push({ ...row, ...hive, _key: key });
    }
  }
  return rows;
}

/** Deletes every object of the bucket and the bucket (S3Proxy's transient backend keeps them in memory). */
export async function dropBucket(client: S3Client, bucket: string): Promise<void> {
  let keys: string[];
  try {
    keys = await listKeys(client, bucket);
  } catch (error) {
    if ((error as { name?: unknown }).name === 'NoSuchBucket') return; // dropped already
    throw error;
  }
  for (const key of keys) {
    await client.send(new DeleteObjectCommand({ Bucket: bucket, Key: key }));
  }
  await client.send(new DeleteBucketCommand({ Bucket: bucket })).catch(() => {});
}
