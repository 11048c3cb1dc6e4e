/**
 * `partitionBy` routes one object stream into N lane Readables by key, keeping per-key order;
 * `merge` joins Readables back into one, with backpressure.
 *
 * Buffer bound: each lane buffers at most `highWaterMark` items. When the lane an item goes to is
 * full, the router holds that `write()` until the lane is read, so upstream stops too.
 *
 * A slow lane therefore slows every lane: once its buffer is full the router stops taking items,
 * the other lanes drain what they hold and then wait (head-of-line blocking across lanes). That is
 * the price of losing nothing and holding bounded memory; give a lane more `highWaterMark` to ride
 * out short stalls, and choose keys that spread the load.
 */
import { Readable } from 'node:stream'
import { z } from 'zod'
import {
  InvalidOptionError,
  InvalidPartitionKeyError,
  PrematureCloseError,
  describeValue,
} from '../errors.js'
import { LaneRouter } from '../internal/lane-router.js'
import { assertFunction, integer, parseOptions, type ResolvedOptions } from '../options.js'

/** Schema of `partitionBy`'s options; the docs table and the type come from it. */
export const partitionByOptionsSchema = z.strictObject({
  partitions: integer(1).meta({ description: 'Number of lanes (required).', default: 'required' }),
  highWaterMark: integer(1).default(16).meta({ description: 'Items buffered per lane (and on the router).' }),
})

/** Options of `partitionBy`. */
export type PartitionByOptions = z.input<typeof partitionByOptionsSchema>

/**
 * The lane a key goes to among `partitions`: safe integers (and bigints) by modulo, strings,
 * booleans and other numbers by a stable 32-bit FNV-1a hash of their text. The same key gives the
 * same lane in every process and every run.
 */
export function partitionOf(key: unknown, partitions: number): number {
  if (!Number.isSafeInteger(partitions) || partitions < 1) {
    throw new InvalidOptionError(
      'partitions',
      `\`partitions\` must be an integer ≥ 1, got ${describeValue(partitions)}`,
      partitions,
    )
  }
  return laneOf(key, partitions)
}

/** `partitionOf` without the check of `partitions`, for the router's hot path. */
export function laneOf(key: unknown, partitions: number): number {
  if (typeof key === 'number' && Number.isSafeInteger(key))
    return ((key % partitions) + partitions) % partitions
  if (typeof key === 'bigint') {
    const n = BigInt(partitions)
    return Number(((key % n) + n) % n)
  }
  if (typeof key === 'string') return fnv1a(key) % partitions
  if (typeof key === 'number' || typeof key === 'boolean') return fnv1a(String(key)) % partitions
  throw new InvalidPartitionKeyError(key)
}

function fnv1a(text: string): number {
  let hash = 0x811c9dc5
  for (let i = 0; i < text.length; i++) {
    hash ^= text.charCodeAt(i)
    hash = Math.imul(hash, 0x01000193)
  }
  return hash >>> 0
}

/** The Writable `partitionBy` returns; its `lanes` are the routed Readables. */
export class PartitionRouter<T> extends LaneRouter<T> {
  /** The validated options, frozen. */
  readonly options: ResolvedOptions<typeof partitionByOptionsSchema>
  readonly #keyOf: (item: T) => unknown
  readonly #partitions: number

  constructor(keyOf: (item: T) => unknown, options: PartitionByOptions) {
    assertFunction(keyOf, 'keyOf')
    const resolved = parseOptions(partitionByOptionsSchema, options)
    super(resolved.partitions, resolved.highWaterMark)
    this.options = resolved
    this.#keyOf = keyOf
    this.#partitions = resolved.partitions
  }

  protected route(item: T): void {
    this.pushTo(laneOf(this.#keyOf(item), this.#partitions), item)
  }
}

/**
 * Routes an object stream into `partitions` lanes by `keyOf(item)` (see `partitionOf`), so that
 * the items of one key stay in order on one lane. Use the router as the last stream of one
 * pipeline and each `router.lanes[i]` as the first stream of another; `merge` joins lanes back.
 *
 * @param keyOf the partition key of an item: a number, bigint, string or boolean.
 * @param options.partitions number of lanes. Required.
 * @param options.highWaterMark items buffered per lane. @default 16
 * @example
 * const router = partitionBy((order) => order.customerId, { partitions: 4 })
 * const tails = router.lanes.map((lane) => {
 *   const tail = concurrentMap(handle)
 *   pipeline(lane, tail).catch((error) => router.destroy(error)) // errors reach both sides
 *   return tail
 * })
 * await Promise.all([pipeline(source, router), pipeline(merge(tails), sink)])
 */
export function partitionBy<T>(keyOf: (item: T) => unknown, options: PartitionByOptions): PartitionRouter<T> {
  return new PartitionRouter(keyOf, options)
}

/** Schema of `merge`'s options. */
export const mergeOptionsSchema = z.strictObject({
  highWaterMark: integer(1).default(16).meta({ description: 'Items buffered by the merged Readable.' }),
})

/** Options of `merge`. */
export type MergeOptions = z.input<typeof mergeOptionsSchema>

/**
 * Joins object Readables into one Readable. Each input's order is kept; inputs interleave as they
 * produce. When the output is not read, every input is paused (backpressure). The output ends when
 * every input has ended; an error in any input destroys the output and the other inputs, and
 * destroying the output destroys the inputs.
 *
 * @param streams the Readables to join.
 * @param options.highWaterMark items buffered by the output. @default 16
 * @example
 * await pipeline(merge([fromKafka, fromFile]), sink) // lanes of a router: see `partitionBy`
 */
export function merge(streams: readonly Readable[], options?: MergeOptions): Readable {
  const given: unknown = streams
  if (!Array.isArray(given) || given.some((s) => !(s instanceof Readable))) {
    throw new InvalidOptionError('streams', '`streams` must be an array of Readables', streams)
  }
  const resolved = parseOptions(mergeOptionsSchema, options)
  const inputs = streams.slice()
  let open = inputs.length
  const output = new Readable({
    objectMode: true,
    highWaterMark: resolved.highWaterMark,
    read() {
      for (const input of inputs) input.resume()
    },
    destroy(error, callback) {
      // `onError` stays attached, so the errors these teardowns emit are handled.
      for (const input of inputs) if (!input.destroyed) input.destroy(error ?? undefined)
      callback(error)
    },
  })
  function onError(error: Error) {
    output.destroy(error)
  }
  function onEnd() {
    if (--open === 0) output.push(null)
  }
  function onData(this: Readable, item: unknown) {
    if (!output.push(item)) for (const input of inputs) input.pause()
  }
  if (open === 0) output.push(null)
  for (const input of inputs) {
    input.on('data', onData)
    input.once('end', onEnd)
    input.on('error', onError)
    // An input closed without ending was torn down: the merged stream cannot complete.
    input.once('close', () => {
      if (!input.readableEnded && !output.destroyed)
        output.destroy(new PrematureCloseError('A merged stream closed before it ended'))
    })
  }
  return output
}
