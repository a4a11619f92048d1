/**
 * A strict reader of Prometheus' text exposition format (0.0.4), for tests: every line must be a
 * HELP, a TYPE or a sample of a declared family, names and labels as the format allows, and a
 * histogram's buckets cumulative up to a +Inf bucket equal to its count. prom-client writes the
 * format but has no parser, and the lenient ones on npm read garbage as samples.
 */
export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

export interface Family {
  name: string;
  type: string;
  help: string;
  samples: Sample[];
}

const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const SAMPLE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)(?: (-?\d+))?$/;
const LABEL = /\s*([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\n]|\\[\\"n])*)"\s*(?:,|$)/y;
const TYPES = new Set(['counter', 'gauge', 'histogram', 'summary', 'untyped']);
const SUFFIXES: Record<string, string[]> = { histogram: ['_bucket', '_sum', '_count'], summary: ['', '_sum', '_count'] };

export function parsePrometheusText(text: string): Family[] {
  const families = new Map<string, Family>();
  if (!text.endsWith('\n')) throw new Error('the exposition must end with a newline');
  for (const [index, line] of text.slice(0, -1).split('\n').entries()) {
    const fail = (why: string): never => {
      throw new Error(`line ${index + 1}: ${why}: ${line}`);
    };
    if (line.startsWith('# HELP ') || line.startsWith('# TYPE ')) {
      const [, kind, name = '', ...rest] = line.split(' ');
      if (!NAME.test(name)) fail('bad metric name');
      const family = families.get(name) ?? { name, type: 'untyped', help: '', samples: [] };
      families.set(name, family);
      if (kind === 'TYPE') {
        if (!TYPES.has(rest[0] ?? '') || family.samples.length > 0) fail('bad or late TYPE');
        family.type = rest[0]!;
      } else family.help = rest.join(' ');
      continue;
    }
    if (line.startsWith('#') || line === '') continue;
    const match = SAMPLE.exec(line) ?? fail('not a sample');
    const [, name, labelText = '', valueText] = match;
    // as Prometheus reads it (Go's ParseFloat): NaN and Inf in any case, e.g. prom-client's "Nan"
    const special = valueText!.toLowerCase();
    const value = special === 'nan' ? NaN : special === '+inf' || special === 'inf' ? Infinity : special === '-inf' ? -Infinity : Number(valueText);
    if (Number.isNaN(value) && special !== 'nan') fail('bad value');
    const labels: Record<string, string> = {};
    LABEL.lastIndex = 0;
    while (LABEL.lastIndex < labelText.length) {
      const label = LABEL.exec(labelText) ?? fail('bad labels');
      if (label[1]! in labels) fail('a label twice');
      labels[label[1]!] = label[2]!.replace(/\\n/g, '\n').replace(/\\(["\\])/g, '$1');
    }
    const family = [...families.values()].find((f) => (SUFFIXES[f.type] ?? ['']).some((suffix) => `${f.name}${suffix}` === name)) ?? fail('a sample of no declared family');
    family.samples.push({ name: name!, labels, value });
  }
  for (const family of families.values()) if (family.type === 'histogram') checkHistogram(family);
  return [...families.values()];
}

function checkHistogram(family: Family): void {
  const series = new Map<string, Sample[]>();
  for (const sample of family.samples.filter((s) => s.name.endsWith('_bucket'))) {
    const { le: _le, ...rest } = sample.labels;
    const key = JSON.stringify(rest);
    series.set(key, [...(series.get(key) ?? []), sample]);
  }
  for (const [key, buckets] of series) {
    const values = buckets.map((b) => b.value);
    if (values.some((v, i) => i > 0 && v < values[i - 1]!)) throw new Error(`${family.name}${key}: buckets not cumulative`);
    const inf = buckets.find((b) => b.labels.le === '+Inf');
    const count = family.samples.find((s) => s.name.endsWith('_count') && JSON.stringify(s.labels) === key);
    if (!inf || !count || inf.value !== count.value) throw new Error(`${family.name}${key}: the +Inf bucket is not the count`);
  }
}

/** The value of the first sample named `name` (a family's name, or with _count/_sum) whose labels include `labels`. */
export function valueOf(families: Family[], name: string, labels: Record<string, string> = {}): number | undefined {
  for (const family of families) {
    const found = family.samples.find((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v));
    if (found) return found.value;
  }
  return undefined;
}
