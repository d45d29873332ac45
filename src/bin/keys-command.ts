import { parseArgs } from 'node:util';
import type { EntityManager } from '@mikro-orm/postgresql';
import { HeraldError } from '../lib/errors';
import { ApiKeyService } from '../modules/api-keys/api-key.service';

const KEYS_USAGE = `Usage:
  npx herald keys create --name <name> [--application <app_id>] [--expires-in <n>d|<n>h]
  npx herald keys list [--json]
  npx herald keys revoke <key_id or hk_ prefix>`;

interface Output {
  out: (line: string) => void;
  err: (line: string) => void;
}

/** `herald keys ...`: API keys from the shell (the first admin key, a key for a CI job, revoking a leak). */
export async function runKeysCommand(em: EntityManager, argv: string[], output: Output): Promise<number> {
  const [subcommand, ...rest] = argv;
  const service = new ApiKeyService(em);
  try {
    if (subcommand === 'create') {
      const { values } = parseArgs({
        args: rest,
        options: { name: { type: 'string' }, application: { type: 'string' }, 'expires-in': { type: 'string' } },
        strict: true,
      });
      if (!values.name) {
        output.err(`--name is required.\n\n${KEYS_USAGE}`);
        return 2;
      }
      const expiresAt = values['expires-in'] ? parseLifetime(values['expires-in']) : null;
      if (expiresAt === undefined) {
        output.err(`--expires-in must look like 30d or 12h; got "${values['expires-in']}".`);
        return 2;
      }
      const { apiKey, key } = await service.create({ name: values.name, applicationId: values.application ?? null, expiresAt });
      output.err(
        `Created ${apiKey.kind.toLowerCase()} key ${apiKey.id} (${apiKey.prefix})${apiKey.application ? ` for ${apiKey.application.id}` : ''}` +
          `${apiKey.expiresAt ? `, expiring ${apiKey.expiresAt.toISOString()}` : ''}. It is shown only this once:`,
      );
      output.out(key);
      return 0;
    }
    if (subcommand === 'list') {
      const { values } = parseArgs({ args: rest, options: { json: { type: 'boolean', default: false } }, strict: true });
      const rows: string[] = [];
      // The keys as data, never their secrets (only the hash is stored, and it is not shown either).
      const listed: Array<Record<string, string | null>> = [];
      let after: string | null = null;
      for (;;) {
        const page = await service.list({ limit: 100, afterId: after });
        for (const apiKey of page.nodes) {
          const state = apiKey.revokedAt ? 'revoked' : apiKey.expiresAt && apiKey.expiresAt.getTime() <= Date.now() ? 'expired' : 'active';
          const since = state === 'revoked' ? apiKey.revokedAt : state === 'expired' ? apiKey.expiresAt : null;
          rows.push(
            [
              apiKey.id,
              apiKey.prefix,
              apiKey.kind,
              apiKey.application?.id ?? '-',
              since ? `${state} ${since.toISOString()}` : state,
              apiKey.name,
            ].join('\t'),
          );
          listed.push({
            id: apiKey.id,
            prefix: apiKey.prefix,
            name: apiKey.name,
            kind: apiKey.kind,
            applicationId: apiKey.application?.id ?? null,
            state,
            createdAt: apiKey.createdAt.toISOString(),
            expiresAt: apiKey.expiresAt?.toISOString() ?? null,
            revokedAt: apiKey.revokedAt?.toISOString() ?? null,
            lastUsedAt: apiKey.lastUsedAt?.toISOString() ?? null,
          });
        }
        if (!page.pageInfo.hasNextPage) break;
        after = page.nodes[page.nodes.length - 1]!.id;
      }
      output.out(values.json ? JSON.stringify(listed, null, 2) : ['ID\tPREFIX\tKIND\tAPPLICATION\tSTATE\tNAME', ...rows].join('\n'));
      return 0;
    }
    if (subcommand === 'revoke' && rest.length === 1) {
      const apiKey = await service.revoke(rest[0]!);
      output.out(`Revoked ${apiKey.id} (${apiKey.prefix}) at ${apiKey.revokedAt!.toISOString()}.`);
      return 0;
    }
  } catch (error) {
    if (error instanceof HeraldError || (error instanceof TypeError && 'code' in error)) {
      output.err(error.message);
      return 2;
    }
    throw error;
  }
  output.err(KEYS_USAGE);
  return 2;
}

function parseLifetime(text: string): Date | undefined {
  const match = /^(\d{1,5})([dh])$/.exec(text);
  if (!match) return undefined;
  const hours = Number(match[1]) * (match[2] === 'd' ? 24 : 1);
  return new Date(Date.now() + hours * 3_600_000);
}
