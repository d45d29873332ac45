import { startedByNpm } from '../config/cli';
import { generateSecret, isValidSecret } from '../delivery/signature';
import { buildEnvelope, buildSignedHeaders } from '../delivery/webhook-request';
import { matchesEventType, matchesVersionPin } from '../modules/events/event-type-pattern';
import type { HeraldClient } from '../sdk/client';
import { type Io, describeError } from './client-output';

/**
 * Subscribes to published events and forwards each one, as the delivery Herald would send (same envelope,
 * Standard Webhooks signature with a local secret), to a local URL, printing every outcome.
 */
export async function listen(client: HeraldClient, values: Record<string, unknown>, json: boolean, io: Io): Promise<number> {
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
