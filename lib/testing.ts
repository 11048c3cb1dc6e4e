/**
 * `streamway/testing`: what a user needs to test a pipeline without its real sources. The test API
 * itself is on `Pipeline` (`testMessage`, `testBatch`); `KafkaTestBroker` stands in for a Kafka
 * cluster in tests (a test broker, not a server).
 */
export { DummyProducer } from './pipeline/producer.js'
export { KafkaTestBroker, type KafkaTestBrokerEvents } from './testing/kafka-broker/broker.js'
export type {
  KafkaTestBrokerOptions,
  ResolvedKafkaTestBrokerOptions,
} from './testing/kafka-broker/options.js'
export type { BrokerRequestEvent } from './testing/kafka-broker/dispatcher.js'
export type { ApiRequests } from './testing/kafka-broker/apis/index.js'
export type { BrokerGroupMember, BrokerGroupState, BrokerRecord } from './testing/kafka-broker/inspection.js'
export type { RecordHeader } from './testing/kafka-broker/record-batch.js'
export type { GroupStateName } from './testing/kafka-broker/group.js'
export {
  apiKeys as kafkaApiKeys,
  kafkaErrorCodes,
  type ApiName as KafkaApiName,
} from './testing/kafka-broker/protocol.js'
