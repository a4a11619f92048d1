import { Agent as HttpAgent } from 'node:http';
import { Agent as HttpsAgent } from 'node:https';
import nodeFetch, { type RequestInit as NodeFetchInit } from 'node-fetch';

const httpAgent = new HttpAgent({ keepAlive: true });
const httpsAgent = new HttpsAgent({ keepAlive: true });

/**
 * The `fetch` the OpenAI client is given: node-fetch over keep-alive `node:http` agents, as
 * grammY's own client uses. Node's built-in fetch (undici, with WHATWG streams) costs about
 * 0.3 ms more CPU per chat completion, on the path of every reply. The SDK reads a response body
 * that is an async iterable (node-fetch's Node stream), streamed answers included.
 */
export const keepAliveFetch = ((url: string | URL, init?: RequestInit) =>
  nodeFetch(String(url), {
    ...(init as NodeFetchInit),
    // without an agent node-fetch asks the server to close the connection after each request
    agent: (parsed) => (parsed.protocol === 'http:' ? httpAgent : httpsAgent),
  })) as unknown as typeof fetch;
