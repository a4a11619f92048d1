/** `npm run bench [-- --quick] [-- --json]`: every *.bench.ts in this folder, one table. */
import { readdirSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { formatTable, type Bench, type BenchRow } from './table.ts';

const quick = process.argv.includes('--quick');
const json = process.argv.includes('--json');
const only = process.argv.find((a) => a.startsWith('--only='))?.slice('--only='.length);

const files = readdirSync(import.meta.dirname).filter((f) => f.endsWith('.bench.ts') && (!only || f.includes(only))).sort();
const rows: BenchRow[] = [];
for (const file of files) {
  const { run } = (await import(`./${file}`)) as { run: Bench };
  rows.push(...(await run({ quick })));
}
const machine = `${cpus().length} x ${cpus()[0]?.model ?? 'cpu'}, ${(totalmem() / 2 ** 30).toFixed(0)} GiB, Node ${process.version}`;
if (json) process.stdout.write(`${JSON.stringify({ machine, quick, rows }, null, 2)}\n`);
else process.stdout.write(`${formatTable(rows)}\n\nmachine: ${machine}${quick ? ' (quick)' : ''}\n`);
process.exitCode = rows.every((r) => r.pass) ? 0 : 1;
