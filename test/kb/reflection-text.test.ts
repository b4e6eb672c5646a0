// The cap and the plain-text rule, for any input: never over the cap (marker included), never
// a split character, the marker exactly when something was cut; control characters and lone
// surrogates dropped; facteur-agent's `[signature: …]` split from its message.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { capText, plain, splitSignature, TRUNCATION_MARKER } from '../../shared/kb/reflection-text.js';

describe('capText', () => {
  it('holds any text within the cap, cut at a character boundary, marked when cut', () => {
    fc.assert(
      // size 'max': without it fast-check keeps strings short and the cut is never reached
      fc.property(fc.string({ unit: 'grapheme', maxLength: 3000, size: 'max' }), fc.integer({ min: 1024, max: 4096 }), (text, cap) => {
        const c = capText(text, cap);
        expect(Buffer.byteLength(c.content)).toBeLessThanOrEqual(cap);
        expect(c.truncated).toBe(Buffer.byteLength(plain(text)) > cap);
        if (c.truncated) {
          const m = new RegExp(`\\n\\${TRUNCATION_MARKER} (\\d+) of \\d+ bytes kept\\]$`).exec(c.content);
          expect(m).not.toBeNull();
          // the kept part is a prefix of the plain text, whole characters only: a cut through a
          // character would decode to U+FFFD where the text has none at that place
          const kept = c.content.slice(0, m!.index);
          expect(Buffer.byteLength(kept)).toBe(Number(m![1]));
          expect(plain(text).startsWith(kept)).toBe(true);
        } else expect(c.content).toBe(plain(text));
      }),
      // no shrinking: a 3000-character counterexample shrinks for minutes; the seed replays it
      { numRuns: 300, endOnFailure: true },
    );
  });

  it('cuts before a multi-byte character rather than through it, and says how long the original was', () => {
    const c = capText('é'.repeat(5000), 1024, 5_000_000);
    expect(c.truncated).toBe(true);
    expect(c.content.startsWith('é'.repeat(400))).toBe(true);
    expect(c.content).toMatch(/of 5000000 bytes kept\]$/);
    expect(capText('short', 1024, 5_000_000).truncated).toBe(true);
  });
});

describe('plain and splitSignature', () => {
  it('drops NUL, control characters and lone surrogates; keeps newlines, tabs and pairs', () => {
    expect(plain('a\u0000b\u0007c\r\nd\te\ud800f\udc00g😀')).toBe('abc\nd\tefg😀');
    expect(plain("'; drop table x; -- {{ secret }}")).toBe("'; drop table x; -- {{ secret }}");
  });

  it("splits facteur-agent's signature suffix from the message", () => {
    expect(splitSignature('gates failed [signature: TypeError: x is undefined]')).toEqual({ message: 'gates failed', signature: 'TypeError: x is undefined' });
    expect(splitSignature('no signature here')).toEqual({ message: 'no signature here', signature: null });
    expect(splitSignature(null)).toEqual({ message: null, signature: null });
  });
});
