/**
 * A bounded wait queue in front of the bulkhead (Hystrix's thread-pool queue,
 * cockatiel's `bulkhead(limit, queue)`, resilience4j's `maxWaitDuration`): a
 * burst bigger than the concurrency limit waits its turn, first come first
 * served, instead of being rejected at once; past the queue's capacity, or
 * after `maxQueueWait`, a call is rejected and its fallback answers.
 *
 * Run: node examples/wait-queue.ts
 */
import { Effect, Fiber } from "effect"
import { Circuit, CircuitRegistry, withCircuit } from "effect-circuit"

const started: Array<number> = []

// A report that takes `millis` to render; a refused one says why.
const render = (circuit: string, id: number, millis: number) =>
  Effect.sync(() => started.push(id)).pipe(
    Effect.andThen(Effect.sleep(millis)),
    Effect.as(`#${id} rendered`),
    withCircuit(circuit, {
      fallback: (error) =>
        Effect.succeed(
          `#${id} ${error._tag}${error._tag === "CircuitRejectedError" && error.reason ? ` (${error.reason})` : ""}`
        )
    })
  )

const program = Effect.gen(function*() {
  // Six at once, two permits, three places: four wait, the sixth finds the queue full.
  const burst = yield* Effect.forEach([1, 2, 3, 4, 5, 6], (id) => Effect.forkChild(render("reports", id, 100)))
  // Until the burst has arrived (the forked calls start on the next ticks).
  while ((yield* Circuit.snapshot("reports")).queue.waiting < 3) yield* Effect.sleep("1 millis")
  const { queue, concurrency } = yield* Circuit.snapshot("reports")
  console.log(`running ${concurrency.active}, waiting ${queue.waiting} of ${queue.capacity}`)
  for (const fiber of burst) console.log(yield* Fiber.join(fiber))
  console.log(`started in order: ${started.join(" ")}`)

  // Calls that take longer than the wait allowed: the waiters give up after 150 ms.
  const slow = yield* Effect.forEach([7, 8, 9], (id) => Effect.forkChild(render("exports", id, 400)))
  for (const fiber of slow) console.log(yield* Fiber.join(fiber))
}).pipe(
  Effect.provide(CircuitRegistry.layer({
    circuits: {
      reports: { maxConcurrentRequests: 2, queueCapacity: 3, maxQueueWait: "1 second" },
      exports: { maxConcurrentRequests: 2, queueCapacity: 3, maxQueueWait: "150 millis" }
    }
  }))
)

Effect.runPromise(program)
