/**
 * `MessageChunk`: many messages handed to a pipeline as one stream chunk. A producer that has its
 * records in groups (a Kafka fetch, a block of parsed lines) pushes one `MessageChunk` per group
 * instead of one `Message` per record, so it pays `push()` once per group and the pipeline's intake
 * pays `read()` once per group: Node's per-chunk cost (≈ 0.1–0.2 µs in a busy pipeline, H1 in
 * `benchmarks/RESULTS.md`) is then paid per group rather than per message.
 *
 * A plain array a producer pushes stays one event (users may send arrays as data): only this class
 * is unpacked.
 */
import { InvalidOptionError, describeValue } from './errors.js'
import { Message } from './message.js'

/**
 * Messages a producer hands over as one chunk of its stream. The pipeline unpacks it into its own
 * arrays (a processor's demand, `maxDemand`); `producer.transform` is not applied to them (they are messages
 * already). The array becomes the pipeline's: do not change it after pushing the chunk.
 *
 * Backpressure still holds, counted in chunks: a producer's `highWaterMark` (16 by default) counts
 * chunks, so its stream holds up to `highWaterMark` × chunk size messages. Keep chunks to a few
 * hundred messages, or lower the `highWaterMark`.
 *
 * @param messages the messages, in the order the pipeline is to take them.
 * @example
 * const source = new Readable({
 *   objectMode: true,
 *   read() {
 *     const records = fetchSome() // e.g. 500 records of one Kafka fetch
 *     this.push(records.length === 0 ? null : new MessageChunk(records.map((r) => new Message(r))))
 *   },
 * })
 * new Pipeline({ name: 'orders', producer: { source }, handleMessage: (_, m) => m })
 */
export class MessageChunk<T = unknown, M = Readonly<Record<string, unknown>>> {
  /** The messages, in order. */
  readonly messages: readonly Message<T, M>[]

  constructor(messages: readonly Message<T, M>[]) {
    if (!Array.isArray(messages))
      throw new InvalidOptionError(
        'messages',
        `\`messages\` must be an array of Message, got ${describeValue(messages)}`,
        messages,
      )
    // Checked here, in the producer's own stack, rather than as a failure deep in the pipeline.
    for (let i = 0; i < messages.length; i++)
      if (!(messages[i] instanceof Message))
        throw new InvalidOptionError(
          `messages[${String(i)}]`,
          `\`messages[${String(i)}]\` must be a Message, got ${describeValue(messages[i])}`,
          messages[i],
        )
    this.messages = messages
  }

  /** Messages in the chunk. */
  get length(): number {
    return this.messages.length
  }
}
