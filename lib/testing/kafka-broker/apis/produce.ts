/**
 * Produce v7: each partition's record batches are appended as they are (see `partition-log.ts`) and
 * waiting fetches are woken. One node holds every replica, so acks −1 and 1 are answered at once;
 * acks 0 is not answered at all, as Kafka does. Transactional ids and producer sequence numbers are
 * not checked (no transactions, no deduplication of retried batches).
 */
import { Encoder, type Decoder } from '../codec.js'
import { kafkaErrorCodes as E } from '../protocol.js'
import type { ApiHandler, BrokerState } from './api.js'

/** A Produce v7 request. */
export interface ProduceRequest {
  readonly transactionalId: string | null
  readonly acks: number
  readonly timeoutMs: number
  readonly topics: readonly {
    readonly name: string
    /** `records`: the partition's record batches, a view of the request (copied when stored). */
    readonly partitions: readonly { partition: number; records: Buffer | null }[]
  }[]
}

interface PartitionOutcome {
  readonly partition: number
  readonly errorCode: number
  readonly baseOffset: bigint
  readonly logStartOffset: bigint
}

function answer(topics: readonly { name: string; partitions: readonly PartitionOutcome[] }[]): Encoder {
  return new Encoder()
    .writeArray(topics, (e, topic) =>
      e.writeString(topic.name).writeArray(topic.partitions, (p, o) =>
        p
          .writeInt32(o.partition)
          .writeInt16(o.errorCode)
          .writeInt64(o.baseOffset)
          .writeInt64(-1n) // log_append_time: the log keeps the producer's create time
          .writeInt64(o.logStartOffset),
      ),
    )
    .writeInt32(0) // throttle_time_ms comes last in Produce
}

function append(
  broker: BrokerState,
  topic: string,
  partition: number,
  records: Buffer | null,
): PartitionOutcome {
  const log = broker.topics.partition(topic, partition)
  if (log === undefined)
    return { partition, errorCode: E.UNKNOWN_TOPIC_OR_PARTITION, baseOffset: -1n, logStartOffset: -1n }
  try {
    // An empty or null records field is refused like a malformed one.
    const baseOffset = log.append(records ?? Buffer.alloc(0))
    return { partition, errorCode: 0, baseOffset, logStartOffset: log.logStartOffset }
  } catch (error) {
    broker.logger.warn({ topic, partition, err: error }, 'produce refused: malformed record batch')
    return { partition, errorCode: E.CORRUPT_MESSAGE, baseOffset: -1n, logStartOffset: log.logStartOffset }
  }
}

/** Produce v7. */
export const produceApi: ApiHandler<ProduceRequest> = {
  name: 'Produce',
  decode: (d: Decoder) => ({
    transactionalId: d.readNullableString(),
    acks: d.readInt16(),
    timeoutMs: d.readInt32(),
    topics: d.readArray((t) => ({
      name: t.readString(),
      partitions: t.readArray((p) => ({ partition: p.readInt32(), records: p.readNullableBytes() })),
    })),
  }),
  handle: (request, { broker }) => {
    const acksValid = request.acks === 0 || request.acks === 1 || request.acks === -1
    const topics = request.topics.map((topic) => ({
      name: topic.name,
      partitions: topic.partitions.map((p) => {
        if (!acksValid)
          return {
            partition: p.partition,
            errorCode: E.INVALID_REQUIRED_ACKS,
            baseOffset: -1n,
            logStartOffset: -1n,
          }
        return append(broker, topic.name, p.partition, p.records)
      }),
    }))
    if (topics.some((t) => t.partitions.some((p) => p.errorCode === 0))) broker.topics.appended()
    return request.acks === 0 ? undefined : answer(topics)
  },
  fail: (request, errorCode) =>
    request.acks === 0
      ? undefined
      : answer(
          request.topics.map((topic) => ({
            name: topic.name,
            partitions: topic.partitions.map((p) => ({
              partition: p.partition,
              errorCode,
              baseOffset: -1n,
              logStartOffset: -1n,
            })),
          })),
        ),
}
