import { describe, expect, it } from 'vitest';
import { Batcher, Rejected } from '../../src/lib/batcher';

describe('Batcher', () => {
  it('puts the calls of one event-loop turn in one batch, and calls made during a batch in the next', async () => {
    const batches: number[][] = [];
    let release: () => void = () => undefined;
    const firstBatchHeld = new Promise<void>((resolve) => (release = resolve));
    const batcher = new Batcher<number, number>(async (items) => {
      batches.push(items);
      if (batches.length === 1) await firstBatchHeld;
      return items.map((item) => item * 10);
    });
    const first = [1, 2, 3].map((item) => batcher.submit(item));
    await new Promise((resolve) => setImmediate(resolve));
    const second = [4, 5].map((item) => batcher.submit(item));
    release();
    expect(await Promise.all([...first, ...second])).toEqual([10, 20, 30, 40, 50]);
    expect(batches).toEqual([
      [1, 2, 3],
      [4, 5],
    ]);
  });

  it('never hands more than maxSize items to one batch', async () => {
    const sizes: number[] = [];
    const batcher = new Batcher<number, number>(async (items) => {
      sizes.push(items.length);
      return items;
    }, 4);
    await Promise.all(Array.from({ length: 10 }, (_, i) => batcher.submit(i)));
    expect(sizes).toEqual([4, 4, 2]);
  });

  it('fails only the rejected item, and retries a failed batch item by item so one bad item fails alone', async () => {
    const batches: string[][] = [];
    const batcher = new Batcher<string, string>(async (items) => {
      batches.push(items);
      if (items.includes('poison') && items.length > 1) throw new Error('the batch broke');
      if (items[0] === 'poison') throw new Error('poison alone');
      return items.map((item) => (item === 'refused' ? new Rejected(new Error('refused alone')) : item.toUpperCase()));
    });
    const results = await Promise.allSettled(['a', 'refused', 'poison', 'b'].map((item) => batcher.submit(item)));
    expect(results.map((result) => (result.status === 'fulfilled' ? result.value : (result.reason as Error).message))).toEqual([
      'A',
      'refused alone',
      'poison alone',
      'B',
    ]);
    expect(batches).toEqual([['a', 'refused', 'poison', 'b'], ['a'], ['refused'], ['poison'], ['b']]);
  });
});
