import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { limitHeapGrowth } from '../../src/lib/heap-growth';

/**
 * A heap that churns medium-lived objects (they survive young collections and die old), in a process of its own,
 * with the V8 flags given as its argument set at run time, as Herald sets them: prints the heap's peak in MB.
 */
const CHURN = `
const v8 = require('node:v8');
if (process.argv[1]) v8.setFlagsFromString(process.argv[1]);
const window = [];
let peak = 0;
for (let i = 0; i < 3000; i++) {
  const batch = [];
  for (let j = 0; j < 1000; j++) batch.push({ i, j, s: 'x'.repeat(16) + i });
  window.push(batch);
  if (window.length > 200) window.shift();
  if (i % 20 === 0) peak = Math.max(peak, v8.getHeapStatistics().total_heap_size);
}
console.log(Math.round(peak / 1048576));
`;

function heapPeakMb(flags: string): number {
  return Number(execFileSync(process.execPath, ['-e', CHURN, flags], { encoding: 'utf8' }).trim());
}

describe('limitHeapGrowth', () => {
  it("sets V8's heap growing factor, and 0 leaves V8's own", () => {
    const set: string[] = [];
    limitHeapGrowth(20, (flags) => set.push(flags));
    limitHeapGrowth(0, (flags) => set.push(flags));
    expect(set).toEqual(['--heap-growing-percent=20']);
  });

  it('takes effect when set at run time: the same churn peaks at well under its heap with V8 growing it freely', () => {
    let flags = '';
    limitHeapGrowth(20, (set) => (flags = set));
    const free = heapPeakMb('');
    const limited = heapPeakMb(flags);
    // About 100 against 200 MB on a 64-bit Node 20.
    expect(limited).toBeLessThan(free * 0.75);
  });
});
