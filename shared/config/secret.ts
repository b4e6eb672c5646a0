const hidden = Symbol('secret');

/**
 * A secret value that never prints: `String(s)`, `JSON.stringify(s)` and `util.inspect(s)`
 * all give `[secret]`. Read it with `reveal()` at the one place that needs it.
 */
export class Secret {
  private readonly [hidden]: string;
  constructor(value: string) {
    this[hidden] = value;
    Object.freeze(this);
  }
  reveal(): string {
    return this[hidden];
  }
  toString(): string {
    return '[secret]';
  }
  toJSON(): string {
    return '[secret]';
  }
  [Symbol.for('nodejs.util.inspect.custom')](): string {
    return '[secret]';
  }
}
