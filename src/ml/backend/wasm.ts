// tfjs-backend-wasm 4.22 has no Conv2DBackpropFilter kernel, so no conv net can train on it. This
// registers one: im2col of x in JS, then dW = im2col^T dy on wasm's own (XNNPACK) BatchMatMul kernel.
// Correct but slow; wasm is the fallback below pipe-native, not a fast path.
import * as tf from "@tensorflow/tfjs"

interface WasmBackendLike {
  readSync(dataId: tf.DataId): tf.backend_util.BackendValues
  makeOutput(shape: number[], dtype: tf.DataType, memoryOffset?: number, values?: tf.backend_util.BackendValues): tf.TensorInfo
  disposeData(dataId: tf.DataId, force?: boolean): boolean
}

const conv2DBackpropFilterWasm = (args: {
  inputs: Record<string, tf.TensorInfo>
  backend: WasmBackendLike
  attrs: Record<string, unknown>
}): tf.TensorInfo => {
  const { x, dy } = args.inputs as { x: tf.TensorInfo; dy: tf.TensorInfo }
  const b = args.backend
  const a = args.attrs
  if ((a.dataFormat ?? "NHWC") !== "NHWC") throw new Error("pipe wasm Conv2DBackpropFilter: only NHWC is supported")
  const c = tf.backend_util.computeConv2DInfo(
    x.shape as [number, number, number, number], a.filterShape as [number, number, number, number],
    a.strides as number | [number, number], 1, a.pad as "same" | "valid" | number,
    a.dimRoundingMode as "floor" | "round" | "ceil" | undefined, false, "channelsLast",
  )
  const xv = b.readSync(x.dataId) as Float32Array
  const kk = c.filterHeight * c.filterWidth * c.inChannels
  const P = c.batchSize * c.outHeight * c.outWidth
  const col = new Float32Array(P * kk)
  for (let n = 0; n < c.batchSize; n++) for (let oh = 0; oh < c.outHeight; oh++) for (let ow = 0; ow < c.outWidth; ow++) {
    const row = ((n * c.outHeight + oh) * c.outWidth + ow) * kk
    for (let fh = 0; fh < c.filterHeight; fh++) {
      const ih = oh * c.strideHeight - c.padInfo.top + fh
      if (ih < 0 || ih >= c.inHeight) continue
      for (let fw = 0; fw < c.filterWidth; fw++) {
        const iw = ow * c.strideWidth - c.padInfo.left + fw
        if (iw < 0 || iw >= c.inWidth) continue
        const src = ((n * c.inHeight + ih) * c.inWidth + iw) * c.inChannels
        col.set(xv.subarray(src, src + c.inChannels), row + (fh * c.filterWidth + fw) * c.inChannels)
      }
    }
  }
  const colInfo = b.makeOutput([1, P, kk], "float32", undefined, col)
  const dyInfo = b.makeOutput([1, P, c.outChannels], "float32", undefined, b.readSync(dy.dataId))
  const mm = tf.getKernel("BatchMatMul", "wasm")
  if (mm === undefined) throw new Error("wasm backend lacks BatchMatMul")
  const prod = mm.kernelFunc({ inputs: { a: colInfo, b: dyInfo }, backend: b as unknown as tf.KernelBackend, attrs: { transposeA: true, transposeB: false } }) as tf.TensorInfo
  const outInfo = b.makeOutput([...c.filterShape], "float32", undefined, b.readSync(prod.dataId))
  for (const t of [colInfo, dyInfo, prod]) b.disposeData(t.dataId)
  return outInfo
}

/** Idempotent; call after the wasm backend is registered. */
export const registerWasmConv2DBackpropFilter = (): void => {
  if (tf.getKernel("Conv2DBackpropFilter", "wasm") !== undefined) return
  tf.registerKernel({
    kernelName: "Conv2DBackpropFilter",
    backendName: "wasm",
    kernelFunc: conv2DBackpropFilterWasm as unknown as tf.KernelFunc,
  })
}
