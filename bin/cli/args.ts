/** Parsers of option values shared by the commands: a bad value is reported by commander, naming the option. */
import { InvalidArgumentError } from 'commander'

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
  return { ...previous, [value.slice(0, at).trim()]: value.slice(at + 1).trim() }
}
