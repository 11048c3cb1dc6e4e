// Type tests: tap type-checks this file, so each `@ts-expect-error` must really be an error and
// each assignment must really compile. The runtime assertions pin the same shapes.
import t from 'tap'
import { batch, concurrentMap, partitionBy, rateLimit, type Batch, type ConcurrentMap } from '../lib/index.js'

t.test('public types infer from the functions users pass', (t) => {
  const toText: ConcurrentMap<number, string> = concurrentMap((n: number) => String(n))
  const asyncText: ConcurrentMap<number, string> = concurrentMap(async (n: number) => Promise.resolve(`${n}`))
  const byUser = batch({ key: (order: { user: string }) => order.user, size: 10 })
  const keys: (string | undefined)[] = []
  byUser.on('data', (b: Batch<{ user: string }, string>) => {
    keys.push(b.key)
  })
  const router = partitionBy((order: { id: number }) => order.id, { partitions: 2 })
  const limiter = rateLimit({ allowedMessages: 1, intervalMs: 1000 })
  // @ts-expect-error concurrency must be a number
  t.throws(() => concurrentMap((n: number) => n, { concurrency: '2' }))
  // @ts-expect-error partitions is required
  t.throws(() => partitionBy((n: number) => n, {}))
  t.throws(() => {
    // @ts-expect-error update takes known keys only
    limiter.update({ allowed: 2 })
  })
  t.equal(router.lanes.length, 2)
  t.ok(toText.writable && asyncText.writable)
  byUser.end({ user: 'ada' })
  byUser.on('end', () => {
    t.same(keys, ['ada'])
    t.end()
  })
})
