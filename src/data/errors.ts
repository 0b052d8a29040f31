// Errors caused by the user's input (files, flags). The command line prints their message as
// one line and exits non-zero; anything else is a bug and keeps its stack trace.
export class InputError extends Error {
  override name = 'InputError';
}

/** A run whose loss became NaN or infinite: it stops before writing anything diverged. */
export class DivergedError extends Error {
  override name = 'DivergedError';
}
