// In-process A/B of two builds: node bench/compare-inprocess.mjs [rounds]; BASE=/path/to/baseline/dist/index.js.
// Runs the same 1,000,000-record workload (one at a time, and arrays of 500) through each build in
// turn, alternating which goes first, and reports the median CPU time (process.cpuUsage) and wall
// time per run, the first round dropped as warm-up. CPU time is far less sensitive than wall time to
// other processes on a shared machine.
const base = await import(process.env.BASE ?? '/tmp/mb-base/dist/index.js');
const next = await import(new URL('../dist/index.js', import.meta.url).href);
const N = 1_000_000;
function* records(n) {
  for (let i = 0; i < n; i++) yield { id: i, sku: `sku-${i % 1000}`, price: i * 0.01, ts: 1700000000000 + i };
}
function* arrays(n) {
  for (let i = 0; i < n; i += 500) yield Array.from(records(Math.min(500, n - i)));
}
async function once(m, mode) {
  let count = 0;
  const src = mode === 'single' ? m.fromIterable(records(N)) : m.fromIterable(arrays(N), { arrays: true });
  const p = m
    .pipeline({ name: 'ab' })
    .source(src)
    .trigger(m.triggers.any(m.triggers.time(1000), m.triggers.volume({ records: 5000 })))
    .sink({
      kind: 'c',
      write(b) {
        count += b.records.length;
      },
    })
    .build();
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  await p.run();
  const cpu = process.cpuUsage(c0);
  const wall = performance.now() - t0;
  if (count !== N) throw new Error('lost');
  return { cpu: (cpu.user + cpu.system) / 1000, wall };
}
const res = { base: { single: [], arrays: [] }, next: { single: [], arrays: [] } };
const rounds = Number(process.argv[2] ?? 8);
for (let r = 0; r < rounds; r++)
  for (const mode of ['single', 'arrays']) {
    const order =
      r % 2
        ? [
            ['next', next],
            ['base', base],
          ]
        : [
            ['base', base],
            ['next', next],
          ];
    for (const [k, m] of order) res[k][mode].push(await once(m, mode));
  }
const med = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const h = s.length >> 1;
  return s.length % 2 ? s[h] : (s[h - 1] + s[h]) / 2;
};
for (const mode of ['single', 'arrays']) {
  const b = med(res.base[mode].slice(1).map((x) => x.cpu)),
    n = med(res.next[mode].slice(1).map((x) => x.cpu));
  const bw = med(res.base[mode].slice(1).map((x) => x.wall)),
    nw = med(res.next[mode].slice(1).map((x) => x.wall));
  console.log(
    `${mode}: cpu ms base ${b.toFixed(0)} new ${n.toFixed(0)} (new/base ${(n / b).toFixed(3)}); wall ms base ${bw.toFixed(0)} new ${nw.toFixed(0)} (${(nw / bw).toFixed(3)})`,
  );
}
