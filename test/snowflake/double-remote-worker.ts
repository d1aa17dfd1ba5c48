/**
 * A child process for the double's remote test: opens a transaction on a served double, writes a
 * row in it, prints `open`, and waits to be killed (the test SIGKILLs it; the row must roll back).
 *   double-remote-worker.ts <url> <table>
 */
import { remoteSnowflakeConnection } from '../support/snowflake/remote.js';

const [url, table] = process.argv.slice(2);
const connection = remoteSnowflakeConnection(url!);
const run = (sqlText: string, binds: (string | number)[] = []) =>
  new Promise<void>((resolve, reject) =>
    connection.execute({ sqlText, binds, complete: (error) => (error ? reject(error) : resolve()) }),
  );
await run('BEGIN');
await run(`INSERT INTO ${table} ("ID", "NAME") VALUES (?, ?)`, [1, 'from the child']);
process.stdout.write('open\n');
setInterval(() => {}, 1000);
