// Type tests of Pipeline: tap type-checks this file, so each `@ts-expect-error` must really be an
// error and each assignment must really compile. The pipelines are only built, never started.
import t from 'tap'
import { DummyProducer, Message, Pipeline, type BatchInfo, type PipelineOptions } from '../../lib/index.js'
import { silentLogger, uniqueName } from './fixtures.js'

interface Order {
  id: number
  customer: string
}

interface Db {
  insert(rows: Order[]): Promise<void>
}

/** Marks typed bindings as used; tsc checks them, nothing runs them. */
function use(_values: unknown): void {
  // nothing to do at run time
}

const base = () => ({
  name: uniqueName('types'),
  producer: { source: new DummyProducer() },
  logger: silentLogger(),
})

t.test('callbacks are typed by the data T and the context C', (t) => {
  const db: Db = { insert: () => Promise.resolve() }
  const p = new Pipeline<Order, Db>({
    ...base(),
    context: db,
    batchers: { db: { batchSize: 10, partitionBy: (message) => message.data.customer } },
    partitionBy: (message) => message.data.id,
    handleMessage: (processor, message, context) => {
      const name: string = processor
      const order: Order = message.data
      const customer: string = message.data.customer
      const ctx: Db = context
      // @ts-expect-error the data is an Order, which has no `total`
      use(message.data.total)
      // @ts-expect-error the context is a Db, which has no `query`
      use(context.query)
      use([name, order, customer, ctx])
      return message.putBatcher('db')
    },
    prepareMessages: (messages, context) => {
      const first: Message<Order> | undefined = messages[0]
      const ctx: Db = context
      use([first, ctx])
      return messages
    },
    handleBatch: async (batcher, messages, info, context) => {
      const name: string = batcher
      const batchInfo: BatchInfo = info
      await context.insert(messages.map((m) => m.data))
      use([name, batchInfo])
      return messages
    },
    handleFailed: (messages, context) => {
      const ids: number[] = messages.map((m) => m.data.id)
      const ctx: Db = context
      use([ids, ctx])
      return messages
    },
  })
  t.equal(p.name.startsWith('types-'), true)
  t.equal(p.state, 'idle')
  t.end()
})

t.test('the test API takes and returns the data type', (t) => {
  const p = new Pipeline<Order>({ ...base(), handleMessage: (_, message) => message })
  // @ts-expect-error testMessage takes an Order
  const rejected = p.testMessage('not an order')
  // @ts-expect-error testBatch takes a list of Orders
  const rejectedBatch = p.testBatch([1, 2])
  const accepted: Promise<{ successful: Message<Order>[]; failed: Message<Order>[] }> = p.testMessage({
    id: 1,
    customer: 'ada',
  })
  // Not started: each call rejects at run time too.
  Promise.allSettled([rejected, rejectedBatch, accepted])
    .then((results) => {
      t.same(
        results.map((r) => r.status),
        ['rejected', 'rejected', 'rejected'],
      )
      t.end()
    })
    .catch((error: unknown) => {
      t.threw(error)
    })
})

t.test('a wrong callback signature is a type error', (t) => {
  const options: PipelineOptions<Order, Db>[] = [
    {
      ...base(),
      // @ts-expect-error handleMessage takes (processor, message, context), not a number
      handleMessage: (_: string, message: number) => message,
    },
    {
      ...base(),
      // @ts-expect-error handleMessage must return the message (or nothing), not its data
      handleMessage: (_, message) => message.data,
    },
    {
      ...base(),
      handleMessage: (_, message) => message,
      // @ts-expect-error handleBatch must return the messages
      handleBatch: () => 'done',
    },
    {
      ...base(),
      handleMessage: (_, message) => message,
      // @ts-expect-error prepareMessages gets Message<Order>[], not Message<string>[]
      prepareMessages: (messages: Message<string>[]) => messages,
    },
    {
      ...base(),
      handleMessage: (_, message) => message,
      // @ts-expect-error handleFailed's context is a Db, not a string
      handleFailed: (_messages, context: string) => {
        use(context)
        return undefined
      },
    },
    {
      ...base(),
      // @ts-expect-error partitionBy gets a Message<Order>, not an Order
      partitionBy: (order: Order) => order.id,
      handleMessage: (_, message) => message,
    },
  ]
  t.equal(options.length, 6)
  t.end()
})
