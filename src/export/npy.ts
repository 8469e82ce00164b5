// NumPy .npy v1.0 writer (https://numpy.org/doc/stable/reference/generated/numpy.lib.format.html):
// magic, version, little-endian header length, a Python-dict header padded so the data starts at a
// multiple of 64 bytes, then the raw little-endian data.
export const npyBytes = (data: Float32Array | Uint8Array, shape: readonly number[]): Uint8Array => {
  const descr = data instanceof Float32Array ? "<f4" : "|u1"
  const shapeStr = shape.length === 1 ? `(${shape[0]},)` : `(${shape.join(", ")})`
  let header = `{'descr': '${descr}', 'fortran_order': False, 'shape': ${shapeStr}, }`
  const pad = 64 - ((10 + header.length + 1) % 64)
  header = `${header}${" ".repeat(pad % 64)}\n`
  const out = new Uint8Array(10 + header.length + data.byteLength)
  out.set([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0], 0) // \x93NUMPY v1.0
  new DataView(out.buffer).setUint16(8, header.length, true)
  out.set(new TextEncoder().encode(header), 10)
  out.set(new Uint8Array(data.buffer, data.byteOffset, data.byteLength), 10 + header.length)
  return out
}
