// The kernels' tile sizes and chunk lengths, defined once: the host sizes its grids with them
// and passes them to the WGSL as defines. Each kernel's thread mapping is written for these
// values (256 invocations a workgroup); change one only together with its kernel.

/** matmul_nt: output columns per workgroup (TN) and the K slice staged in workgroup memory (TK). */
export const MATMUL_TILE = { TN: 64, TK: 32 } as const;
/** matmul_nt's rows per workgroup (TM) for the translator: a batch's groups are small. */
export const TRANSLATOR_TILE_SLOTS = 16;
/** matmul_nt's rows per workgroup (TM) for the unembedding: U is streamed once per 32 rows. */
export const UNEMBED_TILE_SLOTS = 32;
/** translator_gemv: slots per pass over a group's rows, lanes per row, output rows per workgroup. */
export const GEMV_TILE = { SLOTS: 4, LANES: 32, ROWS: 8 } as const;
/**
 * translator_sg: slots an invocation accumulates at a time (a batch of 32 over a preset's
 * groups gives each present group 1–3), invocations per workgroup, rows of dW per workgroup.
 */
export const TRANSLATOR_SUBGROUP_TILE = { SLOTS: 4, WG: 64, ROWS: 256 } as const;
/** translator_grad: a T × T tile of dW per workgroup, S slots staged at a time. */
export const GRAD_TILE = { T: 64, S: 16 } as const;
/** unembed_grad: TM rows × TN columns of dz per workgroup, TV vocabulary rows staged at a time. */
export const UNEMBED_GRAD_TILE = { TM: 32, TN: 64, TV: 32 } as const;
/**
 * The unembedding's subgroup variants (unembed_logits, unembed_grad with SUBGROUPS): batch rows
 * an invocation accumulates at a time (SLOTS registers) and invocations per workgroup (WG). On
 * lavapipe a workgroup is one task of its thread pool; one subgroup of 8 a task measured best.
 */
export const UNEMBED_SUBGROUP_TILE = { SLOTS: 16, WG: 8 } as const;
/**
 * unembed_register, one entry per candidate: TM batch rows × TN output columns a workgroup of
 * (TM / RM) · (TN / RN) invocations, each an RM × RN block of registers, TK rows of the summed
 * index staged at a time. Workgroup memory TK · (TM + TN) · 4 bytes, within WebGPU's 16 KiB.
 */
export const UNEMBED_REGISTER_TILES = {
  'register-32x64': { TM: 32, TN: 64, TK: 32, RM: 4, RN: 4 },
  'register-32x128': { TM: 32, TN: 128, TK: 16, RM: 4, RN: 4 },
  'register-64x128': { TM: 64, TN: 128, TK: 16, RM: 8, RN: 4 },
} as const;
/** unembed_grad: vocabulary rows summed by one workgroup (the split-K length). */
export const V_PER_SPLIT = 1024;
/** adamw: elements of a parameter block per workgroup (sumsq and update). */
export const ADAMW_CHUNK = 4096;
/** position_adamw's update_rows: rows of ΔU_q an invocation updates (each slot's z loaded once for them). */
export const POSITION_UPDATE_ROWS = 8;
/**
 * position_unembed's subgroup delta_logits and delta_dz: the slot widths (SG_SLOTS) compiled. A
 * position's dispatch takes the narrowest that holds its slots (a batch of 32 gives each of 6
 * positions ~5): on lavapipe these products are bound by their multiply-adds, so accumulating
 * for slots a position does not have would cost as much as the ones it has.
 */
export const POSITION_SG_SLOTS = [1, 2, 3, 4, 5, 6, 7, 8, 12, 16] as const;
/** position_unembed: slots (SLOTS) and output columns (COLS) per workgroup of its GEMMs. */
export const POSITION_TILE = { SLOTS: 16, COLS: 64 } as const;
