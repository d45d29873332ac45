import { createHash, randomBytes } from 'node:crypto';
import type { EntityManager } from '@mikro-orm/postgresql';
import { execute } from '../../db/sql';
import { type Clock, systemClock } from '../../lib/clock';
import { ErrorCode, HeraldError, badInput, notFound } from '../../lib/errors';
import { type Connection, type PageRequest, toConnection } from '../../lib/pagination';
import { ApplicationService } from '../applications/application.service';
import { ApiKeyEntity, ApiKeyKind } from './api-key.entity';
import { type AuditOrigin, apiKeySnapshot, recordAudit } from '../audit/audit.service';
import type { Principal } from './principal';
import type { VerifiedKey, VerifiedKeyCache } from './verified-key-cache';

/** `hk_` + 8 characters shown as the prefix + `_` + 43 characters (256 bits) of secret. */
const KEY_PATTERN = /^hk_([0-9a-z]{8})_([A-Za-z0-9_-]{43})$/;
const PREFIX_ALPHABET = '0123456789abcdefghijklmnopqrstuvwxyz';
const MAX_LIFETIME_MS = 10 * 365 * 86_400_000;
/** last_used_at is a hint for people, not an audit log: refreshed at most once a minute per key. */
const LAST_USED_RESOLUTION_MS = 60_000;

export interface CreateApiKey {
  name: string;
  /** Set: an application key for that application. Unset: an admin key. */
  applicationId?: string | null;
  expiresAt?: Date | null;
}

export function hashApiKey(key: string): string {
  return createHash('sha256').update(key).digest('hex');
}

function generateKey(): { key: string; prefix: string } {
  const prefixBytes = randomBytes(8);
  const prefixBody = [...prefixBytes].map((byte) => PREFIX_ALPHABET[byte % PREFIX_ALPHABET.length]).join('');
  const prefix = `hk_${prefixBody}`;
  return { key: `${prefix}_${randomBytes(32).toString('base64url')}`, prefix };
}

/**
 * API keys: random, shown once, stored as a SHA-256 hash (the keys carry 256 random bits, so a slow
 * password hash would add latency to every request without adding safety), named, listed by prefix,
 * revocable and expiring.
 */
export class ApiKeyService {
  private forked: EntityManager | undefined;

  constructor(
    /** An entity manager, or how to make one: authenticating a recently verified key needs none. */
    private readonly entityManager: EntityManager | (() => EntityManager),
    /** This process's recently verified keys: consulted by authenticate, evicted by revoke. */
    private readonly verifiedKeys?: VerifiedKeyCache,
    private readonly clock: Clock = systemClock,
    /** Who creates and revokes keys, for the audit log (the resolvers pass their scope); unset: Herald itself. */
    private readonly origin: AuditOrigin = {},
  ) {}

  private get em(): EntityManager {
    return (this.forked ??= typeof this.entityManager === 'function' ? this.entityManager() : this.entityManager);
  }

  async create(input: CreateApiKey, now: Date = this.clock.now()): Promise<{ apiKey: ApiKeyEntity; key: string }> {
    const name = input.name.trim();
    if (name.length < 1 || name.length > 200) throw badInput('An API key name must be 1 to 200 characters.', { field: 'name' });
    if (input.expiresAt) {
      const lifetime = input.expiresAt.getTime() - now.getTime();
      if (!(lifetime > 0) || lifetime > MAX_LIFETIME_MS) {
        throw badInput('"expiresAt" must be in the future and at most 10 years away; omit it for a key that does not expire.', {
          field: 'expiresAt',
        });
      }
    }
    const application = input.applicationId ? await new ApplicationService(this.em).resolve(input.applicationId) : null;
    const { key, prefix } = generateKey();
    const apiKey = this.em.create(ApiKeyEntity, {
      name,
      kind: application ? ApiKeyKind.APPLICATION : ApiKeyKind.ADMIN,
      application,
      prefix,
      keyHash: hashApiKey(key),
      expiresAt: input.expiresAt ?? null,
    });
    await this.em.transactional(async (em) => {
      // A transaction's fork carries the loaded entities, not the ones waiting to be inserted.
      em.persist(apiKey);
      await em.flush();
      await this.audit(em, 'api_key.created', apiKey, undefined);
    });
    return { apiKey, key };
  }

  async list(page: PageRequest): Promise<Connection<ApiKeyEntity>> {
    const rows = await this.em.find(ApiKeyEntity, page.afterId ? { id: { $lt: page.afterId } } : {}, {
      orderBy: { id: 'desc' },
      limit: page.limit + 1,
    });
    return toConnection(rows, page, (row) => row);
  }

  async find(id: string): Promise<ApiKeyEntity> {
    const apiKey = await this.em.findOne(ApiKeyEntity, { id });
    if (!apiKey) throw notFound('API key', id);
    return apiKey;
  }

  /** Revokes by id (`key_...`) or by prefix (`hk_1a2b3c4d`). Revoking twice keeps the first time. */
  async revoke(idOrPrefix: string, now: Date = this.clock.now()): Promise<ApiKeyEntity> {
    const apiKey = await this.em.findOne(ApiKeyEntity, idOrPrefix.startsWith('hk_') ? { prefix: idOrPrefix } : { id: idOrPrefix });
    if (!apiKey) throw notFound('API key', idOrPrefix);
    const before = apiKeySnapshot(apiKey);
    apiKey.revokedAt ??= now;
    await this.em.transactional(async (em) => {
      await em.flush();
      await this.audit(em, 'api_key.revoked', apiKey, before);
    });
    // Other processes hear of it from the table's trigger; this one forgets the key now.
    this.verifiedKeys?.evict(apiKey.id);
    return apiKey;
  }

  private async audit(em: EntityManager, action: string, apiKey: ApiKeyEntity, before: Record<string, unknown> | undefined): Promise<void> {
    await recordAudit(em, this.origin, {
      action,
      targetType: 'api_key',
      targetId: apiKey.id,
      applicationId: apiKey.application?.id ?? null,
      before,
      after: apiKeySnapshot(apiKey),
    });
  }

  /** The principal a presented key stands for; UNAUTHENTICATED, saying what to do, otherwise. */
  async authenticate(presented: string | null | undefined, now: Date = this.clock.now()): Promise<Principal> {
    return (await this.verify(presented, now)).principal;
  }

  /** As authenticate, with the key's expiry (epoch ms, or null when it does not expire). */
  async verify(
    presented: string | null | undefined,
    now: Date = this.clock.now(),
  ): Promise<{ principal: Principal; expiresAt: number | null }> {
    if (!presented) {
      throw unauthenticated(
        'This API needs an API key: send the header "Authorization: Bearer <key>" (over graphql-ws, in the connection_init payload).',
        'missing',
      );
    }
    if (!KEY_PATTERN.test(presented)) {
      throw unauthenticated(
        'The API key is malformed: it should look like hk_xxxxxxxx_... exactly as it was shown when created.',
        'malformed',
      );
    }
    const keyHash = hashApiKey(presented);
    const key = this.verifiedKeys?.lookup(keyHash) ?? (await this.lookUp(keyHash));
    if (key.expiresAt !== null && key.expiresAt <= now.getTime()) {
      throw unauthenticated('The API key has expired: create a new one (npx herald keys create --name <name>).', 'expired');
    }
    if (key.lastUsedAt === null || now.getTime() - key.lastUsedAt > LAST_USED_RESOLUTION_MS) {
      await execute(this.em, 'update api_keys set last_used_at = ? where id = ?', [now, key.principal.keyId]);
      key.lastUsedAt = now.getTime();
    }
    return { principal: key.principal, expiresAt: key.expiresAt };
  }

  /** The key with this hash from the database, remembered when valid; UNAUTHENTICATED when unknown or revoked. */
  private async lookUp(keyHash: string): Promise<VerifiedKey> {
    const version = this.verifiedKeys?.version();
    const [row] = await execute<{
      id: string;
      name: string;
      kind: ApiKeyKind;
      application_id: string | null;
      expires_at: string | Date | null;
      revoked_at: string | Date | null;
      last_used_at: string | Date | null;
    }>(this.em, 'select id, name, kind, application_id, expires_at, revoked_at, last_used_at from api_keys where key_hash = ?', [keyHash]);
    if (!row)
      throw unauthenticated(
        'The API key is not valid: check that it was copied whole, or create a new one (npx herald keys create --name <name>).',
        'unknown',
      );
    if (row.revoked_at)
      throw unauthenticated(
        'The API key has been revoked: use another key, or create a new one (npx herald keys create --name <name>).',
        'revoked',
      );
    const key: VerifiedKey = {
      principal: { keyId: row.id, name: row.name, kind: row.kind, applicationId: row.application_id },
      expiresAt: row.expires_at ? new Date(row.expires_at).getTime() : null,
      lastUsedAt: row.last_used_at ? new Date(row.last_used_at).getTime() : null,
    };
    if (version !== undefined) this.verifiedKeys?.remember(keyHash, key, version);
    return key;
  }

  /**
   * On first start (no key was ever created) makes the first admin key and returns it, once; returns
   * null otherwise. Serialised by an advisory lock, so processes starting together create one key.
   */
  async bootstrapAdminKey(): Promise<string | null> {
    return this.em.transactional(async (em) => {
      await execute(em, "select pg_advisory_xact_lock(hashtext('herald:bootstrap-admin-key'))");
      const [existing] = await execute(em, 'select 1 from api_keys limit 1');
      if (existing) return null;
      const { key } = await new ApiKeyService(em).create({ name: 'initial admin key' });
      return key;
    });
  }
}

/** Why a presented key was refused, for whoever must tell its open connections (not sent to clients). */
export type KeyRefusal = 'missing' | 'malformed' | 'unknown' | 'expired' | 'revoked';

/** UNAUTHENTICATED, with the reason as a typed field rather than only in the message. */
export class KeyRefusedError extends HeraldError {
  constructor(
    message: string,
    readonly refusal: KeyRefusal,
  ) {
    super(ErrorCode.UNAUTHENTICATED, message);
  }
}

function unauthenticated(message: string, refusal: KeyRefusal): KeyRefusedError {
  return new KeyRefusedError(message, refusal);
}
