import { $ } from './dom';
import type { FirstLoad } from './main';

/** Where the signed-in key is kept: this tab only, gone when it closes. */
export const KEY_STORAGE = 'herald.apiKey';

/** What first-paint.ts asked for: answers boot.ts reads instead of asking again. */
export interface SentFirst {
  key: string;
  window: string;
  metrics: FirstLoad['metrics'];
  applications: Promise<{ applications: { nodes: Array<{ id: string; name: string }> } }>;
  endpoints: FirstLoad['endpoints'];
}

declare global {
  interface Window {
    heraldFirstLoad?: SentFirst;
  }
}

export function showApp(): void {
  $('login').hidden = true;
  $('app').hidden = false;
}
