import { describe, expect, it } from 'vitest';
import { LlmError } from '../../../src/core/errors.ts';
import { Metrics } from '../../../src/server/metrics.ts';
import { parsePrometheusText, valueOf } from '../../helpers/prometheus-text.ts';

const sources = {
  bus: () => ({ queued: 3, activeSessions: 1, unacked: 2, deadLetters: 0 }),
  journalPending: () => 2,
  deadLetters: () => 0,
  sessionsActive: () => 4,
  costs: () => [{ model: 'm', today: { promptTokens: 1, completionTokens: 1, cost: 0.5 }, month: { promptTokens: 2, completionTokens: 2, cost: 1.5 } }],
};

describe('Metrics: the /metrics text', () => {
  it('is valid exposition text with the counters, histograms and gauges it was told', async () => {
    const metrics = new Metrics(sources);
    metrics.messageIn('telegram.work');
    metrics.turnDone(0.2, 'ok');
    metrics.answered('m', 1.5, { promptTokens: 10, completionTokens: 5 });
    metrics.failed('m', 0.1, new LlmError('the LLM answered HTTP 503', true, { status: 503 }));
    metrics.failed('m', 0.1, new LlmError('reset', true));
    const families = parsePrometheusText(await metrics.text());
    expect(valueOf(families, 'mybot_messages_in_total', { channel: 'telegram.work' })).toBe(1);
    expect(valueOf(families, 'mybot_turn_duration_seconds_count', { outcome: 'ok' })).toBe(1);
    expect(valueOf(families, 'mybot_llm_tokens_total', { model: 'm', kind: 'completion' })).toBe(5);
    expect(valueOf(families, 'mybot_llm_errors_total', { model: 'm', kind: 'server' })).toBe(1);
    expect(valueOf(families, 'mybot_llm_errors_total', { model: 'm', kind: 'network' })).toBe(1);
    expect(valueOf(families, 'mybot_bus_queue_depth')).toBe(3);
    expect(valueOf(families, 'mybot_llm_estimated_cost', { model: 'm', period: 'month' })).toBe(1.5);
  });

  it('the test parser refuses what is not the format', () => {
    expect(() => parsePrometheusText('garbage line here\n')).toThrow(/no declared family|not a sample/);
    expect(() => parsePrometheusText('# TYPE x counter\nx{a="b" 1\n')).toThrow(/not a sample|bad labels/);
    expect(() => parsePrometheusText('# TYPE h histogram\nh_bucket{le="1"} 2\nh_bucket{le="+Inf"} 1\nh_count 1\n')).toThrow(/cumulative/);
    expect(() => parsePrometheusText('# TYPE x counter\nx 1')).toThrow(/newline/);
  });
});
