/** A clock the test moves by hand (`clock.t += ms`), for code that takes a `now: () => number`. */
export class ManualClock {
  constructor(public t = 1_000_000) {}
  now = (): number => this.t;
}
