/**
 * The daemon (src/main.ts) with a way for a test to grow its heap, as a leak would: each SIGUSR2
 * keeps another 256 MB of live objects for the rest of the process's life. (Signals sent in quick
 * succession may arrive as one.)
 */
const ballast: number[][] = [];
process.on('SIGUSR2', () => {
  // 131,072 doubles, unboxed: 1 MB each
  for (let i = 0; i < 256; i++) ballast.push(new Array<number>(131_072).fill(i + 0.5));
});
await import('../../src/main.ts');
