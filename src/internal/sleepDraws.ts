/**
 * Draws the delay of each opening from a `Schedule` sleep window, one step of
 * the schedule per opening, with the Random service of the fiber that caused
 * the opening: `Schedule.jittered` then jitters every opening of every
 * circuit on its own, and `Random.withSeed` makes the draws repeatable.
 *
 * The core never steps a schedule: the shell hands it the drawn delay in a
 * `SleepDrawn` event right after the opening.
 *
 * @internal
 */
import { Duration, Effect, Exit, Fiber, Schedule } from "effect"
import type { SleepSchedule } from "../config/model.ts"

type Step = (now: number, input: number) => Effect.Effect<[unknown, Duration.Duration], unknown>

export class SleepDraws {
  private step: Step | undefined = undefined
  /** Delays drawn in the current run of openings. */
  private drawn = 0
  /** The schedule's clock: the sum of the delays drawn, as effect/persistence replays it. */
  private elapsed = 0
  private last: number | undefined = undefined
  private ended = false

  private readonly schedule: SleepSchedule

  constructor(schedule: SleepSchedule) {
    this.schedule = schedule
  }

  /**
   * The delay of the `opening`-th consecutive opening, or undefined if the
   * schedule cannot give one (then the configured memo applies). Opening 1,
   * or any opening out of sequence, starts the schedule again.
   */
  draw(opening: number): number | undefined {
    if (opening <= 1 || opening !== this.drawn + 1) this.restart()
    // Catch up when openings were skipped (bounded, as the memo is).
    while (this.drawn < opening && this.drawn < 10_000 && !this.ended) {
      const delay = this.next()
      if (delay === undefined) {
        this.ended = true
        break
      }
      this.drawn++
      this.last = delay
      this.elapsed += delay
    }
    return this.last
  }

  private restart(): void {
    this.step = undefined
    this.drawn = 0
    this.elapsed = 0
    this.last = undefined
    this.ended = false
  }

  // One step, run with the current fiber's services (its Random, its Clock);
  // a schedule that fails, dies or throws counts as ended.
  private next(): number | undefined {
    try {
      const fiber = Fiber.getCurrent()
      const run = fiber === undefined ? Effect.runSyncExit : Effect.runSyncExitWith(fiber.context)
      if (this.step === undefined) {
        const made = run(Schedule.toStep(this.schedule))
        if (Exit.isFailure(made)) return undefined
        this.step = made.value as Step
      }
      const exit = run(this.step(this.elapsed, this.drawn + 1))
      if (Exit.isFailure(exit)) return undefined
      const delay = Duration.toMillis(exit.value[1])
      // Whole milliseconds: clocks tick in them, so a jittered 9,876.5 ms is 9,877.
      return Number.isNaN(delay) || delay < 0 ? 0 : Math.round(delay)
    } catch {
      return undefined
    }
  }
}
