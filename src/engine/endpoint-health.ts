import type { HeraldConfig } from '../config';
import { type Sql, type SqlFragment, execute, executeWrites, toDate } from '../db/sql';
import { disableDecision } from '../delivery/endpoint-health-policy';
import type { AttemptVerdict } from '../delivery/response-classifier';
import { type OperatorEvent, OperatorEventType } from '../queue/operator-events';
import { recordAudit } from '../modules/audit/audit.service';

export interface EndpointHealthChange {
  kind: 'DISABLED';
  reason: string;
}

/** What the health of an attempt's endpoint changed: a change to announce, and the operator events of its transitions. */
export interface EndpointHealthResult {
  change: EndpointHealthChange | null;
  operatorEvents: OperatorEvent[];
}

/** An endpoint a success reset (it was failing), with its failure run as it was. */
export interface RecoveredEndpoint {
  id: string;
  application_id: string;
  failing_since: string | Date | null;
  consecutive_failures: number;
}

/** A success clears the endpoints' failure counts (a write only where there is something to clear). */
export async function resetEndpointHealth(db: Sql, endpointIds: string[]): Promise<RecoveredEndpoint[]> {
  const writes = resetEndpointHealthWrites(endpointIds);
  if (writes.length === 0) return [];
  return executeWrites<RecoveredEndpoint>(db, writes, { text: 'select * from w0', params: [] });
}

/**
 * The write of resetEndpointHealth, for a caller that runs it in a statement of its own (executeWrites); its rows are
 * the endpoints that were failing (RecoveredEndpoint: the run as it was, read under the row lock).
 */
export function resetEndpointHealthWrites(endpointIds: string[]): SqlFragment[] {
  if (endpointIds.length === 0) return [];
  return [
    {
      text: `update endpoints e set consecutive_failures = 0, failing_since = null, consecutive_dead_letters = 0
             from (select id, failing_since, consecutive_failures from endpoints
                    where id in (select json_array_elements_text(?::json))
                      and (consecutive_failures <> 0 or failing_since is not null or consecutive_dead_letters <> 0)
                      for no key update) prior
             where e.id = prior.id
             returning e.id, e.application_id, prior.failing_since, prior.consecutive_failures`,
      params: [JSON.stringify(endpointIds)],
    },
  ];
}

/** `herald.endpoint.recovered` for each endpoint a success reset. */
export function recoveredEvents(recovered: RecoveredEndpoint[], now: Date): OperatorEvent[] {
  return recovered.map((row) => ({
    type: OperatorEventType.endpointRecovered,
    applicationId: row.application_id,
    endpointId: row.id,
    data: {
      endpointId: row.id,
      applicationId: row.application_id,
      occurredAt: now.toISOString(),
      failingSince: row.failing_since ? toDate(row.failing_since).toISOString() : null,
      failedAttempts: Number(row.consecutive_failures),
    },
  }));
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
    /** The attempt's answer, for the operator event of a first failure. */
    lastAttempt?: { statusCode: number | null; errorKind: string | null };
  },
): Promise<EndpointHealthResult> {
  const { verdict, config, now } = input;
  if (verdict.kind === 'succeeded') {
    return { change: null, operatorEvents: recoveredEvents(await resetEndpointHealth(db, [input.endpointId]), now) };
  }
  const pauseUntil =
    verdict.kind === 'failed' && verdict.throttled ? new Date(now.getTime() + (verdict.retryAfterMs ?? config.throttlePauseMs)) : null;
  const [state] = await execute<{
    enabled: boolean;
    application_id: string;
    consecutive_failures: number;
    consecutive_dead_letters: number;
    failing_since: string | Date;
  }>(
    db,
    `update endpoints set consecutive_failures = consecutive_failures + 1,
            failing_since = coalesce(failing_since, ?::timestamptz),
            consecutive_dead_letters = consecutive_dead_letters + ?,
            throttled_until = case when ?::timestamptz is null then throttled_until
                                   else greatest(coalesce(throttled_until, ?::timestamptz), ?::timestamptz) end
     where id = ? returning enabled, application_id, consecutive_failures, consecutive_dead_letters, failing_since`,
    [now, input.deadLettered ? 1 : 0, pauseUntil, pauseUntil, pauseUntil, input.endpointId],
  );
  if (!state?.enabled) return { change: null, operatorEvents: [] };
  const endpoint = { endpointId: input.endpointId, applicationId: state.application_id, occurredAt: now.toISOString() };
  const operatorEvents: OperatorEvent[] = [];
  // The first failure since the last success (or enabling): the counter was 0.
  if (Number(state.consecutive_failures) === 1) {
    operatorEvents.push({
      type: OperatorEventType.endpointFailing,
      applicationId: state.application_id,
      endpointId: input.endpointId,
      data: { ...endpoint, lastStatusCode: input.lastAttempt?.statusCode ?? null, lastErrorKind: input.lastAttempt?.errorKind ?? null },
    });
  }
  const decision = disableDecision(
    config,
    {
      gone: verdict.kind === 'endpoint-gone',
      consecutiveDeadLetters: state.consecutive_dead_letters,
      failingSince: toDate(state.failing_since),
    },
    now,
  );
  if (!decision) return { change: null, operatorEvents };
  const { reason } = decision;
  const disabled = await execute(
    db,
    'update endpoints set enabled = false, disabled_reason = ?, disabled_at = ?, updated_at = now() where id = ? and enabled returning id',
    [reason, now, input.endpointId],
  );
  if (disabled.length === 0) return { change: null, operatorEvents };
  // Herald's own change (no actor): in the audit log with the operator's, in this attempt's transaction.
  await recordAudit(
    db,
    {},
    {
      action: 'endpoint.disabled',
      targetType: 'endpoint',
      targetId: input.endpointId,
      applicationId: state.application_id,
      before: { enabled: true, disabledReason: null },
      after: { enabled: false, disabledReason: reason, cause: decision.cause },
    },
  );
  operatorEvents.push({
    type: OperatorEventType.endpointDisabled,
    applicationId: state.application_id,
    endpointId: input.endpointId,
    data: {
      ...endpoint,
      cause: decision.cause,
      reason,
      consecutiveFailures: Number(state.consecutive_failures),
      consecutiveDeadLetters: Number(state.consecutive_dead_letters),
      failingSince: toDate(state.failing_since).toISOString(),
    },
  });
  return { change: { kind: 'DISABLED', reason }, operatorEvents };
}
