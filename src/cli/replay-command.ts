import { AttemptErrorKind as AttemptErrorKindValues } from '../delivery/attempt-outcome';
import type { HeraldClient } from '../sdk/client';
import type { AttemptErrorKind, ReplayDeadLettersInput, ReplayFieldsFragment } from '../sdk/generated/graphql';
import type { Io } from './client-output';

const FINISHED: ReadonlySet<string> = new Set(['COMPLETED', 'CANCELLED', 'FAILED']);

/**
 * Starts replayDeadLetters and follows it to the end (replayUpdated, with a poll every second in case an
 * update is missed), printing the progress. Exits 0 when it completed, 1 when it was cancelled or failed.
 */
export async function replay(client: HeraldClient, values: Record<string, unknown>, json: boolean, io: Io): Promise<number> {
  const time = (flag: 'since' | 'until'): string | undefined | null => {
    const value = values[flag] as string | undefined;
    if (value === undefined) return undefined;
    const parsed = new Date(value);
    return Number.isNaN(parsed.getTime()) ? null : parsed.toISOString();
  };
  const from = time('since');
  const to = time('until');
  if (from === null || to === null) {
    io.err('--since and --until take an ISO 8601 time, for example --since 2026-01-31T08:00:00Z.');
    return 2;
  }
  const errorKind = (values['error-kind'] as string | undefined)?.toUpperCase();
  if (errorKind !== undefined && !Object.values(AttemptErrorKindValues).includes(errorKind as AttemptErrorKind)) {
    io.err(`--error-kind must be one of ${Object.values(AttemptErrorKindValues).join(', ')}.`);
    return 2;
  }
  const filter: ReplayDeadLettersInput = {
    endpointId: values.endpoint as string | undefined,
    applicationId: values.application as string | undefined,
    eventType: values['event-type'] as string | undefined,
    from,
    to,
    errorKind: errorKind as AttemptErrorKind | undefined,
  };
  const started = await client.replayDeadLetters(filter, values['dry-run'] === true);
  // A replay skips the dead letters of disabled endpoints (they would die again at once): say so when there are some.
  const skipped = await disabledEndpointsNote(client, filter, started.matched);
  if (started.status === 'DRY_RUN') {
    if (json) io.out(JSON.stringify(started));
    else io.out(`${started.matched} dead letter(s) match; nothing was replayed (dry run).`);
    if (skipped) (json ? io.err : io.out)(skipped);
    return 0;
  }
  const id = started.id!;
  if (!json) io.out(`Replay ${id}: ${started.matched} dead letter(s) matched.`);
  if (skipped) (json ? io.err : io.out)(skipped);
  let shown = '';
  const show = (current: ReplayFieldsFragment) => {
    const line = json
      ? JSON.stringify(current)
      : `replayed ${current.requeued}/${current.matched} (${current.matched === 0 ? 100 : Math.floor((current.requeued / current.matched) * 100)}%)`;
    if (line !== shown) io.out(line);
    shown = line;
  };
  show(started);
  let final = started;
  if (!FINISHED.has(started.status)) {
    final = await new Promise<ReplayFieldsFragment>((resolve, reject) => {
      let done = false;
      const update = (current: ReplayFieldsFragment) => {
        if (done) return;
        show(current);
        if (!FINISHED.has(current.status)) return;
        done = true;
        clearInterval(poll);
        stop();
        resolve(current);
      };
      // The subscription is the fast path; a failing one only leaves the poll.
      const stop = client.subscribeReplay(id, update, () => undefined);
      const poll = setInterval(() => {
        client.getReplay(id).then(update, (error: unknown) => {
          done = true;
          clearInterval(poll);
          stop();
          reject(error instanceof Error ? error : new Error(String(error)));
        });
      }, 1000);
    });
  }
  if (!json) {
    io.out(
      final.status === 'COMPLETED'
        ? `Replay ${id} completed: ${final.requeued} of ${final.matched} dead letter(s) re-queued.`
        : `Replay ${id} ${final.status.toLowerCase()}${final.error ? ` (${final.error})` : ''}: ${final.requeued} of ${final.matched} re-queued.`,
    );
  }
  return final.status === 'COMPLETED' ? 0 : 1;
}

/** Requests the disabled-endpoint count may make at most: past it, the count is a lower bound. */
const DISABLED_SCAN_PAGES = 20;

/**
 * Counts the dead letters that match a replay's filter but belong to disabled endpoints, which replayDeadLetters
 * skips without a count of its own, and returns the sentence that says so (null when there are none). The API
 * has no such count: this lists the disabled endpoints, then their dead letters of the event type, and applies the
 * rest of the filter (error kind, when they died) here. With --endpoint there is nothing to add: the API refuses a
 * disabled endpoint itself. A failure here only leaves the note out.
 */
async function disabledEndpointsNote(client: HeraldClient, filter: ReplayDeadLettersInput, matched: number): Promise<string | null> {
  if (filter.endpointId) return null;
  try {
    let pages = 0;
    const endpoints: string[] = [];
    let after: string | null | undefined;
    do {
      const page = await client.listEndpoints({ applicationId: filter.applicationId, enabled: false }, { first: 100, after });
      pages++;
      endpoints.push(...page.nodes.map((endpoint) => endpoint.id));
      after = page.pageInfo.hasNextPage ? page.pageInfo.endCursor : null;
    } while (after && pages < DISABLED_SCAN_PAGES);
    const from = filter.from ? Date.parse(filter.from as string) : null;
    const to = filter.to ? Date.parse(filter.to as string) : null;
    let count = 0;
    let partial = Boolean(after);
    const holding: string[] = [];
    for (const endpointId of endpoints) {
      let found = 0;
      after = undefined;
      do {
        if (pages >= DISABLED_SCAN_PAGES) {
          partial = true;
          break;
        }
        const page = await client.listDeliveries(
          { endpointId, eventType: filter.eventType, status: ['DEAD'], createdBefore: filter.to },
          { first: 100, after },
        );
        pages++;
        found += page.nodes.filter((delivery) => {
          const died = Date.parse(delivery.updatedAt as string);
          return (
            (!filter.errorKind || delivery.lastErrorKind === filter.errorKind) &&
            (from === null || died >= from) &&
            (to === null || died < to)
          );
        }).length;
        after = page.pageInfo.hasNextPage ? page.pageInfo.endCursor : null;
      } while (after);
      if (found > 0) holding.push(endpointId);
      count += found;
    }
    if (count === 0) return null;
    const shown = holding.length > 5 ? `${holding.slice(0, 5).join(', ')} and ${holding.length - 5} more` : holding.join(', ');
    return (
      `${partial ? 'At least ' : ''}${count}${matched > 0 ? ' other' : ''} dead letter(s) match the filter but belong to disabled ` +
      `endpoints (${shown}), which a replay skips: enable them first with the enableEndpoint mutation ` +
      `(mutation { enableEndpoint(id: "${holding[0]}") { id enabled } }), then run the replay again.`
    );
  } catch {
    return null;
  }
}
