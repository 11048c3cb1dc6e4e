/**
 * CreateTopics v3 and DeleteTopics v1 (what `admin.createTopics` / `admin.deleteTopics` send to the
 * controller, which this node is). Topic configs are accepted and ignored; the replication factor
 * can only be 1 (or −1, the default), as there is one node.
 */
import { Encoder, type Decoder } from '../codec.js'
import { kafkaErrorCodes as E } from '../protocol.js'
import { topicNameProblem } from '../topic-store.js'
import type { ApiHandler, BrokerState } from './api.js'

/** One topic of a CreateTopics v3 request. */
export interface CreatableTopic {
  readonly name: string
  /** −1: the broker's default (or the number of `assignments`). */
  readonly numPartitions: number
  readonly replicationFactor: number
  readonly assignments: readonly { partition: number; brokerIds: number[] }[]
  readonly configs: readonly { name: string; value: string | null }[]
}

/** A CreateTopics v3 request. */
export interface CreateTopicsRequest {
  readonly topics: readonly CreatableTopic[]
  readonly timeoutMs: number
  readonly validateOnly: boolean
}

/** A DeleteTopics v1 request. */
export interface DeleteTopicsRequest {
  readonly names: readonly string[]
  readonly timeoutMs: number
}

interface Outcome {
  readonly name: string
  readonly errorCode: number
  readonly message: string | null
}

function createAnswer(outcomes: readonly Outcome[]): Encoder {
  return new Encoder()
    .writeInt32(0)
    .writeArray(outcomes, (e, o) => e.writeString(o.name).writeInt16(o.errorCode).writeString(o.message))
}

function create(
  broker: BrokerState,
  topic: CreatableTopic,
  validateOnly: boolean,
  dupes: Set<string>,
): Outcome {
  const fail = (errorCode: number, message: string): Outcome => ({ name: topic.name, errorCode, message })
  if (dupes.has(topic.name)) return fail(E.INVALID_REQUEST, 'the topic appears more than once in the request')
  const problem = topicNameProblem(topic.name)
  if (problem !== undefined) return fail(E.INVALID_TOPIC_EXCEPTION, problem)
  if (broker.topics.has(topic.name))
    return fail(E.TOPIC_ALREADY_EXISTS, `Topic '${topic.name}' already exists.`)
  const partitions =
    topic.assignments.length > 0
      ? topic.assignments.length
      : topic.numPartitions === -1
        ? broker.defaultPartitions
        : topic.numPartitions
  if (partitions <= 0) return fail(E.INVALID_PARTITIONS, 'the number of partitions must be at least 1')
  if (topic.replicationFactor !== -1 && topic.replicationFactor !== 1)
    return fail(
      E.INVALID_REPLICATION_FACTOR,
      'the test broker has one node: the replication factor must be 1',
    )
  if (!validateOnly) {
    broker.topics.create(topic.name, partitions)
    broker.logger.debug({ topic: topic.name, partitions }, 'topic created')
  }
  return { name: topic.name, errorCode: 0, message: null }
}

function duplicates(names: readonly string[]): Set<string> {
  const seen = new Set<string>()
  const twice = new Set<string>()
  for (const name of names) (seen.has(name) ? twice : seen).add(name)
  return twice
}

/** CreateTopics v3. */
export const createTopicsApi: ApiHandler<CreateTopicsRequest> = {
  name: 'CreateTopics',
  decode: (d: Decoder) => ({
    topics: d.readArray((t) => ({
      name: t.readString(),
      numPartitions: t.readInt32(),
      replicationFactor: t.readInt16(),
      assignments: t.readArray((a) => ({ partition: a.readInt32(), brokerIds: a.readInt32Array() })),
      configs: t.readArray((c) => ({ name: c.readString(), value: c.readNullableString() })),
    })),
    timeoutMs: d.readInt32(),
    validateOnly: d.readBoolean(),
  }),
  handle: (request, { broker }) => {
    const dupes = duplicates(request.topics.map((t) => t.name))
    return createAnswer(request.topics.map((topic) => create(broker, topic, request.validateOnly, dupes)))
  },
  fail: (request, errorCode) =>
    createAnswer(request.topics.map((t) => ({ name: t.name, errorCode, message: null }))),
}

function deleteAnswer(outcomes: readonly { name: string; errorCode: number }[]): Encoder {
  return new Encoder()
    .writeInt32(0)
    .writeArray(outcomes, (e, o) => e.writeString(o.name).writeInt16(o.errorCode))
}

/** DeleteTopics v1. */
export const deleteTopicsApi: ApiHandler<DeleteTopicsRequest> = {
  name: 'DeleteTopics',
  decode: (d: Decoder) => ({ names: d.readArray((n) => n.readString()), timeoutMs: d.readInt32() }),
  handle: (request, { broker }) =>
    deleteAnswer(
      request.names.map((name) => {
        if (!broker.topics.delete(name)) return { name, errorCode: E.UNKNOWN_TOPIC_OR_PARTITION }
        broker.offsets.deleteTopic(name)
        broker.logger.debug({ topic: name }, 'topic deleted')
        return { name, errorCode: 0 }
      }),
    ),
  fail: (request, errorCode) => deleteAnswer(request.names.map((name) => ({ name, errorCode }))),
}
