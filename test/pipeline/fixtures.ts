/**
 * Fixtures for the pipeline engine's tests: silent or capturing loggers, messages with a given
 * acknowledger, an acknowledger that records every ack, unique pipeline names, and pipelines that
 * are started (and stopped at teardown) in one call.
 */
import { Readable, Writable } from 'node:stream'
import { pino, type Logger, type LoggerOptions } from 'pino'
import {
  DummyProducer,
  Message,
  Pipeline,
  type Acknowledger,
  type PipelineOptions,
  type StopReport,
} from '../../lib/index.js'
import { settle } from '../helpers.js'

/** A pino logger that writes nothing. */
export function silentLogger(): Logger {
  return pino({ level: 'silent' })
}

/** A pino logger (level `debug` unless `options` say otherwise) whose lines are parsed into `lines`. */
export function loggerInto(lines: Record<string, unknown>[], options: LoggerOptions = {}): Logger {
  const sink = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      for (const line of chunk.toString('utf8').split('\n'))
        if (line !== '') lines.push(JSON.parse(line) as Record<string, unknown>)
      callback()
    },
  })
  return pino({ level: 'debug', ...options }, sink)
}

/** A pino logger at `level` whose lines are parsed into `lines`. */
export function capturingLogger(level = 'warn'): { logger: Logger; lines: Record<string, unknown>[] } {
  const lines: Record<string, unknown>[] = []
  return { logger: loggerInto(lines, { level }), lines }
}

let names = 0
/** A pipeline name no other pipeline of this process has. */
export function uniqueName(prefix = 'test'): string {
  names++
  return `${prefix}-${String(process.pid)}-${String(names)}`
}

/** One message per item of `data`, each told to `acknowledger`. */
export function messagesOf<T>(data: readonly T[], acknowledger: Acknowledger): Message<T>[] {
  return data.map((item) => new Message(item, { acknowledger }))
}

/** One `ack(successful, failed)` call. */
export interface AckCall {
  readonly successful: Message[]
  readonly failed: Message[]
}

/** An acknowledger that records its calls and how often each message was acked. */
export interface RecordingAcknowledger extends Acknowledger {
  ack(successful: Message[], failed: Message[]): void
  /** Every call, in order. */
  readonly calls: AckCall[]
  /** Times each message was acked. */
  readonly acked: Map<Message, number>
  /** Every message acked successful, in ack order. */
  readonly successful: Message[]
  /** Every message acked failed, in ack order. */
  readonly failed: Message[]
  /** Resolves once `n` messages in all have been acked. */
  whenAcked(n: number): Promise<void>
}

/** See `RecordingAcknowledger`. */
export function recordingAcknowledger(): RecordingAcknowledger {
  const calls: AckCall[] = []
  const acked = new Map<Message, number>()
  const successful: Message[] = []
  const failed: Message[] = []
  const waiters: { n: number; resolve: () => void }[] = []
  let total = 0
  return {
    calls,
    acked,
    successful,
    failed,
    ack(ok: Message[], bad: Message[]) {
      calls.push({ successful: [...ok], failed: [...bad] })
      for (const message of [...ok, ...bad]) acked.set(message, (acked.get(message) ?? 0) + 1)
      successful.push(...ok)
      failed.push(...bad)
      total += ok.length + bad.length
      for (const waiter of [...waiters])
        if (total >= waiter.n) {
          waiters.splice(waiters.indexOf(waiter), 1)
          waiter.resolve()
        }
    },
    whenAcked(n: number) {
      if (total >= n) return Promise.resolve()
      return new Promise((resolve) => waiters.push({ n, resolve }))
    },
  }
}

/** A promise with its `resolve` and `reject` outside. */
export function deferred<T = void>(): {
  promise: Promise<T>
  resolve: (value: T) => void
  reject: (error: unknown) => void
} {
  let resolve!: (value: T) => void
  let reject!: (error: unknown) => void
  const promise = new Promise<T>((res, rej) => {
    resolve = res
    reject = rej
  })
  return { promise, resolve, reject }
}

/** The reason of a failed message (`undefined` when it is ok). */
export function reasonOf(message: Message): unknown {
  return message.status.kind === 'failed' ? message.status.reason : undefined
}

/** What a test passes to build a pipeline: the name, producer, processors and logger have defaults. */
export type TestPipelineOptions<T, C> = Omit<
  PipelineOptions<T, C>,
  'name' | 'producer' | 'processors' | 'logger'
> &
  Partial<Pick<PipelineOptions<T, C>, 'name' | 'producer' | 'processors' | 'logger'>>

/** Anything with tap's `teardown`. */
export interface Teardown {
  teardown(fn: () => unknown): void
}

/** Stops `pipeline` at teardown unless it never started. */
export function stopAtTeardown(t: Teardown, pipeline: Pipeline<never, never> | Pipeline): void {
  t.teardown(async () => {
    if (pipeline.state !== 'idle') await pipeline.stop()
  })
}

/** A started pipeline fed by the test API only (a `DummyProducer`), stopped at teardown. */
export async function startTestPipeline<T = unknown, C = unknown>(
  t: Teardown,
  options: TestPipelineOptions<T, C>,
): Promise<Pipeline<T, C>> {
  const pipeline = new Pipeline<T, C>({
    name: uniqueName(),
    producer: { source: new DummyProducer() },
    processors: { default: {} },
    logger: silentLogger(),
    ...options,
  })
  stopAtTeardown(t, pipeline)
  await pipeline.start()
  return pipeline
}

/** Runs a pipeline over `messages` to the end; resolves with its report once every producer ended. */
export async function runToEnd<T = unknown, C = unknown>(
  t: Teardown,
  messages: Iterable<Message<T>> | Readable,
  options: TestPipelineOptions<T, C>,
): Promise<{ pipeline: Pipeline<T, C>; report: StopReport }> {
  const source = messages instanceof Readable ? messages : Readable.from(messages)
  const pipeline = new Pipeline<T, C>({
    name: uniqueName(),
    producer: { source },
    processors: { default: {} },
    logger: silentLogger(),
    ...options,
  })
  stopAtTeardown(t, pipeline)
  await pipeline.start()
  const report = await pipeline.done
  return { pipeline, report }
}

/**
 * Waits a few turns of the event loop, picked by `random`: mostly `setImmediate`s, sometimes a
 * 1 ms timer, so concurrent calls finish out of order.
 */
export async function randomPause(random: () => number): Promise<void> {
  const r = random()
  if (r < 0.1) {
    await new Promise<void>((resolve) => setTimeout(resolve, 1))
    return
  }
  for (let i = Math.floor(r * 4); i > 0; i--) await new Promise<void>((resolve) => setImmediate(resolve))
}

/** Waits, one event-loop turn at a time, until `condition` holds (throws after `turns` turns). */
export async function until(condition: () => boolean, turns = 2000): Promise<void> {
  for (let i = 0; i < turns && !condition(); i++) await settle(1)
  if (!condition()) throw new Error('the condition never held')
}
