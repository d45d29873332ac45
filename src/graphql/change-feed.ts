import pg from 'pg';
import { type ChangeMessage, NOTIFY_CHANNEL } from '../db/sql';
import type { Logger } from '../lib/logger';
import { retry } from '../lib/retry';
import type { VerifiedKeyCache } from '../modules/api-keys/verified-key-cache';
import { type HeraldPubSub, Topic } from './pubsub';

/**
 * Bridges PostgreSQL NOTIFY to this process's subscriptions, so a change committed by any process (a
 * worker on another machine included) reaches every subscriber. Reconnects on its own when the database
 * goes away.
 */
export class ChangeFeed {
  private client: pg.Client | null = null;
  private readonly stopping = new AbortController();
  /** Set while a (re)connection is being made, so a lost connection starts at most one. */
  private connecting: Promise<void> | null = null;
  private connectedOnce: Promise<void>;
  private resolveConnected!: () => void;

  constructor(
    private readonly url: string,
    private readonly pubSub: HeraldPubSub,
    private readonly logger: Logger,
    /** Told of every API key change, and of whether changes are being heard at all. */
    private readonly verifiedKeys?: VerifiedKeyCache,
  ) {
    this.connectedOnce = new Promise((resolve) => (this.resolveConnected = resolve));
  }

  /** Resolves once LISTEN is in place, so nothing committed after start is missed. */
  async start(): Promise<void> {
    this.listen(false);
    await this.connectedOnce;
  }

  get listening(): boolean {
    return this.client !== null;
  }

  /** Connects and LISTENs, retrying with backoff (0.1 s doubling to 5 s) until it succeeds or the feed stops. */
  private listen(afterLoss: boolean): void {
    if (this.stopping.signal.aborted || this.connecting) return;
    let failures = 0;
    this.connecting = retry(() => this.connect(failures), {
      initialDelayMs: 100,
      maxDelayMs: 5000,
      delayFirstAttempt: afterLoss,
      signal: this.stopping.signal,
      onRetry: ({ error }) => this.logger.warn({ err: error, failures: failures++ }, 'change feed could not connect; retrying'),
    })
      // Only stop() ends the retries: nothing to report.
      .catch(() => undefined)
      .finally(() => (this.connecting = null));
  }

  private async connect(failures: number): Promise<void> {
    const client = new pg.Client({ connectionString: this.url });
    client.on('error', (error) => {
      this.logger.warn({ err: error }, 'change feed connection lost; reconnecting');
      this.lost(client);
    });
    client.on('end', () => this.lost(client));
    client.on('notification', (message) => this.dispatch(message.payload));
    try {
      await client.connect();
      await client.query(`listen ${NOTIFY_CHANNEL}`);
    } catch (error) {
      this.close(client);
      throw error;
    }
    if (this.stopping.signal.aborted) {
      this.close(client);
      return;
    }
    this.client = client;
    this.verifiedKeys?.setChangesHeard(true);
    if (failures > 0) this.logger.info('change feed reconnected');
    this.resolveConnected();
  }

  private lost(client: pg.Client): void {
    this.close(client);
    this.listen(true);
  }

  private close(client: pg.Client): void {
    if (this.client === client) this.client = null;
    // Changes made while no one listens go unheard: nothing cached may be trusted until LISTEN is back.
    this.verifiedKeys?.setChangesHeard(false);
    client.removeAllListeners();
    client.on('error', () => undefined);
    void client.end().catch(() => undefined);
  }

  private dispatch(payload: string | undefined): void {
    if (!payload) return;
    let message: ChangeMessage;
    try {
      message = JSON.parse(payload) as ChangeMessage;
    } catch {
      this.logger.warn('ignored a malformed change notification');
      return;
    }
    if (message.kind === 'delivery') this.pubSub.publish(Topic.DELIVERY, message);
    else if (message.kind === 'event') this.pubSub.publish(Topic.EVENT, message);
    else if (message.kind === 'endpoint') this.pubSub.publish(Topic.ENDPOINT, message);
    else if (message.kind === 'replay') this.pubSub.publish(Topic.REPLAY, message);
    else if (message.kind === 'api-key') this.verifiedKeys?.evict(message.keyId);
  }

  async stop(): Promise<void> {
    this.stopping.abort();
    this.verifiedKeys?.setChangesHeard(false);
    const client = this.client;
    this.client = null;
    if (client) {
      client.removeAllListeners();
      client.on('error', () => undefined);
      await client.end().catch(() => undefined);
    }
  }
}
