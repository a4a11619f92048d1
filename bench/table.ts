/** One line of `npm run bench`: a figure measured side by side with its baseline in the same run. */
export interface BenchRow {
  figure: string;
  value: number;
  unit: string;
  baseline?: { label: string; value: number };
  /** value / baseline, or the figure itself when it is a ratio already. */
  ratio?: number;
  /** e.g. '<= 2x' or 'p50 <= 3 ms'; 'reference' for a figure that explains another. */
  target: string;
  /** Absent for a reference figure, which has no target to meet. */
  pass?: boolean;
}

export interface BenchOptions {
  quick: boolean;
}

/** A benchmark module in bench/: measures and returns its rows; prints nothing. */
export type Bench = (options: BenchOptions) => Promise<BenchRow[]>;

export function formatTable(rows: BenchRow[]): string {
  const header = ['figure', 'value', 'baseline', 'ratio', 'target', 'met'];
  const body = rows.map((r) => [
    r.figure,
    `${round(r.value)} ${r.unit}`,
    r.baseline ? `${round(r.baseline.value)} (${r.baseline.label})` : '',
    r.ratio !== undefined ? `${round(r.ratio)}x` : '',
    r.target,
    r.pass === undefined ? '' : r.pass ? 'yes' : 'NO',
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((row) => row[i]!.length)));
  const line = (cells: string[]) => `| ${cells.map((c, i) => c.padEnd(widths[i]!)).join(' | ')} |`;
  return [line(header), line(widths.map((w) => '-'.repeat(w))), ...body.map(line)].join('\n');
}

function round(n: number): string {
  return Math.abs(n) >= 100 ? n.toFixed(0) : Math.abs(n) >= 10 ? n.toFixed(1) : n.toFixed(2);
}

export function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}
