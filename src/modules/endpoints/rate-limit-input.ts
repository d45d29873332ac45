import { badInput } from '../../lib/errors';

export const MAX_RATE_LIMIT_PER_SECOND = 10_000;

export function validateRateLimit(value: number | null | undefined): number | null {
  if (value == null) return null;
  if (!Number.isInteger(value) || value < 1 || value > MAX_RATE_LIMIT_PER_SECOND) {
    throw badInput(
      `"rateLimitPerSecond" must be an integer from 1 to ${MAX_RATE_LIMIT_PER_SECOND}; omit it (or clearRateLimit) for no limit.`,
      {
        field: 'rateLimitPerSecond',
      },
    );
  }
  return value;
}
