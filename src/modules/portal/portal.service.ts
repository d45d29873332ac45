import { createHash, randomBytes } from 'node:crypto';
import type { EntityManager } from '@mikro-orm/postgresql';
import { execute } from '../../db/sql';
import { type Clock, systemClock } from '../../lib/clock';
import { ErrorCode, HeraldError, badInput } from '../../lib/errors';
import { IdPrefix, newId } from '../../lib/ids';
import { ApplicationService } from '../applications/application.service';
import type { Principal } from '../api-keys/principal';
import { type AuditOrigin, recordAudit } from '../audit/audit.service';
import { PORTAL_CAPABILITIES, type PortalCapability } from './portal-capability';

/** Session lifetimes an admin may ask for: a minute to a day (default an hour). */
export const PORTAL_MIN_EXPIRES_IN_SECONDS = 60;
export const PORTAL_MAX_EXPIRES_IN_SECONDS = 86_400;
export const PORTAL_DEFAULT_EXPIRES_IN_SECONDS = 3600;
/** last_used_at is a hint for people: refreshed at most once a minute per session. */
const LAST_USED_RESOLUTION_MS = 60_000;
/** The one-time token in the URL, and the credential the page gets for it: 256 random bits each. */
const TOKEN_PATTERN = /^hpt_[A-Za-z0-9_-]{43}$/;
export const PORTAL_CREDENTIAL_PATTERN = /^hps_[A-Za-z0-9_-]{43}$/;

export interface PortalTheme {
  name: string | null;
  logoUrl: string | null;
  accentColor: string | null;
}

export interface PortalSession {
  id: string;
  applicationId: string;
  capabilities: PortalCapability[];
  theme: PortalTheme;
  expiresAt: Date;
  createdAt: Date;
  exchangedAt: Date | null;
  revokedAt: Date | null;
  lastUsedAt: Date | null;
}

export interface CreatePortalSession {
  applicationId: string;
  capabilities: PortalCapability[];
  expiresInSeconds?: number | null;
  theme?: Partial<PortalTheme> | null;
}

interface SessionRow {
  id: string;
  application_id: string;
  capabilities: string[];
  theme: Partial<PortalTheme>;
  expires_at: string | Date;
  created_at: string | Date;
  exchanged_at: string | Date | null;
  revoked_at: string | Date | null;
  last_used_at: string | Date | null;
}
const COLUMNS = 'id, application_id, capabilities, theme, expires_at, created_at, exchanged_at, revoked_at, last_used_at';

const sha256 = (secret: string) => createHash('sha256').update(secret).digest('hex');
const date = (value: string | Date | null): Date | null => (value === null ? null : new Date(value));

function toSession(row: SessionRow): PortalSession {
  return {
    id: row.id,
    applicationId: row.application_id,
    capabilities: row.capabilities.filter((c): c is PortalCapability => PORTAL_CAPABILITIES.includes(c as PortalCapability)),
    theme: { name: row.theme.name ?? null, logoUrl: row.theme.logoUrl ?? null, accentColor: row.theme.accentColor ?? null },
    expiresAt: date(row.expires_at)!,
    createdAt: date(row.created_at)!,
    exchangedAt: date(row.exchanged_at),
    revokedAt: date(row.revoked_at),
    lastUsedAt: date(row.last_used_at),
  };
}

/**
 * Customer portal sessions: an admin creates one for an application with a set of capabilities and gets a one-time
 * token; the portal page exchanges it once for a session credential it keeps in memory and sends as a bearer. Only
 * SHA-256 hashes of the token and the credential are stored (256 random bits each: a slow hash would add nothing).
 * Every request reads the session row (no cache), so a revocation or an expiry takes effect at once in every process.
 */
export class PortalService {
  constructor(
    private readonly em: EntityManager,
    private readonly clock: Clock = systemClock,
    /** Who creates and revokes sessions, for the audit log (the resolvers pass their scope); unset: Herald itself. */
    private readonly origin: AuditOrigin = {},
  ) {}

  async create(input: CreatePortalSession): Promise<{ session: PortalSession; token: string }> {
    const now = this.clock.now();
    const capabilities = [...new Set(input.capabilities)];
    if (capabilities.length === 0) throw badInput('Give at least one capability, for example ENDPOINTS_READ.', { field: 'capabilities' });
    const expiresIn = input.expiresInSeconds ?? PORTAL_DEFAULT_EXPIRES_IN_SECONDS;
    if (!Number.isInteger(expiresIn) || expiresIn < PORTAL_MIN_EXPIRES_IN_SECONDS || expiresIn > PORTAL_MAX_EXPIRES_IN_SECONDS) {
      throw badInput(`"expiresIn" must be ${PORTAL_MIN_EXPIRES_IN_SECONDS} to ${PORTAL_MAX_EXPIRES_IN_SECONDS} seconds (a day).`, {
        field: 'expiresIn',
      });
    }
    const theme = checkTheme(input.theme ?? {});
    const application = await new ApplicationService(this.em).resolve(input.applicationId);
    const token = `hpt_${randomBytes(32).toString('base64url')}`;
    return this.em.transactional(async (em) => {
      const [row] = await execute<SessionRow>(
        em,
        `insert into portal_sessions (id, application_id, token_hash, capabilities, theme, expires_at, created_at)
       values (?, ?, ?, ?::text[], ?::jsonb, ?, ?) returning ${COLUMNS}`,
        [
          newId(IdPrefix.portalSession, now.getTime()),
          application.id,
          sha256(token),
          `{${capabilities.join(',')}}`,
          JSON.stringify(theme),
          new Date(now.getTime() + expiresIn * 1000),
          now,
        ],
      );
      const session = toSession(row!);
      await recordAudit(em, this.origin, {
        action: 'portal_session.created',
        targetType: 'portal_session',
        targetId: session.id,
        applicationId: session.applicationId,
        after: session,
      });
      return { session, token };
    });
  }

  /** Ends every session of the application that has not ended yet; returns how many. */
  async revokeAll(applicationId: string): Promise<number> {
    const application = await new ApplicationService(this.em).resolve(applicationId);
    const now = this.clock.now();
    return this.em.transactional(async (em) => {
      const rows = await execute<{ id: string }>(
        em,
        'update portal_sessions set revoked_at = ? where application_id = ? and revoked_at is null and expires_at > ? returning id',
        [now, application.id, now],
      );
      // One entry per session ended, so each session's history is found by its id.
      await recordAudit(
        em,
        this.origin,
        rows.map((row) => ({
          action: 'portal_session.revoked',
          targetType: 'portal_session',
          targetId: row.id,
          applicationId: application.id,
          before: { revokedAt: null },
          after: { revokedAt: now },
        })),
      );
      return rows.length;
    });
  }

  /**
   * Trades the one-time token for a session credential. One statement marks the token used, so of two concurrent
   * exchanges one wins; a used, expired, revoked or unknown token gets nothing.
   */
  async exchange(presented: unknown): Promise<{ session: PortalSession; credential: string }> {
    if (typeof presented !== 'string' || !TOKEN_PATTERN.test(presented)) {
      throw new HeraldError(ErrorCode.UNAUTHENTICATED, 'The portal link is malformed: open the whole URL you were given.');
    }
    const now = this.clock.now();
    const credential = `hps_${randomBytes(32).toString('base64url')}`;
    const tokenHash = sha256(presented);
    const [row] = await execute<SessionRow>(
      this.em,
      `update portal_sessions set session_hash = ?, exchanged_at = ?, last_used_at = ?
       where token_hash = ? and exchanged_at is null and revoked_at is null and expires_at > ? returning ${COLUMNS}`,
      [sha256(credential), now, now, tokenHash, now],
    );
    if (row) return { session: toSession(row), credential };
    const [existing] = await execute<SessionRow>(this.em, `select ${COLUMNS} from portal_sessions where token_hash = ?`, [tokenHash]);
    if (existing) refuseEnded(toSession(existing), now);
    throw new HeraldError(
      ErrorCode.UNAUTHENTICATED,
      existing
        ? 'This portal link has already been used: links work once. Ask for a new one (reload the page that embeds the portal).'
        : 'This portal link is not valid: ask for a new one.',
    );
  }

  /** The principal a session credential stands for: its application and capabilities; refused once it has ended. */
  async authenticate(credential: string): Promise<Principal> {
    if (!PORTAL_CREDENTIAL_PATTERN.test(credential)) {
      throw new HeraldError(ErrorCode.UNAUTHENTICATED, 'The portal session credential is malformed.');
    }
    const now = this.clock.now();
    const [row] = await execute<SessionRow>(this.em, `select ${COLUMNS} from portal_sessions where session_hash = ?`, [sha256(credential)]);
    if (!row) throw new HeraldError(ErrorCode.UNAUTHENTICATED, 'The portal session is not valid: open a new portal link.');
    const session = toSession(row);
    refuseEnded(session, now);
    if (session.lastUsedAt === null || now.getTime() - session.lastUsedAt.getTime() > LAST_USED_RESOLUTION_MS) {
      await execute(this.em, 'update portal_sessions set last_used_at = ? where id = ?', [now, session.id]);
    }
    return {
      keyId: session.id,
      name: `portal session ${session.id}`,
      kind: 'PORTAL',
      applicationId: session.applicationId,
      portal: { sessionId: session.id, capabilities: session.capabilities },
    };
  }

  /** The session by id, within its application (for the session's own view of itself). */
  async find(id: string): Promise<PortalSession> {
    const [row] = await execute<SessionRow>(this.em, `select ${COLUMNS} from portal_sessions where id = ?`, [id]);
    if (!row) throw new HeraldError(ErrorCode.NOT_FOUND, `No portal session with id "${id}" exists.`, { id });
    return toSession(row);
  }
}

function refuseEnded(session: PortalSession, now: Date): void {
  if (session.revokedAt) {
    throw new HeraldError(ErrorCode.PORTAL_SESSION_REVOKED, 'This portal session has been revoked: ask for a new portal link.');
  }
  if (session.expiresAt.getTime() <= now.getTime()) {
    throw new HeraldError(ErrorCode.PORTAL_SESSION_EXPIRED, 'This portal session has expired: ask for a new portal link.');
  }
}

/** The theme as stored: a name, an https (or inline image) logo, a #rrggbb accent colour; each optional. */
function checkTheme(theme: Partial<PortalTheme>): PortalTheme {
  const name = theme.name?.trim() || null;
  if (name !== null && name.length > 100) throw badInput('theme.name must be at most 100 characters.', { field: 'theme.name' });
  const logoUrl = theme.logoUrl?.trim() || null;
  if (
    logoUrl !== null &&
    (logoUrl.length > 65_536 || !/^(https:\/\/[^\s"'<>]+|data:image\/(png|jpeg|gif|webp|svg\+xml);base64,[A-Za-z0-9+/=]+)$/.test(logoUrl))
  ) {
    throw badInput('theme.logoUrl must be an https:// URL or a data:image/...;base64 URL of at most 64 KiB.', { field: 'theme.logoUrl' });
  }
  const accentColor = theme.accentColor?.trim() || null;
  if (accentColor !== null && !/^#[0-9A-Fa-f]{6}$/.test(accentColor)) {
    throw badInput('theme.accentColor must be a colour such as #0a7cff.', { field: 'theme.accentColor' });
  }
  return { name, logoUrl, accentColor };
}
