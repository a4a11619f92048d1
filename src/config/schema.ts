import { z } from 'zod';
import { isTimeZone } from '../core/time-zone.ts';
import { crossKeyProblems } from './cross-checks.ts';

/** User ids arrive as numbers (Telegram) or snowflake strings (Discord); both are kept as strings. */
const userIds = z
  .array(z.union([z.string().min(1), z.number().int()], { error: 'expected a user id: a whole number (Telegram) or a snowflake string (Discord)' }).transform(String))
  .default([]);

/** Who may write to the bot on one platform (src/channels/access.ts reads them); hot-reloaded. */
const access = {
  allowed_user_ids: userIds,
  /** Always allowed, exempt from limits, and may use /pair and see everyone's /usage. */
  owner_user_ids: userIds,
  /** Unset: `pairing` when allowed_user_ids is empty, else `allowlist`. */
  dm_policy: z.enum(['allowlist', 'pairing', 'open']).optional(),
  /** `allowlist`: groups answer the users DMs would (allowed, owners, paired); `open`: everyone. */
  group_policy: z.enum(['allowlist', 'open']).default('allowlist'),
};

/** Unset = no limit. Windows: messages over the last 60 s; tokens and cost per UTC day. */
const limitFields = z.strictObject({
  messages_per_minute: z.number().int().positive().optional(),
  tokens_per_day: z.number().int().positive().optional(),
  /** In the currency of limits.prices; needs a price for llm.model. */
  cost_per_day: z.number().positive().optional(),
});
const limitSet = limitFields.prefault({});

const price = z.strictObject({ input_per_mtok: z.number().min(0), output_per_mtok: z.number().min(0) });

export const OPENAI_API_BASE = 'https://api.openai.com/v1';

/** Overrides limits.per_user / per_chat for the messages of one bot account; unset: the global ones apply. */
const accountLimits = z.strictObject({ per_user: limitFields.optional(), per_chat: limitFields.optional() }).optional();

/** An account name goes into session ids, file names and metric labels. */
const accountName = z.string().regex(/^[a-z0-9_-]{1,32}$/, { error: 'an account name is 1-32 characters of a-z, 0-9, _ and -' });

/** The keys every bot account has; the platform's own keys are the account `default`. */
const receipts = {
  /** Reaction set on a group message the bot was addressed in, as soon as it is journaled; '' turns it off. Never in private chats. */
  ack_reaction: z.string().default('👀'),
  /** true: the reaction is removed once the reply shows; false: it stays. */
  ack_reaction_clear: z.boolean().default(false),
};

const telegramAccount = {
  bot_token: z.string().optional(),
  ...access,
  /** `polling`: getUpdates; `webhook`: Telegram posts updates to webhook_url (served on server.http_port or webhook_port). */
  mode: z.enum(['polling', 'webhook']).default('polling'),
  /** The public HTTPS URL Telegram posts to; its path is the route served here (a reverse proxy forwards it). */
  webhook_url: z.url().optional(),
  /** Telegram sends it back in X-Telegram-Bot-Api-Secret-Token; requests without it get 401. */
  webhook_secret: z
    .string()
    .regex(/^[A-Za-z0-9_-]{1,256}$/, { error: 'expected 1-256 characters of A-Z, a-z, 0-9, _ and - (Telegram\'s secret_token), e.g. from `openssl rand -hex 32`' })
    .optional(),
  /** Serves the webhook on a port of its own (on server.http_host) instead of server.http_port. */
  webhook_port: z.number().int().min(0).max(65535).optional(),
  ...receipts,
  limits: accountLimits,
};

const SHARDS_ERROR = 'expected auto or a whole number of shards from 1 up';

const discordAccount = {
  bot_token: z.string().optional(),
  ...access,
  /** After a restart or a session that could not resume: how many missed messages addressed to the bot are answered, per shard (0: none). */
  catch_up_max: z.number().int().min(0).default(50),
  /** Missed messages older than this are not answered. */
  catch_up_max_age_s: z.number().int().min(0).default(3600),
  /** Gateway connections (discord.js's internal sharding, one process): `auto` asks Discord for its recommended count. */
  shards: z.union([z.literal('auto'), z.number().int({ error: SHARDS_ERROR }).min(1, { error: SHARDS_ERROR })], { error: SHARDS_ERROR }).default(1),
  ...receipts,
  limits: accountLimits,
};

const telegram = z.strictObject({
  enabled: z.boolean().default(false),
  api_root: z.url().default('https://api.telegram.org'),
  ...telegramAccount,
  /** More bots on Telegram: each with its own token, access rules and limits; api_root defaults to the one above. */
  accounts: z.record(accountName, z.strictObject({ enabled: z.boolean().default(true), api_root: z.url().optional(), ...telegramAccount })).default({}),
});

const discord = z.strictObject({
  enabled: z.boolean().default(false),
  api_base: z.url().default('https://discord.com/api'),
  ...discordAccount,
  accounts: z.record(accountName, z.strictObject({ enabled: z.boolean().default(true), api_base: z.url().optional(), ...discordAccount })).default({}),
});

/** An IANA time zone name, as Intl knows them: Europe/Berlin, America/New_York, UTC. */
const timeZone = z.string().refine(isTimeZone, { error: 'expected an IANA time zone name such as Europe/Berlin, America/New_York or UTC' });

/** A model tried when the one before it failed with a retryable error or 404; api_base and api_key default to llm's. */
const fallback = z.strictObject({
  model: z.string().min(1),
  api_base: z.url().optional(),
  /** Unset: llm.api_key, but only when api_base is unset too (a key is never sent to another endpoint). */
  api_key: z.string().optional(),
});

export const configSchema = z.strictObject({
  llm: z
    .strictObject({
      model: z.string().min(1).default('gpt-4o-mini'),
      api_base: z.url().default(OPENAI_API_BASE),
      api_key: z.string().optional(),
      timeout_s: z.number().positive().default(60),
      max_retries: z.number().int().min(0).max(10).default(2),
      max_context_messages: z.number().int().min(2).default(40),
      /** The model's context in tokens (estimated: see compaction.ts); older turns are summarised near it. */
      context_window: z.number().int().min(1000).default(32_000),
      max_tool_rounds: z.number().int().min(1).max(100).default(10),
      temperature: z.number().min(0).max(2).optional(),
      /** Replies appear while the model writes them (messages edited in place). */
      stream: z.boolean().default(true),
      /** Photos go to the model as images; off, or refused by the endpoint, the user is told and the text is still answered. */
      vision: z.boolean().default(true),
      /** For voice notes and audio files: an OpenAI-compatible /audio/transcriptions model; '' turns transcription off. */
      transcription_model: z.string().default('whisper-1'),
      /** Where transcriptions go, when not to llm.api_base. */
      transcription_api_base: z.url().optional(),
      /** The key for transcription_api_base; llm.api_key goes only to llm.api_base. */
      transcription_api_key: z.string().optional(),
      /** Tried in order when the model before fails (retryable after its retries, or 404). */
      fallbacks: z.array(fallback).default([]),
      /** A model whose calls keep failing is skipped this long, then tried again. */
      cooldown_s: z.number().positive().default(60),
    })
    .prefault({}),
  agent: z
    .strictObject({
      /** Turns that failed on a transient LLM error are tried again this many times. */
      max_turn_retries: z.number().int().min(0).max(10).default(3),
      retry_backoff_ms: z.number().int().min(0).default(1000),
      /**
       * Wait this long after a message for more before answering (0: answer at once). Either way,
       * messages of one sender that come before anything of the answer shows join its turn.
       */
      debounce_ms: z.number().int().min(0).max(60_000).default(0),
      /** A message (or a burst of them) longer than this is cut, with a note, before the model or the history see it. */
      max_input_chars: z.number().int().min(1000).default(32_000),
      /** Text files (and a PDF's text) up to this many KB are given to the model; larger ones are skipped or cut. */
      max_file_kb: z.number().int().min(1).max(10_240).default(512),
      /** For schedules (cron times, "at 9"): unset, the machine's time zone. */
      timezone: timeZone.optional(),
    })
    .prefault({}),
  channels: z
    .strictObject({
      telegram: telegram.prefault({}),
      discord: discord.prefault({}),
    })
    .prefault({}),
  schedules: z
    .strictObject({
      /** A job whose due time passed while the daemon was down fires at start if it is less late than this; else it is logged as missed. */
      catch_up_s: z.number().int().min(0).default(3600),
      /** Jobs per chat (owners are exempt). */
      max_per_chat: z.number().int().min(1).default(20),
    })
    .prefault({}),
  tools: z
    .strictObject({
      bash: z
        .strictObject({
          enabled: z.boolean().default(false),
          timeout_s: z.number().positive().default(30),
          max_output_chars: z.number().int().positive().default(10_000),
        })
        .prefault({}),
      web: z
        .strictObject({
          enabled: z.boolean().default(false),
          /** Loopback, LAN and link-local addresses are refused unless this is true. */
          allow_private: z.boolean().default(false),
          timeout_s: z.number().positive().default(15),
          max_bytes: z.number().int().positive().default(2_000_000),
          max_output_chars: z.number().int().positive().default(20_000),
        })
        .prefault({}),
    })
    .prefault({}),
  limits: z
    .strictObject({
      per_user: limitSet,
      per_chat: limitSet,
      /** Per model: price per million prompt (input) and completion (output) tokens. */
      prices: z.record(z.string(), price).default({}),
    })
    .prefault({}),
  bus: z
    .strictObject({
      /** `local`: one process, journal in the workspace (the default). `redis`: Redis Streams, several processes (README "Run on several processes"). */
      backend: z.enum(['local', 'redis']).default('local'),
      /** redis://[user:password@]host:port[/db]; required with backend: redis. */
      redis_url: z.string().regex(/^rediss?:\/\//, 'must start with redis:// or rediss://').optional(),
      /** Key prefix: two bots on one Redis need two prefixes. */
      redis_prefix: z.string().regex(/^[A-Za-z0-9_.:-]+$/, 'letters, digits and _ . : - only').default('mybot'),
      /** Inbound streams the sessions are spread over; each is worked on by one agent process at a time. Change it only with every process stopped and the streams empty. */
      partitions: z.number().int().min(1).max(1024).default(32),
      /** A process silent this long is taken as dead: its partitions and pending events go to a live one. */
      claim_idle_ms: z.number().int().min(500).default(10_000),
    })
    .prefault({}),
  server: z
    .strictObject({
      /** `all`: one process does everything. With bus.backend redis: `gateway` (channels, delivery, schedules; one per workspace) and `agent` (AgentWorkers; start as many as you like). */
      role: z.enum(['all', 'gateway', 'agent']).default('all'),
      /** How many sessions the agent works on at once. */
      max_concurrency: z.number().int().min(1).default(256),
      drain_timeout_s: z.number().positive().default(20),
      /** fsync the journal and the session histories on every write: survives power loss, at a cost in throughput. */
      journal_fsync: z.boolean().default(false),
      /** Drain and exit (for pm2 to restart) when the V8 heap stays above this many MB; 0: never. */
      max_heap_mb: z.number().int().min(0).default(0),
      /** /healthz and /metrics (and Telegram webhooks) on this port; unset: off; 0: any free port (logged). */
      http_port: z.number().int().min(0).max(65535).optional(),
      http_host: z.string().min(1).default('127.0.0.1'),
      /** Bearer token for /healthz and /metrics; required when http_host is not a loopback address. */
      http_token: z.string().min(1).optional(),
    })
    .prefault({}),
})
  .superRefine((config, ctx) => {
    for (const { path, message } of crossKeyProblems(config)) ctx.addIssue({ code: 'custom', path, message });
  });

export type Config = z.infer<typeof configSchema>;
