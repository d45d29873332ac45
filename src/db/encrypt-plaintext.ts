import type { EntityManager } from '@mikro-orm/postgresql';
import type { SecretBox } from '../lib/encryption';
import { execute } from './sql';

/**
 * Encrypts every `secret` of `table` still stored in plain text (written before its encryption existed), each
 * under its row's context. Runs at start after migrating; idempotent, and safe with many processes starting at
 * once (row locks). `table` is one of ours, never input.
 */
export async function encryptPlaintextColumn(
  em: EntityManager,
  secrets: SecretBox,
  table: 'endpoints' | 'sources',
  contextOf: (id: string) => string,
): Promise<number> {
  return em.transactional(async (tx) => {
    const rows = await execute<{ id: string; secret: string }>(
      tx,
      `select id, secret from ${table} where secret not like 'enc:v1:%' for update`,
    );
    for (const row of rows) {
      await execute(tx, `update ${table} set secret = ? where id = ?`, [secrets.encrypt(row.secret, contextOf(row.id)), row.id]);
    }
    return rows.length;
  });
}
