// Every style sheet in the first one (the charts' too, 2 kB): the lazily loaded code waits for none.
import 'uplot/dist/uPlot.min.css';
import './style.css';
import { $ } from './dom';
import { KEY_STORAGE, type SentFirst, showApp } from './first-load';
import { ApiError, graphqlRequest } from './http';
import type { FirstLoad } from './main';
import * as Q from './queries';
import { showSummary } from './summary';

/**
 * The page's first module script, kept small: it has the applications, the metrics and the endpoints
 * asked for at once (with a key saved in this tab, first-paint.ts, inlined in the page, has already
 * sent them and may have shown the numbers), shows the summary numbers as soon as the metrics answer,
 * then loads the rest of the dashboard (charts, live feed, management), which takes over.
 */

/** first-paint.ts's requests, used once, and only if they were sent with this key for this window. */
function takeSentFirst(apiKey: string, chosenWindow: string): SentFirst | undefined {
  const sent = window.heraldFirstLoad;
  delete window.heraldFirstLoad;
  return sent && sent.key === apiKey && sent.window === chosenWindow ? sent : undefined;
}

let stopDashboard: (() => void) | null = null;

async function signIn(apiKey: string): Promise<void> {
  const request = <T>(query: string, variables: Record<string, unknown> = {}) => graphqlRequest<T>(apiKey, query, variables);
  const chosenWindow = $<HTMLSelectElement>('window-select').value;
  const sent = takeSentFirst(apiKey, chosenWindow);
  const first: FirstLoad = {
    window: chosenWindow,
    metrics: sent ? sent.metrics : request(Q.METRICS, { window: chosenWindow, applicationId: null }),
    endpoints: sent ? sent.endpoints : request(Q.ENDPOINTS, { applicationId: null }),
  };
  const applications: SentFirst['applications'] = sent ? sent.applications : request(Q.APPLICATIONS);
  // An answer means the key was accepted; a refusal surfaces through the applications request below.
  const shown = first.metrics.then(({ metrics }) => {
    showApp();
    showSummary(metrics);
  }, ignore);
  // The rest of the dashboard's code is fetched and run once the first numbers are on screen: compiling
  // it sooner holds up the main thread just when the metrics answer arrives.
  const dashboard = shown.then(() => import('./main'));
  first.endpoints.catch(ignore);
  dashboard.catch(ignore);
  const { applications: visible } = await applications;
  sessionStorage.setItem(KEY_STORAGE, apiKey);
  showApp();
  const started = (await dashboard).startDashboard(apiKey, visible.nodes, first);
  stopDashboard = started.stop;
  await started.started;
}

function ignore(): void {}

function showLogin(message = ''): void {
  $('app').hidden = true;
  $('login').hidden = false;
  $('login-error').textContent = message;
}

function refusal(error: unknown): string {
  const code = error instanceof ApiError ? error.code : undefined;
  return code === 'UNAUTHENTICATED' || code === 'FORBIDDEN'
    ? 'That key was not accepted.'
    : `Sign-in failed: ${error instanceof Error ? error.message : String(error)}`;
}

$('sign-out').onclick = () => {
  stopDashboard?.();
  sessionStorage.removeItem(KEY_STORAGE);
  location.reload();
};

$<HTMLFormElement>('login-form').onsubmit = (event) => {
  event.preventDefault();
  signIn($<HTMLInputElement>('api-key').value.trim()).catch((error: unknown) => showLogin(refusal(error)));
};

const saved = sessionStorage.getItem(KEY_STORAGE);
if (saved) signIn(saved).catch(() => showLogin('Your saved key was not accepted; sign in again.'));
else showLogin();
