/**
 * When a failing endpoint is disabled: at once on 410 Gone; after `disableAfterDeadLetters` deliveries
 * in a row were dead-lettered; or when it has failed without a single success for `disableAfterFailingMs`.
 * Zero turns a rule off. Pure, so the windows are tested with any clock.
 */
export interface EndpointHealthRules {
  disableAfterDeadLetters: number;
  disableAfterFailingMs: number;
}

/** What the rules judge: the endpoint's run of failures so far. */
export interface EndpointFailureRecord {
  gone: boolean;
  consecutiveDeadLetters: number;
  failingSince: Date | null;
}

export function disableReason(rules: EndpointHealthRules, failures: EndpointFailureRecord, now: Date): string | null {
  return disableDecision(rules, failures, now)?.reason ?? null;
}

/** Which rule disables the endpoint (operator events carry it as a code), with the reason the endpoint shows. */
export type AutomaticDisableCause = 'GONE' | 'DEAD_LETTERS' | 'FAILING_TOO_LONG';

export function disableDecision(
  rules: EndpointHealthRules,
  failures: EndpointFailureRecord,
  now: Date,
): { cause: AutomaticDisableCause; reason: string } | null {
  if (failures.gone) return { cause: 'GONE', reason: 'Disabled at once: the endpoint answered 410 Gone.' };
  if (rules.disableAfterDeadLetters > 0 && failures.consecutiveDeadLetters >= rules.disableAfterDeadLetters) {
    return {
      cause: 'DEAD_LETTERS',
      reason: `Disabled automatically after ${rules.disableAfterDeadLetters} deliveries in a row were dead-lettered.`,
    };
  }
  if (
    rules.disableAfterFailingMs > 0 &&
    failures.failingSince &&
    now.getTime() - failures.failingSince.getTime() >= rules.disableAfterFailingMs
  ) {
    return {
      cause: 'FAILING_TOO_LONG',
      reason: `Disabled automatically: every attempt failed since ${failures.failingSince.toISOString()} (limit ${formatDuration(rules.disableAfterFailingMs)}).`,
    };
  }
  return null;
}

function formatDuration(ms: number): string {
  if (ms % 86_400_000 === 0) return `${ms / 86_400_000} days`;
  if (ms % 3_600_000 === 0) return `${ms / 3_600_000} hours`;
  return `${ms} ms`;
}
