import { randomInt } from 'node:crypto';
import { seededRandom } from '../../bench/lib/stats';

/**
 * A reproducible random source for a test: the seed comes from TEST_SEED when set (to replay a failure), else is
 * drawn fresh, and is printed either way so that a failing run says how to replay it.
 */
export function testRandom(label: string): { seed: number; random: () => number } {
  const fromEnv = process.env.TEST_SEED;
  const seed = fromEnv !== undefined && fromEnv !== '' ? Number(fromEnv) >>> 0 : randomInt(2 ** 32);
  console.log(`${label}: random seed ${seed} (replay with TEST_SEED=${seed})`);
  return { seed, random: seededRandom(seed) };
}
