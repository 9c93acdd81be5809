/**
 * The autoencoder interface between images and the latents the DiT models, and the identity
 * autoencoder used by the reference emoji task (latent = the RGBA image itself, 4x32x32 in [-1,1],
 * scaling factor 1). The Stable Diffusion VAE plugs in behind the same interface.
 */
import type { Shape3 } from "./transforms.ts";
import { checkShape } from "./transforms.ts";

/** A batch of images or latents: `data` is [N,C,H,W]. */
export interface Tensor4 {
  /** [N,C,H,W] */
  data: Float32Array;
  /** [N, C, H, W] of `data` */
  shape: readonly [number, number, number, number];
}

/** Maps images ([N,C,H,W] in [-1,1]) to latents and back. */
export interface Autoencoder {
  /** e.g. "identity" or "sd-vae-ft-mse" */
  readonly name: string;
  /** latents are multiplied by this after encoding and divided by it before decoding */
  readonly scalingFactor: number;
  /** the latent [C,H,W] for an image [C,H,W] */
  latentShape(imageShape: Shape3): Shape3;
  /** images [N,C,H,W] in [-1,1] -> scaled latents [N,c,h,w] */
  encode(images: Tensor4): Promise<Tensor4>;
  /** scaled latents [N,c,h,w] -> images [N,C,H,W] in (about) [-1,1] */
  decode(latents: Tensor4): Promise<Tensor4>;
}

/** The identity autoencoder: latents are the images, unchanged (a copy); scaling factor 1. */
export const identityAutoencoder: Autoencoder = Object.freeze({
  name: "identity",
  scalingFactor: 1,
  latentShape(imageShape: Shape3): Shape3 {
    return [imageShape[0], imageShape[1], imageShape[2]];
  },
  encode(images: Tensor4): Promise<Tensor4> {
    checkShape(images.data, images.shape);
    return Promise.resolve({ data: images.data.slice(), shape: images.shape });
  },
  decode(latents: Tensor4): Promise<Tensor4> {
    checkShape(latents.data, latents.shape);
    return Promise.resolve({ data: latents.data.slice(), shape: latents.shape });
  },
});
