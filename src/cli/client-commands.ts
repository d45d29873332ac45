import { parseArgs } from 'node:util';
import { CREATE_KEY_COMMAND, type CliClientConfig, MISSING_API_KEY_MESSAGE, loadCliClientConfig, startedByNpm } from '../config/cli';
import { AttemptErrorKind as AttemptErrorKindValues } from '../delivery/attempt-outcome';
import { generateSecret, isValidSecret } from '../delivery/signature';
import { buildEnvelope, buildSignedHeaders } from '../delivery/webhook-request';
import { matchesEventType, matchesVersionPin } from '../modules/events/event-type-pattern';
import { HeraldApiError, HeraldClient } from '../sdk/client';
import type { AttemptErrorKind, DeliveryStatus, ReplayDeadLettersInput, ReplayFieldsFragment } from '../sdk/generated/graphql';
import { CLIENT_USAGE } from './client-usage';
import { renderTable } from './table';

interface Io {
  out: (line: string) => void;
  err: (line: string) => void;
}

const consoleIo: Io = { out: (line) => process.stdout.write(`${line}\n`), err: (line) => process.stderr.write(`${line}\n`) };

/** Runs a developer command; resolves to the exit code (listen resolves on SIGINT/SIGTERM). */
export async function runClientCommand(command: string, argv: string[], io: Io = consoleIo): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        url: { type: 'string' },
        'api-key': { type: 'string' },
        json: { type: 'boolean', default: false },
        'forward-to': { type: 'string' },
        endpoint: { type: 'string' },
        application: { type: 'string' },
        events: { type: 'string' },
        secret: { type: 'string' },
        data: { type: 'string' },
        version: { type: 'string' },
        type: { type: 'string' },
        status: { type: 'string' },
        event: { type: 'string' },
        limit: { type: 'string' },
        'event-type': { type: 'string' },
        since: { type: 'string' },
        until: { type: 'string' },
        'error-kind': { type: 'string' },
        'dry-run': { type: 'boolean', default: false },
      },
    });
  } catch (error) {
    io.err(`${(error as Error).message}\n\n${CLIENT_USAGE}`);
    return 2;
  }
  const { values, positionals } = parsed;
  let config: CliClientConfig;
  try {
    config = loadCliClientConfig({ url: values.url, apiKey: values['api-key'] });
  } catch (error) {
    io.err((error as Error).message);
    return 2;
  }
  // Every operation needs a key: say where it comes from rather than send none and relay the API's answer.
  if (!config.apiKey) {
    io.err(MISSING_API_KEY_MESSAGE);
    return 2;
  }
  const client = new HeraldClient({ url: config.url, apiKey: config.apiKey });
  const json = values.json === true;
  const limit = values.limit ? Number(values.limit) : 20;
  if (!Number.isInteger(limit) || limit < 1 || limit > 100) {
    io.err('--limit must be a whole number from 1 to 100.');
    return 2;
  }
  try {
    switch (command) {
      case 'listen':
        return await listen(client, values, json, io);
      case 'trigger':
        return await trigger(client, positionals[0], values, json, io);
      case 'replay':
        return await replay(client, values, json, io);
      case 'endpoints': {
        const { nodes } = await client.listEndpoints({ applicationId: values.application }, { first: limit });
        if (json) io.out(JSON.stringify(nodes, null, 2));
        else
          io.out(
            renderTable(
              ['ID', 'URL', 'EVENT TYPES', 'ENABLED', 'FAILURES', 'DESCRIPTION'],
              nodes.map((e) => [
                e.id,
                e.url,
                e.eventTypes.join(',') || '*',
                e.enabled ? 'yes' : `no (${e.disabledReason ?? ''})`,
                e.consecutiveFailures,
                e.description,
              ]),
            ),
          );
        return 0;
      }
      case 'events': {
        const { nodes } = await client.listEvents({ applicationId: values.application, type: values.type }, { first: limit });
        if (json) io.out(JSON.stringify(nodes, null, 2));
        else
          io.out(
            renderTable(
              ['ID', 'TYPE', 'VERSION', 'CREATED', 'IDEMPOTENCY KEY'],
              nodes.map((e) => [e.id, e.type, e.version, e.createdAt, e.idempotencyKey]),
            ),
          );
        return 0;
      }
      case 'deliveries': {
        const status = values.status ? (values.status.toUpperCase().split(',') as DeliveryStatus[]) : undefined;
        const { nodes } = await client.listDeliveries({ status, endpointId: values.endpoint, eventId: values.event }, { first: limit });
        if (json) io.out(JSON.stringify(nodes, null, 2));
        else
          io.out(
            renderTable(
              ['ID', 'STATUS', 'EVENT TYPE', 'ENDPOINT', 'ATTEMPTS', 'LAST', 'CREATED'],
              nodes.map((d) => [
                d.id,
                d.status,
                d.eventType,
                d.endpointId,
                d.attemptCount,
                d.lastStatusCode ?? d.lastErrorKind,
                d.createdAt,
              ]),
            ),
          );
        return 0;
      }
      case 'event-types': {
        const types = await client.eventTypes();
        if (json) io.out(JSON.stringify(types, null, 2));
        else
          io.out(
            renderTable(
              ['TYPE', 'LATEST VERSION', 'SCHEMA', 'DEPRECATED', 'DESCRIPTION'],
              types.map((t) => [
                t.name,
                t.latestVersion.version,
                t.latestVersion.schema ? 'yes' : 'no',
                t.deprecated ? 'yes' : '',
                t.description,
              ]),
            ),
          );
        return 0;
      }
      default:
        io.err(`Unknown command "${command}".\n\n${CLIENT_USAGE}`);
        return 2;
    }
  } catch (error) {
    io.err(describeError(error, config.url));
    return 1;
  } finally {
    if (command !== 'listen') await client.close();
  }
}

async function trigger(
  client: HeraldClient,
  type: string | undefined,
  values: Record<string, unknown>,
  json: boolean,
  io: Io,
): Promise<number> {
  if (!type) {
    io.err('Usage: npx herald trigger <event-type> [--data <json>] [--application <id>] [--version <v>]');
    return 2;
  }
  let data: Record<string, unknown>;
  let version = values.version as string | undefined;
  if (typeof values.data === 'string') {
    try {
      data = JSON.parse(values.data) as Record<string, unknown>;
    } catch {
      io.err('--data must be a JSON object, for example --data \'{"orderId":"ORD-1"}\'.');
      return 2;
    }
  } else {
    const definition = await client.eventType(type).catch((error: unknown) => {
      if (error instanceof HeraldApiError && error.code === 'NOT_FOUND') {
        throw new Error(`"${type}" is not in the catalog, so it has no example: pass the payload with --data '{...}'.`);
      }
      throw error;
    });
    const chosen = version ? definition.versions.find((v) => v.version === version) : definition.latestVersion;
    if (!chosen) throw new Error(`"${type}" has no version "${version}"; it has ${definition.versions.map((v) => v.version).join(', ')}.`);
    data = chosen.example;
    version = chosen.version;
  }
  const event = await client.publishEvent({ type, data, version, applicationId: values.application as string | undefined });
  if (json) io.out(JSON.stringify(event, null, 2));
  else {
    io.out(`Published ${event.type} ${event.id} (version ${event.version}) to ${event.deliveries.length} endpoint(s).`);
  }
  return 0;
}

const FINISHED: ReadonlySet<string> = new Set(['COMPLETED', 'CANCELLED', 'FAILED']);

/**
 * Starts replayDeadLetters and follows it to the end (replayUpdated, with a poll every second in case an
 * update is missed), printing the progress. Exits 0 when it completed, 1 when it was cancelled or failed.
 */
async function replay(client: HeraldClient, values: Record<string, unknown>, json: boolean, io: Io): Promise<number> {
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

/**
 * Subscribes to published events and forwards each one, as the delivery Herald would send (same envelope,
 * Standard Webhooks signature with a local secret), to a local URL, printing every outcome.
 */
async function listen(client: HeraldClient, values: Record<string, unknown>, json: boolean, io: Io): Promise<number> {
  const forwardTo = values['forward-to'] as string | undefined;
  if (!forwardTo || !/^https?:\/\//.test(forwardTo)) {
    io.err('Usage: npx herald listen --forward-to http://localhost:3000/hooks [--endpoint <id>] [--events <a,b>]');
    return 2;
  }
  const secret = (values.secret as string | undefined) ?? generateSecret();
  if (!isValidSecret(secret)) {
    io.err('--secret must be a whsec_ secret (base64 of 24 to 64 bytes).');
    return 2;
  }
  let filters =
    typeof values.events === 'string'
      ? values.events
          .split(',')
          .map((s) => s.trim())
          .filter(Boolean)
      : [];
  let pins: Record<string, string> = {};
  let applicationId = values.application as string | undefined;
  if (typeof values.endpoint === 'string') {
    const endpoint = await client.getEndpoint(values.endpoint);
    filters = endpoint.eventTypes;
    pins = endpoint.eventVersions as Record<string, string>;
    applicationId = endpoint.applicationId;
  }

  const forward = async (event: { id: string; type: string; version: string; data: unknown; createdAt: string }) => {
    if (!matchesEventType(filters, event.type) || !matchesVersionPin(pins, event.type, event.version)) return;
    const body = buildEnvelope({
      eventId: event.id,
      eventType: event.type,
      version: event.version,
      dataJson: JSON.stringify(event.data),
      createdAt: new Date(event.createdAt),
      attempt: 1,
      retryable: true,
    });
    const { headers } = buildSignedHeaders({
      eventId: event.id,
      body,
      attempt: 1,
      secret,
      timestampSeconds: Math.floor(Date.now() / 1000),
      customHeaders: {},
    });
    const started = Date.now();
    try {
      const response = await fetch(forwardTo, { method: 'POST', headers, body, signal: AbortSignal.timeout(10_000) });
      const responseBody = await response.text();
      const outcome = {
        eventId: event.id,
        type: event.type,
        url: forwardTo,
        status: response.status,
        durationMs: Date.now() - started,
        ok: response.ok,
      };
      if (json) io.out(JSON.stringify({ ...outcome, responseBody: responseBody.slice(0, 1024) }));
      else
        io.out(
          `${new Date().toISOString()}  ${event.type}  ${event.id}  -> ${response.status}${response.ok ? '' : ' FAILED'}  (${outcome.durationMs} ms)`,
        );
    } catch (error) {
      const message = (error as Error).cause
        ? String(((error as Error).cause as Error).message ?? (error as Error).cause)
        : (error as Error).message;
      if (json) io.out(JSON.stringify({ eventId: event.id, type: event.type, url: forwardTo, status: null, ok: false, error: message }));
      else io.out(`${new Date().toISOString()}  ${event.type}  ${event.id}  -> ERROR ${message}`);
    }
  };

  await client.connect();
  let failed: unknown = null;
  const stop = client.subscribeEvents(
    { applicationId },
    (event) => void forward(event),
    (error) => {
      failed = error;
      io.err(`Subscription failed: ${describeError(error, client.graphqlUrl)}`);
    },
  );
  const ready = { forwardTo, secret, application: applicationId ?? null, filters };
  if (json) io.out(JSON.stringify({ ready: true, ...ready }));
  else {
    io.out(`Ready. Forwarding ${filters.length ? filters.join(', ') : 'every event type'} to ${forwardTo}`);
    io.out(`Signing secret for your local receiver: ${secret}  (Ctrl-C to stop)`);
  }
  await untilStopped(startedByNpm());
  stop();
  await client.close();
  return failed ? 1 : 0;
}

/**
 * Resolves on SIGINT or SIGTERM and, with followParent, when the process that started this one has exited.
 * npm runs a command through sh (`npx herald listen` too, where no `exec` can be put in front of it): npm passes a
 * SIGTERM on to that sh alone, which dies of it without passing it on, and the listener, now an orphan, would go on
 * forwarding for good. An orphan is handed to
 * another parent (init or a subreaper), so under npm a changed parent pid means npm is gone. Only under npm: a
 * listener started in the background of a shell (nohup, &) is meant to outlive it.
 */
function untilStopped(followParent: boolean, pollMs = 250): Promise<void> {
  return new Promise<void>((resolve) => {
    const parent = process.ppid;
    const stop = () => {
      clearInterval(orphaned);
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      resolve();
    };
    const orphaned = followParent
      ? setInterval(() => {
          if (process.ppid !== parent) stop();
        }, pollMs)
      : undefined;
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
  });
}

const KEY_HINT = `The CLI sends the key from --api-key or HERALD_API_KEY; make a new one with \`${CREATE_KEY_COMMAND}\`.`;

function describeError(error: unknown, url: string): string {
  if (error instanceof HeraldApiError && error.code === 'UNAUTHENTICATED') {
    return `Herald refused the API key: ${error.message} (${error.code})\n${KEY_HINT}`;
  }
  if (error instanceof HeraldApiError) return `Herald refused: ${error.message} (${error.code})`;
  // graphql-ws: the socket closed with 4401 (a refused key), before connecting (connect's Error) or later (the close event).
  const closed = error as { code?: unknown; reason?: unknown } | null;
  if (closed?.code === 4401) return `Herald closed the subscription: ${String(closed.reason)} (4401)\n${KEY_HINT}`;
  if (error instanceof Error && /closed: Unauthorized\b/.test(error.message)) return `${error.message}\n${KEY_HINT}`;
  const cause = (error as { cause?: { code?: string; errors?: Array<{ code?: string }> } }).cause;
  if (cause?.code === 'ECONNREFUSED' || cause?.errors?.some((inner) => inner.code === 'ECONNREFUSED'))
    return `Cannot reach Herald at ${url}: is it running? Set --url or HERALD_URL.`;
  if (error instanceof Error && error.message === 'fetch failed') {
    return `Cannot reach Herald at ${url} (${(error.cause as Error | undefined)?.message ?? 'network error'}): set --url or HERALD_URL.`;
  }
  return error instanceof Error ? error.message : String(error);
}
