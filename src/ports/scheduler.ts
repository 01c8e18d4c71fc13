/** Lets long domain loops give the event loop (and so other requests) a turn between steps. */
export interface Scheduler {
  yield(): Promise<void>;
}
