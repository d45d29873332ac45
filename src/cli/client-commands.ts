import { parseArgs } from 'node:util';
import { type CliClientConfig, MISSING_API_KEY_MESSAGE, loadCliClientConfig } from '../config/cli';
import { HeraldClient } from '../sdk/client';
import type { DeliveryStatus } from '../sdk/generated/graphql';
import { type Io, consoleIo, describeError } from './client-output';
import { CLIENT_USAGE } from './client-usage';
import { listen } from './listen-command';
import { replay } from './replay-command';
import { renderTable } from './table';
import { trigger } from './trigger-command';

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
