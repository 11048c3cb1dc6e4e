/** `streamway/adapters/kafka`: a consumer group as a pipeline producer, and a sink producing to a topic. */
export { kafkaSource, KafkaSource, type KafkaMetadata, type KafkaPartitionStats } from './source.js'
export {
  kafkaSourceOptionsSchema,
  type KafkaSourceOptions,
  type ResolvedKafkaSourceOptions,
} from './options.js'
export {
  kafkaSink,
  kafkaSinkOptionsSchema,
  type KafkaSink,
  type KafkaSinkOptions,
  type KafkaRecord,
} from './sink.js'
export type { KafkaClientLike, KafkaConsumerLike, KafkaProducerLike } from './client.js'
export { kafkaIdempotencyKey } from './idempotency-key.js'
