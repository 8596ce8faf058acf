/** The environment variable that tells sweep workers to log every evaluated epoch of each run to `<dir>/<run key>.jsonl`. */
export const EPOCH_LOG_DIR_VARIABLE = 'PMOE_LOG_DIR';

/** The environment variable that tells sweep workers whether `auto` may pick a GPU ('0': not; see EngineOptions.gpu). */
export const AUTO_GPU_VARIABLE = 'PMOE_AUTO_GPU';
