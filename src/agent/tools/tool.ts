import { z } from 'zod';
import type { ToolSpec } from '../llm.ts';

/** A capability the model can call. Arguments are validated with `schema` before `run` sees them. */
export interface Tool<A = any> {
  name: string;
  description: string;
  schema: z.ZodType<A>;
  run(args: A, signal: AbortSignal): Promise<string>;
}

export function defineTool<S extends z.ZodType>(tool: { name: string; description: string; schema: S; run(args: z.output<S>, signal: AbortSignal): Promise<string> }): Tool {
  return tool as Tool;
}

export function toolSpec(tool: Tool): ToolSpec {
  const { $schema: _ignored, ...parameters } = z.toJSONSchema(tool.schema) as Record<string, unknown>;
  return { name: tool.name, description: tool.description, parameters };
}
