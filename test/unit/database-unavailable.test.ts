import 'reflect-metadata';
import { GraphQLError } from 'graphql';
import { describe, expect, it } from 'vitest';
import {
  databaseFailureToldOnlyInText,
  isTransientDatabaseError,
  isUnstorableTextError,
  rerunOnConflict,
} from '../../src/db/database-errors';
import { createErrorFormatter, isDatabaseOutage } from '../../src/graphql/errors';
import { HeraldError } from '../../src/lib/errors';
import { createLogger } from '../../src/lib/logger';

/** An error as pg, node's net or knex raise it: a message and, mostly, a code. */
const dbError = (message: string, code?: string) => Object.assign(new Error(message), code ? { code } : {});

/** What the API answers and logs for a failed operation, the way Apollo hands the error to the formatter. */
function format(error: Error, options: { path?: string[] } = {}) {
  const lines: string[] = [];
  const formatter = createErrorFormatter(
    createLogger({ level: 'debug', pretty: false, destination: { write: (line) => lines.push(line) } }),
  );
  // A resolver's error carries its path; context creation's is wrapped, pathless, with Apollo's prefix.
  const wrapped = options.path
    ? new GraphQLError(error.message, { path: options.path, originalError: error })
    : new GraphQLError(`Context creation failed: ${error.message}`, { originalError: error });
  return { formatted: formatter({ ...wrapped.toJSON(), extensions: { code: 'INTERNAL_SERVER_ERROR' } }, wrapped), lines };
}

describe('a database outage is SERVICE_UNAVAILABLE, whatever form the failure takes', () => {
  const outages = [
    dbError('connect ECONNREFUSED 127.0.0.1:5432', 'ECONNREFUSED'),
    dbError('read ECONNRESET', 'ECONNRESET'),
    dbError('Connection terminated unexpectedly'),
    dbError('terminating connection due to administrator command', '57P01'),
    dbError('terminating connection because of crash of another server process', '57P02'),
    dbError('the database system is starting up', '57P03'),
    dbError('the database system is shutting down', '57P03'),
    dbError('connection failure', '08006'),
    dbError('database "herald" is not currently accepting connections', '55000'),
  ];

  it.each(outages.map((error) => [error.message, error]))('%s: 503-worthy, no address in the answer', (_message, error) => {
    expect(isDatabaseOutage(error)).toBe(true);
    expect(isTransientDatabaseError(error)).toBe(true);
    for (const path of [undefined, ['publishEvent']]) {
      const { formatted, lines } = format(error, { path });
      expect(formatted.extensions).toEqual({ code: 'SERVICE_UNAVAILABLE', retryAfterSeconds: 5 });
      expect(formatted.message).toMatch(/database is unavailable.*retry/i);
      expect(JSON.stringify(formatted)).not.toMatch(/127\.0\.0\.1|5432|ECONN|Context creation failed|"herald"/);
      // The formatter sees each error of an operation: the one outage line is written where the operation ends.
      expect(lines).toEqual([]);
    }
  });

  it('input and logic errors are not outages', () => {
    expect(isDatabaseOutage(dbError('duplicate key value violates unique constraint "x"', '23505'))).toBe(false);
    expect(isDatabaseOutage(dbError('invalid input syntax for type uuid: "x"', '22P02'))).toBe(false);
    // PostgreSQL refuses a NUL character in a text parameter as a protocol violation: the input's fault.
    const nul = dbError('invalid message format', '08P01');
    expect(isDatabaseOutage(nul)).toBe(false);
    expect(format(nul, { path: ['publishEvent'] }).formatted.extensions).toEqual({ code: 'BAD_USER_INPUT' });
    expect(isDatabaseOutage(new HeraldError('UNAUTHENTICATED', 'The API key is not valid.'))).toBe(false);
    const unexpected = format(dbError('column "x" does not exist', '42703'), { path: ['publishEvent'] });
    expect(unexpected.formatted.extensions).toEqual({ code: 'INTERNAL_SERVER_ERROR' });
    expect(unexpected.lines).toHaveLength(1);
  });

  it('the delivery executor also waits out a deadlock or a serialization failure, which are not outages', () => {
    for (const code of ['40P01', '40001']) {
      expect(isTransientDatabaseError(dbError('deadlock detected', code))).toBe(true);
      expect(isDatabaseOutage(dbError('deadlock detected', code))).toBe(false);
    }
    expect(isTransientDatabaseError(dbError('duplicate key value violates unique constraint "x"', '23505'))).toBe(false);
  });
});

describe('the database failures libraries report only in text', () => {
  it.each([
    ['Connection terminated unexpectedly', 'unavailable'],
    ['Connection terminated due to connection timeout', 'unavailable'],
    ['Client has encountered a connection error and is not queryable', 'unavailable'],
    ['timeout exceeded when trying to connect', 'unavailable'],
    ['Error occurred whilst returning jobs from local queue to database queue: read ECONNRESET', 'unavailable'],
    ['database "herald" is not currently accepting connections', 'unavailable'],
    ['Knex: Timeout acquiring a connection. The pool is probably full. Are you missing a .transacting(trx) call?', 'pool_exhausted'],
    ['column "x" does not exist', null],
  ])('%s: %s', (message, kind) => {
    expect(databaseFailureToldOnlyInText(message)).toBe(kind);
  });

  it('a NUL character is told by its SQLSTATE alone, whatever the message says', () => {
    expect(isUnstorableTextError(dbError('invalid message format', '08P01'))).toBe(true);
    expect(isUnstorableTextError(dbError('unsupported Unicode escape sequence', '22P05'))).toBe(true);
    expect(isUnstorableTextError(dbError('connection failure', '08006'))).toBe(false);
  });
});

describe('a deadlock or a serialization failure: run again, and if it persists, ours and retryable, not INTERNAL', () => {
  it('reruns a unit of work that lost a deadlock or a serialization check, and nothing else', async () => {
    let calls = 0;
    const conflicted = await rerunOnConflict(async () => {
      calls += 1;
      if (calls === 1) throw dbError('deadlock detected', '40P01');
      if (calls === 2) throw dbError('could not serialize access due to concurrent update', '40001');
      return 'written';
    });
    expect({ conflicted, calls }).toEqual({ conflicted: 'written', calls: 3 });

    let uniqueCalls = 0;
    const unique = rerunOnConflict(async () => {
      uniqueCalls += 1;
      throw dbError('duplicate key value violates unique constraint', '23505');
    });
    await expect(unique).rejects.toMatchObject({ code: '23505' });
    expect(uniqueCalls).toBe(1);
  });

  it('answers a conflict that escaped with SERVICE_UNAVAILABLE and a retry hint, logging nothing as unexpected', () => {
    for (const error of [dbError('deadlock detected', '40P01'), dbError('could not serialize access', '40001')]) {
      const { formatted, lines } = format(error, { path: ['publishEvent'] });
      expect(formatted.extensions).toEqual({ code: 'SERVICE_UNAVAILABLE', retryAfterSeconds: 1 });
      expect(formatted.message).toMatch(/nothing of it was written: retry it/);
      expect(lines.filter((line) => line.includes('unexpected error'))).toEqual([]);
    }
  });
});
