import { randomBytes } from 'node:crypto';
import { describe, expect } from 'vitest';
import { RetentionService } from '../../src/modules/retention/retention.service';
import { query } from '../helpers/database';
import { heraldTestWith } from '../helpers/fixtures';
import type { TestHerald } from '../helpers/herald';

const heraldFile = heraldTestWith();

/** A GraphQL answer read field by field, any depth, over plain HTTP (to send x-request-id): the assertions check the values. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- the one untyped alias of this file
type Loose = Record<string, any>;

interface Answer {
  data?: Loose | null;
  errors?: Array<{ message: string; extensions?: { code?: string } }>;
}

interface Entry {
  id: string;
  createdAt: string;
  requestId: string | null;
  actor: { id: string; kind: string };
  action: string;
  targetType: string;
  targetId: string;
  applicationId: string | null;
  before: Record<string, unknown> | null;
  after: Record<string, unknown> | null;
}

const ENTRY_FIELDS = 'id createdAt requestId actor { id kind } action targetType targetId applicationId before after';

/** One GraphQL request over HTTP with a bearer (an API key or a portal session credential) and a request id. */
async function gql(herald: TestHerald, bearer: string, text: string, variables: Record<string, unknown> = {}, requestId?: string) {
  const response = await fetch(`${herald.url}/graphql`, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      authorization: `Bearer ${bearer}`,
      ...(requestId ? { 'x-request-id': requestId } : {}),
    },
    body: JSON.stringify({ query: text, variables }),
  });
  return (await response.json()) as Answer;
}

/** Like gql, failing the test on GraphQL errors. */
async function call(herald: TestHerald, bearer: string, text: string, variables: Record<string, unknown> = {}, requestId?: string) {
  const answer = await gql(herald, bearer, text, variables, requestId);
  if (answer.errors?.length) throw new Error(`GraphQL errors: ${JSON.stringify(answer.errors)}`);
  return answer.data!;
}

async function auditLog(herald: TestHerald, bearer: string, filter: Record<string, unknown> = {}, first = 100): Promise<Entry[]> {
  const data = await call(
    herald,
    bearer,
    `query($filter: AuditLogFilter, $page: PageInput) { auditLog(filter: $filter, page: $page) { nodes { ${ENTRY_FIELDS} } pageInfo { hasNextPage } } }`,
    { filter, page: { first } },
  );
  return data.auditLog.nodes as unknown as Entry[];
}

/** The one entry with this request id (each change below is made with its own request id). */
async function entryOf(herald: TestHerald, requestId: string): Promise<Entry> {
  const rows = await query<{ id: string }>(herald.config.databaseUrl!, 'select id from audit_log where request_id = $1', [requestId]);
  expect(rows, `one audit entry for ${requestId}`).toHaveLength(1);
  const [entry] = (await auditLog(herald, herald.adminKey)).filter((candidate) => candidate.id === rows[0]!.id);
  expect(entry).toBeDefined();
  return entry!;
}

async function auditRowCount(herald: TestHerald): Promise<number> {
  const [row] = await query<{ n: number }>(herald.config.databaseUrl!, 'select count(*)::int as n from audit_log');
  return row!.n;
}

describe('audit log', { timeout: 120_000 }, () => {
  heraldFile(
    'records every kind of configuration change once, with actor, request id, target, before and after, and never a secret',
    async ({ herald }) => {
      const adminKeyId = (await call(herald, herald.adminKey, '{ currentApiKey { id } }')).currentApiKey.id as string;
      const admin = { id: adminKeyId, kind: 'ADMIN' };
      const secrets: string[] = [];

      // Applications.
      const app = (await call(herald, herald.adminKey, 'mutation { createApplication(input: { name: "audited" }) { id } }', {}, 'req-app'))
        .createApplication.id as string;
      let entry = await entryOf(herald, 'req-app');
      expect(entry).toMatchObject({
        actor: admin,
        action: 'application.created',
        targetType: 'application',
        targetId: app,
        applicationId: app,
      });
      expect(entry.before).toBeNull();
      expect(entry.after).toMatchObject({ id: app, name: 'audited' });

      // API keys: created by an admin key; the key itself is the secret.
      const created = (
        await call(
          herald,
          herald.adminKey,
          'mutation($app: ID!) { createApiKey(input: { name: "app key", applicationId: $app }) { apiKey { id prefix } key } }',
          { app },
          'req-key',
        )
      ).createApiKey;
      const appKey = created.key as string;
      const appKeyId = created.apiKey.id as string;
      secrets.push(appKey);
      entry = await entryOf(herald, 'req-key');
      expect(entry).toMatchObject({
        actor: admin,
        action: 'api_key.created',
        targetType: 'api_key',
        targetId: appKeyId,
        applicationId: app,
      });
      expect(entry.after).toMatchObject({ id: appKeyId, kind: 'APPLICATION', prefix: created.apiKey.prefix, keyHash: '[redacted]' });
      const application = { id: appKeyId, kind: 'APPLICATION' };

      // Endpoints, changed with the application key: a chosen secret and a header holding a credential.
      const endpointSecret = `whsec_${randomBytes(32).toString('base64')}`;
      const headerValue = `Bearer receiver-${randomBytes(12).toString('hex')}`;
      secrets.push(endpointSecret, headerValue);
      const endpoint = (
        await call(
          herald,
          appKey,
          'mutation($input: RegisterEndpointInput!) { registerEndpoint(input: $input) { endpoint { id } secret } }',
          { input: { url: 'http://127.0.0.1:9/hook', secret: endpointSecret, headers: { authorization: headerValue } } },
          'req-ep-create',
        )
      ).registerEndpoint.endpoint.id as string;
      entry = await entryOf(herald, 'req-ep-create');
      expect(entry).toMatchObject({
        actor: application,
        action: 'endpoint.created',
        targetType: 'endpoint',
        targetId: endpoint,
        applicationId: app,
      });
      expect(entry.before).toBeNull();
      expect(entry.after).toMatchObject({ url: 'http://127.0.0.1:9/hook', secret: '[redacted]', headers: { authorization: '[redacted]' } });

      const endpointChanges: Array<
        [string, string, Record<string, unknown>, (before: Record<string, unknown>, after: Record<string, unknown>) => void]
      > = [
        [
          'endpoint.updated',
          'mutation($id: ID!) { updateEndpoint(id: $id, input: { description: "audited endpoint" }) { id } }',
          {},
          (before, after) => {
            expect(before.description).toBeNull();
            expect(after.description).toBe('audited endpoint');
          },
        ],
        [
          'endpoint.paused',
          'mutation($id: ID!) { pauseEndpoint(id: $id) { id } }',
          {},
          (before, after) => {
            expect(before.pausedAt).toBeNull();
            expect(after.pausedAt).toEqual(expect.any(String));
          },
        ],
        [
          'endpoint.resumed',
          'mutation($id: ID!) { resumeEndpoint(id: $id) { id } }',
          {},
          (before, after) => {
            expect(before.pausedAt).toEqual(expect.any(String));
            expect(after.pausedAt).toBeNull();
          },
        ],
        [
          'endpoint.deliveries_cancelled',
          'mutation($id: ID!, $before: DateTimeISO) { cancelPendingDeliveries(endpointId: $id, before: $before) }',
          { before: '2030-01-01T00:00:00.000Z' },
          (before, after) => {
            expect(before).toBeNull();
            expect(after).toEqual({ createdBefore: '2030-01-01T00:00:00.000Z', cancelled: 0 });
          },
        ],
        [
          'endpoint.disabled',
          'mutation($id: ID!) { disableEndpoint(id: $id, reason: "maintenance") { id } }',
          {},
          (before, after) => {
            expect(before.enabled).toBe(true);
            expect(after).toMatchObject({ enabled: false, disabledReason: 'maintenance' });
          },
        ],
        [
          'endpoint.enabled',
          'mutation($id: ID!) { enableEndpoint(id: $id) { id } }',
          {},
          (before, after) => {
            expect(before.enabled).toBe(false);
            expect(after.enabled).toBe(true);
          },
        ],
        [
          'endpoint.asymmetric_signatures_enabled',
          'mutation($id: ID!) { setEndpointAsymmetricSignatures(id: $id, enabled: true) { id } }',
          {},
          (before, after) => {
            expect(before.signingKey).toBeNull();
            expect(after.signingKey).toBe('[redacted]');
            expect(after.publicKey).toEqual(expect.any(String));
          },
        ],
      ];
      for (const [action, mutation, variables, check] of endpointChanges) {
        await call(herald, appKey, mutation, { id: endpoint, ...variables }, `req-${action}`);
        entry = await entryOf(herald, `req-${action}`);
        expect(entry).toMatchObject({ actor: application, action, targetType: 'endpoint', targetId: endpoint, applicationId: app });
        check(entry.before!, entry.after!);
      }

      // Rotation: the new secret is returned once, the old one stays valid for the grace period; neither is recorded.
      const rotated = (
        await call(
          herald,
          appKey,
          'mutation($id: ID!) { rotateEndpointSecret(id: $id, gracePeriodSeconds: 3600) { secret } }',
          { id: endpoint },
          'req-rotate',
        )
      ).rotateEndpointSecret.secret as string;
      secrets.push(rotated);
      entry = await entryOf(herald, 'req-rotate');
      expect(entry).toMatchObject({ actor: application, action: 'endpoint.secret_rotated', targetId: endpoint });
      expect(entry.before!.previousSecrets).toEqual([]);
      expect(entry.after).toMatchObject({ secret: '[redacted]', previousSecrets: '[redacted]' });

      // A customer portal session: its creation and its own changes are recorded under its id.
      const session = (
        await call(
          herald,
          herald.adminKey,
          'mutation($app: ID!) { createPortalSession(input: { applicationId: $app, capabilities: [ENDPOINTS_WRITE, ENDPOINTS_READ] }) { token session { id } } }',
          { app },
          'req-portal-create',
        )
      ).createPortalSession;
      secrets.push(session.token as string);
      entry = await entryOf(herald, 'req-portal-create');
      expect(entry).toMatchObject({
        actor: admin,
        action: 'portal_session.created',
        targetType: 'portal_session',
        targetId: session.session.id,
      });
      expect(entry.after).toMatchObject({ id: session.session.id, capabilities: ['ENDPOINTS_WRITE', 'ENDPOINTS_READ'] });
      const exchanged = await fetch(`${herald.url}/portal/session`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ token: session.token }),
      });
      const credential = ((await exchanged.json()) as { credential: string }).credential;
      secrets.push(credential);
      await call(
        herald,
        credential,
        'mutation($id: ID!) { updateEndpoint(id: $id, input: { description: "from the portal" }) { id } }',
        { id: endpoint },
        'req-portal-update',
      );
      entry = await entryOf(herald, 'req-portal-update');
      expect(entry).toMatchObject({ actor: { id: session.session.id, kind: 'PORTAL' }, action: 'endpoint.updated', targetId: endpoint });
      expect(entry.after!.description).toBe('from the portal');
      // The portal's allow-list does not include the audit log.
      const fromPortal = await gql(herald, credential, '{ auditLog { nodes { id } } }');
      expect(fromPortal.errors?.[0]?.extensions?.code).toBe('FORBIDDEN');

      const revokedCount = (
        await call(
          herald,
          herald.adminKey,
          'mutation($app: ID!) { revokePortalSessions(applicationId: $app) }',
          { app },
          'req-portal-revoke',
        )
      ).revokePortalSessions;
      expect(revokedCount).toBe(1);
      entry = await entryOf(herald, 'req-portal-revoke');
      expect(entry).toMatchObject({ actor: admin, action: 'portal_session.revoked', targetId: session.session.id, applicationId: app });
      expect(entry.before).toEqual({ revokedAt: null });
      expect(entry.after!.revokedAt).toEqual(expect.any(String));

      // Inbound sources, with a chosen secret.
      const sourceSecret = `source-secret-${randomBytes(12).toString('hex')}`;
      secrets.push(sourceSecret);
      const source = (
        await call(
          herald,
          herald.adminKey,
          'mutation($input: CreateSourceInput!) { createSource(input: $input) { source { id } secret } }',
          { input: { name: 'github', scheme: 'GITHUB', applicationId: app, secret: sourceSecret } },
          'req-source-create',
        )
      ).createSource.source.id as string;
      entry = await entryOf(herald, 'req-source-create');
      expect(entry).toMatchObject({ actor: admin, action: 'source.created', targetType: 'source', targetId: source, applicationId: app });
      expect(entry.after).toMatchObject({ name: 'github', scheme: 'GITHUB' });
      const [storedSource] = await query<{ secret: string }>(herald.config.databaseUrl!, 'select secret from sources where id = $1', [
        source,
      ]);
      secrets.push(storedSource!.secret);
      await call(herald, herald.adminKey, 'mutation($id: ID!) { deleteSource(id: $id) }', { id: source }, 'req-source-delete');
      entry = await entryOf(herald, 'req-source-delete');
      expect(entry).toMatchObject({ action: 'source.deleted', targetId: source });
      expect(entry.before).toMatchObject({ name: 'github' });
      expect(entry.after).toBeNull();

      // The event type catalog: API-wide, so no application.
      await call(
        herald,
        herald.adminKey,
        'mutation { registerEventType(input: { name: "audit.checked", description: "Audited", example: { id: 1 } }) { name } }',
        {},
        'req-type-register',
      );
      entry = await entryOf(herald, 'req-type-register');
      expect(entry).toMatchObject({
        actor: admin,
        action: 'event_type.registered',
        targetType: 'event_type',
        targetId: 'audit.checked',
        applicationId: null,
      });
      await call(
        herald,
        herald.adminKey,
        'mutation { addEventTypeVersion(input: { name: "audit.checked", version: "2.0", example: { id: 2 } }) { name } }',
        {},
        'req-type-version',
      );
      entry = await entryOf(herald, 'req-type-version');
      expect(entry.action).toBe('event_type.version_added');
      expect(entry.before!.versions).toHaveLength(1);
      expect(entry.after!.versions).toHaveLength(2);
      await call(
        herald,
        herald.adminKey,
        'mutation { deprecateEventType(name: "audit.checked", note: "old") { name } }',
        {},
        'req-type-deprecate',
      );
      entry = await entryOf(herald, 'req-type-deprecate');
      expect(entry).toMatchObject({ action: 'event_type.deprecated', before: { deprecatedAt: null }, after: { deprecationNote: 'old' } });

      // Replays (nothing dead: it completes at once, and is still on record).
      const replay = (await call(herald, appKey, 'mutation { replayDeadLetters(filter: {}) { id status } }', {}, 'req-replay'))
        .replayDeadLetters;
      entry = await entryOf(herald, 'req-replay');
      expect(entry).toMatchObject({
        actor: application,
        action: 'replay.started',
        targetType: 'replay',
        targetId: replay.id,
        applicationId: app,
      });
      expect(entry.after).toMatchObject({ status: replay.status, matched: 0 });
      // A dry run changes nothing and records nothing.
      const before = await auditRowCount(herald);
      await call(herald, appKey, 'mutation { replayDeadLetters(filter: {}, dryRun: true) { matched } }');
      expect(await auditRowCount(herald)).toBe(before);

      // What is stored for the endpoint's secrets (ciphertexts), before the row goes.

      const [stored] = await query<{ secret: string; signing_key: string; previous_secrets: Array<{ secret: string }> }>(
        herald.config.databaseUrl!,

        'select secret, signing_key, previous_secrets from endpoints where id = $1',

        [endpoint],
      );

      expect(stored!.previous_secrets).toHaveLength(1);

      secrets.push(stored!.secret, stored!.signing_key, ...stored!.previous_secrets.map((previous) => previous.secret));

      // Deleting the endpoint keeps its last state on record.
      await call(herald, appKey, 'mutation($id: ID!) { deleteEndpoint(id: $id) }', { id: endpoint }, 'req-ep-delete');
      entry = await entryOf(herald, 'req-ep-delete');
      expect(entry).toMatchObject({ action: 'endpoint.deleted', targetId: endpoint, applicationId: app, after: null });
      expect(entry.before).toMatchObject({ description: 'from the portal', signingKey: '[redacted]' });

      // Revoking the key, last (it is the application's key).
      await call(herald, herald.adminKey, 'mutation($id: ID!) { revokeApiKey(id: $id) { id } }', { id: appKeyId }, 'req-key-revoke');
      entry = await entryOf(herald, 'req-key-revoke');
      expect(entry).toMatchObject({ actor: admin, action: 'api_key.revoked', targetId: appKeyId, before: { revokedAt: null } });
      expect(entry.after!.revokedAt).toEqual(expect.any(String));

      // No secret, nor what is stored for one (hashes, ciphertexts), appears anywhere in the audit table.
      const url = herald.config.databaseUrl!;
      const [keyRow] = await query<{ key_hash: string }>(url, 'select key_hash from api_keys where id = $1', [appKeyId]);
      const [sessionRow] = await query<{ token_hash: string; session_hash: string }>(
        url,
        'select token_hash, session_hash from portal_sessions where id = $1',
        [session.session.id],
      );
      secrets.push(keyRow!.key_hash, sessionRow!.token_hash, sessionRow!.session_hash);
      const rows = await query<{ text: string }>(url, 'select a::text as text from audit_log a');
      expect(rows.length).toBeGreaterThanOrEqual(20);
      for (const secret of secrets) {
        expect(secret.length).toBeGreaterThan(10);
        for (const row of rows) expect(row.text.includes(secret), `secret ${secret.slice(0, 12)}... in ${row.text}`).toBe(false);
        // JSON escapes "/" and "+" nowhere, but check the escaped form too for the base64 secrets.
        for (const row of rows) expect(row.text.includes(JSON.stringify(secret).slice(1, -1))).toBe(false);
      }
      expect(rows.some((row) => row.text.includes('[redacted]'))).toBe(true);
    },
  );

  heraldFile('an application key sees only its own entries; admin keys see all; filters and pages narrow the list', async ({ herald }) => {
    const makeApp = async (name: string) =>
      (await call(herald, herald.adminKey, 'mutation($name: String!) { createApplication(input: { name: $name }) { id } }', { name }))
        .createApplication.id as string;
    const a = await makeApp('scope-a');
    const b = await makeApp('scope-b');
    const keyA = await herald.createKey({ name: 'a', applicationId: a });
    const keyB = await herald.createKey({ name: 'b', applicationId: b });
    const register = async (key: string) =>
      (await call(herald, key, 'mutation { registerEndpoint(input: { url: "http://127.0.0.1:9/hook" }) { endpoint { id } } }'))
        .registerEndpoint.endpoint.id as string;
    const endpointA = await register(keyA);
    const endpointB = await register(keyB);
    await call(herald, keyB, 'mutation($id: ID!) { pauseEndpoint(id: $id) { id } }', { id: endpointB });

    const seenByA = await auditLog(herald, keyA);
    expect(seenByA.length).toBeGreaterThan(0);
    expect(seenByA.every((entry) => entry.applicationId === a)).toBe(true);
    expect(seenByA.map((entry) => entry.targetId)).toContain(endpointA);
    expect(seenByA.map((entry) => entry.targetId)).not.toContain(endpointB);
    // Asking for another application's entries finds nothing, as asking for its endpoint does.
    expect(await auditLog(herald, keyA, { applicationId: b })).toEqual([]);
    expect(await auditLog(herald, keyA, { targetId: endpointB })).toEqual([]);
    // The admin sees both, newest first, and can filter.
    const all = await auditLog(herald, herald.adminKey);
    expect(all.map((entry) => entry.targetId)).toEqual(expect.arrayContaining([endpointA, endpointB, a, b]));
    expect(all.map((entry) => entry.id)).toEqual([...all.map((entry) => entry.id)].sort().reverse());
    const ofB = await auditLog(herald, herald.adminKey, { applicationId: b });
    expect(ofB.map((entry) => entry.action)).toEqual(['endpoint.paused', 'endpoint.created', 'api_key.created', 'application.created']);
    expect(
      (await auditLog(herald, herald.adminKey, { action: 'endpoint.paused', applicationId: b })).map((entry) => entry.targetId),
    ).toEqual([endpointB]);
    const keyBId = (await call(herald, keyB, '{ currentApiKey { id } }')).currentApiKey.id as string;
    expect((await auditLog(herald, herald.adminKey, { actorId: keyBId })).map((entry) => entry.action)).toEqual([
      'endpoint.paused',
      'endpoint.created',
    ]);
    const future = new Date(Date.now() + 3_600_000).toISOString();
    expect(await auditLog(herald, herald.adminKey, { after: future })).toEqual([]);
    expect((await auditLog(herald, herald.adminKey, { before: future, applicationId: b })).length).toBe(4);
    // Pages follow one another without overlap.
    const first = await call(
      herald,
      herald.adminKey,
      '{ auditLog(page: { first: 2 }) { nodes { id } pageInfo { endCursor hasNextPage } } }',
    );
    expect(first.auditLog.pageInfo.hasNextPage).toBe(true);
    const second = await call(
      herald,
      herald.adminKey,
      'query($after: String) { auditLog(page: { first: 2, after: $after }) { nodes { id } } }',
      {
        after: first.auditLog.pageInfo.endCursor,
      },
    );
    expect((second.auditLog.nodes as unknown as Array<{ id: string }>).map((node) => node.id)).toEqual(
      all.slice(2, 4).map((entry) => entry.id),
    );
  });

  heraldFile('a refused or failed mutation writes nothing', async ({ herald }) => {
    const app = (await call(herald, herald.adminKey, 'mutation { createApplication(input: { name: "refusals" }) { id } }'))
      .createApplication.id as string;
    const appKey = await herald.createKey({ name: 'refused', applicationId: app });
    const endpoint = (
      await call(herald, appKey, 'mutation { registerEndpoint(input: { url: "http://127.0.0.1:9/hook" }) { endpoint { id } } }')
    ).registerEndpoint.endpoint.id as string;
    const before = await auditRowCount(herald);
    const refusals: Array<[string, string, Record<string, unknown>, string]> = [
      // Not allowed: admin-only operations with an application key.
      [appKey, 'mutation { createApiKey(input: { name: "x" }) { key } }', {}, 'FORBIDDEN'],
      [appKey, 'mutation { registerEventType(input: { name: "x.y", description: "x", example: {} }) { name } }', {}, 'FORBIDDEN'],
      // Bad input, found before anything is written.
      [
        appKey,
        'mutation($id: ID!) { updateEndpoint(id: $id, input: { url: "javascript:alert(1)" }) { id } }',
        { id: endpoint },
        'BAD_USER_INPUT',
      ],
      [
        appKey,
        'mutation($id: ID!) { rotateEndpointSecret(id: $id, gracePeriodSeconds: -1) { secret } }',
        { id: endpoint },
        'BAD_USER_INPUT',
      ],
      // Found inside the change's transaction, which rolls back.
      [
        herald.adminKey,
        'mutation { registerEventType(input: { name: "order.created", description: "again", example: {} }) { name } }',
        {},
        'BAD_USER_INPUT',
      ],
      // Not found (another tenant's, or none).
      [appKey, 'mutation { pauseEndpoint(id: "ep_doesnotexist") { id } }', {}, 'NOT_FOUND'],
    ];
    for (const [key, mutation, variables, code] of refusals) {
      const answer = await gql(herald, key, mutation, variables);
      expect(answer.errors?.[0]?.extensions?.code, mutation).toBeDefined();
      if (code !== 'BAD_USER_INPUT') expect(answer.errors?.[0]?.extensions?.code, mutation).toBe(code);
    }
    // A completed replay cannot be cancelled: the refusal comes from inside the transaction.
    const replay = (await call(herald, appKey, 'mutation { replayDeadLetters(filter: {}) { id } }')).replayDeadLetters.id as string;
    const afterReplay = await auditRowCount(herald);
    expect(afterReplay).toBe(before + 1);
    const cancel = await gql(herald, appKey, 'mutation($id: ID!) { cancelReplay(id: $id) { id } }', { id: replay });
    expect(cancel.errors?.[0]?.extensions?.code).toBeDefined();
    expect(await auditRowCount(herald)).toBe(afterReplay);
  });

  heraldFile('retention purges audit entries older than the retention age with the events, and keeps newer ones', async ({ herald }) => {
    const url = herald.config.databaseUrl!;
    await call(herald, herald.adminKey, 'mutation { createApplication(input: { name: "old" }) { id } }', {}, 'req-old');
    await call(herald, herald.adminKey, 'mutation { createApplication(input: { name: "new" }) { id } }', {}, 'req-new');
    await query(url, "update audit_log set created_at = now() - interval '40 days' where request_id = 'req-old'");
    const aged = await query(url, "select 1 from audit_log where request_id = 'req-old' and created_at < now() - interval '30 days'");
    expect(aged).toHaveLength(1);
    await new RetentionService(herald.handle.database.orm.em.fork()).purge({
      olderThan: new Date(Date.now() - 30 * 86_400_000),
      batchSize: 1,
    });
    const left = await query<{ request_id: string }>(url, "select request_id from audit_log where request_id in ('req-old', 'req-new')");
    expect(left.map((row) => row.request_id)).toEqual(['req-new']);
  });
});
