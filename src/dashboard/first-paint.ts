import { $ } from './dom';
import { KEY_STORAGE, showApp } from './first-load';
import { graphqlAnswer } from './http';
import * as Q from './queries';
import { type Metrics, showSummary } from './summary';

/**
 * Inlined into index.html at build time (vite.config.mts) at the end of <body>, so it runs as soon as
 * the page is parsed, long before the page's module scripts have loaded: with a key saved in this tab
 * it asks for the metrics, shows the summary numbers the moment they answer, then asks for the
 * applications and the endpoints. boot.ts takes the answers over from there.
 */
function sendFirstRequests(): void {
  let key: string | null;
  try {
    key = sessionStorage.getItem(KEY_STORAGE);
  } catch {
    // No storage (a sandboxed frame, say): boot.ts asks for everything itself.
    return;
  }
  if (!key) return;
  const chosenWindow = $<HTMLSelectElement>('window-select').value;
  const ask = <T>(query: string, variables: Record<string, unknown>): Promise<T> => {
    const answer = graphqlAnswer<T>(
      fetch('/graphql', {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${key}` },
        body: JSON.stringify({ query, variables }),
      }),
    );
    // Refusals are boot.ts's to report; no unhandled rejection meanwhile.
    answer.catch(() => undefined);
    return answer;
  };
  const metrics = ask<{ metrics: Metrics }>(Q.METRICS, { window: chosenWindow, applicationId: null });
  performance.mark('herald:first-requests-sent');
  // The rest is asked for once the metrics have answered, so the server works on those alone first;
  // the dashboard's code, still loading, needs the rest no sooner.
  const metricsSettled = metrics.then(
    (answer) => {
      showApp();
      showSummary(answer.metrics);
    },
    () => undefined,
  );
  window.heraldFirstLoad = {
    key,
    window: chosenWindow,
    metrics,
    applications: metricsSettled.then(() => ask(Q.APPLICATIONS, {})),
    endpoints: metricsSettled.then(() => ask(Q.ENDPOINTS, { applicationId: null })),
  };
}

sendFirstRequests();
