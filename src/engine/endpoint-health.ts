import type { HeraldConfig } from '../config';
import { type Sql, type SqlFragment, execute, executeWrites, toDate } from '../db/sql';
import { disableReason } from '../delivery/endpoint-health-policy';
import type { AttemptVerdict } from '../delivery/response-classifier';

export interface EndpointHealthChange {
  kind: 'DISABLED';
  reason: string;
}

/** A success clears the endpoints' failure counts (a write only where there is something to clear). */
export async function resetEndpointHealth(db: Sql, endpointIds: string[]): Promise<void> {
  const writes = resetEndpointHealthWrites(endpointIds);
  if (writes.length > 0) await executeWrites(db, writes);
}

/** The write of resetEndpointHealth, for a caller that runs it in a statement of its own (executeWrites). */
export function resetEndpointHealthWrites(endpointIds: string[]): SqlFragment[] {
  if (endpointIds.length === 0) return [];
  return [
    {
      text: `update endpoints set consecutive_failures = 0, failing_since = null, consecutive_dead_letters = 0
             where id in (select json_array_elements_text(?::json))
               and (consecutive_failures <> 0 or failing_since is not null or consecutive_dead_letters <> 0)`,
      params: [JSON.stringify(endpointIds)],
    },
  ];
}

/**
 * Updates the endpoint's health after an attempt, in the attempt's transaction: a success resets it;
 * a failure counts, starts the failing period, pauses a throttling endpoint, and disables the endpoint
 * when a rule says so. Returns the change to announce, if any.
 */
export async function recordEndpointHealth(
  db: Sql,
  input: {
    endpointId: string;
    now: Date;
    verdict: AttemptVerdict;
    deadLettered: boolean;
    config: Pick<HeraldConfig['delivery'], 'disableAfterDeadLetters' | 'disableAfterFailingMs' | 'throttlePauseMs'>;
  },
): Promise<EndpointHealthChange | null> {
  const { verdict, config, now } = input;
  if (verdict.kind === 'succeeded') {
    await resetEndpointHealth(db, [input.endpointId]);
    return null;
  }
  const pauseUntil =
    verdict.kind === 'failed' && verdict.throttled ? new Date(now.getTime() + (verdict.retryAfterMs ?? config.throttlePauseMs)) : null;
  const [state] = await execute<{ enabled: boolean; consecutive_dead_letters: number; failing_since: string | Date }>(
    db,
    `update endpoints set consecutive_failures = consecutive_failures + 1,
            failing_since = coalesce(failing_since, ?::timestamptz),
            consecutive_dead_letters = consecutive_dead_letters + ?,
            throttled_until = case when ?::timestamptz is null then throttled_until
                                   else greatest(coalesce(throttled_until, ?::timestamptz), ?::timestamptz) end
     where id = ? returning enabled, consecutive_dead_letters, failing_since`,
    [now, input.deadLettered ? 1 : 0, pauseUntil, pauseUntil, pauseUntil, input.endpointId],
  );
  if (!state?.enabled) return null;
  const reason = disableReason(
    config,
    {
      gone: verdict.kind === 'endpoint-gone',
      consecutiveDeadLetters: state.consecutive_dead_letters,
      failingSince: toDate(state.failing_since),
    },
    now,
  );
  if (!reason) return null;
  const disabled = await execute(
    db,
    'update endpoints set enabled = false, disabled_reason = ?, disabled_at = ?, updated_at = now() where id = ? and enabled returning id',
    [reason, now, input.endpointId],
  );
  return disabled.length > 0 ? { kind: 'DISABLED', reason } : null;
}
