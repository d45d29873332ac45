import crypto from 'node:crypto';
import type { Server } from 'node:http';
import axios from 'axios';
import Bull from 'bull';
import express from 'express';
import pg from 'pg';

/**
 * The webhook service people build without Herald, the common Node.js design, kept faithful on purpose:
 * express + Bull on Redis + axios; publishing looks the subscribers up and adds one Bull job per endpoint
 * per event, awaited one after the other; each job has 5 attempts with exponential backoff from 2 s; the
 * signature is the hex HMAC-SHA256 of JSON.stringify(event); a successful delivery writes its record to
 * PostgreSQL; the fifth failure writes a dead letter. The design usually keeps its subscriptions and
 * delivery records in MongoDB-style models; here they are plain tables in PostgreSQL (the same server
 * Herald uses). Two more deviations: a plain `queue.process(handler)` runs one job at a time, while here the
 * concurrency is a parameter (the harness gives it Herald's WORKER_CONCURRENCY), so the comparison is not
 * lopsided; and event ids get a random suffix (below).
 */
export interface BaselineOptions {
  port: number;
  databaseUrl: string;
  redis: { host: string; port: number };
  queueName: string;
  concurrency: number;
}

export interface BaselineHandle {
  url: string;
  stop(): Promise<void>;
}

interface WebhookSubscription {
  id: string;
  url: string;
  events: string[];
  secret: string;
  active: boolean;
  failureCount: number;
}

interface WebhookEvent {
  id: string;
  timestamp: string;
  event: string;
  version: string;
  data: unknown;
  attempt: number;
  retryable: boolean;
}

const SCHEMA = `
create table if not exists webhook_subscriptions (
  id text primary key, url text not null, events text[] not null, secret text not null,
  active boolean not null default true, failure_count integer not null default 0, created_at timestamptz not null default now());
create table if not exists webhook_deliveries (
  id bigserial primary key, webhook_id text not null, event_id text not null, status text not null,
  status_code integer, delivered_at timestamptz not null);
create table if not exists dead_letter_queue (
  id bigserial primary key, webhook_id text not null, event_id text not null, event jsonb not null,
  error text not null, failed_at timestamptz not null);`;

const generateSignature = (payload: unknown, secret: string) =>
  crypto.createHmac('sha256', secret).update(JSON.stringify(payload)).digest('hex');

export async function startBaseline(options: BaselineOptions): Promise<BaselineHandle> {
  const db = new pg.Pool({ connectionString: options.databaseUrl, max: 10 });
  db.on('error', () => undefined);
  await db.query(SCHEMA);
  const webhookQueue = new Bull<{ webhook: WebhookSubscription; event: WebhookEvent }>(options.queueName, { redis: options.redis });

  const app = express();
  app.use(express.json({ limit: '1mb' }));
  app.get('/healthz', (_req, res) => {
    res.json({ status: 'ok' });
  });

  app.post('/api/webhooks/subscribe', async (req, res) => {
    const { url, events, secret } = req.body as { url?: string; events?: string[]; secret?: string };
    try {
      new URL(url ?? '');
    } catch {
      res.status(400).json({ error: 'Invalid URL' });
      return;
    }
    const webhook = {
      id: crypto.randomBytes(16).toString('hex'),
      url: url!,
      events: events ?? [],
      secret: secret || crypto.randomBytes(32).toString('hex'),
    };
    await db.query('insert into webhook_subscriptions (id, url, events, secret) values ($1, $2, $3, $4)', [
      webhook.id,
      webhook.url,
      webhook.events,
      webhook.secret,
    ]);
    res.status(201).json({ id: webhook.id, secret: webhook.secret, message: 'Webhook registered successfully' });
  });

  const sendWebhookEvent = async (eventType: string, data: unknown) => {
    const { rows } = await db.query<{ id: string; url: string; events: string[]; secret: string; active: boolean; failure_count: number }>(
      'select * from webhook_subscriptions where $1 = any(events) and active',
      [eventType],
    );
    for (const row of rows) {
      const webhook: WebhookSubscription = { ...row, failureCount: row.failure_count };
      const event: WebhookEvent = {
        // The design's `evt_${Date.now()}` collides under load; a random suffix keeps ids unique.
        id: `evt_${Date.now()}_${crypto.randomBytes(4).toString('hex')}`,
        timestamp: new Date().toISOString(),
        event: eventType,
        version: '1.0',
        data,
        attempt: 1,
        retryable: true,
      };
      await webhookQueue.add({ webhook, event }, { attempts: 5, backoff: { type: 'exponential', delay: 2000 }, removeOnComplete: true });
    }
  };

  // The design's "event trigger" route, with the event type and data in the body.
  app.post('/api/events', async (req, res) => {
    const { type, data } = req.body as { type?: string; data?: unknown };
    if (!type) {
      res.status(400).json({ error: 'type is required' });
      return;
    }
    try {
      await sendWebhookEvent(type, data);
      res.status(201).json({ queued: true });
    } catch (error) {
      res.status(500).json({ error: (error as Error).message });
    }
  });

  void webhookQueue.process(options.concurrency, async (job) => {
    const { webhook, event } = job.data;
    try {
      const signature = generateSignature(event, webhook.secret);
      const response = await axios.post(webhook.url, event, {
        headers: {
          'Content-Type': 'application/json',
          'X-Webhook-Signature': signature,
          'X-Webhook-ID': event.id,
          'X-Webhook-Attempt': event.attempt,
        },
        timeout: 10000,
      });
      if (response.status >= 200 && response.status < 300) {
        await db.query(
          'insert into webhook_deliveries (webhook_id, event_id, status, status_code, delivered_at) values ($1, $2, $3, $4, $5)',
          [webhook.id, event.id, 'delivered', response.status, new Date()],
        );
        return;
      }
      throw new Error(`HTTP ${response.status}`);
    } catch (error) {
      if (job.attemptsMade < 5) throw error;
      await db.query('insert into dead_letter_queue (webhook_id, event_id, event, error, failed_at) values ($1, $2, $3, $4, $5)', [
        webhook.id,
        event.id,
        JSON.stringify(event),
        (error as Error).message,
        new Date(),
      ]);
      await db.query(
        'update webhook_subscriptions set failure_count = failure_count + 1, active = (failure_count + 1 < 10) where id = $1',
        [webhook.id],
      );
    }
  });

  const server = await new Promise<Server>((resolve) => {
    const listening = app.listen(options.port, '127.0.0.1', () => resolve(listening));
  });
  return {
    url: `http://127.0.0.1:${options.port}`,
    stop: async () => {
      await new Promise((resolve) => server.close(resolve));
      await webhookQueue.close();
      // Leave nothing of this run behind in a Redis shared with others: only this queue's keys go.
      const cleanup = new Bull(options.queueName, { redis: options.redis });
      await cleanup.obliterate({ force: true }).catch(() => undefined);
      await cleanup.close();
      await db.end();
    },
  };
}
