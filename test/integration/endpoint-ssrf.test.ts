import type { TypedDocumentNode } from '@graphql-typed-document-node/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { HeraldConfig } from '../../src/config';
import type { DeliveryNetwork } from '../../src/delivery/http-client';
import {
  CreateApplicationDocument,
  EndpointDocument,
  EndpointsDocument,
  RegisterEndpointDocument,
  UpdateEndpointDocument,
} from '../../src/sdk/generated/graphql';
import { createTestDatabase } from '../helpers/database';
import { type TestHerald, startTestHerald } from '../helpers/herald';

/**
 * Addresses delivery would refuse are refused when an endpoint's URL is set, with production's defaults (no
 * allow-list, no loopback), and accepted once SSRF_ALLOW_CIDRS covers them. No test here delivers anything:
 * DNS and the dialler are replaced by ones that fail the test if they are ever used.
 */
const METADATA = 'http://169.254.169.254/latest/meta-data/';
const DECIMAL_LOOPBACK = 'http://2130706433/';

const used: string[] = [];
const noNetwork: DeliveryNetwork = {
  lookup: async (hostname) => {
    used.push(`lookup ${hostname}`);
    throw Object.assign(new Error(`no DNS in this test (${hostname})`), { code: 'ENOTFOUND' });
  },
  dial: (options, callback) => {
    used.push(`dial ${options.hostname}`);
    callback(new Error('no connections in this test'), null);
  },
};

describe('registerEndpoint and updateEndpoint refuse addresses delivery refuses', () => {
  let database: Awaited<ReturnType<typeof createTestDatabase>>;
  let strict: TestHerald;
  let allowing: TestHerald;

  async function start(ssrf: HeraldConfig['ssrf']) {
    return startTestHerald(database.url, { roles: { api: true, worker: false }, config: { ssrf }, network: noNetwork });
  }

  beforeAll(async () => {
    database = await createTestDatabase();
    strict = await start({ allowCidrs: [], allowLoopback: false });
    allowing = await start({ allowCidrs: ['169.254.0.0/16', '127.0.0.0/8'], allowLoopback: false });
  });
  afterAll(async () => {
    await strict?.stop();
    await allowing?.stop();
    await database?.drop();
    expect(used).toEqual([]);
  });

  async function errorsOf<TData, TVariables>(herald: TestHerald, document: TypedDocumentNode<TData, TVariables>, variables: TVariables) {
    const result = await herald.request(document, variables);
    expect(result.data ?? null).toBeNull();
    return (result.errors ?? []).map((error) => ({ code: error.extensions?.code, field: error.extensions?.field, message: error.message }));
  }

  async function newEndpoint(herald: TestHerald) {
    const { createApplication } = await herald.call(CreateApplicationDocument, { input: { name: 'ssrf at registration' } });
    // A name is not resolved at registration (it is checked when delivering): accepted by both.
    const { registerEndpoint } = await herald.call(RegisterEndpointDocument, {
      input: { applicationId: createApplication.id, url: 'https://receiver.example/hooks' },
    });
    return { applicationId: createApplication.id, endpointId: registerEndpoint.endpoint.id };
  }

  const REFUSALS: Array<[string, RegExp]> = [
    [
      METADATA,
      /^"http:\/\/169\.254\.169\.254\/latest\/meta-data\/" points at 169\.254\.169\.254, in a link-local range \(169\.254\.0\.0\/16\) .*SSRF_ALLOW_CIDRS=169\.254\.0\.0\/16/,
    ],
    [
      DECIMAL_LOOPBACK,
      /^"http:\/\/2130706433\/" points at 127\.0\.0\.1, in a loopback range \(127\.0\.0\.0\/8\) .*SSRF_ALLOW_CIDRS=127\.0\.0\.0\/8/,
    ],
  ];

  it.each(REFUSALS)('registerEndpoint refuses %s with BAD_USER_INPUT naming the range and SSRF_ALLOW_CIDRS', async (url, message) => {
    const { applicationId } = await newEndpoint(strict);
    const errors = await errorsOf(strict, RegisterEndpointDocument, { input: { applicationId, url } });
    expect(errors).toEqual([{ code: 'BAD_USER_INPUT', field: 'url', message: expect.stringMatching(message) }]);
    const { endpoints } = await strict.call(EndpointsDocument, { filter: { applicationId } });
    expect(endpoints.nodes.map((node) => node.url)).toEqual(['https://receiver.example/hooks']);
  });

  it.each(REFUSALS)('updateEndpoint refuses %s with BAD_USER_INPUT naming the range and SSRF_ALLOW_CIDRS', async (url, message) => {
    const { endpointId } = await newEndpoint(strict);
    const errors = await errorsOf(strict, UpdateEndpointDocument, { id: endpointId, input: { url } });
    expect(errors).toEqual([{ code: 'BAD_USER_INPUT', field: 'url', message: expect.stringMatching(message) }]);
    const { endpoint } = await strict.call(EndpointDocument, { id: endpointId });
    expect(endpoint.url).toBe('https://receiver.example/hooks');
  });

  it.each([
    [METADATA, METADATA],
    [DECIMAL_LOOPBACK, 'http://127.0.0.1/'],
  ])('accepts %s on register and on update when SSRF_ALLOW_CIDRS covers it', async (url, stored) => {
    const { applicationId, endpointId } = await newEndpoint(allowing);

    const { registerEndpoint } = await allowing.call(RegisterEndpointDocument, { input: { applicationId, url } });
    expect(registerEndpoint.endpoint.url).toBe(stored);

    const { updateEndpoint } = await allowing.call(UpdateEndpointDocument, { id: endpointId, input: { url } });
    expect(updateEndpoint.url).toBe(stored);
  });
});
