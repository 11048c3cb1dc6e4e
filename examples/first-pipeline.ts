/**
 * The README's first example, runnable with `npm start`: an embedded data set of orders goes
 * through the four primitives composed with `stream.pipeline`, with no external service.
 *
 *   orders → rate limit → enrich (concurrent, async) → partition by customer
 *          → per lane: batch by 500 or 200 ms → "write" each batch → merge → summary
 */
import { Readable, Writable } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import { setTimeout as sleep } from 'node:timers/promises'
import { batch, concurrentMap, merge, partitionBy, rateLimit, type Batch } from '../lib/index.js'
import { orders, type Order } from './orders.js'

const total = Number(process.argv[2] ?? 50_000)

const limiter = rateLimit({ allowedMessages: 100_000, intervalMs: 1000 })
const router = partitionBy((order: Order) => order.customer, { partitions: 4 })
const lanes = router.lanes.map((lane) => {
  const batches = batch<Order>({ size: 500, timeoutMs: 200 })
  // Stand-in for a sink: 1 ms per batch, as a database round trip would take.
  const write = concurrentMap(
    async (b: Batch<Order>) => {
      await sleep(1)
      return b
    },
    { concurrency: 2 },
  )
  void pipeline(lane, batches, write).catch((error: unknown) => router.destroy(error as Error))
  return write
})

let batches = 0
let written = 0
let revenue = 0
const lastIdByCustomer = new Map<string, number>()
let inOrder = true as boolean
const started = process.hrtime.bigint()

await Promise.all([
  pipeline(
    Readable.from(orders(total)),
    limiter.stream(),
    // Stand-in for an async lookup (a price service, a cache): results keep input order.
    concurrentMap(async (order: Order) => ({ ...order, cents: order.cents + (await Promise.resolve(0)) }), {
      concurrency: 16,
    }),
    router,
  ),
  pipeline(
    merge(lanes),
    new Writable({
      objectMode: true,
      write(b: Batch<Order>, _encoding, callback) {
        batches++
        for (const order of b.items) {
          written++
          revenue += order.cents
          if ((lastIdByCustomer.get(order.customer) ?? -1) > order.id) inOrder = false
          lastIdByCustomer.set(order.customer, order.id)
        }
        callback()
      },
    }),
  ),
])

const seconds = Number(process.hrtime.bigint() - started) / 1e9
console.log(
  [
    `orders written   ${written} of ${total} in ${batches} batches`,
    `revenue          ${(revenue / 100).toFixed(2)}`,
    `per-customer order kept: ${inOrder ? 'yes' : 'NO'}`,
    `time             ${seconds.toFixed(2)} s (${Math.round(written / seconds)} orders/s; limit 100,000 per 1 s window)`,
  ].join('\n'),
)
if (written !== total || !inOrder) process.exitCode = 1
