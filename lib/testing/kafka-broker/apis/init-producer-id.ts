/**
 * InitProducerId v1, which kafkajs' idempotent producer sends to the controller before its first
 * produce. Each call gets a new producer id at epoch 0; transactional ids are not supported (the
 * transaction APIs are not advertised, so a transactional kafkajs producer fails clearly at its
 * first transaction call).
 */
import { Encoder, type Decoder } from '../codec.js'
import type { ApiHandler } from './api.js'

/** An InitProducerId v1 request. */
export interface InitProducerIdRequest {
  readonly transactionalId: string | null
  readonly transactionTimeoutMs: number
}

function answer(errorCode: number, producerId: bigint, epoch: number): Encoder {
  return new Encoder().writeInt32(0).writeInt16(errorCode).writeInt64(producerId).writeInt16(epoch)
}

/** InitProducerId v1. */
export const initProducerIdApi: ApiHandler<InitProducerIdRequest> = {
  name: 'InitProducerId',
  decode: (d: Decoder) => ({ transactionalId: d.readNullableString(), transactionTimeoutMs: d.readInt32() }),
  handle: (_request, { broker }) => answer(0, broker.nextProducerId(), 0),
  fail: (_request, errorCode) => answer(errorCode, -1n, -1),
}
