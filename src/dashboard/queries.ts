export const APPLICATIONS = `query DashboardApplications { applications(page: { first: 100 }) { nodes { id name } } }`;

// Deliveries (each once, by its outcome now) for the headline figures; attempts only where they say so.
const METRICS_FIELDS = `
  deliveriesDelivered deliveriesDeadLettered deliveriesRetrying deliverySuccessRate attempts failedAttempts stepSeconds
  latency { p50Ms p95Ms p99Ms }
  throughput { at deliveriesDelivered deliveriesDeadLettered failedAttempts deliverySuccessRate p50Ms p95Ms }
  queue { pending scheduled oldestPendingAgeSeconds }
  endpoints { endpointId url enabled state deliverySuccessRate deliveriesDelivered deliveriesDeadLettered consecutiveFailures lastError disabledReason }`;

export const METRICS = `query DashboardMetrics($window: MetricsWindow, $applicationId: ID) {
  metrics(window: $window, applicationId: $applicationId) { ${METRICS_FIELDS} } }`;

export const METRICS_UPDATED = `subscription DashboardMetricsUpdated($window: MetricsWindow, $applicationId: ID) {
  metricsUpdated(window: $window, applicationId: $applicationId) { ${METRICS_FIELDS} } }`;

const FEED_DELIVERY_FIELDS = 'id eventId endpointId eventType status attemptCount lastStatusCode updatedAt';

export const DELIVERY_UPDATED = `subscription DashboardFeed($applicationId: ID) {
  deliveryUpdated(applicationId: $applicationId) {
    delivery { ${FEED_DELIVERY_FIELDS} }
    attempt { number responseStatus durationMs errorMessage attemptedAt }
  } }`;

/** The feed on load: the latest deliveries in scope, newest first, before live updates are prepended. */
export const RECENT_DELIVERIES = `query DashboardRecentDeliveries($applicationId: ID) {
  deliveries(filter: { applicationId: $applicationId }, page: { first: 20 }) {
    nodes { ${FEED_DELIVERY_FIELDS} lastAttemptAt lastError } } }`;

export const ENDPOINTS = `query DashboardEndpoints($applicationId: ID) {
  endpoints(filter: { applicationId: $applicationId }, page: { first: 100 }) {
    nodes { id url description eventTypes enabled disabledReason applicationId paused pendingDeliveries } } }`;

export const DEAD_LETTERS = `query DashboardDeadLetters($filter: DeliveryFilter, $after: String) {
  deadLetters(filter: $filter, page: { first: 100, after: $after }) {
    nodes { id eventId endpointId eventType attemptCount lastError lastStatusCode createdAt }
    pageInfo { hasNextPage endCursor } } }`;

export const RETRY = `mutation DashboardRetry($id: ID!) { retryDelivery(id: $id) { id status } }`;

const REPLAY_FIELDS = 'id status matched requeued error';
export const REPLAY = `mutation DashboardReplay($filter: ReplayDeadLettersInput!) {
  replayDeadLetters(filter: $filter) { ${REPLAY_FIELDS} } }`;
export const REPLAY_PROGRESS = `query DashboardReplayProgress($id: ID!) { replay(id: $id) { ${REPLAY_FIELDS} } }`;
export const REPLAY_UPDATED = `subscription DashboardReplayUpdated($id: ID!) { replayUpdated(id: $id) { ${REPLAY_FIELDS} } }`;

export const EVENT = `query DashboardEvent($id: ID!) {
  event(id: $id) {
    id type version createdAt data
    deliveries {
      id endpointId status attemptCount
      endpoint { url }
      attempts { number attemptedAt url requestHeaders responseStatus responseBody responseBodyTruncated durationMs errorKind errorMessage }
    } } }`;

export const REGISTER = `mutation DashboardRegister($input: RegisterEndpointInput!) {
  registerEndpoint(input: $input) { secret endpoint { id url } } }`;
export const UPDATE = `mutation DashboardUpdate($id: ID!, $input: UpdateEndpointInput!) { updateEndpoint(id: $id, input: $input) { id eventTypes } }`;
export const DISABLE = `mutation DashboardDisable($id: ID!) { disableEndpoint(id: $id, reason: "Disabled from the dashboard") { id enabled } }`;
export const ENABLE = `mutation DashboardEnable($id: ID!) { enableEndpoint(id: $id) { id enabled } }`;
export const PAUSE = `mutation DashboardPause($id: ID!) { pauseEndpoint(id: $id) { id paused } }`;
export const RESUME = `mutation DashboardResume($id: ID!) { resumeEndpoint(id: $id) { id paused } }`;
export const ROTATE = `mutation DashboardRotate($id: ID!) { rotateEndpointSecret(id: $id) { secret endpoint { id } } }`;
export const SEND_TEST = `mutation DashboardSendTest($endpointId: ID!) { sendTestEvent(endpointId: $endpointId) { id eventId } }`;
