import assert from 'node:assert/strict';
import { rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { loadCelebaImages, loadCelebaIndex } from '../../src/data/celeba.js';
import { attributeText, bandedJpeg, CELEBA_NAMES, partitionText, writeCelebaFixture, type FixtureImage } from '../support/celeba-fixture.js';

const GREEN = [20, 200, 40] as const;
const RED = [230, 20, 20] as const;
const BLUE = [10, 30, 220] as const;

function values(smiling: boolean, extra = 0): number[] {
  return CELEBA_NAMES.map((name, i) => (name === 'Smiling' ? (smiling ? 1 : -1) : (i + extra) % 3 === 0 ? 1 : -1));
}

const IMAGES: FixtureImage[] = [
  // 16 x 32 (portrait like CelebA's 178 x 218): the centred 16 x 16 square is green, above red, below blue.
  { file: '000001.jpg', values: values(true), partition: 0, jpeg: bandedJpeg(16, 32, RED, GREEN, BLUE) },
  { file: '000002.jpg', values: values(false, 1), partition: 2, jpeg: bandedJpeg(24, 24, BLUE, RED, GREEN) },
];

function assertNear(actual: ArrayLike<number>, colour: readonly number[], tolerance: number, what: string): void {
  for (let i = 0; i < actual.length; i++) {
    assert.ok(Math.abs(actual[i] - colour[i % 3]) <= tolerance, `${what}: value ${actual[i]} at ${i} is not near ${colour[i % 3]}`);
  }
}

describe('CelebA reader', () => {
  let dir: string;
  before(async () => {
    dir = await writeCelebaFixture(IMAGES);
  });
  after(() => rm(dir, { recursive: true, force: true }));

  it('parses the attribute and partition lists (spacing, CRLF, trailing newline) in the attribute order', async () => {
    const index = await loadCelebaIndex(dir);
    assert.equal(index.count, 2);
    assert.deepEqual(index.attributeNames, CELEBA_NAMES);
    assert.deepEqual(index.files, ['000001.jpg', '000002.jpg']);
    assert.deepEqual(Array.from(index.attributes), [...IMAGES[0].values, ...IMAGES[1].values]);
    assert.deepEqual(Array.from(index.partition), [0, 2]);
  });

  it('decodes, cuts the centred square and area-resizes to size x size NHWC', async () => {
    const { images, shape } = await loadCelebaImages(dir, ['000002.jpg', '000001.jpg'], 8);
    assert.deepEqual(shape, [2, 8, 8, 3]);
    assertNear(images.subarray(0, 192), RED, 12, '000002.jpg (square, all kept)');
    // Only the green centre of 000001.jpg survives the crop (JPEG edges allow a little bleeding).
    assertNear(images.subarray(192), GREEN, 24, '000001.jpg (centre square)');
    const big = await loadCelebaImages(dir, ['000001.jpg'], 64);
    assert.deepEqual(big.shape, [1, 64, 64, 3]);
  });

  it('rejects malformed attribute lines, naming the file and the line', async () => {
    const good = attributeText(IMAGES).split('\n');
    const cases: [string, string[], RegExp][] = [
      [
        'a value of 2',
        [good[0], good[1], good[2].replace(/\S+$/, '2'), good[3]],
        /list_attr_celeba\.txt: line 3: value 40 \(Young\) of 000001\.jpg is '2'; values are 1 or -1/,
      ],
      [
        '39 values',
        [good[0], good[1], good[2], good[3].replace(/ +-?1$/, '')],
        /list_attr_celeba\.txt: line 4: expected a file name and 40 values, found 39 values/,
      ],
      ['a count that does not match', ['3', good[1], good[2], good[3]], /list_attr_celeba\.txt: line 5: line 1 announces 3 images but the file lists 2/],
      ['a count that is not a number', ['two', good[1], good[2], good[3]], /list_attr_celeba\.txt: line 1: expected the image count/],
      ['39 names', [good[0], CELEBA_NAMES.slice(1).join(' '), good[2], good[3]], /list_attr_celeba\.txt: line 2: expected 40 attribute names, found 39/],
    ];
    for (const [what, lines, message] of cases) {
      await writeFile(join(dir, 'list_attr_celeba.txt'), lines.join('\n'));
      await assert.rejects(loadCelebaIndex(dir), (error: Error) => {
        assert.equal(error.name, 'DataFileError', what);
        assert.match(error.message, message, what);
        return true;
      });
    }
    await writeFile(join(dir, 'list_attr_celeba.txt'), attributeText(IMAGES));
  });

  it('rejects malformed partition lines, naming the file and the line', async () => {
    const cases: [string, RegExp][] = [
      ['000001.jpg 0\n000002.jpg 3\n', /list_eval_partition\.txt: line 2: partition of 000002\.jpg is '3'; allowed 0 \(train\), 1 \(val\), 2 \(test\)/],
      ['000001.jpg 0\n000009.jpg 1\n', /list_eval_partition\.txt: line 2: image 000009\.jpg is not in the attribute list/],
      ['000001.jpg 0\n', /list_eval_partition\.txt: line 2: image 000002\.jpg of the attribute list has no partition/],
      ['000001.jpg\n000002.jpg 1\n', /list_eval_partition\.txt: line 1: expected "<file> <0\|1\|2>"/],
    ];
    for (const [text, message] of cases) {
      await writeFile(join(dir, 'list_eval_partition.txt'), text);
      await assert.rejects(loadCelebaIndex(dir), message);
    }
    await writeFile(join(dir, 'list_eval_partition.txt'), partitionText(IMAGES));
    await rm(join(dir, 'list_eval_partition.txt'));
    await assert.rejects(loadCelebaIndex(dir), /CelebA file .*list_eval_partition\.txt: cannot read: no such file/);
    await writeFile(join(dir, 'list_eval_partition.txt'), partitionText(IMAGES));
  });

  it('rejects an unreadable or missing JPEG, naming the file', async () => {
    await writeFile(join(dir, 'img_align_celeba', 'broken.jpg'), Buffer.from('this is not a JPEG at all'));
    await assert.rejects(loadCelebaImages(dir, ['000001.jpg', 'broken.jpg', '000002.jpg']), (error: Error) => {
      assert.equal(error.name, 'DataFileError');
      assert.match(error.message, /^CelebA image .*img_align_celeba\/broken\.jpg: not a readable JPEG: SOI not found/);
      return true;
    });
    const truncated = IMAGES[0].jpeg.subarray(0, 200);
    await writeFile(join(dir, 'img_align_celeba', 'truncated.jpg'), truncated);
    await assert.rejects(loadCelebaImages(dir, ['truncated.jpg']), /img_align_celeba\/truncated\.jpg: not a readable JPEG/);
    await assert.rejects(loadCelebaImages(dir, ['000404.jpg']), /img_align_celeba\/000404\.jpg: cannot read: no such file/);
  });
});
