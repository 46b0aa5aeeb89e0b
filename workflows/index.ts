/** Every workflow the worker registers. */
export * from './batch';
