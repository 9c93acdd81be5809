/**
 * The DiT forward and backward as recorded GPU programs for one batch size: every buffer and
 * bind group is created once, then the programs replay per training step or denoising step.
 * Shapes: N samples, T tokens, D width, F / Fout features per input / output token.
 */
import type { Gpu, Program, Tensor } from "../gpu/gpu.ts";
import {
  attentionBackward,
  attentionForward,
  attentionState,
  type AttnState,
} from "../ops/attention.ts";
import { activationBackward, activationForward, add, addBroadcast } from "../ops/elementwise.ts";
import {
  canFuseGate,
  type GatedResidual,
  matmul,
  type PackedMatrix,
  packMatrix,
} from "../ops/matmul.ts";
import { dwconvBackward, dwconvForward, type DwGeom } from "../ops/dwconv.ts";
import { embeddingBackward, embeddingForward } from "../ops/embedding.ts";
import { mseBackward, mseForward } from "../ops/mse.ts";
import { type PatchOrder, patchPermute } from "../ops/patchify.ts";
import { sumRows } from "../ops/sum_rows.ts";
import { timestepFeatures } from "../ops/timestep_features.ts";
import {
  gateBackward,
  gateForward,
  lnModBackward,
  lnModForward,
  type LnShape,
} from "../ops/norm.ts";
import { dims, type DiTDims } from "./config.ts";
import type { DiTModel } from "./model.ts";

/** A Linear layer's weight packed for the forward (x W^T) and, when training, the backward (dy W). */
interface Lin {
  w: string;
  b: string;
  inF: number;
  outF: number;
  fwd: PackedMatrix;
  bwd?: PackedMatrix;
}

/** Options for {@linkcode DiTGraph.build}. */
export interface GraphOptions {
  /** Samples per batch. */
  batch: number;
  /** Record the backward and loss programs (and the weight packs they need). */
  training: boolean;
  /** Also compute d loss / d x (parity checks); training does not need it. */
  inputGrad?: boolean;
  /** Multiplies the loss gradient (1 / accumulation steps). */
  lossScale?: number;
}

interface BlockActs {
  h: Tensor; // [N*T, D] block input (residual stream)
  mod: Tensor; // [N, 6D]
  a1: Tensor; // [N*T, D] LN1 + modulate
  mean1: Tensor;
  rstd1: Tensor;
  qkv: Tensor; // [N*T, 3D]
  attn: AttnState;
  o: Tensor; // [N*T, D] attention output (before proj)
  proj: Tensor; // [N*T, D] (fused inference: the same tensor as hm)
  hm: Tensor; // [N*T, D] after the attention residual
  a2: Tensor;
  mean2: Tensor;
  rstd2: Tensor;
  f1: Tensor; // [N*T, 4D] (inference: the same tensor as g)
  g: Tensor; // [N*T, 4D] GELU(f1)
  gc?: Tensor; // [N*T, 4D] depthwise conv of g
  f2: Tensor; // [N*T, D] (fused inference: the block's output)
  out: Tensor; // [N*T, D] the block's output (residual stream)
}

/** Shapes and settings shared by every part of a recording. */
interface Context {
  N: number;
  NT: number;
  img: boolean;
  /** Image side (0 for sequences). */
  H: number;
  /** Input channels. */
  C: number;
  /** Patch size. */
  p: number;
  seed: boolean;
  order: PatchOrder;
  /** The timestep MLP's activation. */
  tAct: "gelu" | "silu";
  shape: LnShape;
  /** The seed's depthwise conv over the token grid, or null. */
  dw: DwGeom | null;
  tensor: (shape: number[], label: string) => Tensor;
}

/** What the embedding backward needs from the forward. */
interface Embedding {
  xEmb: Lin;
  t1: Lin;
  t2: Lin;
  cEmb: Lin | null;
  patches: Tensor; // [N*T, F]
  tf: Tensor; // [N, tFreq]
  t1o: Tensor; // [N, D]
  t1a: Tensor; // [N, D]
  c: Tensor; // [N, D]
  sc: Tensor; // [N, D] silu(c)
  h0: Tensor; // [N*T, D]
}

/** One block's layers and saved activations. */
interface Block {
  acts: BlockActs;
  ada: Lin;
  qkv: Lin;
  proj: Lin;
  fc1: Lin;
  fc2: Lin;
}

/** The final layer's layers and saved activations. */
interface FinalLayer {
  fAda: Lin;
  fLin: Lin;
  h: Tensor; // [N*T, D] its input
  mod: { mod: Tensor; stride: number }; // [N, 2D]
  a: Tensor; // [N*T, D]
  mean: Tensor; // [N*T]
  rstd: Tensor; // [N*T]
}

/** Gradient buffers the backward passes share (each overwritten or accumulated in order). */
interface Grads {
  dTok: Tensor; // [N*T, Fout] d loss / d output tokens
  dres: Tensor; // [N*T, D] d residual stream
  da: Tensor; // [N*T, D]
  dsc: Tensor; // [N, D] d silu(c)
  dmod: Tensor; // [N, 6D]
  dqkv: Tensor; // [N*T, 3D]
  dbig: Tensor; // [N*T, 4D]
  dbig2: Tensor; // [N*T, 4D]
  dsmall: Tensor; // [N*T, D]
}

/** Recorded forward/backward of one model at one batch size. */
export class DiTGraph {
  /** Input latents [N, C, H, W] (or tokens [N, T, C]). */
  readonly x: Tensor;
  /** Timesteps as floats [N]. */
  readonly t: Tensor;
  /** Class labels as u32 [N] (class condition). */
  readonly y: Tensor;
  /** Condition vectors [N, dim] (vector condition). */
  readonly cond: Tensor;
  /** Network output [N, Cout, H, W] (or [N, T, Cout]). */
  readonly out: Tensor;
  /** Regression target [N, C, H, W] (training). */
  readonly target: Tensor;
  /** loss[0] after the loss program. */
  readonly loss: Tensor;
  /** d loss / d x when built with inputGrad. */
  readonly gradX: Tensor;
  /** Intermediate activations by name (see parity). */
  readonly acts: Map<string, Tensor> = new Map();
  /** The forward pass. */
  readonly forward: Program;
  /** The loss and the backward pass. */
  readonly lossAndBackward: Program;
  /** The loss alone into loss[1] (validation), recorded when training. */
  readonly lossOnly: Program;
  /** Packs weights into textures: run after every parameter update (texture path). */
  readonly pack: Program;
  /** Sizes derived from the config. */
  readonly d: DiTDims;

  private constructor(readonly gpu: Gpu, readonly model: DiTModel, readonly opts: GraphOptions) {
    const N = opts.batch;
    const cfg = model.cfg;
    const d = this.d = dims(cfg);
    if (!Number.isInteger(N) || N <= 0) {
      throw new Error(`Batch must be a positive integer, got ${N}`);
    }
    this.x = gpu.tensor([N, d.T * d.F], "x");
    this.t = gpu.tensor([N], "t");
    this.y = gpu.tensor([N], "y");
    this.cond = gpu.tensor([N, cfg.condition.kind === "vector" ? cfg.condition.dim : 1], "cond");
    this.out = gpu.tensor([N, d.T * d.Fout], "out");
    this.target = gpu.tensor([N, d.T * d.F], "target");
    this.loss = gpu.tensor([64], "loss");
    this.gradX = gpu.tensor([N, d.T * d.F], "grad_x");
    this.forward = gpu.program("forward");
    this.lossAndBackward = gpu.program("backward");
    this.lossOnly = gpu.program("loss");
    this.pack = gpu.program("pack-weights");
  }

  /** Builds all programs for `opts.batch` samples. */
  static async build(gpu: Gpu, model: DiTModel, opts: GraphOptions): Promise<DiTGraph> {
    const g = new DiTGraph(gpu, model, opts);
    await g.#record();
    return g;
  }

  #P(name: string): Tensor {
    return this.model.param(name);
  }
  #G(name: string): Tensor {
    return this.model.grad(name);
  }

  async #lin(w: string, b: string): Promise<Lin> {
    const e = this.model.layout.get(w);
    const outF = e.shape[0];
    const inF = e.size / outF;
    const view = { t: this.#P(w), ld: inF };
    const fwd = await packMatrix(this.pack, view, outF, inF, false, `${w}`);
    const bwd = this.opts.training
      ? await packMatrix(this.pack, view, inF, outF, true, `${w}^T`)
      : undefined;
    return { w, b, inF, outF, fwd, bwd };
  }

  /** out [M, outF] = x [M, inF] W^T + b. */
  async #linear(
    p: Program,
    L: Lin,
    x: Tensor,
    M: number,
    out: Tensor,
    gelu = false,
    gated?: GatedResidual,
  ) {
    await matmul(p, {
      gelu,
      gated,
      variant: "nt",
      M,
      N: L.outF,
      K: L.inF,
      a: { t: x, ld: L.inF },
      b: L.fwd,
      c: { t: out, ld: L.outF },
      bias: this.#P(L.b),
    });
  }

  /** Accumulates dW, db; dx (+)= dy W when dx is given. */
  async #linearBackward(
    p: Program,
    L: Lin,
    x: Tensor,
    M: number,
    dy: Tensor,
    dx: Tensor | null,
    accumulateDx = false,
  ) {
    await matmul(p, {
      variant: "tn",
      M: L.outF,
      N: L.inF,
      K: M,
      a: { t: dy, ld: L.outF },
      b: { t: x, ld: L.inF },
      c: { t: this.#G(L.w), ld: L.inF },
      accumulate: true,
    });
    await sumRows(p, dy, 1, M, L.outF, this.#G(L.b), true);
    if (dx) {
      await matmul(p, {
        variant: "nn",
        M,
        N: L.inF,
        K: L.outF,
        a: { t: dy, ld: L.outF },
        b: L.bwd!,
        c: { t: dx, ld: L.inF },
        accumulate: accumulateDx,
      });
    }
  }

  /** Records the forward (and, when training, the loss and backward) programs. */
  async #record(): Promise<void> {
    const ctx = this.#context();
    const emb = await this.#embeddingForward(ctx);
    const blocks: Block[] = [];
    let h = emb.h0;
    for (let i = 0; i < this.model.cfg.depth; i++) {
      const block = await this.#blockForward(ctx, i, h, emb.sc);
      blocks.push(block);
      h = block.acts.out;
    }
    const final = await this.#finalLayerForward(ctx, h, emb.sc);
    if (!this.opts.training) return;
    const grads = await this.#lossBackward(ctx);
    await this.#finalLayerBackward(ctx, final, grads, emb.sc);
    for (let i = blocks.length - 1; i >= 0; i--) {
      await this.#blockBackward(ctx, i, blocks[i], grads, emb.sc);
    }
    await this.#embeddingBackward(ctx, emb, grads);
  }

  /** Shapes and settings every part of the recording shares. */
  #context(): Context {
    const cfg = this.model.cfg;
    const { T, D, hidden4 } = this.d;
    const N = this.opts.batch;
    const img = cfg.input.kind === "image";
    const H = cfg.input.kind === "image" ? cfg.input.size : 0;
    const seed = cfg.arch === "seed";
    const dw: DwGeom | null = cfg.dwKernel
      ? {
        N,
        H: this.d.gh,
        W: this.d.gw,
        C: hidden4,
        KH: img ? cfg.dwKernel : 1,
        KW: cfg.dwKernel,
        padT: img ? 1 : 0,
        padL: 1,
      }
      : null;
    return {
      N,
      NT: N * T,
      img,
      H,
      C: cfg.input.channels,
      p: cfg.patchSize,
      seed,
      order: seed ? "seed" : "conv",
      tAct: seed ? "gelu" : "silu",
      shape: { B: N, T, C: D },
      dw,
      tensor: (shape: number[], label: string) => this.gpu.tensor(shape, label),
    };
  }

  /**
   * Patch embedding plus position embedding (h0 [N*T, D]) and the conditioning
   * c = t_emb + y_emb, sc = silu(c) [N, D].
   */
  async #embeddingForward(ctx: Context): Promise<Embedding> {
    const names = this.model.layout.names;
    const { F, D, tFreq, labelRows } = this.d;
    const { N, NT, img, C, H, p, seed, order, tAct, tensor } = ctx;
    const f = this.forward;
    const xEmb = await this.#lin(names.xW, names.xB);
    const t1 = await this.#lin(names.t1W, names.t1B);
    const t2 = await this.#lin(names.t2W, names.t2B);
    const cEmb = names.cW ? await this.#lin(names.cW, names.cB!) : null;
    const patches = img ? tensor([NT, F], "patches") : this.x;
    if (img) await patchPermute(f, "tokens", this.x, patches, { N, C, H, W: H, p }, order);
    const E = tensor([NT, D], "x_embed"); // [N*T, D]
    await this.#linear(f, xEmb, patches, NT, E);
    const h0 = tensor([NT, D], "h0");
    const pos = this.model.layout.get(names.pos).trainable
      ? this.#P(names.pos)
      : this.model.frozenTensor(names.pos);
    await addBroadcast(f, E, pos, h0);
    const tf = tensor([N, tFreq], "t_freq");
    await timestepFeatures(f, this.t, tf, N, tFreq, seed ? "seed" : "official");
    const t1o = tensor([N, D], "t_hidden");
    const t1a = tensor([N, D], "t_hidden_act");
    const temb = tensor([N, D], "t_emb");
    await this.#linear(f, t1, tf, N, t1o);
    await activationForward(f, tAct, t1o, t1a);
    await this.#linear(f, t2, t1a, N, temb);
    const yemb = tensor([N, D], "y_emb");
    if (names.yTable) {
      await embeddingForward(f, this.#P(names.yTable), this.y, yemb, N, labelRows, D);
    } else if (cEmb) await this.#linear(f, cEmb, this.cond, N, yemb);
    const c = tensor([N, D], "c");
    await add(f, temb, yemb, c);
    const sc = tensor([N, D], "silu_c");
    await activationForward(f, "silu", c, sc);
    this.acts.set("x_embed", E).set("t_freq", tf).set("t_emb", temb).set("y_emb", yemb);
    this.acts.set("h0", h0).set("c", c);
    return { xEmb, t1, t2, cEmb, patches, tf, t1o, t1a, c, sc, h0 };
  }

  /** Block i: adaLN modulation, attention and MLP branches with gated residuals. */
  async #blockForward(ctx: Context, i: number, h: Tensor, sc: Tensor): Promise<Block> {
    const gpu = this.gpu;
    const cfg = this.model.cfg;
    const { T, D, hidden4 } = this.d;
    const { N, NT, shape, dw, tensor } = ctx;
    const f = this.forward;
    const bn = this.model.layout.names.blocks[i];
    const L = {
      ada: await this.#lin(bn.adaW, bn.adaB),
      qkv: await this.#lin(bn.qkvW, bn.qkvB),
      proj: await this.#lin(bn.projW, bn.projB),
      fc1: await this.#lin(bn.fc1W, bn.fc1B),
      fc2: await this.#lin(bn.fc2W, bn.fc2B),
    };
    const g = tensor([NT, hidden4], `b${i}.g`);
    const hm = tensor([NT, D], `b${i}.hm`);
    const hOut = tensor([NT, D], `b${i}.out`);
    // Inference on the texture path fuses each gated residual into its linear layer's store:
    // the branch outputs before their gates (proj, f2) are never formed there.
    const fuse = !this.opts.training && canFuseGate(gpu, NT, D, 6 * D, 2 * D);
    const a: BlockActs = {
      h,
      mod: tensor([N, 6 * D], `b${i}.mod`),
      a1: tensor([NT, D], `b${i}.a1`),
      mean1: tensor([NT], `b${i}.mean1`),
      rstd1: tensor([NT], `b${i}.rstd1`),
      qkv: tensor([NT, 3 * D], `b${i}.qkv`),
      attn: attentionState(gpu, { N, T, D, H: cfg.heads }, `b${i}`, this.opts.training),
      o: tensor([NT, D], `b${i}.o`),
      proj: fuse ? hm : tensor([NT, D], `b${i}.proj`),
      hm,
      a2: tensor([NT, D], `b${i}.a2`),
      mean2: tensor([NT], `b${i}.mean2`),
      rstd2: tensor([NT], `b${i}.rstd2`),
      // Inference fuses GELU into fc1 and keeps no pre-activation: f1 is g itself there.
      f1: this.opts.training ? tensor([NT, hidden4], `b${i}.f1`) : g,
      g,
      gc: dw ? tensor([NT, hidden4], `b${i}.gc`) : undefined,
      f2: fuse ? hOut : tensor([NT, D], `b${i}.f2`),
      out: hOut,
    };
    const m = { mod: a.mod, stride: 6 * D };
    await this.#linear(f, L.ada, sc, N, a.mod);
    await lnModForward(f, shape, h, m, 0, D, a.a1, a.mean1, a.rstd1);
    await this.#linear(f, L.qkv, a.a1, NT, a.qkv);
    await attentionForward(f, a.attn, a.qkv, a.o);
    const gated = (residual: Tensor, gateOff: number): GatedResidual => ({
      residual,
      mod: a.mod,
      stride: 6 * D,
      gateOff,
      T,
    });
    if (fuse) await this.#linear(f, L.proj, a.o, NT, a.hm, false, gated(h, 2 * D));
    else {
      await this.#linear(f, L.proj, a.o, NT, a.proj);
      await gateForward(f, shape, h, a.proj, m, 2 * D, a.hm);
    }
    await lnModForward(f, shape, a.hm, m, 3 * D, 4 * D, a.a2, a.mean2, a.rstd2);
    if (this.opts.training) {
      await this.#linear(f, L.fc1, a.a2, NT, a.f1);
      await activationForward(f, "gelu", a.f1, a.g);
    } else {
      // Inference keeps no pre-activation for a backward pass: GELU in the matmul's epilogue.
      await this.#linear(f, L.fc1, a.a2, NT, a.g, true);
    }
    if (dw && a.gc) await dwconvForward(f, dw, a.g, this.#P(bn.dwW!), this.#P(bn.dwB!), a.gc);
    if (fuse) await this.#linear(f, L.fc2, a.gc ?? a.g, NT, hOut, false, gated(a.hm, 5 * D));
    else {
      await this.#linear(f, L.fc2, a.gc ?? a.g, NT, a.f2);
      await gateForward(f, shape, a.hm, a.f2, m, 5 * D, hOut);
      // The branches' outputs before their gates exist only without the fusion.
      this.acts.set(`blocks.${i}.attn`, a.proj).set(`blocks.${i}.mlp`, a.f2);
    }
    this.acts.set(`blocks.${i}.mod`, a.mod);
    if (a.gc) this.acts.set(`blocks.${i}.dwconv`, a.gc);
    this.acts.set(`blocks.${i}`, hOut);
    return { acts: a, ...L };
  }

  /** Final adaLN modulation and linear layer, then (images) unpatchify into `out`. */
  async #finalLayerForward(ctx: Context, h: Tensor, sc: Tensor): Promise<FinalLayer> {
    const cfg = this.model.cfg;
    const names = this.model.layout.names;
    const { D, Fout } = this.d;
    const { N, NT, img, H, p, shape, tensor } = ctx;
    const f = this.forward;
    const fAda = await this.#lin(names.fAdaW, names.fAdaB);
    const fLin = await this.#lin(names.fW, names.fB);
    const fl: FinalLayer = {
      fAda,
      fLin,
      h,
      mod: { mod: tensor([N, 2 * D], "final.mod"), stride: 2 * D },
      a: tensor([NT, D], "final.a"),
      mean: tensor([NT], "final.mean"),
      rstd: tensor([NT], "final.rstd"),
    };
    const outTok = img ? tensor([NT, Fout], "final.tokens") : this.out;
    await this.#linear(f, fAda, sc, N, fl.mod.mod);
    await lnModForward(f, shape, h, fl.mod, 0, D, fl.a, fl.mean, fl.rstd);
    await this.#linear(f, fLin, fl.a, NT, outTok);
    if (img) {
      await patchPermute(
        f,
        "image",
        outTok,
        this.out,
        { N, C: cfg.outChannels, H, W: H, p },
        "seed",
      );
    }
    this.acts.set("final_layer", outTok);
    return fl;
  }

  /**
   * The loss (into loss[0], and into loss[1] by `lossOnly`) and its gradient as output tokens,
   * plus the gradient buffers the backward passes share.
   */
  async #lossBackward(ctx: Context): Promise<Grads> {
    const cfg = this.model.cfg;
    const { T, D, Fout, hidden4 } = this.d;
    const { N, NT, img, C, H, p, tensor } = ctx;
    const b = this.lossAndBackward;
    const HW = img ? H * H : T;
    const mg = img
      ? { N, Cp: cfg.outChannels, Ct: C, HW }
      : { N: N * T, Cp: cfg.outChannels, Ct: C, HW: 1 };
    if (cfg.outChannels < C) {
      throw new Error(`outChannels ${cfg.outChannels} < input channels ${C}`);
    }
    await mseForward(this.lossOnly, mg, this.out, this.target, this.loss, 1);
    await mseForward(b, mg, this.out, this.target, this.loss);
    const dout = tensor([N, T * Fout], "d_out");
    await mseBackward(b, mg, this.out, this.target, dout, this.opts.lossScale ?? 1);
    const dTok = img ? tensor([NT, Fout], "d_final.tokens") : dout;
    if (img) {
      await patchPermute(b, "tokens", dout, dTok, { N, C: cfg.outChannels, H, W: H, p }, "seed");
    }
    return {
      dTok,
      dres: tensor([NT, D], "d_res"),
      da: tensor([NT, D], "d_a"),
      dsc: tensor([N, D], "d_silu_c"),
      dmod: tensor([N, 6 * D], "d_mod"),
      dqkv: tensor([NT, 3 * D], "d_qkv"),
      dbig: tensor([NT, hidden4], "d_hidden"),
      dbig2: tensor([NT, hidden4], "d_hidden2"),
      dsmall: tensor([NT, D], "d_branch"),
    };
  }

  /** Backward of the final layer: d h (into dres) and d sc (into dsc, overwritten). */
  async #finalLayerBackward(ctx: Context, fl: FinalLayer, g: Grads, sc: Tensor): Promise<void> {
    const { D } = this.d;
    const { N, NT, shape, tensor } = ctx;
    const b = this.lossAndBackward;
    const dfmod = tensor([N, 2 * D], "d_final.mod");
    await this.#linearBackward(b, fl.fLin, fl.a, NT, g.dTok, g.da);
    await lnModBackward(b, shape, fl.h, fl.mod, 0, D, fl.mean, fl.rstd, g.da, g.dres, dfmod, false);
    await this.#linearBackward(b, fl.fAda, sc, N, dfmod, g.dsc);
  }

  /** Backward of block i: dres turns from d out into d h; dsc accumulates. */
  async #blockBackward(ctx: Context, i: number, blk: Block, g: Grads, sc: Tensor): Promise<void> {
    const { D } = this.d;
    const { N, NT, shape, dw } = ctx;
    const b = this.lossAndBackward;
    const { acts: a, ada, qkv, proj, fc1, fc2 } = blk;
    const bn = this.model.layout.names.blocks[i];
    const m = { mod: a.mod, stride: 6 * D };
    // h_out = hm + gate_mlp * f2; dres holds d h_out and becomes d hm, then d h.
    await gateBackward(b, shape, g.dres, a.f2, m, 5 * D, g.dsmall, g.dmod);
    await this.#linearBackward(b, fc2, a.gc ?? a.g, NT, g.dsmall, g.dbig);
    let df1 = g.dbig2;
    if (dw && a.gc) {
      await dwconvBackward(
        b,
        dw,
        a.g,
        this.#P(bn.dwW!),
        g.dbig,
        g.dbig2,
        this.#G(bn.dwW!),
        this.#G(bn.dwB!),
        true,
      );
      await activationBackward(b, "gelu", a.f1, g.dbig2, g.dbig);
      df1 = g.dbig;
    } else await activationBackward(b, "gelu", a.f1, g.dbig, g.dbig2);
    await this.#linearBackward(b, fc1, a.a2, NT, df1, g.da);
    await lnModBackward(
      b,
      shape,
      a.hm,
      m,
      3 * D,
      4 * D,
      a.mean2,
      a.rstd2,
      g.da,
      g.dres,
      g.dmod,
      true,
    );
    await gateBackward(b, shape, g.dres, a.proj, m, 2 * D, g.dsmall, g.dmod);
    await this.#linearBackward(b, proj, a.o, NT, g.dsmall, g.da);
    await attentionBackward(b, a.attn, a.qkv, g.da, g.dqkv);
    await this.#linearBackward(b, qkv, a.a1, NT, g.dqkv, g.da);
    await lnModBackward(b, shape, a.h, m, 0, D, a.mean1, a.rstd1, g.da, g.dres, g.dmod, true);
    await this.#linearBackward(b, ada, sc, N, g.dmod, g.dsc, true);
  }

  /** Backward of the conditioning and the patch and position embeddings (and d x on request). */
  async #embeddingBackward(ctx: Context, e: Embedding, g: Grads): Promise<void> {
    const names = this.model.layout.names;
    const { T, D, F, labelRows } = this.d;
    const { N, NT, img, C, H, p, order, tAct, tensor } = ctx;
    const b = this.lossAndBackward;
    // Conditioning: c = t_emb + y_emb, sc = silu(c).
    const dc = tensor([N, D], "d_c");
    await activationBackward(b, "silu", e.c, g.dsc, dc);
    const dt1a = tensor([N, D], "d_t_hidden_act");
    const dt1o = tensor([N, D], "d_t_hidden");
    await this.#linearBackward(b, e.t2, e.t1a, N, dc, dt1a);
    await activationBackward(b, tAct, e.t1o, dt1a, dt1o);
    await this.#linearBackward(b, e.t1, e.tf, N, dt1o, null);
    if (names.yTable) {
      await embeddingBackward(b, dc, this.y, this.#G(names.yTable), N, labelRows, D, true);
    } else if (e.cEmb) await this.#linearBackward(b, e.cEmb, this.cond, N, dc, null);
    // h0 = x_embed + pos.
    if (this.model.layout.get(names.pos).trainable) {
      await sumRows(b, g.dres, 1, N, T * D, this.#G(names.pos), true);
    }
    const dPatches = this.opts.inputGrad ? (img ? tensor([NT, F], "d_patches") : this.gradX) : null;
    await this.#linearBackward(b, e.xEmb, e.patches, NT, g.dres, dPatches);
    if (img && dPatches) {
      await patchPermute(b, "image", dPatches, this.gradX, { N, C, H, W: H, p }, order);
    }
  }

  /** Writes timesteps (as floats) and labels or condition vectors for the next submit. */
  setConditioning(t: ArrayLike<number>, labels?: ArrayLike<number>, cond?: Float32Array): void {
    const N = this.opts.batch;
    if (t.length !== N) throw new Error(`Expected ${N} timesteps, got ${t.length}`);
    this.gpu.write(this.t, Float32Array.from(t));
    const c = this.model.cfg.condition;
    if (c.kind === "class") {
      if (!labels || labels.length !== N) throw new Error(`Expected ${N} class labels`);
      for (let i = 0; i < N; i++) {
        const l = labels[i];
        if (!Number.isInteger(l) || l < 0 || l >= this.d.labelRows) {
          throw new Error(`Class label ${l} at ${i} is outside [0, ${this.d.labelRows})`);
        }
      }
      this.gpu.write(this.y, Uint32Array.from(labels));
    } else if (c.kind === "vector") {
      if (!cond || cond.length !== N * c.dim) {
        throw new Error(`Expected condition vectors [${N}, ${c.dim}]`);
      }
      for (let i = 0; i < cond.length; i++) {
        if (!Number.isFinite(cond[i])) throw new Error(`Condition value at ${i} is not finite`);
      }
      this.gpu.write(this.cond, cond);
    }
  }
}
