/** A tiny CelebA folder in the real formats, written by tests. */
import { mkdir, mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import jpeg from 'jpeg-js';

/** The 40 attribute names of list_attr_celeba.txt, in order. */
export const CELEBA_NAMES = (
  '5_o_Clock_Shadow Arched_Eyebrows Attractive Bags_Under_Eyes Bald Bangs Big_Lips Big_Nose Black_Hair Blond_Hair ' +
  'Blurry Brown_Hair Bushy_Eyebrows Chubby Double_Chin Eyeglasses Goatee Gray_Hair Heavy_Makeup High_Cheekbones ' +
  'Male Mouth_Slightly_Open Mustache Narrow_Eyes No_Beard Oval_Face Pale_Skin Pointy_Nose Receding_Hairline Rosy_Cheeks ' +
  'Sideburns Smiling Straight_Hair Wavy_Hair Wearing_Earrings Wearing_Hat Wearing_Lipstick Wearing_Necklace Wearing_Necktie Young'
).split(' ');

export type Rgb = readonly [number, number, number];

/** A JPEG of width x height: rows above the centred square `top`, inside it `middle`, below it `bottom`. */
export function bandedJpeg(width: number, height: number, top: Rgb, middle: Rgb, bottom: Rgb): Uint8Array {
  const data = new Uint8Array(width * height * 4);
  const side = Math.min(width, height);
  const first = Math.floor((height - side) / 2);
  for (let y = 0; y < height; y++) {
    const colour = y < first ? top : y >= first + side ? bottom : middle;
    for (let x = 0; x < width; x++) data.set([...colour, 255], (y * width + x) * 4);
  }
  return jpeg.encode({ width, height, data }, 100).data;
}

export interface FixtureImage {
  readonly file: string;
  /** The attribute values, 40 of 1 / -1. */
  readonly values: number[];
  readonly partition: 0 | 1 | 2;
  readonly jpeg: Uint8Array;
}

/** Attribute text in the real layout (count, names, then aligned rows with double spaces). */
export function attributeText(images: readonly FixtureImage[]): string {
  const rows = images.map((image) => `${image.file} ${image.values.map((v) => (v === 1 ? ' 1' : '-1')).join(' ')}`);
  return [String(images.length), `${CELEBA_NAMES.join(' ')} `, ...rows, ''].join('\n');
}

export function partitionText(images: readonly FixtureImage[]): string {
  return images.map((image) => `${image.file} ${image.partition}`).join('\r\n') + '\r\n';
}

/** Writes the folder; returns its path. */
export async function writeCelebaFixture(images: readonly FixtureImage[], texts: { attributes?: string; partition?: string } = {}): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'pmoe-celeba-'));
  await mkdir(join(dir, 'img_align_celeba'));
  for (const image of images) await writeFile(join(dir, 'img_align_celeba', image.file), image.jpeg);
  await writeFile(join(dir, 'list_attr_celeba.txt'), texts.attributes ?? attributeText(images));
  await writeFile(join(dir, 'list_eval_partition.txt'), texts.partition ?? partitionText(images));
  return dir;
}
