/**
 * Adapter and device acquisition.
 *
 * The engine asks for the limits the DiT needs (128 MiB bindings, 2 GiB buffers, as many storage
 * buffers per stage as offered) and for `shader-f16` / `timestamp-query` when the adapter has them.
 * llvmpipe (Mesa's CPU rasterizer) is detected so that kernels can be chosen per adapter: it runs
 * texture-fed matmuls ~20x faster than storage-buffer ones, real GPUs the other way round.
 */

/** Which family of matmul kernels to run. */
export type MatmulPath = "texture" | "buffer";

/** Options for {@linkcode createGpu}. */
export interface GpuOptions {
  /** Force a matmul family; by default llvmpipe gets "texture", other adapters "buffer". */
  matmul?: MatmulPath;
  /** Request `timestamp-query` so that {@linkcode Gpu.profile} can time each kernel. */
  profile?: boolean;
  /**
   * Force the storage-buffer matmul's workgroup tile (benchmarks and tests): 64 (64x64 outputs,
   * 4x4 per thread) or 128 (128x128, 8x8 per thread). By default each product gets 128 when it
   * has enough such tiles to fill a GPU, else 64. Products with K >= 1024 always take 64 (their
   * sums run in chunks that only the 64x64 kernel keeps).
   */
  bufferTile?: BufferTile;
}

/** Workgroup tile edge of the storage-buffer matmul. */
export type BufferTile = 64 | 128;

/** A WebGPU device with what the engine learned about its adapter. */
export interface GpuDevice {
  /** The device. */
  device: GPUDevice;
  /** The adapter it came from. */
  adapter: GPUAdapter;
  /** Adapter description, e.g. "llvmpipe (LLVM 15.0.6, 256 bits)". */
  description: string;
  /** True on Mesa's llvmpipe / lavapipe (CPU) adapters. */
  isCpu: boolean;
  /** Matmul kernel family in use. */
  matmul: MatmulPath;
  /** The storage-buffer matmul's forced tile, if any (see {@linkcode GpuOptions.bufferTile}). */
  bufferTile?: BufferTile;
  /** Whether `shader-f16` is enabled. */
  hasF16: boolean;
  /** Whether timestamp queries are enabled. */
  hasTimestamps: boolean;
}

const NO_ADAPTER_HELP = "No WebGPU adapter found. On Linux without a GPU install Mesa's Vulkan " +
  "driver (`apt-get install -y mesa-vulkan-drivers`), which provides the llvmpipe CPU adapter; " +
  "check DENO_WEBGPU_BACKEND is unset or 'vulkan'";

/** Requests an adapter and device, or throws an error that says how to get one. */
export async function requestGpuDevice(options: GpuOptions = {}): Promise<GpuDevice> {
  if (!("gpu" in navigator) || !navigator.gpu) throw new Error(NO_ADAPTER_HELP);
  const adapter = await navigator.gpu.requestAdapter({ powerPreference: "high-performance" });
  if (!adapter) throw new Error(NO_ADAPTER_HELP);
  const info = adapter.info;
  const description = `${info.description || info.device || info.vendor}`.trim();
  const isCpu = /llvmpipe|lavapipe|swiftshader/i.test(description) || info.isFallbackAdapter;
  const features: GPUFeatureName[] = [];
  const hasF16 = adapter.features.has("shader-f16");
  if (hasF16) features.push("shader-f16");
  const hasTimestamps = !!options.profile && adapter.features.has("timestamp-query");
  if (hasTimestamps) features.push("timestamp-query");
  const l = adapter.limits;
  const device = await adapter.requestDevice({
    label: "dit-engine",
    requiredFeatures: features,
    requiredLimits: {
      maxStorageBufferBindingSize: l.maxStorageBufferBindingSize,
      maxBufferSize: l.maxBufferSize,
      maxStorageBuffersPerShaderStage: l.maxStorageBuffersPerShaderStage,
      maxComputeWorkgroupStorageSize: l.maxComputeWorkgroupStorageSize,
      maxComputeInvocationsPerWorkgroup: l.maxComputeInvocationsPerWorkgroup,
      maxComputeWorkgroupSizeX: l.maxComputeWorkgroupSizeX,
      maxComputeWorkgroupSizeY: l.maxComputeWorkgroupSizeY,
      maxTextureArrayLayers: l.maxTextureArrayLayers,
    },
  });
  return {
    device,
    adapter,
    description,
    isCpu,
    matmul: options.matmul ?? (isCpu ? "texture" : "buffer"),
    bufferTile: options.bufferTile,
    hasF16,
    hasTimestamps,
  };
}
