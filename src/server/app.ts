import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { AgentWorker } from '../agent/agent-worker.ts';
import { OpenAiLlm } from '../agent/llm.ts';
import { JsonlSessionStore } from '../agent/sessions.ts';
import { bashTool } from '../agent/tools/bash.ts';
import { fileTools } from '../agent/tools/files.ts';
import { ToolRegistry } from '../agent/tools/registry.ts';
import type { Channel, Publish } from '../channels/channel.ts';
import { DeliveryWorker } from '../channels/delivery-worker.ts';
import { workspacePaths } from '../config/workspace.ts';
import type { Config } from '../config/schema.ts';
import { ConfigError } from '../core/errors.ts';
import { Journal } from '../core/journal.ts';
import { LocalBus } from '../core/local-bus.ts';
import { Supervisor } from '../core/supervisor.ts';
import type { Logger } from '../log.ts';
import { createPlatformChannels } from './platform-channels.ts';

export interface AppOptions {
  workspace: string;
  config: Config;
  log: Logger;
  /** Extra channels (the terminal chat) started alongside those the config enables. */
  extraChannels?: (publish: Publish) => Channel[];
  /** In-memory bus, no journal, no lock: the terminal chat can run beside a daemon. */
  ephemeral?: boolean;
  /** A worker failed with an error no restart can fix (e.g. Discord closed the gateway with 4014). */
  onFatal?: (error: unknown) => void;
}

/** Wires config, bus, journal, workers and channels together; `stop` shuts them down in order. */
export class App {
  private constructor(
    readonly bus: LocalBus,
    private readonly journal: Journal | undefined,
    private readonly supervisor: Supervisor,
    private readonly channels: Map<string, Channel>,
    private readonly agent: AgentWorker,
    private readonly options: AppOptions,
  ) {}

  static async start(options: AppOptions): Promise<App> {
    const { workspace, log } = options;
    const config = options.config;
    const paths = workspacePaths(workspace);
    if (!options.ephemeral) takeLock(paths.pidFile);
    const journal = options.ephemeral ? undefined : new Journal(paths.journal, { fsync: config.server.journal_fsync, log });
    const bus = new LocalBus({ log, maxConcurrency: config.server.max_concurrency, ...(journal ? { journal } : {}) });
    const current = () => config;
    const tools = new ToolRegistry([...fileTools(workspace), ...(config.tools.bash.enabled ? [bashTool(workspace, () => current().tools.bash)] : [])]);
    const sessions = new JsonlSessionStore(paths.sessions, () => current().llm.max_context_messages, log);
    const agent = new AgentWorker({ bus, llm: new OpenAiLlm(() => current().llm), sessions, tools, config: current, systemPromptFile: paths.agentPrompt, log });
    const publish: Publish = (event) => bus.publish(event);
    const channels = new Map<string, Channel>();
    for (const channel of [...createPlatformChannels(current, publish, log), ...(options.extraChannels?.(publish) ?? [])]) channels.set(channel.name, channel);

    const supervisor = new Supervisor(log, options.onFatal);
    const app = new App(bus, journal, supervisor, channels, agent, options);
    await supervisor.start(new DeliveryWorker(bus, () => channels, log));
    await supervisor.start(agent);
    // channels connect before the replay, so replayed replies find them ready
    await Promise.all([...channels.values()].map((channel) => supervisor.start(channel)));
    await bus.run();
    log.info({ workspace, channels: [...channels.keys()], model: config.llm.model }, 'mybot is up');
    return app;
  }

  /** Graceful stop: no new messages, in-flight turns finish and deliver (up to the drain deadline), the rest stays journaled. */
  async stop(): Promise<void> {
    const { log, config } = this.options;
    await Promise.all([...this.channels.values()].map((c) => c.pause().catch((err) => log.warn({ err, channel: c.name }, 'pause failed'))));
    await this.bus.stop(config.server.drain_timeout_s * 1000);
    this.agent.cancelInFlight();
    await this.supervisor.stopAll();
    this.journal?.close();
    if (!this.options.ephemeral) rmSync(workspacePaths(this.options.workspace).pidFile, { force: true });
  }
}

/** One daemon per workspace: two would interleave writes to one journal. */
function takeLock(pidFile: string): void {
  if (existsSync(pidFile)) {
    const pid = Number(readFileSync(pidFile, 'utf8'));
    if (pid && pid !== process.pid && isAlive(pid)) {
      throw new ConfigError(`another mybot (pid ${pid}) is running on this workspace: stop it first, or use another --workspace`);
    }
  }
  writeFileSync(pidFile, String(process.pid), { mode: 0o600 });
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}
