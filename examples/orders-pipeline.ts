/**
 * The main example, runnable with `npm start`: an embedded data set of orders goes through a
 * `Pipeline` with no external service. Some orders are malformed on purpose: they fail, go to
 * `handleFailed` (a stand-in dead letter) and are acked as failed, and the run goes on.
 *
 *   orders → rate limit → processors (validate, enrich) → partition by customer
 *          → batcher "db": 500 per batch or 200 ms → "write" (1 ms) → ack
 */
import { Readable } from 'node:stream'
import { setTimeout as sleep } from 'node:timers/promises'
import { pino } from 'pino'
import { Message, Pipeline, stopOnSignals } from '../lib/index.js'
import { orders, type Order } from './orders.js'

const total = Number(process.argv[2] ?? 50_000)

/** The embedded orders as messages; every 1000th has a negative amount. */
function orderMessages(count: number): Readable {
  return Readable.from(
    (function* generate() {
      for (const order of orders(count, 1000))
        yield new Message<Order>(order, { metadata: { line: order.id + 1 } })
    })(),
  )
}

let batches = 0
let written = 0
let revenue = 0
let deadLettered = 0
const lastIdByCustomer = new Map<string, number>()
let inOrder = true as boolean

const pipeline = new Pipeline<Order>({
  name: 'orders',
  producer: { source: orderMessages(total) },
  rateLimiting: { allowedMessages: 20_000, intervalMs: 1000 },
  // Failed orders are counted below; the default logger would print a warning for each group.
  logger: pino({ level: 'error' }),
  processors: { default: { concurrency: 4 } },
  batchers: { db: { batchSize: 500, batchTimeoutMs: 200, concurrency: 2 } },
  partitionBy: (message) => message.data.customer,
  handleMessage(_processor, message) {
    if (message.data.cents < 0) throw new RangeError(`order ${String(message.data.id)}: negative amount`)
    return message.putBatcher('db')
  },
  async handleBatch(_batcher, messages) {
    await sleep(1) // stand-in for a database round trip
    batches++
    for (const { data: order } of messages) {
      written++
      revenue += order.cents
      if ((lastIdByCustomer.get(order.customer) ?? -1) > order.id) inOrder = false
      lastIdByCustomer.set(order.customer, order.id)
    }
    return messages
  },
  handleFailed(messages) {
    deadLettered += messages.length // a real pipeline appends them to a dead-letter file here
    return messages
  },
})

await pipeline.start()
stopOnSignals(pipeline as Pipeline<never>)
const report = await pipeline.done
const { latencyMs } = pipeline.metrics()
const seconds = report.durationMs / 1000
console.log(
  [
    `orders written   ${String(written)} of ${String(total)} in ${String(batches)} batches`,
    `dead-lettered    ${String(deadLettered)} (failed: ${String(report.failed)}, unacked: ${String(report.unacked)})`,
    `revenue          ${(revenue / 100).toFixed(2)}`,
    `per-customer order kept: ${inOrder ? 'yes' : 'NO'}`,
    `latency          p50 ${latencyMs.p50.toFixed(1)} ms, p99 ${latencyMs.p99.toFixed(1)} ms`,
    `time             ${seconds.toFixed(2)} s (${String(Math.round(report.received / seconds))} orders/s; at most 20,000 per fixed 1 s window, so ${String(Math.ceil(report.received / 20_000))} windows)`,
  ].join('\n'),
)
if (written + deadLettered !== total || report.unacked !== 0 || !inOrder) process.exitCode = 1
