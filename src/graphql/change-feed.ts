import pg from 'pg';
import { type ChangeMessage, NOTIFY_CHANNEL } from '../db/sql';
import type { Logger } from '../lib/logger';
import type { VerifiedKeyCache } from '../modules/api-keys/verified-key-cache';
import { type HeraldPubSub, Topic } from './pubsub';

/**
 * Bridges PostgreSQL NOTIFY to this process's subscriptions, so a change committed by any process (a
 * worker on another machine included) reaches every subscriber. Reconnects on its own when the database
 * goes away.
 */
export class ChangeFeed {
  private client: pg.Client | null = null;
  private stopped = false;
  private retryTimer: NodeJS.Timeout | null = null;
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
    void this.connect(0);
    await this.connectedOnce;
  }

  get listening(): boolean {
    return this.client !== null;
  }

  private async connect(failures: number): Promise<void> {
    if (this.stopped) return;
    const client = new pg.Client({ connectionString: this.url });
    client.on('error', (error) => {
      this.logger.warn({ err: error }, 'change feed connection lost; reconnecting');
      this.reconnect(client, 0);
    });
    client.on('end', () => this.reconnect(client, 0));
    client.on('notification', (message) => this.dispatch(message.payload));
    try {
      await client.connect();
      await client.query(`listen ${NOTIFY_CHANNEL}`);
      this.client = client;
      this.verifiedKeys?.setChangesHeard(true);
      if (failures > 0) this.logger.info('change feed reconnected');
      this.resolveConnected();
    } catch (error) {
      this.logger.warn({ err: error, failures }, 'change feed could not connect; retrying');
      this.reconnect(client, failures + 1);
    }
  }

  private reconnect(client: pg.Client, failures: number): void {
    if (this.client === client) this.client = null;
    // Changes made while no one listens go unheard: nothing cached may be trusted until LISTEN is back.
    this.verifiedKeys?.setChangesHeard(false);
    client.removeAllListeners();
    client.on('error', () => undefined);
    void client.end().catch(() => undefined);
    if (this.stopped || this.retryTimer) return;
    const delay = Math.min(5000, 100 * 2 ** failures);
    this.retryTimer = setTimeout(() => {
      this.retryTimer = null;
      void this.connect(failures);
    }, delay);
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
    this.stopped = true;
    this.verifiedKeys?.setChangesHeard(false);
    if (this.retryTimer) clearTimeout(this.retryTimer);
    const client = this.client;
    this.client = null;
    if (client) {
      client.removeAllListeners();
      client.on('error', () => undefined);
      await client.end().catch(() => undefined);
    }
  }
}
