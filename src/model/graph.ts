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
import { patchPermute } from "../ops/patchify.ts";
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

  async #record(): Promise<void> {
    const gpu = this.gpu;
    const cfg = this.model.cfg;
    const names = this.model.layout.names;
    const { T, D, F, Fout, hidden4, tFreq, labelRows } = this.d;
    const N = this.opts.batch;
    const NT = N * T;
    const f = this.forward;
    const seed = cfg.arch === "seed";
    const img = cfg.input.kind === "image";
    const C = cfg.input.channels;
    const p = cfg.patchSize;
    const H = cfg.input.kind === "image" ? cfg.input.size : 0;
    const order = seed ? "seed" : "conv";
    const tensor = (shape: number[], label: string) => gpu.tensor(shape, label);

    // ---- Embeddings ----
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
    const tAct = seed ? "gelu" : "silu";
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

    // ---- Blocks ----
    const shape: LnShape = { B: N, T, C: D };
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
    const blocks: { acts: BlockActs; ada: Lin; qkv: Lin; proj: Lin; fc1: Lin; fc2: Lin }[] = [];
    let h = h0;
    for (let i = 0; i < cfg.depth; i++) {
      const bn = names.blocks[i];
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
      blocks.push({ acts: a, ...L });
      h = hOut;
    }

    // ---- Final layer ----
    const fAda = await this.#lin(names.fAdaW, names.fAdaB);
    const fLin = await this.#lin(names.fW, names.fB);
    const fmod = tensor([N, 2 * D], "final.mod");
    const fa = tensor([NT, D], "final.a");
    const fmean = tensor([NT], "final.mean");
    const frstd = tensor([NT], "final.rstd");
    const outTok = img ? tensor([NT, Fout], "final.tokens") : this.out;
    const fm = { mod: fmod, stride: 2 * D };
    await this.#linear(f, fAda, sc, N, fmod);
    await lnModForward(f, shape, h, fm, 0, D, fa, fmean, frstd);
    await this.#linear(f, fLin, fa, NT, outTok);
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
    if (!this.opts.training) return;

    // ---- Loss and backward ----
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
    const dres = tensor([NT, D], "d_res");
    const da = tensor([NT, D], "d_a");
    const dsc = tensor([N, D], "d_silu_c");
    const dfmod = tensor([N, 2 * D], "d_final.mod");
    await this.#linearBackward(b, fLin, fa, NT, dTok, da);
    await lnModBackward(b, shape, h, fm, 0, D, fmean, frstd, da, dres, dfmod, false);
    await this.#linearBackward(b, fAda, sc, N, dfmod, dsc);
    const dmod = tensor([N, 6 * D], "d_mod");
    const dqkv = tensor([NT, 3 * D], "d_qkv");
    const dbig = tensor([NT, hidden4], "d_hidden");
    const dbig2 = tensor([NT, hidden4], "d_hidden2");
    const dsmall = tensor([NT, D], "d_branch");
    for (let i = cfg.depth - 1; i >= 0; i--) {
      const { acts: a, ada, qkv, proj, fc1, fc2 } = blocks[i];
      const bn = names.blocks[i];
      const m = { mod: a.mod, stride: 6 * D };
      // h_out = hm + gate_mlp * f2; dres holds d h_out and becomes d hm, then d h.
      await gateBackward(b, shape, dres, a.f2, m, 5 * D, dsmall, dmod);
      await this.#linearBackward(b, fc2, a.gc ?? a.g, NT, dsmall, dbig);
      let df1 = dbig2;
      if (dw && a.gc) {
        await dwconvBackward(
          b,
          dw,
          a.g,
          this.#P(bn.dwW!),
          dbig,
          dbig2,
          this.#G(bn.dwW!),
          this.#G(bn.dwB!),
          true,
        );
        await activationBackward(b, "gelu", a.f1, dbig2, dbig);
        df1 = dbig;
      } else await activationBackward(b, "gelu", a.f1, dbig, dbig2);
      await this.#linearBackward(b, fc1, a.a2, NT, df1, da);
      await lnModBackward(b, shape, a.hm, m, 3 * D, 4 * D, a.mean2, a.rstd2, da, dres, dmod, true);
      await gateBackward(b, shape, dres, a.proj, m, 2 * D, dsmall, dmod);
      await this.#linearBackward(b, proj, a.o, NT, dsmall, da);
      await attentionBackward(b, a.attn, a.qkv, da, dqkv);
      await this.#linearBackward(b, qkv, a.a1, NT, dqkv, da);
      await lnModBackward(b, shape, a.h, m, 0, D, a.mean1, a.rstd1, da, dres, dmod, true);
      await this.#linearBackward(b, ada, sc, N, dmod, dsc, true);
    }
    // Conditioning: c = t_emb + y_emb, sc = silu(c).
    const dc = tensor([N, D], "d_c");
    await activationBackward(b, "silu", c, dsc, dc);
    const dt1a = tensor([N, D], "d_t_hidden_act");
    const dt1o = tensor([N, D], "d_t_hidden");
    await this.#linearBackward(b, t2, t1a, N, dc, dt1a);
    await activationBackward(b, tAct, t1o, dt1a, dt1o);
    await this.#linearBackward(b, t1, tf, N, dt1o, null);
    if (names.yTable) {
      await embeddingBackward(b, dc, this.y, this.#G(names.yTable), N, labelRows, D, true);
    } else if (cEmb) await this.#linearBackward(b, cEmb, this.cond, N, dc, null);
    // h0 = x_embed + pos.
    if (this.model.layout.get(names.pos).trainable) {
      await sumRows(b, dres, 1, N, T * D, this.#G(names.pos), true);
    }
    const dPatches = this.opts.inputGrad ? (img ? tensor([NT, F], "d_patches") : this.gradX) : null;
    await this.#linearBackward(b, xEmb, patches, NT, dres, dPatches);
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
