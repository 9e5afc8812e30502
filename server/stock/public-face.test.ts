import { describe, expect, it } from 'vitest';
import { faceKey, nextPublicVersion, publicFace, unknownFace, type PublicFace } from './public-face.js';
import { displayPolicies } from './types.js';

/** The public versions a reader sees while `counts` pass one after another (threshold 5). */
function versionsOver(display: (typeof displayPolicies)[number], counts: readonly number[]): number[] {
  let before = { version: 1, face: publicFace(counts[0]!, 5, display) };
  const seen = [before.version];
  for (const available of counts.slice(1)) {
    const face = publicFace(available, 5, display);
    before = { version: nextPublicVersion(before, face), face };
    seen.push(before.version);
  }
  return seen;
}

describe('public face', () => {
  it('shows the count as the display policy allows', () => {
    expect(publicFace(9, 5, 'exact')).toEqual({ status: 'in_stock', available: 9 });
    expect(publicFace(9, 5, 'threshold')).toEqual({ status: 'in_stock' });
    expect(publicFace(3, 5, 'threshold')).toEqual({ status: 'low_stock', available: 3 });
    expect(publicFace(0, 5, 'threshold')).toEqual({ status: 'sold_out', available: 0 });
    expect(publicFace(3, 5, 'status')).toEqual({ status: 'low_stock' });
    expect(publicFace(-2, 5, 'exact')).toEqual({ status: 'sold_out', available: 0 });
  });

  it('keys faces so that equal faces, and only those, compare equal', () => {
    const faces: PublicFace[] = [unknownFace];
    for (const display of displayPolicies) for (let a = 0; a <= 8; a++) faces.push(publicFace(a, 5, display));
    for (const a of faces) {
      for (const b of faces) expect(faceKey(a) === faceKey(b)).toBe(a.status === b.status && a.available === b.available);
    }
  });

  it('keeps one public version while a status product sells 9 units one by one, until it sells out', () => {
    expect(versionsOver('status', [9, 8, 7, 6, 5, 4, 3, 2, 1, 0])).toEqual([1, 1, 1, 1, 2, 2, 2, 2, 2, 3]);
  });

  it('keeps the public version of a threshold product while it is in stock', () => {
    expect(versionsOver('threshold', [40, 32, 20, 12, 6, 5, 4, 9])).toEqual([1, 1, 1, 1, 1, 2, 3, 4]);
  });

  it('moves the public version of an exact product with every count', () => {
    expect(versionsOver('exact', [3, 2, 2, 1])).toEqual([1, 2, 2, 3]);
  });

  it('starts a new product from the unknown face at version 0', () => {
    expect(nextPublicVersion({ version: 0, face: unknownFace }, publicFace(0, 5, 'status'))).toBe(1);
  });
});
