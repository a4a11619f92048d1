/**
 * `npm run chaos`: the real daemon against fake Telegram, Discord and LLM, SIGKILLed at random
 * moments while users write on both platforms; prints what was sent, delivered, lost, duplicated
 * and reordered, and whether an every-minute scheduled job delivered each due time once. Options: --messages N (500), --kills K (50), --seed S (random), --quick (60/6),
 * --redis (a gateway and 3 agents on a redis-server of the run's own; each kill hits one of them),
 * --logs DIR (each process's output, written there at the end).
 * Exits 1 when a target (0 lost, 0 duplicated, 0 out of order, no secret anywhere) is missed.
 */
import { parseArgs } from 'node:util';
import { chaosTiming, formatResult, runChaos } from './engine.ts';

const { values } = parseArgs({
  options: {
    messages: { type: 'string' },
    kills: { type: 'string' },
    seed: { type: 'string' },
    quick: { type: 'boolean', default: false },
    redis: { type: 'boolean', default: false },
    logs: { type: 'string' },
  },
});
const messages = Number(values.messages ?? (values.quick ? 60 : 500));
const kills = Number(values.kills ?? (values.quick ? 6 : 50));
const seed = Number(values.seed ?? Math.floor(Math.random() * 2 ** 31));

const redis = values.redis;
process.stdout.write(`chaos: ${messages} messages, ${kills} SIGKILLs, seed ${seed}${redis ? ', a gateway and 3 agents on Redis' : ''}\n`);
const result = await runChaos({ messages, kills, seed, redis, ...(values.logs ? { logsDir: values.logs } : {}), ...chaosTiming(messages, kills), settleMs: 90_000, progress: (line) => process.stdout.write(`  ${line}\n`) });
process.stdout.write(`\n${formatResult(result)}\n`);
const ticksOk = result.ticks.lost.length === 0 && result.ticks.duplicated.length === 0;
const ok = result.lost.length === 0 && result.duplicated.length === 0 && result.outOfOrder === 0 && result.secretsFound.length === 0 && result.cleanExit && ticksOk;
process.stdout.write(ok ? '\ntargets met: 0 lost, 0 duplicated, 0 out of order, no secret leaked, each scheduled due time delivered once\n' : `\ntargets MISSED (rerun with${redis ? ' --redis' : ''} --seed ${seed})\n`);
process.exit(ok ? 0 : 1);
