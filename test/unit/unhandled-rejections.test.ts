import { describe, expect, it } from 'vitest';
import { createLogger } from '../../src/lib/logger';
import { isDatabaseOutageRejection, unhandledRejectionHandler } from '../../src/db/unhandled-rejections';

const dbError = (message: string, code?: string) => Object.assign(new Error(message), code ? { code } : {});

function handlerWithLines() {
  const lines: Array<{ level: number; msg: string }> = [];
  const logger = createLogger({
    level: 'info',
    pretty: false,
    destination: { write: (line: string) => void lines.push(JSON.parse(line)) },
  });
  let stops = 0;
  const handle = unhandledRejectionHandler(logger, () => void stops++);
  return { handle, lines, stops: () => stops };
}

describe('unhandled rejections: a database outage is carried on from, anything else stops Herald', () => {
  it('a database outage (graphile-worker completing a job while PostgreSQL restarts) is a warning, and Herald carries on', () => {
    const { handle, lines, stops } = handlerWithLines();
    handle(dbError('terminating connection due to administrator command', '57P01'));
    handle(dbError('Connection terminated unexpectedly'));
    handle(
      new AggregateError(
        [dbError('connect ECONNREFUSED 127.0.0.1:5432', 'ECONNREFUSED'), dbError('read ECONNRESET', 'ECONNRESET')],
        'Worker did not exit cleanly',
      ),
    );
    expect(stops()).toBe(0);
    expect(lines.map((line) => [line.level, line.msg])).toEqual(
      Array.from({ length: 3 }, () => [40, 'unhandled rejection during a database outage; carrying on']),
    );
  });

  it('any other rejection is logged as fatal and stops Herald', () => {
    const { handle, lines, stops } = handlerWithLines();
    handle(new TypeError("Cannot read properties of undefined (reading 'id')"));
    expect(stops()).toBe(1);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({ level: 60, msg: 'unhandled rejection: a bug; Herald stops' });
    expect(JSON.stringify(lines[0])).toContain("reading 'id'");
  });

  it('an AggregateError is an outage only when every error in it is one; a value that is not an error is a bug', () => {
    expect(isDatabaseOutageRejection(new AggregateError([dbError('x', '57P01'), dbError('deadlock detected', '40P01')]))).toBe(true);
    expect(isDatabaseOutageRejection(new AggregateError([dbError('x', '57P01'), new RangeError('bad')]))).toBe(false);
    expect(isDatabaseOutageRejection(new AggregateError([]))).toBe(false);
    expect(isDatabaseOutageRejection(dbError('duplicate key value violates unique constraint "x"', '23505'))).toBe(false);
    expect(isDatabaseOutageRejection(undefined)).toBe(false);
    expect(isDatabaseOutageRejection('Connection terminated')).toBe(false);
  });
});
