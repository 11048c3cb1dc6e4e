/**
 * Metadata v6: this one node, the controller, and the topics asked for (all of them when the list is
 * null). An unknown topic is created on the spot when the client allows it and the broker's
 * `autoCreateTopics` is on, with `defaultPartitions` partitions and no LEADER_NOT_AVAILABLE round
 * (real Kafka's first answer for a new topic), which only slows clients down.
 */
import { Encoder, type Decoder } from '../codec.js'
import { kafkaErrorCodes as E } from '../protocol.js'
import { topicNameProblem } from '../topic-store.js'
import type { ApiHandler, BrokerState } from './api.js'

/** A Metadata v6 request. */
export interface MetadataRequest {
  /** `null`: every topic. */
  readonly topics: string[] | null
  readonly allowAutoTopicCreation: boolean
}

interface TopicAnswer {
  readonly errorCode: number
  readonly name: string
  readonly partitions: number
}

function answer(broker: BrokerState, topics: readonly TopicAnswer[]): Encoder {
  const { nodeId, host, port } = broker.address
  return new Encoder()
    .writeInt32(0)
    .writeArray([broker.address], (e) =>
      e.writeInt32(nodeId).writeString(host).writeInt32(port).writeString(null),
    )
    .writeString(broker.clusterId)
    .writeInt32(nodeId)
    .writeArray(topics, (e, topic) =>
      e
        .writeInt16(topic.errorCode)
        .writeString(topic.name)
        .writeBoolean(false)
        .writeArray(
          Array.from({ length: topic.partitions }, (_, i) => i),
          (p, partition) =>
            p
              .writeInt16(0)
              .writeInt32(partition)
              .writeInt32(nodeId)
              .writeInt32Array([nodeId])
              .writeInt32Array([nodeId])
              .writeInt32Array([]),
        ),
    )
}

function lookUp(broker: BrokerState, name: string, autoCreate: boolean): TopicAnswer {
  const known = broker.topics.get(name)
  if (known !== undefined) return { errorCode: 0, name, partitions: known.length }
  if (topicNameProblem(name) !== undefined)
    return { errorCode: E.INVALID_TOPIC_EXCEPTION, name, partitions: 0 }
  if (!autoCreate) return { errorCode: E.UNKNOWN_TOPIC_OR_PARTITION, name, partitions: 0 }
  broker.topics.create(name, broker.defaultPartitions)
  broker.logger.debug({ topic: name, partitions: broker.defaultPartitions }, 'topic auto-created')
  return { errorCode: 0, name, partitions: broker.defaultPartitions }
}

/** Metadata v6. */
export const metadataApi: ApiHandler<MetadataRequest> = {
  name: 'Metadata',
  decode: (d: Decoder) => ({
    topics: d.readNullableArray((t) => t.readString()),
    allowAutoTopicCreation: d.readBoolean(),
  }),
  handle: (request, { broker }) => {
    const autoCreate = request.allowAutoTopicCreation && broker.autoCreateTopics
    const names = request.topics ?? broker.topics.names()
    return answer(
      broker,
      names.map((name) => lookUp(broker, name, autoCreate)),
    )
  },
  fail: (request, errorCode, { broker }) =>
    answer(
      broker,
      (request.topics ?? broker.topics.names()).map((name) => ({ errorCode, name, partitions: 0 })),
    ),
}
