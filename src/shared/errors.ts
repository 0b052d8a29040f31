// The three kinds of failure the command line tells apart. InputError: the user's input
// (files, flags, a run too large for the device) is at fault, and the message says what to
// change; it is printed as one line and the program exits non-zero. DivergedError: the run's
// loss became NaN or infinite. BugError: a broken invariant of this program, never the
// user's doing; it is printed with its stack and a request for a bug report.
export class InputError extends Error {
  override name = 'InputError';
}

/** A run whose loss became NaN or infinite: it stops before writing anything diverged. */
export class DivergedError extends Error {
  override name = 'DivergedError';
}

/** A broken invariant: a bug in lensgpu. */
export class BugError extends Error {
  override name = 'BugError';
}

/** Throws a BugError with `message` unless `ok`. */
export function invariant(ok: unknown, message: string): asserts ok {
  if (!ok) throw new BugError(message);
}
