// A run's settings (the contract's training knobs and the seed's experiments), and the seed's
// values; recorded in config.json and the checkpoint's fingerprint.
import type { PositionUnembedMode } from '../shared/constants.ts';
import type { PresetName } from '../lens/preset.ts';

export interface TrainSettings {
  preset: PresetName;
  criticalLayers: number[];
  /** Keep only samples of these layers (train and test); all when undefined. */
  layers?: number[];
  epochs: number;
  patience: number;
  batchSize: number;
  lr: number;
  weightDecay: number;
  /** Max global gradient norm; 0 turns clipping off. */
  clip: number;
  seed: number;
  shuffle: boolean;
  /** Write checkpoint.safetensors after each epoch (for --resume). */
  checkpoint: boolean;
  /** With several targets a sample: the first only, or all (recorded; applied at load time). */
  targets?: 'first' | 'all';
  /** Targets derived from chain-of-thought tokens (`uniform`, `weights:…`; applied at load time). */
  assign?: string;
  /** `kl`: train against the model's own prediction from final_hidden (default: cross-entropy). */
  loss?: 'kl';
  /** With the KL loss: final_hidden is already through the final norm. */
  finalNormed?: boolean;
  /** A position-specific unembedding trained with the translators: c_p (bias), ΔU_p and c_p (full). */
  positionUnembed?: PositionUnembedMode;
}

export const SEED_SETTINGS: Omit<TrainSettings, 'preset' | 'criticalLayers'> = {
  epochs: 50,
  patience: 5,
  batchSize: 32,
  lr: 1e-3,
  weightDecay: 1e-3,
  clip: 1.0,
  seed: 42,
  shuffle: true,
  checkpoint: true,
};
