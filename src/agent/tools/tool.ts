import { z } from 'zod';
import type { Actor } from '../../core/actor.ts';
import type { ToolSpec } from '../llm.ts';

/**
 * A capability the model can call. Arguments are validated with `schema` before `run` sees them.
 * `actor` is whose turn it is (ToolRegistry.forTurn): tools that act for a person (memory,
 * schedules) need it; the others ignore it.
 */
export interface Tool<A = any> {
  name: string;
  description: string;
  schema: z.ZodType<A>;
  run(args: A, signal: AbortSignal, actor?: Actor): Promise<string>;
}

export function defineTool<S extends z.ZodType>(tool: { name: string; description: string; schema: S; run(args: z.output<S>, signal: AbortSignal, actor?: Actor): Promise<string> }): Tool {
  return tool as Tool;
}

export function toolSpec(tool: Tool): ToolSpec {
  const { $schema: _ignored, ...parameters } = z.toJSONSchema(tool.schema) as Record<string, unknown>;
  return { name: tool.name, description: tool.description, parameters };
}
