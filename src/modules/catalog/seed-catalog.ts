/**
 * The ten standard event types of the seed design, shipped as Herald's starting catalog (version "1.0",
 * the version every event gets when none is given). Each schema requires the type's identifying field
 * and checks the type and format of every documented field that is present; extra fields are allowed, so
 * producers can add to a payload without a new version. The migration inserts them; changing this file later
 * changes nothing in an existing database, so treat it as append-only like the migrations.
 */
export interface SeedEventType {
  name: string;
  description: string;
  version: string;
  schema: Record<string, unknown>;
  example: Record<string, unknown>;
}

const money = { type: 'number', minimum: 0 };
const currency = { type: 'string', pattern: '^[A-Z]{3}$', description: 'ISO 4217 code, for example "USD".' };
const timestamp = { type: 'string', format: 'date-time' };

const orderItem = {
  type: 'object',
  required: ['productId'],
  properties: { productId: { type: 'string' }, quantity: { type: 'integer', minimum: 1 }, price: money },
};

const order = (extra: Record<string, unknown> = {}) => ({
  type: 'object',
  required: ['orderId'],
  properties: {
    orderId: { type: 'string', minLength: 1 },
    customerId: { type: 'string', minLength: 1 },
    amount: money,
    currency,
    items: { type: 'array', items: orderItem },
    status: { type: 'string' },
    ...extra,
  },
});

export const SEED_EVENT_TYPES: readonly SeedEventType[] = [
  {
    name: 'order.created',
    description: 'A customer placed an order.',
    version: '1.0',
    schema: order(),
    example: {
      orderId: 'ORD-123456',
      customerId: 'CUST-789',
      amount: 99.99,
      currency: 'USD',
      items: [{ productId: 'PROD-001', quantity: 2, price: 49.99 }],
      status: 'pending',
    },
  },
  {
    name: 'order.updated',
    description: 'An order changed: its items, amount or status.',
    version: '1.0',
    schema: order({ changes: { type: 'array', items: { type: 'string' } } }),
    example: { orderId: 'ORD-123456', customerId: 'CUST-789', amount: 149.98, currency: 'USD', status: 'processing', changes: ['items'] },
  },
  {
    name: 'order.cancelled',
    description: 'An order was cancelled before fulfilment.',
    version: '1.0',
    schema: order({ reason: { type: 'string' }, cancelledAt: timestamp }),
    example: { orderId: 'ORD-123456', customerId: 'CUST-789', reason: 'customer_request', cancelledAt: '2025-01-15T11:00:00Z' },
  },
  {
    name: 'payment.succeeded',
    description: 'A payment was captured.',
    version: '1.0',
    schema: {
      type: 'object',
      required: ['paymentId'],
      properties: {
        paymentId: { type: 'string', minLength: 1 },
        orderId: { type: 'string' },
        amount: money,
        currency,
        method: { type: 'string' },
      },
    },
    example: { paymentId: 'PAY-555', orderId: 'ORD-123456', amount: 99.99, currency: 'USD', method: 'card' },
  },
  {
    name: 'payment.failed',
    description: 'A payment attempt was declined or errored.',
    version: '1.0',
    schema: {
      type: 'object',
      required: ['paymentId'],
      properties: {
        paymentId: { type: 'string', minLength: 1 },
        orderId: { type: 'string' },
        amount: money,
        currency,
        failureCode: { type: 'string' },
        failureMessage: { type: 'string' },
      },
    },
    example: {
      paymentId: 'PAY-556',
      orderId: 'ORD-123456',
      amount: 99.99,
      currency: 'USD',
      failureCode: 'card_declined',
      failureMessage: 'Insufficient funds',
    },
  },
  {
    name: 'user.registered',
    description: 'A new user account was created.',
    version: '1.0',
    schema: {
      type: 'object',
      required: ['userId'],
      properties: {
        userId: { type: 'string', minLength: 1 },
        email: { type: 'string', format: 'email' },
        name: { type: 'string' },
        registeredAt: timestamp,
      },
    },
    example: { userId: 'USR-42', email: 'ada@example.com', name: 'Ada Lovelace', registeredAt: '2025-01-15T10:30:00Z' },
  },
  {
    name: 'user.updated',
    description: "A user's profile changed.",
    version: '1.0',
    schema: {
      type: 'object',
      required: ['userId'],
      properties: { userId: { type: 'string', minLength: 1 }, changes: { type: 'object' } },
    },
    example: { userId: 'USR-42', changes: { name: 'Ada King' } },
  },
  {
    name: 'invoice.issued',
    description: 'An invoice was issued to a customer.',
    version: '1.0',
    schema: {
      type: 'object',
      required: ['invoiceId'],
      properties: {
        invoiceId: { type: 'string', minLength: 1 },
        customerId: { type: 'string', minLength: 1 },
        amount: money,
        currency,
        dueDate: { type: 'string', format: 'date' },
      },
    },
    example: { invoiceId: 'INV-2025-0001', customerId: 'CUST-789', amount: 99.99, currency: 'USD', dueDate: '2025-02-14' },
  },
  {
    name: 'shipment.created',
    description: 'An order (or part of it) was handed to a carrier.',
    version: '1.0',
    schema: {
      type: 'object',
      required: ['shipmentId'],
      properties: {
        shipmentId: { type: 'string', minLength: 1 },
        orderId: { type: 'string', minLength: 1 },
        carrier: { type: 'string' },
        trackingNumber: { type: 'string' },
      },
    },
    example: { shipmentId: 'SHP-9', orderId: 'ORD-123456', carrier: 'UPS', trackingNumber: '1Z999AA10123456784' },
  },
  {
    name: 'refund.processed',
    description: 'A refund was paid back to the customer.',
    version: '1.0',
    schema: {
      type: 'object',
      required: ['refundId'],
      properties: {
        refundId: { type: 'string', minLength: 1 },
        paymentId: { type: 'string', minLength: 1 },
        amount: money,
        currency,
        reason: { type: 'string' },
      },
    },
    example: { refundId: 'REF-7', paymentId: 'PAY-555', amount: 49.99, currency: 'USD', reason: 'item_returned' },
  },
];
