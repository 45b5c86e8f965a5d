/** append-field 1.x (multer's field nesting; no types of its own). */
declare module 'append-field' {
  /** Sets `value` at the bracket path `key` of `store` (`a[b][]`), as multer nests text fields. */
  export default function appendField(store: object, key: string, value: unknown): void;
}
