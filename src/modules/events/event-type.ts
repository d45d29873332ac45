import { badInput } from '../../lib/errors';

const EVENT_TYPE = /^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$/;
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
  return filters.some((filter) => {
    if (!filter.includes('*')) return filter === type;
    const pattern = filter.split('*').map(escapeRegExp).join('.*');
    return new RegExp(`^${pattern}$`).test(type);
  });
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

function truncate(text: string): string {
  return text.length > 60 ? `${text.slice(0, 60)}…` : text;
}
