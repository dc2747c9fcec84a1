// A minimal event emitter for the call layer and the pages. Plain ES module.

/** Minimal event emitter (on/off/emit); listeners that throw are logged, not fatal. */
export class Emitter {
  constructor() {
    this._listeners = new Map();
  }
  on(type, fn) {
    if (!this._listeners.has(type)) this._listeners.set(type, new Set());
    this._listeners.get(type).add(fn);
    return () => this.off(type, fn);
  }
  off(type, fn) {
    const set = this._listeners.get(type);
    if (set) set.delete(fn);
  }
  emit(type, detail) {
    for (const key of [type, "*"]) {
      const set = this._listeners.get(key);
      if (!set) continue;
      for (const fn of [...set]) {
        try {
          fn(detail, type);
        } catch (err) {
          console.error(`[silkline] listener for ${type} failed`, err);
        }
      }
    }
  }
}

