/** The embedded data set both examples use: orders from 100 customers, generated on demand. */

/** One order. */
export interface Order {
  id: number
  customer: string
  cents: number
}

/**
 * `count` orders with ids `0…count-1`, customer `c<id mod 100>`.
 * @param malformedEvery give every n-th order a negative amount (a bad record). @default never
 */
export function* orders(count: number, malformedEvery = Infinity): Generator<Order> {
  for (let id = 0; id < count; id++) {
    const cents = (id + 1) % malformedEvery === 0 ? -1 : (id * 7919) % 10_000
    yield { id, customer: `c${String(id % 100)}`, cents }
  }
}
