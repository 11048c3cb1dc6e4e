/**
 * `Pipeline`: Broadway's pipeline on Node streams. One object, configured like
 * `Broadway.start_link`, that owns producers, processors, batchers, partitioning, rate limiting,
 * acknowledgements, failure handling, telemetry and graceful shutdown.
 *
 * Stages (each a stream from `lib/streams`, moving arrays of messages):
 *
 *   producers → intake → [rate limit] → [partition router] → processors (concurrentMap)
 *     → [batcher router (when more than one lane) → batcher stage (per lane) → batch processors
 *        (concurrentMap)] → acks
 *
 * With one batcher lane and processors not partitioned, the processors, the batcher stage and the
 * batch processors are one stream (`SingleLane`): the processors place their results in the batches
 * themselves, the batches go straight to `handleBatch`, and, without a rate limiter, the processors
 * take their arrays from the intake themselves (the intake is then in no stream pipeline).
 *
 * Memory bound: every stage holds at most (its `highWaterMark` + its concurrency) arrays; an array
 * holds at most `maxDemand` messages (× processor lanes at the intake when partitioned), a batch at
 * most `batchSize`. `docs/pipeline.md` writes the sum out.
 */
import { Readable, Writable } from 'node:stream'
import { pipeline as pipe } from 'node:stream/promises'
import { PipelineStateError, RateLimitingDisabledError, ShutdownTimeoutError, toError } from '../errors.js'
import type { BatchAccumulator } from '../internal/batch-builder.js'
import { defaultLogger, type Logger } from '../logger.js'
import { Message, type Acknowledger, type BatchMode } from '../message.js'
import { concurrentMap } from '../streams/concurrent-map.js'
import { laneOf, merge } from '../streams/partition.js'
import { RateLimiter, type RateLimitState, type RateLimitUpdate } from '../streams/rate-limit.js'
import { Acker } from './acker.js'
import { batchProcessorStage } from './batch-processor-stage.js'
import { BatcherStage, type BatcherLaneOptions, type BatchInfo } from './batcher-stage.js'
import { ChunkRouter } from './chunk-router.js'
import { Intake } from './intake.js'
import { PipelineMetrics, type MetricsSnapshot } from './metrics.js'
import { resolvePipelineOptions, type ResolvedPipelineOptions } from './options.js'
import { processorStage, type BatcherRoute } from './processor-stage.js'
import type { ProducerSource } from './producer.js'
import { ProducerSupervisor } from './producer-supervisor.js'
import { rateStage } from './rate-stage.js'
import { SingleLane, type BatchProcessors } from './single-lane.js'
import { channels, logEvents } from './telemetry.js'

/** Arrays (or batches) each engine stage buffers on each side. */
const STAGE_HIGH_WATER_MARK = 4

/** Options of `Pipeline`, typed by the message data `T` and the context `C`. See `docs/pipeline.md`. */
export interface PipelineOptions<T = unknown, C = unknown> {
  /** Unique among running pipelines; in every log line and telemetry event. */
  name: string
  producer: {
    /** A Readable of messages, a `Producer`, or a factory of either (needed for restarts and concurrency). */
    source: ProducerSource
    /** Producers at once. @default 1 */
    concurrency?: number
    /** Turns each event of the stream into a `Message`; by default a non-message is wrapped. */
    transform?: (event: never) => Message<T>
    /** Restarts of crashed producers allowed within `restartWindowMs`. @default 3 */
    maxRestarts?: number
    /** @default 5000 */
    restartWindowMs?: number
  }
  /** @default { default: {} } */
  processors?: {
    default?: {
      /** Processors at once. @default CPUs × 2 */
      concurrency?: number
      /** Messages a processor takes at once. @default 10 */
      maxDemand?: number
      partitionBy?: (message: Message<T>) => unknown
    }
  }
  batchers?: Record<
    string,
    {
      /** Messages per batch, or an accumulator such as `sizeLimit`. @default 100 */
      batchSize?: number | BatchAccumulator<Message<T>>
      /** @default 1000 */
      batchTimeoutMs?: number
      /** Batch processors at once. @default 1 */
      concurrency?: number
      partitionBy?: (message: Message<T>) => unknown
    }
  >
  /** Partition key for processors and batchers: one lane per key, in order, end to end. */
  partitionBy?: (message: Message<T>) => unknown
  rateLimiting?: { allowedMessages: number; intervalMs: number }
  context?: C
  /** Handles one message: returns it, or nothing (change it in place); a throw fails it. */
  handleMessage: (
    processor: string,
    message: Message<T>,
    context: C,
  ) => Message<T> | undefined | PromiseLike<Message<T> | undefined>
  /** Before `handleMessage`, on a processor's group of messages; returns those messages (any order). */
  prepareMessages?: (messages: Message<T>[], context: C) => Message<T>[] | PromiseLike<Message<T>[]>
  /** Handles a batch; returns its messages (a missing one is acked failed); a throw fails the batch. */
  handleBatch?: (
    batcher: string,
    messages: Message<T>[],
    batchInfo: BatchInfo,
    context: C,
  ) => Message<T>[] | PromiseLike<Message<T>[]>
  /** Sees failed messages before they are acked (dead-letter them here); a throw still acks them failed. */
  handleFailed?: (
    messages: Message<T>[],
    context: C,
  ) => Message<T>[] | undefined | PromiseLike<Message<T>[] | undefined>
  /** Most time `stop()` waits for in-flight messages. @default 30000 */
  shutdownTimeoutMs?: number
  /** A pino logger. @default pino at `warn` to stderr */
  logger?: Logger
}

/** How a pipeline came to stop. */
export type StopReason = 'stopped' | 'ended' | 'failed'

/** What `stop()` and `done` resolve with. */
export interface StopReport {
  /** `stopped`: by `stop()`; `ended`: every producer ended; `failed`: a fatal error (see `error`). */
  readonly reason: StopReason
  readonly error?: Error
  /** `stop()` ran past `shutdownTimeoutMs` and tore the stages down. */
  readonly timedOut: boolean
  readonly received: number
  readonly successful: number
  readonly failed: number
  /** Messages taken in and never acked (their sources redeliver them). */
  readonly unacked: number
  readonly durationMs: number
}

/** What the test API resolves with: exactly the messages of that call, once acked. */
export interface TestResult<T> {
  readonly successful: Message<T>[]
  readonly failed: Message<T>[]
}

/** Options of `testMessage` / `testBatch`. */
export interface TestOptions {
  metadata?: Readonly<Record<string, unknown>>
  /** `testMessage` defaults to `'flush'` (no waiting for a batch timeout), `testBatch` to `'bulk'`. */
  batchMode?: BatchMode
}

/** What `topology()` returns. */
export interface Topology {
  readonly name: string
  readonly producers: readonly { readonly name: string; readonly concurrency: number }[]
  readonly rateLimiting: { readonly allowedMessages: number; readonly intervalMs: number } | undefined
  readonly processors: readonly {
    readonly name: string
    readonly concurrency: number
    readonly maxDemand: number
    readonly partitioned: boolean
  }[]
  readonly batchers: readonly {
    readonly name: string
    readonly batchSize: number | 'accumulator'
    readonly batchTimeoutMs: number
    readonly concurrency: number
    readonly partitioned: boolean
  }[]
}

/** Where a pipeline is in its life. */
export type PipelineState = 'idle' | 'starting' | 'running' | 'draining' | 'stopped'

const running = new Map<string, Pipeline<never, never>>()

/** A stage of the graph. */
type Stage = Readable | Writable

/** A batcher lane: its batcher's rules, and its batch processors. */
interface BatcherLaneParts {
  readonly batcher: BatcherLaneOptions
  readonly batchProcessors: BatchProcessors
}
let sharedLogger: Logger | undefined

/**
 * A Broadway-style pipeline. Build it with its options (validated at once, naming the bad option's
 * path), `await start()`, and `await stop()` for a graceful shutdown. See `docs/pipeline.md`.
 * @example
 * const p = new Pipeline({
 *   name: 'orders',
 *   producer: { source: ordersReadable },
 *   processors: { default: { concurrency: 8 } },
 *   batchers: { db: { batchSize: 500, batchTimeoutMs: 1000 } },
 *   handleMessage: (_, message) => message.putBatcher('db'),
 *   handleBatch: async (_, messages) => { await insert(messages.map((m) => m.data)); return messages },
 * })
 * await p.start()
 * const report = await p.done // every producer ended and every message is acked
 */
export class Pipeline<T = unknown, C = unknown> {
  /** The resolved options, frozen. */
  readonly config: ResolvedPipelineOptions
  /** The pipeline's name. */
  readonly name: string
  /** Resolves with the report when the pipeline has stopped, for whatever reason. */
  readonly done: Promise<StopReport>
  readonly #logger: Logger
  readonly #limiter: RateLimiter | undefined
  #resolveDone: (report: StopReport) => void = () => undefined
  #state: PipelineState = 'idle'
  #starting: Promise<void> | undefined
  #metrics: PipelineMetrics
  #intake: Intake | undefined
  #supervisor: ProducerSupervisor | undefined
  readonly #streams: Stage[] = []
  /** One promise per linear part of the graph; all settled means the pipeline has stopped. */
  readonly #pending: Promise<void>[] = []
  #stopRequested = false
  #draining = false
  #fatalError: Error | undefined
  #graphError: Error | undefined
  #timedOut = false
  #timer: NodeJS.Timeout | undefined
  #endedByProducers = false
  #acker: Acker | undefined
  /** Rejects the test API calls still waiting when the pipeline stops. */
  readonly #testWaiters = new Set<(error: Error) => void>()

  constructor(options: PipelineOptions<T, C>) {
    this.config = resolvePipelineOptions(options)
    this.name = this.config.name
    const logger = this.config.logger ?? (sharedLogger ??= defaultLogger())
    this.#logger = logger.child({ pipeline: this.name })
    this.#limiter =
      this.config.rateLimiting === undefined ? undefined : new RateLimiter(this.config.rateLimiting)
    this.#metrics = new PipelineMetrics(Object.keys(this.config.batchers ?? {}))
    this.done = new Promise((resolve) => {
      this.#resolveDone = resolve
    })
  }

  /** Every pipeline started and not yet stopped. */
  static allRunning(): readonly Pipeline[] {
    return [...running.values()] as Pipeline[]
  }

  /** Builds the stages and starts the producers. Rejects if a producer cannot be created. */
  async start(): Promise<this> {
    if (this.#state !== 'idle')
      throw new PipelineStateError(`Pipeline ${JSON.stringify(this.name)} was already started`)
    if (running.has(this.name))
      throw new PipelineStateError(`A pipeline named ${JSON.stringify(this.name)} is already running`)
    running.set(this.name, this as unknown as Pipeline<never, never>)
    this.#state = 'starting'
    this.#metrics = new PipelineMetrics(Object.keys(this.config.batchers ?? {}))
    const supervisor = this.#build()
    this.#supervisor = supervisor
    this.#starting = supervisor.start()
    try {
      await this.#starting
    } catch (error) {
      this.#fatalError = toError(error)
      this.#teardown(this.#fatalError)
      await this.done
      throw this.#fatalError
    }
    if (!this.#draining) this.#state = 'running'
    if (channels.topologyInit.hasSubscribers)
      channels.topologyInit.publish({ pipeline: this.name, topology: this.topology() })
    return this
  }

  /**
   * Stops gracefully: stops intake, drains the messages inside, flushes partial batches at once,
   * acks, then closes the producers — within `shutdownTimeoutMs`, after which the stages are torn
   * down and what they held is reported as unacked.
   */
  async stop(): Promise<StopReport> {
    if (this.#state === 'idle')
      throw new PipelineStateError(`Pipeline ${JSON.stringify(this.name)} was not started`)
    this.#stopRequested = true
    // Armed first: a start() that hangs (a producer factory that never settles) is bounded too.
    this.#armShutdownTimer()
    if (this.#starting !== undefined) await Promise.race([this.#starting.catch(() => undefined), this.done])
    this.#drain()
    return this.done
  }

  /** `'idle'`, `'starting'`, `'running'`, `'draining'` or `'stopped'`. */
  get state(): PipelineState {
    return this.#state
  }

  /** Sends one message through the pipeline; resolves once it is acked. Defaults to `batchMode: 'flush'`. */
  testMessage(data: T, options: TestOptions = {}): Promise<TestResult<T>> {
    return this.testBatch([data], { batchMode: 'flush', ...options })
  }

  /** Sends messages through the pipeline together; resolves once all of them are acked. */
  testBatch(list: readonly T[], options: TestOptions = {}): Promise<TestResult<T>> {
    if (this.#state !== 'running' || this.#intake === undefined)
      return Promise.reject(
        new PipelineStateError(
          `The test API needs a running pipeline; ${JSON.stringify(this.name)} is ${this.#state}`,
        ),
      )
    const intake = this.#intake
    return new Promise((resolve, reject) => {
      this.#testWaiters.add(reject)
      const successful: Message<T>[] = []
      const failed: Message<T>[] = []
      let left = list.length
      const acknowledger: Acknowledger = {
        ack(ok, bad) {
          for (const message of ok) successful.push(message as Message<T>)
          for (const message of bad) failed.push(message as Message<T>)
          left -= ok.length + bad.length
          if (left === 0) {
            waiters.delete(reject)
            resolve({ successful, failed })
          }
        },
      }
      const waiters = this.#testWaiters
      if (left === 0) {
        waiters.delete(reject)
        resolve({ successful, failed })
      }
      const mode = options.batchMode ?? 'bulk'
      const metadata = options.metadata
      intake.inject(
        list.map((data) => new Message(data, { metadata, acknowledger }).putBatchMode(mode) as Message),
      )
    })
  }

  /** The rate limit in force and the tokens left in the current window. */
  getRateLimiting(): RateLimitState {
    if (this.#limiter === undefined) throw new RateLimitingDisabledError(this.name)
    return this.#limiter.get()
  }

  /** Changes the rate limit at run time (from the next window, or now with `reset: true`). */
  updateRateLimiting(update: RateLimitUpdate): void {
    if (this.#limiter === undefined) throw new RateLimitingDisabledError(this.name)
    this.#limiter.update(update)
  }

  /** The stages, their names and concurrency. */
  topology(): Topology {
    const c = this.config
    const processor = c.processors.default
    return {
      name: this.name,
      producers: [{ name: `${this.name}.producer`, concurrency: c.producer.concurrency }],
      rateLimiting: c.rateLimiting,
      processors: [
        {
          name: 'default',
          concurrency: processor.concurrency,
          maxDemand: processor.maxDemand,
          partitioned: (processor.partitionBy ?? c.partitionBy) !== undefined,
        },
      ],
      batchers: Object.entries(c.batchers ?? {}).map(([name, b]) => ({
        name,
        batchSize: typeof b.batchSize === 'number' ? b.batchSize : 'accumulator',
        batchTimeoutMs: b.batchTimeoutMs,
        concurrency: b.concurrency,
        partitioned: (b.partitionBy ?? c.partitionBy) !== undefined,
      })),
    }
  }

  /** A snapshot of the pipeline's figures: throughput, latency, failures, in-flight, batches. */
  metrics(): MetricsSnapshot {
    return this.#metrics.snapshot()
  }

  #build(): ProducerSupervisor {
    const c = this.config
    const hwm = STAGE_HIGH_WATER_MARK
    const processor = c.processors.default
    const processorKey = (processor.partitionBy ?? c.partitionBy) as ((m: Message) => unknown) | undefined
    const lanes = processor.concurrency
    const metrics = this.#metrics
    const intake = new Intake({
      chunkSize: processorKey === undefined ? processor.maxDemand : processor.maxDemand * lanes,
      highWaterMark: hwm,
      transform: c.producer.transform,
      metrics,
    })
    this.#intake = intake
    const acker = new Acker({
      name: this.name,
      context: c.context,
      logger: this.#logger,
      metrics,
      handleFailed: c.handleFailed as ((messages: Message[], context: unknown) => unknown) | undefined,
    })
    this.#acker = acker
    const routes = this.#batcherRoutes()
    const head: Stage[] = [intake]
    if (this.#limiter !== undefined) head.push(rateStage(this.#limiter, hwm))
    const processChunk = processorStage({
      name: this.name,
      context: c.context,
      metrics,
      acker,
      handleMessage: c.handleMessage as (processor: string, message: Message, context: unknown) => unknown,
      prepareMessages: c.prepareMessages as ((messages: Message[], context: unknown) => unknown) | undefined,
      batchers: routes.size === 0 ? undefined : routes,
    })
    // Each batcher lane's stages; the processors feed them through a router by `message.lane`, or
    // straight when there is one lane (one batcher, not partitioned): a router would pass every
    // array whole, and it and its lane are two stream hops per array.
    const batcherLanes = this.#batcherLanes(routes, acker)
    const laneStages = (lane: BatcherLaneParts): Stage[] => [
      new BatcherStage(lane.batcher),
      concurrentMap(lane.batchProcessors.run, {
        concurrency: lane.batchProcessors.concurrency,
        ordered: false,
        highWaterMark: hwm,
      }),
      nullSink(),
    ]
    const single = batcherLanes.length === 1 ? (batcherLanes[0] as BatcherLaneParts) : undefined
    if (processorKey === undefined && single !== undefined) {
      // And unpartitioned processors, that lane's batcher and its batch processors are one stream
      // (no stream hop between them); it takes the intake's arrays itself when nothing stands
      // between the two.
      const from = this.#limiter === undefined ? intake : undefined
      const lane = new SingleLane(processChunk, lanes, single.batcher, single.batchProcessors, from)
      this.#segment(from === undefined ? [...head, lane, nullSink()] : [lane, nullSink()])
    } else {
      let tail: Stage[]
      if (batcherLanes.length === 0) tail = [nullSink()]
      else if (single !== undefined) tail = laneStages(single)
      else {
        const batcherRouter = new ChunkRouter(batcherLanes.length, hwm, (message) => message.lane)
        batcherLanes.forEach((lane, index) => {
          this.#segment([batcherRouter.lanes[index] as Readable, ...laneStages(lane)])
        })
        tail = [batcherRouter]
      }
      this.#processors(head, processChunk, processorKey, tail, batcherLanes.length > 0)
    }
    return new ProducerSupervisor({
      pipeline: this.name,
      source: c.producer.source,
      concurrency: c.producer.concurrency,
      maxRestarts: c.producer.maxRestarts,
      restartWindowMs: c.producer.restartWindowMs,
      intake,
      logger: this.#logger,
      metrics,
      onFatal: (error) => {
        this.#fatalError ??= error
        this.#armShutdownTimer()
        this.#drain()
      },
      onAllEnded: () => {
        if (!this.#stopRequested) this.#endedByProducers = true
        this.#drain()
      },
    })
  }

  /** The processors between `head` and `tail`: one `concurrentMap`, or one per partition. */
  #processors(
    head: Stage[],
    processChunk: (chunk: Message[]) => Message[] | null | Promise<Message[] | null>,
    processorKey: ((m: Message) => unknown) | undefined,
    tail: Stage[],
    batched: boolean,
  ): void {
    const hwm = STAGE_HIGH_WATER_MARK
    const lanes = this.config.processors.default.concurrency
    if (processorKey === undefined) {
      const processors = concurrentMap(processChunk, {
        concurrency: lanes,
        ordered: false,
        highWaterMark: hwm,
      })
      this.#segment([...head, processors, ...tail])
      return
    }
    const router = new ChunkRouter(
      lanes,
      hwm,
      (message) => partitionLane(processorKey, message, lanes),
      this.config.processors.default.maxDemand,
    )
    this.#segment([...head, router])
    const outputs = router.lanes.map((lane) => {
      const processors = concurrentMap(processChunk, { concurrency: 1, highWaterMark: hwm })
      this.#segment(batched ? [lane, processors] : [lane, processors, ...tail])
      return processors
    })
    if (batched) this.#segment([merge(outputs, { highWaterMark: hwm }), ...tail])
  }

  #batcherRoutes(): Map<string, BatcherRoute> {
    const c = this.config
    const routes = new Map<string, BatcherRoute>()
    let firstLane = 0
    for (const [name, b] of Object.entries(c.batchers ?? {})) {
      const partitionBy = (b.partitionBy ?? c.partitionBy) as ((m: Message) => unknown) | undefined
      const lanes = partitionBy === undefined ? 1 : b.concurrency
      routes.set(name, { name, firstLane, lanes, partitionBy })
      firstLane += lanes
    }
    return routes
  }

  /** Each batcher lane, in lane order (`message.lane`): its batcher's rules, and its batch processors. */
  #batcherLanes(routes: Map<string, BatcherRoute>, acker: Acker): BatcherLaneParts[] {
    const c = this.config
    const handleBatch = c.handleBatch as (
      name: string,
      messages: Message[],
      info: BatchInfo,
      context: unknown,
    ) => unknown
    const lanes: BatcherLaneParts[] = []
    for (const route of routes.values()) {
      const b = (c.batchers ?? {})[route.name]
      const counters = this.#metrics.batchers.get(route.name)
      if (b === undefined || counters === undefined) continue
      const processBatch = batchProcessorStage({
        name: this.name,
        context: c.context,
        logger: this.#logger,
        acker,
        handleBatch,
        counters,
      })
      for (let partition = 0; partition < route.lanes; partition++) {
        const batcher: BatcherLaneOptions = {
          pipeline: this.name,
          batcher: route.name,
          partition,
          batchSize: b.batchSize,
          batchTimeoutMs: b.batchTimeoutMs,
          highWaterMark: STAGE_HIGH_WATER_MARK,
          counters,
        }
        // A partitioned batcher keeps one batch processor per lane, so a key's batches stay in order.
        const concurrency = route.partitionBy === undefined ? b.concurrency : 1
        lanes[route.firstLane + partition] = { batcher, batchProcessors: { run: processBatch, concurrency } }
      }
    }
    return lanes
  }

  /** Runs one linear part of the graph; a failure anywhere tears the whole graph down. */
  #segment(streams: Stage[]): void {
    this.#streams.push(...streams)
    const done = pipe(streams as unknown as NodeJS.ReadableStream[]).catch((error: unknown) => {
      this.#teardown(toError(error))
    })
    this.#pending.push(done)
    if (this.#pending.length === 1)
      queueMicrotask(() => {
        void this.#whenAllSettled()
      })
  }

  async #whenAllSettled(): Promise<void> {
    // Segments are all added while building, before this runs.
    await Promise.all(this.#pending)
    await this.#finished()
  }

  #drain(): void {
    if (this.#draining || this.#state === 'stopped') return
    this.#draining = true
    if (this.#state === 'running' || this.#state === 'starting') this.#state = 'draining'
    void this.#supervisor?.drain()
    this.#intake?.finish()
  }

  /** Bounds a stop (or a fatal drain) by `shutdownTimeoutMs`, once. */
  #armShutdownTimer(): void {
    if (this.#timer !== undefined || this.#state === 'stopped') return
    const timeoutMs = this.config.shutdownTimeoutMs
    this.#timer = setTimeout(() => {
      this.#timedOut = true
      this.#logger.error(
        { event: logEvents.shutdownTimedOut, timeoutMs, inFlight: this.#metrics.inFlight },
        'The pipeline did not drain in time; tearing it down',
      )
      this.#teardown(new ShutdownTimeoutError(timeoutMs))
    }, timeoutMs)
  }

  /** The producers' `close` hooks, bounded by `shutdownTimeoutMs` too: a hook that hangs is logged and left. */
  async #closeProducers(): Promise<void> {
    const supervisor = this.#supervisor
    if (supervisor === undefined) return
    const timeoutMs = this.config.shutdownTimeoutMs
    let timer: NodeJS.Timeout | undefined
    const timedOut = new Promise<boolean>((resolve) => {
      timer = setTimeout(() => {
        resolve(true)
      }, timeoutMs)
    })
    const late = await Promise.race([supervisor.close().then(() => false), timedOut])
    clearTimeout(timer)
    if (late)
      this.#logger.error(
        { event: logEvents.shutdownTimedOut, timeoutMs, hook: 'close' },
        'A producer’s close did not finish in time',
      )
  }

  #teardown(error: Error): void {
    this.#graphError ??= error
    // Handlers still running when the stages go must not ack: their messages are reported unacked.
    this.#acker?.stop()
    if (this.#state === 'running' || this.#state === 'starting') this.#state = 'draining'
    for (const stream of this.#streams) if (!stream.destroyed) stream.destroy(error)
    // An intake whose arrays are taken is in no stream pipeline: nobody would listen for its error.
    if (this.#intake?.destroyed === false) this.#intake.destroy()
  }

  async #finished(): Promise<void> {
    if (this.#timer !== undefined) clearTimeout(this.#timer)
    this.#draining = true
    await this.#closeProducers()
    running.delete(this.name)
    for (const reject of this.#testWaiters)
      reject(
        new PipelineStateError(
          `Pipeline ${JSON.stringify(this.name)} stopped before these messages were acked`,
        ),
      )
    this.#testWaiters.clear()
    this.#state = 'stopped'
    const m = this.#metrics
    const error = this.#fatalError ?? (this.#timedOut ? undefined : this.#graphError)
    const report: StopReport = Object.freeze({
      reason: error !== undefined ? 'failed' : this.#endedByProducers ? 'ended' : 'stopped',
      ...(error === undefined ? {} : { error }),
      timedOut: this.#timedOut,
      received: m.received,
      successful: m.successful,
      failed: m.failed,
      unacked: m.inFlight,
      durationMs: performance.now() - m.startedAt,
    })
    if (error !== undefined && this.#fatalError === undefined)
      this.#logger.error({ err: error }, 'The pipeline failed')
    if (channels.pipelineStop.hasSubscribers) channels.pipelineStop.publish({ pipeline: this.name, report })
    this.#resolveDone(report)
  }
}

/** The processor lane of a message; a key that has no lane fails the message (skipped by the processors). */
function partitionLane(keyOf: (message: Message) => unknown, message: Message, lanes: number): number {
  try {
    return laneOf(keyOf(message), lanes)
  } catch (error) {
    message.failed(error).skipProcessing = true
    return 0
  }
}

/** The end of a segment: the acks happened in the stage before, so nothing is left to write. */
function nullSink(): Writable {
  return new Writable({
    objectMode: true,
    write(_chunk, _encoding, callback) {
      callback()
    },
  })
}
