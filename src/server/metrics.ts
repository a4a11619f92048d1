import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { LlmObserver } from '../agent/failover-llm.ts';
import type { LlmReply } from '../agent/llm.ts';
import type { Platform } from '../channels/accounts.ts';
import type { PlatformObserver } from '../channels/platform-observer.ts';
import type { BusStats } from '../core/bus.ts';
import type { LlmError } from '../core/errors.ts';
import type { Period } from '../agent/cost-ledger.ts';

/** What the gauges read when Prometheus scrapes. */
export interface MetricSources {
  bus: () => BusStats;
  /** Durable events not yet acknowledged (the journal's pending count). */
  journalPending: () => number;
  deadLetters: () => number;
  sessionsActive: () => number;
  costs: () => Array<{ model: string; today: Period; month: Period }>;
}

const SECONDS = [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 40, 80];

/**
 * /metrics in Prometheus' text format (prom-client). Labels are only names the operator chose or
 * the code fixed: channel (`telegram`, `discord.work`), platform, model, kind, outcome. Never a
 * user's text, a user or chat id, or a secret.
 */
export class Metrics implements LlmObserver, PlatformObserver {
  readonly registry = new Registry();
  private readonly messagesIn: Counter<'channel'>;
  private readonly messagesOut: Counter<'channel'>;
  private readonly turnSeconds: Histogram<'outcome'>;
  private readonly llmSeconds: Histogram<'model' | 'outcome'>;
  private readonly llmTokens: Counter<'model' | 'kind'>;
  private readonly llmErrors: Counter<'model' | 'kind'>;
  private readonly platformRateLimited: Counter<'platform'>;
  private readonly platformRetries: Counter<'platform'>;

  constructor(sources: MetricSources) {
    const registers = [this.registry];
    collectDefaultMetrics({ register: this.registry });
    this.messagesIn = new Counter({ name: 'mybot_messages_in_total', help: 'User messages taken in (journaled), per channel', labelNames: ['channel'], registers });
    this.messagesOut = new Counter({ name: 'mybot_messages_out_total', help: 'Replies handed to the channel for delivery, per channel (error replies included)', labelNames: ['channel'], registers });
    this.turnSeconds = new Histogram({ name: 'mybot_turn_duration_seconds', help: 'From a message taken in to its reply ready for delivery', labelNames: ['outcome'], buckets: SECONDS, registers });
    this.llmSeconds = new Histogram({ name: 'mybot_llm_request_duration_seconds', help: 'One LLM call, the SDK retries included, per model', labelNames: ['model', 'outcome'], buckets: SECONDS, registers });
    this.llmTokens = new Counter({ name: 'mybot_llm_tokens_total', help: 'LLM tokens as the API reported them, per model; kind: prompt or completion', labelNames: ['model', 'kind'], registers });
    this.llmErrors = new Counter({ name: 'mybot_llm_errors_total', help: 'Failed LLM calls per model; kind: rate_limit, server, client, not_found, network, other', labelNames: ['model', 'kind'], registers });
    this.platformRateLimited = new Counter({
      name: 'mybot_platform_rate_limited_total',
      help: 'Rate limits met: Telegram 429 answers; Discord 429s and the waits discord.js makes to avoid one',
      labelNames: ['platform'],
      registers,
    });
    this.platformRetries = new Counter({
      name: 'mybot_platform_retries_total',
      help: 'Platform calls that go again after a rate limit (both), a 5xx or a network failure (Telegram)',
      labelNames: ['platform'],
      registers,
    });
    const gauge = (name: string, help: string, read: () => number) =>
      new Gauge({
        name,
        help,
        registers,
        collect() {
          this.set(read());
        },
      });
    gauge('mybot_journal_pending', 'Durable events (messages and replies) not yet acknowledged', sources.journalPending);
    gauge('mybot_dead_letters', 'Replies the platform refused for good (.mybot/dead-letters.jsonl)', sources.deadLetters);
    gauge('mybot_sessions_active', 'Sessions that had a message in the last hour', sources.sessionsActive);
    gauge('mybot_bus_queue_depth', 'Events waiting in session queues', () => sources.bus().queued);
    gauge('mybot_bus_sessions_busy', 'Session queues being worked on right now', () => sources.bus().activeSessions);
    new Gauge({
      name: 'mybot_llm_estimated_cost',
      help: 'Estimated LLM cost per model from limits.prices; period: today or month (UTC)',
      labelNames: ['model', 'period'],
      registers,
      collect() {
        this.reset();
        for (const { model, today, month } of sources.costs()) {
          this.set({ model, period: 'today' }, today.cost);
          this.set({ model, period: 'month' }, month.cost);
        }
      },
    });
  }

  messageIn(channel: string): void {
    this.messagesIn.inc({ channel });
  }

  messageOut(channel: string): void {
    this.messagesOut.inc({ channel });
  }

  turnDone(seconds: number, outcome: 'ok' | 'error'): void {
    this.turnSeconds.observe({ outcome }, seconds);
  }

  answered(model: string, seconds: number, usage: LlmReply['usage']): void {
    this.llmSeconds.observe({ model, outcome: 'ok' }, seconds);
    if (!usage) return;
    this.llmTokens.inc({ model, kind: 'prompt' }, usage.promptTokens);
    this.llmTokens.inc({ model, kind: 'completion' }, usage.completionTokens);
  }

  failed(model: string, seconds: number, error: LlmError): void {
    this.llmSeconds.observe({ model, outcome: 'error' }, seconds);
    this.llmErrors.inc({ model, kind: errorKind(error) });
  }

  rateLimited(platform: Platform): void {
    this.platformRateLimited.inc({ platform });
  }

  retried(platform: Platform): void {
    this.platformRetries.inc({ platform });
  }

  text(): Promise<string> {
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }
}

/** A few fixed kinds, so the label's values stay bounded whatever an endpoint answers. */
export function errorKind(error: LlmError): string {
  const { status } = error;
  if (status === 429) return 'rate_limit';
  if (status === 404) return 'not_found';
  if (status !== undefined && status >= 500) return 'server';
  if (status !== undefined) return 'client';
  return error.transient ? 'network' : 'other';
}
