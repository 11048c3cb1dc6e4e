/**
 * Producers: where a pipeline's messages come from. A producer is a Readable of messages (or of
 * plain values, which the engine wraps), with optional hooks the engine calls at shutdown so that a
 * source like Kafka can stop fetching and then commit after the last ack.
 */
import { Readable } from 'node:stream'

/** A source of messages with shutdown hooks. A bare Readable is a producer without hooks. */
export interface Producer {
  /** The messages (`Message` instances, or values the engine wraps in one). */
  readonly stream: Readable
  /**
   * Called when `stop()` begins: stop fetching. The engine stops reading `stream` at the same time;
   * what the stream still holds is never taken, so it is never acked and its source redelivers it.
   * Broadway's `prepare_for_draining`.
   */
  prepareForDraining?(): void | PromiseLike<void>
  /** Called after the last ack of the pipeline (and after a crash): commit, disconnect, release. */
  close?(): void | PromiseLike<void>
}

/**
 * What `producer.source` accepts: a Readable, a `Producer`, or a factory of either (called once per
 * `producer.concurrency`, and again to restart a producer that crashed). Only a factory can be
 * restarted or run with a concurrency above 1.
 */
export type ProducerSource =
  Readable | Producer | ((index: number) => Readable | Producer | PromiseLike<Readable | Producer>)

/** True when `value` is a `Producer` (an object with a Readable `stream`). */
export function isProducer(value: unknown): value is Producer {
  return (
    typeof value === 'object' && value !== null && (value as { stream?: unknown }).stream instanceof Readable
  )
}

/** `value` as a `Producer`: a bare Readable becomes a producer without hooks. */
export function toProducer(value: Readable | Producer): Producer {
  return value instanceof Readable ? { stream: value } : value
}

/**
 * A producer that produces nothing by itself: the pipeline under test gets its messages from
 * `testMessage` / `testBatch` only. It ends when the pipeline stops. Broadway's `DummyProducer`.
 * @example
 * const p = new Pipeline({ name: 't', producer: { source: new DummyProducer() }, … })
 */
export class DummyProducer implements Producer {
  readonly stream: Readable = new Readable({
    objectMode: true,
    read() {
      // messages come from the test API
    },
  })

  /** Ends the stream. */
  prepareForDraining(): void {
    this.stream.push(null)
  }
}
