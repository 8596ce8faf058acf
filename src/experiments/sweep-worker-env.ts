/** The environment variable that tells sweep workers to log every evaluated epoch of each run to `<dir>/<run key>.jsonl`. */
export const EPOCH_LOG_DIR_VARIABLE = 'PMOE_LOG_DIR';
