// The engine's Broadway semantics: callback arguments, when and how messages are acked, failures,
// batchers, partitioning and the test API. Lifecycle (start/stop/drain) is in lifecycle.test.ts.
import t from 'tap'
import FakeTimers from '@sinonjs/fake-timers'
import { Readable } from 'node:stream'
import {
  InvalidHandlerResultError,
  InvalidPartitionKeyError,
  Message,
  MissingFromBatchError,
  Pipeline,
  PipelineStateError,
  UnknownBatcherError,
  DummyProducer,
  sizeLimit,
  type Acknowledger,
  type BatchInfo,
} from '../../lib/index.js'
import { range, seededRandom, settle } from '../helpers.js'
import {
  capturingLogger,
  deferred,
  messagesOf,
  randomPause,
  reasonOf,
  recordingAcknowledger,
  runToEnd,
  silentLogger,
  startTestPipeline,
  uniqueName,
} from './fixtures.js'

/** A fake clock for `setTimeout` only: `setImmediate` stays real so the streams run. */
function fakeClock(t: { teardown(fn: () => void): void }) {
  const clock = FakeTimers.install({ toFake: ['setTimeout', 'clearTimeout'] })
  t.teardown(() => {
    clock.uninstall()
  })
  return clock
}

const LONG = 60_000

// ─── 1. Callback arguments ────────────────────────────────────────────────────────────────────────

for (const mode of ['sync', 'async'] as const) {
  t.test(`${mode} callbacks get Broadway's arguments`, async (t) => {
    const context = { tenant: 'acme' }
    const seen: Record<string, unknown[][]> = { prepare: [], message: [], batch: [], failed: [] }
    const wrap = <R>(value: R): R | Promise<R> => (mode === 'sync' ? value : Promise.resolve(value))
    const p = await startTestPipeline<string, typeof context>(t, {
      context,
      processors: { default: { concurrency: 1 } },
      batchers: { out: { batchSize: 1 } },
      prepareMessages: (...args) => {
        seen.prepare?.push(args)
        return wrap(args[0])
      },
      handleMessage: (...args) => {
        seen.message?.push(args)
        const message = args[1]
        if (message.data === 'bad') {
          if (mode === 'sync') throw new Error('bad data')
          return Promise.reject(new Error('bad data'))
        }
        return wrap(message.putBatcher('out'))
      },
      handleBatch: (...args) => {
        seen.batch?.push(args)
        return wrap(args[1])
      },
      handleFailed: (...args) => {
        seen.failed?.push(args)
        return wrap(undefined)
      },
    })

    const ok = await p.testMessage('good')
    const bad = await p.testMessage('bad')
    const good = ok.successful[0]!
    const failed = bad.failed[0]!
    t.equal(good.data, 'good')
    t.equal(failed.data, 'bad')

    t.equal(seen.prepare?.length, 2, 'prepareMessages ran for each group')
    t.same(seen.prepare?.[0], [[good], context], 'prepareMessages(messages, context)')
    t.equal(seen.prepare?.[0]?.[1], context, 'the very context object')

    t.equal(seen.message?.length, 2)
    t.same(seen.message?.[0], ['default', good, context], "handleMessage('default', message, context)")
    t.equal(seen.message?.[0]?.[1], good, 'the very message')
    t.equal(seen.message?.[0]?.[2], context)

    t.equal(seen.batch?.length, 1, 'only the good message reached the batcher')
    const [batcher, messages, info, batchContext, ...rest] = seen.batch?.[0] ?? []
    t.equal(batcher, 'out', 'handleBatch(batcher, …)')
    t.same(messages, [good], '…messages…')
    t.same(
      info,
      { batcher: 'out', batchKey: 'default', partition: 0, size: 1, trigger: 'size' },
      '…batchInfo…',
    )
    t.equal(batchContext, context, '…context)')
    t.same(rest, [])

    t.equal(seen.failed?.length, 1)
    t.same(seen.failed?.[0], [[failed], context], 'handleFailed(messages, context)')
    t.equal(seen.failed?.[0]?.[1], context)
  })
}

// ─── 2. Acks at the end ───────────────────────────────────────────────────────────────────────────

t.test('without batchers, messages are acked after the processors, not before', async (t) => {
  const acknowledger = recordingAcknowledger()
  const entered = deferred()
  const gate = deferred()
  const ackedWhenHandled: number[] = []
  const p = new Pipeline<number>({
    name: uniqueName(),
    producer: { source: new DummyProducer() },
    logger: silentLogger(),
    processors: { default: { concurrency: 1 } },
    handleMessage: async (_, message) => {
      ackedWhenHandled.push(acknowledger.acked.get(message) ?? 0)
      entered.resolve()
      await gate.promise
      return message
    },
  })
  t.teardown(() => p.stop())
  await p.start()
  const done = p.testBatch([1, 2, 3])
  await entered.promise
  await settle()
  t.equal(acknowledger.calls.length, 0, 'nothing acked while handleMessage runs')
  gate.resolve()
  const result = await done
  t.same(
    result.successful.map((m) => m.data),
    [1, 2, 3],
  )
  t.same(ackedWhenHandled, [0, 0, 0], 'no message was acked before its handleMessage')

  // The same through a producer's own acknowledger.
  const q = new Pipeline<number>({
    name: uniqueName(),
    producer: { source: Readable.from(messagesOf([1, 2, 3], acknowledger)) },
    logger: silentLogger(),
    processors: { default: { concurrency: 1 } },
    handleMessage: (_, message) => {
      t.equal(acknowledger.acked.has(message as Message), false, `message ${message.data} not acked yet`)
      return message
    },
  })
  t.teardown(() => q.stop())
  await q.start()
  const report = await q.done
  t.equal(report.successful, 3)
  t.equal(acknowledger.successful.length, 3)
})

t.test('with batchers, messages are acked after handleBatch, not after handleMessage', async (t) => {
  const acknowledger = recordingAcknowledger()
  const inBatch = deferred<Message<number>[]>()
  const gate = deferred()
  const handled = new Set<number>()
  const { pipeline, report } = await Promise.all([
    runToEnd<number>(t, messagesOf(range(5), acknowledger), {
      processors: { default: { concurrency: 2 } },
      batchers: { out: { batchSize: 5, batchTimeoutMs: LONG } },
      handleMessage: (_, message) => {
        handled.add(message.data)
        return message.putBatcher('out')
      },
      handleBatch: async (_, messages) => {
        inBatch.resolve(messages)
        await gate.promise
        return messages
      },
    }),
    (async () => {
      const messages = await inBatch.promise
      await settle()
      t.equal(handled.size, 5, 'handleMessage ran for every message')
      t.equal(messages.length, 5)
      t.equal(acknowledger.calls.length, 0, 'yet nothing is acked while handleBatch runs')
      gate.resolve()
    })(),
  ]).then(([run]) => run)
  t.equal(pipeline.state, 'stopped')
  t.equal(report.successful, 5)
  t.equal(acknowledger.calls.length, 1, 'one ack call for the batch')
  t.same(acknowledger.calls[0]?.successful.map((m) => m.data).sort(), range(5))
})

t.test('acks are grouped by acknowledger and every message is acked exactly once', async (t) => {
  const random = seededRandom(20240611)
  const acknowledgers = [
    recordingAcknowledger(),
    recordingAcknowledger(),
    recordingAcknowledger(),
    recordingAcknowledger(),
  ]
  interface Item {
    i: number
    failInMessage: boolean
    failInBatch: boolean
    toBatcher: string
  }
  const messages: Message<Item>[] = range(10_000).map((i) => {
    const acknowledger = acknowledgers[Math.floor(random() * acknowledgers.length)] as Acknowledger
    const data: Item = {
      i,
      failInMessage: random() < 0.05,
      failInBatch: random() < 0.05,
      toBatcher: random() < 0.5 ? 'a' : 'b',
    }
    return new Message(data, { acknowledger })
  })
  const { report } = await runToEnd<Item>(t, messages, {
    processors: { default: { concurrency: 4, maxDemand: 7 } },
    batchers: {
      a: { batchSize: 13, concurrency: 2 },
      b: { batchSize: 50, concurrency: 3 },
    },
    handleMessage: (_, message) => {
      if (message.data.failInMessage) throw new Error('message failed')
      return message.putBatcher(message.data.toBatcher)
    },
    handleBatch: (_, batch) => {
      for (const message of batch) if (message.data.failInBatch) message.failed('batch failed')
      return batch
    },
  })

  let mixed = 0
  for (const acknowledger of acknowledgers)
    for (const call of acknowledger.calls)
      for (const message of [...call.successful, ...call.failed])
        if (message.acknowledger !== acknowledger) mixed++
  t.equal(mixed, 0, 'each ack call holds only messages of its acknowledger')

  let notOnce = 0
  let wrongOutcome = 0
  for (const message of messages) {
    const acknowledger = message.acknowledger as ReturnType<typeof recordingAcknowledger>
    if (acknowledger.acked.get(message) !== 1) notOnce++
    const shouldFail = message.data.failInMessage || message.data.failInBatch
    if (shouldFail !== acknowledger.failed.includes(message)) wrongOutcome++
  }
  t.equal(notOnce, 0, 'every message acked exactly once')
  t.equal(wrongOutcome, 0, 'failed exactly when it should')
  const expectedFailed = messages.filter((m) => m.data.failInMessage || m.data.failInBatch).length
  t.ok(expectedFailed > 500, 'the run has failures to check')
  t.equal(report.received, 10_000)
  t.equal(report.failed, expectedFailed)
  t.equal(report.successful, 10_000 - expectedFailed)
  t.equal(report.unacked, 0)
  t.ok(
    acknowledgers.every((a) => a.calls.length > 0),
    'every acknowledger was called',
  )
})

// ─── 3. handleFailed ──────────────────────────────────────────────────────────────────────────────

t.test('handleFailed sees exactly the failed messages before they are acked', async (t) => {
  const acknowledger = recordingAcknowledger()
  const seen: Message<number>[] = []
  const ackedBeforeHandleFailed: Message<number>[] = []
  const { report } = await runToEnd<number>(t, messagesOf(range(30), acknowledger), {
    processors: { default: { concurrency: 3, maxDemand: 4 } },
    batchers: { out: { batchSize: 4 } },
    handleMessage: (_, message) => {
      if (message.data % 3 === 0) throw new Error('multiple of 3')
      return message.putBatcher('out')
    },
    handleBatch: (_, messages) => {
      for (const message of messages) if (message.data % 5 === 0) message.failed('multiple of 5')
      return messages
    },
    handleFailed: async (messages) => {
      for (const message of messages) {
        seen.push(message)
        if (acknowledger.acked.has(message)) ackedBeforeHandleFailed.push(message)
      }
      await settle(1)
      return undefined
    },
  })
  const expected = range(30).filter((n) => n % 3 === 0 || n % 5 === 0)
  t.same(
    seen.map((m) => m.data).sort((a, b) => a - b),
    expected,
    'handleFailed saw each failed message once, and nothing else',
  )
  t.same(ackedBeforeHandleFailed, [], 'none was acked before handleFailed saw it')
  t.same(
    acknowledger.failed.map((m) => m.data as number).sort((a, b) => a - b),
    expected,
  )
  t.equal(report.failed, expected.length)
  t.equal(report.successful, 30 - expected.length)
})

for (const mode of ['sync', 'async'] as const) {
  t.test(`when handleFailed throws (${mode}), its messages are still acked as failed`, async (t) => {
    const acknowledger = recordingAcknowledger()
    const { logger, lines } = capturingLogger('error')
    const { report } = await runToEnd<number>(t, messagesOf(range(6), acknowledger), {
      logger,
      processors: { default: { concurrency: 1 } },
      handleMessage: (_, message) => (message.data % 2 === 0 ? message.failed('even') : message),
      handleFailed:
        mode === 'sync'
          ? () => {
              throw new Error('dead-letter queue down')
            }
          : () => Promise.reject(new Error('dead-letter queue down')),
    })
    t.same(acknowledger.failed.map((m) => m.data).sort(), [0, 2, 4])
    t.same(acknowledger.failed.map(reasonOf), ['even', 'even', 'even'], 'their reason is theirs')
    t.same(acknowledger.successful.map((m) => m.data).sort(), [1, 3, 5])
    t.ok([...acknowledger.acked.values()].every((n) => n === 1))
    t.equal(report.unacked, 0)
    t.ok(
      lines.some((line) => line.event === 'handle_failed_threw'),
      'the throw is logged',
    )
  })
}

// ─── 4. Error semantics ───────────────────────────────────────────────────────────────────────────

t.test('a throw in handleMessage fails that message and the pipeline goes on', async (t) => {
  const error = new Error('no 2')
  const p = await startTestPipeline<number>(t, {
    handleMessage: async (_, message) => {
      if (message.data === 2) throw error
      if (message.data === 4) return Promise.reject(error)
      return message
    },
  })
  const first = await p.testBatch([1, 2, 3, 4, 5])
  t.same(first.successful.map((m) => m.data).sort(), [1, 3, 5])
  t.same(first.failed.map((m) => m.data).sort(), [2, 4])
  t.ok(
    first.failed.every((m) => reasonOf(m) === error),
    'the reason is the thrown error',
  )
  const next = await p.testMessage(6)
  t.equal(next.successful.length, 1, 'the pipeline still runs')
  t.equal(p.state, 'running')
})

for (const mode of ['sync', 'async'] as const) {
  t.test(`a throw in handleBatch (${mode}) fails the whole batch`, async (t) => {
    const error = new Error('db down')
    const p = await startTestPipeline<string>(t, {
      batchers: { db: { batchSize: 3, batchTimeoutMs: LONG } },
      handleMessage: (_, message) => message.putBatcher('db'),
      handleBatch: (_, messages) => {
        if (!messages.some((m) => m.data === 'poison')) return messages
        if (mode === 'sync') throw error
        return Promise.reject(error)
      },
    })
    const bad = await p.testBatch(['a', 'poison', 'b'])
    t.equal(bad.successful.length, 0)
    t.equal(bad.failed.length, 3, 'every message of the batch failed')
    t.ok(
      bad.failed.every((m) => reasonOf(m) === error),
      'with the thrown error',
    )
    const good = await p.testBatch(['c', 'd', 'e'])
    t.equal(good.successful.length, 3, 'the next batch goes through')
  })
}

t.test('a message missing from handleBatch’s return is acked failed and logged, never lost', async (t) => {
  const { logger, lines } = capturingLogger('warn')
  const p = await startTestPipeline<number>(t, {
    logger,
    batchers: { db: { batchSize: 4, batchTimeoutMs: LONG } },
    handleMessage: (_, message) => message.putBatcher('db'),
    handleBatch: (_, messages) => messages.filter((m) => m.data !== 2).reverse(),
  })
  const result = await p.testBatch([1, 2, 3, 4])
  t.same(result.successful.map((m) => m.data).sort(), [1, 3, 4], 'the returned ones succeed, in any order')
  t.equal(result.failed.length, 1)
  const missing = result.failed[0]!
  t.equal(missing.data, 2)
  const reason = reasonOf(missing)
  t.type(reason, MissingFromBatchError)
  t.match(reason, { code: 'SW_ERR_MISSING_FROM_BATCH', message: /"db"/ })
  t.match(
    lines.find((line) => line.event === 'missing_from_batch'),
    { batcher: 'db', missing: 1, batchSize: 4 },
    'the loss is logged',
  )
})

t.test('handleBatch returning a non-array fails the batch with InvalidHandlerResultError', async (t) => {
  const p = await startTestPipeline<number>(t, {
    batchers: { db: { batchSize: 2, batchTimeoutMs: LONG } },
    handleMessage: (_, message) => message.putBatcher('db'),
    handleBatch: () => 'done' as unknown as Message<number>[],
  })
  const result = await p.testBatch([1, 2])
  t.equal(result.failed.length, 2)
  t.ok(result.failed.every((m) => reasonOf(m) instanceof InvalidHandlerResultError))
  t.match(reasonOf(result.failed[0]!), { callback: 'handleBatch', result: 'done' })
})

t.test(
  'a message failed in prepareMessages still reaches handleMessage, failed, and is acked failed',
  async (t) => {
    const statuses = new Map<string, boolean>()
    const p = await startTestPipeline<string>(t, {
      prepareMessages: (messages) => {
        for (const message of messages) if (message.data === 'stale') message.failed('stale in prepare')
        return messages
      },
      handleMessage: (_, message) => {
        statuses.set(message.data, message.isFailed)
        return message
      },
    })
    const result = await p.testBatch(['fresh', 'stale', 'new'])
    t.same(Object.fromEntries(statuses), { fresh: false, stale: true, new: false }, 'handleMessage saw each')
    t.same(
      result.failed.map((m) => m.data),
      ['stale'],
    )
    t.equal(reasonOf(result.failed[0]!), 'stale in prepare')
    t.same(result.successful.map((m) => m.data).sort(), ['fresh', 'new'])
  },
)

for (const mode of ['sync', 'async'] as const) {
  t.test(`a throw in prepareMessages (${mode}) fails the group and skips handleMessage`, async (t) => {
    const error = new Error('lookup failed')
    let handled = 0
    const p = await startTestPipeline<number>(t, {
      prepareMessages: (messages) => {
        if (messages.some((m) => m.data < 0)) {
          if (mode === 'sync') throw error
          return Promise.reject(error)
        }
        return messages
      },
      handleMessage: (_, message) => {
        handled++
        return message
      },
    })
    const result = await p.testBatch([-1, -2, -3])
    t.equal(result.failed.length, 3)
    t.ok(result.failed.every((m) => reasonOf(m) === error))
    t.equal(handled, 0, 'handleMessage was not called')
    const after = await p.testMessage(1)
    t.equal(after.successful.length, 1, 'the pipeline goes on')
    t.equal(handled, 1)
  })
}

t.test(
  'prepareMessages returning the wrong length fails the group with InvalidHandlerResultError',
  async (t) => {
    let handled = 0
    const p = await startTestPipeline<number>(t, {
      prepareMessages: (messages) => messages.slice(1),
      handleMessage: (_, message) => {
        handled++
        return message
      },
    })
    const result = await p.testBatch([1, 2, 3])
    t.equal(result.successful.length, 0)
    t.equal(result.failed.length, 3)
    for (const message of result.failed) {
      t.type(reasonOf(message), InvalidHandlerResultError)
      t.match(reasonOf(message), { code: 'SW_ERR_INVALID_HANDLER_RESULT', callback: 'prepareMessages' })
    }
    t.equal(handled, 0)
  },
)

t.test(
  'prepareMessages may reorder its messages, but returning other messages fails the group',
  async (t) => {
    const reordered = await startTestPipeline<number>(t, {
      prepareMessages: (messages) => [...messages].reverse(),
      handleMessage: (_, message) => message,
    })
    const ok = await reordered.testBatch([1, 2, 3])
    t.same(ok.successful.map((m) => m.data).sort(), [1, 2, 3], 'a reordered group is handled')
    const replaced = await startTestPipeline<number>(t, {
      prepareMessages: (messages) => messages.map((m) => new Message(m.data)),
      handleMessage: (_, message) => message,
    })
    const bad = await replaced.testBatch([1, 2])
    t.equal(bad.failed.length, 2, 'new Message objects would lose the originals: the group fails')
    t.match(reasonOf(bad.failed[0]!), { code: 'SW_ERR_INVALID_HANDLER_RESULT', callback: 'prepareMessages' })
  },
)

t.test('handleMessage returning a non-message fails it with InvalidHandlerResultError', async (t) => {
  const p = await startTestPipeline<number>(t, {
    handleMessage: (_, message) => (message.data === 1 ? (42 as unknown as Message<number>) : undefined),
  })
  const result = await p.testBatch([1, 2])
  t.same(
    result.successful.map((m) => m.data),
    [2],
    'returning nothing keeps the message',
  )
  t.same(
    result.failed.map((m) => m.data),
    [1],
  )
  t.type(reasonOf(result.failed[0]!), InvalidHandlerResultError)
  t.match(reasonOf(result.failed[0]!), { callback: 'handleMessage', result: 42 })
})

t.test('a message handleMessage replaces with another Message is acked once, failed', async (t) => {
  const acknowledger = recordingAcknowledger()
  const originals = messagesOf([1, 2], acknowledger)
  const { report } = await runToEnd<number>(t, originals, {
    processors: { default: { concurrency: 1 } },
    handleMessage: (_, message) => (message.data === 1 ? new Message(message.data + 100) : message),
  })
  t.equal(acknowledger.acked.get(originals[1]!), 1, 'the message returned as is is acked')
  t.equal(acknowledger.acked.get(originals[0]!), 1, 'the replaced message is acked too')
  t.match(reasonOf(originals[0]!), { code: 'SW_ERR_INVALID_HANDLER_RESULT', callback: 'handleMessage' })
  t.same([report.successful, report.failed], [1, 1], 'the report counts only what was acked')
})

t.test('putBatcher to an unknown batcher fails the message with UnknownBatcherError', async (t) => {
  let batches = 0
  const p = await startTestPipeline<string>(t, {
    batchers: { db: { batchSize: 1 }, http: { batchSize: 1 } },
    handleMessage: (_, message) => message.putBatcher(message.data),
    handleBatch: (_, messages) => {
      batches++
      return messages
    },
  })
  const result = await p.testBatch(['nope', 'db'])
  t.same(
    result.failed.map((m) => m.data),
    ['nope'],
  )
  const reason = reasonOf(result.failed[0]!)
  t.type(reason, UnknownBatcherError)
  t.match(reason, { code: 'SW_ERR_UNKNOWN_BATCHER', batcher: 'nope', message: /"nope".*"db", "http"/ })
  t.same(
    result.successful.map((m) => m.data),
    ['db'],
  )
  t.equal(batches, 1, 'only the known batcher got a batch')
})

// ─── 5. Batchers ──────────────────────────────────────────────────────────────────────────────────

t.test('putBatcher routes messages to several named batchers', async (t) => {
  const got: Record<string, number[]> = { even: [], odd: [] }
  let mismatched = 0
  const { report } = await runToEnd<number>(t, messagesOf(range(100), recordingAcknowledger()), {
    processors: { default: { concurrency: 4 } },
    batchers: { even: { batchSize: 7 }, odd: { batchSize: 3, concurrency: 2 } },
    handleMessage: (_, message) => message.putBatcher(message.data % 2 === 0 ? 'even' : 'odd'),
    handleBatch: (batcher, messages, info) => {
      if (info.batcher !== batcher) mismatched++
      got[batcher]?.push(...messages.map((m) => m.data))
      return messages
    },
  })
  t.same(
    got.even?.sort((a, b) => a - b),
    range(50).map((n) => n * 2),
  )
  t.same(
    got.odd?.sort((a, b) => a - b),
    range(50).map((n) => n * 2 + 1),
  )
  t.equal(mismatched, 0, 'BatchInfo.batcher names the batcher handleBatch is called for')
  t.equal(report.successful, 100)
})

t.test('batch keys give separate batches within a batcher', async (t) => {
  const batches: { key: unknown; data: string[]; info: BatchInfo }[] = []
  await runToEnd<string>(
    t,
    messagesOf(
      range(20).map((n) => `${'abc'[n % 3] ?? ''}${String(n)}`),
      recordingAcknowledger(),
    ),
    {
      processors: { default: { concurrency: 2 } },
      batchers: { db: { batchSize: 3, batchTimeoutMs: LONG } },
      handleMessage: (_, message) => message.putBatcher('db').putBatchKey(message.data[0]),
      handleBatch: (_, messages, info) => {
        batches.push({ key: info.batchKey, data: messages.map((m) => m.data), info })
        return messages
      },
    },
  )
  t.ok(
    batches.every((b) => b.data.every((d) => d[0] === b.key)),
    'a batch holds the messages of one key only',
  )
  t.ok(batches.every((b) => b.info.size === b.data.length && b.data.length <= 3))
  t.same(new Set(batches.map((b) => b.key)), new Set(['a', 'b', 'c']))
  t.equal(
    batches.reduce((n, b) => n + b.data.length, 0),
    20,
  )
  const counts = { a: 7, b: 7, c: 6 }
  for (const [key, count] of Object.entries(counts)) {
    const triggers = batches.filter((b) => b.key === key).map((b) => b.info.trigger)
    t.same(
      triggers.filter((x) => x === 'size').length,
      Math.floor(count / 3),
      `key ${key}: full batches by size`,
    )
    t.same(triggers.filter((x) => x === 'end').length, count % 3 === 0 ? 0 : 1, `key ${key}: the rest at end`)
  }
})

t.test(
  'batchSize counts messages; the partial batch at the end of a finite producer has trigger end',
  async (t) => {
    const infos: BatchInfo[] = []
    await runToEnd<number>(t, messagesOf(range(10), recordingAcknowledger()), {
      processors: { default: { concurrency: 3, maxDemand: 2 } },
      batchers: { db: { batchSize: 4, batchTimeoutMs: LONG } },
      handleMessage: (_, message) => message.putBatcher('db'),
      handleBatch: (_, messages, info) => {
        infos.push(info)
        return messages
      },
    })
    t.same(
      infos.map((i) => [i.size, i.trigger]),
      [
        [4, 'size'],
        [4, 'size'],
        [2, 'end'],
      ],
    )
  },
)

t.test('batchSize as a sizeLimit accumulator never lets a batch exceed the byte cap', async (t) => {
  const random = seededRandom(7)
  const cap = 100
  const sizes: number[] = []
  const seen: number[] = []
  const { report } = await runToEnd<{ i: number; bytes: number }>(
    t,
    messagesOf(
      range(500).map((i) => ({ i, bytes: 1 + Math.floor(random() * 40) })),
      recordingAcknowledger(),
    ),
    {
      processors: { default: { concurrency: 4 } },
      batchers: {
        db: {
          batchSize: sizeLimit(cap, (m: Message<{ i: number; bytes: number }>) => m.data.bytes),
          batchTimeoutMs: LONG,
          concurrency: 2,
        },
      },
      handleMessage: (_, message) => message.putBatcher('db'),
      handleBatch: (_, messages) => {
        sizes.push(messages.reduce((n, m) => n + m.data.bytes, 0))
        seen.push(...messages.map((m) => m.data.i))
        return messages
      },
    },
  )
  t.equal(
    sizes.filter((s) => s > cap).length,
    0,
    `no batch over ${String(cap)} bytes (largest ${String(Math.max(...sizes))})`,
  )
  t.ok(sizes.filter((s) => s > cap / 2).length > sizes.length / 2, 'batches are filled, not one per message')
  t.same(
    seen.sort((a, b) => a - b),
    range(500),
    'every message in exactly one batch',
  )
  t.equal(report.successful, 500)
})

t.test('a message over the accumulator cap on its own fails alone; the others are batched', async (t) => {
  const acknowledger = recordingAcknowledger()
  const batched: number[] = []
  const { report } = await runToEnd<number>(t, messagesOf([10, 200, 30, 40], acknowledger), {
    processors: { default: { concurrency: 1 } },
    batchers: { db: { batchSize: sizeLimit(100, (m: Message<number>) => m.data), batchTimeoutMs: LONG } },
    handleMessage: (_, message) => message.putBatcher('db'),
    handleBatch: (_, messages) => {
      batched.push(...messages.map((m) => m.data))
      return messages
    },
  })
  t.equal(report.reason, 'ended', 'the pipeline is not torn down')
  t.same(batched, [10, 30, 40])
  t.same(
    acknowledger.failed.map((m) => m.data),
    [200],
  )
  t.match(reasonOf(acknowledger.failed[0]!), { code: 'SW_ERR_BATCH_ITEM_TOO_LARGE' })
  t.equal(report.unacked, 0)
})

t.test('a partial batch goes with trigger timeout only once batchTimeoutMs has passed', async (t) => {
  const clock = fakeClock(t)
  const infos: BatchInfo[] = []
  const p = await startTestPipeline<number>(t, {
    batchers: { db: { batchSize: 10, batchTimeoutMs: 1000 } },
    handleMessage: (_, message) => message.putBatcher('db'),
    handleBatch: (_, messages, info) => {
      infos.push(info)
      return messages
    },
  })
  let resolved = false
  const result = p.testBatch([1, 2, 3], { batchMode: 'bulk' }).then((r) => {
    resolved = true
    return r
  })
  await settle()
  t.same(infos, [], 'nothing before the timeout')
  clock.tick(999)
  await settle()
  t.same(infos, [], 'nothing at batchTimeoutMs - 1')
  t.equal(resolved, false)
  clock.tick(1)
  await settle()
  t.same(infos, [{ batcher: 'db', batchKey: 'default', partition: 0, size: 3, trigger: 'timeout' }])
  const { successful } = await result
  t.same(successful.map((m) => m.data).sort(), [1, 2, 3])
})

t.test("testMessage's flush mode emits the batch at once with trigger flush", async (t) => {
  const clock = fakeClock(t)
  const infos: BatchInfo[] = []
  const p = await startTestPipeline<number>(t, {
    batchers: { db: { batchSize: 10, batchTimeoutMs: 1000 } },
    handleMessage: (_, message) => message.putBatcher('db').putBatchKey('k'),
    handleBatch: (_, messages, info) => {
      infos.push(info)
      return messages
    },
  })
  const result = await p.testMessage(1)
  t.equal(clock.now, 0, 'no time had to pass')
  t.equal(result.successful.length, 1)
  t.same(infos, [{ batcher: 'db', batchKey: 'k', partition: 0, size: 1, trigger: 'flush' }])
  t.same(Object.keys(infos[0] ?? {}).sort(), ['batchKey', 'batcher', 'partition', 'size', 'trigger'])
})

// ─── 6. Partitioning ──────────────────────────────────────────────────────────────────────────────

interface Keyed {
  key: number
  seq: number
}

/** `n` messages over `keys` keys, each key's messages numbered 0, 1, 2… in order. */
function keyedMessages(n: number, keys: number, random: () => number): Message<Keyed>[] {
  const next = new Map<number, number>()
  return range(n).map(() => {
    const key = Math.floor(random() * keys)
    const seq = next.get(key) ?? 0
    next.set(key, seq + 1)
    return new Message({ key, seq })
  })
}

/** Per key, the seqs in the order handleBatch saw them; and whether any went backwards. */
function orderRecorder() {
  const byKey = new Map<number, number[]>()
  return {
    byKey,
    record(messages: Message<Keyed>[]) {
      for (const m of messages) {
        const list = byKey.get(m.data.key) ?? []
        list.push(m.data.seq)
        byKey.set(m.data.key, list)
      }
    },
    outOfOrder(): number[] {
      const bad: number[] = []
      for (const [key, seqs] of byKey) if (seqs.some((s, i) => s !== i)) bad.push(key)
      return bad
    },
  }
}

t.test('top-level partitionBy keeps per-key order end to end under concurrency', async (t) => {
  const random = seededRandom(99)
  const messages = keyedMessages(1500, 12, random)
  const order = orderRecorder()
  const partitions = new Map<number, Set<number>>()
  const { report } = await runToEnd<Keyed>(t, messages, {
    partitionBy: (message) => message.data.key,
    processors: { default: { concurrency: 4, maxDemand: 5 } },
    batchers: { db: { batchSize: 7, batchTimeoutMs: LONG, concurrency: 3 } },
    handleMessage: async (_, message) => {
      await randomPause(random)
      return message.putBatcher('db')
    },
    handleBatch: async (_, batch, info) => {
      order.record(batch)
      for (const m of batch) {
        const set = partitions.get(m.data.key) ?? new Set()
        set.add(info.partition)
        partitions.set(m.data.key, set)
      }
      await randomPause(random)
      return batch
    },
  })
  t.equal(report.successful, 1500)
  t.same(order.outOfOrder(), [], 'every key’s messages reached handleBatch in order')
  t.equal(order.byKey.size, 12)
  t.ok(
    [...partitions.values()].every((set) => set.size === 1),
    'a key always lands in the same batcher partition',
  )
  const used = new Set([...partitions.values()].flatMap((set) => [...set]))
  t.ok(
    [...used].every((p) => Number.isInteger(p) && p >= 0 && p < 3),
    'partitions are in [0, concurrency)',
  )
  t.ok(used.size > 1, 'more than one partition was used')
})

t.test('per-stage partitionBy on processors and on a batcher keeps per-key order', async (t) => {
  const random = seededRandom(4242)
  const messages = keyedMessages(1000, 9, random)
  const order = orderRecorder()
  const processorOrder = new Map<number, number[]>()
  const keyOf = (message: Message<Keyed>) => `k${String(message.data.key)}`
  let outOfRange = 0
  const { report } = await runToEnd<Keyed>(t, messages, {
    processors: { default: { concurrency: 3, maxDemand: 4, partitionBy: keyOf } },
    batchers: { db: { batchSize: 5, batchTimeoutMs: LONG, concurrency: 4, partitionBy: keyOf } },
    handleMessage: async (_, message) => {
      const seen = processorOrder.get(message.data.key) ?? []
      seen.push(message.data.seq)
      processorOrder.set(message.data.key, seen)
      await randomPause(random)
      return message.putBatcher('db')
    },
    handleBatch: async (_, batch, info) => {
      if (!(info.partition >= 0 && info.partition < 4)) outOfRange++
      order.record(batch)
      await randomPause(random)
      return batch
    },
  })
  t.equal(report.successful, 1000)
  t.ok(
    [...processorOrder.values()].every((seqs) => seqs.every((s, i) => s === i)),
    'handleMessage saw each key in order',
  )
  t.same(order.outOfOrder(), [], 'handleBatch saw each key in order')
  t.equal(outOfRange, 0, 'BatchInfo.partition is in [0, concurrency)')
})

t.test('a partitionBy that throws or returns an object fails only that message', async (t) => {
  const boom = new Error('no key')
  const keyOf = (message: Message<string>): unknown => {
    if (message.data === 'throws') throw boom
    if (message.data === 'object') return { not: 'a key' }
    return message.data
  }
  for (const where of ['top-level', 'batcher'] as const) {
    const batched: string[] = []
    const p = await startTestPipeline<string>(t, {
      partitionBy: where === 'top-level' ? keyOf : undefined,
      processors: { default: { concurrency: 2 } },
      batchers: {
        db: { batchSize: 1, concurrency: 2, partitionBy: where === 'batcher' ? keyOf : undefined },
      },
      handleMessage: (_, message) => message.putBatcher('db'),
      handleBatch: (_, messages) => {
        batched.push(...messages.map((m) => m.data))
        return messages
      },
    })
    const result = await p.testBatch(['a', 'throws', 'b', 'object', 'c'])
    t.same(result.successful.map((m) => m.data).sort(), ['a', 'b', 'c'], `${where}: the others succeed`)
    t.same(result.failed.map((m) => m.data).sort(), ['object', 'throws'])
    const byData = new Map(result.failed.map((m) => [m.data, reasonOf(m)]))
    t.equal(byData.get('throws'), boom, `${where}: the thrown error is the reason`)
    t.type(byData.get('object'), InvalidPartitionKeyError, `${where}: an object is an invalid key`)
    t.same(batched.sort(), ['a', 'b', 'c'], `${where}: failed messages do not reach handleBatch`)
    t.equal(p.state, 'running')
  }
})

// ─── 7. Test API ──────────────────────────────────────────────────────────────────────────────────

t.test('testMessage resolves with exactly its message, metadata kept', async (t) => {
  const p = await startTestPipeline<{ id: number }>(t, {
    handleMessage: (_, message) => message,
  })
  const metadata = { topic: 'orders', offset: 12 }
  const result = await p.testMessage({ id: 1 }, { metadata })
  t.equal(result.successful.length, 1)
  t.same(result.failed, [])
  t.same(result.successful[0]?.data, { id: 1 })
  t.same(result.successful[0]?.metadata, metadata)
  const plain = await p.testMessage({ id: 2 })
  t.same(plain.successful[0]?.metadata, {}, 'no metadata by default')
})

t.test("testBatch in 'bulk' mode fills one batch of batchSize = list length", async (t) => {
  const infos: BatchInfo[] = []
  const p = await startTestPipeline<number>(t, {
    processors: { default: { concurrency: 4, maxDemand: 2 } },
    batchers: { db: { batchSize: 6, batchTimeoutMs: LONG } },
    handleMessage: (_, message) => message.putBatcher('db'),
    handleBatch: (_, messages, info) => {
      infos.push(info)
      return messages
    },
  })
  const result = await p.testBatch(range(6), { batchMode: 'bulk' })
  t.same(result.successful.map((m) => m.data).sort(), range(6))
  t.same(
    infos.map((i) => [i.size, i.trigger]),
    [[6, 'size']],
    'one full batch',
  )
})

t.test("testBatch in 'flush' mode does not wait for a full batch", async (t) => {
  const clock = fakeClock(t)
  const infos: BatchInfo[] = []
  const p = await startTestPipeline<number>(t, {
    batchers: { db: { batchSize: 100, batchTimeoutMs: 1000 } },
    handleMessage: (_, message) => message.putBatcher('db'),
    handleBatch: (_, messages, info) => {
      infos.push(info)
      return messages
    },
  })
  const result = await p.testBatch([1, 2, 3], { batchMode: 'flush' })
  t.equal(clock.now, 0)
  t.equal(result.successful.length, 3)
  t.ok(infos.length >= 1)
  t.ok(
    infos.every((i) => i.trigger === 'flush'),
    'every batch went with trigger flush',
  )
})

t.test('concurrent testMessage calls each get only their own message', async (t) => {
  const p = await startTestPipeline<number>(t, {
    processors: { default: { concurrency: 3, maxDemand: 4 } },
    batchers: { db: { batchSize: 5, batchTimeoutMs: LONG } },
    handleMessage: (_, message) =>
      message.data % 7 === 0 ? message.failed('seven') : message.putBatcher('db'),
    handleBatch: (_, messages) => messages,
  })
  const results = await Promise.all(range(60).map((n) => p.testMessage(n)))
  let wrong = 0
  for (const [n, result] of results.entries()) {
    const all = [...result.successful, ...result.failed]
    if (all.length !== 1 || all[0]?.data !== n) wrong++
    if ((n % 7 === 0) !== (result.failed.length === 1)) wrong++
  }
  t.equal(wrong, 0, 'each result holds exactly its own message, with its outcome')
})

t.test('the test API rejects with PipelineStateError before start and after stop', async (t) => {
  const p = new Pipeline<number>({
    name: uniqueName(),
    producer: { source: new DummyProducer() },
    processors: { default: {} },
    logger: silentLogger(),
    handleMessage: (_, message) => message,
  })
  await t.rejects(p.testMessage(1), PipelineStateError, 'before start')
  await t.rejects(p.testBatch([1]), { code: 'SW_ERR_PIPELINE_STATE' })
  await p.start()
  t.equal((await p.testMessage(1)).successful.length, 1)
  await p.stop()
  await t.rejects(p.testMessage(1), PipelineStateError, 'after stop')
})
