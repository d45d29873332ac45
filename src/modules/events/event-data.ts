/**
 * Checks on an event's data that keep what is stored equal to what was meant: `data` arrives as a parsed JSON value
 * (numbers already doubles), `dataJson` as the publisher's JSON text, which is stored and delivered byte for byte.
 */

/** A JSON path segment after `path`: `.name` for an identifier-like key, `["..."]` otherwise. */
function member(path: string, key: string): string {
  return /^[A-Za-z_$][A-Za-z0-9_$]*$/.test(key) ? `${path}.${key}` : `${path}[${JSON.stringify(key)}]`;
}

/**
 * The first number in a parsed JSON value that cannot be what was sent: an integer beyond ±(2^53−1) (its digits
 * were rounded when it was parsed, 12345678901234567890 became 12345678901234567000) or one too large for a double
 * (1e400 became Infinity, which JSON.stringify writes as null). Other numbers, fractions included, are kept as
 * their value (not their spelling: 1.0 is 1). Null when there is none.
 */
export function findInexactNumber(value: unknown, path: string): { path: string; value: number } | null {
  if (typeof value === 'number') {
    const inexact = !Number.isFinite(value) || (Number.isInteger(value) && !Number.isSafeInteger(value));
    return inexact ? { path, value } : null;
  }
  if (value === null || typeof value !== 'object') return null;
  if (Array.isArray(value)) {
    for (let index = 0; index < value.length; index++) {
      const found = findInexactNumber(value[index], `${path}[${index}]`);
      if (found) return found;
    }
    return null;
  }
  for (const key of Object.keys(value)) {
    const found = findInexactNumber((value as Record<string, unknown>)[key], member(path, key));
    if (found) return found;
  }
  return null;
}

interface Frame {
  /** An object's keys so far; null for an array. */
  keys: Set<string> | null;
  path: string;
  /** The array index of the current element. */
  index: number;
  /** The object key of the current member. */
  key: string;
  /** The next string of an object is a key (after `{` or `,`). */
  expectKey: boolean;
}

/**
 * The first key that appears twice in one object of a JSON text (which JSON.parse would silently collapse, keeping
 * the last), with the path of that object; null when every object's keys are distinct. `json` must be valid JSON
 * (JSON.parse accepted it): only the structure is scanned.
 */
export function findDuplicateKey(json: string, root: string): { key: string; path: string } | null {
  const stack: Frame[] = [];
  const childPath = (): string => {
    const top = stack[stack.length - 1];
    if (!top) return root;
    return top.keys ? member(top.path, top.key) : `${top.path}[${top.index}]`;
  };
  for (let i = 0; i < json.length; i++) {
    const char = json.charCodeAt(i);
    if (char === 0x7b /* { */) stack.push({ keys: new Set(), path: childPath(), index: 0, key: '', expectKey: true });
    else if (char === 0x5b /* [ */) stack.push({ keys: null, path: childPath(), index: 0, key: '', expectKey: false });
    else if (char === 0x7d /* } */ || char === 0x5d /* ] */) stack.pop();
    else if (char === 0x2c /* , */) {
      const top = stack[stack.length - 1]!;
      if (top.keys) top.expectKey = true;
      else top.index++;
    } else if (char === 0x22 /* " */) {
      let end = i + 1;
      let escaped = false;
      for (let c = json.charCodeAt(end); c !== 0x22; c = json.charCodeAt(end)) {
        if (c === 0x5c /* \ */) {
          escaped = true;
          end += 2;
        } else end++;
      }
      const top = stack[stack.length - 1];
      if (top?.keys && top.expectKey) {
        const key = escaped ? (JSON.parse(json.slice(i, end + 1)) as string) : json.slice(i + 1, end);
        if (top.keys.has(key)) return { key, path: top.path };
        top.keys.add(key);
        top.key = key;
        top.expectKey = false;
      }
      i = end;
    }
  }
  return null;
}

/** The index of the first UTF-16 surrogate without its pair (no UTF-8 encoding exists for it), or -1. */
export function loneSurrogateAt(text: string): number {
  const match = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/.exec(text);
  return match ? match.index : -1;
}
