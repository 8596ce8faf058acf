import { Document } from 'yaml';
import { shardArguments, type SweepJob } from './sweep-job.js';

export interface KubernetesOptions {
  /** Container image with pmoe installed. */
  readonly image: string;
  /** The command that starts pmoe in the image. */
  readonly pmoe: readonly string[];
  /** Folder the container runs in; results/ under it is the volume. */
  readonly workdir: string;
  /** PersistentVolumeClaim that keeps the results files (every pod writes its own shard file into it). */
  readonly claim: string;
  readonly gpusPerTask?: number;
  /** e.g. 4Gi; requested per pod. */
  readonly memory?: string;
  /** Pods at once; default every index. */
  readonly maxRunning?: number;
  /** Retries of one index before it counts as failed (backoffLimitPerIndex). */
  readonly retries: number;
  readonly writtenBy: string;
}

/** A Kubernetes object name: lower-case letters, digits and '-', starting and ending alphanumeric. */
function objectName(text: string): string {
  return (
    text
      .toLowerCase()
      .replace(/[^a-z0-9-]+/g, '-')
      .replace(/^-+|-+$/g, '')
      .slice(0, 63) || 'pmoe'
  );
}

/**
 * An Indexed Job: completion index i runs shard i+1 of N. Kubernetes does not tell a pod the number
 * of completions, so PMOE_SHARD_COUNT carries it. Each index is retried on its own
 * (backoffLimitPerIndex), and a retried pod resumes from its shard file on the volume.
 */
export function kubernetesJob(job: SweepJob, options: KubernetesOptions): string {
  const name = objectName(`pmoe-${job.experiment}`);
  const labels = { app: 'pmoe', experiment: objectName(job.experiment) };
  const manifest = {
    apiVersion: 'batch/v1',
    kind: 'Job',
    metadata: { name, labels },
    spec: {
      completionMode: 'Indexed',
      completions: job.tasks,
      parallelism: Math.min(job.tasks, options.maxRunning ?? job.tasks),
      backoffLimitPerIndex: options.retries,
      template: {
        metadata: { labels },
        spec: {
          // backoffLimitPerIndex requires Never: a failed pod is replaced, not restarted in place.
          restartPolicy: 'Never',
          containers: [
            {
              name: 'pmoe',
              image: options.image,
              workingDir: options.workdir,
              command: [...options.pmoe, ...shardArguments(job)],
              env: [{ name: 'PMOE_SHARD_COUNT', value: String(job.tasks) }],
              resources: {
                requests: { cpu: String(job.jobs), ...(options.memory ? { memory: options.memory } : {}) },
                ...(options.gpusPerTask ? { limits: { 'nvidia.com/gpu': options.gpusPerTask } } : {}),
              },
              volumeMounts: [{ name: 'results', mountPath: `${options.workdir.replace(/\/+$/, '')}/results` }],
            },
          ],
          volumes: [{ name: 'results', persistentVolumeClaim: { claimName: options.claim } }],
        },
      },
    },
  };
  const document = new Document(manifest, { aliasDuplicateObjects: false });
  document.commentBefore = ` pmoe ${job.experiment} as a Kubernetes Indexed Job of ${job.tasks} pods: completion index i runs shard i+1 of ${job.tasks}.\n Apply: kubectl apply -f <this file>\n Written by: ${options.writtenBy}`;
  return document.toString();
}
