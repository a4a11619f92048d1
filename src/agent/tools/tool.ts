import { z } from 'zod';
import type { EventSource } from '../../core/events.ts';
import type { ToolSpec } from '../llm.ts';

/** The turn a tool runs in: the conversation, and the message being answered. */
export interface ToolContext {
  sessionId: string;
  source: EventSource;
  /** The first inbound event of the turn: what the turn's outbound ids derive from. */
  eventId: string;
}

/** A capability the model can call. Arguments are validated with `schema` before `run` sees them. */
export interface Tool<A = any> {
  name: string;
  description: string;
  schema: z.ZodType<A>;
  run(args: A, signal: AbortSignal, context?: ToolContext): Promise<string>;
}

export function defineTool<S extends z.ZodType>(tool: {
  name: string;
  description: string;
  schema: S;
  run(args: z.output<S>, signal: AbortSignal, context?: ToolContext): Promise<string>;
}): Tool {
  return tool as Tool;
}

export function toolSpec(tool: Tool): ToolSpec {
  const { $schema: _ignored, ...parameters } = z.toJSONSchema(tool.schema) as Record<string, unknown>;
  return { name: tool.name, description: tool.description, parameters };
}
