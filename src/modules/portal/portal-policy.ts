import { PortalCapability } from './portal-capability';

const { ENDPOINTS_READ, ENDPOINTS_WRITE, SECRETS_REVEAL, SEND_TEST, DELIVERIES_READ, DELIVERIES_RETRY } = PortalCapability;

/**
 * The whole of what a portal session may ask of the API, by schema coordinate, with the capabilities each needs (all
 * of them). A root field (Query, Mutation, Subscription) that is not listed is refused to every portal session, so an
 * operation added later stays closed until it is added here; a nested field is refused only when listed and a
 * capability is missing. The data is scoped to the session's application by the services, as for an application key.
 * src/graphql/portal-guard.ts applies it to every operation before it runs.
 */
export const PORTAL_FIELD_POLICY: Readonly<Record<string, readonly PortalCapability[]>> = {
  'Query.currentPortalSession': [],
  'Query.endpoints': [ENDPOINTS_READ],
  'Query.endpoint': [ENDPOINTS_READ],
  'Query.eventTypes': [ENDPOINTS_READ],
  'Query.eventType': [ENDPOINTS_READ],
  'Query.deliveries': [DELIVERIES_READ],
  'Query.deadLetters': [DELIVERIES_READ],
  'Query.delivery': [DELIVERIES_READ],
  'Query.events': [DELIVERIES_READ],
  'Query.event': [DELIVERIES_READ],
  'Query.replay': [DELIVERIES_READ],
  'Mutation.registerEndpoint': [ENDPOINTS_WRITE],
  'Mutation.updateEndpoint': [ENDPOINTS_WRITE],
  'Mutation.deleteEndpoint': [ENDPOINTS_WRITE],
  'Mutation.enableEndpoint': [ENDPOINTS_WRITE],
  'Mutation.disableEndpoint': [ENDPOINTS_WRITE],
  'Mutation.rotateEndpointSecret': [ENDPOINTS_WRITE],
  'Mutation.setEndpointAsymmetricSignatures': [ENDPOINTS_WRITE],
  'Mutation.sendTestEvent': [SEND_TEST],
  'Mutation.retryDelivery': [DELIVERIES_RETRY],
  'Mutation.replayDeadLetters': [DELIVERIES_RETRY],
  'Mutation.cancelReplay': [DELIVERIES_RETRY],
  // The secret itself, shown once by registerEndpoint and rotateEndpointSecret.
  'EndpointWithSecret.secret': [SECRETS_REVEAL],
};

/**
 * Input fields a portal session may not set: the operator's knobs (load an endpoint may put on the workers, retry
 * policy, the operator's own metadata), by input type.
 */
export const PORTAL_REFUSED_INPUT_FIELDS: Readonly<Record<string, readonly string[]>> = {
  RegisterEndpointInput: ['maxConcurrency', 'rateLimitPerSecond', 'retryPolicy', 'metadata'],
  UpdateEndpointInput: ['maxConcurrency', 'rateLimitPerSecond', 'clearRateLimit', 'retryPolicy', 'clearRetryPolicy', 'metadata'],
};
