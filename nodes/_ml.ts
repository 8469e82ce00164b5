// The node boundary for src/ml: the one way nodes run model code and release models.
// src/ml throws MlError (src/ml/errors.ts) for failures a user can fix (bad input, interruption, a
// non-finite loss); `ml` / `mlAsync` turn it into the node's typed failure (NodeError in the Effect
// channel) with its own message. Any other exception is a bug and says where it happened. `withModel`
// disposes a model's variables however its use ends (success, failure, interruption).
import { Effect } from "effect"
import { NodeError, type NodeContext } from "../src/node.ts"
import { isMlError } from "../src/ml/errors.ts"
import { disposeModel, type Model } from "../src/ml/nn/model.ts"

const toNodeError = (what: string, e: unknown): NodeError =>
  new NodeError(isMlError(e) ? e.message : `${what}: ${e instanceof Error ? e.message : String(e)}`, { cause: e })

/** Runs synchronous src/ml code; `what` names the work in the message of an unexpected exception. */
export const ml = <A>(what: string, f: () => A): Effect.Effect<A, NodeError> => Effect.try({ try: f, catch: (e) => toNodeError(what, e) })

/** Runs asynchronous src/ml code (the training loop). */
export const mlAsync = <A>(what: string, f: () => Promise<A>): Effect.Effect<A, NodeError> =>
  Effect.tryPromise({ try: f, catch: (e) => toNodeError(what, e) })

/** Builds a model, uses it, and disposes it whatever happens. */
export const withModel = <M extends Model, A>(what: string, acquire: () => M, use: (m: M) => Effect.Effect<A, NodeError>): Effect.Effect<A, NodeError> =>
  Effect.acquireUseRelease(ml(what, acquire), use, (m) => Effect.sync(() => disposeModel(m)))

/** Fails the node with `message` (a check before any work). */
export const reject = (message: string): Effect.Effect<never, NodeError> => Effect.fail(new NodeError(message))

/** Training-loop hooks that report `{phase: "train", step, total, epoch, metrics}` and read Ctrl-C. */
export const trainingHooks = (ctx: NodeContext, every = 1) => ({
  interrupted: ctx.interrupted,
  onStep: (info: { step: number; total: number; epoch: number }, metrics: Readonly<Record<string, number>>) => {
    if (info.step % every === 0 || info.step === info.total) ctx.progress({ phase: "train", step: info.step, total: info.total, epoch: info.epoch, metrics })
  },
})

/** Seconds on a monotonic clock (throughput numbers only; never part of a cached value's bytes). */
export const seconds = (): number => performance.now() / 1000
