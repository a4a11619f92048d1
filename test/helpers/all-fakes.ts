import { afterAll, beforeAll } from 'vitest';
import { FakeDiscord } from '../fakes/discord.ts';
import { FakeOpenAI } from '../fakes/openai.ts';
import { FakeTelegram } from '../fakes/telegram.ts';
import { fakesConfig } from './config.ts';
import { Daemon } from './daemon.ts';

/** The real daemon, default config, on fake Telegram, Discord and LLM. */
export interface AllFakes {
  telegram: FakeTelegram;
  discord: FakeDiscord;
  llm: FakeOpenAI;
  daemon: Daemon;
  /** Stops the daemon with `signal` and starts it again on the same workspace, as after a crash or a stop. */
  restart(signal?: NodeJS.Signals): Promise<void>;
}

/** For the tests of one file: started before them, everything stopped and removed after them. */
export function daemonOnAllFakes(): AllFakes {
  const world = {
    async restart(signal: NodeJS.Signals = 'SIGKILL') {
      await world.daemon.kill(signal);
      world.daemon = await Daemon.start({ config: fakesConfig(world), workspace: world.daemon.workspace });
    },
  } as AllFakes;
  beforeAll(async () => {
    [world.telegram, world.discord, world.llm] = await Promise.all([FakeTelegram.start(), FakeDiscord.start(), FakeOpenAI.start()]);
    world.daemon = await Daemon.start({ config: fakesConfig(world) });
  });
  afterAll(async () => {
    await world.daemon?.dispose();
    await Promise.all([world.telegram?.close(), world.discord?.close(), world.llm?.close()]);
  });
  return world;
}
