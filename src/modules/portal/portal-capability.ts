/**
 * What a customer portal session may do. Each names a group of API operations (portal-policy.ts); a session holds a
 * set of them, chosen by the admin who created it, and the API refuses everything else.
 */
export enum PortalCapability {
  /** List and read the application's endpoints, and the event type catalog (to choose filters). */
  ENDPOINTS_READ = 'ENDPOINTS_READ',
  /** Register, edit (URL, filters, headers), enable, disable, delete endpoints and rotate their secrets. */
  ENDPOINTS_WRITE = 'ENDPOINTS_WRITE',
  /** See a signing secret, once: when an endpoint is registered or its secret rotated. */
  SECRETS_REVEAL = 'SECRETS_REVEAL',
  /** Send a `webhook.test` event to an endpoint. */
  SEND_TEST = 'SEND_TEST',
  /** Browse deliveries, their attempts and events. */
  DELIVERIES_READ = 'DELIVERIES_READ',
  /** Retry a delivery, replay dead letters. */
  DELIVERIES_RETRY = 'DELIVERIES_RETRY',
}

export const PORTAL_CAPABILITIES: readonly PortalCapability[] = Object.values(PortalCapability);
