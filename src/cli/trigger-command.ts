import { HeraldApiError, type HeraldClient } from '../sdk/client';
import type { Io } from './client-output';

/** Publishes one event: the payload from --data, or the catalog example of the type (of --version, or its latest). */
export async function trigger(
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
