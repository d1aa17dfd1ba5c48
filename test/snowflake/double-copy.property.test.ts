/**
 * A property of the Snowflake double's COPY (SNOWFLAKE-S3.md §2.6, §3): over random interleavings
 * of two sessions (BEGIN, COPY of some files, optionally FORCE, COMMIT, ROLLBACK) and restaging of
 * files with new content, the table and the load history always equal a plain model:
 * - a file loads unless its (name, checksum) is in the table's history as the session sees it
 *   (committed, plus its own uncommitted loads), or FORCE is on;
 * - loads and history changes become visible to others on COMMIT, vanish on ROLLBACK, and commit
 *   at once outside BEGIN;
 * - a session with an open transaction that copied into the table holds its lock (the model skips
 *   the other session's COPY then, which would wait).
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fc, it } from '@fast-check/vitest';
import { describe, expect } from 'vitest';
import { fileStorage } from '../../src/lake/file-storage.js';
import { exec, LOADED_BEFORE, SnowflakeDouble } from '../support/snowflake/index.js';

const FILES = ['f1', 'f2'] as const;
type Name = (typeof FILES)[number];

type Op =
  | { op: 'begin' | 'commit' | 'rollback'; s: 0 | 1 }
  | { op: 'copy'; s: 0 | 1; files: Name[]; force: boolean }
  | { op: 'restage'; file: Name; rows: number };

const session = fc.constantFrom<0 | 1>(0, 1);
const ops: fc.Arbitrary<Op[]> = fc.array(
  fc.oneof(
    {
      weight: 2,
      arbitrary: fc.record({
        op: fc.constantFrom<'begin' | 'commit' | 'rollback'>('begin', 'commit', 'rollback'),
        s: session,
      }),
    },
    {
      weight: 3,
      arbitrary: fc.record({
        op: fc.constant<'copy'>('copy'),
        s: session,
        files: fc.uniqueArray(fc.constantFrom(...FILES), { minLength: 1, maxLength: 2 }),
        force: fc.constantFrom(false, false, false, true),
      }),
    },
    {
      weight: 1,
      arbitrary: fc.record({
        op: fc.constant<'restage'>('restage'),
        file: fc.constantFrom(...FILES),
        rows: fc.integer({ min: 1, max: 3 }),
      }),
    },
  ),
  { minLength: 1, maxLength: 16 },
);

interface Model {
  /** Current content version of each staged file. */
  version: Map<Name, number>;
  rowsOf: Map<string, string[]>;
  committed: Map<Name, number>;
  committedRows: string[];
  pending: [Map<Name, number>, Map<Name, number>];
  pendingRows: [string[], string[]];
  inTxn: [boolean, boolean];
  holder: 0 | 1 | undefined;
}

describe('the double’s COPY against a model of load history and transactions', () => {
  it.prop([ops], { numRuns: 60 })('table and history equal the model after every step', async (steps) => {
    const dir = mkdtempSync(join(tmpdir(), 'double-prop-'));
    const storage = fileStorage(join(dir, 'stage'));
    const double = await SnowflakeDouble.create({ schemas: ['DB.SCH'], stages: { '@db.sch.stg': storage } });
    try {
      const conns = [double.connection(), double.connection()] as const;
      await exec(conns[0], 'CREATE TABLE "DB"."SCH"."T" ("ID" VARCHAR NOT NULL)');
      const m: Model = {
        version: new Map(),
        rowsOf: new Map(),
        committed: new Map(),
        committedRows: [],
        pending: [new Map(), new Map()],
        pendingRows: [[], []],
        inTxn: [false, false],
        holder: undefined,
      };
      const stage = async (file: Name, rows: number) => {
        const v = (m.version.get(file) ?? 0) + 1;
        const ids = Array.from({ length: rows }, (_, i) => `${file}.v${v}.r${i}`);
        const path = join(dir, `${file}-${v}.parquet`);
        await double.scratch.run(
          `COPY (SELECT * FROM (VALUES ${ids.map((id) => `('${id}')`).join(', ')}) t(id)) TO '${path}' (FORMAT PARQUET)`,
        );
        await storage.put(`in/${file}.parquet`, readFileSync(path));
        m.version.set(file, v);
        m.rowsOf.set(`${file}.${v}`, ids);
      };
      for (const file of FILES) await stage(file, 2);
      const end = (s: 0 | 1, commit: boolean) => {
        if (commit) {
          for (const [f, v] of m.pending[s]) m.committed.set(f, v);
          m.committedRows.push(...m.pendingRows[s]);
        }
        m.pending[s] = new Map();
        m.pendingRows[s] = [];
        m.inTxn[s] = false;
        if (m.holder === s) m.holder = undefined;
      };

      for (const step of steps) {
        if (step.op === 'restage') {
          await stage(step.file, step.rows);
          continue;
        }
        const { s } = step;
        if (step.op === 'begin') {
          await exec(conns[s], 'BEGIN');
          m.inTxn[s] = true;
        } else if (step.op === 'commit') {
          await exec(conns[s], 'COMMIT');
          end(s, true);
        } else if (step.op === 'rollback') {
          await exec(conns[s], 'ROLLBACK');
          end(s, false);
        } else if (step.op === 'copy') {
          // The other session's open transaction holds the table: this COPY would wait. Skip it.
          if (m.holder !== undefined && m.holder !== s) continue;
          const expected = step.files.map((f) => {
            const v = m.version.get(f)!;
            const seen = m.pending[s].get(f) ?? m.committed.get(f);
            if (!step.force && seen === v) return { status: 'LOAD_SKIPPED', rows: 0 };
            m.pending[s].set(f, v);
            m.pendingRows[s].push(...m.rowsOf.get(`${f}.${v}`)!);
            return { status: 'LOADED', rows: m.rowsOf.get(`${f}.${v}`)!.length };
          });
          const rows = await exec(
            conns[s],
            `COPY INTO "DB"."SCH"."T" FROM @db.sch.stg/in FILES = (${step.files.map((f) => `'${f}.parquet'`).join(', ')}) FILE_FORMAT = (TYPE = PARQUET) MATCH_BY_COLUMN_NAME = CASE_INSENSITIVE${step.force ? ' FORCE = TRUE' : ''}`,
          );
          expect(rows.map((r) => ({ status: r.status, rows: r.rows_loaded }))).toEqual(expected);
          for (const r of rows) if (r.status === 'LOAD_SKIPPED') expect(r.first_error).toBe(LOADED_BEFORE);
          if (m.inTxn[s]) m.holder = s;
          else end(s, true);
        }
        // What everybody else sees: the committed rows and history.
        const table = (await double.query('SELECT "ID" FROM "DB"."SCH"."T"')).map((r) => String(r.ID)).sort();
        expect(table).toEqual([...m.committedRows].sort());
        const history = double
          .loadHistory('DB.SCH.T')
          .map((r) => r.file)
          .sort();
        expect(history).toEqual([...m.committed.keys()].map((f) => `stg/in/${f}.parquet`).sort());
      }
    } finally {
      await double.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
