import t from "tap"
import fc from "fast-check"
import { branchCount, referenceUNetConfig, type UNetConfig } from "../../../src/ml/nn/unet.ts"
import { controlNetMacs, fullPassMacs, shallowPassMacs, unetMacs } from "../../../src/ml/nn/unet-macs.ts"

// By hand from ../shared/peers/REFERENCE_UNET.md: conv = H_out W_out k^2 C_in C_out, linear = in x out.
const conv = (s: number, k: number, cin: number, cout: number): number => s * s * k * k * cin * cout
const res = (s: number, cin: number, cout: number): number => conv(s, 3, cin, cout) + 128 * cout + conv(s, 3, cout, cout) + (cin === cout ? 0 : conv(s, 1, cin, cout))
const hand = {
  embed: 128 * 128 * 2, // Linear(128,128) twice
  convIn: conv(28, 3, 1, 32), // 225,792
  enc0: res(28, 32, 32), // 14,454,784
  enc1: conv(14, 3, 32, 32) + res(14, 32, 64), // down0 + enc1 = 1,806,336 + 11,247,616
  enc2: conv(7, 3, 64, 64) + res(7, 64, 64), // down1 + enc2
  dec2: res(7, 128, 64) + conv(14, 3, 64, 64), // dec2 on concat[h, s2], then up2 at 14x14
  dec1: res(14, 128, 64) + conv(28, 3, 64, 64), // dec1, then up1 at 28x28
  dec0: res(28, 96, 32),
  out: conv(28, 3, 32, 1),
}

t.test("reference U-Net: every stage and pass against the hand count", (t) => {
  const m = unetMacs(referenceUNetConfig)
  t.same(m, {
    embed: hand.embed, convIn: hand.convIn, encoder: [hand.enc0, hand.enc1, hand.enc2], middle: 0, decoder: [hand.dec0, hand.dec1, hand.dec2], out: hand.out,
    skipSizes: [28, 14, 7], skipChannels: [32, 64, 64], imageSize: 28, baseChannels: 32,
  })
  const full = Object.values(hand).reduce((a, b) => a + b, 0)
  t.equal(fullPassMacs(m), full)
  t.equal(full, 129_979_392, "130.0 M multiply-adds per image")
  const head = hand.embed + hand.convIn + hand.out
  t.equal(shallowPassMacs(m, 0), head + hand.enc0 + hand.dec0)
  t.equal(shallowPassMacs(m, 0), 46_253_056, "branch 0: 35.6% of a full pass")
  t.equal(shallowPassMacs(m, 1), head + hand.enc0 + hand.enc1 + hand.dec0 + hand.dec1)
  t.equal(shallowPassMacs(m, 2), full, "no middle block: the deepest branch saves nothing")
  t.throws(() => shallowPassMacs(m, 3), /branch 3 outside 0..2/)
  t.end()
})

t.test("a ControlNet on the reference U-Net: full and shallow passes against the hand count", (t) => {
  const m = unetMacs(referenceUNetConfig)
  // hint E: 3x3 convs 1 -> 16 -> 32 at 28x28, then its zero conv 32 -> 32 (baseChannels)
  const hint = conv(28, 3, 1, 16) + conv(28, 3, 16, 32) + conv(28, 3, 32, 32)
  const copy = hand.embed + hand.convIn
  const zero = (s: number, ch: number): number => conv(s, 1, ch, ch)
  const spec = { controlChannels: 1, hintChannels: [16, 32], skips: [0, 1, 2], middle: true }
  // no middle block in the reference U-Net: the middle residual is a zero conv on the deepest feature
  t.equal(controlNetMacs(m, spec), hint + copy + hand.enc0 + hand.enc1 + hand.enc2 + zero(28, 32) + zero(14, 64) + zero(7, 64) + zero(7, 64))
  t.equal(controlNetMacs(m, spec, 1), hint + copy + hand.enc0 + zero(28, 32), "shallow pass from branch 0: stage 0 and its residual")
  t.equal(controlNetMacs(m, spec, 2), hint + copy + hand.enc0 + hand.enc1 + zero(28, 32) + zero(14, 64))
  const shallowOnly = { ...spec, skips: [0], middle: false }
  t.equal(controlNetMacs(m, shallowOnly), hint + copy + hand.enc0 + zero(28, 32), "stages below the deepest residual are not run")
  t.equal(controlNetMacs(m, { ...spec, skips: [], middle: true }, 1), 0, "only a middle residual: a shallow pass runs none of it")
  t.end()
})

t.test("attention, cross-attention, a middle block, two blocks per level and the channel route, by hand", (t) => {
  const c: UNetConfig = {
    inChannels: 1, outChannels: 1, baseChannels: 4, channelMults: [1, 2], resBlocksPerLevel: 2, attentionResolutions: [4], dropout: 0,
    timeEmbedDim: 8, imageSize: 8, groups: 2, numClasses: 3, conditioning: "cross-attention", crossAttentionResolutions: [4], contextTokens: 2, contextDim: 5,
    middleBlock: "res-attn-res",
  }
  const r = (s: number, cin: number, cout: number): number => conv(s, 3, cin, cout) + 8 * cout + conv(s, 3, cout, cout) + (cin === cout ? 0 : conv(s, 1, cin, cout))
  const attn = (n: number, ch: number): number => n * ch * 3 * ch + 2 * n * n * ch + n * ch * ch // 16 pixels at 4x4
  const xattn = (n: number, ch: number): number => n * ch * ch + 2 * 2 * 5 * ch + 2 * n * 2 * ch + n * ch * ch
  const m = unetMacs(c)
  t.same(m.encoder, [r(8, 4, 4), r(8, 4, 4), conv(4, 3, 4, 4) + r(4, 4, 8) + attn(16, 8) + xattn(16, 8), r(4, 8, 8) + attn(16, 8) + xattn(16, 8)])
  t.equal(m.middle, 2 * r(4, 8, 8) + attn(16, 8))
  t.same(m.decoder, [r(8, 4 + 4, 4), r(8, 8 + 4, 4), r(4, 16, 8) + attn(16, 8) + xattn(16, 8) + conv(8, 3, 8, 8), r(4, 16, 8) + attn(16, 8) + xattn(16, 8)])
  t.equal(unetMacs({ ...c, conditioning: "channel", classChannels: 2 }).convIn, conv(8, 3, 3, 4), "the class map's channels enter conv_in")
  t.end()
})

t.test("shallow passes grow with the branch; the deepest one is the full pass without the middle block", (t) => {
  const arb = fc.record({
    baseChannels: fc.integer({ min: 1, max: 16 }), mults: fc.array(fc.integer({ min: 1, max: 4 }), { minLength: 1, maxLength: 3 }),
    perLevel: fc.integer({ min: 1, max: 3 }), middle: fc.constantFrom("none" as const, "res-attn-res" as const),
  })
  t.doesNotThrow(() => fc.assert(fc.property(arb, (a) => {
    const c: UNetConfig = { ...referenceUNetConfig, baseChannels: a.baseChannels * 4, channelMults: a.mults, resBlocksPerLevel: a.perLevel, groups: 4, middleBlock: a.middle }
    const m = unetMacs(c)
    const n = branchCount(c)
    const shallow = Array.from({ length: n }, (_, b) => shallowPassMacs(m, b))
    return m.encoder.length === n && shallow.every((s, b) => b === 0 || s > shallow[b - 1]!) && shallow[n - 1] === fullPassMacs(m) - m.middle
  })))
  t.end()
})
