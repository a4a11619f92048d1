/** `npm run bench [-- --quick] [-- --json]`: every *.bench.ts in this folder, one table. */
import { readdirSync } from 'node:fs';
import { cpus, loadavg, totalmem } from 'node:os';
import { formatTable, type Bench, type BenchRow } from './table.ts';

const quick = process.argv.includes('--quick');
const json = process.argv.includes('--json');
const only = process.argv.find((a) => a.startsWith('--only='))?.slice('--only='.length);

const started = performance.now();
// other processes on the machine move every figure: say how busy it was
const loadAtStart = loadavg()[0]!;
const files = readdirSync(import.meta.dirname).filter((f) => f.endsWith('.bench.ts') && (!only || f.includes(only))).sort();
const rows: BenchRow[] = [];
for (const file of files) {
  const { run } = (await import(`./${file}`)) as { run: Bench };
  rows.push(...(await run({ quick })));
}
const machine = `${cpus().length} x ${cpus()[0]?.model ?? 'cpu'}, ${(totalmem() / 2 ** 30).toFixed(0)} GiB, Node ${process.version}`;
const seconds = Math.round((performance.now() - started) / 1000);
const load = `load average ${loadAtStart.toFixed(2)} at the start`;
if (json) process.stdout.write(`${JSON.stringify({ machine, load: loadAtStart, quick, seconds, rows }, null, 2)}\n`);
else process.stdout.write(`${formatTable(rows)}\n\nmachine: ${machine}, ${load}${quick ? ' (quick)' : ''}; took ${seconds} s\n`);
process.exitCode = rows.every((r) => r.pass !== false) ? 0 : 1;
