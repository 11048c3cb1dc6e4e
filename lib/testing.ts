/**
 * `streamway/testing`: what a user needs to test a pipeline without its real sources. The test API
 * itself is on `Pipeline` (`testMessage`, `testBatch`).
 */
export { DummyProducer } from './pipeline/producer.js'
