import { badInput } from '../../lib/errors';

/** An event type; herald.publish_events checks the same pattern (a test holds the two together). */
export const EVENT_TYPE = /^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$/;
/** An event type's version, as events carry it and the catalog and version pins name it. */
export const EVENT_VERSION = /^[A-Za-z0-9._-]{1,32}$/;
const EVENT_TYPE_FILTER = /^(\*|[A-Za-z0-9*][A-Za-z0-9._:*-]{0,127})$/;

export function assertEventType(type: string, field = 'type'): void {
  if (!EVENT_TYPE.test(type)) {
    throw badInput(
      `"${truncate(type)}" is not a valid event type: use 1 to 128 letters, digits, ".", "_", ":" or "-", starting with a letter or digit (for example "order.created").`,
      { field },
    );
  }
}

export function assertEventTypeFilters(filters: string[], field = 'eventTypes'): void {
  if (filters.length > 100) throw badInput('An endpoint can have at most 100 event-type filters.', { field });
  for (const filter of filters) {
    if (!EVENT_TYPE_FILTER.test(filter)) {
      throw badInput(
        `"${truncate(filter)}" is not a valid event-type filter: use an event type, optionally with "*" wildcards (for example "order.*" or "*").`,
        { field },
      );
    }
  }
}

/** An endpoint with no filters receives every type; `*` matches any run of characters. */
export function matchesEventType(filters: readonly string[], type: string): boolean {
  if (filters.length === 0) return true;
  return filters.some((filter) => (filter.includes('*') ? globMatches(filter, type) : filter === type));
}

/** An endpoint pinned to a version of a type receives only that version of it; unpinned ones receive all. */
export function matchesVersionPin(pins: Readonly<Record<string, string>> | null | undefined, type: string, version: string): boolean {
  const pinned = pins?.[type];
  return pinned === undefined || pinned === version;
}

/**
 * Glob match where `*` is any run of characters and everything else is literal. It only ever backtracks
 * to the last `*`, so it is O(pattern x text) at worst; a regex built from the filter (`^a.*a.*a.*c$`)
 * backtracks exponentially, and a short filter could stall publishing for seconds.
 */
function globMatches(pattern: string, text: string): boolean {
  let p = 0;
  let t = 0;
  let star = -1;
  let starText = 0;
  while (t < text.length) {
    if (p < pattern.length && pattern[p] === '*') {
      star = p++;
      starText = t;
    } else if (p < pattern.length && pattern[p] === text[t]) {
      p++;
      t++;
    } else if (star !== -1) {
      p = star + 1;
      t = ++starText;
    } else {
      return false;
    }
  }
  while (pattern[p] === '*') p++;
  return p === pattern.length;
}

function truncate(text: string): string {
  return text.length > 60 ? `${text.slice(0, 60)}…` : text;
}
