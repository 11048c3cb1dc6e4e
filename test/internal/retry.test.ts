import t from 'tap'
import { backoffDelay, withRetries } from '../../lib/internal/retry.js'
import { SinkRetriesExhaustedError } from '../../lib/index.js'

const fast = { minDelayMs: 1, maxDelayMs: 4, random: () => 1 }

t.test('retries a transient fault until the attempt succeeds', async (t) => {
  const delays: number[] = []
  const result = await withRetries(
    (n) => (n < 3 ? Promise.reject(new Error(`flaky ${String(n)}`)) : Promise.resolve('ok')),
    { ...fast, retries: 5, classify: () => true, onRetry: (_e, _n, ms) => delays.push(ms) },
  )
  t.equal(result, 'ok')
  t.same(delays, [1, 2], 'exponential: min × 2^(n-1), full jitter at random() = 1')
})

t.test('gives up after the retries with SinkRetriesExhaustedError carrying the last fault', async (t) => {
  let attempts = 0
  const last = new Error('still down')
  const error: unknown = await withRetries(
    () => {
      attempts++
      return Promise.reject(last)
    },
    { ...fast, retries: 2, classify: () => true },
  ).catch((e: unknown) => e)
  t.type(error, SinkRetriesExhaustedError)
  t.match(error, { code: 'SW_ERR_SINK_RETRIES_EXHAUSTED', attempts: 3, cause: last })
  t.equal(attempts, 3)
})

t.test('a fault classified as not retryable is rethrown at once', async (t) => {
  let attempts = 0
  const fatal = new Error('400')
  await t.rejects(
    withRetries(
      () => {
        attempts++
        return Promise.reject(fatal)
      },
      { ...fast, retries: 5, classify: () => false },
    ),
    fatal,
  )
  t.equal(attempts, 1)
})

t.test('a fault may ask for its own delay (Retry-After), capped at maxDelayMs', async (t) => {
  const delays: number[] = []
  await withRetries((n) => (n === 1 ? Promise.reject(new Error('429')) : Promise.resolve()), {
    ...fast,
    retries: 1,
    classify: () => ({ afterMs: 1000 }),
    onRetry: (_e, _n, ms) => delays.push(ms),
  })
  t.same(delays, [4])
})

t.test('backoffDelay is uniform below the capped exponential', (t) => {
  t.equal(
    backoffDelay(1, 100, 5000, () => 0.5),
    50,
  )
  t.equal(
    backoffDelay(4, 100, 5000, () => 1),
    800,
  )
  t.equal(
    backoffDelay(20, 100, 5000, () => 1),
    5000,
  )
  t.equal(
    backoffDelay(3, 100, 5000, () => 0),
    0,
  )
  t.end()
})

t.test('aborting the signal stops the wait and rethrows the fault', async (t) => {
  const controller = new AbortController()
  const fault = new Error('down')
  const run = withRetries(() => Promise.reject(fault), {
    retries: 5,
    minDelayMs: 60_000,
    maxDelayMs: 60_000,
    random: () => 1,
    classify: () => true,
    signal: controller.signal,
  })
  controller.abort()
  await t.rejects(run, fault)
})
