/** Shared pieces of the LeRobot reader and writer tests. */

/** The episodes metadata file of a small v3.0 dataset (one chunk, one file). */
export const EPISODES_META = "meta/episodes/chunk-000/file-000.parquet";

/** The episodes metadata columns that place each episode's frames (what the reader relies on). */
export const EPISODE_PLACEMENT_COLUMNS: string[] = [
  "episode_index",
  "tasks",
  "length",
  "data/chunk_index",
  "data/file_index",
  "dataset_from_index",
  "dataset_to_index",
];
