import { join } from 'node:path';
import { AgentWorker } from '../agent/agent-worker.ts';
import { CostLedger } from '../agent/cost-ledger.ts';
import { FailoverLlm, type LlmObserver } from '../agent/failover-llm.ts';
import { UsageLimiter } from '../agent/limits.ts';
import { MemoryFiles } from '../agent/memory.ts';
import { JsonlSessionStore } from '../agent/sessions.ts';
import { SkillCatalogue } from '../agent/skills.ts';
import { bashTool } from '../agent/tools/bash.ts';
import { fileTools } from '../agent/tools/files.ts';
import { memoryTools } from '../agent/tools/memory.ts';
import { ToolRegistry } from '../agent/tools/registry.ts';
import { sendFileTool } from '../agent/tools/send-file.ts';
import { scheduleTools } from '../agent/tools/schedules.ts';
import { useSkillTool } from '../agent/tools/skills.ts';
import { webFetchTool } from '../agent/tools/web.ts';
import { UsageStore } from '../agent/usage-store.ts';
import { pairingHint } from '../channels/access.ts';
import { allEnabledAccounts, settingsOfChannel, type AccountRef } from '../channels/accounts.ts';
import type { Channel, Publish } from '../channels/channel.ts';
import { IGNORE_PLATFORM } from '../channels/platform-observer.ts';
import { PairingStore } from '../channels/pairing-store.ts';
import { DeliveryWorker } from '../channels/delivery-worker.ts';
import { secretsOf } from '../config/load.ts';
import type { Config } from '../config/schema.ts';
import { ConfigWatcher } from '../config/watch.ts';
import { workspacePaths } from '../config/workspace.ts';
import { systemClock } from '../core/clock.ts';
import { DeadLetters } from '../core/dead-letters.ts';
import { OutboundEvent } from '../core/events.ts';
import { Journal } from '../core/journal.ts';
import type { EventBus } from '../core/bus.ts';
import { LocalBus } from '../core/local-bus.ts';
import { RedisBus } from '../core/redis-bus.ts';
import { Supervisor } from '../core/supervisor.ts';
import { MediaIntake, type FileSource } from '../media/intake.ts';
import { OpenAiTranscriber } from '../media/transcriber.ts';
import { registerSecret, type Logger } from '../log.ts';
import { jobFiles } from '../schedules/job-files.ts';
import { ScheduleBook } from '../schedules/schedule-book.ts';
import { ScheduleStore } from '../schedules/schedule-store.ts';
import { SchedulerWorker } from '../schedules/scheduler-worker.ts';
import { healthOf } from './health.ts';
import { HttpServer, sendJson, sendText, type RouteHost } from './http-server.ts';
import { releaseLock, takeLock } from './lock.ts';
import { MessageMeter } from './message-meter.ts';
import type { Metrics } from './metrics.ts';
import { MemoryWatchdog } from './memory-watchdog.ts';
import { createPlatformChannels } from './platform-channels.ts';
import { STATUS_INTERVAL_MS, writeStatus, type StatusSnapshot } from './status.ts';

export interface AppOptions {
  workspace: string;
  config: Config;
  log: Logger;
  /** Extra channels (the terminal chat) started alongside those the config enables. */
  extraChannels?: (publish: Publish) => Channel[];
  /** In-memory bus, no journal, no lock, no config watch: the terminal chat can run beside a daemon. */
  ephemeral?: boolean;
  /** A worker failed with an error no restart can fix (e.g. Discord closed the gateway with 4014). */
  onFatal?: (error: unknown) => void;
  /** The heap stayed above server.max_heap_mb: the daemon should stop gracefully and be restarted. */
  onHeapLimit?: () => void;
}

/** Read on every message: a change needs no channel restart. */
const PER_MESSAGE_KEYS = ['allowed_user_ids', 'owner_user_ids', 'dm_policy', 'group_policy', 'ack_reaction', 'ack_reaction_clear', 'limits'];

/** Wires config, bus, journal, workers and channels together; reloads config; `stop` shuts down in order. */
export class App {
  private config: Config;
  private readonly current = () => this.config;
  private readonly paths: ReturnType<typeof workspacePaths>;
  private readonly journal: Journal | undefined;
  readonly bus: EventBus;
  /** server.role: what this process runs of the daemon. */
  private readonly runsAgents: boolean;
  private readonly runsChannels: boolean;
  private readonly supervisor: Supervisor;
  private readonly channels = new Map<string, Channel>();
  /** In an agent process: the channels, never started, that say where users' files are and how big a file may be. */
  private readonly idleChannels = new Map<string, Channel>();
  private readonly agent: AgentWorker;
  /** None in the terminal chat: it may run beside a daemon, which fires the jobs. */
  private readonly scheduler: SchedulerWorker | undefined;
  private readonly pairing: PairingStore;
  private readonly usage: UsageLimiter;
  private readonly publish: Publish;
  private readonly startedAt = Date.now();
  private watcher?: ConfigWatcher;
  private statusTimer?: NodeJS.Timeout;
  private readonly heap: MemoryWatchdog;
  private readonly costs: CostLedger;
  private readonly meter: MessageMeter | undefined;
  private http?: HttpServer;
  /** Webhooks on a port of their own (channels.telegram.webhook_port), by port. */
  private readonly ownPorts = new Map<number, HttpServer>();
  private busRunning = false;

  private constructor(
    private readonly options: AppOptions,
    private readonly metrics: Metrics | undefined,
  ) {
    const { workspace, log } = options;
    this.config = options.config;
    this.paths = workspacePaths(workspace);
    const { role } = this.config.server;
    this.runsAgents = role !== 'gateway';
    this.runsChannels = role !== 'agent';
    // one process per workspace polls the platforms; agents of a deployment share the workspace
    if (!options.ephemeral && this.runsChannels) takeLock(this.paths.pidFile);
    const redis = !options.ephemeral && this.config.bus.backend === 'redis';
    // the processes of a deployment share the workspace: its stores take a lock and merge what others wrote
    const shared = { shared: redis };
    this.journal = options.ephemeral || redis ? undefined : new Journal(this.paths.journal, { fsync: this.config.server.journal_fsync, log });
    this.bus = redis ? this.redisBus() : new LocalBus({ log, maxConcurrency: this.config.server.max_concurrency, ...(this.journal ? { journal: this.journal, deadLetters: new DeadLetters(this.paths.deadLetters) } : {}) });
    const bash = this.config.tools.bash.enabled ? [bashTool(workspace, () => this.current().tools.bash)] : [];
    const web = this.config.tools.web.enabled ? [webFetchTool(() => this.current().tools.web)] : [];
    const skills = new SkillCatalogue(join(workspace, 'skills'), log);
    const sendFile = sendFileTool({ workspace, bus: this.bus, maxFileBytes: (target) => (this.channels.get(target.channel) ?? this.idleChannels.get(target.channel))?.maxFileBytes?.(target) });
    const memory = new MemoryFiles(workspace, shared);
    const schedules = options.ephemeral
      ? undefined
      : new ScheduleBook({ store: new ScheduleStore(this.paths.schedules, log, shared), files: jobFiles(join(workspace, 'schedules'), log), config: this.current, clock: systemClock, log });
    const tools = new ToolRegistry([...fileTools(workspace), sendFile, useSkillTool(skills), ...memoryTools(memory), ...(schedules ? scheduleTools(schedules) : []), ...bash, ...web]);
    const sessions = new JsonlSessionStore(this.paths.sessions, () => this.current().llm.max_context_messages, log, () => this.current().server.journal_fsync, shared);
    this.pairing = new PairingStore(this.paths.pairing, Date.now, shared);
    // the terminal chat may run beside a daemon on the same workspace: it must not overwrite the daemon's counters
    this.usage = new UsageLimiter(this.current, options.ephemeral ? undefined : new UsageStore(this.paths.usage, log, shared), log);
    this.costs = new CostLedger(options.ephemeral ? undefined : join(this.paths.state, 'costs.json'), () => this.current().limits.prices, log, Date.now, shared);
    this.usage.costsByModel = () => this.costs.figures();
    const observers: LlmObserver[] = [this.costs, ...(metrics ? [metrics] : [])];
    const observer: LlmObserver = { answered: (...args) => observers.forEach((o) => o.answered(...args)), failed: (...args) => observers.forEach((o) => o.failed(...args)) };
    const llm = new FailoverLlm({ settings: () => this.current().llm, log, observer });
    const { pairing, usage } = this;
    const media = new MediaIntake({ workspace, config: this.current, transcriber: new OpenAiTranscriber(() => this.current().llm), fileSource: (name) => this.fileSource(name), log });
    this.agent = new AgentWorker({ bus: this.bus, llm, sessions, tools, config: this.current, systemPromptFile: this.paths.agentPrompt, skills, pairing, usage, memory, ...(schedules ? { schedules } : {}), media, log });
    this.scheduler = !schedules || !this.runsChannels ? undefined : new SchedulerWorker({ book: schedules, publish: (event) => this.bus.publish(event), clock: systemClock, config: this.current, log });
    const meter = (this.meter = metrics && new MessageMeter(metrics));
    this.publish = meter
      ? async (event) => {
          const fresh = await this.bus.publish(event);
          if (fresh) meter.inbound(event);
          return fresh;
        }
      : (event) => this.bus.publish(event);
    this.supervisor = new Supervisor(log, options.onFatal);
    this.heap = new MemoryWatchdog({ limitMb: () => this.current().server.max_heap_mb, onExceeded: () => options.onHeapLimit?.(), log });
  }

  private redisBus(): RedisBus {
    const { bus, server } = this.config;
    return new RedisBus({
      url: bus.redis_url!,
      prefix: bus.redis_prefix,
      partitions: bus.partitions,
      claimIdleMs: bus.claim_idle_ms,
      maxConcurrency: server.max_concurrency,
      role: server.role,
      runsAgents: this.runsAgents,
      runsChannels: this.runsChannels,
      channels: () => [...this.channels.keys()],
      ...(this.runsChannels ? { deadLetters: new DeadLetters(this.paths.deadLetters) } : {}),
      log: this.options.log,
    });
  }

  /** The running channel that can say where its users' files are. */
  private fileSource(name: string): FileSource | undefined {
    const channel = this.channels.get(name) ?? this.idleChannels.get(name);
    return channel?.locateFile ? { locateFile: (file, signal) => channel.locateFile!(file, signal) } : undefined;
  }

  static async start(options: AppOptions): Promise<App> {
    // prom-client is loaded only when something will read it
    const serving = !options.ephemeral && options.config.server.http_port !== undefined && options.config.server.role !== 'agent';
    const { Metrics } = serving ? await import('./metrics.ts') : { Metrics: undefined };
    let app: App | undefined;
    const metrics = Metrics
      ? new Metrics({
          bus: () => app!.bus.stats(),
          journalPending: () => app!.bus.stats().unacked,
          deadLetters: () => app!.bus.stats().deadLetters,
          sessionsActive: () => app!.agent.stats().sessionsActiveLastHour,
          costs: () => app!.costs.figures(),
        })
      : undefined;
    app = new App(options, metrics);
    await app.startWorkers();
    return app;
  }

  private async startWorkers(): Promise<void> {
    const { workspace, log, ephemeral } = this.options;
    // before the channels: a webhook must be served before Telegram is told to use it
    if (this.metrics) await this.startHttp(this.metrics);
    if (this.meter) this.bus.subscribe(OutboundEvent, (event) => this.meter!.outbound(event));
    if (this.runsChannels) await this.supervisor.start(new DeliveryWorker(this.bus, () => this.channels, log));
    if (this.runsAgents) await this.supervisor.start(this.agent);
    const channels = this.runsChannels ? [...(await this.createChannels()), ...(this.options.extraChannels?.(this.publish) ?? [])] : [];
    if (!this.runsChannels) for (const channel of await this.createChannels(undefined, NO_ROUTES)) this.idleChannels.set(channel.name, channel);
    for (const channel of channels) this.channels.set(channel.name, channel);
    // channels connect before the replay, so replayed replies find them ready
    await Promise.all(channels.map((channel) => this.supervisor.start(channel)));
    await this.bus.run();
    // after the replay: a job's firing queues behind what its session had pending
    if (this.scheduler) await this.supervisor.start(this.scheduler);
    this.busRunning = true;
    if (!ephemeral) {
      this.watcher = new ConfigWatcher(workspace, (config) => this.applyConfig(config), log);
      this.watcher.start();
      // agents report through Redis (npm run status reads it there); the workspace's file is the gateway's
      if (this.runsChannels) {
        this.statusTimer = setInterval(() => this.writeStatus(), STATUS_INTERVAL_MS);
        this.writeStatus();
      }
      this.heap.start();
    }
    const hint = pairingHint(this.config);
    if (hint) log.info({ channels: hint.channels }, hint.msg);
    if (this.channels.size === 0 && this.runsChannels) {
      log.warn(
        'no channel is enabled, so nobody can write to the bot: try it with `npm run chat`, or enable Telegram or Discord in config.user.yaml (channels.telegram.enabled, channels.discord.enabled; README sections "Telegram" and "Discord")',
      );
    }
    log.info({ workspace, role: this.config.server.role, bus: this.config.bus.backend, channels: [...this.channels.keys()], model: this.config.llm.model, fallbacks: this.config.llm.fallbacks.map((f) => f.model) }, 'mybot is up');
  }

  private createChannels(only?: string, routes?: RouteHost): Promise<Channel[]> {
    const webhookHost = (port: number | undefined) => (routes ? Promise.resolve(routes) : this.webhookHost(port));
    const deps = { pairing: this.pairing, stateDir: this.paths.state, observer: this.metrics ?? IGNORE_PLATFORM, webhookHost };
    return createPlatformChannels(this.current, this.publish, this.options.log, deps, only);
  }

  /** /healthz and /metrics on server.http_port; a reload of server.http_* applies at the next start. */
  private async startHttp(metrics: Metrics): Promise<void> {
    const { http_host: host, http_port: port = 0 } = this.config.server;
    const http = (this.http = new HttpServer({ host, port, token: () => this.current().server.http_token, log: this.options.log }));
    http.route('GET', '/healthz', (_req, res) => {
      const snapshot = this.snapshot();
      const health = healthOf(this.busRunning, snapshot.channels, snapshot.bus.problem);
      sendJson(res, health.ok ? 200 : 503, health.body);
    });
    http.route('GET', '/metrics', async (_req, res) => sendText(res, 200, await metrics.text(), metrics.contentType));
    await http.start();
  }

  /** The shared server, or a server of its own for a webhook_port that differs from server.http_port. */
  private async webhookHost(port: number | undefined): Promise<RouteHost> {
    if (port === undefined || port === this.config.server.http_port) {
      if (!this.http) throw new Error('a webhook without server.http_port or webhook_port: the config check should have refused it');
      return this.http;
    }
    let server = this.ownPorts.get(port);
    if (!server) {
      server = new HttpServer({ host: this.config.server.http_host, port, token: () => undefined, log: this.options.log });
      this.ownPorts.set(port, server);
      await server.start();
    }
    return server;
  }

  /**
   * Takes a reloaded config: model, allowlists and limits apply to the next message (everything
   * reads `current()`); a channel whose connection settings changed is restarted alone.
   */
  async applyConfig(next: Config): Promise<void> {
    const previous = this.config;
    this.config = next;
    for (const secret of secretsOf(next)) registerSecret(secret);
    if (JSON.stringify(previous.bus) !== JSON.stringify(next.bus)) this.options.log.warn('bus.* changed: it applies when the processes start again');
    const before = connections(previous);
    const after = connections(next);
    for (const name of new Set([...before.keys(), ...after.keys()])) {
      if (!this.runsChannels) break;
      if (before.get(name) !== after.get(name)) await this.restartChannel(name);
    }
  }

  private async restartChannel(name: string): Promise<void> {
    const { log } = this.options;
    if (this.channels.has(name)) {
      await this.supervisor.stop(name);
      this.channels.delete(name);
      log.info({ channel: name }, 'channel stopped for a config change');
    }
    const [channel] = await this.createChannels(name);
    if (!channel) return;
    this.channels.set(name, channel);
    try {
      await this.supervisor.start(channel);
      log.info({ channel: name }, 'channel started with the new config');
    } catch (err) {
      log.error({ err, channel: name }, 'channel failed to start with the new config; fix the config and save it again');
    }
  }

  snapshot(): StatusSnapshot {
    const agent = this.agent.stats();
    return {
      pid: process.pid,
      startedAt: this.startedAt,
      updatedAt: Date.now(),
      channels: Object.fromEntries([...this.channels].map(([name, channel]) => [name, channel.status()])),
      bus: this.bus.stats(),
      repliesWaiting: this.journal?.pendingOfType('outbound') ?? 0,
      heap: { usedMb: this.heap.heapUsedMb(), limitMb: this.config.server.max_heap_mb },
      ...(this.http?.address ? { http: this.http.address } : {}),
      ...(this.scheduler ? { schedules: this.scheduler.status() } : {}),
      ...agent,
    };
  }

  private writeStatus(): void {
    try {
      writeStatus(this.paths.statusFile, this.snapshot());
    } catch (err) {
      this.options.log.warn({ err }, 'could not write the status file');
    }
  }

  /** Graceful stop: no new messages, in-flight turns finish and deliver (up to the drain deadline), the rest stays journaled. */
  async stop(): Promise<void> {
    const { log } = this.options;
    this.watcher?.stop();
    this.heap.stop();
    // no new firings while the rest drains; what fired is journaled and answered now or at the next start
    await this.scheduler?.stop();
    clearInterval(this.statusTimer);
    this.busRunning = false;
    await Promise.all([...this.channels.values()].map((c) => c.pause().catch((err) => log.warn({ err, channel: c.name }, 'pause failed'))));
    await this.bus.stop(this.config.server.drain_timeout_s * 1000);
    this.agent.cancelInFlight();
    await this.supervisor.stopAll();
    await Promise.all([this.http, ...this.ownPorts.values()].map((server) => server?.stop()));
    this.usage.flush();
    this.costs.flush();
    this.journal?.close();
    await this.bus.close?.();
    if (!this.options.ephemeral && this.runsChannels) releaseLock(this.paths.pidFile);
  }
}

/** Where the never-started channels of an agent process would serve webhooks: nowhere. */
const NO_ROUTES: RouteHost = { route: () => () => undefined };

/** Per running account, what needs a restart of its channel when it changes: all but what is read per message. */
function connections(config: Config): Map<string, string> {
  return new Map(
    allEnabledAccounts(config).map((ref: AccountRef) => {
      const settings = Object.entries(settingsOfChannel(config, ref.channel) ?? {}).filter(([key]) => !PER_MESSAGE_KEYS.includes(key));
      return [ref.channel, JSON.stringify(settings)];
    }),
  );
}
