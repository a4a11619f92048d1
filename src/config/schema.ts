import { z } from 'zod';

/** User ids arrive as numbers (Telegram) or snowflake strings (Discord); both are kept as strings. */
const userIds = z
  .array(z.union([z.string().min(1), z.number().int()], { error: 'expected a user id: a whole number (Telegram) or a snowflake string (Discord)' }).transform(String))
  .default([]);

const telegram = z.strictObject({
  enabled: z.boolean().default(false),
  bot_token: z.string().optional(),
  api_root: z.url().default('https://api.telegram.org'),
  allowed_user_ids: userIds,
});

const discord = z.strictObject({
  enabled: z.boolean().default(false),
  bot_token: z.string().optional(),
  api_base: z.url().default('https://discord.com/api'),
  allowed_user_ids: userIds,
  /** After a restart or a session that could not resume: how many missed messages addressed to the bot are answered (0: none). */
  catch_up_max: z.number().int().min(0).default(50),
  /** Missed messages older than this are not answered. */
  catch_up_max_age_s: z.number().int().min(0).default(3600),
});

export const OPENAI_API_BASE = 'https://api.openai.com/v1';

export const configSchema = z.strictObject({
  llm: z
    .strictObject({
      model: z.string().min(1).default('gpt-4o-mini'),
      api_base: z.url().default(OPENAI_API_BASE),
      api_key: z.string().optional(),
      timeout_s: z.number().positive().default(60),
      max_retries: z.number().int().min(0).max(10).default(2),
      max_context_messages: z.number().int().min(2).default(40),
      max_tool_rounds: z.number().int().min(1).max(100).default(10),
      temperature: z.number().min(0).max(2).optional(),
    })
    .prefault({}),
  agent: z
    .strictObject({
      /** Turns that failed on a transient LLM error are tried again this many times. */
      max_turn_retries: z.number().int().min(0).max(10).default(3),
      retry_backoff_ms: z.number().int().min(0).default(1000),
    })
    .prefault({}),
  channels: z
    .strictObject({
      telegram: telegram.prefault({}),
      discord: discord.prefault({}),
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
  server: z
    .strictObject({
      /** How many sessions the agent works on at once. */
      max_concurrency: z.number().int().min(1).default(256),
      drain_timeout_s: z.number().positive().default(20),
      /** fsync the journal and the session histories on every write: survives power loss, at a cost in throughput. */
      journal_fsync: z.boolean().default(false),
      /** Drain and exit (for pm2 to restart) when the V8 heap stays above this many MB; 0: never. */
      max_heap_mb: z.number().int().min(0).default(0),
    })
    .prefault({}),
});

export type Config = z.infer<typeof configSchema>;
