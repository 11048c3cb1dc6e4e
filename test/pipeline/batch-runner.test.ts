import t from 'tap'
import { Message } from '../../lib/index.js'
import { BatchRunner, type RunBatch } from '../../lib/pipeline/batch-runner.js'
import type { PendingBatch } from '../../lib/pipeline/batcher-stage.js'
import { deferred } from './fixtures.js'

/** A batch of one message holding `n`. */
function batch(n: number): PendingBatch {
  return {
    messages: [new Message(n)],
    info: { batcher: 'default', batchKey: 'default', partition: 0, size: 1, trigger: 'size' },
    rejected: false,
  }
}

const numberOf = (b: PendingBatch) => b.messages[0]?.data as number

/** A run that holds every batch until `release(n)`; records which batches started. */
function heldRuns() {
  const started: number[] = []
  const holds = new Map<number, ReturnType<typeof deferred<null>>>()
  const run: RunBatch = (b) => {
    const n = numberOf(b)
    started.push(n)
    const hold = deferred<null>()
    holds.set(n, hold)
    return hold.promise
  }
  return { run, started, release: (n: number) => holds.get(n)?.resolve(null) }
}

t.test('at most `concurrency` batches run at once; the others start in arrival order', async (t) => {
  const { run, started, release } = heldRuns()
  let settled = 0
  const runner = new BatchRunner(run, 2, {
    settled: () => settled++,
    failed: (error) => t.fail(error.message),
  })
  for (const n of [1, 2, 3, 4, 5]) runner.add(batch(n))
  t.same(started, [1, 2])
  t.equal(runner.inFlight, 2)
  t.equal(runner.waiting, 3)
  release(2)
  await Promise.resolve()
  t.same(started, [1, 2, 3], 'the first waiting batch starts once one settles')
  t.equal(settled, 1)
  release(1)
  release(3)
  await Promise.resolve()
  t.same(started, [1, 2, 3, 4, 5])
  t.equal(runner.waiting, 0)
})

t.test('a batch added by a synchronous run is run by the same loop, not recursively', (t) => {
  const order: string[] = []
  let depth = 0
  const runner = new BatchRunner(
    (b) => {
      depth++
      const n = numberOf(b)
      order.push(`start ${String(n)} at depth ${String(depth)}`)
      if (n < 3) runner.add(batch(n + 1))
      depth--
      return null
    },
    1,
    { settled: () => t.fail('nothing settles later'), failed: () => t.fail() },
  )
  runner.add(batch(1))
  t.same(order, ['start 1 at depth 1', 'start 2 at depth 1', 'start 3 at depth 1'])
  t.equal(runner.inFlight, 0)
  t.end()
})

t.test('whenIdle calls back at once when idle, else once the last batch settles', async (t) => {
  const { run, release } = heldRuns()
  const runner = new BatchRunner(run, 1, { settled: () => undefined, failed: () => t.fail() })
  let idle = 0
  runner.whenIdle(() => idle++)
  t.equal(idle, 1)
  runner.add(batch(1))
  runner.add(batch(2))
  runner.whenIdle(() => idle++)
  release(1)
  await Promise.resolve()
  t.equal(idle, 1, 'batch 2 still runs')
  release(2)
  await Promise.resolve()
  t.equal(idle, 2)
})

t.test('a run that throws or rejects is reported as failed, with an Error', async (t) => {
  const errors: Error[] = []
  const throwing = new BatchRunner(
    () => {
      throw new Error('thrown')
    },
    1,
    { settled: () => undefined, failed: (error) => errors.push(error) },
  )
  throwing.add(batch(1))
  const rejecting = new BatchRunner(() => Promise.reject(new Error('rejected')), 1, {
    settled: () => t.fail('a rejection is not a settle'),
    failed: (error) => errors.push(error),
  })
  rejecting.add(batch(1))
  await new Promise((resolve) => setImmediate(resolve))
  t.same(
    errors.map((e) => e.message),
    ['thrown', 'rejected'],
  )
  t.equal(rejecting.inFlight, 0)
})
