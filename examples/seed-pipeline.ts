/**
 * The seed's worker, whole: Kafka → validate (schema versions 3 and 4) → dedupe → redact → event
 * time → adaptive trigger (15 s … 5 min, 10,000 records) → Parquet staged on S3 → Snowflake
 * `COPY INTO`, with dead letters to a Kafka topic. `trace()` and the sink's `onLoad` print the
 * worker's log: each window, the transforms' rejections, the stage write, COPY's status, the commit,
 * the end-to-end latency.
 *
 * Against a real account (type-checked here, never run: no Snowflake is reachable from CI), with
 * `snowflake-sdk` installed:
 *
 *   MICROBATCH_KAFKA_BROKERS=… SEED_TOPIC=raw_prices SEED_BUCKET=my-bucket SNOWFLAKE_ACCOUNT=…
 *   SNOWFLAKE_USER=… SNOWFLAKE_PRIVATE_KEY_PATH=… SNOWFLAKE_WAREHOUSE=LOAD_WH npx tsx examples/seed-pipeline.ts
 *
 * Without those variables it says so and exits. `seedPipeline()` below is what the end-to-end test
 * (test/integration/snowflake/seed-sigkill.test.ts) runs against a real Kafka broker, S3Proxy and
 * the Snowflake contract double, with the worker SIGKILLed at random: the pipeline of this file, with
 * shorter windows.
 */
import { S3Client } from '@aws-sdk/client-s3';
import type { Admin, Consumer, Producer } from 'kafkajs';
import {
  type Duration,
  dedupe,
  map,
  type Pipeline,
  pipeline,
  redact,
  trace,
  triggers,
  validate,
} from 'microbatch';
import { kafkaCheckpoint, kafkaDeadLetter, kafkaSource } from 'microbatch/kafka';
import { s3Storage } from 'microbatch/s3';
import { type SnowflakeConnectionLike, type SnowflakeLoad, snowflakeSink } from 'microbatch/snowflake';
import { z } from 'zod';

// The scraper's two message versions still in flight; version 4 nests the price and the seller.
const PriceV3 = z.object({
  schemaVersion: z.literal(3),
  sku: z.string().min(1),
  url: z.url(),
  price: z.number().nonnegative(),
  currency: z.string().length(3),
  sellerEmail: z.email(),
  extractedAt: z.iso.datetime(),
});
const PriceV4 = z.object({
  schemaVersion: z.literal(4),
  sku: z.string().min(1),
  url: z.url(),
  price: z.object({ amount: z.number().nonnegative(), currency: z.string().length(3) }),
  seller: z.object({ email: z.email() }),
  extractedAt: z.iso.datetime(),
});

/** The warehouse row: one shape for both versions (the table is `snowflakeTableDDL(Price, …)`). */
export const Price = z.object({
  sku: z.string(),
  url: z.string(),
  price: z.number(),
  currency: z.string(),
  sellerEmail: z.string(),
  extractedAt: z.iso.datetime(),
  schemaVersion: z.int32(),
});
export type Price = z.output<typeof Price>;

/** What {@link seedPipeline} needs; the clients are connected by the caller. */
export interface SeedOptions {
  readonly kafka: { consumer: Consumer; producer: Producer; admin: Admin };
  readonly topic: string;
  readonly deadLetterTopic: string;
  readonly groupId: string;
  readonly s3: { client: S3Client; bucket: string; prefix: string };
  /** Opens a connected Snowflake connection (again after the master token expired). */
  readonly connect: () => SnowflakeConnectionLike | Promise<SnowflakeConnectionLike>;
  /** `'DB.SCHEMA.TABLE'` and `'@DB.SCHEMA.STAGE/path'`. */
  readonly table: string;
  readonly stage: string;
  /** The key of the e-mail hashes: the same across runs, so hashes join. */
  readonly secret: string;
  /** The adaptive trigger's bounds. @default the seed's: 15 s … 5 min, 10,000 records */
  readonly window?: { min: Duration; max: Duration; records: number };
  /** Create the table when missing (instead of running `snowflakeTableDDL(Price, table)` once). @default false */
  readonly createTable?: boolean;
  /** Where the log lines go. @default console.log */
  readonly log?: (line: string) => void;
}

function normalise(record: z.output<typeof PriceV3> | z.output<typeof PriceV4>): Price {
  return record.schemaVersion === 3
    ? { ...record, schemaVersion: 3 }
    : {
        sku: record.sku,
        url: record.url,
        price: record.price.amount,
        currency: record.price.currency,
        sellerEmail: record.seller.email,
        extractedAt: record.extractedAt,
        schemaVersion: 4,
      };
}

/** The event time, read on arrival (before validation); a record without one is dead-lettered. */
const extractedAt = (record: unknown): string | undefined => {
  const value =
    typeof record === 'object' && record !== null
      ? (record as { extractedAt?: unknown }).extractedAt
      : undefined;
  return typeof value === 'string' ? value : undefined;
};

/** The seed pipeline, built (not started), with its log attached. */
export function seedPipeline(options: SeedOptions): Pipeline<unknown> {
  const { consumer, producer, admin } = options.kafka;
  const window = options.window ?? { min: '15s', max: '5m', records: 10_000 };
  const log = options.log ?? ((line: string) => console.log(line));
  const now = () => new Date().toISOString().slice(11, 23);
  const range = (l: SnowflakeLoad) => `${l.partition} [${l.firstOffset}..${l.lastOffset}]`;
  // Records per window (from the 'flush' event), to say what the transforms kept.
  const windows = new Map<string, number>();
  const onLoad = (l: SnowflakeLoad) => {
    const cut = windows.get(l.batchId);
    windows.delete(l.batchId);
    if (cut !== undefined) {
      log(
        `${now()} prices transf  ${range(l)} ${cut} in, ${l.records} out (${cut - l.records} invalid, unredactable or duplicate)`,
      );
    }
    log(`${now()} prices stage   ${range(l)} ${l.url} ${l.staged} (${l.bytes} bytes, ${l.stageMs}ms)`);
    log(
      l.copy === 'loaded'
        ? `${now()} prices copy    ${range(l)} LOADED ${l.rows} rows, COMMIT after ${l.transactionMs}ms`
        : l.copy === 'loaded-before'
          ? `${now()} prices copy    ${range(l)} LOAD_SKIPPED (loaded before), ledger row added, COMMIT after ${l.transactionMs}ms`
          : `${now()} prices copy    ${range(l)} not run: the batch is in the ledger already, ROLLBACK after ${l.transactionMs}ms`,
    );
  };
  const p = pipeline({
    name: 'prices',
    checkpoint: kafkaCheckpoint({ consumer, admin, groupId: options.groupId }),
  })
    .source(kafkaSource({ consumer, topics: [options.topic], fromBeginning: true }))
    // Late records are loaded too: the table has no closed partitions to protect (a lake would
    // dead-letter them, see docs/event-time.md).
    .eventTime(extractedAt, { allowedLateness: '10m', late: 'include' })
    .trigger(triggers.adaptive({ minWindow: window.min, maxWindow: window.max, maxRecords: window.records }))
    .transform(
      validate({
        versions: { '3': PriceV3, '4': PriceV4 },
        pick: (r) => (r as { schemaVersion?: unknown })?.schemaVersion,
      }),
      map(normalise),
      dedupe((r) => `${r.sku}|${r.url}|${r.extractedAt}`),
      redact({ sellerEmail: 'hash' }, { secret: options.secret }),
    )
    .sink(
      snowflakeSink({
        connect: options.connect,
        table: options.table,
        schema: Price,
        stage: {
          name: options.stage,
          storage: s3Storage({
            client: options.s3.client,
            bucket: options.s3.bucket,
            prefix: options.s3.prefix,
          }),
        },
        onLoad,
        createTable: options.createTable ?? false,
      }),
    )
    .deadLetter(kafkaDeadLetter({ producer, topic: options.deadLetterTopic }))
    .build();
  p.on('flush', ({ batch }) => windows.set(batch.id, batch.records));
  trace(p, { write: log });
  // Delivery latency: from the window's first record to the batch's commit in Snowflake.
  p.on('write', ({ batch }) => {
    windows.delete(batch.id);
    log(
      `${now()} prices latency ${batch.partition} [${batch.firstOffset}..${batch.lastOffset}] ${Date.now() - batch.openedAt}ms from first record to load`,
    );
  });
  return p;
}

// ── run it against a real account ──────────────────────────────────────────────────────────────
const env = process.env;
const configured = [
  'MICROBATCH_KAFKA_BROKERS',
  'SEED_TOPIC',
  'SEED_BUCKET',
  'SNOWFLAKE_ACCOUNT',
  'SNOWFLAKE_USER',
];
if (import.meta.url === `file://${process.argv[1]}` || process.argv[1]?.endsWith('seed-pipeline.ts')) {
  const missing = configured.filter((name) => !env[name]);
  if (missing.length > 0) {
    console.log(
      `examples/seed-pipeline.ts: set ${missing.join(', ')} (and have snowflake-sdk installed) to run it against Snowflake`,
    );
  } else {
    await main();
  }
}

async function main(): Promise<void> {
  const { Kafka, logLevel } = await import('kafkajs');
  // snowflake-sdk is not a dependency of microbatch: install it next to your worker.
  const sdkName = 'snowflake-sdk';
  const snowflake = (await import(sdkName)).default as {
    createConnection(options: Record<string, unknown>): { connectAsync(): Promise<SnowflakeConnectionLike> };
  };
  const kafka = new Kafka({
    clientId: 'seed-worker',
    brokers: env.MICROBATCH_KAFKA_BROKERS!.split(','),
    logLevel: logLevel.WARN,
  });
  const groupId = env.SEED_GROUP ?? 'seed-loader';
  const consumer = kafka.consumer({ groupId });
  const producer = kafka.producer();
  const admin = kafka.admin();
  await Promise.all([consumer.connect(), producer.connect(), admin.connect()]);
  const p = seedPipeline({
    kafka: { consumer, producer, admin },
    topic: env.SEED_TOPIC!,
    deadLetterTopic: `${env.SEED_TOPIC}.dlq`,
    groupId,
    s3: { client: new S3Client({}), bucket: env.SEED_BUCKET!, prefix: 'stage/' },
    connect: () =>
      snowflake
        .createConnection({
          account: env.SNOWFLAKE_ACCOUNT,
          username: env.SNOWFLAKE_USER,
          authenticator: 'SNOWFLAKE_JWT',
          privateKeyPath: env.SNOWFLAKE_PRIVATE_KEY_PATH,
          warehouse: env.SNOWFLAKE_WAREHOUSE ?? 'LOAD_WH',
          application: 'microbatch-seed',
        })
        .connectAsync(),
    table: env.SEED_TABLE ?? 'ANALYTICS.RAW.PRICES',
    stage: env.SEED_STAGE ?? '@ANALYTICS.RAW.MB_STAGE/prices',
    secret: env.SEED_SECRET ?? 'set SEED_SECRET in production',
  });
  process.once('SIGTERM', () => void p.stop({ drain: true, deadline: '30s' }));
  process.once('SIGINT', () => void p.stop({ drain: true, deadline: '30s' }));
  const report = await p.run();
  console.log(report.records);
  await Promise.all([producer.disconnect(), admin.disconnect()]);
}
