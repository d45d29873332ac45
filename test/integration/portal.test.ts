import { describe, expect } from 'vitest';
import { query } from '../helpers/database';
import { heraldTestWith } from '../helpers/fixtures';
import type { TestHerald } from '../helpers/herald';

interface Answer {
  status: number;
  data?: Record<string, unknown> | null;
  errors?: Array<{ message: string; extensions?: { code?: string } }>;
}

/** One GraphQL request over HTTP with a bearer (an API key or a portal session credential). */
async function gql(herald: TestHerald, bearer: string, text: string, variables: Record<string, unknown> = {}): Promise<Answer> {
  const response = await fetch(`${herald.url}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${bearer}` },
    body: JSON.stringify({ query: text, variables }),
  });
  return { status: response.status, ...((await response.json()) as Omit<Answer, 'status'>) };
}

async function admin<T = Record<string, unknown>>(herald: TestHerald, text: string, variables: Record<string, unknown> = {}): Promise<T> {
  const answer = await gql(herald, herald.adminKey, text, variables);
  if (answer.errors?.length) throw new Error(`GraphQL errors: ${JSON.stringify(answer.errors)}`);
  return answer.data as T;
}

async function createApplication(herald: TestHerald, name: string): Promise<string> {
  const data = await admin<{ createApplication: { id: string } }>(
    herald,
    'mutation($name: String!) { createApplication(input: { name: $name }) { id } }',
    {
      name,
    },
  );
  return data.createApplication.id;
}

async function registerEndpoint(herald: TestHerald, applicationId: string, url: string): Promise<string> {
  const data = await admin<{ registerEndpoint: { endpoint: { id: string } } }>(
    herald,
    'mutation($input: RegisterEndpointInput!) { registerEndpoint(input: $input) { endpoint { id } } }',
    { input: { applicationId, url } },
  );
  return data.registerEndpoint.endpoint.id;
}

async function createSession(
  herald: TestHerald,
  applicationId: string,
  capabilities: string[],
  extra: Record<string, unknown> = {},
): Promise<{ url: string; token: string; expiresAt: string; session: { id: string } }> {
  const data = await admin<{ createPortalSession: { url: string; token: string; expiresAt: string; session: { id: string } } }>(
    herald,
    'mutation($input: CreatePortalSessionInput!) { createPortalSession(input: $input) { url token expiresAt session { id } } }',
    { input: { applicationId, capabilities, ...extra } },
  );
  return data.createPortalSession;
}

async function exchange(herald: TestHerald, token: string): Promise<{ status: number; body: Record<string, unknown> }> {
  const response = await fetch(`${herald.url}/portal/session`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ token }),
  });
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
}

/** A session credential for a new session with these capabilities. */
async function portalCredential(herald: TestHerald, applicationId: string, capabilities: string[]): Promise<string> {
  const { token } = await createSession(herald, applicationId, capabilities);
  const { status, body } = await exchange(herald, token);
  expect(status).toBe(200);
  return body.credential as string;
}

const codeOf = (answer: Answer) => answer.errors?.[0]?.extensions?.code;

/** The API alone: no worker changes deliveries behind the tests' before-and-after comparisons. */
const heraldTest = heraldTestWith({ roles: { api: true, worker: false } });

describe('customer portal sessions', () => {
  heraldTest('createPortalSession returns a one-time link; only hashes are stored; expiresIn is bounded', async ({ herald, database }) => {
    const applicationId = await createApplication(herald, 'Portal shop');
    const before = Date.now();
    const created = await createSession(herald, applicationId, ['ENDPOINTS_READ'], {
      expiresIn: 600,
      theme: { name: 'Shop webhooks', accentColor: '#0a7cff', logoUrl: 'https://example.com/logo.png' },
    });
    expect(created.token).toMatch(/^hpt_[A-Za-z0-9_-]{43}$/);
    expect(created.url).toBe(`/portal#token=${created.token}`);
    const expiresAt = new Date(created.expiresAt).getTime();
    expect(expiresAt).toBeGreaterThanOrEqual(before + 600_000 - 1000);
    expect(expiresAt).toBeLessThanOrEqual(Date.now() + 600_000 + 1000);

    const { body } = await exchange(herald, created.token);
    const credential = body.credential as string;
    expect(credential).toMatch(/^hps_/);
    expect(body.session).toMatchObject({
      applicationId,
      capabilities: ['ENDPOINTS_READ'],
      theme: { name: 'Shop webhooks', accentColor: '#0a7cff' },
    });
    const rows = await query(database.url, 'select * from portal_sessions where id = $1', [created.session.id]);
    const stored = JSON.stringify(rows);
    expect(stored).not.toContain(created.token.slice(4));
    expect(stored).not.toContain(credential.slice(4));
    expect(rows[0]).toMatchObject({ application_id: applicationId, capabilities: ['ENDPOINTS_READ'] });

    for (const expiresIn of [59, 86_401]) {
      const answer = await gql(
        herald,
        herald.adminKey,
        'mutation($input: CreatePortalSessionInput!) { createPortalSession(input: $input) { token } }',
        { input: { applicationId, capabilities: ['ENDPOINTS_READ'], expiresIn } },
      );
      expect(codeOf(answer)).toBe('BAD_USER_INPUT');
      expect(answer.errors?.[0]?.message).toMatch(/expiresIn/);
    }
    const badColour = await gql(
      herald,
      herald.adminKey,
      'mutation($input: CreatePortalSessionInput!) { createPortalSession(input: $input) { token } }',
      {
        input: { applicationId, capabilities: ['ENDPOINTS_READ'], theme: { accentColor: 'red;}' } },
      },
    );
    expect(codeOf(badColour)).toBe('BAD_USER_INPUT');

    // Only admin keys create and revoke sessions.
    const applicationKey = await herald.createKey({ name: 'shop key', applicationId });
    const refused = await gql(
      herald,
      applicationKey,
      'mutation($input: CreatePortalSessionInput!) { createPortalSession(input: $input) { token } }',
      {
        input: { applicationId, capabilities: ['ENDPOINTS_READ'] },
      },
    );
    expect(codeOf(refused)).toBe('FORBIDDEN');
    expect(
      codeOf(await gql(herald, applicationKey, 'mutation($id: ID!) { revokePortalSessions(applicationId: $id) }', { id: applicationId })),
    ).toBe('FORBIDDEN');
  });

  heraldTest('the one-time token cannot be used twice, even by two exchanges at once', async ({ herald }) => {
    const applicationId = await createApplication(herald, 'One-time shop');
    const { token } = await createSession(herald, applicationId, ['ENDPOINTS_READ']);
    const [first, second] = await Promise.all([exchange(herald, token), exchange(herald, token)]);
    expect([first.status, second.status].sort()).toEqual([200, 401]);
    const again = await exchange(herald, token);
    expect(again.status).toBe(401);
    expect(again.body).toMatchObject({ error: 'UNAUTHENTICATED' });
    expect(again.body.message).toMatch(/already been used/);
    // Neither is the token itself a credential for the API.
    const asBearer = await gql(herald, token, '{ currentPortalSession { id } }');
    expect(asBearer.status).toBe(401);
    expect(codeOf(asBearer)).toBe('UNAUTHENTICATED');
    const winner = (first.status === 200 ? first : second).body.credential as string;
    const own = await gql(herald, winner, '{ currentPortalSession { applicationId capabilities } }');
    expect(own.data).toEqual({ currentPortalSession: { applicationId, capabilities: ['ENDPOINTS_READ'] } });
  });

  heraldTest(
    'a read-only session reads its application but the API refuses every change and admin operation',
    async ({ herald, database }) => {
      const applicationId = await createApplication(herald, 'Read-only shop');
      const endpointId = await registerEndpoint(herald, applicationId, 'https://example.com/hooks');
      await admin(herald, 'mutation($input: PublishEventInput!) { publishEvent(input: $input) { id } }', {
        input: { applicationId, type: 'portal.checked', data: { id: 1 } },
      });
      const credential = await portalCredential(herald, applicationId, ['ENDPOINTS_READ', 'DELIVERIES_READ']);

      const read = await gql(
        herald,
        credential,
        '{ endpoints { nodes { id url } } deliveries { nodes { id endpointId attempts { number } } } }',
      );
      expect(read.errors).toBeUndefined();
      expect(read.data).toMatchObject({ endpoints: { nodes: [{ id: endpointId, url: 'https://example.com/hooks' }] } });
      const [delivery] = (read.data as { deliveries: { nodes: Array<{ id: string }> } }).deliveries.nodes;
      expect(delivery).toBeDefined();

      const snapshot = async () => ({
        endpoints: await query(database.url, 'select id, url, event_types, disabled_at, updated_at from endpoints order by id'),
        deliveries: await query(database.url, 'select id, status, attempt_count from deliveries order by id'),
        events: await query(database.url, 'select count(*)::int as n from events'),
        applications: await query(database.url, 'select count(*)::int as n from applications'),
        keys: await query(database.url, 'select count(*)::int as n from api_keys'),
      });
      const before = await snapshot();
      const refusedChanges: Array<[string, Record<string, unknown>]> = [
        [
          'mutation($input: RegisterEndpointInput!) { registerEndpoint(input: $input) { endpoint { id } } }',
          { input: { url: 'https://evil.example/x' } },
        ],
        ['mutation($id: ID!) { updateEndpoint(id: $id, input: { url: "https://evil.example/y" }) { id } }', { id: endpointId }],
        ['mutation($id: ID!) { deleteEndpoint(id: $id) }', { id: endpointId }],
        ['mutation($id: ID!) { disableEndpoint(id: $id) { id } }', { id: endpointId }],
        ['mutation($id: ID!) { rotateEndpointSecret(id: $id) { endpoint { id } } }', { id: endpointId }],
        ['mutation($id: ID!) { sendTestEvent(endpointId: $id) { id } }', { id: endpointId }],
        ['mutation($id: ID!) { retryDelivery(id: $id) { id } }', { id: delivery!.id }],
        ['mutation { replayDeadLetters(filter: {}) { matched } }', {}],
        ['mutation { publishEvent(input: { type: "portal.checked", data: { id: 2 } }) { id } }', {}],
        ['mutation { createApplication(input: { name: "mine" }) { id } }', {}],
        ['mutation { createApiKey(input: { name: "mine" }) { key } }', {}],
        [
          'mutation($id: ID!) { createPortalSession(input: { applicationId: $id, capabilities: [ENDPOINTS_WRITE] }) { token } }',
          { id: applicationId },
        ],
        ['mutation($id: ID!) { revokePortalSessions(applicationId: $id) }', { id: applicationId }],
        ['{ applications { nodes { id } } }', {}],
        ['{ apiKeys { nodes { id } } }', {}],
        ['{ currentApiKey { id } }', {}],
        ['{ sources { id } }', {}],
        ['{ metrics { attempts } }', {}],
        // A refused field hidden in a fragment, beside an allowed one.
        ['query { endpoints { nodes { id } } ...Admin } fragment Admin on Query { applications { nodes { id } } }', {}],
      ];
      for (const [text, variables] of refusedChanges) {
        const answer = await gql(herald, credential, text, variables);
        expect.soft(codeOf(answer), text).toBe('FORBIDDEN');
        expect.soft(answer.status, text).toBe(403);
        expect.soft(answer.data ?? null, text).toBeNull();
      }
      expect(await snapshot()).toEqual(before);
    },
  );

  heraldTest("another application's data is out of reach", async ({ herald }) => {
    const mine = await createApplication(herald, 'Mine');
    const theirs = await createApplication(herald, 'Theirs');
    const myEndpoint = await registerEndpoint(herald, mine, 'https://example.com/mine');
    const theirEndpoint = await registerEndpoint(herald, theirs, 'https://example.com/theirs');
    const published = await admin<{ publishEvent: { id: string } }>(
      herald,
      'mutation($input: PublishEventInput!) { publishEvent(input: $input) { id } }',
      {
        input: { applicationId: theirs, type: 'portal.checked', data: { id: 1 } },
      },
    );
    const credential = await portalCredential(herald, mine, [
      'ENDPOINTS_READ',
      'ENDPOINTS_WRITE',
      'DELIVERIES_READ',
      'DELIVERIES_RETRY',
      'SEND_TEST',
    ]);

    const list = await gql(herald, credential, '{ endpoints { nodes { id } } deliveries { nodes { id } } events { nodes { id } } }');
    expect(list.data).toEqual({ endpoints: { nodes: [{ id: myEndpoint }] }, deliveries: { nodes: [] }, events: { nodes: [] } });
    // Asking for the other application by id finds nothing of it (an empty page or NOT_FOUND, as for an application key).
    const filtered = await gql(herald, credential, 'query($app: ID!) { endpoints(filter: { applicationId: $app }) { nodes { id } } }', {
      app: theirs,
    });
    expect(JSON.stringify(filtered)).not.toContain(theirEndpoint);

    const attempts: Array<[string, Record<string, unknown>]> = [
      ['query($id: ID!) { endpoint(id: $id) { id } }', { id: theirEndpoint }],
      ['query($id: ID!) { event(id: $id) { id } }', { id: published.publishEvent.id }],
      ['mutation($id: ID!) { updateEndpoint(id: $id, input: { eventTypes: ["x.*"] }) { id } }', { id: theirEndpoint }],
      ['mutation($id: ID!) { deleteEndpoint(id: $id) }', { id: theirEndpoint }],
      ['mutation($id: ID!) { sendTestEvent(endpointId: $id) { id } }', { id: theirEndpoint }],
      [
        'mutation($app: ID!) { registerEndpoint(input: { applicationId: $app, url: "https://example.com/sneaky" }) { endpoint { id } } }',
        { app: theirs },
      ],
    ];
    for (const [text, variables] of attempts) {
      const answer = await gql(herald, credential, text, variables);
      expect.soft(codeOf(answer), text).toBe('NOT_FOUND');
    }
    const theirsNow = await admin<{ endpoints: { nodes: Array<{ id: string; eventTypes: string[] }> } }>(
      herald,
      'query($app: ID!) { endpoints(filter: { applicationId: $app }) { nodes { id eventTypes } } }',
      { app: theirs },
    );
    expect(theirsNow.endpoints.nodes).toEqual([{ id: theirEndpoint, eventTypes: [] }]);
  });

  heraldTest(
    'write capabilities: register and edit, the secret only with SECRETS_REVEAL, operator settings refused',
    async ({ herald }) => {
      const applicationId = await createApplication(herald, 'Writer shop');
      const writer = await portalCredential(herald, applicationId, ['ENDPOINTS_READ', 'ENDPOINTS_WRITE']);
      const registered = await gql(
        herald,
        writer,
        'mutation { registerEndpoint(input: { url: "https://example.com/w", eventTypes: ["order.*"] }) { endpoint { id applicationId eventTypes } } }',
      );
      expect(registered.errors).toBeUndefined();
      const endpoint = (registered.data as { registerEndpoint: { endpoint: { id: string; applicationId: string } } }).registerEndpoint
        .endpoint;
      expect(endpoint.applicationId).toBe(applicationId);
      const withSecret = await gql(herald, writer, 'mutation($id: ID!) { rotateEndpointSecret(id: $id) { secret } }', { id: endpoint.id });
      expect(codeOf(withSecret)).toBe('FORBIDDEN');
      expect(withSecret.errors?.[0]?.message).toMatch(/SECRETS_REVEAL/);
      const knob = await gql(herald, writer, 'mutation($id: ID!) { updateEndpoint(id: $id, input: { maxConcurrency: 1000 }) { id } }', {
        id: endpoint.id,
      });
      expect(codeOf(knob)).toBe('FORBIDDEN');
      const knobInVariables = await gql(
        herald,
        writer,
        'mutation($input: RegisterEndpointInput!) { registerEndpoint(input: $input) { endpoint { id } } }',
        {
          input: { url: 'https://example.com/v', rateLimitPerSecond: 5 },
        },
      );
      expect(codeOf(knobInVariables)).toBe('FORBIDDEN');
      const edited = await gql(
        herald,
        writer,
        'mutation($id: ID!) { updateEndpoint(id: $id, input: { eventTypes: ["invoice.paid"] }) { eventTypes } }',
        {
          id: endpoint.id,
        },
      );
      expect(edited.data).toEqual({ updateEndpoint: { eventTypes: ['invoice.paid'] } });

      const revealer = await portalCredential(herald, applicationId, ['ENDPOINTS_WRITE', 'SECRETS_REVEAL']);
      const rotated = await gql(herald, revealer, 'mutation($id: ID!) { rotateEndpointSecret(id: $id) { secret } }', { id: endpoint.id });
      expect((rotated.data as { rotateEndpointSecret: { secret: string } }).rotateEndpointSecret.secret).toMatch(/^whsec_/);
    },
  );

  heraldTest('an expired or revoked session gets nothing, with a code saying which', async ({ herald, database }) => {
    const applicationId = await createApplication(herald, 'Ending shop');
    await registerEndpoint(herald, applicationId, 'https://example.com/e');
    const expiring = await portalCredential(herald, applicationId, ['ENDPOINTS_READ']);
    expect((await gql(herald, expiring, '{ endpoints { nodes { id } } }')).errors).toBeUndefined();
    await query(database.url, "update portal_sessions set expires_at = now() - interval '1 second' where application_id = $1", [
      applicationId,
    ]);
    const expired = await gql(herald, expiring, '{ endpoints { nodes { id } } }');
    expect(expired.status).toBe(401);
    expect(codeOf(expired)).toBe('PORTAL_SESSION_EXPIRED');
    expect(expired.data ?? null).toBeNull();
    const expiredLink = await createSession(herald, applicationId, ['ENDPOINTS_READ']);
    await query(database.url, "update portal_sessions set expires_at = now() - interval '1 second' where id = $1", [
      expiredLink.session.id,
    ]);
    expect((await exchange(herald, expiredLink.token)).body).toMatchObject({ error: 'PORTAL_SESSION_EXPIRED' });

    const active = await portalCredential(herald, applicationId, ['ENDPOINTS_READ']);
    const unused = await createSession(herald, applicationId, ['ENDPOINTS_READ']);
    const otherApplication = await createApplication(herald, 'Unaffected shop');
    const unaffected = await portalCredential(herald, otherApplication, ['ENDPOINTS_READ']);
    const revoked = await admin<{ revokePortalSessions: number }>(
      herald,
      'mutation($id: ID!) { revokePortalSessions(applicationId: $id) }',
      {
        id: applicationId,
      },
    );
    expect(revoked.revokePortalSessions).toBe(2);
    const afterRevoke = await gql(herald, active, '{ endpoints { nodes { id } } }');
    expect(afterRevoke.status).toBe(401);
    expect(codeOf(afterRevoke)).toBe('PORTAL_SESSION_REVOKED');
    expect((await exchange(herald, unused.token)).body).toMatchObject({ error: 'PORTAL_SESSION_REVOKED' });
    expect((await gql(herald, unaffected, '{ endpoints { nodes { id } } }')).errors).toBeUndefined();
  });
});
