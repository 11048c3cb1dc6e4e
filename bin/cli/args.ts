/** Parsers of option values shared by the commands: a bad value is reported by commander, naming the option. */
import { InvalidArgumentError } from 'commander'
import { isHeaderName, isHeaderValue } from '../../adapters/http/header.js'

/** An integer ≥ `min`. */
export function integer(min: number) {
  return (value: string): number => {
    const n = Number(value)
    if (value.trim() === '' || !Number.isSafeInteger(n) || n < min)
      throw new InvalidArgumentError(`must be an integer ≥ ${min}.`)
    return n
  }
}

/** A finite number > 0. */
export function positive(value: string): number {
  const n = Number(value)
  if (value.trim() === '' || !Number.isFinite(n) || n <= 0)
    throw new InvalidArgumentError('must be a number > 0.')
  return n
}

/** `Name: value`, collected into an object over repeats of the option. */
export function header(value: string, previous: Record<string, string> | undefined): Record<string, string> {
  const at = value.indexOf(':')
  if (at <= 0) throw new InvalidArgumentError('must be "Name: value".')
  const name = value.slice(0, at).trim()
  if (!isHeaderName(name)) throw new InvalidArgumentError(`${JSON.stringify(name)} is not a header name.`)
  const text = value.slice(at + 1).trim()
  if (!isHeaderValue(text)) throw new InvalidArgumentError(`the value of ${name} holds CR, LF or NUL.`)
  return { ...previous, [name]: text }
}

/** Where a server listens: `--metrics 9464`, `0.0.0.0:9464`, `[::]:9464`. */
export interface ListenAddress {
  readonly host: string
  readonly port: number
}

/** `[host:]port` (an IPv6 host in brackets); the host defaults to 127.0.0.1, this machine only. */
export function listenAddress(value: string): ListenAddress {
  const match = /^(?:(?:\[([^\]]+)\]|([^:[\]]+)):)?(\d{1,5})$/.exec(value.trim())
  const port = Number(match?.[3])
  if (match === null || port > 65535) throw new InvalidArgumentError('must be [host:]port, port ≤ 65535.')
  return { host: match[1] ?? match[2] ?? '127.0.0.1', port }
}
