/**
 * Names and numbers of the Kafka protocol that the test broker speaks: API keys, error codes, and the
 * one version of each API it implements. The versions are kafkajs 2.2.4's maxima, the ones a real
 * Kafka 2.4+ cluster makes kafkajs pick, so tests run the client's production code paths.
 */

/**
 * API keys of the requests the test broker answers, by the names Kafka gives them (exported from
 * `streamway/testing` as `kafkaApiKeys`).
 * @example
 * import { kafkaApiKeys } from 'streamway/testing'
 *
 * broker.on('request', (event) => {
 *   if (event.apiKey === kafkaApiKeys.OffsetCommit) commits++
 * })
 */
export const apiKeys = {
  Produce: 0,
  Fetch: 1,
  ListOffsets: 2,
  Metadata: 3,
  OffsetCommit: 8,
  OffsetFetch: 9,
  FindCoordinator: 10,
  JoinGroup: 11,
  Heartbeat: 12,
  LeaveGroup: 13,
  SyncGroup: 14,
  DescribeGroups: 15,
  ListGroups: 16,
  ApiVersions: 18,
  CreateTopics: 19,
  DeleteTopics: 20,
  InitProducerId: 22,
} as const

/** The name of an API the test broker answers. */
export type ApiName = keyof typeof apiKeys

/**
 * The version of each API the broker implements and advertises (`min = max`). ApiVersions also
 * answers v0 and v1, and answers newer versions with `UNSUPPORTED_VERSION` and this list, as Kafka does.
 */
export const apiVersions: Readonly<Record<ApiName, number>> = {
  Produce: 7,
  Fetch: 11,
  ListOffsets: 3,
  Metadata: 6,
  OffsetCommit: 5,
  OffsetFetch: 4,
  FindCoordinator: 2,
  JoinGroup: 5,
  Heartbeat: 3,
  LeaveGroup: 3,
  SyncGroup: 3,
  DescribeGroups: 2,
  ListGroups: 2,
  ApiVersions: 2,
  CreateTopics: 3,
  DeleteTopics: 1,
  InitProducerId: 1,
}

const namesByKey = new Map<number, ApiName>(
  Object.entries(apiKeys).map(([name, key]) => [key, name as ApiName]),
)

/** The name of the API with `key`, or `undefined` when the broker does not answer it. */
export function apiName(key: number): ApiName | undefined {
  return namesByKey.get(key)
}

/**
 * Kafka error codes the test broker answers with, by their protocol names. Pass them to
 * `KafkaTestBroker.injectError`; any other Kafka error code works there too.
 * @example
 * import { KafkaTestBroker, kafkaErrorCodes } from 'streamway/testing'
 *
 * const broker = new KafkaTestBroker()
 * broker.injectError('OffsetCommit', kafkaErrorCodes.REBALANCE_IN_PROGRESS)
 */
export const kafkaErrorCodes = {
  NONE: 0,
  OFFSET_OUT_OF_RANGE: 1,
  CORRUPT_MESSAGE: 2,
  UNKNOWN_TOPIC_OR_PARTITION: 3,
  LEADER_NOT_AVAILABLE: 5,
  NOT_LEADER_FOR_PARTITION: 6,
  REQUEST_TIMED_OUT: 7,
  COORDINATOR_NOT_AVAILABLE: 15,
  NOT_COORDINATOR: 16,
  INVALID_TOPIC_EXCEPTION: 17,
  INVALID_REQUIRED_ACKS: 21,
  ILLEGAL_GENERATION: 22,
  INCONSISTENT_GROUP_PROTOCOL: 23,
  INVALID_GROUP_ID: 24,
  UNKNOWN_MEMBER_ID: 25,
  INVALID_SESSION_TIMEOUT: 26,
  REBALANCE_IN_PROGRESS: 27,
  UNSUPPORTED_VERSION: 35,
  TOPIC_ALREADY_EXISTS: 36,
  INVALID_PARTITIONS: 37,
  INVALID_REPLICATION_FACTOR: 38,
  NOT_CONTROLLER: 41,
  INVALID_REQUEST: 42,
  MEMBER_ID_REQUIRED: 79,
} as const

/** A node id, host and port: how the broker names itself in Metadata and FindCoordinator. */
export interface BrokerAddress {
  readonly nodeId: number
  readonly host: string
  readonly port: number
}
