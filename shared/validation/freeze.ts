// Frozen all the way down: what a builder or a cache hands out, which no caller may change
// (a Workflow object, a plan, a cached policy, the configuration). Only data is walked —
// plain objects and arrays; a class instance (a Secret, a Date, a Buffer) is left as it is.
export function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === 'object' && !Object.isFrozen(value) && isData(value)) {
    for (const v of Object.values(value)) deepFreeze(v);
    Object.freeze(value);
  }
  return value;
}

function isData(value: object): boolean {
  if (Array.isArray(value)) return true;
  const proto = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}
