import t from 'tap'
import fc from 'fast-check'
import { BatchBuilder, type Batch } from '../../lib/internal/batch-builder.js'

interface Item {
  key: string
  n: number
}

/** What the builder must do, written the plain way: one list per key, closed when full. */
class Model {
  readonly open = new Map<string, number[]>()
  readonly emitted: { key: string; items: number[]; trigger: string }[] = []
  constructor(readonly size: number) {}
  add(item: Item) {
    const list = this.open.get(item.key) ?? []
    list.push(item.n)
    this.open.set(item.key, list)
    if (list.length >= this.size) this.close(item.key, 'size')
  }
  close(key: string, trigger: string) {
    const list = this.open.get(key)
    this.open.delete(key)
    if (list !== undefined && list.length > 0) this.emitted.push({ key, items: list, trigger })
  }
}

t.test('batches by key exactly as a plain model does, whatever the order of keys and flushes', (t) => {
  fc.assert(
    fc.property(
      fc.integer({ min: 1, max: 6 }),
      fc.array(fc.oneof(fc.constantFrom('a', 'b', 'c'), fc.constant('flush:a'), fc.constant('flush:b')), {
        maxLength: 200,
      }),
      (size, steps) => {
        const emitted: Model['emitted'] = []
        const builder = new BatchBuilder<Item, string>(
          { size, timeoutMs: Infinity, keyOf: (item) => item.key, accumulator: undefined },
          (batch: Batch<Item, string>) => {
            emitted.push({
              key: batch.key as string,
              items: batch.items.map((i) => i.n),
              trigger: batch.trigger,
            })
          },
        )
        const model = new Model(size)
        steps.forEach((step, n) => {
          if (step.startsWith('flush:')) {
            const key = step.slice(6)
            builder.flushKey(key, 'flush')
            model.close(key, 'flush')
          } else {
            builder.add({ key: step, n })
            model.add({ key: step, n })
          }
        })
        builder.flushAll('end')
        for (const key of [...model.open.keys()]) model.close(key, 'end')
        // flushAll's order among keys is the builder's own: compare the end batches as a set.
        const ordered = (list: Model['emitted']) => [
          ...list.filter((b) => b.trigger !== 'end'),
          ...list.filter((b) => b.trigger === 'end').sort((x, y) => x.key.localeCompare(y.key)),
        ]
        t.same(ordered(emitted), ordered(model.emitted))
        t.equal(builder.openItems, 0)
      },
    ),
    { numRuns: 300 },
  )
  t.end()
})
