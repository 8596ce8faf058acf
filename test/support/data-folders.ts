import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

/** Folders that hold (empty) files under the names the loaders read: enough for the presence check. */
export async function presenceFolders(root: string): Promise<{ cifarDir: string; celebaDir: string; backgroundDir: string }> {
  const cifarDir = join(root, 'cifar');
  const celebaDir = join(root, 'celeba');
  const backgroundDir = join(root, 'backgrounds');
  await mkdir(cifarDir);
  await mkdir(join(celebaDir, 'img_align_celeba'), { recursive: true });
  await mkdir(backgroundDir);
  for (const name of ['data_batch_1.bin', 'data_batch_2.bin', 'data_batch_3.bin', 'data_batch_4.bin', 'data_batch_5.bin', 'test_batch.bin'])
    await writeFile(join(cifarDir, name), '');
  for (const name of ['list_attr_celeba.txt', 'list_eval_partition.txt']) await writeFile(join(celebaDir, name), '');
  await writeFile(join(backgroundDir, 'sky.jpg'), '');
  return { cifarDir, celebaDir, backgroundDir };
}
