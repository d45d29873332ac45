import v8 from 'node:v8';

/**
 * Caps how far V8 grows a heap past what its last full collection kept (`--heap-growing-percent`). V8 reads the
 * flag each time it sizes a heap, so setting it once at start-up applies to every heap of the process, the worker
 * thread's included. 0 leaves V8's own factor.
 */
export function limitHeapGrowth(percent: number, setFlags: (flags: string) => void = v8.setFlagsFromString): void {
  if (percent > 0) setFlags(`--heap-growing-percent=${percent}`);
}
